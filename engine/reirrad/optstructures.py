"""Optimisation structures: the TPS-agnostic recipe, and the check of the volumes the TPS made.

The engine decides which structures to create (docs/optimisation-structures.md); the adapters execute
the recipe in order and report the volumes their TPS computed, which :func:`check_volumes` compares with
the engine's own. Nothing here calls a TPS.

Recipe (the protocol's ``optimisation_structures`` section,
:class:`reirrad.protocol.OptimisationStructureSettings`)
---------------------------------------------------------
1. **PRVs** (role ``prv``), one per matched OAR that has a ``prv`` entry: the organ grown isotropically by
   its margin.
2. **Optimisation target** (role ``target-opt``): the PTV minus the union of the PRV (or, for an OAR without
   one, the organ itself) of every OAR whose allowed dose is *below* prescription × ``subtract_factor``
   and whose PRV (or organ) comes within one dose voxel of the PTV; the PTV itself when there is none.
3. **Ring** (role ``ring``): the PTV grown by ``gap + width`` minus the PTV grown by ``gap``.

Each structure has one :class:`reirrad.roi_algebra.Operation`; that module describes how an operation
maps onto each TPS's ROI algebra, and how the engine computes the volume it expects of the result (the
model and its accuracy).

Names are the protocol's prefix + name (``zRR_PTV_opt``); a name equal, without regard to case, to an
existing structure that reirrad did not create gets the first free suffix ``_1`` … ``_9``. reirrad's
earlier structures (``owned_ids``) are reused first, so the same case gives the same names and a re-run
updates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._validate import finite_float
from .dose import DoseGrid
from .errors import InputError, echo
from .findings import Finding
from .outlines import PlaneOutline
from .protocol import OptimisationStructureSettings
from .roi_algebra import (
    Expression,
    Lattice,
    Margin,
    Mask,
    Operation,
    SourceUse,
    apply_margin,
    combine,
    evaluate,
    evaluate_expression,
    mask_occupancy,
)
from .structures import Occupancy

if TYPE_CHECKING:  # reirrad.workflow does not import this module; the name is for the signature only
    from .workflow import PreparedCase

__all__ = [
    "COMPROMISED",
    "ROLES",
    "OarInput",
    "OptimisationRecipe",
    "OptimisationStructure",
    "OutlinedStructure",
    "build_recipe",
    "check_volumes",
    "optimisation_recipe",
    "resolve_names",
    "volume_findings",
]

#: Roles of created structures (``low-tolerance``: an :class:`OutlinedStructure`, :mod:`reirrad.spatial`).
ROLES = ("target-opt", "prv", "ring", "low-tolerance")
#: Key of the compromised region in :attr:`OptimisationRecipe.masks`: the PTV inside the union of what the
#: optimisation target subtracts (never created in the TPS; evaluated and reported).
COMPROMISED = "(compromised region)"
#: DICOM type of every created structure (RayStation ROI type ``Control``).
DICOM_TYPE = "CONTROL"

_MAX_SUFFIX = 9
_OUTSIDE_GRID_TOL = 1e-3


@dataclass(frozen=True)
class OptimisationStructure:
    """A structure the adapter creates (or updates, when reirrad made it before).

    Attributes
    ----------
    name : str
        Never equal (case-insensitively) to a structure reirrad did not create.
    role : str
        One of :data:`ROLES`.
    operation : Operation
    expected_volume_cc : float
        The engine's volume of the result, cm³ (:func:`reirrad.roi_algebra.expected_volume_cc`).
    reason : str
        Why it is made, for the dialog and the report.
    oar_key : str or None
        The protocol OAR of a PRV.
    dicom_type : str
        :data:`DICOM_TYPE`.
    """

    name: str
    role: str
    operation: Operation
    expected_volume_cc: float
    reason: str
    oar_key: Optional[str] = None
    dicom_type: str = DICOM_TYPE

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InputError(f"role must be one of {ROLES} (got {echo(self.role)})")
        finite_float("expected_volume_cc", self.expected_volume_cc, minimum=0.0, unit="cm³")

    @property
    def derived_from(self) -> Tuple[SourceUse, ...]:
        """Every source with its operand (``a``/``b``) and that expression's margin."""
        op = self.operation
        uses = [SourceUse(s, "a", op.a.margin) for s in op.a.sources]
        if op.b is not None:
            uses.extend(SourceUse(s, "b", op.b.margin) for s in op.b.sources)
        return tuple(uses)

    def to_dict(self) -> Dict[str, Any]:
        """The result's ``optimisation_structures`` entry (``volume_cc``, the TPS's, added by the caller)."""
        return {"name": self.name, "role": self.role, "oar_key": self.oar_key, "dicom_type": self.dicom_type,
                "derived_from": [u.to_dict() for u in self.derived_from],
                "operation": self.operation.to_dict(), "expected_volume_cc": self.expected_volume_cc,
                "reason": self.reason}


@dataclass(frozen=True, eq=False)
class OutlinedStructure:
    """A structure the adapter writes contour by contour (role ``low-tolerance``): a region the engine
    computed voxel by voxel, with no ROI-algebra recipe (:mod:`reirrad.outlines`, :mod:`reirrad.spatial`).

    Attributes
    ----------
    name : str
        Starts with the protocol's prefix; never equal (case-insensitively) to a structure reirrad did not
        create.
    role : str
        ``low-tolerance``.
    oar_key, structure_id : str
        The protocol OAR and the clinician's organ the region lies in.
    planes : tuple of reirrad.outlines.PlaneOutline
        The contours, plane by plane (patient mm, even–odd rule), on the organ's own contour planes.
    expected_volume_cc : float
        The engine's volume of exactly these contours (:func:`reirrad.structures.structure_occupancy`,
        each plane a slab of ``plane_spacing_mm``), cm³.
    plane_spacing_mm : float
        The slab thickness of one plane in that volume: the organ's contour-plane spacing (the planning
        image's slice spacing), mm; what a planner without a TPS uses to rasterise the contours.
    region_volume_cc : float
        The region's volume on the dose grid (the voxels the engine selected), cm³.
    reason : str
        How the region was selected, for the dialog and the report.
    dicom_type : str
        :data:`DICOM_TYPE`.
    """

    name: str
    role: str
    oar_key: str
    structure_id: str
    planes: Tuple[PlaneOutline, ...]
    expected_volume_cc: float
    plane_spacing_mm: float
    region_volume_cc: float
    reason: str
    dicom_type: str = DICOM_TYPE

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InputError(f"role must be one of {ROLES} (got {echo(self.role)})")
        finite_float("expected_volume_cc", self.expected_volume_cc, minimum=0.0, unit="cm³")
        finite_float("plane_spacing_mm", self.plane_spacing_mm, strictly_positive=True, unit="mm")
        if not self.planes:
            raise InputError(f"{self.name}: an outlined structure needs at least one plane with contours")

    @property
    def contours_mm(self) -> List[Any]:
        """Every contour of every plane, (N, 3) arrays in patient mm."""
        return [loop for plane in self.planes for loop in plane.loops_mm]

    def to_dict(self) -> Dict[str, Any]:
        """The result's ``optimisation_structures`` entry (``volume_cc``, the TPS's, added by the caller)."""
        return {"name": self.name, "role": self.role, "oar_key": self.oar_key, "dicom_type": self.dicom_type,
                "derived_from": [{"structure_id": self.structure_id, "operand": "a", "margin": None}],
                "operation": {"kind": "contours", "planes": len(self.planes),
                              "contours": len(self.contours_mm), "rule": "even-odd"},
                "expected_volume_cc": self.expected_volume_cc, "region_volume_cc": self.region_volume_cc,
                "reason": self.reason}


@dataclass(frozen=True)
class OptimisationRecipe:
    """What to create at one prescription level, in execution order.

    ``structures`` is empty when the protocol has no ``optimisation_structures`` section or disables it
    (``enabled`` False). ``subtracted_oars`` are the protocol OAR keys taken out of the optimisation target;
    ``apart_oars`` those below the level whose PRV (or organ) lies more than one dose voxel from the PTV
    on the engine's lattice, left out of the operation (subtracting them would change nothing).
    The tolerances are the protocol's (None when there is no section).
    """

    enabled: bool
    prescription_gy: float
    structures: Tuple[OptimisationStructure, ...]
    subtracted_oars: Tuple[str, ...]
    apart_oars: Tuple[str, ...]
    findings: Tuple[Finding, ...]
    tolerance_percent: Optional[float]
    tolerance_cc: Optional[float]
    #: the engine's lattice masks of the structures (by name) and of the compromised region (key
    #: :data:`COMPROMISED`: the PTV inside the subtracted PRVs/organs), for :meth:`region_occupancy`
    masks: Mapping[str, Mask] = field(default_factory=dict, compare=False, repr=False)
    lattice: Optional[Lattice] = field(default=None, compare=False, repr=False)

    @property
    def target_opt(self) -> Optional[OptimisationStructure]:
        """The optimisation target (role ``target-opt``), None when the recipe makes none."""
        return next((s for s in self.structures if s.role == "target-opt"), None)

    def region_occupancy(self, name: str) -> Occupancy:
        """The dose-grid occupancy of a created structure or of :data:`COMPROMISED`
        (:func:`reirrad.roi_algebra.mask_occupancy`); InputError for a name the recipe has no mask of."""
        if name not in self.masks or self.lattice is None:
            raise InputError(f"the recipe has no region {name!r} (it has {sorted(self.masks)})")
        return mask_occupancy(self.masks[name], self.lattice)

    def structure(self, name: str) -> OptimisationStructure:
        """The created structure named ``name`` (InputError listing the names when absent)."""
        for s in self.structures:
            if s.name == name:
                return s
        made = [s.name for s in self.structures]
        raise InputError(f"the recipe creates no structure {name!r} (it creates {made})")

    def to_dicts(self) -> List[Dict[str, Any]]:
        """One mapping per structure (:meth:`OptimisationStructure.to_dict`)."""
        return [s.to_dict() for s in self.structures]


@dataclass(frozen=True, eq=False)
class OarInput:
    """One matched OAR as the recipe needs it: key, TPS structure, occupancy, allowed physical dose (Gy)."""

    key: str
    structure_id: str
    occupancy: Occupancy
    allowed_gy: float


# --------------------------------------------------------------------------------------
# The recipe


def optimisation_recipe(prepared: PreparedCase, prescription_gy: float, *,
                        owned_ids: Sequence[str] = (), made_ids: Sequence[str] = ()) -> OptimisationRecipe:
    """The recipe for a prepared case (:class:`reirrad.workflow.PreparedCase`) at one prescription level.

    Parameters
    ----------
    prepared : reirrad.workflow.PreparedCase
        Its protocol, snapshot (structure ids, dose grid), target, matched OARs, occupancies and
        tolerances are used.
    prescription_gy : float
        TOTAL prescription of the level, Gy.
    owned_ids : sequence of str
        Ids of the case's structures that reirrad created in an earlier run (the adapter knows them by its
        ownership rule, :class:`reirrad.ports.StructureMaker`); their names may be reused, every other name
        is avoided.
    made_ids : sequence of str
        Structures reirrad has created in this run (not in the snapshot read before it): they are the
        case's and reirrad's.

    Raises
    ------
    reirrad.errors.InputError
        See :func:`build_recipe`.
    """
    oars = [OarInput(key, prepared.oar_structures[key], prepared.oar_occupancy[key],
                     prepared.tolerances[key].allowed_physical_gy)
            for key in prepared.protocol.oar_keys
            if key in prepared.oar_occupancy and key in prepared.tolerances]
    existing = [s.id for s in prepared.snapshot.structures]
    return build_recipe(prepared.protocol.optimisation_structures, prescription_gy=prescription_gy,
                        grid=prepared.snapshot.dose_grid, target_id=prepared.target_id,
                        target=prepared.target, oars=oars,
                        existing_ids=[*existing, *(m for m in made_ids if m not in existing)],
                        owned_ids=[*owned_ids, *(m for m in made_ids if m not in owned_ids)])


def build_recipe(settings: Optional[OptimisationStructureSettings], *, prescription_gy: float, grid: DoseGrid,
                 target_id: str, target: Occupancy, oars: Sequence[OarInput], existing_ids: Sequence[str],
                 owned_ids: Sequence[str] = ()) -> OptimisationRecipe:
    """The recipe (module docstring) from explicit inputs; :func:`optimisation_recipe` gathers them.

    Parameters
    ----------
    settings : OptimisationStructureSettings or None
        The protocol's section; None or ``enabled`` False gives an empty recipe.
    prescription_gy : float
        TOTAL prescription of the level, Gy (> 0).
    grid : DoseGrid
        The planning dose grid the occupancies are on (geometry only).
    target_id, target : str, Occupancy
        The plan's target structure (the PTV) and its occupancy.
    oars : sequence of OarInput
        The matched OARs, in protocol order.
    existing_ids : sequence of str
        Every structure id of the case's structure set.
    owned_ids : sequence of str
        The subset of ``existing_ids`` that reirrad created before.

    Raises
    ------
    reirrad.errors.InputError
        A prescription not > 0; an owned id that is not in the case; the target or a matched OAR that is
        one of reirrad's own structures (its recipe would edit its own source); no free name among the
        name and its suffixes ``_1`` … ``_9``; an anisotropic margin on a grid rotated in the axial plane.
    """
    rx = finite_float("prescription_gy", prescription_gy, strictly_positive=True, unit="Gy")
    if settings is None or not settings.enabled:
        why = ("the protocol has no optimisation_structures section" if settings is None
               else "the protocol's optimisation_structures.enabled is false")
        return OptimisationRecipe(False, rx, (), (), (), (Finding(
            "optimisation-structures-off", "info", f"no optimisation structures are made: {why}",
            subject="optimisation-structures"),),
            None if settings is None else settings.volume_tolerance_percent.value,
            None if settings is None else settings.volume_tolerance_cc.value)  # no masks
    existing = list(existing_ids)
    unknown = [o for o in owned_ids if o not in existing]
    if unknown:
        raise InputError(f"owned_ids {echo(unknown)} are not structures of the case ({echo(existing)}); "
                         "pass only ids of structures reirrad created in this structure set")
    names = resolve_names(settings.name_prefix,
                          [settings.target_opt_name, *(p.name for p in settings.prvs), settings.ring_name],
                          existing, list(owned_ids))
    own_lower = {n.lower() for n in names.values()} | {o.lower() for o in owned_ids}
    for role, sid in [("the plan's target", target_id)] + [(f"OAR {o.key}", o.structure_id) for o in oars]:
        if sid.lower() in own_lower:
            raise InputError(f"{role} is {sid!r}, one of reirrad's own optimisation structures; select the "
                             "clinician's structure (a created structure is never a source of itself)")

    occupancies: Dict[str, Occupancy] = {target_id: target}
    occupancies.update({o.structure_id: o.occupancy for o in oars})
    made: List[Tuple[str, str, Operation, str, Optional[str]]] = []  # name, role, operation, reason, oar key
    prv_of: Dict[str, str] = {}
    for setting in settings.prvs:
        oar = next((o for o in oars if o.key == setting.oar_key), None)
        if oar is None:
            continue
        name = names[setting.name]
        prv_of[oar.key] = name
        margin = setting.margin.value
        grow = Operation(Expression((oar.structure_id,), Margin.isotropic("expand", margin)))
        made.append((name, "prv", grow, f"PRV of {oar.structure_id} ({oar.key}): grown {margin:g} mm",
                     oar.key))
    lattice = Lattice.of(grid)
    masks: Dict[str, Mask] = {}
    structures: List[OptimisationStructure] = []

    def add(name: str, role: str, op: Operation, reason: str, key: Optional[str]) -> None:
        mask = evaluate(op, occupancies, masks, lattice)
        masks[name] = mask
        structures.append(OptimisationStructure(name, role, op, mask.volume_cc(lattice), reason, key))

    for name, role, op, reason, key in made:
        add(name, role, op, reason, key)
    ctx = _Context(occupancies, masks, lattice)
    target_op, reason, subtracted, apart = _target_operation(settings, rx, target_id=target_id, oars=oars,
                                                             prv_of=prv_of, ctx=ctx)
    add(names[settings.target_opt_name], "target-opt", target_op, reason, None)
    gap, width = settings.ring_gap.value, settings.ring_width.value
    add(names[settings.ring_name], "ring",
        Operation(Expression((target_id,), Margin.isotropic("expand", gap + width)),
                  Expression((target_id,), Margin.isotropic("expand", gap)), "subtraction"),
        f"ring {gap:g} to {gap + width:g} mm outside {target_id}", None)
    findings = _recipe_findings(structures, occupancies, target_id)
    if target_op.b is not None:
        masks[COMPROMISED] = evaluate(Operation(target_op.a, target_op.b, "intersection"), occupancies, masks,
                                      lattice)
    return OptimisationRecipe(True, rx, tuple(structures), tuple(o.key for o in subtracted),
                              tuple(o.key for o in apart), tuple(findings),
                              settings.volume_tolerance_percent.value, settings.volume_tolerance_cc.value,
                              dict(masks), lattice)


@dataclass(frozen=True, eq=False)
class _Context:
    """What evaluating an operation needs: the sources' occupancies, the masks made so far, the lattice."""

    occupancies: Mapping[str, Occupancy]
    masks: Mapping[str, Mask]
    lattice: Lattice


def _target_operation(settings: OptimisationStructureSettings, rx: float, *, target_id: str,
                      oars: Sequence[OarInput], prv_of: Mapping[str, str],
                      ctx: _Context) -> Tuple[Operation, str, List[OarInput], List[OarInput]]:
    """The optimisation target's operation and reason, the OARs it subtracts and those below the level but
    more than one dose voxel from the PTV (left out: subtracting them would change nothing)."""
    factor = settings.subtract_factor.value
    level = rx * factor
    voxel = max(ctx.lattice.spacing_mm)
    target = evaluate_expression(Expression((target_id,), Margin.zero()), ctx.occupancies, ctx.masks,
                                 ctx.lattice)
    near = apply_margin(target, Margin.isotropic("expand", voxel), ctx.lattice)
    region = (near.lo, tuple(lo + n for lo, n in zip(near.lo, near.data.shape)))
    subtracted: List[OarInput] = []
    apart: List[OarInput] = []
    for o in (o for o in oars if o.allowed_gy < level):
        source = Expression((prv_of.get(o.key, o.structure_id),), Margin.zero())
        there = evaluate_expression(source, ctx.occupancies, ctx.masks, ctx.lattice, region)
        (subtracted if combine(near, there, "intersection").data.any() else apart).append(o)
    rule = f"allowed dose below {rx:g} Gy x {factor:g} = {level:.2f} Gy"
    away = ("" if not apart else
            f"; not subtracted, more than one voxel ({voxel:g} mm) from {target_id}: "
            + ", ".join(f"{o.key} {o.allowed_gy:.2f} Gy" for o in apart))
    if not subtracted:
        return (Operation(Expression((target_id,), Margin.zero())),
                f"{target_id}: no OAR near it has its {rule}{away}", subtracted, apart)
    b_sources = tuple(prv_of.get(o.key, o.structure_id) for o in subtracted)
    listed = ", ".join(f"{o.key} {o.allowed_gy:.2f} Gy" for o in subtracted)
    op = Operation(Expression((target_id,), Margin.zero()), Expression(b_sources, Margin.zero()),
                   "subtraction")
    return op, f"{target_id} minus {', '.join(b_sources)}: {rule} ({listed}){away}", subtracted, apart


def resolve_names(prefix: str, bases: Sequence[str], existing: Sequence[str],
                  owned: Sequence[str]) -> Dict[str, str]:
    """Base name (without prefix) → name in the case: reirrad's own structure among the prefixed name and its
    suffixes when there is one, else the first of them that no structure of the case has.

    Raises
    ------
    reirrad.errors.InputError
        The name and its suffixes ``_1`` … ``_9`` all taken by structures reirrad did not create.
    """
    taken = {e.lower() for e in existing if e not in owned}
    mine = {o.lower(): o for o in owned}
    chosen: Dict[str, str] = {}
    for base in bases:
        full = prefix + base
        candidates = [full, *(f"{full}_{i}" for i in range(1, _MAX_SUFFIX + 1))]
        used = {c.lower() for c in chosen.values()}
        # reirrad's own structure of this name first (its exact spelling: the adapter updates it), then a
        # free name
        free = [mine[c.lower()] for c in candidates if c.lower() in mine and c.lower() not in used]
        free += [c for c in candidates if c.lower() not in taken and c.lower() not in used]
        if not free:
            raise InputError(f"{full!r} and its suffixes _1 ... _{_MAX_SUFFIX} are all taken by structures "
                             "reirrad did not create; rename those structures or change "
                             "optimisation_structures.name_prefix")
        chosen[base] = free[0]
    return chosen


def _recipe_findings(structures: Sequence[OptimisationStructure], occupancies: Mapping[str, Occupancy],
                     target_id: str) -> List[Finding]:
    found = []
    for s in structures:
        if s.role == "target-opt" and s.expected_volume_cc <= 0.0:
            found.append(Finding(
                "optimisation-target-empty", "flag",
                f"{s.name} is empty: all of {target_id} lies in the subtracted PRVs/organs; the target "
                "objectives cannot use it - review the OARs' allowed doses and the prescription",
                subject=s.name))
    for sid, occ in occupancies.items():
        if occ.volume_cc > 0 and occ.volume_in_grid_cc < (1.0 - _OUTSIDE_GRID_TOL) * occ.volume_cc:
            found.append(Finding(
                "optimisation-source-outside-dose-grid", "flag",
                f"{sid}: {occ.volume_cc - occ.volume_in_grid_cc:.2f} cm³ of it lies off the dose grid; the "
                "engine's expected volumes of the structures made from it miss that part", subject=sid))
    return found


# --------------------------------------------------------------------------------------
# Checking the TPS's volumes


def check_volumes(recipe: OptimisationRecipe, tps_volumes_cc: Mapping[str, float]) -> List[Finding]:
    """Flags for created structures whose TPS volume differs from the engine's beyond the tolerance.

    A structure is flagged (``optimisation-structure-volume-mismatch``) when
    ``|V_tps − V_expected| > max(tolerance_percent / 100 × V_expected, tolerance_cc)``; one the TPS did
    not report gets ``optimisation-structure-volume-missing``.

    Parameters
    ----------
    recipe : OptimisationRecipe
    tps_volumes_cc : mapping of str to float
        Created structure name → the TPS's volume, cm³.

    Raises
    ------
    reirrad.errors.InputError
        A name the recipe did not create, or a volume that is not a finite number ≥ 0.
    """
    known = {s.name for s in recipe.structures}
    extra = sorted(set(tps_volumes_cc) - known)
    if extra:
        raise InputError(f"volumes given for {echo(extra)}, which the recipe did not create (it creates "
                         f"{sorted(known)})")
    return volume_findings(recipe.structures, tps_volumes_cc, float(recipe.tolerance_percent or 0.0),
                           float(recipe.tolerance_cc or 0.0))


def volume_findings(structures: Sequence[Any], tps_volumes_cc: Mapping[str, float], tolerance_percent: float,
                    tolerance_cc: float) -> List[Finding]:
    """The flags of :func:`check_volumes` for any created structures (each with ``name`` and
    ``expected_volume_cc``; names without a TPS volume get ``optimisation-structure-volume-missing``)."""
    found = []
    for s in structures:
        if s.name not in tps_volumes_cc:
            found.append(Finding("optimisation-structure-volume-missing", "flag",
                                 f"{s.name}: the TPS reported no volume; it was not checked against the "
                                 f"engine's {s.expected_volume_cc:.2f} cm³", subject=s.name))
            continue
        tps = finite_float(f"volume of {s.name}", tps_volumes_cc[s.name], minimum=0.0, unit="cm³")
        pct, cc = tolerance_percent, tolerance_cc
        allowed = max(pct / 100.0 * s.expected_volume_cc, cc)
        diff = tps - s.expected_volume_cc
        if abs(diff) > allowed:
            rel = f", {100.0 * diff / s.expected_volume_cc:+.1f} %" if s.expected_volume_cc > 0 else ""
            found.append(Finding(
                "optimisation-structure-volume-mismatch", "flag",
                f"{s.name}: the TPS volume {tps:.2f} cm³ differs from the engine's "
                f"{s.expected_volume_cc:.2f} cm³ by {diff:+.2f} cm³{rel}, beyond the tolerance of {pct:g} % "
                f"or {cc:g} cm³ (whichever is larger, here {allowed:.2f} cm³); review the structure in the "
                "TPS before accepting a plan optimised with it", subject=s.name))
    return found
