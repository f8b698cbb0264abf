"""Linear-quadratic (LQ) dose conversions: BED, EQD2 and their inverses.

Plain LQ with complete repair between fractions and no time factor, the model in
which the UK SABR Consortium and Delphi re-irradiation limits are stated. No high-dose
variant (LQ-L, USC) is implemented: the limits are plain-LQ numbers, and a variant no output
shows would only be a way to use it for a compliance check by accident
(``docs/clinical-decisions.md``, decision 1).

Formulas (n fractions, total dose D, dose per fraction d = D/n, α/β in Gy):

* BED  = D·(1 + d/(α/β))
* EQD2 = BED / (1 + 2/(α/β)) = D·(d + α/β)/(2 + α/β)           (Withers)
* inverse: total dose D in n fractions for a given BED solves
  (n/(α/β))·d² + n·d − BED = 0, positive root
  d = 2·(BED/n) / (1 + √(1 + 4·BED/(n·α/β)))
  which is the familiar [−α/β + √((α/β)² + 4·(α/β)·BED/n)]/2 rewritten without
  cancellation for large α/β. A budget ≤ 0 gives D = 0.

All functions accept Python scalars (and return a float) or numpy arrays that
broadcast together (and return an array). ``n_fractions`` is a single whole number;
``alpha_beta_gy`` may be an array (per-voxel α/β maps).

References
----------
Withers HR, Thames HD, Peters LJ. A new isoeffect curve for change in dose per
fraction. Radiother Oncol 1983;1:187-191.
Fowler JF. The linear-quadratic formula and progress in fractionated radiotherapy.
Br J Radiol 1989;62:679-694.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union, overload

import numpy as np
from numpy.typing import ArrayLike

from ._validate import FloatArray, finite_float, float_array, is_scalar, positive_int
from .errors import IncompatibleDoseError

__all__ = [
    "Eqd2Dose",
    "bed_from_eqd2_gy",
    "bed_gy",
    "eqd2_from_bed_gy",
    "eqd2_gy",
    "physical_dose_for_bed_gy",
    "physical_dose_for_eqd2_gy",
]

Number = Union[float, int]


def _out(value: FloatArray, scalar: bool) -> float | FloatArray:
    return float(value) if scalar else value


def _course_inputs(dose_gy: ArrayLike, n_fractions: int,
                   alpha_beta_gy: ArrayLike) -> tuple[FloatArray, int, FloatArray]:
    """Validated (dose, n, α/β) of a course: dose ≥ 0 Gy, n whole ≥ 1, α/β > 0 Gy."""
    n = positive_int("n_fractions", n_fractions)
    dose = float_array("dose_gy", dose_gy, non_negative=True, unit="Gy")
    ab = float_array("alpha_beta_gy", alpha_beta_gy, strictly_positive=True, unit="Gy")
    return dose, n, ab


@overload
def bed_gy(dose_gy: Number, n_fractions: int, alpha_beta_gy: Number) -> float: ...
@overload
def bed_gy(dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike) -> float | FloatArray: ...
def bed_gy(dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike) -> float | FloatArray:
    """Biologically effective dose of a course.

    Parameters
    ----------
    dose_gy : float or array_like
        Total physical dose of the course, Gy (≥ 0).
    n_fractions : int
        Number of fractions of that course (≥ 1).
    alpha_beta_gy : float or array_like
        α/β of the tissue, Gy (> 0).

    Returns
    -------
    float or numpy.ndarray
        BED in Gy (to be labelled with its α/β, e.g. Gy₃).

    Raises
    ------
    reirrad.errors.InputError
        Negative or non-finite dose, non-positive α/β, fractions not a whole number ≥ 1.

    Notes
    -----
    BED = D·(1 + d/(α/β)), d = D/n.

    Examples
    --------
    >>> bed_gy(30.0, 5, 3.0)
    90.0
    """
    dose, n, ab = _course_inputs(dose_gy, n_fractions, alpha_beta_gy)
    bed = dose * (1.0 + (dose / n) / ab)
    return _out(bed, is_scalar(dose_gy, alpha_beta_gy))


@overload
def eqd2_gy(dose_gy: Number, n_fractions: int, alpha_beta_gy: Number) -> float: ...
@overload
def eqd2_gy(dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike) -> float | FloatArray: ...
def eqd2_gy(dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike) -> float | FloatArray:
    """Equieffective dose in 2 Gy fractions (EQD2) of a course.

    Parameters are those of :func:`bed_gy` (total physical dose of the course in Gy,
    its number of fractions, the tissue α/β in Gy).

    Returns
    -------
    float or numpy.ndarray
        EQD2 in Gy at that α/β.

    Notes
    -----
    EQD2 = D·(d + α/β)/(2 + α/β), d = D/n (Withers 1983). When d = 2 Gy, EQD2 = D.

    Examples
    --------
    >>> eqd2_gy(30.0, 5, 3.0)
    54.0
    """
    dose, n, ab = _course_inputs(dose_gy, n_fractions, alpha_beta_gy)
    eqd2 = dose * (dose / n + ab) / (2.0 + ab)
    return _out(eqd2, is_scalar(dose_gy, alpha_beta_gy))


@overload
def bed_from_eqd2_gy(eqd2_gy: Number, alpha_beta_gy: Number) -> float: ...
@overload
def bed_from_eqd2_gy(eqd2_gy: ArrayLike, alpha_beta_gy: ArrayLike) -> float | FloatArray: ...
def bed_from_eqd2_gy(eqd2_gy: ArrayLike, alpha_beta_gy: ArrayLike) -> float | FloatArray:
    """BED equivalent to an EQD2 at the same α/β: BED = EQD2·(1 + 2/(α/β)).

    Negative values are allowed here (a remaining budget may be negative); they map to
    negative BED so the sign of a budget is preserved.
    """
    eqd2 = float_array("eqd2_gy", eqd2_gy, unit="Gy")
    ab = float_array("alpha_beta_gy", alpha_beta_gy, strictly_positive=True, unit="Gy")
    return _out(eqd2 * (1.0 + 2.0 / ab), is_scalar(eqd2_gy, alpha_beta_gy))


@overload
def eqd2_from_bed_gy(bed_gy: Number, alpha_beta_gy: Number) -> float: ...
@overload
def eqd2_from_bed_gy(bed_gy: ArrayLike, alpha_beta_gy: ArrayLike) -> float | FloatArray: ...
def eqd2_from_bed_gy(bed_gy: ArrayLike, alpha_beta_gy: ArrayLike) -> float | FloatArray:
    """EQD2 equivalent to a BED at the same α/β: EQD2 = BED/(1 + 2/(α/β))."""
    bed = float_array("bed_gy", bed_gy, unit="Gy")
    ab = float_array("alpha_beta_gy", alpha_beta_gy, strictly_positive=True, unit="Gy")
    return _out(bed / (1.0 + 2.0 / ab), is_scalar(bed_gy, alpha_beta_gy))


@overload
def physical_dose_for_bed_gy(bed_gy: Number, n_fractions: int, alpha_beta_gy: Number) -> float: ...
@overload
def physical_dose_for_bed_gy(
    bed_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike
) -> float | FloatArray: ...
def physical_dose_for_bed_gy(
    bed_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike
) -> float | FloatArray:
    """Total physical dose in ``n_fractions`` equal fractions that gives a BED.

    Parameters
    ----------
    bed_gy : float or array_like
        Target BED, Gy at ``alpha_beta_gy``. Values ≤ 0 (an exhausted budget) give 0.
    n_fractions : int
        Number of fractions of the new course (≥ 1).
    alpha_beta_gy : float or array_like
        α/β, Gy (> 0).

    Returns
    -------
    float or numpy.ndarray
        Total physical dose, Gy (n·d).

    Notes
    -----
    Positive root of (n/(α/β))·d² + n·d − BED = 0, written as
    d = 2·(BED/n) / (1 + √(1 + 4·BED/(n·α/β))) to avoid cancellation.
    """
    n = positive_int("n_fractions", n_fractions)
    bed = float_array("bed_gy", bed_gy, unit="Gy")
    ab = float_array("alpha_beta_gy", alpha_beta_gy, strictly_positive=True, unit="Gy")
    budget = np.maximum(bed, 0.0)
    per_fraction = 2.0 * (budget / n) / (1.0 + np.sqrt(1.0 + 4.0 * budget / (n * ab)))
    return _out(n * per_fraction, is_scalar(bed_gy, alpha_beta_gy))


@overload
def physical_dose_for_eqd2_gy(eqd2_gy: Number, n_fractions: int, alpha_beta_gy: Number) -> float: ...
@overload
def physical_dose_for_eqd2_gy(
    eqd2_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike
) -> float | FloatArray: ...
def physical_dose_for_eqd2_gy(
    eqd2_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike
) -> float | FloatArray:
    """Total physical dose in ``n_fractions`` equal fractions that gives an EQD2.

    The inverse of :func:`eqd2_gy` in its dose argument: it answers "how much physical
    dose may the new course give when the remaining budget is ``eqd2_gy``?".

    Parameters
    ----------
    eqd2_gy : float or array_like
        Target EQD2, Gy at ``alpha_beta_gy``. Values ≤ 0 (an exhausted budget) give 0.
    n_fractions : int
        Number of fractions of the new course (≥ 1).
    alpha_beta_gy : float or array_like
        α/β, Gy (> 0).

    Returns
    -------
    float or numpy.ndarray
        Total physical dose, Gy.

    Notes
    -----
    BED = EQD2·(1 + 2/(α/β)), then :func:`physical_dose_for_bed_gy`.

    Examples
    --------
    Remaining budget 68.4 Gy₃ in 5 fractions (docs/reference/radiobiology.md O7):

    >>> round(physical_dose_for_eqd2_gy(68.4, 5, 3.0), 2)
    34.53
    """
    bed = bed_from_eqd2_gy(eqd2_gy, alpha_beta_gy)
    return physical_dose_for_bed_gy(bed, n_fractions, alpha_beta_gy)


@dataclass(frozen=True)
class Eqd2Dose:
    """A scalar EQD2 tagged with the α/β it was computed at.

    EQD2 values add only when their α/β match (DICOMautomaton ``BEDConvert.cc``: "BED doses
    with a given α/β should only be summed with BED doses that have the same α/β"); adding
    two with different α/β raises :class:`reirrad.errors.IncompatibleDoseError` instead of
    silently producing a meaningless number.

    Attributes
    ----------
    value_gy : float
        EQD2, Gy (may be negative for a remaining budget that is overdrawn).
    alpha_beta_gy : float
        α/β, Gy (> 0).
    """

    value_gy: float
    alpha_beta_gy: float

    def __post_init__(self) -> None:
        finite_float("value_gy", self.value_gy, unit="Gy")
        finite_float("alpha_beta_gy", self.alpha_beta_gy, strictly_positive=True, unit="Gy")

    def __add__(self, other: object) -> Eqd2Dose:
        if not isinstance(other, Eqd2Dose):
            return NotImplemented
        if other.alpha_beta_gy != self.alpha_beta_gy:
            raise IncompatibleDoseError(
                f"cannot add EQD2 at α/β {self.alpha_beta_gy:g} Gy to EQD2 at α/β "
                f"{other.alpha_beta_gy:g} Gy; convert both courses at one α/β first"
            )
        return Eqd2Dose(self.value_gy + other.value_gy, self.alpha_beta_gy)

    def scaled(self, factor: float) -> Eqd2Dose:
        """The same dose multiplied by ``factor`` (e.g. 1 − recovered fraction)."""
        return Eqd2Dose(self.value_gy * finite_float("factor", factor), self.alpha_beta_gy)
