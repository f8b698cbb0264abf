"""The HTML report (reirrad.report) of real run outcomes on the TPS-less stand-in (LRRC-01).

Sources of truth: the typed outcome of the same run (its final evaluation's numbers must be the ones in
the cells; the DVH marker is the evaluation's voxel-wise metric), the result mapping of the same run
(every OAR, the decision log, the protocol hash and value statuses must appear), the PNG
specification (signature and IHDR chunk), the HTML grammar (every element closed, checked by
html.parser), and the report's own documented contract (fixed figure sizes, byte-identical output
for identical input apart from the time stamp, a note instead of plots without matplotlib).
"""

from __future__ import annotations

import base64
import html
import io
import re
import sys
from datetime import datetime, timezone

import numpy as np
import pytest

from reirrad.dvh import DVH
from reirrad.errors import InputError
from reirrad.metrics import parse_metric
from reirrad.outcome import RunOutcome, Status
from reirrad.protocol import load_protocol
from reirrad.report import (
    DVH_FIGURE_PX,
    MAP_FIGURE_PX,
    PASSED_NOT_ASSESSABLE,
    REPORT_EXTRA_NOTE,
    TORNADO_FIGURE_PX,
    render_report,
    write_report,
)
from reirrad.report.data import dvh_data
from reirrad.runner import execute
from reirrad.statuses import STATUS_MEANINGS, exit_code_for
from reirrad.workflow import WorkflowOptions
from tests.html_support import parse_html, png_size
from tps_stubs.direct import DirectCase, DirectPlanner

try:  # pillow is in the test extra; the IHDR check below does not need it
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
MAPS = {(m, v) for m in ("effective-prior", "remaining-tolerance") for v in ("axial", "sagittal")}


@pytest.fixture(scope="module")
def planned():
    """The outcome of one isotoxic run (predictive search) on LRRC-01, and its result mapping."""
    case = DirectCase("LRRC-01")
    outcome = execute(PROTOCOL, case.read(), WorkflowOptions(), planner=DirectPlanner(case))
    assert outcome.run is not None and outcome.evaluation is not None
    return outcome, outcome.result


@pytest.fixture(scope="module")
def dry():
    """The outcome of a dry run (no planner) of the same patient."""
    outcome = execute(PROTOCOL, DirectCase("LRRC-01").read(), WorkflowOptions(dry_run=True))
    return outcome, outcome.result


def _with_result(outcome: RunOutcome, result: dict) -> RunOutcome:
    """The same run with another result mapping (to render hand-made or hostile results)."""
    return RunOutcome(outcome.status, exit_code_for(result), result, outcome.run)


@pytest.fixture(scope="module")
def page(planned):
    pytest.importorskip("matplotlib")
    outcome, _ = planned
    return render_report(outcome, generated_at=WHEN)


def test_report_parses_and_lists_every_oar_and_the_provenance(planned, page):
    """Source of truth: the result mapping. Every element is closed; the OAR table has exactly one row
    per OAR of the result (plus the protocol's unmatched OARs, marked); the provenance block shows the
    protocol's sha256 and the status of every value the result says it used."""
    _, result = planned
    parsed = parse_html(page)
    rows = [a["data-oar"] for a in parsed.with_attr("tr", "data-oar")]
    assert sorted(rows) == sorted(o["name"] for o in result["oars"])
    assert len(rows) == len(set(rows))
    unmatched = {a["data-unmatched-oar"] for a in parsed.with_attr("tr", "data-unmatched-oar")}
    assert unmatched == set(PROTOCOL.oar_keys) - set(rows)
    ids = [a["id"] for _, a in parsed.elements if "id" in a]
    for section in ("eligibility", "status", "exit-code", "final-check", "final-check-table", "oar-table",
                    "decision-log", "log-table", "target-table", "objectives-table", "plots", "provenance",
                    "protocol-sha256", "values-used", "prior-courses-table", "alpha-beta-table",
                    "generated-at"):
        assert section in ids
    order = [ids.index(i) for i in ("status", "eligibility", "final-check", "oar-table", "log-table",
                                    "target-table", "plots", "provenance")]
    assert order == sorted(order)
    sha = result["provenance"]["protocol"]["sha256"]
    assert re.search(rf'<code id="protocol-sha256">{sha}</code>', page)
    for key, value in result["provenance"]["values_used"].items():
        assert re.search(rf'<tr data-value="{re.escape(key)}">.*?<td class="val-{value["status"]}">'
                         rf'{value["status"]}</td>', page)
    log_rows = parsed.with_attr("tr", "data-step")
    assert len(log_rows) == len(result["optimisations"]["log"])
    assert "Status: " in "".join(parsed.text)
    # nothing fetched from outside the file
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_the_run_s_status_final_check_and_tumour_dose_are_the_result_s(planned):
    """Source of truth: the result of the same run. The banner carries the status's meaning and the exit
    code of reirrad.statuses; every flag of the result is in the flag box; the final check and the
    tumour dose (when the engine reports them) show the result's numbers."""
    outcome, result = planned
    page = render_report(outcome, generated_at=WHEN, plots=False)
    parse_html(page)
    banner = html.unescape(re.sub(r"<[^>]+>", "", re.search(r'id="status">(.*?)</div>', page, re.S).group(1)))
    assert f"Status: {result['status']} — {STATUS_MEANINGS[result['status']]}" in banner
    assert f"Exit code {exit_code_for(result)}" in banner
    flags = [f for f in result["warnings"] if f["severity"] == "flag"]
    assert len(re.findall(r'<li data-code="', page)) >= len(flags)
    for flag in flags:
        assert f'<li data-code="{html.escape(flag["code"])}">' in page
    check = result.get("final_check")
    if check is not None:
        kv = _kv(page, "final-check-table")
        assert kv["Every OAR limit met"] == ("yes" if check["oar_limits_met"] else "no")
        assert kv["PTV D95 (Gy)"] == f"{check['d95_gy']:.2f}"
    for entry in (result.get("target") or {}).get("tumour_dose") or []:
        ab = f"{entry['alpha_beta_gy']:.1f}"
        assert _row(page, "data-alpha-beta", ab)[1:3] == [f"{entry['prescription_bed_gy']:.2f}",
                                                          f"{entry['prescription_eqd2_gy']:.2f}"]


def test_embedded_images_are_pngs_of_the_documented_size(planned, page):
    """Source of truth: the PNG specification (signature, IHDR with its CRC) and the report's fixed
    figure sizes. One DVH per OAR with a cumulative limit, and axial + sagittal slices of both maps."""
    _, result = planned
    parsed = parse_html(page)
    images = parsed.with_attr("img", "src")
    assert images
    dvh, tornado, maps = [], [], set()
    for attrs in images:
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix)
        png = base64.b64decode(attrs["src"][len(prefix):], validate=True)
        expected = {"dvh": DVH_FIGURE_PX, "tornado": TORNADO_FIGURE_PX}.get(attrs["data-plot"], MAP_FIGURE_PX)
        assert png_size(png) == expected
        assert (int(attrs["width"]), int(attrs["height"])) == expected
        if Image is not None:
            with Image.open(io.BytesIO(png)) as image:
                image.load()  # decodes every pixel: a corrupt stream raises
                assert image.size == expected
        if attrs["data-plot"] == "dvh":
            dvh.append(attrs["data-oar"])
        elif attrs["data-plot"] == "tornado":
            tornado.append(attrs["data-oar"])
        else:
            maps.add((attrs["data-map"], attrs["data-view"]))
    with_limit = [o["name"] for o in result["oars"] if o["cumulative_limit_eqd2_gy"] is not None]
    assert sorted(dvh) == sorted(with_limit) and len(dvh) == len(with_limit)
    assert maps == MAPS
    assert tornado == list(result["sensitivity_summary"]["limiting_oars"])
    assert len(images) == len(with_limit) + 4 + len(tornado)


def test_identical_input_gives_an_identical_report_apart_from_the_time_stamp(planned, page):
    """Source of truth: the documented determinism (fixed figure size and dpi, no PNG Software chunk,
    nothing else depends on time)."""
    outcome, _ = planned
    later = render_report(outcome, generated_at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert WHEN.isoformat() in page and "2027-01-02T03:04:05+00:00" in later
    stamp = re.compile(r'<span id="generated-at">[^<]*</span>')
    assert len(stamp.findall(page)) == 1
    assert stamp.sub("", page) == stamp.sub("", later)


def test_without_matplotlib_the_tables_remain_with_a_note(planned, monkeypatch):
    """Source of truth: the render_report contract for plots=None when matplotlib does not import."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    outcome, result = planned
    page = render_report(outcome, generated_at=WHEN)
    parsed = parse_html(page)
    assert "<img" not in page
    assert REPORT_EXTRA_NOTE in "".join(parsed.text)
    ids = {a["id"] for _, a in parsed.elements if "id" in a}
    assert {"oar-table", "log-table", "target-table", "objectives-table", "values-used", "plots-note"} <= ids
    assert len(parsed.with_attr("tr", "data-oar")) == len(result["oars"])
    with pytest.raises(InputError, match="reirrad\\[report\\]"):
        render_report(outcome, plots=True)


def test_every_text_is_escaped(planned):
    """Source of truth: html.escape; a hostile identifier must not become markup."""
    outcome, result = planned
    hostile = dict(result, patient_id='<script>alert("x")</script>', plan_id="A&B")
    page = render_report(_with_result(outcome, hostile), generated_at=WHEN, plots=False)
    parse_html(page)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "A&amp;B" in page


def test_dry_run_report_renders_without_plan_dose(dry, tmp_path):
    """Source of truth: the dry-run result (status dry-run, no plan dose): tolerances and objectives
    are shown, the report says there is no DVH of the plan, and write_report replaces the file
    atomically. The maps are still drawn (``plots=True``: matplotlib is in the test extra, and its
    absence is an InputError, never a silent pass): exactly the four of MAPS (no DVH without a plan
    dose), each a PNG of the documented MAP_FIGURE_PX by its IHDR and by decoding every pixel, and each
    showing a colour-mapped field: at least 1 % of its pixels saturated colour (axes, labels and the
    background are grey; LRRC-01's maps measure 2.5–46 %)."""
    outcome, result = dry
    assert result["status"] == "dry-run"
    out = write_report(tmp_path / "dry.html", outcome, generated_at=WHEN, plots=True)
    page = out.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind
    parsed = parse_html(page)
    text = "".join(parsed.text)
    assert "Status: dry-run" in text
    assert "no DVH of the plan" in text
    assert sorted(a["data-oar"] for a in parsed.with_attr("tr", "data-oar")) == sorted(
        o["name"] for o in result["oars"])
    objectives = re.search(r'<table id="objectives-table">.*?</table>', page, re.S)
    assert objectives is not None and objectives.group(0).count("<tr>") == len(result["objectives"]) + 1
    # a dry run has no plan to say which OAR binds: every OAR gets its sensitivity tornado
    tornado = [a["data-oar"] for a in parsed.with_attr("img", "src") if a["data-plot"] == "tornado"]
    assert tornado == result["sensitivity_summary"]["limiting_oars"] == [o["name"] for o in result["oars"]]
    images = [a for a in parsed.with_attr("img", "src") if a["data-plot"] != "tornado"]
    assert len(images) == len(MAPS) == 4
    assert {(a["data-map"], a["data-view"]) for a in images} == MAPS
    assert all(a["data-plot"] == "map" for a in images)
    assert Image is not None, "pillow is in the test extra"
    prefix = "data:image/png;base64,"
    for attrs in images:
        assert attrs["src"].startswith(prefix)
        png = base64.b64decode(attrs["src"][len(prefix):], validate=True)
        assert png_size(png) == MAP_FIGURE_PX
        assert (int(attrs["width"]), int(attrs["height"])) == MAP_FIGURE_PX
        with Image.open(io.BytesIO(png)) as image:
            image.load()  # decodes every pixel: a corrupt stream raises
            assert image.size == MAP_FIGURE_PX
            rgb = np.asarray(image.convert("RGB"), dtype=int)
        coloured = float(((rgb.max(axis=2) - rgb.min(axis=2)) > 30).mean())
        assert coloured >= 0.01, (attrs["data-map"], attrs["data-view"], coloured)


# -- issue 14: the result keys of the clinical decision gate, rendered from a spec-shaped result -------
# A synthetic result in the shape of the issue-14 result contract (docs/result.md);
# the run is a stand-in carrying only the protocol (the tables need nothing else; plots are off).
# Tumour-dose numbers are hand-derived, BED = D (1 + d / (alpha/beta)), EQD2 = BED / (1 + 2 / (alpha/beta)):
# 45 Gy in 5 fractions at alpha/beta 5 Gy: BED 45 x 2.8 = 126 Gy, EQD2 126 / 1.4 = 90 Gy, ratio to
# 30 Gy/5 (BED 66 Gy) 1.909; at alpha/beta 10 Gy: BED 45 x 1.9 = 85.5 Gy, EQD2 71.25 Gy, ratio 85.5 / 48.

FLAG_URETER = {"code": "no-cumulative-limit", "severity": "flag", "subject": "ureter_l",
               "message": "Ureter L: no cumulative limit; cumulative EQD2 104.9 Gy not assessable"}
FLAG_DEFORMABLE = {"code": "deformable-registration", "severity": "flag", "subject": "PELVIS_45",
                   "message": "prior dose mapped deformably: cumulative dose <less> certain"}
STOP_CORD = {"code": "nieder-course-bed-exceeded", "severity": "stop", "subject": "spinal_cord",
             "message": "prior cord course 104.2 Gy2 BED exceeds Nieder's 98 Gy2 per course"}


STATEMENT = "45 Gy in 5 fractions to >= 80 % of the PTV at 95 % (V95% 95.6 %); D95 achieved 44.10 Gy"


def _cells(fragment: str) -> list:
    """The texts (tags stripped, entities unescaped) of the <td> cells in an HTML fragment."""
    cells = re.findall(r"<td[^>]*>(.*?)</td>", fragment, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells]


def _spec_result():
    return {
        "status": "final-check-failed", "patient_id": "GYN-01", "plan_id": "SABR_REIRR", "intent": "isotoxic",
        "search": "predictive", "prescription_gy": 45.0, "n_fractions": 5, "oar_limits_met": False,
        "optimisations": {"count": 4, "log": []}, "limiting_oars": ["rectum"], "objectives": [],
        "oars": [
            {"name": "spinal_cord", "label": "Spinal cord", "structure": "SpinalCord", "metric": "D0.1cc",
             "alpha_beta_gy": 2.0, "prior_eqd2_gy": 45.0, "recovered_fraction": 0.0,
             "recovery_credited": False,
             "effective_prior_eqd2_gy": 45.0, "remaining_eqd2_gy": 56.6, "cumulative_limit_eqd2_gy": 101.6,
             "allowed_physical_gy": 26.7, "limited_by": "per-course", "per_course_limit_physical_gy": 26.7,
             "planned_physical_gy": 20.11, "cumulative_eqd2_metric_sum_gy": 80.2,
             "cumulative_eqd2_voxelwise_gy": 79.9, "cumulative_eqd2_gy": 80.2, "passed": True},
            {"name": "ureter_l", "label": "Ureter L", "structure": "Ureter_L", "metric": "D0.5cc",
             "alpha_beta_gy": 3.0, "prior_eqd2_gy": 60.1, "recovered_fraction": 0.5,
             "recovery_credited": True,
             "effective_prior_eqd2_gy": 30.05, "remaining_eqd2_gy": None, "cumulative_limit_eqd2_gy": None,
             "allowed_physical_gy": 35.0, "limited_by": "de-novo", "planned_physical_gy": 33.3,
             "cumulative_eqd2_metric_sum_gy": 104.9, "cumulative_eqd2_voxelwise_gy": 101.2,
             "cumulative_eqd2_gy": 104.9, "passed": None},
            {"name": "rectum", "label": "Rectum", "structure": "Rectum", "metric": "D0.5cc",
             "alpha_beta_gy": 3.0,
             "prior_eqd2_gy": 70.0, "recovered_fraction": 0.5, "recovery_credited": True,
             "effective_prior_eqd2_gy": 35.0, "remaining_eqd2_gy": 65.0, "cumulative_limit_eqd2_gy": 100.0,
             "allowed_physical_gy": 27.4, "limited_by": "cumulative", "planned_physical_gy": 28.9,
             "cumulative_eqd2_metric_sum_gy": 103.1, "cumulative_eqd2_voxelwise_gy": 101.0,
             "cumulative_eqd2_gy": 103.1, "passed": False},
        ],
        "target": {"structure": "PTV", "prescription_gy": 45.0, "d95_gy": 44.1, "d98_gy": 42.0,
                   "v95_pct": 95.6,
                   "bed_threshold_gy": 80.0, "v_bed_threshold_pct": 97.0, "coverage_met": True,
                   "coverage_min_pct": 80.0,
                   "prescription_statement": STATEMENT,
                   "tumour_dose": [
                       {"alpha_beta_gy": 5.0, "prescription_bed_gy": 126.0, "prescription_eqd2_gy": 90.0,
                        "bed_ratio_to_reference": 126.0 / 66.0, "d95_eqd2_gy": 87.43, "d80_eqd2_gy": 89.61},
                       {"alpha_beta_gy": 10.0, "prescription_bed_gy": 85.5, "prescription_eqd2_gy": 71.25,
                        "bed_ratio_to_reference": 85.5 / 48.0, "d95_eqd2_gy": 69.52, "d80_eqd2_gy": 70.88}]},
        "final_check": {"dose_rechecked_after_normalisation": True, "normalised": True,
                        "normalisation_value": 1.0113, "tps_normalisation": 101.13, "prescription_gy": 45.0,
                        "oar_limits_met": False, "coverage_met": True, "failing_oars": ["rectum"],
                        "v95_pct": 95.6, "d95_gy": 44.1},
        "warnings": [FLAG_URETER, FLAG_DEFORMABLE,
                     {"code": "recovery", "severity": "info", "subject": "", "message": "uk-guidance"}],
        "eligibility": {"eligible": False, "may_proceed": True, "findings": [STOP_CORD],
                        "override_reason": "MDT <2026-11-02>: cord dose accepted", "overridden": [STOP_CORD]},
        "provenance": {"tps": "eclipse-stub", "tps_version": "15.6",
                       "override_reason": "MDT <2026-11-02>: cord dose accepted",
                       "prior_courses": [
                           {"course": "PELVIS_45", "registration": "deformable", "registration_id": "DIR1",
                            "last_fraction": "2024-06-07", "interval_days": 913, "n_fractions": 25,
                            "prescription_gy": 45.0},
                           {"course": "BOOST", "registration": "same-frame", "registration_id": None,
                            "last_fraction": "2024-06-14", "interval_days": 906, "n_fractions": 3,
                            "prescription_gy": 9.0}]},
    }


@pytest.fixture()
def spec_page(dry):
    outcome, _ = dry
    page = render_report(_with_result(outcome, _spec_result()), generated_at=WHEN, plots=False)
    parse_html(page)
    return page


def _row(page: str, attr: str, value: str) -> list:
    """The cell texts (tags stripped, entities unescaped) of the row with attribute attr="value"."""
    row = re.search(rf'<tr[^>]*\b{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', page, re.S)
    assert row is not None, (attr, value)
    return _cells(row.group(1))


def _kv(page: str, table_id: str) -> dict:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert table is not None, table_id
    return {html.unescape(k): html.unescape(re.sub(r"<[^>]+>", "", v))
            for k, v in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", table.group(1))}


def test_status_banner_meaning_exit_code_and_every_flag(spec_page):
    """The banner: status, the statuses table's meaning, exit 3 "needs review"; every flag of the result
    in the flag box (code, subject, escaped message), the info finding only in the findings table."""
    banner = re.search(r'<div class="status status-final-check-failed" id="status">(.*?)</div>', spec_page,
                       re.S)
    assert banner is not None
    text = html.unescape(re.sub(r"<[^>]+>", "", banner.group(1)))
    assert f"Status: final-check-failed — {STATUS_MEANINGS['final-check-failed']}" in text
    assert "Exit code 3: a plan exists but NEEDS REVIEW before use." in text
    assert "Every OAR limit met: no" in text
    box = re.search(r'<div class="flags" id="flag-warnings">(.*?)</div>', spec_page, re.S)
    assert box is not None
    items = re.findall(r'<li data-code="([^"]+)">(.*?)</li>', box.group(1))
    assert [code for code, _ in items] == ["no-cumulative-limit", "deformable-registration"]
    assert html.unescape(re.sub(r"<[^>]+>", "", items[0][1])) == (
        f"no-cumulative-limit (ureter_l): {FLAG_URETER['message']}")
    assert "cumulative dose &lt;less&gt; certain" in items[1][1]
    assert "uk-guidance" not in box.group(1)
    assert spec_page.index('id="flag-warnings"') < spec_page.index('id="eligibility"')


def test_override_reason_and_overridden_stops(spec_page):
    reason = re.search(r'<p class="override" id="override-reason">(.*?)</p>', spec_page, re.S)
    assert reason is not None and "MDT &lt;2026-11-02&gt;: cord dose accepted" in reason.group(1)
    table = re.search(r'<table id="overridden-stops">(.*?)</table>', spec_page, re.S)
    assert table is not None
    assert _cells(table.group(1)) == ["stop", STOP_CORD["code"], "spinal_cord", STOP_CORD["message"]]


def test_final_check_table_shows_the_result_values(spec_page):
    kv = _kv(spec_page, "final-check-table")
    assert kv["Dose re-read from the TPS after normalisation"] == "yes"
    assert kv["Normalisation value (dose re-read / dose before; 1 = unchanged)"] == "1.0113"
    assert kv["TPS normalisation value (%)"] == "101.13"
    assert kv["Every OAR limit met"] == "no" and kv["Coverage rule met"] == "yes"
    assert kv["Failing OARs"] == "rectum" and kv["PTV D95 (Gy)"] == "44.10" and kv["PTV V95 (%)"] == "95.6"
    ids = re.findall(r'id="([^"]+)"', spec_page)
    assert ids.index("eligibility") < ids.index("final-check") < ids.index("oar-table")


def test_tumour_dose_table_beside_coverage_with_the_prescription_statement(spec_page):
    """One row per tumour alpha/beta with the result's numbers (hand-derived above: 126 Gy BED and 90 Gy
    EQD2 at alpha/beta 5 for 45 Gy/5, ratio 1.909 to 30 Gy/5), in the same flex box as the coverage table."""
    assert _row(spec_page, "data-alpha-beta", "5.0") == ["5.0", "126.00", "90.00", "1.909", "87.43", "89.61"]
    head = re.search(r'<table id="tumour-dose-table"><thead><tr>(.*?)</tr>', spec_page).group(1)
    assert re.findall(r"<th>(.*?)</th>", head) == [
        "Tumour α/β (Gy)", "Prescription BED (Gy)", "Prescription EQD2 (Gy)", "BED ratio to 30 Gy/5",
        "D95 as EQD2 (Gy)", "D80 as EQD2 (Gy)"]
    assert _row(spec_page, "data-alpha-beta", "10.0") == ["10.0", "85.50", "71.25", "1.781", "69.52", "70.88"]
    side = re.search(r'<div class="side-by-side">(.*?)</section>', spec_page, re.S)
    assert side is not None
    assert 'id="target-table"' in side.group(1) and 'id="tumour-dose-table"' in side.group(1)
    statement = re.search(r'<p id="prescription-statement">(.*?)</p>', spec_page, re.S)
    assert statement is not None and html.unescape(statement.group(1)).endswith(STATEMENT)
    coverage = _kv(spec_page, "target-table")
    assert coverage["Coverage rule V95 ≥ 80 %"] == "met" and coverage["D95 (Gy)"] == "44.10"


def test_oar_rows_passed_null_per_course_and_recovery_included(spec_page):
    """passed null with a plan dose reads "not assessable (no cumulative limit)" (never "pass"); the
    cord's allowed dose names the per-course rule and the note explains it with the result's cap."""
    ureter = _row(spec_page, "data-oar", "ureter_l")
    assert ureter[-1] == PASSED_NOT_ASSESSABLE and ureter[11] == "104.90"
    assert re.search(r'<tr data-oar="ureter_l" class="review">', spec_page)
    cord = _row(spec_page, "data-oar", "spinal_cord")
    assert cord[9] == "26.70 (per-course)" and cord[-1] == "pass"
    assert cord[5] == "none (limit includes recovery)"
    assert _row(spec_page, "data-oar", "rectum")[-1].startswith("FAIL")
    notes = re.search(r'<ul id="limited-by-notes">(.*?)</ul>', spec_page, re.S)
    assert notes is not None
    text = html.unescape(re.sub(r"<[^>]+>", " ", notes.group(1)))
    assert "per-course limit: the new course alone is capped" in text
    assert "Spinal cord: per-course limit 26.70 Gy physical in 5 fx (limits the allowed dose)" in text


def test_registration_kind_per_prior_course(spec_page):
    table = re.search(r'<table id="prior-courses-table">(.*?)</table>', spec_page, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    cells = [_cells(r) for r in rows]
    assert [c[:2] for c in cells] == [
        ["PELVIS_45", "deformable (the cumulative dose is less certain where the anatomy deformed)"],
        ["BOOST", "same frame (no registration)"]]


def test_missing_values_show_a_dash_and_nothing_is_recomputed(dry):
    """A result without the final check, tumour dose, overridden stops or the coverage verdict renders
    with no crash and no "None"; the coverage rule reads "—" (the report never re-derives a verdict from
    V95 and the protocol)."""
    outcome, _ = dry
    old = _spec_result()
    for key in ("final_check", "oar_limits_met"):
        old.pop(key)
    old["status"] = "planned"
    old["eligibility"].pop("overridden")
    for key in ("tumour_dose", "prescription_statement", "coverage_met", "coverage_min_pct"):
        old["target"].pop(key)
    page = render_report(_with_result(outcome, old), generated_at=WHEN, plots=False)
    parse_html(page)
    assert "tumour-dose-table" not in page and "overridden-stops" not in page
    assert "No final check" in page and ">None<" not in page
    assert _kv(page, "target-table")["Coverage rule V95 ≥ — %"] == "—"


def _two(value):
    return "—" if value is None else f"{value:.2f}"


def test_every_oar_cell_is_the_outcome_s_evaluation(planned):
    """Source of truth: the typed final evaluation of the outcome (CumulativeEvaluation and its
    RemainingTolerance), not the result mapping. Each matched OAR's row shows its prior EQD2, effective
    prior, remaining, allowed and planned physical dose and both cumulative EQD2s at 2 decimals; the
    target table shows the evaluation's D95, D98 and V95."""
    outcome, _ = planned
    page = render_report(outcome, generated_at=WHEN, plots=False)
    evaluation = outcome.evaluation
    assert evaluation is not None and evaluation.oars
    for ev in evaluation.oars:
        tol = ev.tolerance
        row = _row(page, "data-oar", ev.oar)
        assert row[1] == ev.structure and row[2] == tol.metric
        assert row[3] == f"{tol.alpha_beta_gy:.1f}"
        assert row[4] == _two(tol.prior_eqd2_gy)
        assert row[6] == _two(tol.effective_prior_eqd2_gy)
        assert row[7].split()[0] == _two(tol.remaining_eqd2_gy)
        assert row[9] == f"{tol.allowed_physical_gy:.2f} ({tol.limited_by})"
        assert row[10] == _two(ev.planned_physical_gy)
        assert row[11] == _two(ev.cumulative_eqd2_metric_sum_gy)
        assert row[12] == _two(ev.cumulative_eqd2_voxelwise_gy)
        verdict = {True: "pass", None: PASSED_NOT_ASSESSABLE}.get(ev.passed, "FAIL")
        assert row[13].startswith(verdict)
    unmatched = {a for a in re.findall(r'data-unmatched-oar="([^"]+)"', page)}
    assert unmatched == set(PROTOCOL.oar_keys) - {ev.oar for ev in evaluation.oars}
    target = _kv(page, "target-table")
    figures = evaluation.target
    assert target["D95 (Gy)"] == f"{figures.d95_gy:.2f}" and target["D98 (Gy)"] == f"{figures.d98_gy:.2f}"
    assert target["V95 % of the prescription (%)"] == f"{figures.v95_pct:.1f}"


def test_dvh_plot_data_is_the_evaluation_s_cumulative_map(planned):
    """Property that must hold: the DVH drawn for an OAR is of the same cumulative EQD2 map its
    evaluation measured, so the plotted curve's metric equals the evaluation's voxel-wise value (the
    marker), and the limit and α/β are the tolerance's."""
    outcome, _ = planned
    data = {d.oar: d for d in dvh_data(outcome)}
    assert outcome.evaluation is not None
    limited = [ev for ev in outcome.evaluation.oars if ev.tolerance.cumulative_limit_eqd2_gy is not None]
    assert limited and sorted(data) == sorted(ev.oar for ev in limited)
    for ev in limited:
        d = data[ev.oar]
        assert d.metric_gy == ev.cumulative_eqd2_voxelwise_gy
        assert isinstance(d.cumulative, DVH)
        assert d.cumulative.metric_gy(parse_metric(d.metric)) == pytest.approx(d.metric_gy, abs=1e-9)
        assert d.limit_gy == ev.tolerance.check_limit_eqd2_gy == ev.tolerance.cumulative_limit_eqd2_gy
        assert d.alpha_beta_gy == ev.tolerance.alpha_beta_gy


def test_jones_grant_tables_and_plots_show_the_single_course_tolerance_that_is_checked():
    """Jones & Grant checks the cumulative EQD2 against min(L, T) (small bowel L = 70, T = 50 Gy in the
    protocol). The report's OAR table and DVH plot showed L (a clinical review: "limit 70" beside a
    remaining EQD2 computed from 50). Now both show what was checked, the table naming the limit it
    replaces (the console summary: tests/plugin/test_summary.py)."""
    case = DirectCase("LRRC-01")
    outcome = execute(PROTOCOL, case.read(), WorkflowOptions(recovery_model="jones-grant-2014"),
                      planner=DirectPlanner(case))
    assert outcome.run is not None and outcome.evaluation is not None
    bowel = next(ev for ev in outcome.evaluation.oars if ev.oar == "small_bowel")
    assert (bowel.tolerance.check_limit_eqd2_gy, bowel.tolerance.cumulative_limit_eqd2_gy) == (50.0, 70.0)
    assert {d.oar: d.limit_gy for d in dvh_data(outcome)}["small_bowel"] == 50.0
    page = render_report(outcome, generated_at=WHEN, plots=False)
    row = _row(page, "data-oar", "small_bowel")
    assert row[8] == "50.00 (single-course tolerance (cumulative limit 70.00))"
    record = next(o for o in outcome.result["oars"] if o["name"] == "small_bowel")
    assert record["remaining_eqd2_gy"] == pytest.approx(50.0 - record["effective_prior_eqd2_gy"], abs=1e-12)


def test_a_stopped_outcome_has_no_report():
    """A stop writes nothing (docs/result.md): render_report refuses an outcome without a run."""
    stopped = RunOutcome(Status.STOPPED, 2, {"status": "stopped"}, None)
    with pytest.raises(InputError, match="stopped run has none"):
        render_report(stopped)


def test_sensitivity_section_holds_the_result_s_rows_and_model_comparison(planned, page):
    """Source of truth: the result's ``sensitivity`` record (every baseline and row appears once, with its
    number), the documented limiting OARs (a tornado each) and the flag rule: a limiting OAR is flagged iff
    one of its rows changes the allowed dose by more than the protocol's threshold."""
    _, result = planned
    record = result["sensitivity_summary"]
    rows_record = result["sensitivity"]
    parsed = parse_html(page)
    rows = [a for t, a in parsed.elements if t == "tr" and "data-parameter" in a]
    assert len(rows) == len(record["baseline"]) + len(rows_record)
    comparison = [a["data-model-oar"] for a in parsed.with_attr("tr", "data-model-oar")]
    assert comparison == [c["oar"] for c in record["model_comparison"]]
    section = page[page.index('<section id="sensitivity">'):]
    section = section[:section.index("</section>")]
    for row in rows_record:
        assert html.escape(row["label"], quote=True) in section
        assert f"{row['allowed_physical_gy']:.2f}" in section
    threshold = PROTOCOL.sensitivity.flag_threshold_percent.value
    flagged = {w["subject"] for w in result["warnings"] if w["code"] == "sensitive-decision"}
    expected = {oar for oar in record["limiting_oars"]
                if any((r["change_percent"] is None and r["change_gy"] > 0)
                       or (r["change_percent"] is not None and abs(r["change_percent"]) > threshold)
                       for r in rows_record if r["oar"] == oar)}
    assert flagged == expected
    registration = [r for r in rows_record if r["parameter"] == "registration_margin_mm"]
    assert registration and all(r["change_gy"] <= 1e-9 for r in registration)  # more prior dose allows less
    assert "sensitivity.registration_margin" in result["provenance"]["values_used"]
