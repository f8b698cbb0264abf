"""Compile the ESAPI stand-in assemblies with Mono's C# compiler (``mcs``).

Run as ``python3 tps_stubs/esapi/_build.py [--force]`` (what ``make stubs`` does) or call
:func:`build_assemblies`. Standard library only, so it runs before the project is installed.

Three assemblies are built into ``tps_stubs/esapi/build/`` (git-ignored):

- ``VMS.TPS.Common.Model.Types.dll`` from ``src/Types``: value types, enums, option classes;
- ``VMS.TPS.Common.Model.API.dll`` from ``src/API``: the object model (references Types);
- ``Reirrad.EsapiStubBuilder.dll`` from ``src/Builder``: the construction / configuration API that the
  two ESAPI assemblies open to it with ``InternalsVisibleTo`` (not part of ESAPI).

The build is skipped when every assembly is newer than every source file and this script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

__all__ = ["ASSEMBLIES", "BUILD_DIR", "SOURCE_DIR", "BuildError", "build_assemblies", "is_up_to_date"]

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE / "src"
BUILD_DIR = HERE / "build"

#: (assembly simple name, source folder, references to earlier assemblies, extra mcs options)
_PLAN: Tuple[Tuple[str, str, Tuple[str, ...], Tuple[str, ...]], ...] = (
    ("VMS.TPS.Common.Model.Types", "Types", (), ()),
    # CS0649: fields that only Reirrad.EsapiStubBuilder assigns (through InternalsVisibleTo).
    # -unsafe: Voxels.CopyPlane (GetVoxels) copies through pointers.
    ("VMS.TPS.Common.Model.API", "API", ("VMS.TPS.Common.Model.Types",), ("-nowarn:0649", "-unsafe")),
    ("Reirrad.EsapiStubBuilder", "Builder", ("VMS.TPS.Common.Model.Types", "VMS.TPS.Common.Model.API"), ()),
)
ASSEMBLIES: Dict[str, Path] = {name: BUILD_DIR / f"{name}.dll" for name, _, _, _ in _PLAN}

_NO_MCS = ("Mono's C# compiler 'mcs' was not found on PATH. Install it with 'apt-get install -y "
           "mono-devel' (Debian/Ubuntu, as root; .ci/run does this), then run 'make stubs'.")


class BuildError(RuntimeError):
    """The stand-in assemblies could not be built (message says why and what to do)."""


def _sources(folder: str) -> List[Path]:
    return sorted((SOURCE_DIR / folder).glob("*.cs"))


def is_up_to_date() -> bool:
    """True when every assembly exists and is newer than every source file and this script."""
    inputs = [Path(__file__).resolve()] + [p for _, folder, _, _ in _PLAN for p in _sources(folder)]
    newest_input = max(p.stat().st_mtime_ns for p in inputs)
    return all(p.is_file() and p.stat().st_mtime_ns >= newest_input for p in ASSEMBLIES.values())


def build_assemblies(force: bool = False, quiet: bool = False) -> Dict[str, Path]:
    """Build the three assemblies (unless up to date) and return their paths by simple name.

    Parameters
    ----------
    force : bool
        Rebuild even when up to date.
    quiet : bool
        Print nothing on success.

    Raises
    ------
    BuildError
        ``mcs`` is missing, or compilation failed (the compiler output is in the message).
    """
    if not force and is_up_to_date():
        if not quiet:
            print(f"ESAPI stand-in assemblies up to date in {BUILD_DIR}")
        return dict(ASSEMBLIES)
    mcs = shutil.which("mcs")
    if mcs is None:
        raise BuildError(_NO_MCS)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD_DIR, prefix=".tmp-") as tmp:
        staging = Path(tmp)
        for name, folder, refs, options in _PLAN:
            out = staging / f"{name}.dll"
            cmd = [mcs, "-target:library", "-optimize+", "-debug-", "-warnaserror+", "-nologo",
                   f"-out:{out}", "-r:System.Core.dll", *options]
            cmd += [f"-r:{staging / (ref + '.dll')}" for ref in refs]
            cmd += [str(p) for p in _sources(folder)]
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, check=False)
            if proc.returncode != 0:
                raise BuildError(f"mcs failed building {name}.dll:\n{proc.stdout}")
        for name, target in ASSEMBLIES.items():
            os.replace(staging / f"{name}.dll", target)
    if not quiet:
        print(f"built {', '.join(p.name for p in ASSEMBLIES.values())} in {BUILD_DIR}")
    return dict(ASSEMBLIES)


def main(argv: List[str]) -> int:
    """Command line: ``_build.py [--force]``; exit 1 with the reason on failure."""
    try:
        build_assemblies(force="--force" in argv)
    except BuildError as exc:
        print(f"make stubs: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
