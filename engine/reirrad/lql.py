"""Linear-quadratic-linear (LQ-L) model: informational conversions for high doses per fraction.

**Not for compliance.** The UK SABR Consortium and Delphi cumulative limits are stated in
plain LQ EQD2 (:mod:`reirrad.lq`); use this module only to show how much the LQ may
overestimate the effect of large fractions. No published transition dose exists for the
pelvic organs at risk, so ``transition_dose_gy`` is always the caller's explicit choice.

Model (Astrahan 2008; form fixed by continuity of BED and of its slope at d_T):

* d ≤ d_T:  BED = n·d·(1 + d/(α/β))                       (plain LQ)
* d > d_T:  BED = n·[ d·(1 + 2·d_T/(α/β)) − d_T²/(α/β) ]

Worked values (docs/reference/radiobiology.md §2.2, derived): 45 Gy/5 fx, α/β 3 Gy, d_T 6 Gy
gives 165 Gy₃ (plain LQ 180 Gy₃); at α/β 10 Gy it gives 81.0 Gy₁₀ (LQ 85.5).

References
----------
Astrahan M. Some implications of linear-quadratic-linear radiation dose-response with
regard to hypofractionation. Med Phys 2008;35(9):4161-4172. (Formula status: derived,
see docs/reference/radiobiology.md §2.2.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._validate import FloatArray, finite_float, float_array, is_scalar, positive_int
from .errors import InputError

__all__ = ["bed_lql_gy", "eqd2_lql_gy"]


def bed_lql_gy(
    dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: float, transition_dose_gy: float
) -> float | FloatArray:
    """BED under the LQ-L model.

    Parameters
    ----------
    dose_gy : float or array_like
        Total physical dose, Gy (≥ 0).
    n_fractions : int
        Number of fractions (≥ 1).
    alpha_beta_gy : float
        α/β, Gy (> 0).
    transition_dose_gy : float
        Dose per fraction d_T above which the survival curve is taken as linear, Gy (> 0).

    Returns
    -------
    float or numpy.ndarray
        BED in Gy at ``alpha_beta_gy``; equal to plain LQ for d ≤ d_T, lower above.
    """
    n = positive_int("n_fractions", n_fractions)
    dose = float_array("dose_gy", dose_gy, non_negative=True, unit="Gy")
    ab = finite_float("alpha_beta_gy", alpha_beta_gy, strictly_positive=True, unit="Gy")
    d_t = finite_float("transition_dose_gy", transition_dose_gy, strictly_positive=True, unit="Gy")
    d = dose / n
    lq = n * d * (1.0 + d / ab)
    linear = n * (d * (1.0 + 2.0 * d_t / ab) - d_t * d_t / ab)
    bed = np.where(d <= d_t, lq, linear)
    return float(bed) if is_scalar(dose_gy) else bed


def eqd2_lql_gy(
    dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: float, transition_dose_gy: float
) -> float | FloatArray:
    """EQD2 under the LQ-L model: BED_LQL / (1 + 2/(α/β)).

    The plain-LQ denominator holds only while the 2 Gy reference fraction is itself in
    the LQ region, so ``transition_dose_gy`` must be ≥ 2 Gy here. Parameters as
    :func:`bed_lql_gy`.
    """
    d_t = finite_float("transition_dose_gy", transition_dose_gy, strictly_positive=True, unit="Gy")
    if d_t < 2.0:
        raise InputError(
            f"transition_dose_gy must be >= 2 Gy for an EQD2 (got {transition_dose_gy!r}); "
            "below 2 Gy the reference fractions are in the linear region - use bed_lql_gy"
        )
    bed = bed_lql_gy(dose_gy, n_fractions, alpha_beta_gy, transition_dose_gy)
    return bed / (1.0 + 2.0 / alpha_beta_gy)
