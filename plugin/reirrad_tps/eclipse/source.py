"""``EclipseCaseSource``: the open Eclipse patient as an engine :class:`~reirrad.snapshot.CaseSnapshot`.

Implements :class:`reirrad.ports.CaseSource`. Translation only (docs/reference/style.md §3 practice 3): doses
through
:mod:`.units` / :mod:`.grids`; no radiobiology. Nothing is written (not even
``DoseValuePresentation``). What is read, and from where (docs/reference/esapi.md):

* **Frame.** The planning image's ``FOR`` (``plan.StructureSet.Image``, §6.1/§6.3).
* **Structures as contours** (§6.2): every structure of the plan's structure set, with
  ``GetContoursOnImagePlane(k)`` for every image plane ``k`` (points in mm). Contours, not masks: the
  engine rasterises every TPS's contours the same way.
* **Plan** (§4.4): ``NumberOfFractions`` (``int?`` → None), the TOTAL prescription ``TotalDose`` (None
  when undefined), ``TargetVolumeID`` (None when empty), beams present, ``ApprovalStatus``; writable only
  when ``UnApproved``, not ``IsTreated``, its course has no ``CompletedDateTime`` and the session may
  write (``Patient.CanModifyData()``).
* **Dose grid of the new plan.** The plan's dose geometry when it has a dose; otherwise a grid of
  ``dose_spacing_mm`` over the planning image (:func:`.grids.image_dose_grid`).
* **Prior courses.** Every other plan of the patient is listed as a candidate (course, approval,
  ``IsTreated``, ``IsDoseValid``, date): each course's ``PlanSetups`` and its ``BrachyPlanSetups``
  (13.6; listed explicitly, once per plan id, so a brachytherapy plan counts even where ``PlanSetups``
  lists external plans only — a ``BrachyPlanSetup`` is a ``PlanSetup`` and is read the same way: dose,
  ``NumberOfFractions``, ``TotalDose``; its ``PriorCourse.modality`` is ``"brachytherapy"``), and the
  engine's rule (:mod:`reirrad.priors`) selects the prior
  plans: plans of OTHER courses with a valid dose that are treated or approved for treatment
  (:data:`TREATMENT_APPROVED`); the rest are recorded, and a dosed plan not counted is flagged. For each
  selected plan: its TOTAL dose
  (``PlanningItem.Dose``, §4.1) read with :func:`.grids.read_dose_grid` — refused unless the plan's
  ``DoseValuePresentation`` is Absolute — and its ``NumberOfFractions``. A prior plan on another frame
  needs a ``Patient.Registrations`` entry between the two frames (§8); ``planning_to_dose`` is derived
  from ``TransformPoint`` (SourceFOR → RegisteredFOR) or ``InverseTransformPoint``, whichever direction
  maps planning → prior (never from the undocumented layout of ``TransformationMatrix``), and
  ``registration_kind`` is ``"rigid"``; a prior plan on the planning frame is ``"same-frame"``. A
  registration that is not rigid is refused: ESAPI exposes no deformable mapping of a dose here.
* **Plan sums.** Never read as one dose: a sum mixes fractionations, and EQD2 needs each plan's own
  dose and fractions. Its plans are read one by one (they are prior plans with a valid dose), which is
  the sum when every component is an Addition of weight 1. A prior-course sum with a Subtraction, a
  weight other than 1 or a plan without a valid dose is refused (the delivered dose would differ).
* **Plan ids** are unique only within a course: plans are told apart by (course Id, plan Id), and a
  ``prior_dates`` key is the plan Id, or ``COURSE/PLAN`` where two courses have a plan of that Id.
* **Dates.** The last fraction is ``prior_dates[plan]`` (the user's answer) when given; else
  ``Course.CompletedDateTime`` (date part) — the day the course was closed, not a treatment record, so
  it is marked ``last_fraction_source="course-completed"`` and flagged until confirmed; else None (the
  workflow asks). A date given that differs from ``CompletedDateTime`` is used, with a
  ``last-fraction-date-differs`` flag naming both (the recovery credit counts from it). ESAPI has no
  planned start for a new course: ``planned_start`` comes from the caller.
  ``Course.TreatmentSessions`` / ``PlanSetup.TreatmentSessions`` (15.5+) are not read: the reference
  lists the properties but not the members of their session types (no documented date), so no
  per-fraction date is taken from them.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

from reirrad._validate import as_date
from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.findings import Finding
from reirrad.priors import PriorPlanCandidate, PriorSelection, resolve_plan_keys, select_prior_plans
from reirrad.snapshot import CaseSnapshot, PlanInfo, PriorCourse, StructureData, rigid_matrix

from .grids import dose_geometry, image_dose_grid, read_dose_grid, vector_mm
from .units import dose_value_gy

__all__ = ["DEFAULT_DOSE_SPACING_MM", "DEFAULT_TPS_VERSION", "TPS_NAME", "EclipseCaseSource", "course_plans"]

logger = logging.getLogger(__name__)

TPS_NAME = "Eclipse"
DEFAULT_TPS_VERSION = "15.6"
#: Calculation-grid spacing assumed for a plan without a dose (Eclipse's common 2.5 mm default).
DEFAULT_DOSE_SPACING_MM = 2.5
#: ``PlanSetup.ApprovalStatus`` of a plan that may be written to.
UNAPPROVED = "UnApproved"
#: ``PlanSetup.ApprovalStatus`` values that approve a plan for treatment (docs/reference/esapi.md
#: ``PlanSetupApprovalStatus``): such a plan of another course counts as prior dose (reirrad.priors).
TREATMENT_APPROVED = ("TreatmentApproved", "Completed", "CompletedEarly")

FloatArray = NDArray[np.float64]


def _to_date(value: Any) -> Optional[dt.date]:
    """A .NET ``DateTime?`` (or a Python date) as a ``datetime.date``; None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date(int(value.Year), int(value.Month), int(value.Day))


def _check_date(name: str, value: Any) -> dt.date:
    return as_date(name, value, text=False)


def _date_replaced(label: str, given: dt.date, completed: dt.date) -> Finding:
    """A ``flag`` that the last-fraction date given in ``prior_dates`` replaces a different
    ``Course.CompletedDateTime``: the recovery credit counts from the given date, so both are shown."""
    days = (completed - given).days
    relation = f"{days} days before" if days > 0 else f"{-days} days after"
    return Finding(
        "last-fraction-date-differs", "flag",
        f"{label}: the last fraction is taken as {given.isoformat()} (prior_dates, the user's answer), "
        f"{relation} the course's completion date in Eclipse ({completed.isoformat()}); the interval and the "
        "recovery credited count from the given date - check it is the date of the last fraction",
        subject=label)


def _absolute(plan: Any) -> None:
    presentation = str(plan.DoseValuePresentation)
    if presentation != "Absolute":
        raise InputError(f"plan {plan.Id!r} presents its dose as {presentation!r}; reirrad reads absolute "
                         "doses only: set the plan's dose presentation to Absolute (DoseValuePresentation) "
                         "and run again")


def _is_writable(plan: Any, patient: Any) -> bool:
    return (str(plan.ApprovalStatus) == UNAPPROVED and not bool(plan.IsTreated)
            and plan.Course.CompletedDateTime is None and bool(patient.CanModifyData()))


def course_plans(course: Any) -> List[Any]:
    """Every plan of an ESAPI course: ``PlanSetups``, then the ``BrachyPlanSetups`` not among them.

    Parameters
    ----------
    course : VMS.TPS.Common.Model.API.Course

    Returns
    -------
    list
        The plans in ``PlanSetups`` order, then any brachytherapy plan whose id ``PlanSetups`` did not
        list (plan ids are unique within a course).
    """
    plans = list(course.PlanSetups)
    ids = {str(p.Id) for p in plans}
    for plan in list(course.BrachyPlanSetups):
        if str(plan.Id) not in ids:
            plans.append(plan)
            ids.add(str(plan.Id))
    return plans


def _modality(plan: Any) -> str:
    """``"brachytherapy"`` for a ``BrachyPlanSetup`` (by its .NET type name), else ``"external"``."""
    return "brachytherapy" if str(plan.GetType().Name) == "BrachyPlanSetup" else "external"


def _optional_str(value: Any) -> Optional[str]:
    text = "" if value is None else str(value)
    return text or None


def _affine_from(transform: Any, vvector: Any) -> FloatArray:
    """The 4×4 matrix of a rigid point map ``transform(VVector) -> VVector`` (probed at 0 and e_x,y,z)."""
    o = np.array(vector_mm(transform(vvector(0.0, 0.0, 0.0))))
    m = np.eye(4)
    m[:3, 3] = o
    for axis in range(3):
        e = [0.0, 0.0, 0.0]
        e[axis] = 1.0
        m[:3, axis] = np.array(vector_mm(transform(vvector(*e)))) - o
    return m


class EclipseCaseSource:
    """Reads the open Eclipse patient once (implements :class:`reirrad.ports.CaseSource`).

    Parameters
    ----------
    patient : ESAPI ``Patient``
    plan : ESAPI ``PlanSetup``
        The NEW plan (``context.ExternalPlanSetup``).
    planned_start : datetime.date, optional
        Planned first fraction of the new course (not in ESAPI).
    prior_dates : mapping of str to datetime.date, optional
        Date of the LAST fraction by prior plan: its Id, or ``COURSE/PLAN`` where plans of two courses share
        the Id (:func:`reirrad.priors.resolve_plan_keys`; a shared Id alone is refused as ambiguous).
        Used instead of ``Course.CompletedDateTime`` (a ``last-fraction-date-differs`` flag when they
        differ).
    tps_version : str
        Eclipse version, for the provenance record.
    dose_spacing_mm : float
        Calculation-grid spacing assumed when the new plan has no dose yet.

    Raises
    ------
    reirrad.errors.InputError
        Arguments of the wrong type.
    """

    def __init__(self, patient: Any, plan: Any, *, planned_start: Optional[dt.date] = None,
                 prior_dates: Optional[Mapping[str, dt.date]] = None,
                 tps_version: str = DEFAULT_TPS_VERSION,
                 dose_spacing_mm: float = DEFAULT_DOSE_SPACING_MM) -> None:
        if patient is None or plan is None:
            raise InputError("EclipseCaseSource needs the open patient and the new plan (context.Patient and "
                             "context.ExternalPlanSetup); open a plan in Eclipse and run again")
        self._patient = patient
        self._plan = plan
        self._planned_start = None if planned_start is None else _check_date("planned_start", planned_start)
        self._prior_dates: Dict[str, dt.date] = {
            str(k): _check_date(f"prior_dates[{k!r}]", v) for k, v in (prior_dates or {}).items()}
        self._tps_version = str(tps_version)
        self._dose_spacing_mm = float(dose_spacing_mm)

    # -- the port -----------------------------------------------------------------------------------
    def read(self) -> CaseSnapshot:
        """The case as the engine needs it (sources in the module docstring).

        Raises
        ------
        reirrad.errors.InputError
            No structure set, a prior plan with a relative presentation or without fractions, no (or an
            ambiguous, or a non-rigid) registration for a prior plan on another frame, ``prior_dates``
            naming a plan that is not a prior plan.
        reirrad.errors.UnitError
            A dose that is not in Gy or cGy.
        """
        structure_set = self._plan.StructureSet
        if structure_set is None or structure_set.Image is None:
            raise InputError(f"plan {self._plan.Id!r} has no structure set / planning image; attach one in "
                             "Eclipse and run again")
        image = structure_set.Image
        planning_for = str(image.FOR)
        structures = self._structures(structure_set, image, planning_for)
        if bool(self._plan.IsDoseValid):  # only the geometry is used: the values are ignored
            origin, spacing, (nx, ny, nz), direction = dose_geometry(self._plan.Dose)
            grid = DoseGrid(np.zeros((nz, ny, nx)), origin, spacing, direction,
                            frame_of_reference_uid=planning_for)
        else:
            grid = image_dose_grid(image, self._dose_spacing_mm, planning_for)
        plans, selection, date_flags = self._prior_plans()
        priors = [plans[(c.course_id, c.plan_id)] for c in selection.selected]
        self._check_plan_sums(priors, selection)
        return CaseSnapshot(
            patient_id=str(self._patient.Id),
            planning_frame_of_reference_uid=planning_for,
            structures=structures,
            plan=self._plan_info(),
            dose_grid=grid,
            prior_courses=tuple(self._prior_course(plans[(c.course_id, c.plan_id)], planning_for, c)
                                for c in selection.selected),
            planned_start=self._planned_start,
            tps=TPS_NAME,
            tps_version=self._tps_version,
            source_findings=selection.findings + date_flags,
            prior_plan_selection=selection.record,
        )

    # -- structures ---------------------------------------------------------------------------------
    @staticmethod
    def _structures(structure_set: Any, image: Any, planning_for: str) -> Tuple[StructureData, ...]:
        planes = int(image.ZSize)
        out: List[StructureData] = []
        for structure in list(structure_set.Structures):
            contours: List[FloatArray] = []
            if not bool(structure.IsEmpty):
                for k in range(planes):
                    for contour in structure.GetContoursOnImagePlane(k):
                        points = [vector_mm(p) for p in contour]
                        if points:
                            contours.append(np.array(points, dtype=np.float64).reshape(len(points), 3))
            out.append(StructureData(id=str(structure.Id), dicom_type=str(structure.DicomType),
                                     contours_mm=tuple(contours), frame_of_reference_uid=planning_for))
        return tuple(out)

    # -- the new plan -------------------------------------------------------------------------------
    def _plan_info(self) -> PlanInfo:
        plan = self._plan
        fractions = plan.NumberOfFractions
        total = plan.TotalDose
        prescription = None if fractions is None or bool(total.IsUndefined()) else dose_value_gy(total)
        return PlanInfo(
            id=str(plan.Id),
            course_id=str(plan.Course.Id),
            n_fractions=None if fractions is None else int(fractions),
            prescription_gy=prescription,
            target_id=_optional_str(plan.TargetVolumeID),
            has_beams=len(list(plan.Beams)) > 0,
            approval_status=str(plan.ApprovalStatus),
            writable=_is_writable(plan, self._patient),
        )

    # -- prior courses ------------------------------------------------------------------------------
    def _prior_plans(self) -> Tuple[Dict[Tuple[str, str], Any], PriorSelection, Tuple[Finding, ...]]:
        """Every other plan of the patient as a candidate, by (course id, plan id): plan ids are unique only
        within a course (two courses may each have a "Plan1"); the engine's selection among them, with the
        ``prior_dates`` given; and a ``last-fraction-date-differs`` flag for each given date that differs
        from ``Course.CompletedDateTime``. A key names a *selected* prior plan (its Id, or ``COURSE/PLAN``
        where two of them share it: :func:`reirrad.priors.resolve_plan_keys`), as the review, the dialog
        and :meth:`reirrad.snapshot.CaseSnapshot.with_dates` name them; the selection does not depend on
        the dates, so it is made without them first, to know which plans the keys may name."""
        current_course = str(self._plan.Course.Id)
        others = [(course, p) for course in list(self._patient.Courses) for p in course_plans(course)
                  if not (str(course.Id) == current_course and str(p.Id) == str(self._plan.Id))]
        plans = {(str(course.Id), str(p.Id)): p for course, p in others}
        undated = [self._candidate(course, p, same_course=str(course.Id) == current_course)
                   for course, p in others]
        selected = [(c.course_id, c.plan_id) for c in select_prior_plans(undated).selected]
        named = resolve_plan_keys(self._prior_dates, selected, "prior_dates (the selected prior plans)")
        given = {selected[index]: self._prior_dates[key] for key, index in named.items()}
        dated: List[PriorPlanCandidate] = []
        flags: List[Finding] = []
        for c in undated:
            date = given.get((c.course_id, c.plan_id))
            if date is None:
                dated.append(c)
                continue
            if c.last_fraction is not None and c.last_fraction != date:  # CompletedDateTime differs
                flags.append(_date_replaced(c.label, date, c.last_fraction))
            dated.append(replace(c, last_fraction=date, last_fraction_source="user"))
        return plans, select_prior_plans(dated), tuple(flags)

    def _candidate(self, course: Any, plan: Any, *, same_course: bool) -> PriorPlanCandidate:
        """What the engine's prior-plan rule needs: approval, treatment, dose, and the last-fraction date
        Eclipse keeps (``Course.CompletedDateTime``; :meth:`_prior_plans` puts the user's dates in)."""
        status = str(plan.ApprovalStatus)
        last = _to_date(course.CompletedDateTime)
        return PriorPlanCandidate(
            course_id=str(course.Id), plan_id=str(plan.Id), same_course_as_new=same_course,
            approval_status=status, approved=status in TREATMENT_APPROVED, treated=bool(plan.IsTreated),
            has_dose=bool(plan.IsDoseValid), last_fraction=last,
            last_fraction_source="course-completed" if last is not None else "unknown")

    def _check_plan_sums(self, priors: List[Any], selection: PriorSelection) -> None:
        """Refuse prior plan sums that the per-plan reading would not reproduce (see the module notes)."""
        read = {(str(p.Course.Id), str(p.Id)) for p in priors}
        reasons = {(r["course"], r["plan"]): r["reason"] for r in selection.record}
        current_course = str(self._plan.Course.Id)
        for course in list(self._patient.Courses):
            if str(course.Id) == current_course:
                continue
            for plan_sum in list(course.PlanSums):
                for plan in list(plan_sum.PlanSetups):
                    where = f"plan sum {plan_sum.Id!r} (course {course.Id!r}), plan {plan.Id!r}"
                    operation = str(plan_sum.GetPlanSumOperation(plan))
                    weight = float(plan_sum.GetPlanWeight(plan))
                    if operation != "Addition" or abs(weight - 1.0) > 1e-9:
                        raise InputError(
                            f"{where}: {operation} with weight {weight:g}. reirrad reads each prior "
                            "plan's own dose and fractions, which counts every plan once, added in full; "
                            "this sum says otherwise. Make the plans in Eclipse match what was delivered "
                            "(e.g. a plan with the delivered fractions) and run again")
                    key = (str(plan.Course.Id), str(plan.Id))
                    if key not in read:
                        raise InputError(f"{where}: the plan is summed but not counted as prior dose "
                                         f"({reasons.get(key, 'not a candidate')}), so the prior dose would "
                                         "be incomplete; calculate its dose or approve it in Eclipse, or "
                                         "choose the prior plans explicitly, and run again")
                logger.info("plan sum %s: read as its %d plans", plan_sum.Id, len(list(plan_sum.PlanSetups)))

    def _prior_course(self, plan: Any, planning_for: str, candidate: PriorPlanCandidate) -> PriorCourse:
        name = str(plan.Id)
        _absolute(plan)
        fractions = plan.NumberOfFractions
        if fractions is None or int(fractions) < 1:
            raise InputError(f"prior plan {candidate.label!r} has no number of fractions "
                             f"(NumberOfFractions = {fractions!r}); set its prescription in Eclipse")
        prior_set = plan.StructureSet
        if prior_set is None or prior_set.Image is None:
            raise InputError(f"prior plan {candidate.label!r} has no structure set / image, so its frame of "
                             "reference is unknown; attach its planning image in Eclipse")
        prior_for = str(prior_set.Image.FOR)
        grid: DoseGrid = read_dose_grid(plan.Dose, prior_for)
        matrix: Optional[FloatArray] = None
        registration_id: Optional[str] = None
        if prior_for != planning_for:
            matrix, registration_id = self._planning_to(prior_for, name)
            logger.info("prior plan %s: registration %s", name, registration_id)
        total = plan.TotalDose
        prescription = None if bool(total.IsUndefined()) else dose_value_gy(total)
        return PriorCourse(
            course_id=candidate.course_id,
            plan_id=name,
            dose=grid,
            n_fractions=int(fractions),
            last_fraction=candidate.last_fraction,
            last_fraction_source=candidate.last_fraction_source,
            planning_to_dose=matrix,
            registration_id=registration_id,
            registration_kind="same-frame" if matrix is None else "rigid",
            approval_status=str(plan.ApprovalStatus),
            prescription_gy=prescription,
            modality=_modality(plan),
        )

    def _planning_to(self, prior_for: str, plan_name: str) -> Tuple[FloatArray, str]:
        """p_prior = M·p_planning (mm) from the patient's registration between the two frames."""
        planning_for = str(self._plan.StructureSet.Image.FOR)
        found = [r for r in list(self._patient.Registrations)
                 if {str(r.SourceFOR), str(r.RegisteredFOR)} == {planning_for, prior_for}]
        fix = (f"register the prior image (frame {prior_for}) rigidly to the planning image (frame "
               f"{planning_for}) in Eclipse and run again")
        if not found:
            raise InputError(f"prior plan {plan_name!r} is on frame {prior_for}, not the planning frame, and "
                             f"the patient has no registration between the two; {fix}")
        if len(found) > 1:
            raise InputError(f"{len(found)} registrations link frames {planning_for} and {prior_for} "
                             f"({sorted(str(r.Id) for r in found)}) for prior plan {plan_name!r}; delete all "
                             "but one and run again")
        reg = found[0]
        vvector = type(self._plan.StructureSet.Image.Origin)
        forward = str(reg.SourceFOR) == planning_for
        transform = reg.TransformPoint if forward else reg.InverseTransformPoint
        matrix = rigid_matrix(_affine_from(transform, vvector), f"registration {reg.Id!r}",
                              f"reirrad needs a rigid registration for prior plan {plan_name!r}")
        return matrix, str(reg.Id)
