"""Eligibility findings (reirrad.eligibility); rules from docs/design.md §4 and issue 2 item 6."""

from __future__ import annotations

import calendar
import datetime as dt
import re

import pytest

from reirrad.eligibility import (
    CALENDAR_MONTH_SPANS_DAYS,
    PriorCourseInfo,
    check_eligibility,
    eligibility_record,
    is_stopped,
)
from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.recovery import interval_days_between

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


def codes(findings):
    return [f.code for f in findings]


def test_eligible_single_course_has_no_findings():
    """One course with dose, 2 years ago, 40 Gy/5 requested: nothing to report."""
    found = check_eligibility(PROTOCOL, [PriorCourseInfo("LCCRT", 730, True)],
                              prescription_gy=40.0, n_fractions=5)
    assert found == ()
    assert eligibility_record(found, None) == {"eligible": True, "may_proceed": True,
                                               "override_reason": None, "findings": [], "overridden": []}


@pytest.mark.parametrize(
    ("courses", "kwargs", "expected", "stopped"),
    [
        ([PriorCourseInfo("A", 150, True)], {}, ["interval-under-6-months"], True),
        # exactly 6.0 months is eligible (flagged: within the calendar span of 6 months, see below)
        ([PriorCourseInfo("A", 182.625, True)], {}, ["interval-at-recovery-band-edge"], False),
        ([PriorCourseInfo("A", None, True)], {}, ["unknown-interval"], True),
        ([PriorCourseInfo("A", 730, False)], {}, ["prior-course-without-dose"], True),
        ([PriorCourseInfo("A", 730, True), PriorCourseInfo("B", 1200, True)], {},
         ["multiple-prior-courses"], False),
        ([], {}, ["no-prior-course"], False),
        ([PriorCourseInfo("A", 730, True)], {"prescription_gy": 47.5}, ["dose-above-protocol-maximum"], True),
        ([PriorCourseInfo("A", 730, True)], {"prescription_gy": 45.0}, [], False),
        ([PriorCourseInfo("A", 730, True)], {"n_fractions": 3}, ["fractionation-not-in-protocol"], True),
    ],
)
def test_each_rule(courses, kwargs, expected, stopped):
    """Each eligibility rule fires alone, with the documented severity."""
    found = check_eligibility(PROTOCOL, courses, **kwargs)
    assert codes(found) == expected
    assert is_stopped(found) is stopped


def test_override_is_recorded_and_must_have_a_reason():
    """A stop can be overridden only with a non-empty reason, which the record keeps."""
    found = check_eligibility(PROTOCOL, [PriorCourseInfo("A", 120, True)])
    record = eligibility_record(found, "MDT 2026-11-20: symptomatic progression")
    assert record["eligible"] is False
    assert record["may_proceed"] is True
    assert record["override_reason"].startswith("MDT")
    assert eligibility_record(found, None)["may_proceed"] is False
    with pytest.raises(InputError, match="needs a reason"):
        eligibility_record(found, "  ")


@pytest.mark.parametrize("reason, needle", [
    ("\u200b", "control or format characters (found U+200B)"),  # displays as nothing
    ("MDT ok\x1b[2J", "found U+001B"),  # a terminal escape: clears the screen
    ("MDT ok\rStatus: planned", "found U+000D"),  # forges a console line
    ("MDT \u202eko", "found U+202E"),  # right-to-left override
    ("\u00a0\u2003", "needs a reason"),  # only blanks
    ("x" * 1001, "an eligibility override reason of 1001 characters is longer than 1000"),  # was 5 MB whole
])
def test_an_override_reason_must_be_visible_plain_text(reason, needle):
    """Found on hostile runs: a zero-width space or a lone ESC passed strip() and overrode every stop with a
    reason that displays as nothing; escapes and carriage returns reached the console raw. A reason must
    have a visible character and no control or format characters (reirrad.gate.check_override_reason)."""
    found = check_eligibility(PROTOCOL, [PriorCourseInfo("A", 120, True)])
    with pytest.raises(InputError, match=re.escape(needle)):
        eligibility_record(found, reason)
    assert eligibility_record(found, "MDT: Ärztin approved, 5 months – ok")["may_proceed"] is True


def test_an_override_does_not_lift_a_fractionation_outside_the_protocol():
    """``reirrad constraints --fractions 3 --override-eligibility R`` exited 0 with an empty table: the record
    let the override lift fractionation-not-in-protocol, which reirrad.gate.NEEDS_ACTION says no override
    lifts (the protocol has no limits for 3 fractions). may_proceed stays False and nothing is overridden."""
    found = check_eligibility(PROTOCOL, [PriorCourseInfo("A", 700, True)], n_fractions=3)
    assert "fractionation-not-in-protocol" in codes(found)
    record = eligibility_record(found, "MDT ok")
    assert (record["may_proceed"], record["overridden"], record["override_reason"]) == (False, [], "MDT ok")


def test_bad_course_inputs():
    """Negative intervals and non-course objects are refused."""
    with pytest.raises(InputError, match="an interval cannot be negative"):
        PriorCourseInfo("A", -3, True)
    with pytest.raises(InputError, match="PriorCourseInfo"):
        check_eligibility(PROTOCOL, [("A", 730, True)])  # type: ignore[list-item]
    with pytest.raises(InputError, match="prescription_gy must be > 0"):
        check_eligibility(PROTOCOL, [], prescription_gy=0.0)


def _months_later(day, months):
    """The same day of the month ``months`` calendar months later (the month's last day when it has none)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def test_calendar_month_spans_are_the_calendars():
    """The spans of 6 and 18 calendar months from every day of a 400-year Gregorian cycle (the calendar
    repeats after it): exactly the days CALENDAR_MONTH_SPANS_DAYS gives, every value between them met."""
    start = dt.date(2001, 1, 1)
    spans = {6: set(), 18: set()}
    for offset in range(146097):  # days in 400 Gregorian years
        day = start + dt.timedelta(days=offset)
        for months, seen in spans.items():
            seen.add((_months_later(day, months) - day).days)
    for months, (low, high) in CALENDAR_MONTH_SPANS_DAYS.items():
        assert spans[months] == set(range(low, high + 1))


def band_edge(days, model=None):
    found = check_eligibility(PROTOCOL, [PriorCourseInfo("A", days, True)], recovery_model=model)
    return [f.severity for f in found if f.code == "interval-at-recovery-band-edge"]


@pytest.mark.parametrize(("days", "expected"), [
    # 6 calendar months are 181-184 days: "at least 6 months" (d >= span) can go either way for
    # 181 <= d < 184; this run's edge is 182.625 d (a flag above it, an info below, where it stops)
    (180, []), (181, ["info"]), (182, ["info"]), (182.625, ["flag"]), (183, ["flag"]), (183.9, ["flag"]),
    (184, []),
    # 18 calendar months are 546-550 days: "more than 18 months" (d > span) can go either way for
    # 546 < d <= 550; this run's edge is 547.875 d (50 % above it: a flag; 30 % below: an info)
    (546, []), (546.5, ["info"]), (547, ["info"]), (547.875, ["info"]), (548, ["flag"]), (550, ["flag"]),
    (550.5, []), (730, []),
])
def test_interval_at_a_band_edge_is_reported(days, expected):
    """Where the two ways of counting months can disagree, a finding says so, a flag where the calendar's
    reading may be the less favourable one; nothing elsewhere."""
    assert band_edge(days) == expected


def test_band_edge_of_18_months_only_under_the_uk_bands():
    """The 18-month edge is the UK guidance's 50 % band: reported under ``uk-guidance`` (the protocol's
    model) alone; the 6-month edge is the eligibility rule, whatever the model."""
    assert PROTOCOL.recovery.model == "uk-guidance"
    assert band_edge(548, "jones-grant-2014") == [] and band_edge(548, "none") == []
    assert band_edge(548, "uk-guidance") == ["flag"]
    assert band_edge(183, "jones-grant-2014") == ["flag"]
    with pytest.raises(InputError, match="unknown recovery model"):
        band_edge(548, "uk")


def test_band_edge_flag_names_the_case_it_guards_against():
    """2023-07-31 to 2025-01-31 is exactly 18 calendar months (not "more than 18"), but 550 days = 18.070
    months of 30.4375 days: this run credits 50 %. The flag names the interval and both readings."""
    days = interval_days_between(dt.date(2023, 7, 31), dt.date(2025, 1, 31))
    assert _months_later(dt.date(2023, 7, 31), 18) == dt.date(2025, 1, 31)
    assert days == 550
    (flag,) = [f for f in check_eligibility(PROTOCOL, [PriorCourseInfo("PELVIS", days, True)])
               if f.code == "interval-at-recovery-band-edge"]
    assert flag.severity == "flag" and flag.subject == "PELVIS"
    for needle in ("550 days", "18.070 months", "50 %", "546-550 days", "30 %", "calendar months"):
        assert needle in flag.message
