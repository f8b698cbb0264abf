"""Deformable Spatial Registration (REG) objects, and bringing a prior dose onto the planning grid.

DICOM semantics (PS3.3 A.39.2.1 Deformable Spatial Registration IOD, C.20.3 Deformable Spatial
Registration Module, C.20.3.1.1 Deformable Registration Sequence Application, C.20.3.1.2 Deformable
Registration Grid, C.20.3.1.3 Vector Grid Data):

* The object's own ``FrameOfReferenceUID`` is the **Registered RCS** (call it R). Each
  ``DeformableRegistrationSequence`` (0064,0002) item names a **Source RCS** S
  (``SourceFrameOfReferenceUID`` (0064,0003)): the frame the data are *sampled from*. The IOD
  "describe[s] to an application how to sample data from one or more Source RCS into the Registered
  RCS" (A.39.2.1): a pull-back, exactly what resampling a dose onto another grid needs.
* C.20.3.1.1: the registrations "are applied to the Registered RCS coordinates" in this order: the
  ``PreDeformationMatrixRegistrationSequence`` (0064,000F) matrix, then the deformation offsets, then
  the ``PostDeformationMatrixRegistrationSequence`` (0064,0010) matrix; "the resulting coordinate
  addresses the sample point within the Source RCS". The equation there (an image in the HTML
  editions; the text and its legend were read) transforms the centre of grid voxel (i, j, k), whose
  position in R is ``IPP + i·rx·row + j·ry·col + k·rz·(row × col)``, with the vector of that index::

      p_S = M_post · (M_pre · p_R + D_ijk)        (homogeneous; D_ijk has w = 0)

  so the vector of a voxel is looked up at the voxel's position **in R as written** (IPP is "the
  start coordinate, in the Registered RCS"), and added after ``M_pre``. (3D Slicer's SlicerRT reader,
  ``vtkSlicerDicomSroReader::LoadDeformableSpatialRegistration``, instead moves the grid by ``M_pre``
  and looks the vector up at ``M_pre · p_R``: the same voxel, so the same result; an independent
  validator's test oracle found in public code computes ``post @ (pre @ p + D(p))`` with D interpolated
  at p in the grid as written.) Where the wording alone could be read otherwise (looking D up at
  ``M_pre · p`` in the unmoved grid), the readings differ only when ``M_pre`` is not the identity and D
  varies in space; reirrad follows the legend and the two implementations above.
* ``GridDimensions`` (0064,0007) = XD\\YD\\ZD and ``GridResolution`` (0064,0008) = mm along the row
  (i), column (j) and depth (k) directions of ``ImageOrientationPatient``; ``VectorGridData``
  (0064,0009, VR OF: 32-bit IEEE floats) holds XD·YD·ZD (x, y, z) triplets, each plane "left to
  right, top to bottom" (i fastest, then j), planes in order of k (C.20.3.1.3), so the stream reshapes
  to (ZD, YD, XD, 3), the engine's [z, y, x] order. The vectors are offsets in patient x, y, z
  (A.39.2.1: "offset distances in the X, Y, and Z directions"), not along the grid axes.
* Between voxel centres the standard leaves interpolation "implementation dependent" (C.20.3.1.2);
  reirrad interpolates trilinearly (:class:`reirrad.dose.DisplacementField`).

Into the engine (:meth:`reirrad.dose.DoseGrid.resample_deformable` maps a planning point p to
``A · (p + u(p))``): with ``L_pre`` the 3×3 part of ``M_pre``,
``M_post · (M_pre·p + D) = (M_post·M_pre) · (p + L_pre⁻¹·D)``, so ``A = M_post · M_pre`` and
``u = L_pre⁻¹ · D`` at each grid voxel; exact for any invertible ``M_pre``, and trilinear interpolation
commutes with the linear map, so it stays exact between voxels too. With no pre-matrix, ``u = D`` as
written. (Public readers show exporters that write ``M_pre`` and ``M_post = M_pre⁻¹``; then
``A = I`` and ``u = L_pre⁻¹ · D``.)

Decisions (refused, with file, attribute, value and what to do):

* The matrices must be ``RIGID`` or ``RIGID_SCALE`` (checked as in :mod:`.registration`); one item
  per matrix sequence (PS3.3: "only a single Item shall be included").
* An item for a frame other than R must have exactly one ``DeformableRegistrationGridSequence`` item
  (a matrix-only item is a rigid registration: export it as a Spatial Registration). An item for R
  itself without a grid (the identity item some exporters add) is skipped.
* ``VectorGridData`` must hold exactly 3·XD·YD·ZD floats (little-endian; an Explicit VR Big Endian
  file is refused), all finite: PS3.3 marks an undefined vector with (NaN, NaN, NaN), and reirrad
  cannot map a dose through an undefined point.
* ``ImageOrientationPatient`` of the grid must be two orthogonal unit vectors (± 1e-4,
  :func:`.geometry.orientation_matrix`); ``GridResolution`` positive.
* Direction: a dose in frame S is brought onto a planning grid in frame P only through an item with
  S as source **and** P as the object's frame. A deformable registration in the other direction (P as
  source, the prior frame as R) would need the inverse of the deformation, which is not computed:
  refused, naming the fix (register with the planning image as the fixed/reference image). A
  deformable registration is never chained with a rigid one, and a deformable and a rigid registration
  of the same two frames together are refused as ambiguous.
* ``ReferencedImageSequence`` (the registration applies to a subset of the source images) is not
  checked against the dose: the dose is sampled wherever the grid and the dose overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from reirrad.dose import DisplacementField, DoseGrid
from reirrad.errors import IncompatibleDoseError, InputError
from reirrad.findings import Finding

from .attributes import (
    attribute_label,
    float_values,
    required,
    required_text,
    sequence_items,
    text,
    values_list,
)
from .checks import require_registration
from .files import (
    DEFORMABLE_REGISTRATION_STORAGE,
    SPATIAL_REGISTRATION_STORAGE,
    PathLike,
    read_dataset,
)
from .geometry import PATIENT_EXTENT_MM, check_spacing, orientation_matrix
from .registration import (
    RIGID_MATRIX_TYPES,
    RigidRegistration,
    check_matrix,
    frame_transform,
    read_registration,
)

__all__ = [
    "DeformableRegistration",
    "PlacedDose",
    "Registrations",
    "place_prior_dose",
    "read_deformable_registration",
    "read_registrations",
]

FloatArray = NDArray[np.float64]
_EXPLICIT_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_IDENTITY_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class DeformableRegistration:
    """One item of a Deformable Spatial Registration, ready for the engine.

    Attributes
    ----------
    source_frame_of_reference_uid : str
        The Source RCS (S): the frame the dose is sampled from (the prior dose's frame).
    target_frame_of_reference_uid : str
        The Registered RCS (R): the object's own FrameOfReferenceUID (the planning frame).
    field : reirrad.dose.DisplacementField
        ``u = L_pre⁻¹ · D`` on the grid as written (frame R), mm, patient axes.
    affine : numpy.ndarray, shape (4, 4)
        ``M_post · M_pre``: p_S = affine @ (p_R + u(p_R)); read-only.
    pre_matrix, post_matrix : numpy.ndarray, shape (4, 4)
        The two matrices as written (identity when absent); read-only.
    max_displacement_mm : float
        Largest length of a ``VectorGridData`` vector as written, mm.
    max_displacement_at_mm : tuple of 3 floats
        Where (frame R, mm): the centre of that grid voxel.
    item : int
        Index of the item in ``DeformableRegistrationSequence``.
    sop_instance_uid, path : str
        The REG object it came from.
    """

    source_frame_of_reference_uid: str
    target_frame_of_reference_uid: str
    field: DisplacementField
    affine: FloatArray
    pre_matrix: FloatArray
    post_matrix: FloatArray
    max_displacement_mm: float
    max_displacement_at_mm: Tuple[float, float, float]
    item: int = 0
    sop_instance_uid: str = ""
    path: str = ""

    @property
    def label(self) -> str:
        """``REG.dcm item 1``: the file name and item, for messages and the provenance record."""
        return f"{Path(self.path).name or self.sop_instance_uid} item {self.item}"


@dataclass(frozen=True)
class Registrations:
    """Every registration read from the ``--registration`` files, by kind."""

    rigid: Tuple[RigidRegistration, ...] = ()
    deformable: Tuple[DeformableRegistration, ...] = ()


@dataclass(frozen=True, eq=False)
class PlacedDose:
    """A prior dose as it goes into :class:`reirrad.snapshot.PriorCourse`.

    Attributes
    ----------
    dose : reirrad.dose.DoseGrid
        The dose as read (same frame, rigid) or already mapped onto the planning grid (deformable).
    planning_to_dose : numpy.ndarray or None
        The rigid 4×4 (p_dose = M·p_planning), None for same-frame and deformable.
    kind : str
        ``"same-frame"``, ``"rigid"`` or ``"deformable"`` (:data:`reirrad.snapshot.REGISTRATION_KINDS`).
    registration : DeformableRegistration or None
        The deformable registration used.
    findings : tuple of reirrad.findings.Finding
        What the mapping noticed (planning voxels the field or the prior dose does not cover).
    coverage : numpy.ndarray of bool or None
        Deformable: per planning voxel, whether the mapping reached the prior dose (the engine's
        per-OAR coverage check, ``PriorCourse.dose_coverage``); None otherwise.
    """

    dose: DoseGrid
    planning_to_dose: Optional[FloatArray]
    kind: str
    registration: Optional[DeformableRegistration] = None
    findings: Tuple[Finding, ...] = ()
    coverage: Optional[NDArray[np.bool_]] = None

    @property
    def registration_id(self) -> Optional[str]:
        """For the provenance record and the engine's ``deformable-registration`` flag: the item used and
        its largest displacement (None unless deformable; the caller names rigid registrations)."""
        reg = self.registration
        if reg is None:
            return None
        x, y, z = reg.max_displacement_at_mm
        return (f"deformable {reg.label}, largest displacement {reg.max_displacement_mm:.1f} mm at "
                f"({x:.1f}, {y:.1f}, {z:.1f}) mm")


def _frozen(matrix: FloatArray) -> FloatArray:
    m = np.array(matrix, dtype=np.float64)
    m.flags.writeable = False
    return m


def _matrix(item: Dataset, keyword: str, where: str) -> FloatArray:
    """The one matrix of a Pre/Post Deformation Matrix Registration Sequence (identity when absent)."""
    entries = sequence_items(item, keyword)
    label = f"{where} > {attribute_label(keyword)}"
    if not entries:
        return np.eye(4)
    fix = "export the registration again (one RIGID or RIGID_SCALE 4x4 matrix per sequence)"
    if len(entries) != 1:
        raise InputError(f"{label} has {len(entries)} items (PS3.3 C.20.3 allows one); {fix}")
    kind = required_text(entries[0], "FrameOfReferenceTransformationMatrixType", label, fix=fix).upper()
    if kind not in RIGID_MATRIX_TYPES:
        raise InputError(f"{label}: FrameOfReferenceTransformationMatrixType is {kind}; reirrad reads "
                         "RIGID or RIGID_SCALE matrices only. Register with a rigid initial alignment")
    values = float_values(entries[0], "FrameOfReferenceTransformationMatrix", label, count=16, fix=fix)
    matrix = np.array(values, dtype=np.float64).reshape(4, 4)  # row-major (PS3.3 C.20.2.1.1)
    check_matrix(matrix, kind, label)
    matrix[3] = (0.0, 0.0, 0.0, 1.0)  # within check_matrix's tolerance of it: exactly (an affine map)
    return matrix


def _vectors(grid: Dataset, where: str, dims: Tuple[int, int, int]) -> NDArray[np.float32]:
    """VectorGridData as (ZD, YD, XD, 3) float32 (a view of the file's bytes: a CT-sized grid is large),
    checked for count and finiteness."""
    xd, yd, zd = dims
    raw = required(grid, "VectorGridData", where,
                   fix="the deformation grid holds no vectors; export the registration again")
    data = bytes(raw) if not isinstance(raw, (list, tuple)) else np.asarray(raw, "<f4").tobytes()
    expected = 3 * xd * yd * zd
    if len(data) % 4 or len(data) // 4 != expected:
        raise InputError(f"{where}: {attribute_label('VectorGridData')} holds {len(data) / 4:g} floats, "
                         f"but GridDimensions {xd}\\{yd}\\{zd} needs 3 x {xd * yd * zd} = {expected} (x, y, "
                         "z per grid voxel); the file is truncated or its dimensions are wrong - export it "
                         "again")
    vectors = np.frombuffer(data, dtype="<f4").reshape(zd, yd, xd, 3)
    bad = ~np.isfinite(vectors).all(axis=3)
    if bad.any():
        k, j, i = (int(v) for v in np.argwhere(bad)[0])
        raise InputError(f"{where}: {attribute_label('VectorGridData')} has {int(bad.sum())} undefined "
                         f"(NaN or infinite) vectors, the first at grid index (i, j, k) = ({i}, {j}, {k}); "
                         "PS3.3 C.20.3.1.3 marks a point where the deformation is undefined so, and a dose "
                         "cannot be mapped through it. Export a deformation defined over the whole grid "
                         "(or crop it to where it is defined)")
    return vectors


def _dimensions(grid: Dataset, where: str) -> Tuple[int, int, int]:
    fix = "GridDimensions must be 3 positive whole numbers (XD\\YD\\ZD); export the registration again"
    raw = required(grid, "GridDimensions", where, fix=fix)
    try:
        dims = tuple(int(v) for v in values_list(raw))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {attribute_label('GridDimensions')} = {raw!r}; {fix}") from exc
    if len(dims) != 3 or min(dims) < 1:
        raise InputError(f"{where}: {attribute_label('GridDimensions')} = {list(dims)}; {fix}")
    return (dims[0], dims[1], dims[2])


def _item(item: Dataset, index: int, target: str, path: str, sop: str) -> Optional[DeformableRegistration]:
    where = f"{path}: DeformableRegistrationSequence item {index}"
    source = required_text(item, "SourceFrameOfReferenceUID", where,
                           fix="each item must name the frame it samples from; export the registration again")
    grids = sequence_items(item, "DeformableRegistrationGridSequence")
    pre = _matrix(item, "PreDeformationMatrixRegistrationSequence", where)
    post = _matrix(item, "PostDeformationMatrixRegistrationSequence", where)
    if not grids:
        if source == target and np.allclose(post @ pre, np.eye(4), atol=_IDENTITY_TOL):
            return None  # the registered frame itself, untransformed
        raise InputError(f"{where} (source frame {source}) has no "
                         f"{attribute_label('DeformableRegistrationGridSequence')}: a matrix-only item is a "
                         "rigid registration. Export it as a (rigid) Spatial Registration, or export the "
                         "deformable registration with its vector grid")
    if len(grids) != 1:
        raise InputError(f"{where}: {attribute_label('DeformableRegistrationGridSequence')} has {len(grids)} "
                         "items (PS3.3 C.20.3 allows one); export the registration again")
    grid_where = f"{where} > DeformableRegistrationGridSequence"
    grid = grids[0]
    fix = "the deformation grid needs its position, orientation and resolution; export the registration again"
    ipp = float_values(grid, "ImagePositionPatient", grid_where, count=3, fix=fix)
    iop = float_values(grid, "ImageOrientationPatient", grid_where, count=6, fix=fix)
    direction = orientation_matrix(iop, grid_where)
    resolution = float_values(grid, "GridResolution", grid_where, count=3, fix=fix)
    if min(resolution) <= 0.0:
        raise InputError(f"{grid_where}: {attribute_label('GridResolution')} = {list(resolution)} mm (each "
                         "must be > 0); export the registration again")
    label = attribute_label("GridResolution")
    check_spacing((resolution[0], resolution[1], resolution[2]), grid_where, what="deformation grid",
                  xy_sources=(f"{label}, x", f"{label}, y"), z_source=f"{label}, z")
    dims = _dimensions(grid, grid_where)
    written = _vectors(grid, grid_where, dims)
    with np.errstate(over="ignore"):  # a float32 norm of a vector near 3e38 is inf: measured again below
        lengths = np.linalg.norm(written, axis=3)
    k, j, i = np.unravel_index(int(np.argmax(lengths)), lengths.shape)
    at = np.asarray(ipp) + direction @ (np.array([i, j, k], dtype=np.float64) * np.asarray(resolution))
    largest = float(np.linalg.norm(written[k, j, i].astype(np.float64)))  # float32 overflows near 3e38
    if largest > PATIENT_EXTENT_MM:
        raise InputError(f"{grid_where}: a displacement vector of {largest:g} mm at ({at[0]:.1f}, "
                         f"{at[1]:.1f}, {at[2]:.1f}) mm, beyond {PATIENT_EXTENT_MM:g} mm (10 m) where no "
                         "deformation of one patient reaches; the file is malformed - export the "
                         "registration again")
    linear = pre[:3, :3]
    # u = L_pre⁻¹ · D (module docstring); DisplacementField makes its one float64 copy
    engine_vectors: Any = written if np.array_equal(linear, np.eye(3)) else written @ np.linalg.inv(linear).T
    field_ = DisplacementField(engine_vectors, (ipp[0], ipp[1], ipp[2]),
                               (resolution[0], resolution[1], resolution[2]), direction)
    return DeformableRegistration(
        source_frame_of_reference_uid=source, target_frame_of_reference_uid=target, field=field_,
        affine=_frozen(post @ pre), pre_matrix=_frozen(pre), post_matrix=_frozen(post),
        max_displacement_mm=largest,
        max_displacement_at_mm=(float(at[0]), float(at[1]), float(at[2])), item=index,
        sop_instance_uid=sop, path=path)


def read_deformable_registration(path: PathLike) -> Tuple[DeformableRegistration, ...]:
    """Every deformable item of a Deformable Spatial Registration file (module docstring).

    Returns
    -------
    tuple of DeformableRegistration
        One per ``DeformableRegistrationSequence`` item with a grid (an identity item for the object's own
        frame is skipped); at least one.

    Raises
    ------
    reirrad.errors.InputError
        Not DICOM, not a Deformable Spatial Registration, big-endian; no FrameOfReferenceUID; an item
        without a source frame or a grid, a malformed grid (orientation, resolution, dimensions, vector
        count, NaN), a matrix that is not RIGID / RIGID_SCALE.
    """
    ds = read_dataset(path, expected={DEFORMABLE_REGISTRATION_STORAGE: "Deformable Spatial Registration"},
                      what="Deformable Spatial Registration (REG)", stop_before_pixels=True)
    return _deformable_items(ds, str(path))


def _deformable_items(ds: Dataset, where: str) -> Tuple[DeformableRegistration, ...]:
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "") if meta is not None else "")
    if syntax == _EXPLICIT_BIG_ENDIAN:
        raise InputError(f"{where} is encoded Explicit VR Big Endian (a retired transfer syntax); its "
                         "VectorGridData is not read. Export it again as Explicit VR Little Endian")
    target = required_text(ds, "FrameOfReferenceUID", where,
                           fix="the registration's own frame is the Registered RCS; export it again")
    sop = text(ds, "SOPInstanceUID")
    items = sequence_items(ds, "DeformableRegistrationSequence")
    if not items:
        raise InputError(f"{where}: {attribute_label('DeformableRegistrationSequence')} is missing or empty; "
                         "the file holds no registration")
    found = [r for r in (_item(item, n, target, where, sop) for n, item in enumerate(items)) if r is not None]
    if not found:
        raise InputError(f"{where}: no DeformableRegistrationSequence item has a "
                         f"{attribute_label('DeformableRegistrationGridSequence')} (PS3.3 C.20.3 requires "
                         "one); export the deformable registration with its vector grid")
    return tuple(found)


def read_registrations(paths: Sequence[PathLike]) -> Registrations:
    """The registrations of ``--registration`` files, rigid or deformable by each file's SOP Class.

    Raises
    ------
    reirrad.errors.InputError
        As :func:`.registration.read_registration` or :func:`read_deformable_registration`.
    """
    rigid: List[RigidRegistration] = []
    deformable: List[DeformableRegistration] = []
    for path in paths:
        ds = read_dataset(path, expected={SPATIAL_REGISTRATION_STORAGE: "Spatial Registration",
                                          DEFORMABLE_REGISTRATION_STORAGE: "Deformable Spatial Registration"},
                          what="Spatial Registration (REG)", stop_before_pixels=True)
        if text(ds, "SOPClassUID") == DEFORMABLE_REGISTRATION_STORAGE:
            deformable.extend(_deformable_items(ds, str(path)))  # read once: a vector grid can be large
        else:
            rigid.extend(read_registration(path))
    return Registrations(tuple(rigid), tuple(deformable))


def _pairs(regs: Sequence[DeformableRegistration]) -> List[str]:
    return sorted(f"{r.source_frame_of_reference_uid} -> {r.target_frame_of_reference_uid} ({r.label})"
                  for r in regs)


def _choose(regs: Registrations, planning: str, source: str, what: str) -> Optional[DeformableRegistration]:
    """The one deformable item sampling frame ``source`` into frame ``planning``, or None."""
    matching = [r for r in regs.deformable
                if r.source_frame_of_reference_uid == source and r.target_frame_of_reference_uid == planning]
    if len(matching) > 1:
        raise InputError(f"{len(matching)} deformable registrations bring {what} (frame {source}) into the "
                         f"planning frame {planning} ({', '.join(r.label for r in matching)}); give only the "
                         "registration to use")
    if matching:
        if source != planning and frame_transform(regs.rigid, planning, source) is not None:
            raise InputError(f"both a rigid and a deformable registration relate {what} (frame {source}) "
                             f"to the planning frame {planning} ({matching[0].label}); which one is meant "
                             "cannot be guessed - give only the registration to use")
        return matching[0]
    reverse = [r for r in regs.deformable
               if r.source_frame_of_reference_uid == planning and r.target_frame_of_reference_uid == source]
    if reverse and frame_transform(regs.rigid, planning, source) is None:
        raise InputError(f"the deformable registration {reverse[0].label} samples the planning frame "
                         f"{planning} into the frame of {what} ({source}): the opposite direction. Mapping "
                         "the dose needs the registration whose own frame is the planning image's and whose "
                         "source is the prior image's; register again with the planning CT as the fixed "
                         "(reference) image (a deformation is not inverted here)")
    return None


def place_prior_dose(dose: DoseGrid, planning_grid: DoseGrid, planning_frame_uid: Optional[str],
                     registrations: Registrations, *, what: str) -> PlacedDose:
    """A prior dose as the engine takes it: in the planning frame, rigidly registered, or mapped.

    A deformable registration sampling the dose's frame into the planning frame → the dose resampled
    onto ``planning_grid`` through it (:meth:`~reirrad.dose.DoseGrid.resample_deformable`), kind
    ``deformable`` (also when the two frames are the same: a deformation given is never ignored);
    otherwise same frame → the dose as read; otherwise the rigid matrix of
    :func:`.checks.require_registration`.

    Parameters
    ----------
    dose : reirrad.dose.DoseGrid
        The prior dose (TOTAL Gy) in its own frame.
    planning_grid : reirrad.dose.DoseGrid
        The planning dose grid (its geometry receives a deformably mapped dose).
    planning_frame_uid : str
        The planning frame (the structure set's).
    registrations : Registrations
        From :func:`read_registrations`.
    what : str
        The dose, for messages (``"prior dose RD1.dcm"``).

    Returns
    -------
    PlacedDose

    Raises
    ------
    reirrad.errors.IncompatibleDoseError
        Different frames and no registration relates them (the registrations given are listed).
    reirrad.errors.InputError
        An unknown frame; several deformable registrations, or a rigid and a deformable one, for the same
        frames; a deformable registration in the opposite direction only.
    """
    source = dose.frame_of_reference_uid
    if planning_frame_uid and source:
        chosen = _choose(registrations, planning_frame_uid, source, what)
        if chosen is not None:
            return _mapped(dose, planning_grid, chosen, what)
        rigid = frame_transform(registrations.rigid, planning_frame_uid, source)
        if registrations.deformable and rigid is None:
            raise IncompatibleDoseError(
                f"{what} is in frame of reference {source}, the planning image in {planning_frame_uid}, and "
                f"no registration relates them (deformable registrations given, source -> own frame: "
                f"{_pairs(registrations.deformable)}; rigid: {len(registrations.rigid)}). Give the "
                "deformable registration whose own frame is the planning image's and whose source is the "
                "prior dose's (--registration REG)")
    transform = require_registration(planning_frame_uid, source, registrations.rigid, what=what)
    kind = "same-frame" if transform is None else "rigid"
    return PlacedDose(dose=dose, planning_to_dose=transform, kind=kind)


def _mapped(dose: DoseGrid, planning_grid: DoseGrid, reg: DeformableRegistration, what: str) -> PlacedDose:
    mapped = dose.resample_deformable(planning_grid, reg.field, reg.affine)
    uncovered = int(np.count_nonzero(~mapped.inside))
    findings: Tuple[Finding, ...] = ()
    if uncovered:
        pct = 100.0 * uncovered / mapped.inside.size
        findings = (Finding(
            "deformable-mapping-does-not-cover-grid", "flag",
            f"{what}: {pct:.1f} % of the planning dose grid's voxels ({uncovered}) lie outside the "
            f"deformation grid of {reg.label} or map outside the prior dose grid; the prior dose is taken as "
            "0 Gy there (each OAR reaching those voxels is flagged on its own: "
            "prior-dose-does-not-cover-oar)",
            subject=what),)
    return PlacedDose(dose=mapped.grid, planning_to_dose=None, kind="deformable", registration=reg,
                      findings=findings, coverage=mapped.inside)
