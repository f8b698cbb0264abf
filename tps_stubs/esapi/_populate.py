"""Build the stand-in's .NET object model from a neutral stub patient, and the planner hook."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..patients.model import ImageModel, PlanModel, StubPatient
from ..planner import Optimiser, OptimiserError, PlannerObjective, dose_grid_for, optimise
from ._runtime import net_array, runtime

__all__ = ["BRACHY_MODALITIES", "CT_RAW_OFFSET", "DEFAULT_START", "START_OPTIONS", "build_patient",
           "is_brachy", "planner_objective", "registered_model"]

#: Image raw voxel = HU + 1024 (Image.VoxelToDisplayValue(raw) = raw - 1024).
CT_RAW_OFFSET = 1024

#: Treated plans' statuses (the rest of IsTreated comes from a first-fraction date).
_TREATED = ("Completed", "CompletedEarly")

#: ``PlanModel.modality`` values built as a ``BrachyPlanSetup`` (any other value, or no such attribute: an
#: ``ExternalPlanSetup``).
BRACHY_MODALITIES = ("brachytherapy", "brachy")

#: Neutral models of the patients built in this process, by patient id (the planner hook needs them).
_MODELS: Dict[str, StubPatient] = {}
#: The stand-in optimiser of each plan, by (patient id, "course/plan"); a patient built again starts afresh.
_OPTIMISERS: Dict[Tuple[str, str], Optimiser] = {}

#: ESAPI's ``OptimizationOption`` names.
START_OPTIONS = ("RestartOptimization", "ContinueOptimization",
                 "ContinueOptimizationWithPlanDoseAsIntermediateDose")
#: What an ``Optimize``/``OptimizeVMAT`` call that gives no start option does. The ESAPI documentation
#: does not say (``docs/reference/esapi.md`` §10.3), so the stand-in models both readings: set by
#: ``tps_stubs.esapi.configure(default_start_option=...)``; the adapter must be right under either.
DEFAULT_START = {"option": "RestartOptimization"}


def registered_model(patient_id: str) -> StubPatient:
    """The neutral model a built .NET patient came from."""
    return _MODELS[patient_id]


def _iso(day: Optional[dt.date], hour: int, minute: int) -> str:
    return "" if day is None else dt.datetime(day.year, day.month, day.day, hour, minute).isoformat()


def _doubles(values: Any) -> Any:
    return net_array(np.asarray(values, float), "float64")


def _ints(values: Any) -> Any:
    return net_array(np.asarray(values, np.int32), "int32")


def _grid_args(origin: Any, spacing: Any, size: Any, direction: np.ndarray) -> Tuple[Any, Any, Any, Any]:
    return (_doubles(origin), _doubles(spacing), _ints(size), _doubles(np.asarray(direction, float).ravel()))


def _add_image(builder: Any, patient: Any, image: ImageModel) -> Any:
    raw = image.hu.astype(np.int32) + CT_RAW_OFFSET
    grid = _grid_args(image.origin_mm, image.spacing_mm, image.size, image.direction)
    return builder.ModelBuilder.AddImage(patient, image.id, image.frame_of_reference_uid, *grid, _ints(raw))


def is_brachy(plan: PlanModel) -> bool:
    """Whether a stub plan is built as a ``BrachyPlanSetup``.

    Parameters
    ----------
    plan : PlanModel
        A plan of the neutral model; its ``modality`` (``modality: brachytherapy`` in the patient
        definition; read with a default, so models without the attribute build external plans) selects
        brachytherapy.

    Returns
    -------
    bool
        True when ``plan.modality`` is one of :data:`BRACHY_MODALITIES` (case-insensitive).
    """
    modality = getattr(plan, "modality", None)
    return isinstance(modality, str) and modality.strip().lower() in BRACHY_MODALITIES


def _add_plan(builder: Any, course: Any, plan: PlanModel, structure_sets: Dict[str, Any],
              model: StubPatient) -> Any:
    image = model.image(plan.image_id)
    if plan.dose is not None:
        origin, spacing, size, direction = (plan.dose.origin_mm, plan.dose.spacing_mm, plan.dose.size,
                                            plan.dose.direction)
    else:
        (origin, spacing, size), direction = dose_grid_for(image), image.direction
    treated = plan.first_fraction is not None or plan.approval_status in _TREATED
    fractions = -1 if plan.n_fractions is None else int(plan.n_fractions)
    total = math.nan if plan.prescription_gy is None else float(plan.prescription_gy)
    norm = 100.0 if plan.dose is not None else math.nan
    add = builder.ModelBuilder.AddBrachyPlan if is_brachy(plan) else builder.ModelBuilder.AddExternalPlan
    net = add(course, plan.id, structure_sets[plan.structure_set_id], plan.target_id or "", fractions, total,
              plan.approval_status, treated, norm, *_grid_args(origin, spacing, size, direction))
    for beam in () if is_brachy(plan) else plan.beams:
        builder.ModelBuilder.AddBeam(net, beam.id, float(beam.gantry_angle_deg), beam.technique, beam.mlc_id)
    if plan.dose is not None:
        d = plan.dose
        builder.ModelBuilder.SetDose(net, *_grid_args(d.origin_mm, d.spacing_mm, d.size, d.direction),
                                     _doubles(d.values_gy))
    return net


def build_patient(model: StubPatient) -> Tuple[Any, Dict[Tuple[str, str], Any]]:
    """A new .NET ``Patient`` built from ``model``, and its plans by (course id, plan id).

    Parameters
    ----------
    model : StubPatient
        Neutral model (mm, TOTAL Gy, arrays [z, y, x]).

    Returns
    -------
    patient : VMS.TPS.Common.Model.API.Patient
    plans : dict
        (course id, plan id) → ``ExternalPlanSetup``, or ``BrachyPlanSetup`` for a plan whose ``modality``
        is brachytherapy (:func:`is_brachy`; such a plan gets no beams).

    Notes
    -----
    Course ``StartDateTime`` = the model's course start at 08:00, ``CompletedDateTime`` = its end at 17:30
    (None when the model has none); plans with a dose are normalised to 100 %; the current (dose-less)
    plan has no normalisation (NaN); images carry HU + 1024 as raw voxels; each plan's calculation grid
    is its dose's grid, else ``dose_grid_for(image)`` (2.5 mm).
    """
    rt = runtime()
    builder = rt.Builder
    last, _, first = model.name.partition("^")
    patient = builder.ModelBuilder.NewPatient(model.id, last, first, "")
    images = {image.id: _add_image(builder, patient, image) for image in model.images}
    structure_sets: Dict[str, Any] = {}
    for sset in model.structure_sets:
        net_set = builder.ModelBuilder.AddStructureSet(patient, sset.id, images[sset.image_id], sset.approved)
        structure_sets[sset.id] = net_set
        for structure in sset.structures:
            planes: List[int] = []
            counts: List[int] = []
            points: List[np.ndarray] = []
            for k in sorted(structure.contours_by_plane):
                for contour in structure.contours_by_plane[k]:
                    planes.append(int(k))
                    counts.append(len(contour))
                    points.append(np.asarray(contour, float))
            xyz = np.concatenate(points).ravel() if points else np.zeros(0)
            builder.ModelBuilder.AddStructure(net_set, structure.id, structure.dicom_type, _ints(planes),
                                              _ints(counts), _doubles(xyz))
    plans: Dict[Tuple[str, str], Any] = {}
    for course in model.courses:
        net_course = builder.ModelBuilder.AddCourse(patient, course.id, _iso(course.start, 8, 0),
                                                    _iso(course.end, 17, 30))
        for plan in course.plans:
            plans[(course.id, plan.id)] = _add_plan(builder, net_course, plan, structure_sets, model)
    for reg in model.registrations:
        builder.ModelBuilder.AddRegistration(patient, reg.id, reg.source_for, reg.target_for,
                                             _doubles(np.asarray(reg.matrix, float).ravel()), "")
    _MODELS[model.id] = model
    for key in [k for k in _OPTIMISERS if k[0] == model.id]:
        del _OPTIMISERS[key]
    return patient, plans


def _gy(dose_value: Any) -> float:
    unit = str(dose_value.Unit)
    factors = {"Gy": 1.0, "cGy": 100.0}
    if unit not in factors:
        raise ValueError(f"objective dose in unit {unit!r}: objectives must be absolute (Gy or cGy)")
    return float(dose_value.Dose) / factors[unit]


def planner_objective(objective: Any) -> Optional[PlannerObjective]:
    """An ESAPI ``OptimizationObjective`` as a :class:`tps_stubs.planner.PlannerObjective`.

    Parameters
    ----------
    objective : VMS.TPS.Common.Model.API.OptimizationObjective
        Dose in Gy or cGy (TOTAL over the plan), point-objective volume in % (0-100).

    Returns
    -------
    PlannerObjective or None
        Dose in TOTAL Gy; None for objective types the planner ignores. Point objectives: Upper at 0 %
        → ``"max"``, Upper → ``"upper"``, Lower → ``"lower"``, Exact → ``"upper"``; mean-dose objectives →
        ``"mean"``; EUD objectives: Lower → ``"lower"``, else ``"max"``.

    Raises
    ------
    ValueError
        The objective's dose is not absolute (Percent / Unknown).
    """
    kind_name = objective.GetType().Name
    operator = str(objective.Operator)
    priority = float(objective.Priority)
    sid = str(objective.StructureId)
    if kind_name == "OptimizationPointObjective":
        volume = float(objective.Volume)
        if operator == "Lower":
            kind = "lower"
        elif operator == "Upper" and volume <= 0.0:
            kind = "max"
        else:
            kind = "upper"
        return PlannerObjective(sid, kind, _gy(objective.Dose), volume, priority)
    if kind_name == "OptimizationMeanDoseObjective":
        return PlannerObjective(sid, "mean", _gy(objective.Dose), 0.0, priority)
    if kind_name == "OptimizationEUDObjective":
        kind = "lower" if operator == "Lower" else "max"
        return PlannerObjective(sid, kind, _gy(objective.Dose), 0.0, priority)
    return None


def _target_for(request: Any, objectives: List[PlannerObjective]) -> Optional[str]:
    target = str(request.TargetVolumeId)
    if target:
        return target
    lower = [o for o in objectives if o.kind == "lower"]
    return max(lower, key=lambda o: o.dose_gy).structure_id if lower else None


def _to_planning_frame(model: StubPatient, frame_of_reference: str) -> Optional[np.ndarray]:
    planning = model.images[0].frame_of_reference_uid
    if frame_of_reference == planning:
        return None
    for reg in model.registrations:
        if reg.source_for == frame_of_reference and reg.target_for == planning:
            return np.asarray(reg.matrix, float)
    raise KeyError(f"no registration maps frame {frame_of_reference} to the planning frame {planning}")


def _made_in_tps(request: Any, model: StubPatient, structure_set_id: str,
                 objectives: List[PlannerObjective]) -> Dict[str, np.ndarray]:
    """Masks (flat [z, y, x] over the plan's calculation grid) of the objectives' structures that are in
    the plan's structure set but not in the stub patient's definition of it: structures a script made
    (``AddStructure`` + ``SegmentVolume``), which the stand-in optimiser takes as masks."""
    try:
        defined = {s.id for s in model.structure_set(structure_set_id).structures}
    except KeyError:  # a structure set made in the TPS (Copy, CreateNewStructureSet): nothing is defined
        defined = set()
    present = {str(sid) for sid in request.StructureIds}
    wanted = sorted(({o.structure_id for o in objectives} - defined) & present)
    return {sid: np.array(list(request.StructureMask(sid)), dtype=bool) for sid in wanted}


def planner_callback(request: Any) -> bool:
    """The stand-in planner behind Optimize / OptimizeVMAT / CalculateDose (``PlannerCallback``).

    Parameters
    ----------
    request : Reirrad.EsapiStubBuilder.PlannerRequest
        The plan, its TOTAL prescription in Gy, objectives and calculation grid (mm).

    Returns
    -------
    bool
        True after writing the dose; see below for False.

    Notes
    -----
    ``Optimize``/``OptimizeVMAT`` run the plan's :class:`tps_stubs.planner.Optimiser` (warm-started unless
    the call's start option is ``RestartOptimization``; a call without one follows
    :data:`DEFAULT_START`; a failure of the stand-in optimiser returns False,
    i.e. ``OptimizerResult.Success`` False); ``CalculateDose`` of a plan never optimised calls
    :func:`tps_stubs.planner.optimise` (cold start). Both use the plan's target (``TargetVolumeID``, else
    the structure of the highest Lower objective), TOTAL prescription in Gy and objectives in TOTAL Gy,
    and write the dose back on the plan's calculation grid. Returns False (calculation failed) when the
    plan has no prescription or no target can be found.
    """
    model = registered_model(str(request.PatientId))
    total_gy = float(request.TotalDoseGy)
    if not math.isfinite(total_gy) or total_gy <= 0:
        return False
    objectives = [o for o in (planner_objective(x) for x in request.Objectives) if o is not None]
    target = _target_for(request, objectives)
    if target is None:
        return False
    origin = tuple(float(v) for v in request.GridOrigin)
    spacing = tuple(float(v) for v in request.GridSpacing)
    size = tuple(int(v) for v in request.GridSize)
    direction = np.array([float(v) for v in request.GridDirection]).reshape(3, 3)
    to_planning = _to_planning_frame(model, str(request.ImageFrameOfReference))
    structure_set_id = str(request.StructureSetId)
    inputs: Dict[str, Any] = dict(structure_set_id=structure_set_id, target_id=target,
                                  prescription_gy=total_gy, objectives=objectives,
                                  grid=(origin, spacing, size), direction=direction, to_patient=to_planning,
                                  masks=_made_in_tps(request, model, structure_set_id, objectives))
    if str(request.Operation) == "CalculateDose":  # a plan never optimised: the cold-start dose
        dose = optimise(model, **inputs)
    else:
        key = (model.id, str(request.PlanId))
        optimiser = _OPTIMISERS.get(key)
        if optimiser is None:
            optimiser = _OPTIMISERS[key] = Optimiser(model)
        try:
            start = str(request.StartOption) or DEFAULT_START["option"]
            dose = optimiser.run(warm=start != "RestartOptimization", **inputs)
        except OptimiserError:
            return False  # OptimizerResult.Success False; the plan keeps its previous state
    request.SetDose(_doubles(dose.values_gy))
    return True
