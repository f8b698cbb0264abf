"""Plain-text summary and exit code of a result mapping (command line, Eclipse host console).

The summary is ASCII plain text in short lines (the Eclipse host's console may not be UTF-8). It
shows, from the result mapping only (nothing recomputed):

* the status with its meaning and the exit code ("needs review" for exit 3);
* the prescription, the prescription statement and the tumour dose at each tumour alpha/beta;
* one line per OAR (``passed`` null reads "n/a (no cumulative limit)" when there is a plan dose);
* the target coverage and the limiting OARs;
* the final check on the dose re-read from the TPS after normalisation, when there is one;
* the override reason and the stop findings it let through;
* **every** ``flag`` finding (those of the DICOM files read by ``reirrad evaluate`` too).

A stopped (or failed, or cancelled) run prints its reason, each stop finding and every flag finding.

The wording is shared with the HTML report (:mod:`reirrad.report`) and the findings with the audit
row (:mod:`reirrad.audit`).
"""

from __future__ import annotations

import textwrap
from typing import Any, Iterable, List, Mapping, Sequence

from reirrad.audit import flag_findings, overridden_stops, stop_findings
from reirrad.errors import shown
from reirrad.report import (
    TUMOUR_DOSE_COLUMNS,
    checked_limit,
    checked_limit_lines,
    deciding_text,
    final_check_rows,
    passed_text,
    plain_value,
    region_rows,
    status_lines,
    structure_rows,
)
from reirrad.sensitivity import sensitivity_ranges
from reirrad.statuses import exit_code_for

__all__ = ["exit_code", "summary"]

#: Statuses of a run that ended before a result of the workflow (no plan, no OAR table).
_ENDED_EARLY = ("stopped", "error", "cancelled")
#: Longest line of text (the OAR table is fixed-width and shorter); longer lines continue indented.
_WIDTH = 100
_CONTINUED = "    "


def _wrapped(lines: Iterable[str]) -> List[str]:
    """Each line wrapped at :data:`_WIDTH`, continuation lines indented by :data:`_CONTINUED`; a
    newline, tab or control character inside a line (a name from an input file may hold a newline)
    shown as a visible escape (:func:`reirrad.errors.shown`), so that no value starts a console line of
    its own (a forged "Status:" line)."""
    out: List[str] = []
    for line in map(shown, lines):
        if len(line) <= _WIDTH:
            out.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip(" "))]
        out.extend(textwrap.wrap(line, _WIDTH, subsequent_indent=lead + _CONTINUED,
                                 break_long_words=False, break_on_hyphens=False))
    return out


def _finding_line(finding: Mapping[str, Any]) -> str:
    """``SEVERITY code (subject): message``."""
    subject = finding.get("subject")
    return (f"  {str(finding.get('severity', '')).upper()} {finding.get('code')}"
            + (f" ({subject})" if subject else "") + f": {finding.get('message')}")


def _ended_early(result: Mapping[str, Any]) -> List[str]:
    """A stopped, failed or cancelled run: the reason, each stop finding, every flag finding."""
    status = str(result.get("status"))
    lines = [f"{status.upper()}: {plain_value(result.get('reason'), missing='no reason recorded')}",
             *status_lines(result)]
    stops = stop_findings(result)
    if stops:
        lines.append("Stop findings:")
        lines.extend(_finding_line(f) for f in stops)
    return lines + _flag_lines(result)


def _gy(value: Any) -> str:
    """A dose in Gy (``-`` when absent) with ``g`` formatting."""
    return "-" if value is None else f"{float(value):g}"


def _headline(result: Mapping[str, Any]) -> List[str]:
    optimisations = (result.get("optimisations") or {}).get("count")
    return [f"Patient {result.get('patient_id')} plan {plain_value(result.get('plan_id'))}, "
            f"intent {plain_value(result.get('intent'))}.",
            f"Prescription {_gy(result.get('prescription_gy'))} Gy in "
            f"{plain_value(result.get('n_fractions'))} fractions; "
            f"{plain_value(optimisations)} optimisation(s)."]


def _tumour_lines(target: Mapping[str, Any]) -> List[str]:
    """The prescription statement and one line per tumour alpha/beta."""
    lines = []
    if target.get("prescription_statement"):
        lines.append(f"Prescription statement: {target['prescription_statement']}")
    for entry in target.get("tumour_dose") or []:
        figures = ", ".join(f"{label} {plain_value(entry.get(key), digits)}" + (f" {unit}" if unit else "")
                            for label, key, unit, digits in TUMOUR_DOSE_COLUMNS)
        lines.append(f"Tumour a/b {_gy(entry.get('alpha_beta_gy'))} Gy: {figures}")
    return lines


def _oar_lines(oars: Sequence[Mapping[str, Any]], result: Mapping[str, Any]) -> List[str]:
    lines = [f"{'OAR':15s} {'structure':14s} {'metric':7s} {'allowed':>8s} {'range':>11s} {'planned':>8s} "
             f"{'cum EQD2':>9s} {'limit':>6s}  ok"]

    def fmt(v: Any, w: int) -> str:
        return f"{'-':>{w}s}" if v is None else f"{v:{w}.2f}"

    ranges = sensitivity_ranges(result)
    for o in oars:
        limited = " per-course cap" if o.get("limited_by") == "per-course" else ""
        span = ranges.get(str(o.get("name")))
        shown = "-" if span is None else f"{span[0]:.1f}-{span[1]:.1f}"
        lines.append(f"{o.get('name')!s:15s} {plain_value(o.get('structure')):14s} "
                     f"{plain_value(o.get('metric')):7s} "
                     f"{fmt(o.get('allowed_physical_gy'), 8)} {shown:>11s} "
                     f"{fmt(o.get('planned_physical_gy'), 8)} "
                     f"{fmt(o.get('cumulative_eqd2_gy'), 9)} {fmt(checked_limit(o), 6)}  "
                     f"{passed_text(o, short=True)}{limited}")
    if ranges and oars:
        lines.append("range: the allowed dose with one assumption changed at a time (alpha/beta, recovery, "
                     "interval, registration); the report has the table")
    lines.extend(checked_limit_lines(oars, "'limit'"))
    return lines + ([deciding_text(result)] if oars else [])


def _target_lines(result: Mapping[str, Any]) -> List[str]:
    t = result.get("target")
    if not t:
        return []
    lines = [f"Target {t.get('structure')}: V95% {plain_value(t.get('v95_pct'), 1)} %, "
             f"D95 {plain_value(t.get('d95_gy'))} Gy, D98 {plain_value(t.get('d98_gy'))} Gy, "
             f"V(BED10 >= {_gy(t.get('bed_threshold_gy'))} Gy) "
             f"{plain_value(t.get('v_bed_threshold_pct'), 1)} %"]
    if t.get("coverage_met") is not None:
        lines.append(f"Coverage rule (V95% >= {_gy(t.get('coverage_min_pct'))} %): "
                     f"{'met' if t['coverage_met'] else 'NOT met'}")
    return lines + _tumour_lines(t)


def _structure_lines(result: Mapping[str, Any]) -> List[str]:
    rows = structure_rows(result)
    if not rows:
        return []
    made = "would be made (dry run)" if result.get("status") == "dry-run" else "made in the TPS"
    lines = [f"Optimisation structures {made}:"]
    for name, role, tps, expected, _ in rows:
        lines.append(f"  {name} ({role}): TPS {plain_value(tps)} cm3, engine {plain_value(expected)} cm3")
    for title, values, _ in region_rows(result):
        (volume, _), (v95, _), (d95, _), (d98, _) = values
        lines.append(f"{title}: {plain_value(volume)} cm3, V95% {plain_value(v95, 1)} %, "
                     f"D95 {plain_value(d95)} Gy, D98 {plain_value(d98)} Gy")
    return lines


def _final_check_lines(result: Mapping[str, Any]) -> List[str]:
    check = result.get("final_check")
    if not isinstance(check, Mapping):
        return []
    items = (f"  {label}: {plain_value(value, digits)}" for label, value, digits in final_check_rows(check))
    return ["Final check (the status comes from it):", *items]


def _override_lines(result: Mapping[str, Any]) -> List[str]:
    reason = (result.get("eligibility") or {}).get("override_reason")
    overridden = overridden_stops(result)
    if reason is None and not overridden:
        return []
    lines = [f"OVERRIDE recorded: {plain_value(reason, missing='(no reason recorded)')}"]
    if overridden:
        lines.append("Stop findings let through by the override:")
        lines.extend(_finding_line(f) for f in overridden)
    return lines


def _flag_lines(result: Mapping[str, Any]) -> List[str]:
    flags = flag_findings(result)
    if not flags:
        return []
    return [f"{len(flags)} flag finding(s), review each:", *(_finding_line(f) for f in flags)]


def summary(result: Mapping[str, Any]) -> str:
    """A short, plain-text summary of a result for the terminal.

    Parameters
    ----------
    result : mapping
        A result of :func:`reirrad.result.build_result`, or a stopped / failed / cancelled result
        of a launcher (``status``, ``reason``, optionally ``stop_findings``).

    Returns
    -------
    str
        Lines of at most 100 characters where the text allows (longer ones continue on lines
        indented by four more spaces), separated by ``\\n``, no trailing newline; never the word
        "None" for a value.
    """
    if str(result.get("status")) in _ENDED_EARLY:
        return "\n".join(_wrapped(_ended_early(result)))
    lines = [*_headline(result), *status_lines(result)]
    lines.extend(_oar_lines(result.get("oars") or [], result))
    lines.extend(_target_lines(result))
    lines.extend(_structure_lines(result))
    if result.get("limiting_oars"):
        lines.append("Limiting: " + ", ".join(str(o) for o in result["limiting_oars"]))
    lines.extend(_final_check_lines(result))
    lines.extend(_override_lines(result))
    lines.extend(_flag_lines(result))
    return "\n".join(_wrapped(lines))


def exit_code(result: Mapping[str, Any]) -> int:
    """The process exit code of a result (:func:`reirrad.statuses.exit_code_for`)."""
    return exit_code_for(result)
