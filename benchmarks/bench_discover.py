"""Scanning a patient folder for ``reirrad evaluate --dir`` (performance figures, printed, never asserted).

A synthetic export written with pydicom into a temporary folder: a planning CT of ``N_SLICES`` 512×512
slices, a structure set of 15 ROIs × 100 contours × 200 points, an RT Plan, an RT Dose referencing it
(150×128×128 uint32) and a text file. Timed once each (``time.perf_counter``, first call, after the files
were written so the page cache is warm):

1. :func:`reirrad_tps.dicom.discover.scan_folder` of the whole folder (``stop_before_pixels`` +
   ``specific_tags``, and the :class:`~reirrad_tps.dicom.discover.DicomObject` of each header);
2. ``pydicom.dcmread`` of every file (pixels included, as a scan without the two options reads them);
3. the structure set alone, header + ``DicomObject``, with and without ``specific_tags`` (best of 5):
   what ``specific_tags`` saves on a file whose contours are most of it (on CT slices it saves nothing
   measurable: their headers are small and ``stop_before_pixels`` already skips the pixels).

Run: ``PYTHONPATH=engine:plugin .venv/bin/python benchmarks/bench_discover.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from reirrad_tps.dicom.discover import HEADER_KEYWORDS, object_from_header, scan_folder

N_SLICES = 300
FRAME = generate_uid()
PLAN = generate_uid()


def _base(sop_class: str, modality: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, meta.MediaStorageSOPInstanceUID, modality
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "BENCH", "1.2.3", generate_uid()
    ds.FrameOfReferenceUID = FRAME
    return ds


def _save(ds: Dataset, path: Path) -> None:
    if int(pydicom.__version__.split(".")[0]) < 3:
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(str(path), write_like_original=False)
    else:
        ds.save_as(str(path), enforce_file_format=True)


def _write(root: Path) -> int:
    series = generate_uid()
    (root / "CT").mkdir()
    for k in range(N_SLICES):
        ds = _base("1.2.840.10008.5.1.4.1.1.2", "CT")
        ds.SeriesInstanceUID = series
        ds.ImagePositionPatient = [-250.0, -250.0, 2.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.Rows, ds.Columns = [0.98, 0.98], 512, 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = np.zeros((512, 512), dtype="<i2").tobytes()
        _save(ds, root / "CT" / f"{k:04d}.dcm")
    rs = _base("1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT")
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    contours: List[Dataset] = []
    rois: List[Dataset] = []
    for n in range(15):
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = n + 1, f"ROI{n}", FRAME
        rois.append(roi)
        items = []
        for k in range(100):
            item = Dataset()
            item.ContourGeometricType, item.NumberOfContourPoints = "CLOSED_PLANAR", 200
            pts = np.stack([50 * np.cos(angles), 50 * np.sin(angles), np.full(200, 2.5 * k)], axis=1)
            item.ContourData = [f"{v:.3f}" for v in pts.ravel()]
            items.append(item)
        rc = Dataset()
        rc.ReferencedROINumber, rc.ContourSequence = n + 1, DicomSequence(items)
        contours.append(rc)
    rs.StructureSetROISequence, rs.ROIContourSequence = DicomSequence(rois), DicomSequence(contours)
    _save(rs, root / "rs.dcm")
    plan = _base("1.2.840.10008.5.1.4.1.1.481.5", "RTPLAN")
    plan.SOPInstanceUID = plan.file_meta.MediaStorageSOPInstanceUID = PLAN
    plan.RTPlanLabel, plan.RTPlanDate = "BENCH", "20260101"
    _save(plan, root / "rp.dcm")
    dose = _base("1.2.840.10008.5.1.4.1.1.481.2", "RTDOSE")
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.481.5", PLAN
    dose.ReferencedRTPlanSequence = DicomSequence([ref])
    dose.DoseSummationType, dose.DoseType, dose.DoseUnits = "PLAN", "PHYSICAL", "GY"
    dose.Rows, dose.Columns, dose.NumberOfFrames = 128, 128, 150
    dose.BitsAllocated, dose.BitsStored, dose.HighBit, dose.PixelRepresentation = 32, 32, 31, 0
    dose.SamplesPerPixel, dose.PhotometricInterpretation = 1, "MONOCHROME2"
    dose.PixelData = np.zeros((150, 128, 128), dtype="<u4").tobytes()
    _save(dose, root / "rd.dcm")
    (root / "notes.txt").write_text("not DICOM\n")
    return N_SLICES + 4


def _once(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _timed(label: str, step: Callable[[], object]) -> None:
    start = time.perf_counter()
    step()
    print(f"{label:58s} {time.perf_counter() - start:7.3f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = _write(root)
        files = sorted(p for p in root.rglob("*.dcm"))
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"pydicom {pydicom.__version__}; {n} files ({N_SLICES} CT slices 512x512), {size:.0f} MB")
        _timed("scan_folder (stop_before_pixels + specific_tags)", lambda: scan_folder(root))
        _timed("dcmread of every DICOM file (pixels included)",
               lambda: [pydicom.dcmread(str(p)) for p in files])
        rs = root / "rs.dcm"
        print(f"structure set ({rs.stat().st_size / 1e6:.1f} MB), header + DicomObject, best of 5:")
        for label, tags in (("specific_tags", list(HEADER_KEYWORDS)), ("every attribute", None)):
            def step(tags: Optional[List[str]] = tags) -> object:
                ds = pydicom.dcmread(str(rs), stop_before_pixels=True, specific_tags=tags)
                return object_from_header(ds, str(rs))

            best = min(_once(step) for _ in range(5))
            print(f"  {label:56s} {best * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
