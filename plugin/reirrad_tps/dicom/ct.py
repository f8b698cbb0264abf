"""CT series geometry (PS3.3 C.7.6.2 Image Plane), and dose grids of zeros on it.

:func:`read_ct_geometry` reads the headers of one CT series (pixels are not read) and returns its
regular grid on the engine convention:

* Slices are sorted by their position along the slice normal n = row cosine × column cosine
  (``ImagePositionPatient · n``), never by InstanceNumber or file name; the grid's k axis is +n.
* Every slice must share ImageOrientationPatient (± 1e-4), PixelSpacing, Rows, Columns,
  FrameOfReferenceUID and SeriesInstanceUID; slice positions must be uniform within 0.01 mm, and
  every ImagePositionPatient must lie on the line through the first along n (a tilted-gantry series,
  whose slices are sheared, is refused: the engine's grids are not sheared).
* A **folder** is read non-recursively: files that are not DICOM and DICOM objects that are not CT
  images (RT Structure Sets, plans, DICOMDIR…) are ignored, and the folder must hold exactly one CT
  series unless ``series_instance_uid`` picks one. A **list of files** must hold CT images only.
* A series needs **at least 2 slices**: one slice gives no slice spacing from positions (and a dose
  grid of one plane holds no volume of any structure), so a single slice is refused with a message
  naming it, not accepted and later reported as "no structure inside the grid".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from reirrad.dose import DoseGrid
from reirrad.errors import InputError

from .attributes import float_values, required_int, required_text, text
from .files import CT_IMAGE_STORAGE, PathLike, read_dataset, try_read_header
from .geometry import (
    COSINE_TOL,
    POSITION_TOL_MM,
    check_position,
    check_spacing,
    orientation_matrix,
    slice_axis,
)
from .identifiers import PatientStudy, patient_study

__all__ = ["CtGeometry", "read_ct_geometry", "zero_dose_grid"]

FloatArray = NDArray[np.float64]
Triple = Tuple[float, float, float]
_CT = {CT_IMAGE_STORAGE: "CT Image"}


@dataclass(frozen=True, eq=False)
class CtGeometry:
    """The regular grid of a CT series on the engine convention.

    Attributes
    ----------
    origin_mm : tuple of 3 floats
        Centre of voxel [0, 0, 0] (first column, first row, first slice along n), (x, y, z) mm.
    spacing_mm : tuple of 3 floats
        (column spacing, row spacing, slice spacing) = (x, y, z) mm.
    size : tuple of 3 ints
        (nx, ny, nz) = (Columns, Rows, number of slices).
    direction : numpy.ndarray, shape (3, 3)
        Columns: row cosine, column cosine, n (read-only).
    frame_of_reference_uid, series_instance_uid : str
    patient_study : PatientStudy
    """

    origin_mm: Triple
    spacing_mm: Triple
    size: Tuple[int, int, int]
    direction: FloatArray
    frame_of_reference_uid: str
    series_instance_uid: str
    patient_study: PatientStudy

    def __post_init__(self) -> None:
        direction = np.array(self.direction, dtype=np.float64)
        direction.flags.writeable = False
        object.__setattr__(self, "direction", direction)


@dataclass(frozen=True)
class _Slice:
    where: str
    position: Tuple[float, ...]
    orientation: Tuple[float, ...]
    pixel_spacing: Tuple[float, ...]
    rows: int
    columns: int
    frame: str
    series: str


def _slice(ds: Dataset, where: str) -> _Slice:
    fix = "a CT image must carry the Image Plane module (PS3.3 C.7.6.2); export the series again"
    return _Slice(
        where=where,
        position=check_position(float_values(ds, "ImagePositionPatient", where, count=3, fix=fix), where,
                                what="CT slice"),
        orientation=float_values(ds, "ImageOrientationPatient", where, count=6, fix=fix),
        pixel_spacing=float_values(ds, "PixelSpacing", where, count=2, fix=fix),
        rows=required_int(ds, "Rows", where, minimum=1, fix=fix),
        columns=required_int(ds, "Columns", where, minimum=1, fix=fix),
        frame=required_text(ds, "FrameOfReferenceUID", where, fix="export the series again"),
        series=text(ds, "SeriesInstanceUID"),
    )


def _from_folder(folder: Path, series_instance_uid: Optional[str]) -> List[Tuple[Dataset, str]]:
    by_series: Dict[str, List[Tuple[Dataset, str]]] = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        ds = try_read_header(file)
        if ds is None or str(ds.get("SOPClassUID", "")) != CT_IMAGE_STORAGE:
            continue
        by_series.setdefault(text(ds, "SeriesInstanceUID"), []).append((ds, str(file)))
    if series_instance_uid is not None:
        if series_instance_uid not in by_series:
            raise InputError(f"{folder}: no CT image of series {series_instance_uid} (found "
                             f"{sorted(by_series) or 'no CT images'})")
        return by_series[series_instance_uid]
    if not by_series:
        raise InputError(f"{folder}: no CT image files (SOP Class CT Image Storage) in this folder")
    if len(by_series) > 1:
        counts = {uid: len(files) for uid, files in by_series.items()}
        raise InputError(f"{folder} holds {len(by_series)} CT series {counts}; pass series_instance_uid to "
                         "choose one, or give the series' files")
    return next(iter(by_series.values()))


def _check_consistent(slices: Sequence[_Slice]) -> None:
    first = slices[0]
    for s in slices[1:]:
        if not np.allclose(s.orientation, first.orientation, atol=COSINE_TOL):
            raise InputError(f"{s.where}: ImageOrientationPatient {list(s.orientation)} differs from "
                             f"{first.where} {list(first.orientation)}; one series must have one orientation")
        if not np.allclose(s.pixel_spacing, first.pixel_spacing, atol=1e-4) or (s.rows, s.columns) != (
                first.rows, first.columns):
            raise InputError(f"{s.where}: PixelSpacing/Rows/Columns {list(s.pixel_spacing)}, "
                             f"{s.rows}x{s.columns} differ from {first.where}; the slices are not one grid")
        if s.frame != first.frame:
            raise InputError(f"{s.where}: FrameOfReferenceUID {s.frame} differs from {first.where} "
                             f"({first.frame})")
        if s.series != first.series:
            raise InputError(f"{s.where}: SeriesInstanceUID {s.series} differs from {first.where} "
                             f"({first.series}); give the files of one series")


def read_ct_geometry(source: Union[PathLike, Sequence[PathLike]], *,
                     series_instance_uid: Optional[str] = None) -> CtGeometry:
    """The grid of a CT series from a folder or a list of files (headers only).

    Parameters
    ----------
    source : path or sequence of paths
        A folder holding the series (other files are ignored, see the module docstring), or the
        series' files.
    series_instance_uid : str, optional
        The series to take from a folder holding several.

    Raises
    ------
    reirrad.errors.InputError
        No CT image; several series; inconsistent orientation / spacing / size / frame / series;
        duplicate, non-uniform or sheared (tilted-gantry) slice positions; a non-CT file in a list;
        a single slice.
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        datasets = _from_folder(Path(source), series_instance_uid)
    else:
        files = [source] if isinstance(source, (str, os.PathLike)) else list(source)
        if not files:
            raise InputError("no CT files were given")
        datasets = [(read_dataset(f, expected=_CT, what="CT image", stop_before_pixels=True), str(f))
                    for f in files]
    slices = [_slice(ds, where) for ds, where in datasets]
    if len(slices) < 2:
        raise InputError(f"{slices[0].where} is the only CT image of the series: a CT geometry needs at "
                         "least 2 slices (the slice spacing comes from their positions, and one plane "
                         "holds no volume); give the folder or the files of the whole planning CT series")
    _check_consistent(slices)
    axes = orientation_matrix(slices[0].orientation, slices[0].where)
    normal = axes[:, 2]
    slices.sort(key=lambda s: float(np.asarray(s.position) @ normal))
    positions = np.array([s.position for s in slices])
    along = (positions - positions[0]) @ normal
    sheared = np.linalg.norm(positions - positions[0] - np.outer(along, normal), axis=1)
    if float(sheared.max()) > POSITION_TOL_MM:
        worst = slices[int(np.argmax(sheared))].where
        raise InputError(f"{worst}: the slice is {float(sheared.max()):.3f} mm off the line through the "
                         "first slice along the slice normal (a tilted gantry?); reirrad needs an "
                         "unsheared grid - reconstruct the CT without tilt")
    first = slices[0]
    step, _ = slice_axis(along, first.where, what="the CT slice positions (ImagePositionPatient)")
    check_spacing((first.pixel_spacing[1], first.pixel_spacing[0], step), first.where, what="CT",
                  z_source="the slice positions (ImagePositionPatient)")
    ds0 = datasets[0][0]
    return CtGeometry(
        origin_mm=(float(positions[0][0]), float(positions[0][1]), float(positions[0][2])),
        spacing_mm=(first.pixel_spacing[1], first.pixel_spacing[0], float(step)),
        size=(first.columns, first.rows, len(slices)),
        direction=axes,
        frame_of_reference_uid=first.frame,
        series_instance_uid=first.series,
        patient_study=patient_study(ds0),
    )


def zero_dose_grid(ct: CtGeometry, *, spacing_mm: Optional[Union[float, Sequence[float]]] = None) -> DoseGrid:
    """A DoseGrid of zeros on the CT's geometry, or covering it at another spacing.

    Parameters
    ----------
    ct : CtGeometry
    spacing_mm : float or sequence of 3 floats, optional
        Voxel size (x, y, z) mm of the new grid. None: the CT's own voxels (mind the memory: 8 bytes per
        voxel). Otherwise ``n = floor(extent / spacing) + 1`` voxels per axis, centred in the CT's
        voxel-centre box, along the CT's axes (the rule of the Eclipse adapter's ``image_dose_grid``).

    Raises
    ------
    reirrad.errors.InputError
        A non-positive spacing, or not 1 or 3 values.
    """
    if spacing_mm is None:
        spacing = np.asarray(ct.spacing_mm)
        size = np.asarray(ct.size)
        origin = np.asarray(ct.origin_mm)
    else:
        given = np.atleast_1d(np.asarray(spacing_mm, dtype=np.float64))
        if given.shape not in ((1,), (3,)) or not np.all(given > 0):
            raise InputError(f"spacing_mm must be one positive number or three (x, y, z) in mm "
                             f"(got {spacing_mm!r})")
        spacing = np.broadcast_to(given, (3,)).astype(np.float64)
        extent = np.asarray(ct.spacing_mm) * (np.asarray(ct.size) - 1)
        size = np.floor(extent / spacing + 1e-9).astype(int) + 1
        origin = np.asarray(ct.origin_mm) + ct.direction @ ((extent - (size - 1) * spacing) / 2.0)
    nx, ny, nz = (int(n) for n in size)
    return DoseGrid(np.zeros((nz, ny, nx)), (float(origin[0]), float(origin[1]), float(origin[2])),
                    (float(spacing[0]), float(spacing[1]), float(spacing[2])), ct.direction,
                    frame_of_reference_uid=ct.frame_of_reference_uid)
