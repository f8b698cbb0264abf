"""The one run path (reirrad.runner.execute) on the TPS-less direct stand-in.

Sources of truth: the statuses table (reirrad.statuses), the decision gate (a stop is an outcome, not
an exception: EARLY-01's 4-month interval), the stub patients' known outcomes (LRRC-02 and REG-01 plan
at a feasible level in tests/e2e/test_every_patient.py against exhaustive search), and the outcome's
consistency with the run it wraps (its evaluation, final check and result are the run's own, nothing
recomputed).
"""

from __future__ import annotations

import csv

import pytest

from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.runner import OutputRequest, Status, execute
from reirrad.workflow import WorkflowOptions, prepare
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


def test_a_planned_run_is_a_typed_outcome_whose_views_are_the_runs_own(tmp_path):
    case = DirectCase("LRRC-02")
    report, audit = tmp_path / "r.html", tmp_path / "a.csv"
    outcome = execute(PROTOCOL, case.read(), WorkflowOptions(), planner=DirectPlanner(case),
                      outputs=OutputRequest(report=str(report), audit_csv=str(audit)),
                      extra={"launcher": "test"})
    assert outcome.status is Status.PLANNED and outcome.exit_code == 0 and outcome.plan_kept
    assert outcome.run is not None and outcome.evaluation is outcome.run.final
    assert outcome.final_check is outcome.run.final_check and outcome.final_check is not None
    assert outcome.result["status"] == "planned" and outcome.result["launcher"] == "test"
    assert outcome.result["oars"] == build_result(outcome.run)["oars"]
    assert outcome.findings == (*outcome.run.prepared.findings, *outcome.run.findings)
    assert set(outcome.paths_written) == {report, audit}
    with audit.open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["status"] == "planned" and row["patient_id"] == "LRRC-02"


def test_a_stop_is_an_outcome_with_its_findings_and_writes_nothing(tmp_path):
    case = DirectCase("EARLY-01")
    audit = tmp_path / "a.csv"
    planner = DirectPlanner(case)
    outcome = execute(PROTOCOL, case.read(), WorkflowOptions(), planner=planner,
                      outputs=OutputRequest(audit_csv=str(audit)))
    assert planner.journal == []  # the planner is never called on a stop
    assert outcome.status is Status.STOPPED and outcome.exit_code == 2 and not outcome.plan_kept
    assert outcome.run is None and outcome.evaluation is None and outcome.final_check is None
    assert "interval-under-6-months" in {f.code for f in outcome.stop_findings}
    assert outcome.result["stop_findings"] == [f.to_dict() for f in outcome.findings]
    assert not audit.exists() and outcome.paths_written == ()


def test_an_existing_dose_is_evaluated_through_the_same_path():
    """The dose of a planned run, evaluated again: 'evaluated', the same OAR numbers."""
    case = DirectCase("REG-01")
    planned = execute(PROTOCOL, case.read(), WorkflowOptions(), planner=DirectPlanner(case))
    assert planned.run is not None and planned.run.final_dose is not None
    level = planned.result["prescription_gy"]
    evaluated = execute(PROTOCOL, case.read(), WorkflowOptions(), new_dose=planned.run.final_dose,
                        prescription_gy=level)
    assert evaluated.status is Status.EVALUATED and evaluated.exit_code == 0
    assert [o["planned_physical_gy"] for o in evaluated.result["oars"]] == \
        [o["planned_physical_gy"] for o in planned.result["oars"]]
    with pytest.raises(InputError, match="prescription is unknown"):
        execute(PROTOCOL, case.read(), WorkflowOptions(), new_dose=planned.run.final_dose)


def test_a_record_that_cannot_be_written_is_an_output_error_and_a_launcher_key_never_hides_a_result_key(
        tmp_path):
    case = DirectCase("LRRC-01")
    snapshot = case.read()
    options = WorkflowOptions(dry_run=True)
    prepared = prepare(PROTOCOL, snapshot, options)
    with pytest.raises(InputError, match="no-such-folder"):
        execute(PROTOCOL, snapshot, options, prepared=prepared,
                outputs=OutputRequest(report=str(tmp_path / "no-such-folder" / "r.html")))
    with pytest.raises(InputError, match="would replace keys"):
        execute(PROTOCOL, snapshot, options, prepared=prepared, extra={"status": "planned"})
