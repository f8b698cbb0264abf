"""ESAPI doses as engine :class:`reirrad.dose.DoseGrid` objects (docs/design.md §5).

ESAPI (docs/reference/esapi.md §4.2): ``Dose`` has ``XSize/YSize/ZSize``, ``XRes/YRes/ZRes`` (mm),
``Origin`` (the **centre** of the first voxel of plane 0, mm) and ``XDirection/YDirection/ZDirection``
(unit vectors of the index axes). ``GetVoxels(k, int[XSize, YSize])`` fills a caller-allocated .NET
buffer indexed ``[x, y]`` with **raw integers**; ``VoxelToDoseValue(raw)`` converts raw counts to a
``DoseValue`` and is linear. The scale is per dose matrix (and includes the plan normalisation), so it
is calibrated at every read from ``VoxelToDoseValue(0)`` and ``VoxelToDoseValue(1)`` as
``V(0) + (V(1) − V(0))·raw`` — correct for a non-zero offset too (PyESAPI's form is not, §4.2) — never
a constant. ``PlanningItem.Dose`` is the TOTAL dose of all planned fractions (§4.1).

The engine convention: ``values_gy[z, y, x]`` TOTAL Gy, ``origin_mm`` the first voxel centre,
``spacing_mm`` (x, y, z), ``direction`` columns = the X/Y/Z direction vectors.

The .NET plane buffer is seen through numpy's buffer protocol (``np.asarray(buf)``, no copy); the view
is dropped before the reader returns (a numpy view of a .NET array alive at interpreter exit crashes
Mono 6.8; §14.2, stand-in DEVIATIONS.md). ``clr`` / ``System`` are imported inside :func:`_int_buffer`
only.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

from reirrad.dose import DoseGrid
from reirrad.errors import InputError

from .units import dose_value_gy

__all__ = ["calibration_gy", "dose_geometry", "esapi_types", "image_dose_grid", "read_dose_grid", "vector_mm",
           "vvector_array"]

FloatArray = NDArray[np.float64]
Triple = Tuple[float, float, float]


def vector_mm(v: Any) -> Triple:
    """An ESAPI ``VVector`` (mm) as an (x, y, z) tuple of floats."""
    return (float(v.x), float(v.y), float(v.z))


def esapi_types() -> Any:
    """The ``VMS.TPS.Common.Model.Types`` namespace (referenced explicitly when needed, §14.1)."""
    name = "VMS.TPS.Common.Model.Types"
    try:
        return importlib.import_module(name)
    except ImportError:
        importlib.import_module("clr").AddReference(name)
        return importlib.import_module(name)


def vvector_array(points_mm: Any) -> Any:
    """Patient points, an (N, 3) array in mm, as a .NET ``VVector[]`` (a contour for
    ``Structure.AddContourOnImagePlane``). ESAPI's ``VVector`` is in mm like the engine: no scaling, the
    inverse of :func:`vector_mm`."""
    types = esapi_types()
    system = importlib.import_module("System")
    points = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    return system.Array[types.VVector]([types.VVector(float(x), float(y), float(z)) for x, y, z in points])


def _int_buffer(nx: int, ny: int) -> Any:
    """A new .NET ``int[nx, ny]`` (the buffer ``GetVoxels`` fills, §14.2)."""
    importlib.import_module("clr")  # loaded by the host (Eclipse / PyESAPI / the stand-in), never at import
    system = importlib.import_module("System")
    return system.Array.CreateInstance(system.Int32, nx, ny)


def _padded_plane(nx: int, ny: int) -> NDArray[np.int32]:
    """An int32 [nx, ny] staging plane whose rows are one value longer than ``ny`` (a strided view).

    The transpose reads a plane column by column, ``ny × 4`` bytes apart. For the usual power-of-two
    ``ny`` (256, 512) those addresses fall into a few CPU cache sets and evict each other; rows of
    ``(ny + 1) × 4`` bytes spread them. Copying each .NET plane here first (contiguous, cheap) and
    transposing from here is faster in total: 200 planes of 256×256 int32 → float64 took 0.020 s
    straight from the buffer and 0.013 s through this plane (numpy 2.4, the 2-core CI machine);
    planes of other sizes lose about 0.001 s. ``benchmarks/bench_eclipse_dose.py`` times the reader.
    """
    return np.empty((nx, ny + 1), dtype=np.int32)[:, :ny]


def calibration_gy(dose: Any) -> Tuple[float, float]:
    """(offset, Gy per raw count) of an ESAPI dose: ``V(0)`` and ``V(1) − V(0)`` in Gy.

    Raises
    ------
    reirrad.errors.UnitError
        The dose is presented as relative (Percent) or in an unknown unit: set the plan's
        ``DoseValuePresentation`` to Absolute.
    reirrad.errors.InputError
        A non-positive scale.
    """
    v0 = dose_value_gy(dose.VoxelToDoseValue(0))
    v1 = dose_value_gy(dose.VoxelToDoseValue(1))
    scale = v1 - v0
    if not scale > 0.0:
        raise InputError(f"ESAPI dose calibration is not increasing: VoxelToDoseValue(0) = {v0!r} Gy, "
                         f"VoxelToDoseValue(1) = {v1!r} Gy; this dose cannot be read")
    return v0, scale


def dose_geometry(dose: Any) -> Tuple[Triple, Triple, Tuple[int, int, int], FloatArray]:
    """Origin (first voxel centre, mm), spacing (mm), size (nx, ny, nz) and direction of an ESAPI dose."""
    size = (int(dose.XSize), int(dose.YSize), int(dose.ZSize))
    if min(size) < 1:
        raise InputError(f"ESAPI dose has size {size}; there is no dose matrix to read")
    spacing = (float(dose.XRes), float(dose.YRes), float(dose.ZRes))
    direction = np.column_stack([vector_mm(dose.XDirection), vector_mm(dose.YDirection),
                                 vector_mm(dose.ZDirection)]).astype(np.float64)
    return vector_mm(dose.Origin), spacing, size, direction


def read_dose_grid(dose: Any, frame_of_reference_uid: Optional[str] = None) -> DoseGrid:
    """The whole 3-D ESAPI dose as a :class:`~reirrad.dose.DoseGrid` of TOTAL physical Gy.

    Parameters
    ----------
    dose : VMS.TPS.Common.Model.API.Dose
        ``plan.Dose`` (TOTAL dose of all planned fractions) of a plan presented as Absolute.
    frame_of_reference_uid : str, optional
        The frame of the dose's image (``plan.StructureSet.Image.FOR``).

    Returns
    -------
    reirrad.dose.DoseGrid
        ``values_gy[z, y, x]`` = V(0) + (V(1) − V(0))·raw, in Gy.

    Raises
    ------
    reirrad.errors.UnitError
        A relative / unknown dose unit (set ``DoseValuePresentation`` to Absolute).
    reirrad.errors.InputError
        No dose (None), an empty matrix or a bad calibration.
    """
    if dose is None:
        raise InputError("the plan has no dose (Dose is None / IsDoseValid is False); calculate the dose in "
                         "Eclipse first")
    origin, spacing, (nx, ny, nz), direction = dose_geometry(dose)
    offset, scale = calibration_gy(dose)
    buf = _int_buffer(nx, ny)
    values = np.empty((nz, ny, nx), dtype=np.float64)
    staging = _padded_plane(nx, ny)
    view = np.asarray(buf)  # the pinned .NET buffer seen through the buffer protocol, shape (nx, ny)
    try:
        for k in range(nz):
            dose.GetVoxels(k, buf)
            np.copyto(staging, view)
            # Scaled straight into place ([x, y] -> [y, x] by the transpose): one pass per plane.
            np.multiply(staging.T, scale, out=values[k])
    finally:
        del view  # no numpy view of a .NET array may outlive this call (Mono 6.8 crashes at exit)
    if offset != 0.0:
        values += offset
        # A zero-dose voxel with a rounding-level negative value would be refused by DoseGrid.
        values[np.abs(values) < 1e-12] = 0.0
    values.flags.writeable = False  # handed over to the DoseGrid without another copy
    return DoseGrid(values, origin, spacing, direction, frame_of_reference_uid=frame_of_reference_uid)


def image_dose_grid(image: Any, spacing_mm: float, frame_of_reference_uid: Optional[str] = None) -> DoseGrid:
    """An all-zero grid of ``spacing_mm`` covering an ESAPI ``Image`` (the geometry of a not-yet-calculated
    plan's dose: ESAPI exposes no calculation grid before a dose exists).

    Voxel centres span the image's voxel-centre box, centred in it, along the image's X/Y/Z directions:
    ``n = floor(extent / spacing) + 1`` per axis (the stand-in's and DirectCase's rule).
    """
    if not spacing_mm > 0:
        raise InputError(f"dose_spacing_mm must be > 0 mm (got {spacing_mm!r})")
    img_spacing = np.array([float(image.XRes), float(image.YRes), float(image.ZRes)])
    img_size = np.array([int(image.XSize), int(image.YSize), int(image.ZSize)])
    direction = np.column_stack([vector_mm(image.XDirection), vector_mm(image.YDirection),
                                 vector_mm(image.ZDirection)]).astype(np.float64)
    extent = img_spacing * (img_size - 1)
    size = [int(np.floor(e / spacing_mm)) + 1 for e in extent]
    used = (np.asarray(size) - 1) * spacing_mm
    start = np.asarray(vector_mm(image.Origin)) + direction @ ((extent - used) / 2.0)
    origin = (float(start[0]), float(start[1]), float(start[2]))
    return DoseGrid(np.zeros((size[2], size[1], size[0])), origin,
                    (spacing_mm,) * 3, direction, frame_of_reference_uid=frame_of_reference_uid)
