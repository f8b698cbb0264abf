"""Writing reirrad's dose maps as RT Dose files that a TPS can import.

The adapter writes grids it is given (from :mod:`reirrad.biomaps`); it computes no radiobiology.
Content kinds (``content=``), each with the grid quantity it requires and the DoseType written:

==========================  ==========  =========  =====================================================
content                     quantity    DoseType   DoseComment
==========================  ==========  =========  =====================================================
``eqd2``                    eqd2        EFFECTIVE  ``reirrad EQD2 (alpha/beta 3 Gy) of <label>``
``effective-prior-eqd2``    eqd2        EFFECTIVE  ``reirrad effective prior EQD2 after recovery (…)``
``remaining-eqd2``          eqd2        EFFECTIVE  ``reirrad remaining tolerance <label>, EQD2 (…)``
``remaining-physical``      physical    PHYSICAL   ``reirrad remaining tolerance <label>, physical Gy in
                                                   <n> fx`` (``n_fractions`` required)
``plan-dose``               physical    PHYSICAL   ``reirrad plan dose <label>, physical Gy in <n> fx``
                                                   (a new plan's dose, e.g. the pyradplan backend's;
                                                   ``n_fractions`` required)
==========================  ==========  =========  =====================================================

``(…)`` is ``alpha/beta <g> Gy`` from ``grid.alpha_beta_gy``, or ``mixed alpha/beta`` for a map with
a per-voxel α/β. DoseComment and SeriesDescription are LO (at most 64 characters): a label that does
not fit is shortened there (ending ``...``); ``ImageComments`` (LT) carries the full label, the
caller's ``comment`` and the encoding.

Decisions:

* **Pixels**: uint32 (BitsAllocated/Stored 32, HighBit 31, PixelRepresentation 0), one frame per slice,
  ``DoseGridScaling`` = the smallest 10-significant-digit decimal ≥ max/(2³²−1) (a DS holds at most 16
  characters), counts = round(dose / scaling). Each voxel is thus within scaling/2 of the grid's value
  (≈ max · 1.2e-10). An all-zero grid is written with DoseGridScaling 1.
* **Summation**: ``DoseSummationType`` PLAN (one referenced plan) or MULTI_PLAN (several), both
  TOTAL doses; ``DoseUnits`` GY; ``ReferencedRTPlanSequence`` names the plan(s) (PLAN requires it).
* **Geometry** (:func:`reirrad_tps.dicom.geometry.plane_attributes`): IPP = first voxel centre,
  IOP = the grid's i and j axes, PixelSpacing = [Δy, Δx], relative and increasing
  GridFrameOffsetVector; a grid whose k axis is −(i × j) is written slice-reversed (same voxels).
* **Identity**: the patient and study identifiers of ``source`` (an RT Dose or RT Plan of the
  patient); new SOP Instance and Series Instance UIDs at every write; ``FrameOfReferenceUID`` of
  the grid (or ``frame_of_reference_uid`` when the grid has none — the engine's biological maps carry
  none). UTF-8 (``ISO_IR 192``) is declared only when a copied or given text is not ASCII.
* **Atomic**: the file appears complete or not at all (:func:`reirrad_tps.dicom.files.save_dataset`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import astuple, dataclass
from decimal import ROUND_CEILING, Decimal
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

import reirrad
from reirrad.dose import DoseGrid
from reirrad.errors import InputError

from .files import RT_DOSE_STORAGE, RT_PLAN_STORAGE, PathLike, save_dataset, stage_dataset
from .geometry import PlaneAttributes, plane_attributes
from .identifiers import PatientStudy
from .rtdose import RtDoseInfo
from .rtplan import RtPlanInfo

__all__ = ["CONTENT_KINDS", "WrittenRtDose", "dose_comment", "dose_grid_scaling_for", "write_rt_dose"]

_MAX_COUNT = 2**32 - 1
_LO_MAX = 64


@dataclass(frozen=True)
class _Kind:
    quantity: str
    dose_type: str


#: Content kinds: the grid quantity each requires and the DoseType written.
CONTENT_KINDS: Mapping[str, _Kind] = {
    "eqd2": _Kind("eqd2", "EFFECTIVE"),
    "effective-prior-eqd2": _Kind("eqd2", "EFFECTIVE"),
    "remaining-eqd2": _Kind("eqd2", "EFFECTIVE"),
    "remaining-physical": _Kind("physical", "PHYSICAL"),
    "plan-dose": _Kind("physical", "PHYSICAL"),
}


@dataclass(frozen=True)
class WrittenRtDose:
    """What was written (for the result record).

    Attributes
    ----------
    path, sop_instance_uid, series_instance_uid : str
    dose_grid_scaling : float
        Gy per stored count.
    dose_comment, dose_type, summation_type : str
    staged : str or None
        With ``write_rt_dose(..., stage=True)``: the temporary file beside ``path`` that holds it, not
        yet renamed into place (its caller commits it with the run's other outputs); otherwise None.
    """

    path: str
    sop_instance_uid: str
    series_instance_uid: str
    dose_grid_scaling: float
    dose_comment: str
    dose_type: str
    summation_type: str
    staged: Optional[str] = None


def _alpha_beta_text(grid: DoseGrid) -> str:
    return "mixed alpha/beta" if grid.alpha_beta_gy is None else f"alpha/beta {grid.alpha_beta_gy:g} Gy"


def _fit(template: str, label: str) -> str:
    """``template`` with ``{label}`` filled, the label shortened (ending "...") to keep 64 characters."""
    room = _LO_MAX - (len(template) - len("{label}"))
    if len(label) > room:
        label = label[: max(room - 3, 0)] + "..."
    return template.replace("{label}", label)


def dose_comment(content: str, grid: DoseGrid, *, label: str = "", n_fractions: Optional[int] = None) -> str:
    """The DoseComment for ``content`` (see the module table), at most 64 characters.

    Raises
    ------
    reirrad.errors.InputError
        Unknown content, a grid of the wrong quantity, or ``remaining-physical`` without ``n_fractions``.
    """
    kind = CONTENT_KINDS.get(content)
    if kind is None:
        raise InputError(f"content must be one of {sorted(CONTENT_KINDS)} (got {content!r})")
    if grid.quantity != kind.quantity:
        raise InputError(f"content {content!r} needs a grid of quantity {kind.quantity!r}, got "
                         f"{grid.quantity!r}; write physical maps as 'remaining-physical' and EQD2 maps as "
                         "one of the EQD2 kinds")
    named = " {label}" if label else ""
    ab = _alpha_beta_text(grid)
    if content == "eqd2":
        template = f"reirrad EQD2 ({ab}){' of {label}' if label else ''}"
    elif content == "effective-prior-eqd2":
        template = f"reirrad effective prior EQD2 after recovery ({ab})"
    elif content == "remaining-eqd2":
        template = f"reirrad remaining tolerance{named}, EQD2 ({ab})"
    else:
        if isinstance(n_fractions, bool) or not isinstance(n_fractions, int) or n_fractions < 1:
            raise InputError(f"content {content!r} needs n_fractions, the new course's number of "
                             f"fractions (a whole number >= 1; got {n_fractions!r})")
        what = "plan dose" if content == "plan-dose" else "remaining tolerance"
        template = f"reirrad {what}{named}, physical Gy in {n_fractions} fx"
    return _fit(template, label)


def dose_grid_scaling_for(max_gy: float) -> str:
    """DoseGridScaling as a DS: the smallest 10-significant-digit decimal ≥ ``max_gy``/(2³²−1); "1" for 0."""
    if not max_gy > 0.0:
        return "1"
    exact = Decimal(max_gy) / Decimal(_MAX_COUNT)
    quantum = Decimal(1).scaleb(exact.adjusted() - 9)
    return f"{exact.quantize(quantum, rounding=ROUND_CEILING):.9E}".replace("E", "e")


def _counts(values: NDArray[np.float64], scaling: float) -> bytes:
    counts = np.rint(values / scaling)
    np.clip(counts, 0, _MAX_COUNT, out=counts)
    return np.ascontiguousarray(counts, dtype="<u4").tobytes()


def _plans(source: Union[RtDoseInfo, RtPlanInfo],
           referenced_plan_uids: Optional[Sequence[str]]) -> Tuple[Tuple[str, ...], str]:
    if referenced_plan_uids is not None:
        uids = tuple(str(u) for u in referenced_plan_uids)
    elif isinstance(source, RtPlanInfo):
        uids = (source.sop_instance_uid,)
    else:
        uids = source.referenced_plan_uids
    if not uids or not all(uids):
        raise InputError(f"the written dose must reference its RT Plan (ReferencedRTPlanSequence, required "
                         f"for a PLAN dose) but {source.path} names none; pass referenced_plan_uids or an RT "
                         "Plan as source")
    plan_class = RT_PLAN_STORAGE
    if isinstance(source, RtPlanInfo) and source.sop_class_uid:
        plan_class = source.sop_class_uid
    return uids, plan_class


def _frame(grid: DoseGrid, given: Optional[str]) -> str:
    mine = grid.frame_of_reference_uid
    if mine and given and mine != given:
        raise InputError(f"frame_of_reference_uid {given} differs from the grid's {mine}; the grid's frame "
                         "is the one its coordinates are in")
    frame = mine or given
    if not frame:
        raise InputError("the grid has no frame of reference and none was given: pass frame_of_reference_uid "
                         "(the frame of the image the grid is on; the engine's EQD2 and tolerance maps carry "
                         "none)")
    return frame


def _identity(ds: Dataset, who: PatientStudy, source_path: str) -> None:
    if not who.patient_id or not who.study_instance_uid:
        raise InputError(f"{source_path} gives no PatientID or StudyInstanceUID; a TPS cannot file the new "
                         "dose under the patient - use the patient's RT Plan or RT Dose as source")
    ds.PatientName = who.patient_name
    ds.PatientID = who.patient_id
    ds.PatientBirthDate = who.patient_birth_date
    ds.PatientSex = who.patient_sex
    ds.StudyInstanceUID = who.study_instance_uid
    ds.StudyID = who.study_id
    ds.StudyDate = who.study_date
    ds.StudyTime = who.study_time
    ds.AccessionNumber = who.accession_number
    ds.ReferringPhysicianName = who.referring_physician_name


def _image(ds: Dataset, plane: PlaneAttributes, shape: Tuple[int, int, int]) -> None:
    nz, ny, nx = shape
    ds.ImagePositionPatient = list(plane.image_position)
    ds.ImageOrientationPatient = list(plane.image_orientation)
    ds.PixelSpacing = list(plane.pixel_spacing)
    ds.SliceThickness = plane.slice_thickness
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = Tag(0x3004, 0x000C)
    ds.Rows = ny
    ds.Columns = nx
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.GridFrameOffsetVector = list(plane.frame_offsets)


def _new_dataset(sop_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(RT_DOSE_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RT_DOSE_STORAGE
    ds.SOPInstanceUID = UID(sop_uid)
    ds.Modality = "RTDOSE"
    now = dt.datetime.now()
    ds.InstanceCreationDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.Manufacturer = "reirrad"
    ds.SoftwareVersions = str(reirrad.__version__)[:_LO_MAX]
    return ds


def _texts(who: PatientStudy, *more: str) -> List[str]:
    return [*(str(v) for v in astuple(who)), *more]


def write_rt_dose(path: PathLike, grid: DoseGrid, *, content: str, source: Union[RtDoseInfo, RtPlanInfo],
                  label: str = "", n_fractions: Optional[int] = None,
                  referenced_plan_uids: Optional[Sequence[str]] = None,
                  frame_of_reference_uid: Optional[str] = None, comment: str = "",
                  stage: bool = False) -> WrittenRtDose:
    """Write ``grid`` as an RT Dose of TOTAL dose in Gy (see the module docstring for every choice).

    Parameters
    ----------
    path : str or os.PathLike
        The new file (replaced atomically if it exists; its folder must exist).
    grid : reirrad.dose.DoseGrid
        The map to write, Gy.
    content : str
        One of :data:`CONTENT_KINDS`.
    source : RtDoseInfo or RtPlanInfo
        The patient's dose or plan: patient and study identifiers are copied from it, and it gives the
        referenced plan (the plan itself, or the plan(s) the dose references).
    label : str, optional
        Course or structure the map is about (e.g. ``"prior course PELVIS_45"``, ``"small_bowel"``).
    n_fractions : int, optional
        The new course's fractions; required for ``remaining-physical``.
    referenced_plan_uids : sequence of str, optional
        Overrides the plan(s) taken from ``source``.
    frame_of_reference_uid : str, optional
        For a grid without a frame (it must match the grid's when both are known).
    comment : str, optional
        Free text added to ImageComments.
    stage : bool, optional
        Write a temporary file beside ``path`` only (:func:`reirrad_tps.dicom.files.stage_dataset`),
        named in the result's ``staged``, for the caller to commit with the run's other outputs
        (:meth:`reirrad.outputs.StagedRecord.adopt`); by default the file is put in place at once.

    Returns
    -------
    WrittenRtDose

    Raises
    ------
    reirrad.errors.InputError
        Unknown content or wrong grid quantity, a missing n_fractions, no frame of reference, no plan
        to reference, a source without patient/study identifiers, a folder that does not exist or
        cannot be written.
    """
    if not isinstance(grid, DoseGrid):
        raise InputError(f"grid must be a reirrad.dose.DoseGrid (got {type(grid).__name__})")
    text = dose_comment(content, grid, label=label, n_fractions=n_fractions)
    frame = _frame(grid, frame_of_reference_uid)
    plans, plan_class = _plans(source, referenced_plan_uids)
    plane = plane_attributes(grid.origin_mm, grid.spacing_mm, np.asarray(grid.direction), grid.shape[0])
    values = grid.values_gy[::-1] if plane.reverse_slices else grid.values_gy
    scaling_text = dose_grid_scaling_for(float(values.max()))
    sop_uid, series_uid = str(generate_uid()), str(generate_uid())

    ds = _new_dataset(sop_uid)
    if any(not t.isascii() for t in _texts(source.patient_study, label, comment)):
        ds.SpecificCharacterSet = "ISO_IR 192"
    _identity(ds, source.patient_study, source.path)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = None
    ds.SeriesDescription = text
    ds.FrameOfReferenceUID = frame
    ds.PositionReferenceIndicator = ""
    ds.InstanceNumber = 1
    _image(ds, plane, grid.shape)
    ds.DoseUnits = "GY"
    ds.DoseType = CONTENT_KINDS[content].dose_type
    ds.DoseSummationType = "PLAN" if len(plans) == 1 else "MULTI_PLAN"
    ds.DoseGridScaling = scaling_text
    ds.DoseComment = text
    references = []
    for uid in plans:
        item = Dataset()
        item.ReferencedSOPClassUID = plan_class
        item.ReferencedSOPInstanceUID = uid
        references.append(item)
    ds.ReferencedRTPlanSequence = DicomSequence(references)
    ds.ImageComments = " ".join(part for part in (
        f"{text}{' - ' + label if label else ''}.",
        comment.strip(),
        f"Written by reirrad {reirrad.__version__}: TOTAL dose over the course in Gy, uint32 counts x "
        f"DoseGridScaling {scaling_text} Gy.",
    ) if part)
    ds.PixelData = _counts(values, float(scaling_text))
    staged: Optional[str] = None
    if stage:
        staged = stage_dataset(ds, path)
    else:
        save_dataset(ds, path)
    return WrittenRtDose(path=str(path), sop_instance_uid=sop_uid, series_instance_uid=series_uid,
                         dose_grid_scaling=float(scaling_text), dose_comment=text, dose_type=ds.DoseType,
                         summation_type=ds.DoseSummationType, staged=staged)
