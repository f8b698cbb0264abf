"""The :class:`reirrad.ports.Planner` on pyRadPlan (every dose TOTAL Gy at this boundary)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.errors import InputError
from reirrad.optstructures import OptimisationStructure, OutlinedStructure
from reirrad.ports import Objective
from reirrad.roi_algebra import Lattice, Mask, evaluate, mask_occupancy
from reirrad.snapshot import StructureData
from reirrad.structures import Occupancy, structure_occupancy

from .engine import EngineSession
from .objectives import EngineObjective, normal_tissue_objective, total_gy, translate_objectives

__all__ = ["MADE_OCCUPANCY", "PyRadPlanPlanner"]

#: Occupancy from which a dose voxel belongs to a structure made by the planner (as the stand-ins').
MADE_OCCUPANCY = 0.5


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

    Optimisation structures
    -----------------------
    It is also a :class:`reirrad.ports.StructureMaker` and :class:`reirrad.ports.OutlineMaker`: the
    workflow has it make the optimisation structures (``zRR_PTV_opt``, PRVs, ring) and the low-tolerance
    structures of spatial objectives. The backend has no TPS: a structure is a mask on the session's grid
    (:meth:`.engine.EngineSession.put_structure`), which is the snapshot's dose grid indexed along +x, +y,
    +z (:func:`.phantom.canonical_grid`). Like ``tps_stubs.direct.DirectPlanner`` it computes each structure
    with **the engine's own model** — :func:`reirrad.roi_algebra.evaluate` on the engine's occupancies of
    the planning contours; pyRadPlan gets the dose voxels at least half inside it
    (:func:`reirrad.roi_algebra.mask_occupancy` ≥ 0.5), and the volume returned is the engine's
    (``Mask.volume_cc``); an outlined structure is the engine's occupancy of its contours ≥ 0.5. So the
    volumes equal the engine's expected volumes: the workflow's volume check is not an independent check
    here (the TPS adapters' is).

    Ownership: the structure set is pyRadPlan's own, in memory, so it always takes structures
    (:meth:`structures_not_writable` is None); reirrad's structures are those this planner made (named with
    the prefix); a planning structure — also one named with the prefix, read from the case — is never
    replaced (its name is refused, so the recipe picks a free one).

    Overlap: pyRadPlan would remove from an OAR VOI every voxel of a target VOI (its overlap priorities);
    the session switches that off, so the coverage objective on ``zRR_PTV_opt`` counts its whole mask and a
    low-tolerance structure's maximum objective reaches all its voxels (:mod:`.engine`, "Overlapping
    structures", with pyRadPlan's source lines). The optimisation target is a ``Target`` VOI.
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
        self._occupancies: Dict[str, Occupancy] = {}
        self._lattice_masks: Dict[str, Mask] = {}

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

    # ------------------------------------------------------------------------------------------------
    # StructureMaker / OutlineMaker (class docstring, "Optimisation structures")

    def structures_not_writable(self) -> Optional[str]:
        """None: pyRadPlan's structure set is this session's own and always takes structures."""
        return None

    def owned_structure_ids(self, prefix: str) -> List[str]:
        """The structures this planner made whose name starts with ``prefix``."""
        return [sid for sid in self.session.made_structure_ids if prefix and sid.startswith(prefix)]

    def _check_name(self, name: str, prefix: str) -> None:
        if name.lower() in {k.lower() for k in self._structures} or not prefix or not name.startswith(prefix):
            raise InputError(f"{name!r} is not reirrad's (prefix {prefix!r}) or is a planning structure; the "
                             "pyradplan backend never replaces a planning structure")

    def make_structures(self, structures: Sequence[OptimisationStructure], prefix: str) -> Dict[str, float]:
        """Make or update each structure in order with the engine's ROI algebra; return the engine's
        volumes, cm³, by name (class docstring). A name refused (a planning structure, no prefix) raises
        :class:`reirrad.errors.InputError` before that structure is made; those made before it stay."""
        self.journal.append({"member": "make_structures", "names": [s.name for s in structures]})
        grid = self.session.volume.grid
        lattice = Lattice.of(grid)
        volumes: Dict[str, float] = {}
        for s in structures:
            self._check_name(s.name, prefix)
            sources = [n for e in (s.operation.a, s.operation.b) if e is not None for n in e.sources]
            for name in sources:
                if name in self._occupancies or name in self._lattice_masks:
                    continue
                data = self._structures.get(name)
                if data is None:
                    raise InputError(f"{s.name}: source structure {name!r} is neither a planning structure "
                                     "nor one made before it")
                self._occupancies[name] = structure_occupancy(data.contours_mm, grid, name=name)
            mask = evaluate(s.operation, self._occupancies, self._lattice_masks, lattice)
            voxels = np.asarray(mask_occupancy(mask, lattice).fraction) >= MADE_OCCUPANCY
            self.session.put_structure(s.name, voxels, prefix=prefix, target=s.role == "target-opt")
            self._lattice_masks[s.name] = mask
            volumes[s.name] = mask.volume_cc(lattice)
        return volumes

    def make_outlined_structures(self, structures: Sequence[OutlinedStructure],
                                 prefix: str) -> Dict[str, float]:
        """Make or replace each outlined (low-tolerance) structure: the dose voxels at least half inside its
        contours (engine occupancy, each plane a slab of the planning image's slice spacing, as the engine
        computes ``expected_volume_cc``); return the engine's volumes of the contours, cm³, by name."""
        self.journal.append({"member": "make_outlined_structures", "names": [s.name for s in structures]})
        grid = self.session.volume.grid
        volumes: Dict[str, float] = {}
        for s in structures:
            self._check_name(s.name, prefix)
            occupancy = structure_occupancy(s.contours_mm, grid, name=s.name,
                                            plane_spacing_mm=s.plane_spacing_mm)
            voxels = np.asarray(occupancy.fraction) >= MADE_OCCUPANCY
            self.session.put_structure(s.name, voxels, prefix=prefix)
            self._lattice_masks.pop(s.name, None)
            volumes[s.name] = float(occupancy.volume_cc)
        return volumes

    @property
    def weights(self) -> Optional[NDArray[np.float64]]:
        """The fluence of the current plan (after normalisation), one weight per bixel, or None."""
        return None if self._weights is None else self._weights * self._scale
