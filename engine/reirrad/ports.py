"""The engine's ports (docs/design.md §3): what an adapter implements, as structural Protocols.

Adapters (``reirrad_tps.eclipse``, ``reirrad_tps.raystation``, ``reirrad_tps.dicom``) implement
these without inheriting anything; the engine never sees a TPS object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional, Protocol, Sequence

from .dose import DoseGrid
from .snapshot import CaseSnapshot

if TYPE_CHECKING:  # the recipe's types, for the signatures only
    from .optstructures import OptimisationStructure, OutlinedStructure

__all__ = ["CaseSource", "Objective", "OutlineMaker", "Planner", "StructureMaker"]


class Objective(Protocol):
    """An optimisation objective as the engine produces it (TOTAL dose in Gy, volume in %)."""

    @property
    def structure_id(self) -> str:
        """TPS structure the objective applies to."""
        ...

    @property
    def kind(self) -> str:
        """``"upper"``, ``"lower"``, ``"max"`` or ``"mean"``."""
        ...

    @property
    def dose_gy(self) -> float:
        """TOTAL dose over the plan, Gy."""
        ...

    @property
    def volume_pct(self) -> float:
        """Volume of a DVH objective, % of the structure."""
        ...

    @property
    def priority(self) -> float:
        """Relative importance (higher first)."""
        ...

    @property
    def hard(self) -> bool:
        """A hard limit: a constraint where the TPS has them (RayStation), else the top priority."""
        ...


class CaseSource(Protocol):
    """Reads the open case once into an immutable snapshot."""

    def read(self) -> CaseSnapshot:
        """The case as the engine needs it; after this, no TPS call reads case data."""
        ...


class Planner(Protocol):
    """Drives the TPS for the new plan. Every dose is TOTAL physical Gy; adapters convert units."""

    def set_prescription(self, dose_gy: float, n_fractions: int) -> None:
        """Set the plan's prescription (total dose, fractions)."""
        ...

    def write_objectives(self, objectives: Sequence[Objective]) -> None:
        """Replace the plan's optimisation objectives."""
        ...

    def optimise(self) -> None:
        """Run the TPS optimiser on the current objectives."""
        ...

    def compute_dose(self) -> DoseGrid:
        """Compute (final) dose and return it on the plan's dose grid."""
        ...

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> Optional[float]:
        """Scale the plan so that ``volume_pct`` % of ``target_id`` receives ``dose_gy`` (TOTAL Gy).

        Returns the TPS's own record of the normalisation when it keeps one (Eclipse:
        ``PlanNormalizationValue`` in %), else None. The engine does not trust the scaling to be what
        it asked for: it recomputes and re-reads the dose afterwards (the final check).
        """
        ...


class StructureMaker(Protocol):
    """A planner that can also create reirrad's optimisation structures (:mod:`reirrad.optstructures`).

    Optional: the workflow uses it when the planner has these methods and the protocol enables
    ``optimisation_structures``; otherwise the target objectives go on the clinician's PTV (a finding says
    so). The adapter executes each structure's :class:`reirrad.roi_algebra.Operation` with its TPS's ROI
    algebra and never decides what to make.

    **Ownership** (docs/optimisation-structures.md): a structure is reirrad's when its id starts with the
    protocol's ``name_prefix`` and its type is the TPS's control type (Eclipse DICOM type ``CONTROL``,
    RayStation ROI type ``Control``), and it is not approved; the prefix is reserved for reirrad. Only
    those are ever updated; every other structure is left untouched and its name avoided.
    """

    def structures_not_writable(self) -> Optional[str]:
        """Why the plan's structure set cannot take new structures (approved, locked, read-only
        session ...), or None when it can. Asked before anything is written."""
        ...

    def owned_structure_ids(self, prefix: str) -> Sequence[str]:
        """Ids of the plan's structure set that are reirrad's (the ownership rule above)."""
        ...

    def make_structures(self, structures: Sequence[OptimisationStructure],
                        prefix: str) -> Mapping[str, float]:
        """Create, or update when it is reirrad's by ``prefix`` (the ownership rule), each structure in order
        (a later one may use an earlier one as a source); return each one's volume as the TPS computes it,
        cm³, by name. Every name starts with ``prefix``.

        A failure part-way leaves the structures made so far (all of them reirrad's, named with the
        reserved prefix) and raises; no clinician's structure is changed at any point."""
        ...


class OutlineMaker(StructureMaker, Protocol):
    """A :class:`StructureMaker` that can also write a structure contour by contour (spatial objectives,
    :mod:`reirrad.spatial`): the low-tolerance part of an OAR exists only as the engine's voxels, handed
    over as closed planar contours (:class:`reirrad.optstructures.OutlinedStructure`).

    Optional: without it ``--objectives spatial`` writes no low-tolerance structure and a finding says so.
    The ownership rule and ``structures_not_writable`` are :class:`StructureMaker`'s.
    """

    def make_outlined_structures(self, structures: Sequence[OutlinedStructure],
                                 prefix: str) -> Mapping[str, float]:
        """Create, or replace the contours of when it is reirrad's by ``prefix``, each structure: every
        plane of the planning image cleared, then each plane's contours written as given (patient mm,
        converted to the TPS's units in the adapter, even–odd rule). Return each one's volume as the TPS
        computes it, cm³, by name.

        A contour on a z that is not a plane of the planning image (beyond a small tolerance) is refused
        before anything is written. A failure part-way leaves only reirrad's structures changed."""
        ...
