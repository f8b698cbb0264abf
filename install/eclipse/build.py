"""Build the Eclipse launch chain with Mono's ``mcs`` against the ESAPI stand-in (``make eclipse-host``).

Run with the project's Python (the one pythonnet is installed in)::

    .venv/bin/python install/eclipse/build.py [--force]

Output in ``install/eclipse/build/`` (git-ignored):

- ``ReirradHost.exe`` (``src/ReirradHost``): the write-enabled stand-alone host that embeds Python;
- ``Reirrad.Launcher.esapi.dll`` (``src/Launcher``): the Scripts-menu plug-in that starts the host;
- copies of what they load, as a deployment folder holds them: ``Python.Runtime.dll`` (from the
  installed pythonnet) and the stand-in ``VMS.TPS.Common.Model.API.dll`` / ``…Types.dll`` (on a real
  Eclipse workstation these come from the Eclipse installation instead: see README.md);
- ``ReirradHost.ini``: this machine's Python (``python_dll`` = the interpreter's shared library,
  ``python_executable`` = this interpreter, so that the host sees the same environment).

On Windows with the real ESAPI, build the ``.csproj`` files instead (README.md). The build is skipped
when every output is newer than every input.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SOURCE_DIR = HERE / "src"
BUILD_DIR = HERE / "build"
HOST = BUILD_DIR / "ReirradHost.exe"
LAUNCHER = BUILD_DIR / "Reirrad.Launcher.esapi.dll"
CONFIG = BUILD_DIR / "ReirradHost.ini"

sys.path.insert(0, str(ROOT / "tps_stubs" / "esapi"))
from _build import ASSEMBLIES, BuildError, build_assemblies  # noqa: E402 - the stand-in's builder

__all__ = ["BUILD_DIR", "CONFIG", "HOST", "LAUNCHER", "BuildError", "build", "python_library"]

_ESAPI = ("VMS.TPS.Common.Model.API", "VMS.TPS.Common.Model.Types")


def python_library() -> Path:
    """This interpreter's shared library (what ``python_dll`` names).

    Raises
    ------
    BuildError
        The interpreter was built without a shared library.
    """
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    name = sysconfig.get_config_var("LDLIBRARY") or ""
    path = Path(libdir) / name
    if not name.endswith((".so", ".dylib", ".dll")) or not path.is_file():
        raise BuildError(f"this Python ({sys.executable}) has no shared library ({path}); the host embeds "
                         "Python and needs one: use a Python built with --enable-shared (Debian's python3, "
                         "or pyenv with PYTHON_CONFIGURE_OPTS=--enable-shared)")
    return path


def _python_runtime() -> Path:
    try:
        import pythonnet  # noqa: PLC0415
    except ImportError:
        raise BuildError("pythonnet is not installed in this Python: pip install '.[eclipse]'") from None
    path = Path(pythonnet.__file__).resolve().parent / "runtime" / "Python.Runtime.dll"
    if not path.is_file():
        raise BuildError(f"{path} not found in the installed pythonnet")
    return path


def _netstandard() -> str:
    found = sorted(glob.glob("/usr/lib/mono/4.*/Facades/netstandard.dll"), reverse=True)
    if not found:
        raise BuildError("Mono's netstandard.dll facade was not found (Python.Runtime targets .NET Standard "
                         "2.0): install mono-devel")
    return found[0]


def _inputs() -> List[Path]:
    return [Path(__file__).resolve(), *sorted(SOURCE_DIR.rglob("*.cs")), *ASSEMBLIES.values()]


def _outputs() -> List[Path]:
    return [HOST, LAUNCHER, CONFIG, BUILD_DIR / "Python.Runtime.dll",
            *(BUILD_DIR / f"{n}.dll" for n in _ESAPI)]


def _up_to_date() -> bool:
    outputs = _outputs()
    if not all(p.is_file() for p in outputs):
        return False
    newest = max(p.stat().st_mtime_ns for p in _inputs())
    return min(p.stat().st_mtime_ns for p in outputs) >= newest


def _mcs(args: Sequence[str], what: str) -> None:
    mcs = shutil.which("mcs")
    if mcs is None:
        raise BuildError("Mono's C# compiler 'mcs' was not found: apt-get install -y mono-devel")
    proc = subprocess.run([mcs, "-nologo", "-optimize+", "-warnaserror+", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"mcs failed building {what}:\n{proc.stdout}")


def build(force: bool = False, quiet: bool = False) -> Dict[str, Path]:
    """Build (unless up to date) and return the outputs by name.

    Raises
    ------
    BuildError
        ``mcs``, the stand-in, pythonnet or a shared Python library is missing, or compilation failed.
    """
    stubs = build_assemblies(quiet=True)
    if not force and _up_to_date():
        if not quiet:
            print(f"Eclipse host and launcher up to date in {BUILD_DIR}")
        return {p.name: p for p in _outputs()}
    runtime = _python_runtime()
    library = python_library()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD_DIR, prefix=".tmp-") as tmp:
        staging = Path(tmp)
        esapi = [f"-r:{stubs[n]}" for n in _ESAPI]
        _mcs(["-target:exe", "-platform:x64", f"-out:{staging / HOST.name}", *esapi, f"-r:{runtime}",
              f"-r:{_netstandard()}", "-r:System.Core.dll",
              *map(str, sorted((SOURCE_DIR / "ReirradHost").glob("*.cs")))], HOST.name)
        _mcs(["-target:library", "-platform:x64", f"-out:{staging / LAUNCHER.name}", *esapi,
              *map(str, sorted((SOURCE_DIR / "Launcher").glob("*.cs")))], LAUNCHER.name)
        for name in _ESAPI:
            shutil.copy(stubs[name], staging / f"{name}.dll")
        shutil.copy(runtime, staging / "Python.Runtime.dll")
        (staging / CONFIG.name).write_text(
            "# Written by install/eclipse/build.py for this machine's Python "
            "(see install/eclipse/README.md).\n"
            f"python_dll = {library}\npython_executable = {sys.executable}\n", encoding="utf-8")
        for item in sorted(staging.iterdir()):
            os.replace(item, BUILD_DIR / item.name)
    if not quiet:
        print(f"built {HOST.name}, {LAUNCHER.name} (+ Python.Runtime, stand-in ESAPI, {CONFIG.name}) "
              f"in {BUILD_DIR}")
    return {p.name: p for p in _outputs()}


def main(argv: List[str]) -> int:
    """Command line: ``build.py [--force]``; exit 1 with the reason on failure."""
    try:
        build(force="--force" in argv)
    except BuildError as exc:
        print(f"make eclipse-host: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
