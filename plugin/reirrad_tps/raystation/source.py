"""``RayStationCaseSource``: the open RayStation case as an engine :class:`~reirrad.snapshot.CaseSnapshot`.

Implements :class:`reirrad.ports.CaseSource`. It only translates (docs/reference/style.md §3 practice 3):
units go through :mod:`.units`; calls whose spelling differs between versions are feature-detected
(:mod:`.call_forms`) and the forms used are recorded (``call_forms``, and an ``info`` finding
``tps-call-forms`` in the snapshot's ``source_findings``); there is no radiobiology here.

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
  An ROI without geometry is read as an empty structure.
* **Mesh ROIs** (a ``PrimaryShape`` without ``Contours``: model-based and deep-learning
  segmentation, couch and helper ROIs; docs/reference/raystation-public-scripts.md R11). Nothing is
  written to the clinician's structure set (no ``SetRepresentation``). A mesh ROI whose ``Type`` is
  a helper type (:data:`HELPER_ROI_TYPES`: couch, fixation, bolus, control …) is left out with an
  ``info`` finding ``mesh-roi-skipped``. Any other mesh ROI (an organ, a target, the external) is
  voxelised by RayStation on the new plan's dose grid with ``RoiGeometry.GetRoiGeometryAsVoxels
  (Corner, VoxelSize, NrVoxels)`` (§9; values 0–255, flat, x fastest; public-scripts R6) and read as
  one rectangle contour per run of voxels at least half inside (value ≥ 128) on each row of each
  slice, at the voxel-centre plane: the engine's slab model then gives back exactly those voxels.
  The structure is thus known at the dose-grid resolution only (partial voxels rounded at 50 %), so
  each such ROI carries a ``flag`` finding ``mesh-roi-voxelised`` with its voxel volume and
  RayStation's ``GetRoiVolume()``. A mesh ROI RayStation cannot voxelise is refused, naming it.
* **Plan.** Fractions from ``FractionationPattern.NumberOfFractions``; the TOTAL prescription from
  the primary prescription's ``DoseValue`` (cGy, total for the beam set, §12.1; the member is
  feature-detected); its ``OnStructure`` ROI as the target — a site or dose-specification-point
  prescription has no ``OnStructure``: the target is then None and a ``flag`` finding
  ``prescription-not-on-roi`` says so; beams present; the plan's **or the beam set's**
  ``Review.ApprovalStatus == 'Approved'`` → not writable (§14.6; public-scripts N7, N9).
* **Prior courses.** The case's other plans are listed as candidates and the engine's rule
  (:mod:`reirrad.priors`) selects those with a computed ``TreatmentCourse.TotalDose`` that are
  approved (``Review.ApprovalStatus == 'Approved'``); an unapproved plan with a dose (an alternative
  never delivered, or one delivered but never approved here) is not counted and is flagged;
  ``prior_plan_names`` chooses explicitly instead (never the current plan; a ``FractionDose`` is never
  read without × its fractions). The dose stays in its
  own frame: ``planning_to_dose`` comes from ``case.GetTransformForExaminations(FromExamination=
  <planning CT>, ToExamination=<prior CT>)`` (translations in cm, §8), read as p_To = T·p_From as public
  scripts read it (the direction is not documented) and **checked** against
  ``case.TransformPointFromExaminationToExamination`` (From → To by its name) on four probe points:
  the agreeing reading is used (the inverse with an ``info`` finding), neither is refused, and
  without the point call T is used with a ``flag`` finding ``registration-direction-unchecked``
  (:meth:`RayStationCaseSource._checked_direction`); or — when a deformable registration from the planning CT
  (reference) to the prior CT (target) exists and ``deformable`` is True — the dose is mapped onto
  the planning CT's grid with ``case.MapDose`` (keywords feature-detected, §7.3): each beam set's
  ``FractionDose`` with ``ReferenceDoseGrid=None``, as every public script maps (public-scripts E2,
  E3), then × that beam set's fractions (:func:`.grids.read_dose_grid`) and summed; ``planning_to_dose``
  is None. ``GetTransformForExaminations`` may return a 4×4 array, a flat list of 16 numbers
  (public-scripts G4) or None when no registration exists (G3): all are handled.
  ``registration_kind`` says which: ``"same-frame"`` (the prior dose is on the planning frame),
  ``"rigid"`` (the matrix) or ``"deformable"`` (mapped by ``MapDose``; without it a mapped dose,
  which has no matrix, would be mistaken for a same-frame one). RayStation holds no treatment dates
  for prior plans: ``last_fraction`` comes from ``prior_dates`` (plan name → date), else None (the
  workflow asks the user).

``MapDose`` adds an evaluation dose to the case (it does not change the prior plan); whether an
undo step removes it after a failure is not confirmed, so every evaluation dose the read created is
listed in :attr:`RayStationCaseSource.created_evaluation_doses` (the menu reports what is left).
Pass ``deformable=False`` to write nothing at all (a dry run, or the read before the confirmation).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from reirrad._validate import as_date
from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.findings import Finding
from reirrad.priors import PriorPlanCandidate, PriorSelection, select_prior_plans
from reirrad.snapshot import CaseSnapshot, PlanInfo, PriorCourse, StructureData, rigid_matrix

from ._common import (
    APPROVED,
    NOT_REVIEWED,
    approval_status,
    has_member,
    is_approved,
    names,
    same,
    tps_message,
)
from .call_forms import CallForms, call_first, member_first
from .grids import empty_dose_grid, read_dose_grid
from .units import (
    gy_from_cgy,
    matrix_mm_from_cm,
    mm_from_cm,
    point_mm_from_cm,
    points_cm_from_mm,
    points_mm_from_cm,
)
from .versions import profile

__all__ = [
    "DIRECTION_PROBES_MM",
    "DIRECTION_TOLERANCE_MM",
    "HELPER_ROI_TYPES",
    "MESH_VOXEL_THRESHOLD",
    "ROI_TYPE_TO_DICOM",
    "TPS_NAME",
    "RayStationCaseSource",
    "beam_set_approval",
    "prescription_roi",
    "primary_prescription",
]

logger = logging.getLogger(__name__)

TPS_NAME = "RayStation"

#: Points (planning-frame mm) sent through ``TransformPointFromExaminationToExamination`` to check the
#: direction of a registration matrix: four points not in one plane, so that no rigid transform other
#: than one equal to its own inverse (where the direction does not matter) fixes them all.
DIRECTION_PROBES_MM = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 100.0, 0.0], [0.0, 0.0, 100.0]])

#: Largest distance (mm) between a probe point placed by the matrix and by RayStation's point transform
#: for the two to agree: well below a dose voxel (2-3 mm), well above floating-point error.
DIRECTION_TOLERANCE_MM = 0.1

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

#: ROI ``Type``s of helper ROIs (couch, immobilisation, bolus, control …) a mesh of which is skipped.
HELPER_ROI_TYPES: FrozenSet[str] = frozenset({
    "Support", "Fixation", "Bolus", "Control", "Marker", "Registration", "FieldOfView", "DoseRegion",
    "ContrastAgent", "Cavity",
})
#: ``GetRoiGeometryAsVoxels`` value (0–255) from which a voxel counts as inside a mesh ROI (50 %).
MESH_VOXEL_THRESHOLD = 128


def primary_prescription(beam_set: Any, forms: CallForms) -> Any:
    """The beam set's primary prescription (member feature-detected, :mod:`.call_forms`), or None."""
    prescription = beam_set.Prescription
    primary = member_first("primary_prescription", prescription,
                           ("PrimaryPrescriptionDoseReference", "PrimaryDosePrescription"), forms,
                           default=("none", _MISSING))
    if primary is not _MISSING:
        return primary
    references = member_first("primary_prescription", prescription,
                              ("PrescriptionDoseReferences", "DosePrescriptions"), forms)
    forms.record("primary_prescription", f"{forms.as_mapping()['primary_prescription']}[0]")
    return references[0] if len(references) > 0 else None


def prescription_roi(reference: Any) -> Optional[str]:
    """The ROI name of a prescription, or None for a site / dose-specification-point one."""
    try:
        structure = reference.OnStructure
    except AttributeError:
        return None
    return None if structure is None else str(structure.Name)


def beam_set_approval(beam_set: Any) -> str:
    """The beam set's own ``Review.ApprovalStatus`` (public-scripts N9), :data:`NOT_REVIEWED` when it
    has none or the version has no beam-set ``Review``."""
    try:
        review = beam_set.Review
    except AttributeError:
        return NOT_REVIEWED
    return NOT_REVIEWED if review is None else str(review.ApprovalStatus)


class _Missing:
    """Marker: a member lookup found nothing."""


_MISSING = _Missing()


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
        self._forms = CallForms()
        self._findings: List[Finding] = []
        self._created: List[str] = []

    @property
    def call_forms(self) -> Mapping[str, str]:
        """The form of each version-dependent call used by the last :meth:`read` (:mod:`.call_forms`)."""
        return self._forms.as_mapping()

    @property
    def created_evaluation_doses(self) -> Tuple[str, ...]:
        """Evaluation doses ``MapDose`` added to the case during :meth:`read` (what a read leaves)."""
        return tuple(self._created)

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
        self._findings = []
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
            source_findings=tuple(selection.findings) + tuple(self._findings) + (self._forms_finding(),),
            prior_plan_selection=selection.record,
        )

    def _forms_finding(self) -> Finding:
        return Finding("tps-call-forms", "info",
                       f"RayStation {self._version.version} call forms used: {self._forms.describe()}",
                       "RayStation")

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
            roi_type = str(roi.Type)
            contours: Tuple[Any, ...] = ()
            if shape is not None:
                if has_member(shape, "Contours"):
                    contours = tuple(points_mm_from_cm(c) for c in shape.Contours if len(c) > 0)
                elif roi_type in HELPER_ROI_TYPES:
                    self._findings.append(Finding(
                        "mesh-roi-skipped", "info",
                        f"ROI {name!r} (type {roi_type}) is a mesh without contours and a helper ROI; it "
                        "is not read (not a target or an organ)", name))
                    continue
                else:
                    contours = self._mesh_contours(geometry, name)
            out.append(StructureData(id=name, dicom_type=ROI_TYPE_TO_DICOM.get(roi_type, roi_type.upper()),
                                     contours_mm=contours, frame_of_reference_uid=planning_for))
        return tuple(out)

    def _mesh_contours(self, geometry: Any, name: str) -> Tuple[Any, ...]:
        """A mesh ROI voxelised by RayStation on the dose grid, as run rectangles (module docstring)."""
        grid = self._beam_set.GetDoseGrid()
        corner, size, counts = grid.Corner, grid.VoxelSize, grid.NrVoxels
        nx, ny, nz = (int(counts[a]) for a in "xyz")
        fix = ("convert it to contours in RayStation (Patient modeling) or make it a helper ROI type, and "
               "run again")
        try:
            raw = geometry.GetRoiGeometryAsVoxels(Corner=corner, VoxelSize=size, NrVoxels=counts)
            voxels = np.asarray(raw, dtype=np.float64).reshape(nz, ny, nx)
        except Exception as exc:
            raise InputError(f"ROI {name!r} on {self._examination.Name!r} is a mesh without contours and "
                             f"RayStation could not voxelise it on the dose grid "
                             f"(GetRoiGeometryAsVoxels: {type(exc).__name__}: {tps_message(exc)}); "
                             f"{fix}") from exc
        self._forms.record("mesh_roi", "GetRoiGeometryAsVoxels(Corner, VoxelSize, NrVoxels)")
        inside = voxels >= MESH_VOXEL_THRESHOLD
        cx, cy, cz = (float(corner[a]) for a in "xyz")
        vx, vy, vz = (float(size[a]) for a in "xyz")
        contours = []
        for k, j in zip(*np.nonzero(inside.any(axis=2))):
            row = np.concatenate(([False], inside[k, j], [False]))
            edges = np.flatnonzero(np.diff(row.astype(np.int8)))
            z = cz + (k + 0.5) * vz
            y0, y1 = cy + j * vy, cy + (j + 1) * vy
            for start, stop in zip(edges[::2], edges[1::2]):
                x0, x1 = cx + start * vx, cx + stop * vx
                contours.append(points_mm_from_cm([{"x": x0, "y": y0, "z": z}, {"x": x1, "y": y0, "z": z},
                                                   {"x": x1, "y": y1, "z": z}, {"x": x0, "y": y1, "z": z}]))
        if not contours:
            raise InputError(f"ROI {name!r} on {self._examination.Name!r} is a mesh and no dose-grid voxel "
                             f"is at least half inside it; {fix}")
        voxel_cc = float(inside.sum()) * vx * vy * vz
        try:
            tps_cc: Optional[float] = float(geometry.GetRoiVolume())
        except Exception:  # the volume is only reported
            tps_cc = None
        self._findings.append(Finding(
            "mesh-roi-voxelised", "flag",
            f"ROI {name!r} is a mesh without contours; read from RayStation's voxelisation on the dose grid "
            f"({mm_from_cm(vx):g}×{mm_from_cm(vy):g}×{mm_from_cm(vz):g} mm, voxels ≥ 50 % inside): "
            f"{voxel_cc:.1f} cm³ "
            f"(RayStation's GetRoiVolume: {'unknown' if tps_cc is None else f'{tps_cc:.1f} cm³'}); "
            "its DVH is at the dose-grid resolution — convert it to contours for a finer one", name))
        return tuple(contours)

    # -- the new plan ---------------------------------------------------------------------------
    def _plan_info(self) -> PlanInfo:
        prescription = primary_prescription(self._beam_set, self._forms)
        status = approval_status(self._plan)
        beam_set_status = beam_set_approval(self._beam_set)
        target = None if prescription is None else prescription_roi(prescription)
        if prescription is not None and target is None:
            self._findings.append(Finding(
                "prescription-not-on-roi", "flag",
                f"the primary prescription of beam set {self._beam_set.DicomPlanLabel!r} is on a site or a "
                "dose specification point, not on an ROI; the target must be chosen from the structures, and "
                "the adapter will not change such a prescription", "prescription"))
        if status != APPROVED and beam_set_status == APPROVED:
            status = f"{status} (beam set {beam_set_status})"
        return PlanInfo(
            id=str(self._plan.Name),
            course_id=str(self._case.CaseName),
            n_fractions=_fractions(self._beam_set),
            prescription_gy=None if prescription is None else gy_from_cgy(prescription.DoseValue),
            target_id=target,
            has_beams=len(self._beam_set.Beams) > 0,
            approval_status=status,
            writable=not is_approved(self._plan) and beam_set_status != APPROVED,
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
            reference = primary_prescription(beam_sets[0], self._forms)
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
                grid = self._mapped_dose(beam_sets, deformable, name)
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
        self._forms.record("transform", "flat-16" if np.ndim(transform_cm) == 1 else "4x4")
        matrix = rigid_matrix(matrix_mm_from_cm(transform_cm),
                              f"the registration from {planning_name!r} to {prior_name!r}",
                              f"use a rigid registration for prior plan {plan_name!r}")
        return self._checked_direction(matrix, planning_name, prior_name, plan_name)

    def _checked_direction(self, matrix_mm: np.ndarray, planning_name: str, prior_name: str,
                           plan_name: str) -> np.ndarray:
        """``matrix_mm`` as p_prior = M·p_planning, its direction checked with RayStation's point transform.

        The direction of ``GetTransformForExaminations``' matrix is not documented (reference §8 gives
        the call only); public scripts read it as mapping points of ``FromExamination`` to
        ``ToExamination``. ``case.TransformPointFromExaminationToExamination`` maps a point From → To by
        its name (public re-plan scripts move an isocentre from the old CT to the new one with it), so
        :data:`DIRECTION_PROBES_MM` are sent through it and compared with M·p and M⁻¹·p: the reading
        that agrees within :data:`DIRECTION_TOLERANCE_MM` is used (recorded in the call forms, with an
        ``info`` finding when it is the inverse); neither agreeing is refused. When the point call is
        not available or fails, M is used as public scripts read it, with a ``flag`` finding
        ``registration-direction-unchecked`` asking the user to check the prior dose's position.
        """
        probes = points_cm_from_mm(DIRECTION_PROBES_MM)
        try:
            moved_mm = np.array([point_mm_from_cm(self._case.TransformPointFromExaminationToExamination(
                FromExamination=planning_name, ToExamination=prior_name, Point=p)) for p in probes])
        except Exception as exc:  # any failure: the direction is left unchecked, said so
            why = f"{type(exc).__name__}: {tps_message(exc)}"
            self._forms.record("transform_direction", f"not checked ({why})")
            self._findings.append(Finding(
                "registration-direction-unchecked", "flag",
                f"prior plan {plan_name!r}: the direction of RayStation's registration matrix from "
                f"{planning_name!r} to {prior_name!r} could not be checked (TransformPointFromExamination"
                f"ToExamination: {why}); it was read as mapping points of {planning_name!r} to "
                f"{prior_name!r}, as public scripts read it - check that the prior dose lies where "
                "RayStation shows it on the planning CT before relying on the cumulative dose",
                plan_name))
            return matrix_mm
        homogeneous = np.c_[DIRECTION_PROBES_MM, np.ones(len(DIRECTION_PROBES_MM))]
        inverse = np.linalg.inv(matrix_mm)
        off = {reading: float(np.max(np.abs((homogeneous @ m.T)[:, :3] - moved_mm)))
               for reading, m in (("as read", matrix_mm), ("inverse", inverse))}
        if off["as read"] <= DIRECTION_TOLERANCE_MM:
            self._forms.record("transform_direction", "p_To = M p_From (checked with "
                                                      "TransformPointFromExaminationToExamination)")
            return matrix_mm
        if off["inverse"] <= DIRECTION_TOLERANCE_MM:
            self._forms.record("transform_direction", "p_From = M p_To: the inverse used (checked with "
                                                      "TransformPointFromExaminationToExamination)")
            self._findings.append(Finding(
                "registration-matrix-inverse", "info",
                f"prior plan {plan_name!r}: RayStation's matrix from {planning_name!r} to {prior_name!r} "
                f"maps points of {prior_name!r} to {planning_name!r} (its inverse agrees with "
                "TransformPointFromExaminationToExamination within "
                f"{DIRECTION_TOLERANCE_MM:g} mm); the inverse was used", plan_name))
            return np.asarray(inverse, dtype=np.float64)
        raise InputError(
            f"prior plan {plan_name!r}: RayStation's registration from {planning_name!r} to {prior_name!r} "
            f"does not agree with itself: GetTransformForExaminations' matrix places test points "
            f"{off['as read']:.2f} mm (its inverse {off['inverse']:.2f} mm) from where "
            f"TransformPointFromExaminationToExamination places them (tolerance {DIRECTION_TOLERANCE_MM:g} "
            "mm), so the prior dose cannot be placed safely; check the registration in RayStation "
            "(Patient modeling > Image registration) and run again")

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

    def _map_one(self, dose: Any, registration: Any, plan_name: str) -> Any:
        """``case.MapDose`` of one fraction dose (keywords feature-detected); the new mapped dose."""
        before = self._planning_evaluations()
        common = {"DoseDistribution": dose, "StructureRegistration": registration, "ReferenceDoseGrid": None}
        try:
            call_first("map_dose", (
                ("MapDose(FractionEvaluationIndex=0, ReferenceDoseGrid=None)",
                 lambda: self._case.MapDose(FractionEvaluationIndex=0, **common)),
                ("MapDose(FractionNumber=0, SetTotalDoseEstimateReference=True, ReferenceDoseGrid=None)",
                 lambda: self._case.MapDose(FractionNumber=0, SetTotalDoseEstimateReference=True, **common)),
            ), self._forms, f"map the dose of prior plan {plan_name!r}")
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"RayStation could not map the dose of prior plan {plan_name!r} through the "
                             f"deformable registration {registration.Name!r}: {tps_message(exc)}; check the "
                             "registration, or read with deformable=False to use the rigid one") from exc
        new = [e for e in self._planning_evaluations() if not any(same(e, b) for b in before)]
        self._created.extend(f"{_evaluation_name(e)} (mapped from prior plan {plan_name!r}) on examination "
                             f"{self._examination.Name!r}" for e in new)
        mapped = [e for e in new if has_member(e, "OfDoseDistribution") and same(e.OfDoseDistribution, dose)]
        if len(mapped) != 1:
            raise InputError(f"after MapDose for prior plan {plan_name!r}, {len(mapped)} new mapped doses of "
                             f"its fraction dose were found on {self._examination.Name!r} (expected 1); "
                             "remove stale evaluation doses and run again")
        return mapped[0]

    def _mapped_dose(self, beam_sets: Sequence[Any], registration: Any, plan_name: str) -> DoseGrid:
        """Map each beam set's FRACTION dose onto the planning CT (``ReferenceDoseGrid=None``, §7.3) and
        sum them as TOTAL Gy (each × its beam set's fractions, :func:`.grids.read_dose_grid`)."""
        grids = [read_dose_grid(self._map_one(b.FractionDose, registration, plan_name)) for b in beam_sets]
        first = grids[0]
        if len(grids) == 1:
            return first
        for other in grids[1:]:
            if (other.shape != first.shape or not np.allclose(other.origin_mm, first.origin_mm)
                    or not np.allclose(other.spacing_mm, first.spacing_mm)):
                raise InputError(f"the mapped doses of the beam sets of prior plan {plan_name!r} are on "
                                 "different grids; read such a plan as separate plans (one beam set each)")
        return DoseGrid(np.sum([g.values_gy for g in grids], axis=0), first.origin_mm, first.spacing_mm,
                        direction=first.direction, frame_of_reference_uid=first.frame_of_reference_uid)


def _evaluation_name(evaluation: Any) -> str:
    """A printable name of an evaluation dose (``Name`` where the version has it)."""
    try:
        return f"evaluation dose {str(evaluation.Name)!r}"
    except AttributeError:
        return "an evaluation dose"
