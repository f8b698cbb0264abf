"""reirrad_tps.dicom — the offline DICOM adapter: RT Dose / RT Structure Set / RT Plan / CT /
Spatial Registration readers and the RT Dose writer, behind the ``dicom`` extra (pydicom ≥ 2.4, 2.x and
3.x). ``import reirrad_tps`` does not import pydicom; importing this package does.

Readers return engine types (:class:`reirrad.dose.DoseGrid` of TOTAL dose in Gy,
:class:`reirrad.snapshot.StructureData` with contours in mm) or small frozen dataclasses; bad input
raises :class:`reirrad.errors.InputError` (:class:`~reirrad.errors.UnitError` for a relative dose,
:class:`~reirrad.errors.IncompatibleDoseError` for objects in different frames) naming the file, the
attribute, the value and the fix. The decisions made where DICOM leaves room are in the module
docstrings: :mod:`.units` (units, dose type, summation type), :mod:`.geometry` (orientation, pixel
spacing, frame offsets), :mod:`.rtstruct` (which contours are read), :mod:`.rtplan` (fractions,
prescription), :mod:`.ct` (series, slice order), :mod:`.registration` (rigid matrix direction),
:mod:`.deformable` (deformable registrations: direction, order of the matrices and the deformation),
:mod:`.checks` (frame and plan consistency), :mod:`.write` (what is written).

Modules: ``files`` (pydicom file I/O, 2.x/3.x, atomic save), ``attributes`` (attribute access with
messages), ``identifiers`` (patient/study), ``units``, ``geometry``, ``rtdose``, ``rtstruct``, ``rtplan``,
``ct``, ``registration``, ``checks``, ``deformable``, ``write``.
"""

from __future__ import annotations

from . import files as files  # first: imports pydicom, or names the missing extra
from .checks import (
    check_dose_against_plan,
    check_dose_maximum,
    check_same_frame,
    plausibility_prescription,
    require_registration,
)
from .ct import CtGeometry, read_ct_geometry, zero_dose_grid
from .deformable import (
    DeformableRegistration,
    Registrations,
    place_prior_dose,
    read_deformable_registration,
    read_registrations,
)
from .identifiers import PatientStudy
from .registration import RigidRegistration, frame_transform, read_registration
from .rtdose import RtDoseInfo, read_eqd2_dose, read_rt_dose, read_rt_dose_info
from .rtplan import RtPlanInfo, read_rt_plan
from .rtstruct import RtStructureSet, SkippedContours, read_rt_struct
from .write import CONTENT_KINDS, WrittenRtDose, dose_comment, write_rt_dose

__all__ = [
    "CONTENT_KINDS",
    "CtGeometry",
    "DeformableRegistration",
    "PatientStudy",
    "Registrations",
    "RigidRegistration",
    "RtDoseInfo",
    "RtPlanInfo",
    "RtStructureSet",
    "SkippedContours",
    "WrittenRtDose",
    "check_dose_against_plan",
    "check_dose_maximum",
    "check_same_frame",
    "dose_comment",
    "frame_transform",
    "place_prior_dose",
    "plausibility_prescription",
    "read_ct_geometry",
    "read_deformable_registration",
    "read_eqd2_dose",
    "read_registration",
    "read_registrations",
    "read_rt_dose",
    "read_rt_dose_info",
    "read_rt_plan",
    "read_rt_struct",
    "require_registration",
    "write_rt_dose",
    "zero_dose_grid",
]
