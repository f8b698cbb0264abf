"""Optimisations spent by the isotoxic search, per stub patient, side by side.

For every stub patient (TPS-less direct stand-in, so only the engine's search is measured):
the predictive search, the naive ladder (every level from the floor up until a failure), and the
exhaustive answer (every level optimised independently; the highest feasible level). Prints the
number of optimisations and the chosen level of each, and the averages. Targets:
≤ 3 optimisations per patient on average for the predictive search, and the same level as the
exhaustive search on every patient. Nothing is asserted.
"""

from __future__ import annotations

import time
from typing import List, Optional

from reirrad.errors import EligibilityError
from reirrad.protocol import load_protocol
from reirrad.workflow import WorkflowOptions, prepare, run
from tps_stubs.direct import DirectCase, DirectPlanner
from tps_stubs.patients import list_patients


def exhaustive(case: DirectCase, protocol, options: WorkflowOptions) -> Optional[float]:
    """Highest level whose independently optimised plan is feasible."""
    from reirrad.workflow import _evaluate  # noqa: PLC0415 - benchmark-only access

    prepared = prepare(protocol, case.read(), options)
    best = None
    for level in protocol.prescriptions.isotoxic_ladder_gy:
        planner = DirectPlanner(case)
        planner.set_prescription(level, prepared.n_fractions)
        planner.write_objectives(prepared.objectives_at(level))
        planner.optimise()
        if _evaluate(prepared, planner.compute_dose(), level).feasible:
            best = level
    return best


def main() -> None:
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    rows: List[tuple] = []
    print(f"{'patient':10s} {'predictive':>16s} {'ladder':>16s} {'exhaustive':>11s}  same?  seconds")
    for summary in list_patients():
        case = DirectCase(summary.id)
        t0 = time.perf_counter()
        try:
            pred = run(protocol, case.read(), DirectPlanner(case), WorkflowOptions(search="predictive"))
        except EligibilityError:
            print(f"{summary.id:10s} eligibility stop (interval under 6 months): not planned")
            continue
        ladder = run(protocol, case.read(), DirectPlanner(case), WorkflowOptions(search="ladder"))
        best = exhaustive(case, protocol, WorkflowOptions())
        elapsed = time.perf_counter() - t0
        same = pred.search.best_level_gy == best
        rows.append((pred.optimisations, ladder.optimisations, same))

        def level(x: Optional[float]) -> str:
            return "none" if x is None else f"{x:g} Gy"

        print(f"{summary.id:10s} {pred.optimisations:3d} ({level(pred.search.best_level_gy):>8s}) "
              f"{ladder.optimisations:4d} ({level(ladder.search.best_level_gy):>8s}) {level(best):>11s}  "
              f"{'yes' if same else 'NO':5s}  {elapsed:6.1f}")
    n = len(rows)
    print(f"\naverage optimisations over {n} planned patients: predictive "
          f"{sum(r[0] for r in rows) / n:.2f}, ladder {sum(r[1] for r in rows) / n:.2f} (target <= 3); "
          f"same level as exhaustive on {sum(r[2] for r in rows)}/{n}")


if __name__ == "__main__":
    main()
