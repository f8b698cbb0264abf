"""Which plans count as prior dose (reirrad.priors): one rule for every TPS.

Source of truth: the rule of the module docstring, case by case: other course + dose + (treated or
approved for treatment) counts; the new plan's course, no dose, or neither treated nor approved does
not, and a dosed plan not counted is flagged; an explicit choice replaces the rule.
"""

from __future__ import annotations

import datetime as dt

import pytest

from reirrad.errors import InputError
from reirrad.priors import PriorPlanCandidate, select_prior_plans


def _candidate(plan_id, *, course="C1", same=False, status="Completed", approved=True, treated=None,
               dose=True, last=None, source="unknown"):
    return PriorPlanCandidate(course, plan_id, same, status, approved, treated, dose, last, source)


def test_the_rule_case_by_case():
    candidates = [
        _candidate("DELIVERED", approved=True),
        _candidate("TREATED_ONLY", status="UnApproved", approved=False, treated=True),
        _candidate("ALTERNATIVE", status="UnApproved", approved=False, treated=False),
        _candidate("PLANNING_ONLY", status="PlanningApproved", approved=False, treated=False),
        _candidate("NO_DOSE", dose=False),
        _candidate("PHASE_2", course="C2", same=True),
    ]
    selection = select_prior_plans(candidates)
    assert selection.selected_ids == ("DELIVERED", "TREATED_ONLY")
    flagged = {f.subject: f.code for f in selection.findings}
    assert flagged == {"C1/ALTERNATIVE": "plan-not-counted-as-prior",
                       "C1/PLANNING_ONLY": "plan-not-counted-as-prior",
                       "C2/PHASE_2": "same-course-plan-not-counted"}
    assert all(f.severity == "flag" for f in selection.findings)
    reasons = {r["plan"]: (r["selected"], r["reason"]) for r in selection.record}
    assert reasons["NO_DOSE"] == (False, "no valid dose")
    assert reasons["PHASE_2"][0] is False and "new plan's course" in reasons["PHASE_2"][1]
    assert reasons["TREATED_ONLY"] == (True, "treated")
    assert len(selection.record) == len(candidates)


def test_a_treated_plan_of_the_new_plan_s_course_is_named_not_dropped_silently():
    """A clinical review: a department keeping the re-treatment in the first course has its delivered plan
    in the new plan's course, which the rule reads as part of the new treatment: it was left out with no
    finding. Treated or approved for treatment with a dose: a flag naming it (not selected: the rule
    stays). An unapproved alternative of the new course, or one without a dose, stays silent."""
    candidates = [
        _candidate("FIRST_COURSE", course="C1", same=True, status="UnApproved", approved=False, treated=True),
        _candidate("OLD_APPROVED", course="C1", same=True, status="Completed", approved=True, treated=False),
        _candidate("ALT", course="C1", same=True, status="UnApproved", approved=False, treated=False),
        _candidate("NO_DOSE", course="C1", same=True, treated=True, dose=False),
    ]
    selection = select_prior_plans(candidates)
    assert selection.selected_ids == ()
    found = {f.subject: (f.code, f.severity) for f in selection.findings}
    assert found == {"C1/FIRST_COURSE": ("same-course-plan-not-counted", "flag"),
                     "C1/OLD_APPROVED": ("same-course-plan-not-counted", "flag")}
    (treated,) = [f.message for f in selection.findings if f.subject == "C1/FIRST_COURSE"]
    assert "in the new plan's course and treated" in treated and "a course of its own" in treated


def test_an_explicit_choice_replaces_the_rule_and_is_recorded():
    candidates = [_candidate("DELIVERED"), _candidate("ALTERNATIVE", status="UnApproved", approved=False)]
    selection = select_prior_plans(candidates, explicit=["ALTERNATIVE"])
    assert selection.selected_ids == ("ALTERNATIVE",)
    assert selection.findings == ()
    assert {r["plan"]: r["reason"] for r in selection.record} == {"DELIVERED": "not chosen",
                                                                  "ALTERNATIVE": "chosen by the user"}
    with pytest.raises(InputError, match="not plans of this patient"):
        select_prior_plans(candidates, explicit=["NOPE"])
    with pytest.raises(InputError, match="no valid dose"):
        select_prior_plans([_candidate("EMPTY", dose=False)], explicit=["EMPTY"])


def test_a_date_needs_its_source():
    with pytest.raises(InputError, match="needs its source"):
        _candidate("A", last=dt.date(2024, 6, 7))
    with pytest.raises(InputError, match="one of"):
        _candidate("A", last=dt.date(2024, 6, 7), source="guessed")
    ok = _candidate("A", last=dt.date(2024, 6, 7), source="course-completed")
    record = select_prior_plans([ok]).record[0]
    assert (record["last_fraction"], record["last_fraction_source"]) == ("2024-06-07", "course-completed")
