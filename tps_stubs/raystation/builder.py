"""Build the stand-in object model of one stub patient.

Mapping from the neutral model (:mod:`tps_stubs.patients.model`):

* One case, ``"Case 1"``, holds every examination, structure set and plan (RayStation keeps
  examinations, registrations and plans per case; a re-irradiation is planned in the case holding
  the prior plan).
* Each image → an ``Examination`` named by the image id; each structure set → the ``StructureSet``
  of its image (one per image, as in RayStation); every structure name → one ROI of the case.
* Each rigid registration → ``case.Registrations[i]`` (From = source frame, To = target frame).
* Each plan → a ``TreatmentPlan`` named by the plan id, with one ``BeamSet`` (label = plan id) and
  one ``PlanOptimization``. A plan with a dose gets it as delivered (TOTAL Gy → the beam set's
  dose; ``FractionDose`` = total / fractions); approval via :data:`.review.APPROVAL_FROM_MODEL`.
* A plan with a target and a prescription gets a primary prescription ``DoseAtVolume`` 95 % of
  ``prescription_gy`` × 100 cGy on the target (the model gives no prescription type; D95 is the
  stand-in's choice).
* Treatment dates (``first_fraction`` / ``last_fraction``, course dates, ``planned_start``) are not
  exposed: the reference names no RayStation member holding them.
* Helper mesh ROIs (``load(..., helper_mesh_rois={"Couch": "Support"})``) are added to every
  structure set that has an external structure: a 20 mm slab 2 mm under the external contour on
  each of its planes, as a mesh (no ``Contours``). Plan beam sets get a ``Review`` equal to their
  plan's.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import numpy as np

from ..patients.model import PlanModel, StructureModel, StructureSetModel, StubPatient
from .grids import to_rs_orientation
from .optimization import PlanOptimization
from .patient_objects import Case, Examination, Patient, TreatmentDelivery
from .plans import BeamSet, TreatmentPlan
from .registrations import Registration
from .review import APPROVAL_FROM_MODEL
from .rois import ROI_TYPES, StructureSet
from .session import Session

__all__ = ["CASE_NAME", "build_patient"]

CASE_NAME = "Case 1"


def _examinations(session: Session, model: StubPatient, case: Case) -> Dict[str, Examination]:
    exams = {}
    for image in model.images:
        exam = Examination(session, f"{case._path}.Examinations[{image.id!r}]", image)
        case.Examinations._append(exam)
        exams[image.id] = exam
    case._s["delivery"] = TreatmentDelivery(session, f"{case._path}.TreatmentDelivery", list(exams.values()))
    return exams


def _slab_under(external: StructureModel, name: str) -> StructureModel:
    """A 20 mm slab 2 mm under (posterior to, +y) each contour of ``external``."""
    planes = {}
    for k, contours in external.contours_by_plane.items():
        pts = np.concatenate(contours)
        x0, x1 = float(pts[:, 0].min()), float(pts[:, 0].max())
        y0, y1, z = float(pts[:, 1].max()) + 2.0, float(pts[:, 1].max()) + 22.0, float(pts[0, 2])
        planes[k] = (np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]]),)
    return StructureModel(id=name, dicom_type="SUPPORT", contours_by_plane=planes, primitives=())


def _structures(session: Session, model: StubPatient, case: Case, exams: Dict[str, Examination],
                helper_rois: Mapping[str, str]) -> None:
    pm = case.PatientModel
    for model_set in model.structure_sets:
        for s in model_set.structures:
            if pm._s["rois"]._find(s.id) is None:
                pm._new_roi(s.id, ROI_TYPES.get(s.dicom_type.upper(), "Undefined"))
    for name, roi_type in helper_rois.items():
        if pm._s["rois"]._find(name) is not None:
            raise ValueError(f"helper ROI {name!r} already exists in the stub patient")
        pm._new_roi(name, roi_type)
    for image_id, exam in exams.items():
        sets = [m for m in model.structure_sets if m.image_id == image_id]
        if len(sets) > 1:
            raise ValueError(
                f"image {image_id!r} has {len(sets)} structure sets; RayStation has one per examination"
            )
        ss: Optional[StructureSetModel] = sets[0] if sets else None
        structure_set = StructureSet(
            session,
            f"{pm._path}.StructureSets[{exam.Name!r}]",
            exam,
            None if ss is None else ss.id,
            bool(ss is not None and ss.approved),
        )
        by_name = {} if ss is None else {s.id: s for s in ss.structures}
        external = next((s for s in by_name.values() if s.dicom_type.upper() == "EXTERNAL"), None)
        if external is not None and not external.is_empty:
            by_name.update({name: _slab_under(external, name) for name in helper_rois})
        for roi in pm._s["rois"]:
            structure_set._add_geometry(roi, by_name.get(roi.Name))
        structure_set._finish_approval()
        pm._s["structure_sets"]._append(structure_set)


def _registrations(session: Session, model: StubPatient, case: Case, exams: Dict[str, Examination]) -> None:
    for n, reg in enumerate(model.registrations):

        def exam_in(frame: str, reg_id: str = reg.id) -> Examination:
            found = [e for e in exams.values() if e._frame_of_reference() == frame]
            if not found:
                raise ValueError(f"registration {reg_id!r}: no examination in frame of reference {frame}")
            return found[0]

        case.Registrations._append(
            Registration(
                session,
                f"{case._path}.Registrations[{n}]",
                from_for=reg.source_for,
                to_for=reg.target_for,
                matrix_mm=reg.matrix,
                from_exam=exam_in(reg.source_for),
                to_exam=exam_in(reg.target_for),
            )
        )


def _plan(
    session: Session,
    model: StubPatient,
    case: Case,
    exams: Dict[str, Examination],
    *,
    plan: PlanModel,
    name: str,
) -> TreatmentPlan:
    approval = APPROVAL_FROM_MODEL[plan.approval_status]
    tp = TreatmentPlan(session, f"{case._path}.TreatmentPlans[{name!r}]", case, name, approval)
    if plan.n_fractions is None:
        raise ValueError(f"plan {plan.id!r} has no number of fractions; every RayStation beam set has one")
    exam = exams[plan.image_id]
    image = model.image(plan.image_id)
    values = None
    if plan.dose is None:
        grid = exam._default_grid()
    else:
        d = plan.dose
        grid, values = to_rs_orientation(
            d.origin_mm,
            d.spacing_mm,
            d.size,
            d.direction,
            frame_of_reference=image.frame_of_reference_uid,
            values=d.values_gy,
        )
    structure_set = case.PatientModel._s["structure_sets"]._find(exam.Name)
    beam_set = BeamSet(
        session,
        f"{tp._path}.BeamSets[{plan.id!r}]",
        tp,
        case=case,
        label=plan.id,
        fractions=plan.n_fractions,
        examination=exam,
        structure_set=structure_set,
        grid=grid,
        beam_names=tuple(b.id for b in plan.beams),
    )
    beam_set._set_review(approval)
    tp.BeamSets._append(beam_set)
    tp.PlanOptimizations._append(PlanOptimization(session, f"{tp._path}.PlanOptimizations[0]", tp, beam_set))
    if values is not None:
        beam_set._set_delivered(values)
    if plan.target_id is not None and plan.prescription_gy is not None:
        beam_set._add_prescription(plan.target_id, 95.0, "DoseAtVolume", plan.prescription_gy * 100.0, 1.0)
    return tp


def build_patient(session: Session, model: StubPatient, *, helper_rois: Optional[Mapping[str, str]] = None
                  ) -> Patient:
    """The ``Patient`` of ``model``, with the current case, plan, beam set and examination set.

    ``helper_rois`` (name → ROI ``Type``) adds helper mesh ROIs (module docstring).
    """
    patient = Patient(session, "Patient", model.id, model.name)
    case = Case(session, f"Patient.Cases[{CASE_NAME!r}]", CASE_NAME)
    patient.Cases._append(case)
    exams = _examinations(session, model, case)
    _structures(session, model, case, exams, dict(helper_rois or {}))
    _registrations(session, model, case, exams)
    names: List[str] = []
    current = None
    for course in model.courses:
        for plan in course.plans:
            name = plan.id if plan.id not in names else f"{plan.id} ({course.id})"
            names.append(name)
            tp = _plan(session, model, case, exams, plan=plan, name=name)
            case.TreatmentPlans._append(tp)
            if (course.id, plan.id) == (model.current_course_id, model.current_plan_id):
                current = tp
    if current is None:
        raise ValueError(f"the current plan {model.current_plan_id!r} of {model.id!r} was not built")
    beam_set = current.BeamSets[0]
    session.state.update(
        Patient=patient, Case=case, Plan=current, BeamSet=beam_set, Examination=beam_set._s["examination"]
    )
    return patient
