"""The one place where RT Dose values become the engine's TOTAL dose in Gy (docs/reference/style.md practice
4).

RT Dose module, DICOM PS3.3 C.8.8.3 (definitions paraphrased):

* **DoseGridScaling (3004,000E)**: the factor that, multiplied by the stored Pixel Data integers,
  gives the dose in DoseUnits. pydicom does **not** apply it (``pixel_array`` returns the stored
  integers; docs/reference/ecosystem.md §4), so :func:`dose_grid_scaling` must be applied by the reader;
  a missing or non-positive scaling is refused (the dose cannot be known). Rescale Slope/Intercept,
  if a file carries them, are ignored: DoseGridScaling is the RT Dose scaling (the choice Orthanc
  Stone converged on, docs/reference/ecosystem.md §4).
* **DoseUnits (3004,0002)**: enumerated ``GY`` or ``RELATIVE``. Only ``GY`` is absolute;
  ``RELATIVE`` (and any non-standard value such as ``CGY``) is refused with
  :class:`reirrad.errors.UnitError`.
* **DoseType (3004,0004)**: ``PHYSICAL`` (physical dose), ``EFFECTIVE`` (physical dose corrected for
  biological effect by a user-defined model) or ``ERROR``. The engine
  converts physical dose itself, so prior doses must be ``PHYSICAL``. ``EFFECTIVE`` is only read
  through :func:`reirrad_tps.dicom.read_eqd2_dose`, whose caller asserts that the values are EQD2 (a
  file says "effective", never which model or α/β); ``ERROR`` is always refused.
* **DoseSummationType (3004,000A)**: what the grid is the dose *of*. Per-fraction vs total is never
  guessed (see :func:`total_dose_factor`):

  - ``PLAN`` and ``MULTI_PLAN`` are totals;
  - ``FRACTION_SESSION`` is "a single session of a single Fraction Group" (PS3.3): the dose of one
    fraction, multiplied by the plan's number of fractions, which the caller must give;
  - ``FRACTION`` is defined by PS3.3 as the dose of "a single Fraction Group of the RT Plan" (the whole
    delivery of that group: a total for a plan with one fraction group), but exporters have used it
    for one fraction. The file cannot tell which, so the caller must say (``fraction_summation``
    ``"total"`` or ``"per-fraction"``; ``reirrad evaluate --fraction-dose``); without it the file is
    refused. Either answer is then checked against the plan's prescription by
    :func:`reirrad_tps.dicom.check_dose_against_plan` (a maximum below 0.9 × the total prescription
    stops the run; far above it is flagged). A plan with several fraction groups is refused by
    :meth:`reirrad_tps.dicom.RtPlanInfo.require_n_fractions`;
  - every other value (``BEAM``, ``BRACHY``, ``CONTROL_POINT``, other ``*_SESSION``, ``RECORD``) is
    part of a plan's dose and is refused.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Tuple

from pydicom.dataset import Dataset

from reirrad.errors import InputError, UnitError

from .attributes import attribute_label, required, required_text

__all__ = [
    "DOSE_TYPES",
    "FRACTION_READINGS",
    "PER_FRACTION_SUMMATIONS",
    "TOTAL_SUMMATIONS",
    "check_dose_type",
    "dose_grid_scaling",
    "dose_units_gy",
    "total_dose_factor",
]

_GY_PER_DOSE_UNIT: Mapping[str, float] = {"GY": 1.0}
#: DoseType values of PS3.3 C.8.8.3.
DOSE_TYPES: Tuple[str, ...] = ("PHYSICAL", "EFFECTIVE", "ERROR")
#: DoseSummationType values whose grid is the TOTAL dose of the plan(s).
TOTAL_SUMMATIONS: Tuple[str, ...] = ("PLAN", "MULTI_PLAN")
#: DoseSummationType values that are the dose of ONE fraction (multiplied by the number of fractions).
PER_FRACTION_SUMMATIONS: Tuple[str, ...] = ("FRACTION_SESSION",)
#: How the caller says to read a FRACTION dose (the file cannot tell).
FRACTION_READINGS: Tuple[str, ...] = ("total", "per-fraction")


def dose_units_gy(ds: Dataset, where: str) -> float:
    """Gy per unit of ``DoseUnits`` (1 for ``GY``).

    Raises
    ------
    reirrad.errors.UnitError
        ``RELATIVE`` or any value other than ``GY``: not an absolute dose.
    reirrad.errors.InputError
        DoseUnits missing.
    """
    unit = required_text(ds, "DoseUnits", where, fix="export the dose in absolute units (Gy)").upper()
    factor = _GY_PER_DOSE_UNIT.get(unit)
    if factor is None:
        raise UnitError(
            f"{where}: {attribute_label('DoseUnits')} is {unit!r}; only 'GY' is an absolute dose "
            "(RELATIVE doses are fractions of an unknown normalisation and cannot be summed or converted). "
            "Export the dose from the TPS in absolute units (Gy)"
        )
    return factor


def check_dose_type(ds: Dataset, where: str, *, expected: str) -> str:
    """Check ``DoseType`` is ``expected`` (``"PHYSICAL"`` or ``"EFFECTIVE"``) and return it.

    Raises
    ------
    reirrad.errors.InputError
        Missing, ``ERROR``, or another type than ``expected``.
    """
    dose_type = required_text(ds, "DoseType", where,
                              fix="export the physical dose (DoseType PHYSICAL)").upper()
    if dose_type == expected:
        return dose_type
    if dose_type == "EFFECTIVE":
        raise InputError(
            f"{where}: {attribute_label('DoseType')} is 'EFFECTIVE' (a biologically corrected dose of an "
            "unknown model, e.g. a TPS EQD2 or an RBE-weighted proton dose); reirrad converts the PHYSICAL "
            "dose itself. Export the plan's physical dose, or read a reirrad EQD2 map with read_eqd2_dose"
        )
    if dose_type == "ERROR":
        raise InputError(f"{where}: {attribute_label('DoseType')} is 'ERROR' (a dose difference / "
                         "uncertainty grid, not a dose); give the plan's dose file")
    raise InputError(f"{where}: {attribute_label('DoseType')} is {dose_type!r}; expected {expected!r} "
                     f"(one of {list(DOSE_TYPES)})")


def dose_grid_scaling(ds: Dataset, where: str) -> float:
    """``DoseGridScaling`` as a finite positive float (Gy per stored integer when DoseUnits is GY).

    Raises
    ------
    reirrad.errors.InputError
        Missing (pydicom returns the stored integers; without the scaling the dose is unknown),
        non-numeric, non-finite or not > 0.
    """
    fix = ("the stored integers cannot be converted to dose without it; export the dose again from "
           "the TPS (a conforming RT Dose always carries DoseGridScaling)")
    value = required(ds, "DoseGridScaling", where, fix=fix)
    try:
        scaling = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {attribute_label('DoseGridScaling')} = {value!r} is not a number; "
                         f"{fix}") from exc
    if not (math.isfinite(scaling) and scaling > 0.0):
        raise InputError(f"{where}: {attribute_label('DoseGridScaling')} = {value!r} must be a finite "
                         f"number > 0; {fix}")
    return scaling


def total_dose_factor(ds: Dataset, where: str, n_fractions: Optional[int],
                      fraction_summation: Optional[str] = None) -> int:
    """The factor from the file's dose to the TOTAL dose: 1, or ``n_fractions`` for a per-fraction dose.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The RT Dose.
    where : str
        The file, for messages.
    n_fractions : int or None
        Fractions of the plan (``NumberOfFractionsPlanned``); needed for per-fraction doses, ignored for
        totals.
    fraction_summation : {"total", "per-fraction"}, optional
        How to read a FRACTION dose (required for one; ignored otherwise).

    Raises
    ------
    reirrad.errors.InputError
        A per-fraction dose without ``n_fractions`` (or with one < 1), or a summation type that is only
        part of a plan's dose (BEAM, BRACHY, CONTROL_POINT, …) or unknown.
    """
    summation = required_text(ds, "DoseSummationType", where,
                              fix="export the plan dose (DoseSummationType PLAN)").upper()
    if summation in TOTAL_SUMMATIONS:
        return 1
    if summation == "FRACTION":
        if fraction_summation not in FRACTION_READINGS:
            raise InputError(
                f"{where}: {attribute_label('DoseSummationType')} is 'FRACTION'. DICOM defines it as the "
                "dose of a whole fraction group, but some systems export one fraction's dose with it, and "
                "the file cannot tell which. Say how to read it: --fraction-dose total or --fraction-dose "
                f"per-fraction (fraction_summation={list(FRACTION_READINGS)}), after checking the file's "
                "maximum dose against the plan")
        if fraction_summation == "total":
            return 1
    if summation in PER_FRACTION_SUMMATIONS or summation == "FRACTION":
        if n_fractions is None:
            raise InputError(
                f"{where}: {attribute_label('DoseSummationType')} is {summation!r}, the dose of ONE "
                "fraction; the number of fractions is needed to get the total: pass n_fractions (the "
                "plan's NumberOfFractionsPlanned) or, on the command line, --prior-plan with the RT Plan"
            )
        if isinstance(n_fractions, bool) or not isinstance(n_fractions, int) or n_fractions < 1:
            raise InputError(f"n_fractions must be a whole number >= 1 (got {n_fractions!r}) to total the "
                             f"per-fraction dose of {where}")
        return n_fractions
    raise InputError(
        f"{where}: {attribute_label('DoseSummationType')} is {summation!r}: the grid is only part of a "
        f"plan's dose (one beam, a brachytherapy setup, a control point or a session), not the course total. "
        f"Export the plan dose from the TPS (DoseSummationType {' or '.join(TOTAL_SUMMATIONS)})"
    )
