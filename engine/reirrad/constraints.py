"""Remaining organ-at-risk tolerance by the guidance's metric method.

For one OAR of a protocol and the prior courses' doses at that OAR's metric (e.g. small-bowel
D0.5cc), the steps are (docs/reference/radiobiology.md §1.6; UK guidance Appendix 3 as described
there — the appendix itself was not retrieved):

1. each prior course's metric dose D_i (physical, total over that course, n_i fractions) →
   EQD2_i at the OAR's α/β;
2. recovery per course by its own interval: effective_i = (1 − f_i)·EQD2_i;
3. effective prior = Σ effective_i (all at the same α/β — enforced by :class:`reirrad.lq.Eqd2Dose`);
4. remaining EQD2 = cumulative limit − effective prior;
5. physical dose in the new course's n fractions with that EQD2 (positive root; 0 when the
   budget ≤ 0 — the OAR is then *exhausted*, which is a result, not an error);
6. planning limit = min(remaining physical, de novo mandatory limit, per-course cap).

Summing metric doses from different courses reads them as though they fell on the same sub-volume
(the guidance's metric sum). That bounds the voxel-wise sum from above for Dmax (a point) only: for a
volume metric (D0.5cc, D0.1cc) hot regions each smaller than the metric's volume, lying apart, can
together exceed it, and the voxel-wise value is then the higher (docs/clinical-decisions.md 4;
:mod:`reirrad.cumulative` computes both and flags the disagreement). An OAR with no cumulative limit in
the protocol gets only its de novo limit, and the result says so: with prior dose it is a ``flag``
(``no-cumulative-limit``), and its cumulative verdict stays unknown (``passed`` null).

**A limit that already includes recovery** (``includes_recovery: true``, the spinal cord after
Nieder 2006: 135.5 Gy₂ BED is a limit on the *nominal* sum after ≥ 6 months) gets no recovery
credited, whatever the model (``recovery_credited`` False, an ``info`` finding). Worked example
(the docstring's numbers are the tests'): cord 45 Gy/25 at 700 days, α/β 2: EQD2 = 45·(1.8+2)/4 =
42.75 Gy; remaining 67.75 − 42.75 = 25 Gy EQD2 = 50 Gy₂ BED; D(1 + D/10) = 50 → D = 17.91 Gy in 5
fractions (with the UK 50 % credited on top it would wrongly be 25.86 Gy).

**Per-course cap** (``course_conditions.max_course_eqd2``, Nieder's 98 Gy₂ BED = 49 Gy EQD2): each
prior course above it is a ``stop`` (``course-above-limit-condition``), and it caps the new course:
cord 10 Gy/5 at 400 days: cumulative remaining 67.75 − 10 = 57.75 Gy EQD2 → 29.35 Gy, de novo 28 Gy,
per-course D(1 + D/10) = 98 → D = 26.70 Gy, so ``allowed_physical_gy`` 26.70 and ``limited_by``
``"per-course"``.

**Jones & Grant 2014** credits recovery against the organ's single-course tolerance T
(``single_course_tolerance_eqd2``; docs/reference/radiobiology.md §3.2): remembered = T·(1 − (1 −
ρ)^(1/(1+r))),
ρ = prior/T; the new course may add at most T − remembered, and the cumulative limit L stays the cap:
remaining = min(T, L) − remembered. Worked example: small bowel 45 Gy/25 (EQD2₃ 43.2 Gy), 730 days
(t = 730/30.4375/12 = 1.9986 years), cautious curve r = 1.5 + e^(1.2·(t − 1)) = 4.8147, T = 50 Gy,
ρ = 0.864: remembered = 50·(1 − 0.136^(1/5.8147)) = 14.52 Gy; remaining = 50 − 14.52 = 35.48 Gy EQD2₃
= 59.13 Gy₃ BED → D(1 + D/15) = 59.13 → D = 23.21 Gy in 5 fractions (L = 70 Gy does not bind). The
model is defined for one prior course: several are read as one course of their summed EQD2 at the
shortest interval, each credited that fraction, with a ``jones-grant-several-courses`` flag.

The per-OAR ``recovered_fraction`` is the overall credit ``1 − effective/prior`` (equal to the
single course's fraction when there is one course); each course's own fraction is in
``courses``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import lq
from ._validate import finite_float, positive_int
from .errors import InputError
from .findings import Finding
from .protocol import OarSpec, Protocol, Quantity
from .recovery import DAYS_PER_MONTH, RECOVERY_MODELS, RecoveryAssessment, assess_recovery

__all__ = [
    "EXHAUSTED_WITHIN_GY",
    "MAX_PLAUSIBLE_COURSE_DOSE_GY",
    "CourseContribution",
    "PriorMetricDose",
    "RemainingTolerance",
    "remaining_tolerance",
]


#: A remaining EQD2 at most this (Gy) is exhausted: a prior exactly at the cumulative limit leaves a
#: rounding residue of the EQD2 sums (1.4e-14 Gy measured), which must not read as dose still allowed.
EXHAUSTED_WITHIN_GY = 1e-9

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
        ``"cumulative"``, ``"de-novo"`` or ``"per-course"`` (the per-course cap of the limit's
        conditions, e.g. Nieder's 98 Gy₂ BED).
    exhausted : bool
        True when no dose is allowed by the cumulative limit (remaining ≤ 0).
    courses : tuple of CourseContribution
    findings : tuple of Finding
    values_used : tuple of Quantity
        The protocol values this result depends on (for the provenance record).
    recovery_model : str
    conservation_factor : float
    recovery_credited : bool
        False when the cumulative limit already includes recovery (nothing credited for this OAR).
    check_limit_eqd2_gy : float or None
        What the cumulative EQD2 (effective prior + new) is checked against: the cumulative limit,
        or min(limit, single-course tolerance) with the Jones & Grant model.
    per_course_limit_physical_gy : float or None
        The per-course cap in the new fractionation (None without one).
    per_course_limit_eqd2_gy : float or None
        The per-course cap as EQD2 at the OAR's α/β.
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
    recovery_credited: bool = True
    check_limit_eqd2_gy: Optional[float] = None
    per_course_limit_physical_gy: Optional[float] = None
    per_course_limit_eqd2_gy: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        """Per-OAR record with the field names of docs/design.md §5 (plan fields None here)."""
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
            "recovery_credited": self.recovery_credited,
            "check_limit_eqd2_gy": self.check_limit_eqd2_gy,
            "per_course_limit_physical_gy": self.per_course_limit_physical_gy,
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


def _single_course_tolerance(spec: OarSpec) -> Quantity:
    tolerance = spec.single_course_tolerance_eqd2
    if tolerance is None:
        raise InputError(
            f"recovery model 'jones-grant-2014' needs the single-course tolerance of {spec.label}; add "
            f"oars.{spec.key}.single_course_tolerance_eqd2 (EQD2, Gy, with source and status) to the "
            "protocol, or choose another recovery model"
        )
    return tolerance


def _per_course_cap(spec: OarSpec, n_new: int) -> Tuple[Optional[Quantity], Optional[float]]:
    """The per-course cap (its EQD2 quantity, and physical Gy in ``n_new`` fractions), or (None, None)."""
    conditions = spec.course_conditions
    if conditions is None or conditions.max_course_eqd2 is None:
        return None, None
    cap = conditions.max_course_eqd2
    return cap, float(lq.physical_dose_for_eqd2_gy(cap.value, n_new, spec.alpha_beta.value))


def _check_courses(prior_courses: Sequence[Any]) -> None:
    for i, course in enumerate(prior_courses):
        if not isinstance(course, PriorMetricDose):
            raise InputError(f"prior_courses[{i}] must be a PriorMetricDose (got {course!r})")


def _check_limit(protocol: Protocol, spec: OarSpec, model: str, *, credited: bool, factor_given: bool,
                 any_prior: bool) -> Tuple[float, List[Quantity], List[Finding]]:
    """What the cumulative EQD2 is checked against, the protocol values it used, and findings.

    The cumulative limit; with Jones & Grant, min(limit, single-course tolerance). When the limit
    already includes recovery, nothing is credited and an ``info`` finding says so.
    """
    limit = spec.cumulative_limit
    assert limit is not None  # called only for OARs with a cumulative limit
    used: List[Quantity] = [limit.eqd2]
    found: List[Finding] = []
    check = limit.eqd2.value
    if credited:
        used.append(protocol.recovery.model_source)
        if not factor_given:
            used.append(protocol.recovery.conservation_factor)
        if model == "jones-grant-2014":
            tolerance = _single_course_tolerance(spec)
            used.append(tolerance)
            check = min(check, tolerance.value)
    elif any_prior:
        found.append(Finding(
            "limit-includes-recovery", "info",
            f"{spec.label}: the cumulative limit {limit.eqd2.value:g} Gy already includes recovery between "
            f"courses ({limit.eqd2.source}); no recovery is credited on top (model {model!r} not applied)",
            subject=spec.key,
        ))
    return check, used, found


def _planning_limit(cumulative_gy: float, mandatory_gy: float, cap_gy: Optional[float]) -> Tuple[float, str]:
    """min(cumulative allowed, de novo mandatory, per-course cap) and which one it is (ties: de novo,
    then per-course win over cumulative, as before)."""
    allowed, limited_by = cumulative_gy, "cumulative"
    if mandatory_gy <= allowed:
        allowed, limited_by = mandatory_gy, "de-novo"
    if cap_gy is not None and cap_gy < allowed:
        allowed, limited_by = cap_gy, "per-course"
    return allowed, limited_by


def _recovery_settings(protocol: Protocol, recovery_model: Optional[str],
                       conservation_factor: Optional[float]) -> Tuple[str, float]:
    model = protocol.recovery.model if recovery_model is None else recovery_model
    if model not in RECOVERY_MODELS:
        raise InputError(f"unknown recovery model {model!r}; choose one of {list(RECOVERY_MODELS)}")
    factor = (protocol.recovery.conservation_factor.value if conservation_factor is None
              else finite_float("conservation_factor", conservation_factor))
    return model, factor


@dataclass(frozen=True)
class _Lumped:
    """Several prior courses read by Jones & Grant as one (:func:`_jones_grant_lumped`)."""

    prior_eqd2_gy: float  # the courses' summed EQD2 at the OAR's α/β
    interval_days: Optional[float]  # the shortest known interval (None: none known)
    finding: Finding


def _jones_grant_lumped(spec: OarSpec, prior_courses: Sequence[PriorMetricDose], model: str,
                        fixed_fraction: Optional[float]) -> Optional[_Lumped]:
    """Jones & Grant 2014 with more than one prior course: the model is defined for one prior course and
    a prior/tolerance ratio below 1 (docs/reference/radiobiology.md §3.2), so the courses are read as one
    course of their summed EQD2 delivered at the most recent of them (the shortest known interval: the
    least recovery), each course credited that one fraction; a ``flag`` says so. Applied course by
    course, each below the tolerance on its own, two courses summing above it were credited recovery the
    model gives neither (bladder 2 × 36 Gy/18 at 900 days: 29.65 Gy allowed, where the same dose as one
    course is exhausted). None for one course, another model, no cumulative limit or a fixed fraction."""
    if (model != "jones-grant-2014" or len(prior_courses) < 2 or spec.cumulative_limit is None
            or fixed_fraction is not None):
        return None
    ab = spec.alpha_beta.value
    total = sum(lq.eqd2_gy(float(c.dose_gy), c.n_fractions, ab) for c in prior_courses)
    known = [float(c.interval_days) for c in prior_courses if c.interval_days is not None]
    interval = min(known) if known else None
    when = "no interval known" if interval is None else f"the shortest interval, {interval:g} days"
    finding = Finding(
        "jones-grant-several-courses", "flag",
        f"{spec.label}: the Jones & Grant 2014 model is defined for one prior course; the "
        f"{len(prior_courses)} courses' summed EQD2 ({total:.2f} Gy) was taken as one course at {when} "
        "(the conservative reading: the least recovery), each course credited the same fraction",
        subject=spec.key)
    return _Lumped(total, interval, finding)


def _sum_courses(
    protocol: Protocol, spec: OarSpec, prior_courses: Sequence[PriorMetricDose], model: str,
    factor: float, *, fixed_fraction: Optional[float] = None,
) -> Tuple[lq.Eqd2Dose, lq.Eqd2Dose, List[CourseContribution], List[Finding]]:
    """Per-course EQD2 and recovery (steps 1-3); all sums at the OAR's single α/β.

    ``model`` is the model actually applied to this OAR ("none" when its limit includes recovery);
    ``fixed_fraction`` replaces that model's fraction for every course (then × ``factor``), whatever the
    model (the caller passes None when the limit already includes recovery).
    """
    ab = spec.alpha_beta.value
    limit = spec.cumulative_limit
    findings: List[Finding] = []
    contributions: List[CourseContribution] = []
    prior_total = lq.Eqd2Dose(0.0, ab)
    effective_total = lq.Eqd2Dose(0.0, ab)
    lumped = _jones_grant_lumped(spec, prior_courses, model, fixed_fraction)
    if lumped is not None:
        findings.append(lumped.finding)
    for course in prior_courses:
        eqd2 = lq.Eqd2Dose(lq.eqd2_gy(float(course.dose_gy), course.n_fractions, ab), ab)
        prior_total = prior_total + eqd2
        findings.extend(_course_condition_findings(spec, course, eqd2.value_gy))
        if limit is None:  # recovery credits nothing without a cumulative limit
            contributions.append(CourseContribution(course.label, course.dose_gy, course.n_fractions,
                                                    eqd2.value_gy, None, None))
            continue
        params: Dict[str, Any] = {}
        interval = course.interval_days
        if model == "jones-grant-2014":
            params = {"prior_eqd2_gy": eqd2.value_gy if lumped is None else lumped.prior_eqd2_gy,
                      "tolerance_eqd2_gy": _single_course_tolerance(spec).value,
                      "curve": protocol.recovery.jones_grant_curve}
            if lumped is not None and interval is not None:
                interval = lumped.interval_days
        assessment = assess_recovery(model, interval, conservation_factor=factor, **params)
        if fixed_fraction is not None:
            assessment = replace(assessment, model=f"fixed {fixed_fraction:g}", model_fraction=fixed_fraction,
                                 fraction=assessment.conservation_factor * fixed_fraction, parameters={})
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
    fixed_recovered_fraction: Optional[float] = None,
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
    fixed_recovered_fraction : float, optional
        For the sensitivity analysis only (:mod:`reirrad.sensitivity`): credit this recovered fraction
        in [0, 1] for every course whatever its interval (the guidance's 0 / 0.3 / 0.5 steps as
        alternatives), still × the conservation factor; the model's findings (e.g. an interval under
        6 months) are kept. Nothing is credited when the limit already includes recovery.

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
    if fixed_recovered_fraction is not None:
        fixed_recovered_fraction = finite_float("fixed_recovered_fraction", fixed_recovered_fraction,
                                                minimum=0.0)
        if fixed_recovered_fraction > 1.0:
            raise InputError(f"fixed_recovered_fraction must be in [0, 1] (got {fixed_recovered_fraction:g})")
    credited = not (spec.cumulative_limit is not None and spec.cumulative_limit.includes_recovery)
    _check_courses(prior_courses)

    ab = spec.alpha_beta.value
    limit = spec.cumulative_limit
    values_used: List[Quantity] = [spec.alpha_beta, spec.de_novo.mandatory]
    if spec.de_novo.optimal is not None:
        values_used.append(spec.de_novo.optimal)
    prior_total, effective_total, contributions, findings = _sum_courses(
        protocol, spec, prior_courses, model if credited else "none", factor,
        fixed_fraction=fixed_recovered_fraction if credited else None)
    cap, cap_physical = _per_course_cap(spec, n_new)
    cap_eqd2 = None if cap is None else cap.value
    if cap is not None:
        values_used.append(cap)

    mandatory = spec.de_novo.mandatory.value
    optimal = None if spec.de_novo.optimal is None else spec.de_novo.optimal.value
    if limit is None:
        if prior_total.value_gy > 0.0:
            findings.append(Finding(
                "no-cumulative-limit", "flag",
                f"{spec.label}: prior EQD2 {prior_total.value_gy:.2f} Gy at {spec.de_novo.metric.name} but "
                "the protocol has no cumulative limit: its cumulative dose is reported, not judged (only "
                f"the de novo limit of {mandatory:g} Gy is checked) - assess it clinically",
                subject=oar,
            ))
        else:
            findings.append(Finding(
                "no-cumulative-limit", "info",
                f"{spec.label}: no prior dose; the protocol has no cumulative limit, only the de novo "
                f"{spec.de_novo.metric.name} limit of {mandatory:g} Gy applies",
                subject=oar,
            ))
        allowed, limited_by = _planning_limit(math.inf, mandatory, cap_physical)
        return RemainingTolerance(
            oar=oar, label=spec.label, metric=spec.de_novo.metric.name, alpha_beta_gy=ab,
            n_fractions=n_new, cumulative_limit_eqd2_gy=None, prior_eqd2_gy=prior_total.value_gy,
            recovered_fraction=None, effective_prior_eqd2_gy=None, remaining_eqd2_gy=None,
            cumulative_allowed_physical_gy=None, de_novo_mandatory_gy=mandatory,
            de_novo_optimal_gy=optimal, allowed_physical_gy=allowed,
            limited_by=limited_by,
            exhausted=False, courses=tuple(contributions), findings=tuple(findings),
            values_used=tuple(values_used), recovery_model=model, conservation_factor=factor,
            recovery_credited=False, check_limit_eqd2_gy=None,
            per_course_limit_physical_gy=cap_physical, per_course_limit_eqd2_gy=cap_eqd2,
        )

    check_limit, limit_values, limit_findings = _check_limit(
        protocol, spec, model, credited=credited, factor_given=conservation_factor is not None,
        any_prior=bool(prior_courses))
    values_used.extend(limit_values)
    findings.extend(limit_findings)
    remaining = check_limit - effective_total.value_gy
    exhausted = remaining <= EXHAUSTED_WITHIN_GY
    cumulative_allowed = 0.0 if exhausted else lq.physical_dose_for_eqd2_gy(remaining, n_new, ab)
    if exhausted:
        findings.append(Finding(
            "tolerance-exhausted", "stop",
            f"{spec.label}: effective prior EQD2 {effective_total.value_gy:.2f} Gy reaches the "
            f"{'cumulative limit' if check_limit == limit.eqd2.value else 'single-course tolerance'} "
            f"{check_limit:g} Gy; no further dose is allowed at {limit.metric.name} - "
            "planning needs a recorded decision (override reason)",
            subject=oar,
        ))
    prior_value = prior_total.value_gy
    overall_fraction = (1.0 - effective_total.value_gy / prior_value if prior_value > 0.0
                        else (contributions[0].recovery.fraction
                              if contributions and contributions[0].recovery else 0.0))
    allowed, limited_by = _planning_limit(cumulative_allowed, mandatory, cap_physical)
    return RemainingTolerance(
        oar=oar, label=spec.label, metric=limit.metric.name, alpha_beta_gy=ab, n_fractions=n_new,
        cumulative_limit_eqd2_gy=limit.eqd2.value, prior_eqd2_gy=prior_value,
        recovered_fraction=overall_fraction, effective_prior_eqd2_gy=effective_total.value_gy,
        remaining_eqd2_gy=remaining, cumulative_allowed_physical_gy=cumulative_allowed,
        de_novo_mandatory_gy=mandatory, de_novo_optimal_gy=optimal,
        allowed_physical_gy=allowed, limited_by=limited_by,
        exhausted=exhausted, courses=tuple(contributions), findings=tuple(findings),
        values_used=tuple(values_used), recovery_model=model, conservation_factor=factor,
        recovery_credited=credited, check_limit_eqd2_gy=check_limit,
        per_course_limit_physical_gy=cap_physical, per_course_limit_eqd2_gy=cap_eqd2,
    )
