"""Self-contained HTML report of a workflow run.

One HTML file with no external resource: styles inline, plots embedded as base64 PNG ``data:``
URIs. It reads in any browser and prints to PDF from it (A4 landscape; table rows, figures and
images are kept whole where the browser allows; images scale to the page width).

Content, in this order:

1. patient and plan identifiers; a **status banner** with the status, its meaning
   (:func:`reirrad.statuses.status_meaning`) and the exit code (3: a plan exists but needs review),
   and **every** ``flag`` finding in a box of its own;
   **eligibility and every finding** (stop, flag, info), the override reason and the stop findings
   it let through, if any;
2. the **final check**: the dose re-read from the TPS after the last optimisation and the
   normalisation, the normalisation value, whether every OAR limit and the coverage rule are met
   and the failing OARs (the only evaluation that sets the status);
3. the per-OAR table (prior EQD2 with no recovery, recovery credited, effective prior EQD2,
   remaining EQD2, cumulative limit, allowed physical dose in the new course, planned physical
   dose, cumulative EQD2 by both methods, pass); OARs of the protocol that no structure matched
   are listed too, marked "not evaluated"; ``passed`` null with a plan dose (prior dose but no
   cumulative limit) reads "not assessable (no cumulative limit)", never "pass"; what limits the
   allowed dose (cumulative, de novo or per-course) is named and explained;
4. the isotoxic decision log (every search step);
5. target coverage (D95, D98, V95 %, V(BED ≥ threshold)) with, beside it, the tumour dose at each
   tumour α/β (prescription BED and EQD2, BED ratio to 30 Gy/5, D95 and D80 as EQD2) and the
   prescription statement; then the objectives written to the TPS;
6. plots (only with matplotlib, the ``report`` extra): the cumulative EQD2 DVH of every OAR with
   a cumulative limit, and axial and sagittal slices through the target centre of the effective
   prior EQD2 map and of the remaining-tolerance map, with structure outlines;
7. provenance: software versions, protocol name, version and sha256, the status of every
   protocol value used, models, α/β per OAR, registration kind per prior course (same frame,
   rigid or deformable), TPS and version,
   and the time the report was generated.

The tables come from the result mapping (:func:`reirrad.result.build_result`); the plots and the
unmatched OARs need the run itself (:class:`reirrad.workflow.WorkflowRun`).

Plots (documented choices)
--------------------------
* **Cumulative DVH** of an OAR: per voxel, Σ (1 − fᵢ)·EQD2ᵢ(prior course i) + EQD2(new plan), all
  at the OAR's α/β, fᵢ the recovery credited to course i for that OAR (the voxel-wise method of
  :mod:`reirrad.cumulative`), drawn with the binless DVH convention of :mod:`reirrad.dvh`
  (volume on a log scale, cm³). The effective prior EQD2 alone is drawn dashed; a vertical line
  marks the cumulative limit and a marker the cumulative metric (e.g. D0.5cc) at its volume.
  A dry run has no plan dose, so it has no DVH.
* **Effective prior EQD2 map**: :func:`reirrad.biomaps.effective_prior_eqd2_map` over the matched
  OARs (their α/β) and the protocol's background α/β (overlap rule: highest EQD2 wins). A course's
  recovery can differ between OARs (e.g. the Jones & Grant model depends on the OAR's dose); the
  map credits each course the **smallest** fraction credited to it for any OAR with a cumulative
  limit (the conservative choice for display).
* **Remaining-tolerance map**: per voxel inside an OAR with a cumulative limit (occupancy ≥ 0.5),
  the remaining EQD2 of :func:`reirrad.biomaps.remaining_tolerance_map` for that OAR (its α/β,
  limit and recovery, floored at 0); where OARs overlap, the smallest. Grey elsewhere.
* **Slices** pass through the occupancy-weighted centre of the target (nearest voxel). Outlines
  are the 0.5 level of each structure's occupancy. Axes are patient coordinates (mm) when the
  dose grid is axis-aligned, else millimetres along the grid's own axes.
* Figures are ``matplotlib.figure.Figure`` objects drawn by ``FigureCanvasAgg`` (no pyplot
  state), at a fixed size and dpi, written without the "Software" PNG text chunk, so identical
  input gives byte-identical PNG files.

Shared view text
----------------
The console summary (``reirrad_tps.summary``) uses the same wording through the public helpers
here: :func:`passed_text`, :func:`limited_by_text`, :func:`registration_text`,
:func:`status_lines`, :func:`plain_value`, :func:`final_check_rows` and
:data:`TUMOUR_DOSE_COLUMNS`. Every value comes from the result mapping; nothing is recomputed.
"""

from __future__ import annotations

import base64
import html
import io
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import __version__, lq
from ._validate import FloatArray
from .audit import flag_findings, overridden_stops, result_findings
from .biomaps import effective_prior_eqd2_at
from .dose import DoseGrid
from .dvh import DVH
from .errors import InputError
from .files import write_text_atomic
from .metrics import parse_metric
from .protocol import Quantity
from .review import RISK_FACTORS
from .runmaps import course_doses, course_recovery, effective_prior_map, remaining_maps
from .statuses import EXIT_REVIEW, exit_code_for, status_meaning
from .structures import Occupancy
from .workflow import WorkflowRun

__all__ = [
    "DVH_FIGURE_PX",
    "FIGURE_DPI",
    "FINAL_CHECK_ITEMS",
    "MAP_FIGURE_PX",
    "PASSED_NOT_ASSESSABLE",
    "REPORT_EXTRA_NOTE",
    "TUMOUR_DOSE_COLUMNS",
    "exit_text",
    "final_check_rows",
    "limited_by_text",
    "passed_text",
    "plain_value",
    "registration_text",
    "render_report",
    "status_lines",
    "write_report",
]

#: Resolution of every plot, dots per inch.
FIGURE_DPI = 100
_DVH_FIGSIZE_IN = (6.4, 3.6)
_MAP_FIGSIZE_IN = (6.4, 4.8)
#: Pixel size (width, height) of a DVH plot.
DVH_FIGURE_PX = (round(_DVH_FIGSIZE_IN[0] * FIGURE_DPI), round(_DVH_FIGSIZE_IN[1] * FIGURE_DPI))
#: Pixel size (width, height) of a map slice.
MAP_FIGURE_PX = (round(_MAP_FIGSIZE_IN[0] * FIGURE_DPI), round(_MAP_FIGSIZE_IN[1] * FIGURE_DPI))
#: Shown instead of the plots when matplotlib cannot be imported.
REPORT_EXTRA_NOTE = "plots need the 'report' extra: pip install 'reirrad[report]'"

_OUTLINE_LEVEL = 0.5
_TARGET_COLOUR = "#d62728"
_OAR_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                "#bcbd22", "#7f7f7f", "#000000", "#aec7e8", "#98df8a")
_SEVERITY_ORDER = {"stop": 0, "flag": 1, "info": 2}
_MAP_TITLES = {
    "effective-prior": ("Effective prior EQD2 (after recovery)", "EQD2 (Gy)"),
    "remaining-tolerance": ("Remaining tolerance within OARs with a cumulative limit", "remaining EQD2 (Gy)"),
}

_CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; font-size: 10pt; color: #111;
       margin: 1.5em; }
h1 { font-size: 16pt; margin: 0 0 0.3em 0; }
h2 { font-size: 13pt; border-bottom: 1px solid #888; margin-top: 1.4em; }
h3 { font-size: 11pt; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em 0; }
th, td { border: 1px solid #bbb; padding: 2px 5px; text-align: left; vertical-align: top; }
thead th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td { background: #fbdada; }
tr.unmatched td { color: #666; font-style: italic; }
.safety { border: 1px solid #b36b00; background: #fff4e0; padding: 0.4em 0.6em; }
.status { font-size: 12pt; padding: 0.3em 0.6em; border-left: 6px solid #888; background: #f4f4f4; }
.status p { margin: 0.15em 0; }
.status-planned { border-left-color: #2e7d32; }
.status-infeasible, .status-stopped, .status-final-check-failed { border-left-color: #b00020; }
.status-coverage-compromised { border-left-color: #b36b00; }
.status-dry-run, .status-evaluated { border-left-color: #1565c0; }
.review-needed { font-weight: bold; color: #b00020; }
.flags { border: 2px solid #b36b00; background: #ffd54f; padding: 0.3em 0.6em; margin: 0.5em 0; }
.flags ul { margin: 0.2em 0; padding-left: 1.2em; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
tr.review td { background: #fff4e0; }
.notassessable { color: #b36b00; font-weight: bold; }
.override { font-weight: bold; color: #b00020; }
.sev-stop { background: #b00020; color: #fff; font-weight: bold; }
.sev-flag { background: #ffd54f; font-weight: bold; }
.sev-info { background: #e3f2fd; }
.val-confirmed { color: #2e7d32; }
.val-secondary-source { color: #b36b00; }
.val-unverified { color: #b00020; font-weight: bold; }
.note { font-style: italic; color: #444; }
.pass { color: #2e7d32; font-weight: bold; }
.failtext { color: #b00020; font-weight: bold; }
figure { display: inline-block; margin: 0.4em; vertical-align: top; max-width: 100%; }
figcaption { font-size: 8.5pt; color: #333; max-width: 640px; }
img { max-width: 100%; height: auto; }
code { font-size: 9pt; word-break: break-all; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 8.5pt; }
  tr, td, th, figure, img, .status, .safety, .flags { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"""


# ---------------------------------------------------------------------------------------------
# view text shared with the console summary (reirrad_tps.summary); plain text, not escaped

#: ``passed`` null on an OAR with a plan dose: prior dose but no cumulative limit in the protocol
#: (de novo met, cumulative not assessable; the result carries a flag finding naming the OAR).
PASSED_NOT_ASSESSABLE = "not assessable (no cumulative limit)"
_PASSED_NOT_ASSESSABLE_SHORT = "n/a (no cumulative limit)"
_PASSED_NO_PLAN = "not evaluated (no plan)"

_LIMITED_BY = {
    "cumulative": "cumulative limit: the remaining EQD2 after the prior courses",
    "de-novo": "de novo limit of a single SABR course",
    "per-course": ("per-course limit: the new course alone is capped by the per-course BED limit "
                   "(Nieder 2006 for the spinal cord), below what the cumulative limit would allow"),
}
_REGISTRATION = {
    "same-frame": "same frame (no registration)",
    "rigid": "rigid",
    "deformable": "deformable (the cumulative dose is less certain where the anatomy deformed)",
}

#: Rows of the final check: (label, ``final_check`` key, decimals).
FINAL_CHECK_ITEMS: Tuple[Tuple[str, str, int], ...] = (
    ("Dose re-read from the TPS after normalisation", "dose_rechecked_after_normalisation", 0),
    ("Re-optimised at the chosen level", "reoptimised_at_chosen_level", 0),
    ("Normalised", "normalised", 0),
    ("Normalisation value (dose re-read / dose before; 1 = unchanged)", "normalisation_value", 4),
    ("TPS normalisation value (%)", "tps_normalisation", 2),
    ("Prescription (Gy)", "prescription_gy", 2),
    ("Every OAR limit met", "oar_limits_met", 0),
    ("Coverage rule met", "coverage_met", 0),
    ("Failing OARs", "failing_oars", 0),
    ("PTV V95 (%)", "v95_pct", 1),
    ("PTV D95 (Gy)", "d95_gy", 2),
)

#: Columns of the tumour dose at one α/β: (label, ``target.tumour_dose[*]`` key, unit, decimals).
TUMOUR_DOSE_COLUMNS: Tuple[Tuple[str, str, str, int], ...] = (
    ("prescription BED", "prescription_bed_gy", "Gy", 2),
    ("prescription EQD2", "prescription_eqd2_gy", "Gy", 2),
    ("BED ratio to 30 Gy/5", "bed_ratio_to_reference", "", 3),
    ("D95 as EQD2", "d95_eqd2_gy", "Gy", 2),
    ("D80 as EQD2", "d80_eqd2_gy", "Gy", 2),
)


def final_check_rows(check: Mapping[str, Any]) -> List[Tuple[str, object, int]]:
    """(label, value, decimals) of each :data:`FINAL_CHECK_ITEMS` key the final check has, in order."""
    return [(label, check[key], digits) for label, key, digits in FINAL_CHECK_ITEMS if key in check]


def plain_value(value: object, digits: int = 2, *, missing: str = "-") -> str:
    """Plain text of a result value.

    Parameters
    ----------
    value : object
        None, a boolean (``yes`` / ``no``), an integer, a float (``digits`` decimals), a list
        (comma-separated; ``none`` when empty) or anything else (``str``).
    digits : int
        Decimals of a float.
    missing : str
        Text of None (never the word "None").

    Returns
    -------
    str
    """
    if value is None:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain_value(v, digits, missing=missing) for v in value) or "none"
    return str(value)


def passed_text(oar: Mapping[str, Any], *, short: bool = False) -> str:
    """The verdict of an OAR record: ``pass``, ``FAIL``, not assessable or not evaluated.

    ``passed`` null means "not evaluated (no plan)" when there is no planned dose (``short``:
    ``-``), else :data:`PASSED_NOT_ASSESSABLE` (``short``: ``n/a (no cumulative limit)``).
    """
    passed = oar.get("passed")
    if passed is None:
        if oar.get("planned_physical_gy") is None:
            return "-" if short else _PASSED_NO_PLAN
        return _PASSED_NOT_ASSESSABLE_SHORT if short else PASSED_NOT_ASSESSABLE
    return "pass" if passed else "FAIL"


def limited_by_text(limited_by: object) -> str:
    """What ``limited_by`` (``cumulative``, ``de-novo``, ``per-course``) means; unknown values as given."""
    return _LIMITED_BY.get(str(limited_by), str(limited_by))


def registration_text(kind: object) -> str:
    """A prior course's registration kind (``same-frame``, ``rigid``, ``deformable``) in words."""
    return "-" if kind is None else _REGISTRATION.get(str(kind), str(kind))


def exit_text(result: Mapping[str, Any]) -> str:
    """The exit code of a result (:func:`reirrad.statuses.exit_code_for`); exit 3 says "needs review"."""
    code = exit_code_for(result)
    review = ": a plan exists but NEEDS REVIEW before use" if code == EXIT_REVIEW else ""
    return f"Exit code {code}{review}."


def status_lines(result: Mapping[str, Any]) -> List[str]:
    """Two lines: the status with its meaning, and :func:`exit_text`."""
    status = str(result.get("status", "unknown"))
    return [f"Status: {status} - {status_meaning(status)}", exit_text(result)]


# ---------------------------------------------------------------------------------------------
# small HTML helpers


def _e(value: object) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def _fmt(value: object, digits: int = 2) -> str:
    """A number, boolean, list or text for a table cell (escaped); None → "—"."""
    return _e(plain_value(value, digits, missing="—"))


def _pct(fraction: object) -> str:
    """A fraction in [0, 1] as a percentage with no decimals (escaped); None → "—"."""
    if isinstance(fraction, (bool, np.bool_)) or not isinstance(fraction, (int, float, np.number)):
        return "—"
    return f"{100.0 * float(fraction):.0f}"


def _attrs(attrs: Optional[Mapping[str, str]]) -> str:
    if not attrs:
        return ""
    return "".join(f' {name}="{_e(value)}"' for name, value in attrs.items())


@dataclass(frozen=True)
class _Cell:
    html: str
    numeric: bool = False
    css: str = ""


#: A table row: its cells and the attributes of its ``<tr>``.
_Row = Tuple[Sequence[_Cell], Mapping[str, str]]


def _num(value: object, digits: int = 2) -> _Cell:
    return _Cell(_fmt(value, digits), numeric=True)


def _txt(value: object) -> _Cell:
    return _Cell("—" if value is None else _e(value))


def _table(headers: Sequence[str], rows: Sequence[_Row],
           attrs: Optional[Mapping[str, str]] = None) -> str:
    """A table with escaped headers; cells are pre-rendered HTML."""
    out = [f"<table{_attrs(attrs)}>", "<thead><tr>"]
    out.extend(f"<th>{_e(h)}</th>" for h in headers)
    out.append("</tr></thead>")
    out.append("<tbody>")
    for cells, row_attrs in rows:
        out.append(f"<tr{_attrs(row_attrs)}>")
        for cell in cells:
            classes = " ".join(c for c in ("num" if cell.numeric else "", cell.css) if c)
            out.append(f'<td class="{classes}">{cell.html}</td>' if classes else f"<td>{cell.html}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _kv_table(pairs: Sequence[Tuple[str, str]], attrs: Optional[Mapping[str, str]] = None) -> str:
    """Two-column table: escaped label, pre-rendered value."""
    out = [f"<table{_attrs(attrs)}><tbody>"]
    for label, value in pairs:
        out.append(f"<tr><th>{_e(label)}</th><td>{value}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# sections


def _findings(result: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    """Every finding of the result (:func:`reirrad.audit.result_findings`), stop first."""
    return sorted(result_findings(result), key=lambda f: _SEVERITY_ORDER.get(str(f.get("severity")), 3))


def _finding_rows(findings: Sequence[Mapping[str, Any]]) -> List[_Row]:
    rows: List[_Row] = []
    for f in findings:
        sev = str(f.get("severity", ""))
        rows.append(([_Cell(_e(sev), css=f"sev-{_e(sev)}"), _txt(f.get("code")),
                      _txt(f.get("subject") or ""), _txt(f.get("message"))], {"data-severity": sev}))
    return rows


def _status_banner(result: Mapping[str, Any]) -> str:
    """Status, its meaning, the exit code and (when known) whether every OAR limit is met."""
    status = str(result.get("status", "unknown"))
    exit_css = ' class="review-needed"' if exit_code_for(result) == EXIT_REVIEW else ""
    out = [f'<div class="status status-{_e(status)}" id="status">'
           f"<p>Status: <strong>{_e(status)}</strong> — {_e(status_meaning(status))}</p>",
           f'<p id="exit-code"{exit_css}>{_e(exit_text(result))}</p>']
    met = result.get("oar_limits_met")
    if met is not None or status == "evaluated":
        out.append(f'<p id="oar-limits-met">Every OAR limit met: <strong>{_fmt(met)}</strong></p>')
    out.append("</div>")
    return "".join(out)


def _flag_box(result: Mapping[str, Any]) -> str:
    """Every ``flag`` finding, in a box of its own under the status banner."""
    flags = flag_findings(result)
    if not flags:
        return ""
    items = "".join(f'<li data-code="{_e(f.get("code"))}"><strong>{_e(f.get("code"))}</strong>'
                    + (f" ({_e(f.get('subject'))})" if f.get("subject") else "")
                    + f": {_e(f.get('message'))}</li>" for f in flags)
    return (f'<div class="flags" id="flag-warnings"><p><strong>{len(flags)} flag finding(s): review each '
            f"before using the plan.</strong></p><ul>{items}</ul></div>")


def _header_section(result: Mapping[str, Any]) -> str:
    n_fx = result.get("n_fractions")
    rx = result.get("prescription_gy")
    target = result.get("target") or {}
    if rx is not None:
        rx_text = f"{_fmt(rx)} Gy in {_fmt(n_fx)} fractions"
    elif target.get("prescription_gy") is not None:
        rx_text = (f"none chosen (last level evaluated: {_fmt(target['prescription_gy'])} Gy in "
                   f"{_fmt(n_fx)} fractions)")
    else:
        rx_text = f"none (no plan; {_fmt(n_fx)} fractions)"
    prov = result.get("provenance") or {}
    pairs = [
        ("Patient ID", _txt(result.get("patient_id")).html),
        ("Plan", _txt(result.get("plan_id")).html),
        ("Planning intent", _txt(result.get("intent")).html),
        ("Search", _txt(result.get("search")).html),
        ("Prescription", rx_text),
        ("TPS", f"{_e(prov.get('tps', '—'))} {_e(prov.get('tps_version', ''))}".strip()),
    ]
    return ("<header><h1>Re-irradiation planning report</h1>"
            + _status_banner(result) + _flag_box(result)
            + '<p class="safety"><strong>Decision support only.</strong> These figures do not replace '
            "the judgement of the multidisciplinary team or the independent check of a qualified "
            "medical physicist. Protocol values marked <em>secondary-source</em> or <em>unverified</em> "
            "(see Provenance) must be checked against the primary publications, and the software "
            "commissioned locally, before clinical use.</p>"
            + _kv_table(pairs, {"id": "identifiers"}) + "</header>")


def _eligibility_section(result: Mapping[str, Any]) -> str:
    elig = result.get("eligibility") or {}
    out = ['<section id="eligibility"><h2>Eligibility, stops and findings</h2>']
    eligible = elig.get("eligible")
    out.append(f"<p>Eligible under the protocol: <strong>{_fmt(eligible)}</strong>; "
               f"may proceed: <strong>{_fmt(elig.get('may_proceed'))}</strong>.</p>")
    reason = elig.get("override_reason")
    if reason is not None:
        out.append(f'<p class="override" id="override-reason">Override of the stop findings recorded: '
                   f"{_e(reason)}</p>")
    overridden = overridden_stops(result)
    if overridden:
        out.append("<h3>Stop findings let through by the override</h3>"
                   + _table(["Severity", "Finding", "Subject", "Message"], _finding_rows(overridden),
                            {"id": "overridden-stops"}))
    found = _findings(result)
    if found:
        out.append(_table(["Severity", "Finding", "Subject", "Message"], _finding_rows(found),
                          {"id": "findings"}))
    else:
        out.append('<p class="note" id="findings">No findings.</p>')
    out.append("</section>")
    return "".join(out)


def _final_check_section(result: Mapping[str, Any]) -> str:
    """The final check: the dose as the TPS holds it after normalisation, re-read and re-evaluated."""
    check = result.get("final_check")
    out = ['<section id="final-check"><h2>Final check of the plan as the TPS holds it</h2>']
    if not isinstance(check, Mapping):
        out.append('<p class="note" id="final-check-table">No final check: no plan was optimised and '
                   "normalised in this run (dry run, offline evaluation or stop).</p></section>")
        return "".join(out)
    failed = '<span class="failtext">no</span>'
    pairs = [(label, failed if value is False else _fmt(value, digits))
             for label, value, digits in final_check_rows(check)]
    out.append(_kv_table(pairs, {"id": "final-check-table"}))
    out.append('<p class="note">Only this evaluation sets the status: the dose was recomputed after the '
               "last optimisation and the normalisation, re-read from the TPS and evaluated again.</p>"
               "</section>")
    return "".join(out)


def _pass_cell(oar: Mapping[str, Any]) -> _Cell:
    passed = oar.get("passed")
    if passed is None:
        text = _e(passed_text(oar))
        return _Cell(f'<span class="notassessable">{text}</span>' if text == _e(PASSED_NOT_ASSESSABLE)
                     else text)
    if passed:
        return _Cell('<span class="pass">pass</span>')
    why = []
    if oar.get("passed_metric_sum") is False:
        why.append("metric sum")
    if oar.get("passed_voxelwise") is False:
        why.append("voxel-wise")
    if oar.get("passed_de_novo") is False:
        why.append("de novo")
    if oar.get("passed_per_course") is False:
        why.append("per-course")
    detail = f" ({_e(', '.join(why))})" if why else ""
    return _Cell(f'<span class="failtext">FAIL</span>{detail}')


def _oar_rows(run: WorkflowRun, result: Mapping[str, Any]) -> List[_Row]:
    rows: List[_Row] = []
    listed = set()
    for oar in result.get("oars") or []:
        key = str(oar.get("name"))
        listed.add(key)
        limit = oar.get("cumulative_limit_eqd2_gy")
        remaining = _fmt(oar.get("remaining_eqd2_gy"))
        if oar.get("exhausted"):
            remaining += ' <span class="failtext">exhausted</span>'
        allowed = _fmt(oar.get("allowed_physical_gy"))
        if oar.get("limited_by"):
            allowed += f" ({_e(oar['limited_by'])})"
        no_limit = "no cumulative limit"
        recovery = (_Cell("none (limit includes recovery)") if oar.get("recovery_credited") is False
                    else _Cell(_pct(oar.get("recovered_fraction")), numeric=True))
        cells = [
            _txt(oar.get("label") or key), _txt(oar.get("structure")), _txt(oar.get("metric")),
            _num(oar.get("alpha_beta_gy"), 1), _num(oar.get("prior_eqd2_gy")),
            recovery,
            _num(oar.get("effective_prior_eqd2_gy")),
            _Cell(remaining, numeric=True),
            _num(limit) if limit is not None else _Cell(no_limit),
            _Cell(allowed, numeric=True),
            _num(oar.get("planned_physical_gy")),
            _num(oar.get("cumulative_eqd2_metric_sum_gy")),
            _num(oar.get("cumulative_eqd2_voxelwise_gy")),
            _pass_cell(oar),
        ]
        css = "fail" if oar.get("passed") is False or oar.get("exhausted") else ""
        if not css and oar.get("passed") is None and oar.get("planned_physical_gy") is not None:
            css = "review"
        attrs = {"data-oar": key}
        if css:
            attrs["class"] = css
        rows.append((cells, attrs))
    protocol = run.prepared.protocol
    for key in protocol.oar_keys:
        if key in listed:
            continue
        spec = protocol.oar(key)
        metric = spec.cumulative_limit.metric.name if spec.cumulative_limit else spec.de_novo.metric.name
        limit_cell = (_num(spec.cumulative_limit.eqd2.value) if spec.cumulative_limit
                      else _Cell("no cumulative limit"))
        dash = _Cell("—", numeric=True)
        cells = [_txt(spec.label), _txt("no structure matched"), _txt(metric),
                 _num(spec.alpha_beta.value, 1), dash, dash, dash, dash, limit_cell, dash, dash, dash, dash,
                 _txt("not evaluated")]
        rows.append((cells, {"data-unmatched-oar": key, "class": "unmatched"}))
    return rows


def _limited_by_notes(result: Mapping[str, Any]) -> str:
    """What each ``limited_by`` value in the table means, and the per-course caps."""
    oars = result.get("oars") or []
    used = list(dict.fromkeys(str(o["limited_by"]) for o in oars if o.get("limited_by")))
    if not used:
        return ""
    items = [f"<li><strong>{_e(v)}</strong>: {_e(limited_by_text(v))}</li>" for v in used]
    for o in oars:
        cap = o.get("per_course_limit_physical_gy")
        if cap is not None:
            label = o.get("label") or o.get("name")
            items.append(f'<li data-per-course-oar="{_e(o.get("name"))}">{_e(label)}: '
                         f"per-course limit {_fmt(cap)} Gy physical in {_fmt(result.get('n_fractions'))} "
                         f"fx{' (limits the allowed dose)' if o.get('limited_by') == 'per-course' else ''}"
                         "</li>")
    return f'<p>Allowed physical dose limited by:</p><ul id="limited-by-notes">{"".join(items)}</ul>'


def _oar_section(run: WorkflowRun, result: Mapping[str, Any]) -> str:
    n_fx = result.get("n_fractions")
    headers = ["OAR", "Structure", "Metric", "α/β (Gy)", "Prior EQD2, no recovery (Gy)",
               "Recovery credited (%)", "Effective prior EQD2 (Gy)", "Remaining EQD2 (Gy)",
               "Cumulative limit EQD2 (Gy)", f"Allowed physical dose, new course in {n_fx} fx (Gy)",
               "Planned physical dose (Gy)", "Cumulative EQD2, metric sum (Gy)",
               "Cumulative EQD2, voxel-wise (Gy)", "Pass"]
    return ('<section id="oars"><h2>Organs at risk</h2>'
            + _table(headers, _oar_rows(run, result), {"id": "oar-table"})
            + '<p class="note">EQD2 at each OAR\'s α/β. Effective prior = prior EQD2 × (1 − recovery '
              "credited). Allowed physical dose = min(dose from the remaining EQD2 in the new course's "
              "fractions, de novo mandatory limit, per-course limit if any); the limiting rule is in "
              "brackets. Metric sum: the guidance method (worst-case overlap of the course metrics); "
              "voxel-wise: metric of the voxel-by-voxel cumulative EQD2. Pass requires both methods "
              "within the cumulative limit and the plan within the de novo limit (and any per-course "
              "limit); an OAR with prior dose but no cumulative limit in the protocol is "
              f"{_e(PASSED_NOT_ASSESSABLE)}: its de novo limit alone is no pass (a flag finding names "
              "it). Recovery \"none (limit includes recovery)\": the protocol's cumulative limit already "
              "includes recovery between courses, so none is credited on top.</p>"
            + _limited_by_notes(result) + "</section>")


def _log_section(result: Mapping[str, Any]) -> str:
    opt = result.get("optimisations") or {}
    log = opt.get("log") or []
    out = ['<section id="decision-log"><h2>Isotoxic decision log</h2>',
           f"<p>Optimisations spent: <strong>{_fmt(opt.get('count'))}</strong>; prescription search: "
           f"{_e(result.get('search', '—'))}.</p>"]
    if not log:
        out.append('<p class="note" id="log-table">No optimisation was run (dry run or stopped).</p>')
    else:
        rows = []
        for i, step in enumerate(log, start=1):
            limiting = ", ".join(str(x) for x in step.get("limiting_oars") or []) or "—"
            rows.append(([_num(i), _num(step.get("level_gy")), _txt(step.get("action")),
                          _txt("—" if step.get("feasible") is None else _fmt(step.get("feasible"))),
                          _num(step.get("v95_pct"), 1), _txt(limiting), _txt(step.get("note") or "")],
                         {"data-step": str(i)}))
        out.append(_table(["#", "Level (Gy)", "Action", "Feasible", "Target V95 (%)", "Limiting OARs",
                           "Note"], rows, {"id": "log-table"}))
    out.append("</section>")
    return "".join(out)


def _target_section(run: WorkflowRun, result: Mapping[str, Any]) -> str:
    target = result.get("target")
    protocol = run.prepared.protocol
    rule = protocol.coverage_rule
    ab = rule.tumour_alpha_beta.value
    out = ['<section id="target"><h2>Target coverage</h2>']
    if not target:
        out.append('<p class="note" id="target-table">No plan dose (dry run): target coverage is '
                   "not available.</p></section>")
        return "".join(out)
    v95 = target.get("v95_pct")
    minimum = target.get("coverage_min_pct")
    if minimum is None:  # results written before the engine reported the rule itself
        minimum = rule.ptv_v95_min_percent.value
    met = target.get("coverage_met")
    if met is None:
        met = None if v95 is None else float(v95) >= float(minimum)
    threshold = target.get("bed_threshold_gy")
    pairs = [
        ("Structure", _txt(target.get("structure")).html),
        ("Prescription level evaluated (Gy)", _fmt(target.get("prescription_gy"))),
        ("D95 (Gy)", _fmt(target.get("d95_gy"))),
        ("D98 (Gy)", _fmt(target.get("d98_gy"))),
        ("V95 % of the prescription (%)", _fmt(v95, 1)),
        (f"Coverage rule V95 ≥ {minimum:g} %",
         '<span class="pass">met</span>' if met else '<span class="failtext">not met</span>'),
        (f"V(BED{ab:g} ≥ {_fmt(threshold, 1)} Gy) (%)",
         f"{_fmt(target.get('v_bed_threshold_pct'), 1)} (physical ≥ "
         f"{_fmt(target.get('bed_threshold_physical_gy'))} Gy in {_fmt(result.get('n_fractions'))} fx)"),
        (f"D95 as BED (α/β {ab:g} Gy) (Gy)", _fmt(target.get("d95_bed10_gy"))),
        (f"D98 as BED (α/β {ab:g} Gy) (Gy)", _fmt(target.get("d98_bed10_gy"))),
    ]
    statement = target.get("prescription_statement")
    if statement:
        out.append(f'<p id="prescription-statement"><strong>Prescription:</strong> {_e(statement)}</p>')
    out.append('<div class="side-by-side"><div><h3>Coverage</h3>'
               + _kv_table(pairs, {"id": "target-table"}) + "</div>"
               + _tumour_dose_table(target) + "</div>")
    out.append("</section>")
    return "".join(out)


def _tumour_dose_table(target: Mapping[str, Any]) -> str:
    """Tumour dose at each tumour α/β of the result (``target.tumour_dose``)."""
    entries = [e for e in target.get("tumour_dose") or [] if isinstance(e, Mapping)]
    if not entries:
        return ""
    headers = ["Tumour α/β (Gy)"] + [label[:1].upper() + label[1:] + (f" ({unit})" if unit else "")
                                     for label, _, unit, _ in TUMOUR_DOSE_COLUMNS]
    rows: List[_Row] = []
    for entry in entries:
        cells = [_num(entry.get("alpha_beta_gy"), 1)]
        cells.extend(_num(entry.get(key), digits) for _, key, _, digits in TUMOUR_DOSE_COLUMNS)
        rows.append((cells, {"data-alpha-beta": plain_value(entry.get("alpha_beta_gy"), 1)}))
    return ("<div><h3>Tumour dose</h3>" + _table(headers, rows, {"id": "tumour-dose-table"})
            + '<p class="note">Prescription BED and EQD2 of the level in the new course\'s fractions; '
              "BED ratio = prescription BED / BED of 30 Gy in 5 fractions at the same α/β; D95 and D80 "
              "of the PTV (the dose covering 95 % and 80 % of it) as EQD2.</p></div>")


def _objectives_section(result: Mapping[str, Any]) -> str:
    objectives = result.get("objectives") or []
    out = ['<section id="objectives"><h2>Optimisation objectives</h2>']
    if result.get("status") == "dry-run":
        out.append('<p class="note">Dry run: these objectives were computed but not written to the TPS '
                   "(target objectives at the protocol's limit-toxicity level).</p>")
    rows: List[_Row] = []
    for o in objectives:
        rows.append(([_txt(o.get("structure_id")), _txt(o.get("role")), _txt(o.get("kind")),
                      _num(o.get("dose_gy")), _num(o.get("volume_pct"), 2), _num(o.get("priority"), 0),
                      _txt(o.get("reason") or "")], {}))
    out.append(_table(["Structure", "Role", "Kind", "Dose (Gy, total)", "Volume (%)", "Priority", "Reason"],
                      rows, {"id": "objectives-table"}))
    out.append("</section>")
    return "".join(out)


def _value_status_cell(status: object) -> _Cell:
    return _Cell(_e(status), css=f"val-{_e(status)}")


def _risk_factors(keys: object) -> str:
    """Labels of the recorded risk factors (escaped); "none recorded" for none."""
    if not isinstance(keys, (list, tuple)) or not keys:
        return "none recorded"
    labels = dict(RISK_FACTORS)
    return _e(", ".join(labels.get(str(k), str(k)) for k in keys))


def _run_level_quantities(run: WorkflowRun) -> List[Quantity]:
    """Protocol values every run uses besides the per-OAR ones (fractions, prescriptions, coverage
    rule, objective rules, recovery model, background α/β of the maps)."""
    p = run.prepared.protocol
    return [p.n_fractions_quantity, p.prescriptions.limit_toxicity, p.prescriptions.isotoxic_ladder,
            p.prescriptions.isotoxic_maximum, p.coverage_rule.ptv_v95_min_percent,
            p.coverage_rule.report_bed_threshold, p.coverage_rule.tumour_alpha_beta,
            p.planning.oar_objective_margin, p.planning.target_coverage_volume_percent,
            p.planning.target_max_dose_factor, p.recovery.model_source, p.recovery.conservation_factor,
            p.background_alpha_beta]


def _value_cell(key: str, value: object) -> _Cell:
    if key.endswith("model_source"):  # carries the provenance of a choice, not a number
        return _Cell("(model choice)")
    return _num(value, 3)


def _value_rows(run: WorkflowRun, prov: Mapping[str, Any]) -> List[_Row]:
    """The result's ``values_used``, then the run-level protocol values it does not list."""
    used = prov.get("values_used") or {}
    rows: List[_Row] = []
    for key, v in used.items():
        rows.append(([_Cell(f"<code>{_e(key)}</code>"), _value_cell(str(key), v.get("value")),
                      _txt(v.get("unit") or ""), _txt(v.get("source")), _value_status_cell(v.get("status")),
                      _txt("result")], {"data-value": str(key)}))
    for q in _run_level_quantities(run):
        if q.key_path in used:
            continue
        rows.append(([_Cell(f"<code>{_e(q.key_path)}</code>"), _value_cell(q.key_path, q.value),
                      _txt(q.unit), _txt(q.source), _value_status_cell(q.status),
                      _txt("protocol (run-level)")],
                     {"data-value": q.key_path}))
    return rows


def _provenance_section(run: WorkflowRun, result: Mapping[str, Any], generated_at: datetime,
                        matplotlib_version: Optional[str]) -> str:
    prov = result.get("provenance") or {}
    proto = prov.get("protocol") or {}
    counts = proto.get("status_counts") or {}
    rec = prov.get("recovery") or {}
    out = ['<section id="provenance"><h2>Provenance</h2>']
    software = [
        ("Generated at", f'<span id="generated-at">{_e(generated_at.isoformat())}</span>'),
        ("reirrad", _e(prov.get("software_version", __version__))),
        ("Python", _e(prov.get("python", platform.python_version()))),
        ("numpy", _e(prov.get("numpy", np.__version__))),
        ("matplotlib", _e(matplotlib_version) if matplotlib_version else "not used"),
        ("TPS", f"{_e(prov.get('tps', '—'))} {_e(prov.get('tps_version', ''))}".strip()),
        ("Protocol", f"{_e(proto.get('name', '—'))} version {_e(proto.get('version', '—'))}"),
        ("Protocol sha256", f'<code id="protocol-sha256">{_e(proto.get("sha256", "—"))}</code>'),
        ("Protocol file", f"<code>{_e(proto.get('path', '—'))}</code>"),
        ("Protocol value statuses (whole file)",
         _e(", ".join(f"{k}: {v}" for k, v in counts.items())) or "—"),
        ("Recovery model", f"{_e(rec.get('model', '—'))} (source {_e(rec.get('source', '—'))}, "
                           f"status {_e(rec.get('status', '—'))})"),
        ("Conservation factor", f"{_fmt(rec.get('conservation_factor'))} (this project's own "
                                "parameterisation; 1 = not applied)"),
        ("Risk factors recorded", _risk_factors(rec.get("risk_factors"))),
        ("LQ model", _e(prov.get("lq_model", "—"))),
        ("Cumulative methods", _e(", ".join(str(m) for m in prov.get("cumulative_methods") or []) or "—")),
        ("Tumour α/β for BED reporting (Gy)",
         _fmt(run.prepared.protocol.coverage_rule.tumour_alpha_beta.value, 1)),
        ("Tumour α/β values of the tumour dose (Gy)",
         _fmt([e.get("alpha_beta_gy") for e in (result.get("target") or {}).get("tumour_dose") or []], 1)),
        ("Eligibility override reason", _txt(prov.get("override_reason")).html),
        ("Dry run", _fmt(prov.get("dry_run"))),
    ]
    out.append(_kv_table(software, {"id": "provenance-table"}))

    out.append("<h3>α/β per OAR</h3>")
    ab_rows: List[_Row] = [
        ([_txt(o.get("label") or o.get("name")), _txt(o.get("name")), _num(o.get("alpha_beta_gy"), 1)], {})
        for o in result.get("oars") or []]
    out.append(_table(["OAR", "Key", "α/β (Gy)"], ab_rows, {"id": "alpha-beta-table"}))

    out.append("<h3>Prior courses and registration</h3>")
    courses = prov.get("prior_courses") or []
    if courses:
        rows: List[_Row] = [
            ([_txt(c.get("course")), _txt(registration_text(c.get("registration"))),
              _txt(c.get("registration_id")),
              _txt(c.get("last_fraction")), _num(c.get("interval_days"), 0), _num(c.get("n_fractions")),
              _num(c.get("prescription_gy"))], {})
            for c in courses]
        out.append(_table(["Course/plan", "Registration", "Registration ID", "Last fraction",
                           "Interval (days)", "Fractions", "Prescription (Gy)"], rows,
                          {"id": "prior-courses-table"}))
    else:
        out.append('<p class="note" id="prior-courses-table">No prior course.</p>')

    out.append("<h3>Protocol values used and their status</h3>")
    out.append(_table(["Protocol key", "Value", "Unit", "Source", "Status", "Recorded in"],
                      _value_rows(run, prov), {"id": "values-used"}))
    out.append("</section>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# plot data (numpy only)


@dataclass(frozen=True)
class _DvhData:
    oar: str
    label: str
    structure: str
    limit_gy: float
    metric: str
    metric_volume_cc: Optional[float]
    metric_gy: float
    alpha_beta_gy: float
    cumulative: DVH
    prior: Optional[DVH]


@dataclass(frozen=True)
class _Outline:
    name: str
    colour: str
    occupancy: FloatArray  # 2D, same shape as the slice


@dataclass(frozen=True)
class _MapSlice:
    map_name: str
    view: str
    values: FloatArray  # 2D (rows = vertical axis, columns = horizontal axis)
    h_mm: FloatArray
    v_mm: FloatArray
    h_label: str
    v_label: str
    v_down: bool  # vertical axis increases downwards (axial: y posterior down)
    vmax: float
    outlines: Tuple[_Outline, ...]
    position: str


def _dvh_data(run: WorkflowRun, result: Mapping[str, Any]) -> List[_DvhData]:
    dose = run.final_dose
    if dose is None:
        return []
    prep = run.prepared
    out = []
    for oar in result.get("oars") or []:
        key = str(oar.get("name"))
        limit = oar.get("cumulative_limit_eqd2_gy")
        if limit is None or key not in prep.oar_occupancy or key not in prep.tolerances:
            continue
        tol = prep.tolerances[key]
        ab = tol.alpha_beta_gy
        occ = prep.oar_occupancy[key]
        new = np.asarray(lq.eqd2_gy(dose.values_gy, prep.n_fractions, ab), dtype=float)
        prior_dvh: Optional[DVH] = None
        total = new
        if prep.prior_courses:
            prior = effective_prior_eqd2_at(course_doses(prep, course_recovery(prep, key)), ab)
            total = prior.values_gy + new
            prior_dvh = DVH.from_dose(prior, occ)
        grid = DoseGrid(total, dose.origin_mm, dose.spacing_mm, dose.direction, quantity="eqd2",
                        alpha_beta_gy=ab)
        cumulative = DVH.from_dose(grid, occ)
        metric = parse_metric(tol.metric)
        volume = metric.volume_cc if metric.kind == "volume" else (0.0 if metric.kind == "max" else None)
        out.append(_DvhData(key, str(oar.get("label") or key), str(oar.get("structure") or ""),
                            float(limit), tol.metric, volume, cumulative.metric_gy(metric), ab,
                            cumulative, prior_dvh))
    return out


def _centre_index(occ: Occupancy) -> Tuple[int, int, int]:
    """Nearest voxel (k, j, i) to the occupancy-weighted centre."""
    weights = occ.box_fraction
    total = float(weights.sum())
    idx = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        profile = weights.sum(axis=other)
        local = float((profile * np.arange(profile.size)).sum() / total)
        idx.append(round(local) + int(occ.box[axis].start))
    return idx[0], idx[1], idx[2]


def _occ_slice(occ: Occupancy, axis: int, index: int) -> FloatArray:
    """2D occupancy of the plane ``index`` along grid axis ``axis`` (0 = z, 2 = x)."""
    nz, ny, nx = occ.grid_shape
    out = np.zeros((ny, nx) if axis == 0 else (nz, ny))
    box = occ.box
    if not box[axis].start <= index < box[axis].stop:
        return out
    local = index - box[axis].start
    if axis == 0:
        out[box[1], box[2]] = occ.box_fraction[local]
    else:
        out[box[0], box[1]] = occ.box_fraction[:, :, local]
    return out


def _axis_aligned(grid: DoseGrid) -> bool:
    """True when the grid's index axes are the patient x, y, z axes."""
    return grid.direction is None or bool(np.allclose(grid.direction, np.eye(3)))


def _axes_mm(grid: DoseGrid) -> Tuple[List[FloatArray], List[str]]:
    """Voxel-centre coordinates along the x, y, z index axes and their labels."""
    nz, ny, nx = grid.shape
    aligned = _axis_aligned(grid)
    coords: List[FloatArray] = []
    labels = []
    for a, n in enumerate((nx, ny, nz)):
        start = float(grid.origin_mm[a]) if aligned else 0.0
        coords.append(start + float(grid.spacing_mm[a]) * np.arange(n, dtype=np.float64))
        name = "xyz"[a]
        labels.append(f"{name} (mm)" if aligned else f"grid {name} axis (mm from the first voxel)")
    return coords, labels


def _map_slices(run: WorkflowRun) -> Tuple[List[_MapSlice], str]:
    """The four map slices, or none and the reason."""
    prep = run.prepared
    if not prep.prior_courses:
        return [], "No prior course: there is no prior-dose map."
    effective_map = effective_prior_map(prep)
    if effective_map is None:  # pragma: no cover - prior courses checked above
        return [], "No prior course: there is no prior-dose map."
    effective = effective_map.eqd2.values_gy
    shape = effective.shape
    remaining = np.full(shape, np.nan)
    for key, rmap in remaining_maps(prep).items():
        occ = prep.oar_occupancy[key]
        inside = np.zeros(shape, dtype=bool)
        inside[occ.box] = occ.box_fraction >= _OUTLINE_LEVEL
        remaining[inside] = np.fmin(remaining[inside], rmap.remaining_eqd2.values_gy[inside])

    k, _, i = _centre_index(prep.target)
    (xs, ys, zs), (xl, yl, zl) = _axes_mm(prep.snapshot.dose_grid)
    prefix = "" if _axis_aligned(prep.snapshot.dose_grid) else "grid "
    structures: List[Tuple[str, str, Occupancy]] = [(prep.target_id, _TARGET_COLOUR, prep.target)]
    for n, (key, occ) in enumerate(prep.oar_occupancy.items()):
        structures.append((prep.oar_structures.get(key, key), _OAR_COLOURS[n % len(_OAR_COLOURS)], occ))
    slices = []
    for map_name, values in (("effective-prior", effective), ("remaining-tolerance", remaining)):
        finite = values[np.isfinite(values)]
        vmax = float(finite.max()) if finite.size else 1.0
        vmax = vmax if vmax > 0.0 else 1.0
        for view, axis, index in (("axial", 0, k), ("sagittal", 2, i)):
            plane = values[index] if axis == 0 else values[:, :, index]
            outlines = tuple(_Outline(name, colour, _occ_slice(occ, axis, index))
                             for name, colour, occ in structures)
            if axis == 0:
                slices.append(_MapSlice(map_name, view, plane, xs, ys, xl, yl, True, vmax, outlines,
                                        f"{prefix}z = {zs[index]:.1f} mm (slice {index})"))
            else:
                slices.append(_MapSlice(map_name, view, plane, ys, zs, yl, zl, False, vmax, outlines,
                                        f"{prefix}x = {xs[index]:.1f} mm (slice {index})"))
    return slices, ""


# ---------------------------------------------------------------------------------------------
# drawing (matplotlib, imported lazily)


def _matplotlib_version() -> Optional[str]:
    """matplotlib's version when it and its Agg canvas import, else None."""
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency (the 'report' extra)
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401, PLC0415
        from matplotlib.figure import Figure  # noqa: F401, PLC0415
    except ImportError:
        return None
    return str(matplotlib.__version__)


def _mpl_text(text: str) -> str:
    """Text safe from matplotlib's mathtext (a '$' would start a formula)."""
    return text.replace("$", r"\$")


def _png(figure: Any) -> bytes:
    """PNG bytes of a figure, through the Agg canvas, with no "Software" text chunk."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - optional dependency

    canvas: Any = FigureCanvasAgg(figure)  # Any: print_png has no annotations
    buffer = io.BytesIO()
    # print_png, not savefig: no rcParams-driven bbox cropping, so the pixel size is the figure's.
    canvas.print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def _curve(dvh: DVH) -> Tuple[FloatArray, FloatArray]:
    """(dose, cumulative volume) points of the documented DVH curve, at most ~2000 of them."""
    cum = np.cumsum(dvh.volumes_cc)
    mids = cum - dvh.volumes_cc / 2.0
    doses = np.asarray(dvh.doses_gy)
    if doses.size > 2000:
        keep = np.unique(np.linspace(0, doses.size - 1, 2000).round().astype(int))
        doses, mids = doses[keep], mids[keep]
    return (np.concatenate([doses, [doses[-1]]]), np.concatenate([mids, [float(cum[-1])]]))


def _draw_dvh(data: _DvhData) -> bytes:
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency

    fig = Figure(figsize=_DVH_FIGSIZE_IN, dpi=FIGURE_DPI)
    ax = fig.add_axes((0.1, 0.15, 0.86, 0.74))
    d, v = _curve(data.cumulative)
    ax.plot(d, v, color="#1f77b4", linewidth=1.5, label="cumulative EQD2 (prior after recovery + plan)")
    top = float(data.cumulative.volume_cc)
    if data.prior is not None:
        pd, pv = _curve(data.prior)
        ax.plot(pd, pv, color="#7f7f7f", linewidth=1.0, linestyle="--", label="effective prior EQD2")
    ax.axvline(data.limit_gy, color="#d62728", linewidth=1.2,
               label=f"cumulative limit {data.limit_gy:g} Gy")
    bottom = min(0.01, (data.metric_volume_cc or 0.01) / 10.0)
    if data.metric_volume_cc is not None:
        marker_v = max(data.metric_volume_cc, bottom)
        ax.axhline(marker_v, color="#999999", linewidth=0.6, linestyle=":")
        ax.plot([data.metric_gy], [marker_v], marker="o", color="#000000", linestyle="none",
                label=_mpl_text(f"{data.metric} = {data.metric_gy:.2f} Gy"))
    ax.set_yscale("log")
    ax.set_ylim(bottom, max(top * 1.5, bottom * 10.0))
    ax.set_xlim(0.0, max(data.limit_gy, float(data.cumulative.max_gy)) * 1.08)
    ax.set_xlabel(f"EQD2 (Gy, α/β = {data.alpha_beta_gy:g} Gy)", fontsize=8)
    ax.set_ylabel("volume (cm³, log scale)", fontsize=8)
    ax.set_title(_mpl_text(f"{data.label} ({data.structure}): cumulative EQD2 DVH"), fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", linewidth=0.4, color="#dddddd")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    return _png(fig)


def _draw_map(data: _MapSlice) -> bytes:
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency
    from matplotlib.lines import Line2D  # noqa: PLC0415

    fig = Figure(figsize=_MAP_FIGSIZE_IN, dpi=FIGURE_DPI)
    ax = fig.add_axes((0.09, 0.1, 0.58, 0.8))
    cax = fig.add_axes((0.69, 0.1, 0.025, 0.8))
    dh = float(data.h_mm[1] - data.h_mm[0]) if data.h_mm.size > 1 else 1.0
    dv = float(data.v_mm[1] - data.v_mm[0]) if data.v_mm.size > 1 else 1.0
    left, right = float(data.h_mm[0]) - dh / 2, float(data.h_mm[-1]) + dh / 2
    low, high = float(data.v_mm[0]) - dv / 2, float(data.v_mm[-1]) + dv / 2
    ax.set_facecolor("#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(data.values), cmap="viridis", vmin=0.0, vmax=data.vmax,
                      origin="lower", extent=(left, right, low, high), interpolation="nearest")
    if data.v_down:
        ax.set_ylim(high, low)
    colourbar = fig.colorbar(image, cax=cax)
    title, unit = _MAP_TITLES[data.map_name]
    colourbar.set_label(unit, fontsize=8)
    colourbar.ax.tick_params(labelsize=7)
    handles = []
    for outline in data.outlines:
        occ = outline.occupancy
        if occ.size == 0 or not (float(occ.min()) < _OUTLINE_LEVEL <= float(occ.max())):
            continue
        ax.contour(data.h_mm, data.v_mm, occ, levels=[_OUTLINE_LEVEL], colors=[outline.colour],
                   linewidths=1.0)
        handles.append(Line2D([], [], color=outline.colour, linewidth=1.5, label=_mpl_text(outline.name)))
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.78, 0.5), fontsize=7,
                   frameon=False)
    ax.set_xlabel(data.h_label, fontsize=8)
    ax.set_ylabel(data.v_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(_mpl_text(f"{title}\n{data.view}, {data.position}"), fontsize=8)
    return _png(fig)


def _img(png: bytes, alt: str, attrs: Mapping[str, str], size: Tuple[int, int]) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}" width="{size[0]}" '
            f'height="{size[1]}"{_attrs(attrs)}>')


def _plots_section(run: WorkflowRun, result: Mapping[str, Any], draw: bool, reason: str) -> str:
    out = ['<section id="plots"><h2>Plots</h2>']
    if not draw:
        out.append(f'<p class="note" id="plots-note">{_e(reason)}</p></section>')
        return "".join(out)
    out.append("<h3>Cumulative EQD2 DVH per OAR with a cumulative limit</h3>")
    if run.final_dose is None:
        out.append('<p class="note" id="dvh-note">Dry run: there is no plan dose, so there is no DVH of '
                   "the plan; the maps below show the prior dose and the remaining tolerance.</p>")
    else:
        dvhs = _dvh_data(run, result)
        if not dvhs:
            out.append('<p class="note" id="dvh-note">No OAR with a cumulative limit was evaluated.</p>')
        for data in dvhs:
            alt = f"Cumulative EQD2 DVH of {data.label} ({data.structure})"
            out.append("<figure>" + _img(_draw_dvh(data), alt, {"data-plot": "dvh", "data-oar": data.oar},
                                         DVH_FIGURE_PX)
                       + f"<figcaption>{_e(alt)}: solid, cumulative EQD2 (effective prior + plan, "
                         f"voxel-wise, α/β {data.alpha_beta_gy:g} Gy); dashed, "
                         f"effective prior alone; red line, cumulative limit {data.limit_gy:g} Gy; dot, "
                         f"{_e(data.metric)} of the cumulative map.</figcaption></figure>")
    out.append("<h3>Prior dose and remaining tolerance through the target centre</h3>")
    slices, why = _map_slices(run)
    if not slices:
        out.append(f'<p class="note" id="map-note">{_e(why)}</p>')
    background = run.prepared.protocol.background_alpha_beta.value
    captions = {
        "effective-prior": ("Effective prior EQD2 summed over prior courses after recovery; α/β per voxel "
                            "by the overlap rule (highest EQD2 among the OARs present and the background "
                            f"α/β {background:g} Gy); each course credited its smallest recovery over the "
                            "OARs with a cumulative limit."),
        "remaining-tolerance": ("Remaining EQD2 (cumulative limit − effective prior, floored at 0) inside "
                                "each OAR with a cumulative limit (occupancy ≥ 0.5), at that OAR's α/β; "
                                "smallest where OARs overlap; grey: no OAR with a cumulative limit."),
    }
    for s in slices:
        title, _ = _MAP_TITLES[s.map_name]
        alt = f"{title}, {s.view} slice at {s.position}"
        out.append("<figure>" + _img(_draw_map(s), alt, {"data-plot": "map", "data-map": s.map_name,
                                                         "data-view": s.view}, MAP_FIGURE_PX)
                   + f"<figcaption>{_e(s.view.capitalize())}, {_e(s.position)}. "
                     f"{_e(captions[s.map_name])} Outlines: occupancy 0.5 of the target (red) and "
                     "the OARs.</figcaption></figure>")
    out.append("</section>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# public API


def render_report(run: WorkflowRun, result: Mapping[str, Any], *, generated_at: Optional[datetime] = None,
                  plots: Optional[bool] = None) -> str:
    """The HTML report of a workflow run, as one self-contained document.

    Parameters
    ----------
    run : WorkflowRun
        The run (:func:`reirrad.workflow.run`); the plots and the unmatched OARs come from it.
    result : mapping
        ``build_result(run)`` (:func:`reirrad.result.build_result`); every table comes from it.
    generated_at : datetime, optional
        Time stamp printed in the provenance block (default: now, UTC). Nothing else in the
        report depends on the time, so identical input renders identically apart from it.
    plots : bool, optional
        None (default): draw the plots when matplotlib imports, else show a note naming the
        ``report`` extra. True: draw them (InputError without matplotlib). False: no plots.

    Returns
    -------
    str
        The HTML text (UTF-8 when written).

    Raises
    ------
    reirrad.errors.InputError
        ``plots=True`` without matplotlib, or a result that is not a mapping.
    """
    if not isinstance(result, Mapping):
        raise InputError("result must be the mapping of reirrad.result.build_result "
                         f"(got {type(result).__name__})")
    when = generated_at if generated_at is not None else datetime.now(timezone.utc)
    mpl_version = _matplotlib_version() if plots is not False else None
    if plots is True and mpl_version is None:
        raise InputError(f"plots=True but matplotlib cannot be imported; {REPORT_EXTRA_NOTE}")
    draw = mpl_version is not None
    reason = REPORT_EXTRA_NOTE if plots is None else "Plots were not requested for this report."
    title = f"reirrad report - {result.get('patient_id', '')} - {result.get('plan_id', '')}"
    body = [
        _header_section(result),
        _eligibility_section(result),
        _final_check_section(result),
        _oar_section(run, result),
        _log_section(result),
        _target_section(run, result),
        _objectives_section(result),
        _plots_section(run, result, draw, reason),
        _provenance_section(run, result, when, mpl_version if draw else None),
    ]
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(path: Union[str, os.PathLike[str]], run: WorkflowRun, result: Mapping[str, Any],
                 **kw: Any) -> Path:
    """Render the report and write it to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or path-like
        Output file (``.html``); its directory must exist. An existing file is replaced only once
        the new one is completely written.
    run, result
        As for :func:`render_report`.
    **kw
        ``generated_at`` and ``plots``, passed to :func:`render_report`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    target = Path(path)
    text = render_report(run, result, **kw)
    write_text_atomic(target, text)
    return target
