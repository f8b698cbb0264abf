"""The :class:`reirrad.ports.Planner` on pyRadPlan (every dose TOTAL Gy at this boundary)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.errors import InputError
from reirrad.ports import Objective
from reirrad.snapshot import StructureData
from reirrad.structures import structure_occupancy

from .engine import EngineSession
from .objectives import EngineObjective, normal_tissue_objective, total_gy, translate_objectives

__all__ = ["PyRadPlanPlanner"]


class PyRadPlanPlanner:
    """Implements :class:`reirrad.ports.Planner` over one :class:`.engine.EngineSession`.

    ``optimise`` runs pyRadPlan's fluence optimisation on the objectives last written; ``compute_dose``
    returns the dose of the current fluence (times the normalisation) as TOTAL Gy on the session's grid;
    ``normalise`` scales the fluence so that ``volume_pct`` % of the target receives ``dose_gy``, measured
    with reirrad's own DVH (:mod:`reirrad.dvh`) on that dose, and returns the factor applied in % (as
    Eclipse's ``PlanNormalizationValue``: 100 = unchanged).

    Parameters
    ----------
    session : EngineSession
    structures : sequence of StructureData
        The planning structures (for the target's occupancy in :meth:`normalise`).
    n_fractions : int
        Fractions of the new plan (checked against :meth:`set_prescription`).

    Attributes
    ----------
    journal : list of dict
        Every call, in order (member name and arguments), as the stand-in planners keep it.
    """

    def __init__(self, session: EngineSession, structures: Sequence[StructureData], n_fractions: int) -> None:
        self.session = session
        self._structures = {s.id: s for s in structures}
        self._n_fractions = n_fractions
        self._objectives: Dict[str, List[EngineObjective]] = {}
        self._weights: Optional[NDArray[np.float64]] = None
        self._scale = 1.0
        self.prescription_gy: Optional[float] = None
        self.journal: List[Dict[str, Any]] = []

    def set_prescription(self, dose_gy: float, n_fractions: int) -> None:
        """Record the TOTAL prescription; the fractions must be the plan's."""
        self.journal.append({"member": "set_prescription", "dose_gy": dose_gy, "n_fractions": n_fractions})
        if n_fractions != self._n_fractions:
            raise InputError(f"the plan has {self._n_fractions} fractions; the workflow asked for "
                             f"{n_fractions}")
        self.prescription_gy = float(dose_gy)

    def write_objectives(self, objectives: Sequence[Objective]) -> None:
        """Translate and keep the objectives for the next optimisation (:func:`.translate_objectives`), with
        the backend's normal-tissue objective (:func:`.normal_tissue_objective`)."""
        self.journal.append({"member": "write_objectives", "count": len(objectives)})
        self._objectives = {**translate_objectives(objectives, self._n_fractions),
                            **normal_tissue_objective(objectives, self._n_fractions)}

    @property
    def engine_objectives(self) -> Dict[str, List[EngineObjective]]:
        """The pyRadPlan objectives last written (per structure id, Gy per fraction)."""
        return {k: [dict(o) for o in v] for k, v in self._objectives.items()}

    def optimise(self) -> None:
        """pyRadPlan's fluence optimisation on the current objectives (the normalisation is reset)."""
        self.journal.append({"member": "optimise"})
        if not self._objectives:
            raise InputError("no objectives written before optimise()")
        self._weights = self.session.optimise(self._objectives)
        self._scale = 1.0

    def compute_dose(self) -> DoseGrid:
        """The current plan's dose, TOTAL Gy, on the planning volume's grid."""
        self.journal.append({"member": "compute_dose"})
        if self._weights is None:
            raise InputError("optimise() before compute_dose()")
        per_fraction = self.session.dose_per_fraction(self._weights * self._scale)
        grid = self.session.volume.grid
        return DoseGrid(total_gy(per_fraction, self._n_fractions), grid.origin_mm, grid.spacing_mm,
                        grid.direction, frame_of_reference_uid=grid.frame_of_reference_uid)

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> float:
        """Scale the fluence so that ``volume_pct`` % of ``target_id`` gets ``dose_gy`` (TOTAL Gy).

        Returns
        -------
        float
            The factor applied to the fluence (and so to the dose), in % (100 = unchanged).

        Raises
        ------
        reirrad.errors.InputError
            An unknown target, or a plan without dose in the target.
        """
        self.journal.append({"member": "normalise", "target_id": target_id, "dose_gy": dose_gy,
                             "volume_pct": volume_pct})
        if target_id not in self._structures:
            raise InputError(f"normalise: no structure {target_id!r}")
        dose = self.compute_dose()
        target = self._structures[target_id]
        occupancy = structure_occupancy(target.contours_mm, dose, name=target_id)
        current = DVH.from_dose(dose, occupancy).dose_at_volume_pct(volume_pct)
        if current <= 0.0:
            raise InputError(f"normalise: {target_id} receives no dose; the plan cannot be normalised")
        factor = float(dose_gy) / current
        self._scale *= factor
        return 100.0 * factor

    @property
    def weights(self) -> Optional[NDArray[np.float64]]:
        """The fluence of the current plan (after normalisation), one weight per bixel, or None."""
        return None if self._weights is None else self._weights * self._scale
