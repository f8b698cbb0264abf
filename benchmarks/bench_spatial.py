"""What optimisation structures change, per stub patient, side by side, on the stand-in optimiser.

For every stub patient (TPS-less direct stand-in, ``tps_stubs.direct``; the stand-in optimiser of
``tps_stubs/planner.py``, whose trade-offs are a model, not a measurement of Eclipse or RayStation), one
isotoxic run with the target's coverage objective on the clinician's PTV ("PTV") and one with the
optimisation structures of the protocol (coverage objective on ``PTV_opt`` = PTV minus the PRVs of the OARs
near it whose allowed dose is below the level; "PTV_opt"). Prints, for each: the status and the level
reached, the PTV's V95 and D95, the optimisation target's and the compromised region's V95 and volume, the
limiting OARs and the highest cumulative load among the OARs (cumulative EQD2 / limit, metric method), and
the number of optimisations. Nothing is asserted (issue 20 item 5).

Not measured yet: spatial objectives (issue 20 item 3, ``--objectives spatial``: not implemented), and the
open-source backend (``--tps pyradplan``: it makes no optimisation structures yet).

``--deciding METHOD`` plans under a copy of the protocol whose ``cumulative.deciding_method`` is METHOD
(``metric-sum``, the shipped choice; ``voxel-wise``; ``both``).

Usage: ``python benchmarks/bench_spatial.py [--deciding METHOD] [PATIENT ...]`` (default: every stub
patient).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Dict, List, Optional

from reirrad.errors import EligibilityError
from reirrad.protocol import DECIDING_METHODS, Protocol, load_protocol
from reirrad.result import build_result
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


def one(protocol: Protocol, patient: str, structures: bool) -> List[str]:
    case = DirectCase(patient)
    started = time.perf_counter()
    try:
        workflow = run(protocol, case.read(), DirectPlanner(case, make_structures=structures),
                       WorkflowOptions())
    except EligibilityError as exc:
        return [patient, "PTV_opt" if structures else "PTV", "stopped", str(exc.findings[0].code)]
    result = build_result(workflow)
    target = result["target"] or {}
    regions = result.get("target_regions") or {}
    opt = regions.get("optimisation_target") or {}
    bad = regions.get("compromised") or {}
    return [patient, "PTV_opt" if structures else "PTV", result["status"], _fmt(result["prescription_gy"]),
            _fmt(target.get("v95_pct")), _fmt(target.get("d95_gy"), 2), _fmt(opt.get("v95_pct")),
            _fmt(opt.get("volume_cc")), _fmt(bad.get("v95_pct")), _fmt(bad.get("volume_cc")),
            ",".join(result["limiting_oars"]) or "-", _fmt(_load(result), 3),
            str(result["optimisations"]["count"]), f"{time.perf_counter() - started:.0f}"]


def main(argv: List[str]) -> int:
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    if argv[:1] == ["--deciding"]:
        if len(argv) < 2 or argv[1] not in DECIDING_METHODS:
            print(f"--deciding needs one of {list(DECIDING_METHODS)}", file=sys.stderr)
            return 2
        protocol = dataclasses.replace(protocol, cumulative=dataclasses.replace(
            protocol.cumulative, deciding_method=argv[1]))
        argv = argv[2:]
    patients = argv or [p.id for p in list_patients()]
    header = ["patient", "coverage on", "status", "level", "PTV V95", "PTV D95", "opt V95", "opt cc",
              "compr V95", "compr cc", "limiting", "max load", "optims", "s"]
    widths = [10, 11, 20, 6, 8, 8, 8, 7, 9, 8, 24, 8, 6, 4]
    print("Isotoxic runs on the stand-in optimiser (TPS-less), coverage objective on the PTV or on PTV_opt; "
          f"deciding method {protocol.cumulative.deciding_method}")
    print(" ".join(h.ljust(w) for h, w in zip(header, widths)))
    for patient in patients:
        for structures in (False, True):
            row = one(protocol, patient, structures)
            print(" ".join(c.ljust(w) for c, w in zip(row, widths)), flush=True)
    print("Spatial objectives (issue 20 item 3): not implemented, not measured.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
