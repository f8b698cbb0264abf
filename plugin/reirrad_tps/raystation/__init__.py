"""RayStation adapter: the ``connect`` scripting objects ↔ the reirrad engine's ports and types.

Modules
-------
:mod:`.units`
    The only cGy↔Gy and cm↔mm conversions; refuses units it does not know.
:mod:`.versions`
    The accepted RayStation releases and the scripting module each imports.
:mod:`.call_forms`
    Feature detection of every call whose spelling differs between versions, and its record.
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
        # writes into the copy "<plan> reirrad", made at the first write
        planner = CopyOnFirstWritePlanner(case, plan, beam_set, version="2024B")
        ...   # the engine's workflow calls planner.set_prescription / write_objectives / ...

A failure leaves what was written in RayStation unless the undo step rolls it back, which is not
confirmed: at most the run's plan copy and the evaluation doses ``MapDose`` added (the menu names
them); the clinician's plan is never written.

Importing this package does not import RayStation's module (only :mod:`.entry` does, when called).
"""

from __future__ import annotations

from .grids import read_dose_grid
from .planner import ApprovedPlanError, CopyOnFirstWritePlanner, RayStationPlanner
from .source import RayStationCaseSource
from .versions import DEFAULT_VERSION, VERSIONS

__all__ = [
    "DEFAULT_VERSION",
    "VERSIONS",
    "ApprovedPlanError",
    "CopyOnFirstWritePlanner",
    "RayStationCaseSource",
    "RayStationPlanner",
    "read_dose_grid",
]
