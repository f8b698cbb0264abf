"""Folder input for ``reirrad evaluate --dir PATIENT_FOLDER``: a case's DICOM objects found by references.

A TPS or PACS export is a folder tree of one file per object, with arbitrary names, possibly nested,
possibly with non-DICOM files (``DICOMDIR`` is DICOM but no object of a case; ``.txt`` files are not
DICOM). Three steps, each testable on its own:

1. :func:`scan_folder` reads every file's header **once** (``stop_before_pixels`` and only the
   attributes listed in :data:`HEADER_KEYWORDS`, so a folder of hundreds of CT slices is fast) into a
   :class:`DicomObject`. Files that are not DICOM are counted and skipped; a damaged DICOM file is
   refused (:func:`~reirrad_tps.dicom.files.try_read_header`).
2. :func:`group_case` is a pure function from those headers (and the user's choices) to a
   :class:`FolderCase`: it never reads a file.
3. :func:`apply_folder` puts the :class:`FolderCase` into the ``reirrad evaluate`` arguments, as the
   paths of ``--structures``, ``--new-dose``, ``--new-plan``, ``--prior-dose``, ``--prior-plan``,
   ``--prior-structures``, ``--registration`` and ``--ct``: the run then reads and checks those files
   exactly as if they had been given (:class:`~reirrad_tps.dicom.case.DicomCaseSource`).

What is matched by which reference (PS3.3):

* **RT Dose → RT Plan**: ``ReferencedRTPlanSequence`` (C.8.8.3). Only plan doses are candidates
  (``DoseSummationType`` PLAN, MULTI_PLAN, FRACTION, FRACTION_SESSION, ``DoseType`` PHYSICAL); BEAM,
  BRACHY and other partial doses, EFFECTIVE doses (EQD2 maps) and the remaining-tolerance maps reirrad
  writes (``DoseComment`` "reirrad remaining tolerance ...") are listed as not used.
* **RT Plan → RT Structure Set**: ``ReferencedStructureSetSequence`` (C.8.8.9). A plan's frame of
  reference is its own ``FrameOfReferenceUID``, else its structure set's, else its dose's.
* **RT Structure Set → CT series**: ``ReferencedFrameOfReferenceSequence`` → ``RTReferencedStudySequence``
  → ``RTReferencedSeriesSequence`` ``SeriesInstanceUID`` (C.8.8.5), else the only CT series in its frame.
* **Registrations** (Spatial Registration: ``RegistrationSequence`` items' ``FrameOfReferenceUID``;
  Deformable: ``DeformableRegistrationSequence`` items' ``SourceFrameOfReferenceUID``): a registration is
  used when it relates the planning frame to a prior dose's frame. Its own ``FrameOfReferenceUID`` (the
  Registered RCS) marks the planning frame when no plan is named.

The grouping (:func:`group_case`):

* **New plan**: ``--new-plan`` (a UID or a unique ending of one); else the only plan, among those not
  named by ``--prior-plan``, in a frame that a registration registers to (in any frame when the folder
  holds no registration). Several: a stop listing them. None: no new plan (a dry run over the CT).
* **Prior plans**: ``--prior-plan`` (each a UID or unique ending, in the order given), else every other
  plan, ordered by plan date then UID (the order of ``--interval-days`` / ``--prior-last-fraction``).
  Each needs exactly one plan dose; none or two: a stop.
* **Planning structure set**: ``--structures`` (UID), else the one the new plan references, else the only
  one in the planning frame; several: a stop. A prior plan's referenced structure set, when present and
  not the planning one, is given as ``--prior-structures`` (a frame check), when every prior has one.
* **Doses that match no plan** in the folder: a stop listing them, unless both the new plan and the prior
  plans were named (then they are listed as not used).
* **CT**: only when the new plan has no dose (the CT then defines the dose grid): the series the
  structure set references, given as its folder, which must hold no other CT series.
* Never guessed, and not in the folder: the interval since each prior course (DICOM RT Plans carry no
  treatment dates; ``RTPlanDate`` is when a plan was created). ``--interval-days`` or
  ``--prior-last-fraction`` with ``--planned-start`` stay the user's.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from pydicom.dataset import Dataset

from reirrad.errors import InputError

from .attributes import optional_text, sequence_items, text
from .files import (
    CT_IMAGE_STORAGE,
    DEFORMABLE_REGISTRATION_STORAGE,
    RT_DOSE_STORAGE,
    RT_ION_PLAN_STORAGE,
    RT_PLAN_STORAGE,
    RT_STRUCTURE_SET_STORAGE,
    SPATIAL_REGISTRATION_STORAGE,
    PathLike,
    sop_class_name,
    try_read_header,
)

__all__ = [
    "HEADER_KEYWORDS",
    "DicomObject",
    "FolderCase",
    "FolderPrior",
    "apply_folder",
    "discover",
    "folder_record",
    "group_case",
    "object_from_header",
    "scan_folder",
    "select_by_uid",
    "table",
]

#: The attributes :func:`scan_folder` reads from each file (``specific_tags``): identity, dates, labels and
#: the reference sequences; not the contours, beams, matrices of rigid items nor the pixels.
HEADER_KEYWORDS: Tuple[str, ...] = (
    "SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "Modality", "PatientID",
    "StudyDate", "SeriesDate", "ContentDate", "InstanceCreationDate", "RTPlanDate", "StructureSetDate",
    "RTPlanLabel", "StructureSetLabel", "SeriesDescription", "ContentLabel", "DoseComment", "DoseType",
    "DoseSummationType", "ReferencedRTPlanSequence", "ReferencedStructureSetSequence",
    "ReferencedFrameOfReferenceSequence", "RegistrationSequence", "DeformableRegistrationSequence",
)

_KINDS: Mapping[str, str] = {
    CT_IMAGE_STORAGE: "CT",
    RT_STRUCTURE_SET_STORAGE: "RTSTRUCT",
    RT_PLAN_STORAGE: "RTPLAN",
    RT_ION_PLAN_STORAGE: "RTPLAN",
    RT_DOSE_STORAGE: "RTDOSE",
    SPATIAL_REGISTRATION_STORAGE: "REG",
    DEFORMABLE_REGISTRATION_STORAGE: "DEFORMABLE-REG",
}
_REGISTRATION_KINDS = ("REG", "DEFORMABLE-REG")
_PLAN_DOSE_SUMMATIONS = ("PLAN", "MULTI_PLAN", "FRACTION", "FRACTION_SESSION")
_DATE_KEYWORDS: Mapping[str, Tuple[str, ...]] = {
    "RTPLAN": ("RTPlanDate",),
    "RTSTRUCT": ("StructureSetDate",),
    "CT": ("SeriesDate",),
}
_LABEL_KEYWORDS: Mapping[str, Tuple[str, ...]] = {
    "RTPLAN": ("RTPlanLabel",),
    "RTSTRUCT": ("StructureSetLabel",),
    "RTDOSE": ("DoseComment", "SeriesDescription"),
}
#: Characters of a UID shown in the table and in messages (its ending: a unique ending selects it).
UID_TAIL = 12


@dataclass(frozen=True)
class DicomObject:
    """What :func:`scan_folder` keeps of one DICOM file's header.

    Attributes
    ----------
    path : str
    kind : str
        ``CT``, ``RTSTRUCT``, ``RTPLAN``, ``RTDOSE``, ``REG`` (rigid), ``DEFORMABLE-REG`` or ``OTHER``.
    sop_class_uid, sop_instance_uid, series_instance_uid : str
        ``""`` when absent.
    frame_of_reference_uid : str or None
    date : str
        ``YYYY-MM-DD`` of the object's own date (plan date, structure set date, content or series date),
        else of the study; ``""`` when none.
    label : str
        Plan label, structure set label, dose comment or series description.
    patient_id : str
    referenced_plan_uids : tuple of str
        RT Dose: ``ReferencedRTPlanSequence``.
    referenced_structure_set_uid : str or None
        RT Plan: ``ReferencedStructureSetSequence[0]``.
    referenced_series_uids : tuple of str
        RT Structure Set: the series of ``ReferencedFrameOfReferenceSequence``.
    related_frame_uids : tuple of str
        Registrations: the frames of the items (rigid ``FrameOfReferenceUID``, deformable
        ``SourceFrameOfReferenceUID``).
    dose_type, summation_type : str
        RT Dose: ``DoseType``, ``DoseSummationType`` (upper case).
    """

    path: str
    kind: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str = ""
    frame_of_reference_uid: Optional[str] = None
    date: str = ""
    label: str = ""
    patient_id: str = ""
    referenced_plan_uids: Tuple[str, ...] = ()
    referenced_structure_set_uid: Optional[str] = None
    referenced_series_uids: Tuple[str, ...] = ()
    related_frame_uids: Tuple[str, ...] = ()
    dose_type: str = ""
    summation_type: str = ""

    @property
    def tail(self) -> str:
        """The UID's last :data:`UID_TAIL` characters, ``…``-prefixed when cut."""
        uid = self.sop_instance_uid
        return uid if len(uid) <= UID_TAIL else "…" + uid[-UID_TAIL:]

    def describe(self) -> str:
        """``RT Plan …498.2101 'PELVIS_45' 2022-03-01 (rp.dcm)``: for messages."""
        parts = [f"{_NAMES.get(self.kind, self.kind)} {self.tail}"]
        if self.label:
            parts.append(repr(self.label))
        if self.date:
            parts.append(self.date)
        return " ".join(parts) + f" ({self.path})"

    @property
    def unused_dose_reason(self) -> Optional[str]:
        """Why an RT Dose cannot be a plan's dose (None when it can)."""
        if self.summation_type not in _PLAN_DOSE_SUMMATIONS:
            return f"DoseSummationType {self.summation_type or '(absent)'}: not a whole plan's dose"
        if self.dose_type == "EFFECTIVE" or self.label.startswith("reirrad remaining tolerance"):
            return "a derived map (EQD2 or remaining tolerance), not a plan dose"
        return None


_NAMES: Mapping[str, str] = {"CT": "CT", "RTSTRUCT": "RT Struct", "RTPLAN": "RT Plan", "RTDOSE": "RT Dose",
                             "REG": "Registration", "DEFORMABLE-REG": "Deformable REG"}


@dataclass(frozen=True)
class FolderPrior:
    """One prior course found in the folder: its plan, its dose, its structure set when present."""

    plan: DicomObject
    dose: DicomObject
    structures: Optional[DicomObject] = None


@dataclass(frozen=True)
class FolderCase:
    """The case :func:`group_case` found.

    Attributes
    ----------
    folder : str
    planning_frame_uid : str
    structures : DicomObject
        The planning RT Structure Set.
    new_plan, new_dose : DicomObject or None
    priors : tuple of FolderPrior
        In the order of the ``--interval-days`` / ``--prior-last-fraction`` options.
    registrations : tuple of DicomObject
    ct_folder : str or None
        The planning CT series' folder, when the new plan has no dose.
    ct_files : tuple of str
        The planning CT series' files (empty when ``ct_folder`` is None).
    objects : tuple of DicomObject
        Everything found (one row per object in :func:`table`).
    roles : tuple of (str, str)
        (path, role) of every object used: ``new plan``, ``prior-1 dose``, ...
    not_used : tuple of (str, str)
        (path, reason) of the objects left out.
    skipped : int
        Files that are not DICOM.
    notes : tuple of str
        How the new plan was chosen; several patient IDs.
    """

    folder: str
    planning_frame_uid: str
    structures: DicomObject
    new_plan: Optional[DicomObject]
    new_dose: Optional[DicomObject]
    priors: Tuple[FolderPrior, ...]
    registrations: Tuple[DicomObject, ...]
    ct_folder: Optional[str]
    ct_files: Tuple[str, ...]
    objects: Tuple[DicomObject, ...] = field(repr=False)
    roles: Tuple[Tuple[str, str], ...] = ()
    not_used: Tuple[Tuple[str, str], ...] = ()
    skipped: int = 0
    notes: Tuple[str, ...] = ()

    def files_used(self) -> List[str]:
        """Every file the run reads, in the order of the roles."""
        return [path for path, _ in self.roles] + list(self.ct_files)

    def record(self) -> Dict[str, Any]:
        """What the result records (``dicom_folder``)."""
        return {
            "folder": self.folder,
            "planning_frame_of_reference_uid": self.planning_frame_uid,
            "files_used": [{"path": p, "role": r} for p, r in self.roles]
            + [{"path": p, "role": "planning CT"} for p in self.ct_files],
            "not_used": [{"path": p, "reason": r} for p, r in self.not_used],
            "non_dicom_files_skipped": self.skipped,
            "notes": list(self.notes),
        }


# -- 1. headers ------------------------------------------------------------------------------------------
def _date(ds: Dataset, kind: str) -> str:
    for keyword in (*_DATE_KEYWORDS.get(kind, ()), "ContentDate", "InstanceCreationDate", "SeriesDate",
                    "StudyDate"):
        raw = text(ds, keyword)
        if len(raw) >= 8 and raw[:8].isdigit():
            return f"{raw[:4]}-{raw[4:6]}-{raw[6:8]}"
    return ""


def _label(ds: Dataset, kind: str) -> str:
    for keyword in (*_LABEL_KEYWORDS.get(kind, ()), "ContentLabel", "SeriesDescription"):
        value = text(ds, keyword)
        if value:
            return value
    return ""


def _referenced_series(ds: Dataset) -> Tuple[str, ...]:
    found: List[str] = []
    for frame in sequence_items(ds, "ReferencedFrameOfReferenceSequence"):
        for study in sequence_items(frame, "RTReferencedStudySequence"):
            for series in sequence_items(study, "RTReferencedSeriesSequence"):
                uid = text(series, "SeriesInstanceUID")
                if uid and uid not in found:
                    found.append(uid)
    return tuple(found)


def _related_frames(ds: Dataset, kind: str) -> Tuple[str, ...]:
    if kind == "REG":
        items, keyword = sequence_items(ds, "RegistrationSequence"), "FrameOfReferenceUID"
    elif kind == "DEFORMABLE-REG":
        items, keyword = sequence_items(ds, "DeformableRegistrationSequence"), "SourceFrameOfReferenceUID"
    else:
        return ()
    return tuple(dict.fromkeys(uid for uid in (text(i, keyword) for i in items) if uid))


def object_from_header(ds: Dataset, path: str) -> DicomObject:
    """The :class:`DicomObject` of one header (any DICOM object; unknown kinds are ``OTHER``)."""
    sop_class = text(ds, "SOPClassUID")
    kind = _KINDS.get(sop_class, "OTHER")
    plans = tuple(uid for uid in (text(i, "ReferencedSOPInstanceUID")
                                  for i in sequence_items(ds, "ReferencedRTPlanSequence")) if uid)
    structure_sets = sequence_items(ds, "ReferencedStructureSetSequence")
    return DicomObject(
        path=path,
        kind=kind,
        sop_class_uid=sop_class,
        sop_instance_uid=text(ds, "SOPInstanceUID"),
        series_instance_uid=text(ds, "SeriesInstanceUID"),
        frame_of_reference_uid=optional_text(ds, "FrameOfReferenceUID"),
        date=_date(ds, kind),
        label=_label(ds, kind),
        patient_id=text(ds, "PatientID"),
        referenced_plan_uids=plans if kind == "RTDOSE" else (),
        referenced_structure_set_uid=(optional_text(structure_sets[0], "ReferencedSOPInstanceUID")
                                      if kind == "RTPLAN" and structure_sets else None),
        referenced_series_uids=_referenced_series(ds) if kind == "RTSTRUCT" else (),
        related_frame_uids=_related_frames(ds, kind),
        dose_type=text(ds, "DoseType").upper(),
        summation_type=text(ds, "DoseSummationType").upper(),
    )


def scan_folder(folder: PathLike) -> Tuple[Tuple[DicomObject, ...], int]:
    """Every DICOM object under ``folder`` (recursively), each file's header read once.

    Returns
    -------
    objects : tuple of DicomObject
        Sorted by path.
    skipped : int
        Files that are not DICOM (no preamble / ``DICM`` prefix).

    Raises
    ------
    reirrad.errors.InputError
        ``folder`` is not a folder; a DICOM file is damaged.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"--dir {root}: {'no such folder' if not root.exists() else 'not a folder'}; give "
                         "the folder of the patient's DICOM export")
    objects: List[DicomObject] = []
    skipped = 0
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        ds = try_read_header(file, specific_tags=HEADER_KEYWORDS)
        if ds is None:
            skipped += 1
            continue
        objects.append(object_from_header(ds, str(file)))
    _refuse_copies(objects, root)
    return tuple(objects), skipped


def _refuse_copies(objects: Sequence[DicomObject], root: Path) -> None:
    """Refuse a folder in which several files hold one DICOM object (one SOP Instance UID): a copy of a
    prior plan made one dose count as two courses (its cumulative EQD2 doubled), and two different
    structure sets under one UID were resolved by whichever file came last. Neither is guessed."""
    paths: Dict[str, List[str]] = defaultdict(list)
    for o in objects:
        if o.sop_instance_uid:
            paths[o.sop_instance_uid].append(o.path)
    repeated = sorted((uid, files) for uid, files in paths.items() if len(files) > 1)
    if repeated:
        uid, files = repeated[0]
        more = f" (and {len(repeated) - 1} more object(s) in several files)" if len(repeated) > 1 else ""
        raise InputError(
            f"--dir {root}: {len(files)} files hold one DICOM object (SOP Instance UID {uid}): "
            f"{', '.join(files)}{more}. An object must appear once: a copy would count a prior dose twice, "
            "and different files under one UID cannot be told apart - remove the copies (or the wrong file) "
            "from the folder")


# -- 2. grouping -----------------------------------------------------------------------------------------
def _listing(objects: Iterable[DicomObject]) -> str:
    return "".join(f"\n  {o.describe()}" for o in objects)


def select_by_uid(candidates: Sequence[DicomObject], wanted: str, option: str) -> DicomObject:
    """The candidate whose SOP Instance UID is ``wanted`` or ends with it (exactly one).

    Raises
    ------
    reirrad.errors.InputError
        No candidate, or several, match; the message lists the candidates.
    """
    key = wanted.strip()
    exact = [c for c in candidates if c.sop_instance_uid == key]
    matches = exact or ([c for c in candidates if c.sop_instance_uid.endswith(key)] if key else [])
    if len(matches) == 1:
        return matches[0]
    what = "no" if not matches else f"{len(matches)}"
    raise InputError(f"{option} {wanted!r}: {what} object of the folder has this UID or UID ending; the "
                     f"candidates are:{_listing(matches or candidates) or ' (none)'}\ngive a full UID, or an "
                     "ending that only one of them has")


def _by_uid(objects: Iterable[DicomObject]) -> Dict[str, DicomObject]:
    return {o.sop_instance_uid: o for o in objects if o.sop_instance_uid}


class _Grouping:
    """The state of one :func:`group_case` call (the objects by kind and the roles given so far)."""

    def __init__(self, objects: Sequence[DicomObject]) -> None:
        kinds: Dict[str, List[DicomObject]] = defaultdict(list)
        for o in objects:
            kinds[o.kind].append(o)
        self.plans = kinds["RTPLAN"]
        self.structure_sets = kinds["RTSTRUCT"]
        self.registrations = kinds["REG"] + kinds["DEFORMABLE-REG"]
        self.ct = kinds["CT"]
        self.plan_uids = _by_uid(self.plans)
        self.structure_uids = _by_uid(self.structure_sets)
        self.doses: Dict[str, List[DicomObject]] = defaultdict(list)
        self.unmatched: List[DicomObject] = []
        self.not_used: Dict[str, str] = {}
        for dose in kinds["RTDOSE"]:
            reason = dose.unused_dose_reason
            if reason is not None:
                self.not_used[dose.path] = reason
                continue
            known = [uid for uid in dose.referenced_plan_uids if uid in self.plan_uids]
            for uid in known:
                self.doses[uid].append(dose)
            if not known:
                self.unmatched.append(dose)
        for o in kinds["OTHER"]:
            self.not_used[o.path] = f"{sop_class_name(o.sop_class_uid)}: not an object of a case"

    def plan_frame(self, plan: DicomObject) -> Optional[str]:
        if plan.frame_of_reference_uid:
            return plan.frame_of_reference_uid
        rs = self.structure_uids.get(plan.referenced_structure_set_uid or "")
        if rs is not None and rs.frame_of_reference_uid:
            return rs.frame_of_reference_uid
        frames = {d.frame_of_reference_uid for d in self.doses.get(plan.sop_instance_uid, ())}
        return frames.pop() if len(frames) == 1 else None

    def dose_of(self, plan: DicomObject, role: str, *, required: bool) -> Optional[DicomObject]:
        doses = self.doses.get(plan.sop_instance_uid, [])
        if len(doses) > 1:
            raise InputError(f"the {role} {plan.describe()} has {len(doses)} plan doses in the folder (each "
                             "references it in ReferencedRTPlanSequence):"
                             f"{_listing(doses)}\nreirrad does not choose between them: remove the one not "
                             "to use from the folder, or give the files explicitly (--new-dose / "
                             "--prior-dose) without --dir")
        if not doses and required:
            raise InputError(f"the {role} {plan.describe()} has no RT Dose in the folder (no plan dose "
                             "references it in ReferencedRTPlanSequence); export its dose with it, or "
                             "name the prior plans to use with --prior-plan UID")
        return doses[0] if doses else None


def _new_plan(g: _Grouping, new_plan: Optional[str],
              priors: Sequence[DicomObject]) -> Tuple[Optional[DicomObject], str]:
    """The new plan and why it is the one (a note for the table and the record)."""
    if new_plan is not None:
        chosen = select_by_uid(g.plans, new_plan, "--new-plan")
        if chosen in priors:
            raise InputError(f"--new-plan and --prior-plan name the same plan {chosen.describe()}")
        return chosen, "named with --new-plan"
    pool = [p for p in g.plans if p not in priors]
    registered = {r.frame_of_reference_uid for r in g.registrations if r.frame_of_reference_uid}
    candidates = [p for p in pool if g.plan_frame(p) in registered] if registered else pool
    if len(candidates) > 1:
        where = ("in the frame a registration registers to" if registered
                 else "(the folder has no registration)")
        raise InputError(f"the folder holds {len(candidates)} candidate new plans {where}:"
                         f"{_listing(candidates)}\nreirrad does not guess which plan is the new one: give "
                         "--new-plan UID (a full UID or an ending only that plan has); the other plans are "
                         "then the prior plans unless --prior-plan names them")
    if not candidates:
        return None, "none: no plan in the frame the registrations register to (a dry run over the CT)"
    why = ("the only plan in the frame the registrations register to (their own FrameOfReferenceUID, "
           "PS3.3 C.20)" if registered else "the only plan not named by --prior-plan")
    return candidates[0], why


def _check_newest(new: DicomObject, priors: Sequence[DicomObject]) -> None:
    """A new plan found (not named) must not be older than a prior plan: else the references and the plan
    dates disagree (e.g. a registration made the other way round), and nothing is guessed."""
    older_than = [p for p in priors if p.date and new.date and p.date > new.date]
    if older_than:
        raise InputError(f"the plan found as the new one, {new.describe()}, was created (RTPlanDate) before "
                         f"the prior plan(s):{_listing(older_than)}\nthe registration may have been made the "
                         "other way round (the prior CT as the fixed image); reirrad does not guess: give "
                         "--new-plan UID (and --prior-plan UID)")


def _planning_frame(g: _Grouping, new_plan: Optional[DicomObject], structures: Optional[DicomObject],
                    priors: Sequence[DicomObject]) -> str:
    if structures is not None and structures.frame_of_reference_uid:
        return structures.frame_of_reference_uid
    if new_plan is not None:
        frame = g.plan_frame(new_plan)
        if frame is None:
            raise InputError(f"the new plan {new_plan.describe()} has no FrameOfReferenceUID, and "
                             "neither its structure set nor a dose in the folder gives one; give the files "
                             "explicitly")
        return frame
    frames = {r.frame_of_reference_uid for r in g.registrations if r.frame_of_reference_uid}
    if not frames:
        prior_sets = {p.referenced_structure_set_uid for p in priors}
        frames = {s.frame_of_reference_uid for s in g.structure_sets
                  if s.sop_instance_uid not in prior_sets and s.frame_of_reference_uid}
    if len(frames) != 1:
        raise InputError(f"the folder has no new plan and {len(frames)} candidate planning frames of "
                         f"reference ({sorted(frames)}); give --new-plan UID or --structures UID")
    return frames.pop()


def _structures(g: _Grouping, chosen: Optional[str], new_plan: Optional[DicomObject],
                frame: Optional[str]) -> DicomObject:
    if chosen is not None:
        return select_by_uid(g.structure_sets, chosen, "--structures")
    referenced = g.structure_uids.get(new_plan.referenced_structure_set_uid or "") if new_plan else None
    if referenced is not None:
        return referenced
    in_frame = [s for s in g.structure_sets if s.frame_of_reference_uid == frame]
    if len(in_frame) == 1:
        return in_frame[0]
    why = ("the new plan references structure set "
           f"{new_plan.referenced_structure_set_uid or '(none)'}, not in the folder; "
           if new_plan is not None else "")
    if not in_frame:
        raise InputError(f"{why}no RT Structure Set of the planning frame {frame} is in the folder; "
                         "export the planning structure set with the plans")
    raise InputError(f"{why}the folder holds {len(in_frame)} RT Structure Sets in the planning frame {frame}:"
                     f"{_listing(in_frame)}\nreirrad does not guess which one is the planning structure set: "
                     "give --structures UID (a full UID or an ending only that one has)")


def _registrations(g: _Grouping, chosen: Sequence[str], frame: str,
                   prior_frames: Sequence[str]) -> List[DicomObject]:
    if chosen:
        return [select_by_uid(g.registrations, uid, "--registration") for uid in chosen]
    used: List[DicomObject] = []
    for prior_frame in dict.fromkeys(f for f in prior_frames if f != frame):
        relating = [r for r in g.registrations
                    if {frame, prior_frame} <= {r.frame_of_reference_uid, *r.related_frame_uids}]
        if len(relating) > 1:
            raise InputError(f"{len(relating)} registrations relate the planning frame {frame} to the prior "
                             f"frame {prior_frame}:{_listing(relating)}\nreirrad does not choose between "
                             "them: give --registration UID for the one to use")
        used.extend(r for r in relating if r not in used)
    return used


def _ct(g: _Grouping, structures: DicomObject, frame: str) -> Tuple[str, Tuple[str, ...]]:
    series: Dict[str, List[DicomObject]] = defaultdict(list)
    for image in g.ct:
        series[image.series_instance_uid].append(image)
    named = [uid for uid in structures.referenced_series_uids if uid in series]
    in_frame = [uid for uid, images in series.items() if images[0].frame_of_reference_uid == frame]
    uids = named or in_frame
    if len(uids) != 1:
        listed = "".join(f"\n  CT series {uid} ({len(series[uid])} images)" for uid in uids)
        raise InputError(f"the new plan has no dose in the folder, so the planning CT defines the dose grid, "
                         f"but {len(uids)} CT series of the planning frame {frame} are in it{listed or ''}; "
                         "export the planning CT (or the new plan's dose) with the case")
    images = series[uids[0]]
    folders = {str(Path(i.path).parent) for i in images}
    others = [uid for uid, imgs in series.items() if uid != uids[0]
              and any(str(Path(i.path).parent) in folders for i in imgs)]
    if len(folders) != 1 or others:
        raise InputError(f"the planning CT series {uids[0]} must be alone in one folder to be read (it is in "
                         f"{sorted(folders)}{', with other CT series' if others else ''}); move it into its "
                         "own folder")
    return folders.pop(), tuple(sorted(i.path for i in images))


def group_case(objects: Sequence[DicomObject], *, folder: str = "", new_plan: Optional[str] = None,
               prior_plans: Sequence[str] = (), structures: Optional[str] = None,
               registrations: Sequence[str] = (), skipped: int = 0) -> FolderCase:
    """Group the objects of a folder into one case by their references (module docstring); no file is read.

    Parameters
    ----------
    objects : sequence of DicomObject
    folder : str
        Recorded in the result.
    new_plan, structures : str, optional
        A UID or a unique ending of one (``--new-plan``, ``--structures``).
    prior_plans, registrations : sequence of str
        UIDs or unique endings (``--prior-plan``, ``--registration``), in order.
    skipped : int
        Non-DICOM files found (recorded).

    Raises
    ------
    reirrad.errors.InputError
        An ambiguity (several candidate new plans, structure sets, registrations for one prior frame; two
        doses for one plan; a dose matching no plan) listing the candidates and the option that resolves
        it; a prior plan without a dose; no prior plan; a UID matching no object or several.
    """
    g = _Grouping(objects)
    if not g.plans:
        raise InputError(f"no RT Plan in {folder or 'the folder'} ({len(objects)} DICOM objects, {skipped} "
                         "other files); export the prior and new plans with their doses and structure sets")
    priors = [select_by_uid(g.plans, uid, "--prior-plan") for uid in prior_plans]
    if len(set(priors)) != len(priors):
        raise InputError("--prior-plan names the same plan twice")
    chosen_rs = select_by_uid(g.structure_sets, structures, "--structures") if structures else None
    new, why_new = _new_plan(g, new_plan, priors)
    if not prior_plans:
        priors = sorted((p for p in g.plans if p is not new), key=lambda p: (p.date, p.sop_instance_uid))
    if new is not None and new_plan is None:
        _check_newest(new, priors)
    if not priors:
        raise InputError(f"no prior plan in the folder besides the new plan {new.describe() if new else ''}; "
                         "export the prior course's RT Plan and RT Dose with it (or name the plans with "
                         "--new-plan / --prior-plan)")
    if g.unmatched and not (new_plan is not None and prior_plans):
        raise InputError(
            "RT Doses in the folder reference no RT Plan of the folder (ReferencedRTPlanSequence):"
            + "".join(f"\n  {d.describe()} -> plan {', '.join(d.referenced_plan_uids) or '(none)'}"
                      for d in g.unmatched)
            + "\nreirrad does not guess whose dose they are: export their plans with them, remove them from "
              "the folder, or name the plans with --new-plan UID and --prior-plan UID (the doses are then "
              "left unused)")
    new_dose = g.dose_of(new, "new plan", required=False) if new is not None else None
    prior_doses = [g.dose_of(p, f"prior plan {n}", required=True) for n, p in enumerate(priors, start=1)]
    frame = _planning_frame(g, new, chosen_rs, priors)
    rs = chosen_rs or _structures(g, None, new, frame)
    frame = rs.frame_of_reference_uid or frame
    course = [FolderPrior(p, d, g.structure_uids.get(p.referenced_structure_set_uid or ""))
              for p, d in zip(priors, prior_doses) if d is not None]
    regs = _registrations(g, registrations, frame, [p.dose.frame_of_reference_uid or "" for p in course])
    ct_folder, ct_files = (None, ()) if new_dose is not None else _ct(g, rs, frame)
    if not all(p.structures is not None and p.structures != rs for p in course):
        course = [FolderPrior(p.plan, p.dose, None) for p in course]  # --prior-structures: all or none
    roles = _roles(rs, new, new_dose, course, regs)
    used = {path for path, _ in roles} | set(ct_files)
    not_used = dict(g.not_used)
    for o in objects:
        if o.path not in used and o.path not in not_used:
            not_used[o.path] = _unused_reason(o, g, new_dose)
    return FolderCase(folder=folder, planning_frame_uid=frame, structures=rs, new_plan=new, new_dose=new_dose,
                      priors=tuple(course), registrations=tuple(regs), ct_folder=ct_folder, ct_files=ct_files,
                      objects=tuple(objects), roles=tuple(roles),
                      not_used=tuple(sorted(not_used.items())), skipped=skipped,
                      notes=_notes(new, why_new, objects))


def _notes(new: Optional[DicomObject], why_new: str, objects: Sequence[DicomObject]) -> Tuple[str, ...]:
    notes = [f"new plan: {new.describe() if new is not None else '(none)'}: {why_new}"]
    patients = sorted({o.patient_id for o in objects if o.kind != "OTHER" and o.patient_id})
    if len(patients) > 1:
        notes.append(f"the folder holds objects of {len(patients)} patient IDs {patients}: check they are "
                     "the same patient (the run flags a dose whose patient ID differs)")
    return tuple(notes)


def _roles(rs: DicomObject, new: Optional[DicomObject], new_dose: Optional[DicomObject],
           course: Sequence[FolderPrior], regs: Sequence[DicomObject]) -> List[Tuple[str, str]]:
    roles: List[Tuple[str, str]] = [(rs.path, "planning structure set")]
    if new is not None:
        roles.append((new.path, "new plan"))
    if new_dose is not None:
        roles.append((new_dose.path, "new dose"))
    for n, p in enumerate(course, start=1):
        roles.extend([(p.plan.path, f"prior-{n} plan"), (p.dose.path, f"prior-{n} dose")])
        if p.structures is not None:
            roles.append((p.structures.path, f"prior-{n} structure set"))
    roles.extend((r.path, "registration") for r in regs)
    return roles


def _unused_reason(o: DicomObject, g: _Grouping, new_dose: Optional[DicomObject]) -> str:
    if o.kind == "RTDOSE" and o in g.unmatched:
        return "references no plan of the folder"
    if o.kind == "CT" and new_dose is not None:
        return "not needed: the new dose defines the dose grid"
    return "not part of the case found"


def discover(folder: PathLike, **choices: Any) -> FolderCase:
    """:func:`scan_folder` then :func:`group_case` (``choices``: its keyword arguments)."""
    objects, skipped = scan_folder(folder)
    return group_case(objects, folder=str(folder), skipped=skipped, **choices)


# -- what was found, shown -------------------------------------------------------------------------------
def _reference(o: DicomObject, uids: Mapping[str, DicomObject]) -> str:
    def named(uid: str) -> str:
        found = uids.get(uid)
        return found.tail if found is not None else f"…{uid[-UID_TAIL:]} (absent)"

    if o.kind == "RTDOSE":
        return "plan " + (", ".join(named(u) for u in o.referenced_plan_uids) or "(none referenced)")
    if o.kind == "RTPLAN":
        return "struct " + (named(o.referenced_structure_set_uid) if o.referenced_structure_set_uid
                            else "(none referenced)")
    if o.kind in _REGISTRATION_KINDS:
        return "frames " + ", ".join(f"…{f[-8:]}" for f in o.related_frame_uids) + \
            f" -> …{(o.frame_of_reference_uid or '?')[-8:]}"
    return f"frame …{(o.frame_of_reference_uid or '?')[-8:]}"


def table(objects: Sequence[DicomObject], roles: Optional[Mapping[str, str]] = None, *,
          root: str = "") -> str:
    """The objects found, one row each (a CT series one row): kind, UID tail, date, label, what it refers
    to, role in the case (``not used`` when not in ``roles``; ``?`` for all when ``roles`` is None, i.e.
    before the grouping), file (relative to ``root``)."""
    unknown = "?" if roles is None else "not used"
    roles = roles or {}
    uids = _by_uid(objects)
    rows: List[Tuple[str, ...]] = []
    series: Dict[str, List[DicomObject]] = defaultdict(list)
    for o in objects:
        if o.kind == "CT":
            series[o.series_instance_uid].append(o)
            continue
        rows.append((_NAMES.get(o.kind, sop_class_name(o.sop_class_uid)), o.tail, o.date or "-",
                     o.label or "-", _reference(o, uids) if o.kind != "OTHER" else "-",
                     roles.get(o.path, unknown),
                     _relative(o.path, root)))
    for uid, images in series.items():
        first = images[0]
        rows.append((f"CT ({len(images)})", f"…{uid[-UID_TAIL:]}", first.date or "-", first.label or "-",
                     _reference(first, uids), roles.get(first.path, unknown),
                     str(Path(_relative(first.path, root)).parent) + "/"))
    head = ("object", "UID (end)", "date", "label", "refers to", "role", "file")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows])


def _relative(path: str, root: str) -> str:
    try:
        return str(Path(path).relative_to(root)) if root else path
    except ValueError:
        return path


# -- 3. the evaluate arguments ---------------------------------------------------------------------------
_FILE_OPTIONS = (("new_dose", "--new-dose"), ("prior_dose", "--prior-dose"),
                 ("prior_structures", "--prior-structures"), ("ct", "--ct"))


def apply_folder(args: argparse.Namespace, *, show: Callable[[str], None] = print) -> Optional[FolderCase]:
    """Fill the ``reirrad evaluate`` file options from ``args.dir`` (nothing when it is None).

    With ``--dir``, ``--new-plan``, ``--prior-plan``, ``--structures`` and ``--registration`` select objects
    by UID (or a unique ending); the other file options are refused. The table of what was found is shown
    (``show``) before any ambiguity is reported. Without ``--dir``, checks the options ``--dir`` replaces.

    Raises
    ------
    reirrad.errors.InputError
        Without ``--dir``: no ``--structures`` / ``--prior-dose`` / ``--prior-plan``. With it: file options
        given as well, or any error of :func:`group_case`.
    """
    if args.dir is None:
        for option, given in (("--structures RS", args.structures), ("--prior-dose RD", args.prior_dose),
                              ("--prior-plan RP", args.prior_plan)):
            if not given:
                raise InputError(f"give {option} (the files of the case), or --dir PATIENT_FOLDER to find "
                                 "them in a DICOM export")
        return None
    clash = [option for name, option in _FILE_OPTIONS if getattr(args, name)]
    if clash:
        raise InputError(f"--dir finds the files itself; {', '.join(clash)} cannot be given with it (give "
                         "every file without --dir, or select plans with --new-plan UID / --prior-plan UID)")
    objects, skipped = scan_folder(args.dir)
    show(f"DICOM objects in {args.dir} ({skipped} non-DICOM file(s) skipped):")
    try:
        case = group_case(objects, folder=str(args.dir), new_plan=args.new_plan, prior_plans=args.prior_plan,
                          structures=args.structures, registrations=args.registration, skipped=skipped)
    except InputError:
        show(table(objects, root=str(args.dir)))
        raise
    show(table(objects, {**dict(case.roles), **{p: "planning CT" for p in case.ct_files[:1]}},
               root=str(args.dir)))
    for note in case.notes:
        show(note[:1].upper() + note[1:])
    show("The interval since each prior course is not in DICOM (RT Plans carry no treatment dates): give "
         "--interval-days, or --prior-last-fraction with --planned-start, once per prior course in the "
         "order prior-1, prior-2, ...")
    args.structures = case.structures.path
    args.new_plan = case.new_plan.path if case.new_plan is not None else None
    args.new_dose = case.new_dose.path if case.new_dose is not None else None
    args.prior_plan = [p.plan.path for p in case.priors]
    args.prior_dose = [p.dose.path for p in case.priors]
    args.prior_structures = [p.structures.path for p in case.priors if p.structures is not None]
    args.registration = [r.path for r in case.registrations]
    args.ct = case.ct_folder
    args.dicom_folder = case.record()
    return case


def folder_record(args: argparse.Namespace) -> Dict[str, Any]:
    """``{"dicom_folder": FolderCase.record()}`` after :func:`apply_folder` with ``--dir``, else ``{}``."""
    record = getattr(args, "dicom_folder", None)
    return {} if record is None else {"dicom_folder": record}
