"""RT Dose files as engine :class:`reirrad.dose.DoseGrid` objects of TOTAL dose in Gy (docs/design.md §5).

Reading order of :func:`read_rt_dose` (every step refuses what it cannot read safely; see
:mod:`.units` and :mod:`.geometry` for the decisions where DICOM leaves room):

1. The file must be an RT Dose (SOP Class 1.2.840.10008.5.1.4.1.1.481.2) with a FrameOfReferenceUID.
2. ``DoseUnits`` GY (``RELATIVE`` → :class:`reirrad.errors.UnitError`); ``DoseType`` PHYSICAL
   (``EFFECTIVE`` only through :func:`read_eqd2_dose`); ``DoseSummationType`` PLAN / MULTI_PLAN
   (total), FRACTION_SESSION (× ``n_fractions``, which must then be given) or FRACTION (the caller
   says whether it is a total or one fraction: the file cannot tell; :mod:`.units`); BEAM and
   the other partial doses are refused — reirrad does not sum per-beam files (a set of BEAM doses
   cannot be checked for completeness without the plan; export the plan dose instead).
3. Geometry from ImagePositionPatient / ImageOrientationPatient / PixelSpacing / GridFrameOffsetVector
   (relative or absolute, increasing or decreasing, any orientation; :mod:`.geometry`).
4. Pixels: uncompressed PixelData must hold exactly frames × rows × columns values (pydicom would
   only warn and cut or pad); ``pixel_array`` (frames, rows, cols) — a single frame is (rows, cols)
   — times ``DoseGridScaling`` (pydicom does not apply it), times the summation factor; negative
   stored values are refused.

The values keep the file's frame order: ``values_gy[k]`` is frame k, so with decreasing offsets the
grid's k axis points along −n (``direction[:, 2]``), and ``values_gy`` stays consistent with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from reirrad.dose import DoseGrid
from reirrad.errors import InputError

from .attributes import (
    attribute_label,
    float_values,
    optional_int,
    required_int,
    required_text,
    sequence_items,
    text,
    values_list,
)
from .files import RT_DOSE_STORAGE, PathLike, read_dataset
from .geometry import GridGeometry, check_position, rt_dose_geometry
from .identifiers import PatientStudy, patient_study
from .units import check_dose_type, dose_grid_scaling, dose_units_gy, total_dose_factor

__all__ = ["RtDoseInfo", "read_eqd2_dose", "read_rt_dose", "read_rt_dose_info"]

_RT_DOSE = {RT_DOSE_STORAGE: "RT Dose"}
_GRID_FRAME_OFFSET_VECTOR_TAG = 0x3004000C


@dataclass(frozen=True)
class RtDoseInfo:
    """Header of an RT Dose file (no pixel data).

    Attributes
    ----------
    path : str
        The file.
    sop_instance_uid, series_instance_uid, frame_of_reference_uid : str
    summation_type, dose_type, dose_units : str
        ``DoseSummationType``, ``DoseType``, ``DoseUnits`` as in the file (upper case, ``""`` when absent);
        not validated here (:func:`read_rt_dose` does).
    referenced_plan_uids : tuple of str
        SOP Instance UIDs of ``ReferencedRTPlanSequence`` (several for MULTI_PLAN, none when absent).
    patient_id : str
    comment : str
        ``DoseComment`` (``""`` when absent).
    patient_study : PatientStudy
        Identifiers to copy into objects derived from this dose.
    """

    path: str
    sop_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    summation_type: str
    dose_type: str
    dose_units: str
    referenced_plan_uids: Tuple[str, ...]
    patient_id: str
    comment: str
    patient_study: PatientStudy


def _frame_of_reference(ds: Dataset, where: str) -> str:
    return required_text(ds, "FrameOfReferenceUID", where,
                         fix="without it the dose cannot be placed relative to structures or other doses; "
                             "export the dose again from the TPS")


def _info(ds: Dataset, where: str) -> RtDoseInfo:
    items = sequence_items(ds, "ReferencedRTPlanSequence")
    plans = tuple(text(item, "ReferencedSOPInstanceUID") for item in items)
    return RtDoseInfo(
        path=where,
        sop_instance_uid=required_text(ds, "SOPInstanceUID", where, fix="the file is malformed"),
        series_instance_uid=text(ds, "SeriesInstanceUID"),
        frame_of_reference_uid=_frame_of_reference(ds, where),
        summation_type=text(ds, "DoseSummationType").upper(),
        dose_type=text(ds, "DoseType").upper(),
        dose_units=text(ds, "DoseUnits").upper(),
        referenced_plan_uids=tuple(uid for uid in plans if uid),
        patient_id=text(ds, "PatientID"),
        comment=text(ds, "DoseComment"),
        patient_study=patient_study(ds),
    )


def read_rt_dose_info(path: PathLike) -> RtDoseInfo:
    """The header of an RT Dose file, without reading its pixels.

    Raises
    ------
    reirrad.errors.InputError
        Not a DICOM file, not an RT Dose, or no SOPInstanceUID / FrameOfReferenceUID.
    """
    ds = read_dataset(path, expected=_RT_DOSE, what="RT Dose (RD)", stop_before_pixels=True)
    return _info(ds, str(path))


def _offsets(ds: Dataset, where: str, n_frames: int) -> Tuple[float, ...]:
    keyword = "GridFrameOffsetVector"
    if n_frames == 1 and keyword not in ds:
        return ()
    fix = "a multi-frame RT Dose must give the position of every frame (PS3.3 C.8.8.3.2); export it again"
    offsets = float_values(ds, keyword, where, fix=fix)
    if len(offsets) != n_frames:
        raise InputError(f"{where}: {attribute_label(keyword)} has {len(offsets)} values for {n_frames} "
                         "frames (NumberOfFrames); the file is malformed")
    pointer = ds.get("FrameIncrementPointer")
    if n_frames > 1 and pointer is not None:
        tags = [int(t) for t in values_list(pointer)]
        if _GRID_FRAME_OFFSET_VECTOR_TAG not in tags:
            raise InputError(f"{where}: FrameIncrementPointer (0028,0009) points at "
                             f"{[hex(t) for t in tags]}, not GridFrameOffsetVector (3004,000C) as an RT Dose "
                             "requires; the frame positions are unknown")
    return offsets


def _geometry(ds: Dataset, where: str, n_frames: int) -> GridGeometry:
    fix = "an RT Dose must carry the Image Plane module (PS3.3 C.7.6.2); export the dose again"
    thickness = ds.get("SliceThickness")
    try:
        slice_thickness = float(thickness) if thickness not in (None, "") else math.nan
    except (TypeError, ValueError):
        slice_thickness = math.nan
    return rt_dose_geometry(
        ipp=check_position(float_values(ds, "ImagePositionPatient", where, count=3, fix=fix), where,
                           what="dose grid"),
        iop=float_values(ds, "ImageOrientationPatient", where, count=6, fix=fix),
        pixel_spacing=float_values(ds, "PixelSpacing", where, count=2, fix=fix),
        offsets=_offsets(ds, where, n_frames),
        slice_thickness=slice_thickness,
        where=where,
    )


def _check_pixel_length(ds: Dataset, where: str, shape: Tuple[int, int, int]) -> None:
    """Uncompressed pixel data must hold exactly frames × rows × columns values (pydicom would only warn
    and cut, or pad, reading the wrong voxels)."""
    bits = required_int(ds, "BitsAllocated", where, minimum=8, fix="the Image Pixel module is incomplete")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        return
    expected = shape[0] * shape[1] * shape[2] * (bits // 8)
    actual = len(ds.PixelData)
    if actual not in (expected, expected + 1):  # one padding byte makes an odd length even
        raise InputError(f"{where}: PixelData holds {actual} bytes but NumberOfFrames x Rows x Columns "
                         f"x BitsAllocated/8 = {shape[0]} x {shape[1]} x {shape[2]} x {bits // 8} = "
                         f"{expected}; "
                         "the header does not describe the pixels - export the dose again")


def _pixels(ds: Dataset, where: str, shape: Tuple[int, int, int]) -> NDArray[np.float64]:
    """The stored integers as float64, shape (frames, rows, cols)."""
    if "PixelData" not in ds:
        raise InputError(f"{where}: the RT Dose has no PixelData (7FE0,0010) (a DVH-only RT Dose?); export "
                         "the 3-D dose grid")
    _check_pixel_length(ds, where, shape)
    try:
        stored = np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError, ValueError, AttributeError, TypeError) as exc:
        raise InputError(f"{where}: the pixel data cannot be decoded ({type(exc).__name__}: {exc}); export "
                         "the dose uncompressed (Explicit VR Little Endian)") from exc
    if stored.ndim == 2 and shape[0] == 1:
        stored = stored[np.newaxis]
    if stored.shape != shape:
        raise InputError(f"{where}: the pixel data has shape {stored.shape}, NumberOfFrames/Rows/Columns say "
                         f"{shape}; the file is malformed")
    if stored.dtype.kind not in "iu":
        raise InputError(f"{where}: the pixel data is {stored.dtype}, not integers scaled by DoseGridScaling")
    if stored.dtype.kind == "i" and stored.size and int(stored.min()) < 0:
        raise InputError(f"{where}: the pixel data holds negative values (min {int(stored.min())}); a dose "
                         "cannot be negative (is this a dose difference?)")
    return stored.astype(np.float64)


def _read_grid(path: PathLike, *, dose_type: str, n_fractions: Optional[int], quantity: str,
               alpha_beta_gy: Optional[float], fraction_summation: Optional[str]) -> DoseGrid:
    where = str(path)
    ds = read_dataset(path, expected=_RT_DOSE, what="RT Dose (RD)")
    frame = _frame_of_reference(ds, where)
    gy_per_unit = dose_units_gy(ds, where)
    check_dose_type(ds, where, expected=dose_type)
    factor = total_dose_factor(ds, where, n_fractions, fraction_summation)
    scaling = dose_grid_scaling(ds, where)
    n_frames = optional_int(ds, "NumberOfFrames", where, minimum=1) or 1
    fix = "the Image Pixel module is incomplete; export the dose again"
    rows = required_int(ds, "Rows", where, minimum=1, fix=fix)
    cols = required_int(ds, "Columns", where, minimum=1, fix=fix)
    geometry = _geometry(ds, where, n_frames)
    values = _pixels(ds, where, (n_frames, rows, cols))
    stored_max = float(values.max()) if values.size else 0.0
    if not math.isfinite(stored_max * scaling * gy_per_unit * factor):  # e.g. DoseGridScaling 1e308
        raise InputError(f"{where}: the largest stored value {stored_max:g} x DoseGridScaling (3004,000E) "
                         f"{scaling:g} is not a finite dose; it is malformed; export the dose again")
    values *= scaling * gy_per_unit
    if factor != 1:
        values *= factor
    values.flags.writeable = False  # owned, read-only float64: adopted by DoseGrid without a copy
    return DoseGrid(values, geometry.origin_mm, geometry.spacing_mm, geometry.direction, quantity=quantity,
                    alpha_beta_gy=alpha_beta_gy, frame_of_reference_uid=frame)


def read_rt_dose(path: PathLike, *, n_fractions: Optional[int] = None,
                 fraction_summation: Optional[str] = None) -> DoseGrid:
    """An RT Dose file as the TOTAL physical dose in Gy on the engine convention.

    Parameters
    ----------
    path : str or os.PathLike
        The RT Dose (RD) file.
    n_fractions : int, optional
        The plan's number of fractions (``RtPlanInfo.require_n_fractions()``); required for a
        per-fraction dose (FRACTION_SESSION, or FRACTION read as per-fraction), unused otherwise.
    fraction_summation : {"total", "per-fraction"}, optional
        How to read a DoseSummationType FRACTION file (DICOM: a whole fraction group; some exporters:
        one fraction); required for one, ignored otherwise (:mod:`.units`).

    Returns
    -------
    reirrad.dose.DoseGrid
        ``quantity="physical"``, ``frame_of_reference_uid`` from the file.

    Raises
    ------
    reirrad.errors.UnitError
        DoseUnits RELATIVE (or anything but GY).
    reirrad.errors.InputError
        Not DICOM / not an RT Dose; no FrameOfReferenceUID or DoseGridScaling; DoseType other than
        PHYSICAL; a partial summation type (BEAM, …); a per-fraction dose without ``n_fractions``;
        malformed or non-uniform geometry; undecodable or negative pixel data.
    """
    return _read_grid(path, dose_type="PHYSICAL", n_fractions=n_fractions, quantity="physical",
                      alpha_beta_gy=None, fraction_summation=fraction_summation)


def read_eqd2_dose(path: PathLike, *, alpha_beta_gy: Optional[float], n_fractions: Optional[int] = None,
                   fraction_summation: Optional[str] = None) -> DoseGrid:
    """An RT Dose of DoseType EFFECTIVE that the caller knows to hold EQD2 (e.g. written by reirrad).

    A DICOM file says "EFFECTIVE", never which model or α/β; the caller asserts both.

    Parameters
    ----------
    path : str or os.PathLike
        The RT Dose file.
    alpha_beta_gy : float or None
        The α/β of the whole map, Gy, or None for a map with a per-voxel α/β (no default: it is a
        physical parameter).
    n_fractions : int, optional
        As for :func:`read_rt_dose`.
    fraction_summation : {"total", "per-fraction"}, optional
        As for :func:`read_rt_dose`.

    Returns
    -------
    reirrad.dose.DoseGrid
        ``quantity="eqd2"``.

    Raises
    ------
    reirrad.errors.UnitError, reirrad.errors.InputError
        As :func:`read_rt_dose`, with DoseType EFFECTIVE required instead of PHYSICAL.
    """
    return _read_grid(path, dose_type="EFFECTIVE", n_fractions=n_fractions, quantity="eqd2",
                      alpha_beta_gy=alpha_beta_gy, fraction_summation=fraction_summation)
