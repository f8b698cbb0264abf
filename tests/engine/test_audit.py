"""The audit export (reirrad.audit) of a real workflow run on the TPS-less stand-in (LRRC-01).

Sources of truth: the result mapping of the same run (every audit value must equal the result's),
the column lists documented in reirrad.audit, and Python's csv and json modules (round trips).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from datetime import date, timedelta

import pytest

from reirrad import files
from reirrad.audit import (
    AUDIT_SCHEMA,
    FINAL_CHECK_FIELDS,
    METHOD_FIELDS,
    OAR_FIELDS,
    PRIOR_FIELDS,
    RUN_FIELDS,
    TARGET_FIELDS,
    TUMOUR_ALPHA_BETAS_GY,
    TUMOUR_FIELDS,
    append_audit_csv,
    audit_record,
    write_audit_json,
)
from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.statuses import exit_code_for
from reirrad.workflow import WorkflowOptions, run
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


@pytest.fixture(scope="module")
def result():
    """One limit-toxicity run (one optimisation at 30 Gy) on LRRC-01, with a recorded risk factor and a
    conservation factor of 0.9 (so the recovery credited is 0.9 x 50 % = 45 %; at 0.8 the stand-in
    optimiser's plan breaks the sacral plexus's limit and the run is 'infeasible', with no prescription)."""
    case = DirectCase("LRRC-01")
    options = WorkflowOptions(intent="limit-toxicity", risk_factors=("diabetes",), conservation_factor=0.9)
    outcome = run(PROTOCOL, case.read(), DirectPlanner(case), options)
    return build_result(outcome)


@pytest.fixture(scope="module")
def record(result):
    return audit_record(result)


def _expected_columns(result):
    n_prior = len(result["provenance"]["prior_courses"])
    return [*RUN_FIELDS,
            *(f"prior.{n}.{f}" for n in range(1, n_prior + 1) for f in PRIOR_FIELDS),
            *(f"method.{f}" for f in METHOD_FIELDS),
            *(f"final_check.{f}" for f, _ in FINAL_CHECK_FIELDS),
            *(f"oar.{o['name']}.{f}" for o in result["oars"] for f in OAR_FIELDS),
            *(f"target.{f}" for f in TARGET_FIELDS),
            *(f"target.tumour_{f}_ab{ab:g}_gy" for ab in TUMOUR_ALPHA_BETAS_GY for f in TUMOUR_FIELDS)]


def test_record_has_the_documented_columns_with_the_result_values(result, record):
    """Source of truth: the result mapping; the columns are the documented lists in their order."""
    assert list(record) == _expected_columns(result)
    assert record["schema"] == AUDIT_SCHEMA
    prov = result["provenance"]
    assert record["protocol.sha256"] == prov["protocol"]["sha256"]
    assert record["protocol.name"] == "uk-sabr-pelvis-reirradiation"
    # the status is the engine's; the audit copies it and its exit code
    assert record["status"] == result["status"]
    assert record["exit_code"] == exit_code_for(result)
    assert record["planning_intent"] == "limit-toxicity"
    assert record["new_course.prescription_gy"] == result["prescription_gy"] == 30.0
    assert record["new_course.n_fractions"] == 5
    assert record["new_course.dose_per_fraction_gy"] == pytest.approx(6.0)
    assert record["new_course.optimisations"] == result["optimisations"]["count"] == 1
    assert record["eligibility.eligible"] is result["eligibility"]["eligible"]
    for oar in result["oars"]:
        for field in OAR_FIELDS:
            assert record[f"oar.{oar['name']}.{field}"] == oar.get(field), (oar["name"], field)
    rectum = next(o for o in result["oars"] if o["name"] == "rectum")
    assert record["oar.rectum.cumulative_eqd2_gy"] == rectum["cumulative_eqd2_gy"] is not None
    for field in TARGET_FIELDS:
        assert record[f"target.{field}"] == result["target"].get(field)
    for entry in result["target"].get("tumour_dose") or []:  # issue 14: every alpha/beta of the protocol
        if entry["alpha_beta_gy"] in TUMOUR_ALPHA_BETAS_GY:
            assert record[f"target.tumour_d95_eqd2_ab{entry['alpha_beta_gy']:g}_gy"] == entry["d95_eqd2_gy"]
    check = result.get("final_check") or {}
    for column, key in FINAL_CHECK_FIELDS:
        value = check.get(key)
        assert record[f"final_check.{column}"] == (";".join(value) if isinstance(value, list) else value)
    course = prov["prior_courses"][0]
    assert record["prior.count"] == len(prov["prior_courses"]) == 1
    assert record["prior.1.course"] == course["course"]
    assert record["prior.1.last_fraction"] == course["last_fraction"]
    assert record["prior.1.interval_days"] == course["interval_days"]
    assert record["prior.1.interval_months"] == pytest.approx(course["interval_days"] / 30.4375)
    assert record["prior.1.prescription_gy"] == course["prescription_gy"]
    assert record["prior.1.registration"] == course["registration"]
    credited = {c["recovered_fraction"] for o in result["oars"] if o["cumulative_limit_eqd2_gy"] is not None
                for c in o["courses"]}
    assert record["prior.1.recovered_fraction_min"] == min(credited)
    assert record["prior.1.recovered_fraction_max"] == max(credited)
    assert record["prior.1.recovered_fraction_min"] == pytest.approx(0.45)  # 0.9 x 50 % (913 days)
    assert record["method.recovery_model"] == prov["recovery"]["model"] == "uk-guidance"
    assert record["method.recovery_conservation_factor"] == 0.9
    assert record["method.recovery_risk_factors"] == "diabetes"
    assert record["method.lq_model"] == prov["lq_model"]
    # the new course starts `interval` days after the prior course's last fraction (stub: 913 days)
    start = date.fromisoformat(course["last_fraction"]) + timedelta(days=course["interval_days"])
    assert record["new_course.planned_start"] == start.isoformat()
    json.dumps(record, allow_nan=False)
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in record.values())


def test_columns_for_the_protocol_oars_and_more_prior_courses(result):
    """oar_keys / n_prior_courses give records of different patients one header; unlisted OARs and
    missing courses are empty, and narrowing below the result is refused."""
    wide = audit_record(result, oar_keys=PROTOCOL.oar_keys, n_prior_courses=2)
    matched = {o["name"] for o in result["oars"]}
    for key in set(PROTOCOL.oar_keys) - matched:
        assert all(wide[f"oar.{key}.{f}"] is None for f in OAR_FIELDS)
    assert all(wide[f"prior.2.{f}"] is None for f in PRIOR_FIELDS)
    with pytest.raises(InputError, match="omit the result's OARs"):
        audit_record(result, oar_keys=["rectum"])
    with pytest.raises(InputError, match="n_prior_courses=0"):
        audit_record(result, n_prior_courses=0)


def test_csv_round_trip_and_append(record, tmp_path):
    """Source of truth: csv.DictReader reads back every value (floats exactly, via repr); a second
    append gives a second row under the same header."""
    path = tmp_path / "audit.csv"
    append_audit_csv(path, record)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    assert list(rows[0]) == list(record)
    for key, value in record.items():
        text = rows[0][key]
        if value is None:
            assert text == ""
        elif isinstance(value, bool):
            assert text == ("true" if value else "false")
        elif isinstance(value, float):
            assert float(text) == value
        else:
            assert text == str(value)
    second = dict(record, status="infeasible", **{"new_course.prescription_gy": None})
    append_audit_csv(path, second)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == [record["status"], "infeasible"]
    assert rows[1]["new_course.prescription_gy"] == ""


def test_text_that_starts_like_a_formula_is_written_as_text(record, tmp_path):
    """Found on a hostile stub patient: patient_id '=HYPERLINK("http://evil/x","a")' and an override reason
    '=HYPERLINK(...)' were written into the row as they were, which a spreadsheet runs (quoting does not
    stop it). Text starting with = + - @, a tab or CR gets a leading apostrophe (OWASP's advice); numbers,
    negative ones included, stay numbers."""
    path = tmp_path / "audit.csv"
    hostile = dict(record, patient_id='=HYPERLINK("http://evil/x","a")', plan_id="+SABR", tps="@SUM(1)",
                   status="-2+3", software_version="\tx")
    number_column = next(k for k, v in record.items() if isinstance(v, float))
    hostile[number_column] = -2.5
    append_audit_csv(path, hostile)
    with open(path, encoding="utf-8", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert (row["patient_id"], row["plan_id"], row["tps"], row["status"], row["software_version"]) == (
        '\'=HYPERLINK("http://evil/x","a")', "'+SABR", "'@SUM(1)", "'-2+3", "'\tx")
    assert row[number_column] == "-2.5"


def test_a_record_with_other_columns_is_refused_and_the_file_is_unchanged(record, tmp_path):
    """The refusal names the differing columns and writes nothing."""
    path = tmp_path / "audit.csv"
    append_audit_csv(path, record)
    before = path.read_bytes()
    other = dict(record)
    del other["oar.rectum.passed"]
    other["oar.spinal_cord.passed"] = True
    with pytest.raises(InputError, match=r"oar\.rectum\.passed.*oar\.spinal_cord\.passed"):
        append_audit_csv(path, other)
    assert path.read_bytes() == before
    reordered = dict(reversed(list(record.items())))
    with pytest.raises(InputError, match="different order"):
        append_audit_csv(path, reordered)
    assert path.read_bytes() == before
    with pytest.raises(InputError, match="must be text, a number"):
        append_audit_csv(path, dict(record, status=["planned"]))
    assert path.read_bytes() == before


def test_json_output_parses(record, tmp_path):
    """Source of truth: json.load of the written file gives back the schema and the records."""
    path = write_audit_json(tmp_path / "audit.json", [record, record])
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == AUDIT_SCHEMA
    assert data["records"] == [record, record]
    assert list(data["records"][0]) == list(record)
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(InputError, match="wrap a single record"):
        write_audit_json(tmp_path / "one.json", record)


# -- several writers ---------------------------------------------------------------------------------
WRITER = """
import json, os, sys, time
from reirrad.audit import append_audit_csv
record_file, csv_file, go_file, rows, tag = sys.argv[1:]
record = json.load(open(record_file, encoding="utf-8"))
while not os.path.exists(go_file):
    time.sleep(0.001)
for n in range(int(rows)):
    append_audit_csv(csv_file, dict(record, patient_id=f"{tag}-{n}"))
"""


def test_concurrent_writers_share_one_file(record, tmp_path):
    """Four processes appending ten rows each to one new file at the same moment: one header, all forty
    rows whole and distinct, no lock file left. Without the lock, two writers both creating the file
    (each writes header + row and renames) lose rows, and interleaved appends break rows."""
    record_file, path, go = tmp_path / "record.json", tmp_path / "audit.csv", tmp_path / "go"
    record_file.write_text(json.dumps(record), encoding="utf-8")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(record_file), str(path), str(go), "10",
                                 f"w{w}"]) for w in range(4)]
    time.sleep(1.0)  # let every writer import and wait for the start
    go.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    alone = tmp_path / "alone.csv"  # the same record appended by itself: what every row must be
    append_audit_csv(alone, dict(record, patient_id="x"))
    with open(alone, encoding="utf-8", newline="") as handle:
        expected = list(csv.reader(handle))[1]
    column = list(record).index("patient_id")
    with open(path, encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == list(record)
    for line in lines[1:]:
        assert line[:column] + line[column + 1:] == expected[:column] + expected[column + 1:]
    ids = sorted(line[column] for line in lines[1:])
    assert ids == sorted(f"w{w}-{n}" for w in range(4) for n in range(10))
    assert not (tmp_path / "audit.csv.lock").exists()


def test_a_held_lock_is_waited_for_then_refused_with_its_holder(record, tmp_path, monkeypatch):
    """A lock another run holds: the append waits, then stops naming the lock file and its holder, and
    writes nothing; a lock released while waiting lets the append through."""
    path = tmp_path / "audit.csv"
    append_audit_csv(path, record)
    before = path.read_bytes()
    lock = tmp_path / "audit.csv.lock"
    lock.write_text("pid 4242 on planning-ws-3 since 2026-11-29T09:00:00+0000\n", encoding="utf-8")
    monkeypatch.setattr(files, "LOCK_TIMEOUT_S", 0.3)
    with pytest.raises(InputError, match=r"audit\.csv\.lock is held by pid 4242 on planning-ws-3.*delete"):
        append_audit_csv(path, record)
    assert path.read_bytes() == before and lock.exists()  # somebody else's lock is never removed
    monkeypatch.setattr(files, "LOCK_TIMEOUT_S", 30.0)
    release = threading.Timer(0.3, lock.unlink)
    release.start()
    append_audit_csv(path, record)
    release.join()
    with open(path, encoding="utf-8", newline="") as handle:
        assert len(list(csv.reader(handle))) == 3
    assert not lock.exists()


def test_the_lock_is_released_after_a_refusal(record, tmp_path):
    """A refused record (other columns) leaves no lock behind: the next append goes through at once."""
    path = tmp_path / "audit.csv"
    append_audit_csv(path, record)
    with pytest.raises(InputError, match="different order"):
        append_audit_csv(path, dict(reversed(list(record.items()))))
    assert not (tmp_path / "audit.csv.lock").exists()
    append_audit_csv(path, record)


# -- issue 14: the decision-gate columns, from a result shaped as the issue-14 contract ---------------
# (docs/result.md). Tumour-dose numbers hand-derived for 45 Gy in 5 fractions:
# alpha/beta 5 Gy: BED 45 x 2.8 = 126 Gy, EQD2 90 Gy; the D95/D80 values are the result's own.
STOP_CORD = {"code": "nieder-course-bed-exceeded", "severity": "stop", "subject": "spinal_cord",
             "message": "prior cord course 104.2 Gy2 BED exceeds 98 Gy2"}
STOP_INTERVAL = {"code": "interval-under-6-months", "severity": "stop", "subject": "PELVIS_45",
                 "message": "prior course ended 150 days ago"}
FLAG_URETER = {"code": "no-cumulative-limit", "severity": "flag", "subject": "ureter_l",
               "message": "Ureter L: prior dose but no cumulative limit"}
FLAG_DEFORMABLE = {"code": "deformable-registration", "severity": "flag", "subject": "PELVIS_45",
                   "message": "prior dose mapped deformably"}
FLAG_CONSERVATION = {"code": "risk-factors-without-conservation", "severity": "flag", "subject": "",
                     "message": "risk factors confirmed but the conservation factor is 1"}


def _spec_result(**changes):
    result = {
        "status": "final-check-failed", "patient_id": "GYN-01", "plan_id": "SABR_REIRR", "intent": "isotoxic",
        "search": "predictive", "prescription_gy": 45.0, "n_fractions": 5, "oar_limits_met": False,
        "optimisations": {"count": 4}, "limiting_oars": ["rectum"],
        "oars": [{"name": "ureter_l", "passed": None, "limited_by": "de-novo", "recovery_credited": True,
                  "cumulative_eqd2_gy": 104.9, "findings": [FLAG_URETER]},
                 {"name": "spinal_cord", "passed": True, "limited_by": "per-course",
                  "recovery_credited": False, "per_course_limit_physical_gy": 26.7}],
        "target": {"structure": "PTV", "coverage_met": True, "coverage_min_pct": 80.0,
                   "tumour_dose": [
                       {"alpha_beta_gy": 5.0, "prescription_bed_gy": 126.0, "prescription_eqd2_gy": 90.0,
                        "d95_eqd2_gy": 87.43, "d80_eqd2_gy": 89.61, "bed_ratio_to_reference": 126.0 / 66.0},
                       {"alpha_beta_gy": 10.0, "prescription_bed_gy": 85.5, "prescription_eqd2_gy": 71.25,
                        "d95_eqd2_gy": 69.52, "d80_eqd2_gy": 70.88, "bed_ratio_to_reference": 85.5 / 48.0}]},
        "final_check": {"dose_rechecked_after_normalisation": True, "normalised": True,
                        "normalisation_value": 1.0113, "tps_normalisation": 101.13, "prescription_gy": 45.0,
                        "oar_limits_met": False, "coverage_met": True, "failing_oars": ["rectum", "bladder"],
                        "v95_pct": 95.6, "d95_gy": 44.1},
        "warnings": [FLAG_DEFORMABLE, FLAG_CONSERVATION,
                     {"code": "recovery", "severity": "info", "subject": "", "message": "uk-guidance"}],
        "eligibility": {"eligible": False, "may_proceed": True, "findings": [STOP_INTERVAL],
                        "override_reason": "MDT 2026-11-02", "overridden": [STOP_INTERVAL, STOP_CORD]},
        "provenance": {"protocol": {"name": "uk-sabr-pelvis-reirradiation"}, "recovery": {},
                       "prior_courses": [{"course": "PELVIS_45", "registration": "deformable"},
                                         {"course": "BOOST", "registration": "same-frame"}]},
    }
    result.update(changes)
    return result


def test_decision_gate_columns_carry_the_result_values():
    """Source of truth: the spec-shaped result above and reirrad.statuses.exit_code_for."""
    rec = audit_record(_spec_result(), oar_keys=PROTOCOL.oar_keys, n_prior_courses=3)
    assert rec["schema"] == AUDIT_SCHEMA == "reirrad-audit/4"
    assert rec["status"] == "final-check-failed" and rec["exit_code"] == 3
    assert rec["final_check.rechecked"] is True
    assert rec["final_check.normalisation_value"] == 1.0113
    assert rec["final_check.oar_limits_met"] is False and rec["final_check.coverage_met"] is True
    assert rec["final_check.failing_oars"] == "rectum;bladder"
    assert rec["eligibility.override_reason"] == "MDT 2026-11-02"
    assert rec["eligibility.overridden_stop_codes"] == ("interval-under-6-months:PELVIS_45;"
                                                        "nieder-course-bed-exceeded:spinal_cord")
    # every flag: warnings, then per-OAR findings (reirrad.audit.result_findings order); no info
    assert rec["flag_warning_codes"].split(";") == [
        "deformable-registration:PELVIS_45", "risk-factors-without-conservation",
        "no-cumulative-limit:ureter_l"]
    assert "stop:nieder-course-bed-exceeded:spinal_cord" in rec["findings"].split(";")
    assert rec["target.tumour_d95_eqd2_ab5_gy"] == 87.43 and rec["target.tumour_d80_eqd2_ab5_gy"] == 89.61
    assert rec["target.tumour_d95_eqd2_ab10_gy"] == 69.52 and rec["target.tumour_d80_eqd2_ab10_gy"] == 70.88
    assert rec["target.coverage_met"] is True and rec["target.coverage_min_pct"] == 80.0
    assert [rec[f"prior.{n}.registration"] for n in (1, 2, 3)] == ["deformable", "same-frame", None]
    assert rec["method.registration"] == "deformable;same-frame"
    assert rec["oar.ureter_l.passed"] is None and rec["oar.ureter_l.cumulative_eqd2_gy"] == 104.9
    assert rec["oar.spinal_cord.limited_by"] == "per-course"
    assert rec["oar.spinal_cord.recovery_credited"] is False
    assert rec["oar.spinal_cord.per_course_limit_physical_gy"] == 26.7


def test_the_header_does_not_depend_on_the_run(tmp_path):
    """Rows of one protocol share one CSV: a result without a final check, with tumour dose at one
    alpha/beta only (and one at an alpha/beta that has no column), without overrides or flags has the
    same columns, empty where the result has nothing."""
    full = audit_record(_spec_result(), oar_keys=PROTOCOL.oar_keys, n_prior_courses=3)
    target = {"structure": "PTV", "tumour_dose": [
        {"alpha_beta_gy": 10.0, "d95_eqd2_gy": 41.0, "d80_eqd2_gy": 42.0},
        {"alpha_beta_gy": 3.0, "d95_eqd2_gy": 50.0, "d80_eqd2_gy": 51.0}]}
    eligibility = {"eligible": True, "may_proceed": True, "findings": [], "override_reason": None}
    sparse = audit_record(_spec_result(status="dry-run", final_check=None, target=target, warnings=[],
                                       oars=[], eligibility=eligibility),
                          oar_keys=PROTOCOL.oar_keys, n_prior_courses=3)
    assert list(sparse) == list(full)
    assert sparse["exit_code"] == 0
    assert all(sparse[f"final_check.{c}"] is None for c, _ in FINAL_CHECK_FIELDS)
    assert sparse["target.tumour_d95_eqd2_ab5_gy"] is None
    assert sparse["target.tumour_d95_eqd2_ab10_gy"] == 41.0
    assert sparse["eligibility.overridden_stop_codes"] == "" and sparse["flag_warning_codes"] == ""
    path = tmp_path / "audit.csv"
    append_audit_csv(path, full)
    append_audit_csv(path, sparse)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["exit_code"] for r in rows] == ["3", "0"]
    assert [r["target.tumour_d80_eqd2_ab10_gy"] for r in rows] == ["70.88", "42.0"]
    assert rows[0]["final_check.normalisation_value"] == "1.0113" and rows[1]["final_check.rechecked"] == ""


def test_each_prior_course_s_modality_is_a_column():
    """GYN-BT-01 (stub definition: EBRT PELVIS_45 then an HDR plan of the same course): the audit row
    names each prior course's modality in the order of the result's prior courses; a third, absent
    course is empty."""
    result = build_result(run(PROTOCOL, DirectCase("GYN-BT-01").read(), None, WorkflowOptions(dry_run=True)))
    courses = result["provenance"]["prior_courses"]
    rec = audit_record(result, oar_keys=PROTOCOL.oar_keys, n_prior_courses=3)
    assert [c["modality"] for c in courses] == ["external", "brachytherapy"]
    assert [rec[f"prior.{n}.modality"] for n in (1, 2, 3)] == ["external", "brachytherapy", None]
