"""Helpers shared by the RayStation adapter tests that make structures in the stand-in."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from reirrad_tps.raystation import RayStationPlanner, entry

VERSION = "2024B"


def rs_planner(version: str = VERSION) -> Tuple[RayStationPlanner, Any, Any]:
    """The planner on the loaded stand-in patient's current plan, with its case and beam set."""
    _, case, plan, beam_set, _ = entry.current_objects(version)
    return RayStationPlanner(case, plan, beam_set, version=version), case, beam_set


def roi_volumes(case: Any, beam_set: Any) -> Dict[str, Optional[float]]:
    """Every ROI's volume in the beam set's structure set, cm³ (None for an ROI without geometry)."""
    structure_set = beam_set.GetStructureSet()
    out: Dict[str, Optional[float]] = {}
    for roi in case.PatientModel.RegionsOfInterest:
        geometry = structure_set.RoiGeometries[roi.Name]
        out[roi.Name] = None if geometry.PrimaryShape is None else geometry.GetRoiVolume()
    return out
