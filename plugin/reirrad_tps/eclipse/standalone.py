"""The Python stand-alone path: reirrad on an Eclipse patient from ``python``, without the C# host.

::

    python -m reirrad_tps.eclipse.standalone --esapi-dir "C:/Program Files (x86)/Varian/RTM/15.6/esapi/API" \\
        --patient ID --course ID --plan ID --intent isotoxic --dry-run --no-dialog \\
        --planned-start 2026-12-07 --json result.json
    python -m reirrad_tps.eclipse.standalone --stand-in ...     # the ESAPI stand-in on Mono

``python.exe`` has no managed entry point, so ESAPI's ``Application.CreateApplication()`` is not open to
it; this path uses ``CustomScriptExecutable.CreateApplication(name)``, which is **read-only on a clinical
system and writable on a non-clinical (research) one** (docs/reference/esapi.md §2.2, §3.3, §13.1). Use it
for dry runs anywhere and for writing on research systems; on a clinical system a run that would
write is refused before anything is written (use ``ReirradHost.exe``, the approvable host).

The options are those of :mod:`.host` plus ``--esapi-dir`` / ``--stand-in``; the session follows the
host's order (open, ``BeginModifications`` unless ``--dry-run``, run, ``SaveModifications`` only after
success).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from reirrad.errors import InputError, ReirradError

from . import host

__all__ = ["SCRIPT_NAME", "load_esapi", "main"]

SCRIPT_NAME = "reirrad-standalone"
_ASSEMBLIES = ("VMS.TPS.Common.Model.Types", "VMS.TPS.Common.Model.API")


def _single_threaded_apartment() -> None:
    """ESAPI needs an STA thread (docs/reference/esapi.md §14.9); on Windows initialise COM as STA on this
    thread."""
    if os.name == "nt":  # pragma: no cover - Windows only
        ctypes.windll.ole32.CoInitialize(None)  # type: ignore[attr-defined]


def load_esapi(esapi_dir: Optional[str], stand_in: bool) -> Any:
    """Load ESAPI into this process and return ``CustomScriptExecutable``.

    Parameters
    ----------
    esapi_dir : str, optional
        The folder with ``VMS.TPS.Common.Model.API.dll`` and ``…Types.dll`` (real Eclipse).
    stand_in : bool
        Use the reirrad ESAPI stand-in (Mono) and its stub patients instead.

    Raises
    ------
    reirrad.errors.InputError
        Neither or both given, or the folder lacks the assemblies.
    """
    if stand_in == (esapi_dir is not None):
        raise InputError("give exactly one of --esapi-dir DIR (the Eclipse workstation's ESAPI folder) and "
                         "--stand-in")
    if stand_in:
        import tps_stubs.esapi as stand_in_module  # noqa: PLC0415 - only for the stand-in

        return stand_in_module.configure_from_environment().API.CustomScriptExecutable
    folder = Path(str(esapi_dir))
    paths = [folder / f"{name}.dll" for name in _ASSEMBLIES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"--esapi-dir {folder}: {missing} not found; give the folder of the Eclipse "
                         "installation's ESAPI assemblies (…\\RTM\\<version>\\esapi\\API)")
    import pythonnet  # noqa: PLC0415 - optional dependency

    if pythonnet.get_runtime_info() is None:
        pythonnet.load()  # .NET Framework on Windows
    import clr  # noqa: PLC0415

    for path in paths:  # both, explicitly (docs/reference/esapi.md §14.1)
        clr.AddReference(str(path))
    from VMS.TPS.Common.Model.API import CustomScriptExecutable  # noqa: PLC0415

    return CustomScriptExecutable


def _parse(argv: Sequence[str]) -> Tuple[host.HostRequest, Optional[str], bool]:
    parser = host.build_parser(prog="python -m reirrad_tps.eclipse.standalone")
    parser.add_argument("--esapi-dir", default=None, help="folder of the ESAPI assemblies (real Eclipse)")
    parser.add_argument("--stand-in", action="store_true", help="the reirrad ESAPI stand-in on Mono")
    ns = parser.parse_args(list(argv))
    return host.request_from_args(ns), ns.esapi_dir, bool(ns.stand_in)


def main(argv: Optional[List[str]] = None) -> int:
    """Run one session; return the exit code (as :mod:`.host`)."""
    try:
        request, esapi_dir, stand_in = _parse(sys.argv[1:] if argv is None else argv)
        custom = load_esapi(esapi_dir, stand_in)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except ReirradError as exc:
        print(f"reirrad: {exc}", file=sys.stderr)
        return host.EXIT_INPUT
    _single_threaded_apartment()
    app = custom.CreateApplication(SCRIPT_NAME)
    try:
        patient = app.OpenPatientById(request.patient_id)
        if patient is not None and request.writes and not bool(patient.CanModifyData()):
            outcome = host.refused(request, "this stand-alone session is read-only (CustomScriptExecutable "
                                   "on a clinical system); nothing was written: use --dry-run, or "
                                   "ReirradHost.exe (approved) to write", "ReadOnlySession")
            return host.finish(request, outcome, saved=False)
        if patient is not None and request.writes:
            patient.BeginModifications()
        outcome = host.run(request, app, patient)
        saved, save_error = False, None
        if outcome.ok and request.writes:
            try:
                app.SaveModifications()
                saved = True
            except Exception as exc:  # the session's boundary: report, never retry
                save_error = str(getattr(exc, "Message", exc))
        return host.finish(request, outcome, saved, save_error)
    finally:
        app.ClosePatient()
        app.Dispose()


if __name__ == "__main__":
    sys.exit(main())
