"""`reirrad demo` (the README's `make demo`): the workflow on the default stub patient in both stand-ins."""

from __future__ import annotations

import csv
import json

import pytest

from reirrad import cli
from reirrad.audit import AUDIT_SCHEMA
from reirrad.errors import InputError
from reirrad_tps import commands, planrun


def test_demo_writes_both_results_and_the_summary(tmp_path, monkeypatch, capsys):
    """The demo runs the isotoxic workflow on LRRC-01 in the RayStation and the Eclipse stand-ins and
    writes reirrad-demo/result-{raystation,eclipse}.json (status planned after the final check, no
    OAR failing, those without a cumulative limit "not assessable" and flagged; when the two levels
    differ, the summary says why, from the final checks that stepped down),
    report-{raystation,eclipse}.html (a report per stand-in, every OAR in it), audit.csv (one row per
    run) and summary.txt."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 0
    results = [json.loads((tmp_path / "reirrad-demo" / f"result-{t}.json").read_text())
               for t in ("raystation", "eclipse")]
    for result in results:
        assert result["status"] == "planned" and result["patient_id"] == "LRRC-01"
        assert result["final_check"]["dose_rechecked_after_normalisation"] is True
        assert all(o["passed"] is not False for o in result["oars"])
        flagged = {w["subject"] for w in result["warnings"] if w["code"] == "no-cumulative-limit"
                   and w["severity"] == "flag"}
        assert {o["name"] for o in result["oars"] if o["passed"] is None} == flagged
    summary_text = (tmp_path / "reirrad-demo" / "summary.txt").read_text()
    assert "Both stand-ins chose" in summary_text
    if results[0]["prescription_gy"] != results[1]["prescription_gy"]:  # explained, from the results
        assert "The levels differ" in summary_text
        for result in results:
            for failed in result["final_check"]["failed_at_higher_levels"]:
                assert failed["prescription_gy"] > result["prescription_gy"] and failed["failing_oars"]
    for name, result in zip(("raystation", "eclipse"), results):
        html = (tmp_path / "reirrad-demo" / f"report-{name}.html").read_text()
        assert html.startswith("<!DOCTYPE html>") and "LRRC-01" in html
        assert all(o["structure"] in html for o in result["oars"])
    with (tmp_path / "reirrad-demo" / "audit.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["patient_id"] for r in rows] == ["LRRC-01", "LRRC-01"]
    capsys.readouterr()


def test_demo_without_mono_runs_the_raystation_half_and_says_why(tmp_path, monkeypatch, capsys):
    """A machine where the ESAPI stand-in cannot be loaded (no Mono): the demo still runs the
    RayStation half, writes its files, says in one block why the Eclipse half was skipped, exit 0;
    `reirrad plan --tps eclipse-stub` ends with that reason in one line (exit 2), no traceback."""
    reason = "Mono's C# compiler 'mcs' was not found on PATH (test)"
    monkeypatch.setattr(commands, "eclipse_stand_in_unavailable", lambda: reason)
    monkeypatch.setattr(planrun, "eclipse_stand_in_unavailable", lambda: reason)
    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "reirrad-demo"
    demo.mkdir()
    # an audit.csv an earlier release's demo left, in its record layout (reirrad-audit/3): make demo failed
    # on it after the layout changed; it is moved aside, byte for byte, and a new one started
    old = "schema,patient_id\r\nreirrad-audit/3,LRRC-01\r\n"
    (demo / "audit.csv").write_bytes(old.encode())
    (demo / "audit-reirrad-audit-3.csv").write_bytes(b"taken\n")
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "eclipse stand-in (15.6): SKIPPED" in out and reason in out
    assert "moved to audit-reirrad-audit-3-2.csv, and a new audit.csv started" in out
    assert (demo / "audit-reirrad-audit-3-2.csv").read_bytes() == old.encode()
    assert (demo / "audit-reirrad-audit-3.csv").read_bytes() == b"taken\n"
    with (demo / "audit.csv").open(newline="") as handle:
        assert [r["schema"] for r in csv.DictReader(handle)] == [AUDIT_SCHEMA]
    assert commands._demo_audit_aside(demo) is None  # this layout's file is kept
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "audit.csv").write_bytes(b"\xff\xfe\x00binary")  # not an audit CSV: left alone
    assert commands._demo_audit_aside(tmp_path / "bin") is None
    assert (tmp_path / "bin" / "audit.csv").read_bytes() == b"\xff\xfe\x00binary"
    full = tmp_path / "full"  # every name taken (the name and 99 numbered ones): refused, nothing moved
    full.mkdir()
    (full / "audit.csv").write_bytes(old.encode())
    for name in ["audit-reirrad-audit-3.csv", *(f"audit-reirrad-audit-3-{k}.csv" for k in range(2, 101))]:
        (full / name).write_bytes(b"taken\n")
    with pytest.raises(InputError, match=r"numbered names in .* are all taken"):
        commands._demo_audit_aside(full)
    assert (full / "audit.csv").read_bytes() == old.encode()
    assert cli.main(["demo"]) == 0  # this layout's file is kept and appended to
    assert "moved to" not in capsys.readouterr().out
    with (demo / "audit.csv").open(newline="") as handle:
        assert [r["schema"] for r in csv.DictReader(handle)] == [AUDIT_SCHEMA, AUDIT_SCHEMA]
    assert (demo / "result-raystation.json").is_file() and not (demo / "result-eclipse.json").exists()
    assert json.loads((demo / "result-raystation.json").read_text())["status"] == "planned"
    assert cli.main(["plan", "--tps", "eclipse-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
                     "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "ESAPI stand-in cannot run on this machine" in err and "Traceback" not in err
