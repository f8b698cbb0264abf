"""The isotoxic search on a real open-source dose engine (pyRadPlan), per stub patient, side by side.

For four stub patients, planned by ``reirrad_tps.pyradplan`` (photon IMRT, pencil beam, the
dose-influence matrix computed once per patient and reused for every level):

* the predictive isotoxic search through the workflow (optimisations spent, level chosen, status, the
  wall time of the dose-influence matrix and of each optimisation, the whole run);
* the exhaustive answer: every ladder level optimised independently on the same matrix, the highest whose
  plan meets every cumulative OAR limit and the coverage rule;
* the DVH agreement on the final dose: pyRadPlan's own dose statistics (``pyRadPlan.analysis.DVH`` on its
  binary voxel masks) against reirrad's binless DVH on fractional occupancy (``reirrad.dvh``), for the
  target (D95, Dmean, Dmax) and each matched OAR at its protocol metric.

Run in the pyradplan environment: ``make bench-pyradplan`` (or ``.venv-pyradplan/bin/python
benchmarks/bench_opensource.py [--grid-mm 5] [--beams 7] [--patients LRRC-02 ...]``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from reirrad.cli import DEFAULT_PROTOCOL
from reirrad.dvh import DVH
from reirrad.planstructures import StructureRun
from reirrad.protocol import load_protocol
from reirrad.workflow import WorkflowOptions, evaluate_dose, prepare, run
from reirrad_tps.pyradplan.engine import EngineSession, EngineSettings, engine_version
from reirrad_tps.pyradplan.phantom import build_volume
from reirrad_tps.pyradplan.planner import PyRadPlanPlanner
from tps_stubs.direct import DirectCase

PATIENTS = ("LRRC-01", "LRRC-02", "PROS-01", "GYN-01")


def _case(patient: str, grid_mm: float, settings: EngineSettings) -> Tuple[Any, PyRadPlanPlanner]:
    snapshot = DirectCase(patient, dose_spacing_mm=grid_mm).read()
    n_fx = snapshot.plan.n_fractions or 5
    volume = build_volume(snapshot.dose_grid, snapshot.structures, snapshot.plan.target_id or "PTV")
    session = EngineSession(volume, settings, n_fx)
    return snapshot, PyRadPlanPlanner(session, snapshot.structures, n_fx)


def exhaustive(snapshot: Any, planner: PyRadPlanPlanner, protocol: Any,
               options: WorkflowOptions) -> Tuple[Optional[float], int]:
    """Highest ladder level whose independently optimised plan is feasible, and the optimisations spent."""
    prepared = prepare(protocol, snapshot, options)
    structures = StructureRun(prepared, planner)  # the optimisation structures, as the workflow makes them
    best, count = None, 0
    for level in protocol.prescriptions.isotoxic_ladder_gy:
        planner.set_prescription(level, prepared.n_fractions)
        planner.write_objectives(structures.objectives_at(level))
        planner.optimise()
        count += 1
        evaluation = evaluate_dose(protocol, snapshot, planner.compute_dose(), options, prescription_gy=level,
                                   prepared=prepared).final
        if evaluation is not None and evaluation.feasible:
            best = level
    return best, count


Row = Tuple[str, str, float, float, float]


def dvh_rows(outcome: Any, planner: PyRadPlanPlanner) -> List[Row]:
    """(structure, statistic, pyRadPlan Gy, reirrad Gy on pyRadPlan's mask, reirrad Gy) on the final dose."""
    from pyRadPlan.analysis import DVH as PrpDVH  # noqa: PLC0415, N811

    prepared, dose = outcome.prepared, outcome.final_dose
    masks = planner.session.volume.masks
    voxel_cc = float(np.prod(dose.spacing_mm)) / 1000.0
    rows = []
    values = np.asarray(dose.values_gy)
    target = prepared.target_id
    ours = DVH.from_dose(dose, prepared.target)
    same = DVH.from_dose(dose, masks[target].astype(float))
    theirs = PrpDVH.compute(values, masks[target], num_points=4000)
    voxels = values[masks[target]]
    rows += [(target, "D95", float(theirs.get_dy(95.0)), same.dose_at_volume_pct(95.0),
              ours.dose_at_volume_pct(95.0)),
             (target, "Dmean", float(voxels.mean()), same.mean_gy, ours.mean_gy),
             (target, "Dmax", float(voxels.max()), same.max_gy, ours.max_gy)]
    for key, sid in sorted(prepared.oar_structures.items()):
        if sid not in masks or key not in prepared.oar_occupancy:
            continue
        metric = prepared.protocol.oar(key).de_novo.metric
        ours = DVH.from_dose(dose, prepared.oar_occupancy[key])
        same = DVH.from_dose(dose, masks[sid].astype(float))
        voxels = values[masks[sid]]
        if metric.kind == "volume":
            pct = min(100.0, 100.0 * float(metric.volume_cc or 0.0) / (voxels.size * voxel_cc))
            theirs_gy = float(PrpDVH.compute(values, masks[sid], num_points=4000).get_dy(pct))
        elif metric.kind == "mean":
            theirs_gy = float(voxels.mean())
        else:
            theirs_gy = float(voxels.max())
        rows.append((sid, metric.name, theirs_gy, same.metric_gy(metric), ours.metric_gy(metric)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid-mm", type=float, default=5.0)
    parser.add_argument("--beams", type=int, default=7)
    parser.add_argument("--bixel-mm", type=float, default=10.0)
    parser.add_argument("--patients", nargs="+", default=list(PATIENTS))
    args = parser.parse_args()
    protocol = load_protocol(DEFAULT_PROTOCOL)
    options = WorkflowOptions(intent="isotoxic")
    settings = EngineSettings.with_beams(args.beams, bixel_width_mm=args.bixel_mm)
    print(f"pyRadPlan {engine_version()}: {args.beams} coplanar beams, bixel {args.bixel_mm:g} mm, "
          f"dose grid {args.grid_mm:g} mm; protocol {protocol.name}")
    table = []
    agreement: Dict[str, List[Row]] = {}
    for patient in args.patients:
        print(f"{patient} ...", flush=True)
        start = time.perf_counter()
        snapshot, planner = _case(patient, args.grid_mm, settings)
        outcome = run(protocol, snapshot, planner, options)
        wall = time.perf_counter() - start
        session = planner.session
        per_opt = list(session.optimisation_s)
        agreement[patient] = dvh_rows(outcome, planner)
        best, n_exhaustive = exhaustive(snapshot, planner, protocol, options)
        table.append((patient, session.volume.grid.shape, session.n_bixels, session.dose_influence_s,
                      outcome.optimisations, outcome.search.best_level_gy if outcome.search else None,
                      best, n_exhaustive, outcome.status, float(np.mean(per_opt)), float(np.max(per_opt)),
                      wall))
    print(f"\n{'patient':9s} {'grid zyx':>13s} {'bixels':>6s} {'dij s':>6s} {'opts':>4s} {'best':>6s} "
          f"{'exhaust':>7s} {'(opts)':>6s} {'status':22s} {'s/opt':>6s} {'max s':>6s} {'run s':>6s}")
    for p, shape, bix, dij, n, chosen, best, nx, status, mean_s, max_s, wall in table:
        grid = "x".join(str(v) for v in shape)
        print(f"{p:9s} {grid:>13s} {bix:6d} {dij:6.1f} {n:4d} {chosen!s:>6s} {best!s:>7s} {nx:6d} "
              f"{status:22s} {mean_s:6.2f} {max_s:6.2f} {wall:6.1f}")
    same = sum(1 for row in table if row[5] == row[6])
    print(f"\npredictive = exhaustive on {same}/{len(table)} patients; "
          f"{np.mean([row[4] for row in table]):.2f} optimisations per patient (exhaustive "
          f"{np.mean([row[7] for row in table]):.0f})")
    print("\nDVH agreement on the final dose, Gy: pyRadPlan = analysis.DVH on its own voxel mask (target: "
          "half-inside voxels; OARs: every voxel touched); reirrad/mask = reirrad.dvh on that same mask "
          "(the DVH algorithms alone); reirrad = reirrad.dvh on fractional occupancy (what the workflow "
          "evaluates)")
    print(f"{'patient':9s} {'structure':14s} {'stat':7s} {'pyRadPlan':>9s} {'r/mask':>7s} {'diff':>6s} "
          f"{'reirrad':>8s} {'diff':>6s}")
    for patient, rows in agreement.items():
        for sid, stat, theirs, same, ours in rows:
            print(f"{patient:9s} {sid:14s} {stat:7s} {theirs:9.2f} {same:7.2f} {theirs - same:+6.2f} "
                  f"{ours:8.2f} {theirs - ours:+6.2f}")


if __name__ == "__main__":
    main()
