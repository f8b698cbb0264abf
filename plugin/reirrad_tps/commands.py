"""Command-line commands contributed by the TPS side (entry-point group ``reirrad.commands``).

``reirrad stub-patients`` lists the stand-in patients. The TPS workflow commands (``plan``,
``evaluate``) will register here too.
"""

from __future__ import annotations

import argparse
from typing import Any

from reirrad.cli import write_json
from tps_stubs.patients import DEFAULT_PATIENT, list_patients

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add this package's sub-commands to the ``reirrad`` parser."""
    p = sub.add_parser("stub-patients", help="list the stub patients of the TPS stand-ins")
    p.add_argument("--json", metavar="PATH", help="write the list as JSON")
    p.set_defaults(handler=_stub_patients)


def _stub_patients(args: argparse.Namespace) -> int:
    rows = []
    for summary in list_patients():
        marker = " (default)" if summary.id == DEFAULT_PATIENT else ""
        print(f"{summary.id:10s} {summary.description}{marker}")
        rows.append({"id": summary.id, "description": summary.description, "path": str(summary.path),
                     "default": summary.id == DEFAULT_PATIENT})
    write_json(args.json, {"patients": rows})
    return 0
