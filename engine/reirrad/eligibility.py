"""Eligibility checks of a re-irradiation request, returned as data (findings).

Checks (UK SABR Consortium guidance as summarised in docs/design.md §4, and this project's
requirements):

* ``interval-under-6-months`` (stop): a prior course ended less than 6 months (182.625 days)
  before the new course; outside the guidance, needs a recorded override.
* ``interval-at-recovery-band-edge`` (flag or info): a prior course's interval lies where counting months
  as 30.4375 days (this project's reading, docs/clinical-decisions.md 8) and counting calendar months from
  the dates can disagree: 6 calendar months are 181-184 days, 18 calendar months 546-550 days
  (:data:`CALENDAR_MONTH_SPANS_DAYS`). A ``flag`` where the calendar reading may be the less favourable
  one (183 days: eligible here, perhaps under 6 calendar months; 548-550 days: the UK guidance's 50 %
  credited here, perhaps not more than 18 calendar months, 30 %), an ``info`` where this run's reading is
  already the cautious one (181-182 days: stopped here, perhaps 6 calendar months; 547 days: 30 % here).
  The 18-month edge is reported only under the ``uk-guidance`` recovery model, whose band it is
  (docs/clinical-decisions.md 41).
* ``unknown-interval`` (stop): the end date of a prior course is unknown.
* ``prior-course-without-dose`` (stop): a prior course has no dose to evaluate.
* ``multiple-prior-courses`` (flag): more than one prior course — allowed, each is converted
  and recovered on its own and summed as though the metric volumes coincided.
* ``no-prior-course`` (flag): nothing to re-irradiate against; this is not a re-irradiation.
* ``dose-above-protocol-maximum`` (stop): the requested prescription exceeds the protocol's
  maximum (45 Gy in 5 fractions for the shipped protocol). A prescription above the absolute ceiling
  of :mod:`reirrad.bounds` (100 Gy) is not a finding but refused (no override lifts it).
* ``fractionation-not-in-protocol`` (stop): the new course's fractions differ from the protocol's; no
  override lifts it (:data:`reirrad.gate.NEEDS_ACTION`): the limits hold for the protocol's fractions.

A ``stop`` finding halts a workflow unless the user gives an override reason, which is then
recorded with the result (:func:`eligibility_record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .bounds import check_interval_days, check_prescription
from .errors import InputError
from .findings import Finding
from .gate import check_override_reason, overridable
from .protocol import Protocol
from .recovery import DAYS_PER_MONTH, RECOVERY_MODELS, UK_MIN_INTERVAL_DAYS, UK_UPPER_DAYS

__all__ = ["CALENDAR_MONTH_SPANS_DAYS", "PriorCourseInfo", "check_eligibility", "eligibility_record",
           "is_stopped", "prescription_findings"]

#: The shortest and longest spans, in days, of 6 and of 18 calendar months (from any date to the same
#: day of the month 6 or 18 months later, the month's last day when that day does not exist): a
#: property of the Gregorian calendar, checked over every start date of 400 years by a test.
CALENDAR_MONTH_SPANS_DAYS: Dict[int, Tuple[int, int]] = {6: (181, 184), 18: (546, 550)}


@dataclass(frozen=True)
class PriorCourseInfo:
    """What eligibility needs to know about one prior course.

    Parameters
    ----------
    name : str
        Course label.
    interval_days : float or None
        Days from its last fraction to the new course's first fraction, 0 … 36525
        (:func:`reirrad.bounds.check_interval_days`); None if unknown.
    has_dose : bool
        Whether a dose (plan dose, or at least the OAR metric doses) is available.
    """

    name: str
    interval_days: Optional[float]
    has_dose: bool

    def __post_init__(self) -> None:
        if self.interval_days is not None:
            check_interval_days(f"interval_days of prior course '{self.name}'", self.interval_days)


def _course_findings(course: PriorCourseInfo) -> List[Finding]:
    if not isinstance(course, PriorCourseInfo):
        raise InputError(f"prior course must be a PriorCourseInfo (got {course!r})")
    found = []
    if not course.has_dose:
        found.append(Finding(
            "prior-course-without-dose", "stop",
            f"prior course '{course.name}' has no dose; cumulative doses cannot be assessed - "
            "import its dose or enter the OAR metric doses",
            subject=course.name,
        ))
    if course.interval_days is None:
        found.append(Finding(
            "unknown-interval", "stop",
            f"the end date of prior course '{course.name}' is unknown; the 6-month rule cannot be "
            "checked and no recovery is credited - enter the date of its last fraction",
            subject=course.name,
        ))
    elif course.interval_days < UK_MIN_INTERVAL_DAYS:
        found.append(Finding(
            "interval-under-6-months", "stop",
            f"prior course '{course.name}' ended {course.interval_days:g} days "
            f"({course.interval_days / DAYS_PER_MONTH:.2f} months) before the new course: "
            "under 6 months is outside the UK guidance and needs a recorded override",
            subject=course.name,
        ))
    return found


def _band_edge_findings(course: PriorCourseInfo, recovery_model: str) -> List[Finding]:
    """``interval-at-recovery-band-edge`` for a course whose interval lies within a calendar span of
    6 months (the eligibility rule: at least 6 months) or, under ``uk-guidance``, of 18 months (its
    50 % band: more than 18 months) - where the two ways of counting months can disagree.

    With s the span of the calendar months from the (unknown here) dates, "at least 6 months" is
    d ≥ s and "more than 18 months" d > s. Both answers occur for some dates when 181 ≤ d < 184, resp.
    546 < d ≤ 550 (:data:`CALENDAR_MONTH_SPANS_DAYS`); this run compares d with 182.625 and 547.875.
    """
    days = course.interval_days
    if days is None:
        return []
    found = []
    months = days / DAYS_PER_MONTH
    where = f"prior course '{course.name}' ended {days:g} days ({months:.3f} months of 30.4375 days)"
    low, high = CALENDAR_MONTH_SPANS_DAYS[6]
    if low <= days < high:
        if days >= UK_MIN_INTERVAL_DAYS:
            found.append(Finding(
                "interval-at-recovery-band-edge", "flag",
                f"{where} before the new course: at least 6 months as this run counts them, but 6 calendar "
                f"months are {low}-{high} days, so from the dates it may be under 6 months (outside the UK "
                "guidance, needing a recorded override); confirm the interval in calendar months",
                subject=course.name))
        else:
            found.append(Finding(
                "interval-at-recovery-band-edge", "info",
                f"{where} before the new course: under 6 months as this run counts them (stopped), but 6 "
                f"calendar months are {low}-{high} days, so from the dates it may be 6 months",
                subject=course.name))
    low, high = CALENDAR_MONTH_SPANS_DAYS[18]
    if recovery_model == "uk-guidance" and low < days <= high:
        if days > UK_UPPER_DAYS:
            found.append(Finding(
                "interval-at-recovery-band-edge", "flag",
                f"{where} before the new course: more than 18 months as this run counts them, so the UK "
                f"guidance's 50 % recovery is credited; but 18 calendar months are {low}-{high} days, so "
                "from the dates it may be 18 months or less (30 %: lower allowed doses); confirm the "
                "interval in calendar months before relying on the 50 % band",
                subject=course.name))
        else:
            found.append(Finding(
                "interval-at-recovery-band-edge", "info",
                f"{where} before the new course: not more than 18 months as this run counts them (30 % "
                f"recovery credited, the cautious band); 18 calendar months are {low}-{high} days, so from "
                "the dates it may be more than 18 months (50 %)",
                subject=course.name))
    return found


def check_eligibility(
    protocol: Protocol,
    prior_courses: Sequence[PriorCourseInfo],
    *,
    prescription_gy: Optional[float] = None,
    n_fractions: Optional[int] = None,
    recovery_model: Optional[str] = None,
) -> Tuple[Finding, ...]:
    """Run the eligibility checks; returns the findings (empty when nothing to report).

    ``recovery_model`` is the run's (default: the protocol's); it decides whether the 18-month band
    edge of the UK guidance is reported (:func:`_band_edge_findings`).
    """
    model = protocol.recovery.model if recovery_model is None else recovery_model
    if model not in RECOVERY_MODELS:
        raise InputError(f"unknown recovery model {model!r}; choose one of {list(RECOVERY_MODELS)}")
    found: List[Finding] = []
    if not prior_courses:
        found.append(Finding("no-prior-course", "flag",
                             "no prior course was given: this is not a re-irradiation case"))
    if len(prior_courses) > 1:
        found.append(Finding(
            "multiple-prior-courses", "flag",
            f"{len(prior_courses)} prior courses: each is converted to EQD2 and recovered by its own "
            "interval, then summed as though their metric volumes coincided (an upper bound for Dmax "
            "only; the voxel-wise cumulative EQD2 is computed beside it)",
        ))
    for course in prior_courses:
        found.extend(_course_findings(course))
        found.extend(_band_edge_findings(course, model))
    if prescription_gy is not None:
        found.extend(prescription_findings(protocol, prescription_gy))
    if n_fractions is not None and n_fractions != protocol.n_fractions:
        found.append(Finding(
            "fractionation-not-in-protocol", "stop",
            f"{n_fractions} fractions requested; protocol {protocol.name!r} is for "
            f"{protocol.n_fractions} fractions",
            subject="prescription",
        ))
    return tuple(found)


def prescription_findings(protocol: Protocol, prescription_gy: float) -> Tuple[Finding, ...]:
    """The finding of a new-course prescription above the protocol's isotoxic maximum (a ``stop``).

    Parameters
    ----------
    protocol : Protocol
    prescription_gy : float
        TOTAL physical prescription of the new course, Gy.

    Returns
    -------
    tuple of Finding
        ``dose-above-protocol-maximum`` (stop) naming both doses, or nothing.

    Raises
    ------
    reirrad.errors.InputError
        Not a finite number > 0, or above the absolute ceiling (:func:`reirrad.bounds.check_prescription`).
    """
    dose = check_prescription("prescription_gy", prescription_gy)
    maximum = protocol.prescriptions.isotoxic_maximum.value
    if dose <= maximum:
        return ()
    return (Finding(
        "dose-above-protocol-maximum", "stop",
        f"requested {dose:g} Gy exceeds the protocol maximum of {maximum:g} Gy "
        f"in {protocol.n_fractions} fractions (protocol {protocol.name!r}, "
        "prescriptions.isotoxic.maximum_dose)",
        subject="prescription",
    ),)


def is_stopped(findings: Sequence[Finding]) -> bool:
    """True when any finding has severity ``stop``."""
    return any(f.severity == "stop" for f in findings)


def eligibility_record(findings: Sequence[Finding], override_reason: Optional[str]) -> Dict[str, Any]:
    """The result's ``eligibility`` block.

    ``eligible`` is False when a stop finding exists; ``may_proceed`` is True when there is
    no stop finding, or an override reason (:func:`reirrad.gate.check_override_reason`) was recorded and
    no stop is one an override cannot lift (:data:`reirrad.gate.NEEDS_ACTION`: e.g. a fractionation the
    protocol has no limits for, which ``reirrad constraints`` let through); ``overridden`` lists the
    stop findings the override reason let through (empty without one).
    """
    check_override_reason(override_reason)
    stops = [f for f in findings if f.severity == "stop"]
    lifted = override_reason is not None and overridable(stops)
    return {
        "eligible": not stops,
        "may_proceed": (not stops) or lifted,
        "override_reason": override_reason,
        "findings": [f.to_dict() for f in findings],
        "overridden": [f.to_dict() for f in stops] if lifted else [],
    }
