"""Consistency checks between DICOM objects before their contents are combined (for ``reirrad evaluate``).

* :func:`check_same_frame` — two objects (a dose and a structure set, two doses) must share a frame
  of reference to be combined without a registration: DICOM coordinates of different frames are
  unrelated (PS3.3 C.7.4.1), even when the numbers look alike.
* :func:`require_registration` — the 4×4 matrix that :meth:`reirrad.dose.DoseGrid.resample` needs to
  bring a dose of another frame onto the planning grid, from rigid registrations; refused when no
  registration relates the frames.
* :func:`check_dose_against_plan` — an RT Dose and the RT Plan given for it: same patient, the plan
  the dose references, the same frame; and a plausibility check of the dose maximum against the
  plan's TOTAL prescription, which catches a per-fraction dose read as a total (the unsafe error) and
  the opposite (a total read as one fraction and multiplied by the fractions).
* :func:`plausibility_prescription` — the TOTAL prescription that check uses, and where it came
  from. The check **always** runs: ``TargetPrescriptionDose`` of the plan; else the prescription the
  user gave (``--prescription-gy`` for the new course, ``--prior-prescription-gy`` for a prior);
  else the plan's fraction-group dose references (``BeamDose`` × fractions summed over beams, or a
  brachytherapy setup dose × fractions: :mod:`.rtplan`); else the run is refused, asking for the
  prescription.

Plausibility thresholds (decisions): a plan's dose maximum is at least its prescription wherever the
prescribed dose is delivered to part of the target, so a maximum below
:data:`MIN_MAX_TO_PRESCRIPTION` (0.9) × the prescription is a ``stop`` finding; a maximum above
:data:`MAX_MAX_TO_PRESCRIPTION` (3) × is a ``stop`` for an external-beam plan (SABR plans prescribed
to the 50 % isodose reach 2 ×; 3 × is a total multiplied by ≥ 3 fractions) and nothing for a
brachytherapy plan (its maximum, next to the dwell positions, is many times the prescription). A total
read as one fraction of a **2**-fraction plan (× 2) can stay below 3 × and is not caught.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from reirrad.dose import DoseGrid
from reirrad.errors import IncompatibleDoseError, InputError
from reirrad.findings import Finding

from .registration import RigidRegistration, frame_transform
from .rtdose import RtDoseInfo
from .rtplan import RtPlanInfo

__all__ = [
    "MAX_MAX_TO_PRESCRIPTION",
    "MIN_MAX_TO_PRESCRIPTION",
    "check_dose_against_plan",
    "check_dose_maximum",
    "check_same_frame",
    "plausibility_prescription",
    "require_registration",
]

FloatArray = NDArray[np.float64]
#: Dose maximum / TOTAL prescription below which the dose is not taken as the plan's total.
MIN_MAX_TO_PRESCRIPTION = 0.9
#: Dose maximum / TOTAL prescription above which the dose is flagged.
MAX_MAX_TO_PRESCRIPTION = 3.0


def _known(uid: Optional[str], what: str) -> str:
    if not uid:
        raise InputError(f"{what} has no frame of reference UID, so it cannot be placed relative to the "
                         "other objects; export it again from the TPS")
    return uid


def check_same_frame(first_uid: Optional[str], first_what: str, second_uid: Optional[str],
                     second_what: str) -> None:
    """Refuse two objects in different (or unknown) frames of reference.

    Parameters
    ----------
    first_uid, second_uid : str or None
        FrameOfReferenceUID of each object.
    first_what, second_what : str
        What they are, for the message (e.g. ``"prior dose RD1.dcm"``).

    Raises
    ------
    reirrad.errors.IncompatibleDoseError
        The frames differ.
    reirrad.errors.InputError
        A frame is unknown.
    """
    first = _known(first_uid, first_what)
    second = _known(second_uid, second_what)
    if first != second:
        raise IncompatibleDoseError(
            f"{second_what} is in frame of reference {second}, {first_what} in {first}: different patient "
            "coordinate systems (different scans or sessions), whose coordinates cannot be compared. Give "
            "a rigid registration relating the two frames (--registration REG), or export both on the same "
            "image"
        )


def require_registration(planning_frame_uid: Optional[str], source_frame_uid: Optional[str],
                         registrations: Sequence[RigidRegistration] = (), *,
                         what: str = "the prior dose") -> Optional[FloatArray]:
    """The transform that brings an object of ``source_frame_uid`` onto the planning frame, or None.

    Parameters
    ----------
    planning_frame_uid : str
        Frame of the planning image / grid (the target of resampling).
    source_frame_uid : str
        Frame of the object to bring over (e.g. the prior dose).
    registrations : sequence of RigidRegistration
        From :func:`reirrad_tps.dicom.read_registration` (any number of REG files).
    what : str
        For the message.

    Returns
    -------
    numpy.ndarray, shape (4, 4), or None
        None when the frames are the same. Otherwise T with ``p_source = T @ p_planning``: exactly the
        ``transform`` of ``prior_dose.resample(planning_grid, transform=T)`` and the
        ``PriorCourse.planning_to_dose`` matrix.

    Raises
    ------
    reirrad.errors.IncompatibleDoseError
        The frames differ and no registration relates them.
    reirrad.errors.InputError
        A frame is unknown.
    """
    planning = _known(planning_frame_uid, "the planning image")
    source = _known(source_frame_uid, what)
    if planning == source:
        return None
    matrix = frame_transform(registrations, planning, source)
    if matrix is None:
        given = sorted({f"{r.source_frame_of_reference_uid} -> {r.target_frame_of_reference_uid}"
                        for r in registrations})
        raise IncompatibleDoseError(
            f"{what} is in frame of reference {source}, the planning image in {planning}, and no "
            f"registration relates them (registrations given: {given or 'none'}). Give the rigid "
            "registration of the two images (--registration REG exported from the TPS)"
        )
    return matrix


def _identity_checks(info: RtDoseInfo, plan: RtPlanInfo) -> None:
    if info.patient_id and plan.patient_id and info.patient_id != plan.patient_id:
        raise InputError(f"{info.path} is for patient {info.patient_id!r} but the plan {plan.path} for "
                         f"{plan.patient_id!r}; give the files of one patient")
    if info.referenced_plan_uids and plan.sop_instance_uid not in info.referenced_plan_uids:
        raise InputError(f"{info.path} is the dose of RT Plan {list(info.referenced_plan_uids)}, not of "
                         f"{plan.path} ({plan.sop_instance_uid}, label {plan.label!r}); give the plan the "
                         "dose belongs to")
    if plan.frame_of_reference_uid and plan.frame_of_reference_uid != info.frame_of_reference_uid:
        raise IncompatibleDoseError(f"{info.path} is in frame of reference {info.frame_of_reference_uid} "
                                    f"but its plan {plan.path} in {plan.frame_of_reference_uid}; give "
                                    "matching files")


#: How each fraction-group source of :attr:`RtPlanInfo.prescription_source` is named in findings.
_FRACTION_GROUP_SOURCES = {
    "BeamDose": "BeamDose (300A,0084) summed over beams x fractions",
    "BrachyApplicationSetupDose": "BrachyApplicationSetupDose (300A,00A4) x fractions",
}


def plausibility_prescription(plan: RtPlanInfo, given_gy: Optional[float] = None, *,
                              given_as: str = "--prescription-gy") -> Tuple[float, str]:
    """The TOTAL prescription (Gy) a dose of ``plan`` is checked against, and where it came from.

    Parameters
    ----------
    plan : RtPlanInfo
    given_gy : float, optional
        The TOTAL prescription the user gave for this plan.
    given_as : str
        The option that gave it, for the source text and the message.

    Returns
    -------
    (float, str)
        The prescription and its source: ``"TargetPrescriptionDose (300A,0026)"``, ``given_as``,
        ``"BeamDose (300A,0084) summed over beams x fractions"`` or
        ``"BrachyApplicationSetupDose (300A,00A4) x fractions"``
        (module docstring for the order).

    Raises
    ------
    reirrad.errors.InputError
        None of them is known; or the plan states ``TargetPrescriptionDose`` and ``given_gy`` differs
        from it by more than 0.01 Gy (one of them is wrong: never silently one over the other).
    """
    if plan.prescribed_gy is not None:
        if given_gy is not None and abs(float(given_gy) - plan.prescribed_gy) > 0.01:
            raise InputError(
                f"{plan.path}: plan {plan.label!r} states a TOTAL prescription of {plan.prescribed_gy:g} Gy "
                f"(TargetPrescriptionDose (300A,0026)) but {given_as} gives {float(given_gy):g} Gy; check "
                f"which is right and drop {given_as} (the plan's value is used) or export the right plan")
        return plan.prescribed_gy, "TargetPrescriptionDose (300A,0026)"
    if given_gy is not None:
        return float(given_gy), given_as
    if plan.prescription_gy is not None:
        source = str(plan.prescription_source)
        return plan.prescription_gy, _FRACTION_GROUP_SOURCES.get(source, source)
    raise InputError(
        f"{plan.path}: plan {plan.label!r} states no prescription (no TargetPrescriptionDose (300A,0026), no "
        "BeamDose (300A,0084) or BrachyApplicationSetupDose (300A,00A4) in its fraction group), so its "
        "dose cannot be checked for a per-fraction / total mix-up; give the plan's TOTAL prescription "
        f"with {given_as} GY")


def check_dose_against_plan(info: RtDoseInfo, grid: DoseGrid, plan: RtPlanInfo, *,
                            prescription_gy: Optional[float] = None,
                            given_as: str = "--prescription-gy") -> Tuple[Finding, ...]:
    """Check a dose read with :func:`read_rt_dose` against the RT Plan given for it.

    Parameters
    ----------
    info : RtDoseInfo
        Header of the dose file.
    grid : reirrad.dose.DoseGrid
        The dose as read (TOTAL physical Gy).
    plan : RtPlanInfo
        The plan given for it.

    Returns
    -------
    tuple of reirrad.findings.Finding
        ``dose-references-no-plan`` (flag) when the dose names no plan;
        ``dose-maximum-below-prescription`` (stop) and ``dose-maximum-far-above-prescription`` (stop,
        external-beam plans only) from the plausibility check against
        :func:`plausibility_prescription` (module docstring); empty when all is consistent.

    Raises
    ------
    reirrad.errors.InputError
        Different patients, the dose references another plan, or no prescription is known.
    reirrad.errors.IncompatibleDoseError
        Plan and dose in different frames of reference.
    """
    _identity_checks(info, plan)
    findings: List[Finding] = []
    subject = plan.label or plan.path
    if not info.referenced_plan_uids:
        findings.append(Finding("dose-references-no-plan", "flag",
                                f"{info.path} references no RT Plan; check by hand that it is the dose "
                                f"of plan {subject!r}", subject=subject))
    rx, source = plausibility_prescription(plan, prescription_gy, given_as=given_as)
    findings.extend(check_dose_maximum(info, grid, rx, source, subject=subject,
                                       brachytherapy=plan.modality == "brachytherapy"))
    return tuple(findings)


def check_dose_maximum(info: RtDoseInfo, grid: DoseGrid, prescription_gy: float, source: str, *,
                       subject: str, brachytherapy: bool = False) -> Tuple[Finding, ...]:
    """The plausibility check of a dose maximum against a TOTAL prescription (module docstring).

    Parameters
    ----------
    info : RtDoseInfo
    grid : reirrad.dose.DoseGrid
        The dose as read (TOTAL physical Gy).
    prescription_gy : float
        TOTAL prescription, Gy.
    source : str
        Where it came from (:func:`plausibility_prescription`), quoted in the findings.
    subject : str
        The plan, for the findings.
    brachytherapy : bool
        No upper bound (the maximum next to the dwell positions is many times the prescription).

    Returns
    -------
    tuple of reirrad.findings.Finding
        ``dose-maximum-below-prescription`` or ``dose-maximum-far-above-prescription`` (stops), or
        nothing.
    """
    dmax = grid.max_gy
    what = (f"{info.path}: dose maximum {dmax:.2f} Gy is {{}} x the plan's total prescription "
            f"{prescription_gy:.2f} Gy ({source}; DoseSummationType {info.summation_type or '?'})")
    if dmax < MIN_MAX_TO_PRESCRIPTION * prescription_gy:
        return (Finding(
            "dose-maximum-below-prescription", "stop",
            what.format(f"below {MIN_MAX_TO_PRESCRIPTION:g}") + ": the file may hold one fraction or part "
            "of the plan read as the total, or the prescription may not be the total; check the dose and "
            "--fraction-dose before using it", subject=subject),)
    if dmax > MAX_MAX_TO_PRESCRIPTION * prescription_gy and not brachytherapy:
        return (Finding(
            "dose-maximum-far-above-prescription", "stop",
            what.format(f"above {MAX_MAX_TO_PRESCRIPTION:g}") + ": a total dose may have been read as one "
            "fraction and multiplied by the fractions (--fraction-dose per-fraction on a total?), or the "
            "prescription is not the total; check before using it", subject=subject),)
    return ()
