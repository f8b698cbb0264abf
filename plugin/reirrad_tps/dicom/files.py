"""Reading and writing DICOM files: the only module of the adapter that calls pydicom's file I/O.

* :func:`read_dataset` opens one file with ``pydicom.dcmread`` and checks its SOP Class, so an RT
  Plan handed to the RT Dose reader is named as such instead of failing on a missing attribute.
  A file without the DICOM preamble, ``DICM`` prefix and File Meta Information (PS3.10 §7.1; CMS
  Monaco writes such RT objects) is read again with ``force=True`` **only when** what was read is
  the expected object: its ``SOPClassUID`` is an expected one (or, without one, its ``Modality`` is
  the expected modality) and every attribute of :data:`MANDATORY_ATTRIBUTES` for that object is
  present. Anything else is refused as "not a DICOM file" (never pydicom's advice to use force).
  :func:`lacks_file_meta` tells the caller, which reports it as a ``flag`` finding.
* :func:`save_dataset` writes a dataset **atomically** (a temporary file in the target folder, then
  ``os.replace``): a reader or a TPS import never sees a half-written file, and a failed write
  leaves any previous file untouched. :func:`stage_dataset` writes the temporary file only, for a
  caller that commits it with other outputs.
* pydicom 2.x and 3.x differ in how a file is saved in the DICOM File Format: 2.x needs
  ``is_little_endian`` / ``is_implicit_VR`` set and ``save_as(..., write_like_original=False)``; 3.x
  takes the encoding from ``file_meta.TransferSyntaxUID`` and ``save_as(..., enforce_file_format=True)``
  (and warns about the 2.x attributes). :func:`save_dataset` is the one place that knows.

pydicom is imported here, when ``reirrad_tps.dicom`` is imported (``import reirrad_tps`` does not
import it); without it the import fails with a message naming the ``dicom`` extra.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple, Union, cast

from reirrad.errors import InputError
from reirrad.files import replace_staged, stage_file

try:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.errors import InvalidDicomError
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "reirrad_tps.dicom needs pydicom (>= 2.4): install the 'dicom' extra, e.g. "
        "python -m pip install 'reirrad[dicom]'"
    ) from exc

__all__ = [
    "CT_IMAGE_STORAGE",
    "DEFORMABLE_REGISTRATION_STORAGE",
    "MANDATORY_ATTRIBUTES",
    "PYDICOM_MAJOR",
    "RT_DOSE_STORAGE",
    "RT_ION_PLAN_STORAGE",
    "RT_PLAN_STORAGE",
    "RT_STRUCTURE_SET_STORAGE",
    "SPATIAL_REGISTRATION_STORAGE",
    "PathLike",
    "lacks_file_meta",
    "read_dataset",
    "save_dataset",
    "sop_class_name",
    "stage_dataset",
    "try_read_header",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Major version of the installed pydicom (2 or 3).
PYDICOM_MAJOR = int(str(pydicom.__version__).split(".")[0])

# SOP Class UIDs (DICOM PS3.4 Annex B.5).
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.8"
SPATIAL_REGISTRATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.1"
DEFORMABLE_REGISTRATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.3"

_SOP_CLASS_NAMES: Mapping[str, str] = {
    CT_IMAGE_STORAGE: "CT Image",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image",
    RT_DOSE_STORAGE: "RT Dose",
    RT_STRUCTURE_SET_STORAGE: "RT Structure Set",
    RT_PLAN_STORAGE: "RT Plan",
    RT_ION_PLAN_STORAGE: "RT Ion Plan",
    "1.2.840.10008.5.1.4.1.1.481.4": "RT Beams Treatment Record",
    SPATIAL_REGISTRATION_STORAGE: "Spatial Registration",
    DEFORMABLE_REGISTRATION_STORAGE: "Deformable Spatial Registration",
}


#: Modality of each SOP Class (PS3.3 C.8.8.1 RT Series, C.7.3.1 General Series, C.20.1 for REG).
_MODALITIES: Mapping[str, str] = {
    CT_IMAGE_STORAGE: "CT", RT_DOSE_STORAGE: "RTDOSE", RT_STRUCTURE_SET_STORAGE: "RTSTRUCT",
    RT_PLAN_STORAGE: "RTPLAN", RT_ION_PLAN_STORAGE: "RTPLAN", SPATIAL_REGISTRATION_STORAGE: "REG",
    DEFORMABLE_REGISTRATION_STORAGE: "REG",
}

#: Type 1 attributes of each object's defining module that a file read with ``force=True`` must have
#: to be taken as that object (PS3.3 C.8.8.3 RT Dose, C.8.8.5 Structure Set, C.8.8.9 RT General Plan,
#: C.7.6.2 Image Plane, C.20.2 Spatial Registration), besides SOP Instance UID (C.12.1).
MANDATORY_ATTRIBUTES: Mapping[str, Tuple[str, ...]] = {
    RT_DOSE_STORAGE: ("SOPInstanceUID", "DoseUnits", "DoseType", "DoseSummationType", "Rows", "Columns",
                      "PixelData"),
    RT_STRUCTURE_SET_STORAGE: ("SOPInstanceUID", "StructureSetLabel", "StructureSetROISequence"),
    RT_PLAN_STORAGE: ("SOPInstanceUID", "RTPlanLabel"),
    RT_ION_PLAN_STORAGE: ("SOPInstanceUID", "RTPlanLabel"),
    CT_IMAGE_STORAGE: ("SOPInstanceUID", "ImagePositionPatient", "ImageOrientationPatient",
                       "PixelSpacing", "Rows", "Columns"),
    SPATIAL_REGISTRATION_STORAGE: ("SOPInstanceUID", "RegistrationSequence"),
    DEFORMABLE_REGISTRATION_STORAGE: ("SOPInstanceUID", "DeformableRegistrationSequence"),
}


def sop_class_name(uid: str) -> str:
    """A readable name for a SOP Class UID (the UID itself when unknown)."""
    return _SOP_CLASS_NAMES.get(uid, f"SOP Class {uid}")


#: The first bytes of compressed files a DICOM file is sometimes delivered in, and what to do with each
#: (a file of these is refused with that advice, not as "not a DICOM file").
_PACKED_SIGNATURES: Tuple[Tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed; decompress it first (e.g. gunzip, or 7-Zip on Windows)"),
    (b"PK\x03\x04", "a ZIP archive; extract the {what} file from it first"),
    (b"BZh", "bzip2-compressed; decompress it first (e.g. bunzip2)"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first (e.g. unxz)"),
)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file; give the path of the {what} file exported from the TPS")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the path of the {what} file itself")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file (a device, pipe or socket); give the path of the "
                         f"{what} file itself")
    try:
        with open(str(path), "rb") as handle:
            head = handle.read(132)
    except OSError as exc:
        raise InputError(f"{path} cannot be read ({exc.strerror or exc}); check the file's permissions"
                         ) from None
    if not head:
        raise InputError(f"{path} is empty (0 bytes): the export or the copy did not complete; export the "
                         f"{what} again")
    for signature, advice in _PACKED_SIGNATURES:
        if head.startswith(signature) and head[128:132] != b"DICM":  # not a preamble that happens to match
            raise InputError(f"{path} is not a DICOM file but {advice.format(what=what)}")


def read_dataset(path: PathLike, *, expected: Mapping[str, str], what: str,
                 stop_before_pixels: bool = False) -> Dataset:
    """Read one DICOM file and check its SOP Class.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    expected : mapping of str to str
        Accepted SOP Class UIDs and their names.
    what : str
        What the caller expects (``"RT Dose"``), for messages.
    stop_before_pixels : bool, optional
        Do not read the pixel data (headers only).

    Returns
    -------
    pydicom.dataset.Dataset

    Raises
    ------
    reirrad.errors.InputError
        A missing file, a folder, a file that is not DICOM (no preamble / ``DICM`` prefix), an
        unreadable file, or a DICOM object of another kind than ``expected``.
    """
    file = Path(path)
    _check_file(file, what)
    ds: Dataset
    try:
        ds = pydicom.dcmread(str(file), stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        ds = _read_without_file_meta(file, expected=expected, what=what,
                                     stop_before_pixels=stop_before_pixels)
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{file} could not be read as DICOM ({type(exc).__name__}: {exc}); the file "
                         f"may be truncated or damaged - export the {what} again") from exc
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if sop_class not in expected:
        modality = str(ds.get("Modality", "") or "?")
        raise InputError(
            f"{file} is a {sop_class_name(sop_class) if sop_class else 'DICOM object without SOPClassUID'} "
            f"(Modality {modality}), not {' / '.join(sorted(set(expected.values())))}; give the {what} file"
        )
    return ds


def _not_dicom(file: Path, what: str, detail: str) -> InputError:
    return InputError(f"{file} is not a DICOM file ({detail}); give the {what} file exported from the TPS "
                      "(a DICOM file, normally with the 128-byte preamble and 'DICM')")


def _read_without_file_meta(file: Path, *, expected: Mapping[str, str], what: str,
                            stop_before_pixels: bool) -> Dataset:
    """A file without preamble / File Meta, read with ``force=True`` only when it is the expected
    object (module docstring); the SOP Class UID is filled in from the Modality when absent."""
    try:
        ds = pydicom.dcmread(str(file), force=True, stop_before_pixels=stop_before_pixels)
        sop_class = str(ds.get("SOPClassUID", "") or "")
        modality = str(ds.get("Modality", "") or "").upper()
    except Exception as exc:  # any failure of a forced read: not DICOM
        raise _not_dicom(file, what, f"no DICOM preamble, and it cannot be read as a DICOM data set: "
                                     f"{type(exc).__name__}") from None
    if sop_class not in expected:
        by_modality = [uid for uid in expected if _MODALITIES.get(uid) == modality]
        if sop_class or not by_modality:
            raise _not_dicom(file, what, "no DICOM preamble, and neither its SOP Class UID "
                                         f"({sop_class or 'absent'}) nor its Modality "
                                         f"({modality or 'absent'}) is that of an "
                                         f"{' / '.join(sorted(set(expected.values())))}")
        sop_class = by_modality[0]
    required = [k for k in MANDATORY_ATTRIBUTES.get(sop_class, ("SOPInstanceUID",))
                if not (stop_before_pixels and k == "PixelData")]
    try:
        missing = [k for k in required if k not in ds or ds.get(k) in (None, "")]
    except Exception as exc:  # garbage decoded as elements
        raise _not_dicom(file, what, f"no DICOM preamble, and its elements cannot be decoded: "
                                     f"{type(exc).__name__}") from None
    if missing:
        raise _not_dicom(file, what, f"no DICOM preamble, and it lacks {', '.join(missing)}, mandatory in an "
                                     f"{sop_class_name(sop_class)}")
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = sop_class
    return ds


def lacks_file_meta(path: PathLike) -> bool:
    """True when ``path`` has no DICOM preamble and ``DICM`` prefix (PS3.10 §7.1): not a conformant
    DICOM file, though :func:`read_dataset` may have accepted it (module docstring)."""
    try:
        with open(str(path), "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return head[128:132] != b"DICM"


def try_read_header(path: Path, *, specific_tags: Optional[Sequence[str]] = None) -> Optional[Dataset]:
    """The header of ``path`` when it is a DICOM file, None when it is not (used to scan a folder).

    ``specific_tags``: only these attributes (keywords) are read (pydicom ``dcmread(specific_tags=...)``;
    a sequence is read whole).

    Raises
    ------
    reirrad.errors.InputError
        A DICOM file that cannot be read (truncated, damaged).
    """
    try:
        with warnings.catch_warnings():
            # a DICOMDIR read without its DirectoryRecordSequence (not in specific_tags): pydicom warns
            warnings.filterwarnings("ignore", message=".*Media Storage Directory Storage",
                                    category=UserWarning)
            return pydicom.dcmread(str(path), stop_before_pixels=True,
                                   specific_tags=None if specific_tags is None else list(specific_tags))
    except InvalidDicomError:
        return None
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{path} could not be read as DICOM ({type(exc).__name__}: {exc}); remove it "
                         "from the folder or export the series again") from exc


def _save_as(ds: Dataset, filename: str) -> None:
    """Save in the DICOM File Format (preamble, file meta) with pydicom 2.x or 3.x."""
    writer = cast(Any, ds)  # the keyword differs between the two versions' signatures
    if PYDICOM_MAJOR >= 3:
        writer.save_as(filename, enforce_file_format=True)
    else:
        writer.is_little_endian = True
        writer.is_implicit_VR = False
        writer.save_as(filename, write_like_original=False)


def stage_dataset(ds: Dataset, path: PathLike) -> str:
    """Write ``ds`` to a new temporary file beside ``path`` and return the temporary file's path.

    The caller renames it into place (:func:`save_dataset`) or hands it to a run's record, which renames
    it with the run's other outputs (:meth:`reirrad.outputs.StagedRecord.adopt`). The file is tracked by
    :func:`reirrad.files.stage_file` (removed if the run stops first), gets the mode of the file it will
    replace, or 0644, and is in the transfer syntax of ``ds.file_meta.TransferSyntaxUID`` (Explicit VR
    Little Endian for everything reirrad writes).

    Raises
    ------
    reirrad.errors.InputError
        The folder does not exist (it is not created: a mistyped path must not create folders) or
        cannot be written, or ``path`` is a folder.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"cannot write {target}: a folder of that name is in the way; remove or rename it, "
                         "or write elsewhere")
    try:
        return stage_file(target, lambda tmp: _save_as(ds, tmp))
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc}") from exc


def save_dataset(ds: Dataset, path: PathLike) -> None:
    """Write ``ds`` to ``path`` atomically (:func:`stage_dataset`, then a rename).

    Raises
    ------
    reirrad.errors.InputError
        As :func:`stage_dataset`, or the rename failed (the previous file, if any, is untouched).
    """
    tmp = stage_dataset(ds, path)
    try:
        replace_staged(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc}") from exc
