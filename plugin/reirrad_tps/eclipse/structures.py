"""reirrad's optimisation structures in Eclipse: ownership, the writability check, and the ROI algebra.

:class:`reirrad_tps.eclipse.planner.EclipsePlanner` delegates its :class:`reirrad.ports.StructureMaker`
methods here. The engine decides what to make (:mod:`reirrad.optstructures`); this module only executes
each :class:`reirrad.roi_algebra.Operation` with ESAPI (docs/reference/esapi.md §6.2, ESAPI 15.6).

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
``BeginModifications`` not called: the planner's errors), then ``StructureSet.CanAddStructure("CONTROL",
<a free probe id>)``, which Eclipse answers False for an approved or locked structure set.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from reirrad.errors import ApprovedPlanError, InputError
from reirrad.optstructures import OptimisationStructure
from reirrad.roi_algebra import Expression, Margin

__all__ = [
    "CONTROL",
    "MAX_ID_LENGTH",
    "MAX_MARGIN_MM",
    "StructureSetNotWritableError",
    "is_owned",
    "make_structures",
    "owned_ids",
    "set_not_writable",
]

#: DICOM type of every structure reirrad makes (``StructureSet.AddStructure`` documents it, esapi.md §6.1).
CONTROL = "CONTROL"
#: Longest structure id ESAPI 15.6 takes.
MAX_ID_LENGTH = 16
#: Largest margin (mm) Eclipse's ``Margin`` takes, as the ESAPI stand-in models it (an assumption there).
MAX_MARGIN_MM = 50.0

_PROBE = "reirradProbe"

#: ``write(what, call, *args)``: the planner's guarded ESAPI write (refusals become its errors).
Write = Callable[..., Any]


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


def _validate(structures: Sequence[OptimisationStructure], by_id: Mapping[str, Any], prefix: str) -> None:
    """Every refusal that does not need ESAPI to write, before anything is written."""
    made: List[str] = []
    for n, s in enumerate(structures):
        if not isinstance(s, OptimisationStructure):
            raise InputError(f"structures[{n}] is not an OptimisationStructure (got {type(s).__name__})")
        _check_name(s, by_id, prefix, made)
        _check_operation(s, by_id, made)
        made.append(s.name.lower())


def _check_name(s: OptimisationStructure, by_id: Mapping[str, Any], prefix: str, made: Sequence[str]) -> None:
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
    _validate(structures, _by_id(structure_set), prefix)
    reason = set_not_writable(structure_set)
    if reason is not None:
        raise StructureSetNotWritableError(f"{reason}. Nothing was written")
    volumes: Dict[str, float] = {}
    for s in structures:
        segment = _segment(structure_set, s)
        target = _by_id(structure_set).get(s.name.lower())
        if target is None:
            target = write(f"add structure {s.name!r}", structure_set.AddStructure, CONTROL, s.name)
        elif not is_owned(target, prefix):  # checked above; the set cannot have changed, but never write it
            raise InputError(f"structure {str(target.Id)!r} is not reirrad's; it is never modified")

        def assign(value: Any, structure: Any = target) -> None:
            structure.SegmentVolume = value

        write(f"set the segment of {s.name!r}", assign, segment)
        volumes[s.name] = float(target.Volume)
    return volumes
