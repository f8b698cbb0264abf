"""The HTML of the report: one self-contained page of a run's outcome (:class:`reirrad.outcome.RunOutcome`).

One HTML file with no external resource: styles inline, plots embedded as base64 PNG ``data:``
URIs. It reads in any browser and prints to PDF from it (A4 landscape; table rows, figures and
images are kept whole where the browser allows; images scale to the page width).

Every table reads the outcome's result mapping (:func:`reirrad.result.build_result`); the plots read
:mod:`reirrad.report.data` and are drawn by :mod:`reirrad.report.plots`. Nothing here computes a
clinical number: a value missing from the result is shown as "—".

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
   (``unmatched_oars``) are listed too, marked "not evaluated"; ``passed`` null with a plan dose
   (prior dose but no cumulative limit) reads "not assessable (no cumulative limit)", never "pass";
   what limits the allowed dose (cumulative, de novo or per-course) is named and explained;
4. the isotoxic decision log (every search step);
5. target coverage (D95, D98, V95 %, V(BED ≥ threshold)) with, beside it, the tumour dose at each
   tumour α/β (prescription BED and EQD2, BED ratio to 30 Gy/5, D95 and D80 as EQD2) and the
   prescription statement; then the objectives written to the TPS;
6. plots (only with matplotlib, the ``report`` extra): the cumulative EQD2 DVH of every OAR with
   a cumulative limit, and axial and sagittal slices through the target centre of the effective
   prior EQD2 map and of the remaining-tolerance map, with structure outlines;
7. provenance: software versions, protocol name, version and sha256, the status of every
   protocol value used, models, α/β per OAR, registration kind per prior course (same frame,
   rigid or deformable), TPS and version, and the time the report was generated.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Union

import numpy as np

from .. import __version__
from ..audit import flag_findings, overridden_stops, result_findings
from ..errors import InputError
from ..files import write_text_atomic
from ..outcome import RunOutcome
from ..review import RISK_FACTORS
from ..statuses import EXIT_REVIEW, exit_code_for, status_meaning
from .data import dvh_data, map_slices, tornado_data
from .markup import CSS as _CSS
from .markup import Cell as _Cell
from .markup import Row as _Row
from .markup import escape as _e
from .markup import fmt as _fmt
from .markup import img as _img
from .markup import kv_table as _kv_table
from .markup import num as _num
from .markup import short as _short
from .markup import table as _table
from .markup import txt as _txt
from .plots import (
    DVH_FIGURE_PX,
    MAP_FIGURE_PX,
    MAP_TITLES,
    TORNADO_FIGURE_PX,
    draw_dvh,
    draw_map,
    draw_tornado,
    plot_choice,
)
from .text import (
    PASSED_NOT_ASSESSABLE,
    REGION_COLUMNS,
    TUMOUR_DOSE_COLUMNS,
    checked_limit,
    checked_limit_note,
    deciding_text,
    exit_text,
    final_check_rows,
    limited_by_text,
    passed_text,
    plain_value,
    region_rows,
    registration_text,
    structure_rows,
)

__all__ = ["render_report", "write_report"]

_SEVERITY_ORDER = {"stop": 0, "flag": 1, "info": 2}


# ---------------------------------------------------------------------------------------------
# small HTML helpers (the shared ones are in reirrad.report.markup)


def _pct(fraction: object) -> str:
    """A fraction in [0, 1] as a percentage with no decimals (escaped); None → "—"."""
    if isinstance(fraction, (bool, np.bool_)) or not isinstance(fraction, (int, float, np.number)):
        return "—"
    return f"{100.0 * float(fraction):.0f}"


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
    if "tps_plan_written" in result:  # launchers that write into a copy of the clinician's plan
        written = result["tps_plan_written"]
        pairs.append(("Written into TPS plan", f'<span id="tps-plan-written">{_e(written)}</span>'
                      if written is not None else "none (nothing was written into a plan)"))
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


def _oar_rows(result: Mapping[str, Any]) -> List[_Row]:
    rows: List[_Row] = []
    for oar in result.get("oars") or []:
        key = str(oar.get("name"))
        limit = checked_limit(oar)
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
            _limit_cell(oar, limit) if limit is not None else _Cell(no_limit),
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
    for spec in result.get("unmatched_oars") or []:
        limit = spec.get("cumulative_limit_eqd2_gy")
        dash = _Cell("—", numeric=True)
        cells = [_txt(spec.get("label")), _txt("no structure matched"), _txt(spec.get("metric")),
                 _num(spec.get("alpha_beta_gy"), 1), dash, dash, dash, dash,
                 _num(limit) if limit is not None else _Cell("no cumulative limit"), dash, dash, dash, dash,
                 _txt("not evaluated")]
        rows.append((cells, {"data-unmatched-oar": str(spec.get("name")), "class": "unmatched"}))
    return rows


def _limit_cell(oar: Mapping[str, Any], limit: object) -> _Cell:
    """The limit the OAR's cumulative EQD2 is checked against (:func:`checked_limit`), with why when it
    is a single-course tolerance below the cumulative limit."""
    note = checked_limit_note(oar)
    return _Cell(_fmt(limit) + (f" ({_e(note)})" if note else ""), numeric=True)


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


def _oar_section(result: Mapping[str, Any]) -> str:
    n_fx = result.get("n_fractions")
    headers = ["OAR", "Structure", "Metric", "α/β (Gy)", "Prior EQD2, no recovery (Gy)",
               "Recovery credited (%)", "Effective prior EQD2 (Gy)", "Remaining EQD2 (Gy)",
               "Cumulative limit EQD2 (Gy)", f"Allowed physical dose, new course in {n_fx} fx (Gy)",
               "Planned physical dose (Gy)", "Cumulative EQD2, metric sum (Gy)",
               "Cumulative EQD2, voxel-wise (Gy)", "Pass"]
    return ('<section id="oars"><h2>Organs at risk</h2>'
            + _table(headers, _oar_rows(result), {"id": "oar-table"})
            + '<p class="note">EQD2 at each OAR\'s α/β. Effective prior = prior EQD2 × (1 − recovery '
              "credited). Allowed physical dose = min(dose from the remaining EQD2 in the new course's "
              "fractions, de novo mandatory limit, per-course limit if any); the limiting rule is in "
              "brackets. Metric sum: the guidance method (the courses' metrics summed as though on one "
              "sub-volume: an upper bound for Dmax only); "
              "voxel-wise: metric of the voxel-by-voxel cumulative EQD2. " + _e(deciding_text(result))
            + " Pass also requires the plan within the de novo limit (and any per-course "
              "limit); an OAR with prior dose but no cumulative limit in the protocol is "
              f"{_e(PASSED_NOT_ASSESSABLE)}: its de novo limit alone is no pass (a flag finding names "
              "it). Recovery \"none (limit includes recovery)\": the protocol's cumulative limit already "
              "includes recovery between courses, so none is credited on top.</p>"
            + _limited_by_notes(result) + "</section>")


def _comparison_rows(record: Mapping[str, Any]) -> List[_Row]:
    return [([_txt(c.get("label")), _num(c.get("uk_guidance_gy")), _num(c.get("jones_grant_fitted_gy")),
              _num(c.get("jones_grant_cautious_gy")), _txt(f"{c.get('used_model')}"), _num(c.get("used_gy")),
              _num(c.get("difference_gy"))], {"data-model-oar": str(c.get("oar"))})
            for c in record.get("model_comparison") or []]


def _sensitivity_rows(result: Mapping[str, Any]) -> List[_Row]:
    rows: List[_Row] = []
    for base in (result.get("sensitivity_summary") or {}).get("baseline") or []:
        rows.append(([_txt(base.get("label")), _txt("baseline (the run's values)"),
                      _num(base.get("allowed_physical_gy")), _txt(""), _txt(""),
                      _txt(base.get("limited_by"))],
                     {"data-sensitivity-oar": str(base.get("oar")), "data-parameter": "baseline"}))
        for r in result.get("sensitivity") or []:
            if r.get("oar") != base.get("oar"):
                continue
            rows.append(([_txt(""), _txt(r.get("label")), _num(r.get("allowed_physical_gy")),
                          _num(r.get("change_gy")), _num(r.get("change_percent"), 1),
                          _txt(r.get("limited_by"))],
                         {"data-sensitivity-oar": str(r.get("oar")),
                          "data-parameter": str(r.get("parameter"))}))
    return rows


def _jg(comparison: Mapping[str, Any]) -> object:
    """The Jones & Grant allowed dose by the protocol's curve."""
    return comparison.get(f"jones_grant_{comparison.get('jones_grant_curve')}_gy")


def _sensitivity_section(result: Mapping[str, Any], draw: bool) -> str:
    """The sensitivity table, the guidance-vs-Jones & Grant comparison and a tornado per limiting OAR."""
    record = result.get("sensitivity_summary")
    if not record:
        return ""
    out = ['<section id="sensitivity"><h2>Sensitivity of the allowed doses to the assumptions</h2>',
           f"<p>Each OAR's allowed physical dose in {_fmt(result.get('n_fractions'))} fractions with one "
           "assumption changed at a time (docs/clinical-decisions.md 39): α/β ± a step (the same for every "
           "course), the recovered fraction by each model's alternatives, the conservation factor, every "
           "interval ± a tolerance, and the prior dose raised by its growth within a registration margin. "
           f"The run used recovery model <strong>{_e(record.get('recovery_model'))}</strong> with "
           f"conservation factor {_short(record.get('conservation_factor'))}.</p>",
           "<h3>Guidance steps vs Jones &amp; Grant 2014</h3>",
           _table(["OAR", "Guidance steps (Gy)", "Jones & Grant fitted (Gy)", "Jones & Grant cautious (Gy)",
                   "Model used", "Allowed, model used (Gy)",
                   "Jones & Grant (protocol's curve) − guidance (Gy)"],
                  _comparison_rows(record), {"id": "model-comparison"})]
    limiting = record.get("limiting_oars") or []
    for c in record.get("model_comparison") or []:
        if c.get("oar") in limiting and c.get("difference_gy") is not None:
            out.append(f'<p data-comparison-oar="{_e(c.get("oar"))}">{_e(c.get("label"))} (limiting): '
                       f"the plan used {_e(c.get('used_model'))}, {_fmt(c.get('used_gy'))} Gy; "
                       f"Jones &amp; Grant ({_e(c.get('jones_grant_curve'))} curve) would allow "
                       f"{_fmt(_jg(c))} Gy, {_fmt(c.get('difference_gy'))} Gy against the guidance's "
                       f"steps ({_fmt(c.get('uk_guidance_gy'))} Gy).</p>")
    tornados = tornado_data(result)
    if draw and tornados:
        out.append("<h3>Limiting OARs</h3>")
        for data in tornados:
            alt = f"Sensitivity of the allowed dose of {data.label}"
            attrs = {"data-plot": "tornado", "data-oar": data.oar}
            out.append("<figure>" + _img(draw_tornado(data), alt, attrs, TORNADO_FIGURE_PX)
                       + f"<figcaption>{_e(alt)}: each bar spans the allowed dose over one assumption's "
                         "range; red line, the run's allowed dose.</figcaption></figure>")
    elif not tornados:
        out.append('<p class="note" id="tornado-note">No OAR limited this plan, so there is no tornado plot; '
                   "the table lists every OAR.</p>")
    headers = ["OAR", "Changed assumption", "Allowed (Gy)", "Change (Gy)", "Change (%)", "Limited by"]
    out.append(_table(headers, _sensitivity_rows(result), {"id": "sensitivity-table"}))
    notes = record.get("notes") or []
    if notes:
        out.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    out.append("</section>")
    return "".join(out)


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


def _target_section(result: Mapping[str, Any]) -> str:
    target = result.get("target")
    out = ['<section id="target"><h2>Target coverage</h2>']
    if not target:
        out.append('<p class="note" id="target-table">No plan dose (dry run): target coverage is '
                   "not available.</p></section>")
        return "".join(out)
    v95 = target.get("v95_pct")
    minimum = target.get("coverage_min_pct")
    met = target.get("coverage_met")
    ab = _short(target.get("alpha_beta_gy"))
    rule = ('<span class="pass">met</span>' if met is True else '<span class="failtext">not met</span>'
            if met is False else "—")
    threshold = target.get("bed_threshold_gy")
    pairs = [
        ("Structure", _txt(target.get("structure")).html),
        ("Prescription level evaluated (Gy)", _fmt(target.get("prescription_gy"))),
        ("D95 (Gy)", _fmt(target.get("d95_gy"))),
        ("D98 (Gy)", _fmt(target.get("d98_gy"))),
        ("V95 % of the prescription (%)", _fmt(v95, 1)),
        (f"Coverage rule V95 ≥ {_short(minimum)} %", rule),
        (f"V(BED (α/β {ab} Gy) ≥ {_fmt(threshold, 1)} Gy) (%)",
         f"{_fmt(target.get('v_bed_threshold_pct'), 1)} (physical ≥ "
         f"{_fmt(target.get('bed_threshold_physical_gy'))} Gy in {_fmt(result.get('n_fractions'))} fx)"),
        (f"D95 as BED (α/β {ab} Gy) (Gy)", _fmt(target.get("d95_bed10_gy"))),
        (f"D98 as BED (α/β {ab} Gy) (Gy)", _fmt(target.get("d98_bed10_gy"))),
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


def _structures_section(result: Mapping[str, Any]) -> str:
    """Optimisation structures made in the TPS (or, in a dry run, that would be made) and the figures of
    the optimisation target and the compromised region (``optimisation_structures``, ``target_regions``)."""
    rows = structure_rows(result)
    out = ['<section id="optimisation-structures"><h2>Optimisation structures</h2>']
    if not rows:
        out.append('<p class="note" id="structures-table">No optimisation structures were made in this run '
                   "(see the findings for why).</p></section>")
        return "".join(out)
    if result.get("status") == "dry-run":
        out.append('<p class="note">Dry run: these structures would be made at the highest level; nothing '
                   "was written, so there is no TPS volume.</p>")
    table = [([_txt(name), _txt(role), _num(tps), _num(expected), _txt(reason)], {"data-role": role})
             for name, role, tps, expected, reason in rows]
    out.append(_table(["Structure", "Role", "TPS volume (cm³)", "Engine's volume (cm³)", "Why"], table,
                      {"id": "structures-table"}))
    regions = region_rows(result)
    if regions:
        headers = ["Region"] + [label for label, _, _ in REGION_COLUMNS] + [
            f"D95 as EQD2 (α/β {_short(t.get('alpha_beta_gy'))} Gy)" for t in regions[0][2]]
        body: List[_Row] = []
        for title, values, tumour in regions:
            cells = [_txt(title)] + [_num(v, d) for v, d in values]
            cells.extend(_num(t.get("d95_eqd2_gy")) for t in tumour)
            body.append((cells, {}))
        out.append(_table(headers, body, {"id": "regions-table"}))
        out.append('<p class="note">The coverage rule and the target figures above are the PTV\'s; the '
                   "optimisation target carries the coverage objective, and the compromised region is "
                   "where coverage was knowingly given up for the OARs next to it.</p>")
    out.append("</section>")
    return "".join(out)


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


def _value_cell(key: str, value: object) -> _Cell:
    if key.endswith("model_source"):  # carries the provenance of a choice, not a number
        return _Cell("(model choice)")
    return _num(value, 3)


def _value_rows(prov: Mapping[str, Any]) -> List[_Row]:
    """The result's ``values_used``: every protocol value the run used, with its source and status."""
    used = prov.get("values_used") or {}
    rows: List[_Row] = []
    for key, v in used.items():
        rows.append(([_Cell(f"<code>{_e(key)}</code>"), _value_cell(str(key), v.get("value")),
                      _txt(v.get("unit") or ""), _txt(v.get("source")), _value_status_cell(v.get("status"))],
                     {"data-value": str(key)}))
    return rows


def _used_value(prov: Mapping[str, Any], key_path: str) -> object:
    """The value of a protocol key the result records as used (None if it does not)."""
    entry = (prov.get("values_used") or {}).get(key_path)
    return entry.get("value") if isinstance(entry, Mapping) else None


def _provenance_section(result: Mapping[str, Any], generated_at: datetime,
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
         _fmt(_used_value(prov, "coverage_rule.tumour_alpha_beta"), 1)),
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
              _num(c.get("prescription_gy")), _txt(c.get("modality"))], {})
            for c in courses]
        out.append(_table(["Course/plan", "Registration", "Registration ID", "Last fraction",
                           "Interval (days)", "Fractions", "Prescription (Gy)", "Modality"], rows,
                          {"id": "prior-courses-table"}))
    else:
        out.append('<p class="note" id="prior-courses-table">No prior course.</p>')

    forms = result.get("tps_call_forms")
    if forms:
        out.append("<h3>TPS call forms used</h3><p class=\"note\">The form of each call whose spelling "
                   "depends on the TPS version, as detected on this TPS.</p>")
        out.append(_table(["Call", "Form used"], [([_txt(k), _txt(v)], {}) for k, v in sorted(forms.items())],
                          {"id": "tps-call-forms"}))

    out.append("<h3>Protocol values used and their status</h3>")
    out.append(_table(["Protocol key", "Value", "Unit", "Source", "Status"], _value_rows(prov),
                      {"id": "values-used"}))
    out.append("</section>")
    return "".join(out)


def _plots_section(outcome: RunOutcome, draw: bool, reason: str) -> str:
    out = ['<section id="plots"><h2>Plots</h2>']
    if not draw:
        out.append(f'<p class="note" id="plots-note">{_e(reason)}</p></section>')
        return "".join(out)
    out.append("<h3>Cumulative EQD2 DVH per OAR with a cumulative limit</h3>")
    prov = outcome.result.get("provenance") or {}
    if outcome.run is None or outcome.run.final_dose is None:
        out.append('<p class="note" id="dvh-note">Dry run: there is no plan dose, so there is no DVH of '
                   "the plan; the maps below show the prior dose and the remaining tolerance.</p>")
    else:
        dvhs = dvh_data(outcome)
        if not dvhs:
            out.append('<p class="note" id="dvh-note">No OAR with a cumulative limit was evaluated.</p>')
        for data in dvhs:
            alt = f"Cumulative EQD2 DVH of {data.label} ({data.structure})"
            out.append("<figure>" + _img(draw_dvh(data), alt, {"data-plot": "dvh", "data-oar": data.oar},
                                         DVH_FIGURE_PX)
                       + f"<figcaption>{_e(alt)}: solid, cumulative EQD2 (effective prior + plan, "
                         f"voxel-wise, α/β {data.alpha_beta_gy:g} Gy); dashed, "
                         f"effective prior alone; red line, cumulative limit {data.limit_gy:g} Gy; dot, "
                         f"{_e(data.metric)} of the cumulative map.</figcaption></figure>")
    out.append("<h3>Prior dose and remaining tolerance through the target centre</h3>")
    slices, why = map_slices(outcome)
    if not slices:
        out.append(f'<p class="note" id="map-note">{_e(why)}</p>')
    background = _short(_used_value(prov, "background_alpha_beta"))
    captions = {
        "effective-prior": ("Effective prior EQD2 summed over prior courses after recovery; α/β per voxel "
                            "by the overlap rule (highest EQD2 among the OARs present and the background "
                            f"α/β {background} Gy); each course credited its smallest recovery over the "
                            "OARs with a cumulative limit."),
        "remaining-tolerance": ("Remaining EQD2 (the limit checked − effective prior, floored at 0; the "
                                "limit checked is the cumulative limit, or with the Jones & Grant model the "
                                "single-course tolerance where it is lower) inside "
                                "each OAR with a cumulative limit (occupancy ≥ 0.5), at that OAR's α/β; "
                                "smallest where OARs overlap; grey: no OAR with a cumulative limit."),
    }
    for s in slices:
        title, _ = MAP_TITLES[s.map_name]
        alt = f"{title}, {s.view} slice at {s.position}"
        out.append("<figure>" + _img(draw_map(s), alt, {"data-plot": "map", "data-map": s.map_name,
                                                         "data-view": s.view}, MAP_FIGURE_PX)
                   + f"<figcaption>{_e(s.view.capitalize())}, {_e(s.position)}. "
                     f"{_e(captions[s.map_name])} Outlines: occupancy 0.5 of the target (red) and "
                     "the OARs"
                   + (" (purple: the low-tolerance structure, where the prior dose exceeded the prior "
                      "metric dose and a stricter maximum objective was written)" if "through" in s.position
                      else "") + ".</figcaption></figure>")
    out.append("</section>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# public API


def render_report(outcome: RunOutcome, *, generated_at: Optional[datetime] = None,
                  plots: Optional[bool] = None) -> str:
    """The HTML report of a run's outcome, as one self-contained document.

    Parameters
    ----------
    outcome : RunOutcome
        :func:`reirrad.runner.execute`'s outcome of a run (not a stop): the tables come from its result
        mapping, the plots from :mod:`reirrad.report.data`.
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
        ``plots=True`` without matplotlib, or an outcome without a run (a stop has no report).
    """
    if not isinstance(outcome, RunOutcome) or outcome.run is None:
        raise InputError("a report needs the outcome of a run (reirrad.runner.execute); a stopped run has "
                         f"none (got {type(outcome).__name__})")
    result = outcome.result
    when = generated_at if generated_at is not None else datetime.now(timezone.utc)
    mpl_version, reason = plot_choice(plots)
    draw = mpl_version is not None
    title = f"reirrad report - {result.get('patient_id', '')} - {result.get('plan_id', '')}"
    body = [
        _header_section(result),
        _eligibility_section(result),
        _final_check_section(result),
        _oar_section(result),
        _sensitivity_section(result, draw),
        _log_section(result),
        _target_section(result),
        _structures_section(result),
        _objectives_section(result),
        _plots_section(outcome, draw, reason),
        _provenance_section(result, when, mpl_version if draw else None),
    ]
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(path: Union[str, os.PathLike[str]], outcome: RunOutcome, **kw: Any) -> Path:
    """Render the report and write it to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or path-like
        Output file (``.html``); its directory must exist. An existing file is replaced only once
        the new one is completely written.
    outcome : RunOutcome
        As for :func:`render_report`.
    **kw
        ``generated_at`` and ``plots``, passed to :func:`render_report`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    target = Path(path)
    text = render_report(outcome, **kw)
    write_text_atomic(target, text)
    return target
