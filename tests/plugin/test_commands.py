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
