"""What an adapter reads from the TPS: an immutable snapshot of the case (docs/design.md §3).

All doses are TOTAL physical dose in Gy, lengths mm, volumes cm³, dates ``datetime.date``. After
``CaseSource.read()`` returns, the engine makes no TPS call to get case data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Mapping, Optional, Tuple

import numpy as np

from ._validate import FloatArray, finite_float, positive_int
from .bounds import check_course_dates, check_course_dose, check_fractions, check_interval_days
from .dose import DoseGrid, Resampled
from .errors import InputError, echo
from .findings import Finding
from .priors import resolve_plan_keys

__all__ = ["MODALITIES", "REGISTRATION_KINDS", "RIGID_TOLERANCE", "CaseSnapshot", "PlanInfo",
           "PriorCourse", "StructureData", "rigid_matrix"]

#: How a prior dose reached the planning frame (recorded in provenance and audit).
REGISTRATION_KINDS = ("same-frame", "rigid", "deformable")
#: How a prior course was delivered (recorded in provenance). The radiobiology is the same for both:
#: each course is converted with its own fractions and recovered by its own interval.
MODALITIES = ("external", "brachytherapy")
#: Largest deviation of RᵀR from the identity accepted for a rigid registration's rotation part.
RIGID_TOLERANCE = 1e-4


def rigid_matrix(matrix: Any, what: str, fix: str) -> FloatArray:
    """``matrix`` as a 4×4 float array when it is a rigid transform (homogeneous last row, orthonormal
    rotation part with determinant +1, within :data:`RIGID_TOLERANCE`), else InputError naming
    ``what`` and saying ``fix``. One check for both TPS adapters' registrations."""
    m = np.asarray(matrix, dtype=float)
    if m.shape != (4, 4) or not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]):
        raise InputError(f"{what} is not a 4x4 homogeneous transform (got shape {m.shape}); {fix}")
    rotation = m[:3, :3]
    if (not np.allclose(rotation.T @ rotation, np.eye(3), atol=RIGID_TOLERANCE)
            or float(np.linalg.det(rotation)) <= 0.0):
        raise InputError(f"{what} is not rigid (rotation part {rotation.tolist()}); {fix}")
    return m


@dataclass(frozen=True, eq=False)
class StructureData:
    """A structure of the planning image: closed planar contours in mm (patient coordinates)."""

    id: str
    dicom_type: str
    contours_mm: Tuple[FloatArray, ...]
    frame_of_reference_uid: Optional[str] = None

    @property
    def is_empty(self) -> bool:
        """True when the structure has no contour (an empty structure in the TPS)."""
        return len(self.contours_mm) == 0


@dataclass(frozen=True)
class PlanInfo:
    """The plan the workflow works on.

    ``prescription_gy`` is the TOTAL prescribed dose (None when not set in the TPS);
    ``writable`` is False for approved/treated plans and read-only sessions.
    """

    id: str
    course_id: str
    n_fractions: Optional[int]
    prescription_gy: Optional[float]
    target_id: Optional[str]
    has_beams: bool
    approval_status: str
    writable: bool


@dataclass(frozen=True, eq=False)
class PriorCourse:
    """A previous course as read from the TPS.

    Attributes
    ----------
    course_id, plan_id : str
    dose : DoseGrid
        TOTAL physical dose of the course in Gy, in the frame of reference of its own image.
    n_fractions : int
        Fractions actually planned for that course, 1 … 60 (:mod:`reirrad.bounds`).
    last_fraction : datetime.date or None
        Date of its last fraction (None when the TPS does not know; then it must be asked for).
    planning_to_dose : numpy.ndarray or None
        4×4 matrix mapping planning-frame points (mm) to the dose's frame (p_dose = M·p_planning);
        None when the dose is already in the planning frame.
    registration_id : str or None
        The TPS registration the matrix came from (for the provenance record).
    approval_status : str
    prescription_gy : float or None
        TOTAL prescribed dose of that course, Gy (at most 150 Gy, 35 Gy per fraction: :mod:`reirrad.bounds`).
    interval_days_given : int or None
        The interval (days from its last fraction to the new course's first) when it is known but the
        dates are not (e.g. ``reirrad evaluate --interval-days``); never together with ``last_fraction``.
    last_fraction_source : str
        Where ``last_fraction`` came from (:data:`reirrad.priors.DATE_SOURCES`): ``"user"``,
        ``"treatment-record"``, ``"course-completed"`` (a date the TPS keeps for another purpose: flagged
        until confirmed) or ``"unknown"`` (no date).
    registration_kind : str or None
        How the dose reached the planning frame: ``"same-frame"`` (no registration), ``"rigid"`` (the
        4×4 ``planning_to_dose``) or ``"deformable"`` (mapped by the TPS through a deformable
        registration; ``planning_to_dose`` is then None because the dose is already on the planning
        frame). None derives it from ``planning_to_dose`` (None → same-frame, a matrix → rigid); an
        adapter that mapped the dose deformably must say so.
    dose_coverage : numpy.ndarray of bool or None
        Shape of ``dose``: True where the dose is defined. An adapter that mapped the dose onto the
        planning grid through a deformation gives False where the deformation's grid did not reach or
        mapped outside the original dose (the dose is 0 Gy there, which is not a measurement). None: the
        whole of ``dose``'s grid. :meth:`on_grid` carries it into the per-OAR coverage check.
    modality : str
        ``"external"`` (default) or ``"brachytherapy"`` (:data:`MODALITIES`), for the record. A
        brachytherapy plan is a prior course like any other: its dose is converted to EQD2 with its own
        ``n_fractions`` (e.g. HDR 7 Gy × 4: 28 Gy in 4 fractions, EQD2₃ = 28·(7 + 3)/(2 + 3) = 56 Gy)
        and recovered by its own interval; an external-beam plan and a brachytherapy plan of one
        treatment are two prior courses, never one course with the summed dose (45 Gy/25 + 28 Gy/4
        read as 73 Gy/29 would give EQD2₃ 80.6 Gy instead of 43.2 + 56 = 99.2 Gy).
    """

    course_id: str
    plan_id: str
    dose: DoseGrid
    n_fractions: int
    last_fraction: Optional[dt.date]
    planning_to_dose: Optional[FloatArray] = None
    registration_id: Optional[str] = None
    approval_status: str = ""
    prescription_gy: Optional[float] = None
    interval_days_given: Optional[int] = None
    registration_kind: Optional[str] = None
    last_fraction_source: str = "unknown"
    modality: str = "external"
    dose_coverage: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if not isinstance(self.dose, DoseGrid) or self.dose.quantity != "physical":
            raise InputError(f"prior course {self.course_id}/{self.plan_id}: dose must be a physical "
                             "DoseGrid of the total course dose in Gy")
        self._check_dose_coverage()
        positive_int("n_fractions", self.n_fractions)
        check_fractions(f"prior course {self.course_id}: n_fractions", self.n_fractions)
        if self.planning_to_dose is not None:
            m = np.asarray(self.planning_to_dose, dtype=float)
            if m.shape != (4, 4) or not np.allclose(m[3], [0, 0, 0, 1]):
                raise InputError(f"prior course {self.course_id}: planning_to_dose must be a 4x4 "
                                 "homogeneous matrix")
        if self.prescription_gy is not None:
            finite_float("prescription_gy", self.prescription_gy, strictly_positive=True, unit="Gy")
            check_course_dose(f"prior course {self.course_id}: prescription_gy", self.prescription_gy,
                              self.n_fractions)
        self._check_registration_kind()
        if self.modality not in MODALITIES:
            raise InputError(f"prior course {self.course_id}: modality must be one of {MODALITIES} "
                             f"(got {echo(self.modality)})")
        if self.interval_days_given is not None:
            if self.last_fraction is not None:
                raise InputError(f"prior course {self.course_id}: give the last fraction's date or the "
                                 "interval in days, not both")
            if isinstance(self.interval_days_given, bool) or not isinstance(self.interval_days_given, int) \
                    or self.interval_days_given < 0:
                raise InputError(f"prior course {self.course_id}: interval_days_given must be an int >= 0 "
                                 f"(got {echo(self.interval_days_given)})")
            check_interval_days(f"prior course {self.course_id}: interval_days_given",
                                self.interval_days_given)

    def _check_dose_coverage(self) -> None:
        if self.dose_coverage is None:
            return
        mask = np.asarray(self.dose_coverage)
        if mask.dtype != bool or mask.shape != self.dose.shape:
            raise InputError(f"prior course {self.course_id}: dose_coverage must be a bool array of the "
                             f"dose's shape {self.dose.shape} (got {mask.dtype} {mask.shape})")
        mask = mask.copy()
        mask.flags.writeable = False
        object.__setattr__(self, "dose_coverage", mask)

    def on_grid(self, grid: DoseGrid) -> Resampled:
        """The dose on ``grid`` (planning frame, through ``planning_to_dose``) and where it is defined:
        inside the dose's grid and, with ``dose_coverage``, where that mask holds (resampled the same way;
        a planning voxel counts as covered only when every source voxel it draws on is)."""
        mapped = self.dose.resample(grid, self.planning_to_dose)
        if self.dose_coverage is None:
            return mapped
        mask = replace(self.dose, values_gy=self.dose_coverage.astype(float))
        covered = mask.resample(grid, self.planning_to_dose).grid.values_gy >= 1.0 - 1e-9
        return Resampled(mapped.grid, mapped.inside & covered)

    def _check_registration_kind(self) -> None:
        if self.registration_kind is None:
            object.__setattr__(self, "registration_kind",
                               "same-frame" if self.planning_to_dose is None else "rigid")
        elif self.registration_kind not in REGISTRATION_KINDS:
            raise InputError(f"prior course {self.course_id}: registration_kind must be one of "
                             f"{REGISTRATION_KINDS} (got {self.registration_kind!r})")
        elif self.registration_kind == "same-frame" and self.planning_to_dose is not None:
            raise InputError(f"prior course {self.course_id}: registration_kind 'same-frame' with a "
                             "registration matrix; give 'rigid' or no matrix")

    @property
    def label(self) -> str:
        """``course/plan`` for reports."""
        return f"{self.course_id}/{self.plan_id}"

    def interval_days(self, new_first_fraction: Optional[dt.date]) -> Optional[int]:
        """Days from this course's last fraction to ``new_first_fraction`` (None if either is unknown),
        or ``interval_days_given`` when the interval was given without dates."""
        if self.interval_days_given is not None:
            return self.interval_days_given
        if self.last_fraction is None or new_first_fraction is None:
            return None
        days = (new_first_fraction - self.last_fraction).days
        if days < 0:
            raise InputError(
                f"the new course's first fraction ({new_first_fraction.isoformat()}, the planned start) is "
                f"{-days} days before the last fraction of prior course {self.label} "
                f"({self.last_fraction.isoformat()}, date source: {self.last_fraction_source}): check the "
                "planned start date and that prior course's last-fraction date")
        check_course_dates(self.last_fraction, new_first_fraction,
                           course=f"{self.label} (date source: {self.last_fraction_source})")
        return days


@dataclass(frozen=True, eq=False)
class CaseSnapshot:
    """Everything the engine needs from the open case.

    ``dose_grid`` carries the geometry (and frame) of the new plan's dose grid; its values are
    ignored. ``source_findings`` are what the adapter noticed while reading (e.g. plans with a dose not
    counted as prior dose); ``prior_plan_selection`` records every candidate plan and why it was or was
    not selected (:func:`reirrad.priors.select_prior_plans`).
    """

    patient_id: str
    planning_frame_of_reference_uid: str
    structures: Tuple[StructureData, ...]
    plan: PlanInfo
    dose_grid: DoseGrid
    prior_courses: Tuple[PriorCourse, ...]
    planned_start: Optional[dt.date]
    tps: str
    tps_version: str
    source_findings: Tuple[Finding, ...] = ()
    prior_plan_selection: Tuple[Mapping[str, Any], ...] = ()

    def with_dates(self, planned_start: Optional[dt.date],
                   last_fractions: Mapping[str, dt.date]) -> CaseSnapshot:
        """A copy with the new course's planned start and prior courses' last-fraction dates set.

        Parameters
        ----------
        planned_start : datetime.date or None
            First fraction of the new course (None keeps the current value).
        last_fractions : mapping of str to datetime.date
            Last fraction by prior plan (confirmed or entered by the user), named by plan id, or by
            ``COURSE/PLAN`` where two prior plans share the plan id (:func:`reirrad.priors.plan_keys`);
            others keep theirs.

        Raises
        ------
        reirrad.errors.InputError
            A name that is not a prior course, a plan id two prior courses share, or one plan named
            twice (:func:`reirrad.priors.resolve_plan_keys`).
        """
        pairs = [(c.course_id, c.plan_id) for c in self.prior_courses]
        named = resolve_plan_keys(last_fractions, pairs, "the dates given")
        dates = {index: last_fractions[key] for key, index in named.items()}
        courses = tuple(replace(c, last_fraction=dates[n], last_fraction_source="user") if n in dates else c
                        for n, c in enumerate(self.prior_courses))
        return replace(self, prior_courses=courses,
                       planned_start=self.planned_start if planned_start is None else planned_start)

    def structure(self, structure_id: str) -> StructureData:
        """The structure with this id (InputError listing the ids when absent)."""
        for s in self.structures:
            if s.id == structure_id:
                return s
        raise InputError(f"structure {structure_id!r} is not in the structure set "
                         f"({[s.id for s in self.structures]})")
