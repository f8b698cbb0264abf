"""What optimisation structures change, per stub patient, side by side, on the stand-in optimiser.

For every stub patient (TPS-less direct stand-in, ``tps_stubs.direct``; the stand-in optimiser of
``tps_stubs/planner.py``, whose trade-offs are a model, not a measurement of Eclipse or RayStation), three
isotoxic runs: the target's coverage objective on the clinician's PTV ("PTV"); with the optimisation
structures of the protocol (coverage objective on ``PTV_opt`` = PTV minus the PRVs of the OARs near it whose
allowed dose is below the level; "PTV_opt"); and with those plus spatial objectives ("+spatial": the
low-tolerance part of each OAR, where the prior dose exceeded the prior metric dose, made a structure with
a maximum objective at its own allowed dose, :mod:`reirrad.spatial`). Prints, for each: the status and the
level reached, the PTV's V95 and D95, the optimisation target's and the compromised region's V95 and
volume, the limiting OARs, the highest cumulative load among the OARs (cumulative EQD2 / limit, deciding
method), the low-tolerance regions' volume and the plan's maximum dose in them against their allowed dose
(the same regions in all three runs), and the number of optimisations. Nothing is asserted (issue 20
item 5).

**Reading it**: the stand-in's sequencing perturbation (±1.5 % of the dose, seeded by the objectives) changes
with any change of objectives, so a level or a V95 that differs by a few per cent between two columns is
not attributable to the objectives without more evidence.

``--backend pyradplan`` plans on the open-source backend instead (``reirrad_tps.pyradplan``: pyRadPlan's
pencil-beam dose and fluence optimisation, one dose-influence matrix per patient shared by the three runs;
run it in ``.venv-pyradplan``; ``--grid-mm`` 5 and 7 beams by default as ``bench_opensource.py``). There
"PTV" is a copy of the protocol with ``optimisation_structures.enabled`` false; pyRadPlan's overlap
priorities are off in all three runs (docs/optimisation-structures.md, "Open-source backend").

``--deciding METHOD`` plans under a copy of the protocol whose ``cumulative.deciding_method`` is METHOD
(``metric-sum``, the shipped choice; ``voxel-wise``; ``both``).

Usage: ``python benchmarks/bench_spatial.py [--deciding METHOD] [--backend direct|pyradplan] [--grid-mm MM]
[PATIENT ...]`` (default: every stub patient; on pyradplan LRRC-01 LRRC-02 PROS-01 GYN-01).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from reirrad.errors import EligibilityError
from reirrad.protocol import DECIDING_METHODS, Protocol, load_protocol
from reirrad.result import build_result
from reirrad.spatial import low_tolerance_regions
from reirrad.workflow import WorkflowOptions, run
from tps_stubs.direct import DirectCase, DirectPlanner
from tps_stubs.patients import list_patients


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _load(result: Dict[str, Any]) -> Optional[float]:
    """Highest cumulative EQD2 / limit over the OARs with a limit (metric method)."""
    loads = [o["cumulative_eqd2_gy"] / o["check_limit_eqd2_gy"] for o in result["oars"]
             if o.get("cumulative_eqd2_gy") is not None and o.get("check_limit_eqd2_gy")]
    return max(loads) if loads else None


PYRADPLAN_PATIENTS = ("LRRC-01", "LRRC-02", "PROS-01", "GYN-01")
CONFIGS = (("PTV", False, "standard"), ("PTV_opt", True, "standard"), ("+spatial", True, "spatial"))


def _low_tolerance(workflow: Any) -> str:
    """The low-tolerance region (over every OAR that has one) where the final plan comes closest to, or
    goes furthest beyond, the dose allowed there: ``OAR Dmax/allowed`` in Gy, and how many regions there
    are, e.g. ``bladder 22.0/20.3 (4)``; ``-`` without any."""
    regions = low_tolerance_regions(workflow.prepared)
    if not regions or workflow.final_dose is None:
        return "-"
    values = workflow.final_dose.values_gy
    worst = max(((float(values[r.voxels].max()), r) for r in regions),
                key=lambda pair: pair[0] / pair[1].allowed_physical_gy)
    return f"{worst[1].oar_key} {worst[0]:.1f}/{worst[1].allowed_physical_gy:.1f} ({len(regions)})"


def _pyradplan(patient: str, grid_mm: float) -> Callable[[], Tuple[Any, Any]]:
    """A factory of (snapshot, planner) on one pyRadPlan session per patient (the dose-influence matrix
    computed once, as ``bench_opensource.py``)."""
    from reirrad_tps.pyradplan.engine import EngineSession, EngineSettings  # noqa: PLC0415 - its own venv
    from reirrad_tps.pyradplan.phantom import build_volume  # noqa: PLC0415
    from reirrad_tps.pyradplan.planner import PyRadPlanPlanner  # noqa: PLC0415

    snapshot = DirectCase(patient, dose_spacing_mm=grid_mm).read()
    n_fx = snapshot.plan.n_fractions or 5
    volume = build_volume(snapshot.dose_grid, snapshot.structures, snapshot.plan.target_id or "PTV")
    session = EngineSession(volume, EngineSettings.with_beams(7), n_fx)
    return lambda: (snapshot, PyRadPlanPlanner(session, snapshot.structures, n_fx))


def one(protocol: Protocol, patient: str, config: Any,
        backend: Optional[Callable[[], Tuple[Any, Any]]] = None) -> List[str]:
    label, structures, mode = config
    started = time.perf_counter()
    if backend is None:
        case = DirectCase(patient)
        snapshot, planner = case.read(), DirectPlanner(case, make_structures=structures)
    else:
        snapshot, planner = backend()
        if not structures:
            assert protocol.optimisation_structures is not None
            protocol = dataclasses.replace(protocol, optimisation_structures=dataclasses.replace(
                protocol.optimisation_structures, enabled=False))
    try:
        workflow = run(protocol, snapshot, planner, WorkflowOptions(objectives=mode))
    except EligibilityError as exc:
        return [patient, label, "stopped", str(exc.findings[0].code)]
    result = build_result(workflow)
    target = result["target"] or {}
    regions = result.get("target_regions") or {}
    opt = regions.get("optimisation_target") or {}
    bad = regions.get("compromised") or {}
    return [patient, label, result["status"], _fmt(result["prescription_gy"]),
            _fmt(target.get("v95_pct")), _fmt(target.get("d95_gy"), 2), _fmt(opt.get("v95_pct")),
            _fmt(opt.get("volume_cc")), _fmt(bad.get("v95_pct")), _fmt(bad.get("volume_cc")),
            ",".join(result["limiting_oars"]) or "-", _fmt(_load(result), 3), _low_tolerance(workflow),
            str(result["optimisations"]["count"]), f"{time.perf_counter() - started:.0f}"]


def main(argv: List[str]) -> int:
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deciding", choices=DECIDING_METHODS, default=None)
    parser.add_argument("--backend", choices=("direct", "pyradplan"), default="direct")
    parser.add_argument("--grid-mm", type=float, default=5.0, help="pyradplan dose grid, mm (default 5)")
    parser.add_argument("patients", nargs="*")
    args = parser.parse_args(argv)
    if args.deciding is not None:
        protocol = dataclasses.replace(protocol, cumulative=dataclasses.replace(
            protocol.cumulative, deciding_method=args.deciding))
    default = PYRADPLAN_PATIENTS if args.backend == "pyradplan" else [p.id for p in list_patients()]
    patients = args.patients or list(default)
    header = ["patient", "coverage on", "status", "level", "PTV V95", "PTV D95", "opt V95", "opt cc",
              "compr V95", "compr cc", "limiting", "max load", "low-tol Dmax/allowed", "optims", "s"]
    widths = [10, 11, 20, 6, 8, 8, 8, 7, 9, 8, 24, 8, 27, 6, 4]
    where = (f"pyRadPlan (open-source backend, 7 beams, {args.grid_mm:g} mm grid)"
             if args.backend == "pyradplan" else "the stand-in optimiser (TPS-less)")
    print(f"Isotoxic runs on {where}: coverage objective on the PTV, on PTV_opt, and on PTV_opt with spatial "
          f"objectives; deciding method {protocol.cumulative.deciding_method}")
    print(" ".join(h.ljust(w) for h, w in zip(header, widths)))
    for patient in patients:
        backend = _pyradplan(patient, args.grid_mm) if args.backend == "pyradplan" else None
        for config in CONFIGS:
            row = one(protocol, patient, config, backend)
            print(" ".join(c.ljust(w) for c, w in zip(row, widths)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
