"""reirrad_tps.pyradplan — a planning backend on pyRadPlan, DKFZ's open-source Python reimplementation of
matRad (photon pencil-beam dose calculation and fluence optimisation), behind the ``pyradplan`` extra.

It implements :class:`reirrad.ports.Planner` for offline plan generation on stub patients and DICOM cases
(``reirrad plan --tps pyradplan``): a photon IMRT plan of equidistant coplanar beams on the snapshot's dose
grid, the dose-influence matrix computed once per case and reused for every prescription level (only the
objectives change), the workflow's objectives translated into pyRadPlan's, the dose handed back as a
:class:`reirrad.dose.DoseGrid` of TOTAL Gy. Why pyRadPlan and not OpenTPS, the measurements and the
limits: ``docs/opensource-backend.md``.

Modules: :mod:`.objectives` (objective translation, the normal-tissue objective and the one unit
conversion; pure), :mod:`.phantom` (the planning volume: CT numbers and structure masks on the dose grid;
pure numpy), :mod:`.ctpixels` (a DICOM CT's numbers on that grid; pydicom), :mod:`.engine` (the only
module importing pyRadPlan, lazily), :mod:`.planner` (the Planner), :mod:`.run` (the runs),
:mod:`.cli` (``reirrad plan --tps pyradplan``). ``import reirrad_tps.pyradplan`` imports neither
pyRadPlan, SimpleITK nor pydicom.
"""

from __future__ import annotations

from .objectives import (
    ENGINE_OBJECTIVE_NAMES,
    NORMAL_TISSUE_ID,
    normal_tissue_objective,
    per_fraction_gy,
    total_gy,
    translate_objectives,
)
from .phantom import BONE_HU, PlanningVolume, build_volume

__all__ = ["BONE_HU", "ENGINE_OBJECTIVE_NAMES", "NORMAL_TISSUE_ID", "PlanningVolume", "build_volume",
           "normal_tissue_objective", "per_fraction_gy", "total_gy", "translate_objectives"]
