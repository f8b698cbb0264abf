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
from typing import Any, Callable, Optional, Tuple

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
    nz, ny, nx = values.shape[:3]
    sizes = np.array([nx, ny, nz])
    inside = np.all((idx >= -_EDGE_TOL) & (idx <= sizes - 1 + _EDGE_TOL), axis=1)
    idx = np.clip(idx, 0.0, sizes - 1)
    lower = np.minimum(np.floor(idx).astype(np.int64), np.maximum(sizes - 2, 0))
    frac = idx - lower
    step = (lower + 1 < sizes).astype(np.int64) * np.array([1, nx, nx * ny])  # 0 on a 1-voxel axis
    components = values.shape[3:]
    flat_values = values.reshape((nz * ny * nx, *components))
    weight_shape = (-1,) + (1,) * len(components)  # broadcast the weights over any component axis
    base = (lower[:, 2] * ny + lower[:, 1]) * nx + lower[:, 0]
    out = np.zeros((len(idx), *components))
    for dz in (0, 1):
        wz = frac[:, 2] if dz else 1.0 - frac[:, 2]
        for dy in (0, 1):
            wzy = wz * (frac[:, 1] if dy else 1.0 - frac[:, 1])
            row = base + dz * step[:, 2] + dy * step[:, 1]
            for dx in (0, 1):
                weight = wzy * (frac[:, 0] if dx else 1.0 - frac[:, 0])
                out += weight.reshape(weight_shape) * np.take(flat_values, row + dx * step[:, 0], axis=0)
    out[~inside] = 0.0
    return out, inside


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


def _resample_separable(source: FloatArray, scale: FloatArray, offset: FloatArray, values: FloatArray,
                        inside: BoolArray) -> None:
    """Trilinear resampling when each target index axis maps onto the same source axis.

    Source index along axis a = ``scale[a]`` × target index + ``offset[a]`` (a translation, a
    change of spacing or a flip; no rotation). Trilinear interpolation is then three successive
    linear interpolations: per target slice, between two source slices (only the rows and columns
    needed), then between rows, then between columns: a few passes over each target slice, with
    no per-voxel index arithmetic. Writes ``values`` (0 outside) and ``inside``.
    """
    nz, ny, nx = source.shape
    tz, ty, tx = values.shape
    z0, z1, fz, in_z = _axis_weights(scale[2] * np.arange(tz) + offset[2], nz)
    y0, y1, fy, in_y = _axis_weights(scale[1] * np.arange(ty) + offset[1], ny)
    x0, x1, fx, in_x = _axis_weights(scale[0] * np.arange(tx) + offset[0], nx)
    in_plane = in_y[:, None] & in_x[None, :]
    rows = slice(int(min(y0.min(), y1.min())), int(max(y0.max(), y1.max())) + 1)
    cols = slice(int(min(x0.min(), x1.min())), int(max(x0.max(), x1.max())) + 1)
    y0, y1, x0, x1 = y0 - rows.start, y1 - rows.start, x0 - cols.start, x1 - cols.start
    wy, wx = fy[:, None], fx[None, :]
    for k in range(tz):
        if not in_z[k]:
            values[k] = 0.0
            inside[k] = False
            continue
        plane = source[z0[k], rows, cols] * (1.0 - fz[k]) + source[z1[k], rows, cols] * fz[k]
        along_y = plane[y0] * (1.0 - wy) + plane[y1] * wy
        values[k] = along_y[:, x0] * (1.0 - wx) + along_y[:, x1] * wx
        values[k][~in_plane] = 0.0
        inside[k] = in_plane


def _resample_affine(source: FloatArray, linear: FloatArray, offset: FloatArray, values: FloatArray,
                     inside: BoolArray) -> None:
    """Trilinear resampling through any affine index map (source index = linear @ ijk + offset).

    One target slice at a time (memory stays flat). The source coordinates are flat arrays built by
    broadcasting (no list of points); the corners are gathered from the flattened source by
    ``take`` and combined by linear interpolations along x, then y, then z: the weights of
    :func:`_trilinear`. When a target slice maps onto one source z (a rotation within the axial
    plane), the two source slices are first interpolated in z once, leaving 4 corners per voxel.
    0 Gy and not covered outside the source's voxel-centre box.
    """
    nz, ny, nx = source.shape
    _, ty, tx = values.shape
    j_grid, i_grid = np.meshgrid(np.arange(ty, dtype=np.float64), np.arange(tx, dtype=np.float64),
                                 indexing="ij")
    i, j = i_grid.ravel(), j_grid.ravel()
    axial = linear[2, 0] == 0.0 and linear[2, 1] == 0.0
    sx, sy = (1 if nx > 1 else 0), (nx if ny > 1 else 0)
    sz = 0 if axial or nz == 1 else nx * ny
    z_lower, z_upper, z_frac, z_inside = _axis_weights(
        linear[2, 2] * np.arange(values.shape[0]) + offset[2], nz)
    for k in range(values.shape[0]):
        if axial and not z_inside[k]:
            values[k] = 0.0
            inside[k] = False
            continue
        covered = np.ones(ty * tx, dtype=bool)
        base = np.zeros(ty * tx, dtype=np.int64)
        fractions = []
        for axis, (size, stride) in enumerate(((nx, 1), (ny, nx), (nz, nx * ny))):
            if axial and axis == 2:
                break
            coords = linear[axis, 0] * i + linear[axis, 1] * j + (linear[axis, 2] * k + offset[axis])
            lower, _, frac, ins = _axis_weights(coords, size)
            covered &= ins
            base += lower * stride
            fractions.append(frac)
        if axial:
            flat = (source[z_lower[k]] * (1.0 - z_frac[k]) + source[z_upper[k]] * z_frac[k]).ravel()
        else:
            flat = source.ravel()
        fx, fy = fractions[0], fractions[1]

        def along_x(start: IntArray, flat: FloatArray = flat, fx: FloatArray = fx) -> FloatArray:
            low = flat.take(start)
            return low + fx * (flat.take(start + sx) - low)

        def along_xy(start: IntArray, fy: FloatArray = fy) -> FloatArray:
            low = along_x(start)
            return low + fy * (along_x(start + sy) - low)

        out = along_xy(base)
        if not axial:
            out = out + fractions[2] * (along_xy(base + sz) - out)
        out[~covered] = 0.0
        values[k] = out.reshape(ty, tx)
        inside[k] = covered.reshape(ty, tx)


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
        if np.allclose(linear, np.diag(np.diag(linear)), rtol=0.0, atol=1e-12):
            _resample_separable(self.values_gy, np.diag(linear), offset, values, inside)
        else:
            _resample_affine(self.values_gy, linear, offset, values, inside)
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
