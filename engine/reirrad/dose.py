"""Dose grids in patient coordinates, and trilinear resampling between grids.

Convention (docs/design.md §5): ``values_gy`` is indexed ``[z, y, x]`` (slice, row, column);
``origin_mm`` is the patient-space position of the **centre** of voxel ``[0, 0, 0]`` and
``spacing_mm`` the (positive) voxel size, both given as **(x, y, z)**; ``direction`` is a 3×3
matrix whose columns are the patient-space unit vectors of the x, y and z index axes (identity
when None). Voxel ``[k, j, i]`` is at ``origin + direction @ (i·sx, j·sy, k·sz)``. A feet-first
grid whose slices run towards decreasing z has ``direction[:, 2] = (0, 0, -1)``.
:class:`DisplacementField` uses exactly the same geometry convention.

Values are total physical dose in Gy unless ``quantity`` says ``"eqd2"`` (then ``alpha_beta_gy``
is the α/β of a uniform map, or None for a per-voxel α/β map).

Interpolation is trilinear between voxel centres. A point outside the box spanned by the
source's voxel centres (tolerance 1e-6 voxel) gets 0 Gy and is counted as outside coverage;
no extrapolation is ever made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validate import FloatArray, check_float_array, float_array
from .errors import IncompatibleDoseError, InputError

__all__ = ["DisplacementField", "DoseGrid", "Resampled"]

_ORTHO_TOL = 1e-6
_EDGE_TOL = 1e-6
QUANTITIES = ("physical", "eqd2")

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
# Maps the patient points (N, 3) mm of target voxel centres to source points (N, 3) mm, and says
# which of them could be mapped at all (False: no registration data there).
_PointMap = Callable[[FloatArray], Tuple[FloatArray, BoolArray]]


def _triple(name: str, value: ArrayLike, *, positive: bool) -> Tuple[float, float, float]:
    arr = float_array(name, value, strictly_positive=positive, unit="mm")
    if arr.shape != (3,):
        raise InputError(f"{name} must have 3 values (x, y, z) in mm (got shape {arr.shape})")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _direction(value: Optional[ArrayLike]) -> FloatArray:
    """A read-only orthonormal 3×3 direction matrix (identity when None), else InputError."""
    direction = np.eye(3) if value is None else np.array(float_array("direction", value),
                                                         dtype=np.float64)
    if direction.shape != (3, 3):
        raise InputError(f"direction must be a 3x3 matrix (got shape {direction.shape})")
    if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHO_TOL):
        raise InputError("direction must have orthonormal columns (unit index-axis vectors in "
                         f"patient space); got {direction.tolist()}")
    direction.flags.writeable = False
    return direction


def _homogeneous(name: str, value: Optional[ArrayLike]) -> FloatArray:
    """A 4×4 homogeneous matrix (identity when None), else InputError naming ``name``."""
    if value is None:
        return np.eye(4)
    matrix = np.asarray(float_array(name, value))
    if matrix.shape != (4, 4) or not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise InputError(f"{name} must be a 4x4 homogeneous matrix with last row (0, 0, 0, 1) "
                         f"mapping target to source points (got {matrix.tolist()})")
    return matrix


def _points(points_mm: ArrayLike) -> FloatArray:
    """Rows of (x, y, z) mm as an (N, 3) float array; NaN would silently read as 'outside'."""
    pts = float_array("points_mm", points_mm, unit="mm")
    if pts.ndim == 1:
        pts = pts[np.newaxis, :]
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points_mm must be rows of (x, y, z) in mm (got shape {pts.shape})")
    return pts


_CHUNK_VOXELS = 16384  # target voxels interpolated together by the gather kernel: temporaries stay in cache


def _lerp(low: FloatArray, high: FloatArray, weight: FloatArray) -> FloatArray:
    """``low + weight·(high − low)``, computed in place in ``high`` (a temporary the caller gives up)."""
    high -= low
    high *= weight
    high += low
    return high


class _Corners(NamedTuple):
    """Where and with which weights :func:`_gather` reads, from :func:`_corners`."""

    lowest: IntArray  # flat index of each point's lowest corner, shape S
    weights: List[FloatArray]  # weight of the upper corner along each interpolated axis, shape S
    strides: List[int]  # flat offset of the upper corner along each interpolated axis
    inside: BoolArray  # within the voxel-centre box (tolerance 1e-6 voxel), shape S


def _corners(shape: Tuple[int, ...], coords: Sequence[FloatArray]) -> _Corners:
    """Corners and weights of trilinear interpolation at continuous indices.

    Parameters
    ----------
    shape : tuple of int
        (nz, ny, nx) of the interpolated values (C-contiguous, indexed [k, j, i]).
    coords : sequence of 2 or 3 numpy.ndarray of float64, all of one shape S
        Continuous indices along x (i), y (j) and z (k), voxel units, 0 at the first voxel centre.
        Overwritten (they become the weights). With only two, the values hold one slice (nz = 1)
        and every point lies on it.

    Returns
    -------
    _Corners
        Per axis, the index is clipped to the centre range, its lower voxel is ``floor`` (at most
        the last-but-one voxel) and its weight the remainder; the lower voxels are summed into one
        flat index. An axis of one voxel has no upper corner (an inside point is on its centre).
    """
    nz, ny, nx = shape[:3]
    inside: Optional[BoolArray] = None
    flat_lower: Optional[FloatArray] = None
    weights: List[FloatArray] = []
    strides: List[int] = []
    for coord, size, stride in zip(coords, (nx, ny, nz), (1, nx, nx * ny)):
        covered = coord >= -_EDGE_TOL
        covered &= coord <= size - 1 + _EDGE_TOL
        if inside is None:
            inside = covered
        else:
            inside &= covered
        if size == 1:
            continue
        # the lower voxel floor(index) within [0, size - 2] (the last interval ends at the last
        # centre), the weight the remainder within [0, 1]: equal to clipping the index to the centre
        # range first (below 0: voxel 0, weight 0; above size - 1: voxel size - 2, weight 1)
        lower = np.floor(coord)
        np.clip(lower, 0.0, size - 2, out=lower)
        np.subtract(coord, lower, out=coord)
        np.clip(coord, 0.0, 1.0, out=coord)  # now the weight of the upper voxel
        weights.append(coord)
        strides.append(stride)
        lower *= stride  # flat offsets: exact in float64 (integers far below 2**53)
        if flat_lower is None:
            flat_lower = lower
        else:
            flat_lower += lower
    if inside is None:
        raise ValueError("coords must give the indices along x and y at least")  # pragma: no cover
    lowest = (np.zeros(inside.shape, dtype=np.intp) if flat_lower is None
              else flat_lower.astype(np.intp))
    return _Corners(lowest, weights, strides, inside)


def _gather(values: FloatArray, corners: _Corners) -> FloatArray:
    """Trilinear interpolation of ``values`` at ``corners`` (from :func:`_corners`); 0 outside.

    The one interpolation kernel of this module: points (:func:`_trilinear`, hence ``sample`` and
    deformable resampling) and rotations (:func:`_resample_planes`, :func:`_resample_gather`)
    all read through it. The corners are taken from the flattened values shifted by each corner's
    offset (``flat[offset:][lowest]``: no index arithmetic per corner) and combined by linear
    interpolations along x, then y, then z.

    Parameters
    ----------
    values : numpy.ndarray, shape (nz, ny, nx) or (nz, ny, nx, C)
        Samples at voxel centres, C-contiguous, optionally with C components per voxel.
    corners : _Corners
        For points of shape S, computed for ``values.shape[:3]``.

    Returns
    -------
    numpy.ndarray, shape S or S + (C,)
        Interpolated values in the unit of ``values``; 0 outside the voxel-centre box.
    """
    components = values.shape[3:]
    flat = values.reshape((-1, *components))
    spread = (Ellipsis, np.newaxis) if components else (Ellipsis,)  # weights over any components

    def along(axis: int, offset: int) -> FloatArray:
        """Values interpolated along the axes before ``axis`` (x first) from corner ``offset``."""
        if axis == 0:
            return np.asarray(flat[offset:][corners.lowest])
        low = along(axis - 1, offset)
        high = along(axis - 1, offset + corners.strides[axis - 1])
        return _lerp(low, high, corners.weights[axis - 1][spread])

    out = along(len(corners.strides), 0)
    out *= corners.inside[spread]
    return out


def _trilinear(values: FloatArray, idx: FloatArray) -> Tuple[FloatArray, BoolArray]:
    """Trilinear interpolation of ``values`` at continuous indices; 0 outside the centre box.

    Parameters
    ----------
    values : numpy.ndarray, shape (nz, ny, nx) or (nz, ny, nx, C)
        Samples at voxel centres, indexed [k, j, i] (optionally with C components per voxel).
    idx : numpy.ndarray, shape (N, 3)
        Continuous indices as (i, j, k) rows (voxel units; 0 is the first voxel centre).

    Returns
    -------
    values : numpy.ndarray, shape (N,) or (N, C)
        Interpolated values in the unit of ``values``; 0 where outside.
    inside : numpy.ndarray of bool, shape (N,)
        Whether each index lies within the voxel-centre box (tolerance 1e-6 voxel).
    """
    corners = _corners(values.shape, [np.array(idx[:, axis], dtype=np.float64) for axis in range(3)])
    return _gather(np.ascontiguousarray(values), corners), corners.inside


def _axis_weights(coords: FloatArray, size: int) -> Tuple[IntArray, IntArray, FloatArray, BoolArray]:
    """Linear-interpolation indices and weights along one axis (continuous index ``coords``).

    Returns the lower and upper voxel, the weight of the upper one, and whether each coordinate
    lies within the voxel-centre range (tolerance 1e-6 voxel), exactly as :func:`_trilinear`.
    """
    inside = (coords >= -_EDGE_TOL) & (coords <= size - 1 + _EDGE_TOL)
    clipped = np.clip(coords, 0.0, size - 1)
    lower = np.minimum(np.floor(clipped).astype(np.int64), max(size - 2, 0))
    frac = clipped - lower
    upper = np.minimum(lower + 1, size - 1)
    return lower, upper, frac, inside


def _maps_alone(linear: FloatArray, axis: int) -> bool:
    """Whether index ``axis`` of the target maps onto index ``axis`` of the source and nothing else.

    True when the source index along ``axis`` depends on the target index along ``axis`` only, and
    that target index moves no other source index (off-diagonal terms below 1e-12 voxel per voxel).
    """
    others = [a for a in range(3) if a != axis]
    return bool(np.allclose(np.concatenate([linear[axis, others], linear[others, axis]]), 0.0,
                            rtol=0.0, atol=1e-12))


def _resample_rows(source: FloatArray, linear: FloatArray, offset: FloatArray, values: FloatArray,
                   inside: BoolArray) -> None:
    """Trilinear resampling when the target's rows run along the source's rows (x axis).

    For maps where the source x index depends on the target column i only, and i moves the source
    x index only: translations, flips, changes of spacing and rotations about x. Along one target
    row the source y and z indices are then constant, so each covered row is interpolated from
    four whole source rows (y0/y1 × z0/z1, contiguous reads) with that row's y and z weights, then
    along x with column weights shared by every row: the weights of :func:`_trilinear`, with no
    per-voxel index arithmetic. Writes ``values`` (0 outside) and ``inside``.
    """
    nz, ny, nx = source.shape
    tz, ty, tx = values.shape
    x0, x1, fx, in_x = _axis_weights(linear[0, 0] * np.arange(tx) + offset[0], nx)
    first, last = int(x0.min()), int(x1.max())
    source_rows = source.reshape(nz * ny, nx)[:, first:last + 1]  # only the columns read
    x0, x1 = x0 - first, x1 - first
    j = np.arange(ty)
    for k in range(tz):
        y0, y1, fy, in_y = _axis_weights(linear[1, 1] * j + (linear[1, 2] * k + offset[1]), ny)
        z0, z1, fz, in_z = _axis_weights(linear[2, 1] * j + (linear[2, 2] * k + offset[2]), nz)
        rows = np.flatnonzero(in_y & in_z)
        inside[k] = False
        values[k] = 0.0
        if rows.size == 0:
            continue
        inside[k, rows] = in_x
        y0, y1, z0, z1 = y0[rows], y1[rows], z0[rows] * ny, z1[rows] * ny
        wy, wz = fy[rows, np.newaxis], fz[rows, np.newaxis]
        lower_z = _lerp(source_rows[z0 + y0], source_rows[z0 + y1], wy)
        upper_z = _lerp(source_rows[z1 + y0], source_rows[z1 + y1], wy)
        plane = _lerp(lower_z, upper_z, wz)
        along_x = _lerp(plane[:, x0], plane[:, x1], fx)
        along_x *= in_x
        values[k, rows] = along_x


def _resample_planes(source: FloatArray, linear: FloatArray, offset: FloatArray, values: FloatArray,
                     inside: BoolArray, *, axis: int) -> None:
    """Trilinear resampling when one index axis (z: 2, or y: 1) maps onto itself alone.

    For maps where the source index along ``axis`` depends on the target index along ``axis``
    only, and that target index moves no other source index: rotations about z (``axis`` 2) or
    about y (``axis`` 1), with any translation. Each target plane across ``axis`` then reads one
    source plane interpolated between two source planes, and the in-plane map is the same for
    every plane: its corners and weights (:func:`_corners`) are computed once, and each plane
    costs the two-plane interpolation and 4 gathered corners per voxel (:func:`_gather`).
    Writes ``values`` (0 outside) and ``inside``.
    """
    array_axis = 2 - axis  # values are indexed [z, y, x]
    planes = np.moveaxis(source, array_axis, 0)  # [along axis, in-plane second axis, x]
    out_values = np.moveaxis(values, array_axis, 0)
    out_inside = np.moveaxis(inside, array_axis, 0)
    in_plane = [a for a in range(3) if a != axis]  # (x, y) or (x, z): the kernel's x and y
    lower, upper, frac, covered = _axis_weights(
        linear[axis, axis] * np.arange(out_values.shape[0]) + offset[axis], planes.shape[0])
    rows, columns = np.arange(out_values.shape[1]), np.arange(out_values.shape[2])
    corners = _corners((1, *planes.shape[1:]),
                       [np.add.outer(linear[a, in_plane[1]] * rows + offset[a], linear[a, 0] * columns)
                        for a in in_plane])
    for t in range(out_values.shape[0]):
        if not covered[t]:
            out_values[t] = 0.0
            out_inside[t] = False
            continue
        plane = planes[lower[t]] * (1.0 - frac[t]) + planes[upper[t]] * frac[t]
        out_values[t] = _gather(plane[np.newaxis], corners)
        out_inside[t] = corners.inside


def _resample_gather(source: FloatArray, linear: FloatArray, offset: FloatArray, values: FloatArray,
                     inside: BoolArray) -> None:
    """Trilinear resampling through any affine index map (source index = linear @ ijk + offset).

    For rotations about an oblique axis. The target is processed in blocks of rows of about
    ``_CHUNK_VOXELS`` voxels, so that the temporaries stay in cache. A block's source indices are
    built per axis as each row's start plus each column's step (``linear[a, 1]·j +
    linear[a, 2]·k + offset[a]`` plus ``linear[a, 0]·i``, broadcast: no matrix product per
    voxel); its 8 corners are gathered from the flattened source (:func:`_corners`,
    :func:`_gather`). Writes ``values`` (0 outside) and ``inside``.
    """
    tz, ty, tx = values.shape
    along_i = linear[:, 0:1] * np.arange(tx, dtype=np.float64)  # (3, tx): each axis's column step
    rows = max(1, _CHUNK_VOXELS // tx)
    for k in range(tz):
        for start in range(0, ty, rows):
            j = np.arange(start, min(start + rows, ty), dtype=np.float64)
            corners = _corners(source.shape, [
                np.add.outer(linear[a, 1] * j + (linear[a, 2] * k + offset[a]), along_i[a])
                for a in range(3)])
            values[k, start:start + rows] = _gather(source, corners)
            inside[k, start:start + rows] = corners.inside


class _VoxelGeometry:
    """Regular-grid geometry shared by :class:`DoseGrid` and :class:`DisplacementField`.

    Subclasses are frozen dataclasses with ``origin_mm``, ``spacing_mm`` and ``direction`` fields;
    they call :meth:`_init_geometry` from ``__post_init__`` and define :attr:`shape`.
    """

    origin_mm: Tuple[float, float, float]
    spacing_mm: Tuple[float, float, float]
    direction: Optional[FloatArray]

    def _init_geometry(self) -> None:
        """Validate and normalise origin, spacing and direction (frozen-dataclass safe)."""
        direction = _direction(self.direction)
        object.__setattr__(self, "origin_mm", _triple("origin_mm", self.origin_mm, positive=False))
        object.__setattr__(self, "spacing_mm", _triple("spacing_mm", self.spacing_mm, positive=True))
        object.__setattr__(self, "direction", direction)

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(nz, ny, nx)."""
        raise NotImplementedError  # pragma: no cover - defined by each subclass

    def _matrix(self) -> FloatArray:
        """Patient mm = M @ (i, j, k) + origin, M = direction · diag(spacing)."""
        direction = np.eye(3) if self.direction is None else self.direction  # set by _init_geometry
        return np.asarray(direction * np.asarray(self.spacing_mm)[np.newaxis, :], dtype=np.float64)

    def index_to_patient_mm(self, ijk: ArrayLike) -> FloatArray:
        """Patient coordinates (x, y, z) mm of continuous indices given as (i, j, k) rows."""
        pts = np.atleast_2d(np.asarray(ijk, dtype=np.float64))
        return np.asarray(pts @ self._matrix().T + np.asarray(self.origin_mm))

    def patient_mm_to_index(self, points_mm: ArrayLike) -> FloatArray:
        """Continuous indices (i, j, k) of patient points (x, y, z) mm given as rows."""
        pts = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        inverse = np.linalg.inv(self._matrix())
        return np.asarray((pts - np.asarray(self.origin_mm)) @ inverse.T)

    def same_geometry(self, other: _VoxelGeometry) -> bool:
        """True when ``other`` has the same shape, origin (±1 µm), spacing and direction."""
        return (self.shape == other.shape
                and bool(np.allclose(self.origin_mm, other.origin_mm, atol=1e-3))
                and bool(np.allclose(self.spacing_mm, other.spacing_mm, atol=1e-9))
                and bool(np.allclose(self._matrix(), other._matrix(), atol=1e-9)))

    def voxel_centres_mm(self, k: int) -> FloatArray:
        """Patient coordinates of all voxel centres of slice ``k``, shape (ny·nx, 3)."""
        _, ny, nx = self.shape
        j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        ijk = np.stack([i.ravel(), j.ravel(), np.full(i.size, k)], axis=1)
        return self.index_to_patient_mm(ijk)


@dataclass(frozen=True, eq=False)
class DoseGrid(_VoxelGeometry):
    """An immutable 3-D dose distribution on a regular grid.

    Parameters
    ----------
    values_gy : array_like, shape (nz, ny, nx)
        Dose per voxel, Gy (finite, ≥ 0). Copied and made read-only, except a read-only float64
        ndarray that owns its memory, which is adopted as it is (the caller hands it over).
    origin_mm : sequence of 3 floats
        Centre of voxel [0, 0, 0], (x, y, z), mm.
    spacing_mm : sequence of 3 floats
        Voxel size (x, y, z), mm, each > 0.
    direction : array_like, shape (3, 3), optional
        Columns are the unit vectors of the x, y, z index axes in patient space; orthonormal.
    quantity : {"physical", "eqd2"}
        What the values are (total physical dose, or EQD2).
    alpha_beta_gy : float, optional
        For ``quantity="eqd2"`` with one α/β for the whole map.
    frame_of_reference_uid : str, optional
        DICOM Frame of Reference UID of the patient coordinates, when known. Grids, structures and
        registrations that name different frames are refused rather than combined.

    Raises
    ------
    reirrad.errors.InputError
        NaN/inf or negative doses, non-positive spacing, a non-3-D array, a direction that is not
        orthonormal, an unknown quantity.
    """

    values_gy: FloatArray
    origin_mm: Tuple[float, float, float]
    spacing_mm: Tuple[float, float, float]
    direction: Optional[FloatArray] = None
    quantity: str = "physical"
    alpha_beta_gy: Optional[float] = field(default=None)
    frame_of_reference_uid: Optional[str] = None

    def __post_init__(self) -> None:
        given = self.values_gy
        if (isinstance(given, np.ndarray) and given.dtype == np.float64 and given.base is None
                and not given.flags.writeable):
            # Handed over: a read-only float64 array that owns its memory is adopted without a copy
            # (a reader that built the values itself saves a full pass over them).
            values = given
            check_float_array("values_gy", values, non_negative=True, unit="Gy")
        else:
            # float_array returns a new array (astype copies): this grid owns it, frozen below.
            values = float_array("values_gy", self.values_gy, non_negative=True, unit="Gy")
        if values.ndim != 3 or 0 in values.shape:
            raise InputError(f"values_gy must be a non-empty 3-D array indexed [z, y, x] "
                             f"(got shape {values.shape})")
        values.flags.writeable = False
        if self.quantity not in QUANTITIES:
            raise InputError(f"quantity must be one of {QUANTITIES} (got {self.quantity!r})")
        if self.alpha_beta_gy is not None and self.quantity != "eqd2":
            raise InputError("alpha_beta_gy is only meaningful for quantity='eqd2'")
        object.__setattr__(self, "values_gy", values)
        self._init_geometry()

    # -- geometry ------------------------------------------------------------------------
    @property
    def shape(self) -> Tuple[int, int, int]:
        """(nz, ny, nx)."""
        nz, ny, nx = self.values_gy.shape
        return (nz, ny, nx)

    @property
    def voxel_volume_cc(self) -> float:
        """Volume of one voxel, cm³."""
        sx, sy, sz = self.spacing_mm
        return sx * sy * sz / 1000.0

    @cached_property
    def max_gy(self) -> float:
        """The largest voxel dose, Gy (computed once: the values are read-only)."""
        return float(self.values_gy.max())

    # -- sampling ------------------------------------------------------------------------
    def sample(self, points_mm: ArrayLike) -> Tuple[FloatArray, BoolArray]:
        """Trilinear dose at patient points; 0 outside the voxel-centre box.

        Returns
        -------
        values : numpy.ndarray, shape (N,)
            Dose in this grid's quantity and unit (Gy).
        inside : numpy.ndarray of bool, shape (N,)
            Whether each point was within the grid's coverage.
        """
        return _trilinear(self.values_gy, self.patient_mm_to_index(_points(points_mm)))

    def resample(self, target: DoseGrid, transform: Optional[ArrayLike] = None) -> Resampled:
        """This dose on ``target``'s voxel centres, through an optional rigid/affine transform.

        Parameters
        ----------
        target : DoseGrid
            Grid whose geometry (origin, spacing, direction, shape) receives the dose; its values
            are ignored.
        transform : array_like, shape (4, 4), optional
            Homogeneous matrix mapping points of the **target's** frame of reference to this
            (source) grid's frame: p_source = T @ p_target. Identity when None (same frame).

        Returns
        -------
        Resampled
            The new grid and, per target voxel, whether it was inside this grid's coverage.
        """
        matrix = _homogeneous("transform", transform)
        if not isinstance(target, DoseGrid):
            raise InputError(f"target must be a DoseGrid (got {type(target).__name__})")
        if transform is None:
            self.check_same_frame(target.frame_of_reference_uid, "the target grid (no transform given)")
        # target index (i, j, k) -> source index: one affine map, A @ ijk + b
        to_source = np.linalg.inv(self._matrix())
        linear = to_source @ matrix[:3, :3] @ target._matrix()
        offset = to_source @ (matrix[:3, :3] @ np.asarray(target.origin_mm) + matrix[:3, 3]
                              - np.asarray(self.origin_mm))
        values = np.empty(target.shape)
        inside = np.empty(target.shape, dtype=bool)
        source = np.ascontiguousarray(self.values_gy)
        # Same trilinear weights on every path; the path only decides how the corners are read.
        alone = [_maps_alone(linear, axis) for axis in range(3)]
        if alone[0]:  # translations, flips, spacing changes, rotations about x
            _resample_rows(source, linear, offset, values, inside)
        elif alone[2] or alone[1]:  # rotations about z or y
            _resample_planes(source, linear, offset, values, inside, axis=2 if alone[2] else 1)
        else:  # rotations about an oblique axis
            _resample_gather(source, linear, offset, values, inside)
        return self._resampled(target, values, inside)

    def resample_deformable(self, target: DoseGrid, field: DisplacementField,
                            affine: Optional[ArrayLike] = None) -> Resampled:
        """This dose on ``target``'s voxel centres through a deformation vector field.

        A target voxel centre p (mm, target frame) receives the dose at the source point
        ``p_source = A @ (p + u(p))``: first the deformation ``u`` (trilinear in ``field``, which
        is defined on the target frame), then the optional homogeneous ``affine`` A.

        Parameters
        ----------
        target : DoseGrid
            Grid whose geometry (origin, spacing, direction, shape) receives the dose; its values
            are ignored.
        field : DisplacementField
            Displacements (mm) defined on the target's frame of reference.
        affine : array_like, shape (4, 4), optional
            Rigid/affine pre-registration applied **after** the deformation, mapping the deformed
            target point into this (source) grid's frame. Identity when None.

        Returns
        -------
        Resampled
            The new grid (Gy, this grid's quantity) and, per target voxel, whether it was covered:
            False (and 0 Gy) where the voxel lies outside the field's voxel-centre box or its
            mapped point lies outside this grid's voxel-centre box.
        """
        if not isinstance(field, DisplacementField):
            raise InputError(f"field must be a DisplacementField (got {type(field).__name__}); "
                             "wrap the vector array with DisplacementField(vectors_mm, origin_mm, "
                             "spacing_mm, direction)")
        matrix = _homogeneous("affine", affine)

        def mapping(pts: FloatArray) -> Tuple[FloatArray, BoolArray]:
            displacement, covered = field.sample(pts)
            return (pts + displacement) @ matrix[:3, :3].T + matrix[:3, 3], covered

        return self._resample_via(target, mapping)

    def check_same_frame(self, other_uid: Optional[str], what: str) -> None:
        """Refuse to combine with something in another, known, frame of reference.

        Raises
        ------
        reirrad.errors.IncompatibleDoseError
            When both frame UIDs are known and differ.
        """
        mine = self.frame_of_reference_uid
        if mine is not None and other_uid is not None and mine != other_uid:
            raise IncompatibleDoseError(
                f"{what} is in frame of reference {other_uid}, the dose grid in {mine}; register the "
                "two frames and resample the dose first"
            )

    def _resample_via(self, target: DoseGrid, mapping: _PointMap) -> Resampled:
        """Sample this dose at ``mapping`` of each target voxel centre, one slice at a time.

        Voxels that ``mapping`` cannot map (its mask False) get 0 Gy and count as outside.
        """
        if not isinstance(target, DoseGrid):
            raise InputError(f"target must be a DoseGrid (got {type(target).__name__})")
        nz, ny, nx = target.shape
        values = np.empty(target.shape)
        inside = np.empty(target.shape, dtype=bool)
        for k in range(nz):  # one slice at a time keeps memory flat on large grids
            src, mapped = mapping(target.voxel_centres_mm(k))
            v, ins = self.sample(src)
            ins &= mapped
            v[~ins] = 0.0
            values[k] = v.reshape(ny, nx)
            inside[k] = ins.reshape(ny, nx)
        return self._resampled(target, values, inside)

    def _resampled(self, target: DoseGrid, values: FloatArray, inside: BoolArray) -> Resampled:
        """Wrap resampled values (owned, float64) as a grid with ``target``'s geometry."""
        values.flags.writeable = False  # handed over to the new grid without a copy
        grid = DoseGrid(values, target.origin_mm, target.spacing_mm, target.direction,
                        quantity=self.quantity, alpha_beta_gy=self.alpha_beta_gy,
                        frame_of_reference_uid=target.frame_of_reference_uid)
        inside.flags.writeable = False
        return Resampled(grid=grid, inside=inside)


@dataclass(frozen=True, eq=False)
class DisplacementField(_VoxelGeometry):
    """An immutable deformation vector field (DVF) on a regular grid, for deformable resampling.

    The field is defined on the **target** (planning) frame of reference: a target point p (mm)
    maps to the source point ``p + u(p)``, where ``u`` is the trilinearly interpolated
    displacement. A rigid/affine pre-registration, if any, is applied after the deformation (see
    :meth:`DoseGrid.resample_deformable`). The geometry convention is exactly that of
    :class:`DoseGrid`: voxel ``[k, j, i]`` is at ``origin + direction @ (i·sx, j·sy, k·sz)``.

    Parameters
    ----------
    vectors_mm : array_like, shape (nz, ny, nx, 3)
        Displacement (dx, dy, dz) per voxel in **patient** coordinates, mm (finite), indexed
        [z, y, x] like ``DoseGrid.values_gy``. Copied and made read-only.
    origin_mm : sequence of 3 floats
        Centre of voxel [0, 0, 0], (x, y, z), mm.
    spacing_mm : sequence of 3 floats
        Voxel size (x, y, z), mm, each > 0.
    direction : array_like, shape (3, 3), optional
        Columns are the unit vectors of the x, y, z index axes in patient space; orthonormal.

    Raises
    ------
    reirrad.errors.InputError
        NaN/inf displacements, a shape other than (nz, ny, nx, 3), non-positive spacing, a
        direction that is not orthonormal.
    """

    vectors_mm: FloatArray
    origin_mm: Tuple[float, float, float]
    spacing_mm: Tuple[float, float, float]
    direction: Optional[FloatArray] = None

    def __post_init__(self) -> None:
        vectors = float_array("vectors_mm", self.vectors_mm, unit="mm")  # already a new float64 array
        if vectors.ndim != 4 or vectors.shape[3] != 3 or 0 in vectors.shape:
            raise InputError(f"vectors_mm must be a non-empty array of shape (nz, ny, nx, 3) holding "
                             f"(dx, dy, dz) mm per voxel (got shape {vectors.shape}); stack the "
                             "three components on the last axis")
        vectors.flags.writeable = False
        object.__setattr__(self, "vectors_mm", vectors)
        self._init_geometry()

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(nz, ny, nx) of the grid (without the component axis)."""
        nz, ny, nx, _ = self.vectors_mm.shape
        return (nz, ny, nx)

    def sample(self, points_mm: ArrayLike) -> Tuple[FloatArray, BoolArray]:
        """Trilinear displacement at target-frame patient points; 0 outside the voxel-centre box.

        Returns
        -------
        displacement : numpy.ndarray, shape (N, 3)
            (dx, dy, dz) in mm, patient coordinates.
        inside : numpy.ndarray of bool, shape (N,)
            Whether each point was within the field's extent.
        """
        return _trilinear(self.vectors_mm, self.patient_mm_to_index(_points(points_mm)))


@dataclass(frozen=True, eq=False)
class Resampled:
    """A resampled dose and its coverage mask (True where the source covered the voxel)."""

    grid: DoseGrid
    inside: BoolArray

    def fraction_outside(self, occupancy: Any) -> float:
        """Occupancy-weighted fraction of a structure outside the source's coverage, in [0, 1].

        Parameters
        ----------
        occupancy : array_like or reirrad.structures.Occupancy
            Fractional occupancy of the structure per voxel, in [0, 1] (full grid, or an
            ``Occupancy`` stored on its bounding box).
        """
        inside = self.inside
        if hasattr(occupancy, "box_fraction") and hasattr(occupancy, "box"):
            inside = inside[occupancy.box]
            occupancy = occupancy.box_fraction
        occ = float_array("occupancy", occupancy, non_negative=True)
        if occ.size and float(occ.max()) > 1.0:
            raise InputError(f"occupancy must be a fraction in [0, 1] per voxel (found {float(occ.max())!r})")
        if occ.shape != inside.shape:
            raise InputError(f"occupancy shape {occ.shape} differs from the grid {inside.shape}")
        total = float(occ.sum())
        if total == 0.0:
            raise InputError("occupancy is empty (all zero): the structure has no volume on this grid")
        return float(occ[~inside].sum()) / total
