"""Hostile and careless output paths, faults while writing, signals and locks.

Sources of truth: the rules of ``reirrad.outputs`` / ``reirrad.files`` / ``reirrad.interrupts`` as
documented in docs/outputs.md (paths checked before any work; the outputs one transaction; temporary
files and locks removed on SIGINT/SIGTERM; a stale lock of a dead writer on this host broken with a flag
finding), the exit codes of docs/outputs.md §4 (130, 143 = 128 + the signal number), and the cases
reported against the command line (a JSON onto the input case file, onto the audit CSV, onto the report
or onto /dev/null; a report folder that does not exist; SIGTERM while writing or holding the lock; a
stale lock making every later run wait and fail).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from reirrad import files
from reirrad.errors import InputError, OutputError
from reirrad.interrupts import Interrupted, interruptible
from reirrad.outputs import OutputRequest, check_output_folder, check_outputs, stage_record
from reirrad.protocol import load_protocol
from reirrad.runner import commit_record, execute
from reirrad.workflow import WorkflowOptions
from tps_stubs.direct import DirectCase

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
REPO = Path(__file__).resolve().parents[2]


def _state(folder: Path) -> Dict[str, Tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def dry_outcome():
    """A dry run of LRRC-01 (no planner): an outcome with a run, its report, JSON and audit row."""
    return execute(PROTOCOL, DirectCase("LRRC-01").read(), WorkflowOptions(dry_run=True))


# -- 1. paths checked before any work ------------------------------------------------------------------

@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: OutputRequest(json=""), "--json '' names no file"),
    (lambda d: OutputRequest(report="   "), "names no file"),
    (lambda d: OutputRequest(report=str(d)), "is a directory"),
    (lambda d: OutputRequest(json="/dev/null"), "not a regular file"),
    (lambda d: OutputRequest(audit_csv="/dev/zero"), "not a regular file"),
    (lambda d: OutputRequest(report=str(d / "missing" / "r.html")), "does not exist; create it first"),
    (lambda d: OutputRequest(json=str(d / "a.json"), report=str(d / "a.json")), "name the same file"),
    (lambda d: OutputRequest(json=str(d / "x" / ".." / "same.csv"), audit_csv=str(d / "same.csv")),
     "name the same file"),
])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, make, needle):
    (tmp_path / "x").mkdir()
    before = _state(tmp_path)
    with pytest.raises(InputError, match=needle):
        check_outputs(make(tmp_path))
    assert _state(tmp_path) == before


def test_a_fifo_is_not_an_output(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        check_outputs(OutputRequest(report=str(fifo)))


def test_an_unwritable_existing_file_is_refused():
    """/proc/version exists and is a regular file that no one can write (even root)."""
    if not Path("/proc/version").is_file():  # pragma: no cover - Linux only
        pytest.skip("no /proc/version")
    with pytest.raises(InputError, match="cannot be written"):
        check_outputs(OutputRequest(json="/proc/version"))


def test_an_input_is_never_an_output_even_through_a_link(tmp_path):
    case = tmp_path / "case.yaml"
    case.write_text("x: 1\n", encoding="utf-8")
    link = tmp_path / "link.yaml"
    link.symlink_to(case)
    hard = tmp_path / "hard.yaml"
    os.link(case, hard)
    for target in (case, link, hard):
        with pytest.raises(InputError, match="is an input of this run"):
            check_outputs(OutputRequest(json=str(target)), inputs=[case])
    assert case.read_text(encoding="utf-8") == "x: 1\n"


def test_the_audit_csv_and_the_report_cannot_be_the_json(tmp_path):
    audit = tmp_path / "audit.csv"
    audit.write_bytes(b"a,b\r\n1,2\r\n")
    for request in (OutputRequest(audit_csv=str(audit), json=str(audit)),
                    OutputRequest(report=str(tmp_path / "r.html"), json=str(tmp_path / "r.html"))):
        with pytest.raises(InputError, match="name the same file"):
            check_outputs(request)
    assert audit.read_bytes() == b"a,b\r\n1,2\r\n"


# -- 2. one transaction -----------------------------------------------------------------------------

def test_a_failing_audit_row_leaves_no_report_and_no_json(dry_outcome, tmp_path):
    """The audit CSV's header belongs to other runs: the row is refused at staging, so the report and
    the JSON staged before it are removed too, the CSV is unchanged and no lock or temporary file stays."""
    audit = tmp_path / "audit.csv"
    audit.write_text("patient_id,other\r\nA,1\r\n", encoding="utf-8")
    before = _state(tmp_path)
    request = OutputRequest(report=str(tmp_path / "r.html"), json=str(tmp_path / "r.json"),
                            audit_csv=str(audit))
    with pytest.raises(InputError, match="nothing was written"):
        commit_record(dry_outcome, request)
    assert _state(tmp_path) == before


def test_commit_writes_all_three_and_abort_writes_none(dry_outcome, tmp_path):
    request = OutputRequest(report=str(tmp_path / "r.html"), json=str(tmp_path / "r.json"),
                            audit_csv=str(tmp_path / "a.csv"))
    _, staged = stage_record(dry_outcome, request)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["a.csv.lock"]
    staged.abort()
    assert list(tmp_path.iterdir()) == []
    _, staged = stage_record(dry_outcome, request)
    with staged:
        written = staged.commit()
    assert sorted(p.name for p in written) == ["a.csv", "r.html", "r.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "r.html", "r.json"]
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["status"] == "dry-run"


def _commit_failing_at(staged: Any, failing: Path, monkeypatch: Any) -> None:
    """Fault injection: commit ``staged`` with the rename onto ``failing`` raising ENOSPC; the commit must
    fail saying none was kept."""
    real = os.replace

    def flaky(src, dst):
        if str(dst) == str(failing):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OutputError, match="none was kept"):
        staged.commit()
    monkeypatch.setattr(os, "replace", real)


def test_a_failed_rename_puts_back_what_earlier_renames_replaced(dry_outcome, tmp_path, monkeypatch):
    """Fault injection: the third rename (the audit CSV) fails. The report and JSON that the first two
    renames replaced are put back byte for byte; nothing new stays; the error says none was kept."""
    report, result, audit = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "a.csv"
    report.write_text("old report", encoding="utf-8")
    result.write_text("old json", encoding="utf-8")
    request = OutputRequest(report=str(report), json=str(result), audit_csv=str(audit))
    _, staged = stage_record(dry_outcome, request)
    _commit_failing_at(staged, audit, monkeypatch)
    assert report.read_text(encoding="utf-8") == "old report"
    assert result.read_text(encoding="utf-8") == "old json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]


NEW_REPORT = "reirrad_LRRC-01_SABR_REIRR_20261207T063015Z.html"  # reirrad.outputs.report_in_folder's form


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_new_report_never_replaces_a_file_made_after_its_name_was_chosen(dry_outcome, tmp_path, monkeypatch,
                                                                         hard_links):
    """OutputRequest.report_new (a report_dir's report): another run's report that appears under the chosen
    name between the choice and the commit (two runs of one plan in one second) is kept byte for byte;
    this run's report goes to the next numbered name (-2, then -3 when that is taken too), and the commit
    returns where it went. Without hard links (some shares) the rename-after-check fallback does the same."""
    if not hard_links:
        def no_link(src, dst):
            raise OSError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / NEW_REPORT
    request = OutputRequest(report=str(target), audit_csv=str(tmp_path / "a.csv"), report_new=True)
    _, staged = stage_record(dry_outcome, request)
    target.write_text("another run's report", encoding="utf-8")
    (tmp_path / NEW_REPORT.replace(".html", "-2.html")).write_text("a third", encoding="utf-8")
    with staged:
        written = staged.commit()
    placed = tmp_path / NEW_REPORT.replace(".html", "-3.html")
    assert placed in written and target not in written
    assert target.read_text(encoding="utf-8") == "another run's report"
    assert "LRRC-01" in placed.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.csv", NEW_REPORT, NEW_REPORT.replace(".html", "-2.html"), placed.name])


def test_a_new_report_is_removed_when_a_later_rename_fails(dry_outcome, tmp_path, monkeypatch):
    """A report_new report placed by the commit is removed like any created file when the audit CSV's
    rename fails after it: nothing stays, nothing replaced."""
    target, audit = tmp_path / NEW_REPORT, tmp_path / "a.csv"
    request = OutputRequest(report=str(target), audit_csv=str(audit), report_new=True)
    _, staged = stage_record(dry_outcome, request)
    _commit_failing_at(staged, audit, monkeypatch)
    assert list(tmp_path.iterdir()) == []


def test_a_new_report_is_not_left_when_its_temporary_name_cannot_be_removed(dry_outcome, tmp_path,
                                                                             monkeypatch):
    """Fault injection: the hard link is made, then removing the temporary name fails. The linked report
    is removed too (it was the commit's first output): nothing stays, the error says none was kept."""
    target = tmp_path / NEW_REPORT
    request = OutputRequest(report=str(target), report_new=True)
    _, staged = stage_record(dry_outcome, request)
    real = os.unlink

    def flaky(path, *args, **kwargs):
        if Path(path).name.startswith(f".{NEW_REPORT}") or (Path(path).parent == tmp_path
                                                             and Path(path).name.endswith(".tmp")):
            raise OSError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", flaky)
    with pytest.raises(OutputError, match="none was kept"):
        staged.commit()
    monkeypatch.setattr(os, "unlink", real)
    assert not target.exists()


@pytest.mark.parametrize(("first", "then"), [
    # a report_in_folder name counts on from its own number; any other name gets -2, -3 ... after it
    ("r_20261207T063015Z.html", ["r_20261207T063015Z.html", "r_20261207T063015Z-2.html"]),
    ("r_20261207T063015Z-2.html", ["r_20261207T063015Z-2.html", "r_20261207T063015Z-3.html"]),
    ("r-05.html", ["r-05.html", "r-05-2.html"]),
    ("r_20261207T063015Z-\u00b2.html",  # a superscript two is not a number here
     ["r_20261207T063015Z-\u00b2.html", "r_20261207T063015Z-\u00b2-2.html"]),
])
def test_numbered_names_start_with_the_name_itself(tmp_path, first, then):
    from reirrad.outputs import _numbered  # noqa: PLC0415 - the naming rule itself

    names = [p.name for p in _numbered(tmp_path / first)]
    assert names[:2] == then and len(set(names)) == len(names)
    assert _numbered(tmp_path / "r_20261207T063015Z-999.html") == [tmp_path / "r_20261207T063015Z-999.html"]


def _adoptable(folder: Path, name: str, text: str) -> Tuple[str, Path]:
    """A file staged by the caller (as the DICOM writer stages a dose map): (temporary file, target)."""
    target = folder / name
    return files.stage_text(target, text), target


def test_adopted_files_commit_first_with_the_record_and_a_failed_rename_undoes_them(dry_outcome, tmp_path,
                                                                                   monkeypatch):
    """StagedRecord.adopt: a caller's staged file (a map) is renamed into place before the record's own
    outputs, and a failed rename later in the commit puts back the map it replaced, byte for byte."""
    old_map = tmp_path / "map.dcm"
    old_map.write_text("old map", encoding="utf-8")
    audit = tmp_path / "a.csv"
    request = OutputRequest(json=str(tmp_path / "r.json"), audit_csv=str(audit))
    _, staged = stage_record(dry_outcome, request)
    staged.adopt(*_adoptable(tmp_path, "map.dcm", "new map"))
    assert [p.name for p in staged.targets] == ["map.dcm", "r.json", "a.csv"]
    _commit_failing_at(staged, audit, monkeypatch)
    assert old_map.read_text(encoding="utf-8") == "old map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.dcm"]
    with pytest.raises(OutputError, match="already committed or aborted"):
        staged.adopt(*_adoptable(tmp_path, "late.dcm", "x"))


def test_commit_record_removes_adopted_files_when_the_record_is_refused(dry_outcome, tmp_path):
    """The maps of reirrad evaluate: an audit CSV of other runs refuses the record (InputError), and the
    caller's staged map goes with it (no file, no temporary file); with no refusal it is committed and
    listed among the paths written, even without any other output."""
    audit = tmp_path / "a.csv"
    audit.write_text("other,header\n", encoding="utf-8")
    adopted = [_adoptable(tmp_path, "map.dcm", "a map")]
    with pytest.raises(InputError, match="nothing was written"):
        commit_record(dry_outcome, OutputRequest(audit_csv=str(audit)), adopted=adopted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    done = commit_record(dry_outcome, None, adopted=[_adoptable(tmp_path, "map.dcm", "a map")])
    assert [p.name for p in done.paths_written] == ["map.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "map.dcm"]


def test_an_output_folder_is_checked_like_an_output_file(tmp_path):
    """check_output_folder (reirrad evaluate --write-maps): the folder must exist (never created) and be
    a folder; an entry named like one of its files must be a regular file that is neither an input nor
    another output; another output may not take such a name in it."""
    names = re.compile(r"map-[a-z]+\.dcm")
    folder = tmp_path / "maps"
    with pytest.raises(InputError, match="folder does not exist; create it first"):
        check_output_folder("--maps", str(folder), names)
    assert not folder.exists()
    with pytest.raises(InputError, match="names no folder"):
        check_output_folder("--maps", " ", names)
    folder.mkdir()
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_folder("--maps", str(tmp_path / "f"), names)
    source = tmp_path / "input.dcm"
    source.write_text("input")
    os.link(source, folder / "map-a.dcm")  # the input reached through a hard link named like a map
    with pytest.raises(InputError, match=r"map-a.dcm is .*input.dcm, a file of this run"):
        check_output_folder("--maps", str(folder), names, inputs=[str(source)])
    (folder / "map-a.dcm").unlink()
    (folder / "map-b.dcm").mkdir()
    with pytest.raises(InputError, match=r"map-b\.dcm is in the way"):
        check_output_folder("--maps", str(folder), names)
    (folder / "map-b.dcm").rmdir()
    clash = OutputRequest(json=str(folder / "map-c.dcm"))
    with pytest.raises(InputError, match=r"--json .*map-c\.dcm has the name of a file --maps writes"):
        check_output_folder("--maps", str(folder), names, outputs=clash)
    (folder / "map-d.dcm").write_text("an earlier run's map: replaced")
    (folder / "notes.txt").write_text("not a map name: not looked at")
    assert check_output_folder("--maps", str(folder), names, inputs=[str(source)]) == folder


def test_audit_csv_of_another_protocol_is_refused_in_either_order(tmp_path):
    """Rows of one CSV share one header: a run under a protocol with another OAR set (here the shipped
    protocol without its last OAR) is refused whichever run came first, and the CSV is unchanged."""
    import dataclasses  # noqa: PLC0415

    fewer = dataclasses.replace(PROTOCOL, name="fewer-oars", oars=PROTOCOL.oars[:-1])
    for n, (first, then) in enumerate(((PROTOCOL, fewer), (fewer, PROTOCOL))):
        audit = tmp_path / f"audit-{n}.csv"
        commit_record(execute(first, DirectCase("LRRC-01").read(), WorkflowOptions(dry_run=True)),
                      OutputRequest(audit_csv=str(audit)))
        before = audit.read_bytes()
        with pytest.raises(InputError, match="columns"):
            commit_record(execute(then, DirectCase("LRRC-01").read(), WorkflowOptions(dry_run=True)),
                          OutputRequest(audit_csv=str(audit)))
        assert audit.read_bytes() == before


# -- 3. locks -----------------------------------------------------------------------------------------

def test_a_stale_lock_of_a_dead_writer_is_broken_with_a_flag(dry_outcome, tmp_path):
    """A lock left by a process of this host that no longer runs: the next run breaks it at once (no
    30 s wait), writes its row, and its result, JSON and audit row carry the flag finding."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    audit = tmp_path / "a.csv"
    lock = tmp_path / "a.csv.lock"
    lock.write_text(f"pid {pid} on {socket.gethostname()} since 2026-12-01T09:00:00+0000\n", encoding="utf-8")
    started = time.monotonic()
    done = commit_record(dry_outcome, OutputRequest(audit_csv=str(audit), json=str(tmp_path / "r.json")))
    assert time.monotonic() - started < 10.0
    assert not lock.exists()
    codes = [w["code"] for w in done.result["warnings"] if w["severity"] == "flag"]
    assert "stale-audit-lock-broken" in codes
    assert "stale-audit-lock-broken" in json.loads((tmp_path / "r.json").read_text())["warnings"][-1]["code"]
    with audit.open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert "stale-audit-lock-broken" in row["flag_warning_codes"]


def test_a_live_or_foreign_lock_is_never_broken(dry_outcome, tmp_path, monkeypatch):
    """A lock of this very process's parent (alive) or of another host is waited for, then refused,
    and left in place."""
    monkeypatch.setattr(files, "LOCK_TIMEOUT_S", 0.3)
    audit = tmp_path / "a.csv"
    lock = tmp_path / "a.csv.lock"
    for holder in (f"pid {os.getppid()} on {socket.gethostname()} since 2026-12-01T09:00:00+0000",
                   "pid 1 on another-workstation since 2026-12-01T09:00:00+0000"):
        lock.write_text(holder + "\n", encoding="utf-8")
        with pytest.raises(InputError, match="is held by"):
            commit_record(dry_outcome, OutputRequest(audit_csv=str(audit)))
        assert lock.read_text(encoding="utf-8").strip() == holder and not audit.exists()



class _Win32:
    """A stand-in for the three Win32 calls of files._windows_pid_running: processes by pid, each
    its exit code, "unreadable" (GetExitCodeProcess fails) or "denied" (exists, OpenProcess refused)."""

    def __init__(self, processes: Dict[int, Any]) -> None:
        self.processes, self.error, self.closed = processes, 0, []

    def open(self, pid: int) -> Any:
        state = self.processes.get(pid)
        if state is None or state == "denied":
            self.error = 87 if state is None else 5  # ERROR_INVALID_PARAMETER / ERROR_ACCESS_DENIED
            return None
        return 1000 + pid

    def last_error(self) -> int:
        return self.error

    def exit_code(self, handle: int) -> Any:
        code = self.processes[handle - 1000]
        return None if code == "unreadable" else code

    def close(self, handle: int) -> None:
        self.closed.append(handle)


def test_windows_liveness_is_not_os_kill(monkeypatch):
    """A deployment review: on Windows os.kill(pid, 0) is GenerateConsoleCtrlEvent, which succeeds for any
    process group number, so a dead writer's lock was never found stale (it then had to be removed by
    hand). There the test is OpenProcess + GetExitCodeProcess (STILL_ACTIVE = 259), modelled by a
    stand-in for those calls (not run on Windows here): no such process -> not running; running; exited
    with 0; access denied -> running (it exists); exit code unreadable -> running (the lock is kept).
    Every handle opened is closed. _pid_running takes this path when os.name is 'nt'."""
    api = _Win32({11: 259, 12: 0, 13: "denied", 14: "unreadable"})
    assert [files._windows_pid_running(pid, api) for pid in (10, 11, 12, 13, 14)] == [
        False, True, False, True, True]
    assert sorted(api.closed) == [1011, 1012, 1014]
    assert files._windows_pid_running(2**40, api) and files._windows_pid_running(0, api)  # no DWORD: kept
    monkeypatch.setattr(files.os, "name", "nt")
    monkeypatch.setattr(files, "_WindowsProcesses", lambda: _Win32({}))
    assert files._pid_running(os.getpid()) is False  # the stand-in knows no process: not os.kill

_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from reirrad.files import exclusive_lock, stage_text
    from reirrad.interrupts import Interrupted, interruptible
    target, mode = Path(sys.argv[1]), sys.argv[2]
    try:
        with interruptible():
            with exclusive_lock(target):
                stage_text(target, "half")
                print("holding", flush=True)
                time.sleep(60)
    except Interrupted as exc:
        sys.exit(exc.exit_code)
""")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_holding_the_lock_and_a_temporary_file_removes_both(tmp_path, signum, code):
    """A writer killed by SIGTERM or SIGINT while it holds the lock and a staged temporary file: it exits
    128 + the signal number and leaves neither behind."""
    target = tmp_path / "audit.csv"
    with subprocess.Popen([sys.executable, "-c", _HOLDER, str(target), "x"], stdout=subprocess.PIPE,
                          text=True, cwd=str(REPO)) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        assert (tmp_path / "audit.csv.lock").exists()
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == code
    assert list(tmp_path.iterdir()) == []


def test_a_sigkilled_writer_leaves_a_stale_lock_that_the_next_run_breaks(dry_outcome, tmp_path):
    """SIGKILL cannot be caught: the lock and a temporary file stay. The next run breaks the stale lock
    (same host, dead pid) and writes its row; the temporary file never replaced the target."""
    target = tmp_path / "a.csv"
    with subprocess.Popen([sys.executable, "-c", _HOLDER, str(target), "x"], stdout=subprocess.PIPE,
                          text=True, cwd=str(REPO)) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        proc.kill()
        proc.wait(timeout=30)
    assert (tmp_path / "a.csv.lock").exists() and not target.exists()
    done = commit_record(dry_outcome, OutputRequest(audit_csv=str(target)))
    assert "stale-audit-lock-broken" in [w["code"] for w in done.result["warnings"]]
    assert not (tmp_path / "a.csv.lock").exists()
    with target.open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.reader(handle))) == 2


def test_interruptible_raises_interrupted_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught, interruptible():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert caught.value.exit_code == 143 and caught.value.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_discard_pending_removes_what_an_interrupted_writer_staged(tmp_path):
    tmp = files.stage_text(tmp_path / "r.json", "{}")
    assert Path(tmp).exists()
    files.discard_pending()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_the_target_and_no_temporary_file(tmp_path):
    """files.replace_staged (used by write_text_atomic and the DICOM writer's save_dataset): a rename
    that fails (the target is a non-empty folder) raises, removes the staged file and stops tracking it;
    the target is untouched. pydicom is needed for the DICOM case only."""
    target = tmp_path / "out.json"
    (target / "kept").mkdir(parents=True)
    with pytest.raises(OSError):
        files.write_text_atomic(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"] and (target / "kept").is_dir()
    pydicom = pytest.importorskip("pydicom")
    from reirrad_tps.dicom.files import save_dataset  # noqa: PLC0415 - needs pydicom (skipped above without it)

    ds = pydicom.Dataset()
    ds.PatientID = "X"
    with pytest.raises(InputError, match="cannot write"):
        save_dataset(ds, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"] and (target / "kept").is_dir()
    assert not [p for p in files._PENDING if p.startswith(str(tmp_path))]  # no longer tracked


def test_a_planned_start_before_the_prior_course_ended_names_both_dates():
    """The interval from dates: a planned start before the prior course's last fraction says so, with
    both dates and where the prior date came from (not "interval_days must be >= 0")."""
    import datetime as dt  # noqa: PLC0415

    snapshot = DirectCase("LRRC-01").read()
    course = snapshot.prior_courses[0]
    assert course.last_fraction is not None
    early = course.last_fraction - dt.timedelta(days=1619)
    with pytest.raises(InputError) as caught:
        course.interval_days(early)
    message = str(caught.value)
    assert f"{early.isoformat()}, the planned start) is 1619 days before" in message
    assert course.last_fraction.isoformat() in message and "date source:" in message


_JSON_WRITER = textwrap.dedent("""
    import sys, time
    from reirrad.outputs import write_result_json
    path, tag, go = sys.argv[1], sys.argv[2], sys.argv[3]
    import os
    while not os.path.exists(go):
        time.sleep(0.001)
    for n in range(60):
        write_result_json(path, {"writer": tag, "n": n, "padding": "x" * 20000})
""")


def test_four_concurrent_writers_of_one_json_never_tear_it(tmp_path):
    """Each write goes through its own temporary file (mkstemp) and an atomic rename: a reader polling
    the file while four processes rewrite it 60 times each always parses a whole document, and no
    temporary file is left."""
    target, go = tmp_path / "result.json", tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", _JSON_WRITER, str(target), f"w{w}", str(go)],
                                cwd=str(REPO)) for w in range(4)]
    time.sleep(1.0)
    go.touch()
    torn = reads = 0
    while any(w.poll() is None for w in writers):
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        reads += 1
        try:
            json.loads(text)
        except ValueError:
            torn += 1
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    assert torn == 0 and reads > 0
    assert json.loads(target.read_text(encoding="utf-8"))["n"] == 59
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "result.json"]
