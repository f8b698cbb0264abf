"""A deterministic stand-in for TPS optimisation and dose calculation.

Not a dose engine: a smooth, reproducible model with the two properties the workflow depends on.

1. **Target dose.** With s the signed distance to the target surface (mm, negative inside),
   D₀(s) = Rx · [1.12 · σ((4.02 − s)/2.5) + 0.08 · e^(−max(s, 0)/30)], σ the logistic function.
   The surface receives ≈ 1.0 × Rx (σ(1.61) = 0.833, 1.12·0.833 + 0.08 = 1.013), the centre
   ≈ 1.2 × Rx, and the dose falls by ≈ 7 % of Rx per mm at the surface, to ≈ 20 % at 10 mm:
   a SABR-like gradient plus a low-dose bath.
2. **OAR objectives carve dose with a finite gradient.** For every upper/max objective (limit L
   total Gy on structure O, signed distance s_O), the dose is capped at
   C(x) = 0.98·L + G·max(s_O(x), 0) with G = 0.06 · Rx per mm. Inside O the dose stays below L;
   a target voxel 5 mm from O can reach only 0.98·L + 0.3·Rx. Raising Rx near an OAR therefore costs
   target coverage, as in a real optimiser.

Conventional (prior-course) dose distributions use :func:`conformal_dose` with a wider fall-off.
Same inputs → same dose, bit for bit: both stand-ins call :func:`optimise` from their
optimisation / dose-calculation members.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Optional, Sequence, Tuple

import numpy as np

from .patients.geometry import signed_distance, transform_points
from .patients.model import DoseModel, ImageModel, StubPatient

__all__ = ["PlannerObjective", "conformal_dose", "dose_grid_for", "dose_grid_points", "optimise"]

GRADIENT_PER_MM = 0.06  # achievable carving gradient, fraction of Rx per mm
OAR_MARGIN = 0.98


@dataclass(frozen=True)
class PlannerObjective:
    """An optimisation objective in neutral units.

    Attributes
    ----------
    structure_id : str
    kind : str
        ``"upper"`` (DVH upper / max dose), ``"lower"``, ``"mean"`` or ``"max"``.
    dose_gy : float
        TOTAL dose over the plan, Gy.
    volume_pct : float
        Volume of a DVH objective, % of the structure.
    priority : float
    """

    structure_id: str
    kind: str
    dose_gy: float
    volume_pct: float = 0.0
    priority: float = 1.0


def dose_grid_points(origin_mm: Sequence[float], spacing_mm: Sequence[float], size: Sequence[int],
                     direction: np.ndarray) -> np.ndarray:
    """Patient coordinates (nz·ny·nx, 3) of every voxel centre, in [z, y, x] order."""
    nx, ny, nz = (int(v) for v in size)
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    ijk = np.column_stack([i.ravel(), j.ravel(), k.ravel()]) * np.asarray(spacing_mm, float)
    return ijk @ np.asarray(direction, float).T + np.asarray(origin_mm, float)


def dose_grid_for(image: ImageModel, spacing_mm: float = 2.5) -> Tuple[Tuple[float, float, float],
                                                                       Tuple[float, float, float],
                                                                       Tuple[int, int, int]]:
    """(origin, spacing, size) of a dose grid of ``spacing_mm`` covering the image."""
    extent = np.asarray(image.spacing_mm) * (np.asarray(image.size) - 1)
    size = tuple(int(np.floor(e / spacing_mm)) + 1 for e in extent)
    used = (np.asarray(size) - 1) * spacing_mm
    start = np.asarray(image.origin_mm) + image.direction @ ((extent - used) / 2.0)
    return (tuple(float(v) for v in start), (spacing_mm,) * 3, (size[0], size[1], size[2]))


SIGNED_DISTANCE_CACHE_SIZE = 16
"""Signed-distance fields :func:`optimise` keeps (least recently used dropped first; one field of a
stub patient's dose grid is 10-40 MB)."""

_signed_distances: OrderedDict[Hashable, np.ndarray] = OrderedDict()


def _grid_signed_distance(shape: Mapping[str, Any], grid: Tuple[Any, Any, Any], direction: np.ndarray,
                          to_patient: Optional[np.ndarray]) -> np.ndarray:
    """``signed_distance(shape, points of grid)``, remembered per (shape, grid, direction, transform).

    An isotoxic search optimises the same patient several times on the same grid; the structures'
    distance fields are most of the stand-in's time and do not change between optimisations. The key
    holds the whole shape (as canonical JSON) and the exact bytes of the geometry, so a hit returns the
    array the computation would give, bit for bit; the array is read-only.
    """
    origin, spacing, size = grid
    key = (json.dumps(shape, sort_keys=True, default=lambda o: np.asarray(o).tolist()),
           tuple(float(v) for v in origin), tuple(float(v) for v in spacing), tuple(int(v) for v in size),
           np.asarray(direction, float).tobytes(),
           None if to_patient is None else np.asarray(to_patient, float).tobytes())
    cached = _signed_distances.get(key)
    if cached is not None:
        _signed_distances.move_to_end(key)
        return cached
    pts = dose_grid_points(origin, spacing, size, direction)
    if to_patient is not None:
        pts = transform_points(to_patient, pts)
    field = signed_distance(shape, pts)
    field.flags.writeable = False
    _signed_distances[key] = field
    while len(_signed_distances) > SIGNED_DISTANCE_CACHE_SIZE:
        _signed_distances.popitem(last=False)
    return field


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def conformal_dose(target: Mapping[str, Any], points_mm: np.ndarray, prescription_gy: float, *,
                   falloff_mm: float, bath_fraction: float = 0.1, bath_mm: float = 40.0) -> np.ndarray:
    """A conventional, conformal TOTAL dose in Gy.

    D = Rx · [(1 − b)·σ((3w − s)/w) + b·e^(−max(s, 0)/L)], w = ``falloff_mm``/4 (so the 90 %–10 %
    fall-off is ≈ ``falloff_mm`` wide), b = ``bath_fraction``, L = ``bath_mm``; the target surface
    receives ≈ 0.95·(1 − b) + b of Rx.
    """
    s = signed_distance(target, points_mm)
    w = falloff_mm / 4.0
    core = _logistic((3.0 * w - s) / w)
    bath = np.exp(-np.maximum(s, 0.0) / bath_mm)
    return prescription_gy * ((1.0 - bath_fraction) * core + bath_fraction * bath)


def _sabr_profile(s: np.ndarray, prescription_gy: float) -> np.ndarray:
    """D₀(s) of the module docstring (before OAR carving), s the signed distance to the target (mm)."""
    return prescription_gy * (1.12 * _logistic((4.02 - s) / 2.5) + 0.08 * np.exp(-np.maximum(s, 0.0) / 30.0))


def optimise(patient: StubPatient, *, structure_set_id: str, target_id: str, prescription_gy: float,
             objectives: Sequence[PlannerObjective], grid: Tuple[Any, Any, Any],
             direction: np.ndarray, to_patient: np.ndarray = None) -> DoseModel:  # type: ignore[assignment]
    """The optimised dose of a plan (see the module docstring).

    Parameters
    ----------
    patient : StubPatient
    structure_set_id, target_id : str
        Where the target and the objectives' structures are.
    prescription_gy : float
        TOTAL prescribed dose, Gy.
    objectives : sequence of PlannerObjective
        Unknown structure ids raise ``KeyError``.
    grid : (origin_mm, spacing_mm, size)
        The dose grid.
    direction : numpy.ndarray
        3×3 direction of the dose grid.
    """
    if prescription_gy <= 0:
        raise ValueError(f"prescription must be > 0 Gy (got {prescription_gy!r})")
    sset = patient.structure_set(structure_set_id)
    target = sset.structure(target_id)
    origin, spacing, size = grid
    target_shape = {"union": list(target.primitives)}
    dose = _sabr_profile(_grid_signed_distance(target_shape, grid, direction, to_patient), prescription_gy)
    for obj in sorted(objectives, key=lambda o: (o.structure_id, o.kind, o.dose_gy)):
        if obj.kind not in ("upper", "max"):
            continue
        oar = sset.structure(obj.structure_id)
        if oar.id == target.id:
            continue
        s_oar = _grid_signed_distance({"union": list(oar.primitives)}, grid, direction, to_patient)
        cap = OAR_MARGIN * obj.dose_gy + GRADIENT_PER_MM * prescription_gy * np.maximum(s_oar, 0.0)
        dose = np.minimum(dose, cap)
    nx, ny, nz = size
    values = np.maximum(dose, 0.0).reshape(nz, ny, nx)
    values.flags.writeable = False
    return DoseModel(origin_mm=tuple(origin), spacing_mm=tuple(spacing), size=tuple(size),  # type: ignore[arg-type]
                     direction=np.asarray(direction, float), values_gy=values)
