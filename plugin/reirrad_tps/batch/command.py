"""``reirrad batch MANIFEST --out DIR``: the command line of a cohort run (docs/batch.md).

Reads and checks the whole manifest before any case runs (a bad manifest runs nothing), expands a
policy comparison (``--compare protocols A.yaml B.yaml`` or ``--compare recovery-models M1 M2``: every
case once per policy, as ``<id>@<policy>``), runs the cases (:mod:`.runner`) with one progress line per
case, then writes the cohort's report ``cohort.html`` and table ``cohort.csv`` (:mod:`reirrad.cohort`)
and its summary ``cohort.json`` (every case's record, what was reused, the manifest's hash, the
software, the scheduler); an earlier batch's cohort files are removed before any case runs, so an
interrupted batch leaves none that would describe cases it changed. Exit code: **0** when every case
finished (produced a result, whatever its status), **1** when at least one did not (each is listed with
its error); a bad manifest or option is 2, before anything runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from reirrad import __version__
from reirrad.cohort import (
    CohortCase,
    PolicyComparison,
    policy_comparison,
    write_cohort_csv,
    write_cohort_report,
)
from reirrad.errors import InputError
from reirrad.files import write_text_atomic
from reirrad.outputs import result_json
from reirrad.protocol import list_protocols, load_protocol
from reirrad.recovery import RECOVERY_MODELS
from reirrad.statuses import EXIT_FAILED, EXIT_OK

from .manifest import CaseSpec, check_cases, load_manifest
from .runner import SCHEDULERS, CaseRecord, case_dir, check_run_options, run_cases

__all__ = ["COMPARISONS", "cohort_cases", "comparison_lines", "expand_policies", "register"]

#: What ``--compare`` varies: its kind → the option it sets in every case.
COMPARISONS = {"protocols": "protocol", "recovery-models": "recovery_model"}
_LABEL_RE = re.compile(r"[^A-Za-z0-9._-]+")
_BAR = 20


def register(sub: Any) -> None:
    """Add ``reirrad batch`` to the command line."""
    p = sub.add_parser("batch", help="plan or evaluate the cases of a manifest (a cohort), resumably")
    p.add_argument("manifest", metavar="MANIFEST", help="YAML or CSV list of cases with their options "
                                                        "(docs/batch.md)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder of the cohort's outputs (created): cases/<id>/, audit.csv, cohort.json")
    p.add_argument("--workers", type=int, default=1, help="cases run at once (default 1)")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="processes",
                   help="processes (this machine, default) or dask (a distributed cluster; the "
                        "'batch-dask' extra)")
    p.add_argument("--address", default=None, metavar="URL",
                   help="a Dask scheduler (tcp://host:8786); without it --scheduler dask starts a local "
                        "cluster of --workers processes")
    p.add_argument("--force", action="store_true", help="run every case again, even when unchanged")
    p.add_argument("--compare", nargs="+", metavar=("KIND", "VALUE"), default=None,
                   help="run every case under each policy: 'protocols A.yaml B.yaml' or "
                        "'recovery-models uk-guidance jones-grant-2014'")
    p.set_defaults(handler=_batch)


def _label(value: str, kind: str) -> str:
    stem = Path(value).stem if kind == "protocols" and value not in list_protocols() else value
    return _LABEL_RE.sub("-", stem).strip("-.") or "policy"


def expand_policies(cases: Sequence[CaseSpec], compare: Optional[Sequence[str]]) -> List[CaseSpec]:
    """Every case once per policy of ``--compare KIND V1 V2 ...`` (unchanged without it).

    Raises
    ------
    reirrad.errors.InputError
        An unknown kind, fewer than two values, a value the option does not take, two values with the
        same label.
    """
    if not compare:
        return list(cases)
    kind, values = compare[0], list(compare[1:])
    if kind not in COMPARISONS:
        raise InputError(f"--compare {kind}: compare one of {sorted(COMPARISONS)}, then the values")
    if len(values) < 2:
        raise InputError(f"--compare {kind} needs at least two values to compare (got {values})")
    resolved: List[Tuple[str, str]] = []
    for value in values:
        if kind == "recovery-models":
            if value not in RECOVERY_MODELS:
                raise InputError(f"--compare recovery-models: {value!r} is not one of "
                                 f"{list(RECOVERY_MODELS)}")
            resolved.append((value, value))
        else:
            load_protocol(value)  # a bad protocol is refused now, not once per case
            shipped = value in list_protocols() and not Path(value).exists()
            path = value if shipped else str(Path(value).resolve())
            resolved.append((path, _label(value, kind)))
    labels = [label for _, label in resolved]
    if len(set(labels)) != len(labels):
        raise InputError(f"--compare {kind}: the values {values} give the labels {labels}; each needs its "
                         "own (protocol files with different names)")
    option = COMPARISONS[kind]
    return [case.with_option(option, value, case_id=f"{case.case_id}@{label}", policy=label)
            for case in cases for value, label in resolved]


def _progress_line(record: CaseRecord, ended: int, total: int) -> str:
    filled = round(_BAR * ended / total) if total else _BAR
    bar = "#" * filled + "-" * (_BAR - filled)
    if not record.finished:
        what = f"FAILED (exit {record.exit_code}): {record.error}"
    else:
        level = "" if record.prescription_gy is None else f" {record.prescription_gy:g} Gy"
        what = f"{record.status}{level}" + (f" - {record.error}" if record.error else "")
    when = "reused" if record.reused else f"{record.seconds:.1f} s"
    width = len(str(total))
    return f"[{ended:>{width}}/{total}] {bar} {record.case_id}: {what} ({when})"


def _summary(manifest: Any, records: Sequence[CaseRecord], args: argparse.Namespace,
             started: datetime) -> Dict[str, Any]:
    return {
        "kind": "cohort",
        "software_version": __version__,
        "python": sys.version.split()[0],
        "manifest": {"path": str(manifest.path), "sha256": manifest.sha256},
        "scheduler": args.scheduler, "workers": args.workers, "address": args.address, "force": args.force,
        "compare": list(args.compare) if args.compare else None,
        "started": started.isoformat(timespec="seconds"),
        "ended": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {"cases": len(records), "finished": sum(r.finished for r in records),
                   "failed": sum(not r.finished for r in records), "reused": sum(r.reused for r in records),
                   "stopped": sum(r.status == "stopped" for r in records)},
        "reused": [r.case_id for r in records if r.reused],
        "cases": [r.to_dict() for r in records],
    }


def _cell(value: Optional[float], spec: str, width: int) -> str:
    return f"{'-' if value is None else format(value, spec):>{width}s}"


def comparison_lines(comparison: Optional[PolicyComparison]) -> List[str]:
    """The console table of a policy comparison (:func:`reirrad.cohort.policy_comparison`): the achieved
    level of every case under each policy side by side, each policy's difference from the first, and the
    cohort mean difference ([] without policies)."""
    if comparison is None or len(comparison.policies) < 2:
        return []
    policies = list(comparison.policies)
    first, others = policies[0], policies[1:]
    lines = [f"Achieved level (Gy) per policy; difference from {first}:",
             "  " + "  ".join([f"{'case':16s}", *(f"{p:>16s}" for p in policies),
                               *(f"{'Δ ' + p:>18s}" for p in others)])]
    for row in comparison.rows:
        cells = [_cell(row.levels_gy[p], "g", 16) for p in policies]
        diffs = [_cell(row.differences_gy[p], "+.1f", 18) for p in others]
        lines.append("  " + "  ".join([f"{row.case:16s}", *cells, *diffs]))
    means = [_cell(comparison.mean_difference_gy[p], "+.2f", 18) for p in others]
    lines.append("  " + "  ".join([f"{'cohort mean':16s}", *(" " * 16 for _ in policies), *means]))
    return lines


def cohort_cases(records: Sequence[CaseRecord], out: Path) -> List[CohortCase]:
    """The cases as the cohort report reads them: each record with its result file (None when failed)."""
    cases = []
    for record in records:
        result = None
        if record.finished:
            result = json.loads((case_dir(out, record.case_id) / "result.json").read_text(encoding="utf-8"))
        cases.append(CohortCase(record.case_id, record.policy, record.finished, record.exit_code, result,
                                record.error, record.reused, None if record.reused else record.seconds))
    return cases


#: The cohort's own files in ``--out``: written when every case has ended, about those cases.
COHORT_FILES = ("cohort.json", "cohort.html", "cohort.csv")


def _remove_cohort_files(out: Path) -> None:
    """Remove an earlier batch's cohort files before any case runs: once a case is recomputed they no
    longer describe the folder, and a batch interrupted (SIGINT/SIGTERM) or failing before its end
    writes none (found: after a SIGTERM the old cohort.html still called a case "planned" whose result
    had been removed). The cases' own files say what each case holds."""
    for name in COHORT_FILES:
        with suppress(FileNotFoundError):
            (out / name).unlink()


def _cohort_folder(value: str) -> Path:
    """The cohort's folder ``--out``, created when missing (with its parents: the cohort's results go
    there) and checked writable with a probe file, before any case runs.

    Raises
    ------
    reirrad.errors.InputError
        Not a folder, or it cannot be created or written (found by a hostile-input review: a traceback
        before).
    """
    out = Path(value)
    if not str(value).strip() or (out.exists() and not out.is_dir()):
        raise InputError(f"--out {value!r} is not a folder: give a folder for the cohort's outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".reirrad-probe-", suffix=".tmp", dir=str(out))
        os.close(descriptor)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"--out {value}: the cohort's folder cannot be created or written "
                         f"({exc.strerror or exc}); give another folder") from None
    return out


def _batch(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    cases = expand_policies(manifest.cases, args.compare)
    check_cases(cases)
    check_run_options(args.workers, args.scheduler, args.address)
    out = _cohort_folder(args.out)
    started = datetime.now(timezone.utc)
    _remove_cohort_files(out)
    print(f"reirrad batch: {len(cases)} case(s) from {manifest.path.name}, {args.scheduler} scheduler, "
          f"{args.workers} worker(s)", flush=True)
    records = run_cases(cases, out, workers=args.workers, scheduler=args.scheduler, address=args.address,
                        force=args.force,
                        progress=lambda r, n, total: print(_progress_line(r, n, total), flush=True))
    summary = _summary(manifest, records, args, started)
    cases_read = cohort_cases(records, out)
    write_cohort_csv(out / "cohort.csv", cases_read)
    write_cohort_report(out / "cohort.html", cases_read, title=f"reirrad cohort - {manifest.path.name}")
    write_text_atomic(out / "cohort.json", result_json(summary))
    counts = summary["counts"]
    print(f"{counts['finished']} of {counts['cases']} case(s) finished ({counts['reused']} reused, "
          f"{counts['stopped']} stopped), {counts['failed']} failed; {out}/cohort.html (report), cohort.csv, "
          "cohort.json")
    for line in comparison_lines(policy_comparison(cases_read)):
        print(line)
    for record in records:
        if not record.finished:
            print(f"  failed: {record.case_id}: {record.error} "
                  f"(its log: {out}/cases/{record.case_id}/log.txt)")
    return EXIT_OK if counts["failed"] == 0 else EXIT_FAILED
