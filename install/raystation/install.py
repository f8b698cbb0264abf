"""Install reirrad into RayStation's CPython (offline, from a wheel), self-check, or roll back.

Usage (on the RayStation workstation, in a shell with write access to RayStation's Python)::

    python install.py --python "<RayStation folder>\\CPython\\python.exe" \\
        --wheelhouse D:\\reirrad-wheels            # folder with reirrad-*.whl and its dependencies
    python install.py --python ... --self-check      # versions, the engine, the adapter's modules
    python install.py --python ... --uninstall       # rollback

``--print-only`` prints the commands without running them. pip runs with ``--no-index`` so nothing
is downloaded: build the wheelhouse on a connected Windows x64 machine (numpy and PyYAML are platform
wheels) with ``pip wheel . -w wheelhouse`` (same Python version as RayStation's: 3.8 for 11B/12A, 3.11
for 2024B).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import List, Optional, Sequence


def commands(python: str, *, wheelhouse: Optional[str], self_check: bool, uninstall: bool,
             version: str) -> List[List[str]]:
    """The commands to run, in order."""
    if uninstall:
        return [[python, "-m", "pip", "uninstall", "-y", "reirrad"]]
    out: List[List[str]] = []
    if wheelhouse:
        out.append([python, "-m", "pip", "install", "--no-index", "--find-links", wheelhouse, "--upgrade",
                    "reirrad"])
    if self_check or wheelhouse:
        out.append([python, "-m", "reirrad_tps.raystation.selfcheck", version])
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the arguments and run (or print) the commands."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="RayStation's python.exe")
    parser.add_argument("--wheelhouse", help="folder with the reirrad wheel and its dependencies")
    parser.add_argument("--self-check", action="store_true")
    parser.add_argument("--uninstall", action="store_true")
    parser.add_argument("--version", default="2024B", help="RayStation release for the self-check")
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args(argv)
    todo = commands(args.python, wheelhouse=args.wheelhouse, self_check=args.self_check,
                    uninstall=args.uninstall, version=args.version)
    if not todo:
        parser.error("nothing to do: give --wheelhouse, --self-check or --uninstall")
    for cmd in todo:
        print(" ".join(f'"{c}"' if " " in c else c for c in cmd))
        if not args.print_only:
            code = subprocess.call(cmd)
            if code != 0:
                print(f"install.py: step failed with exit code {code}; nothing further was run",
                      file=sys.stderr)
                return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
