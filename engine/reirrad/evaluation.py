"""Evaluation of a plan's dose: cumulative OAR checks by both methods, target coverage and BED₁₀.

Used after every optimisation of the workflow and for the final plan. Coverage is V(95 % of the
prescription) of the target in %; the BED₁₀ figures use the protocol's tumour α/β and reporting
threshold (BED₁₀ ≥ 80 Gy ↔ 43.01 Gy in 5 fractions, Robinson 2022).

**Tumour dose** (:class:`TumourDose`, one per α/β of ``coverage_rule.tumour_dose_alpha_betas``): the
prescription's BED and EQD2, D95 and D80 of the target as EQD2 (D80: the dose to ≥ 80 % of the PTV, the
volume of Robinson 2022's figure of merit, a BED₁₀ of 80 Gy deliverable to ≥ 80 % of the PTV:
docs/reference/radiobiology.md §5.1), and the prescription BED over the BED of the protocol's
limit-toxicity dose (30 Gy/5) at the same α/β. Closed forms: BED = D(1 + D/(n·α/β)),
EQD2 = BED/(1 + 2/α/β); 45 Gy/5 at α/β 5 → BED 126 Gy, EQD2 90 Gy; 30 Gy/5 → BED 66 Gy, so the ratio
is 126/66 = 1.909.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from . import lq
from .cumulative import CumulativeEvaluation, PriorCourseDose, evaluate_cumulative
from .dose import DoseGrid
from .dvh import DVH
from .findings import Finding
from .protocol import Protocol
from .structures import Occupancy

__all__ = ["PlanEvaluation", "TargetFigures", "TumourDose", "evaluate_plan", "method_findings",
           "target_figures", "tumour_dose"]


@dataclass(frozen=True)
class TumourDose:
    """Tumour dose of a plan at one α/β (Gy); see the module docstring."""

    alpha_beta_gy: float
    prescription_bed_gy: float
    prescription_eqd2_gy: float
    d95_eqd2_gy: float
    d80_eqd2_gy: float
    bed_ratio_to_reference: float
    reference_prescription_gy: float

    def to_dict(self) -> Dict[str, Any]:
        """Plain mapping for JSON."""
        return dict(self.__dict__)


def tumour_dose(alpha_beta_gy: float, *, prescription_gy: float, d95_gy: float, d80_gy: float,
                n_fractions: int, reference_prescription_gy: float) -> TumourDose:
    """The :class:`TumourDose` of a prescription and achieved D95/D80 (TOTAL physical Gy, n fractions)."""
    bed = float(lq.bed_gy(prescription_gy, n_fractions, alpha_beta_gy))
    return TumourDose(
        alpha_beta_gy=alpha_beta_gy,
        prescription_bed_gy=bed,
        prescription_eqd2_gy=float(lq.eqd2_gy(prescription_gy, n_fractions, alpha_beta_gy)),
        d95_eqd2_gy=float(lq.eqd2_gy(d95_gy, n_fractions, alpha_beta_gy)),
        d80_eqd2_gy=float(lq.eqd2_gy(d80_gy, n_fractions, alpha_beta_gy)),
        bed_ratio_to_reference=bed / float(lq.bed_gy(reference_prescription_gy, n_fractions, alpha_beta_gy)),
        reference_prescription_gy=reference_prescription_gy,
    )


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
    d80_gy: float
    tumour_dose: Tuple[TumourDose, ...]

    def to_dict(self) -> Dict[str, Any]:
        """Plain mapping for JSON (``tumour_dose`` as a list of mappings)."""
        record = {k: v for k, v in self.__dict__.items() if k != "tumour_dose"}
        record["tumour_dose"] = [t.to_dict() for t in self.tumour_dose]
        return record


@dataclass(frozen=True, eq=False)
class PlanEvaluation:
    """Everything the search and the result need about one plan."""

    prescription_gy: float
    oars: Tuple[CumulativeEvaluation, ...]
    target: TargetFigures
    coverage_ok: bool
    oars_ok: bool
    limiting_load_fraction: float

    @property
    def feasible(self) -> bool:
        """Every OAR passes (both methods, de novo) and the coverage rule holds."""
        return self.coverage_ok and self.oars_ok

    @property
    def failing_oars(self) -> List[str]:
        """OARs that break a limit (``passed`` False), in protocol order."""
        return [o.oar for o in self.oars if o.passed is False]

    @property
    def limiting_oars(self) -> List[str]:
        """Failing OARs, else those whose cumulative EQD2 reaches ``limiting_load_fraction`` of their
        limit (the protocol's ``planning.limiting_oar_load_fraction``), most loaded first."""
        failing = self.failing_oars
        if failing:
            return failing
        loads = []
        for o in self.oars:
            limit = o.tolerance.check_limit_eqd2_gy
            if limit is not None and o.cumulative_eqd2_gy is not None:
                loads.append((o.cumulative_eqd2_gy / limit, o.oar))
        return [oar for load, oar in sorted(loads, reverse=True) if load >= self.limiting_load_fraction]


def target_figures(protocol: Protocol, dose: DoseGrid, target: Occupancy, rx: float,
                    n_fractions: int) -> TargetFigures:
    """Coverage, D95/D98/D80, BED₁₀ and tumour-dose figures of one target region (module docstring) for a
    TOTAL physical dose and prescription ``rx`` (Gy) in ``n_fractions``."""
    dvh = DVH.from_dose(dose, target)
    ab = protocol.coverage_rule.tumour_alpha_beta.value
    threshold = protocol.coverage_rule.report_bed_threshold.value
    threshold_physical = lq.physical_dose_for_bed_gy(threshold, n_fractions, ab)
    d95, d98, d80 = dvh.dose_at_volume_pct(95.0), dvh.dose_at_volume_pct(98.0), dvh.dose_at_volume_pct(80.0)
    reference = protocol.prescriptions.limit_toxicity.value
    return TargetFigures(
        d80_gy=d80,
        tumour_dose=tuple(tumour_dose(a, prescription_gy=rx, d95_gy=d95, d80_gy=d80, n_fractions=n_fractions,
                                      reference_prescription_gy=reference)
                          for a in protocol.coverage_rule.tumour_dose_alpha_betas_gy),
        prescription_gy=rx,
        v95_pct=dvh.volume_at_dose_pct(0.95 * rx),
        d95_gy=d95, d98_gy=d98,
        d95_bed10_gy=lq.bed_gy(d95, n_fractions, ab), d98_bed10_gy=lq.bed_gy(d98, n_fractions, ab),
        v_bed_threshold_pct=dvh.volume_at_dose_pct(threshold_physical),
        bed_threshold_gy=threshold, bed_threshold_physical_gy=threshold_physical,
    )


def method_findings(evaluation: PlanEvaluation) -> List[Finding]:
    """A ``flag`` (``cumulative-methods-disagree``) for each OAR whose deciding cumulative method meets the
    limit while the other method breaks it (:attr:`reirrad.cumulative.CumulativeEvaluation.methods_disagree`):
    the verdict follows the protocol's deciding method, the disagreement is never silent."""
    found = []
    for o in evaluation.oars:
        if not o.methods_disagree:
            continue
        limit = o.tolerance.check_limit_eqd2_gy
        found.append(Finding(
            "cumulative-methods-disagree", "flag",
            f"{o.structure} ({o.oar}): the protocol's deciding method ({o.deciding_method}) meets the "
            f"cumulative limit of {limit:.1f} Gy EQD2, but the other method does not (metric sum "
            f"{o.cumulative_eqd2_metric_sum_gy:.1f}, voxel-wise {o.cumulative_eqd2_voxelwise_gy:.1f} Gy "
            "EQD2): where the prior and new doses fall matters here - review the cumulative EQD2 map",
            subject=o.oar))
    return found


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
    figures = target_figures(protocol, dose, target, prescription_gy, n_fractions)
    return PlanEvaluation(
        prescription_gy=prescription_gy, oars=oars, target=figures,
        coverage_ok=figures.v95_pct >= protocol.coverage_rule.ptv_v95_min_percent.value,
        oars_ok=all(o.passed is not False for o in oars),
        limiting_load_fraction=protocol.planning.limiting_oar_load_fraction.value,
    )
