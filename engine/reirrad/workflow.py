"""The re-irradiation workflow (docs/design.md §3): from a case snapshot to an optimised plan at the
highest prescription the cumulative OAR limits allow, through the :class:`~reirrad.ports.Planner`.

Steps: eligibility → structure matching → occupancy on the planning dose grid → prior doses mapped
onto that grid (rigid matrix from the snapshot) → remaining tolerance per OAR (guidance metric
method) → objectives → **decision gate** (:mod:`reirrad.gate`: every ``stop`` finding ends the run
unless overridden with a recorded reason) → (``--dry-run`` stops here, nothing written) → optimise
at the intent's level(s) → evaluate each plan by both cumulative methods → the plan at the chosen
level → normalisation → **final check** → the result mapping (docs/design.md §5, :mod:`reirrad.result`).

Intents: ``limit-toxicity`` (the protocol's limit-toxicity dose, one optimisation) and ``isotoxic``
(the protocol's ladder, :mod:`reirrad.search`). Both apply the coverage rule.

Chosen level and status (:mod:`reirrad.statuses`):

* the highest level meeting every OAR limit and the coverage rule → candidate ``planned``;
* none, but the floor level meets every OAR limit (coverage missed) → the floor plan is kept,
  candidate ``coverage-compromised`` (never an empty "infeasible");
* the floor level breaks an OAR limit → ``infeasible``; that plan is left in the TPS for review
  (not normalised).

**Final check.** The plan is left at the chosen level (re-optimised there if the search ended
elsewhere), normalised so that the TPS states the D95 the engine measured on it (the scaling is
then 1 up to the difference between the TPS's DVH and the engine's), and its dose is **recomputed
and re-read from the TPS**. Only the evaluation of that re-read dose sets the status, the reported
numbers and ``oar_limits_met``: a limit it breaks gives ``final-check-failed`` (the plan is left as
the TPS holds it, labelled), a coverage it misses ``coverage-compromised``. The normalisation value
is measured (re-read dose / dose before normalisation) and recorded with the TPS's own figure.

**Stepping down.** The normalisation asks the TPS to state the engine's D95; where the TPS's DVH of the
target differs from the engine's (a different structure model or sub-voxel sampling), the TPS scales the
dose by the ratio, and a plan that met its OAR limits with little margin may break one after it. When the
final check breaks an OAR limit, the plan is re-optimised at the next lower level of the ladder (levels
whose plan failed in the search are passed over; a plan that fails as re-optimised is optimised once
more, and when it fails again is not normalised: the run goes on down), normalised and checked again,
until a check meets every OAR limit and the coverage rule, or down to the floor, whose check is the
result whatever it finds: the level kept is the highest tried whose plan *as the TPS holds it* passes.
Each failed check is kept in the result (``final_check.failed_at_higher_levels``,
``level_limited_by.after_normalisation``) with a ``final-check-stepped-down`` flag. Only a floor whose
final check fails gives ``final-check-failed``; ``limit-toxicity`` (one level) never steps down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ._validate import finite_float
from .constraints import PriorMetricDose, RemainingTolerance, remaining_tolerance
from .cumulative import PriorCourseDose
from .dose import DoseGrid
from .dvh import DVH
from .eligibility import PriorCourseInfo, check_eligibility, eligibility_record, prescription_findings
from .errors import InputError, OptimisationError, echo
from .evaluation import PlanEvaluation, evaluate_plan, method_findings
from .findings import Finding, unique_findings
from .gate import apply_gate
from .matching import match_structures
from .objectives import OptimizationObjective, oar_objectives, target_objectives
from .optstructures import OptimisationRecipe
from .planstructures import StructureRun
from .ports import Planner
from .progress import Progress
from .protocol import Protocol
from .recovery import RECOVERY_MODELS
from .review import RISK_FACTORS
from .search import SearchOutcome, SearchStep, TryLevel, ladder_search, predict_level_index, predictive_search
from .sensitivity import SensitivityAnalysis, registration_increase_gy, sensitivity_analysis
from .snapshot import CaseSnapshot, StructureData
from .structures import Occupancy, structure_occupancy

if TYPE_CHECKING:  # reirrad.spatial imports this module
    from .spatial import SpatialPlan

__all__ = ["INTENTS", "OBJECTIVE_MODES", "SEARCHES", "FinalCheck", "PreparedCase", "WorkflowOptions",
           "WorkflowRun", "evaluate_dose", "prepare", "run"]

logger = logging.getLogger(__name__)

INTENTS = ("limit-toxicity", "isotoxic")
SEARCHES = ("predictive", "ladder")
#: ``standard``: objectives on the clinician's structures (and the optimisation target); ``spatial``: also
#: the low-tolerance structures of :mod:`reirrad.spatial`. None in the options: the protocol's default.
OBJECTIVE_MODES = ("standard", "spatial")


@dataclass(frozen=True)
class WorkflowOptions:
    """Choices of a run (each recorded in the result)."""

    intent: str = "isotoxic"
    search: str = "predictive"
    dry_run: bool = False
    override_reason: Optional[str] = None
    recovery_model: Optional[str] = None
    conservation_factor: Optional[float] = None
    structure_overrides: Mapping[str, str] = field(default_factory=dict)
    risk_factors: Tuple[str, ...] = ()
    objectives: Optional[str] = None

    def __post_init__(self) -> None:
        if self.objectives is not None and self.objectives not in OBJECTIVE_MODES:
            raise InputError(f"objectives must be one of {OBJECTIVE_MODES} (got {echo(self.objectives)})")
        if self.intent not in INTENTS:
            raise InputError(f"intent must be one of {INTENTS} (got {echo(self.intent)})")
        if self.search not in SEARCHES:
            raise InputError(f"search must be one of {SEARCHES} (got {echo(self.search)})")
        known = [key for key, _ in RISK_FACTORS]
        unknown = sorted(set(self.risk_factors) - set(known))
        if unknown:
            raise InputError(f"unknown risk factor(s) {echo(unknown)}; the recorded ones are {known}")
        if self.recovery_model is not None and self.recovery_model not in RECOVERY_MODELS:
            raise InputError(f"unknown recovery model {echo(self.recovery_model)}; choose one of "
                             f"{list(RECOVERY_MODELS)}")
        if self.conservation_factor is not None and not 0.0 < finite_float(
                "conservation_factor", self.conservation_factor) <= 1.0:
            raise InputError(f"conservation_factor must be in (0, 1] (got {echo(self.conservation_factor)}); "
                             "1 credits the model's recovery in full, smaller values credit less")


@dataclass(frozen=True, eq=False)
class PreparedCase:
    """Everything computed before the first TPS write."""

    protocol: Protocol
    snapshot: CaseSnapshot
    options: WorkflowOptions
    n_fractions: int
    target_id: str
    target: Occupancy
    oar_structures: Dict[str, str]
    oar_occupancy: Dict[str, Occupancy]
    prior_courses: Tuple[PriorCourseDose, ...]
    tolerances: Dict[str, RemainingTolerance]
    oar_objectives: Tuple[OptimizationObjective, ...]
    findings: Tuple[Finding, ...]
    eligibility: Dict[str, object]
    #: each OAR's allowed dose with one assumption changed (:mod:`reirrad.sensitivity`)
    sensitivity: Optional[SensitivityAnalysis] = None

    def objectives_at(self, prescription_gy: float) -> List[OptimizationObjective]:
        """OAR objectives plus the target's at ``prescription_gy`` (TOTAL Gy)."""
        return [*self.oar_objectives, *target_objectives(self.protocol, self.target_id, prescription_gy)]


@dataclass(frozen=True, eq=False)
class FinalCheck:
    """The evaluation of the plan as the TPS holds it at the end of the run (module docstring).

    Attributes
    ----------
    evaluation : PlanEvaluation
        Of the dose recomputed and re-read from the TPS after the last change.
    normalised : bool
        Whether the plan was normalised (not for an ``infeasible`` floor plan).
    normalisation_value : float or None
        Measured scale of the dose by the normalisation: re-read dose / dose before, over the voxels
        at ≥ 50 % of the maximum (1.0 = unchanged); None when not normalised.
    tps_normalisation : float or None
        The TPS's own record (Eclipse ``PlanNormalizationValue``, %), when it keeps one.
    reoptimised : bool
        Whether the plan had to be re-optimised at the chosen level before the check.
    """

    evaluation: PlanEvaluation
    normalised: bool
    normalisation_value: Optional[float]
    tps_normalisation: Optional[float]
    reoptimised: bool

    def to_dict(self) -> Dict[str, object]:
        """The result's ``final_check`` block."""
        ev = self.evaluation
        return {"dose_rechecked_after_normalisation": True, "normalised": self.normalised,
                "normalisation_value": self.normalisation_value, "tps_normalisation": self.tps_normalisation,
                "reoptimised_at_chosen_level": self.reoptimised, "prescription_gy": ev.prescription_gy,
                "oar_limits_met": bool(ev.oars_ok), "coverage_met": bool(ev.coverage_ok),
                "failing_oars": ev.failing_oars, "v95_pct": ev.target.v95_pct, "d95_gy": ev.target.d95_gy}


@dataclass(frozen=True, eq=False)
class WorkflowRun:
    """The outcome of :func:`run`.

    ``status`` is one of :mod:`reirrad.statuses` (``planned``, ``coverage-compromised``,
    ``final-check-failed``, ``infeasible``, ``dry-run``, ``evaluated``); ``final`` is the final
    check's evaluation when there is one (the numbers every view reports). ``failed_final_checks``
    are the final checks at higher levels that broke an OAR limit before the run stepped down (module
    docstring), ``findings`` the run's own (beyond those of :class:`PreparedCase`).
    """

    prepared: PreparedCase
    final: Optional[PlanEvaluation]
    final_dose: Optional[DoseGrid]
    search: Optional[SearchOutcome]
    log: Tuple[SearchStep, ...]
    optimisations: int
    evaluated_only: bool = False
    status: str = "dry-run"
    final_check: Optional[FinalCheck] = None
    level_limited_by: Optional[Dict[str, object]] = None
    failed_final_checks: Tuple[FinalCheck, ...] = ()
    findings: Tuple[Finding, ...] = ()
    #: the result's ``optimisation_structures`` (what the TPS holds at the end; a dry run's preview at the
    #: highest level, with ``volume_cc`` None) and ``target_regions`` (:mod:`reirrad.planstructures`)
    optimisation_structures: Tuple[Dict[str, object], ...] = ()
    target_regions: Optional[Dict[str, object]] = None
    #: the objectives last written to the TPS (None: nothing written)
    objectives: Optional[Tuple[OptimizationObjective, ...]] = None
    #: the recipe of the optimisation structures the TPS holds at the end (None: none made); its masks
    #: draw the optimisation target and the compromised region on the report's slices
    optimisation_recipe: Optional[OptimisationRecipe] = None
    #: the low-tolerance structures the TPS holds at the end (:class:`reirrad.spatial.SpatialPlan`; None:
    #: spatial objectives not used); its regions are drawn on the report's remaining-tolerance slices
    spatial: Optional[SpatialPlan] = None


@dataclass
class _State:
    count: int = 0
    tried: int = 0  # levels optimised and evaluated (each one ``optimise`` step of the log)
    current: Optional[float] = None
    #: optimiser failures retried: (level, message, number of ``optimise`` steps before the retry)
    failures: List[Tuple[float, str, int]] = field(default_factory=list)


#: A failed plan is "marginal" (looked past once by the search, :mod:`reirrad.search`) when every failing
#: OAR's planned dose is within this fraction of its allowed dose ...
MARGINAL_OAR_FRACTION = 0.05
#: ... and the target's V95 is at most this many percentage points short of the coverage rule.
MARGINAL_COVERAGE_PP = 2.0


def _marginal(protocol: Protocol, ev: PlanEvaluation) -> bool:
    """Whether a failed plan is within the optimiser's level-to-level variation (constants above)."""
    rule = protocol.coverage_rule.ptv_v95_min_percent.value
    if ev.target.v95_pct < rule - MARGINAL_COVERAGE_PP:
        return False
    for o in ev.oars:
        if o.passed is False and o.planned_physical_gy > (1.0 + MARGINAL_OAR_FRACTION) * max(
                o.tolerance.allowed_physical_gy, 0.0):
            return False
    return True


def _progress(callback: Optional[Progress], percent: int, message: str) -> None:
    if callback is not None:
        callback(int(max(0, min(100, percent))), message)


def _eligibility(protocol: Protocol, snapshot: CaseSnapshot,
                 prescription_gy: Optional[float], recovery_model: Optional[str]) -> List[Finding]:
    infos = [PriorCourseInfo(c.label, c.interval_days(snapshot.planned_start), True)
             for c in snapshot.prior_courses]
    found = list(check_eligibility(protocol, infos, n_fractions=snapshot.plan.n_fractions,
                                   prescription_gy=prescription_gy, recovery_model=recovery_model))
    if snapshot.plan.n_fractions is None:
        found.append(Finding("fractions-not-set", "stop",
                             "the plan has no number of fractions; set it in the TPS", subject="plan"))
    return found


#: The DICOM RT ROI Interpreted Types of a target (PS3.3 C.8.8.8).
TARGET_TYPES = ("PTV", "CTV", "GTV")


def _target_findings(target: StructureData, mapping: Mapping[str, str]) -> List[Finding]:
    """Refuse a target that is a matched OAR's structure; flag one whose DICOM type is not a target's.

    Found by a hostile-input review: ``reirrad evaluate --target SmallBowel`` reported "V95% 100.0 %,
    coverage rule met" of the bowel as "the PTV", with no finding.

    Raises
    ------
    reirrad.errors.InputError
        The target is the structure of a protocol OAR.
    """
    as_oar = sorted(key for key, sid in mapping.items() if sid == target.id)
    if as_oar:
        raise InputError(f"the target {target.id!r} is the structure of OAR {', '.join(as_oar)}: the target "
                         "is the PTV; choose it (--target in reirrad evaluate, the plan's target in the TPS)")
    kind = target.dicom_type.strip().upper()
    if kind and kind not in TARGET_TYPES:
        return [Finding("target-type-not-a-target", "flag",
                        f"the target {target.id!r} is of type {kind}, not {'/'.join(TARGET_TYPES)}: check "
                        "that it is the PTV", subject=target.id)]
    return []


def _checked_plan(snapshot: CaseSnapshot) -> Tuple[str, int]:
    """The plan's target id and number of fractions (neither is ever guessed)."""
    if snapshot.plan.target_id is None:
        raise InputError(f"plan {snapshot.plan.id} has no target structure; set the plan's target in the TPS")
    if snapshot.plan.n_fractions is None:  # even with an eligibility override
        raise InputError(f"plan {snapshot.plan.id} has no number of fractions; set it in the TPS")
    return snapshot.plan.target_id, int(snapshot.plan.n_fractions)


def _run_findings(protocol: Protocol, snapshot: CaseSnapshot, options: WorkflowOptions) -> List[Finding]:
    """The adapter's findings, and flags about the run's assumptions: unconfirmed dates, deformable
    registrations, unadjusted risk factors."""
    found = list(snapshot.source_findings)
    for course in snapshot.prior_courses:
        if course.last_fraction_source == "course-completed":
            found.append(Finding(
                "last-fraction-from-course-completion", "flag",
                f"{course.label}: the last-fraction date {course.last_fraction} is the course's completion "
                "date, not a treatment record; confirm the date of the last fraction (dialog or answers file "
                "prior_dates)", subject=course.label))
        if course.registration_kind == "deformable":
            found.append(Finding(
                "deformable-registration", "flag",
                f"{course.label}: the prior dose was mapped through a deformable registration "
                f"({course.registration_id or 'unnamed'}); cumulative doses are only as accurate as that "
                "registration - where the anatomy changed a lot between courses, review it and the mapped "
                "dose before relying on the cumulative EQD2 (UK guidance)", subject=course.label))
    factor = (options.conservation_factor if options.conservation_factor is not None
              else protocol.recovery.conservation_factor.value)
    if options.risk_factors and factor >= 1.0:
        found.append(Finding(
            "risk-factors-without-conservation", "flag",
            f"risk factors of poor recovery confirmed ({', '.join(options.risk_factors)}) but the "
            "conservation factor is 1 (full recovery credited); consider --conservation-factor below 1",
            subject="recovery"))
    return found


def prepare(protocol: Protocol, snapshot: CaseSnapshot, options: WorkflowOptions, *,
            prescription_gy: Optional[float] = None) -> PreparedCase:
    """Compute tolerances and objectives (no TPS call), then apply the decision gate.

    Parameters
    ----------
    prescription_gy : float, optional
        The new course's TOTAL prescription when it is fixed beforehand (an existing dose evaluated by
        :func:`evaluate_dose`): above the protocol's isotoxic maximum it is a ``stop`` finding, above the
        absolute ceiling of :mod:`reirrad.bounds` it is refused. None for planning (the levels come from
        the protocol).

    Raises
    ------
    reirrad.errors.EligibilityError
        A ``stop`` finding (eligibility, matching, occupancy, an OAR's tolerance) without an override
        reason, or one that needs an action (:mod:`reirrad.gate`); ``findings`` holds them.
    reirrad.errors.InputError
        The plan has no target or no number of fractions, a prescription above the absolute ceiling, or
        another bad input.
    """
    found = _eligibility(protocol, snapshot, prescription_gy, options.recovery_model)
    if snapshot.plan.n_fractions is None or snapshot.plan.target_id is None:
        apply_gate(found, options.override_reason)  # the stop first; then never guessed, even overridden
    target_id, n_fx = _checked_plan(snapshot)
    grid = snapshot.dose_grid
    mapping, match_findings = match_structures(protocol, snapshot.structures, options.structure_overrides)
    found.extend(match_findings)
    target_struct = snapshot.structure(target_id)
    found.extend(_target_findings(target_struct, mapping))
    target = structure_occupancy(target_struct.contours_mm, grid, name=target_struct.id,
                                 frame_of_reference_uid=target_struct.frame_of_reference_uid)
    found.extend(target.findings)  # partly outside the dose grid, contours crossing themselves
    occupancy: Dict[str, Occupancy] = {}
    for key, sid in mapping.items():
        s = snapshot.structure(sid)
        occupancy[key] = structure_occupancy(s.contours_mm, grid, name=sid,
                                             frame_of_reference_uid=s.frame_of_reference_uid)
        found.extend(occupancy[key].findings)
    found.extend(_run_findings(protocol, snapshot, options))
    outside_flag_pct = protocol.planning.outside_grid_flag_percent.value
    priors = []
    for course in snapshot.prior_courses:
        mapped = course.on_grid(grid)
        priors.append(PriorCourseDose(course.label, mapped.grid, course.n_fractions,
                                      course.interval_days(snapshot.planned_start)))
        for key, occ in occupancy.items():
            outside = mapped.fraction_outside(occ)
            if 100.0 * outside > outside_flag_pct:
                found.append(Finding("prior-dose-does-not-cover-oar", "flag",
                                     f"{course.label}: {100 * outside:.1f} % of {mapping[key]} lies "
                                     "outside the prior dose grid (dose taken as 0 there)", subject=key))
    tolerances: Dict[str, RemainingTolerance] = {}
    objectives: List[OptimizationObjective] = []
    metrics_by_oar: Dict[str, List[PriorMetricDose]] = {}
    margin_mm = protocol.sensitivity.registration_margin.value
    for key in protocol.oar_keys:
        if key not in occupancy:
            continue
        metric = protocol.oar(key).de_novo.metric
        prior_metrics = [PriorMetricDose(DVH.from_dose(p.dose, occupancy[key]).metric_gy(metric),
                                         p.n_fractions, p.interval_days, p.name) for p in priors]
        metrics_by_oar[key] = prior_metrics
        tol = remaining_tolerance(protocol, key, prior_metrics, n_fx, recovery_model=options.recovery_model,
                                  conservation_factor=options.conservation_factor)
        tolerances[key] = tol
        found.extend(tol.findings)
        objectives.extend(oar_objectives(protocol, tol, mapping[key], occupancy[key].volume_in_grid_cc))
    sensitivity = sensitivity_analysis(
        protocol, metrics_by_oar, n_fx, recovery_model=options.recovery_model,
        conservation_factor=options.conservation_factor,
        registration_increases_gy={key: [registration_increase_gy(p.dose, occupancy[key], margin_mm)
                                         for p in priors] for key in metrics_by_oar})
    found = unique_findings(found, by_subject=False)
    apply_gate(found, options.override_reason)
    record = eligibility_record(found, options.override_reason)
    return PreparedCase(protocol, snapshot, options, n_fx, target_struct.id, target, dict(mapping),
                        occupancy, tuple(priors), tolerances, tuple(objectives), tuple(found), record,
                        sensitivity)


def _prepared(protocol: Protocol, snapshot: CaseSnapshot, options: WorkflowOptions,
              prepared: Optional[PreparedCase]) -> PreparedCase:
    if prepared is None:
        return prepare(protocol, snapshot, options)
    if prepared.protocol is not protocol or prepared.snapshot is not snapshot or prepared.options != options:
        raise InputError("the prepared case was computed for another protocol, case or options; "
                         "call prepare() again with the same arguments as run()")
    return prepared


def run(protocol: Protocol, snapshot: CaseSnapshot, planner: Optional[Planner], options: WorkflowOptions,
        progress: Optional[Progress] = None, *, prepared: Optional[PreparedCase] = None) -> WorkflowRun:
    """Run the workflow (module docstring). ``planner`` may be None only for a dry run.

    ``prepared`` is the :func:`prepare` result of the same protocol, snapshot and options when the
    caller has already computed it (to show it for confirmation before anything is written); it is
    then not computed again.
    """
    _progress(progress, 5, "reading the case")
    prepared = _prepared(protocol, snapshot, options, prepared)
    _progress(progress, 20, "remaining tolerance and objectives computed")
    if options.dry_run:
        _progress(progress, 100, "done (dry run: nothing written)")
        entries, found = StructureRun(prepared, None).dry_run_entries(options)
        return WorkflowRun(prepared, None, None, None, (), 0, status="dry-run",
                           optimisation_structures=tuple(entries), findings=tuple(found))
    if planner is None:
        raise InputError("a planner is needed unless dry_run is set")
    if not snapshot.plan.writable:
        raise InputError(f"plan {snapshot.plan.id} is approved or read-only "
                         f"({snapshot.plan.approval_status}); reirrad never writes to it - create a new plan")
    levels = ([protocol.prescriptions.limit_toxicity.value] if options.intent == "limit-toxicity"
              else list(protocol.prescriptions.isotoxic_ladder_gy))
    plans: Dict[float, Tuple[PlanEvaluation, DoseGrid]] = {}  # the last plan optimised at each level
    state = _State()
    structures = StructureRun(prepared, planner)

    def try_level(level: float) -> Tuple[PlanEvaluation, DoseGrid]:
        state.count += 1
        _progress(progress, 20 + min(60, 12 * state.count), f"optimising at {level:g} Gy")
        planner.set_prescription(level, prepared.n_fractions)
        planner.write_objectives(structures.objectives_at(level))
        try:
            planner.optimise()
        except OptimisationError as exc:  # once more; a second failure ends the run
            logger.warning("optimisation at %g Gy failed (%s); optimising once more", level, exc)
            state.failures.append((level, str(exc), state.tried))
            state.count += 1
            planner.optimise()
        state.tried += 1
        dose = planner.compute_dose()
        state.current = level
        plans[level] = (_evaluate(prepared, dose, level), dose)
        return plans[level]

    if options.intent == "limit-toxicity":
        ev, _ = try_level(levels[0])
        step = SearchStep(levels[0], "optimise", ev.feasible, ev.target.v95_pct, tuple(ev.limiting_oars))
        outcome = SearchOutcome(levels[0] if ev.feasible else None, ev if ev.feasible else None, ev, (step,))
    elif options.search == "ladder":
        outcome = ladder_search(levels, try_level)
    else:
        cover = protocol.coverage_rule.ptv_v95_min_percent.value
        caps = [(prepared.oar_occupancy[o.oar_key], o.dose_gy) for o in prepared.oar_objectives
                if o.kind == "upper" and o.oar_key is not None]
        outcome = predictive_search(levels, try_level, lambda floor_dose: predict_level_index(
            levels, floor_dose, prepared.target, caps, cover), marginal=lambda ev: _marginal(protocol, ev))
    log = list(outcome.log)
    chosen, floor_ok = _chosen_level(outcome, levels)
    reoptimised = state.current != chosen
    if reoptimised:
        log.extend(_leave_at(chosen, try_level, recheck=outcome.best_level_gy is not None))
    chosen, check, final_dose, failed_checks = _check_and_step_down(
        prepared, planner, try_level=try_level, plans=plans, levels=levels, chosen=chosen, floor_ok=floor_ok,
        reoptimised=reoptimised, log=log, progress=progress)
    log = _with_failures(log, state.failures)
    status = _status(check.evaluation, floor_ok)
    _progress(progress, 100, f"done: {status}")
    return WorkflowRun(prepared, check.evaluation, final_dose, outcome, tuple(log), state.count,
                       status=status, final_check=check,
                       level_limited_by=_level_limited_by(chosen, floor_ok, levels, plans, failed_checks),
                       failed_final_checks=tuple(failed_checks),
                       findings=(*(_stepped_down_finding(c, chosen) for c in failed_checks[:1]),
                                 *structures.findings, *method_findings(check.evaluation)),
                       optimisation_structures=tuple(structures.result_entries()),
                       target_regions=structures.region_figures(final_dose, check.evaluation.prescription_gy),
                       objectives=structures.objectives, optimisation_recipe=structures.recipe,
                       spatial=structures.spatial)


def _check_and_step_down(prepared: PreparedCase, planner: Planner, *, try_level: TryLevel,
                         plans: Mapping[float, Tuple[PlanEvaluation, DoseGrid]], levels: List[float],
                         chosen: float, floor_ok: bool, reoptimised: bool, log: List[SearchStep],
                         progress: Optional[Progress]
                         ) -> Tuple[float, FinalCheck, DoseGrid, List[FinalCheck]]:
    """The final check of the plan at the chosen level and, when it breaks an OAR limit of a plan whose
    floor met them, the step down the ladder (module docstring, "Stepping down"); ``log`` gets the steps.

    Returns the level the plan is left at, its final check and re-read dose, and the failed checks of
    the levels above it (highest first)."""
    check, final_dose = _final_check(prepared, planner, plans[chosen], normalise=floor_ok,
                                     reoptimised=reoptimised, progress=progress)
    log.append(_final_check_step(check))
    if not floor_ok or check.evaluation.oars_ok:
        return chosen, check, final_dose, []
    failed = [(check, final_dose)]
    floor = levels[0]
    below = [level for level in levels if level < chosen
             and (level == floor or level not in plans or plans[level][0].feasible)]
    for level in sorted(below, reverse=True):
        last = failed[-1][0].evaluation
        broke = ", ".join(last.failing_oars) or "the coverage rule"
        logger.warning("the final check at %g Gy broke %s; trying %g Gy", last.prescription_gy, broke, level)
        log.extend(_leave_at(level, try_level, recheck=True,
                             note=f"stepped down: the final check at {last.prescription_gy:g} Gy broke "
                                  f"{broke}"))
        if level != floor and not plans[level][0].feasible:
            continue  # fails as optimised (twice): not normalised, on down
        check, final_dose = _final_check(prepared, planner, plans[level], normalise=True, reoptimised=True,
                                         progress=progress)
        log.append(_final_check_step(check))
        if level == floor or check.evaluation.feasible:  # the floor's check is the result, whatever it finds
            return level, check, final_dose, [c for c, _ in failed]
        failed.append((check, final_dose))
    # nothing below (the chosen level was the floor): its failed check is the result
    return chosen, failed[-1][0], failed[-1][1], [c for c, _ in failed[:-1]]

def _final_check_step(check: FinalCheck) -> SearchStep:
    ev = check.evaluation
    note = "dose recomputed and re-read from the TPS"
    if check.normalised:
        note += " after the normalisation"
    return SearchStep(ev.prescription_gy, "final-check", ev.feasible, ev.target.v95_pct,
                      tuple(ev.limiting_oars), note)


def _stepped_down_finding(failed: FinalCheck, chosen: float) -> Finding:
    """The ``flag`` that the plan was stepped down from the level whose final check failed first."""
    ev = failed.evaluation
    scale = ("" if failed.normalisation_value is None
             else f" (the normalisation scaled the dose by {failed.normalisation_value:.4f})")
    return Finding("final-check-stepped-down", "flag",
                   f"the plan at {ev.prescription_gy:g} Gy, as the TPS held it after its last optimisation "
                   f"and the normalisation{scale}, broke {', '.join(ev.failing_oars)}; the plan was "
                   f"re-optimised and checked at {chosen:g} Gy - review the search log and the TPS's and "
                   "reirrad's DVHs of the target")


def _level_limited_by(chosen: float, floor_ok: bool, levels: List[float],
                      plans: Mapping[float, Tuple[PlanEvaluation, DoseGrid]],
                      failed_checks: List[FinalCheck]) -> Optional[Dict[str, object]]:
    """Why the level is not higher: the lowest level above the chosen one that failed, as optimised or
    by its final check (its failing OARs, whether its coverage was met, and whether the failure was the
    final check's, after the normalisation); None when the chosen level is the ladder's top, no level
    above it was tried, or the floor itself broke an OAR limit."""
    failed: Dict[float, Tuple[PlanEvaluation, bool]] = {
        level: (plans[level][0], False) for level in levels
        if level > chosen and level in plans and not plans[level][0].feasible}
    for check in failed_checks:  # a final check's failure is the plan as the TPS held it
        failed[check.evaluation.prescription_gy] = (check.evaluation, True)
    if not floor_ok or not failed:
        return None
    ev, by_final_check = failed[min(failed)]
    return {"level_gy": ev.prescription_gy, "failing_oars": ev.failing_oars,
            "coverage_met": bool(ev.coverage_ok), "v95_pct": ev.target.v95_pct,
            "after_normalisation": by_final_check}


def _leave_at(level: float, try_level: TryLevel, *, recheck: bool,
              note: str = "plan left at the chosen level") -> List[SearchStep]:
    """Optimise once more at the chosen level (module docstring); when that plan fails where the search's
    passed (``recheck``: the search verified this level, or it is a level stepped down to; the failure is
    run-to-run variation of the optimiser), once more again. The log steps."""
    ev, _ = try_level(level)
    steps = [SearchStep(level, "optimise", ev.feasible, ev.target.v95_pct, tuple(ev.limiting_oars), note)]
    if recheck and not ev.feasible:
        ev, _ = try_level(level)
        steps.append(SearchStep(level, "optimise", ev.feasible, ev.target.v95_pct, tuple(ev.limiting_oars),
                                "re-check: the re-optimised plan failed where the search's passed"))
    return steps


def _with_failures(log: List[SearchStep], failures: List[Tuple[float, str, int]]) -> List[SearchStep]:
    """The search log with an ``optimise-failed`` step before each optimisation that had to be retried."""
    def failed(level: float, message: str) -> SearchStep:
        return SearchStep(level, "optimise-failed", None, None, (),
                          f"the optimiser failed ({message}); optimised once more")

    out: List[SearchStep] = []
    pending = sorted(failures, key=lambda f: f[2])
    done = 0
    for step in log:
        if step.action == "optimise":
            while pending and pending[0][2] <= done:
                level, message, _ = pending.pop(0)
                out.append(failed(level, message))
            done += 1
        out.append(step)
    out.extend(failed(level, message) for level, message, _ in pending)
    return out


def _chosen_level(outcome: SearchOutcome, levels: List[float]) -> Tuple[float, bool]:
    """The level the plan is left at, and whether its OAR limits were met during the search.

    The best feasible level; else the floor when its plan met every OAR limit (coverage compromised);
    else the floor (infeasible).
    """
    if outcome.best_level_gy is not None:
        return outcome.best_level_gy, True
    floor = levels[0]
    floor_evals = [outcome.last] if outcome.last.prescription_gy == floor else []
    return floor, bool(floor_evals and floor_evals[0].oars_ok)


def _final_check(prepared: PreparedCase, planner: Planner, plan: Tuple[PlanEvaluation, DoseGrid], *,
                 normalise: bool, reoptimised: bool,
                 progress: Optional[Progress]) -> Tuple[FinalCheck, DoseGrid]:
    """Normalise (unless the plan is infeasible), recompute and re-read the dose, evaluate it.

    ``plan`` is the evaluation and dose of the plan the TPS holds at the chosen level (as optimised)."""
    evaluated, before = plan
    level = evaluated.prescription_gy
    _progress(progress, 85, "final check: normalising and re-reading the dose from the TPS")
    tps_value: Optional[float] = None
    if normalise:
        # the D95 (TOTAL Gy) measured on this very plan: the TPS scales by its own D95 / this one
        tps_value = planner.normalise(prepared.target_id, evaluated.target.d95_gy, 95.0)
    after = planner.compute_dose()
    check = FinalCheck(_evaluate(prepared, after, level), normalise,
                       _dose_scale(before, after) if normalise else None, tps_value, reoptimised)
    return check, after


def _dose_scale(before: DoseGrid, after: DoseGrid) -> float:
    """Re-read dose / dose before normalisation over the voxels at ≥ 50 % of the maximum before."""
    if not after.same_geometry(before):
        after = after.resample(before).grid
    b = before.values_gy
    high = b >= 0.5 * float(b.max())
    return float(np.sum(after.values_gy[high]) / np.sum(b[high])) if high.any() else 1.0


def _status(final: PlanEvaluation, floor_ok: bool) -> str:
    if not floor_ok:
        return "infeasible"
    if not final.oars_ok:
        return "final-check-failed"
    if not final.coverage_ok:
        return "coverage-compromised"
    return "planned"


def evaluate_dose(protocol: Protocol, snapshot: CaseSnapshot, dose: DoseGrid, options: WorkflowOptions, *,
                  prescription_gy: float, prepared: Optional[PreparedCase] = None) -> WorkflowRun:
    """Evaluate an existing new-course dose, with no planner (the offline DICOM check).

    Parameters
    ----------
    dose : DoseGrid
        TOTAL physical dose of the new course, Gy, in the planning frame (resampled onto the
        snapshot's dose grid when its geometry differs).
    prescription_gy : float
        TOTAL prescription of the new course (coverage is measured against it).

    Returns
    -------
    WorkflowRun
        ``evaluated_only`` set; ``final`` is the evaluation (whether or not every limit is met),
        ``search`` a one-step log ("evaluate").

    Raises
    ------
    reirrad.errors.EligibilityError
        A ``stop`` finding without an override reason, among them ``dose-above-protocol-maximum`` for a
        prescription above the protocol's isotoxic maximum.
    reirrad.errors.InputError
        The dose is not physical, or is in another frame of reference than the planning frame; the
        prescription is not > 0 or is above the absolute ceiling (:func:`reirrad.bounds.check_prescription`).
    """
    if prepared is None:
        prepared = prepare(protocol, snapshot, options, prescription_gy=prescription_gy)
    else:
        prepared = _with_prescription(_prepared(protocol, snapshot, options, prepared), prescription_gy)
    if dose.quantity != "physical":
        raise InputError("the new-course dose must be a physical dose (got an EQD2 grid)")
    frame = snapshot.planning_frame_of_reference_uid
    if dose.frame_of_reference_uid not in (None, frame):
        raise InputError(f"the new dose is in frame of reference {dose.frame_of_reference_uid}, the "
                         f"structures in {frame}: export the new dose and structures from the same planning "
                         "image")
    grid = snapshot.dose_grid
    on_grid = dose if dose.same_geometry(grid) else dose.resample(grid).grid
    ev = _evaluate(prepared, on_grid, prescription_gy)
    step = SearchStep(prescription_gy, "evaluate", ev.feasible, ev.target.v95_pct, tuple(ev.limiting_oars),
                      "existing new-course dose evaluated (no optimisation)")
    outcome = SearchOutcome(prescription_gy if ev.oars_ok else None, ev if ev.oars_ok else None, ev, (step,))
    return WorkflowRun(prepared, ev, on_grid, outcome, (step,), 0, evaluated_only=True, status="evaluated",
                       findings=tuple(method_findings(ev)))


def _with_prescription(prepared: PreparedCase, prescription_gy: float) -> PreparedCase:
    """``prepared`` (made without a prescription) with the prescription's finding added and gated."""
    new = [f for f in prescription_findings(prepared.protocol, prescription_gy) if f not in prepared.findings]
    if not new:
        return prepared
    findings = (*prepared.findings, *new)
    apply_gate(findings, prepared.options.override_reason)
    return replace(prepared, findings=findings,
                   eligibility=eligibility_record(findings, prepared.options.override_reason))


def _evaluate(prepared: PreparedCase, dose: DoseGrid, level: float) -> PlanEvaluation:
    return evaluate_plan(prepared.protocol, dose=dose, prescription_gy=level,
                         n_fractions=prepared.n_fractions,
                         target=prepared.target, oar_occupancy=prepared.oar_occupancy,
                         oar_structures=prepared.oar_structures, prior_courses=prepared.prior_courses,
                         recovery_model=prepared.options.recovery_model,
                         conservation_factor=prepared.options.conservation_factor)
