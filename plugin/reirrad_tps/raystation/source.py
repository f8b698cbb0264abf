"""``RayStationCaseSource``: the open RayStation case as an engine :class:`~reirrad.snapshot.CaseSnapshot`.

Implements :class:`reirrad.ports.CaseSource`. It only translates (docs/reference/style.md §3 practice 3):
units go
through :mod:`.units`, version spellings through :mod:`.versions`; there is no radiobiology here.

What is read, and from where (docs/reference/raystation.md):

* **Frame.** The planning examination's frame of reference is ``beam_set.FrameOfReference`` (§3).
* **Dose grid of the new plan.** ``beam_set.GetDoseGrid()`` (§5.3): ``Corner`` is the voxel *edge*
  in cm; the snapshot's grid has its origin at the first voxel *centre* in mm.
* **Structures as contours.** Every ROI geometry of the planning structure set
  (``beam_set.GetStructureSet().RoiGeometries``) with its ``PrimaryShape.Contours`` (points in cm).
  Contours, not voxels, on purpose: the engine rasterises contours the same way for every TPS
  (:func:`reirrad.structures.structure_occupancy`), so Eclipse and RayStation give identical
  occupancies and DVHs for the same structure. ``RoiGeometry.GetRoiGeometryAsVoxels`` and
  ``dose.GetDoseGridRoi(...).RoiVolumeDistribution`` are therefore not used: they would bring
  RayStation's own (undocumented) partial-volume rule into the engine for one TPS only.
  An ROI without geometry is read as an empty structure; an ROI whose geometry is not contours
  (e.g. a triangle mesh) is refused with the ROI's name.
* **Plan.** Fractions from ``FractionationPattern.NumberOfFractions``; the TOTAL prescription from
  the primary prescription's ``DoseValue`` (cGy, total for the beam set, §12.1); its ROI as the
  target; beams present; ``plan.Review.ApprovalStatus == 'Approved'`` → not writable (§14.6).
* **Prior courses.** The case's other plans are listed as candidates and the engine's rule
  (:mod:`reirrad.priors`) selects those with a computed ``TreatmentCourse.TotalDose`` that are
  approved (``Review.ApprovalStatus == 'Approved'``); an unapproved plan with a dose (an alternative
  never delivered, or one delivered but never approved here) is not counted and is flagged;
  ``prior_plan_names`` chooses explicitly instead (never the current plan; a ``FractionDose`` is never
  read without × its fractions). The dose stays in its
  own frame: ``planning_to_dose`` comes from ``case.GetTransformForExaminations(FromExamination=
  <planning CT>, ToExamination=<prior CT>)`` (p_To = T·p_From with translations in cm, §8 and the
  stand-in's documented reading), or — when a deformable registration from the planning CT
  (reference) to the prior CT (target) exists and ``deformable`` is True — the dose is mapped onto
  the new plan's dose grid with ``case.MapDose`` (version keywords, §7.3) and ``planning_to_dose``
  is None. ``registration_kind`` says which: ``"same-frame"`` (the prior dose is on the planning
  frame), ``"rigid"`` (the matrix) or ``"deformable"`` (mapped by ``MapDose``; without it a mapped
  dose, which has no matrix, would be mistaken for a same-frame one). RayStation holds no treatment
  dates for prior plans: ``last_fraction`` comes from
  ``prior_dates`` (plan name → date), else None (the workflow asks the user).

``MapDose`` adds an evaluation dose to the case (it does not change the prior plan). Call
:meth:`RayStationCaseSource.read` inside :func:`reirrad_tps.raystation.entry.undoable` to keep it in
the run's undo step, or pass ``deformable=False`` to write nothing at all (a dry run).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from reirrad._validate import as_date
from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.priors import PriorPlanCandidate, PriorSelection, select_prior_plans
from reirrad.snapshot import CaseSnapshot, PlanInfo, PriorCourse, StructureData, rigid_matrix

from ._common import approval_status, has_member, is_approved, names, same, tps_message
from .grids import empty_dose_grid, read_dose_grid
from .units import gy_from_cgy, matrix_mm_from_cm, points_mm_from_cm
from .versions import VersionProfile, profile

__all__ = ["ROI_TYPE_TO_DICOM", "TPS_NAME", "RayStationCaseSource"]

logger = logging.getLogger(__name__)

TPS_NAME = "RayStation"

#: RayStation ROI ``Type`` → DICOM RT ROI Interpreted Type (``Undefined`` has none).
ROI_TYPE_TO_DICOM: Mapping[str, str] = {
    "Ptv": "PTV",
    "Ctv": "CTV",
    "Gtv": "GTV",
    "Organ": "ORGAN",
    "External": "EXTERNAL",
    "Avoidance": "AVOIDANCE",
    "Bolus": "BOLUS",
    "Support": "SUPPORT",
    "Fixation": "FIXATION",
    "Marker": "MARKER",
    "Cavity": "CAVITY",
    "Control": "CONTROL",
    "Registration": "REGISTRATION",
    "Undefined": "",
}



def _primary_prescription(beam_set: Any, version: VersionProfile) -> Any:
    """The beam set's primary prescription (version spelling, §12.1), or None."""
    return getattr(beam_set.Prescription, version.primary_prescription)


def _fractions(beam_set: Any) -> int:
    value = beam_set.FractionationPattern.NumberOfFractions
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"beam set {beam_set.DicomPlanLabel!r} has {value!r} fractions; set the "
                         "fractionation of the beam set in RayStation")
    return int(value)


def _has_dose(plan: Any) -> bool:
    """True when the plan has beam sets and a computed total dose."""
    return len(plan.BeamSets) > 0 and plan.TreatmentCourse.TotalDose.DoseValues is not None


def _date(name: str, value: Any) -> dt.date:
    return as_date(f"prior_dates[{name!r}]", value, text=False)


class RayStationCaseSource:
    """Reads the open RayStation case once (implements :class:`reirrad.ports.CaseSource`).

    Parameters
    ----------
    case, plan, beam_set, examination : RayStation objects
        The current case, the NEW plan and its beam set, and that beam set's planning examination
        (as :func:`reirrad_tps.raystation.entry.current_objects` returns them).
    patient : RayStation ``Patient``
        For ``PatientID`` (a case does not expose its patient).
    tps_version : str
        RayStation release, one of :data:`reirrad_tps.raystation.versions.VERSIONS`.
    prior_dates : mapping of str to datetime.date, optional
        Date of the LAST fraction of each prior plan, by plan name (RayStation holds no treatment
        dates). Plans not named get ``last_fraction=None``.
    prior_plan_names : sequence of str, optional
        The prior plans to read (an explicit choice, recorded as such); by default the engine's rule
        selects the approved plans of the case with a computed dose.
    planned_start : datetime.date, optional
        Planned first fraction of the new course (RayStation holds none).
    deformable : bool
        Use a deformable registration (``case.MapDose``, which adds an evaluation dose to the case)
        when one exists from the planning CT to a prior CT; False uses the rigid registration only
        and writes nothing.

    Raises
    ------
    reirrad.errors.InputError
        An unknown version, or arguments of the wrong type.
    """

    def __init__(
        self,
        case: Any,
        plan: Any,
        beam_set: Any,
        examination: Any,
        *,
        patient: Any,
        tps_version: str,
        prior_dates: Optional[Mapping[str, dt.date]] = None,
        prior_plan_names: Optional[Sequence[str]] = None,
        planned_start: Optional[dt.date] = None,
        deformable: bool = True,
    ) -> None:
        self._version = profile(tps_version)
        self._case = case
        self._plan = plan
        self._beam_set = beam_set
        self._examination = examination
        self._patient = patient
        self._prior_dates: Dict[str, dt.date] = {
            str(k): _date(str(k), v) for k, v in (prior_dates or {}).items()
        }
        if isinstance(prior_plan_names, str):
            raise InputError(f"prior_plan_names must be a list of plan names (got the string "
                             f"{prior_plan_names!r}); pass [{prior_plan_names!r}]")
        self._prior_plan_names = None if prior_plan_names is None else [str(n) for n in prior_plan_names]
        if planned_start is not None and not isinstance(planned_start, dt.date):
            raise InputError(f"planned_start must be a datetime.date (got {planned_start!r})")
        self._planned_start = planned_start
        self._deformable = bool(deformable)

    # -- the port ---------------------------------------------------------------------------------
    def read(self) -> CaseSnapshot:
        """The case as the engine needs it (see the module docstring for every source).

        Raises
        ------
        reirrad.errors.InputError
            The beam set is not in the plan, the examination is not its planning CT, a prior plan
            cannot be read (no dose, mixed fractionation, no registration to the planning CT), an
            ROI geometry is not contours, or ``prior_dates`` names a plan that is not a prior plan.
        """
        self._check_context()
        planning_for = str(self._beam_set.FrameOfReference)
        structures = self._structures(planning_for)
        plan_info = self._plan_info()
        dose_grid = empty_dose_grid(self._beam_set.GetDoseGrid(), planning_for)
        chosen, selection = self._prior_plans()
        priors = tuple(self._prior_course(p, planning_for) for p in chosen)
        return CaseSnapshot(
            patient_id=str(self._patient.PatientID),
            planning_frame_of_reference_uid=planning_for,
            structures=structures,
            plan=plan_info,
            dose_grid=dose_grid,
            prior_courses=priors,
            planned_start=self._planned_start,
            tps=TPS_NAME,
            tps_version=self._version.version,
            source_findings=selection.findings,
            prior_plan_selection=selection.record,
        )

    # -- checks -----------------------------------------------------------------------------------
    def _check_context(self) -> None:
        if not any(same(b, self._beam_set) for b in self._plan.BeamSets):
            raise InputError(f"beam set {self._beam_set.DicomPlanLabel!r} is not in plan {self._plan.Name!r} "
                             f"(its beam sets: {names(self._plan.BeamSets, 'DicomPlanLabel')}); make the new "
                             "plan's beam set current")
        planning = self._beam_set.GetPlanningExamination()
        if not same(planning, self._examination):
            raise InputError(f"examination {self._examination.Name!r} is not the planning examination "
                             f"{planning.Name!r} of beam set {self._beam_set.DicomPlanLabel!r}; select the "
                             "planning CT and run again")

    # -- structures -----------------------------------------------------------------------------
    def _structures(self, planning_for: str) -> Tuple[StructureData, ...]:
        structure_set = self._beam_set.GetStructureSet()
        out: List[StructureData] = []
        for geometry in structure_set.RoiGeometries:
            roi = geometry.OfRoi
            name = str(roi.Name)
            shape = geometry.PrimaryShape
            contours: Tuple[Any, ...] = ()
            if shape is not None:
                if not has_member(shape, "Contours"):
                    raise InputError(f"ROI {name!r} on {self._examination.Name!r} has a geometry without "
                                     "contours (e.g. a mesh); convert it to contours in RayStation "
                                     "(Patient modeling) so it can be read")
                contours = tuple(points_mm_from_cm(c) for c in shape.Contours if len(c) > 0)
            roi_type = str(roi.Type)
            out.append(StructureData(id=name, dicom_type=ROI_TYPE_TO_DICOM.get(roi_type, roi_type.upper()),
                                     contours_mm=contours, frame_of_reference_uid=planning_for))
        return tuple(out)

    # -- the new plan ---------------------------------------------------------------------------
    def _plan_info(self) -> PlanInfo:
        prescription = _primary_prescription(self._beam_set, self._version)
        status = approval_status(self._plan)
        return PlanInfo(
            id=str(self._plan.Name),
            course_id=str(self._case.CaseName),
            n_fractions=_fractions(self._beam_set),
            prescription_gy=None if prescription is None else gy_from_cgy(prescription.DoseValue),
            target_id=None if prescription is None else str(prescription.OnStructure.Name),
            has_beams=len(self._beam_set.Beams) > 0,
            approval_status=status,
            writable=not is_approved(self._plan),
        )

    # -- prior courses ----------------------------------------------------------------------------
    def _prior_plans(self) -> Tuple[List[Any], PriorSelection]:
        """Every other plan of the case as a candidate, and the engine's selection among them
        (:mod:`reirrad.priors`; ``prior_plan_names`` is an explicit choice)."""
        others = [p for p in self._case.TreatmentPlans if not same(p, self._plan)]
        by_name = {str(p.Name): p for p in others}
        if self._prior_plan_names is not None:
            for name in self._prior_plan_names:
                if name == str(self._plan.Name):
                    raise InputError(f"prior_plan_names names the new plan {name!r}; the current plan is "
                                     "never a prior course")
                if name not in by_name:
                    raise InputError(f"prior_plan_names names {name!r}, which is not a plan of case "
                                     f"{self._case.CaseName!r} (plans: {sorted(by_name)})")
                if not _has_dose(by_name[name]):
                    raise InputError(f"prior plan {name!r} has no computed dose (TotalDose.DoseValues is "
                                     "None); compute its dose in RayStation or leave it out of "
                                     "prior_plan_names")
        candidates = []
        for p in others:
            name = str(p.Name)
            last = self._prior_dates.get(name)
            # RayStation has no courses and records no treatment here: every other plan is a candidate,
            # counted when approved (locked); the date is the user's or unknown.
            candidates.append(PriorPlanCandidate(
                course_id=str(self._case.CaseName), plan_id=name, same_course_as_new=False,
                approval_status=approval_status(p), approved=is_approved(p), treated=None,
                has_dose=_has_dose(p), last_fraction=last,
                last_fraction_source="unknown" if last is None else "user"))
        selection = select_prior_plans(candidates, self._prior_plan_names)
        chosen = [by_name[c.plan_id] for c in selection.selected]
        unknown = sorted(set(self._prior_dates) - set(selection.selected_ids))
        if unknown:
            raise InputError(f"prior_dates names {unknown}, which are not selected prior plans "
                             f"({sorted(selection.selected_ids)}); check the plan names")
        return chosen, selection

    def _prior_course(self, plan: Any, planning_for: str) -> PriorCourse:
        name = str(plan.Name)
        beam_sets = list(plan.BeamSets)
        fractions = sorted({_fractions(b) for b in beam_sets})
        if len(fractions) != 1:
            raise InputError(f"prior plan {name!r} has beam sets with different numbers of fractions "
                             f"({fractions}); its total dose has no single fractionation: read such a plan "
                             "as separate plans (one beam set each)")
        prescription = None
        if len(beam_sets) == 1:
            reference = _primary_prescription(beam_sets[0], self._version)
            prescription = None if reference is None else gy_from_cgy(reference.DoseValue)
        total = plan.TreatmentCourse.TotalDose
        prior_exam = beam_sets[0].GetPlanningExamination()
        prior_for = str(total.InDoseGrid.FrameOfReference)
        matrix: Optional[np.ndarray] = None
        registration_id: Optional[str] = None
        kind = "same-frame"
        if prior_for == planning_for:
            grid = read_dose_grid(total)
        else:
            deformable = self._deformable_registration(prior_exam, name) if self._deformable else None
            if deformable is not None:
                grid = self._mapped_dose(total, deformable, name)
                registration_id = f"deformable {deformable.Name}"
                kind = "deformable"  # on the planning grid already: no matrix, but NOT the same frame
            else:
                grid = read_dose_grid(total)
                matrix = self._rigid_transform_mm(prior_exam, name, prior_for)
                registration_id = f"rigid {self._examination.Name} -> {prior_exam.Name}"
                kind = "rigid"
            logger.info("prior plan %s: %s", name, registration_id)
        return PriorCourse(
            course_id=str(self._case.CaseName),
            plan_id=name,
            dose=grid,
            n_fractions=fractions[0],
            last_fraction=self._prior_dates.get(name),
            last_fraction_source="user" if name in self._prior_dates else "unknown",
            planning_to_dose=matrix,
            registration_id=registration_id,
            registration_kind=kind,
            approval_status=approval_status(plan),
            prescription_gy=prescription,
        )

    def _rigid_transform_mm(self, prior_exam: Any, plan_name: str, prior_for: str) -> np.ndarray:
        """p_prior = M·p_planning (mm) from the rigid registration of the two examinations."""
        planning_name, prior_name = str(self._examination.Name), str(prior_exam.Name)
        fix = (f"create a rigid registration between {planning_name!r} and {prior_name!r} in RayStation "
               "(Patient modeling > Image registration) and run again")
        try:
            transform_cm = self._case.GetTransformForExaminations(FromExamination=planning_name,
                                                                  ToExamination=prior_name)
        except Exception as exc:
            raise InputError(f"prior plan {plan_name!r} is on examination {prior_name!r} (frame "
                             f"{prior_for}), not in the planning frame, and RayStation gives no registration "
                             f"to {planning_name!r}: {tps_message(exc)}; {fix}") from exc
        if transform_cm is None:
            raise InputError(f"RayStation returned no transform from {planning_name!r} to {prior_name!r} "
                             f"(prior plan {plan_name!r}); {fix}")
        return rigid_matrix(matrix_mm_from_cm(transform_cm),
                            f"the registration from {planning_name!r} to {prior_name!r}",
                            f"use a rigid registration for prior plan {plan_name!r}")

    def _deformable_registration(self, prior_exam: Any, plan_name: str) -> Any:
        """The one deformable registration planning CT (reference) → prior CT (target), or None."""
        if not has_member(self._case, "StructureRegistrations"):
            return None
        found = [
            r for r in self._case.StructureRegistrations
            if r.InStructureRegistrationGroup is not None
            and same(r.FromExamination, self._examination) and same(r.ToExamination, prior_exam)
        ]
        if len(found) > 1:
            raise InputError(f"{len(found)} deformable registrations map {self._examination.Name!r} to "
                             f"{prior_exam.Name!r} ({names(found)}) for prior plan {plan_name!r}; delete all "
                             "but one, or read with deformable=False to use the rigid registration")
        return found[0] if found else None

    def _planning_evaluations(self) -> List[Any]:
        """Evaluation doses on the planning examination (FractionEvaluations[0], §7.1)."""
        out: List[Any] = []
        evaluations = self._case.TreatmentDelivery.FractionEvaluations
        if len(evaluations) == 0:
            return out
        for on_exam in evaluations[0].DoseOnExaminations:
            if same(on_exam.OnExamination, self._examination):
                out.extend(on_exam.DoseEvaluations)
        return out

    def _mapped_dose(self, total: Any, registration: Any, plan_name: str) -> DoseGrid:
        """Map the prior TOTAL dose onto the new plan's dose grid with ``case.MapDose`` (§7.3)."""
        before = self._planning_evaluations()
        try:
            self._case.MapDose(DoseDistribution=total, StructureRegistration=registration,
                               ReferenceDoseGrid=self._beam_set.GetDoseGrid(),
                               **dict(self._version.map_dose_keywords))
        except Exception as exc:
            raise InputError(f"RayStation could not map the dose of prior plan {plan_name!r} through the "
                             f"deformable registration {registration.Name!r}: {tps_message(exc)}; check the "
                             "registration, or read with deformable=False to use the rigid one") from exc
        new = [e for e in self._planning_evaluations() if not any(same(e, b) for b in before)]
        mapped = [e for e in new if has_member(e, "OfDoseDistribution") and same(e.OfDoseDistribution, total)]
        if len(mapped) != 1:
            raise InputError(f"after MapDose for prior plan {plan_name!r}, {len(mapped)} new mapped doses of "
                             f"its total dose were found on {self._examination.Name!r} (expected 1); remove "
                             "stale evaluation doses and run again")
        return read_dose_grid(mapped[0])
