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
  flags the opposite.

Plausibility thresholds (decisions): a plan's dose maximum is at least its prescription wherever the
prescribed dose is delivered to part of the target, so a maximum below
:data:`MIN_MAX_TO_PRESCRIPTION` (0.9) × the prescription is a ``stop`` finding; a maximum above
:data:`MAX_MAX_TO_PRESCRIPTION` (3) × is a ``flag`` for an external-beam plan and nothing for a
brachytherapy plan (its maximum, next to the dwell positions, is many times the prescription).
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
    "check_same_frame",
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


def check_dose_against_plan(info: RtDoseInfo, grid: DoseGrid, plan: RtPlanInfo) -> Tuple[Finding, ...]:
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
        ``dose-maximum-below-prescription`` (stop) and ``dose-maximum-far-above-prescription`` (flag,
        external-beam plans only) from the plausibility check (module docstring); empty when all is
        consistent.

    Raises
    ------
    reirrad.errors.InputError
        Different patients, or the dose references another plan.
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
    rx = plan.prescription_gy
    if rx is not None:
        dmax = float(grid.values_gy.max())
        if dmax < MIN_MAX_TO_PRESCRIPTION * rx:
            findings.append(Finding(
                "dose-maximum-below-prescription", "stop",
                f"{info.path}: dose maximum {dmax:.2f} Gy is below {MIN_MAX_TO_PRESCRIPTION:g} x the plan's "
                f"total prescription {rx:.2f} Gy (DoseSummationType {info.summation_type or '?'}): the file "
                "may hold one fraction or part of the plan, or the prescription may not be the total; check "
                "before using it",
                subject=subject))
        elif dmax > MAX_MAX_TO_PRESCRIPTION * rx and plan.modality != "brachytherapy":
            findings.append(Finding(
                "dose-maximum-far-above-prescription", "flag",
                f"{info.path}: dose maximum {dmax:.2f} Gy is above {MAX_MAX_TO_PRESCRIPTION:g} x the plan's "
                f"total prescription {rx:.2f} Gy (DoseSummationType {info.summation_type or '?'}); "
                "plausible for brachytherapy, otherwise the dose may have been multiplied by the fractions "
                "twice",
                subject=subject))
    return tuple(findings)
