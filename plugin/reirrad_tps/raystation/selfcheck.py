"""``python -m reirrad_tps.raystation.selfcheck``: versions, the engine on a closed form, the adapter.

Run it with RayStation's own interpreter after installing (``install/raystation/README.md``). It prints
the Python, numpy, PyYAML and reirrad versions, then checks, on that interpreter:

1. **the engine**: the shipped protocol loads and the small bowel's allowed dose after 45 Gy/25 two
   years before (730 days, 50 % recovery) is the closed form 5·(−3 + √202.6)/2 = 28.08 Gy in 5 fractions
   (:func:`reirrad.constraints.remaining_tolerance`'s worked example: EQD2₃ 43.2 → 21.6 effective,
   70 − 21.6 = 48.4 Gy remaining);
2. **the adapter**: every module of :mod:`reirrad_tps.raystation` imports (syntax and dependencies of
   this Python, e.g. 3.8 in RayStation 11B; none imports ``connect`` at import time);
3. where the TPS stand-ins are installed (a development environment only: the clinical wheel leaves
   them out), a dry run on the stub patient LRRC-01 in the RayStation stand-in.

Until 2026-12-07 the self-check was the stand-in dry run alone, so on a clinical install, where the
stand-ins are absent by design, it always failed and ``install.py`` reported the installation as failed
(a deployment review's finding). Exit 0 when every check that could run passed, 1 otherwise.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import platform
import sys
from typing import List, Optional, Sequence

import numpy as np
import yaml

import reirrad

__all__ = ["EXPECTED_ALLOWED_GY", "main"]

#: The engine check's closed form, Gy (module docstring, item 1).
EXPECTED_ALLOWED_GY = 5.0 * (-3.0 + math.sqrt(202.6)) / 2.0


def _engine_ok() -> bool:
    from reirrad.constraints import PriorMetricDose, remaining_tolerance  # noqa: PLC0415 - after versions
    from reirrad.protocol import load_protocol  # noqa: PLC0415

    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    bowel = remaining_tolerance(protocol, "small_bowel", [PriorMetricDose(45.0, 25, 730)], 5)
    got = bowel.allowed_physical_gy
    ok = abs(got - EXPECTED_ALLOWED_GY) <= 1e-9
    print(f"engine: small bowel after 45 Gy/25 at 730 days allows {got:.2f} Gy in 5 fractions "
          f"(closed form {EXPECTED_ALLOWED_GY:.2f}): {'ok' if ok else 'WRONG'}")
    return ok


def _adapter_ok() -> bool:
    package = importlib.import_module("reirrad_tps.raystation")
    failed = []
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name != "selfcheck")
    for name in names:
        try:
            importlib.import_module(f"reirrad_tps.raystation.{name}")
        except Exception as exc:  # every failure is reported by name; none stops the others
            failed.append(f"{name} ({type(exc).__name__}: {exc})")
    print(f"adapter: {len(names) - len(failed)} of {len(names)} modules of reirrad_tps.raystation import"
          + (": FAILED " + "; ".join(failed) if failed else ""))
    return not failed


def _stand_in_ok(version: str) -> Optional[bool]:
    """The stand-in dry run, or None when the stand-ins are not installed (a clinical install)."""
    from ..planrun import plan_on_stub, stand_ins_installed  # noqa: PLC0415

    if not stand_ins_installed():
        print("stand-in dry run: skipped (the TPS stand-ins are not installed, as in a clinical install)")
        return None
    from reirrad.protocol import load_protocol  # noqa: PLC0415
    from reirrad.workflow import WorkflowOptions  # noqa: PLC0415

    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    result = plan_on_stub("raystation-stub", version, "LRRC-01", protocol, WorkflowOptions(dry_run=True))
    for oar in result["oars"]:
        print(f"  {oar['name']:15s} allowed {oar['allowed_physical_gy']:6.2f} Gy ({oar['limited_by']})")
    print(f"stand-in dry run: {result['status']} on stub patient LRRC-01 (RayStation stand-in {version})")
    return bool(result["status"] == "dry-run")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print versions and run the checks (module docstring); returns the exit code."""
    args: List[str] = list(argv) if argv is not None else sys.argv[1:]
    version = args[0] if args else "2024B"
    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"numpy {np.__version__}, PyYAML {yaml.__version__}, reirrad {reirrad.__version__}")
    results = [_engine_ok(), _adapter_ok(), _stand_in_ok(version)]
    ok = all(r is not False for r in results)
    print(f"self-check: {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
