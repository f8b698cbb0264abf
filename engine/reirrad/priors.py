"""Which plans count as prior dose: one engine rule for every TPS.

An adapter lists every other plan of the patient (or case) as a :class:`PriorPlanCandidate` — cheap
metadata, no dose read — and :func:`select_prior_plans` decides which ones are prior courses. The
adapter then reads the dose of the selected plans only. The rule:

* a plan of the **new plan's own course** is an alternative or a phase of the new treatment, never
  prior dose (Eclipse has courses; RayStation does not, so there every other plan is a candidate); one
  with a dose that is treated or approved for treatment gets a ``flag`` (``same-course-plan-not-counted``):
  a department that keeps the re-treatment in the first course would otherwise lose delivered dose
  without a word (found by a clinical review);
* a plan **without a dose** cannot be prior dose;
* otherwise a plan counts when it was **delivered or approved for treatment**: ``treated`` (the TPS
  records treatment, e.g. Eclipse ``IsTreated``) or ``approved`` (the adapter's reading of the TPS's
  approval: Eclipse ``TreatmentApproved``/``Completed``/``CompletedEarly``, RayStation ``Approved``).
  An unapproved or only planning-approved plan of another course is **not** counted — it may be an
  alternative that was never delivered — and a ``flag`` names it, so that a plan that was delivered
  but never approved in this TPS is noticed and chosen explicitly;
* an explicit choice by the user (``explicit``: plan ids, e.g. RayStation's ``prior_plan_names``)
  replaces the rule; it is recorded as such.

Dates. The last fraction of a selected plan comes, in order, from the user's answer (``user``), from a
treatment record (``treatment-record``), or from a date the TPS keeps for another purpose
(``course-completed``: Eclipse's ``Course.CompletedDateTime``, the day the course was closed, which can
be later than the last fraction). A date of the last kind is used but never silently: the workflow
raises a ``flag`` (``last-fraction-from-course-completion``) until the user confirms or enters the
date (a later date under-states the interval, which credits less recovery — the safe side — but it
also decides the 6-month rule). The source travels with each prior course
(:attr:`reirrad.snapshot.PriorCourse.last_fraction_source`).

Every candidate, selected or not, with the reason, is recorded in the result's provenance
(``prior_plan_selection``).

Naming a prior plan. Eclipse plan ids are unique only within a course ("Plan1" may be in two courses),
so a plan is named by its plan id where no other plan of the patient has it, and by ``COURSE/PLAN``
where one does (:func:`plan_keys`, :func:`resolve_plan_keys`): the user's dates (``prior_dates``, the
dialog) name plans that way, and a plan id shared by two plans is refused as ambiguous, never given to
both or to the last one read.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import InputError
from .findings import Finding

__all__ = ["DATE_SOURCES", "PriorPlanCandidate", "PriorSelection", "plan_keys", "resolve_plan_keys",
           "select_prior_plans"]

#: Where a prior plan's last-fraction date came from (see the module docstring).
DATE_SOURCES = ("user", "treatment-record", "course-completed", "unknown")


@dataclass(frozen=True)
class PriorPlanCandidate:
    """One plan of the patient other than the new plan, as the adapter read it (no dose).

    Attributes
    ----------
    course_id, plan_id : str
        Identifiers in the TPS (RayStation: the case name as course).
    same_course_as_new : bool
        The plan belongs to the new plan's course.
    approval_status : str
        The TPS's own approval text, for the record.
    approved : bool
        Approved for treatment, in the adapter's reading of the TPS (module docstring).
    treated : bool or None
        The TPS records the plan as treated; None when the TPS does not say.
    has_dose : bool
        A valid dose is present.
    last_fraction : datetime.date or None
    last_fraction_source : str
        One of :data:`DATE_SOURCES`.
    """

    course_id: str
    plan_id: str
    same_course_as_new: bool
    approval_status: str
    approved: bool
    treated: Optional[bool]
    has_dose: bool
    last_fraction: Optional[dt.date] = None
    last_fraction_source: str = "unknown"

    def __post_init__(self) -> None:
        if self.last_fraction_source not in DATE_SOURCES:
            raise InputError(f"last_fraction_source must be one of {DATE_SOURCES} "
                             f"(got {self.last_fraction_source!r})")
        if (self.last_fraction is None) != (self.last_fraction_source == "unknown"):
            raise InputError(f"prior plan {self.plan_id!r}: a last-fraction date needs its source and an "
                             f"unknown date the source 'unknown' (got {self.last_fraction!r}, "
                             f"{self.last_fraction_source!r})")

    @property
    def label(self) -> str:
        """``course/plan``."""
        return f"{self.course_id}/{self.plan_id}"


@dataclass(frozen=True)
class PriorSelection:
    """The outcome of :func:`select_prior_plans`."""

    selected: Tuple[PriorPlanCandidate, ...]
    findings: Tuple[Finding, ...]
    record: Tuple[Dict[str, Any], ...]

    @property
    def selected_ids(self) -> Tuple[str, ...]:
        """Plan ids of the selected plans, in the candidates' order."""
        return tuple(c.plan_id for c in self.selected)


def _reason(c: PriorPlanCandidate) -> Tuple[bool, str]:
    if c.same_course_as_new:
        return False, "a plan of the new plan's course (an alternative or phase of the new treatment)"
    if not c.has_dose:
        return False, "no valid dose"
    if c.treated:
        return True, "treated"
    if c.approved:
        return True, f"approved for treatment ({c.approval_status})"
    return False, f"not approved for treatment nor recorded as treated ({c.approval_status})"


def select_prior_plans(candidates: Sequence[PriorPlanCandidate],
                       explicit: Optional[Sequence[str]] = None) -> PriorSelection:
    """Select the prior plans among ``candidates`` (rules in the module docstring).

    Parameters
    ----------
    candidates : sequence of PriorPlanCandidate
    explicit : sequence of str, optional
        Plan ids chosen by the user; replaces the rule. Each must be a candidate with a dose.

    Raises
    ------
    reirrad.errors.InputError
        An explicit id that is not a candidate, or names a plan without a dose.
    """
    by_id = {c.plan_id: c for c in candidates}
    findings: List[Finding] = []
    record: List[Dict[str, Any]] = []
    chosen: List[PriorPlanCandidate] = []
    if explicit is not None:
        unknown = [p for p in explicit if p not in by_id]
        if unknown:
            raise InputError(f"prior plans {unknown} chosen by the user are not plans of this patient other "
                             f"than the new plan ({sorted(by_id)}); check the ids")
        without = [p for p in explicit if not by_id[p].has_dose]
        if without:
            raise InputError(f"prior plans {without} chosen by the user have no valid dose; compute it in "
                             "the TPS or choose other plans")
    for c in candidates:
        if explicit is not None:
            use, why = c.plan_id in explicit, "chosen by the user" if c.plan_id in explicit else "not chosen"
        else:
            use, why = _reason(c)
        record.append({"course": c.course_id, "plan": c.plan_id, "approval_status": c.approval_status,
                       "treated": c.treated, "has_dose": c.has_dose, "selected": use, "reason": why,
                       "last_fraction": None if c.last_fraction is None else c.last_fraction.isoformat(),
                       "last_fraction_source": c.last_fraction_source})
        if use:
            chosen.append(c)
        elif explicit is None and c.has_dose and not c.same_course_as_new:
            findings.append(Finding(
                "plan-not-counted-as-prior", "flag",
                f"{c.label} has a dose but is {why}: it is NOT counted as prior dose; if it was delivered, "
                "choose it explicitly", subject=c.label))
        elif explicit is None and c.has_dose and (c.treated or c.approved):
            state = "treated" if c.treated else "approved for treatment"
            findings.append(Finding(
                "same-course-plan-not-counted", "flag",
                f"{c.label} is in the new plan's course and {state}: it is NOT counted as prior dose (a plan "
                "of the new plan's course is read as an alternative or a phase of the new treatment); if it "
                "was delivered before this re-irradiation (a department that keeps the re-treatment in the "
                "first course), put the new plan in a course of its own, so that the plan is read as a "
                "prior course, and run again", subject=c.label))
    return PriorSelection(tuple(chosen), tuple(findings), tuple(record))


def plan_keys(pairs: Sequence[Tuple[str, str]]) -> List[str]:
    """The name of each (course id, plan id) for the user (module docstring): its plan id, or
    ``COURSE/PLAN`` where another of ``pairs`` has the same plan id."""
    counts = Counter(plan for _, plan in pairs)
    return [plan if counts[plan] == 1 else f"{course}/{plan}" for course, plan in pairs]


def resolve_plan_keys(keys: Iterable[str], pairs: Sequence[Tuple[str, str]], what: str) -> Dict[str, int]:
    """Which of ``pairs`` (course id, plan id) each key names: ``COURSE/PLAN``, or a plan id no other
    pair has (module docstring).

    Parameters
    ----------
    keys : iterable of str
        The user's names of plans (e.g. the keys of ``prior_dates``).
    pairs : sequence of (str, str)
        The plans they may name.
    what : str
        What holds the keys, for messages (``"prior_dates"``).

    Returns
    -------
    dict of str to int
        Key → index into ``pairs``.

    Raises
    ------
    reirrad.errors.InputError
        A key naming no plan, a plan id that two plans have (write ``COURSE/PLAN``), or two keys
        naming one plan.
    """
    labels = [f"{course}/{plan}" for course, plan in pairs]
    names = plan_keys(pairs)
    out: Dict[str, int] = {}
    for key in keys:
        if key in labels:
            index = labels.index(key)
        else:
            matching = [n for n, (_, plan) in enumerate(pairs) if plan == key]
            if len(matching) > 1:
                raise InputError(f"{what} names plan {key!r}, which is in {len(matching)} courses "
                                 f"({', '.join(labels[n] for n in matching)}); plan ids are unique only "
                                 f"within a course: write it as COURSE/PLAN, e.g. {labels[matching[0]]!r}")
            if not matching:
                raise InputError(f"{what} names {key!r}, which is not one of the plans {names}; check the "
                                 "plan id")
            index = matching[0]
        twice = [k for k, n in out.items() if n == index]
        if twice:
            raise InputError(f"{what} names plan {labels[index]} twice ({twice[0]!r} and {key!r}); give it "
                             "once")
        out[key] = index
    return out
