"""Answers files (reirrad_tps.answers): the one format the RayStation menu and the Eclipse host read.

Source of truth: the documented keys of the module docstring; bad input must be refused with a message
that names the file, the key and the value.
"""

from __future__ import annotations

import datetime as dt

import pytest

from reirrad.errors import InputError
from reirrad_tps.answers import RunAnswers, read_answers


def _file(tmp_path, text: str) -> str:
    path = tmp_path / "answers.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_documented_key_is_read(tmp_path):
    answers = read_answers(_file(tmp_path, (
        "intent: limit-toxicity\nsearch: ladder\nobjectives: spatial\ndry_run: true\n"
        "planned_start: 2026-12-07\n"
        "prior_dates: {PELVIS_45: 2024-06-07}\noverride_eligibility: MDT 2026-11-20\n"
        "protocol: my.yaml\nversion: 12A\nstructures: {rectum: Rectum_PRV}\n"
        "risk_factors: [diabetes, advanced-age]\nconservation_factor: 0.8\n")))
    assert answers == RunAnswers(intent="limit-toxicity", search="ladder", objectives="spatial", dry_run=True,
                                 planned_start=dt.date(2026, 12, 7),
                                 prior_dates={"PELVIS_45": dt.date(2024, 6, 7)},
                                 override_eligibility="MDT 2026-11-20", protocol="my.yaml", version="12A",
                                 structures={"rectum": "Rectum_PRV"},
                                 risk_factors=("diabetes", "advanced-age"), conservation_factor=0.8)
    options = answers.workflow_options()
    assert (options.intent, options.search, options.dry_run, options.override_reason) == (
        "limit-toxicity", "ladder", True, "MDT 2026-11-20")
    assert options.structure_overrides == {"rectum": "Rectum_PRV"}
    assert options.risk_factors == ("diabetes", "advanced-age") and options.conservation_factor == 0.8
    assert options.objectives == "spatial"


def test_json_and_an_empty_file_give_the_defaults(tmp_path):
    assert read_answers(_file(tmp_path, "")) == RunAnswers()
    assert read_answers(_file(tmp_path, '{"intent": "isotoxic"}')) == RunAnswers()


def test_command_line_values_replace_file_values_but_none_keeps_them():
    base = RunAnswers(intent="limit-toxicity", planned_start=dt.date(2026, 1, 5))
    assert base.updated(intent="isotoxic", planned_start=None) == RunAnswers(
        intent="isotoxic", planned_start=dt.date(2026, 1, 5))


@pytest.mark.parametrize(("text", "needle"), [
    ("prior_date: {A: 2024-01-01}\n", "unknown key(s) ['prior_date']"),
    ("planned_start: 07/12/2026\n", "planned_start must be a date YYYY-MM-DD (got '07/12/2026')"),
    ("prior_dates: [2024-01-01]\n", "prior_dates must map plan ids to dates"),
    ("prior_dates: {A: soon}\n", "prior_dates.A must be a date"),
    ("dry_run: yes please\n", "dry_run must be true or false"),
    ("intent: maximal\n", "intent must be one of"),
    ("objectives: voxelwise\n", "objectives must be one of"),
    ("structures: [Rectum]\n", "structures must map OAR keys"),
    ("risk_factors: diabetes\n", "risk_factors must be a list"),
    ("risk_factors: [smoking]\n", "unknown risk factor(s) ['smoking']"),
    ("conservation_factor: 1.2\n", "conservation_factor must be a number in (0, 1]"),
    ("conservation_factor: 0\n", "conservation_factor must be a number in (0, 1]"),
    ("conservation_factor: true\n", "conservation_factor must be a number in (0, 1]"),
    ("- a\n- b\n", "must be a mapping"),
    ("intent: [unclosed\n", "not valid YAML/JSON"),
    # found on hostile answers: each was turned into text and accepted ("False" as the reason overrode
    # every stop; a structure called "None"; the paths "123" and "['a']"; 0 risk factors as none)
    ("override_eligibility: true\n", "override_eligibility must be a reason (text), or false"),
    ("override_eligibility: 0\n", "override_eligibility must be a reason (text), or false"),
    ("override_eligibility: [a, b]\n", "override_eligibility must be a reason (text)"),
    ("structures: {rectum: null}\n", "structures.rectum must be a structure id, written as text (got None"),
    ("report: 123\n", "report must be a file path, written as text (got 123 of type int)"),
    ("audit_csv: [a]\n", "audit_csv must be a file path"),
    ("risk_factors: 0\n", "risk_factors must be a list (got 0)"),
    ("risk_factors: [1]\n", "risk_factors must be a risk factor, written as text"),
    ("version: true\n", "version must name the TPS release"),
])
def test_bad_answers_are_refused_with_the_key_and_value(tmp_path, text, needle):
    with pytest.raises(InputError, match="answers file") as info:
        read_answers(_file(tmp_path, text))
    assert needle in str(info.value)


def test_false_or_null_is_no_override_and_a_numeric_version_is_a_release(tmp_path):
    """``override_eligibility: false`` means no override (it was read as the reason "False"); an Eclipse
    release written as a number (15.6) is the release "15.6"."""
    assert read_answers(_file(tmp_path, "override_eligibility: false\n")).override_eligibility is None
    assert read_answers(_file(tmp_path, "override_eligibility: null\n")).override_eligibility is None
    assert read_answers(_file(tmp_path, "version: 15.6\n")).version == "15.6"


def test_a_missing_file_names_the_path(tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        read_answers(str(tmp_path / "nope.yaml"))
