"""The one place where RayStation's units become the engine's (docs/reference/style.md §3 practice 4).

RayStation's scripting interface gives every dose in **cGy** (statistics, ``DoseData``, objective
levels, prescriptions, clinical goals) and every length in **cm** (dose-grid ``Corner`` and
``VoxelSize``, contour points, registration translations); volumes are cm³ already
(docs/reference/raystation.md §5, §9, §14.1). The engine works in Gy and mm.

Every ×100 / ÷100 and ×10 / ÷10 of the RayStation adapter lives in this module. The functions carry
both units in their names; :func:`dose_gy` and :func:`length_mm` take a unit label and refuse any
label they do not know (``%``, ``Percent``, ``Unknown``, …) with :class:`reirrad.errors.UnitError`,
so a relative or unknown unit can never be mistaken for an absolute one. Whether a value is a
per-fraction or a total dose is not a unit: that is decided where the dose is read
(:mod:`reirrad_tps.raystation.grids`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reirrad.errors import InputError, UnitError

__all__ = [
    "RAYSTATION_DOSE_UNIT",
    "RAYSTATION_LENGTH_UNIT",
    "cgy_from_gy",
    "cm_from_mm",
    "dose_array_gy",
    "dose_gy",
    "gy_from_cgy",
    "length_mm",
    "matrix_mm_from_cm",
    "mm_from_cm",
    "point_mm_from_cm",
    "points_cm_from_mm",
    "points_mm_from_cm",
]

FloatArray = NDArray[np.float64]

#: The unit of every dose the RayStation scripting API returns or accepts (§14.1).
RAYSTATION_DOSE_UNIT = "cGy"
#: The unit of every length / coordinate the RayStation scripting API returns or accepts (§14.1).
RAYSTATION_LENGTH_UNIT = "cm"

_GY_PER_UNIT: Mapping[str, float] = {"cGy": 0.01, "Gy": 1.0}
_MM_PER_UNIT: Mapping[str, float] = {"cm": 10.0, "mm": 1.0}
_CGY_PER_GY = 100.0
_MM_PER_CM = 10.0


def _finite(name: str, value: Any, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a real number in {unit} (got {value!r} of type "
                         f"{type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise InputError(f"{name} must be finite (got {value!r} {unit}); check the RayStation value")
    return out


def _dose_factor(unit: str) -> float:
    factor = _GY_PER_UNIT.get(unit)
    if factor is None:
        raise UnitError(f"dose unit {unit!r} cannot be converted to Gy: only {sorted(_GY_PER_UNIT)} are "
                        "absolute doses; a relative (%) or unknown unit needs the reference dose first")
    return factor


def gy_from_cgy(value_cgy: float) -> float:
    """A RayStation dose (cGy) in Gy.

    Parameters
    ----------
    value_cgy : float
        Dose, cGy (finite).

    Returns
    -------
    float
        The same dose, Gy.
    """
    return _finite("value_cgy", value_cgy, "cGy") / _CGY_PER_GY


def cgy_from_gy(value_gy: float) -> float:
    """An engine dose (Gy) in cGy, as a Python float (RayStation refuses numpy scalars, §14.4).

    Parameters
    ----------
    value_gy : float
        Dose, Gy (finite).

    Returns
    -------
    float
        The same dose, cGy.
    """
    return _finite("value_gy", value_gy, "Gy") * _CGY_PER_GY


def dose_gy(value: float, unit: str) -> float:
    """A dose given with its unit label, in Gy.

    Parameters
    ----------
    value : float
        The dose, in ``unit``.
    unit : {"cGy", "Gy"}
        Its unit.

    Raises
    ------
    reirrad.errors.UnitError
        Any other unit (``"%"``, ``"Percent"``, ``"Unknown"`` …).
    """
    return _finite("value", value, unit) * _dose_factor(unit)


def dose_array_gy(values: ArrayLike, unit: str) -> FloatArray:
    """A dose array given with its unit label, in Gy (a new float64 array).

    Parameters
    ----------
    values : array_like
        Doses in ``unit`` (any shape).
    unit : {"cGy", "Gy"}
        Their unit.

    Raises
    ------
    reirrad.errors.UnitError
        Any other unit.
    reirrad.errors.InputError
        Non-numeric values.
    """
    factor = _dose_factor(unit)
    raw = np.asarray(values)
    if raw.dtype.kind not in "iuf":
        raise InputError(f"dose values must be numeric (got dtype {raw.dtype}); check DoseValues.DoseData")
    return np.asarray(raw.astype(np.float64) * factor, dtype=np.float64)


def mm_from_cm(value_cm: float) -> float:
    """A RayStation length or coordinate (cm) in mm.

    Parameters
    ----------
    value_cm : float
        Length, cm (finite).
    """
    return _finite("value_cm", value_cm, "cm") * _MM_PER_CM


def cm_from_mm(value_mm: float) -> float:
    """An engine length or coordinate (mm) in cm, as a Python float (RayStation refuses numpy scalars, §14.4).

    Parameters
    ----------
    value_mm : float
        Length, mm (finite).
    """
    return _finite("value_mm", value_mm, "mm") / _MM_PER_CM


def length_mm(value: float, unit: str) -> float:
    """A length given with its unit label, in mm.

    Parameters
    ----------
    value : float
        The length, in ``unit``.
    unit : {"cm", "mm"}
        Its unit.

    Raises
    ------
    reirrad.errors.UnitError
        Any other unit.
    """
    factor = _MM_PER_UNIT.get(unit)
    if factor is None:
        raise UnitError(f"length unit {unit!r} cannot be converted to mm: only {sorted(_MM_PER_UNIT)} are "
                        "supported")
    return _finite("value", value, unit) * factor


def point_mm_from_cm(point_cm: Any) -> Tuple[float, float, float]:
    """A RayStation point or vector ``{'x', 'y', 'z'}`` (cm) as an (x, y, z) tuple in mm.

    Parameters
    ----------
    point_cm : mapping with keys ``'x'``, ``'y'``, ``'z'``, or an object with attributes ``x``, ``y``, ``z``
        E.g. ``InDoseGrid.Corner`` or ``VoxelSize`` (an ``ExpandoDictionary``, which has both), cm.

    Raises
    ------
    reirrad.errors.InputError
        A missing or non-numeric coordinate.
    """
    try:
        x, y, z = point_cm["x"], point_cm["y"], point_cm["z"]
    except (KeyError, TypeError):
        try:  # public scripts read points by attribute too (``iso.x``): docs/reference/raystation.md §2
            x, y, z = point_cm.x, point_cm.y, point_cm.z
        except AttributeError:
            raise InputError(f"expected a RayStation point {{'x', 'y', 'z'}} in cm (got {point_cm!r})") \
                from None
    return (mm_from_cm(x), mm_from_cm(y), mm_from_cm(z))


def points_mm_from_cm(points_cm: Any) -> FloatArray:
    """A RayStation contour (a list of points ``{'x', 'y', 'z'}``, cm) as an (N, 3) array in mm.

    Parameters
    ----------
    points_cm : sequence of mappings
        The contour points, cm.

    Raises
    ------
    reirrad.errors.InputError
        A point without numeric, finite x, y, z.
    """
    try:
        rows = [(p["x"], p["y"], p["z"]) for p in points_cm]
    except (KeyError, TypeError):
        raise InputError("expected a RayStation contour: a list of points {'x', 'y', 'z'} in cm") from None
    raw = np.asarray(rows).reshape(len(rows), 3)
    if raw.dtype.kind not in "iuf" or not np.all(np.isfinite(raw)):
        raise InputError("a RayStation contour has a point without finite numeric x, y, z (cm)")
    return np.asarray(raw.astype(np.float64) * _MM_PER_CM, dtype=np.float64)


def points_cm_from_mm(points_mm: ArrayLike) -> List[Dict[str, float]]:
    """An engine contour ((N, 3) patient mm) as RayStation points ``[{'x', 'y', 'z'}, …]`` in cm.

    The inverse of :func:`points_mm_from_cm`: the form ``PrimaryShape.Contours`` takes, one list per
    contour (Python floats, §14.4).

    Parameters
    ----------
    points_mm : array_like, shape (N, 3)
        The contour points, mm.

    Raises
    ------
    reirrad.errors.InputError
        Not an (N, 3) array of finite numbers.
    """
    raw = np.asarray(points_mm)
    if raw.dtype.kind not in "iuf" or raw.ndim != 2 or raw.shape[1] != 3 or not np.all(np.isfinite(raw)):
        raise InputError(f"expected an (N, 3) array of finite points in mm (got shape {raw.shape}, dtype "
                         f"{raw.dtype})")
    cm = raw.astype(np.float64) / _MM_PER_CM
    return [{"x": float(x), "y": float(y), "z": float(z)} for x, y, z in cm]


def matrix_mm_from_cm(matrix_cm: ArrayLike) -> FloatArray:
    """A 4×4 homogeneous RayStation transform with translations in cm, as the same transform in mm.

    Only the translation column scales (rotations are unitless): ``T_mm[:3, 3] = 10·T_cm[:3, 3]``.

    Parameters
    ----------
    matrix_cm : array_like, shape (4, 4) or (16,)
        Row-major homogeneous matrix, translation in cm (``GetTransformForExaminations``, §8).

    Raises
    ------
    reirrad.errors.InputError
        Not 16 finite numbers, or a last row other than (0, 0, 0, 1).
    """
    raw = np.asarray(matrix_cm)
    if raw.dtype.kind not in "iuf" or raw.size != 16:
        raise InputError(f"a RayStation registration must be a 4x4 numeric matrix (got {matrix_cm!r})")
    matrix = np.array(raw, dtype=np.float64).reshape(4, 4)
    if not np.all(np.isfinite(matrix)) or not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise InputError(f"a RayStation registration must be a finite homogeneous 4x4 matrix with last row "
                         f"(0, 0, 0, 1) (got {matrix.tolist()})")
    matrix[:3, 3] *= _MM_PER_CM
    return matrix
