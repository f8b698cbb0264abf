"""Voxel-wise radiobiology on the planning grid: EQD2 maps, recovery, sums, remaining tolerance.

Every prior course's physical dose must already be mapped onto the planning dose grid
(:meth:`reirrad.dose.DoseGrid.resample` / ``resample_deformable``); grids of different geometry
are refused, never silently combined.

Rules (documented choices)
--------------------------
* **Per-voxel dose per fraction.** Each voxel is converted with its own d = D_voxel / n of its
  course (docs/reference/radiobiology.md §2.1), never with the prescription's d.
* **Recovery per course.** Course i contributes (1 − fᵢ)·EQD2ᵢ, fᵢ the credited recovered fraction
  for its own interval (from :mod:`reirrad.recovery`).
* **One α/β per voxel for all courses.** EQD2 values are only summed at a single α/β. Where
  several tissues overlap, the candidate α/β values at a voxel are those of every tissue with
  occupancy > 0 there, plus the background α/β where no single tissue fills the voxel. The
  candidate that gives the **highest total effective EQD2 over all courses** wins (the issue's
  overlap rule, applied to the sum so that courses are never summed at different α/β). The winning
  α/β is returned per voxel for the report.
* **Per-OAR evaluation uses the OAR's own α/β** over the whole grid
  (:func:`effective_prior_eqd2_at`), because its cumulative limit is stated at that α/β; the
  composite map above is for display, export and the remaining-tolerance overview.
* **Remaining tolerance map** for an OAR = limit − effective prior EQD2 at the OAR's α/β, floored
  at 0, and its physical equivalent in the new course's n fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import lq
from ._validate import FloatArray, finite_float, float_array, positive_int
from .dose import DoseGrid
from .errors import IncompatibleDoseError, InputError
from .structures import Box, Occupancy

__all__ = [
    "CourseDose",
    "EffectivePriorMap",
    "RemainingToleranceMap",
    "Tissue",
    "effective_prior_eqd2_at",
    "effective_prior_eqd2_map",
    "remaining_tolerance_map",
]


@dataclass(frozen=True, eq=False)
class CourseDose:
    """A prior course's physical dose on the planning grid and the recovery credited to it.

    Parameters
    ----------
    name : str
        Course label.
    dose : DoseGrid
        Total physical dose of the course (``quantity == "physical"``), Gy, on the planning grid.
    n_fractions : int
        Fractions of the course.
    recovered_fraction : float
        Credited recovered fraction in [0, 1] (already including any conservation factor).
    """

    name: str
    dose: DoseGrid
    n_fractions: int
    recovered_fraction: float

    def __post_init__(self) -> None:
        if not isinstance(self.dose, DoseGrid):
            raise InputError(f"course '{self.name}': dose must be a DoseGrid "
                             f"(got {type(self.dose).__name__})")
        if self.dose.quantity != "physical":
            raise IncompatibleDoseError(
                f"course '{self.name}': dose is {self.dose.quantity!r}; voxel-wise conversion needs the "
                "total physical dose of the course"
            )
        positive_int("n_fractions", self.n_fractions)
        f = finite_float("recovered_fraction", self.recovered_fraction, minimum=0.0)
        if f > 1.0:
            raise InputError(f"course '{self.name}': recovered_fraction must be in [0, 1] (got {f!r})")


@dataclass(frozen=True, eq=False)
class Tissue:
    """A structure's occupancy on the planning grid and its α/β (Gy).

    ``occupancy`` is an :class:`reirrad.structures.Occupancy` (bounding-box storage, preferred) or
    a full-grid array of fractions in [0, 1].
    """

    name: str
    occupancy: Union[Occupancy, FloatArray]
    alpha_beta_gy: float

    def __post_init__(self) -> None:
        if not isinstance(self.occupancy, Occupancy):
            occ = float_array(f"{self.name} occupancy", self.occupancy, non_negative=True)
            if occ.size and float(occ.max()) > 1.0:
                raise InputError(f"{self.name}: occupancy must be in [0, 1] (found {float(occ.max())!r})")
            object.__setattr__(self, "occupancy", occ)
        finite_float("alpha_beta_gy", self.alpha_beta_gy, strictly_positive=True, unit="Gy")

    def boxed(self, shape: Tuple[int, int, int]) -> Tuple[Box, FloatArray]:
        """(index box, occupancy inside it) on a grid of ``shape``; refuses another grid."""
        if isinstance(self.occupancy, Occupancy):
            grid_shape = self.occupancy.grid_shape
            box, values = self.occupancy.box, self.occupancy.box_fraction
        else:
            grid_shape = tuple(self.occupancy.shape)
            box = (slice(None), slice(None), slice(None))
            values = self.occupancy
        if grid_shape != shape:
            raise InputError(f"tissue '{self.name}' occupancy shape {grid_shape} differs from the dose "
                             f"grid {shape}")
        return box, values


@dataclass(frozen=True, eq=False)
class EffectivePriorMap:
    """Effective prior EQD2 (after recovery, summed over courses) and the α/β used per voxel."""

    eqd2: DoseGrid
    alpha_beta_gy: FloatArray


@dataclass(frozen=True, eq=False)
class RemainingToleranceMap:
    """Remaining tolerance of one OAR over the grid.

    Attributes
    ----------
    remaining_eqd2 : DoseGrid
        max(limit − effective prior EQD2, 0) at the OAR's α/β, Gy (quantity ``eqd2``).
    allowed_physical : DoseGrid
        Physical dose in the new course's n fractions with that EQD2, Gy.
    """

    remaining_eqd2: DoseGrid
    allowed_physical: DoseGrid


def _check_courses(courses: Sequence[CourseDose]) -> DoseGrid:
    if not courses:
        raise InputError("no prior course doses were given")
    for c in courses:
        if not isinstance(c, CourseDose):
            raise InputError(f"each course must be a CourseDose (got {type(c).__name__})")
    reference = courses[0].dose
    for c in courses[1:]:
        reference.check_same_frame(c.dose.frame_of_reference_uid, f"course '{c.name}'")
        if not reference.same_geometry(c.dose):
            raise IncompatibleDoseError(
                f"course '{c.name}' is on a different grid from '{courses[0].name}'; resample every "
                "prior dose onto the planning grid before summing"
            )
    return reference


def _effective_sum(courses: Sequence[CourseDose], alpha_beta_gy: ArrayLike) -> FloatArray:
    total = np.zeros(courses[0].dose.shape)
    for c in courses:
        total += (1.0 - c.recovered_fraction) * np.asarray(
            lq.eqd2_gy(c.dose.values_gy, c.n_fractions, alpha_beta_gy))
    return total


def effective_prior_eqd2_at(courses: Sequence[CourseDose], alpha_beta_gy: float) -> DoseGrid:
    """Σ (1 − fᵢ)·EQD2ᵢ over courses at one α/β, per voxel (for one OAR's evaluation)."""
    grid = _check_courses(courses)
    ab = finite_float("alpha_beta_gy", alpha_beta_gy, strictly_positive=True, unit="Gy")
    return DoseGrid(_effective_sum(courses, ab), grid.origin_mm, grid.spacing_mm, grid.direction,
                    quantity="eqd2", alpha_beta_gy=ab)


def _candidates(shape: Tuple[int, int, int], tissues: Sequence[Tissue],
                background_ab: float) -> Tuple[List[float], List[NDArray[np.bool_]]]:
    """Distinct α/β values and, for each, the mask of voxels where it is a candidate."""
    values: List[float] = []
    masks: List[NDArray[np.bool_]] = []
    fullest = np.zeros(shape)
    for t in tissues:
        box, occ = t.boxed(shape)
        fullest[box] = np.maximum(fullest[box], occ)
        if t.alpha_beta_gy not in values:
            values.append(t.alpha_beta_gy)
            masks.append(np.zeros(shape, dtype=bool))
        idx = values.index(t.alpha_beta_gy)
        masks[idx][box] |= occ > 0.0
    background = fullest < 1.0
    if background_ab in values:
        idx = values.index(background_ab)
        masks[idx] = np.logical_or(masks[idx], background)
    else:
        values.append(background_ab)
        masks.append(background)
    return values, masks


def effective_prior_eqd2_map(courses: Sequence[CourseDose], tissues: Sequence[Tissue],
                             background_alpha_beta_gy: float) -> EffectivePriorMap:
    """Composite effective prior EQD2 map with the overlap rule of the module docstring.

    Parameters
    ----------
    courses : sequence of CourseDose
        Prior courses on the planning grid, with their credited recovery.
    tissues : sequence of Tissue
        Structures with their α/β (occupancy on the same grid).
    background_alpha_beta_gy : float
        α/β of voxels not (fully) inside a listed tissue, Gy (from the protocol).
    """
    grid = _check_courses(courses)
    background = finite_float("background_alpha_beta_gy", background_alpha_beta_gy,
                              strictly_positive=True, unit="Gy")
    values, masks = _candidates(grid.shape, tissues, background)
    best = np.full(grid.shape, -np.inf)
    best_ab = np.zeros(grid.shape)
    for ab, mask in zip(values, masks):
        total = _effective_sum(courses, ab)
        better = np.greater(total, best, where=mask, out=np.zeros(grid.shape, dtype=bool))
        np.copyto(best, total, where=better)
        np.copyto(best_ab, ab, where=better)
    best_ab.flags.writeable = False
    eqd2 = DoseGrid(best, grid.origin_mm, grid.spacing_mm, grid.direction, quantity="eqd2")
    return EffectivePriorMap(eqd2=eqd2, alpha_beta_gy=best_ab)


def remaining_tolerance_map(courses: Sequence[CourseDose], alpha_beta_gy: float, limit_eqd2_gy: float,
                            n_fractions: int) -> RemainingToleranceMap:
    """Remaining EQD2 (floored at 0) and allowed physical dose in ``n_fractions``, per voxel.

    Parameters
    ----------
    courses : sequence of CourseDose
    alpha_beta_gy : float
        The OAR's α/β, Gy.
    limit_eqd2_gy : float
        The OAR's cumulative EQD2 limit, Gy.
    n_fractions : int
        Fractions of the new course.
    """
    limit = finite_float("limit_eqd2_gy", limit_eqd2_gy, strictly_positive=True, unit="Gy")
    n = positive_int("n_fractions", n_fractions)
    ab = finite_float("alpha_beta_gy", alpha_beta_gy, strictly_positive=True, unit="Gy")
    prior = effective_prior_eqd2_at(courses, ab)
    remaining = np.maximum(limit - prior.values_gy, 0.0)
    allowed = np.asarray(lq.physical_dose_for_eqd2_gy(remaining, n, ab))
    geometry = (prior.origin_mm, prior.spacing_mm, prior.direction)
    return RemainingToleranceMap(
        remaining_eqd2=DoseGrid(remaining, *geometry, quantity="eqd2", alpha_beta_gy=ab),
        allowed_physical=DoseGrid(allowed, *geometry),
    )
