"""The neutral stub-patient model: what one YAML patient definition builds into.

Both TPS stand-ins (``tps_stubs.esapi``, ``tps_stubs.raystation``) build their own object models
from this one description, so a patient is the same in either system. Everything is in the engine's
conventions: mm, Gy (total physical dose of a course), dose arrays indexed ``[z, y, x]``, origin
= centre of the first voxel, spacing and origin given as (x, y, z). Each stand-in converts to its
own TPS's conventions (RayStation: cGy and cm with the grid corner at the voxel edge; Eclipse:
the clinic's configured dose unit) at its boundary.

The model is plain data (frozen dataclasses); geometry helpers live in
:mod:`tps_stubs.patients.geometry`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = [
    "APPROVAL_STATUSES",
    "PLAN_MODALITIES",
    "Beam",
    "CourseModel",
    "DoseModel",
    "ImageModel",
    "PlanModel",
    "RegistrationModel",
    "StructureModel",
    "StructureSetModel",
    "StubPatient",
]

#: Eclipse's PlanSetupApprovalStatus names; RayStation maps them to its Review.ApprovalStatus.
APPROVAL_STATUSES = ("UnApproved", "Reviewed", "PlanningApproved", "TreatmentApproved", "Completed",
                     "CompletedEarly", "Retired", "Rejected", "UnPlannedTreatment", "ExternallyApproved")
#: How a plan is delivered: ``external`` (Eclipse ExternalPlanSetup; RayStation photon beam set) or
#: ``brachytherapy`` (Eclipse BrachyPlanSetup; a brachytherapy plan in RayStation).
PLAN_MODALITIES = ("external", "brachytherapy")


@dataclass(frozen=True, eq=False)
class ImageModel:
    """A CT image (geometry and voxel values).

    Attributes
    ----------
    id : str
        Image id (Eclipse ``Image.Id``; RayStation examination name).
    frame_of_reference_uid : str
    origin_mm, spacing_mm : tuple of 3 floats
        Centre of voxel [0, 0, 0] and voxel size, (x, y, z), mm.
    size : tuple of 3 ints
        (nx, ny, nz).
    direction : numpy.ndarray
        3×3, columns = patient-space unit vectors of the x, y, z index axes.
    patient_orientation : str
        ``"HeadFirstSupine"`` or ``"FeetFirstSupine"``.
    hu : numpy.ndarray
        CT numbers (HU) indexed [z, y, x], int16.
    """

    id: str
    frame_of_reference_uid: str
    origin_mm: Tuple[float, float, float]
    spacing_mm: Tuple[float, float, float]
    size: Tuple[int, int, int]
    direction: np.ndarray
    patient_orientation: str
    hu: np.ndarray

    def plane_z_mm(self) -> np.ndarray:
        """Patient z of each image plane, in index order."""
        return self.origin_mm[2] + self.direction[2, 2] * self.spacing_mm[2] * np.arange(self.size[2])


@dataclass(frozen=True, eq=False)
class StructureModel:
    """A structure: closed planar contours on the image planes.

    Attributes
    ----------
    id : str
        Structure name (e.g. ``Bowel_Small``).
    dicom_type : str
        ``"PTV"``, ``"CTV"``, ``"GTV"``, ``"ORGAN"`` or ``"EXTERNAL"``.
    contours_by_plane : dict
        Image plane index k → tuple of (N, 3) contour arrays in mm (closed, implicit closing edge).
    primitives : tuple of dict
        The geometric definition it was built from (for the planner's distance computations).
    color : str
        Display colour name.
    """

    id: str
    dicom_type: str
    contours_by_plane: Dict[int, Tuple[np.ndarray, ...]]
    primitives: Tuple[Dict[str, Any], ...]
    color: str = "yellow"

    def all_contours(self) -> Tuple[np.ndarray, ...]:
        """Every contour, ordered by plane."""
        return tuple(c for k in sorted(self.contours_by_plane) for c in self.contours_by_plane[k])

    @property
    def is_empty(self) -> bool:
        """True when the structure has no contour."""
        return not self.contours_by_plane


@dataclass(frozen=True, eq=False)
class StructureSetModel:
    """Structures on one image."""

    id: str
    image_id: str
    structures: Tuple[StructureModel, ...]
    approved: bool = False

    def structure(self, structure_id: str) -> StructureModel:
        """The structure with this id (KeyError naming the ids when absent)."""
        for s in self.structures:
            if s.id == structure_id:
                return s
        raise KeyError(f"structure {structure_id!r} not in {self.id!r}: {[s.id for s in self.structures]}")


@dataclass(frozen=True, eq=False)
class DoseModel:
    """A dose distribution: TOTAL physical dose of the plan in Gy, [z, y, x]."""

    origin_mm: Tuple[float, float, float]
    spacing_mm: Tuple[float, float, float]
    size: Tuple[int, int, int]
    direction: np.ndarray
    values_gy: np.ndarray


@dataclass(frozen=True)
class Beam:
    """A treatment beam (only what the stand-ins need). ``mlc_id`` is the identifier of the beam's MLC
    as the TPS configuration names it (Eclipse ``Beam.MLC.Id``); None for a beam without an MLC."""

    id: str
    gantry_angle_deg: float = 0.0
    technique: str = "ARC"
    mlc_id: Optional[str] = "Millennium 120"


@dataclass(frozen=True, eq=False)
class PlanModel:
    """A plan (Eclipse ExternalPlanSetup or BrachyPlanSetup; RayStation TreatmentPlan with one BeamSet).

    ``prescription_gy`` is the total prescribed dose and ``n_fractions`` the number of fractions;
    the dose per fraction is their quotient. Dates are those of the first and last delivered
    fraction (None when not treated / unknown to the TPS). ``modality`` is one of
    :data:`PLAN_MODALITIES`; a ``brachytherapy`` plan has no beams (its dose is given analytically
    around the applicator's dwell positions, see ``README.md``).
    """

    id: str
    course_id: str
    image_id: str
    structure_set_id: str
    target_id: Optional[str]
    n_fractions: Optional[int]
    prescription_gy: Optional[float]
    approval_status: str = "UnApproved"
    beams: Tuple[Beam, ...] = ()
    dose: Optional[DoseModel] = None
    first_fraction: Optional[dt.date] = None
    last_fraction: Optional[dt.date] = None
    modality: str = "external"


@dataclass(frozen=True, eq=False)
class CourseModel:
    """A course and its plans."""

    id: str
    plans: Tuple[PlanModel, ...]
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None


@dataclass(frozen=True, eq=False)
class RegistrationModel:
    """A rigid registration: ``matrix`` maps points of ``source_for`` to ``target_for`` (mm)."""

    id: str
    source_for: str
    target_for: str
    matrix: np.ndarray


@dataclass(frozen=True, eq=False)
class StubPatient:
    """A whole stub patient.

    Attributes
    ----------
    id, name, description : str
    dose_unit : str
        The Eclipse clinic's configured dose unit for this patient: ``"Gy"`` or ``"cGy"``
        (RayStation is always cGy).
    images, structure_sets, courses, registrations : tuples of the models above
    current_course_id, current_plan_id : str
        The open (new, unapproved) plan the workflow works on.
    planned_start : datetime.date
        Planned date of the new course's first fraction.
    expectations : dict
        Scenario facts for tests (e.g. ``{"interval_days": 913, "flags": ["..."]}``).
    optimiser : dict
        How the stand-in optimiser behaves for this patient (:class:`tps_stubs.planner.OptimiserSettings`:
        ``sequencing_pct``, ``seed``, ``fail_on``); empty for the defaults.
    """

    id: str
    name: str
    description: str
    dose_unit: str
    images: Tuple[ImageModel, ...]
    structure_sets: Tuple[StructureSetModel, ...]
    courses: Tuple[CourseModel, ...]
    registrations: Tuple[RegistrationModel, ...]
    current_course_id: str
    current_plan_id: str
    planned_start: dt.date
    expectations: Dict[str, Any] = field(default_factory=dict)
    optimiser: Dict[str, Any] = field(default_factory=dict)

    def image(self, image_id: str) -> ImageModel:
        """The image with this id."""
        for i in self.images:
            if i.id == image_id:
                return i
        raise KeyError(f"image {image_id!r} not in patient {self.id!r}")

    def structure_set(self, structure_set_id: str) -> StructureSetModel:
        """The structure set with this id."""
        for s in self.structure_sets:
            if s.id == structure_set_id:
                return s
        raise KeyError(f"structure set {structure_set_id!r} not in patient {self.id!r}")

    def course(self, course_id: str) -> CourseModel:
        """The course with this id."""
        for c in self.courses:
            if c.id == course_id:
                return c
        raise KeyError(f"course {course_id!r} not in patient {self.id!r}")

    @property
    def current_plan(self) -> PlanModel:
        """The new plan the workflow works on."""
        for p in self.course(self.current_course_id).plans:
            if p.id == self.current_plan_id:
                return p
        raise KeyError(f"plan {self.current_plan_id!r} not in course {self.current_course_id!r}")

    def prior_plans(self) -> Tuple[PlanModel, ...]:
        """Every plan other than the current one that has a dose (the prior courses' plans)."""
        return tuple(p for c in self.courses for p in c.plans
                     if p.dose is not None and (c.id, p.id) != (self.current_course_id, self.current_plan_id))
