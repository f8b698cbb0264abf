"""Running a cohort: every case in its own process, on this machine or on a Dask cluster.

Each case runs as its own ``python -m reirrad <command> ...`` process (:func:`run_case`): one case per
process, so a TPS stand-in's Mono/pythonnet runtime is never shared, a crash ends only its case, and
the command line's own checks, transactions and exit codes apply unchanged. A case writes under
``OUT/cases/<id>/``: ``result.json``, ``report.html`` (the run's record, one transaction), ``log.txt``
(its console output) and, last, ``case.json`` (its fingerprint, exit code, status and time). Every case
appends its audit row to the one ``OUT/audit.csv`` (the audit's lock serialises the writers).

**Reuse.** A case whose ``case.json`` says it finished with the fingerprint it has now
(:mod:`.fingerprint`) is not run again; ``force`` runs it. A case is *finished* when it produced a
result (any status, a stop included: a stop is the case's answer); a case that produced none (a bad
option, a missing file, a crash) is *failed* and runs again next time. Before a case runs, its earlier
files are removed, so a failed run never leaves an earlier result behind to be mistaken for its own.

**Schedulers.** ``processes`` (default): ``workers`` cases at a time on this machine. ``dask``: the
cases are tasks on a ``distributed`` cluster — at ``address``, or a local cluster of ``workers`` worker
processes — and each task runs the case's process on its worker; ``OUT`` must then be a folder every
worker sees at the same path (docs/batch.md). Dask is the optional ``batch-dask`` extra.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from reirrad.errors import InputError
from reirrad.files import write_text_atomic

from .fingerprint import case_fingerprint
from .manifest import CaseSpec, argv_of

__all__ = ["CASE_FILES", "SCHEDULERS", "CaseRecord", "case_dir", "check_run_options", "run_case", "run_cases"]

SCHEDULERS = ("processes", "dask")
#: The files of a case, removed before it runs again.
CASE_FILES = ("result.json", "report.html", "log.txt", "case.json")
_LOG_TAIL = 4000


@dataclass(frozen=True)
class CaseRecord:
    """How one case ended (``case.json``; the cohort summary lists one per case).

    Attributes
    ----------
    case_id, command, policy : str, str, str or None
    fingerprint : str
    finished : bool
        It produced a result (any status).
    exit_code : int or None
        The case process's exit code (:mod:`reirrad.statuses`); None when it never ran.
    status : str or None
        The result's status.
    prescription_gy : float or None
        The result's prescription.
    error : str or None
        Why it did not finish (the last lines of its output), or a stop's reason.
    reused : bool
        From an earlier run (the fingerprint unchanged).
    seconds : float or None
        Wall time of the process, s (the earlier run's when reused).
    argv : tuple of str
        The case's command line (without the batch's outputs).
    """

    case_id: str
    command: str
    policy: Optional[str]
    fingerprint: str
    finished: bool
    exit_code: Optional[int]
    status: Optional[str]
    prescription_gy: Optional[float]
    error: Optional[str]
    reused: bool
    seconds: Optional[float]
    argv: Tuple[str, ...]

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        return data


def case_dir(out: Path, case_id: str) -> Path:
    """The folder of a case's files."""
    return out / "cases" / case_id


def _read_json(path: Path) -> Optional[Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _previous(out: Path, case: CaseSpec, fingerprint: str) -> Optional[CaseRecord]:
    """The earlier run's record when it finished with this fingerprint and its result is still there."""
    folder = case_dir(out, case.case_id)
    record = _read_json(folder / "case.json")
    if (record is None or record.get("fingerprint") != fingerprint or record.get("finished") is not True
            or _read_json(folder / "result.json") is None):
        return None
    return CaseRecord(case.case_id, case.command, case.policy, fingerprint, True, record.get("exit_code"),
                      record.get("status"), record.get("prescription_gy"), record.get("error"), True,
                      record.get("seconds"), tuple(argv_of(case)))


def _error_text(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("reirrad: ")]
    return (errors[-1] if errors else (lines[-1] if lines else "no output")).strip()[:500]


def run_case(case: CaseSpec, out: str, fingerprint: str, *, python: Optional[str] = None,
             on_start: Optional[Callable[[subprocess.Popen[bytes]], None]] = None,
             on_end: Optional[Callable[[subprocess.Popen[bytes]], None]] = None) -> CaseRecord:
    """Run one case in its own process and record how it ended (module docstring).

    Parameters
    ----------
    case : CaseSpec
    out : str
        The cohort's output folder (exists).
    fingerprint : str
        The case's fingerprint, recorded in ``case.json``.
    python : str, optional
        The interpreter (default: this process's; on a Dask worker, the worker's).
    on_start, on_end : callable, optional
        Called with the process when it starts and ends (the batch ends the running ones on a signal).
    """
    folder = case_dir(Path(out), case.case_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name in CASE_FILES:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    argv = argv_of(case)
    command = [python or sys.executable, "-m", "reirrad", *argv, "--json", str(folder / "result.json"),
               "--report", str(folder / "report.html"), "--audit-csv", str(Path(out) / "audit.csv")]
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # one case per process: no oversubscribed BLAS threads
    start = time.perf_counter()
    with open(folder / "log.txt", "w", encoding="utf-8") as log:
        log.write("$ reirrad " + " ".join(argv) + "\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL)
        if on_start is not None:
            on_start(process)
        try:
            code = process.wait()
        finally:
            if on_end is not None:
                on_end(process)
    seconds = time.perf_counter() - start
    result = _read_json(folder / "result.json")
    finished = result is not None and isinstance(result.get("status"), str)
    text = (folder / "log.txt").read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL:]
    error = None
    if not finished:
        error = _error_text(text) if code >= 0 else f"ended by signal {-code}"
    elif result is not None and result.get("status") == "stopped":
        error = str(result.get("reason") or "stopped")
    prescription = result.get("prescription_gy") if result is not None else None
    record = CaseRecord(case.case_id, case.command, case.policy, fingerprint, finished, code,
                        None if result is None else str(result.get("status")),
                        prescription if isinstance(prescription, (int, float)) else None, error, False,
                        round(seconds, 3), tuple(argv))
    write_text_atomic(folder / "case.json", json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n")
    return record


class _Running:
    """The case processes running now (ended on a signal)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: Set[subprocess.Popen[bytes]] = set()

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.add(process)

    def remove(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.discard(process)

    def terminate(self) -> None:
        with self._lock:
            for process in self._processes:
                if process.poll() is None:
                    process.terminate()


def _local(pending: Sequence[Tuple[CaseSpec, str]], out: Path, workers: int) -> Iterator[CaseRecord]:
    running = _Running()
    pool = ThreadPoolExecutor(max_workers=workers)
    futures: Dict[Future[CaseRecord], CaseSpec] = {}
    try:
        for case, fingerprint in pending:
            futures[pool.submit(run_case, case, str(out), fingerprint, on_start=running.add,
                                on_end=running.remove)] = case
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        for future in futures:
            future.cancel()
        running.terminate()
        pool.shutdown(wait=True)


def _dask(pending: Sequence[Tuple[CaseSpec, str]], out: Path, workers: int,
          address: Optional[str]) -> Iterator[CaseRecord]:
    try:
        from distributed import Client, LocalCluster, as_completed  # noqa: PLC0415 - the optional extra
    except ImportError:
        raise InputError("--scheduler dask needs Dask: pip install 'reirrad[batch-dask]' (dask and "
                         "distributed); or use --scheduler processes") from None
    for name in ("distributed", "bokeh", "tornado"):  # the batch prints its own progress
        logging.getLogger(name).setLevel(logging.WARNING)
    cluster = None
    if address is None:  # a private cluster: any free port, so two batches never collide
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               scheduler_port=0, dashboard_address=":0")
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise InputError(f"--address {address}: no Dask scheduler answered ({exc}); start one with "
                             "'dask scheduler' and workers with 'dask worker ADDRESS' (docs/batch.md)"
                             ) from None
    try:
        futures = [client.submit(run_case, case, str(out), fingerprint, pure=False,
                                 key=f"reirrad-case-{case.case_id}-{fingerprint[:12]}")
                   for case, fingerprint in pending]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_run_options(workers: int, scheduler: str, address: Optional[str]) -> None:
    """Refuse a scheduler, address or number of workers :func:`run_cases` cannot use (InputError)."""
    if scheduler not in SCHEDULERS:
        raise InputError(f"scheduler must be one of {list(SCHEDULERS)}, got {scheduler!r}")
    if address is not None and scheduler != "dask":
        raise InputError("--address names a Dask scheduler: use it with --scheduler dask")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise InputError(f"--workers must be a whole number from 1 to 256, got {workers!r}")


def run_cases(cases: Sequence[CaseSpec], out: Path, *, workers: int = 1, scheduler: str = "processes",
              address: Optional[str] = None, force: bool = False,
              progress: Optional[Callable[[CaseRecord, int, int], None]] = None) -> List[CaseRecord]:
    """Run (or reuse) every case; the records in the cases' order.

    Parameters
    ----------
    cases : sequence of CaseSpec
    out : pathlib.Path
        The cohort's output folder (created).
    workers : int
        Cases run at once (processes) or local Dask workers.
    scheduler : str
        ``processes`` or ``dask`` (module docstring).
    address : str, optional
        A Dask scheduler's address (``tcp://host:8786``); only with ``dask``.
    force : bool
        Run every case, even one whose inputs are unchanged.
    progress : callable, optional
        Called with each record as it ends, with the number ended so far and the total.
    """
    check_run_options(workers, scheduler, address)
    out.mkdir(parents=True, exist_ok=True)
    records: Dict[str, CaseRecord] = {}
    pending: List[Tuple[CaseSpec, str]] = []
    for case in cases:
        fingerprint = case_fingerprint(case)
        earlier = None if force else _previous(out, case, fingerprint)
        if earlier is not None:
            records[case.case_id] = earlier
        else:
            pending.append((case, fingerprint))
    total, ended = len(cases), 0
    for record in records.values():
        ended += 1
        if progress is not None:
            progress(record, ended, total)
    runs = (_dask(pending, out, workers, address) if scheduler == "dask"
            else _local(pending, out, workers)) if pending else iter(())
    for record in runs:
        records[record.case_id] = record
        ended += 1
        if progress is not None:
            progress(record, ended, total)
    return [records[case.case_id] for case in cases]
