"""Cohort throughput: cases per minute against workers, and the memory of a case (printed, never asserted).

Two cohorts, each run with 1 and 2 workers (``reirrad_tps.batch.runner.run_cases``, the process pool,
``force=True`` so nothing is reused), side by side:

* **stub patients**: ``reirrad plan --tps raystation-stub --intent isotoxic`` on LRRC-01, LRRC-02,
  PROS-01 and GYN-01 (the full isotoxic search: several optimisations each);
* **DICOM cases**: the same four patients exported to synthetic DICOM (planning RT Structure Set,
  prior RT Dose + RT Plan, new RT Dose + RT Plan of the stand-in's limit-toxicity plan; the factory of
  tests/plugin/dicom) and checked with ``reirrad evaluate``.

For each: wall time, cases per minute, the speed-up over one worker, and the largest resident memory of
any case process (``ru_maxrss`` of the finished children: each case is its own process, so this is the
memory a worker needs per case it runs at once). The machine's cores and load average are printed: with
2 cores, 2 workers can at best halve the time.

Run from the repository root: ``PYTHONPATH=engine:plugin:. .venv/bin/python benchmarks/bench_batch.py``
(needs pydicom for the DICOM cohort; ``--quick`` runs two patients and dry runs only).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, List, Sequence, Tuple

from reirrad_tps.batch.manifest import CaseSpec
from reirrad_tps.batch.runner import CaseRecord, run_cases

PATIENTS = ("LRRC-01", "LRRC-02", "PROS-01", "GYN-01")
WORKERS = (1, 2)
PRIOR_PLAN_UID = "1.2.826.0.1.3680043.8.498.3101"
NEW_PLAN_UID = "1.2.826.0.1.3680043.8.498.3102"


def stub_cases(patients: Sequence[str], dry_run: bool) -> List[CaseSpec]:
    options: List[Tuple[str, Any]] = [("intent", "isotoxic"), ("tps", "raystation-stub")]
    if dry_run:
        options.append(("dry_run", True))
    return [CaseSpec(p.lower(), "plan", tuple(sorted([*options, ("patient", p)]))) for p in patients]


def dicom_cases(patients: Sequence[str], folder: Path) -> List[CaseSpec]:
    """Export each patient to DICOM (the tests' factory) and the ``evaluate`` case of it."""
    from reirrad.protocol import load_protocol  # noqa: PLC0415
    from reirrad.workflow import WorkflowOptions, run  # noqa: PLC0415
    from tests.plugin.dicom import factory  # noqa: PLC0415 - the synthetic DICOM writer of the tests
    from tps_stubs.direct import DirectCase, DirectPlanner  # noqa: PLC0415

    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    cases = []
    for patient in patients:
        out = folder / patient
        out.mkdir(parents=True)
        case = DirectCase(patient)
        snapshot = case.read()
        planned = run(protocol, snapshot, DirectPlanner(case), WorkflowOptions(intent="limit-toxicity"))
        frame = snapshot.planning_frame_of_reference_uid
        prior = snapshot.prior_courses[0]
        rs = factory.rt_struct(out / "rs.dcm", factory.rois_of_snapshot(snapshot), frame_uid=frame)
        rp_prior = factory.rt_plan(out / "rp_prior.dcm", n_fractions=prior.n_fractions,
                                   prescriptions_gy=(prior.prescription_gy or 45.0,), sop_uid=PRIOR_PLAN_UID,
                                   frame_uid=frame)
        rd_prior = factory.rt_dose_of_grid(out / "rd_prior.dcm", prior.dose, frame_uid=frame,
                                           plan_uid=PRIOR_PLAN_UID, scale_gy=1e-4)
        rp_new = factory.rt_plan(out / "rp_new.dcm", n_fractions=5, prescriptions_gy=(30.0,),
                                 sop_uid=NEW_PLAN_UID, label="SABR_REIRR", frame_uid=frame)
        rd_new = factory.rt_dose_of_grid(out / "rd_new.dcm", planned.final_dose, frame_uid=frame,
                                         plan_uid=NEW_PLAN_UID, scale_gy=1e-4)
        days = prior.interval_days(snapshot.planned_start)
        options = {"structures": str(rs), "prior_dose": str(rd_prior), "prior_plan": str(rp_prior),
                   "new_dose": str(rd_new), "new_plan": str(rp_new), "interval_days": str(days)}
        cases.append(CaseSpec(f"dicom-{patient.lower()}", "evaluate", tuple(sorted(options.items()))))
    return cases


def max_child_rss_mb() -> float:
    """Largest resident set of any finished child process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def time_cohort(cases: Sequence[CaseSpec], workers: int, out: Path) -> Tuple[float, List[CaseRecord]]:
    start = time.perf_counter()
    records = run_cases(cases, out, workers=workers, force=True)
    return time.perf_counter() - start, records


def bench(label: str, slug: str, cases: Sequence[CaseSpec], folder: Path) -> None:
    print(f"\n== {label}: {len(cases)} cases ==")
    print(f"{'workers':>7s} {'wall s':>8s} {'cases/min':>10s} {'speed-up':>9s} {'finished':>9s} "
          f"{'max case RSS MB':>16s} {'load 1 min':>11s}")
    first = None
    for workers in WORKERS:
        wall, records = time_cohort(cases, workers, folder / f"{slug}-{workers}")
        first = wall if first is None else first
        finished = sum(r.finished for r in records)
        failed = [f"{r.case_id}: {r.error}" for r in records if not r.finished]
        print(f"{workers:>7d} {wall:>8.1f} {60.0 * len(cases) / wall:>10.2f} {first / wall:>9.2f} "
              f"{finished:>4d}/{len(records):<4d} {max_child_rss_mb():>16.0f} {os.getloadavg()[0]:>11.1f}")
        for line in failed:
            print(f"        failed: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two patients, dry runs")
    args = parser.parse_args()
    patients = PATIENTS[:2] if args.quick else PATIENTS
    print(f"{os.cpu_count()} cores; patients {', '.join(patients)}")
    with tempfile.TemporaryDirectory(prefix="reirrad-bench-batch-") as tmp:
        folder = Path(tmp)
        bench("stub patients (reirrad plan, raystation-stub" + (", dry run)" if args.quick else ")"), "stub",
              stub_cases(patients, args.quick), folder)
        try:
            cases = dicom_cases(patients, folder / "dicom")
        except ImportError as exc:
            print(f"\nDICOM cohort skipped: {exc} (pip install 'reirrad[dicom]')")
            return
        bench("DICOM cases (reirrad evaluate)", "dicom", cases, folder)


if __name__ == "__main__":
    main()
