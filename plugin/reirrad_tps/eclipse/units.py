"""The one place where ESAPI dose units become the engine's (docs/reference/style.md §3 practice 4).

Eclipse gives every absolute dose as a ``DoseValue`` (``Dose``, ``Unit``) in the clinic's configured
unit, **Gy or cGy** (docs/reference/esapi.md §4.3; the unit is system configuration, not a constant), and
requires doses written by a script (prescriptions, objectives) in that same unit (§10.2: "The unit
must be the same as defined in the system configuration"). Lengths are mm already (``VVector`` read with
:func:`.grids.vector_mm`, written with :func:`.grids.vvector_array`, no scaling); volumes of point
objectives are % (0–100).

Every ×100 / ÷100 of the Eclipse adapter lives in this module. ``DoseValue.DoseUnit`` values are
handled **by name** (pythonnet 3 has no enum ↔ int conversion, §14.3); ``Percent`` and ``Unknown``
(and an undefined, NaN dose) are refused with :class:`reirrad.errors.UnitError`, so a relative dose
can never be mistaken for an absolute one. Whether a value is per fraction or total is not a unit:
that is decided where the dose is read.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Tuple

from reirrad.errors import InputError, UnitError

__all__ = [
    "ABSOLUTE_UNITS",
    "dose_gy",
    "dose_value_gy",
    "from_gy",
    "gy_per_unit",
    "unit_name",
]

_GY_PER_UNIT: Mapping[str, float] = {"Gy": 1.0, "cGy": 0.01}
#: The absolute ``DoseValue.DoseUnit`` names the adapter converts (everything else is refused).
ABSOLUTE_UNITS: Tuple[str, ...] = tuple(sorted(_GY_PER_UNIT))


def unit_name(unit: Any) -> str:
    """The name of an ESAPI ``DoseValue.DoseUnit`` (``"Gy"``, ``"cGy"``, ``"Percent"``, ``"Unknown"``)."""
    return str(unit)


def gy_per_unit(unit: Any) -> float:
    """Gy per one ``unit`` (1 for Gy, 0.01 for cGy).

    Parameters
    ----------
    unit : DoseValue.DoseUnit or str
        An ESAPI dose unit (by name).

    Raises
    ------
    reirrad.errors.UnitError
        ``Percent``, ``Unknown`` or any other name: not an absolute dose.
    """
    name = unit_name(unit)
    factor = _GY_PER_UNIT.get(name)
    if factor is None:
        raise UnitError(f"ESAPI dose unit {name!r} cannot be converted to Gy: only {list(ABSOLUTE_UNITS)} "
                        "are absolute doses. Set the plan's DoseValuePresentation to Absolute (a relative or "
                        "unknown dose needs its reference dose first)")
    return factor


def _finite(name: str, value: Any, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a real number in {unit} (got {value!r} of type "
                         f"{type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise UnitError(f"{name} is {value!r} {unit}: an undefined ESAPI dose (DoseValue.Undefined) has no "
                        "value in Gy; check that the plan has a prescription / a calculated dose")
    return out


def dose_gy(value: float, unit: Any) -> float:
    """A dose given as a number and its ESAPI unit, in Gy.

    Parameters
    ----------
    value : float
        The dose in ``unit`` (finite).
    unit : DoseValue.DoseUnit or str
        ``Gy`` or ``cGy``.

    Raises
    ------
    reirrad.errors.UnitError
        Another unit, or a NaN (undefined) dose.
    """
    factor = gy_per_unit(unit)
    return _finite("dose", value, unit_name(unit)) * factor


def dose_value_gy(dose_value: Any) -> float:
    """An ESAPI ``DoseValue`` in Gy.

    Parameters
    ----------
    dose_value : VMS.TPS.Common.Model.Types.DoseValue
        Read through ``.Dose`` and ``.Unit``.

    Raises
    ------
    reirrad.errors.UnitError
        ``Percent`` / ``Unknown`` unit, or ``DoseValue.Undefined``.
    """
    return dose_gy(float(dose_value.Dose), dose_value.Unit)


def from_gy(value_gy: float, unit: Any) -> float:
    """An engine dose (Gy) as a number in the ESAPI unit ``unit`` (Gy or cGy), a Python float.

    Parameters
    ----------
    value_gy : float
        Dose, Gy (finite).
    unit : DoseValue.DoseUnit or str
        The system's configured unit.

    Raises
    ------
    reirrad.errors.UnitError
        ``unit`` is not Gy or cGy.
    reirrad.errors.InputError
        ``value_gy`` is not a finite number.
    """
    factor = gy_per_unit(unit)
    gy = _finite("value_gy", value_gy, "Gy")
    return gy / factor
