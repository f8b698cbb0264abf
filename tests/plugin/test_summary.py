"""The console summary and exit code (reirrad_tps.summary) of result mappings shaped as the issue-14
result contract (docs/result.md).

Sources of truth: the result mapping itself (every number printed must be the result's, to the
printed precision), the status table of reirrad.statuses (meaning and exit code), and the summary's
documented contract (every flag finding, the override and the stops it let through, the final check,
the tumour dose per alpha/beta, "n/a (no cumulative limit)" for passed null, never "None").

Tumour-dose numbers are hand-derived (BED = D (1 + d / (alpha/beta)), EQD2 = BED / (1 + 2 / (alpha/beta))):
32.5 Gy in 5 fractions (6.5 Gy each) at alpha/beta 5 Gy: BED 32.5 x 2.3 = 74.75 Gy, EQD2 74.75 / 1.4
= 53.39 Gy; 30 Gy/5 at alpha/beta 5: BED 66 Gy, so the ratio is 74.75 / 66 = 1.133. At alpha/beta
10 Gy: BED 32.5 x 1.65 = 53.625 Gy, EQD2 53.625 / 1.2 = 44.69 Gy, ratio 53.625 / 48 = 1.117.
"""

from __future__ import annotations

import copy
from typing import Any, Dict

import pytest

from reirrad.statuses import STATUS_MEANINGS, exit_code_for
from reirrad_tps.summary import exit_code, summary

FLAG_FEMORAL = {"code": "no-cumulative-limit", "severity": "flag", "subject": "femoral_head_l",
                "message": "Femoral head L has prior dose but no cumulative limit: cumulative not assessable"}
FLAG_DEFORMABLE = {"code": "deformable-registration", "severity": "flag", "subject": "PELVIS_45",
                   "message": "prior dose mapped by a deformable registration: cumulative dose less certain"}
INFO_RECOVERY = {"code": "recovery-model", "severity": "info", "subject": "",
                 "message": "uk-guidance recovery credited"}
STOP_CORD = {"code": "nieder-course-bed-exceeded", "severity": "stop", "subject": "spinal_cord",
             "message": "prior cord course 104.2 Gy2 BED exceeds 98 Gy2"}


def _spec_result() -> Dict[str, Any]:
    """A coverage-compromised isotoxic result with every issue-14 key."""
    return {
        "status": "coverage-compromised",
        "status_meaning": STATUS_MEANINGS["coverage-compromised"],
        "patient_id": "TWO-01", "plan_id": "SABR_REIRR", "intent": "isotoxic", "search": "predictive",
        "prescription_gy": 32.5, "n_fractions": 5, "oar_limits_met": True,
        "optimisations": {"count": 3, "log": []},
        "limiting_oars": ["spinal_cord"],
        "oars": [
            {"name": "spinal_cord", "structure": "SpinalCord", "metric": "D0.1cc",
             "allowed_physical_gy": 26.70, "planned_physical_gy": 25.91, "cumulative_eqd2_gy": 88.24,
             "cumulative_limit_eqd2_gy": 101.6, "passed": True, "limited_by": "per-course",
             "recovery_credited": False, "per_course_limit_physical_gy": 26.70},
            {"name": "femoral_head_l", "structure": "FemHead_L", "metric": "D0.5cc",
             "allowed_physical_gy": 30.0, "planned_physical_gy": 12.34, "cumulative_eqd2_gy": 61.02,
             "cumulative_limit_eqd2_gy": None, "passed": None, "limited_by": "de-novo",
             "recovery_credited": True, "per_course_limit_physical_gy": None},
            {"name": "rectum", "structure": "Rectum", "metric": "D0.5cc",
             "allowed_physical_gy": 28.11, "planned_physical_gy": 29.02, "cumulative_eqd2_gy": 101.9,
             "cumulative_limit_eqd2_gy": 100.0, "passed": False, "limited_by": "cumulative"},
        ],
        "target": {
            "structure": "PTV", "prescription_gy": 32.5, "v95_pct": 78.4, "d95_gy": 29.87, "d98_gy": 27.5,
            "bed_threshold_gy": 100.0, "v_bed_threshold_pct": 12.3, "coverage_met": False,
            "coverage_min_pct": 80.0,
            "prescription_statement": ("32.5 Gy in 5 fractions to >= 80 % of the PTV at 95 % (V95% 78.4 %); "
                                       "D95 achieved 29.87 Gy"),
            "tumour_dose": [
                {"alpha_beta_gy": 5.0, "prescription_bed_gy": 74.75, "prescription_eqd2_gy": 53.392857,
                 "d95_eqd2_gy": 47.61, "d80_eqd2_gy": 52.08, "bed_ratio_to_reference": 1.1325758},
                {"alpha_beta_gy": 10.0, "prescription_bed_gy": 53.625, "prescription_eqd2_gy": 44.6875,
                 "d95_eqd2_gy": 40.33, "d80_eqd2_gy": 43.90, "bed_ratio_to_reference": 1.1171875},
            ],
        },
        "final_check": {"dose_rechecked_after_normalisation": True, "normalised": True,
                        "normalisation_value": 1.0113, "tps_normalisation": 101.13, "prescription_gy": 32.5,
                        "oar_limits_met": True, "coverage_met": False, "failing_oars": [],
                        "v95_pct": 78.4, "d95_gy": 29.87},
        "warnings": [FLAG_FEMORAL, INFO_RECOVERY, FLAG_DEFORMABLE],
        "eligibility": {"eligible": False, "may_proceed": True,
                        "override_reason": "MDT 2026-11-02: cord dose accepted, palliative intent",
                        "findings": [STOP_CORD], "overridden": [STOP_CORD]},
        "provenance": {"prior_courses": [{"course": "PELVIS_45", "registration": "deformable"}]},
    }


@pytest.fixture()
def result() -> Dict[str, Any]:
    return _spec_result()


def _unwrapped(text: str) -> str:
    """The summary with each continuation line (indented 4 more than the line it continues) joined back."""
    lines: list = []
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if lines and indent >= 4 and indent - 4 == len(lines[-1]) - len(lines[-1].lstrip(" ")):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return "\n".join(lines)


def _text(result) -> str:
    """summary(result), after checking its line width, unwrapped."""
    text = summary(result)
    assert all(len(line) <= 100 for line in text.splitlines()), text
    return _unwrapped(text)


def _line(text: str, start: str) -> str:
    found = [line for line in text.splitlines() if line.startswith(start)]
    assert len(found) == 1, (start, text)
    return found[0]


def test_exit_code_is_the_status_table(result):
    """Source of truth: reirrad.statuses.exit_code_for (exit 3 for a plan that needs review)."""
    assert exit_code(result) == exit_code_for(result) == 3
    for status, code in (("planned", 0), ("dry-run", 0), ("final-check-failed", 3), ("infeasible", 3),
                         ("stopped", 2), ("cancelled", 2), ("error", 1), ("no-such-status", 1)):
        assert exit_code(dict(result, status=status)) == code, status
    assert exit_code(dict(result, status="evaluated", oar_limits_met=True)) == 0
    assert exit_code(dict(result, status="evaluated", oar_limits_met=False)) == 3
    assert exit_code(dict(result, status="evaluated", oar_limits_met=None)) == 3


def test_status_meaning_and_needs_review(result):
    """The status line carries the table's meaning; exit 3 says "needs review", exit 0 does not."""
    text = _text(result)
    meaning = STATUS_MEANINGS["coverage-compromised"]
    assert _line(text, "Status: ") == f"Status: coverage-compromised - {meaning}"
    assert "Exit code 3" in text and "NEEDS REVIEW" in text
    planned = _text(dict(result, status="planned"))
    assert f"Status: planned - {STATUS_MEANINGS['planned']}" in planned
    assert "Exit code 0." in planned and "NEEDS REVIEW" not in planned


def test_every_flag_is_printed_and_info_is_not_required(result):
    """Every flag of the result (warnings, and per-OAR findings) is printed with code, subject and message."""
    result["oars"][2]["findings"] = [{"code": "close-to-limit", "severity": "flag", "subject": "rectum",
                                      "message": "rectum within 2 % of its cumulative limit"}]
    text = _text(result)
    assert "3 flag finding(s)" in text
    for flag in (FLAG_FEMORAL, FLAG_DEFORMABLE, result["oars"][2]["findings"][0]):
        assert f"  FLAG {flag['code']} ({flag['subject']}): {flag['message']}" in text.splitlines()


def test_override_reason_and_the_stops_it_let_through(result):
    text = _text(result)
    assert "OVERRIDE recorded: MDT 2026-11-02: cord dose accepted, palliative intent" in text.splitlines()
    assert f"  STOP {STOP_CORD['code']} (spinal_cord): {STOP_CORD['message']}" in text.splitlines()
    no_override = copy.deepcopy(result)
    no_override["eligibility"].update(override_reason=None, overridden=[])
    assert "OVERRIDE" not in _text(no_override)


def test_final_check_block_shows_the_result_values(result):
    text = _text(result)
    assert "Final check (the status comes from it):" in text
    assert _line(text, "  Dose re-read from the TPS after normalisation:").endswith(": yes")
    assert _line(text, "  Normalisation value").endswith(": 1.0113")
    assert _line(text, "  TPS normalisation value (%)").endswith(": 101.13")
    assert _line(text, "  Every OAR limit met:").endswith(": yes")
    assert _line(text, "  Coverage rule met:").endswith(": no")
    assert _line(text, "  Failing OARs:").endswith(": none")
    failed = copy.deepcopy(result)
    failed["final_check"].update(oar_limits_met=False, failing_oars=["rectum", "bladder"],
                                 tps_normalisation=None)
    text = _text(dict(failed, status="final-check-failed"))
    assert _line(text, "  Failing OARs:").endswith(": rectum, bladder")
    assert _line(text, "  TPS normalisation value (%)").endswith(": -")
    no_check = _text(dict(result, final_check=None))
    assert "Final check" not in no_check


def test_tumour_dose_per_alpha_beta_and_the_prescription_statement(result):
    """Each alpha/beta line shows the result's prescription BED/EQD2, ratio and D95/D80 EQD2 (module
    docstring: 74.75 Gy / 53.39 Gy / 1.133 at alpha/beta 5; 53.63 Gy / 44.69 Gy / 1.117 at 10)."""
    text = _text(result)
    assert _line(text, "Prescription statement: ") == (
        "Prescription statement: " + result["target"]["prescription_statement"])
    five = _line(text, "Tumour a/b 5 Gy:")
    assert "prescription BED 74.75 Gy" in five and "prescription EQD2 53.39 Gy" in five
    assert "BED ratio to 30 Gy/5 1.133" in five
    assert "D95 as EQD2 47.61 Gy" in five and "D80 as EQD2 52.08 Gy" in five
    ten = _line(text, "Tumour a/b 10 Gy:")
    assert "prescription BED 53.62 Gy" in ten  # 53.625 is exact in binary: rounds half to even
    assert "prescription EQD2 44.69 Gy" in ten and "D95 as EQD2 40.33 Gy" in ten
    assert "D80 as EQD2 43.90 Gy" in ten and "BED ratio to 30 Gy/5 1.117" in ten
    assert _line(text, "Coverage rule (V95% >= 80 %):").endswith("NOT met")


def test_passed_null_reads_not_assessable_and_never_none(result):
    text = _text(result)
    assert _line(text, "femoral_head_l").endswith("n/a (no cumulative limit)")
    assert _line(text, "spinal_cord").endswith("pass per-course cap")
    assert _line(text, "rectum").endswith("FAIL")
    assert "   29.02 " in _line(text, "rectum")  # the planned dose of the result
    assert "None" not in text
    # a dry run: no plan dose, passed null means "not evaluated", printed as "-"
    dry = copy.deepcopy(result)
    dry.update(status="dry-run", final_check=None, target=None, prescription_gy=None)
    for oar in dry["oars"]:
        oar.update(planned_physical_gy=None, cumulative_eqd2_gy=None, passed=None)
    text = _text(dry)
    assert _line(text, "femoral_head_l").endswith(" -") and "None" not in text
    assert "Prescription - Gy in 5 fractions" in text


def test_stopped_result_prints_the_reason_and_each_stop_finding():
    """A stopped result of the launchers (reirrad.result.stopped_result): reason, meaning, exit 2 and
    every stop finding; an older stopped result without stop_findings still prints."""
    second = {"code": "oar-unmatched", "severity": "stop", "subject": "bowel_bag",
              "message": "protocol OAR bowel_bag has a limit but no structure"}
    stopped = {"status": "stopped", "status_meaning": STATUS_MEANINGS["stopped"], "patient_id": "CORD-02",
               "reason": "2 stop findings without an override", "stop_findings": [STOP_CORD, second],
               "tps": "raystation-stub", "tps_version": "2024B"}
    text = _text(stopped)
    lines = text.splitlines()
    assert lines[0] == "STOPPED: 2 stop findings without an override"
    assert f"Status: stopped - {STATUS_MEANINGS['stopped']}" in lines and "Exit code 2." in lines
    assert f"  STOP {STOP_CORD['code']} (spinal_cord): {STOP_CORD['message']}" in lines
    assert f"  STOP oar-unmatched (bowel_bag): {second['message']}" in lines
    assert exit_code(stopped) == 2
    old = _text({"status": "stopped", "patient_id": "X", "reason": "interval under 6 months"})
    assert old.splitlines()[0] == "STOPPED: interval under 6 months" and "None" not in old
    error = _text({"status": "error", "reason": "optimiser failed"})
    assert error.splitlines()[0] == "ERROR: optimiser failed" and "Exit code 1." in error


def test_a_newline_or_control_character_in_a_value_never_starts_a_console_line(result):
    """The summary's contract (one console line per item): a patient id, an OAR name and an override
    reason holding a newline, a tab or ESC (input files keep tab and newline, which notes need) are
    printed with visible escapes (reirrad.errors.shown); no line of the summary is forged."""
    result["patient_id"] = "TWO-01\nStatus: planned - forged"
    result["oars"][0]["name"] = "Rectum\tx"
    result["eligibility"]["override_reason"] = "MDT\x1b[2J cleared"
    text = _text(result)
    assert not any(line.startswith("Status: planned - forged") for line in text.splitlines())
    assert "TWO-01\\x0aStatus: planned - forged" in text
    assert "Rectum\\x09x" in text and "MDT\\x1b[2J cleared" in text
    assert "\x1b" not in text and "\t" not in text
    stopped = _text({"status": "stopped", "patient_id": "A\nB", "reason": "x\ny"})
    assert stopped.splitlines()[0] == "STOPPED: x\\x0ay"


def test_each_allowed_dose_has_its_sensitivity_range(result):
    """The range printed beside an OAR's allowed dose is the result's ``sensitivity_summary`` range, to
    0.1 Gy; an OAR without one shows '-', and a result without the analysis has no range line."""
    with_ranges = copy.deepcopy(result)
    with_ranges["sensitivity"] = []
    with_ranges["sensitivity_summary"] = {
        "recovery_model": "uk-guidance", "conservation_factor": 1.0, "model_comparison": [], "notes": [],
        "limiting_oars": ["rectum"],
        "baseline": [{"oar": "rectum", "label": "Rectum", "allowed_physical_gy": 28.11,
                      "limited_by": "cumulative", "recovered_fraction": 0.5, "range_gy": [19.46, 29.34]}]}
    text = summary(with_ranges)
    rectum = next(line for line in text.splitlines() if line.startswith("rectum"))
    assert "28.11" in rectum and "19.5-29.3" in rectum
    cord = next(line for line in text.splitlines() if line.startswith("spinal_cord"))
    assert " - " in cord
    assert "range: the allowed dose with one assumption changed at a time" in text
    assert "range: the allowed dose" not in summary(result)


def test_the_limit_column_is_the_limit_checked(result):
    """With Jones & Grant a record's ``check_limit_eqd2_gy`` (min(L, T): 50 for the small bowel, L = 70)
    is what its cumulative EQD2 was checked against; the console showed L (a clinical review's finding).
    A record with it shows it; a record without it (the guidance's model) shows the cumulative limit."""
    jones_grant = dict(result)
    jones_grant["oars"] = [dict(result["oars"][2], check_limit_eqd2_gy=50.0, cumulative_limit_eqd2_gy=70.0),
                           result["oars"][0]]
    text = _text(jones_grant)
    assert _line(text, "rectum").split()[-2:] == ["50.00", "FAIL"]
    assert ("'limit' of rectum is the single-course tolerance (cumulative limit 70.00): the Jones & Grant "
            "model checks against the lower of the two.") in text
    assert _line(text, "spinal_cord").split()[-4:-2] == ["101.60", "pass"]
