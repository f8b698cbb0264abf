"""Where an OAR's remaining budget is below the guidance's: the low-tolerance part of each OAR.

Issue 20 item 3, the engine's part (docs/optimisation-structures.md, "Open points"). The guidance's metric
method gives an OAR one remaining budget: its cumulative limit minus the effective prior EQD2 **at the
metric** (e.g. the prior D0.5cc, converted and recovered), as if that dose lay everywhere in the organ.
The voxel-wise map (:func:`reirrad.runmaps.remaining_maps`: the same limit, recovery and α/β, voxel by
voxel) shows where the budget is actually spent. The **low-tolerance region** of an OAR is the part of it
(voxels at least half inside, :data:`INSIDE`) whose voxel-wise remaining EQD2 is below the metric-level
remaining EQD2 — with one prior course, exactly the voxels whose prior dose exceeds the prior metric dose.
Its allowed physical dose in the new course is that of its smallest remaining EQD2 (the same LQ inverse
as the map's), never above the metric level's.

**Spatial objectives** (:func:`spatial_plan`; a planning run with ``--objectives spatial`` or the protocol's
``optimisation_structures.spatial_objectives``): each region becomes a **low-tolerance** structure
(:class:`reirrad.optstructures.OutlinedStructure`, ``<prefix>LT_<organ>``), written into the TPS as the
region's outline on the organ's own contour planes (:mod:`reirrad.outlines`), with one **maximum-dose
objective** at the region's allowed physical dose minus the protocol's OAR objective margin (the same
margin as the organ's upper objective), never above the organ's own allowed dose. The rest of the organ
keeps the organ's objectives: the region holds the voxels whose prior dose exceeded the prior metric
dose, so the rest's own smallest remaining budget is the metric level's (for a near-maximum metric, by
construction), which is what the organ's objectives already allow. A region whose allowed dose is not
below the organ's allowed dose (a de novo limit binds more tightly than the cumulative one) gets no
structure: no stricter objective would follow. The cumulative evaluation is unchanged.

**Measured on the stub patients** (tests/engine/test_spatial.py): with the guidance's near-maximum
metrics (D0.5cc, D0.1cc) the region is the metric's own volume — 0.5 cm³ of EDGE-01's small bowel, inside
the prior boost, and 0.4 cm³ of LRRC-01's — and its budget is within 0.1 Gy of the metric level's, so a
stricter objective there changes little. The larger opportunity is the other way: EDGE-01's small bowel
within 15 mm of the new PTV has its own remaining budget for 28.1 Gy in 5 fractions against the metric
level's 24.1 Gy. Using it is safe only when the voxel-wise method decides (``cumulative.deciding_method``):
under the metric sum a higher new dose anywhere in the organ raises the new course's metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from .errors import InputError
from .findings import Finding
from .objectives import OptimizationObjective
from .optstructures import OutlinedStructure, resolve_names
from .outlines import outline_planes
from .protocol import MAX_STRUCTURE_NAME_CHARS, NAME_SUFFIX_CHARS
from .runmaps import remaining_maps
from .structures import structure_occupancy
from .workflow import PreparedCase

__all__ = ["INSIDE", "LowToleranceRegion", "SpatialPlan", "low_tolerance_regions", "spatial_plan"]

#: Role of a low-tolerance structure (:data:`reirrad.optstructures.ROLES`).
LOW_TOLERANCE = "low-tolerance"
#: Base name (after the prefix) of a low-tolerance structure, before the organ's id.
LT_BASE = "LT_"

#: A voxel belongs to an OAR for this purpose when at least this fraction of it is inside (the outlines
#: of the report use the same level).
INSIDE = 0.5
#: Remaining EQD2 this much below the metric level (Gy) counts as below it (float noise of the two paths).
_EQD2_TOL_GY = 1e-6


@dataclass(frozen=True, eq=False)
class LowToleranceRegion:
    """The low-tolerance part of one OAR (module docstring).

    Attributes
    ----------
    oar_key, structure_id : str
    voxels : numpy.ndarray of bool, shape of the planning dose grid [z, y, x]
        The region (read-only).
    volume_cc : float
        Voxels × voxel volume, cm³.
    metric_remaining_eqd2_gy : float
        The metric method's remaining EQD2 of the OAR, Gy.
    min_remaining_eqd2_gy : float
        The smallest voxel-wise remaining EQD2 in the region, Gy (floored at 0, as the map).
    allowed_physical_gy : float
        TOTAL physical dose in the new course's fractions for that EQD2, Gy.
    metric_allowed_physical_gy : float
        The same for the metric level (the tolerance's ``cumulative_allowed_physical_gy``), Gy.
    centroid_mm : tuple of float
        The region's centre (patient coordinates, mm): where the budget is spent.
    """

    oar_key: str
    structure_id: str
    voxels: NDArray[np.bool_]
    volume_cc: float
    metric_remaining_eqd2_gy: float
    min_remaining_eqd2_gy: float
    allowed_physical_gy: float
    metric_allowed_physical_gy: float
    centroid_mm: Tuple[float, float, float]


def low_tolerance_regions(prepared: PreparedCase) -> List[LowToleranceRegion]:
    """The low-tolerance region of every matched OAR with a cumulative limit that has one (module
    docstring), in protocol order; [] without prior courses.

    An OAR whose voxel-wise remaining EQD2 is nowhere below its metric level (its prior metric is its
    maximum, or it received no prior dose) has no region.
    """
    maps = remaining_maps(prepared)
    grid = prepared.snapshot.dose_grid
    voxel_cc = float(grid.voxel_volume_cc)
    out: List[LowToleranceRegion] = []
    for key in prepared.protocol.oar_keys:
        if key not in maps:
            continue
        tolerance = prepared.tolerances[key]
        metric_remaining: Optional[float] = tolerance.remaining_eqd2_gy
        metric_allowed = tolerance.cumulative_allowed_physical_gy
        if metric_remaining is None or metric_allowed is None:
            continue
        inside = np.asarray(prepared.oar_occupancy[key].fraction) >= INSIDE
        remaining = np.asarray(maps[key].remaining_eqd2.values_gy)
        low = inside & (remaining < metric_remaining - _EQD2_TOL_GY)
        if not low.any():
            continue
        low.flags.writeable = False
        allowed = np.asarray(maps[key].allowed_physical.values_gy)[low]
        centre = grid.index_to_patient_mm(np.argwhere(low)[:, ::-1].mean(axis=0))[0]
        out.append(LowToleranceRegion(
            key, prepared.oar_structures[key], low, float(np.count_nonzero(low)) * voxel_cc,
            float(metric_remaining), float(remaining[low].min()), float(allowed.min()), float(metric_allowed),
            (float(centre[0]), float(centre[1]), float(centre[2]))))
    return out


@dataclass(frozen=True, eq=False)
class SpatialPlan:
    """What spatial objectives add to a planning run (module docstring).

    Attributes
    ----------
    structures : tuple of OutlinedStructure
        The low-tolerance structures to make, in protocol OAR order.
    objectives : tuple of OptimizationObjective
        One maximum-dose objective per structure (on the structure's name).
    regions : tuple of LowToleranceRegion
        The region of each structure, in the same order.
    findings : tuple of Finding
        ``low-tolerance-not-stricter`` (info) for a region left out because no stricter objective follows,
        ``low-tolerance-no-plane`` (flag) for one with no contour plane of its organ to carry it.
    """

    structures: Tuple[OutlinedStructure, ...]
    objectives: Tuple[OptimizationObjective, ...]
    regions: Tuple[LowToleranceRegion, ...]
    findings: Tuple[Finding, ...]


def _base_name(structure_id: str, prefix: str) -> str:
    """``LT_`` + the organ's id (letters, digits and ``_`` only), cut so that prefix, base and a suffix
    ``_9`` fit Eclipse's 16 characters (:data:`reirrad.protocol.MAX_STRUCTURE_NAME_CHARS`)."""
    room = MAX_STRUCTURE_NAME_CHARS - NAME_SUFFIX_CHARS - len(prefix)
    clean = re.sub(r"[^A-Za-z0-9_]", "", structure_id) or "OAR"
    return (LT_BASE + clean)[:room]


def spatial_plan(prepared: PreparedCase, *, owned_ids: Sequence[str] = (),
                 made_ids: Sequence[str] = ()) -> SpatialPlan:
    """The low-tolerance structures and their objectives for a prepared case (module docstring).

    Parameters
    ----------
    prepared : reirrad.workflow.PreparedCase
        Its protocol must have an ``optimisation_structures`` section (for the prefix and the volume
        tolerances); without prior courses the plan is empty.
    owned_ids, made_ids : sequence of str
        As :func:`reirrad.optstructures.optimisation_recipe`: reirrad's structures read with the case and
        made in this run (their names are reused; every other name is avoided).

    Raises
    ------
    reirrad.errors.InputError
        No ``optimisation_structures`` section; no free name for a structure.
    """
    settings = prepared.protocol.optimisation_structures
    if settings is None:
        raise InputError("spatial objectives need the protocol's optimisation_structures section (its "
                         "name prefix marks reirrad's structures)")
    grid = prepared.snapshot.dose_grid
    margin = prepared.protocol.planning.oar_objective_margin.value
    kept: List[Tuple[LowToleranceRegion, str]] = []
    findings: List[Finding] = []
    for region in low_tolerance_regions(prepared):
        organ_allowed = prepared.tolerances[region.oar_key].allowed_physical_gy
        if region.allowed_physical_gy >= organ_allowed - 1e-9:
            findings.append(Finding(
                "low-tolerance-not-stricter", "info",
                f"{region.structure_id}: its low-tolerance part ({region.volume_cc:.2f} cm³) allows "
                f"{region.allowed_physical_gy:.2f} Gy, not below the organ's {organ_allowed:.2f} Gy (another "
                "limit binds more tightly); no structure is made for it", subject=region.oar_key))
            continue
        kept.append((region, _base_name(region.structure_id, settings.name_prefix)))
    existing = [s.id for s in prepared.snapshot.structures]
    names = resolve_names(settings.name_prefix, [b for _, b in kept],
                          [*existing, *(m for m in made_ids if m not in existing)],
                          [*owned_ids, *(m for m in made_ids if m not in owned_ids)])
    structures: List[OutlinedStructure] = []
    objectives: List[OptimizationObjective] = []
    regions: List[LowToleranceRegion] = []
    for region, base in kept:
        organ = prepared.snapshot.structure(region.structure_id)
        plane_z = sorted({round(float(c[0, 2]), 6) for c in organ.contours_mm})
        planes = outline_planes(region.voxels, grid, plane_z)
        if not planes:
            findings.append(Finding(
                "low-tolerance-no-plane", "flag",
                f"{region.structure_id}: its low-tolerance part ({region.volume_cc:.2f} cm³) lies between "
                "the organ's contour planes; no structure is made and no stricter objective written",
                subject=region.oar_key))
            continue
        spacing = float(np.min(np.diff(plane_z))) if len(plane_z) > 1 else float(grid.spacing_mm[2])
        contours = [loop for plane in planes for loop in plane.loops_mm]
        expected = structure_occupancy(contours, grid, plane_spacing_mm=spacing, sub_samples=1,
                                       name=names[base]).volume_cc
        spec = prepared.protocol.oar(region.oar_key)
        dose = max(region.allowed_physical_gy - margin, 0.0)
        why = (f"where the prior dose exceeded the prior {prepared.tolerances[region.oar_key].metric}: "
               f"remaining EQD2 down to {region.min_remaining_eqd2_gy:.2f} Gy against the metric level's "
               f"{region.metric_remaining_eqd2_gy:.2f} Gy, so {region.allowed_physical_gy:.2f} Gy allowed "
               f"instead of {region.metric_allowed_physical_gy:.2f} Gy")
        structures.append(OutlinedStructure(
            names[base], LOW_TOLERANCE, region.oar_key, region.structure_id, tuple(planes), float(expected),
            spacing, region.volume_cc, f"{region.structure_id} {why}"))
        objectives.append(OptimizationObjective(
            names[base], "max", dose, 0.0, spec.priority.value, "oar", region.oar_key,
            f"low-tolerance part of {region.structure_id}: {region.allowed_physical_gy:.2f} Gy allowed "
            f"there minus margin {margin:g} Gy", hard=spec.hard))
        regions.append(region)
    return SpatialPlan(tuple(structures), tuple(objectives), tuple(regions), tuple(findings))
