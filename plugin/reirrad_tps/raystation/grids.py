"""RayStation dose grids and doses as engine :class:`reirrad.dose.DoseGrid` objects.

RayStation (docs/reference/raystation.md §5.2–§5.3): ``dose.InDoseGrid`` has ``Corner`` (the **outer
corner** of the first voxel, cm), ``VoxelSize`` (cm) and ``NrVoxels``; voxel centres are at
``Corner + (i + ½)·VoxelSize``; a grid has no direction matrix (its index axes run along +x, +y, +z of
the patient coordinate system). ``dose.DoseValues.DoseData`` is an ``(nz, ny, nx)`` array in cGy
under CPython (a flat, x-fastest array under IronPython); ``DoseValues`` is None when no dose has
been computed.

The engine convention (docs/design.md §5): ``values_gy[z, y, x]`` TOTAL Gy, ``origin_mm`` the **centre**
of voxel [0, 0, 0], ``spacing_mm`` (x, y, z), identity direction here.

Per fraction or total (§5.1): ``beam_set.FractionDose`` (recognised by ``ForBeamSet``) is ONE
fraction and is multiplied by its beam set's ``FractionationPattern.NumberOfFractions``; a mapped
dose (``OfDoseDistribution``) is per fraction exactly when the dose it was mapped from is; any other
dose (``plan.TreatmentCourse.TotalDose``, a summed ``CompositeDose``) is taken as a total. EQD2 doses
(``EQD2OfRois``) are refused: the engine converts physical dose itself.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from reirrad.dose import DoseGrid
from reirrad.errors import InputError, UnitError

from ._common import has_member
from .units import RAYSTATION_DOSE_UNIT, dose_array_gy, point_mm_from_cm

__all__ = ["dose_fractions", "empty_dose_grid", "grid_geometry_mm", "read_dose_grid"]

Geometry = Tuple[Tuple[float, float, float], Tuple[float, float, float], Tuple[int, int, int]]


def grid_geometry_mm(dose_grid: Any) -> Geometry:
    """Origin (voxel centre) and spacing in mm, and shape, of a RayStation dose grid.

    Parameters
    ----------
    dose_grid : RayStation ``DoseGrid``
        ``dose.InDoseGrid`` or ``beam_set.GetDoseGrid()``: ``Corner`` and ``VoxelSize`` in cm.

    Returns
    -------
    origin_mm : tuple of 3 floats
        Centre of voxel [0, 0, 0], (x, y, z), mm: ``(Corner + VoxelSize/2)·10``.
    spacing_mm : tuple of 3 floats
        Voxel size (x, y, z), mm.
    shape : tuple of 3 ints
        (nz, ny, nx), the shape of ``DoseData``.

    Raises
    ------
    reirrad.errors.InputError
        A non-positive voxel size or voxel count.
    """
    corner = point_mm_from_cm(dose_grid.Corner)
    spacing = point_mm_from_cm(dose_grid.VoxelSize)
    counts = dose_grid.NrVoxels
    size = tuple(int(counts[a]) for a in "xyz")
    if min(spacing) <= 0.0 or min(size) < 1:
        raise InputError(f"the RayStation dose grid has voxel size {spacing} mm and {size} voxels; "
                         "set a dose grid on the beam set (Plan design > Dose grid) first")
    origin = (corner[0] + spacing[0] / 2.0, corner[1] + spacing[1] / 2.0, corner[2] + spacing[2] / 2.0)
    return origin, spacing, (size[2], size[1], size[0])


def _frame(dose_grid: Any) -> Optional[str]:
    return str(dose_grid.FrameOfReference) if has_member(dose_grid, "FrameOfReference") else None


def empty_dose_grid(dose_grid: Any, frame_of_reference_uid: Optional[str] = None) -> DoseGrid:
    """The geometry of a RayStation dose grid as an engine grid of zeros (for ``CaseSnapshot.dose_grid``).

    Parameters
    ----------
    dose_grid : RayStation ``DoseGrid``
    frame_of_reference_uid : str, optional
        Frame of the grid; by default the grid's own ``FrameOfReference``.
    """
    origin, spacing, shape = grid_geometry_mm(dose_grid)
    frame = frame_of_reference_uid if frame_of_reference_uid is not None else _frame(dose_grid)
    return DoseGrid(np.zeros(shape), origin, spacing, frame_of_reference_uid=frame)


def dose_fractions(dose: Any) -> int:
    """How many fractions one ``DoseData`` of ``dose`` stands for (1 for a total dose).

    Raises
    ------
    reirrad.errors.UnitError
        An EQD2 dose (not a physical dose).
    """
    if has_member(dose, "EQD2OfRois"):
        raise UnitError("this RayStation dose is an EQD2 dose (it has EQD2OfRois); pass the physical "
                        "dose (plan.TreatmentCourse.TotalDose): the engine converts to EQD2 itself")
    if has_member(dose, "ForBeamSet"):
        fractions = dose.ForBeamSet.FractionationPattern.NumberOfFractions
        if isinstance(fractions, bool) or not isinstance(fractions, int) or fractions < 1:
            raise InputError(f"beam set {dose.ForBeamSet.DicomPlanLabel!r} has {fractions!r} fractions; "
                             "its fraction dose cannot be turned into a total")
        return int(fractions)
    if has_member(dose, "OfDoseDistribution"):
        return dose_fractions(dose.OfDoseDistribution)
    return 1


def read_dose_grid(dose: Any) -> DoseGrid:
    """A RayStation dose as TOTAL physical dose in Gy on the engine convention (docs/design.md §5).

    Parameters
    ----------
    dose : RayStation dose distribution
        ``plan.TreatmentCourse.TotalDose`` (a total), ``beam_set.FractionDose`` (one fraction:
        multiplied by the beam set's fractions) or a mapped evaluation dose.

    Returns
    -------
    reirrad.dose.DoseGrid
        ``values_gy[z, y, x]`` Gy, origin at the first voxel centre (mm), spacing mm, identity
        direction, the grid's frame of reference.

    Raises
    ------
    reirrad.errors.InputError
        No computed dose (``DoseValues`` is None), or values whose size does not match the grid.
    reirrad.errors.UnitError
        An EQD2 dose.
    """
    fractions = dose_fractions(dose)
    values_object = dose.DoseValues
    if values_object is None:
        raise InputError("the RayStation dose has no values (DoseValues is None): compute the dose "
                         "(Plan optimization > Compute dose) before reading it")
    grid = dose.InDoseGrid
    origin, spacing, shape = grid_geometry_mm(grid)
    raw = np.asarray(values_object.DoseData)
    if raw.shape != shape:
        if raw.size != int(np.prod(shape)):
            raise InputError(f"DoseData has {raw.size} values but the dose grid has {shape} (z, y, x) "
                             "voxels; the dose is stale: recompute it")
        raw = raw.reshape(shape)  # a flat array is in x-fastest (C) order (§5.2)
    values_gy = dose_array_gy(raw, RAYSTATION_DOSE_UNIT) * fractions
    return DoseGrid(values_gy, origin, spacing, frame_of_reference_uid=_frame(grid))
