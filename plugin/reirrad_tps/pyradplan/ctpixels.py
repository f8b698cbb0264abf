"""The CT numbers of a DICOM case's planning CT, sampled on the planning volume's grid.

:func:`ct_numbers_on` reads the series that :func:`reirrad_tps.dicom.read_ct_geometry` validated (one
series, one orientation, uniform unsheared slices), places each slice's pixels (``pixel_array`` ×
RescaleSlope + RescaleIntercept, HU) at its index along the slice normal, and samples them trilinearly
at the voxel centres of the planning grid (:mod:`reirrad.dose`'s resampling, with the HU offset by +1024
because dose grids hold no negative values). Voxels outside the CT are air (-1000 HU); values are
clipped to [-1000, 3071] HU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
from numpy.typing import NDArray

from reirrad.dose import DoseGrid
from reirrad.errors import InputError

from .phantom import AIR_HU

__all__ = ["ct_numbers_on"]

_OFFSET = 1024.0
_MAX_HU = 3071.0


def ct_numbers_on(ct_folder: str, grid: DoseGrid) -> NDArray[np.int16]:
    """CT numbers (HU, int16, [z, y, x]) of the CT series in ``ct_folder`` at ``grid``'s voxel centres.

    Raises
    ------
    reirrad.errors.InputError
        A CT that is not one valid series (as :func:`reirrad_tps.dicom.read_ct_geometry`), a slice whose
        pixels cannot be decoded (e.g. compressed without a decoder: export uncompressed, or plan with
        ``--bulk-density``), or a slice missing from the series.
    """
    import pydicom  # noqa: PLC0415 - the dicom extra

    from ..dicom import read_ct_geometry  # noqa: PLC0415
    from ..dicom.files import CT_IMAGE_STORAGE, try_read_header  # noqa: PLC0415

    folder = Path(ct_folder)
    if not folder.is_dir():
        raise InputError(f"--ct {ct_folder}: give the folder of the planning CT series")
    geometry = read_ct_geometry(folder)
    nx, ny, nz = geometry.size
    normal = np.asarray(geometry.direction)[:, 2]
    origin = np.asarray(geometry.origin_mm)
    slices: Dict[int, NDArray[np.float64]] = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        header = try_read_header(file)
        if (header is None or str(header.get("SOPClassUID", "")) != CT_IMAGE_STORAGE
                or str(header.get("SeriesInstanceUID", "")) != geometry.series_instance_uid):
            continue
        ds = pydicom.dcmread(str(file))
        along = float((np.asarray(ds.ImagePositionPatient, dtype=float) - origin) @ normal)
        k = round(along / geometry.spacing_mm[2])
        try:
            pixels = np.asarray(ds.pixel_array, dtype=np.float64)
        except Exception as exc:  # pydicom raises several kinds for undecodable pixel data
            raise InputError(f"{file}: the CT pixels cannot be decoded ({type(exc).__name__}: {exc}); export "
                             "the CT uncompressed, or plan with --bulk-density") from None
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        if pixels.shape != (ny, nx) or not 0 <= k < nz:
            raise InputError(f"{file}: pixels {pixels.shape} at slice {k} do not fit the series' grid "
                             f"({ny} x {nx}, {nz} slices)")
        slices[k] = pixels * slope + intercept
    if len(slices) != nz:
        raise InputError(f"--ct {ct_folder}: {nz - len(slices)} of {nz} slices could not be placed; export "
                         "the series again")
    hu = np.stack([slices[k] for k in range(nz)])
    shifted = np.clip(hu + _OFFSET, 0.0, _MAX_HU + _OFFSET)
    source = DoseGrid(shifted, geometry.origin_mm, geometry.spacing_mm, geometry.direction,
                      frame_of_reference_uid=geometry.frame_of_reference_uid)
    sampled = source.resample(grid).grid.values_gy - _OFFSET  # outside the CT: -1024
    return np.asarray(np.clip(np.rint(sampled), AIR_HU, _MAX_HU), dtype=np.int16)
