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
  in :func:`.units.cm_from_mm` (called by :func:`margin_settings`; a 3 mm PRV is ``0.3``).
* **Volume**: ``StructureSets[exam].RoiGeometries[name].GetRoiVolume()``, cm³ (public-scripts R1). An
  empty result (``PrimaryShape`` None: e.g. a target wholly inside the subtracted PRVs) is reported as
  0 cm³ without calling ``GetRoiVolume`` (which raises "no geometry set for ROI" on an empty geometry,
  §4); the engine's recipe flags an empty optimisation target itself.

Outlined structures (:class:`reirrad.ports.OutlineMaker`, :func:`make_outlined_structures`)
--------------------------------------------------------------------------------------------
A low-tolerance region (:class:`reirrad.optstructures.OutlinedStructure`) has no algebra recipe: the engine
hands over closed planar contours (patient mm, even–odd rule) and the adapter writes them point by point.
The call forms, none in docs/reference/raystation.md, come from public scripts:

* ``liam-stubbington/raystation-apps: modules/structure_set_classes.py`` l.130–159 (``restore_contours``):
  ``CreateRoi``, then ``roi.CreateBoxGeometry(Size={'x','y','z'}, Examination=exam, Center={'x','y','z'},
  Representation='Voxels', VoxelSize=None)`` as a placeholder geometry, ``geometry = StructureSets[exam.Name].
  RoiGeometries[name]``, ``geometry.SetRepresentation(Representation='Contours')``, then ``geometry.
  PrimaryShape.Contours = [[{'x', 'y', 'z'}, …], …]`` (contours saved from ``PrimaryShape.Contours``, cm).
  Two further public scripts (repositories not named by the code index) assign ``PrimaryShape.Contours``
  a subset of the contours they read to drop slices (so an assignment **replaces** every contour) and
  ``[{'x': p.x, 'y': p.y, 'z': p.z}, …]`` lists over a ``CreateExternalGeometry`` placeholder.
* [stub-2025] (``ArthurRochette/Raystation-stubs: raystation/v2025``): ``CreateBoxGeometry(Size, Examination,
  Center, Representation: 'Voxels'|'TriangleMesh'|'Contours', VoxelSize)``; ``RoiGeometry.PrimaryShape`` is a
  ``BinaryRoi``, ``MbsMesh``, ``RoiContourSet`` or ``TriangleMesh``, and only ``RoiContourSet`` has
  ``Contours`` (a setter taking a list); ``SetRepresentation(Representation)`` changes the primary shape "if
  necessary" — hence public-scripts R11's ``hasattr(PrimaryShape, 'Contours')`` test before it.
* Image slices: ``exam.Series[0].ImageStack.Corner.z + SlicePositions[k]`` (cm), as ``wrssc/ray_scripts:
  library/PlanReview/qa_tests/test_examination/check_contour_gaps.py`` (``get_slice_positions``) reads them
  (§5.3 shows ``exam.Series[0].ImageStack``).

What the adapter does: every check first (approval, names as for :func:`make_structures`, and every plane
and point z within :data:`SLICE_TOLERANCE_MM` of an image slice of the planning examination, else
:class:`reirrad.errors.InputError` naming the structure, the z and the slices); then per structure
``CreateRoi`` when absent; ``CreateBoxGeometry`` (a :data:`PLACEHOLDER_BOX_CM` cube on the first contour's
plane, inside the image, not the scripts' 2 cm box at the origin, which may lie outside it) only when the
ROI has no geometry on the examination; ``SetRepresentation(Representation='Contours')`` only when its
shape has no ``Contours``; then ``PrimaryShape.Contours =`` every plane's loops in order, cm
(:func:`.units.points_cm_from_mm`). RayStation's contour list combines like a DICOM ROI's (even–odd), so a
hole is just another loop. A re-run on reirrad's own ROI (it has contours) only assigns ``Contours``. The
volume is ``GetRoiVolume()`` (cm³). **Unconfirmed:** what the real setter refuses (a contour between
slices, a non-planar one) and whether ``CreateBoxGeometry`` on a geometry that exists replaces it (the
adapter never does that); the stand-in's strict reading is in its DEVIATIONS.md.

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

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from reirrad.errors import ApprovedPlanError, InputError
from reirrad.optstructures import OptimisationStructure, OutlinedStructure
from reirrad.roi_algebra import MARGIN_DIRECTIONS, Expression, Margin, Operation

from ._common import APPROVED, approval_status, has_member, names, tps_message
from .units import cm_from_mm, mm_from_cm, point_mm_from_cm, points_cm_from_mm

__all__ = ["CONTROL_TYPE", "RESULT_OPERATIONS", "ROLE_COLOURS", "SLICE_TOLERANCE_MM", "algebra_keywords",
           "approved_roi_names", "contours_cm", "image_slices_mm", "make_outlined_structures",
           "make_structures", "margin_keywords", "margin_settings", "owned_structure_ids",
           "structures_not_writable"]

#: RayStation ROI ``Type`` of every structure reirrad makes (the engine's DICOM type ``CONTROL``).
CONTROL_TYPE = "Control"
#: How far a contour plane may lie from an image slice of the planning examination, mm (the engine's
#: plane tolerance, :data:`reirrad.structures.PLANE_TOLERANCE_MM`).
SLICE_TOLERANCE_MM = 0.01
#: Edge of the placeholder box an outlined structure's new geometry starts from, cm (module docstring).
PLACEHOLDER_BOX_CM = 1.0
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
    """``MarginSettings`` of an engine margin (mm become cm in :func:`.units.cm_from_mm`)."""
    settings: Dict[str, Any] = {"Type": "Expand" if margin.kind == "expand" else "Contract"}
    for direction in MARGIN_DIRECTIONS:
        settings[_DIRECTION_KEYS[direction]] = cm_from_mm(margin.distance_mm(direction))
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


def _writable_planning_set(beam_set: Any) -> Tuple[Any, Any]:
    """The beam set's structure set and planning examination; ApprovedPlanError when it is approved."""
    structure_set = beam_set.GetStructureSet()
    why = structures_not_writable(structure_set)
    if why is not None:
        raise ApprovedPlanError(f"{why}. Nothing was written")
    return structure_set, beam_set.GetPlanningExamination()


def _checked_names(case: Any, named: Sequence[Tuple[str, str]], prefix: Optional[str]) -> Dict[str, bool]:
    """(name, DICOM type) of each structure to make → True when it exists (and is reirrad's); refuses, before
    any write, a non-Control type, a name without the prefix or repeated, a name differing from an existing
    ROI only in case, and an existing ROI that is not reirrad's (module docstring)."""
    rois = {str(r.Name): r for r in case.PatientModel.RegionsOfInterest}
    approved = approved_roi_names(case)
    exists: Dict[str, bool] = {}
    for name, dicom_type in named:
        if dicom_type != "CONTROL":
            raise InputError(f"{name}: reirrad makes Control ROIs only (got DICOM type {dicom_type!r})")
        if prefix is not None and not name.startswith(prefix):
            raise InputError(f"{name!r} does not start with reirrad's prefix {prefix!r}; reirrad makes "
                             "only prefixed ROIs. Nothing was written")
        if name in exists:
            raise InputError(f"{name!r} is asked for twice in one call. Nothing was written")
        clash = [n for n in rois if n.lower() == name.lower() and n != name]
        if clash:
            raise InputError(f"ROI {clash[0]!r} differs from {name!r} only in case; reirrad does not write "
                             "it: rename that ROI in RayStation. Nothing was written")
        roi = rois.get(name)
        if roi is not None:
            _refuse_foreign(roi, name, approved, prefix)
        exists[name] = roi is not None
    return exists


def _check_sources(case: Any, structure_set: Any, structures: Sequence[OptimisationStructure]) -> None:
    """Every source exists with a geometry on the planning examination, or is made earlier in the call."""
    rois = set(names(case.PatientModel.RegionsOfInterest))
    made: List[str] = []
    for s in structures:
        for source in (u.structure_id for u in s.derived_from):
            if source in made:
                continue
            if source not in rois:
                raise InputError(f"{s.name}: source ROI {source!r} does not exist in case {case.CaseName!r}. "
                                 "Nothing was written")
            if not _has_geometry(structure_set, source):
                raise InputError(f"{s.name}: source ROI {source!r} has no geometry on examination "
                                 f"{structure_set.OnExamination.Name!r}. Nothing was written")
        made.append(s.name)


def _new_or_owned_roi(case: Any, name: str, role: str, exists: bool, changed: Optional[List[str]]) -> Any:
    """The ROI to write: reirrad's existing one, or a new one; what is about to change is appended to
    ``changed`` first (a failure after it leaves the change in RayStation, to be reported)."""
    if exists:
        if changed is not None:
            changed.append(f"ROI {name!r} (reirrad's; its geometry replaced)")
        return case.PatientModel.RegionsOfInterest[name]
    colour = ROLE_COLOURS.get(role, "255, 255, 0")
    roi = case.PatientModel.CreateRoi(Name=name, Color=colour, Type=CONTROL_TYPE)
    if changed is not None:
        changed.append(f"ROI {name!r} (created by the run)")
    return roi


def _refused(name: str, exc: BaseException, done: Sequence[str]) -> InputError:
    made = ", ".join(done) or "none"
    return InputError(f"RayStation refused to make optimisation structure {name!r}: {tps_message(exc)}; "
                      f"made before it (reirrad's own, kept): {made}")


def make_structures(case: Any, beam_set: Any, structures: Sequence[OptimisationStructure],
                    prefix: Optional[str], *, changed: Optional[List[str]] = None) -> Dict[str, float]:
    """Create or update each structure in order on the beam set's planning examination; volumes in cm³.

    ``prefix`` is the protocol's ownership prefix (the workflow passes ``optimisation_structures.
    name_prefix``); every name must start with it, and an existing ROI is updated only when it is reirrad's by
    that prefix. Without a prefix, only new names are made (an existing ROI is refused). Each ROI created
    or changed is appended to ``changed`` as it is (what a failure leaves, for the menu's notification).

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
    structure_set, examination = _writable_planning_set(beam_set)
    exists = _checked_names(case, [(s.name, s.dicom_type) for s in structures], prefix)
    _check_sources(case, structure_set, structures)
    volumes_cc: Dict[str, float] = {}
    for s in structures:
        try:
            roi = _new_or_owned_roi(case, s.name, s.role, exists[s.name], changed)
            margin_only = margin_keywords(s.operation, examination)
            if margin_only is not None:
                roi.CreateMarginGeometry(**margin_only)
            else:
                roi.CreateAlgebraGeometry(**algebra_keywords(s.operation, examination))
            geometry = structure_set.RoiGeometries[s.name]
            volumes_cc[s.name] = 0.0 if geometry.PrimaryShape is None else float(geometry.GetRoiVolume())
        except Exception as exc:  # RayStation's exception types are not importable outside it
            raise _refused(s.name, exc, list(volumes_cc)) from exc
    return volumes_cc


# -- outlined structures (reirrad.ports.OutlineMaker) ----------------------------------------------------
def image_slices_mm(examination: Any) -> List[float]:
    """Patient z of every image slice of the examination, mm, ascending: ``Series[0].ImageStack.Corner.z +
    SlicePositions[k]`` (cm; module docstring)."""
    stack = examination.Series[0].ImageStack
    corner_z = point_mm_from_cm(stack.Corner)[2]
    return sorted(corner_z + mm_from_cm(p) for p in stack.SlicePositions)


def _describe_slices(slices_mm: Sequence[float], z_mm: float) -> str:
    if not slices_mm:
        return "the examination has no slices"
    steps = {round(b - a, 4) for a, b in zip(slices_mm, slices_mm[1:])}
    nearest = sorted(slices_mm, key=lambda v: abs(v - z_mm))[:2]
    spacing = f" every {steps.pop():g} mm" if len(steps) == 1 else ""
    return (f"slices from {slices_mm[0]:g} to {slices_mm[-1]:g} mm{spacing}; nearest "
            f"{', '.join(f'{v:g}' for v in sorted(nearest))} mm")


def contours_cm(structure: OutlinedStructure, slices_mm: Sequence[float]) -> List[List[Dict[str, float]]]:
    """The ``PrimaryShape.Contours`` value of an outlined structure: every loop of every plane, in order, as
    points ``{'x', 'y', 'z'}`` in cm (even–odd rule: holes are listed like islands).

    Raises
    ------
    reirrad.errors.InputError
        A plane (or a loop's point) whose z is not within :data:`SLICE_TOLERANCE_MM` of an image slice,
        naming the structure, the z and the slices.
    """
    out: List[List[Dict[str, float]]] = []
    for plane in structure.planes:
        zs = [plane.z_mm] + [float(v) for lp in plane.loops_mm for v in (lp[:, 2].min(), lp[:, 2].max())]
        for z_mm in zs:
            if not slices_mm or min(abs(z_mm - v) for v in slices_mm) > SLICE_TOLERANCE_MM:
                raise InputError(f"{structure.name}: a contour at z = {z_mm:g} mm is not on an image slice "
                                 f"of the planning examination ({_describe_slices(slices_mm, z_mm)}; "
                                 f"tolerance {SLICE_TOLERANCE_MM:g} mm). Nothing was written")
        out.extend(points_cm_from_mm(loop) for loop in plane.loops_mm)
    return out


def _placeholder_box(contours: Sequence[Sequence[Mapping[str, float]]]) -> Dict[str, Dict[str, float]]:
    """``Size`` and ``Center`` (cm) of a small box at the middle of the first contour, on its plane."""
    first = contours[0]
    xs = [p["x"] for p in first]
    ys = [p["y"] for p in first]
    side = PLACEHOLDER_BOX_CM
    return {"Size": {"x": side, "y": side, "z": side},
            "Center": {"x": 0.5 * (min(xs) + max(xs)), "y": 0.5 * (min(ys) + max(ys)), "z": first[0]["z"]}}


def make_outlined_structures(case: Any, beam_set: Any, structures: Sequence[OutlinedStructure],
                             prefix: Optional[str], *,
                             changed: Optional[List[str]] = None) -> Dict[str, float]:
    """Create each outlined structure (or replace the contours of reirrad's own) on the beam set's planning
    examination; volumes in cm³ (:class:`reirrad.ports.OutlineMaker`, module docstring). Each ROI created
    or changed is appended to ``changed`` as it is (as :func:`make_structures`).

    Everything is checked before the first write: the structure set's approval, each name (as
    :func:`make_structures`), and that every contour lies on an image slice. Then per structure: ``CreateRoi``
    when absent; a placeholder ``CreateBoxGeometry`` when the ROI has no geometry on the examination;
    ``SetRepresentation(Representation='Contours')`` when its shape has no ``Contours``; ``PrimaryShape.
    Contours = <every plane's loops, cm>``; ``GetRoiVolume()``.

    Raises
    ------
    reirrad.errors.ApprovedPlanError
        The planning structure set is approved (nothing written).
    reirrad.errors.InputError
        A name taken by an ROI that is not reirrad's, a contour off the image slices (nothing written), or
        RayStation refusing a call part-way (the prefixed ROIs made so far stay).
    """
    structures = list(structures)
    if not structures:
        return {}
    structure_set, examination = _writable_planning_set(beam_set)
    exists = _checked_names(case, [(s.name, s.dicom_type) for s in structures], prefix)
    try:
        slices = image_slices_mm(examination)
    except Exception as exc:
        raise InputError(f"cannot read the image slices of examination {examination.Name!r} "
                         f"(Series[0].ImageStack): {tps_message(exc)}. Nothing was written") from exc
    written = {s.name: contours_cm(s, slices) for s in structures}
    volumes_cc: Dict[str, float] = {}
    for s in structures:
        try:
            roi = _new_or_owned_roi(case, s.name, s.role, exists[s.name], changed)
            if structure_set.RoiGeometries[s.name].PrimaryShape is None:
                roi.CreateBoxGeometry(Examination=examination, Representation="Voxels", VoxelSize=None,
                                      **_placeholder_box(written[s.name]))
            geometry = structure_set.RoiGeometries[s.name]
            if not has_member(geometry.PrimaryShape, "Contours"):
                geometry.SetRepresentation(Representation="Contours")
            geometry.PrimaryShape.Contours = written[s.name]
            volumes_cc[s.name] = float(geometry.GetRoiVolume())
        except Exception as exc:  # RayStation's exception types are not importable outside it
            raise _refused(s.name, exc, list(volumes_cc)) from exc
    return volumes_cc
