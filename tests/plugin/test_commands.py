"""Commands the TPS package adds to the ``reirrad`` command line through the entry-point group."""

from __future__ import annotations

import json

from reirrad import cli
from tps_stubs.patients import DEFAULT_PATIENT, list_patients


def test_stub_patients_lists_every_shipped_patient(tmp_path, capsys):
    """`reirrad stub-patients --json` lists the shipped ids (from the definitions), default marked."""
    out = tmp_path / "p.json"
    assert cli.main(["stub-patients", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = json.loads(out.read_text())["patients"]
    assert [r["id"] for r in rows] == [p.id for p in list_patients()]
    assert [r["id"] for r in rows if r["default"]] == [DEFAULT_PATIENT]
    assert all(r["id"] in printed for r in rows)


def test_the_stand_in_versions_the_command_line_accepts_are_the_stand_in_s():
    """``reirrad plan --tps raystation-stub --tps-version V`` accepts exactly the releases the stand-in
    models (tps_stubs.raystation.versions), and each is a release the adapter knows."""
    from reirrad_tps.commands import RAYSTATION_VERSIONS  # noqa: PLC0415
    from reirrad_tps.raystation.versions import VERSIONS as ADAPTER  # noqa: PLC0415
    from tps_stubs.raystation.versions import VERSIONS as STAND_IN  # noqa: PLC0415

    assert tuple(RAYSTATION_VERSIONS) == tuple(STAND_IN)
    assert set(STAND_IN) <= set(ADAPTER)


def test_the_stand_in_cli_plans_a_copy_of_the_clinician_s_plan():
    """reirrad_tps.raystation.planner.CopyOnFirstWritePlanner on the stand-in command-line path: the
    run writes into ``"<plan> reirrad"`` (result ``tps_plan_written``), and no kept write of the run is on
    the clinician's plan object itself (the stand-in journal's object paths)."""
    import tps_stubs.raystation as stand_in  # noqa: PLC0415
    from reirrad.protocol import load_protocol  # noqa: PLC0415
    from reirrad.workflow import WorkflowOptions  # noqa: PLC0415
    from reirrad_tps.planrun import run_on_stub  # noqa: PLC0415

    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    options = WorkflowOptions(intent="limit-toxicity")
    outcome = run_on_stub("raystation-stub", "2024B", "LRRC-01", protocol, options)
    written = outcome.result["tps_plan_written"]
    assert written == "SABR_REIRR reirrad"
    kept = [e for e in stand_in.journal() if not e.rolled_back]
    assert kept and not any("TreatmentPlans['SABR_REIRR']" in e.path for e in kept)
    assert any(f"TreatmentPlans['{written}']" in e.path for e in kept)


def test_the_demo_says_why_the_levels_differ_also_for_a_coverage_failure():
    """A stepped-down final check names what it broke: its failing OARs, or the coverage rule when none."""
    from reirrad_tps.commands import _levels_differ  # noqa: PLC0415 - the demo's private helper

    def stepped(oars):
        return {"final_check": {"failed_at_higher_levels": [{"prescription_gy": 32.5, "failing_oars": oars}]}}

    text = _levels_differ({"raystation-stub": stepped(["rectum"]), "eclipse-stub": stepped([])})
    assert "raystation's final check at 32.5 Gy broke rectum" in text
    assert "eclipse's final check at 32.5 Gy broke the coverage rule" in text
