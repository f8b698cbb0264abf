"""Dose-grid geometry in RayStation's convention, and ROI occupancy / DVHs through the engine.

RayStation (docs/reference/raystation.md §5.2–§5.3): ``DoseData`` is indexed ``[z, y, x]`` with x fastest,
``Corner`` is the outer edge of the first voxel (voxel centres at ``Corner + (i + 0.5)·VoxelSize``),
everything in cm, in DICOM patient coordinates. A RayStation dose grid has no direction matrix, so
the stand-in stores every grid with its index axes along +x, +y, +z: a stub-patient grid whose axes
run the other way (a feet-first image) is flipped on the way in. Oblique grids are refused.

Occupancies come from :func:`reirrad.structures.structure_occupancy` and DVHs from
:class:`reirrad.dvh.DVH` (the DVH interpolation is the engine's documented one; RayStation's own is not
public), **scored at voxel centres** (``sub_samples=1``): a RayStation ROI's dose statistics are those of
its voxels, ``GetRoiVolumeDistribution``'s voxel indices and relative volumes on the dose grid, so its
``Average`` is their volume-weighted mean. The engine's own evaluation samples boundary voxels finer
(docs/geometry.md), so the stand-in's statistics differ from the engine's as a real TPS's do: slightly.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Dict, MutableMapping, Optional, Sequence, Tuple

import numpy as np

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.structures import Occupancy, structure_occupancy

from ..patients.model import StructureModel, StubPatient

__all__ = ["RsGrid", "dvh", "occupancy", "to_rs_orientation"]


@dataclass(frozen=True)
class RsGrid:
    """A dose grid with index axes along +x, +y, +z (RayStation has no grid direction).

    Attributes
    ----------
    origin_mm : tuple of 3 floats
        Centre of voxel [0, 0, 0], (x, y, z), mm.
    spacing_mm : tuple of 3 floats
        Voxel size (x, y, z), mm.
    size : tuple of 3 ints
        (nx, ny, nz).
    frame_of_reference : str
        Frame of reference UID of the grid.
    """

    origin_mm: Tuple[float, float, float]
    spacing_mm: Tuple[float, float, float]
    size: Tuple[int, int, int]
    frame_of_reference: str

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(nz, ny, nx), the shape of ``DoseData``."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def corner_cm(self) -> Tuple[float, float, float]:
        """Outer corner of the first voxel, cm (``InDoseGrid.Corner``)."""
        return tuple((o - s / 2.0) / 10.0 for o, s in zip(self.origin_mm, self.spacing_mm))  # type: ignore[return-value]

    @property
    def voxel_size_cm(self) -> Tuple[float, float, float]:
        """Voxel size, cm (``InDoseGrid.VoxelSize``)."""
        return tuple(s / 10.0 for s in self.spacing_mm)  # type: ignore[return-value]

    @property
    def voxel_volume_cc(self) -> float:
        """Volume of one voxel, cm³."""
        return float(np.prod(self.spacing_mm)) / 1000.0

    def engine_grid(self, values_gy: Optional[np.ndarray] = None) -> DoseGrid:
        """The engine's :class:`~reirrad.dose.DoseGrid` of these values (zeros when None), Gy."""
        values = np.zeros(self.shape) if values_gy is None else values_gy
        return DoseGrid(
            values, self.origin_mm, self.spacing_mm, frame_of_reference_uid=self.frame_of_reference
        )

    def centres_mm(self) -> np.ndarray:
        """Patient coordinates (nz·ny·nx, 3) of the voxel centres, in ``DoseData`` flat order."""
        nx, ny, nz = self.size
        k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
        ijk = np.column_stack([i.ravel(), j.ravel(), k.ravel()]).astype(float)
        return np.asarray(ijk * np.asarray(self.spacing_mm) + np.asarray(self.origin_mm))


def to_rs_orientation(
    origin_mm: Sequence[float],
    spacing_mm: Sequence[float],
    size: Sequence[int],
    direction: np.ndarray,
    *,
    frame_of_reference: str,
    values: Optional[np.ndarray] = None,
) -> Tuple[RsGrid, Optional[np.ndarray]]:
    """A stub-patient grid (engine convention, any axis-aligned direction) as an :class:`RsGrid`.

    Returns the grid and, when given, the values flipped to match (read-only).

    Raises
    ------
    NotImplementedError
        For a grid whose axes are not the patient axes (up to sign): RayStation dose grids are
        axis-aligned and the stand-in does not resample.
    """
    d = np.asarray(direction, float)
    signs = np.diag(d)
    if not np.allclose(d, np.diag(signs)) or not np.allclose(np.abs(signs), 1.0):
        raise NotImplementedError(
            f"the RayStation stand-in needs an axis-aligned dose grid (direction {d.tolist()})"
        )
    origin = np.asarray(origin_mm, float).copy()
    out = values
    for axis, sign in enumerate(signs):
        if sign < 0:
            origin[axis] -= (int(size[axis]) - 1) * float(spacing_mm[axis])
            if out is not None:
                out = np.flip(out, axis=2 - axis)
    if out is not None:
        out = np.ascontiguousarray(out, dtype=np.float64)
        out.flags.writeable = False
    grid = RsGrid(
        (float(origin[0]), float(origin[1]), float(origin[2])),
        (float(spacing_mm[0]), float(spacing_mm[1]), float(spacing_mm[2])),
        (int(size[0]), int(size[1]), int(size[2])),
        frame_of_reference,
    )
    return grid, out


# patient model → {(structure set id, structure, grid): Occupancy}; dropped with the model. Keyed by the
# structure object (identity), not its name: ROI algebra replaces an ROI's geometry under the same name.
_OCCUPANCY: MutableMapping[StubPatient, Dict[Any, Occupancy]] = weakref.WeakKeyDictionary()
_GEOMETRY: Dict[RsGrid, DoseGrid] = {}


def occupancy(
    model: StubPatient, structure_set_id: str, structure: StructureModel, grid: RsGrid
) -> Occupancy:
    """Fractional occupancy of a structure on a grid (cached per patient model and grid)."""
    cache = _OCCUPANCY.setdefault(model, {})
    key = (structure_set_id, structure, grid)
    if key not in cache:
        geometry = _GEOMETRY.get(grid)
        if geometry is None:
            if len(_GEOMETRY) > 8:
                _GEOMETRY.clear()
            geometry = _GEOMETRY[grid] = grid.engine_grid()
        image_for = model.image(model.structure_set(structure_set_id).image_id).frame_of_reference_uid
        cache[key] = structure_occupancy(
            list(structure.all_contours()), geometry, name=structure.id, frame_of_reference_uid=image_for,
            sub_samples=1,  # voxel statistics (module docstring)
        )
    return cache[key]


def dvh(
    model: StubPatient, structure_set_id: str, structure: StructureModel, grid: RsGrid, values_gy: np.ndarray
) -> DVH:
    """The engine DVH of a structure in a dose (values in Gy on ``grid``)."""
    occ = occupancy(model, structure_set_id, structure, grid)
    return DVH.from_dose(grid.engine_grid(values_gy), occ)
