"""Load the .NET runtime (Mono through pythonnet) and the stand-in assemblies, once per process."""

from __future__ import annotations

import importlib
import shutil
import sys
import warnings
from types import SimpleNamespace
from typing import Any, Optional

import numpy as np

from ._build import ASSEMBLIES, BuildError, build_assemblies, is_up_to_date

__all__ = ["net_array", "runtime"]

_RUNTIME: Optional[SimpleNamespace] = None


def _ensure_built() -> None:
    if is_up_to_date():
        return
    if shutil.which("mcs") is not None:
        build_assemblies(quiet=True)
        return
    missing = [str(p) for p in ASSEMBLIES.values() if not p.is_file()]
    if missing:
        raise BuildError(f"ESAPI stand-in assemblies missing ({', '.join(missing)}) and Mono's 'mcs' is not "
                         "installed: run 'apt-get install -y mono-devel' then 'make stubs'.")
    # Sources newer than the assemblies but no compiler: use the existing build.


def runtime() -> SimpleNamespace:
    """The loaded namespaces, building the assemblies first when needed.

    Returns
    -------
    types.SimpleNamespace
        ``API`` (``VMS.TPS.Common.Model.API``), ``Types`` (``VMS.TPS.Common.Model.Types``), ``Model``
        (``VMS.TPS.Common.Model``: the exceptions), ``Builder`` (``Reirrad.EsapiStubBuilder``), ``System``
        and ``assemblies`` (the loaded ``System.Reflection.Assembly`` objects by simple name).

    Notes
    -----
    pythonnet is told to use Mono (``pythonnet.load("mono")``) before ``import clr`` unless a runtime
    is already loaded: by this process (``pythonnet.load``), or by a .NET program that embeds Python
    through ``Python.Runtime`` (``install/eclipse``'s host executable; there ``clr`` is in
    ``sys.modules`` before any import). Assemblies the process has already loaded (the host references
    the API and Types assemblies) are used as they are, never loaded a second time. clr_loader warns
    that Mono < 6.12 "is known to be problematic"; Debian 12 ships 6.8, which works for everything
    here, so that one warning is silenced. Each assembly is referenced explicitly (docs/reference/esapi.md
    §14.1: pythonnet 3 has no implicit assembly loading).
    """
    global _RUNTIME  # noqa: PLW0603 - one .NET runtime per process
    if _RUNTIME is not None:
        return _RUNTIME
    _ensure_built()
    try:
        import pythonnet  # noqa: PLC0415 - optional dependency, loaded on first use only

        if pythonnet.get_runtime_info() is None and "clr" not in sys.modules:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Hosting Mono versions before",
                                        category=UserWarning)
                pythonnet.load("mono")
        import clr  # noqa: PLC0415
        from System import AppDomain  # noqa: PLC0415
    except (ImportError, RuntimeError, OSError) as exc:
        raise BuildError(f"the .NET runtime could not be loaded through pythonnet ({type(exc).__name__}: "
                         f"{exc}); install Mono ('apt-get install -y mono-devel') and pythonnet (the "
                         "stand-ins' 'eclipse' extra)") from exc

    loaded = {str(a.GetName().Name): a for a in AppDomain.CurrentDomain.GetAssemblies()}
    assemblies = {name: loaded[name] if name in loaded else clr.AddReference(str(path))
                  for name, path in ASSEMBLIES.items()}
    modules = {key: importlib.import_module(name) for key, name in (
        ("API", "VMS.TPS.Common.Model.API"), ("Types", "VMS.TPS.Common.Model.Types"),
        ("Model", "VMS.TPS.Common.Model"), ("Builder", "Reirrad.EsapiStubBuilder"), ("System", "System"))}
    _RUNTIME = SimpleNamespace(assemblies=assemblies, **modules)
    return _RUNTIME


def net_array(values: Any, dtype: str) -> Any:
    """A new 1-D .NET array (``dtype`` ``"int32"`` or ``"float64"``) holding a copy of ``values``.

    The copy goes through the array's buffer (fast); no numpy view of the .NET array outlives this
    call (a view still alive at interpreter exit crashes Mono 6.8).
    """
    rt = runtime()
    flat = np.ascontiguousarray(np.asarray(values).ravel(), dtype=np.dtype(dtype))
    element = rt.System.Int32 if dtype == "int32" else rt.System.Double
    out = rt.System.Array.CreateInstance(element, int(flat.size))
    if flat.size:
        view = np.asarray(out)
        view[:] = flat
        del view
    return out
