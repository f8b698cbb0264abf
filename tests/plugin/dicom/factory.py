"""Synthetic DICOM objects for the DICOM adapter tests, built with pydicom directly (not with the writer
under test) and saved to a temporary folder.

Every builder takes the attributes a test varies as keywords and writes a conforming object otherwise;
``omit`` removes attributes (to build malformed files) and ``extra`` sets or overrides any attribute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
REG = "1.2.840.10008.5.1.4.1.1.66.1"
DEFORMABLE_REG = "1.2.840.10008.5.1.4.1.1.66.3"

FRAME_A = "1.2.826.0.1.3680043.8.498.1001"
FRAME_B = "1.2.826.0.1.3680043.8.498.1002"
PLAN_UID = "1.2.826.0.1.3680043.8.498.2001"
STUDY_UID = "1.2.826.0.1.3680043.8.498.3001"
STRUCTURE_SET_UID = "1.2.826.0.1.3680043.8.498.4001"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
FEET_FIRST = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def ds_text(value: float) -> str:
    """A DS string (≤ 16 characters) for a test value."""
    text = repr(float(value))
    digits = 16
    while len(text) > 16:
        digits -= 1
        text = f"{value:.{digits}g}"
    return text


def save(ds: Dataset, path: Path) -> Path:
    """Save in the DICOM File Format with pydicom 2.x or 3.x.

    Deliberately not ``reirrad_tps.dicom.files.save_dataset``: the fixtures stay independent of the
    writer under test (module docstring), so a fault in its file layer cannot hide in both."""
    if int(pydicom.__version__.split(".")[0]) < 3:
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.save_as(str(path), write_like_original=False)
    else:
        ds.save_as(str(path), enforce_file_format=True)
    return path


def base(sop_class: str, modality: str, *, frame_uid: Optional[str] = FRAME_A,
         patient_id: str = "REIRR-01") -> Dataset:
    """A dataset with file meta, SOP Common, Patient, Study and Series identifiers."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "TEST^REIRRAD"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "M"
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyID = "S1"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = generate_uid()
    if frame_uid is not None:
        ds.FrameOfReferenceUID = frame_uid
    return ds


def _finish(ds: Dataset, path: Path, omit: Iterable[str], extra: Optional[Mapping[str, Any]]) -> Path:
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    for keyword in omit:
        if keyword in ds:
            delattr(ds, keyword)
    return save(ds, path)


def rt_dose(path: Path, counts: np.ndarray, *, scaling: str = "0.001", ipp: Sequence[float] = (0.0, 0.0, 0.0),
            iop: Sequence[float] = AXIAL, pixel_spacing: Sequence[float] = (2.0, 2.0),
            offsets: Optional[Sequence[float]] = None, units: str = "GY", dose_type: str = "PHYSICAL",
            summation: str = "PLAN", frame_uid: str = FRAME_A, plan_uid: Optional[str] = PLAN_UID,
            single_frame: bool = False, omit: Iterable[str] = (), extra: Optional[Mapping[str, Any]] = None,
            ) -> Path:
    """An RT Dose of uint32 ``counts`` (frames, rows, cols); offsets default to relative 0, 2.5, 5, …"""
    counts = np.asarray(counts, dtype=np.uint32)
    nz, ny, nx = counts.shape
    ds = base(RT_DOSE, "RTDOSE", frame_uid=frame_uid)
    ds.ImagePositionPatient = [ds_text(v) for v in ipp]
    ds.ImageOrientationPatient = [ds_text(v) for v in iop]
    ds.PixelSpacing = [ds_text(v) for v in pixel_spacing]
    ds.SliceThickness = "2.5"
    if not single_frame:
        ds.NumberOfFrames = nz
        ds.FrameIncrementPointer = Tag(0x3004, 0x000C)
        ds.GridFrameOffsetVector = [ds_text(v) for v in (offsets if offsets is not None
                                                           else [2.5 * k for k in range(nz)])]
    ds.Rows, ds.Columns = ny, nx
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 32, 32, 31, 0
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = units, dose_type, summation
    ds.DoseGridScaling = scaling
    ds.DoseComment = "synthetic"
    if plan_uid is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_PLAN
        ref.ReferencedSOPInstanceUID = plan_uid
        ds.ReferencedRTPlanSequence = DicomSequence([ref])
    ds.PixelData = np.ascontiguousarray(counts[0] if single_frame else counts, dtype="<u4").tobytes()
    return _finish(ds, path, omit, extra)


Contour = Tuple[str, Sequence[Sequence[float]]]  # (ContourGeometricType, points)


def rt_struct(path: Path, rois: Sequence[Tuple[str, str, Sequence[Contour]]], *, frame_uid: str = FRAME_A,
              listed_frames: Optional[Sequence[str]] = None, sop_uid: Optional[str] = None,
              omit: Iterable[str] = (), extra: Optional[Mapping[str, Any]] = None) -> Path:
    """An RT Structure Set; each ROI is (name, RTROIInterpretedType, [(geometric type, points), …]);
    ``sop_uid`` its SOP Instance UID (a new one when None)."""
    ds = base(RT_STRUCT, "RTSTRUCT", frame_uid=frame_uid)
    if sop_uid is not None:
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.StructureSetLabel = "RS"
    frames = []
    for uid in (listed_frames if listed_frames is not None else [frame_uid]):
        item = Dataset()
        item.FrameOfReferenceUID = uid
        frames.append(item)
    ds.ReferencedFrameOfReferenceSequence = DicomSequence(frames)
    roi_items, contour_items, observations = [], [], []
    for number, (name, kind, contours) in enumerate(rois, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_uid
        roi.ROIName = name
        roi_items.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = number
        items = []
        for geometric_type, points in contours:
            item = Dataset()
            item.ContourGeometricType = geometric_type
            item.NumberOfContourPoints = len(points)
            item.ContourData = [ds_text(v) for p in points for v in p]
            items.append(item)
        if items:
            rc.ContourSequence = DicomSequence(items)
        contour_items.append(rc)
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = kind
        obs.ROIInterpreter = ""
        observations.append(obs)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    return _finish(ds, path, omit, extra)


def box_contours(x: Tuple[float, float], y: Tuple[float, float], zs: Iterable[float]) -> List[Contour]:
    """Closed rectangles [x0, x1] × [y0, y1] on the planes ``zs``."""
    return [("CLOSED_PLANAR", [(x[0], y[0], z), (x[1], y[0], z), (x[1], y[1], z), (x[0], y[1], z)])
            for z in zs]


def rt_plan(path: Path, *, n_fractions: Optional[int] = 25, prescriptions_gy: Sequence[float] = (45.0,),
            fraction_groups: int = 1, frame_uid: Optional[str] = FRAME_A, label: str = "PELVIS_45",
            plan_date: Optional[str] = "20220301", sop_uid: str = PLAN_UID, patient_id: str = "REIRR-01",
            structure_set_uid: str = STRUCTURE_SET_UID, omit: Iterable[str] = (),
            extra: Optional[Mapping[str, Any]] = None) -> Path:
    """An RT Plan header with fraction groups, dose references and a referenced structure set
    (``structure_set_uid``)."""
    ds = base(RT_PLAN, "RTPLAN", frame_uid=frame_uid, patient_id=patient_id)
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.RTPlanLabel = label
    ds.RTPlanName = label
    if plan_date is not None:
        ds.RTPlanDate = plan_date
    ds.ApprovalStatus = "APPROVED"
    groups = []
    for number in range(1, fraction_groups + 1):
        group = Dataset()
        group.FractionGroupNumber = number
        if n_fractions is not None:
            group.NumberOfFractionsPlanned = n_fractions
        groups.append(group)
    ds.FractionGroupSequence = DicomSequence(groups)
    ds.DoseReferenceSequence = DicomSequence(_site_prescriptions(prescriptions_gy, first=1))
    _reference_structure_set(ds, structure_set_uid)
    return _finish(ds, path, omit, extra)


def _site_prescriptions(doses_gy: Sequence[float], *, first: int) -> List[Dataset]:
    """SITE target dose references with ``TargetPrescriptionDose`` (Gy), numbered from ``first``."""
    refs = []
    for number, dose in enumerate(doses_gy, start=first):
        ref = Dataset()
        ref.DoseReferenceNumber = number
        ref.DoseReferenceStructureType = "SITE"
        ref.DoseReferenceType = "TARGET"
        ref.TargetPrescriptionDose = ds_text(dose)
        refs.append(ref)
    return refs


def _reference_structure_set(ds: Dataset, uid: str = STRUCTURE_SET_UID) -> None:
    rs = Dataset()
    rs.ReferencedSOPClassUID = RT_STRUCT
    rs.ReferencedSOPInstanceUID = uid
    ds.ReferencedStructureSetSequence = DicomSequence([rs])


def brachy_rt_plan(path: Path, *, n_fractions: Optional[int] = 4, setup_doses_gy: Sequence[float] = (7.0,),
                   treatment_type: Optional[str] = "HDR", technique: str = "INTRACAVITARY",
                   target_prescriptions_gy: Sequence[float] = (), frame_uid: Optional[str] = FRAME_A,
                   label: str = "HDR_7x4", sop_uid: str = PLAN_UID, patient_id: str = "REIRR-01",
                   omit: Iterable[str] = (), extra: Optional[Mapping[str, Any]] = None) -> Path:
    """A brachytherapy RT Plan header (PS3.3 C.8.8.15 RT Brachy Application Setups, C.8.8.13 Fraction
    Scheme): ``BrachyTreatmentType``/``Technique``, one application setup per dose in ``setup_doses_gy``
    (``BrachyApplicationSetupDose``, Gy per fraction, at a specification point), a point dose reference
    (point A), with a ``TargetPrescriptionDose`` only for the values in ``target_prescriptions_gy``."""
    ds = base(RT_PLAN, "RTPLAN", frame_uid=frame_uid, patient_id=patient_id)
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.RTPlanLabel = label
    ds.RTPlanName = label
    ds.RTPlanDate = "20241209"
    ds.RTPlanGeometry = "PATIENT"
    ds.ApprovalStatus = "APPROVED"
    ds.BrachyTreatmentTechnique = technique
    if treatment_type is not None:
        ds.BrachyTreatmentType = treatment_type
    group = Dataset()
    group.FractionGroupNumber = 1
    if n_fractions is not None:
        group.NumberOfFractionsPlanned = n_fractions
    group.NumberOfBeams = 0
    group.NumberOfBrachyApplicationSetups = len(setup_doses_gy)
    setup_refs, setups = [], []
    for number, dose in enumerate(setup_doses_gy, start=1):
        ref = Dataset()
        ref.ReferencedBrachyApplicationSetupNumber = number
        ref.BrachyApplicationSetupDoseSpecificationPoint = ["20.0", "14.0", "-30.0"]
        ref.BrachyApplicationSetupDose = ds_text(dose)
        setup_refs.append(ref)
        setup = Dataset()
        setup.ApplicationSetupNumber = number
        setup.ApplicationSetupType = "FLETCHER_SUIT"
        setup.TotalReferenceAirKerma = "0.0"
        setups.append(setup)
    group.ReferencedBrachyApplicationSetupSequence = DicomSequence(setup_refs)
    ds.FractionGroupSequence = DicomSequence([group])
    ds.ApplicationSetupSequence = DicomSequence(setups)
    point = Dataset()
    point.DoseReferenceNumber = 1
    point.DoseReferenceStructureType = "COORDINATES"
    point.DoseReferenceDescription = "Point A left"
    point.DoseReferencePointCoordinates = ["20.0", "14.0", "-30.0"]
    point.DoseReferenceType = "TARGET"
    ds.DoseReferenceSequence = DicomSequence([point, *_site_prescriptions(target_prescriptions_gy, first=2)])
    _reference_structure_set(ds)
    return _finish(ds, path, omit, extra)


def ct_slice(path: Path, *, ipp: Sequence[float], iop: Sequence[float] = AXIAL,
             pixel_spacing: Sequence[float] = (1.0, 1.0), rows: int = 8, columns: int = 10,
             frame_uid: str = FRAME_A, series_uid: str = "1.2.826.0.1.3680043.8.498.5001",
             extra: Optional[Mapping[str, Any]] = None) -> Path:
    """One CT image header (with a tiny pixel array)."""
    ds = base(CT_IMAGE, "CT", frame_uid=frame_uid)
    ds.SeriesInstanceUID = series_uid
    ds.ImagePositionPatient = [ds_text(v) for v in ipp]
    ds.ImageOrientationPatient = [ds_text(v) for v in iop]
    ds.PixelSpacing = [ds_text(v) for v in pixel_spacing]
    ds.SliceThickness = "2"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ds.PixelData = np.zeros((rows, columns), dtype="<i2").tobytes()
    return _finish(ds, path, (), extra)


def registration(path: Path, items: Sequence[Tuple[str, np.ndarray, str]], *, frame_uid: str = FRAME_A,
                 sop_class: str = REG, chain: bool = False) -> Path:
    """A Spatial Registration; each item is (frame UID, 4×4 matrix source → this object's frame, type)."""
    ds = base(sop_class, "REG", frame_uid=frame_uid)
    registrations = []
    for uid, matrix, kind in items:
        entry = _matrix_item(matrix, kind)
        matrix_registration = Dataset()
        matrix_registration.MatrixSequence = DicomSequence([entry, entry] if chain else [entry])
        item = Dataset()
        item.FrameOfReferenceUID = uid
        item.MatrixRegistrationSequence = DicomSequence([matrix_registration])
        registrations.append(item)
    ds.RegistrationSequence = DicomSequence(registrations)
    return save(ds, path)


def _matrix_item(matrix: np.ndarray, kind: str) -> Dataset:
    entry = Dataset()
    entry.FrameOfReferenceTransformationMatrixType = kind
    entry.FrameOfReferenceTransformationMatrix = [ds_text(v) for v in np.asarray(matrix).ravel()]
    return entry


def deformable_registration(path: Path, vectors_mm: Optional[np.ndarray], *, ipp: Sequence[float],
                            resolution_mm: Sequence[float], iop: Sequence[float] = AXIAL,
                            source_uid: str = FRAME_B, frame_uid: str = FRAME_A,
                            pre: Optional[np.ndarray] = None, post: Optional[np.ndarray] = None,
                            matrix_type: str = "RIGID", identity_item: bool = False,
                            dimensions: Optional[Sequence[int]] = None, omit: Iterable[str] = ()) -> Path:
    """A Deformable Spatial Registration (PS3.3 C.20.3) of frame ``frame_uid`` (the Registered RCS) with one
    item sampling ``source_uid``: ``vectors_mm`` (ZD, YD, XD, 3) written as float32 x, y, z triplets (i
    fastest), on the grid ``ipp`` / ``iop`` / ``resolution_mm`` (x, y, z); None writes the item without a
    grid. ``pre`` / ``post``: 4×4 Pre/Post Deformation matrices (absent when None); ``identity_item`` adds
    a first item for ``frame_uid`` itself without a grid (as some exporters do); ``dimensions`` overrides
    GridDimensions; ``omit`` removes attributes of the grid item."""
    ds = base(DEFORMABLE_REG, "REG", frame_uid=frame_uid)
    ds.ContentDate, ds.ContentTime = "20240101", "120000"
    items = []
    if identity_item:
        own = Dataset()
        own.SourceFrameOfReferenceUID = frame_uid
        own.RegistrationTypeCodeSequence = DicomSequence([])
        items.append(own)
    item = Dataset()
    item.SourceFrameOfReferenceUID = source_uid
    item.RegistrationTypeCodeSequence = DicomSequence([])
    if pre is not None:
        item.PreDeformationMatrixRegistrationSequence = DicomSequence([_matrix_item(pre, matrix_type)])
    if post is not None:
        item.PostDeformationMatrixRegistrationSequence = DicomSequence([_matrix_item(post, matrix_type)])
    if vectors_mm is not None:
        vectors = np.asarray(vectors_mm, dtype="<f4")
        zd, yd, xd, _ = vectors.shape
        grid = Dataset()
        grid.ImagePositionPatient = [ds_text(v) for v in ipp]
        grid.ImageOrientationPatient = [ds_text(v) for v in iop]
        grid.GridDimensions = list(dimensions) if dimensions is not None else [xd, yd, zd]
        grid.GridResolution = [float(v) for v in resolution_mm]
        grid.VectorGridData = np.ascontiguousarray(vectors).tobytes()
        for keyword in omit:
            if keyword in grid:
                delattr(grid, keyword)
        item.DeformableRegistrationGridSequence = DicomSequence([grid])
    items.append(item)
    ds.DeformableRegistrationSequence = DicomSequence(items)
    return save(ds, path)


def counts_ramp(shape: Tuple[int, int, int]) -> np.ndarray:
    """Distinct counts per voxel: 1000·k + 100·j + i + 1 (frame, row, column)."""
    nz, ny, nx = shape
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    return (1000 * k + 100 * j + i + 1).astype(np.uint32)


#: The boxes of :func:`small_case`: name → (x range mm, y range mm, RT ROI interpreted type).
SMALL_CASE_BOXES = {"PTV": ((-10, 10), (-10, 10), "PTV"), "SmallBowel": ((15, 30), (-10, 10), "ORGAN"),
                    "Colon": ((-30, -15), (-10, 10), "ORGAN"), "Bladder": ((-10, 10), (15, 30), "ORGAN"),
                    "SacralPlexus": ((-10, 10), (-30, -15), "ORGAN"),
                    "CaudaEquina": ((15, 30), (15, 30), "ORGAN")}


def small_case(out: Path, *, frame_uid: str, prior_uid: str, new_uid: str, prior_gy: float = 20.0,
               new_gy: float = 60.0, other_frame_uid: Optional[str] = None,
               rs_uid: Optional[str] = None) -> dict:
    """A small evaluable case: a 24×24×12 grid (5 mm) with a PTV and every non-optional OAR of the shipped
    protocol as boxes (:data:`SMALL_CASE_BOXES`); a prior course of ``prior_gy`` everywhere (25 fractions,
    ``prior_gy`` prescribed) and a new dose of ``new_gy`` everywhere. Returns the file paths by role
    (``rs``, ``rp_prior``, ``rd_prior``, ``rd_new``, and ``rd_other_frame`` — the prior dose in
    ``other_frame_uid`` — when that is given); ``rs_uid``: the structure set's SOP Instance UID."""
    shape = (12, 24, 24)
    ipp = (-57.5, -57.5, -27.5)
    zs = [-20.0 + 5.0 * k for k in range(9)]
    rois = [(name, kind, box_contours(x, y, zs)) for name, (x, y, kind) in SMALL_CASE_BOXES.items()]
    offsets = [5.0 * k for k in range(shape[0])]

    def dose(path: Path, gy: float, plan_uid: str, frame: str) -> str:
        counts = np.full(shape, round(gy / 1e-4), dtype=np.uint32)
        return str(rt_dose(path, counts, scaling="0.0001", ipp=ipp, pixel_spacing=(5.0, 5.0), offsets=offsets,
                           frame_uid=frame, plan_uid=plan_uid))

    files = {
        "rs": str(rt_struct(out / "rs.dcm", rois, frame_uid=frame_uid, sop_uid=rs_uid)),
        "rp_prior": str(rt_plan(out / "rp_prior.dcm", n_fractions=25, prescriptions_gy=(prior_gy,),
                                sop_uid=prior_uid, frame_uid=frame_uid)),
        "rd_prior": dose(out / "rd_prior.dcm", prior_gy, prior_uid, frame_uid),
        "rd_new": dose(out / "rd_new.dcm", new_gy, new_uid, frame_uid),
    }
    if other_frame_uid is not None:
        files["rd_other_frame"] = dose(out / "rd_other_frame.dcm", prior_gy, prior_uid, other_frame_uid)
    return files


def rt_dose_of_grid(path: Path, grid: Any, *, frame_uid: str, plan_uid: str, scale_gy: float = 1e-4,
                    shift_x_mm: float = 0.0) -> str:
    """An engine dose grid (TOTAL Gy, axis-aligned) as an RT Dose: counts = round(Gy / ``scale_gy``),
    position optionally shifted along x (to build a dose in another frame)."""
    sx, sy, sz = grid.spacing_mm
    ox, oy, oz = grid.origin_mm
    counts = np.rint(np.asarray(grid.values_gy) / scale_gy).astype(np.uint32)
    return str(rt_dose(path, counts, scaling=str(scale_gy), ipp=(ox + shift_x_mm, oy, oz),
                       pixel_spacing=(sy, sx), offsets=[k * sz for k in range(grid.shape[0])],
                       frame_uid=frame_uid, plan_uid=plan_uid))


def rois_of_snapshot(snapshot: Any) -> List[Tuple[str, str, List[Contour]]]:
    """The structures of an engine ``CaseSnapshot`` in the form :func:`rt_struct` takes."""
    return [(s.id, s.dicom_type, [("CLOSED_PLANAR", [tuple(p) for p in c]) for c in s.contours_mm])
            for s in snapshot.structures]
