"""Cumulative evaluation of a new plan for one OAR, by both methods side by side.

* **Metric sum (guidance).** Each prior course's physical DVH metric (e.g. D0.5cc) on the OAR →
  :func:`reirrad.constraints.remaining_tolerance` (EQD2, recovery per course, sum) → plus the
  EQD2 of the new plan's metric dose. Summing metrics of different courses reads them as though they
  fell on the same sub-volume: an upper bound of the voxel-wise value for Dmax only. For a volume metric
  it is not (two courses' 0.4 cm³ hot spots apart: each D0.5cc low, their sum low, the voxel-wise D0.5cc
  high; docs/clinical-decisions.md 4).
* **Voxel-wise.** Per voxel, Σ (1 − fᵢ)·EQD2ᵢ(prior) + EQD2(new), all at the OAR's α/β, then the
  metric of that cumulative map on the OAR's occupancy. The recovered fractions fᵢ are exactly those
  the metric-sum method credited (same intervals, same model), so the two differ only in where the
  doses fall.

**Deciding method** (the protocol's ``cumulative.deciding_method``, :data:`reirrad.protocol.DECIDING_METHODS`;
docs/clinical-decisions.md 37): ``metric-sum`` (the guidance, the shipped default), ``voxel-wise`` (a
documented local choice) or ``both``. ``passed`` requires the deciding method(s) within the cumulative
limit (``check_limit_eqd2_gy`` of the tolerance: the protocol's limit, or min(limit, single-course
tolerance) with Jones & Grant), the new plan's metric within the de novo mandatory limit, and within the
per-course cap where the protocol has one. Both methods are always computed and reported;
``cumulative_eqd2_gy`` is the deciding method's value (``both``: the larger). When the other method
breaks the limit, :meth:`CumulativeEvaluation.methods_disagree` says so (the workflow flags it).

**No silent pass.** An OAR with prior dose but no cumulative limit gets both cumulative values with
no recovery credited (nothing is known to credit against), and ``passed`` is None ("not assessable")
unless a limit that does exist (de novo, per-course) fails, which makes it False. With no prior dose
such an OAR passes or fails on its de novo limit alone. All prior doses and the new dose must be on
the same planning grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from . import lq
from ._validate import positive_int
from .biomaps import CourseDose, effective_prior_eqd2_at
from .constraints import PriorMetricDose, RemainingTolerance, remaining_tolerance
from .dose import DoseGrid
from .dvh import DVH
from .errors import IncompatibleDoseError, InputError
from .protocol import Protocol
from .structures import Occupancy

__all__ = ["CumulativeEqd2Map", "CumulativeEvaluation", "PriorCourseDose", "cumulative_eqd2_map",
           "evaluate_cumulative"]


@dataclass(frozen=True, eq=False)
class PriorCourseDose:
    """A prior course: its total physical dose on the planning grid, fractions and interval."""

    name: str
    dose: DoseGrid
    n_fractions: int
    interval_days: Optional[float]


@dataclass(frozen=True, eq=False)
class CumulativeEvaluation:
    """Both cumulative methods for one OAR and the verdict (see the module docstring)."""

    oar: str
    structure: str
    tolerance: RemainingTolerance
    planned_physical_gy: float
    new_eqd2_gy: float
    cumulative_eqd2_metric_sum_gy: Optional[float]
    cumulative_eqd2_voxelwise_gy: Optional[float]
    passed_metric_sum: Optional[bool]
    passed_voxelwise: Optional[bool]
    passed_de_novo: bool
    passed_per_course: Optional[bool] = None
    deciding_method: str = "both"

    @property
    def cumulative_eqd2_gy(self) -> Optional[float]:
        """The deciding method's cumulative EQD2 (``both``: the larger of the two; without a cumulative
        limit: nominal, no recovery)."""
        chosen = {"metric-sum": (self.cumulative_eqd2_metric_sum_gy,),
                  "voxel-wise": (self.cumulative_eqd2_voxelwise_gy,)}.get(
            self.deciding_method, (self.cumulative_eqd2_metric_sum_gy, self.cumulative_eqd2_voxelwise_gy))
        values = [v for v in chosen if v is not None]
        return max(values) if values else None

    @property
    def methods_disagree(self) -> bool:
        """True when the deciding method meets the cumulative limit and the method that does not decide
        breaks it (never for ``both``)."""
        if self.deciding_method == "metric-sum":
            return self.passed_metric_sum is True and self.passed_voxelwise is False
        if self.deciding_method == "voxel-wise":
            return self.passed_voxelwise is True and self.passed_metric_sum is False
        return False

    @property
    def passed(self) -> Optional[bool]:
        """False when any limit fails; None when every existing limit is met but the OAR has prior
        dose and no cumulative limit (not assessable); True otherwise."""
        if not self.passed_de_novo or self.passed_per_course is False:
            return False
        if self.tolerance.cumulative_limit_eqd2_gy is None:
            return None if self.tolerance.prior_eqd2_gy > 0.0 else True
        if self.deciding_method == "metric-sum":
            return self.passed_metric_sum is not False
        if self.deciding_method == "voxel-wise":
            return self.passed_voxelwise is not False
        return self.passed_metric_sum is not False and self.passed_voxelwise is not False

    def to_dict(self) -> Dict[str, Any]:
        """Per-OAR record with the docs/design.md §5 fields plus both methods."""
        record = self.tolerance.to_dict()
        record.update({
            "structure": self.structure,
            "planned_physical_gy": self.planned_physical_gy,
            "new_eqd2_gy": self.new_eqd2_gy,
            "cumulative_eqd2_gy": self.cumulative_eqd2_gy,
            "cumulative_eqd2_metric_sum_gy": self.cumulative_eqd2_metric_sum_gy,
            "cumulative_eqd2_voxelwise_gy": self.cumulative_eqd2_voxelwise_gy,
            "passed_metric_sum": self.passed_metric_sum,
            "passed_voxelwise": self.passed_voxelwise,
            "passed_de_novo": self.passed_de_novo,
            "passed_per_course": self.passed_per_course,
            "passed": self.passed,
            "deciding_method": self.deciding_method,
        })
        return record


def evaluate_cumulative(
    protocol: Protocol,
    oar: str,
    occupancy: Union[ArrayLike, Occupancy],
    prior_courses: Sequence[PriorCourseDose],
    *,
    new_dose: DoseGrid,
    n_fractions: int,
    structure: str = "",
    recovery_model: Optional[str] = None,
    conservation_factor: Optional[float] = None,
) -> CumulativeEvaluation:
    """Evaluate the new plan's dose for one OAR against its cumulative and de novo limits.

    Parameters
    ----------
    protocol : Protocol
    oar : str
        Protocol OAR key.
    occupancy : array_like or Occupancy
        The OAR's occupancy on the planning grid.
    prior_courses : sequence of PriorCourseDose
        Prior physical doses on the planning grid, with fractions and intervals.
    new_dose : DoseGrid
        The new plan's total physical dose, Gy, on the planning grid.
    n_fractions : int
        Fractions of the new plan.
    structure : str, optional
        The structure name matched to the OAR (for the record).
    recovery_model, conservation_factor : optional
        Overrides, as in :func:`reirrad.constraints.remaining_tolerance`.
    """
    spec = protocol.oar(oar)
    n_new = positive_int("n_fractions", n_fractions)
    if not isinstance(new_dose, DoseGrid) or new_dose.quantity != "physical":
        raise IncompatibleDoseError("new_dose must be the new plan's total physical dose as a DoseGrid")
    occ = occupancy
    metric = spec.de_novo.metric
    for course in prior_courses:
        if not isinstance(course, PriorCourseDose):
            raise InputError(f"each prior course must be a PriorCourseDose (got {type(course).__name__})")
        new_dose.check_same_frame(course.dose.frame_of_reference_uid, f"prior course '{course.name}'")
        if not course.dose.same_geometry(new_dose):
            raise IncompatibleDoseError(
                f"prior course '{course.name}' is not on the new plan's dose grid (shape "
                f"{course.dose.shape} vs {new_dose.shape}, or origin/spacing/direction differ); resample "
                "the prior dose onto the planning grid first"
            )
    prior_metrics = [PriorMetricDose(DVH.from_dose(c.dose, occ).metric_gy(metric), c.n_fractions,
                                     c.interval_days, c.name) for c in prior_courses]
    tolerance = remaining_tolerance(protocol, oar, prior_metrics, n_new, recovery_model=recovery_model,
                                    conservation_factor=conservation_factor)
    ab = spec.alpha_beta.value
    planned = DVH.from_dose(new_dose, occ).metric_gy(metric)
    new_eqd2 = lq.eqd2_gy(planned, n_new, ab)
    passed_de_novo = planned <= spec.de_novo.mandatory.value
    cap = tolerance.per_course_limit_eqd2_gy
    passed_per_course = None if cap is None else bool(new_eqd2 <= cap)

    limit = tolerance.check_limit_eqd2_gy
    voxelwise = _voxelwise_metric(prior_courses, tolerance, new_dose=new_dose, n_new=n_new, occ=occ)
    if limit is None:  # no cumulative limit: reported with no recovery credited, not judged
        metric_sum = tolerance.prior_eqd2_gy + new_eqd2
        return CumulativeEvaluation(oar, structure, tolerance, planned, new_eqd2, metric_sum, voxelwise,
                                    None, None, passed_de_novo, passed_per_course,
                                    protocol.cumulative.deciding_method)
    metric_sum = float(tolerance.effective_prior_eqd2_gy or 0.0) + new_eqd2
    return CumulativeEvaluation(
        oar, structure, tolerance, planned, new_eqd2, metric_sum, voxelwise,
        metric_sum <= limit, voxelwise <= limit, passed_de_novo, passed_per_course,
        protocol.cumulative.deciding_method,
    )


@dataclass(frozen=True, eq=False)
class CumulativeEqd2Map:
    """The voxel-wise cumulative EQD2 of one OAR over the whole planning grid (at its α/β).

    Attributes
    ----------
    total : DoseGrid
        Σ (1 − fᵢ)·EQD2ᵢ(prior course i) + EQD2(new plan), Gy (EQD2).
    effective_prior : DoseGrid or None
        Σ (1 − fᵢ)·EQD2ᵢ alone, Gy (EQD2); None without prior courses.
    """

    total: DoseGrid
    effective_prior: Optional[DoseGrid]


def cumulative_eqd2_map(prior_courses: Sequence[PriorCourseDose], tolerance: RemainingTolerance, *,
                        new_dose: DoseGrid, n_fractions: int) -> CumulativeEqd2Map:
    """The voxel-wise cumulative EQD2 of the OAR of ``tolerance`` (module docstring, "Voxel-wise").

    Parameters
    ----------
    prior_courses : sequence of PriorCourseDose
        Prior physical doses on the planning grid, in the order of ``tolerance.courses``.
    tolerance : RemainingTolerance
        The OAR's tolerance: its α/β and the recovered fraction credited to each course (0 where
        none is credited).
    new_dose : DoseGrid
        The new plan's total physical dose, Gy.
    n_fractions : int
        Fractions of the new plan.
    """
    ab = tolerance.alpha_beta_gy
    fractions: Tuple[float, ...] = tuple(
        c.recovery.fraction if c.recovery is not None else 0.0 for c in tolerance.courses)
    new_eqd2 = np.asarray(lq.eqd2_gy(new_dose.values_gy, n_fractions, ab))
    prior: Optional[DoseGrid] = None
    total = new_eqd2
    if prior_courses:
        courses = [CourseDose(p.name, p.dose, p.n_fractions, f) for p, f in zip(prior_courses, fractions)]
        prior = effective_prior_eqd2_at(courses, ab)
        total = prior.values_gy + new_eqd2
    grid = DoseGrid(total, new_dose.origin_mm, new_dose.spacing_mm, new_dose.direction,
                    quantity="eqd2", alpha_beta_gy=ab)
    return CumulativeEqd2Map(grid, prior)


def _voxelwise_metric(prior_courses: Sequence[PriorCourseDose], tolerance: RemainingTolerance, *,
                      new_dose: DoseGrid, n_new: int, occ: Any) -> float:
    total = cumulative_eqd2_map(prior_courses, tolerance, new_dose=new_dose, n_fractions=n_new).total
    return DVH.from_dose(total, occ).metric_gy(tolerance.metric)
