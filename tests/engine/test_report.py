"""The HTML report (reirrad.report) of real workflow runs on the TPS-less stand-in (LRRC-01).

Sources of truth: the result mapping of the same run (reirrad.result.build_result: every OAR, the
decision log, the protocol hash and value statuses must appear), the PNG specification (signature
and IHDR chunk), the HTML grammar (every element closed, checked by html.parser), and the report's
own documented contract (fixed figure sizes, byte-identical output for identical input apart from
the time stamp, a note instead of plots without matplotlib).
"""

from __future__ import annotations

import base64
import io
import re
import struct
import sys
import zlib
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.report import DVH_FIGURE_PX, MAP_FIGURE_PX, REPORT_EXTRA_NOTE, render_report, write_report
from reirrad.result import build_result
from reirrad.workflow import WorkflowOptions, run
from tps_stubs.direct import DirectCase, DirectPlanner

try:  # pillow is in the test extra; the IHDR check below does not need it
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAPS = {(m, v) for m in ("effective-prior", "remaining-tolerance") for v in ("axial", "sagittal")}


class _Collector(HTMLParser):
    """Checks that every element is closed in order and collects tags, attributes and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list = []
        self.errors: list = []
        self.elements: list = []  # (tag, attrs dict)
        self.text: list = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def with_attr(self, tag, name):
        return [a for t, a in self.elements if t == tag and name in a]


def _parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    return parser


def _png_size(png: bytes):
    """(width, height) from the IHDR chunk, which the PNG specification puts first."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    assert zlib.crc32(png[12:29]) & 0xFFFFFFFF == struct.unpack(">I", png[29:33])[0]
    return width, height


@pytest.fixture(scope="module")
def planned():
    """One isotoxic run (predictive search) on LRRC-01 and its result."""
    case = DirectCase("LRRC-01")
    outcome = run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions())
    return outcome, build_result(outcome)


@pytest.fixture(scope="module")
def dry():
    """A dry run (no planner) of the same patient."""
    outcome = run(PROTOCOL, DirectCase("LRRC-01").read(), None, WorkflowOptions(dry_run=True))
    return outcome, build_result(outcome)


@pytest.fixture(scope="module")
def page(planned):
    pytest.importorskip("matplotlib")
    outcome, result = planned
    return render_report(outcome, result, generated_at=WHEN)


def test_report_parses_and_lists_every_oar_and_the_provenance(planned, page):
    """Source of truth: the result mapping. Every element is closed; the OAR table has exactly one row
    per OAR of the result (plus the protocol's unmatched OARs, marked); the provenance block shows the
    protocol's sha256 and the status of every value the result says it used."""
    _, result = planned
    parsed = _parse(page)
    rows = [a["data-oar"] for a in parsed.with_attr("tr", "data-oar")]
    assert sorted(rows) == sorted(o["name"] for o in result["oars"])
    assert len(rows) == len(set(rows))
    unmatched = {a["data-unmatched-oar"] for a in parsed.with_attr("tr", "data-unmatched-oar")}
    assert unmatched == set(PROTOCOL.oar_keys) - set(rows)
    ids = [a["id"] for _, a in parsed.elements if "id" in a]
    for section in ("eligibility", "status", "oar-table", "decision-log", "log-table", "target-table",
                    "objectives-table", "plots", "provenance", "protocol-sha256", "values-used",
                    "prior-courses-table", "alpha-beta-table", "generated-at"):
        assert section in ids
    order = [ids.index(i) for i in ("eligibility", "oar-table", "log-table", "target-table", "plots",
                                    "provenance")]
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


def test_embedded_images_are_pngs_of_the_documented_size(planned, page):
    """Source of truth: the PNG specification (signature, IHDR with its CRC) and the report's fixed
    figure sizes. One DVH per OAR with a cumulative limit, and axial + sagittal slices of both maps."""
    _, result = planned
    parsed = _parse(page)
    images = parsed.with_attr("img", "src")
    assert images
    dvh, maps = [], set()
    for attrs in images:
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix)
        png = base64.b64decode(attrs["src"][len(prefix):], validate=True)
        expected = DVH_FIGURE_PX if attrs["data-plot"] == "dvh" else MAP_FIGURE_PX
        assert _png_size(png) == expected
        assert (int(attrs["width"]), int(attrs["height"])) == expected
        if Image is not None:
            with Image.open(io.BytesIO(png)) as image:
                image.load()  # decodes every pixel: a corrupt stream raises
                assert image.size == expected
        if attrs["data-plot"] == "dvh":
            dvh.append(attrs["data-oar"])
        else:
            maps.add((attrs["data-map"], attrs["data-view"]))
    with_limit = [o["name"] for o in result["oars"] if o["cumulative_limit_eqd2_gy"] is not None]
    assert sorted(dvh) == sorted(with_limit) and len(dvh) == len(with_limit)
    assert maps == MAPS
    assert len(images) == len(with_limit) + 4


def test_identical_input_gives_an_identical_report_apart_from_the_time_stamp(planned, page):
    """Source of truth: the documented determinism (fixed figure size and dpi, no PNG Software chunk,
    nothing else depends on time)."""
    outcome, result = planned
    later = render_report(outcome, result, generated_at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert WHEN.isoformat() in page and "2027-01-02T03:04:05+00:00" in later
    stamp = re.compile(r'<span id="generated-at">[^<]*</span>')
    assert len(stamp.findall(page)) == 1
    assert stamp.sub("", page) == stamp.sub("", later)


def test_without_matplotlib_the_tables_remain_with_a_note(planned, monkeypatch):
    """Source of truth: the render_report contract for plots=None when matplotlib does not import."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    outcome, result = planned
    page = render_report(outcome, result, generated_at=WHEN)
    parsed = _parse(page)
    assert "<img" not in page
    assert REPORT_EXTRA_NOTE in "".join(parsed.text)
    ids = {a["id"] for _, a in parsed.elements if "id" in a}
    assert {"oar-table", "log-table", "target-table", "objectives-table", "values-used", "plots-note"} <= ids
    assert len(parsed.with_attr("tr", "data-oar")) == len(result["oars"])
    with pytest.raises(InputError, match="reirrad\\[report\\]"):
        render_report(outcome, result, plots=True)


def test_every_text_is_escaped(planned):
    """Source of truth: html.escape; a hostile identifier must not become markup."""
    outcome, result = planned
    hostile = dict(result, patient_id='<script>alert("x")</script>', plan_id="A&B")
    page = render_report(outcome, hostile, generated_at=WHEN, plots=False)
    _parse(page)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "A&amp;B" in page


def test_dry_run_report_renders_without_plan_dose(dry, tmp_path):
    """Source of truth: the dry-run result (status dry-run, no plan dose): tolerances and objectives
    are shown, the report says there is no DVH of the plan, the maps are still drawn (with matplotlib),
    and write_report replaces the file atomically."""
    outcome, result = dry
    assert result["status"] == "dry-run"
    out = write_report(tmp_path / "dry.html", outcome, result, generated_at=WHEN)
    page = out.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind
    parsed = _parse(page)
    text = "".join(parsed.text)
    assert "Status: dry-run" in text
    assert "no DVH of the plan" in text
    assert sorted(a["data-oar"] for a in parsed.with_attr("tr", "data-oar")) == sorted(
        o["name"] for o in result["oars"])
    objectives = re.search(r'<table id="objectives-table">.*?</table>', page, re.S)
    assert objectives is not None and objectives.group(0).count("<tr>") == len(result["objectives"]) + 1
    images = parsed.with_attr("img", "src")
    if images:  # matplotlib present: maps only
        assert {(a["data-map"], a["data-view"]) for a in images} == MAPS
        assert all(a["data-plot"] == "map" for a in images)
