"""Rigid Spatial Registration (REG) objects, and the matrix between two frames of reference.

DICOM semantics (PS3.3 C.20.2 Spatial Registration Module, C.20.2.1.1): the object has its own
``FrameOfReferenceUID`` (call it R). Each ``RegistrationSequence`` item names a frame B
(``FrameOfReferenceUID`` of the item) and, in ``MatrixRegistrationSequence`` → ``MatrixSequence``, a
``FrameOfReferenceTransformationMatrix``: 16 numbers, a 4×4 matrix in **row-major** order, that
transforms the coordinates of a point in B into R, for points as column vectors::

    (x_R, y_R, z_R, 1)ᵀ = M · (x_B, y_B, z_B, 1)ᵀ

Each item becomes a :class:`RigidRegistration` with ``source_frame_of_reference_uid`` = B,
``target_frame_of_reference_uid`` = R and ``matrix`` = M (source → target). Items for R itself
(usually the identity) are kept too.

Decisions:

* ``FrameOfReferenceTransformationMatrixType`` RIGID (rotation + translation, checked: orthonormal
  with determinant +1 within 1e-4) and RIGID_SCALE (rotation, uniform or per-axis scale and
  translation: orthogonal columns, positive determinant) are read; AFFINE is refused (reirrad sums
  doses through rigid or deformable registrations only). A Deformable Spatial Registration object is
  read by :mod:`.deformable` (:func:`~reirrad_tps.dicom.deformable.read_registrations` takes both).
* An item whose ``MatrixSequence`` holds more than one matrix is refused (PS3.3 allows a chain;
  exporters write one, and an order mistake would misplace the dose silently).
* :func:`frame_transform` finds the matrix between two frames from a set of registrations: a direct
  item, the inverse of one, or two items of one object sharing its frame R
  (M_B→A = M_A→R⁻¹ · M_B→R).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydicom.dataset import Dataset

from reirrad.errors import InputError

from .attributes import float_values, required, required_text, sequence_items, text
from .files import (
    DEFORMABLE_REGISTRATION_STORAGE,
    SPATIAL_REGISTRATION_STORAGE,
    PathLike,
    read_dataset,
)
from .geometry import PATIENT_EXTENT_MM

__all__ = [
    "PLAUSIBLE_SCALE",
    "RIGID_MATRIX_TYPES",
    "RigidRegistration",
    "check_matrix",
    "frame_transform",
    "read_registration",
]

FloatArray = NDArray[np.float64]
#: FrameOfReferenceTransformationMatrixType values that are read.
RIGID_MATRIX_TYPES: Tuple[str, ...] = ("RIGID", "RIGID_SCALE")
_MATRIX_TOL = 1e-4
#: The axis scale factors a RIGID_SCALE matrix may hold: images of one patient are never registered with
#: more than a small scaling (a pixel-size correction); 1000 drew every planning voxel's prior dose from
#: one point, 0.001 moved the prior dose off the grid, both without a finding.
PLAUSIBLE_SCALE = (0.5, 2.0)


def _frozen(matrix: ArrayLike) -> FloatArray:
    m = np.array(matrix, dtype=np.float64)
    m.flags.writeable = False
    return m


@dataclass(frozen=True, eq=False)
class RigidRegistration:
    """One rigid registration item: ``matrix`` maps source-frame points to target-frame points.

    Attributes
    ----------
    source_frame_of_reference_uid : str
        The frame of the item (B).
    target_frame_of_reference_uid : str
        The registration object's own frame (R).
    matrix : numpy.ndarray, shape (4, 4)
        p_target = matrix @ p_source (homogeneous column vectors, mm); read-only.
    matrix_type : str
        ``RIGID`` or ``RIGID_SCALE``.
    sop_instance_uid, path : str
        The REG object it came from.
    """

    source_frame_of_reference_uid: str
    target_frame_of_reference_uid: str
    matrix: FloatArray
    matrix_type: str
    sop_instance_uid: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        matrix = _frozen(self.matrix)
        if matrix.shape != (4, 4) or not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
            raise InputError("a registration matrix must be 4x4 with last row 0 0 0 1 "
                             f"(got {matrix.tolist()})")
        object.__setattr__(self, "matrix", matrix)

    def inverse(self) -> RigidRegistration:
        """The same registration from target to source."""
        return RigidRegistration(self.target_frame_of_reference_uid, self.source_frame_of_reference_uid,
                                 np.asarray(np.linalg.inv(self.matrix), dtype=np.float64), self.matrix_type,
                                 self.sop_instance_uid, self.path)


def check_matrix(matrix: FloatArray, kind: str, where: str) -> None:
    """Refuse a 4×4 that is not what its FrameOfReferenceTransformationMatrixType says.

    ``RIGID``: the 3×3 part orthonormal with determinant > 0 (± 1e-4); ``RIGID_SCALE``: its columns
    orthogonal, determinant > 0, each axis scaled within :data:`PLAUSIBLE_SCALE`; both: last row 0 0 0 1,
    a translation of at most :data:`PATIENT_EXTENT_MM`.
    ``where`` names the file and the item.

    Raises
    ------
    reirrad.errors.InputError
        The matrix does not match its type.
    """
    label = f"{where}: FrameOfReferenceTransformationMatrix"
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], atol=_MATRIX_TOL):
        raise InputError(f"{label} has last row {matrix[3].tolist()} (must be 0 0 0 1); the file is "
                         "malformed")
    linear = matrix[:3, :3]
    gram = linear.T @ linear
    if kind == "RIGID":
        ok = np.allclose(gram, np.eye(3), atol=_MATRIX_TOL) and float(np.linalg.det(linear)) > 0.0
    else:  # RIGID_SCALE: rotation times axis scales, so the columns are orthogonal
        ok = (np.allclose(gram - np.diag(np.diag(gram)), 0.0, atol=_MATRIX_TOL * float(np.max(np.diag(gram))))
              and float(np.linalg.det(linear)) > 0.0)
    if not ok:
        raise InputError(f"{label} is declared {kind} but its 3x3 part {np.round(linear, 6).tolist()} is "
                         f"not a {'rotation' if kind == 'RIGID' else 'scaled rotation'}; the file is "
                         "malformed")
    shift = float(np.linalg.norm(matrix[:3, 3]))
    if not shift <= PATIENT_EXTENT_MM:
        raise InputError(f"{label} translates by {shift:g} mm, beyond {PATIENT_EXTENT_MM:g} mm (10 m) "
                         "where no registration of one patient's images reaches; the file is malformed - "
                         "check the registration and export it again")
    scales = np.sqrt(np.diag(gram))
    low, high = PLAUSIBLE_SCALE
    if not bool(np.all((scales >= low) & (scales <= high))):
        raise InputError(f"{label} scales the axes by {np.round(scales, 6).tolist()}, outside "
                         f"{low:g}-{high:g}: no registration of one patient's images scales them so much; "
                         "the file is malformed - check the registration and export it again")


def _item_matrix(item: Dataset, where: str, index: int) -> Tuple[FloatArray, str]:
    fix = "each registration item needs one 4x4 matrix; export the registration again"
    matrix_registrations = sequence_items(item, "MatrixRegistrationSequence")
    if len(matrix_registrations) != 1:
        raise InputError(f"{where}: RegistrationSequence item {index} has {len(matrix_registrations)} "
                         "MatrixRegistrationSequence items (expected 1); " + fix)
    matrices = sequence_items(matrix_registrations[0], "MatrixSequence")
    if len(matrices) != 1:
        raise InputError(f"{where}: RegistrationSequence item {index} chains {len(matrices)} matrices in "
                         "MatrixSequence; reirrad reads exactly one (a chain's order is easy to get wrong). "
                         "Export the registration as a single matrix")
    entry = matrices[0]
    kind = required_text(entry, "FrameOfReferenceTransformationMatrixType", where, fix=fix).upper()
    if kind not in RIGID_MATRIX_TYPES:
        raise InputError(f"{where}: RegistrationSequence item {index} is a {kind} registration; reirrad uses "
                         f"rigid registrations only ({' / '.join(RIGID_MATRIX_TYPES)}). Register the images "
                         "rigidly, or resample the dose deformably in the TPS")
    values = float_values(entry, "FrameOfReferenceTransformationMatrix", where, count=16, fix=fix)
    matrix = np.array(values, dtype=np.float64).reshape(4, 4)  # row-major (PS3.3 C.20.2.1.1)
    check_matrix(matrix, kind, f"{where}: RegistrationSequence item {index}")
    matrix[3] = (0.0, 0.0, 0.0, 1.0)  # within check_matrix's tolerance of it: exactly (an affine map)
    return matrix, kind


def read_registration(path: PathLike) -> Tuple[RigidRegistration, ...]:
    """Every rigid registration item of a Spatial Registration (REG) file.

    Returns
    -------
    tuple of RigidRegistration
        One per ``RegistrationSequence`` item, target = the object's own FrameOfReferenceUID.

    Raises
    ------
    reirrad.errors.InputError
        Not DICOM; a deformable registration or another object; no FrameOfReferenceUID; an item without
        a frame or with a chain of matrices, an AFFINE matrix, or a matrix that is not what its type says.
    """
    where = str(path)
    ds = read_dataset(path, expected={SPATIAL_REGISTRATION_STORAGE: "Spatial Registration",
                                      DEFORMABLE_REGISTRATION_STORAGE: "Deformable Spatial Registration"},
                      what="Spatial Registration (REG)", stop_before_pixels=True)
    if text(ds, "SOPClassUID") == DEFORMABLE_REGISTRATION_STORAGE:
        raise InputError(f"{where} is a Deformable Spatial Registration; this reader reads rigid ones. Read "
                         "it with reirrad_tps.dicom.read_deformable_registration (or read_registrations, "
                         "which takes both kinds, as reirrad evaluate --registration does)")
    target = required_text(ds, "FrameOfReferenceUID", where,
                           fix="the registration's own frame is the target of its matrices; export it again")
    sop = text(ds, "SOPInstanceUID")
    items = sequence_items(ds, "RegistrationSequence")
    if not items:
        raise InputError(f"{where}: RegistrationSequence (0070,0308) is missing or empty; the file holds no "
                         "registration")
    found: List[RigidRegistration] = []
    for index, item in enumerate(items):
        fix = f"RegistrationSequence item {index} must name the frame it registers"
        source = str(required(item, "FrameOfReferenceUID", where, fix=fix)).strip()
        matrix, kind = _item_matrix(item, where, index)
        found.append(RigidRegistration(source, target, matrix, kind, sop, where))
    return tuple(found)


def _to_frame(registrations: Iterable[RigidRegistration]) -> Dict[Tuple[str, str], FloatArray]:
    """Every known direct mapping (from, to) → matrix, with inverses.

    Raises
    ------
    reirrad.errors.InputError
        Two registrations of the same pair of frames that disagree (by more than 0.01 mm / 1e-5).
    """
    known: Dict[Tuple[str, str], FloatArray] = {}
    origin: Dict[Tuple[str, str], str] = {}
    for r in registrations:
        a, b = r.source_frame_of_reference_uid, r.target_frame_of_reference_uid
        for pair, matrix in (((a, b), np.asarray(r.matrix)),
                             ((b, a), np.asarray(np.linalg.inv(r.matrix), dtype=np.float64))):
            seen = known.get(pair)
            if seen is None:
                known[pair], origin[pair] = matrix, r.path or r.sop_instance_uid
            elif not (np.allclose(seen[:3, :3], matrix[:3, :3], atol=1e-5)
                      and np.allclose(seen[:3, 3], matrix[:3, 3], atol=0.01)):
                raise InputError(f"two registrations of frame {pair[0]} to {pair[1]} disagree "
                                 f"({origin[pair]} and {r.path or r.sop_instance_uid}); give only the "
                                 "registration to use")
    return known


def frame_transform(registrations: Sequence[RigidRegistration], from_uid: str,
                    to_uid: str) -> Optional[FloatArray]:
    """The 4×4 matrix mapping points of frame ``from_uid`` to frame ``to_uid``, or None if none is known.

    The identity when the two frames are the same. Otherwise a direct item, the inverse of one, or the
    composition through a shared frame (one hop), in that order.

    Raises
    ------
    reirrad.errors.InputError
        Two registrations of the same pair of frames that disagree.
    """
    if from_uid == to_uid:
        return np.eye(4)
    known = _to_frame(registrations)
    direct = known.get((from_uid, to_uid))
    if direct is not None:
        return np.array(direct)
    frames = {b for (_, b) in known}
    for via in sorted(frames):
        first = known.get((from_uid, via))
        second = known.get((via, to_uid))
        if first is not None and second is not None:
            return np.asarray(second @ first)
    return None
