"""What the stand-in's optimisation, dose calculation and scaling compute (through ``tps_stubs.planner``).

* ``RunOptimization`` calls :func:`tps_stubs.planner.optimise` with the beam set's primary
  prescription (ROI = target, ``DoseValue`` cGy TOTAL → Gy) and the plan optimisation's functions
  converted by :func:`planner_objectives` (``DoseLevel`` cGy TOTAL → Gy; ``PercentVolume`` %).
  The result is the beam set's "segments": the TOTAL dose at monitor-unit scale 1.
* ROIs made in the stand-in (``CreateRoi`` + ROI algebra, not in the stub patient's definition) that an
  optimisation function names reach the planner as masks (:func:`structure_masks`): the dose-grid voxels
  whose centre is inside the ROI's contours, scored as the stand-in's statistics score them
  (:func:`.grids.occupancy`, voxel centres). The planner counts a lower objective's voxels from such a
  mask, and carves around one with an upper or max objective (the signed distance to the mask).
* ``ComputeDose`` turns segments × MU scale into the beam set's dose; scaling multiplies the MU scale.
* Scaling to a prescription or dose goal evaluates :func:`prescription_metric_gy` on the beam set's
  TOTAL dose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Sequence

import numpy as np

from ..planner import PlannerObjective
from . import grids
from .errors import ScriptException

if TYPE_CHECKING:  # pragma: no cover
    from reirrad.dvh import DVH

__all__ = ["FUNCTION_KINDS", "planner_objectives", "prescription_metric_gy", "structure_masks"]

#: RayStation FunctionType → planner kind. Functions of other types (fall-off, EUD other than a mean,
#: uniformity) have no counterpart in the stand-in planner and are not passed to it.
FUNCTION_KINDS = {"MaxDose": "max", "MaxDvh": "upper", "MinDose": "lower", "MinDvh": "lower"}


def planner_objectives(functions: List[Any]) -> List[PlannerObjective]:
    """The planner objectives of a plan optimisation's functions (objectives and constraints).

    A constraint has no weight that matters (it must hold): it enters the planner as a constraint
    (:class:`tps_stubs.planner.PlannerObjective` ``constraint``), whatever its parameters' ``Weight`` says.
    """
    out = []
    for f in functions:
        params = f._s["parameters"]
        ftype = f._s["function_type"]
        roi = f._s["roi"].Name
        kind = FUNCTION_KINDS.get(ftype)
        if ftype == "MaxEud" and float(params._s.get("eud_a", 0.0)) == 1.0:
            kind = "mean"
        if kind is None:
            continue
        out.append(
            PlannerObjective(
                structure_id=roi,
                kind=kind,
                dose_gy=float(params._s["dose_level"]) / 100.0,
                volume_pct=float(params._s.get("percent_volume", 0.0)),
                priority=1.0 if f._s["constraint"] else float(params._s["weight"]),
                constraint=bool(f._s["constraint"]),
            )
        )
    return out


def structure_masks(beam_set: Any, objectives: Sequence[PlannerObjective]) -> Dict[str, np.ndarray]:
    """Boolean masks (flat [z, y, x] over the beam set's dose grid, True where the voxel centre is inside)
    of the objectives' ROIs that are not in the stub patient's structure set (made in the stand-in).

    Raises ``ScriptException`` when such an ROI has no geometry on the planning examination.
    """
    structure_set = beam_set._s["structure_set"]
    model = beam_set._session.model
    defined = {s.id for s in model.structure_set(structure_set._model_id).structures}
    grid = beam_set._s["grid"]
    masks: Dict[str, np.ndarray] = {}
    for roi in sorted({o.structure_id for o in objectives} - defined):
        model_id, structure = beam_set._case._roi_structure(roi, beam_set._s["examination"])
        fraction = np.asarray(grids.occupancy(model, model_id, structure, grid).fraction, dtype=float)
        masks[roi] = (fraction >= 0.5).ravel()
    return masks


def prescription_metric_gy(dvh: DVH, prescription_type: str, dose_volume: float) -> float:
    """The dose a prescription of this type refers to, Gy (e.g. D95% for DoseAtVolume 95).

    ``dose_volume`` is in percent, except for ``DoseAtAbsoluteVolume`` (cm³, an assumption: the
    reference gives no unit for it).

    Raises
    ------
    ScriptException
        For ``DoseAtPoint`` (no points in the stand-in) or an unknown type.
    """
    if prescription_type == "DoseAtVolume":
        return dvh.dose_at_volume_pct(float(dose_volume))
    if prescription_type == "AverageDose":
        return dvh.mean_gy
    if prescription_type == "MedianDose":
        return dvh.dose_at_volume_pct(50.0)
    if prescription_type == "NearMinimumDose":
        return dvh.dose_at_volume_pct(98.0)
    if prescription_type == "NearMaximumDose":
        return dvh.dose_at_volume_pct(2.0)
    if prescription_type == "DoseAtAbsoluteVolume":
        return dvh.dose_at_volume_cc(float(dose_volume))
    raise ScriptException(
        f"PrescriptionType {prescription_type!r} is not supported by the stand-in; use "
        "DoseAtVolume, AverageDose, MedianDose, NearMinimumDose, NearMaximumDose or "
        "DoseAtAbsoluteVolume."
    )
