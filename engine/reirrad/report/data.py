"""The numbers the report's plots show, taken from a run's outcome (numpy only, no drawing).

Every number here is read from the outcome, not recomputed by the report: the cumulative EQD2 map of an
OAR is the one its evaluation measured (:func:`reirrad.cumulative.cumulative_eqd2_map`, with the
tolerance the final evaluation used) and the marker on its DVH is the result's
``cumulative_eqd2_voxelwise_gy``; the maps are the run's own (:mod:`reirrad.runmaps`).

Documented choices
------------------
* **Cumulative DVH** of an OAR with a cumulative limit: the voxel-wise cumulative EQD2
  (Σ (1 − fᵢ)·EQD2ᵢ(prior) + EQD2(plan), at the OAR's α/β) on its occupancy, with the effective prior
  EQD2 alone beside it. A dry run has no plan dose, so it has no DVH.
* **Effective prior EQD2 map**: :func:`reirrad.runmaps.effective_prior_map` (overlap rule: highest EQD2
  wins; each course credited the **smallest** recovery credited to it for any OAR with a cumulative
  limit — the conservative choice for display).
* **Remaining-tolerance map**: per voxel inside an OAR with a cumulative limit (occupancy ≥ 0.5), that
  OAR's remaining EQD2 (:func:`reirrad.runmaps.remaining_maps`, floored at 0); where OARs overlap, the
  smallest. NaN (drawn grey) elsewhere.
* **Slices** pass through the occupancy-weighted centre of the target (nearest voxel). Outlines are the
  0.5 level of each structure's occupancy. Axes are patient coordinates (mm) when the dose grid is
  axis-aligned, else millimetres along the grid's own axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

import numpy as np

from .._validate import FloatArray
from ..cumulative import cumulative_eqd2_map
from ..dose import DoseGrid
from ..dvh import DVH
from ..metrics import parse_metric
from ..optstructures import COMPROMISED, OptimisationRecipe
from ..outcome import RunOutcome
from ..runmaps import effective_prior_map, remaining_maps
from ..sensitivity import PARAMETERS
from ..structures import Occupancy
from ..workflow import WorkflowRun
from .text import checked_limit

__all__ = ["OUTLINE_LEVEL", "DvhData", "MapSlice", "Outline", "TornadoBar",
           "TornadoData", "dvh_data", "map_slices", "tornado_data"]

#: Occupancy level of the structure outlines and of "inside an OAR" in the remaining-tolerance map.
OUTLINE_LEVEL = 0.5
_TARGET_COLOUR = "#d62728"
_OPT_TARGET_COLOUR = "#ff9896"  # the optimisation target (PTV_opt), lighter than the PTV
_COMPROMISED_COLOUR = "#000000"  # the compromised region: PTV inside what PTV_opt leaves out
_LOW_TOLERANCE_COLOUR = "#9400d3"  # a low-tolerance structure (spatial objectives)
_OAR_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                "#bcbd22", "#7f7f7f", "#000000", "#aec7e8", "#98df8a")


@dataclass(frozen=True, eq=False)
class DvhData:
    """One OAR's cumulative EQD2 DVH and what is marked on it.

    Attributes
    ----------
    oar, label, structure : str
        Protocol key, its label and the structure matched to it.
    limit_gy : float
        Cumulative limit, Gy EQD2.
    metric : str
        The limit's metric (e.g. ``D0.5cc``).
    metric_volume_cc : float or None
        The metric's volume (0 for a maximum; None for a metric without a volume).
    metric_gy : float
        The result's voxel-wise cumulative EQD2 of the metric, Gy.
    alpha_beta_gy : float
    cumulative : DVH
        Of the cumulative EQD2 map.
    prior : DVH or None
        Of the effective prior EQD2 map; None without prior courses.
    """

    oar: str
    label: str
    structure: str
    limit_gy: float
    metric: str
    metric_volume_cc: Optional[float]
    metric_gy: float
    alpha_beta_gy: float
    cumulative: DVH
    prior: Optional[DVH]


@dataclass(frozen=True, eq=False)
class Outline:
    """A structure's occupancy in a slice plane (2D, the slice's shape) and its colour."""

    name: str
    colour: str
    occupancy: FloatArray


@dataclass(frozen=True, eq=False)
class MapSlice:
    """One plane of a map, with its axes (mm) and the structure outlines in it.

    ``values`` rows follow the vertical axis and columns the horizontal; ``v_down``: the vertical
    axis increases downwards (axial: y, posterior down). ``vmax`` is the colour scale's top, Gy.
    """

    map_name: str
    view: str
    values: FloatArray
    h_mm: FloatArray
    v_mm: FloatArray
    h_label: str
    v_label: str
    v_down: bool
    vmax: float
    outlines: Tuple[Outline, ...]
    position: str


def dvh_data(outcome: RunOutcome) -> List[DvhData]:
    """The cumulative DVH of every evaluated OAR with a cumulative limit (none without a plan dose)."""
    run = outcome.run
    if run is None or run.final is None or run.final_dose is None:
        return []
    prep = run.prepared
    records = {str(r.get("name")): r for r in outcome.result.get("oars") or []}
    out = []
    for evaluation in run.final.oars:
        tol = evaluation.tolerance
        record = records.get(evaluation.oar, {})
        limit = checked_limit(record)
        metric_gy = record.get("cumulative_eqd2_voxelwise_gy")
        if limit is None or metric_gy is None or evaluation.oar not in prep.oar_occupancy:
            continue
        occ = prep.oar_occupancy[evaluation.oar]
        cmap = cumulative_eqd2_map(prep.prior_courses, tol, new_dose=run.final_dose,
                                   n_fractions=prep.n_fractions)
        metric = parse_metric(tol.metric)
        volume = metric.volume_cc if metric.kind == "volume" else (0.0 if metric.kind == "max" else None)
        prior = None if cmap.effective_prior is None else DVH.from_dose(cmap.effective_prior, occ)
        out.append(DvhData(evaluation.oar, str(record.get("label") or evaluation.oar),
                           str(record.get("structure") or ""), float(limit), tol.metric, volume,
                           float(metric_gy), tol.alpha_beta_gy, DVH.from_dose(cmap.total, occ), prior))
    return out


def _centre_index(occ: Occupancy) -> Tuple[int, int, int]:
    """Nearest voxel (k, j, i) to the occupancy-weighted centre."""
    weights = occ.box_fraction
    total = float(weights.sum())
    idx = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        profile = weights.sum(axis=other)
        local = float((profile * np.arange(profile.size)).sum() / total)
        idx.append(round(local) + int(occ.box[axis].start))
    return idx[0], idx[1], idx[2]


def _occ_slice(occ: Occupancy, axis: int, index: int) -> FloatArray:
    """2D occupancy of the plane ``index`` along grid axis ``axis`` (0 = z, 2 = x)."""
    nz, ny, nx = occ.grid_shape
    out = np.zeros((ny, nx) if axis == 0 else (nz, ny))
    box = occ.box
    if not box[axis].start <= index < box[axis].stop:
        return out
    local = index - box[axis].start
    if axis == 0:
        out[box[1], box[2]] = occ.box_fraction[local]
    else:
        out[box[0], box[1]] = occ.box_fraction[:, :, local]
    return out


def _axis_aligned(grid: DoseGrid) -> bool:
    """True when the grid's index axes are the patient x, y, z axes."""
    return grid.direction is None or bool(np.allclose(grid.direction, np.eye(3)))


def _axes_mm(grid: DoseGrid) -> Tuple[List[FloatArray], List[str]]:
    """Voxel-centre coordinates along the x, y, z index axes and their labels."""
    nz, ny, nx = grid.shape
    aligned = _axis_aligned(grid)
    coords: List[FloatArray] = []
    labels = []
    for a, n in enumerate((nx, ny, nz)):
        start = float(grid.origin_mm[a]) if aligned else 0.0
        coords.append(start + float(grid.spacing_mm[a]) * np.arange(n, dtype=np.float64))
        name = "xyz"[a]
        labels.append(f"{name} (mm)" if aligned else f"grid {name} axis (mm from the first voxel)")
    return coords, labels


def _region_outlines(recipe: Optional[OptimisationRecipe]) -> List[Tuple[str, str, Occupancy]]:
    """The optimisation target and the compromised region (engine masks) when the run made them."""
    target = None if recipe is None else recipe.target_opt
    if recipe is None or target is None:
        return []
    out = [(target.name, _OPT_TARGET_COLOUR, recipe.region_occupancy(target.name))]
    if COMPROMISED in recipe.masks:
        out.append(("compromised region", _COMPROMISED_COLOUR, recipe.region_occupancy(COMPROMISED)))
    return out


def map_slices(outcome: RunOutcome) -> Tuple[List[MapSlice], str]:
    """The axial and sagittal slices of both maps through the target centre, or none and the reason."""
    run = outcome.run
    if run is None or not run.prepared.prior_courses:
        return [], "No prior course: there is no prior-dose map."
    prep = run.prepared
    effective_map = effective_prior_map(prep)
    if effective_map is None:  # pragma: no cover - prior courses checked above
        return [], "No prior course: there is no prior-dose map."
    effective = effective_map.eqd2.values_gy
    shape = effective.shape
    remaining = np.full(shape, np.nan)
    for key, rmap in remaining_maps(prep).items():
        occ = prep.oar_occupancy[key]
        inside = np.zeros(shape, dtype=bool)
        inside[occ.box] = occ.box_fraction >= OUTLINE_LEVEL
        remaining[inside] = np.fmin(remaining[inside], rmap.remaining_eqd2.values_gy[inside])

    k, _, i = _centre_index(prep.target)
    (xs, ys, zs), (xl, yl, zl) = _axes_mm(prep.snapshot.dose_grid)
    prefix = "" if _axis_aligned(prep.snapshot.dose_grid) else "grid "
    structures: List[Tuple[str, str, Occupancy]] = [(prep.target_id, _TARGET_COLOUR, prep.target)]
    for n, (key, occ) in enumerate(prep.oar_occupancy.items()):
        structures.append((prep.oar_structures.get(key, key), _OAR_COLOURS[n % len(_OAR_COLOURS)], occ))
    structures.extend(_region_outlines(run.optimisation_recipe))
    slices = []
    for map_name, values in (("effective-prior", effective), ("remaining-tolerance", remaining)):
        finite = values[np.isfinite(values)]
        vmax = float(finite.max()) if finite.size else 1.0
        vmax = vmax if vmax > 0.0 else 1.0
        for view, axis, index in (("axial", 0, k), ("sagittal", 2, i)):
            plane = values[index] if axis == 0 else values[:, :, index]
            outlines = tuple(Outline(name, colour, _occ_slice(occ, axis, index))
                             for name, colour, occ in structures)
            if axis == 0:
                slices.append(MapSlice(map_name, view, plane, xs, ys, xl, yl, True, vmax, outlines,
                                       f"{prefix}z = {zs[index]:.1f} mm (slice {index})"))
            else:
                slices.append(MapSlice(map_name, view, plane, ys, zs, yl, zl, False, vmax, outlines,
                                       f"{prefix}x = {xs[index]:.1f} mm (slice {index})"))
    slices.extend(_low_tolerance_slices(run, remaining, structures, axes=((xs, ys), (xl, yl), prefix + "z")))
    return slices, ""


_Axes = Tuple[Tuple[FloatArray, FloatArray], Tuple[str, str], str]


def _low_tolerance_slices(run: WorkflowRun, remaining: FloatArray,
                          structures: List[Tuple[str, str, Occupancy]], *, axes: _Axes) -> List[MapSlice]:
    """An axial slice of the remaining-tolerance map through the middle of each low-tolerance structure the
    run made (spatial objectives), with its region (dose voxels, drawn at 0.5) over the other outlines.
    ``axes``: the in-plane coordinates (mm), their labels, and the label of z."""
    spatial = run.spatial
    if spatial is None:
        return []
    (xs, ys), (xl, yl), z_label = axes
    finite = remaining[np.isfinite(remaining)]
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    zs = _axes_mm(run.prepared.snapshot.dose_grid)[0][2]
    out = []
    for structure, region in zip(spatial.structures, spatial.regions):
        k = round(float(np.argwhere(region.voxels)[:, 0].mean()))
        outlines = [Outline(name, colour, _occ_slice(occ, 0, k)) for name, colour, occ in structures]
        outlines.append(Outline(structure.name, _LOW_TOLERANCE_COLOUR, region.voxels[k].astype(np.float64)))
        out.append(MapSlice("remaining-tolerance", "axial", remaining[k], xs, ys, xl, yl, True, vmax,
                            tuple(outlines),
                            f"{z_label} = {zs[k]:.1f} mm (slice {k}), through {structure.name}"))
    return out


@dataclass(frozen=True)
class TornadoBar:
    """One assumption's span of an OAR's allowed dose: (low, high) Gy and the changes that give them."""

    parameter: str
    low_gy: float
    high_gy: float
    low_label: str
    high_label: str


@dataclass(frozen=True)
class TornadoData:
    """What a tornado plot of one limiting OAR shows (:func:`tornado_data`)."""

    oar: str
    label: str
    baseline_gy: float
    bars: Tuple[TornadoBar, ...]


def tornado_data(result: Mapping[str, Any]) -> List[TornadoData]:
    """Per limiting OAR of the result's ``sensitivity_summary``: each parameter's lowest and highest allowed
    dose (the baseline included, so a bar always touches it), widest span first."""
    summary = result.get("sensitivity_summary") or {}
    limiting = summary.get("limiting_oars") or []
    out = []
    for base in summary.get("baseline") or []:
        if base["oar"] not in limiting:
            continue
        baseline = float(base["allowed_physical_gy"])
        bars = []
        for parameter, name in PARAMETERS.items():
            rows = [r for r in result.get("sensitivity") or []
                    if r["oar"] == base["oar"] and r["parameter"] == parameter]
            if not rows:
                continue
            low = min(rows, key=lambda r: r["allowed_physical_gy"])
            high = max(rows, key=lambda r: r["allowed_physical_gy"])
            bars.append(TornadoBar(name, min(float(low["allowed_physical_gy"]), baseline),
                                   max(float(high["allowed_physical_gy"]), baseline),
                                   str(low["label"]), str(high["label"])))
        bars.sort(key=lambda b: b.high_gy - b.low_gy, reverse=True)
        out.append(TornadoData(str(base["oar"]), str(base["label"]), baseline, tuple(bars)))
    return out
