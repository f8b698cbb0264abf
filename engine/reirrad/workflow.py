"""The re-irradiation workflow (DESIGN.md §3): from a case snapshot to an optimised plan at the
highest prescription the cumulative OAR limits allow, through the :class:`~reirrad.ports.Planner`.

Steps: eligibility → structure matching → occupancy on the planning dose grid → prior doses mapped
onto that grid (rigid matrix from the snapshot) → remaining tolerance per OAR (guidance metric
method) → objectives → (``--dry-run`` stops here, nothing written) → optimise at the intent's
level(s) → evaluate each plan by both cumulative methods → final plan at the chosen level → the
result mapping (DESIGN.md §5), built by :mod:`reirrad.result`.

Intents: ``limit-toxicity`` (the protocol's limit-toxicity dose, one optimisation, coverage may be
compromised) and ``isotoxic`` (the protocol's ladder, :mod:`reirrad.search`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from .constraints import PriorMetricDose, RemainingTolerance, remaining_tolerance
from .cumulative import PriorCourseDose
from .dose import DoseGrid
from .dvh import DVH
from .eligibility import PriorCourseInfo, check_eligibility, eligibility_record, is_stopped
from .errors import EligibilityError, InputError
from .evaluation import PlanEvaluation, evaluate_plan
from .findings import Finding
from .matching import match_structures
from .objectives import OptimizationObjective, oar_objectives, target_objectives
from .ports import Planner
from .progress import Progress
from .protocol import Protocol
from .review import RISK_FACTORS
from .search import SearchOutcome, SearchStep, ladder_search, predict_level_index, predictive_search
from .snapshot import CaseSnapshot
from .structures import Occupancy, structure_occupancy

__all__ = ["INTENTS", "SEARCHES", "PreparedCase", "WorkflowOptions", "WorkflowRun", "evaluate_dose",
           "prepare", "run"]

logger = logging.getLogger(__name__)

INTENTS = ("limit-toxicity", "isotoxic")
SEARCHES = ("predictive", "ladder")


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

    def __post_init__(self) -> None:
        if self.intent not in INTENTS:
            raise InputError(f"intent must be one of {INTENTS} (got {self.intent!r})")
        if self.search not in SEARCHES:
            raise InputError(f"search must be one of {SEARCHES} (got {self.search!r})")
        known = [key for key, _ in RISK_FACTORS]
        unknown = sorted(set(self.risk_factors) - set(known))
        if unknown:
            raise InputError(f"unknown risk factor(s) {unknown}; the recorded ones are {known}")


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

    def objectives_at(self, prescription_gy: float) -> List[OptimizationObjective]:
        """OAR objectives plus the target's at ``prescription_gy`` (TOTAL Gy)."""
        return [*self.oar_objectives, *target_objectives(self.protocol, self.target_id, prescription_gy)]


@dataclass(frozen=True, eq=False)
class WorkflowRun:
    """The outcome of :func:`run`."""

    prepared: PreparedCase
    final: Optional[PlanEvaluation]
    final_dose: Optional[DoseGrid]
    search: Optional[SearchOutcome]
    log: Tuple[SearchStep, ...]
    optimisations: int
    evaluated_only: bool = False


@dataclass
class _State:
    count: int = 0
    current: Optional[float] = None


def _progress(callback: Optional[Progress], percent: int, message: str) -> None:
    if callback is not None:
        callback(int(max(0, min(100, percent))), message)


def _eligibility(protocol: Protocol, snapshot: CaseSnapshot, options: WorkflowOptions
                 ) -> Tuple[List[Finding], Dict[str, object]]:
    infos = [PriorCourseInfo(c.label, c.interval_days(snapshot.planned_start), True)
             for c in snapshot.prior_courses]
    found = list(check_eligibility(protocol, infos, n_fractions=snapshot.plan.n_fractions))
    if snapshot.plan.n_fractions is None:
        found.append(Finding("fractions-not-set", "stop",
                             "the plan has no number of fractions; set it in the TPS", subject="plan"))
    return found, eligibility_record(found, options.override_reason)


def _checked_plan(snapshot: CaseSnapshot) -> Tuple[str, int]:
    """The plan's target id and number of fractions (neither is ever guessed)."""
    if snapshot.plan.target_id is None:
        raise InputError(f"plan {snapshot.plan.id} has no target structure; set the plan's target in the TPS")
    if snapshot.plan.n_fractions is None:  # even with an eligibility override
        raise InputError(f"plan {snapshot.plan.id} has no number of fractions; set it in the TPS")
    return snapshot.plan.target_id, int(snapshot.plan.n_fractions)


def prepare(protocol: Protocol, snapshot: CaseSnapshot, options: WorkflowOptions) -> PreparedCase:
    """Compute tolerances and objectives (no TPS call). Raises EligibilityError on a stop."""
    found, record = _eligibility(protocol, snapshot, options)
    if is_stopped(found) and options.override_reason is None:
        stops = "; ".join(f.message for f in found if f.severity == "stop")
        raise EligibilityError(f"eligibility stop: {stops} - give --override-eligibility REASON "
                               "to proceed")
    target_id, n_fx = _checked_plan(snapshot)
    grid = snapshot.dose_grid
    mapping, match_findings = match_structures(protocol, snapshot.structures, options.structure_overrides)
    found.extend(match_findings)
    if is_stopped(match_findings):
        raise EligibilityError("structure matching needs a decision: "
                               + "; ".join(f.message for f in match_findings if f.severity == "stop"))
    target_struct = snapshot.structure(target_id)
    target = structure_occupancy(target_struct.contours_mm, grid, name=target_struct.id,
                                 frame_of_reference_uid=target_struct.frame_of_reference_uid)
    occupancy: Dict[str, Occupancy] = {}
    for key, sid in mapping.items():
        s = snapshot.structure(sid)
        occupancy[key] = structure_occupancy(s.contours_mm, grid, name=sid,
                                             frame_of_reference_uid=s.frame_of_reference_uid)
        found.extend(occupancy[key].findings)
    priors = []
    for course in snapshot.prior_courses:
        mapped = course.dose.resample(grid, course.planning_to_dose)
        priors.append(PriorCourseDose(course.label, mapped.grid, course.n_fractions,
                                      course.interval_days(snapshot.planned_start)))
        for key, occ in occupancy.items():
            outside = mapped.fraction_outside(occ)
            if outside > 0.01:
                found.append(Finding("prior-dose-does-not-cover-oar", "flag",
                                     f"{course.label}: {100 * outside:.1f} % of {mapping[key]} lies "
                                     "outside the prior dose grid (dose taken as 0 there)", subject=key))
    tolerances: Dict[str, RemainingTolerance] = {}
    objectives: List[OptimizationObjective] = []
    for key in protocol.oar_keys:
        if key not in occupancy:
            continue
        metric = protocol.oar(key).de_novo.metric
        prior_metrics = [PriorMetricDose(DVH.from_dose(p.dose, occupancy[key]).metric_gy(metric),
                                         p.n_fractions, p.interval_days, p.name) for p in priors]
        tol = remaining_tolerance(protocol, key, prior_metrics, n_fx, recovery_model=options.recovery_model,
                                  conservation_factor=options.conservation_factor)
        tolerances[key] = tol
        objectives.extend(oar_objectives(protocol, tol, mapping[key], occupancy[key].volume_in_grid_cc))
    return PreparedCase(protocol, snapshot, options, n_fx, target_struct.id, target, dict(mapping),
                        occupancy, tuple(priors), tolerances, tuple(objectives), tuple(found), record)


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
    """Run the workflow. ``planner`` may be None only for a dry run.

    ``prepared`` is the :func:`prepare` result of the same protocol, snapshot and options when the
    caller has already computed it (to show it for confirmation before anything is written); it is
    then not computed again.
    """
    _progress(progress, 5, "reading the case")
    prepared = _prepared(protocol, snapshot, options, prepared)
    _progress(progress, 20, "remaining tolerance and objectives computed")
    if options.dry_run:
        _progress(progress, 100, "done (dry run: nothing written)")
        return WorkflowRun(prepared, None, None, None, (), 0)
    if planner is None:
        raise InputError("a planner is needed unless dry_run is set")
    if not snapshot.plan.writable:
        raise InputError(f"plan {snapshot.plan.id} is approved or read-only "
                         f"({snapshot.plan.approval_status}); reirrad never writes to it - create a new plan")
    levels = ([protocol.prescriptions.limit_toxicity.value] if options.intent == "limit-toxicity"
              else list(protocol.prescriptions.isotoxic_ladder_gy))
    doses: Dict[float, DoseGrid] = {}
    state = _State()

    def try_level(level: float) -> Tuple[PlanEvaluation, DoseGrid]:
        state.count += 1
        _progress(progress, 20 + min(70, 12 * state.count), f"optimising at {level:g} Gy")
        planner.set_prescription(level, prepared.n_fractions)
        planner.write_objectives(prepared.objectives_at(level))
        planner.optimise()
        dose = planner.compute_dose()
        state.current = level
        doses[level] = dose
        return _evaluate(prepared, dose, level), dose

    if options.intent == "limit-toxicity":
        ev, _ = try_level(levels[0])
        step = SearchStep(levels[0], "optimise", ev.feasible, ev.target.v95_pct, tuple(ev.limiting_oars))
        outcome = SearchOutcome(levels[0] if ev.oars_ok else None, ev if ev.oars_ok else None, ev, (step,))
    elif options.search == "ladder":
        outcome = ladder_search(levels, try_level)
    else:
        cover = protocol.coverage_rule.ptv_v95_min_percent.value
        caps = [(prepared.oar_occupancy[o.oar_key], o.dose_gy) for o in prepared.oar_objectives
                if o.kind == "upper" and o.oar_key is not None]
        outcome = predictive_search(levels, try_level, lambda floor_dose: predict_level_index(
            levels, floor_dose, prepared.target, caps, cover))
    log = list(outcome.log)
    final, final_dose = outcome.best, None
    if outcome.best_level_gy is not None:
        if state.current != outcome.best_level_gy:
            final, final_dose = try_level(outcome.best_level_gy)
            log.append(SearchStep(outcome.best_level_gy, "optimise", final.feasible, final.target.v95_pct,
                                  tuple(final.limiting_oars), "final plan at the chosen level"))
        else:
            final_dose = doses[outcome.best_level_gy]
        if final is None:  # pragma: no cover - best_level_gy is set only with its evaluation
            raise RuntimeError("search returned a level without its evaluation")
        # Record the normalisation the evaluated plan already has (scaling factor 1): D95 of the
        # target as it is. Scaling to anything else would change the dose after the OAR checks.
        planner.normalise(prepared.target_id, final.target.d95_gy, 95.0)
    _progress(progress, 100, "done")
    return WorkflowRun(prepared, final if outcome.best_level_gy is not None else outcome.last,
                       final_dose if final_dose is not None else doses.get(outcome.last.prescription_gy),
                       outcome, tuple(log), state.count)


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
    reirrad.errors.InputError
        The dose is not physical, or is in another frame of reference than the planning frame.
    """
    prepared = _prepared(protocol, snapshot, options, prepared)
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
    return WorkflowRun(prepared, ev, on_grid, outcome, (step,), 0, evaluated_only=True)


def _evaluate(prepared: PreparedCase, dose: DoseGrid, level: float) -> PlanEvaluation:
    return evaluate_plan(prepared.protocol, dose=dose, prescription_gy=level,
                         n_fractions=prepared.n_fractions,
                         target=prepared.target, oar_occupancy=prepared.oar_occupancy,
                         oar_structures=prepared.oar_structures, prior_courses=prepared.prior_courses,
                         recovery_model=prepared.options.recovery_model,
                         conservation_factor=prepared.options.conservation_factor)
