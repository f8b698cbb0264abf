"""The audit export (reirrad.audit) of a real workflow run on the TPS-less stand-in (LRRC-01).

Sources of truth: the result mapping of the same run (every audit value must equal the result's),
the column lists documented in reirrad.audit, and Python's csv and json modules (round trips).
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import pytest

from reirrad.audit import (
    AUDIT_SCHEMA,
    METHOD_FIELDS,
    OAR_FIELDS,
    PRIOR_FIELDS,
    RUN_FIELDS,
    TARGET_FIELDS,
    append_audit_csv,
    audit_record,
    write_audit_json,
)
from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.workflow import WorkflowOptions, run
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


@pytest.fixture(scope="module")
def result():
    """One limit-toxicity run (one optimisation at 30 Gy) on LRRC-01, with a recorded risk factor and a
    conservation factor of 0.8 (so the recovery credited is 0.8 x 50 % = 40 %)."""
    case = DirectCase("LRRC-01")
    options = WorkflowOptions(intent="limit-toxicity", risk_factors=("diabetes",), conservation_factor=0.8)
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
            *(f"oar.{o['name']}.{f}" for o in result["oars"] for f in OAR_FIELDS),
            *(f"target.{f}" for f in TARGET_FIELDS)]


def test_record_has_the_documented_columns_with_the_result_values(result, record):
    """Source of truth: the result mapping; the columns are the documented lists in their order."""
    assert list(record) == _expected_columns(result)
    assert record["schema"] == AUDIT_SCHEMA
    prov = result["provenance"]
    assert record["protocol.sha256"] == prov["protocol"]["sha256"]
    assert record["protocol.name"] == "uk-sabr-pelvis-reirradiation"
    assert record["status"] == result["status"] == "planned"
    assert record["planning_intent"] == "limit-toxicity"
    assert record["new_course.prescription_gy"] == result["prescription_gy"] == 30.0
    assert record["new_course.n_fractions"] == 5
    assert record["new_course.dose_per_fraction_gy"] == pytest.approx(6.0)
    assert record["new_course.optimisations"] == result["optimisations"]["count"] == 1
    assert record["eligibility.eligible"] is result["eligibility"]["eligible"]
    for oar in result["oars"]:
        for field in OAR_FIELDS:
            assert record[f"oar.{oar['name']}.{field}"] == oar[field], (oar["name"], field)
    rectum = next(o for o in result["oars"] if o["name"] == "rectum")
    assert record["oar.rectum.cumulative_eqd2_gy"] == rectum["cumulative_eqd2_gy"] is not None
    for field in TARGET_FIELDS:
        assert record[f"target.{field}"] == result["target"][field]
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
    assert record["prior.1.recovered_fraction_min"] == pytest.approx(0.4)  # 0.8 x 50 % (913 days)
    assert record["method.recovery_model"] == prov["recovery"]["model"] == "uk-guidance"
    assert record["method.recovery_conservation_factor"] == 0.8
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
    assert [r["status"] for r in rows] == ["planned", "infeasible"]
    assert rows[1]["new_course.prescription_gy"] == ""


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
