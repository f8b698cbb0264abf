"""Cohort runs (``reirrad batch``, reirrad_tps.batch).

Sources of truth: the issue's contract (three stub patients and one bad case give three results, one
recorded failure and one audit row per finished case; a second run reuses every finished case and a
changed option recomputes only that case; the Dask path on a local cluster gives the same results as
the process pool), the commands' own argument parsers (a manifest takes exactly their options) and
each case's own result file (what the cohort summary reports must be what the case wrote).

The cases are dry runs on the RayStation stand-in (a dry run computes every allowed dose and
objective and writes nothing to the TPS), about ten seconds each.
"""

from __future__ import annotations

import csv
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from reirrad import cli
from reirrad.errors import InputError
from reirrad_tps.batch.command import expand_policies
from reirrad_tps.batch.manifest import argv_of, check_cases, load_manifest

MANIFEST = """\
defaults: {tps: raystation-stub, intent: isotoxic, dry-run: true}
cases:
  - {id: lrrc01, patient: LRRC-01}
  - {id: pros01, patient: PROS-01}
  - {id: gyn01, patient: GYN-01, conservation-factor: 0.8}
  - {id: bad, patient: NOPE-99}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _batch(argv: List[str], capsys: Any) -> Tuple[int, str]:
    code = cli.main(["batch", *argv])
    return code, capsys.readouterr().out


def _summary(out: Path) -> Dict[str, Any]:
    return json.loads((out / "cohort.json").read_text(encoding="utf-8"))


def _audit_rows(out: Path) -> List[Dict[str, str]]:
    with open(out / "audit.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: Any) -> Dict[str, Any]:
    """The manifest run once with two workers (processes), as a user would: ``reirrad batch``."""
    folder = tmp_path_factory.mktemp("cohort")
    manifest = _write(folder, "cohort.yaml", MANIFEST)
    out = folder / "out"
    code = cli.main(["batch", str(manifest), "--out", str(out), "--workers", "2"])
    return {"folder": folder, "manifest": manifest, "out": out, "code": code}


def test_three_results_one_recorded_failure_and_one_audit_row_per_finished_case(cohort):
    out = cohort["out"]
    assert cohort["code"] == 1  # docs/batch.md: 1 when a case did not finish
    summary = _summary(out)
    assert summary["counts"] == {"cases": 4, "finished": 3, "failed": 1, "reused": 0, "stopped": 0}
    records = {r["case_id"]: r for r in summary["cases"]}
    assert [r["case_id"] for r in summary["cases"]] == ["lrrc01", "pros01", "gyn01", "bad"]  # manifest order
    for case_id, patient in (("lrrc01", "LRRC-01"), ("pros01", "PROS-01"), ("gyn01", "GYN-01")):
        result = json.loads((out / "cases" / case_id / "result.json").read_text(encoding="utf-8"))
        assert result["patient_id"] == patient and result["status"] == "dry-run"
        assert records[case_id]["finished"] is True and records[case_id]["status"] == result["status"]
        assert records[case_id]["exit_code"] == 0 and (out / "cases" / case_id / "report.html").is_file()
    gyn = json.loads((out / "cases" / "gyn01" / "result.json").read_text(encoding="utf-8"))
    assert gyn["provenance"]["recovery"]["conservation_factor"] == 0.8  # the case's own option reached it
    bad = records["bad"]
    assert bad["finished"] is False and bad["exit_code"] == 2 and "no stub patient 'NOPE-99'" in bad["error"]
    assert not (out / "cases" / "bad" / "result.json").exists()
    assert "NOPE-99" in (out / "cases" / "bad" / "log.txt").read_text(encoding="utf-8")
    rows = _audit_rows(out)
    assert len(rows) == 3  # one per finished case, none for the failure
    with open(out / "cohort.csv", newline="", encoding="utf-8") as handle:  # reirrad.cohort: one row per case
        cohort_rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in cohort_rows] == ["lrrc01", "pros01", "gyn01", "bad"]
    assert [r["finished"] for r in cohort_rows] == ["true", "true", "true", "false"]
    page = (out / "cohort.html").read_text(encoding="utf-8")
    assert all(case_id in page for case_id in ("lrrc01", "pros01", "gyn01", "bad")) and "NOPE-99" in page
    assert sorted(row["patient_id"] for row in rows) == ["GYN-01", "LRRC-01", "PROS-01"]


def test_a_second_run_reuses_every_finished_case_and_a_changed_option_recomputes_only_that_case(
        cohort, tmp_path, capsys):
    """A copy of the first run's folder (the module's run stays as it was): the same manifest reuses the
    three finished cases (and runs the failed one again); GYN-01 with another conservation factor is the
    only case recomputed; its audit row is appended, the others' are not."""
    out = tmp_path / "out"
    shutil.copytree(cohort["out"], out)
    code, text = _batch([str(cohort["manifest"]), "--out", str(out), "--workers", "2"], capsys)
    assert code == 1
    summary = _summary(out)
    assert summary["reused"] == ["lrrc01", "pros01", "gyn01"]
    assert "lrrc01: dry-run (reused)" in text
    assert len(_audit_rows(out)) == 3
    changed = _write(tmp_path, "changed.yaml", MANIFEST.replace("conservation-factor: 0.8",
                                                                "conservation-factor: 0.7"))
    code, _ = _batch([str(changed), "--out", str(out)], capsys)
    summary = _summary(out)
    assert summary["reused"] == ["lrrc01", "pros01"]
    gyn = next(r for r in summary["cases"] if r["case_id"] == "gyn01")
    assert gyn["reused"] is False and gyn["finished"] is True
    result = json.loads((out / "cases" / "gyn01" / "result.json").read_text(encoding="utf-8"))
    assert result["provenance"]["recovery"]["conservation_factor"] == 0.7
    assert len(_audit_rows(out)) == 4  # the recomputed case's new row; the log keeps the earlier one


def test_the_dask_path_on_a_local_cluster_gives_the_process_pool_s_results(cohort, tmp_path, capsys):
    """Two of the cases as Dask tasks on a local cluster of two worker processes: each result equals the
    process pool's (status, every OAR's allowed dose and the objectives), and the cohort summary is the
    same apart from timing."""
    pytest.importorskip("distributed")
    manifest = _write(tmp_path, "two.yaml", "\n".join(line for line in MANIFEST.splitlines()
                                                        if "pros01" not in line and "bad" not in line))
    out = tmp_path / "dask"
    code, text = _batch([str(manifest), "--out", str(out), "--workers", "2", "--scheduler", "dask"], capsys)
    assert code == 0, text
    summary = _summary(out)
    assert summary["scheduler"] == "dask" and summary["counts"]["finished"] == 2
    for case_id in ("lrrc01", "gyn01"):
        ours = json.loads((out / "cases" / case_id / "result.json").read_text(encoding="utf-8"))
        pool = json.loads((cohort["out"] / "cases" / case_id / "result.json").read_text(encoding="utf-8"))
        assert ours["status"] == pool["status"]
        assert [(o["name"], o["allowed_physical_gy"]) for o in ours["oars"]] == \
            [(o["name"], o["allowed_physical_gy"]) for o in pool["oars"]]
        assert ours["objectives"] == pool["objectives"]
        assert ours["sensitivity"] == pool["sensitivity"]
    assert len(_audit_rows(out)) == 2


# -- the manifest ------------------------------------------------------------------------------------------

def test_yaml_and_csv_manifests_give_the_same_cases(tmp_path):
    yaml_manifest = load_manifest(_write(tmp_path, "m.yaml", MANIFEST))
    rows = ["id,tps,intent,dry-run,patient,conservation-factor,risk-factor",
            "lrrc01,raystation-stub,isotoxic,true,LRRC-01,,",
            "pros01,raystation-stub,isotoxic,true,PROS-01,,",
            "gyn01,raystation-stub,isotoxic,true,GYN-01,0.8,",
            "bad,raystation-stub,isotoxic,true,NOPE-99,,"]
    csv_manifest = load_manifest(_write(tmp_path, "m.csv", "\n".join(rows) + "\n"))
    assert csv_manifest.cases == yaml_manifest.cases
    assert argv_of(yaml_manifest.cases[2]) == ["plan", "--conservation-factor", "0.8", "--dry-run",
                                               "--intent", "isotoxic", "--patient", "GYN-01", "--tps",
                                               "raystation-stub"]
    check_cases(yaml_manifest.cases)
    flags = load_manifest(_write(tmp_path, "r.csv", "id,tps,intent,patient,risk-factor\n"
                                                    "a,eclipse-stub,isotoxic,LRRC-01,diabetes;advanced-age\n"))
    argv = argv_of(flags.cases[0])
    at = argv.index("--risk-factor")
    assert argv[at:at + 4] == ["--risk-factor", "diabetes", "--risk-factor", "advanced-age"]  # in order


def test_a_relative_path_is_the_manifest_s_folder_s(tmp_path):
    patient = _write(tmp_path, "my-patient.yaml", "id: X\n")
    manifest = load_manifest(_write(tmp_path, "m.yaml", """\
        cases:
          - {id: a, tps: raystation-stub, intent: isotoxic, patient: my-patient.yaml}
          - {id: b, command: evaluate, dir: ., interval-days: 913}
        """))
    assert manifest.cases[0].option("patient") == str(patient.resolve())
    assert manifest.cases[1].command == "evaluate"
    assert manifest.cases[1].option("dir") == str(tmp_path.resolve())


@pytest.mark.parametrize("text, needle", [
    ("cases: []\n", "no cases"),
    ("cases: {a: 1}\n", "'cases' must be a list"),
    ("items: []\n", "a mapping with 'cases:'"),
    ("cases: [1]\n", "expected a mapping"),
    ("cases: [{tps: raystation-stub}]\n", "'id' must be"),
    ("cases: [{id: ../x, tps: raystation-stub}]\n", "'id' must be"),
    ("cases: [{id: a, tps: raystation-stub, intent: isotoxic, patient: LRRC-01},"
     " {id: A, tps: raystation-stub, intent: isotoxic, patient: LRRC-01}]\n", "given twice"),
    ("cases: [{id: a, tps: raystation-stub, pateint: LRRC-01}]\n",
     "'pateint' is not an option of 'reirrad plan'"),
    ("cases: [{id: a, tps: raystation-stub, json: x.json}]\n", "set by the batch"),
    ("cases: [{id: a, tps: raystation-stub, audit-csv: x.csv}]\n", "set by the batch"),
    ("cases: [{id: a, tps: pinnacle}]\n", "is not one of"),
    ("cases: [{id: a, tps: raystation-stub, dry-run: yes-please}]\n", "a flag takes true or false"),
    ("cases: [{id: a, command: optimise}]\n", "command must be one of"),
    ("cases: [{id: a, tps: raystation-stub, patient: [A, B]}]\n", "expected a single value"),
    ("defaults: {id: x}\ncases: [{id: a}]\n", "'defaults' must be a mapping of options"),
    ("cases: [{id: a}]\nextra: 1\n", "unknown top-level key"),
    # two spellings of one option in a case (or in the defaults) ran with the last (0.5), silently
    ("cases: [{id: a, tps: raystation-stub, intent: isotoxic, conservation-factor: 0.8,"
     " conservation_factor: 0.5}]\n", "'conservation-factor' and 'conservation_factor' are the same option"),
    ("defaults: {beams: 5, ' beams': 7}\ncases: [{id: a}]\n", "defaults: 'beams' and ' beams' are the same"),
])
def test_a_bad_manifest_is_refused_naming_the_case_and_the_fix(tmp_path, text, needle):
    with pytest.raises(InputError, match=None) as caught:
        load_manifest(_write(tmp_path, "m.yaml", text))
    assert needle in str(caught.value)


def test_a_case_overrides_the_defaults_whichever_way_either_spells_the_option(tmp_path):
    """Defaults and a case may spell an option differently (``conservation-factor`` and
    ``conservation_factor``): the case's value holds, as for one spelling."""
    manifest = load_manifest(_write(tmp_path, "m.yaml", """\
        defaults: {tps: raystation-stub, intent: isotoxic, conservation-factor: 0.8}
        cases:
          - {id: a, patient: LRRC-01, conservation_factor: 0.5}
          - {id: b, patient: LRRC-01}
        """))
    assert [c.option("conservation_factor") for c in manifest.cases] == ["0.5", "0.8"]


def test_an_empty_value_clears_a_default_so_an_empty_override_is_no_override(tmp_path):
    """docs/batch.md: an empty value is an option not given, in YAML as in a CSV cell, so a case can
    leave out an option its defaults set; an empty override reason is therefore no override (the case
    stops on a stop finding), never an override with an empty reason."""
    manifest = load_manifest(_write(tmp_path, "m.yaml", """\
        defaults: {tps: raystation-stub, intent: isotoxic, override-eligibility: reviewed by MDT}
        cases:
          - {id: a, patient: LRRC-01, override-eligibility: ''}
          - {id: b, patient: LRRC-01, override_eligibility: '  '}
          - {id: c, patient: LRRC-01}
        """))
    assert [c.option("override_eligibility") for c in manifest.cases] == [None, None, "reviewed by MDT"]


def test_bad_files_and_options_are_refused_before_any_case_runs(tmp_path, capsys):
    with pytest.raises(InputError, match=r"a \.yaml, \.yml or \.csv file"):
        load_manifest(_write(tmp_path, "m.txt", MANIFEST))
    with pytest.raises(InputError, match="more cells than the header"):
        load_manifest(_write(tmp_path, "m.csv", "id,tps\na,raystation-stub,extra\n"))
    # found by a hostile-input review: the short row's dry-run was dropped and its case written into the TPS
    short = ("id,tps,intent,patient,dry-run\nc1,raystation-stub,isotoxic,LRRC-01,true\n"
             "c2,raystation-stub,isotoxic,LRRC-01\n")
    with pytest.raises(InputError, match=r"line 3 has fewer cells than the header \(none for \['dry-run'\]"):
        load_manifest(_write(tmp_path, "short.csv", short))
    empty_cell = load_manifest(_write(tmp_path, "empty.csv", short.replace("LRRC-01\n", "LRRC-01,\n")))
    assert [c.option("dry_run") for c in empty_cell.cases] == [True, None]  # empty: not given
    missing_intent = load_manifest(_write(tmp_path, "n.yaml", "cases: [{id: a, tps: raystation-stub}]\n"))
    with pytest.raises(InputError, match="--intent"):
        check_cases(missing_intent.cases)
    manifest = _write(tmp_path, "ok.yaml", MANIFEST)
    for argv, needle in ((["--out", str(manifest)], "is not a folder"),
                         # a hostile-input review's traceback (NotADirectoryError), one line now
                         (["--out", str(manifest / "cohort")], "folder cannot be created or written"),
                         (["--out", str(tmp_path / "o"), "--workers", "0"], "--workers"),
                         (["--out", str(tmp_path / "o"), "--address", "tcp://x:1"], "--scheduler dask"),
                         (["--out", str(tmp_path / "o"), "--compare", "protocols", "x.yaml"],
                          "at least two")):
        code = cli.main(["batch", str(manifest), *argv])
        assert code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before the cohort's folder is made


def test_policies_give_one_case_per_policy(tmp_path):
    manifest = load_manifest(_write(tmp_path, "m.yaml", MANIFEST))
    cases = expand_policies(manifest.cases[:2], ["recovery-models", "uk-guidance", "jones-grant-2014"])
    assert [c.case_id for c in cases] == ["lrrc01@uk-guidance", "lrrc01@jones-grant-2014",
                                          "pros01@uk-guidance", "pros01@jones-grant-2014"]
    assert [c.option("recovery_model") for c in cases] == ["uk-guidance", "jones-grant-2014"] * 2
    assert {c.policy for c in cases} == {"uk-guidance", "jones-grant-2014"}
    with pytest.raises(InputError, match="is not one of"):
        expand_policies(manifest.cases, ["recovery-models", "uk-guidance", "lq-magic"])
    with pytest.raises(InputError, match="compare one of"):
        expand_policies(manifest.cases, ["alpha-beta", "2", "3"])


def test_the_comparison_table_is_the_cases_levels_and_their_differences():
    """Hand-made cases: a is 30 / 32.5 Gy under the two policies (+2.5), b 45 / 40 (−5), c failed under
    the second (left out of the mean): cohort mean (2.5 − 5) / 2 = −1.25 Gy (reirrad.cohort.policy_comparison
    computes; the console prints it)."""
    from reirrad.cohort import CohortCase, policy_comparison  # noqa: PLC0415
    from reirrad_tps.batch.command import comparison_lines  # noqa: PLC0415

    def case(name: str, policy: str, level: Any) -> Any:
        result = None if level is None else {"status": "planned", "prescription_gy": level}
        return CohortCase(f"{name}@{policy}", policy, result is not None, 0 if result else 2, result,
                          None if result else "failed", False, 1.0)

    lines = comparison_lines(policy_comparison([case("a", "uk", 30.0), case("a", "jg", 32.5),
                                                case("b", "uk", 45.0), case("b", "jg", 40.0),
                                                case("c", "uk", 30.0), case("c", "jg", None)]))
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["a"][1:] == ["30", "32.5", "+2.5"]
    assert rows["b"][1:] == ["45", "40", "-5.0"]
    assert rows["c"][1:] == ["30", "-", "-"]
    assert lines[-1].split()[-1] == "-1.25"
    assert comparison_lines(policy_comparison([case("a", "uk", 30.0)])) == []
    assert comparison_lines(None) == []


def test_an_interrupted_batch_leaves_no_cohort_files_of_an_earlier_one(tmp_path, capsys, monkeypatch):
    """Found with SIGTERM during a re-run (--force): the case being recomputed had lost its result, yet
    the earlier cohort.html/csv/json still called it planned. The earlier cohort files are removed before
    any case runs, so an interrupted batch leaves none; the cases' own files stay as they are."""
    from reirrad_tps.batch import command  # noqa: PLC0415

    manifest = _write(tmp_path, "m.yaml", "cases: [{id: a, tps: raystation-stub, intent: isotoxic, "
                                          "patient: LRRC-01, dry-run: true}]\n")
    out = tmp_path / "out"
    out.mkdir()
    for name in command.COHORT_FILES:
        (out / name).write_text("an earlier batch's cohort\n", encoding="utf-8")
    (out / "notes.txt").write_text("the user's", encoding="utf-8")

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run_cases", interrupted)
    assert cli.main(["batch", str(manifest), "--out", str(out)]) == 130
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
