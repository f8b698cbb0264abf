"""Remaining organ-at-risk tolerance by the guidance's metric method.

For one OAR of a protocol and the prior courses' doses at that OAR's metric (e.g. small-bowel
D0.5cc), the steps are (reference/radiobiology.md §1.6; UK guidance Appendix 3 as described
there — the appendix itself was not retrieved):

1. each prior course's metric dose D_i (physical, total over that course, n_i fractions) →
   EQD2_i at the OAR's α/β;
2. recovery per course by its own interval: effective_i = (1 − f_i)·EQD2_i;
3. effective prior = Σ effective_i (all at the same α/β — enforced by :class:`reirrad.lq.Eqd2Dose`);
4. remaining EQD2 = cumulative limit − effective prior;
5. physical dose in the new course's n fractions with that EQD2 (positive root; 0 when the
   budget ≤ 0 — the OAR is then *exhausted*, which is a result, not an error);
6. planning limit = min(remaining physical, de novo mandatory limit).

Summing metric doses from different courses assumes they fall on the same sub-volume, which is
the conservative ("worst-case overlap") reading. An OAR with no cumulative limit in the protocol
gets only its de novo limit, and the result says so.

The per-OAR ``recovered_fraction`` is the overall credit ``1 − effective/prior`` (equal to the
single course's fraction when there is one course); each course's own fraction is in
``courses``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import lq
from ._validate import finite_float, positive_int
from .errors import InputError
from .findings import Finding
from .protocol import OarSpec, Protocol, Quantity
from .recovery import DAYS_PER_MONTH, RECOVERY_MODELS, RecoveryAssessment, assess_recovery

__all__ = [
    "MAX_PLAUSIBLE_COURSE_DOSE_GY",
    "CourseContribution",
    "PriorMetricDose",
    "RemainingTolerance",
    "remaining_tolerance",
]


#: Largest OAR metric dose (Gy, total over one external-beam course) accepted as plausible;
#: a larger value is almost surely a cGy figure typed as Gy.
MAX_PLAUSIBLE_COURSE_DOSE_GY = 200.0


@dataclass(frozen=True)
class PriorMetricDose:
    """An OAR's metric dose from one prior course.

    Parameters
    ----------
    dose_gy : float
        Physical dose at the OAR's protocol metric, **total over that course**, Gy (0 to 200;
        a larger value is refused as probably cGy).
    n_fractions : int
        Fractions of that course (≥ 1).
    interval_days : float or None
        Days from that course's last fraction to the new course's first; None if unknown
        (nothing is credited and an ``unknown-interval`` finding is raised).
    course : str, optional
        Label of the course for reports.
    """

    dose_gy: float
    n_fractions: int
    interval_days: Optional[float]
    course: str = ""

    def __post_init__(self) -> None:
        dose = finite_float("dose_gy", self.dose_gy, minimum=0.0, unit="Gy")
        if dose > MAX_PLAUSIBLE_COURSE_DOSE_GY:
            raise InputError(
                f"dose_gy {dose:g} Gy is above {MAX_PLAUSIBLE_COURSE_DOSE_GY:g} Gy for one course's "
                "OAR metric dose; this looks like cGy - give the dose in Gy"
            )
        positive_int("n_fractions", self.n_fractions)
        if self.interval_days is not None:
            days = finite_float("interval_days", self.interval_days, unit="days")
            if days < 0:
                raise InputError(
                    f"interval_days must be >= 0 (got {self.interval_days!r}); it runs from the "
                    "last prior fraction to the first new fraction"
                )

    @property
    def label(self) -> str:
        """The course label, or a description from its fractionation."""
        return self.course or f"{self.dose_gy:g} Gy in {self.n_fractions} fx"


@dataclass(frozen=True)
class CourseContribution:
    """One prior course's part in an OAR's effective prior dose."""

    course: str
    dose_gy: float
    n_fractions: int
    eqd2_gy: float
    recovery: Optional[RecoveryAssessment]
    effective_eqd2_gy: Optional[float]

    def to_dict(self) -> Dict[str, Any]:
        """Plain mapping for JSON output."""
        rec = self.recovery
        return {
            "course": self.course,
            "dose_gy": self.dose_gy,
            "n_fractions": self.n_fractions,
            "eqd2_gy": self.eqd2_gy,
            "interval_days": None if rec is None else rec.interval_days,
            "interval_months": None if rec is None else rec.interval_months,
            "recovered_fraction": None if rec is None else rec.fraction,
            "effective_eqd2_gy": self.effective_eqd2_gy,
        }


@dataclass(frozen=True)
class RemainingTolerance:
    """Result of :func:`remaining_tolerance` for one OAR.

    Attributes
    ----------
    oar, label : str
        Protocol OAR key and its label.
    metric : str
        Metric of the limits, e.g. ``"D0.5cc"``.
    alpha_beta_gy : float
        α/β used for every course of this OAR.
    n_fractions : int
        Fractions of the new course.
    cumulative_limit_eqd2_gy : float or None
        The protocol's cumulative limit; None when the protocol has none for this OAR.
    prior_eqd2_gy : float
        Sum over courses of the prior EQD2, no recovery.
    recovered_fraction : float or None
        Overall credited recovery, 1 − effective/prior (None without a cumulative limit).
    effective_prior_eqd2_gy : float or None
        Prior EQD2 after recovery.
    remaining_eqd2_gy : float or None
        Limit − effective prior (may be negative: the shortfall is kept for the report).
    cumulative_allowed_physical_gy : float or None
        Physical dose in n fractions equal to the remaining EQD2 (0 when exhausted).
    de_novo_mandatory_gy, de_novo_optimal_gy : float, float or None
        The protocol's limits for the new course alone.
    allowed_physical_gy : float
        Planning limit: min(cumulative allowed, de novo mandatory).
    limited_by : str
        ``"cumulative"`` or ``"de-novo"``.
    exhausted : bool
        True when no dose is allowed by the cumulative limit (remaining ≤ 0).
    courses : tuple of CourseContribution
    findings : tuple of Finding
    values_used : tuple of Quantity
        The protocol values this result depends on (for the provenance record).
    recovery_model : str
    conservation_factor : float
    """

    oar: str
    label: str
    metric: str
    alpha_beta_gy: float
    n_fractions: int
    cumulative_limit_eqd2_gy: Optional[float]
    prior_eqd2_gy: float
    recovered_fraction: Optional[float]
    effective_prior_eqd2_gy: Optional[float]
    remaining_eqd2_gy: Optional[float]
    cumulative_allowed_physical_gy: Optional[float]
    de_novo_mandatory_gy: float
    de_novo_optimal_gy: Optional[float]
    allowed_physical_gy: float
    limited_by: str
    exhausted: bool
    courses: Tuple[CourseContribution, ...]
    findings: Tuple[Finding, ...]
    values_used: Tuple[Quantity, ...]
    recovery_model: str
    conservation_factor: float

    def to_dict(self) -> Dict[str, Any]:
        """Per-OAR record with the field names of DESIGN.md §5 (plan fields None here)."""
        return {
            "name": self.oar,
            "label": self.label,
            "structure": None,
            "metric": self.metric,
            "alpha_beta_gy": self.alpha_beta_gy,
            "cumulative_limit_eqd2_gy": self.cumulative_limit_eqd2_gy,
            "prior_eqd2_gy": self.prior_eqd2_gy,
            "recovered_fraction": self.recovered_fraction,
            "effective_prior_eqd2_gy": self.effective_prior_eqd2_gy,
            "remaining_eqd2_gy": self.remaining_eqd2_gy,
            "cumulative_allowed_physical_gy": self.cumulative_allowed_physical_gy,
            "de_novo_mandatory_gy": self.de_novo_mandatory_gy,
            "de_novo_optimal_gy": self.de_novo_optimal_gy,
            "allowed_physical_gy": self.allowed_physical_gy,
            "limited_by": self.limited_by,
            "exhausted": self.exhausted,
            "planned_physical_gy": None,
            "cumulative_eqd2_gy": None,
            "passed": None,
            "n_fractions": self.n_fractions,
            "recovery_model": self.recovery_model,
            "conservation_factor": self.conservation_factor,
            "courses": [c.to_dict() for c in self.courses],
            "findings": [f.to_dict() for f in self.findings],
            "values_used": {q.key_path: {"value": q.value, "unit": q.unit, "source": q.source,
                                         "status": q.status} for q in self.values_used},
        }


def _course_condition_findings(spec: OarSpec, prior: PriorMetricDose, eqd2_gy: float) -> List[Finding]:
    conditions = spec.course_conditions
    if conditions is None:
        return []
    found = []
    cap = conditions.max_course_eqd2
    if cap is not None and eqd2_gy > cap.value:
        found.append(Finding(
            "course-above-limit-condition", "stop",
            f"{spec.label}: course '{prior.label}' gave EQD2 {eqd2_gy:.2f} Gy, above the "
            f"{cap.value:g} Gy per-course condition of the cumulative limit ({cap.source})",
            subject=spec.key,
        ))
    min_months = conditions.min_interval_months
    if (min_months is not None and prior.interval_days is not None
            and prior.interval_days < min_months.value * DAYS_PER_MONTH):
        found.append(Finding(
            "interval-below-limit-condition", "stop",
            f"{spec.label}: course '{prior.label}' ended {prior.interval_days:g} days before the new "
            f"course, under the {min_months.value:g}-month condition of the cumulative limit "
            f"({min_months.source})",
            subject=spec.key,
        ))
    return found


def _recovery_settings(protocol: Protocol, recovery_model: Optional[str],
                       conservation_factor: Optional[float]) -> Tuple[str, float]:
    model = protocol.recovery.model if recovery_model is None else recovery_model
    if model not in RECOVERY_MODELS:
        raise InputError(f"unknown recovery model {model!r}; choose one of {list(RECOVERY_MODELS)}")
    factor = (protocol.recovery.conservation_factor.value if conservation_factor is None
              else finite_float("conservation_factor", conservation_factor))
    return model, factor


def _sum_courses(
    protocol: Protocol, spec: OarSpec, prior_courses: Sequence[PriorMetricDose], model: str,
    factor: float,
) -> Tuple[lq.Eqd2Dose, lq.Eqd2Dose, List[CourseContribution], List[Finding]]:
    """Per-course EQD2 and recovery (steps 1-3); all sums at the OAR's single α/β."""
    ab = spec.alpha_beta.value
    limit = spec.cumulative_limit
    findings: List[Finding] = []
    contributions: List[CourseContribution] = []
    prior_total = lq.Eqd2Dose(0.0, ab)
    effective_total = lq.Eqd2Dose(0.0, ab)
    for course in prior_courses:
        eqd2 = lq.Eqd2Dose(lq.eqd2_gy(float(course.dose_gy), course.n_fractions, ab), ab)
        prior_total = prior_total + eqd2
        findings.extend(_course_condition_findings(spec, course, eqd2.value_gy))
        if limit is None:  # recovery credits nothing without a cumulative limit
            contributions.append(CourseContribution(course.label, course.dose_gy, course.n_fractions,
                                                    eqd2.value_gy, None, None))
            continue
        params: Dict[str, Any] = {}
        if model == "jones-grant-2014":
            params = {"prior_eqd2_gy": eqd2.value_gy, "tolerance_eqd2_gy": limit.eqd2.value,
                      "curve": protocol.recovery.jones_grant_curve}
        assessment = assess_recovery(model, course.interval_days, conservation_factor=factor, **params)
        effective = eqd2.scaled(1.0 - assessment.fraction)
        effective_total = effective_total + effective
        findings.extend(Finding(f.code, f.severity, f"course '{course.label}': {f.message}",
                                subject=spec.key) for f in assessment.findings)
        contributions.append(CourseContribution(course.label, course.dose_gy, course.n_fractions,
                                                eqd2.value_gy, assessment, effective.value_gy))
    return prior_total, effective_total, contributions, findings


def remaining_tolerance(
    protocol: Protocol,
    oar: str,
    prior_courses: Sequence[PriorMetricDose],
    n_fractions: int,
    *,
    recovery_model: Optional[str] = None,
    conservation_factor: Optional[float] = None,
) -> RemainingTolerance:
    """Remaining tolerance of one OAR and the planning limit for the new course.

    Parameters
    ----------
    protocol : Protocol
        Loaded protocol (:func:`reirrad.protocol.load_protocol`).
    oar : str
        Protocol OAR key, e.g. ``"small_bowel"``.
    prior_courses : sequence of PriorMetricDose
        The OAR's metric dose from each prior course (empty: no prior dose).
    n_fractions : int
        Fractions of the new course; must equal the protocol's (its de novo limits are for
        that fractionation).
    recovery_model : str, optional
        Overrides the protocol's recovery model (recorded in the result).
    conservation_factor : float, optional
        Overrides the protocol's conservation factor, in (0, 1].

    Returns
    -------
    RemainingTolerance

    Raises
    ------
    reirrad.errors.InputError
        Unknown OAR, fractionation other than the protocol's, invalid recovery settings.

    Examples
    --------
    >>> from reirrad.protocol import load_protocol
    >>> p = load_protocol("uk-sabr-pelvis-reirradiation")
    >>> r = remaining_tolerance(p, "small_bowel", [PriorMetricDose(45.0, 25, 730)], 5)
    >>> round(r.allowed_physical_gy, 2), r.limited_by
    (28.08, 'cumulative')
    """
    spec = protocol.oar(oar)
    n_new = positive_int("n_fractions", n_fractions)
    if n_new != protocol.n_fractions:
        raise InputError(
            f"n_fractions={n_new} but protocol {protocol.name!r} defines its de novo limits for "
            f"{protocol.n_fractions} fractions; use {protocol.n_fractions} or a protocol for {n_new}"
        )
    model, factor = _recovery_settings(protocol, recovery_model, conservation_factor)
    if spec.cumulative_limit is not None and spec.cumulative_limit.includes_recovery and model != "none":
        raise InputError(
            f"the {spec.label} cumulative limit already includes recovery, so recovery model {model!r} "
            "would credit it twice; use recovery model 'none' with this protocol"
        )
    for i, course in enumerate(prior_courses):
        if not isinstance(course, PriorMetricDose):
            raise InputError(f"prior_courses[{i}] must be a PriorMetricDose (got {course!r})")

    ab = spec.alpha_beta.value
    limit = spec.cumulative_limit
    values_used: List[Quantity] = [spec.alpha_beta, spec.de_novo.mandatory]
    if spec.de_novo.optimal is not None:
        values_used.append(spec.de_novo.optimal)
    prior_total, effective_total, contributions, findings = _sum_courses(
        protocol, spec, prior_courses, model, factor)

    mandatory = spec.de_novo.mandatory.value
    optimal = None if spec.de_novo.optimal is None else spec.de_novo.optimal.value
    if limit is None:
        findings.append(Finding(
            "no-cumulative-limit", "info",
            f"{spec.label}: the protocol has no cumulative limit; only the de novo "
            f"{spec.de_novo.metric.name} limit of {mandatory:g} Gy applies",
            subject=oar,
        ))
        return RemainingTolerance(
            oar=oar, label=spec.label, metric=spec.de_novo.metric.name, alpha_beta_gy=ab,
            n_fractions=n_new, cumulative_limit_eqd2_gy=None, prior_eqd2_gy=prior_total.value_gy,
            recovered_fraction=None, effective_prior_eqd2_gy=None, remaining_eqd2_gy=None,
            cumulative_allowed_physical_gy=None, de_novo_mandatory_gy=mandatory,
            de_novo_optimal_gy=optimal, allowed_physical_gy=mandatory, limited_by="de-novo",
            exhausted=False, courses=tuple(contributions), findings=tuple(findings),
            values_used=tuple(values_used), recovery_model=model, conservation_factor=factor,
        )

    values_used.append(limit.eqd2)
    values_used.append(protocol.recovery.model_source)
    if conservation_factor is None:
        values_used.append(protocol.recovery.conservation_factor)
    remaining = limit.eqd2.value - effective_total.value_gy
    exhausted = remaining <= 0.0
    cumulative_allowed = lq.physical_dose_for_eqd2_gy(max(remaining, 0.0), n_new, ab)
    if exhausted:
        findings.append(Finding(
            "tolerance-exhausted", "flag",
            f"{spec.label}: effective prior EQD2 {effective_total.value_gy:.2f} Gy reaches the "
            f"cumulative limit {limit.eqd2.value:g} Gy; no further dose is allowed at {limit.metric.name}",
            subject=oar,
        ))
    prior_value = prior_total.value_gy
    overall_fraction = (1.0 - effective_total.value_gy / prior_value if prior_value > 0.0
                        else (contributions[0].recovery.fraction
                              if contributions and contributions[0].recovery else 0.0))
    limited_by = "cumulative" if cumulative_allowed < mandatory else "de-novo"
    return RemainingTolerance(
        oar=oar, label=spec.label, metric=limit.metric.name, alpha_beta_gy=ab, n_fractions=n_new,
        cumulative_limit_eqd2_gy=limit.eqd2.value, prior_eqd2_gy=prior_value,
        recovered_fraction=overall_fraction, effective_prior_eqd2_gy=effective_total.value_gy,
        remaining_eqd2_gy=remaining, cumulative_allowed_physical_gy=cumulative_allowed,
        de_novo_mandatory_gy=mandatory, de_novo_optimal_gy=optimal,
        allowed_physical_gy=min(cumulative_allowed, mandatory), limited_by=limited_by,
        exhausted=exhausted, courses=tuple(contributions), findings=tuple(findings),
        values_used=tuple(values_used), recovery_model=model, conservation_factor=factor,
    )
