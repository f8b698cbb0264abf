"""``DicomCaseSource``: a case from DICOM exports as an engine :class:`~reirrad.snapshot.CaseSnapshot`.

Implements :class:`reirrad.ports.CaseSource` for ``reirrad evaluate``. Translation only: the readers of
this package do every DICOM decision; nothing here computes radiobiology.

* **Planning frame and structures**: the NEW plan's RT Structure Set (``structures``). Its frame of
  reference is the planning frame; every other object must be in it or be brought into it by a
  registration (``registrations``, :func:`~reirrad_tps.dicom.deformable.place_prior_dose`). Each prior
  course records its ``registration_kind``: ``"rigid"`` when a registration matrix brings it in,
  ``"deformable"`` when its dose was mapped onto the planning grid through a deformable one,
  ``"same-frame"`` otherwise.
* **Dose grid of the new course**: the new RT Dose when given (then it is also the dose evaluated),
  else a grid of ``dose_spacing_mm`` over the planning CT (``ct``); one of the two is required.
* **The new plan**: fractions from its RT Plan (``new_plan``) when given, else ``n_fractions`` (the
  protocol's); TOTAL prescription from its ``TargetPrescriptionDose``, else ``prescription_gy`` (the
  command line; a ``BeamDose`` sum is only a plausibility figure, never the prescription evaluated);
  the target is ``target`` or the only structure of type PTV (never guessed among several). A new
  dose is checked against its plan (:func:`~reirrad_tps.dicom.check_dose_against_plan`), or, without
  a plan, its maximum against ``prescription_gy`` (:func:`~reirrad_tps.dicom.check_dose_maximum`).
* **Prior courses**: one per (RT Dose, RT Plan) pair of ``priors``; fractions from the plan (a
  per-fraction dose is totalled with them); the prescription recorded is the one the dose was checked
  against (:func:`~reirrad_tps.dicom.plausibility_prescription`, its source an info finding); the
  last fraction's date or the interval in days comes from the caller (DICOM RT Plans carry no
  treatment dates: ``RTPlanDate`` is the plan's creation). The dose is checked against its plan; a
  stop finding refuses the case, other findings are kept in :attr:`DicomCaseSource.findings` for the
  result, with a ``contour-skipped`` flag per ROI and kind of contour the structure set reader
  skipped and a ``dicom-file-nonconformant`` flag per file read without DICOM preamble / File Meta.
* A prior **brachytherapy** (HDR) plan is a prior course like an external-beam one: its own fractions,
  its own interval, ``modality`` ``"brachytherapy"`` in the provenance. External beam and
  brachytherapy of one treatment are given as two priors (``--prior-dose``/``--prior-plan`` twice).
* Different patient IDs between the prior and the new objects are common when the prior treatment was
  given elsewhere: a ``flag`` finding, not a refusal (the user chose the files).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.findings import Finding
from reirrad.snapshot import CaseSnapshot, PlanInfo, PriorCourse

from .checks import (
    check_dose_against_plan,
    check_dose_maximum,
    check_same_frame,
    plausibility_prescription,
)
from .ct import read_ct_geometry, zero_dose_grid
from .deformable import Registrations, place_prior_dose, read_registrations
from .files import PathLike, lacks_file_meta
from .rtdose import read_rt_dose, read_rt_dose_info
from .rtplan import RtPlanInfo, read_rt_plan
from .rtstruct import DUPLICATE, RtStructureSet, read_rt_struct

__all__ = ["DEFAULT_DOSE_SPACING_MM", "TPS_NAME", "DicomCaseSource", "DicomPrior"]

TPS_NAME = "DICOM"
#: Dose-grid spacing over the planning CT when no new dose is given, mm.
DEFAULT_DOSE_SPACING_MM = 2.5


@dataclass(frozen=True)
class DicomPrior:
    """One prior course as files: its plan dose, its plan, optionally its structure set (a frame check).

    Exactly one of ``last_fraction`` and ``interval_days`` may be given (neither: unknown interval, an
    eligibility stop unless overridden). ``prescription_gy`` (TOTAL Gy) is used only for the dose
    plausibility check when the plan states no ``TargetPrescriptionDose``
    (:func:`~reirrad_tps.dicom.plausibility_prescription`).
    """

    dose: str
    plan: str
    structures: Optional[str] = None
    last_fraction: Optional[dt.date] = None
    interval_days: Optional[int] = None
    prescription_gy: Optional[float] = None


def _nonconformant_flags(paths: Sequence[Optional[PathLike]]) -> List[Finding]:
    """A ``flag`` per file read without DICOM preamble / File Meta (:mod:`.files`)."""
    return [Finding("dicom-file-nonconformant", "flag",
                    f"{path} has no DICOM preamble and File Meta Information (PS3.10 section 7.1; e.g. a CMS "
                    "Monaco export): it was read because its SOP Class / Modality and mandatory attributes "
                    "are those expected; check it is the intended file", subject=Path(str(path)).name)
            for path in paths if path is not None and not Path(str(path)).is_dir() and lacks_file_meta(path)]


def _skipped_flags(rs: RtStructureSet) -> List[Finding]:
    """A ``flag`` per ROI and kind of contour that was not read (:mod:`.rtstruct`)."""
    def why(kind: str) -> str:
        if kind.endswith(DUPLICATE):
            return ("each has the points of an earlier contour on its plane and was read once (twice, the "
                    "even-odd rule would remove that area)")
        return "they enclose no volume"

    return [Finding("contour-skipped", "flag",
                    f"{s.roi_name}: {s.count} {s.geometric_type} contour(s) skipped ({s.planes_text()}) in "
                    f"{rs.path}; {why(s.geometric_type)} - check the structure in the TPS",
                    subject=s.roi_name)
            for s in rs.skipped]


def _source_info(plan: RtPlanInfo, rx: float, source: str, what: str) -> Finding:
    return Finding("prescription-source", "info",
                   f"{what} {plan.path}: dose checked against a TOTAL prescription of {rx:.2f} Gy from "
                   f"{source}", subject=plan.label or plan.path)


def _patient_flag(what: str, patient_id: str, planning_patient: str, *, prior: bool) -> List[Finding]:
    """``patient-id-differs`` (flag) when a dose's patient ID is not the planning structure set's: expected
    for a prior course given elsewhere; for the new course's dose (in the planning frame, checked) it
    means the files come from two exports (or two anonymisations) - never from another hospital."""
    if patient_id and planning_patient and patient_id != planning_patient:
        why = ("expected when the prior course was given elsewhere; check it is the same patient" if prior
               else "the new course's dose and structures should come from one export of one patient; check "
               "the files")
        return [Finding("patient-id-differs", "flag",
                        f"{what} has patient ID {patient_id!r}, the planning structure set "
                        f"{planning_patient!r} ({why})", subject=what)]
    return []


class DicomCaseSource:
    """Reads a case from DICOM files once (implements :class:`reirrad.ports.CaseSource`).

    Parameters
    ----------
    structures : path
        The new plan's RT Structure Set (planning frame).
    priors : sequence of DicomPrior
    n_fractions : int
        Fractions of the new course when there is no ``new_plan`` (e.g. the protocol's).
    new_dose, new_plan, ct : path, optional
        The new course's RT Dose and RT Plan; the planning CT (folder or files) for the grid.
    registrations : sequence of path
        Spatial Registration files relating the prior frames to the planning frame.
    target : str, optional
        Target structure (default: the only PTV).
    prescription_gy : float, optional
        TOTAL prescription of the new course when ``new_plan`` carries none.
    planned_start : datetime.date, optional
        First fraction of the new course (with the priors' ``last_fraction``).
    fraction_dose : {"total", "per-fraction"}, optional
        How to read RT Dose files whose DoseSummationType is FRACTION (:mod:`.units`).
    dose_spacing_mm : float
        Grid spacing over the CT when there is no new dose.
    """

    def __init__(self, structures: PathLike, priors: Sequence[DicomPrior], *, n_fractions: int,
                 new_dose: Optional[PathLike] = None, new_plan: Optional[PathLike] = None,
                 ct: Optional[PathLike] = None, registrations: Sequence[PathLike] = (),
                 target: Optional[str] = None, prescription_gy: Optional[float] = None,
                 planned_start: Optional[dt.date] = None, fraction_dose: Optional[str] = None,
                 dose_spacing_mm: float = DEFAULT_DOSE_SPACING_MM) -> None:
        if new_dose is None and ct is None:
            raise InputError("give the new dose (--new-dose RD) or the planning CT (--ct DIR): one of them "
                             "defines the dose grid of the new course")
        self._structures = structures
        self._priors = tuple(priors)
        self._n_fractions = n_fractions
        self._new_dose, self._new_plan, self._ct = new_dose, new_plan, ct
        self._registration_paths = tuple(registrations)
        self._target, self._prescription_gy = target, prescription_gy
        self._planned_start, self._fraction_dose = planned_start, fraction_dose
        self._spacing = dose_spacing_mm
        self.findings: Tuple[Finding, ...] = ()
        self.new_dose_grid: Optional[DoseGrid] = None
        self.structure_set: Optional[RtStructureSet] = None
        self.new_plan_info: Optional[RtPlanInfo] = None
        self.prior_plan_infos: Tuple[RtPlanInfo, ...] = ()
        self._given: Dict[str, str] = {}  # SOP Instance UID -> what it was given as (_given_once)
        self._summations: List[Tuple[str, str]] = []  # (what, DoseSummationType) of each RT Dose read

    # -- the port ---------------------------------------------------------------------------------------
    def read(self) -> CaseSnapshot:
        """The case (see the module docstring). Sets :attr:`findings`, :attr:`new_dose_grid`, ...

        Raises
        ------
        reirrad.errors.InputError
            Unreadable or inconsistent files, a frame without a registration, no or several PTVs
            without ``target``, a dose whose maximum is below 0.9 × its plan's prescription.
        """
        rs = read_rt_struct(self._structures)
        self.structure_set = rs
        self._given = {}
        self._summations = []
        frame = rs.frame_of_reference_uid
        found: List[Finding] = _nonconformant_flags(
            [self._structures, self._new_dose, self._new_plan, *self._registration_paths,
             *(p for prior in self._priors for p in (prior.dose, prior.plan, prior.structures))])
        found.extend(_skipped_flags(rs))
        registrations = read_registrations(self._registration_paths)
        plan = read_rt_plan(self._new_plan) if self._new_plan is not None else None
        if plan is not None:
            self._given_once(plan.sop_instance_uid, f"the new plan {self._new_plan}")
        self.new_plan_info = plan
        n_fx = plan.require_n_fractions() if plan is not None else self._n_fractions
        if plan is None:
            found.append(Finding("new-fractions-from-protocol", "flag",
                                 f"no RT Plan of the new course was given: its {n_fx} fractions are the "
                                 "protocol's (give --new-plan if the new course differs)", subject="plan"))
        grid = self._new_grid(rs, plan, n_fx, found)
        priors = []
        infos = []
        for n, prior in enumerate(self._priors, start=1):
            course, info = self._prior(n, prior, registrations=registrations, rs=rs, grid=grid, found=found)
            priors.append(course)
            infos.append(info)
        self.prior_plan_infos = tuple(infos)
        self._check_fraction_reading_used()
        stops = [f for f in found if f.severity == "stop"]
        if stops:
            raise InputError("; ".join(f.message for f in stops))
        self.findings = tuple(found)
        return CaseSnapshot(
            patient_id=rs.patient_id,
            planning_frame_of_reference_uid=frame,
            structures=rs.structures,
            plan=PlanInfo(id=plan.label if plan is not None else "DICOM", course_id="",
                          n_fractions=n_fx, prescription_gy=self._prescription(plan),
                          target_id=self._target_id(rs), has_beams=False, approval_status="DICOM",
                          writable=False),
            dose_grid=grid,
            prior_courses=tuple(priors),
            planned_start=self._planned_start,
            tps=TPS_NAME,
            tps_version=_pydicom_version(),
        )

    # -- parts --------------------------------------------------------------------------------------------
    def _given_once(self, sop_instance_uid: str, what: str) -> None:
        """Refuse a DICOM object given twice (the same SOP Instance UID, whatever the file): a prior course
        given twice would be summed twice, the new course given as a prior counted as its own prior dose
        (found by a hostile-input review: accepted before, with only the multiple-prior-courses flag)."""
        earlier = self._given.get(sop_instance_uid)
        if earlier is not None:
            raise InputError(f"{what} is the same DICOM object as {earlier} (SOP Instance UID "
                             f"{sop_instance_uid}): each course is given once; remove the repeat")
        self._given[sop_instance_uid] = what

    def _check_fraction_reading_used(self) -> None:
        """Refuse ``fraction_dose`` (``--fraction-dose``) when no RT Dose read has DoseSummationType FRACTION:
        it reads those alone, so it was unused, and whoever gave it believed a dose to be a fraction's or
        a fraction group's that its file says is not (found by a hostile-input review: ignored before,
        without a word). Nothing is read differently; the user removes the option or checks the files."""
        if self._fraction_dose is None or any(s == "FRACTION" for _, s in self._summations):
            return
        read = "; ".join(f"{what}: {summation or 'absent'}" for what, summation in self._summations)
        raise InputError(
            f"--fraction-dose {self._fraction_dose} reads RT Doses whose DoseSummationType is FRACTION, and "
            f"none of the doses given is ({read or 'no RT Dose was given'}); each is read as its "
            "DoseSummationType says. Remove --fraction-dose, or check that the files are the doses you meant")

    def _new_grid(self, rs: RtStructureSet, plan: Optional[RtPlanInfo], n_fx: int,
                  found: List[Finding]) -> DoseGrid:
        if self._new_dose is None:
            ct = read_ct_geometry(str(self._ct))
            check_same_frame(ct.frame_of_reference_uid, f"planning CT {self._ct}", rs.frame_of_reference_uid,
                             f"structure set {rs.path}")
            return zero_dose_grid(ct, spacing_mm=self._spacing)
        dose = read_rt_dose(self._new_dose, n_fractions=n_fx, fraction_summation=self._fraction_dose)
        check_same_frame(dose.frame_of_reference_uid, f"new dose {self._new_dose}", rs.frame_of_reference_uid,
                         f"structure set {rs.path}")
        info = read_rt_dose_info(self._new_dose)
        self._given_once(info.sop_instance_uid, f"the new dose {self._new_dose}")
        self._summations.append((f"the new dose {Path(str(self._new_dose)).name}", info.summation_type))
        if plan is not None:
            rx, source = plausibility_prescription(plan, self._prescription_gy)
            found.append(_source_info(plan, rx, source, "new plan"))
            found.extend(check_dose_against_plan(info, dose, plan, prescription_gy=self._prescription_gy))
        elif self._prescription_gy is not None:
            found.extend(check_dose_maximum(info, dose, self._prescription_gy, "--prescription-gy",
                                            subject="new dose"))
        found.extend(_patient_flag(f"new dose {Path(str(self._new_dose)).name}", info.patient_id,
                                   rs.patient_id, prior=False))
        self.new_dose_grid = dose
        return dose

    def _prior(self, n: int, prior: DicomPrior, *, registrations: Registrations, rs: RtStructureSet,
               grid: DoseGrid, found: List[Finding]) -> Tuple[PriorCourse, RtPlanInfo]:
        frame = rs.frame_of_reference_uid
        plan = read_rt_plan(prior.plan)
        self._given_once(plan.sop_instance_uid, f"prior plan {n} {prior.plan}")
        info = read_rt_dose_info(prior.dose)
        self._given_once(info.sop_instance_uid, f"prior dose {n} {prior.dose}")
        self._summations.append((f"prior dose {n} {Path(str(prior.dose)).name}", info.summation_type))
        n_fx = plan.require_n_fractions()
        dose = read_rt_dose(prior.dose, n_fractions=n_fx, fraction_summation=self._fraction_dose)
        rx, source = plausibility_prescription(plan, prior.prescription_gy,
                                               given_as="--prior-prescription-gy")
        found.append(_source_info(plan, rx, source, f"prior course {n}"))
        found.extend(check_dose_against_plan(info, dose, plan, prescription_gy=prior.prescription_gy,
                                             given_as="--prior-prescription-gy"))
        found.extend(_patient_flag(f"prior dose {Path(prior.dose).name}", info.patient_id, rs.patient_id,
                                   prior=True))
        if prior.structures is not None:
            prior_rs = read_rt_struct(prior.structures)
            check_same_frame(prior_rs.frame_of_reference_uid, f"prior structure set {prior.structures}",
                             dose.frame_of_reference_uid, f"prior dose {prior.dose}")
        placed = place_prior_dose(dose, grid, frame, registrations, what=f"prior dose {prior.dose}")
        found.extend(placed.findings)
        transform = placed.planning_to_dose
        reg_id = placed.registration_id or (
            None if transform is None else ", ".join(Path(str(p)).name for p in self._registration_paths))
        label = plan.label or f"prior-{n}"
        course = PriorCourse(course_id=f"prior-{n}", plan_id=label, dose=placed.dose, n_fractions=n_fx,
                             last_fraction=prior.last_fraction, planning_to_dose=transform,
                             registration_id=reg_id,
                             registration_kind=placed.kind,
                             approval_status=plan.approval_status or "",
                             prescription_gy=rx, interval_days_given=prior.interval_days,
                             last_fraction_source="unknown" if prior.last_fraction is None else "user",
                             modality=plan.modality, dose_coverage=placed.coverage)
        return course, plan

    def _prescription(self, plan: Optional[RtPlanInfo]) -> Optional[float]:
        if plan is not None and plan.prescribed_gy is not None:
            return plan.prescribed_gy
        return self._prescription_gy

    def _target_id(self, rs: RtStructureSet) -> str:
        if self._target is not None:
            rs.structure(self._target)  # refuses an unknown or duplicated name
            return self._target
        ptvs = [s.id for s in rs.structures if s.dicom_type.upper() == "PTV" and not s.is_empty]
        if len(ptvs) != 1:
            raise InputError(f"structure set {rs.path} has {len(ptvs)} non-empty PTV structures ({ptvs}); "
                             "name the target with --target NAME")
        return ptvs[0]


def _pydicom_version() -> str:
    import pydicom  # noqa: PLC0415 - already imported by this package

    return f"pydicom {pydicom.__version__}"
