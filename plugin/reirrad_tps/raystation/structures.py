"""reirrad's optimisation structures in RayStation (:class:`reirrad.ports.StructureMaker`, issue 20 item 1).

The engine decides what to make (:mod:`reirrad.optstructures`); this module only executes each
structure's :class:`reirrad.roi_algebra.Operation` with RayStation's ROI algebra
(docs/reference/raystation.md §9) on the planning examination of the beam set, and reads back the volume
RayStation computed.

Mapping (§9)
------------
* **Creating an ROI**: ``case.PatientModel.CreateRoi(Name=…, Color=…, Type='Control')`` (public-scripts
  R9). ROIs are case-level: they exist on every examination, the geometry only where it is computed.
* **Geometry**: a single source grown or shrunk (a PRV) is ``roi.CreateMarginGeometry(Examination=exam,
  SourceRoiName=…, MarginSettings=…)``, the call public scripts confirm for a margin (§9); everything else
  is ``roi.CreateAlgebraGeometry(Examination=exam, Algorithm='Auto', ExpressionA=…, ExpressionB=…,
  ResultOperation=…, ResultMarginSettings=…)``. An engine expression (the union of its sources, then its
  margin) is ``{'Operation': 'Union', 'SourceRoiNames': [...], 'MarginSettings': {...}}``; ``combine``
  ``none`` / ``union`` / ``intersection`` / ``subtraction`` is ``ResultOperation`` ``'None'`` / ``'Union'``
  / ``'Intersection'`` / ``'Subtraction'`` (A − B); without ``b`` (several sources, or a result margin)
  ``ExpressionB`` names no ROI. The result margin is ``ResultMarginSettings``.
* **Margins**: ``MarginSettings = {'Type': 'Expand'|'Contract', 'Superior', 'Inferior', 'Anterior',
  'Posterior', 'Right', 'Left'}`` in **cm** (§9, §14.1). The engine's distances are mm; they become cm
  in :func:`margin_settings` and nowhere else (a 3 mm PRV is ``0.3``).
* **Volume**: ``StructureSets[exam].RoiGeometries[name].GetRoiVolume()``, cm³ (public-scripts R1). An
  empty result (``PrimaryShape`` None: e.g. a target wholly inside the subtracted PRVs) is reported as
  0 cm³ without calling ``GetRoiVolume`` (which raises "no geometry set for ROI" on an empty geometry,
  §4); the engine's recipe flags an empty optimisation target itself.

Ownership (docs/optimisation-structures.md)
-------------------------------------------
An ROI is reirrad's when its name starts with the protocol's prefix (``zRR_``), its ``Type`` is
``'Control'`` and its geometry is not approved. Only those are updated (their geometry recomputed on
the planning examination); every other ROI is never written. Approval is read where each version keeps
it (§9 "Structure-set approval (12A+)", §14.6): 12A+ ``SubStructureSets[i].Review.ApprovalStatus``
(no per-ROI list is exposed, so an approved sub-structure set makes **every** ROI of that structure set
count as approved: conservative), 11B ``ApprovedStructureSets[i].ApprovedRoiStructures`` (per ROI
geometry, ``OfRoi.Name``), in every structure set of the case (an ROI approved on any examination is
locked, §4). A name that exists but is not reirrad's is refused with :class:`reirrad.errors.InputError`
(the engine never asks for that: it avoids those names).

Why the planning structure set cannot take geometries (:func:`structures_not_writable`): any approved
sub-structure set (12A+) or approved structure set (11B) of the planning examination. RayStation would
let a new ROI's geometry be written beside approved ones (approval is per sub-structure set), but a
clinician who approved the contours of the planning CT expects that structure set to stay as approved,
so the adapter writes nothing there.

**Guards and what a failure leaves.** Everything is checked before the first write: the structure set's
approval, the ownership of every existing name (also case-insensitively: RayStation names are compared
exactly, the engine's recipe case-insensitively), and that every source exists with a geometry on the
planning examination or is made earlier in the same call. A RayStation refusal part-way raises
:class:`reirrad.errors.InputError`; the ROIs made or updated so far are all reirrad's (prefixed,
``Control``) and stay. The writes run inside the menu's ``CompositeAction`` (:mod:`.menu`) like every
other write of the run.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from reirrad.errors import ApprovedPlanError, InputError
from reirrad.optstructures import OptimisationStructure
from reirrad.roi_algebra import MARGIN_DIRECTIONS, Expression, Margin, Operation

from ._common import APPROVED, approval_status, has_member, tps_message

__all__ = ["CONTROL_TYPE", "MM_PER_CM", "RESULT_OPERATIONS", "ROLE_COLOURS", "algebra_keywords",
           "approved_roi_names", "make_structures", "margin_keywords", "margin_settings",
           "owned_structure_ids", "structures_not_writable"]

#: RayStation ROI ``Type`` of every structure reirrad makes (the engine's DICOM type ``CONTROL``).
CONTROL_TYPE = "Control"
#: Engine margins are mm, RayStation's cm.
MM_PER_CM = 10.0
#: Engine ``combine`` → ``ResultOperation``.
RESULT_OPERATIONS: Mapping[str, str] = {"none": "None", "union": "Union", "intersection": "Intersection",
                                        "subtraction": "Subtraction"}
#: Engine margin direction → ``MarginSettings`` key.
_DIRECTION_KEYS: Mapping[str, str] = {"right": "Right", "left": "Left", "anterior": "Anterior",
                                      "posterior": "Posterior", "inferior": "Inferior",
                                      "superior": "Superior"}
#: ``Color`` of a new ROI by role (``'R, G, B'``, a form §9 shows).
ROLE_COLOURS: Mapping[str, str] = {"target-opt": "255, 0, 255", "prv": "255, 200, 0", "ring": "0, 200, 255",
                                   "low-tolerance": "128, 128, 255"}
#: ``Algorithm`` of ``CreateAlgebraGeometry`` ([stub-2025] ``'Voxels'|'Contours'|'Auto'|'LineGrid'``).
ALGORITHM = "Auto"


# -- translation ------------------------------------------------------------------------------------------
def margin_settings(margin: Margin) -> Dict[str, Any]:
    """``MarginSettings`` of an engine margin: the only place mm become cm."""
    settings: Dict[str, Any] = {"Type": "Expand" if margin.kind == "expand" else "Contract"}
    for direction in MARGIN_DIRECTIONS:
        distance_cm = margin.distance_mm(direction) / MM_PER_CM
        settings[_DIRECTION_KEYS[direction]] = float(distance_cm)
    return settings


def _expression(expression: Optional[Expression]) -> Dict[str, Any]:
    if expression is None:  # combine 'none': B names no ROI and is not evaluated
        return {"Operation": "Union", "SourceRoiNames": [], "MarginSettings": margin_settings(Margin.zero())}
    return {"Operation": "Union", "SourceRoiNames": list(expression.sources),
            "MarginSettings": margin_settings(expression.margin)}


def margin_keywords(operation: Operation, examination: Any) -> Optional[Dict[str, Any]]:
    """The keywords of ``roi.CreateMarginGeometry`` when the operation is one source with a margin and
    nothing else (module docstring), else None."""
    if operation.combine != "none" or len(operation.a.sources) != 1 or not operation.result_margin.is_zero:
        return None
    return {"Examination": examination, "SourceRoiName": operation.a.sources[0],
            "MarginSettings": margin_settings(operation.a.margin)}


def algebra_keywords(operation: Operation, examination: Any) -> Dict[str, Any]:
    """The keywords of ``roi.CreateAlgebraGeometry`` for an engine operation (module docstring)."""
    return {"Examination": examination, "Algorithm": ALGORITHM, "ExpressionA": _expression(operation.a),
            "ExpressionB": _expression(operation.b), "ResultOperation": RESULT_OPERATIONS[operation.combine],
            "ResultMarginSettings": margin_settings(operation.result_margin)}


# -- approval and ownership -------------------------------------------------------------------------------
def _sub_sets_approved(structure_set: Any) -> bool:
    """An approved sub-structure set (12A+), or an approved structure set (11B), in ``structure_set``."""
    if has_member(structure_set, "SubStructureSets") and any(
            approval_status(sub) == APPROVED for sub in structure_set.SubStructureSets):
        return True
    if has_member(structure_set, "ApprovedStructureSets"):
        return len(list(structure_set.ApprovedStructureSets)) > 0
    return False


def structures_not_writable(structure_set: Any) -> Optional[str]:
    """Why the planning structure set must not take geometries (approved), or None (module docstring)."""
    if _sub_sets_approved(structure_set):
        exam = structure_set.OnExamination.Name
        return (f"the structure set of examination {exam!r} is approved (SubStructureSets[i].Review / "
                "ApprovedStructureSets); reirrad writes no optimisation structure into an approved structure "
                "set: the target objectives stay on the clinician's PTV")
    return None


def approved_roi_names(case: Any) -> List[str]:
    """ROIs whose geometry is approved on some examination of the case (module docstring)."""
    out: List[str] = []
    for structure_set in case.PatientModel.StructureSets:
        if has_member(structure_set, "SubStructureSets") and any(
                approval_status(sub) == APPROVED for sub in structure_set.SubStructureSets):
            out.extend(str(g.OfRoi.Name) for g in structure_set.RoiGeometries if g.PrimaryShape is not None)
            continue
        if has_member(structure_set, "ApprovedStructureSets"):
            for approved in structure_set.ApprovedStructureSets:
                out.extend(str(g.OfRoi.Name) for g in approved.ApprovedRoiStructures)
    return sorted(set(out))


def owned_structure_ids(case: Any, prefix: str) -> List[str]:
    """Names of the ROIs that are reirrad's: ``prefix``, ``Type`` ``'Control'``, not approved."""
    if not isinstance(prefix, str) or not prefix:
        raise InputError(f"the ownership prefix must be a non-empty string (got {prefix!r})")
    approved = set(approved_roi_names(case))
    return [str(roi.Name) for roi in case.PatientModel.RegionsOfInterest
            if str(roi.Name).startswith(prefix) and str(roi.Type) == CONTROL_TYPE
            and str(roi.Name) not in approved]


# -- making -----------------------------------------------------------------------------------------------
def _has_geometry(structure_set: Any, roi_name: str) -> bool:
    try:
        geometry = structure_set.RoiGeometries[roi_name]
    except Exception:  # no geometry entry for that ROI there
        return False
    return geometry.PrimaryShape is not None


def _refuse_foreign(roi: Any, name: str, approved: Sequence[str], prefix: Optional[str]) -> None:
    """Refuse an existing ROI that is not reirrad's (module docstring)."""
    why = [w for w, bad in (
        (f"its type is {roi.Type!r}, not {CONTROL_TYPE!r}", str(roi.Type) != CONTROL_TYPE),
        ("its geometry is approved", name in approved),
        ("no ownership prefix was given", prefix is None)) if bad]
    if why:
        raise InputError(f"ROI {name!r} exists and is not reirrad's ({'; '.join(why)}); reirrad never "
                         "modifies it. Nothing was written")


def _check_sources(case: Any, structure_set: Any, s: OptimisationStructure, rois: Mapping[str, Any],
                   made: Sequence[str]) -> None:
    """Every source exists with a geometry on the planning examination, or is made earlier in the call."""
    for source in (u.structure_id for u in s.derived_from):
        if source in made:
            continue
        if source not in rois:
            raise InputError(f"{s.name}: source ROI {source!r} does not exist in case {case.CaseName!r}. "
                             "Nothing was written")
        if not _has_geometry(structure_set, source):
            raise InputError(f"{s.name}: source ROI {source!r} has no geometry on examination "
                             f"{structure_set.OnExamination.Name!r}. Nothing was written")


def _checked(case: Any, structure_set: Any, structures: Sequence[OptimisationStructure],
             prefix: Optional[str]) -> Dict[str, bool]:
    """Name → True when it exists (and is reirrad's); refuses before any write (module docstring)."""
    rois = {str(r.Name): r for r in case.PatientModel.RegionsOfInterest}
    approved = approved_roi_names(case)
    exists: Dict[str, bool] = {}
    made: List[str] = []
    for s in structures:
        if s.dicom_type != "CONTROL":
            raise InputError(f"{s.name}: reirrad makes Control ROIs only (got DICOM type {s.dicom_type!r})")
        if prefix is not None and not s.name.startswith(prefix):
            raise InputError(f"{s.name!r} does not start with reirrad's prefix {prefix!r}; reirrad makes "
                             "only prefixed ROIs. Nothing was written")
        clash = [n for n in rois if n.lower() == s.name.lower() and n != s.name]
        if clash:
            raise InputError(f"ROI {clash[0]!r} differs from {s.name!r} only in case; reirrad does not write "
                             "it: rename that ROI in RayStation. Nothing was written")
        roi = rois.get(s.name)
        if roi is not None:
            _refuse_foreign(roi, s.name, approved, prefix)
        _check_sources(case, structure_set, s, rois, made)
        exists[s.name] = roi is not None
        made.append(s.name)
    return exists


def make_structures(case: Any, beam_set: Any, structures: Sequence[OptimisationStructure],
                    prefix: Optional[str]) -> Dict[str, float]:
    """Create or update each structure in order on the beam set's planning examination; volumes in cm³.

    ``prefix`` is the protocol's ownership prefix (the workflow passes ``optimisation_structures.
    name_prefix``); every name must start with it, and an existing ROI is updated only when it is reirrad's by
    that prefix. Without a prefix, only new names are made (an existing ROI is refused).

    Raises
    ------
    reirrad.errors.ApprovedPlanError
        The planning structure set is approved (nothing written).
    reirrad.errors.InputError
        A name taken by an ROI that is not reirrad's, a missing source (nothing written), or RayStation
        refusing a call part-way (the prefixed ROIs made so far stay).
    """
    structures = list(structures)
    if not structures:
        return {}
    structure_set = beam_set.GetStructureSet()
    examination = beam_set.GetPlanningExamination()
    why = structures_not_writable(structure_set)
    if why is not None:
        raise ApprovedPlanError(f"{why}. Nothing was written")
    exists = _checked(case, structure_set, structures, prefix)
    volumes_cc: Dict[str, float] = {}
    for s in structures:
        try:
            if exists[s.name]:
                roi = case.PatientModel.RegionsOfInterest[s.name]
            else:
                roi = case.PatientModel.CreateRoi(Name=s.name, Color=ROLE_COLOURS.get(s.role, "255, 255, 0"),
                                                  Type=CONTROL_TYPE)
            margin_only = margin_keywords(s.operation, examination)
            if margin_only is not None:
                roi.CreateMarginGeometry(**margin_only)
            else:
                roi.CreateAlgebraGeometry(**algebra_keywords(s.operation, examination))
            geometry = structure_set.RoiGeometries[s.name]
            volumes_cc[s.name] = 0.0 if geometry.PrimaryShape is None else float(geometry.GetRoiVolume())
        except Exception as exc:  # RayStation's exception types are not importable outside it
            done = ", ".join(volumes_cc) or "none"
            raise InputError(f"RayStation refused to make optimisation structure {s.name!r}: "
                             f"{tps_message(exc)}; made before it (reirrad's own, kept): {done}") from exc
    return volumes_cc
