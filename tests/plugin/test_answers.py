"""Answers files (reirrad_tps.answers): the one format the RayStation menu and the Eclipse host read.

Source of truth: the documented keys of the module docstring; bad input must be refused with a message
that names the file, the key and the value.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from reirrad.errors import InputError
from reirrad_tps.answers import RunAnswers, read_answers, read_layered_answers


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


# -- report_dir: a deployment's folder for every run's own report --------------------------------------

#: 2026-12-07 06:30:15 in London (GMT, UTC+0 in December) and in a zone 5 h 30 min ahead of UTC.
RUN_START = dt.datetime(2026, 12, 7, 6, 30, 15, tzinfo=dt.timezone.utc)
AHEAD = dt.timezone(dt.timedelta(hours=5, minutes=30))


def test_report_dir_gives_each_run_a_new_file_named_by_patient_plan_and_utc_time(tmp_path):
    """reirrad.outputs.report_in_folder: reirrad_<patient>_<plan>_<UTC>.html; the same name taken (a second
    run in the same second) gives -2, then -3; an existing report is never named again. The time is UTC
    whatever the zone given (12:00:15 at UTC+5:30 is 06:30:15 UTC)."""
    folder = tmp_path / "reports"
    folder.mkdir()
    answers = read_answers(_file(tmp_path, f"report_dir: {folder}\naudit_csv: {tmp_path / 'audit.csv'}\n"))
    assert answers.report is None and answers.report_dir == str(folder)
    first = answers.for_run("LRRC-01", "SABR_REIRR", RUN_START).report
    assert first == str(folder / "reirrad_LRRC-01_SABR_REIRR_20261207T063015Z.html")
    noon_ahead = dt.datetime(2026, 12, 7, 12, 0, 15, tzinfo=AHEAD)
    assert answers.for_run("LRRC-01", "SABR_REIRR", noon_ahead).report == first
    (folder / Path(first).name).write_text("an earlier report", encoding="utf-8")
    second = answers.for_run("LRRC-01", "SABR_REIRR", RUN_START).report
    assert second == str(folder / "reirrad_LRRC-01_SABR_REIRR_20261207T063015Z-2.html")
    Path(second).write_text("another", encoding="utf-8")
    assert answers.for_run("LRRC-01", "SABR_REIRR", RUN_START).report.endswith("Z-3.html")
    assert answers.for_run("LRRC-01", "SABR_REIRR").report.startswith(str(folder / "reirrad_LRRC-01_"))


@pytest.mark.parametrize(("patient", "plan", "name"), [
    # Windows forbids \ / : * ? " < > | in a file name; a leading dot would hide the file or climb a folder
    ("../../etc", "a/b", "reirrad__.._etc_a_b_20261207T063015Z.html"),
    ('12:34*?"<>|', "P\\1", "reirrad_12_34__P_1_20261207T063015Z.html"),
    ("  Müller José  ", "plan one", "reirrad_M_ller_Jos__plan_one_20261207T063015Z.html"),
    ("", "...", "reirrad_____20261207T063015Z.html"),  # an empty part is "_"
    ("A" * 60, "B", f"reirrad_{'A' * 48}_B_20261207T063015Z.html"),
])
def test_report_names_keep_only_safe_characters_of_hostile_ids(tmp_path, patient, plan, name):
    """Every character but letters, digits, ".", "_" and "-" becomes "_" (runs of them one "_"), no part
    starts with a dot, each is cut to 48 characters: the file lands in report_dir, with a name Windows
    and POSIX both accept."""
    answers = RunAnswers(report_dir=str(tmp_path))
    assert answers.for_run(patient, plan, RUN_START).report == str(tmp_path / name)


def test_a_report_path_wins_over_report_dir_and_no_folder_means_no_report(tmp_path):
    """A report named (on the command line) is used as it is; without report_dir nothing is named."""
    answers = RunAnswers(report_dir=str(tmp_path)).updated(report=str(tmp_path / "mine.html"))
    assert answers.for_run("P", "Q", RUN_START).report == str(tmp_path / "mine.html")
    assert RunAnswers().for_run("P", "Q", RUN_START).report is None


def test_bad_report_dirs_are_refused_naming_the_folder(tmp_path):
    a_file = tmp_path / "a.html"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="folder does not exist; create it first"):
        RunAnswers(report_dir=str(tmp_path / "missing")).for_run("P", "Q", RUN_START)
    with pytest.raises(InputError, match="is a file, not a folder"):
        RunAnswers(report_dir=str(a_file)).for_run("P", "Q", RUN_START)
    with pytest.raises(InputError, match="names no folder"):
        RunAnswers(report_dir=" ").for_run("P", "Q", RUN_START)
    with pytest.raises(InputError, match=r"report .* and report_dir .* are both given"):
        read_answers(_file(tmp_path, f"report: {a_file}\nreport_dir: {tmp_path}\n"))
    with pytest.raises(InputError, match="report_dir must be a folder path, written as text"):
        read_answers(_file(tmp_path, "report_dir: [a]\n"))


def test_every_name_taken_is_refused_not_overwritten(tmp_path):
    """After the plain name and 99 numbered ones, the run is refused (no report is ever replaced)."""
    stem = "reirrad_P_Q_20261207T063015Z"
    (tmp_path / f"{stem}.html").write_text("0", encoding="utf-8")
    for number in range(2, 101):
        (tmp_path / f"{stem}-{number}.html").write_text("0", encoding="utf-8")
    with pytest.raises(InputError, match="99 numbered names are taken"):
        RunAnswers(report_dir=str(tmp_path)).for_run("P", "Q", RUN_START)


@pytest.mark.parametrize("line", [
    "planned_start: 2026-12-07", "prior_dates: {PELVIS_45: 2024-06-07}", "structures: {rectum: R}",
    "risk_factors: [diabetes]", "conservation_factor: 0.8", "override_eligibility: MDT agreed",
    "report: C:/reirrad/report.html",
])
def test_a_file_for_every_run_refuses_one_patients_answers(tmp_path, line):
    """ReirradHost.ini's answers file applies to every run: an override reason there would override every
    patient's stop, a report path would be replaced by each run, dates and structures are one patient's."""
    path = _file(tmp_path, line + "\n")
    assert read_answers(path) is not None  # a run's own file may hold it
    with pytest.raises(InputError, match=r"is read for every run .* holds one patient's answers") as info:
        read_answers(path, every_run=True)
    assert line.split(":")[0] in str(info.value)


def test_a_file_for_every_run_keeps_the_departments_choices(tmp_path):
    answers = read_answers(_file(tmp_path, (f"intent: limit-toxicity\nreport_dir: {tmp_path}\n"
                                            f"audit_csv: {tmp_path / 'audit.csv'}\nprotocol: my.yaml\n"
                                            "override_eligibility: false\n")), every_run=True)
    assert answers == RunAnswers(intent="limit-toxicity", report_dir=str(tmp_path),
                                 audit_csv=str(tmp_path / "audit.csv"), protocol="my.yaml")


def test_a_runs_own_file_is_read_over_the_departments_key_by_key(tmp_path):
    """read_layered_answers: the run's keys win, the department's others stay (its audit CSV: the run is
    recorded); a run's report replaces the department's report_dir; either file may be absent."""
    folder = tmp_path / "dept"
    folder.mkdir()
    department = folder / "department.yaml"
    text = f"intent: limit-toxicity\nreport_dir: {tmp_path}\naudit_csv: {tmp_path / 'a.csv'}\n"
    department.write_text(text, encoding="utf-8")
    own = _file(tmp_path, "intent: isotoxic\nplanned_start: 2026-12-07\n")
    answers = read_layered_answers(str(department), own)
    assert answers == RunAnswers(intent="isotoxic", planned_start=dt.date(2026, 12, 7),
                                 report_dir=str(tmp_path), audit_csv=str(tmp_path / "a.csv"))
    with_report = _file(tmp_path, f"report: {tmp_path / 'mine.html'}\n")
    layered = read_layered_answers(str(department), with_report)
    assert layered.report == str(tmp_path / "mine.html") and layered.report_dir is None
    assert read_layered_answers(None, None) == RunAnswers()
    assert read_layered_answers(None, own) == read_answers(own)
    assert read_layered_answers(str(department), None) == read_answers(str(department), every_run=True)


def test_layered_answers_name_the_file_at_fault(tmp_path):
    """Each file is checked on its own first: the department's one-patient answer, or a bad value in
    either, names that file."""
    department = tmp_path / "department.yaml"
    department.write_text("prior_dates: {PELVIS_45: 2024-06-07}\n", encoding="utf-8")
    own = tmp_path / "own.yaml"
    own.write_text("intent: maximal\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"answers file {re.escape(str(department))} is read for every run"):
        read_layered_answers(str(department), str(own))
    department.write_text("intent: isotoxic\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"answers file {re.escape(str(own))}: .*intent must be one of"):
        read_layered_answers(str(department), str(own))
