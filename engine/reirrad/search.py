"""Isotoxic prescription search over the protocol's dose ladder.

Each step "optimise at level L, compute dose, evaluate" is expensive in a real TPS, so the
predictive search spends as few as it can while finding the level trying every level would find:

1. optimise at the floor (the first level); if that plan is infeasible, stop (report why);
2. **predict** the highest feasible level from the floor plan (below);
3. optimise at the predicted level. If it passes, step **up** one level at a time until a level
   fails (or the ladder ends). If it fails, the prediction was too optimistic: climb the ladder from
   the level above the floor up to the first failure (never above the failed prediction);
4. **look past one marginal failure** (once per search, while stepping up): a real optimiser's
   results vary from level to level and from run to run, so a level may fail between two that pass.
   When a failure is marginal (``marginal`` of the caller: every failing OAR within a band of its
   allowed dose and coverage at most a little short) and a higher level exists, that level is tried
   too; if it passes the climb goes on from there.

**Worst case.** Let the ladder search spend L optimisations (floor up to its first failure; the
workflow adds one to leave the plan at the chosen level when the last optimised level is another).
The predictive search never spends more than L + 1 when it ends at the same level as the ladder:

* a passing prediction at index p ≥ 1 saves the p − 1 levels between floor and prediction, and the
  one look past a failure spends at most one of them back;
* a failing prediction costs one optimisation, and the climb from floor + 1 that follows is the
  ladder's own (it stops below the failed prediction, so it never tries that level again).

When the look past a marginal failure finds a higher passing level, the search ends higher than
the ladder (which stops at the first failure) and spends at most one more than a ladder that had
stepped over that failure. Optimiser failures retried by the workflow (:mod:`reirrad.workflow`) are
not counted in these bounds. ``tests/engine/test_search.py`` checks the bound on every
feasibility pattern of a seven-level ladder and every prediction.

Prediction (coverage model). Re-optimisation holds every OAR where the optimiser holds it, so what
binds is target coverage. From the floor plan (level L₀, dose d₀), each OAR o gets a carve level D_o:
its achieved maximum when the optimiser already carves it at the floor (the maximum reaches 90 % of
the upper objective's dose, or exceeds it: soft objectives let an OAR overshoot, and it will not do
less at a higher level), else the objective's dose. Target voxels that miss 95 % of L₀ are taken as
carved by the nearest OAR that is carved at the floor; the achieved fall-off
G₀ = median((d₀ − D_o)/s_o) over them (s_o the distance to the OAR, mm). At level L the predicted
dose is d_L = min(d₀·L/L₀, min_o max(D_o + G₀·(L/L₀)·s_o, d₀)) (the fall-off scales with the
prescription; a voxel never falls below its floor dose), and the predicted coverage is the
occupancy-weighted share of the target with d_L ≥ 0.95·L (:func:`predicted_coverage_pct`).
Distances are voxel-centre distances less half a voxel (≈ distance to the OAR surface; 0 inside the
OAR). When fewer than five target voxels are carved, G₀ is the dose fall-off just outside the
target. The predicted level is the highest whose predicted coverage exceeds the protocol's rule by
``PREDICTION_MARGIN_PCT``. The model does not predict how far an optimiser lets an OAR overshoot
beyond what the floor plan shows; verification decides in the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .dose import DoseGrid
from .evaluation import PlanEvaluation
from .structures import Occupancy

#: The coverage model is approximate; a level is predicted feasible only with this much to spare
#: (percentage points of target volume). Verification decides in the end.
PREDICTION_MARGIN_PCT = 5.0

__all__ = ["PREDICTION_MARGIN_PCT", "SearchOutcome", "SearchStep", "ladder_search", "predict_level_index",
           "predicted_coverage_pct", "predictive_search"]


@dataclass(frozen=True)
class SearchStep:
    """One entry of the decision log."""

    level_gy: float
    action: str  # "optimise" or "predict"
    feasible: Optional[bool]
    v95_pct: Optional[float]
    limiting_oars: Tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, eq=False)
class SearchOutcome:
    """Best feasible level (None when even the floor fails), its evaluation, and the log."""

    best_level_gy: Optional[float]
    best: Optional[PlanEvaluation]
    last: PlanEvaluation
    log: Tuple[SearchStep, ...]

    @property
    def optimisations(self) -> int:
        """Number of optimise + compute-dose steps spent."""
        return sum(1 for s in self.log if s.action == "optimise")


TryLevel = Callable[[float], Tuple[PlanEvaluation, DoseGrid]]


def _step(level: float, ev: PlanEvaluation, note: str = "") -> SearchStep:
    return SearchStep(level, "optimise", ev.feasible, ev.target.v95_pct, tuple(ev.limiting_oars), note)


def ladder_search(levels: Sequence[float], try_level: TryLevel) -> SearchOutcome:
    """The naive ladder: every level from the floor up until the first failure."""
    log: List[SearchStep] = []
    best: Optional[PlanEvaluation] = None
    last: Optional[PlanEvaluation] = None
    for level in levels:
        last, _ = try_level(level)
        log.append(_step(level, last))
        if not last.feasible:
            break
        best = last
    assert last is not None  # levels is never empty (protocol validation)
    return SearchOutcome(None if best is None else best.prescription_gy, best, last, tuple(log))


def _indices(occupancy: Occupancy, threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """Grid indices (N, 3) as (k, j, i) and occupancies of the voxels with occupancy > threshold."""
    box = occupancy.box_fraction
    k, j, i = np.nonzero(box > threshold)
    weights = box[k, j, i]
    kji = np.column_stack([k + occupancy.box[0].start, j + occupancy.box[1].start,
                           i + occupancy.box[2].start])
    return kji, weights


def _centres(grid: DoseGrid, occupancy: Occupancy, threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """Patient coordinates (N, 3) and occupancies of the voxels with occupancy > threshold."""
    kji, weights = _indices(occupancy, threshold)
    return grid.index_to_patient_mm(kji[:, ::-1]), weights


def _occupancy_at(occupancy: Occupancy, kji: np.ndarray) -> np.ndarray:
    """Occupancy of ``occupancy`` at grid indices (k, j, i) (0 outside its box)."""
    out = np.zeros(len(kji))
    starts = np.array([b.start for b in occupancy.box])
    local = kji - starts
    shape = np.array(occupancy.box_fraction.shape)
    ok = np.all((local >= 0) & (local < shape), axis=1)
    out[ok] = occupancy.box_fraction[local[ok, 0], local[ok, 1], local[ok, 2]]
    return out


def _min_distance(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Distance (mm) from each of ``points`` (N, 3) to the nearest of ``others`` (M, 3), brute force.

    Squared distances as ``|p|² + |q|² − 2 p·q``, one matrix product per chunk of 2048 others
    (several times faster than differencing every pair), with both sets shifted by the mean of
    ``points`` so the squares stay small. The rounding error of a squared distance is then about
    1e-16 × (extent in mm)², i.e. below 1e-10 mm² for pelvic extents; it is clipped at 0 before the
    square root, so coincident points come out within 1e-5 mm of 0.
    """
    if len(points) == 0 or len(others) == 0:
        return np.full(len(points), np.inf)
    centre = points.mean(axis=0)
    p, q = points - centre, others - centre
    p_sq = np.einsum("ij,ij->i", p, p)
    best = np.full(len(points), np.inf)
    for start in range(0, len(q), 2048):
        chunk = q[start:start + 2048]
        d_sq = p_sq[:, None] + np.einsum("ij,ij->i", chunk, chunk)[None, :] - 2.0 * (p @ chunk.T)
        np.minimum(best, d_sq.min(axis=1), out=best)
    distance: np.ndarray = np.sqrt(np.maximum(best, 0.0))
    return distance


def _edge_gradient(dose: DoseGrid, target: Occupancy, target_pts: np.ndarray) -> Optional[float]:
    """Dose fall-off (Gy/mm) just outside the target: least-squares slope of dose against distance
    for voxels 2–10 mm outside (the gradient the plan achieves, used as the achievable carving
    gradient when no target voxel is carved yet)."""
    box = target.box
    pad = 5
    ks = range(max(box[0].start - pad, 0), min(box[0].stop + pad, dose.shape[0]))
    js = range(max(box[1].start - pad, 0), min(box[1].stop + pad, dose.shape[1]))
    is_ = range(max(box[2].start - pad, 0), min(box[2].stop + pad, dose.shape[2]))
    k, j, i = np.meshgrid(list(ks), list(js), list(is_), indexing="ij")
    full = target.fraction
    outside = full[k, j, i] == 0.0
    pts = dose.index_to_patient_mm(np.column_stack([i[outside], j[outside], k[outside]]))
    core = target_pts
    dist = _min_distance(pts, core)
    use = (dist >= 2.0) & (dist <= 10.0)
    if use.sum() < 10:
        return None
    d, _ = dose.sample(pts[use])
    x = dist[use] - dist[use].mean()
    spread = float(np.dot(x, x))
    if spread <= 1e-9:  # every voxel at one distance (a coarse grid): no slope to fit
        return None
    slope = float(np.dot(x, d - d.mean()) / spread)  # least-squares slope, closed form
    return -slope if slope < 0 else None


def predicted_coverage_pct(levels: Sequence[float], floor_dose: DoseGrid, target: Occupancy,
                           oars: Sequence[Tuple[Occupancy, float]]) -> List[float]:
    """Predicted V95 (% of the target) at each level, from the floor plan (coverage model, module
    docstring). ``levels[0]`` is the floor the dose was optimised at; ``oars`` pairs each OAR's occupancy
    with its upper objective's dose (TOTAL Gy)."""
    floor = levels[0]
    kji, weights = _indices(target, 0.0)
    pts = floor_dose.index_to_patient_mm(kji[:, ::-1])
    d0 = floor_dose.values_gy[kji[:, 0], kji[:, 1], kji[:, 2]]
    caps: List[Tuple[float, np.ndarray, bool]] = []  # (carve level Gy, distance mm, carving at the floor)
    for occ, objective_gy in oars:
        oar_pts, _ = _centres(floor_dose, occ, 0.5)
        if len(oar_pts):
            # centre-to-centre distance overstates the distance to the OAR's surface by about half
            # a voxel; target voxels inside the OAR are at distance 0
            half_voxel = 0.5 * min(floor_dose.spacing_mm)
            dist = np.maximum(_min_distance(pts, oar_pts) - half_voxel, 0.0)
            dist[_occupancy_at(occ, kji) >= 0.5] = 0.0
            # an OAR the optimiser already carves (its maximum within 10 % of the objective, or above
            # it) is held where the optimiser holds it: its achieved maximum is the carve level
            oar_kji, _ = _indices(occ, 0.5)
            achieved = float(floor_dose.values_gy[oar_kji[:, 0], oar_kji[:, 1], oar_kji[:, 2]].max())
            carving = achieved >= 0.9 * objective_gy
            caps.append((achieved if carving else objective_gy, dist, carving))
    slope: Optional[float] = None
    if caps:
        # under-covered target voxels are attributed to the nearest OAR that is carved at the floor
        active = [c for c in caps if c[2]]
        nearest = np.min([c[1] for c in active], axis=0) if active else np.full(len(d0), np.inf)
        carved = (d0 < 0.95 * floor) & (weights >= 0.999) & (nearest <= 20.0)
        slopes = [((d0[use] - g) / dist[use]) for g, dist, _ in active
                  for use in [carved & (dist >= 1.0) & (dist == nearest)]]
        values = np.concatenate(slopes) if slopes else np.zeros(0)
        values = values[values > 0]
        if len(values) >= 5:
            slope = float(np.median(values))
        else:
            core_pts, _ = _centres(floor_dose, target, 0.5)
            slope = _edge_gradient(floor_dose, target, core_pts)
    out: List[float] = []
    for level in levels:
        predicted = d0 * level / floor
        if slope is not None:
            for cap_gy, dist, _ in caps:
                predicted = np.minimum(predicted, np.maximum(cap_gy + slope * (level / floor) * dist,
                                                             d0 * np.minimum(1.0, level / floor)))
        out.append(100.0 * float(weights[predicted >= 0.95 * level].sum() / weights.sum()))
    return out


def predict_level_index(levels: Sequence[float], floor_dose: DoseGrid, target: Occupancy,
                        oars: Sequence[Tuple[Occupancy, float]], coverage_min_pct: float) -> int:
    """Index of the highest level whose predicted coverage (:func:`predicted_coverage_pct`) reaches the
    coverage rule plus ``PREDICTION_MARGIN_PCT``; 0 at least."""
    coverage = predicted_coverage_pct(levels, floor_dose, target, oars)
    passing = [idx for idx, c in enumerate(coverage) if c >= coverage_min_pct + PREDICTION_MARGIN_PCT]
    return max(passing, default=0)


def predictive_search(levels: Sequence[float], try_level: TryLevel, predict: Callable[[DoseGrid], int],
                      marginal: Optional[Callable[[PlanEvaluation], bool]] = None) -> SearchOutcome:
    """Floor, prediction, then verification stepping up (looking past one marginal failure) or, after a
    failed prediction, climbing from the floor (module docstring).

    Parameters
    ----------
    levels : sequence of float
        The ladder, TOTAL Gy, increasing.
    try_level : callable
        Optimise at a level and evaluate the plan: ``(PlanEvaluation, DoseGrid)``.
    predict : callable
        Index of the level predicted feasible, from the floor plan's dose (clamped to the ladder).
    marginal : callable, optional
        Whether a failed evaluation is within the noise of the optimiser (looked past once); None never
        looks past a failure.
    """
    log: List[SearchStep] = []
    floor_ev, floor_dose = try_level(levels[0])
    log.append(_step(levels[0], floor_ev, "floor"))
    if not floor_ev.feasible:
        return SearchOutcome(None, None, floor_ev, tuple(log))
    idx = min(max(predict(floor_dose), 0), len(levels) - 1)  # a prediction is clamped to the ladder
    log.append(SearchStep(levels[idx], "predict", None, None, (), "coverage model from the floor plan"))
    best_idx, best_ev, last = 0, floor_ev, floor_ev
    if idx > 0:
        last, _ = try_level(levels[idx])
        log.append(_step(levels[idx], last, "predicted level"))
        if last.feasible:
            best_idx, best_ev = idx, last
        else:  # too optimistic: the ladder's climb from the floor, below the failed prediction
            for up in range(1, idx):
                last, _ = try_level(levels[up])
                log.append(_step(levels[up], last, "climb after a failed prediction"))
                if not last.feasible:
                    break
                best_idx, best_ev = up, last
            return SearchOutcome(levels[best_idx], best_ev, last, tuple(log))
    looked_past = False
    up = best_idx + 1
    while up < len(levels):
        last, _ = try_level(levels[up])
        note = "look past a marginal failure" if up > best_idx + 1 else "step up"
        log.append(_step(levels[up], last, note))
        if last.feasible:
            best_idx, best_ev = up, last
            up += 1
            continue
        if looked_past or up + 1 >= len(levels) or marginal is None or not marginal(last):
            break
        looked_past = True
        up += 1
    return SearchOutcome(levels[best_idx], best_ev, last, tuple(log))
