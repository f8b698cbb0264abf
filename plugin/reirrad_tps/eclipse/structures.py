"""reirrad's optimisation structures in Eclipse: ownership, the writability check, the ROI algebra, and
outlined structures written contour by contour.

:class:`reirrad_tps.eclipse.planner.EclipsePlanner` delegates its :class:`reirrad.ports.StructureMaker` and
:class:`reirrad.ports.OutlineMaker` methods here. The engine decides what to make
(:mod:`reirrad.optstructures`); this module only executes each :class:`reirrad.roi_algebra.Operation` with
ESAPI (docs/reference/esapi.md §6.2, ESAPI 15.6) and writes each outlined structure's contours (below).

Mapping (one :class:`~reirrad.optstructures.OptimisationStructure` after the other, so a later one may use
an earlier one as a source)
---------------------------------------------------------------------------------------------------------
* **Operand** (``a``, ``b``): ``Or`` over the sources' ``Structure.SegmentVolume`` (pythonnet does not
  apply ESAPI's implicit ``Structure`` → ``SegmentVolume`` conversion), then its margin.
* **Margin**: isotropic only, ``SegmentVolume.Margin(mm)`` with +mm to expand and −mm to contract; none
  for a zero margin. An anisotropic margin is **refused** (:class:`reirrad.errors.InputError`): ESAPI's
  ``AsymmetricMargin(AxisAlignedMargins)`` exists (13.6), but the reference (docs/reference/esapi.md) does
  not document the ``AxisAlignedMargins`` constructor nor whether its x1/y1/z1 … are image or patient axes,
  so the mapping of reirrad's right/left/anterior/posterior/inferior/superior onto it is not confirmed.
  The shipped recipe uses isotropic margins only. A distance above :data:`MAX_MARGIN_MM` (50 mm,
  Eclipse's limit as the ESAPI stand-in models it) is refused before anything is written.
* **Combine**: ``none`` → ``a``; ``union`` → ``a.Or(b)``; ``intersection`` → ``a.And(b)``;
  ``subtraction`` → ``a.Sub(b)``; then the result margin as above.
* **Write**: ``structure.SegmentVolume = result``: on reirrad's own structure of that id when there is
  one, else on a new ``StructureSet.AddStructure("CONTROL", name)``. The volume returned is
  ``Structure.Volume`` read back (cm³, docs/reference/esapi.md §6.2: community code treats it as cm³).

Ownership (docs/optimisation-structures.md, :class:`reirrad.ports.StructureMaker`)
--------------------------------------------------------------------------------
ESAPI 15.6 has no per-structure comment or name field (``Structure.Name``/``Comment`` are 16.1+), so the
marker is the rule itself: a structure is reirrad's when its id starts with the protocol's prefix
(case-sensitive), its ``DicomType`` is ``CONTROL``, and ``Structure.CanEditSegmentVolume`` (15.5) says it
may be edited (not approved, not locked). The prefix (``zRR_``) is reserved for reirrad. Only those
structures are updated; a structure the recipe names that exists and is not reirrad's (another DICOM type,
approved, or a name without the prefix) is refused before anything is written — the recipe never names
one (it picks a free suffix), this is a second check. Nothing else is ever written: no structure is
renamed, removed or re-typed. Ids are at most 16 characters (ESAPI 15.6); a longer name is refused.

Writability: the plan's write guards (approved or treated plan, completed course, read-only session,
``BeginModifications`` not called: the planner's errors), then no other plan that is approved or treated
uses the structure set (:func:`set_used_by_other_plans`: whether Eclipse locks such a set is not in the
reference, so reirrad refuses it itself), then ``StructureSet.CanAddStructure("CONTROL", <a free probe
id>)``, which Eclipse answers False for an approved or locked structure set.

Outlined structures (:func:`make_outlined_structures`, :class:`reirrad.ports.OutlineMaker`)
-------------------------------------------------------------------------------------------
A region the engine computed voxel by voxel (the low-tolerance part of an OAR, :mod:`reirrad.spatial`)
arrives as closed contours plane by plane (:class:`reirrad.optstructures.OutlinedStructure`,
:mod:`reirrad.outlines`). Names, ownership and writability are checked as above (the same functions).

* **Planes.** A plane at patient z is image plane ``(z − Image.Origin.z) / (ZRes · ZDirection.z)``; it
  must be a whole number within :data:`Z_TOLERANCE_MM` (0.01 mm) and inside ``0 … ZSize − 1``, on an
  axial image. Every plane of every structure is checked before anything is written (InputError naming
  the structure, the z and the image's planes).
* **Write.** ``AddStructure("CONTROL", name)`` when absent; for reirrad's own structure
  ``ClearAllContoursOnImagePlane(z)`` on every image plane ``z = 0 … ZSize − 1`` first (nothing of the
  earlier region stays, wherever it was). Then each plane's loops **in the order given** (decreasing area:
  each after every loop containing it): ``AddContourOnImagePlane(VVector[], z)`` for an outer boundary,
  ``SubtractContourOnImagePlane(VVector[], z)`` (13.6) for a hole. In that order every added loop falls
  where the plane's segment is still empty and every subtracted loop where it is full, so the result is
  the region whether Eclipse's add unites or exclusive-ors an overlapping contour (the reference documents
  neither; the ESAPI stand-in models both, DEVIATIONS.md). Points are patient mm, as ESAPI's ``VVector``
  (:func:`.grids.vvector_array`, the inverse of :func:`.grids.vector_mm`: no scaling).
* **Volume.** ``Structure.Volume`` read back (cm³), compared by the caller with the engine's volume of the
  same contours (``OutlinedStructure.expected_volume_cc``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

import numpy as np

from reirrad.errors import ApprovedPlanError, InputError
from reirrad.optstructures import OptimisationStructure, OutlinedStructure
from reirrad.roi_algebra import Expression, Margin

from .grids import vector_mm, vvector_array
from .source import UNAPPROVED, course_plans

__all__ = [
    "CONTROL",
    "MAX_ID_LENGTH",
    "MAX_MARGIN_MM",
    "Z_TOLERANCE_MM",
    "StructureSetNotWritableError",
    "image_plane_index",
    "is_owned",
    "make_outlined_structures",
    "make_structures",
    "owned_ids",
    "set_not_writable",
    "set_used_by_other_plans",
]

#: DICOM type of every structure reirrad makes (``StructureSet.AddStructure`` documents it, esapi.md §6.1).
CONTROL = "CONTROL"
#: Longest structure id ESAPI 15.6 takes.
MAX_ID_LENGTH = 16
#: Largest margin (mm) Eclipse's ``Margin`` takes, as the ESAPI stand-in models it (an assumption there).
MAX_MARGIN_MM = 50.0
#: How far (mm) a contour's plane may lie from an image plane and still be written on it.
Z_TOLERANCE_MM = 0.01

_PROBE = "reirradProbe"

#: ``write(what, call, *args)``: the planner's guarded ESAPI write (refusals become its errors).
Write = Callable[..., Any]
Made = Union[OptimisationStructure, OutlinedStructure]


class StructureSetNotWritableError(ApprovedPlanError):
    """The plan's structure set does not accept new structures (approved or locked); nothing was written."""


def _editable(structure: Any) -> bool:
    """``Structure.CanEditSegmentVolume(out string)`` (15.5); pythonnet returns (bool, message)."""
    result = structure.CanEditSegmentVolume("")
    ok = result[0] if isinstance(result, tuple) else result
    return bool(ok)


def is_owned(structure: Any, prefix: str) -> bool:
    """True when ``structure`` is reirrad's: id with ``prefix``, DICOM type CONTROL, editable."""
    return (bool(prefix) and str(structure.Id).startswith(prefix) and str(structure.DicomType) == CONTROL
            and _editable(structure))


def owned_ids(structure_set: Any, prefix: str) -> List[str]:
    """Ids of the structures of ``structure_set`` that are reirrad's (:func:`is_owned`), in set order."""
    _check_prefix(prefix)
    if structure_set is None:
        return []
    return [str(s.Id) for s in list(structure_set.Structures) if is_owned(s, prefix)]


def _check_prefix(prefix: Any) -> None:
    if not isinstance(prefix, str) or not prefix:
        raise InputError(f"the optimisation structures' prefix must be a non-empty str (got {prefix!r})")


def set_not_writable(structure_set: Any) -> Optional[str]:
    """Why ``structure_set`` takes no new CONTROL structure (``CanAddStructure`` with a free probe id), or
    None when it does."""
    taken = {str(s.Id).lower() for s in list(structure_set.Structures)}
    probe = next(p for p in (f"{_PROBE}{n}" if n else _PROBE for n in range(100)) if p.lower() not in taken)
    if bool(structure_set.CanAddStructure(CONTROL, probe)):
        return None
    return (f"structure set {str(structure_set.Id)!r} does not accept new structures "
            "(StructureSet.CanAddStructure is False: it is approved or locked); reirrad's optimisation "
            "structures need an unapproved structure set: copy it in Eclipse or plan on the clinician's PTV")


def set_used_by_other_plans(structure_set: Any, plan: Any, patient: Any) -> Optional[str]:
    """Why ``structure_set`` belongs to an approved or treated plan other than ``plan``, or None.

    Every plan of the patient's courses (:func:`.source.course_plans`) whose ``StructureSet`` has the
    set's ``UID``, other than ``plan`` (by ``UID``), with an approval status other than ``UnApproved``
    or ``IsTreated``. reirrad never adds structures to such a set, whether or not Eclipse would let it
    (the reference does not say; the ESAPI stand-in models both, its ``set_lock``): the set is part of
    that plan's record, and the prior plans of a re-irradiation are treated plans.
    """
    uid, own = str(structure_set.UID), str(plan.UID)
    users = []
    for course in list(patient.Courses):
        for other in course_plans(course):
            used = other.StructureSet
            if str(other.UID) == own or used is None or str(used.UID) != uid:
                continue
            status, treated = str(other.ApprovalStatus), bool(other.IsTreated)
            if status != UNAPPROVED or treated:
                users.append(f"{course.Id}/{other.Id} ({status}{', treated' if treated else ''})")
    if not users:
        return None
    return (f"structure set {str(structure_set.Id)!r} is also the structure set of plan(s) "
            f"{', '.join(users)}; reirrad never adds structures to an approved or treated plan's structure "
            "set (that plan's record would change): copy the structure set in Eclipse and create the new "
            "plan on the copy")


def _isotropic_mm(margin: Margin, what: str) -> float:
    """The signed distance of ``SegmentVolume.Margin`` (mm; negative contracts), refusing what Eclipse's
    confirmed calls cannot do."""
    if not margin.is_isotropic:
        raise InputError(f"{what} has an anisotropic margin ({margin.to_dict()}); the Eclipse adapter makes "
                         "isotropic margins only (the axes of ESAPI's AxisAlignedMargins are not confirmed "
                         "in the reference); use one distance in all six directions")
    mm = margin.distance_mm("right")
    if mm > MAX_MARGIN_MM:
        raise InputError(f"{what} has a {mm:g} mm margin, above the {MAX_MARGIN_MM:g} mm Eclipse's Margin "
                         "takes; build it in steps")
    return -mm if margin.kind == "contract" else mm


def _validate(structures: Sequence[Made], by_id: Mapping[str, Any], prefix: str, kind: Type[Any],
              check: Callable[[Any, Sequence[str]], None]) -> None:
    """Every refusal that does not need ESAPI to write, before anything is written: each structure is a
    ``kind``, its name is one reirrad may write (:func:`_check_name`), and ``check(structure, made so far)``
    (names in lower case) passes."""
    made: List[str] = []
    for n, s in enumerate(structures):
        if not isinstance(s, kind):
            raise InputError(f"structures[{n}] is not an {kind.__name__} (got {type(s).__name__})")
        _check_name(s, by_id, prefix, made)
        check(s, made)
        made.append(s.name.lower())


def _check_name(s: Made, by_id: Mapping[str, Any], prefix: str, made: Sequence[str]) -> None:
    name = s.name
    if len(name) > MAX_ID_LENGTH:
        raise InputError(f"structure name {name!r} has {len(name)} characters; ESAPI 15.6 ids take at "
                         f"most {MAX_ID_LENGTH}: shorten optimisation_structures.name_prefix or the name")
    if not name.startswith(prefix):
        raise InputError(f"structure name {name!r} does not start with reirrad's prefix {prefix!r}; the "
                         "Eclipse adapter makes only structures with the reserved prefix")
    if s.dicom_type != CONTROL:
        raise InputError(f"{name!r} has DICOM type {s.dicom_type!r}; reirrad makes {CONTROL!r} structures "
                         "only")
    if name.lower() in made:
        raise InputError(f"{name!r} appears twice in the structures to make")
    existing = by_id.get(name.lower())
    if existing is not None and not is_owned(existing, prefix):
        raise InputError(
            f"structure {str(existing.Id)!r} (DICOM type {str(existing.DicomType)!r}) exists and is not "
            f"reirrad's (reirrad's: id starting with {prefix!r}, type {CONTROL}, not approved); it is "
            "never modified. Nothing was written: rename it in Eclipse or rebuild the recipe with the "
            "structure set's current ids")


def _check_operation(s: OptimisationStructure, by_id: Mapping[str, Any], made: Sequence[str]) -> None:
    name, op = s.name, s.operation
    operands = [("a", op.a)] + ([("b", op.b)] if op.b is not None else [])
    for label, expression in operands:
        _isotropic_mm(expression.margin, f"{name!r} (operand {label})")
        for source in expression.sources:
            if source.lower() == name.lower():
                raise InputError(f"{name!r} uses itself as a source")
            if source.lower() not in by_id and source.lower() not in made:
                raise InputError(f"{name!r} uses {source!r}, which is neither in the structure set nor "
                                 "made before it in the recipe")
    _isotropic_mm(op.result_margin, f"{name!r} (result)")


def _by_id(structure_set: Any) -> Dict[str, Any]:
    return {str(s.Id).lower(): s for s in list(structure_set.Structures)}


def _margin(segment: Any, margin: Margin, what: str) -> Any:
    mm = _isotropic_mm(margin, what)
    return segment if mm == 0.0 else segment.Margin(mm)


def _operand(structure_set: Any, expression: Expression, what: str) -> Any:
    by_id = _by_id(structure_set)
    segment = None
    for source in expression.sources:
        part = by_id[source.lower()].SegmentVolume
        segment = part if segment is None else segment.Or(part)
    return _margin(segment, expression.margin, what)


def _segment(structure_set: Any, s: OptimisationStructure) -> Any:
    op = s.operation
    result = _operand(structure_set, op.a, f"{s.name!r} (operand a)")
    if op.b is not None:
        b = _operand(structure_set, op.b, f"{s.name!r} (operand b)")
        result = {"union": result.Or, "intersection": result.And, "subtraction": result.Sub}[op.combine](b)
    return _margin(result, op.result_margin, f"{s.name!r} (result)")


def make_structures(structure_set: Any, structures: Sequence[OptimisationStructure], prefix: str,
                    write: Write) -> Dict[str, float]:
    """Create, or update when reirrad's, each structure in order; each one's ``Structure.Volume`` (cm³).

    Parameters
    ----------
    structure_set : ESAPI ``StructureSet``
        The plan's.
    structures : sequence of OptimisationStructure
        In execution order.
    prefix : str
        The protocol's reserved prefix (ownership rule, module docstring).
    write : callable
        ``write(what, call, *args)``: the planner's ESAPI write (its refusal errors). The caller checked
        the plan's write guards.

    Raises
    ------
    reirrad.errors.InputError
        A name longer than 16 characters or without the prefix, a structure of that name that is not
        reirrad's, an unknown source, an anisotropic or too large margin: all before anything is written.
    StructureSetNotWritableError
        The structure set takes no new structures (approved or locked); nothing written.
    """
    _check_prefix(prefix)
    by_id = _by_id(structure_set)
    _validate(structures, by_id, prefix, OptimisationStructure,
              lambda s, made: _check_operation(s, by_id, made))
    _require_set_writable(structure_set)
    volumes: Dict[str, float] = {}
    for s in structures:
        segment = _segment(structure_set, s)
        target, _ = _own_or_new(structure_set, s.name, prefix, write)

        def assign(value: Any, structure: Any = target) -> None:
            structure.SegmentVolume = value

        write(f"set the segment of {s.name!r}", assign, segment)
        volumes[s.name] = float(target.Volume)
    return volumes


def _require_set_writable(structure_set: Any) -> None:
    reason = set_not_writable(structure_set)
    if reason is not None:
        raise StructureSetNotWritableError(f"{reason}. Nothing was written")


def _own_or_new(structure_set: Any, name: str, prefix: str, write: Write) -> Tuple[Any, bool]:
    """reirrad's own structure ``name`` (False), or a new CONTROL structure of that id (True)."""
    target = _by_id(structure_set).get(name.lower())
    if target is None:
        return write(f"add structure {name!r}", structure_set.AddStructure, CONTROL, name), True
    if not is_owned(target, prefix):  # checked before any write; the set cannot have changed: never write it
        raise InputError(f"structure {str(target.Id)!r} is not reirrad's; it is never modified")
    return target, False


# -- outlined structures ---------------------------------------------------------------------------------
def _image_planes(image: Any) -> Tuple[float, float, int]:
    """(z of plane 0, signed z step, number of planes), mm, of an axial image (its ZDirection along
    patient z); another orientation is refused."""
    direction = vector_mm(image.ZDirection)
    if abs(abs(direction[2]) - 1.0) > 1e-6:
        raise InputError(f"image {str(image.Id)!r} is not axial (ZDirection {direction}); reirrad writes "
                         "contours on axial image planes only")
    return vector_mm(image.Origin)[2], float(image.ZRes) * direction[2], int(image.ZSize)


def image_plane_index(image: Any, z_mm: float, what: str) -> int:
    """The index of the image plane at patient z ``z_mm`` (``AddContourOnImagePlane``'s ``z``).

    Raises
    ------
    reirrad.errors.InputError
        ``z_mm`` is more than :data:`Z_TOLERANCE_MM` from every plane of the image (or outside it); the
        message names ``what``, the z and the image's planes.
    """
    z0, step, count = _image_planes(image)
    position = (float(z_mm) - z0) / step
    index = round(position) if math.isfinite(position) else -1
    if not 0 <= index < count or abs(position - index) * abs(step) > Z_TOLERANCE_MM:
        last = z0 + step * (count - 1)
        raise InputError(f"{what} has contours at z = {z_mm:g} mm, which is not a plane of image "
                         f"{str(image.Id)!r} (its {count} planes lie at z = {z0:g} … {last:g} mm every "
                         f"{abs(step):g} mm, within {Z_TOLERANCE_MM:g} mm). Nothing was written: outline "
                         "the region on the image's own planes (the organ's contour planes)")
    return index


def _check_planes(s: OutlinedStructure, image: Any) -> None:
    for plane in s.planes:
        image_plane_index(image, plane.z_mm, repr(s.name))
        if len(plane.loops_mm) != len(plane.holes):
            raise InputError(f"{s.name!r}: the plane at z = {plane.z_mm:g} mm has {len(plane.loops_mm)} "
                             f"contours and {len(plane.holes)} hole flags")
        for loop in plane.loops_mm:
            points = np.asarray(loop, dtype=np.float64)
            shaped = points.ndim == 2 and points.shape[0] >= 3 and points.shape[1] == 3
            if (not shaped or not np.isfinite(points).all()
                    or np.abs(points[:, 2] - plane.z_mm).max() > Z_TOLERANCE_MM):
                raise InputError(f"{s.name!r}: a contour of the plane at z = {plane.z_mm:g} mm is not three "
                                 "or more finite (x, y, z) points in mm on that plane")


def make_outlined_structures(structure_set: Any, structures: Sequence[OutlinedStructure], prefix: str,
                             write: Write) -> Dict[str, float]:
    """Create, or replace the contours of when reirrad's, each outlined structure; each one's
    ``Structure.Volume`` (cm³). Module docstring, "Outlined structures".

    Parameters
    ----------
    structure_set : ESAPI ``StructureSet``
        The plan's; its ``Image`` gives the planes.
    structures : sequence of OutlinedStructure
    prefix, write
        As :func:`make_structures`.

    Raises
    ------
    reirrad.errors.InputError
        A name as :func:`make_structures` refuses it, a plane off the image's planes, a malformed
        contour: all before anything is written.
    StructureSetNotWritableError
        The structure set takes no new structures (approved or locked); nothing written.
    """
    _check_prefix(prefix)
    image = structure_set.Image
    _validate(structures, _by_id(structure_set), prefix, OutlinedStructure,
              lambda s, made: _check_planes(s, image))
    _require_set_writable(structure_set)
    volumes: Dict[str, float] = {}
    for s in structures:
        target, new = _own_or_new(structure_set, s.name, prefix, write)
        if not new:
            for z in range(int(image.ZSize)):
                write(f"clear image plane {z} of {s.name!r}", target.ClearAllContoursOnImagePlane, z)
        for plane in s.planes:
            z = image_plane_index(image, plane.z_mm, repr(s.name))
            for loop, hole in zip(plane.loops_mm, plane.holes):
                if hole:
                    write(f"subtract a hole of {s.name!r} on image plane {z}",
                          target.SubtractContourOnImagePlane, vvector_array(loop), z)
                else:
                    write(f"add a contour of {s.name!r} on image plane {z}", target.AddContourOnImagePlane,
                          vvector_array(loop), z)
        volumes[s.name] = float(target.Volume)
    return volumes
