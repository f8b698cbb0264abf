"""``reirrad plan --tps pyradplan``: bad input ends with one line (exit 2) and no traceback; the stub form
end to end on a coarse grid writes the result and the RT Dose (that part needs pyRadPlan)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import pytest

from reirrad import cli
from reirrad_tps.pyradplan.engine import describe_missing
from tests.pyradplan.support import require_pyradplan

COARSE = ["--dose-grid-mm", "7.5", "--beams", "5"]


def _refused(argv: List[str], capsys: Any) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_neither_a_patient_nor_a_dicom_case(capsys: Any) -> None:
    line = _refused(["plan", "--tps", "pyradplan", "--intent", "isotoxic"], capsys)
    assert "--patient ID" in line and "--ct DIR" in line


def test_both_forms_at_once_and_an_incomplete_dicom_case(capsys: Any, tmp_path: Path) -> None:
    line = _refused(["plan", "--tps", "pyradplan", "--intent", "isotoxic", "--patient", "LRRC-02",
                     "--ct", str(tmp_path)], capsys)
    assert "not both" in line
    line = _refused(["plan", "--tps", "pyradplan", "--intent", "isotoxic", "--ct", str(tmp_path)], capsys)
    assert "--structures RS.dcm" in line and "--prior-dose RD.dcm" in line


def test_options_of_the_other_backends_are_refused(capsys: Any, tmp_path: Path) -> None:
    line = _refused(["plan", "--tps", "pyradplan", "--tps-version", "2024B", "--patient", "LRRC-02",
                     "--intent", "isotoxic"], capsys)
    assert "--tps-version" in line
    line = _refused(["plan", "--tps", "raystation-stub", "--patient", "LRRC-02", "--intent", "isotoxic",
                     "--ct", str(tmp_path)], capsys)
    assert "--ct" in line and "pyradplan" in line
    line = _refused(["plan", "--tps", "raystation-stub", "--intent", "isotoxic"], capsys)
    assert "--patient" in line


def test_bulk_density_is_for_a_dicom_case(capsys: Any) -> None:
    line = _refused(["plan", "--tps", "pyradplan", "--patient", "LRRC-02", "--intent", "isotoxic",
                     "--bulk-density"], capsys)
    assert "--bulk-density" in line and "DICOM" in line


def test_bad_engine_settings(capsys: Any) -> None:
    line = _refused(["plan", "--tps", "pyradplan", "--patient", "LRRC-02", "--intent", "isotoxic",
                     "--dose-grid-mm", "0.5", "--dry-run"], capsys)
    assert "--dose-grid-mm" in line
    line = _refused(["plan", "--tps", "pyradplan", "--patient", "LRRC-02", "--intent", "isotoxic",
                     "--beams", "1", "--dry-run"], capsys)
    assert "--beams" in line


def test_without_the_extra_one_line_names_the_install(capsys: Any) -> None:
    reason = describe_missing()
    if reason is None:
        pytest.skip("pyRadPlan is installed here; the message is checked in the main environment")
    line = _refused(["plan", "--tps", "pyradplan", "--patient", "LRRC-02", "--intent", "isotoxic"], capsys)
    assert "pip install 'reirrad[pyradplan]'" in line


def test_an_unknown_stub_patient(capsys: Any) -> None:
    require_pyradplan()
    line = _refused(["plan", "--tps", "pyradplan", "--patient", "NOPE-99", "--intent", "isotoxic"], capsys)
    assert "NOPE-99" in line and "stub-patients" in line


def test_a_dry_run_needs_no_engine(capsys: Any, tmp_path: Path) -> None:
    path = tmp_path / "dry.json"
    code = cli.main(["plan", "--tps", "pyradplan", "--patient", "LRRC-02", "--intent", "isotoxic",
                     "--dry-run", *COARSE, "--json", str(path)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(path.read_text())
    assert result["status"] == "dry-run" and result["provenance"]["tps"] == "pyradplan"
    assert "pyradplan" not in result  # no engine was started


def test_the_stub_form_writes_result_report_and_rt_dose(capsys: Any, tmp_path: Path) -> None:
    require_pyradplan()
    out = tmp_path / "out"
    code = cli.main(["plan", "--tps", "pyradplan", "--patient", "LRRC-02", "--intent", "limit-toxicity",
                     *COARSE, "--out", str(out), "--report", str(tmp_path / "report.html")])
    printed = capsys.readouterr()
    assert code in (0, 3), printed.err
    result = json.loads((out / "result.json").read_text())
    assert result["status"] in ("planned", "coverage-compromised", "final-check-failed", "infeasible")
    assert (out / "RD_reirrad.dcm").is_file() and (tmp_path / "report.html").is_file()
    assert f"Wrote {out / 'RD_reirrad.dcm'}" in printed.out
