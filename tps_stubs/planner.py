"""A stand-in for TPS optimisation and dose calculation, with the trade-offs of a real optimiser.

Not a dose engine: a fast, reproducible model of what an inverse optimiser does with weighted
objectives, so that the workflow meets conflicting objectives, overshooting OARs, warm starts, run-to-run
variation and failures (issue 18). Every number below is the model's own, stated here; none is a
measured property of Eclipse's or RayStation's optimiser.

1. **Unconstrained dose.** With s the signed distance to the target surface (mm, negative inside),
   D₀(s) = Rx · [1.12 · σ((4.02 − s)/2.5) + 0.08 · e^(−max(s, 0)/30)], σ the logistic function.
   The surface receives ≈ 1.0 × Rx (σ(1.61) = 0.833, 1.12·0.833 + 0.08 = 1.013), the centre
   ≈ 1.2 × Rx, and the dose falls by ≈ 7 % of Rx per mm at the surface, to ≈ 20 % at 10 mm.
2. **Carving.** The optimiser lowers the dose around each OAR o that has an upper-DVH or max objective
   to a carve level c_o with a finite gradient: D = min(D₀, min_o [c_o + G·max(s_o, 0)]),
   G = 0.06 · Rx per mm (``GRADIENT_PER_MM``), s_o the signed distance to the OAR. Where the OAR
   abuts or overlaps the target, a low c_o costs coverage.
3. **Weighted, soft objectives** (the optimiser's cost, doses in units of Rx, w the objective's
   priority or weight):

   * OAR o, each upper/max objective at dose L and volume v % (max: v = 0):
     w · (max(0, D_v − L)/Rx)², D_v the dose at v % of the OAR's voxels (voxel centres inside the OAR,
     counted, not occupancy-weighted: the optimiser's DVH is not the evaluation's). Inside the OAR
     D = min(pre, c_o) with pre the dose before this carve, so D_v = min(c_o, D_v(pre)) exactly;
   * coverage: w_T · mean over the covered voxels of (max(0, Rx − D)/Rx)² (squared underdose). The
     covered voxels are those of every structure with a lower objective (the plan's target, or an
     optimisation target such as PTV − PRVs made in the TPS, whose excluded part then costs nothing when
     carved), else the plan's target; w_T the highest priority of the lower objectives, 1 without one.
     The unconstrained dose D₀ stays shaped by the plan's target;
   * a constraint (RayStation ``IsConstraint=True``) is a weight ``CONSTRAINT_WEIGHT`` times the largest
     weight of the set: it holds up to the target's pull, like a penalty method.

   Mean objectives and the target's max objective do not change the dose (as before).
4. **Solution.** Coordinate descent over the OARs (sorted by name): each sweep moves c_o a fraction
   ``STEP`` (0.7) of the way to the c minimising the cost with the others fixed (c on a grid of 0.01·Rx
   from 0 to 1.25·Rx); ``SWEEPS`` (3) sweeps. A **cold start** (first optimisation, or after a reset)
   starts every c_o at the unconstrained maximum in the OAR, so 2.7 % (0.3³) of that gap is left
   unconverged; a **warm start** starts from the previous solution of the same plan (the OARs it
   had), so the result depends on what was optimised before unless the optimisation is reset.
5. **Deliverability (segmentation / leaf sequencing).** The optimised dose is multiplied by
   1 + a·φ(x), φ a sum of three plane waves (wavelengths 50-120 mm) scaled to |φ| ≤ 1, a the
   patient's ``optimiser.sequencing_pct`` (default 1.5 %). φ's directions and phases are drawn from a
   generator seeded by the patient's ``optimiser.seed``, the prescription and the objectives: the same
   inputs give the same dose bit for bit, but neighbouring levels get unrelated perturbations, so
   feasibility need not be monotone in the level.
6. **Noise between runs** (optional, :func:`set_noise`): a further factor 1 + n·ψ(x) with ψ drawn from
   the optimiser's own seeded generator at every run, so the same inputs give a different dose on
   every optimisation (reproducible for a given seed and order of runs).
7. **Failures.** The optimisations numbered in the patient's ``optimiser.fail_on`` (1 = the first
   optimisation of that plan's optimiser) raise :class:`OptimiserError` with a TPS-like message and
   leave the plan as it was; each stand-in reports it the way its TPS does.

:func:`optimise` is the stateless cold start without noise; :class:`Optimiser` is one plan's
optimiser (warm start, noise, failures) that the stand-ins keep per plan / beam set. Conventional
(prior-course) dose distributions use :func:`conformal_dose` with a wider fall-off.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .patients.geometry import signed_distance, transform_points
from .patients.model import DoseModel, ImageModel, StubPatient

__all__ = ["Optimiser", "OptimiserError", "OptimiserSettings", "PlannerObjective", "conformal_dose",
           "dose_grid_for", "dose_grid_points", "optimise", "set_noise"]

GRADIENT_PER_MM = 0.06  # achievable carving gradient, fraction of Rx per mm
STEP = 0.7  # fraction of the way to the best carve level moved per sweep
SWEEPS = 3
CONSTRAINT_WEIGHT = 100.0  # a constraint's weight, times the largest weight of the set
CARVE_GRID = np.linspace(0.0, 1.25, 126)  # candidate carve levels, fraction of Rx (0.01 steps)


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
        The objective's priority (Eclipse) or weight (RayStation); only ratios matter.
    constraint : bool
        A RayStation constraint (``IsConstraint=True``): see the module docstring, point 3.
    """

    structure_id: str
    kind: str
    dose_gy: float
    volume_pct: float = 0.0
    priority: float = 1.0
    constraint: bool = False


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


def _mask_signed_distance(mask: np.ndarray, grid: Tuple[Any, Any, Any], *, reach_mm: float) -> np.ndarray:
    """Signed distance (mm) to a structure made in the TPS, given as a voxel mask of the dose grid (flat
    [z, y, x]; carving around it, module docstring point 2).

    Outside the mask: the distance to the nearest mask voxel centre minus half the smallest spacing (the
    mask's surface taken half a voxel beyond its centres); inside: minus half the smallest spacing. Exact
    distances are computed within ``reach_mm`` of the mask's bounding box only; beyond it the field is
    ``reach_mm`` (a carve cap c + G·s there exceeds any dose when reach_mm ≥ 1.3·Rx / G, which is how
    the optimiser calls it). Distances are measured on the grid's own axes (the grid is rigid).
    """
    _origin, spacing, size = grid
    nx, ny, nz = (int(v) for v in size)
    sp = np.asarray(spacing, float)
    half = 0.5 * float(sp.min())
    m = mask.reshape(nz, ny, nx)
    field = np.full(m.shape, float(reach_mm))
    if not m.any():
        return field.ravel()
    # only the mask's surface voxels (a 6-neighbour outside) can be nearest to a point outside it
    pad = np.pad(m, 1)
    interior = m.copy()
    for axis in range(3):
        for shift in (-1, 1):
            interior &= np.roll(pad, shift, axis=axis)[1:-1, 1:-1, 1:-1]
    surface = np.argwhere(m & ~interior)[:, ::-1] * sp  # (x, y, z) mm on the grid's axes
    idx = np.argwhere(m)
    pad_vox = np.ceil(reach_mm / sp).astype(int)[::-1]  # (z, y, x) voxels
    lo = np.maximum(idx.min(axis=0) - pad_vox, 0)
    hi = np.minimum(idx.max(axis=0) + pad_vox + 1, m.shape)
    kk, jj, ii = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi)), indexing="ij")
    pts = np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()]) * sp
    nearest = np.empty(len(pts))
    for start in range(0, len(pts), 4096):
        d = pts[start:start + 4096, None, :] - surface[None, :, :]
        nearest[start:start + 4096] = np.sqrt(np.min(np.einsum("pqc,pqc->pq", d, d), axis=1))
    box = np.minimum(nearest - half, reach_mm).reshape(kk.shape)
    field[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = box
    field[m] = -half
    return field.ravel()


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


@dataclass(frozen=True)
class OptimiserSettings:
    """A stub patient's optimiser behaviour (its definition's ``optimiser`` mapping; module docstring).

    Attributes
    ----------
    sequencing_pct : float
        Amplitude a of the deliverability perturbation, % (0 to 10).
    seed : int
        Seed of the perturbation's directions and phases.
    fail_on : tuple of int
        Optimisations (1-based, per plan optimiser) that fail.
    """

    sequencing_pct: float = 1.5
    seed: int = 0
    fail_on: Tuple[int, ...] = ()

    @classmethod
    def of(cls, patient: StubPatient) -> OptimiserSettings:
        """The settings in ``patient.optimiser`` (defaults for keys it leaves out)."""
        raw = dict(getattr(patient, "optimiser", None) or {})
        unknown = sorted(set(raw) - {"sequencing_pct", "seed", "fail_on"})
        if unknown:
            raise ValueError(f"patient {patient.id}: unknown optimiser key(s) {unknown}; the keys are "
                             "sequencing_pct, seed, fail_on")
        if not isinstance(raw.get("fail_on", []), (list, tuple)):
            raise ValueError(f"patient {patient.id}: optimiser.fail_on must be a list of optimisation "
                             f"numbers (got {raw['fail_on']!r})")
        pct = float(raw.get("sequencing_pct", cls.sequencing_pct))
        if not 0.0 <= pct <= 10.0:
            raise ValueError(f"patient {patient.id}: optimiser.sequencing_pct must be in [0, 10] (got {pct})")
        fail_on = tuple(int(n) for n in raw.get("fail_on", ()))
        if any(n < 1 for n in fail_on):
            raise ValueError(f"patient {patient.id}: optimiser.fail_on counts optimisations from 1 "
                             f"(got {list(fail_on)})")
        return cls(pct, int(raw.get("seed", 0)), fail_on)


class OptimiserError(RuntimeError):
    """The stand-in optimiser failed (``optimiser.fail_on``); the plan is left as it was."""


_NOISE: Dict[str, float] = {"pct": 0.0, "seed": 0.0}


def set_noise(pct: float, seed: int = 0) -> None:
    """Noise between runs (module docstring, point 6) for every :class:`Optimiser` created after this
    call: amplitude ``pct`` % (0 switches it off), generator seeded by ``seed`` and the patient id."""
    if not 0.0 <= float(pct) <= 10.0:
        raise ValueError(f"noise must be in [0, 10] % (got {pct!r})")
    _NOISE.update(pct=float(pct), seed=float(seed))


def _plane_waves(rng: np.random.Generator, grid: Tuple[Any, Any, Any], direction: np.ndarray) -> np.ndarray:
    """φ of the module docstring on the grid's voxel centres, flat in [z, y, x] order: three plane waves
    with random directions, wavelengths in [50, 120] mm and phases, summed and divided by 3 (|φ| ≤ 1).

    The projection of a voxel centre x = origin + R·(i·sx, j·sy, k·sz) on a direction u is
    u·origin + i·sx·(R₀·u) + j·sy·(R₁·u) + k·sz·(R₂·u) (R_c the c-th column), summed by broadcasting.
    """
    origin, spacing, size = grid
    nx, ny, nz = (int(v) for v in size)
    axes = np.asarray(direction, float)
    field = np.zeros((nz, ny, nx))
    for _ in range(3):
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        wavelength = rng.uniform(50.0, 120.0)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        along = axes.T @ u  # the index axes' components along u
        proj = (float(np.asarray(origin, float) @ u)
                + (np.arange(nx) * float(spacing[0]) * along[0])[None, None, :]
                + (np.arange(ny) * float(spacing[1]) * along[1])[None, :, None]
                + (np.arange(nz) * float(spacing[2]) * along[2])[:, None, None])
        field += np.cos(2.0 * np.pi * proj / wavelength + phase)
    return (field / 3.0).ravel()


@dataclass(frozen=True)
class _OarTerms:
    """One OAR's objectives and geometry, as the solver uses them."""

    structure_id: str
    terms: Tuple[Tuple[float, float, float], ...]  # (dose L in Gy, volume %, weight)
    s_target: np.ndarray  # signed distance to the OAR at the target's voxels, mm
    inside: np.ndarray  # flat indices of the grid voxels whose centre is inside the OAR
    others_inside: Mapping[str, np.ndarray]  # signed distance to each other OAR at ``inside``, mm


def _cold_start(d0: np.ndarray, oar: _OarTerms) -> float:
    return float(d0[oar.inside].max()) if oar.inside.size else 0.0


def _solve(d0: np.ndarray, target_idx: np.ndarray, *, target_weight: float, oars: List[_OarTerms],
           prescription_gy: float, start: Mapping[str, float]) -> Dict[str, float]:
    """The carve levels (Gy) after ``SWEEPS`` damped coordinate-descent sweeps (module docstring)."""
    grad = GRADIENT_PER_MM * prescription_gy
    carves = {o.structure_id: float(start.get(o.structure_id, _cold_start(d0, o))) for o in oars}
    candidates = CARVE_GRID * prescription_gy
    d0_target = d0[target_idx]
    for _ in range(SWEEPS):
        for oar in oars:
            others_target = d0_target.copy()
            others_inside = d0[oar.inside]
            for other in oars:
                if other.structure_id == oar.structure_id:
                    continue
                c = carves[other.structure_id]
                np.minimum(others_target, c + grad * np.maximum(other.s_target, 0.0), out=others_target)
                if oar.inside.size:
                    cap = c + grad * np.maximum(oar.others_inside[other.structure_id], 0.0)
                    others_inside = np.minimum(others_inside, cap)
            dose_t = np.minimum(others_target[None, :],
                                candidates[:, None] + grad * np.maximum(oar.s_target, 0.0)[None, :])
            under = np.maximum(prescription_gy - dose_t, 0.0) / prescription_gy
            cost = (target_weight * np.mean(under * under, axis=1) if under.shape[1]
                    else np.zeros(len(candidates)))
            for dose_gy, volume_pct, weight in oar.terms:
                if others_inside.size:
                    pre = float(np.quantile(others_inside, 1.0 - volume_pct / 100.0)) if volume_pct > 0 \
                        else float(others_inside.max())
                else:
                    pre = 0.0
                over = np.maximum(np.minimum(candidates, pre) - dose_gy, 0.0) / prescription_gy
                cost = cost + weight * over * over
            best = float(candidates[len(cost) - 1 - int(np.argmin(cost[::-1]))])  # ties: least carving
            current = carves[oar.structure_id]
            carves[oar.structure_id] = current + STEP * (best - current)
    return carves


_Terms = Dict[str, List[Tuple[float, float, float]]]


def _terms(objectives: Sequence[PlannerObjective], target_id: str) -> Tuple[_Terms, float, List[str]]:
    """OAR terms per structure, the coverage weight and the structures with a lower objective (module
    docstring, point 3; the target's own max objective is ignored)."""
    top = max((o.priority for o in objectives), default=1.0)
    per_oar: _Terms = {}
    target_weight = 0.0
    covered: List[str] = []
    for obj in sorted(objectives, key=lambda o: (o.structure_id, o.kind, o.dose_gy, o.volume_pct)):
        weight = CONSTRAINT_WEIGHT * top if obj.constraint else float(obj.priority)
        if obj.kind == "lower":
            target_weight = max(target_weight, weight)
            if obj.structure_id not in covered:
                covered.append(obj.structure_id)
            continue
        if obj.structure_id == target_id:
            continue
        if obj.kind in ("upper", "max"):
            volume = 0.0 if obj.kind == "max" else float(obj.volume_pct)
            per_oar.setdefault(obj.structure_id, []).append((float(obj.dose_gy), volume, weight))
    return per_oar, (target_weight or 1.0), covered


def _optimised(patient: StubPatient, *, structure_set_id: str, target_id: str, prescription_gy: float,
               objectives: Sequence[PlannerObjective], grid: Tuple[Any, Any, Any], direction: np.ndarray,
               to_patient: Optional[np.ndarray], start: Mapping[str, float],
               noise: Optional[Tuple[np.random.Generator, float]],
               masks: Optional[Mapping[str, np.ndarray]] = None) -> Tuple[DoseModel, Dict[str, float]]:
    """Dose and carve levels of one optimisation (module docstring; ``masks``: :func:`optimise`)."""
    if not np.isfinite(prescription_gy) or prescription_gy <= 0:
        raise ValueError(f"prescription must be > 0 Gy (got {prescription_gy!r})")
    sset = patient.structure_set(structure_set_id)
    target = sset.structure(target_id)
    origin, spacing, size = grid
    s_target = _grid_signed_distance({"union": list(target.primitives)}, grid, direction, to_patient)
    d0 = _sabr_profile(s_target, prescription_gy)
    per_oar, target_weight, covered = _terms(objectives, target.id)
    target_idx = _coverage_voxels(sset, covered, s_target, grid=grid, direction=direction,
                                  to_patient=to_patient, masks=masks or {})
    fields: Dict[str, np.ndarray] = {}
    boundary = 0.5 * min(float(v) for v in spacing)
    inside: Dict[str, np.ndarray] = {}
    for sid in sorted(per_oar):
        if sid in (masks or {}) and not any(s.id == sid for s in sset.structures):
            mask = np.asarray((masks or {})[sid], dtype=bool).ravel()
            if mask.size != s_target.size:
                raise ValueError(f"mask of {sid!r} has {mask.size} voxels, the dose grid {s_target.size}")
            fields[sid] = _mask_signed_distance(mask, grid, reach_mm=1.3 / GRADIENT_PER_MM)
            inside[sid] = np.flatnonzero(mask)
            continue
        oar = sset.structure(sid)  # KeyError for an unknown structure
        fields[sid] = _grid_signed_distance({"union": list(oar.primitives)}, grid, direction, to_patient)
        inside[sid] = np.flatnonzero(fields[sid] <= boundary)
    oars = [_OarTerms(sid, tuple(per_oar[sid]), fields[sid][target_idx], inside[sid],
                      {other: fields[other][inside[sid]] for other in fields if other != sid})
            for sid in sorted(per_oar)]
    carves = _solve(d0, target_idx, target_weight=target_weight, oars=oars, prescription_gy=prescription_gy,
                    start=start)
    dose = d0
    grad = GRADIENT_PER_MM * prescription_gy
    for sid, c in carves.items():
        dose = np.minimum(dose, c + grad * np.maximum(fields[sid], 0.0))
    settings = OptimiserSettings.of(patient)
    key = json.dumps([settings.seed, round(float(prescription_gy), 6), target.id,
                      [[o.structure_id, o.kind, round(o.dose_gy, 6), round(o.volume_pct, 6), o.priority,
                        o.constraint] for o in sorted(objectives, key=lambda o: (o.structure_id, o.kind,
                                                                                  o.dose_gy, o.volume_pct))]])
    sequencing = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
    dose = dose * (1.0 + settings.sequencing_pct / 100.0 * _plane_waves(sequencing, grid, direction))
    if noise is not None:
        rng, pct = noise
        dose = dose * (1.0 + pct / 100.0 * _plane_waves(rng, grid, direction))
    nx, ny, nz = size
    values = np.maximum(dose, 0.0).reshape(nz, ny, nx)
    values.flags.writeable = False
    model = DoseModel(origin_mm=tuple(origin), spacing_mm=tuple(spacing), size=tuple(size),  # type: ignore[arg-type]
                      direction=np.asarray(direction, float), values_gy=values)
    return model, carves


def _coverage_voxels(sset: Any, covered: Sequence[str], s_target: np.ndarray, *, grid: Tuple[Any, Any, Any],
                     direction: np.ndarray, to_patient: Optional[np.ndarray],
                     masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Flat indices of the voxels whose underdose the optimiser counts: the union of the structures with a
    lower objective (a structure of the stub patient's definition by its voxel centres, one made in the TPS
    by its mask), or the plan's target when no objective is a lower one."""
    if not covered:
        return np.flatnonzero(s_target <= 0.0)
    n = s_target.size
    inside = np.zeros(n, dtype=bool)
    for sid in covered:
        if any(s.id == sid for s in sset.structures):
            field = _grid_signed_distance({"union": list(sset.structure(sid).primitives)}, grid, direction,
                                          to_patient)
            inside |= field <= 0.0
        elif sid in masks:
            mask = np.asarray(masks[sid], dtype=bool).ravel()
            if mask.size != n:
                raise ValueError(f"mask of {sid!r} has {mask.size} voxels, the dose grid {n}")
            inside |= mask
        else:
            raise KeyError(sid)
    return np.flatnonzero(inside)


def optimise(patient: StubPatient, *, structure_set_id: str, target_id: str, prescription_gy: float,
             objectives: Sequence[PlannerObjective], grid: Tuple[Any, Any, Any],
             direction: np.ndarray, to_patient: np.ndarray = None,  # type: ignore[assignment]
             masks: Optional[Mapping[str, np.ndarray]] = None) -> DoseModel:
    """The dose of a cold-started optimisation without noise (module docstring).

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
    masks : mapping of str to numpy.ndarray, optional
        Structures made in the TPS (not in the stub patient's definition), each a boolean array over the
        dose grid's voxels (flat [z, y, x], True where the voxel centre is inside). Such a structure may
        carry a lower objective (the voxels whose underdose counts, point 3) or upper and max objectives
        (carved around with the signed distance to the mask, :func:`_mask_signed_distance`).
    """
    dose, _ = _optimised(patient, structure_set_id=structure_set_id, target_id=target_id,
                         prescription_gy=prescription_gy, objectives=objectives, grid=grid,
                         direction=direction, to_patient=to_patient, start={}, noise=None, masks=masks)
    return dose


class Optimiser:
    """The optimiser of one plan (Eclipse plan, RayStation beam set): warm start, noise, failures.

    Parameters
    ----------
    patient : StubPatient
    """

    def __init__(self, patient: StubPatient) -> None:
        self.patient = patient
        self.settings = OptimiserSettings.of(patient)
        self.carves: Dict[str, float] = {}
        self.runs = 0
        pct, seed = _NOISE["pct"], int(_NOISE["seed"])
        self._noise = (np.random.default_rng([seed, zlib.crc32(patient.id.encode("utf-8"))]), pct) \
            if pct > 0 else None

    def reset(self) -> None:
        """Forget the previous solution: the next run is a cold start."""
        self.carves = {}

    def run(self, *, structure_set_id: str, target_id: str, prescription_gy: float,
            objectives: Sequence[PlannerObjective], grid: Tuple[Any, Any, Any], direction: np.ndarray,
            to_patient: Optional[np.ndarray] = None, warm: bool = True,
            masks: Optional[Mapping[str, np.ndarray]] = None) -> DoseModel:
        """Optimise (module docstring); ``warm`` False is a cold start (as after :meth:`reset`);
        ``masks`` as :func:`optimise`.

        Raises
        ------
        OptimiserError
            This run is in the patient's ``optimiser.fail_on``: the previous solution is kept.
        """
        self.runs += 1
        if self.runs in self.settings.fail_on:
            raise OptimiserError(f"optimisation {self.runs} of patient {self.patient.id} failed: the "
                                   "optimizer terminated without a solution (stand-in failure, "
                                   "optimiser.fail_on)")
        dose, carves = _optimised(self.patient, structure_set_id=structure_set_id, target_id=target_id,
                                  prescription_gy=prescription_gy, objectives=objectives, grid=grid,
                                  direction=direction, to_patient=to_patient,
                                  start=self.carves if warm else {}, noise=self._noise, masks=masks)
        self.carves = carves
        return dose
