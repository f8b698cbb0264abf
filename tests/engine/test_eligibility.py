"""Eligibility findings (reirrad.eligibility); rules from docs/design.md §4 and issue 2 item 6."""

from __future__ import annotations

import re

import pytest

from reirrad.eligibility import PriorCourseInfo, check_eligibility, eligibility_record, is_stopped
from reirrad.errors import InputError
from reirrad.protocol import load_protocol

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
        ([PriorCourseInfo("A", 182.625, True)], {}, [], False),  # exactly 6.0 months is eligible
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
