"""Dose grids in patient coordinates, and trilinear resampling between grids.

Convention (DESIGN.md §5): ``values_gy`` is indexed ``[z, y, x]`` (slice, row, column);
``origin_mm`` is the patient-space position of the **centre** of voxel ``[0, 0, 0]`` and
``spacing_mm`` the (positive) voxel size, both given as **(x, y, z)**; ``direction`` is a 3×3
matrix whose columns are the patient-space unit vectors of the x, y and z index axes (identity
when None). Voxel ``[k, j, i]`` is at ``origin + direction @ (i·sx, j·sy, k·sz)``. A feet-first
grid whose slices run towards decreasing z has ``direction[:, 2] = (0, 0, -1)``.

Values are total physical dose in Gy unless ``quantity`` says ``"eqd2"`` (then ``alpha_beta_gy``
is the α/β of a uniform map, or None for a per-voxel α/β map).

Interpolation is trilinear between voxel centres. A point outside the box spanned by the
source's voxel centres (tolerance 1e-6 voxel) gets 0 Gy and is counted as outside coverage;
no extrapolation is ever made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validate import FloatArray, float_array
from .errors import InputError

__all__ = ["DoseGrid", "Resampled"]

_ORTHO_TOL = 1e-6
_EDGE_TOL = 1e-6
QUANTITIES = ("physical", "eqd2")


def _triple(name: str, value: ArrayLike, *, positive: bool) -> Tuple[float, float, float]:
    arr = float_array(name, value, strictly_positive=positive, unit="mm")
    if arr.shape != (3,):
        raise InputError(f"{name} must have 3 values (x, y, z) in mm (got shape {arr.shape})")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


@dataclass(frozen=True, eq=False)
class DoseGrid:
    """An immutable 3-D dose distribution on a regular grid.

    Parameters
    ----------
    values_gy : array_like, shape (nz, ny, nx)
        Dose per voxel, Gy (finite, ≥ 0). Copied and made read-only.
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

    def __post_init__(self) -> None:
        values = np.array(float_array("values_gy", self.values_gy, non_negative=True, unit="Gy"))
        if values.ndim != 3 or 0 in values.shape:
            raise InputError(f"values_gy must be a non-empty 3-D array indexed [z, y, x] "
                             f"(got shape {values.shape})")
        values.flags.writeable = False
        direction = np.eye(3) if self.direction is None else np.array(
            float_array("direction", self.direction), dtype=np.float64)
        if direction.shape != (3, 3):
            raise InputError(f"direction must be a 3x3 matrix (got shape {direction.shape})")
        if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHO_TOL):
            raise InputError("direction must have orthonormal columns (unit index-axis vectors in "
                             f"patient space); got {direction.tolist()}")
        direction.flags.writeable = False
        if self.quantity not in QUANTITIES:
            raise InputError(f"quantity must be one of {QUANTITIES} (got {self.quantity!r})")
        if self.alpha_beta_gy is not None and self.quantity != "eqd2":
            raise InputError("alpha_beta_gy is only meaningful for quantity='eqd2'")
        object.__setattr__(self, "values_gy", values)
        object.__setattr__(self, "origin_mm", _triple("origin_mm", self.origin_mm, positive=False))
        object.__setattr__(self, "spacing_mm", _triple("spacing_mm", self.spacing_mm, positive=True))
        object.__setattr__(self, "direction", direction)

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

    def _matrix(self) -> FloatArray:
        """Patient mm = M @ (i, j, k) + origin, M = direction · diag(spacing)."""
        direction = np.eye(3) if self.direction is None else self.direction  # set in __post_init__
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

    def voxel_centres_mm(self, k: int) -> FloatArray:
        """Patient coordinates of all voxel centres of slice ``k``, shape (ny·nx, 3)."""
        _, ny, nx = self.shape
        j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        ijk = np.stack([i.ravel(), j.ravel(), np.full(i.size, k)], axis=1)
        return self.index_to_patient_mm(ijk)

    # -- sampling ------------------------------------------------------------------------
    def sample(self, points_mm: ArrayLike) -> Tuple[FloatArray, NDArray[np.bool_]]:
        """Trilinear dose at patient points; 0 outside the voxel-centre box.

        Returns
        -------
        values : numpy.ndarray, shape (N,)
            Dose in this grid's quantity and unit (Gy).
        inside : numpy.ndarray of bool, shape (N,)
            Whether each point was within the grid's coverage.
        """
        pts = float_array("points_mm", points_mm, unit="mm")  # NaN would silently read as 'outside'
        if pts.ndim == 1:
            pts = pts[np.newaxis, :]
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise InputError(f"points_mm must be rows of (x, y, z) in mm (got shape {pts.shape})")
        idx = self.patient_mm_to_index(pts)
        nz, ny, nx = self.shape
        sizes = np.array([nx, ny, nz])
        inside = np.all((idx >= -_EDGE_TOL) & (idx <= sizes - 1 + _EDGE_TOL), axis=1)
        idx = np.clip(idx, 0.0, sizes - 1)
        lower = np.minimum(np.floor(idx).astype(np.int64), np.maximum(sizes - 2, 0))
        frac = idx - lower
        upper = np.minimum(lower + 1, sizes - 1)
        v = self.values_gy
        out = np.zeros(len(idx))
        for dz in (0, 1):
            kz = upper[:, 2] if dz else lower[:, 2]
            wz = frac[:, 2] if dz else 1.0 - frac[:, 2]
            for dy in (0, 1):
                jy = upper[:, 1] if dy else lower[:, 1]
                wy = frac[:, 1] if dy else 1.0 - frac[:, 1]
                for dx in (0, 1):
                    ix = upper[:, 0] if dx else lower[:, 0]
                    wx = frac[:, 0] if dx else 1.0 - frac[:, 0]
                    out += wz * wy * wx * v[kz, jy, ix]
        out[~inside] = 0.0
        return out, inside

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
        if not isinstance(target, DoseGrid):
            raise InputError(f"target must be a DoseGrid (got {type(target).__name__})")
        matrix = np.eye(4) if transform is None else np.asarray(float_array("transform", transform))
        if matrix.shape != (4, 4) or not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
            raise InputError("transform must be a 4x4 homogeneous matrix with last row (0, 0, 0, 1)")
        nz, ny, nx = target.shape
        values = np.empty(target.shape)
        inside = np.empty(target.shape, dtype=bool)
        for k in range(nz):  # one slice at a time keeps memory flat on large grids
            pts = target.voxel_centres_mm(k)
            src = pts @ matrix[:3, :3].T + matrix[:3, 3]
            v, ins = self.sample(src)
            values[k] = v.reshape(ny, nx)
            inside[k] = ins.reshape(ny, nx)
        grid = DoseGrid(values, target.origin_mm, target.spacing_mm, target.direction,
                        quantity=self.quantity, alpha_beta_gy=self.alpha_beta_gy)
        inside.flags.writeable = False
        return Resampled(grid=grid, inside=inside)


@dataclass(frozen=True, eq=False)
class Resampled:
    """A resampled dose and its coverage mask (True where the source covered the voxel)."""

    grid: DoseGrid
    inside: NDArray[np.bool_]

    def fraction_outside(self, occupancy: ArrayLike) -> float:
        """Occupancy-weighted fraction of a structure outside the source's coverage, in [0, 1].

        Parameters
        ----------
        occupancy : array_like, shape of the grid
            Fractional occupancy of the structure per voxel, in [0, 1].
        """
        occ = float_array("occupancy", occupancy, non_negative=True)
        if occ.size and float(occ.max()) > 1.0:
            raise InputError(f"occupancy must be a fraction in [0, 1] per voxel (found {float(occ.max())!r})")
        if occ.shape != self.inside.shape:
            raise InputError(f"occupancy shape {occ.shape} differs from the grid {self.inside.shape}")
        total = float(occ.sum())
        if total == 0.0:
            raise InputError("occupancy is empty (all zero): the structure has no volume on this grid")
        return float(occ[~self.inside].sum()) / total


