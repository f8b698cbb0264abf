"""The one place where DICOM image geometry becomes the engine's grid convention, and back.

Engine convention (docs/design.md §5, :mod:`reirrad.dose`): voxel ``[k, j, i]`` is at
``origin + direction @ (i·sx, j·sy, k·sz)``, ``origin`` the centre of voxel [0, 0, 0], ``spacing``
(x, y, z) positive, ``direction`` columns the patient-space unit vectors of the i, j, k index axes.

DICOM (PS3.3 C.7.6.2 Image Plane, C.8.8.3.2 Grid Frame Offset Vector):

* **ImagePositionPatient** (IPP) is the centre of the first transmitted pixel (row 0, column 0) of
  the first frame, mm → the origin (when the first offset is 0).
* **ImageOrientationPatient** (IOP) = row cosine (direction of increasing *column* index, i.e. along
  a row: the grid's **i / x axis**) then column cosine (increasing *row* index: the **j / y axis**).
  Cosines are normalised and the column cosine made orthogonal to the row cosine (exporters round
  them to a few digits); cosines off unit length or orthogonality by more than 1e-4 are refused.
* **PixelSpacing** = [row spacing, column spacing] = [Δ between rows (along j, y), Δ between
  columns (along i, x)] (PS3.3 §10.7.1.3) → ``spacing_mm = (PixelSpacing[1], PixelSpacing[0], Δk)``.
* **GridFrameOffsetVector** (RT Dose): (a) *relative*: first element 0, each element the distance of
  a frame from IPP along the normal **n = row × column**; (b) *absolute*: first element = IPP z, each
  element the patient z of a frame — permitted only with IOP = 1\\0\\0\\0\\1\\0 (then n = +z).
  Decisions: a first element within 0.01 mm of 0 is read as (a); a first element equal to IPP z
  (± 0.01 mm) with that exact axial IOP as (b); anything else is refused as ambiguous. Offsets must
  be uniform within 0.01 mm (the engine's grids are regular); their step Δ may be negative
  (decreasing offsets, e.g. feet-first exports): then the grid's k axis is **−n** and
  ``spacing_z = |Δ|``; the file's frame order (and so ``values_gy``) is kept as it is.
* A **single-frame** dose has no offsets to take Δk from: ``SliceThickness`` gives it (refused when
  absent).

For writing, :func:`plane_attributes` gives IPP/IOP/PixelSpacing and relative, **increasing**
offsets for a grid; a grid whose k axis is −(i × j) is written with its slices in reverse order (the
same voxels, the right-handed form every TPS imports), and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple, TypeVar, Union

import numpy as np
from numpy.typing import NDArray

from reirrad.errors import InputError

__all__ = [
    "COSINE_TOL",
    "PATIENT_EXTENT_MM",
    "PLAUSIBLE_SPACING_MM",
    "POSITION_TOL_MM",
    "GridGeometry",
    "PlaneAttributes",
    "check_position",
    "check_spacing",
    "format_ds",
    "is_axial_iop",
    "orientation_matrix",
    "plane_attributes",
    "rt_dose_geometry",
    "slice_axis",
]

FloatArray = NDArray[np.float64]
Triple = Tuple[float, float, float]

#: Tolerance on direction cosines (unit length, orthogonality, the axial IOP test).
COSINE_TOL = 1e-4
#: Tolerance on slice positions: first offset 0 / IPP z, uniform offsets, in-plane CT alignment, mm.
POSITION_TOL_MM = 0.01

_AXIAL_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True, eq=False)
class GridGeometry:
    """Geometry of a regular grid on the engine convention.

    Attributes
    ----------
    origin_mm : tuple of 3 floats
        Centre of voxel [0, 0, 0], (x, y, z) mm.
    spacing_mm : tuple of 3 floats
        (x, y, z) voxel size, mm, positive.
    direction : numpy.ndarray, shape (3, 3)
        Columns: unit vectors of the i, j, k index axes in patient space.
    """

    origin_mm: Triple
    spacing_mm: Triple
    direction: FloatArray


def _triple(v: Union[Sequence[float], FloatArray]) -> Triple:
    return (float(v[0]), float(v[1]), float(v[2]))


def orientation_matrix(iop: Sequence[float], where: str) -> FloatArray:
    """3×3 matrix of columns (row cosine, column cosine, n = row × column) from IOP's 6 values.

    Raises
    ------
    reirrad.errors.InputError
        Not 6 values, a cosine not of unit length, or the two cosines not orthogonal (± 1e-4).
    """
    if len(iop) != 6:
        raise InputError(f"{where}: ImageOrientationPatient (0020,0037) has {len(iop)} values {list(iop)} "
                         "(expected 6: row cosine x, y, z then column cosine x, y, z)")
    row = np.array(iop[:3], dtype=np.float64)
    col = np.array(iop[3:], dtype=np.float64)
    for name, v in (("row", row), ("column", col)):
        if abs(float(np.linalg.norm(v)) - 1.0) > COSINE_TOL:
            raise InputError(f"{where}: ImageOrientationPatient (0020,0037) {name} cosine {v.tolist()} is "
                             f"not a unit vector (length {float(np.linalg.norm(v)):.6f}); the file is "
                             "malformed")
    if abs(float(row @ col)) > COSINE_TOL:
        raise InputError(f"{where}: ImageOrientationPatient (0020,0037) row and column cosines {list(iop)} "
                         f"are not orthogonal (dot product {float(row @ col):.6f}); the file is malformed")
    row /= np.linalg.norm(row)
    col -= (col @ row) * row
    col /= np.linalg.norm(col)
    return np.column_stack([row, col, np.cross(row, col)])


#: How far (mm) from the patient coordinate system's origin patient data may lie: 10 m, far beyond any
#: patient coordinate system. A contour coordinate beyond it (``rtstruct``), a registration matrix's
#: translation or a deformation's displacement vector longer than it (``registration``, ``deformable``)
#: is a malformed file: one x of 1e30 mm was skipped as "enclosing no area", misstating why; kilometres of
#: translation moved every OAR 100 % off the prior dose, with only coverage flags.
PATIENT_EXTENT_MM = 1.0e4


_Position = TypeVar("_Position", bound=Sequence[float])


def check_position(position_mm: _Position, where: str, *, what: str) -> _Position:
    """Refuse an ImagePositionPatient (x, y, z mm) with a coordinate beyond :data:`PATIENT_EXTENT_MM`.

    Found by a hostile-input review: an RT Dose at x = 1e308 mm was evaluated, every OAR flagged "100 %
    outside the prior dose" and its dose taken as 0, where the file is malformed. Returns the position.
    """
    if any(not abs(float(v)) <= PATIENT_EXTENT_MM for v in position_mm):
        shown = ", ".join(f"{float(v):g}" for v in position_mm)
        raise InputError(f"{where}: the {what}'s ImagePositionPatient (0020,0032) is ({shown}) mm, beyond "
                         f"±{PATIENT_EXTENT_MM:g} mm (10 m) of the patient origin, where no patient lies; "
                         "the file is malformed - export it again")
    return position_mm


#: The range (mm) a voxel spacing of a dose grid or CT read from DICOM must lie in, on each axis. Outside
#: it the file is malformed or not in mm: 1e-9 mm made the occupancy of a 100 mm organ ask for 20 TiB, and
#: 25 m between dose planes was evaluated as if real (every organ "passed"). Clinical grids lie well
#: inside (dose 1-5 mm, GammaPlan and CyberKnife down to about 0.5 mm; CT 0.3-1.5 mm in plane, 0.5-10 mm
#: between slices).
PLAUSIBLE_SPACING_MM = (0.1, 20.0)


def check_spacing(spacing_mm: Sequence[float], where: str, *, what: str, z_source: str,
                  xy_sources: Tuple[str, str] = ("PixelSpacing (0028,0030), column spacing",
                                                 "PixelSpacing (0028,0030), row spacing")) -> None:
    """Refuse a voxel spacing (x, y, z mm) outside :data:`PLAUSIBLE_SPACING_MM` on any axis.

    Parameters
    ----------
    spacing_mm : sequence of 3 floats
        Column (x), row (y) and slice (z) spacing, mm.
    where, what, z_source : str
        The file, what the grid is (``"dose grid"``, ``"CT"``) and where its slice spacing came from,
        for the message.
    xy_sources : tuple of 2 str, optional
        Where the x and y spacings came from (default: PixelSpacing's column and row spacing).
    """
    low, high = PLAUSIBLE_SPACING_MM
    sources = (*xy_sources, z_source)
    for axis, source, value in zip("xyz", sources, spacing_mm):
        if not low <= float(value) <= high:
            raise InputError(
                f"{where}: the {what}'s {axis} spacing is {float(value):g} mm (from {source}), outside the "
                f"{low:g}-{high:g} mm of any clinical grid; the file is malformed or not in mm - export it "
                "again")


def is_axial_iop(iop: Sequence[float]) -> bool:
    """True for IOP = 1\\0\\0\\0\\1\\0 (± 1e-4), the only orientation of absolute frame offsets."""
    return len(iop) == 6 and all(abs(float(a) - b) <= COSINE_TOL for a, b in zip(iop, _AXIAL_IOP))


def slice_axis(relative_offsets_mm: Sequence[float], where: str, *, what: str) -> Tuple[float, int]:
    """Step |Δ| (mm) and sign (+1 / −1 along n) of uniform slice offsets measured from the first slice.

    Parameters
    ----------
    relative_offsets_mm : sequence of float
        Distance of each slice from the first along n, mm (first element 0), at least 2 values.
    where, what : str
        The file and the attribute, for messages.

    Raises
    ------
    reirrad.errors.InputError
        Two slices at the same position, or offsets not uniform within 0.01 mm.
    """
    offsets = np.asarray(relative_offsets_mm, dtype=np.float64)
    step = float(offsets[-1] - offsets[0]) / (len(offsets) - 1)
    if abs(step) <= POSITION_TOL_MM:
        raise InputError(f"{where}: {what} puts several slices at the same position ({offsets.tolist()} mm); "
                         "the file is malformed")
    deviation = np.abs(offsets - offsets[0] - step * np.arange(len(offsets)))
    worst = int(np.argmax(deviation))
    if float(deviation[worst]) > POSITION_TOL_MM:
        gaps = sorted({round(float(g), 4) for g in np.diff(offsets)})
        raise InputError(
            f"{where}: {what} is not uniformly spaced (slice {worst} is {float(deviation[worst]):.3f} mm "
            f"off a regular {abs(step):.4f} mm spacing; gaps found {gaps[:6]} mm). reirrad needs a regular "
            "grid: export the dose on a uniform calculation grid, or resample it in the TPS"
        )
    return abs(step), (1 if step > 0 else -1)


def rt_dose_geometry(*, ipp: Sequence[float], iop: Sequence[float], pixel_spacing: Sequence[float],
                     offsets: Sequence[float], slice_thickness: float, where: str) -> GridGeometry:
    """Engine geometry of an RT Dose from its Image Plane attributes and GridFrameOffsetVector.

    Parameters
    ----------
    ipp, iop, pixel_spacing : sequence of float
        ImagePositionPatient (3, mm), ImageOrientationPatient (6), PixelSpacing (2: row Δ, column Δ, mm).
    offsets : sequence of float
        GridFrameOffsetVector (one per frame, mm); may be empty for a single frame.
    slice_thickness : float
        SliceThickness, mm (NaN when absent); used only for a single frame.
    where : str
        The file, for messages.

    Raises
    ------
    reirrad.errors.InputError
        See the module docstring: ambiguous, absolute-with-non-axial-IOP or non-uniform offsets, a bad
        IOP, non-positive pixel spacing, a single frame without SliceThickness, a spacing outside
        :data:`PLAUSIBLE_SPACING_MM`.
    """
    axes = orientation_matrix(iop, where)
    normal = axes[:, 2]
    position = np.asarray(ipp, dtype=np.float64)
    if min(pixel_spacing) <= 0.0:
        raise InputError(f"{where}: PixelSpacing (0028,0030) = {list(pixel_spacing)} mm must be > 0")
    what = "GridFrameOffsetVector (3004,000C)"
    first = float(offsets[0]) if len(offsets) else 0.0
    if abs(first) <= POSITION_TOL_MM:
        origin = position + first * normal  # relative form (a)
    elif not is_axial_iop(iop):
        raise InputError(
            f"{where}: {what} starts at {first:g} mm (not 0), which is the absolute form; DICOM permits it "
            f"only with ImageOrientationPatient 1\\0\\0\\0\\1\\0 (PS3.3 C.8.8.3.2) and this file has "
            f"{list(iop)}. "
            "The slice positions are ambiguous: export the dose with relative offsets (first element 0)"
        )
    elif abs(first - float(position[2])) <= POSITION_TOL_MM:
        origin = position  # absolute form (b): offsets are patient z, the first at IPP z
    else:
        raise InputError(
            f"{where}: {what} starts at {first:g} mm, which is neither 0 (relative offsets) nor the "
            f"ImagePositionPatient z {float(position[2]):g} mm (absolute offsets, PS3.3 C.8.8.3.2); the "
            "slice positions are ambiguous - export the dose again"
        )
    if len(offsets) >= 2:
        step, sign = slice_axis([float(o) - first for o in offsets], where, what=what)
    elif math.isfinite(slice_thickness) and slice_thickness > 0.0:
        step, sign = slice_thickness, 1
    else:
        raise InputError(f"{where}: a single-frame dose without SliceThickness (0018,0050) has no slice "
                         "thickness, so its voxel volume is unknown; export the 3-D dose (all planes)")
    direction = np.column_stack([axes[:, 0], axes[:, 1], sign * normal])
    spacing = (float(pixel_spacing[1]), float(pixel_spacing[0]), float(step))
    check_spacing(spacing, where, what="dose grid",
                  z_source=what if len(offsets) >= 2 else "SliceThickness (0018,0050)")
    return GridGeometry(origin_mm=_triple(origin), spacing_mm=spacing, direction=direction)


def format_ds(value: float) -> str:
    """A Decimal String (DS) of at most 16 characters for ``value`` (shortest exact form when it fits).

    Raises
    ------
    reirrad.errors.InputError
        A non-finite value.
    """
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"cannot write the non-finite number {number!r} into a DICOM DS attribute")
    if number == 0.0:
        return "0"  # also for -0.0
    text = repr(number)
    digits = 16
    while len(text) > 16:
        digits -= 1
        text = f"{number:.{digits}g}"
    return text


@dataclass(frozen=True)
class PlaneAttributes:
    """Image Plane attributes of a grid, as DS strings, and whether its slices are written reversed.

    Attributes
    ----------
    image_position : tuple of str
        ImagePositionPatient (x, y, z) mm: centre of the first written voxel.
    image_orientation : tuple of str
        ImageOrientationPatient: the grid's i axis, then its j axis.
    pixel_spacing : tuple of str
        [row spacing (y, j), column spacing (x, i)] mm.
    frame_offsets : tuple of str
        Relative GridFrameOffsetVector, 0, Δk, 2·Δk, … mm (increasing).
    slice_thickness : str
        Δk, mm.
    reverse_slices : bool
        True when the grid's k axis is −(i × j): slice k of the grid is written as frame nz − 1 − k.
    """

    image_position: Tuple[str, str, str]
    image_orientation: Tuple[str, ...]
    pixel_spacing: Tuple[str, str]
    frame_offsets: Tuple[str, ...]
    slice_thickness: str
    reverse_slices: bool


def plane_attributes(origin_mm: Sequence[float], spacing_mm: Sequence[float], direction: FloatArray,
                     n_slices: int) -> PlaneAttributes:
    """DICOM Image Plane attributes for an engine grid (the inverse of :func:`rt_dose_geometry`).

    Parameters
    ----------
    origin_mm, spacing_mm : sequence of 3 floats
        The grid's first voxel centre and (x, y, z) spacing, mm.
    direction : numpy.ndarray, shape (3, 3)
        Orthonormal; columns are the i, j, k axes.
    n_slices : int
        nz.
    """
    d = np.asarray(direction, dtype=np.float64)
    d = np.where(np.abs(d) < 1e-12, 0.0, d)  # cos 90° rounding noise would be written as e.g. 6.1e-17
    normal = np.cross(d[:, 0], d[:, 1])
    reverse = float(d[:, 2] @ normal) < 0.0
    sx, sy, sz = (float(s) for s in spacing_mm)
    first = np.asarray(origin_mm, dtype=np.float64)
    if reverse:
        first = first + d[:, 2] * sz * (n_slices - 1)
    return PlaneAttributes(
        image_position=(format_ds(first[0]), format_ds(first[1]), format_ds(first[2])),
        image_orientation=tuple(format_ds(v) for v in (*d[:, 0], *d[:, 1])),
        pixel_spacing=(format_ds(sy), format_ds(sx)),
        frame_offsets=tuple(format_ds(k * sz) for k in range(n_slices)),
        slice_thickness=format_ds(sz),
        reverse_slices=reverse,
    )
