"""Optimisation structures during a planning run: made in the TPS per level, checked, and targeted.

The workflow (:mod:`reirrad.workflow`) asks a :class:`StructureRun` for the objectives of every level it
optimises. When the protocol enables ``optimisation_structures`` and the planner can make structures
(:class:`reirrad.ports.StructureMaker`) in a structure set that takes them, the run

1. builds the recipe at that level (:func:`reirrad.optstructures.optimisation_recipe`: which OARs are
   subtracted depends on the level);
2. has the planner create or update the structures when the recipe differs from the one the TPS holds
   (the same names on every level and every re-run: reirrad's own structures are reused);
3. compares the TPS's volumes with the engine's (:func:`reirrad.optstructures.check_volumes`: a ``flag``
   per structure beyond the protocol's tolerance);
4. moves the target's **lower** (coverage) objective onto the optimisation target (``PTV_opt``); the
   target's maximum-dose objective stays on the PTV (a hot spot anywhere in it counts), and the OAR
   objectives stay on the clinician's organs (the cumulative limits are theirs).

Otherwise the objectives are the clinician's structures' (:meth:`reirrad.workflow.PreparedCase.objectives_at`)
and a finding says why: ``optimisation-structures-off`` (info: the protocol disables them),
``optimisation-structures-not-supported`` (flag: the planner cannot make structures, e.g. the TPS-less
offline evaluation) or ``optimisation-structures-not-made`` (flag: the structure set is approved or locked;
reirrad never writes to it). An empty optimisation target (``optimisation-target-empty``) also keeps the
coverage objective on the PTV.

The coverage rule and every reported target figure stay on the PTV (the guidance's rule); the run also
reports the optimisation target's and the compromised region's figures (:meth:`StructureRun.region_figures`).

**Spatial objectives** (``WorkflowOptions.objectives == "spatial"``, or the protocol's
``optimisation_structures.spatial_objectives`` when the option is not given): the low-tolerance structures
of :func:`reirrad.spatial.spatial_plan` are written once per run through the planner's
:class:`reirrad.ports.OutlineMaker` capability (they do not depend on the level), their volumes checked like
the others', and their maximum-dose objectives added at every level. Without the capability the run goes on
without them (``spatial-objectives-not-supported``, flag); a dry run previews them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .dose import DoseGrid
from .evaluation import target_figures
from .findings import Finding, unique_findings
from .objectives import OptimizationObjective
from .optstructures import (
    COMPROMISED,
    OptimisationRecipe,
    check_volumes,
    optimisation_recipe,
    volume_findings,
)

if TYPE_CHECKING:  # reirrad.workflow imports this module (and reirrad.spatial imports reirrad.workflow)
    from .ports import OutlineMaker, StructureMaker
    from .spatial import SpatialPlan
    from .workflow import PreparedCase

__all__ = ["StructureRun", "spatial_requested", "structure_maker"]

_MAKER_METHODS = ("structures_not_writable", "owned_structure_ids", "make_structures")


def spatial_requested(prepared: PreparedCase) -> bool:
    """Whether the run asks for spatial objectives: the option when given, else the protocol's default."""
    if prepared.options.objectives is not None:
        return prepared.options.objectives == "spatial"
    settings = prepared.protocol.optimisation_structures
    return bool(settings is not None and settings.spatial_objectives)


def structure_maker(planner: Any) -> Optional[StructureMaker]:
    """``planner`` when it has every :class:`reirrad.ports.StructureMaker` method, else None."""
    if planner is not None and all(callable(getattr(planner, m, None)) for m in _MAKER_METHODS):
        return planner  # type: ignore[no-any-return]
    return None


class StructureRun:
    """The optimisation structures of one run (module docstring).

    Parameters
    ----------
    prepared : reirrad.workflow.PreparedCase
    planner : object or None
        The run's planner; used only when it is a :class:`reirrad.ports.StructureMaker`. None for a dry
        run: nothing is made, :meth:`preview` shows what would be.
    """

    def __init__(self, prepared: PreparedCase, planner: Any) -> None:
        self.prepared = prepared
        settings = prepared.protocol.optimisation_structures
        self._findings: List[Finding] = []
        self._maker: Optional[StructureMaker] = None
        self._prefix = ""
        self._owned: List[str] = []
        self._made: List[str] = []
        self._held: Optional[Tuple[Any, ...]] = None  # (name, operation) of what the TPS holds
        self.recipe: Optional[OptimisationRecipe] = None  # the recipe of the last level optimised
        self.volumes_cc: Dict[str, float] = {}  # the TPS's volumes of what it holds
        self.objectives: Tuple[OptimizationObjective, ...] = ()  # the last objectives written
        self.spatial: Optional[SpatialPlan] = None  # the low-tolerance structures the TPS holds
        self.spatial_volumes_cc: Dict[str, float] = {}  # the TPS's volumes of those
        self._outliner: Optional[OutlineMaker] = None
        self._spatial_wanted = spatial_requested(prepared)
        if self._spatial_wanted and (settings is None or not settings.enabled):
            self._findings.append(Finding(
                "spatial-objectives-not-made", "flag",
                "spatial objectives were asked for, but the protocol's optimisation_structures section is "
                "absent or disabled (its prefix marks reirrad's structures): no low-tolerance structure is "
                "made", subject="spatial-objectives"))
            self._spatial_wanted = False
        if settings is None or not settings.enabled or planner is None:
            return
        maker = structure_maker(planner)
        if maker is None:
            self._findings.append(Finding(
                "optimisation-structures-not-supported", "flag",
                "this planner cannot create structures: the target's coverage objective is on "
                f"{prepared.target_id} itself, with no optimisation target (PTV minus the PRVs of the OARs "
                "below the prescription)", subject="optimisation-structures"))
            return
        reason = maker.structures_not_writable()
        if reason:
            self._findings.append(Finding(
                "optimisation-structures-not-made", "flag",
                f"no optimisation structures were created: {reason}; reirrad never writes to an approved "
                f"or locked structure set. The target's coverage objective is on {prepared.target_id}; to "
                "plan with an optimisation target, create the plan on an unapproved structure set",
                subject="optimisation-structures"))
            return
        self._maker = maker
        self._prefix = settings.name_prefix
        # reirrad's structures in the case read before the run are "owned"; those the TPS has beyond that
        # read (made since, e.g. by an earlier run on the same session) are "made"
        read = {s.id for s in prepared.snapshot.structures}
        owned = list(maker.owned_structure_ids(settings.name_prefix))
        self._owned = [o for o in owned if o in read]
        self._made = [o for o in owned if o not in read]
        if self._spatial_wanted:
            if callable(getattr(planner, "make_outlined_structures", None)):
                self._outliner = planner
            else:
                self._findings.append(Finding(
                    "spatial-objectives-not-supported", "flag",
                    "this planner cannot write a structure contour by contour: no low-tolerance structure is "
                    "made and the OARs keep their whole-organ objectives", subject="spatial-objectives"))

    @property
    def active(self) -> bool:
        """Whether structures are made in the TPS in this run."""
        return self._maker is not None

    @property
    def findings(self) -> List[Finding]:
        """Why no structures are made, the last recipe's findings, and every volume check's flags."""
        own = list(self._findings)
        if self.recipe is not None:
            own.extend(f for f in self.recipe.findings if f.code != "optimisation-structures-off")
        return unique_findings(own)

    def dry_run_entries(self, options: Any) -> Tuple[List[Dict[str, Any]], List[Finding]]:
        """A dry run's preview: the entries and findings of the recipe at the intent's highest level (the
        most OARs subtracted), nothing made (``volume_cc`` None)."""
        prescriptions = self.prepared.protocol.prescriptions
        top = (prescriptions.limit_toxicity.value if options.intent == "limit-toxicity"
               else max(prescriptions.isotoxic_ladder_gy))
        recipe = self.preview(top)
        entries = self.result_entries(recipe)
        found = [f for f in recipe.findings if f.code != "optimisation-structures-off"]
        if self._spatial_wanted:
            spatial = self._spatial_plan(self._preview_owned())
            entries.extend({**s.to_dict(), "volume_cc": None} for s in spatial.structures)
            found.extend(spatial.findings)
        return entries, found + [f for f in self._findings if f.code.startswith("spatial-")]

    def _spatial_plan(self, owned: Sequence[str], made: Sequence[str] = ()) -> SpatialPlan:
        from .spatial import spatial_plan  # noqa: PLC0415 - reirrad.spatial imports reirrad.workflow

        return spatial_plan(self.prepared, owned_ids=owned, made_ids=made)

    def _preview_owned(self) -> List[str]:
        """reirrad's structures as a run would see them; without a planner (a dry run) the case's
        structures named with the protocol's prefix and of DICOM type CONTROL (the ownership rule without
        the TPS's approval state), so a preview names what a run would update rather than new names."""
        settings = self.prepared.protocol.optimisation_structures
        if self._maker is None and settings is not None:
            return [s.id for s in self.prepared.snapshot.structures
                    if s.id.startswith(settings.name_prefix) and s.dicom_type.upper() == "CONTROL"]
        return list(self._owned)

    def preview(self, prescription_gy: float) -> OptimisationRecipe:
        """The recipe at ``prescription_gy`` (TOTAL Gy) with nothing made (the dry run, the dialog), with
        reirrad's structures as :meth:`_preview_owned` sees them."""
        return optimisation_recipe(self.prepared, prescription_gy, owned_ids=self._preview_owned())

    def objectives_at(self, prescription_gy: float) -> List[OptimizationObjective]:
        """The objectives for ``prescription_gy`` (TOTAL Gy), after making the level's structures in the TPS
        when they differ from those it holds (module docstring)."""
        plain = self.prepared.objectives_at(prescription_gy)
        if self._maker is None:
            self.objectives = tuple(plain)
            return plain
        recipe = optimisation_recipe(self.prepared, prescription_gy, owned_ids=self._owned,
                                     made_ids=self._made)
        held = tuple((s.name, s.operation) for s in recipe.structures)
        if held != self._held:
            self._held = None  # a failure part-way leaves the TPS holding neither
            volumes = dict(self._maker.make_structures(recipe.structures, self._prefix))
            self._made.extend(s.name for s in recipe.structures if s.name not in self._made)
            self._held = held
            self.volumes_cc = {s.name: float(volumes[s.name]) for s in recipe.structures if s.name in volumes}
            self._findings.extend(check_volumes(recipe, self.volumes_cc))
        self.recipe = recipe
        extra = self._spatial_objectives()
        target = recipe.target_opt
        if target is None or target.expected_volume_cc <= 0.0:
            self.objectives = (*plain, *extra)
            return list(self.objectives)
        moved = [replace(o, structure_id=target.name, reason=f"{o.reason}, on {target.name}: {target.reason}")
                 if o.role == "target" and o.kind == "lower" else o for o in plain]
        self.objectives = (*moved, *extra)
        return list(self.objectives)

    def _spatial_objectives(self) -> List[OptimizationObjective]:
        """The low-tolerance structures' objectives, making the structures first when the TPS does not
        hold them yet (once per run: they do not depend on the level)."""
        if self._outliner is None:
            return []
        if self.spatial is None:
            settings = self.prepared.protocol.optimisation_structures
            assert settings is not None  # the outliner is set only with the section enabled
            plan = self._spatial_plan(self._owned, self._made)
            if plan.structures:
                volumes = dict(self._outliner.make_outlined_structures(plan.structures, self._prefix))
                self._made.extend(s.name for s in plan.structures if s.name not in self._made)
                self.spatial_volumes_cc = {s.name: float(volumes[s.name]) for s in plan.structures
                                           if s.name in volumes}
                self._findings.extend(volume_findings(
                    plan.structures, self.spatial_volumes_cc, settings.volume_tolerance_percent.value,
                    settings.volume_tolerance_cc.value))
            self._findings.extend(plan.findings)
            self.spatial = plan
        return list(self.spatial.objectives)

    def result_entries(self, recipe: Optional[OptimisationRecipe] = None) -> List[Dict[str, Any]]:
        """The result's ``optimisation_structures``: one entry per structure of ``recipe`` (default: the
        one the TPS holds) with the TPS's ``volume_cc`` (None when nothing was made)."""
        held = recipe is None or recipe is self.recipe
        recipe = recipe if recipe is not None else self.recipe
        entries = [] if recipe is None else [
            {**s.to_dict(), "volume_cc": self.volumes_cc.get(s.name) if held else None}
            for s in recipe.structures]
        if held and self.spatial is not None:
            entries.extend({**s.to_dict(), "volume_cc": self.spatial_volumes_cc.get(s.name)}
                           for s in self.spatial.structures)
        return entries

    def region_figures(self, dose: DoseGrid, prescription_gy: float) -> Dict[str, Any]:
        """Coverage and tumour-dose figures (:class:`reirrad.evaluation.TargetFigures`) of the optimisation
        target and of the compromised region (the PTV inside what the optimisation target subtracts), on
        ``dose`` (TOTAL physical Gy on the planning grid) at ``prescription_gy``; {} when nothing was
        made. Occupancies from the engine's lattice masks (:func:`reirrad.roi_algebra.mask_occupancy`)."""
        recipe = self.recipe
        if recipe is None or recipe.target_opt is None:
            return {}
        protocol, n_fx = self.prepared.protocol, self.prepared.n_fractions
        out: Dict[str, Any] = {}
        regions: Sequence[Tuple[str, str]] = [("optimisation_target", recipe.target_opt.name),
                                              ("compromised", COMPROMISED)]
        for key, name in regions:
            if name not in recipe.masks:
                out[key] = None
                continue
            occupancy = recipe.region_occupancy(name)
            if occupancy.volume_in_grid_cc <= 0.0:
                out[key] = {"structure": name, "volume_cc": 0.0}
                continue
            figures = target_figures(protocol, dose, occupancy, prescription_gy, n_fx)
            out[key] = {"structure": name if name != COMPROMISED else None,
                        "derived_from": _compromised_sources(recipe) if name == COMPROMISED else None,
                        "volume_cc": occupancy.volume_in_grid_cc, **figures.to_dict()}
        return out


def _compromised_sources(recipe: OptimisationRecipe) -> Mapping[str, Any]:
    target = recipe.target_opt
    assert target is not None and target.operation.b is not None
    return {"intersection_of": list(target.operation.a.sources),
            "and_union_of": list(target.operation.b.sources)}
