"""Eclipse adapter: ESAPI objects (through pythonnet) ↔ the reirrad engine's ports and types.

Modules
-------
:mod:`.units`
    The only Gy/cGy conversions; refuses Percent and Unknown doses.
:mod:`.grids`
    ESAPI doses as :class:`reirrad.dose.DoseGrid` (TOTAL Gy, voxel centres, mm), calibrated per read.
:mod:`.source`
    :class:`EclipseCaseSource`, the :class:`reirrad.ports.CaseSource`.
:mod:`.planner`
    :class:`EclipsePlanner`, the :class:`reirrad.ports.Planner`.
:mod:`.host`
    The Python side of ``install/eclipse``'s ``ReirradHost.exe`` (command line, confirmation, run,
    result JSON, exit code; the C# host owns the session and saves only after success).
:mod:`.standalone`
    ``python -m reirrad_tps.eclipse.standalone``: the same run through ``CustomScriptExecutable``
    (read-only on a clinical system).

A run inside Eclipse (``context`` is the plug-in's ``ScriptContext``)::

    from reirrad_tps.eclipse import EclipseCaseSource, EclipsePlanner
    snapshot = EclipseCaseSource(context.Patient, context.ExternalPlanSetup,
                                 planned_start=datetime.date(2026, 12, 7)).read()
    planner = EclipsePlanner(context.ExternalPlanSetup, patient=context.Patient)
    planner.begin_modifications()
    ...   # the engine's workflow calls planner.set_prescription / write_objectives / ...

Importing this package does not import ``clr`` (the ESAPI namespaces are imported inside the functions
that need them).
"""

from __future__ import annotations

from .grids import read_dose_grid
from .planner import (
    ApprovedPlanError,
    DoseCalculationError,
    EclipsePlanner,
    ModificationsNotBegunError,
    OptimisationError,
    ReadOnlySessionError,
    StructureSetNotWritableError,
    WriteRefusedError,
)
from .source import EclipseCaseSource

__all__ = [
    "ApprovedPlanError",
    "DoseCalculationError",
    "EclipseCaseSource",
    "EclipsePlanner",
    "ModificationsNotBegunError",
    "OptimisationError",
    "ReadOnlySessionError",
    "StructureSetNotWritableError",
    "WriteRefusedError",
    "read_dose_grid",
]
