"""RayStation adapter: the ``connect`` scripting objects ↔ the reirrad engine's ports and types.

Modules
-------
:mod:`.units`
    The only cGy↔Gy and cm↔mm conversions; refuses units it does not know.
:mod:`.versions`
    Every RayStation version difference the adapter depends on, in one table.
:mod:`.grids`
    RayStation doses and dose grids as :class:`reirrad.dose.DoseGrid` (TOTAL Gy, voxel centres, mm).
:mod:`.source`
    :class:`RayStationCaseSource`, the :class:`reirrad.ports.CaseSource`.
:mod:`.planner`
    :class:`RayStationPlanner`, the :class:`reirrad.ports.Planner`.
:mod:`.entry`
    The only module that imports the scripting module and calls ``get_current``,
    ``CompositeAction``, ``set_progress`` and ``is_gui_disabled``.

A run inside RayStation::

    from reirrad_tps.raystation import entry, RayStationCaseSource, RayStationPlanner
    patient, case, plan, beam_set, exam = entry.current_objects("2024B")
    with entry.undoable("Re-irradiation plan", "2024B"):
        snapshot = RayStationCaseSource(case, plan, beam_set, exam, patient=patient,
                                        tps_version="2024B", prior_dates={...}).read()
        planner = RayStationPlanner(case, plan, beam_set, version="2024B")
        ...   # the engine's workflow calls planner.set_prescription / write_objectives / ...

Importing this package does not import RayStation's module (only :mod:`.entry` does, when called).
"""

from __future__ import annotations

from .grids import read_dose_grid
from .planner import ApprovedPlanError, RayStationPlanner
from .source import RayStationCaseSource
from .versions import DEFAULT_VERSION, VERSIONS

__all__ = [
    "DEFAULT_VERSION",
    "VERSIONS",
    "ApprovedPlanError",
    "RayStationCaseSource",
    "RayStationPlanner",
    "read_dose_grid",
]
