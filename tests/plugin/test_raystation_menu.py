"""The RayStation menu entry, self-check and install helper.

Sources of truth: the answers-file format documented in reirrad_tps.raystation.menu, the stand-in's
journal (nothing kept after a stop), and install/raystation/README.md. Whether RayStation's
``CompositeAction`` rolls back on an error is unconfirmed (docs/reference/raystation-public-scripts.md
U2), so the cancel, error, stop and dry-run tests run with the stand-in's rollback on AND off
(``rollback`` fixture): in both, the clinician's plan is never written and what may be left is named.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import math
from pathlib import Path

import pytest

import tps_stubs.raystation as stand_in
from reirrad import runner
from reirrad.errors import InputError
from reirrad.statuses import exit_code_for
from reirrad_tps.raystation import menu, selfcheck

INSTALL = Path(__file__).resolve().parents[2] / "install" / "raystation"


@pytest.fixture(autouse=True)
def _no_display(monkeypatch):
    """These tests run the answers path: no window may open."""
    monkeypatch.delenv("DISPLAY", raising=False)


@pytest.fixture(params=[True, False], ids=["rollback", "no-rollback"])
def rollback(request, monkeypatch):
    """The stand-in's CompositeAction mode for the next ``load`` (tps_stubs.raystation.session)."""
    monkeypatch.setenv("TPS_STUBS_RAYSTATION_ROLLBACK", "1" if request.param else "0")
    return request.param


def _kept_writes():
    """Writes that succeeded and were not undone."""
    return [e for e in stand_in.journal() if e.outcome == "ok" and not e.rolled_back]


def _clinician_plan_written(plan_name):
    """Successful writes into the clinician's plan (its path, not the run's copy's)."""
    prefix = f"TreatmentPlans[{plan_name!r}]"
    return [e for e in stand_in.journal() if e.outcome == "ok" and prefix in e.path]


def _answers(tmp_path, **extra) -> str:
    """An answers file: the defaults below, each key once (``extra`` replaces a default: a key given
    twice is refused by the reader)."""
    values = {"version": "2024B", "intent": "isotoxic", "planned_start": "2026-12-07", **extra}
    lines = [f"{k}: {v}" for k, v in values.items()]
    path = tmp_path / "answers.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_menu_dry_run_on_the_open_patient(tmp_path, rollback):
    """With LRRC-02 open and its prior date in the answers, a dry run returns objectives and writes
    nothing at all, whether or not the undo step rolls back (reirrad_tps.raystation.menu docstring)."""
    stand_in.load("LRRC-02", version="2024B", gui=False)
    report = tmp_path / "report.html"
    result = menu.main(_answers(tmp_path, dry_run="true", prior_dates="{PELVIS_25: 2025-10-06}",
                                report=str(report)))
    assert result["status"] == "dry-run" and "LRRC-02" in report.read_text()
    assert result["provenance"]["prior_courses"][0]["interval_days"] == 427
    assert stand_in.journal() == []
    assert result["tps_left_on_failure"] == [] and result["tps_plan_written"] is None



@pytest.mark.parametrize("gui", [False, True])
def test_no_dialog_opens_when_raystation_s_gui_is_disabled(tmp_path, monkeypatch, gui):
    """A deployment review: the dialog opened wherever a window could be made (always on Windows), so
    under RaaS or a GUI-less script console (``is_gui_disabled()`` True) the run would wait for an answer
    nobody can give. With a display (Windows, modelled) and the GUI disabled, the answers must settle
    every question (here the prior date is open: refused, naming the key); with the GUI enabled the
    dialog is asked for (here it is cancelled)."""
    monkeypatch.setattr(menu, "display_available", lambda: True)
    asked = []

    def confirm(review, answers, *, interactive):
        asked.append(interactive)
        if interactive:
            return None  # the user cancels
        return real_confirm(review, answers, interactive=False)

    real_confirm = menu.confirm
    monkeypatch.setattr(menu, "confirm", confirm)
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: None)
    stand_in.load("LRRC-01", version="2024B", gui=gui)
    if gui:
        menu.main(_answers(tmp_path))
    else:
        with pytest.raises(InputError, match=r"prior_dates\.PELVIS_45"):
            menu.main(_answers(tmp_path))
    assert asked == [gui]
    assert _kept_writes() == []

def test_menu_without_answers_is_a_clear_error(monkeypatch):
    """No REIRRAD_ANSWERS and no path: InputError saying what to set."""
    monkeypatch.delenv("REIRRAD_ANSWERS", raising=False)
    with pytest.raises(InputError, match="REIRRAD_ANSWERS"):
        menu.main()


def test_menu_unknown_prior_date_stops_and_changes_nothing(tmp_path, rollback):
    """Without a display, answers that leave the prior plan's date open are refused, naming the key to
    give; the read before the confirmation writes nothing (no MapDose), so nothing is written in either
    rollback mode."""
    stand_in.load("LRRC-01", version="2024B", gui=False)
    with pytest.raises(InputError, match=r"prior_dates\.PELVIS_45"):
        menu.main(_answers(tmp_path))
    assert _kept_writes() == [] and not [e for e in stand_in.journal() if e.outcome == "ok"]


def test_menu_override_still_needs_the_date_and_an_unknown_interval_stops(tmp_path, monkeypatch, rollback):
    """The interval rule: with a date the eligibility check runs (under 6 months → stop, rolled back).
    Issue 14 item 1 + the result contract (stopped result): the stop is returned as the stopped result
    with the gate's findings as ``stop_findings`` (exit 2), notified, and nothing is kept."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    stand_in.load("LRRC-01", version="2024B", gui=False)
    result = menu.main(_answers(tmp_path, prior_dates="{PELVIS_45: 2026-10-01}"))
    assert result["status"] == "stopped" and "under 6 months" in result["reason"]
    assert exit_code_for(result) == 2 and result["patient_id"] == "LRRC-01"
    assert "interval-under-6-months" in {f["code"] for f in result["stop_findings"]}
    assert all(f["severity"] == "stop" for f in result["stop_findings"])
    assert shown and shown[-1].startswith("reirrad stopped, nothing was changed")
    assert not [e for e in stand_in.journal() if e.outcome == "ok"]  # the gate stops before any write
    assert result["tps_left_on_failure"] == [] and result["tps_plan_written"] is None


@pytest.mark.parametrize(("status", "needle"), [("planned", "reirrad: planned,"),
                                                ("coverage-compromised", "needs review")])
def test_menu_keeps_the_undo_step_for_a_kept_plan(tmp_path, monkeypatch, status, needle):
    """reirrad.statuses.PLAN_KEPT: a planned run and a run kept for review (exit 3) both keep their one
    undo step (the stand-in journal: writes not rolled back, one step in the undo history); an exit-3
    status is notified as "reirrad: <status> — needs review". The status is forced on the real run's
    outcome (the engine decides it; this tests only what the menu does with it)."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    real_run = runner.run  # the workflow run inside reirrad.runner.execute, the menu's one run path
    monkeypatch.setattr(runner, "run", lambda *a, **k: dataclasses.replace(real_run(*a, **k), status=status))
    stand_in.load("LRRC-02", version="2024B", gui=False)
    clinician = stand_in.current_session().state["Plan"].Name
    report = tmp_path / "report.html"
    result = menu.main(_answers(tmp_path, intent="limit-toxicity", prior_dates="{PELVIS_25: 2025-10-06}",
                                report=str(report)))
    assert result["status"] == status and report.is_file()
    writes = stand_in.journal()
    assert writes and not any(e.rolled_back for e in writes)
    assert [step.name for step in stand_in.current_session().undo_history] == ["reirrad re-irradiation plan"]
    assert needle in shown[-1]
    # the plan is written into a copy made for the run; the clinician's plan is untouched
    assert result["tps_plan_written"] == f"{clinician} reirrad" and result["tps_left_on_failure"] == []
    assert _clinician_plan_written(clinician) == [] and f"{clinician} reirrad" in shown[-1]
    assert writes[0].member == "CopyPlan"
    assert {"copy_plan", "scaling", "compute_dose", "add_prescription"} - set(result["tps_call_forms"]) \
        <= {"add_prescription"}
    # the report is the record of the run: it names the copy written and every call form used
    page = report.read_text(encoding="utf-8")
    assert f'<span id="tps-plan-written">{clinician} reirrad</span>' in page
    forms_table = page.split('id="tps-call-forms"', 1)[1].split("</table>", 1)[0]
    assert all(f"<td>{key}</td>" in forms_table for key in result["tps_call_forms"])


def test_menu_refuses_a_missing_report_folder_before_reading_the_case(tmp_path, monkeypatch):
    """Output paths are checked first (reirrad.outputs.check_outputs): a report folder that does not exist
    is shown to the user and raised before the case is read or anything written in RayStation (only the
    current patient and plan are asked for before: a report_dir names each run's report by them)."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    stand_in.load("LRRC-02", version="2024B", gui=False)
    with pytest.raises(InputError, match="does not exist; create it first"):
        menu.main(_answers(tmp_path, intent="limit-toxicity", prior_dates="{PELVIS_25: 2025-10-06}",
                           report=str(tmp_path / "no-such-folder" / "report.html")))
    assert stand_in.journal() == [] and shown and "no-such-folder" in shown[-1]


def test_report_dir_gives_each_menu_run_a_report_of_its_own(tmp_path):
    """report_dir names a new file per run from the open patient's ID and the plan's name
    (reirrad.outputs.report_in_folder), so the next run never replaces it."""
    stand_in.load("LRRC-02", version="2024B", gui=False)
    reports = tmp_path / "reports"
    reports.mkdir()
    answers = _answers(tmp_path, dry_run="true", prior_dates="{PELVIS_25: 2025-10-06}",
                       report_dir=str(reports))
    for run in (1, 2):
        assert menu.main(answers)["status"] == "dry-run"
        written = sorted(reports.iterdir())
        assert len(written) == run
        assert all(p.name.startswith("reirrad_LRRC-02_") and p.suffix == ".html" for p in written)
        assert all("LRRC-02" in p.read_text(encoding="utf-8") for p in written)
    assert stand_in.journal() == []


def test_the_environments_answers_file_refuses_one_patients_answers(tmp_path, monkeypatch):
    """REIRRAD_ANSWERS is read for every run on the workstation: an override reason there would override
    every patient's stop. Refused, shown to the user, nothing written; the same file passed to main() as
    one run's file is read."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    stand_in.load("LRRC-02", version="2024B", gui=False)
    path = _answers(tmp_path, dry_run="true", override_eligibility="agreed at an MDT once")
    monkeypatch.setenv("REIRRAD_ANSWERS", path)
    with pytest.raises(InputError, match="is read for every run"):
        menu.main()
    assert stand_in.journal() == [] and shown and "override_eligibility" in shown[-1]
    monkeypatch.delenv("REIRRAD_ANSWERS")
    assert menu.load_answers(path).override_eligibility == "agreed at an MDT once"


def test_a_runs_own_file_is_read_over_the_environments(tmp_path, monkeypatch):
    """main(answers_path) (a batch's per-patient file) keeps the department's REIRRAD_ANSWERS under it:
    the department's report_dir and audit CSV record the run; the run's keys win; the version may come
    from REIRRAD_RAYSTATION_VERSION when neither file gives it."""
    reports, audit = tmp_path / "reports", tmp_path / "audit.csv"
    reports.mkdir()
    department = tmp_path / "department.yaml"
    department.write_text(f"intent: limit-toxicity\nreport_dir: {reports}\naudit_csv: {audit}\n",
                          encoding="utf-8")
    own = tmp_path / "own.yaml"
    own.write_text("intent: isotoxic\nplanned_start: 2026-12-07\n", encoding="utf-8")
    monkeypatch.setenv("REIRRAD_ANSWERS", str(department))
    monkeypatch.setenv("REIRRAD_RAYSTATION_VERSION", "2024B")
    answers = menu.load_answers(str(own))
    assert (answers.intent, answers.version, answers.report_dir, answers.audit_csv) == (
        "isotoxic", "2024B", str(reports), str(audit))
    assert answers.planned_start is not None


def test_menu_rolls_back_when_the_record_cannot_be_written(tmp_path, monkeypatch, rollback):
    """A plan is never kept without its record: the outputs are committed inside the undo step as one
    transaction, so an audit CSV whose header belongs to other runs ends the step with an error, the
    report is not written either, the CSV is unchanged, and the error is shown and raised. Rollback on:
    every write is undone; off: the run's plan copy is left, and the message names it (the menu cannot
    know which happened, so it names it in both); the clinician's plan is never written."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    stand_in.load("LRRC-02", version="2024B", gui=False)
    clinician = stand_in.current_session().state["Plan"].Name
    audit, report = tmp_path / "audit.csv", tmp_path / "report.html"
    audit.write_bytes(b"patient_id,other\r\nA,1\r\n")
    with pytest.raises(InputError, match="columns"):
        menu.main(_answers(tmp_path, intent="limit-toxicity", prior_dates="{PELVIS_25: 2025-10-06}",
                           report=str(report), audit_csv=str(audit)))
    made = [e for e in stand_in.journal() if e.outcome == "ok"]  # a refused write changed nothing
    assert made and all(e.rolled_back is rollback for e in made)
    assert _clinician_plan_written(clinician) == []
    assert not report.exists() and audit.read_bytes() == b"patient_id,other\r\nA,1\r\n"
    assert shown and shown[-1].startswith("reirrad stopped: ")
    assert f"plan '{clinician} reirrad'" in shown[-1] and "The clinician's plan was not changed" in shown[-1]
    plans = stand_in.current_session().state["Case"].TreatmentPlans.Keys
    assert (f"{clinician} reirrad" in plans) is (not rollback)


def test_a_failed_run_names_the_optimisation_structures_it_leaves(tmp_path, monkeypatch, rollback):
    """Optimisation structures are case-level ROIs (outside the plan copy): when the record cannot be
    written after a run on LRRC-01 (whose working structure set gets them), the message names every zRR_
    ROI the run created, in both modes, and the stand-in shows them kept exactly when it does not roll
    back (public-scripts U2: rollback is not confirmed). They were not named: without rollback seven ROIs
    stayed, unmentioned."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    stand_in.load("LRRC-01", version="2024B", gui=False)
    case = stand_in.current_session().state["Case"]
    before = {r.Name for r in case.PatientModel.RegionsOfInterest}
    audit = tmp_path / "audit.csv"
    audit.write_bytes(b"patient_id,other\r\nA,1\r\n")
    with pytest.raises(InputError, match="columns") as failure:
        menu.main(_answers(tmp_path, intent="limit-toxicity", prior_dates="{PELVIS_45: 2023-10-06}",
                           audit_csv=str(audit)))
    created = [e.arguments["Name"] for e in stand_in.journal()
               if e.member == "CreateRoi" and e.outcome == "ok"]
    assert created and all(name.startswith("zRR_") and name not in before for name in created)
    for name in created:
        assert f"ROI {name!r} (created by the run)" in shown[-1]
        assert f"ROI {name!r}" in failure.value.reirrad_left
    after = {r.Name for r in case.PatientModel.RegionsOfInterest}
    assert (set(created) <= after) is (not rollback) and (after == before) is rollback


def test_a_failed_plan_copy_names_the_plan_it_left(tmp_path, monkeypatch, rollback):
    """Whether a failed RayStation action can leave part of its work is not in the reference (§4): a
    CopyPlan that makes the copy and then fails is refused naming the plan, and the menu's list of what
    the run may have left names it too (it did not: the copy was never recorded as made)."""
    from reirrad_tps.raystation import planner as planner_module  # noqa: PLC0415
    from tps_stubs.raystation.errors import ScriptException  # noqa: PLC0415

    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    stand_in.load("LRRC-01", version="2024B", gui=False)
    real = planner_module.copy_plan_for_run

    class HalfDone:
        """The case, whose CopyPlan makes the copy and then raises."""

        def __init__(self, case):
            self.TreatmentPlans = case.TreatmentPlans
            self._case = case

        def CopyPlan(self, **kwargs):  # noqa: N802 - RayStation's name
            self._case.CopyPlan(**kwargs)
            raise ScriptException("The plan could not be saved.")

    monkeypatch.setattr(planner_module, "copy_plan_for_run",
                        lambda case, plan, beam_set, forms=None: real(HalfDone(case), plan, beam_set, forms))
    with pytest.raises(InputError, match="a plan 'SABR_REIRR reirrad' exists after the failure") as failure:
        menu.main(_answers(tmp_path, intent="limit-toxicity", prior_dates="{PELVIS_45: 2023-10-06}"))
    left = "plan 'SABR_REIRR reirrad' (left by a failed copy of 'SABR_REIRR')"
    assert left in failure.value.reirrad_left and left in shown[-1]
    assert not _clinician_plan_written("SABR_REIRR")


def test_menu_confirms_in_the_dialog_and_cancel_changes_nothing(tmp_path, monkeypatch, rollback):
    """With a display the dialog is shown (here its answer is given by a stand-in for the window):
    Cancel returns 'cancelled' and nothing was written (the read before the confirmation maps no
    dose); OK with a changed intent runs with the dialog's answers (a dry run, which writes nothing).
    Both hold with the stand-in's rollback on and off."""
    seen = []

    def cancel(review, answers, *, interactive=None):
        seen.append((review.patient_id, [p.plan_id for p in review.priors], interactive))

    monkeypatch.setattr(menu, "confirm", cancel)
    stand_in.load("LRRC-02", version="2024B", gui=False)
    result = menu.main(_answers(tmp_path), interactive=True)
    assert result["status"] == "cancelled" and seen == [("LRRC-02", ["PELVIS_25"], True)]
    assert stand_in.journal() == [] and result["tps_left_on_failure"] == []

    def dry_limit_toxicity(review, answers, *, interactive=None):
        import datetime as dt  # noqa: PLC0415

        return answers.updated(intent="limit-toxicity", dry_run=True,
                               prior_dates={"PELVIS_25": dt.date(2025, 10, 6)})

    monkeypatch.setattr(menu, "confirm", dry_limit_toxicity)
    stand_in.load("LRRC-02", version="2024B", gui=False)
    result = menu.main(_answers(tmp_path), interactive=True)
    assert result["status"] == "dry-run" and result["intent"] == "limit-toxicity"
    assert stand_in.journal() == []


def test_menu_version_from_the_environment(monkeypatch):
    """No answers file: the version may come from REIRRAD_RAYSTATION_VERSION; without it, refused."""
    monkeypatch.delenv("REIRRAD_ANSWERS", raising=False)
    monkeypatch.setenv("REIRRAD_RAYSTATION_VERSION", "12A")
    assert menu.load_answers().version == "12A"
    monkeypatch.delenv("REIRRAD_RAYSTATION_VERSION")
    with pytest.raises(InputError, match="REIRRAD_RAYSTATION_VERSION"):
        menu.load_answers()


def test_selfcheck_prints_versions_and_runs_a_stub(capsys):
    """The self-check prints the versions, checks the engine on its closed form (28.08 Gy), imports every
    adapter module and, with the stand-ins installed (here), ends with a dry run on LRRC-01."""
    assert selfcheck.main(["12A"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "reirrad" in out
    assert "allows 28.08 Gy in 5 fractions (closed form 28.08): ok" in out
    assert "stand-in dry run: dry-run on stub patient LRRC-01" in out and "self-check: passed" in out


def test_selfcheck_passes_on_a_clinical_install_without_the_stand_ins(capsys, monkeypatch):
    """A deployment review: the clinical wheel leaves the stand-ins out, and the self-check was the
    stand-in dry run alone, so install.py always reported a clinical installation as failed. Without
    tps_stubs (find_spec None, as in a clinical environment) it passes on the engine and adapter checks
    and says the dry run was skipped; a wrong engine number or an adapter module that does not import
    fails it (exit 1), naming what."""
    real_find_spec = selfcheck.importlib.util.find_spec
    monkeypatch.setattr(selfcheck.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tps_stubs" else real_find_spec(name, *a))
    assert selfcheck.main(["2024B"]) == 0
    out = capsys.readouterr().out
    assert "stand-in dry run: skipped (the TPS stand-ins are not installed" in out
    assert "self-check: passed" in out and "Traceback" not in out
    monkeypatch.setattr(selfcheck, "EXPECTED_ALLOWED_GY", 30.0)
    assert selfcheck.main(["2024B"]) == 1
    assert "WRONG" in capsys.readouterr().out
    monkeypatch.setattr(selfcheck, "EXPECTED_ALLOWED_GY", 5.0 * (-3.0 + math.sqrt(202.6)) / 2.0)
    real_import = selfcheck.importlib.import_module

    def broken(name, *a):
        if name == "reirrad_tps.raystation.grids":
            raise SyntaxError("invalid syntax (Python 3.8)")
        return real_import(name, *a)

    monkeypatch.setattr(selfcheck.importlib, "import_module", broken)
    assert selfcheck.main(["2024B"]) == 1
    out = capsys.readouterr().out
    assert "FAILED grids (SyntaxError: invalid syntax (Python 3.8))" in out and "self-check: FAILED" in out


def test_install_helper_commands(capsys):
    """install.py: offline pip (--no-index) then the self-check; uninstall for rollback."""
    spec = importlib.util.spec_from_file_location("rs_install", INSTALL / "install.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cmds = module.commands("py", wheelhouse="w", self_check=False, uninstall=False, version="2024B")
    assert cmds[0][:6] == ["py", "-m", "pip", "install", "--no-index", "--find-links"]
    assert cmds[1] == ["py", "-m", "reirrad_tps.raystation.selfcheck", "2024B"]
    assert module.commands("py", wheelhouse=None, self_check=False, uninstall=True,
                           version="11B") == [["py", "-m", "pip", "uninstall", "-y", "reirrad"]]
    assert module.main(["--python", "py", "--self-check", "--print-only"]) == 0
    assert "reirrad_tps.raystation.selfcheck" in capsys.readouterr().out


def test_menu_script_is_one_line_calling_main():
    """The script imported into RayStation only imports and calls the installed entry point."""
    tree = ast.parse((INSTALL / "reirrad_menu.py").read_text())
    assert [type(n).__name__ for n in tree.body] == ["ImportFrom", "Expr"]
    assert tree.body[0].module == "reirrad_tps.raystation.menu"


@pytest.mark.parametrize("keyword_error", ["TypeError", "ArgumentException"])
@pytest.mark.parametrize("version", ["11A", "11B", "12A", "2024B"])
def test_a_patient_with_mesh_rois_plans_in_every_profile(tmp_path, monkeypatch, version, keyword_error):
    """docs/reference/raystation-public-scripts.md R11 (mesh ROIs without ``Contours``) and R6
    (``GetRoiGeometryAsVoxels``): LRRC-02 with its bladder as a mesh and a couch helper mesh plans
    through the menu in every stand-in profile; the bladder is read from RayStation's voxelisation
    (flagged), the couch is skipped, the plan is written into the run's copy and the call forms used
    are returned. Whichever exception an unmatched keyword raises (not documented, §2: the stand-in's
    ``keyword_error``), the run is the same."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    stand_in.load("LRRC-02", version=version, gui=False, mesh_rois=("Bladder",),
                  helper_mesh_rois={"Couch": "Support"}, keyword_error=keyword_error)
    result = menu.main(_answers(tmp_path, version=version, intent="limit-toxicity",
                                prior_dates="{PELVIS_25: 2025-10-06}"))
    assert exit_code_for(result) in (0, 3) and result["tps_plan_written"] == "SABR_REIRR reirrad"
    assert any("Bladder" in str(w) and "mesh" in str(w) for w in result["warnings"])
    forms = result["tps_call_forms"]
    assert forms["mesh_roi"].startswith("GetRoiGeometryAsVoxels")
    assert forms["scaling"] == ("ScaleToDoseGoal" if version == "2024B" else "NormalizeToPrescription")
    assert "reirrad" in shown[-1]


def test_a_failed_run_names_the_mapped_evaluation_doses_it_leaves(tmp_path, monkeypatch, rollback):
    """docs/reference/raystation-public-scripts.md U2 (no confirmed rollback) and §7.1 (``MapDose`` adds an
    evaluation dose): after the confirmation the case is read with deformable mapping; when the run then
    fails, the message names the evaluation dose and the plan copy that may be left, in both modes, and
    the stand-in shows them kept exactly when it does not roll back."""
    shown = []
    monkeypatch.setattr(menu.entry, "notify", lambda message, version=None: shown.append(message))
    connect = stand_in.load("REG-01", version="2024B", gui=False)
    connect.get_current("Case").PatientModel.CreateHybridDeformableRegistrationGroup(
        RegistrationGroupName="DIR", ReferenceExaminationName="CT_PLAN", TargetExaminationNames=["CT_PRIOR"])
    audit = tmp_path / "audit.csv"
    audit.write_bytes(b"patient_id,other\r\nA,1\r\n")
    with pytest.raises(InputError, match="columns") as failure:
        menu.main(_answers(tmp_path, intent="limit-toxicity", prior_dates="{PELVIS_50_4: 2024-01-10}",
                           audit_csv=str(audit)))
    assert "evaluation dose 'Mapped dose 1'" in shown[-1] and "reirrad'" in shown[-1]
    assert "Mapped dose 1" in failure.value.reirrad_left
    on_plan_ct = connect.get_current("Case").TreatmentDelivery.FractionEvaluations[0].DoseOnExaminations[0]
    assert (len(on_plan_ct.DoseEvaluations) == 1) is (not rollback)
