"""RT Structure Set files as engine :class:`reirrad.snapshot.StructureData` (contours in mm).

DICOM (PS3.3 C.8.8.5 Structure Set, C.8.8.6 ROI Contour, C.8.8.8 RT ROI Observations):

* Each ROI of ``StructureSetROISequence`` (``ROINumber``, ``ROIName``, ``ReferencedFrameOfReferenceUID``)
  becomes one :class:`~reirrad.snapshot.StructureData`: ``id`` = ROIName (``"ROI <number>"`` when the
  name is empty), ``dicom_type`` = ``RTROIInterpretedType`` of the ``RTROIObservationsSequence`` item
  that references the ROI (``""`` when there is none or it is empty), ``frame_of_reference_uid`` = the
  ROI's ``ReferencedFrameOfReferenceUID`` (the set's frame when the ROI names none).
* Contours: ``ContourData`` is x1, y1, z1, x2, … in mm (patient coordinates) → an (N, 3) array.
  ``CLOSED_PLANAR`` and ``CLOSEDPLANAR_XOR`` contours (both combined by the engine's even–odd rule,
  which *is* XOR) are kept; ``POINT``, ``OPEN_PLANAR`` and ``OPEN_NONPLANAR`` contours enclose no
  volume and are **skipped**, as are closed contours that enclose no area: fewer than 3 distinct points
  (a repeated closing point does not count) or every point on one line (a Pinnacle export writes such
  contours; the engine, :mod:`reirrad.structures`, would refuse the whole structure for one of them).
  A closed contour with the same points as an earlier one of its ROI (to 0.001 mm, whatever its first
  point or direction) is skipped too: the even–odd rule would cancel the pair and remove that area
  from the organ (a lower DVH, with no error), where a repeated item is an export's repeat.
  Every skip is recorded in :attr:`RtStructureSet.skipped` with the plane of each contour (never
  silent); ``reirrad evaluate`` reports each as a ``contour-skipped`` flag finding naming the ROI, the
  plane and the file. The engine checks planarity and axial planes.
* An ROI without contours (an empty structure) is kept, with ``contours_mm == ()``.
* Duplicate ROI names are kept as they are; :meth:`RtStructureSet.structure` refuses an ambiguous name.
* ROI **numbers** tie the three sequences together, so they are refused when they do not do so
  unambiguously (never first-one-wins: one organ would be evaluated with another's contours): two ROIs
  sharing a ``ROINumber``, two ROI Contour items for one ROI, an ROI Contour item referencing a number
  that ``StructureSetROISequence`` does not define, and RT ROI Observations giving one ROI two
  different types (several agreeing observations are read: DICOM allows them).
* The set's ``frame_of_reference_uid``: the single frame of ``ReferencedFrameOfReferenceSequence``;
  when that sequence names several (or none), the one frame all ROIs reference; otherwise refused.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from reirrad.errors import InputError
from reirrad.snapshot import StructureData
from reirrad.structures import encloses_no_area  # the engine's own test: both agree on "no area"

from .attributes import float_values, required, required_text, sequence_items, text
from .files import RT_STRUCTURE_SET_STORAGE, PathLike, read_dataset
from .geometry import PATIENT_EXTENT_MM
from .identifiers import PatientStudy, patient_study

__all__ = ["CLOSED_CONTOUR_TYPES", "DUPLICATE", "NO_AREA", "TOO_FEW_POINTS", "RtStructureSet",
           "SkippedContours", "read_rt_struct"]

FloatArray = NDArray[np.float64]
#: ContourGeometricType values read as closed polygons.
CLOSED_CONTOUR_TYPES: Tuple[str, ...] = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")


#: Why a closed contour is skipped: fewer than 3 distinct points, all points on one line, or the same
#: points as an earlier contour of the ROI (on the same plane, whatever the first point or direction).
TOO_FEW_POINTS = "with < 3 points"
NO_AREA = "enclosing no area (points on a line)"
DUPLICATE = "repeating an earlier contour"
#: Coordinates (mm) are compared rounded to this many decimals when looking for a repeated contour.
_DUPLICATE_DECIMALS = 3


@dataclass(frozen=True)
class SkippedContours:
    """Contours of one ROI that were not read, by kind.

    Attributes
    ----------
    roi_name : str
    geometric_type : str
        ``ContourGeometricType`` (``POINT``, ``OPEN_PLANAR``, …), or a closed type followed by why it
        encloses no area: ``"CLOSED_PLANAR with < 3 points"``,
        ``"CLOSED_PLANAR enclosing no area (points on a line)"``.
    count : int
        Number of such contours.
    planes_z_mm : tuple of float or None
        The z (mm, patient coordinates) of each skipped contour's first point, in the file's order;
        None for a contour without readable points.
    """

    roi_name: str
    geometric_type: str
    count: int
    planes_z_mm: Tuple[Optional[float], ...] = ()

    def planes_text(self) -> str:
        """The planes as ``z = 12.5, 15 mm`` (``plane unknown`` for a contour without points)."""
        known = [f"{z:g}" for z in self.planes_z_mm if z is not None]
        text_ = f"z = {', '.join(known)} mm" if known else ""
        unknown = sum(1 for z in self.planes_z_mm if z is None)
        if unknown:
            text_ = f"{text_}; {unknown} without points" if text_ else "plane unknown"
        return text_


@dataclass(frozen=True, eq=False)
class RtStructureSet:
    """A structure set read from DICOM.

    Attributes
    ----------
    path, sop_instance_uid, patient_id, frame_of_reference_uid, label : str
        ``label`` is ``StructureSetLabel``.
    structures : tuple of StructureData
        One per ROI, in the file's order.
    skipped : tuple of SkippedContours
        Contours that were not read (see the module docstring).
    patient_study : PatientStudy
    """

    path: str
    sop_instance_uid: str
    patient_id: str
    frame_of_reference_uid: str
    label: str
    structures: Tuple[StructureData, ...]
    skipped: Tuple[SkippedContours, ...]
    patient_study: PatientStudy

    @property
    def names(self) -> Tuple[str, ...]:
        """The structure ids (ROI names) in the file's order."""
        return tuple(s.id for s in self.structures)

    def structure(self, name: str) -> StructureData:
        """The structure named ``name``.

        Raises
        ------
        reirrad.errors.InputError
            No such name (the names are listed), or several ROIs with that name.
        """
        found = [s for s in self.structures if s.id == name]
        if not found:
            raise InputError(f"{self.path}: no structure named {name!r} (found {list(self.names)})")
        if len(found) > 1:
            raise InputError(f"{self.path}: {len(found)} structures are named {name!r}; rename them in the "
                             "TPS so that each name is unique")
        return found[0]


#: ContourData (3006,0050), DS.
CONTOUR_DATA_TAG = 0x30060050



def _contour_numbers(item: Dataset, where: str, roi: str, contour: int) -> Union[FloatArray, Sequence[float]]:
    """The numbers of a contour's ContourData, parsed from the element's raw bytes when possible.

    pydicom turns every value of a DS element into a decimal-string object (one Python object per
    coordinate; 2 s for a 2 MB structure set). When the element is still undecoded (pydicom 2.4
    and 3 leave elements raw until first access; ``Dataset.get_item`` does not decode them), its
    bytes are the DS text ``x1\\y1\\z1\\…`` (ASCII, padded with a space or NUL): they are parsed
    in one call by ``numpy.fromstring(text, sep="\\\\")`` (numpy's text parser, correctly rounded
    like the ``float`` that pydicom's DS float applies, so the coordinates are identical). When it
    stops early or the number of values differs from the number of backslash-separated fields, the
    first field ``float`` refuses is named. An element pydicom has already decoded is read
    through :func:`float_values`.

    Raises
    ------
    reirrad.errors.InputError
        No ContourData, an empty or non-numeric value, or a non-finite value (naming the ROI and
        the contour's position in its ContourSequence, from 0).
    """
    fix = (f"ROI {roi!r}, contour {contour}: a contour item must give its points (x, y, z mm); export "
           "the structure set again")
    element = item.get_item(CONTOUR_DATA_TAG) if CONTOUR_DATA_TAG in item else None
    raw = None if element is None else element.value
    if not isinstance(raw, bytes) or element is None or element.VR not in (None, "DS"):
        return float_values(item, "ContourData", where, fix=fix)
    text = raw.rstrip(b" \x00")
    if not text:
        return float_values(item, "ContourData", where, fix=fix)  # empty: the Type 1 error
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (not raises) when it stops at a bad value
        try:
            values: Optional[FloatArray] = np.fromstring(text, dtype=np.float64, sep="\\")
        except (ValueError, DeprecationWarning):
            values = None
    parts = text.split(b"\\")
    if values is None or len(values) != len(parts):
        bad = next((p for p in parts if not _is_number(p)), text)
        raise InputError(f"{where}: ROI {roi!r}, contour {contour}: ContourData (3006,0050) holds "
                         f"{bad.decode('ascii', 'replace')!r}, which is not a number; the file is "
                         "malformed") from None
    finite = np.isfinite(values)
    if not finite.all():
        raise InputError(f"{where}: ROI {roi!r}, contour {contour}: ContourData (3006,0050) holds a "
                         f"non-finite value ({float(values[~finite][0])!r}); {fix}")
    return values


def _is_number(text: bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _contour_points(item: Dataset, where: str, roi: str, contour: int = 0) -> FloatArray:
    values = _contour_numbers(item, where, roi, contour)
    if len(values) % 3:
        raise InputError(f"{where}: ROI {roi!r}: ContourData (3006,0050) has {len(values)} numbers, not a "
                         "multiple of 3 (x, y, z per point); the file is malformed")
    stated = item.get("NumberOfContourPoints")
    if stated not in (None, "") and int(stated) != len(values) // 3:
        raise InputError(f"{where}: ROI {roi!r}: NumberOfContourPoints (3006,0046) is {int(stated)} but "
                         f"ContourData holds {len(values) // 3} points; the file is malformed")
    points = np.array(values, dtype=np.float64).reshape(-1, 3)
    if len(points) and float(np.abs(points).max()) > PATIENT_EXTENT_MM:
        worst = float(points.flat[int(np.argmax(np.abs(points)))])
        raise InputError(f"{where}: ROI {roi!r}: contour {contour} has a coordinate of {worst:g} mm, beyond "
                         f"±{PATIENT_EXTENT_MM:g} mm of the patient origin, where no patient lies; the file "
                         "is malformed - export the structure set again")
    points.flags.writeable = False
    return points


def _first_z(item: Dataset, where: str, roi: str, contour: int) -> Optional[float]:
    """The z (mm) of a skipped (POINT, OPEN) contour's first point; None when it has no readable points."""
    try:
        points = _contour_points(item, where, roi, contour)
    except InputError:
        return None
    return float(points[0, 2]) if len(points) else None


def _encloses_no_area(points: FloatArray) -> Optional[str]:
    """Why a closed contour encloses no area (:data:`TOO_FEW_POINTS`, :data:`NO_AREA`), or None.

    The same tests as the engine's polygon validation (:mod:`reirrad.structures`): the repeated
    closing point is dropped, then fewer than 3 points, or every point on one line in (x, y)."""
    distinct = _distinct(points)
    if len(distinct) < 3:
        return TOO_FEW_POINTS
    if encloses_no_area(distinct[:, :2]):
        return NO_AREA
    return None


def _distinct(points: FloatArray) -> FloatArray:
    """A closed contour's points without a repeated closing point."""
    return points[:-1] if len(points) > 1 and np.allclose(points[0], points[-1]) else points


def _point_set(points: FloatArray) -> bytes:
    """A contour's distinct points (:func:`_distinct`) rounded to :data:`_DUPLICATE_DECIMALS` decimals of
    a mm and sorted: equal for two contours with the same points, whatever the first point or the
    direction (x, y and z: so on the same plane)."""
    rounded = np.round(_distinct(points), _DUPLICATE_DECIMALS) + 0.0  # + 0.0: -0.0 becomes 0.0
    return rounded[np.lexsort(rounded.T[::-1])].tobytes()


def _roi_contours(roi_contour: Optional[Dataset], where: str,
                  roi: str) -> Tuple[Tuple[FloatArray, ...], List[SkippedContours]]:
    if roi_contour is None:
        return (), []
    kept: List[FloatArray] = []
    seen = set()  # each kept contour's points, rounded and sorted (a repeat has the same)
    skipped: Dict[str, List[Optional[float]]] = {}
    for contour, item in enumerate(sequence_items(roi_contour, "ContourSequence")):
        kind = required_text(item, "ContourGeometricType", where,
                             fix=f"ROI {roi!r}: each contour must say whether it is closed").upper()
        if kind not in CLOSED_CONTOUR_TYPES:
            skipped.setdefault(kind, []).append(_first_z(item, where, roi, contour))
            continue
        points = _contour_points(item, where, roi, contour)
        why = _encloses_no_area(points)
        if why is not None:
            skipped.setdefault(f"{kind} {why}", []).append(float(points[0, 2]) if len(points) else None)
            continue
        key = _point_set(points)
        if key in seen:  # read twice, the even-odd rule would cancel the two and empty that area
            skipped.setdefault(f"{kind} {DUPLICATE}", []).append(float(points[0, 2]))
            continue
        seen.add(key)
        kept.append(points)
    return tuple(kept), [SkippedContours(roi, kind, len(zs), tuple(zs)) for kind, zs in skipped.items()]


def _set_frame(ds: Dataset, where: str, roi_frames: Sequence[str]) -> str:
    items = sequence_items(ds, "ReferencedFrameOfReferenceSequence")
    listed = [uid for uid in (text(item, "FrameOfReferenceUID") for item in items) if uid]
    if len(set(listed)) == 1:
        return listed[0]
    used = sorted({uid for uid in roi_frames if uid})
    if len(used) == 1:
        return used[0]
    raise InputError(
        f"{where}: the structure set's frame of reference is unclear: ReferencedFrameOfReferenceSequence "
        f"names {sorted(set(listed)) or 'none'} and the ROIs reference {used or 'none'}; export a structure "
        "set on one image (one frame of reference)"
    )


def _roi_number(value: object, where: str) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise InputError(f"{where}: ROI number {value!r} is not a whole number; the file is "
                         "malformed") from exc


def _by_roi_number(items: Sequence[Dataset], where: str, sequence: str,
                   names: Mapping[int, str]) -> Dict[int, Dataset]:
    """The items of ``sequence`` (the ROI Contour Sequence) by the ROI number they reference.

    Refused (never first-one-wins, never silently dropped): two items for one ROI (which of them holds
    that ROI's contours or type is unknown), and an item referencing an ROI number that
    ``StructureSetROISequence`` does not define (whose contours would be lost, the ROI they were meant
    for reading as empty).
    """
    found: Dict[int, Dataset] = {}
    for item in items:
        fix = "each item must name the ROI it belongs to; the file is malformed"
        number = _roi_number(required(item, "ReferencedROINumber", where, fix=fix), where)
        if number not in names:
            raise InputError(
                f"{where}: {sequence} has an item for ROI number {number}, which StructureSetROISequence "
                f"does not define (its ROI numbers: {sorted(names)}); the item's ROI is unknown, so its "
                "contours could be taken for another structure or lost. The file is malformed: export the "
                "structure set again")
        if number in found:
            raise InputError(
                f"{where}: {sequence} has two items for ROI number {number} ({names[number]!r}); which one "
                "belongs to it is unknown. The file is malformed: export the structure set again")
        found[number] = item
    return found


def _interpreted_types(items: Sequence[Dataset], where: str, names: Mapping[int, str]) -> Dict[int, str]:
    """{ROI number: RTROIInterpretedType (upper case)} from RT ROI Observations items.

    DICOM does not limit an ROI to one observation (PS3.3 C.8.8.8), so several items for one ROI are
    read when they agree on the type (or only one gives it); two different types for one ROI are
    refused (an organ or a target?). An item for an ROI number the set does not define adds nothing
    and is ignored (it holds no contours).
    """
    found: Dict[int, str] = {}
    for item in items:
        fix = "each item must name the ROI it belongs to; the file is malformed"
        number = _roi_number(required(item, "ReferencedROINumber", where, fix=fix), where)
        kind = text(item, "RTROIInterpretedType").upper()
        if number not in names or not kind:
            continue
        if found.setdefault(number, kind) != kind:
            raise InputError(
                f"{where}: RTROIObservationsSequence gives ROI {names[number]!r} (number {number}) two "
                f"interpreted types, {found[number]!r} and {kind!r}; which one holds is unknown. Correct "
                "the ROI's type in the TPS and export the structure set again")
    return found


def _roi_names(rois: Sequence[Dataset], where: str) -> Dict[int, str]:
    """{ROINumber: ROIName} of ``StructureSetROISequence``; two ROIs sharing a number are refused (each
    would be given the other's contours)."""
    names: Dict[int, str] = {}
    for roi in rois:
        fix = "each ROI needs a number; the file is malformed"
        number = _roi_number(required(roi, "ROINumber", where, fix=fix), where)
        name = text(roi, "ROIName") or f"ROI {number}"
        if number in names:
            raise InputError(
                f"{where}: ROIs {names[number]!r} and {name!r} share ROINumber {number} in "
                "StructureSetROISequence; each must have its own number (which contours belong to which "
                "ROI is unknown). The file is malformed: export the structure set again")
        names[number] = name
    return names


def read_rt_struct(path: PathLike) -> RtStructureSet:
    """Read an RT Structure Set (RS) file.

    Returns
    -------
    RtStructureSet
        Structures with closed planar contours in mm, ROI names as ids.

    Raises
    ------
    reirrad.errors.InputError
        Not DICOM / not an RT Structure Set; no StructureSetROISequence; an ROI without ROINumber; a
        malformed contour (coordinates not in triples, a point count that disagrees); no single frame of
        reference.
    """
    where = str(path)
    ds = read_dataset(path, expected={RT_STRUCTURE_SET_STORAGE: "RT Structure Set"},
                      what="RT Structure Set (RS)")
    rois = sequence_items(ds, "StructureSetROISequence")
    if not rois:
        raise InputError(f"{where}: StructureSetROISequence (3006,0020) is missing or empty: the structure "
                         "set has no structures; export it again with its ROIs")
    names = _roi_names(rois, where)
    contours_by_roi = _by_roi_number(sequence_items(ds, "ROIContourSequence"), where, "ROIContourSequence",
                                     names)
    types = _interpreted_types(sequence_items(ds, "RTROIObservationsSequence"), where, names)
    frame = _set_frame(ds, where, [text(roi, "ReferencedFrameOfReferenceUID") for roi in rois])
    structures: List[StructureData] = []
    skipped: List[SkippedContours] = []
    for roi, (number, name) in zip(rois, names.items()):  # one entry per ROI, in the file's order
        contours, skips = _roi_contours(contours_by_roi.get(number), where, name)
        structures.append(StructureData(
            id=name,
            dicom_type=types.get(number, ""),
            contours_mm=contours,
            frame_of_reference_uid=text(roi, "ReferencedFrameOfReferenceUID") or frame,
        ))
        skipped.extend(skips)
    return RtStructureSet(
        path=where,
        sop_instance_uid=required_text(ds, "SOPInstanceUID", where, fix="the file is malformed"),
        patient_id=text(ds, "PatientID"),
        frame_of_reference_uid=frame,
        label=text(ds, "StructureSetLabel"),
        structures=tuple(structures),
        skipped=tuple(skipped),
        patient_study=patient_study(ds),
    )
