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

**Not wired yet**: nothing here makes a structure in a TPS or writes an objective; the workflow does not
call it. What the planning run will do with it is in docs/optimisation-structures.md.

**Measured on the stub patients** (tests/engine/test_spatial.py): with the guidance's near-maximum
metrics (D0.5cc, D0.1cc) the region is the metric's own volume — 0.5 cm³ of EDGE-01's small bowel, inside
the prior boost, and 0.4 cm³ of LRRC-01's — and its budget is within 0.1 Gy of the metric level's, so a
stricter objective there changes little. The larger opportunity is the other way: EDGE-01's small bowel
within 15 mm of the new PTV has its own remaining budget for 28.1 Gy in 5 fractions against the metric
level's 24.1 Gy. Using it is safe only when the voxel-wise method decides (``cumulative.deciding_method``):
under the metric sum a higher new dose anywhere in the organ raises the new course's metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

from .runmaps import remaining_maps
from .workflow import PreparedCase

__all__ = ["INSIDE", "LowToleranceRegion", "low_tolerance_regions"]

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
