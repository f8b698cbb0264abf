"""Issue 18 on the TPS-less direct stand-in: the stub patients as the stand-in optimiser plans them.

Exhaustive search optimises every ladder level independently (cold start, as both adapters do) and
evaluates it; the chosen level of the predictive search must equal the highest feasible level on
every stub patient. The scenario facts come from each patient's definition (``expectations``):
``isotoxic_limited_by: oar`` — the level above the exhaustive one breaks an OAR limit (the limiting
OAR, not coverage, sets the level); ``non_monotone: true`` — some level fails between two that pass.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import List, Tuple

import pytest

from reirrad.errors import OptimisationError
from reirrad.evaluation import PlanEvaluation
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.workflow import WorkflowOptions, _evaluate, prepare, run
from tps_stubs.direct import DirectCase, DirectPlanner
from tps_stubs.patients import list_patients, load_patient

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
LADDER = list(PROTOCOL.prescriptions.isotoxic_ladder_gy)
PATIENTS = [p.id for p in list_patients() if p.id != "EARLY-01"]


@functools.lru_cache(maxsize=None)
def scan(patient: str) -> Tuple[PlanEvaluation, ...]:
    """The evaluation of an independently optimised plan at every ladder level."""
    case = DirectCase(patient)
    prepared = prepare(PROTOCOL, case.read(), WorkflowOptions())
    out: List[PlanEvaluation] = []
    for level in LADDER:
        planner = DirectPlanner(case)
        planner.set_prescription(level, prepared.n_fractions)
        planner.write_objectives(prepared.objectives_at(level))
        planner.optimise()
        out.append(_evaluate(prepared, planner.compute_dose(), level))
    return tuple(out)


def exhaustive_level(patient: str):
    """Highest ladder level whose independently optimised plan is feasible (None if none)."""
    feasible = [ev.prescription_gy for ev in scan(patient) if ev.feasible]
    return max(feasible) if feasible else None


@pytest.mark.parametrize("patient", PATIENTS)
def test_predictive_search_finds_the_exhaustive_level(patient):
    """The predictive search's level (the plan kept, when planned) equals exhaustive search's; an
    OAR-limited patient's result names the OARs that broke their limits one level up
    (``level_limited_by``), as the exhaustive scan's plan at that level does."""
    case = DirectCase(patient)
    outcome = run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions())
    assert outcome.search is not None
    assert outcome.search.best_level_gy == exhaustive_level(patient)
    if load_patient(patient).expectations.get("isotoxic_limited_by") == "oar":  # names the limiting OAR
        limited = build_result(outcome)["level_limited_by"]
        assert limited is not None and limited["failing_oars"], patient
        assert limited["failing_oars"] == list(scan(patient)[LADDER.index(limited["level_gy"])].failing_oars)


def test_several_patients_are_oar_limited_and_one_is_non_monotone():
    """At least two patients are limited by an OAR: the level above their exhaustive level breaks an
    OAR limit (its plan names failing OARs); at least one fails a level between two that pass. The
    definitions say which, and the scan agrees."""
    limited = [p for p in PATIENTS if load_patient(p).expectations.get("isotoxic_limited_by") == "oar"]
    assert len(limited) >= 2
    for patient in limited:
        best = exhaustive_level(patient)
        assert best is not None and best < LADDER[-1], patient
        above = scan(patient)[LADDER.index(best) + 1]
        assert not above.oars_ok and above.failing_oars, patient
    dips = [p for p in PATIENTS if load_patient(p).expectations.get("non_monotone")]
    assert dips
    for patient in dips:
        ok = [ev.feasible for ev in scan(patient)]
        assert any(ok[i - 1] and not ok[i] and any(ok[i + 1:]) for i in range(1, len(ok))), (patient, ok)


def test_an_optimiser_failure_is_retried_once_and_logged():
    """optimiser.fail_on [2] on LRRC-02: the second optimisation fails, the workflow optimises once more
    (counted), logs an ``optimise-failed`` step before the retried level's step, and plans as without
    the failure."""
    patient = load_patient("LRRC-02")
    clean = run(PROTOCOL, DirectCase(patient).read(), DirectPlanner(DirectCase(patient)), WorkflowOptions())
    failing = DirectCase(dataclasses.replace(patient, optimiser={"fail_on": [2]}))
    outcome = run(PROTOCOL, failing.read(), DirectPlanner(failing), WorkflowOptions())
    assert outcome.status == clean.status and outcome.search.best_level_gy == clean.search.best_level_gy
    assert outcome.optimisations == clean.optimisations + 1
    actions = [s.action for s in outcome.log]
    failed = actions.index("optimise-failed")
    assert actions[failed + 1] == "optimise"
    assert outcome.log[failed].level_gy == outcome.log[failed + 1].level_gy
    assert "optimised once more" in outcome.log[failed].note


def test_an_optimiser_that_fails_twice_ends_the_run():
    """Two failures in a row (optimiser.fail_on [2, 3]) end the run with the TPS's error."""
    patient = dataclasses.replace(load_patient("LRRC-02"), optimiser={"fail_on": [2, 3]})
    case = DirectCase(patient)
    with pytest.raises(OptimisationError, match="optimisation 3 of patient LRRC-02"):
        run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions())
