"""The planning volume handed to pyRadPlan: a bulk-density CT and structure masks on the dose grid.

Pure numpy (no pyRadPlan). A DICOM case's CT numbers can be given (:mod:`.ctpixels` samples them on the
planning grid); otherwise — a stub patient, whose definition has only shapes, or ``--bulk-density`` — the
CT is **synthetic**, built from the structures alone:

* outside the body structure (RT ROI type ``EXTERNAL``): air, -1000 HU;
* inside it: water, 0 HU;
* inside a bone structure (a name matching :data:`BONE_NAMES`, e.g. the femoral heads ``Femur_Head_L``,
  ``FemoralHead_R``, ``Sacrum``): :data:`BONE_HU`, a cancellous-bone CT number (the stub anatomy's only
  bones are the femoral heads).

With given CT numbers, air outside the body structure is still -1000 HU (couch and immobilisation
outside the body are not planned through), and nothing is overridden inside it.

Grid: the planning volume lies on the snapshot's dose grid, with its voxel centres unchanged but indexed
along +x, +y, +z (:func:`canonical_grid`; pyRadPlan's images are axis-aligned). Masks come from the
fractional occupancy of :func:`reirrad.structures.mask_from_contours`:

* the target, the body and the bones: voxels at least half inside (a target smaller than that on a coarse
  grid keeps its voxels of largest occupancy);
* every other structure (the OARs): **every voxel it touches**. reirrad evaluates an OAR on its fractional
  occupancy, so a hot voxel only 20 % inside a thin OAR (the 8 mm sacral plexus on a 5 mm grid) counts
  towards its D0.1cc; with half-inside masks the optimiser did not see those voxels and the plans broke the
  plexus limit that reirrad then measured (benchmarks/README.md, "Isotoxic search on pyRadPlan").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.snapshot import StructureData
from reirrad.structures import mask_from_contours

from .objectives import NORMAL_TISSUE_ID

__all__ = ["AIR_HU", "BONE_HU", "BONE_NAMES", "WATER_HU", "MadeStructures", "PlanningVolume", "build_volume",
           "canonical_grid"]

AIR_HU = -1000
WATER_HU = 0
#: CT number given to bone structures (cancellous bone of the femoral head, ~ 1.2 g/cm³).
BONE_HU = 400
#: Structure names taken as bone (case-insensitive search).
BONE_NAMES = re.compile(r"femur|femoral|fem_?head|bone|sacrum|vertebra|ilium|ischium|pubis|coccyx", re.I)
#: Occupancy from which a voxel belongs to a structure's mask.
MASK_OCCUPANCY = 0.5

BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class PlanningVolume:
    """What pyRadPlan plans on.

    Attributes
    ----------
    grid : DoseGrid
        The (zero) dose grid, identity direction, in the planning frame: the dose comes back on it.
    hu : numpy.ndarray of int16, shape (nz, ny, nx)
        Synthetic CT numbers, indexed [z, y, x] like ``grid``.
    masks : dict
        Structure id → boolean mask [z, y, x] (non-empty; rules in the module docstring), and
        :data:`.objectives.NORMAL_TISSUE_ID`: the body outside the target.
    target_id : str
    body_id : str
        The ``EXTERNAL`` structure.
    bone_ids : tuple of str
        Structures given :data:`BONE_HU` (none when the CT numbers were given).
    ct_source : str
        ``"bulk density from the structures"`` or ``"CT numbers"``.
    """

    grid: DoseGrid
    hu: NDArray[np.int16]
    masks: Mapping[str, BoolArray]
    target_id: str
    body_id: str
    bone_ids: Tuple[str, ...]
    ct_source: str = "bulk density from the structures"


class MadeStructures:
    """The structures reirrad adds to a planning volume (its optimisation structures), kept apart from the
    planning structures, whose masks are never replaced.

    Parameters
    ----------
    volume : PlanningVolume
    """

    def __init__(self, volume: PlanningVolume) -> None:
        self.volume = volume
        self._masks: Dict[str, BoolArray] = {}
        self._targets: Dict[str, bool] = {}

    @property
    def ids(self) -> List[str]:
        """The structures added, in the order first added."""
        return list(self._masks)

    def mask(self, structure_id: str) -> BoolArray:
        """The mask of an added structure, [z, y, x] on ``volume.grid`` (read-only)."""
        return self._masks[structure_id]

    def is_target(self, structure_id: str) -> bool:
        """Whether an added structure is a target (the optimisation target)."""
        return self._targets.get(structure_id, False)

    def put(self, structure_id: str, mask: BoolArray, *, prefix: str, target: bool = False) -> int:
        """Add reirrad's structure ``structure_id``, or replace its mask when it was added before.

        Parameters
        ----------
        structure_id : str
            Must start with ``prefix`` (non-empty; the protocol's ``name_prefix``) and must not name a
            planning structure (compared without regard to case): those are never replaced.
        mask : numpy.ndarray of bool, shape of ``volume.grid`` ([z, y, x])
            May be empty.
        target : bool
            The structure is a target (the optimisation target), else an organ-like structure.

        Returns
        -------
        int
            Voxels in the mask.

        Raises
        ------
        reirrad.errors.InputError
            A planning structure's name, a name without the prefix, a name differing only in case from one
            added before, or a mask of another shape or type; nothing is changed.
        """
        planning = {k.lower(): k for k in self.volume.masks}
        if structure_id.lower() in planning:
            raise InputError(f"{structure_id!r} is a planning structure ({planning[structure_id.lower()]}); "
                             "the pyradplan backend never replaces it")
        if not prefix or not structure_id.startswith(prefix):
            raise InputError(f"{structure_id!r} does not start with reirrad's prefix {prefix!r}; the "
                             "pyradplan backend makes only reirrad's structures")
        taken = {k.lower(): k for k in self._masks}.get(structure_id.lower())
        if taken is not None and taken != structure_id:
            raise InputError(f"{structure_id!r} differs only in case from reirrad's {taken!r}")
        values = np.asarray(mask)
        if values.shape != self.volume.grid.shape or values.dtype != np.bool_:
            raise InputError(f"{structure_id}: a boolean mask of shape {self.volume.grid.shape} is needed "
                             f"(got {values.dtype} {values.shape})")
        stored = values.copy()
        stored.flags.writeable = False
        self._masks[structure_id] = stored
        self._targets[structure_id] = bool(target)
        return int(stored.sum())


def canonical_grid(grid: DoseGrid) -> DoseGrid:
    """``grid``'s voxel centres as a zero grid indexed along +x, +y, +z (identity direction).

    Raises
    ------
    reirrad.errors.InputError
        An oblique grid (axes not along the patient axes): pyRadPlan's images are axis-aligned.
    """
    direction = np.asarray(grid.direction)
    if not np.allclose(np.abs(direction), np.eye(3), atol=1e-6):
        raise InputError("the planning dose grid is oblique (its axes are not the patient axes); the "
                         "pyradplan backend plans on axis-aligned grids only - export an axial CT")
    nx, ny, nz = grid.shape[2], grid.shape[1], grid.shape[0]
    counts = np.array([nx, ny, nz]) - 1
    flipped = np.minimum(np.diag(direction), 0.0)  # -1 on an axis indexed towards decreasing x, y or z
    origin = np.asarray(grid.origin_mm) + flipped * counts * np.asarray(grid.spacing_mm)
    return DoseGrid(np.zeros((nz, ny, nx)), (float(origin[0]), float(origin[1]), float(origin[2])),
                    grid.spacing_mm, None,
                    frame_of_reference_uid=grid.frame_of_reference_uid)


def _mask(structure: StructureData, grid: DoseGrid, *, touching: bool) -> BoolArray:
    fraction = mask_from_contours(structure.contours_mm, grid)
    if touching:
        touched: BoolArray = fraction > 0.0
        return touched
    mask: BoolArray = fraction >= MASK_OCCUPANCY
    if not mask.any() and float(fraction.max()) > 0.0:
        mask = fraction >= float(fraction.max())
    return mask


def _body(present: Sequence[StructureData]) -> str:
    bodies = [s.id for s in present if s.dicom_type.upper() == "EXTERNAL"]
    if len(bodies) != 1:
        raise InputError(f"the pyradplan backend needs exactly one body structure of type EXTERNAL to "
                         f"build its CT (found {bodies or 'none'}); add the External/BODY contour to the "
                         "structure set")
    return bodies[0]


def build_volume(grid: DoseGrid, structures: Sequence[StructureData], target_id: str, *,
                 body_id: Optional[str] = None, hu: Optional[NDArray[np.int16]] = None) -> PlanningVolume:
    """The planning volume of ``structures`` on ``grid`` (rules in the module docstring).

    Parameters
    ----------
    grid : DoseGrid
        The snapshot's dose grid (its values are not used).
    structures : sequence of StructureData
        Planning structures (contours in mm, planning frame); empty ones are skipped.
    target_id : str
        The target structure.
    body_id : str, optional
        The body structure; default the only structure of type ``EXTERNAL``.
    hu : numpy.ndarray, optional
        CT numbers (HU) at the voxel centres of :func:`canonical_grid` (``grid``), [z, y, x]; default
        the synthetic CT of the module docstring.

    Raises
    ------
    reirrad.errors.InputError
        No body structure (or several without ``body_id``), a target missing, empty or off the grid.
    """
    canon = canonical_grid(grid)
    present = [s for s in structures if not s.is_empty]
    ids = [s.id for s in present]
    body_id = _body(present) if body_id is None else body_id
    if body_id not in ids or target_id not in ids:
        missing = body_id if body_id not in ids else target_id
        raise InputError(f"structure {missing!r} is missing or empty; the structures are {ids}")
    masks: Dict[str, BoolArray] = {}
    bones = []
    for s in present:
        bone = bool(BONE_NAMES.search(s.id)) and s.id != body_id
        if bone:  # density from the half-inside voxels, the optimiser's mask from every voxel touched
            half = _mask(s, canon, touching=False)
            if half.any():
                bones.append((s.id, half))
        mask = _mask(s, canon, touching=s.id not in (target_id, body_id))
        if mask.any():
            mask.flags.writeable = False
            masks[s.id] = mask
    if target_id not in masks:
        raise InputError(f"target {target_id!r} has no voxel on the {canon.spacing_mm[0]:g} mm dose grid; "
                         "use a finer --dose-grid-mm")
    normal = masks[body_id] & ~masks[target_id]
    normal.flags.writeable = False
    masks[NORMAL_TISSUE_ID] = normal
    if hu is not None:
        if np.shape(hu) != canon.shape:
            raise InputError(f"CT numbers of shape {np.shape(hu)} for a planning grid of {canon.shape}")
        ct = np.where(masks[body_id], np.asarray(hu, dtype=np.int16), np.int16(AIR_HU)).astype(np.int16)
        ct.flags.writeable = False
        return PlanningVolume(canon, ct, masks, target_id, body_id, (), "CT numbers")
    ct = np.full(canon.shape, AIR_HU, dtype=np.int16)
    ct[masks[body_id]] = WATER_HU
    for _, half in bones:
        ct[half & masks[body_id]] = BONE_HU
    ct.flags.writeable = False
    return PlanningVolume(canon, ct, masks, target_id, body_id, tuple(b for b, _ in bones))
