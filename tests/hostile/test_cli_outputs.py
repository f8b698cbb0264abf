"""The command line with hostile output options, failing outputs, signals and a closed pipe.

Sources of truth: docs/outputs.md (paths refused before any work with exit 2; the outputs one
transaction, exit 1 with none written when one fails; 130/143 on SIGINT/SIGTERM with the temporary
files and the lock removed; 141 and no traceback when stdout is closed), and the cases reported against
the command line: ``--json`` onto the input case file, onto the audit CSV, onto the report, onto
``/dev/null`` or a directory; ``--report ''``; a run failing on its last output after writing the
others; ``reirrad constraints … | head -1``; Ctrl-C mid-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from reirrad import cli
from reirrad.examples import __file__ as _examples_init

CASE = Path(_examples_init).resolve().parent / "demo-case.yaml"
REPO = Path(__file__).resolve().parents[2]


def _state(folder: Path) -> Dict[str, Tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def _refused(args: List[str], folder: Path, capsys: Any, needle: str) -> None:
    before = _state(folder)
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reirrad: error: ") and needle in lines[0], captured.err
    assert _state(folder) == before


def _case_copy(folder: Path) -> Path:
    case = folder / "case.yaml"
    case.write_bytes(CASE.read_bytes())
    return case


def test_json_onto_the_input_case_file_is_refused_and_the_case_kept(tmp_path, capsys):
    case = _case_copy(tmp_path)
    _refused(["constraints", "--case", str(case), "--json", str(case)], tmp_path, capsys,
             "is an input of this run")
    assert case.read_bytes() == CASE.read_bytes()


@pytest.mark.parametrize(("extra", "needle"), [
    (["--json", "{d}/a.csv", "--audit-csv", "{d}/a.csv"], "name the same file"),
    (["--json", "{d}/r.html", "--report", "{d}/r.html"], "name the same file"),
    (["--json", "/dev/null"], "not a regular file"),
    (["--report", ""], "names no file"),
    (["--json", "{d}"], "is a directory"),
    (["--audit-csv", "{d}/missing/a.csv"], "does not exist; create it first"),
    (["--json", "/proc/version"], "cannot be written"),
    (["--json", ""], "--json '' names no file"),  # was taken as "no --json" (exit 0, nothing written)
    (["--out", ""], "--out '' is not a folder"),  # the same
    (["--out", "{d}/missing/out"], "folder {d}/missing does not exist; create it first"),  # it made both
    (["--out", "{d}/out", "--json", "{d}/out/result.json"], "name the same file"),
])
def test_plan_refuses_bad_outputs_before_the_stand_in_is_opened(tmp_path, capsys, extra, needle):
    """``reirrad plan`` on the RayStation stand-in: each bad output is refused before the patient is
    loaded (exit 2, one line), and nothing under the folder is created or changed."""
    if "/proc/version" in extra and not Path("/proc/version").is_file():  # pragma: no cover
        pytest.skip("no /proc/version")
    audit = tmp_path / "a.csv"
    audit.write_bytes(b"patient_id\r\nA\r\n")
    args = ["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
            "--dry-run", *[a.format(d=tmp_path) for a in extra]]
    _refused(args, tmp_path, capsys, needle.format(d=tmp_path))
    assert audit.read_bytes() == b"patient_id\r\nA\r\n"


def test_an_out_folder_made_for_a_refused_run_is_removed(tmp_path, capsys):
    """``--out`` names a new folder and the run is refused later (an unknown stub patient): found on a
    hostile run, the empty folder stayed. reirrad makes only the folder --out names, and removes it again
    when the run leaves it empty; an existing folder is left as it was."""
    args = ["plan", "--tps", "raystation-stub", "--patient", "NOPE-1", "--intent", "isotoxic", "--dry-run"]
    _refused([*args, "--out", str(tmp_path / "new")], tmp_path, capsys, "no stub patient 'NOPE-1'")
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    assert cli.main([*args, "--out", str(tmp_path / "kept")]) == 2
    assert "no stub patient 'NOPE-1'" in capsys.readouterr().err
    assert (tmp_path / "kept").is_dir() and not any((tmp_path / "kept").iterdir())


def test_json_and_its_out_copy_are_one_transaction(tmp_path, capsys):
    """``--json F --out DIR``: DIR/result.json, a copy of F, used to be written after the record was
    committed, so a folder in its way ended in a traceback (exit 1) with the report, JSON and audit row
    already written. The copy is now one of the record's outputs: checked first (refused, exit 2, nothing
    written) and committed with the others (the two files equal)."""
    out = tmp_path / "out"
    (out / "result.json").mkdir(parents=True)
    args = ["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic", "--dry-run",
            "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html"), "--out", str(out)]
    _refused(args, tmp_path, capsys, "is a directory")
    (out / "result.json").rmdir()
    code = cli.main(args)
    capsys.readouterr()
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "r.html", "r.json"]
    assert (out / "result.json").read_bytes() == (tmp_path / "r.json").read_bytes()


def test_a_failing_last_output_leaves_none_and_exits_1(tmp_path, capsys):
    """The audit CSV belongs to other runs (another header): bad input, exit 2 with one error line; the
    run's report and JSON are not written either, the CSV is unchanged, no temporary or lock file stays."""
    audit = tmp_path / "a.csv"
    audit.write_bytes(b"patient_id,other\r\nA,1\r\n")
    before = _state(tmp_path)
    code = cli.main(["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
                     "--dry-run", "--report", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"),
                     "--audit-csv", str(audit)])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "Traceback" not in captured.err and "nothing was written" in captured.err
    assert len([line for line in captured.err.splitlines() if line.startswith("reirrad: error:")]) == 1
    assert _state(tmp_path) == before


def test_the_three_outputs_are_written_together(tmp_path, capsys):
    code = cli.main(["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
                     "--dry-run", "--report", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"),
                     "--audit-csv", str(tmp_path / "a.csv")])
    capsys.readouterr()
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "r.html", "r.json"]


def _reirrad(args: List[str], cwd: Path, **kw: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REIRRAD_")}
    return subprocess.Popen([sys.executable, "-m", "reirrad", *args], cwd=str(cwd), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_a_closed_stdout_is_not_a_traceback(tmp_path):
    """``reirrad constraints … | head -0``: the reader is gone before the table is printed. The JSON is
    written (files come first), the process ends with exit 141 and no traceback."""
    result = tmp_path / "c.json"
    proc = subprocess.run(
        f"{sys.executable} -m reirrad constraints --prior small_bowel=45/25@730 --json {result} | head -c 0; "
        "echo \"rc=${PIPESTATUS[0]}\"", shell=True, executable="/bin/bash", cwd=str(tmp_path),
        capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert "rc=141" in proc.stdout, proc.stdout + proc.stderr
    assert result.is_file()


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT"),
                                                      (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_mid_run_ends_with_one_line_and_leaves_nothing(tmp_path, signum, code, name):
    """``reirrad plan`` on the RayStation stand-in, signalled once it reports progress: exit 128 + the
    signal number, one line naming the signal, no traceback, and no output, temporary or lock file."""
    with _reirrad(["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
                   "--report", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"),
                   "--audit-csv", str(tmp_path / "a.csv")], tmp_path) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        deadline = time.monotonic() + 120
        seen = ""
        while "%]" not in seen and time.monotonic() < deadline:  # the progress bar's first report
            seen += proc.stderr.read(1)
        assert "%]" in seen, seen
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=120)
        err = seen + rest
    assert proc.returncode == code, err
    assert "Traceback" not in err and f"interrupted by {name}" in err
    last = err.strip().splitlines()[-1]  # (it may follow a progress line cut short by the signal)
    assert f"reirrad: interrupted by {name}; the run stopped" in last
    assert err.count("reirrad:") == 1
    assert list(tmp_path.iterdir()) == []
