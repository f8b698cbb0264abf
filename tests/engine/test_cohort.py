"""The cohort report (reirrad.cohort) of real run results on the TPS-less stand-in.

Sources of truth: the result mappings of the runs themselves (levels, statuses, limiting OARs, each OAR's
cumulative EQD2 and limit, coverage), the audit record and the per-case audit CSV of the same results
(reirrad.audit.audit_record and append_audit_csv: the cohort CSV's audit columns must be theirs), the
CohortCase fields the batch runner hands over (ids, errors, reuse), the HTML grammar (every element
closed, checked by html.parser), html.escape, the PNG specification (IHDR size) and the module's own
contract (identical output apart from the time stamp, a note instead of plots without matplotlib).
"""

from __future__ import annotations

import base64
import csv
import re
import sys
from collections import Counter
from datetime import datetime, timezone

import pytest

from reirrad.audit import append_audit_csv, audit_record, records_csv_text
from reirrad.cohort import (
    CASE_COLUMNS,
    INTERVAL_FIGURE_PX,
    CohortCase,
    cohort_counts,
    cohort_rows,
    interval_data,
    level_counts,
    limiting_counts,
    policy_comparison,
    render_cohort_report,
    strip_data,
    strip_figure_px,
    write_cohort_csv,
    write_cohort_report,
)
from reirrad.errors import InputError
from reirrad.outputs import AUDIT_PRIOR_COURSES
from reirrad.protocol import load_protocol
from reirrad.report import REPORT_EXTRA_NOTE
from reirrad.runner import execute
from reirrad.statuses import exit_code_for
from reirrad.workflow import WorkflowOptions
from tests.html_support import parse_html, png_size
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
LATER = datetime(2027, 1, 2, 3, 4, tzinfo=timezone.utc)
FAILED_ERROR = "the DICOM folder could not be read: no RTDOSE"


def _run(patient: str, **options):
    case = DirectCase(patient)
    return execute(PROTOCOL, case.read(), WorkflowOptions(**options), planner=DirectPlanner(case)).result


@pytest.fixture(scope="module")
def results():
    """Real results: two planned patients at different levels, an infeasible one, a stopped one
    (EARLY-01 without the override its 4-month interval needs)."""
    out = {p: _run(p) for p in ("LRRC-01", "LRRC-02", "EDGE-01")}
    early = DirectCase("EARLY-01")
    out["EARLY-01"] = execute(PROTOCOL, early.read(), WorkflowOptions(), planner=DirectPlanner(early)).result
    return out


@pytest.fixture(scope="module")
def jones_grant():
    """LRRC-01 planned under the Jones & Grant recovery model (a second policy)."""
    return _run("LRRC-01", recovery_model="jones-grant-2014")


def _case(case_id, result, *, policy=None, reused=False, seconds=2.5):
    return CohortCase(case_id, policy, True, exit_code_for(result), result, None, reused, seconds)


@pytest.fixture(scope="module")
def cases(results):
    out = [_case(p, r, reused=(p == "LRRC-02"), seconds=None if p == "LRRC-02" else 2.5)
           for p, r in results.items()]
    out.append(CohortCase("BROKEN-01", None, False, 1, None, FAILED_ERROR, False, 0.4))
    return out


@pytest.fixture(scope="module")
def page(cases):
    pytest.importorskip("matplotlib")
    return render_cohort_report(cases, generated_at=WHEN)


def test_the_fixture_has_the_statuses_it_is_meant_to(results):
    """Source of truth: the runs' own statuses (the other tests rely on this mix)."""
    assert results["LRRC-01"]["status"] == "planned" and results["LRRC-02"]["status"] == "planned"
    assert results["LRRC-01"]["prescription_gy"] != results["LRRC-02"]["prescription_gy"]
    assert results["EDGE-01"]["status"] == "infeasible"
    assert results["EARLY-01"]["status"] == "stopped" and results["EARLY-01"]["stop_findings"]


def test_page_parses_shows_every_case_and_the_counts(cases, page):
    """Source of truth: the CohortCase fields. Every element is closed; the cases table has one row per
    case id; the counts are those of the cases (finished = a result that is not stopped)."""
    parsed = parse_html(page)
    rows = parsed.rows["cases-table"]
    assert [a["data-case"] for a, _ in rows] == [c.case_id for c in cases]
    expected = {"cases": 5, "finished": 3, "stopped": 1, "failed": 1, "reused": 1}
    assert cohort_counts(cases) == expected
    text = "".join(parsed.text)
    for name, n in expected.items():
        assert f'<span id="n-{name}">{n}</span>' in page
    for case in cases:
        assert case.case_id in text
    assert {"levels-table", "limiting-table", "cumulative-summary", "coverage-table", "intervals-table",
            "stopped-table", "failed-table", "provenance-table", "generated-at"} <= parsed.ids()
    assert "comparison-table" not in parsed.ids()  # no policy on these cases


def test_level_counts_equal_the_results_prescriptions(cases, page, results):
    """Source of truth: each result's prescription_gy and status."""
    expected = Counter((None, r.get("prescription_gy"), r["status"]) for r in results.values())
    assert level_counts(cases) == dict(expected)
    rows = parse_html(page).rows["levels-table"]
    shown = {a["data-level"]: int(cells[-1]) for a, cells in rows}
    by_level = Counter(r.get("prescription_gy") for r in results.values())
    assert shown == {("none" if k is None else f"{k:g}"): n for k, n in by_level.items()}


def test_limiting_counts_equal_the_results_lists(cases, results):
    """Source of truth: each finished result's limiting_oars and level_limited_by.failing_oars."""
    finished = [r for r in results.values() if r["status"] != "stopped"]
    limiting = Counter(k for r in finished for k in set(r["limiting_oars"]))
    failing = Counter(k for r in finished
                      for k in set((r.get("level_limited_by") or {}).get("failing_oars") or []))
    counts = limiting_counts(cases)
    assert counts == {k: (limiting[k], failing[k]) for k in set(limiting) | set(failing)}
    assert sum(a for a, _ in counts.values()) >= 1


def test_strip_data_equals_the_results_oars(cases, page, results):
    """Source of truth: each finished result's oars[] (cumulative_eqd2_gy, the metric-sum value, the limit).
    The plot has one row per OAR with a cumulative limit (its pixel size says so); the OARs without one are
    listed separately."""
    data = strip_data(cases)
    expected: dict = {}
    for case_id, r in results.items():
        if r["status"] == "stopped":
            continue
        for oar in r["oars"]:
            expected.setdefault(oar["name"], []).append(
                (case_id, oar["cumulative_eqd2_gy"], oar["cumulative_eqd2_metric_sum_gy"],
                 oar["cumulative_limit_eqd2_gy"]))
    got = {k: [(p.case_id, p.value_gy, p.metric_sum_gy, p.limit_gy) for p in v] for k, v in data.items()}
    assert got == expected
    limited = [k for k, v in expected.items() if any(p[3] is not None for p in v)]
    unlimited = [k for k in expected if k not in limited]
    assert limited and unlimited  # the pelvis protocol has both kinds
    parsed = parse_html(page)
    assert [a["data-oar"] for a, _ in parsed.rows["cumulative-summary"]] == limited
    assert [a["data-oar"] for a, _ in parsed.rows["no-limit-table"]] == unlimited
    for a, cells in parsed.rows["cumulative-summary"]:
        values = [p[1] for p in expected[a["data-oar"]]]
        assert cells[3] == f"{min(values):.2f}" and cells[5] == f"{max(values):.2f}"
        above = sum(1 for p in expected[a["data-oar"]] if p[1] > p[3])
        assert int(cells[6]) == above
    strips = [a for t, a in parsed.elements if t == "img"]
    sizes = {a["data-plot"]: (int(a["width"]), int(a["height"])) for a in strips}
    assert sizes == {"strip": strip_figure_px(len(limited)), "intervals": INTERVAL_FIGURE_PX}
    for match in re.finditer(r'src="data:image/png;base64,([^"]+)"[^>]*data-plot="(\w+)"', page):
        png = base64.b64decode(match.group(1))
        assert png_size(png) == sizes[match.group(2)]


def test_intervals_and_recovery_are_the_results(cases, results):
    """Source of truth: provenance.prior_courses[].interval_days and oars[].courses[].recovered_fraction of
    the OARs with a cumulative limit (smallest and largest per course)."""
    expected = []
    for case_id, r in results.items():
        if r["status"] == "stopped":
            continue
        for n, course in enumerate(r["provenance"]["prior_courses"]):
            credited = [o["courses"][n]["recovered_fraction"] for o in r["oars"]
                        if o["cumulative_limit_eqd2_gy"] is not None]
            expected.append((case_id, course["course"], course["interval_days"], min(credited),
                             max(credited)))
    got = [(p.case_id, p.course, p.interval_days, p.recovered_min, p.recovered_max)
           for p in interval_data(cases)]
    assert got == expected and expected


def test_csv_has_one_row_per_case_with_the_audit_columns(cases, results, tmp_path):
    """Source of truth: reirrad.audit: the audit columns of each finished case's row are the row the per-case
    audit CSV (append_audit_csv of audit_record with the same layout) holds; stopped and failed cases have
    their leading columns and empty audit columns."""
    path = write_cohort_csv(tmp_path / "cohort.csv", cases)
    with open(path, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    header, body = table[0], table[1:]
    assert len(body) == len(cases)
    assert tuple(header[:len(CASE_COLUMNS)]) == CASE_COLUMNS
    keys = [o["name"] for r in results.values() for o in [*r.get("oars", []), *r.get("unmatched_oars", [])]]
    keys = list(dict.fromkeys(keys))
    n_prior = max(AUDIT_PRIOR_COURSES, *(len(r.get("provenance", {}).get("prior_courses", [])) for r in
                                         results.values()))
    rows = cohort_rows(cases)
    for case, line, row in zip(cases, body, rows):
        assert line[0] == case.case_id
        if case.result is not None and case.result["status"] != "stopped":
            record = audit_record(case.result, oar_keys=keys, n_prior_courses=n_prior)
            assert {k: row[k] for k in record} == record
            single = append_audit_csv(tmp_path / f"{case.case_id}.csv", record)
            with open(single, newline="", encoding="utf-8") as handle:
                audit_header, audit_line = list(csv.reader(handle))
            assert header[len(CASE_COLUMNS):] == audit_header
            assert line[len(CASE_COLUMNS):] == audit_line
            assert line[1:6] == ["", "true", str(case.exit_code), "true" if case.reused else "false", ""]
        else:
            assert set(line[len(CASE_COLUMNS):]) == {""}
    assert body[3][5] == results["EARLY-01"]["reason"]  # the stop reason
    assert body[4][2:6] == ["false", "1", "false", FAILED_ERROR]


def test_stopped_and_failed_cases_show_their_reasons(cases, page, results):
    """Source of truth: the stopped result's reason and stop_findings; the failed case's error."""
    parsed = parse_html(page)
    (attrs, cells), = parsed.rows["stopped-table"]
    assert attrs["data-case"] == "EARLY-01"
    assert cells[2] == results["EARLY-01"]["reason"]
    for finding in results["EARLY-01"]["stop_findings"]:
        assert finding["code"] in cells[3] and finding["message"] in cells[3]
    (attrs, cells), = parsed.rows["failed-table"]
    assert attrs["data-case"] == "BROKEN-01" and cells[-1] == FAILED_ERROR


def test_hostile_text_is_escaped(results):
    """Source of truth: html.escape; a hostile case id, policy or error must not become markup."""
    hostile = '<script>alert("x")</script>'
    cases = [_case(hostile, results["LRRC-01"], policy="A&B"),
             CohortCase("x@A&B", "A&B", False, 1, None, hostile, False, None)]
    page = render_cohort_report(cases, generated_at=WHEN, plots=False)
    parse_html(page)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "A&amp;B" in page


def test_identical_input_gives_identical_output_apart_from_the_time_stamp(cases, page):
    """Source of truth: the render_cohort_report contract (plots included: PNGs without the Software
    chunk)."""
    again = render_cohort_report(list(cases), generated_at=LATER)
    stamp = re.compile(r'<span id="generated-at">[^<]*</span>')
    assert stamp.sub("", again) == stamp.sub("", page)
    assert LATER.isoformat() in again and b"Software" not in b"".join(
        base64.b64decode(m) for m in re.findall(r"base64,([^\"]+)", page))


def test_without_matplotlib_the_tables_remain_with_a_note(cases, monkeypatch):
    """Source of truth: the render_cohort_report contract for plots=None when matplotlib does not import."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = render_cohort_report(cases, generated_at=WHEN)
    parsed = parse_html(page)
    assert "<img" not in page
    assert REPORT_EXTRA_NOTE in "".join(parsed.text)
    assert {"plots-note", "levels-table", "cumulative-summary", "cumulative-table", "intervals-table",
            "coverage-table"} <= parsed.ids()
    with pytest.raises(InputError, match="reirrad\\[report\\]"):
        render_cohort_report(cases, plots=True)


def test_policy_comparison_differences_equal_the_level_differences(results, jones_grant):
    """Source of truth: the prescription_gy of each case's result under each policy."""
    a, b = "uk-guidance", "jones-grant-2014"
    cases = [_case(f"LRRC-01@{a}", results["LRRC-01"], policy=a),
             _case(f"LRRC-01@{b}", jones_grant, policy=b),
             _case(f"LRRC-02@{a}", results["LRRC-02"], policy=a),
             CohortCase(f"LRRC-02@{b}", b, False, 1, None, "interrupted", False, None),
             _case(f"EDGE-01@{a}", results["EDGE-01"], policy=a),
             _case(f"EDGE-01@{b}", results["EDGE-01"], policy=b)]
    comparison = policy_comparison(cases)
    assert comparison is not None and comparison.policies == (a, b)
    diff = jones_grant["prescription_gy"] - results["LRRC-01"]["prescription_gy"]
    assert [(r.case, r.differences_gy[b]) for r in comparison.rows] == [
        ("LRRC-01", diff), ("LRRC-02", None), ("EDGE-01", None)]
    assert comparison.mean_difference_gy[b] == diff and comparison.n_compared[b] == 1
    page = render_cohort_report(cases, generated_at=WHEN, plots=False)
    parsed = parse_html(page)
    rows = {attrs["data-case"]: cells for attrs, cells in parsed.rows["comparison-table"]}
    assert rows["LRRC-01"][1:] == [f"{results['LRRC-01']['prescription_gy']:g}",
                                   f"{jones_grant['prescription_gy']:g}", f"{diff:.2f}"]
    assert rows["LRRC-02"][2] == "failed" and rows["LRRC-02"][3] == "—"
    assert rows["EDGE-01"][1:] == ["infeasible", "infeasible", "—"]
    assert f"{diff:.2f} Gy" in "".join(parsed.text)
    levels = {(a_["data-policy"], a_["data-level"]) for a_, _ in parsed.rows["levels-table"]}
    assert (b, f"{jones_grant['prescription_gy']:g}") in levels


def test_write_cohort_report_writes_the_page(cases, tmp_path):
    """Source of truth: render_cohort_report; write_cohort_report writes exactly its text (UTF-8)."""
    path = write_cohort_report(tmp_path / "cohort.html", cases, generated_at=WHEN, plots=False, title="Trial")
    assert path.read_text(encoding="utf-8") == render_cohort_report(cases, generated_at=WHEN, plots=False,
                                                                    title="Trial")
    assert [p.name for p in tmp_path.iterdir()] == ["cohort.html"]  # no temporary file left


def test_bad_cases_are_refused(results):
    """Source of truth: the documented InputError for duplicate ids and non-CohortCase items."""
    one = _case("X", results["LRRC-01"])
    with pytest.raises(InputError, match="twice"):
        render_cohort_report([one, one])
    with pytest.raises(InputError, match="CohortCase"):
        cohort_rows([results["LRRC-01"]])  # type: ignore[list-item]


def test_records_csv_text_refuses_records_with_other_columns():
    """Source of truth: the records_csv_text contract (one header; values spelt as the audit CSV's)."""
    text = records_csv_text([{"a": 1, "b": None}, {"a": 0.1, "b": True}])
    assert text == "a,b\r\n1,\r\n0.1,true\r\n"
    with pytest.raises(InputError, match="other columns"):
        records_csv_text([{"a": 1}, {"b": 1}])


def test_strip_limit_is_the_limit_checked_with_jones_grant(jones_grant):
    """Jones & Grant checks against min(L, T) (small bowel: L = 70, T = 50 Gy in the protocol); the strip
    plot's limit was L (a clinical review's finding). Now it is the record's check_limit_eqd2_gy."""
    data = strip_data([_case("LRRC-01@jones-grant-2014", jones_grant, policy="jones-grant-2014")])
    (point,) = data["small_bowel"]
    record = next(o for o in jones_grant["oars"] if o["name"] == "small_bowel")
    assert (record["check_limit_eqd2_gy"], record["cumulative_limit_eqd2_gy"]) == (50.0, 70.0)
    assert point.limit_gy == 50.0 and point.passed == record["passed"]
