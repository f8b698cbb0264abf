"""``python -m reirrad_tps.raystation.selfcheck``: versions, then a dry run on a stub patient.

Run it with RayStation's own interpreter after installing (``install/raystation/README.md``): it
prints the Python, numpy, PyYAML and reirrad versions, then runs the workflow as a dry run on the
stub patient LRRC-01 in the RayStation stand-in and prints the per-OAR allowed doses. Exit 0 when
everything worked.
"""

from __future__ import annotations

import platform
import sys
from typing import List, Optional, Sequence

import numpy as np
import yaml

import reirrad

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print versions and run the stub dry run; returns the exit code."""
    args: List[str] = list(argv) if argv is not None else sys.argv[1:]
    version = args[0] if args else "2024B"
    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"numpy {np.__version__}, PyYAML {yaml.__version__}, reirrad {reirrad.__version__}")
    from reirrad.protocol import load_protocol  # noqa: PLC0415 - after the version lines
    from reirrad.workflow import WorkflowOptions  # noqa: PLC0415

    from ..planrun import plan_on_stub  # noqa: PLC0415

    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    result = plan_on_stub("raystation-stub", version, "LRRC-01", protocol, WorkflowOptions(dry_run=True))
    for oar in result["oars"]:
        print(f"  {oar['name']:15s} allowed {oar['allowed_physical_gy']:6.2f} Gy ({oar['limited_by']})")
    print(f"self-check: {result['status']} on stub patient LRRC-01 (RayStation stand-in {version})")
    return 0 if result["status"] == "dry-run" else 1


if __name__ == "__main__":
    sys.exit(main())
