"""`reirrad demo` (the README's `make demo`): the workflow on the default stub patient."""

from __future__ import annotations

import json

from reirrad import cli


def test_demo_writes_the_result_and_summary(tmp_path, monkeypatch, capsys):
    """The demo runs the isotoxic workflow on LRRC-01 in the RayStation stand-in and writes
    reirrad-demo/result-raystation.json (status planned, every OAR passed) and summary.txt."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 0
    result = json.loads((tmp_path / "reirrad-demo" / "result-raystation.json").read_text())
    assert result["status"] == "planned" and result["patient_id"] == "LRRC-01"
    assert all(o["passed"] for o in result["oars"])
    assert (tmp_path / "reirrad-demo" / "summary.txt").read_text().startswith("Patient LRRC-01")
    capsys.readouterr()
