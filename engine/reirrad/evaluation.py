"""Evaluation of a plan's dose: cumulative OAR checks by both methods, target coverage and BED₁₀.

Used after every optimisation of the workflow and for the final plan. Coverage is V(95 % of the
prescription) of the target in %; the BED₁₀ figures use the protocol's tumour α/β and reporting
threshold (BED₁₀ ≥ 80 Gy ↔ 43.01 Gy in 5 fractions, Robinson 2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from . import lq
from .cumulative import CumulativeEvaluation, PriorCourseDose, evaluate_cumulative
from .dose import DoseGrid
from .dvh import DVH
from .protocol import Protocol
from .structures import Occupancy

__all__ = ["PlanEvaluation", "TargetFigures", "evaluate_plan"]


@dataclass(frozen=True)
class TargetFigures:
    """Target coverage and BED figures of a plan (doses in Gy, volumes in %)."""

    prescription_gy: float
    v95_pct: float
    d95_gy: float
    d98_gy: float
    d95_bed10_gy: float
    d98_bed10_gy: float
    v_bed_threshold_pct: float
    bed_threshold_gy: float
    bed_threshold_physical_gy: float

    def to_dict(self) -> Dict[str, Any]:
        """Plain mapping for JSON."""
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class PlanEvaluation:
    """Everything the search and the result need about one plan."""

    prescription_gy: float
    oars: Tuple[CumulativeEvaluation, ...]
    target: TargetFigures
    coverage_ok: bool
    oars_ok: bool

    @property
    def feasible(self) -> bool:
        """Every OAR passes (both methods, de novo) and the coverage rule holds."""
        return self.coverage_ok and self.oars_ok

    @property
    def limiting_oars(self) -> List[str]:
        """Failing OARs, else those within 2 % of their cumulative limit, most loaded first."""
        failing = [o.oar for o in self.oars if not o.passed]
        if failing:
            return failing
        loads = []
        for o in self.oars:
            limit = o.tolerance.cumulative_limit_eqd2_gy
            if limit is not None and o.cumulative_eqd2_gy is not None:
                loads.append((o.cumulative_eqd2_gy / limit, o.oar))
        return [oar for load, oar in sorted(loads, reverse=True) if load >= 0.98]


def _target_figures(protocol: Protocol, dose: DoseGrid, target: Occupancy, rx: float,
                    n_fractions: int) -> TargetFigures:
    dvh = DVH.from_dose(dose, target)
    ab = protocol.coverage_rule.tumour_alpha_beta.value
    threshold = protocol.coverage_rule.report_bed_threshold.value
    threshold_physical = lq.physical_dose_for_bed_gy(threshold, n_fractions, ab)
    d95, d98 = dvh.dose_at_volume_pct(95.0), dvh.dose_at_volume_pct(98.0)
    return TargetFigures(
        prescription_gy=rx,
        v95_pct=dvh.volume_at_dose_pct(0.95 * rx),
        d95_gy=d95, d98_gy=d98,
        d95_bed10_gy=lq.bed_gy(d95, n_fractions, ab), d98_bed10_gy=lq.bed_gy(d98, n_fractions, ab),
        v_bed_threshold_pct=dvh.volume_at_dose_pct(threshold_physical),
        bed_threshold_gy=threshold, bed_threshold_physical_gy=threshold_physical,
    )


def evaluate_plan(protocol: Protocol, *, dose: DoseGrid, prescription_gy: float, n_fractions: int,
                  target: Occupancy, oar_occupancy: Mapping[str, Occupancy],
                  oar_structures: Mapping[str, str], prior_courses: Sequence[PriorCourseDose],
                  recovery_model: Any = None, conservation_factor: Any = None) -> PlanEvaluation:
    """Evaluate a plan dose (TOTAL physical Gy on the planning grid)."""
    oars = tuple(
        evaluate_cumulative(protocol, key, oar_occupancy[key], prior_courses, new_dose=dose,
                            n_fractions=n_fractions, structure=oar_structures[key],
                            recovery_model=recovery_model, conservation_factor=conservation_factor)
        for key in protocol.oar_keys if key in oar_occupancy)
    figures = _target_figures(protocol, dose, target, prescription_gy, n_fractions)
    return PlanEvaluation(
        prescription_gy=prescription_gy, oars=oars, target=figures,
        coverage_ok=figures.v95_pct >= protocol.coverage_rule.ptv_v95_min_percent.value,
        oars_ok=all(o.passed for o in oars),
    )
