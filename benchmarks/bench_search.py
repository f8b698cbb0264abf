"""Optimisations spent by the isotoxic search, per stub patient, side by side, on the stand-in optimiser.

For every stub patient (TPS-less direct stand-in, so only the engine's search is measured; the
stand-in optimiser of ``tps_stubs/planner.py``: soft weighted objectives, level-to-level variation):
the predictive search, the naive ladder (every level from the floor up until a failure), and the
exhaustive answer (every level optimised independently; the highest feasible level). Prints the
number of optimisations (including the workflow's re-optimisation at the chosen level, and any
re-check, and the optimisations of a step down after a failed final check) and the level each
search chose, the level the predictive run left the plan at (``left at``: lower than the search's
when its final check stepped down), the averages, and the largest excess of the predictive search
over the ladder. Run twice: without noise, and with 1 % noise between runs
(``tps_stubs.planner.set_noise``, seed 11), where every optimisation — the exhaustive scan's too —
gives a different dose. Targets (issue 18): ≤ 3 optimisations per patient on average for the
predictive search, the same level as the exhaustive search on every patient, and never more than
the ladder plus one. Nothing is asserted.

``--coverage`` prints instead, for every stub patient, the coverage model's predicted V95 at each level
(``reirrad.search.predicted_coverage_pct`` from the floor plan) above the V95 of a plan optimised
independently at that level ("!" marks an infeasible plan), and the level the model predicts.

Usage: ``python benchmarks/bench_search.py [--noise-only | --no-noise | --coverage]``
"""

from __future__ import annotations

import sys
import time
from typing import List, Optional, Tuple

from reirrad.errors import EligibilityError
from reirrad.protocol import Protocol, load_protocol
from reirrad.search import PREDICTION_MARGIN_PCT, predict_level_index, predicted_coverage_pct
from reirrad.workflow import WorkflowOptions, _evaluate, prepare, run
from tps_stubs import planner as stand_in
from tps_stubs.direct import DirectCase, DirectPlanner
from tps_stubs.patients import list_patients


def exhaustive(case: DirectCase, protocol: Protocol, options: WorkflowOptions) -> Optional[float]:
    """Highest level whose independently optimised plan is feasible."""
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


def coverage_table(protocol: Protocol) -> None:
    """Predicted against achieved V95, level by level, without noise."""
    levels = list(protocol.prescriptions.isotoxic_ladder_gy)
    need = protocol.coverage_rule.ptv_v95_min_percent.value + PREDICTION_MARGIN_PCT
    print(f"V95 (%) predicted from the floor plan / achieved by a plan optimised at the level; "
          f"a level is predicted when its prediction reaches {need:g} %")
    print(f"{'patient':10s} {'':9s}" + "".join(f"{level:>8g}" for level in levels) + "  predicted level")
    for summary in list_patients():
        case = DirectCase(summary.id)
        try:
            prepared = prepare(protocol, case.read(), WorkflowOptions())
        except EligibilityError:
            continue
        achieved: List[str] = []
        floor_dose = None
        for level in levels:
            planner = DirectPlanner(case)
            planner.set_prescription(level, prepared.n_fractions)
            planner.write_objectives(prepared.objectives_at(level))
            planner.optimise()
            dose = planner.compute_dose()
            floor_dose = dose if floor_dose is None else floor_dose
            ev = _evaluate(prepared, dose, level)
            achieved.append(f"{ev.target.v95_pct:7.1f}{' ' if ev.feasible else '!'}")
        assert floor_dose is not None
        caps = [(prepared.oar_occupancy[o.oar_key], o.dose_gy) for o in prepared.oar_objectives
                if o.kind == "upper" and o.oar_key is not None]
        predicted = predicted_coverage_pct(levels, floor_dose, prepared.target, caps)
        index = predict_level_index(levels, floor_dose, prepared.target, caps,
                                    protocol.coverage_rule.ptv_v95_min_percent.value)
        print(f"{summary.id:10s} predicted" + "".join(f"{c:7.1f} " for c in predicted)
              + f"  {levels[index]:g} Gy")
        print(f"{'':10s} achieved " + "".join(achieved))


def _level(x: Optional[float]) -> str:
    return "none" if x is None else f"{x:g} Gy"


def one_pass(protocol: Protocol, noise_pct: float) -> None:
    """One table: every stub patient, with the given noise between runs."""
    stand_in.set_noise(noise_pct, seed=11)
    rows: List[Tuple[int, int, bool]] = []
    print(f"\n== noise between runs: {noise_pct:g} % ==")
    print(f"{'patient':10s} {'predictive':>16s} {'ladder':>16s} {'exhaustive':>11s}  same?  "
          f"{'status':15s} {'left at':>8s} seconds")
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
        assert pred.search is not None and ladder.search is not None
        same = pred.search.best_level_gy == best
        rows.append((pred.optimisations, ladder.optimisations, same))
        print(f"{summary.id:10s} {pred.optimisations:3d} ({_level(pred.search.best_level_gy):>8s}) "
              f"{ladder.optimisations:4d} ({_level(ladder.search.best_level_gy):>8s}) {_level(best):>11s}  "
              f"{'yes' if same else 'NO':5s}  {pred.status:15s} "
              f"{_level(pred.final.prescription_gy if pred.final else None):>8s} {elapsed:6.1f}")
    n = len(rows)
    print(f"average optimisations over {n} planned patients: predictive "
          f"{sum(r[0] for r in rows) / n:.2f}, ladder {sum(r[1] for r in rows) / n:.2f} (target <= 3); "
          f"same level as exhaustive on {sum(r[2] for r in rows)}/{n}; "
          f"largest excess over the ladder {max(r[0] - r[1] for r in rows):+d} (bound +1)")
    stand_in.set_noise(0.0)


def main() -> None:
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    choice = sys.argv[1] if len(sys.argv) > 1 else ""
    if choice == "--coverage":
        coverage_table(protocol)
        return
    noises = {"--noise-only": [1.0], "--no-noise": [0.0]}.get(choice, [0.0, 1.0])
    for noise in noises:
        one_pass(protocol, noise)


if __name__ == "__main__":
    main()
