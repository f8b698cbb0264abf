"""The constraint point calculator: a case of prior OAR metric doses → the per-OAR table.

This is what ``reirrad constraints`` runs, and what ``reirrad demo`` runs on the packaged
example until the planning workflow exists. A case is either a YAML/JSON file::

    n_fractions: 5                  # optional, defaults to the protocol's
    new_course_start: 2025-03-03    # optional; needed when courses give last_fraction dates
    courses:
      - name: LCCRT 50.4 Gy/28
        n_fractions: 28
        last_fraction: 2023-06-30   # or interval_days: 612 (or neither: unknown interval)
        oar_doses_gy:               # PHYSICAL dose at the OAR's protocol metric, TOTAL over
          small_bowel: 45.0         # that course, Gy
          bladder: 48.0

or ``--prior OAR=DOSE/FRACTIONS@DAYS`` options. Every course must give a dose for every OAR
that any course gives (write 0 for an OAR that received none): a missing dose is never
assumed to be zero.

The file is read by :mod:`reirrad.inputfiles` (duplicate keys, aliases, keys that are not text and
impossible dates are refused) and every number is checked against :mod:`reirrad.bounds`: 1 to 60
fractions per course, a dose of at most 150 Gy per course and 35 Gy per fraction, an interval of 0 to
100 years.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import __version__
from ._validate import as_date
from .bounds import check_course_dose, check_fractions, check_interval_days
from .constraints import PriorMetricDose, RemainingTolerance, remaining_tolerance
from .eligibility import PriorCourseInfo, check_eligibility, eligibility_record
from .errors import InputError, echo
from .findings import unique_findings
from .inputfiles import read_yaml_file
from .protocol import Protocol
from .recovery import interval_days_between
from .report.text import checked_limit, checked_limit_lines
from .sensitivity import format_sensitivity, sensitivity_analysis, sensitivity_findings

__all__ = ["ConstraintCase", "PriorCourse", "evaluate_case", "format_table", "parse_case",
           "parse_prior_options"]


@dataclass(frozen=True)
class PriorCourse:
    """One prior course of a point-calculator case."""

    name: str
    n_fractions: int
    interval_days: Optional[float]
    oar_doses_gy: Mapping[str, float]


@dataclass(frozen=True)
class ConstraintCase:
    """Prior courses and the new course's fractionation."""

    courses: Tuple[PriorCourse, ...]
    n_fractions: Optional[int] = None


def _date(value: Any, where: str) -> dt.date:
    return as_date(where, value, text=True)


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{where}: expected a whole number of fractions >= 1 (got {echo(value)})")
    return check_fractions(where, value)


def _parse_course(c: Any, i: int, source: str, start: Optional[dt.date]) -> PriorCourse:
    where = f"{source}: courses[{i}]"
    if not isinstance(c, dict):
        raise InputError(f"{where}: expected a mapping (got {echo(c)})")
    bad = sorted(set(c) - {"name", "n_fractions", "last_fraction", "interval_days", "oar_doses_gy"})
    if bad:
        raise InputError(f"{where}: unknown key(s) {echo(bad)}; allowed: name, n_fractions, "
                         "last_fraction, interval_days, oar_doses_gy")
    if "last_fraction" in c and "interval_days" in c:
        raise InputError(f"{where}: give last_fraction or interval_days, not both")
    interval: Optional[float] = None
    if "last_fraction" in c:
        if start is None:
            raise InputError(f"{where}: last_fraction needs new_course_start at the top of the case")
        last = _date(c["last_fraction"], f"{where}.last_fraction")
        interval = check_interval_days(f"{where}.last_fraction",
                                       float(interval_days_between(last, start, course=where)))
    elif c.get("interval_days") is not None:
        given = _number(c["interval_days"], f"{where}.interval_days", "a number of days")
        interval = check_interval_days(f"{where}.interval_days", given)
    n_fx = _whole(c.get("n_fractions"), f"{where}.n_fractions")
    doses_raw = c.get("oar_doses_gy") or {}
    if not isinstance(doses_raw, dict):
        raise InputError(f"{where}.oar_doses_gy: expected a mapping OAR key -> dose in Gy "
                         f"(got {echo(doses_raw)})")
    doses = {str(k): check_course_dose(f"{where}.oar_doses_gy.{k}",
                                       _number(v, f"{where}.oar_doses_gy.{k}", "a dose in Gy"), n_fx)
             for k, v in doses_raw.items()}
    name = str(c.get("name") or f"course {i + 1}")
    return PriorCourse(name, n_fx, interval, doses)


def _number(value: Any, where: str, what: str) -> Any:
    """``value`` if it is an int or float (not a bool); the bounds check it next (ints stay ints:
    a 30-digit int must not overflow a float conversion before the bound names it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected {what} (got {echo(value)})")
    return value


def parse_case(raw: Any, source: str = "<case>") -> ConstraintCase:
    """Validate a case mapping (see the module docstring for the format)."""
    if not isinstance(raw, dict):
        raise InputError(f"{source}: a case must be a mapping with 'courses' (got {type(raw).__name__}); "
                         "see docs/constraints.md")
    unknown = sorted(set(raw) - {"n_fractions", "new_course_start", "courses"})
    if unknown:
        raise InputError(f"{source}: unknown key(s) {echo(unknown)}; "
                         "allowed: n_fractions, new_course_start, courses")
    n_fx = None if raw.get("n_fractions") is None else _whole(raw["n_fractions"], f"{source}: n_fractions")
    start = (None if raw.get("new_course_start") is None
             else _date(raw["new_course_start"], f"{source}: new_course_start"))
    courses_raw = raw.get("courses")
    if not isinstance(courses_raw, list):
        raise InputError(f"{source}: 'courses' must be a list of prior courses (got {echo(courses_raw)})")
    courses = tuple(_parse_course(c, i, source, start) for i, c in enumerate(courses_raw))
    if start is not None and courses and not any("last_fraction" in c for c in courses_raw):
        # found by a hostile-input review: it was silently unused (every course gives interval_days)
        raise InputError(f"{source}: new_course_start is used with the courses' last_fraction dates, and no "
                         "course gives one (each gives interval_days): leave it out, or give the dates")
    return ConstraintCase(courses, n_fx)


def load_case(path: Union[str, Path]) -> ConstraintCase:
    """Read a case file (YAML or JSON) with the strict reader (:mod:`reirrad.inputfiles`).

    Raises
    ------
    reirrad.errors.InputError
        The file cannot be read, breaks a rule of the reader, or a value is malformed or outside
        :mod:`reirrad.bounds`; the message names the file and the key.
    """
    return parse_case(read_yaml_file(path, "case file"), f"case file {path}")


_PRIOR_RE = re.compile(r"^(?P<oar>[a-z][a-z0-9_]*)=(?P<dose>\d{1,30}(?:\.\d{1,30})?)/(?P<fx>\d{1,30})"
                       r"(?:@(?P<days>\d{1,30}(?:\.\d{1,30})?))?$")


def _prior_fault(text: str) -> str:
    """What is wrong with an ``--prior`` value the pattern refused, as ``": <reason>"`` ("" when no part
    can be named)."""
    oar, _, rest = text.partition("=")
    dose, _, rest = rest.partition("/")
    fractions, _, days = rest.partition("@")
    parts = (("the dose (Gy)", dose, r"\d+(\.\d+)?", "a number written with digits"),
             ("the fractions", fractions, r"\d+", "a whole number"),
             ("the interval (days)", days, r"\d+(\.\d+)?", "a number written with digits"))
    if oar and not re.match(r"^[a-z][a-z0-9_]*$", oar):
        return f": the OAR {echo(oar)} must be a protocol key in lower case, such as small_bowel"
    for what, value, pattern, kind in parts:
        if value.strip().startswith("-"):
            return f": {what} cannot be negative (got {echo(value)})"
        if value and not re.fullmatch(pattern, value):
            return f": {what} must be {kind} (got {echo(value)})"
    return ""


def parse_prior_options(options: Sequence[str]) -> ConstraintCase:
    """Build a case from ``OAR=DOSE/FRACTIONS@DAYS`` strings.

    Doses are physical Gy, total over the prior course; ``@DAYS`` may be left out when the
    interval is unknown. Options with the same fractions and interval form one course. Every number
    is checked against :mod:`reirrad.bounds`.

    Raises
    ------
    reirrad.errors.InputError
        An option that is not ``OAR=DOSE/FRACTIONS@DAYS``, an OAR given twice for one course, or a value
        outside the bounds (named with the option).
    """
    grouped: Dict[Tuple[int, Optional[float]], Dict[str, float]] = {}
    for text in options:
        m = _PRIOR_RE.match(text.strip())
        if m is None:
            raise InputError(
                f"--prior {echo(text)} is not OAR=DOSE/FRACTIONS@DAYS{_prior_fault(text.strip())}, e.g. "
                "small_bowel=45/25@730 (45 Gy total in 25 fractions, last fraction 730 days before the new "
                "course)"
            )
        where = f"--prior {m.group('oar')}"
        fx = _whole(int(m.group("fx")), f"{where}: fractions")
        days = (None if m.group("days") is None
                else check_interval_days(f"{where}: interval", float(m.group("days"))))
        dose = check_course_dose(f"{where}: dose", float(m.group("dose")), fx)
        doses = grouped.setdefault((fx, days), {})
        if m.group("oar") in doses:
            raise InputError(f"--prior gives {m.group('oar')} twice for the same course ({echo(text)})")
        doses[m.group("oar")] = dose
    courses = []
    for (fx, days), doses in grouped.items():
        when = "interval unknown" if days is None else f"{days:g} d"
        courses.append(PriorCourse(f"{fx} fx, {when}", fx, days, doses))
    return ConstraintCase(tuple(courses))


def _priors(case: ConstraintCase, key: str) -> List[PriorMetricDose]:
    """One OAR's metric dose from every course that gives doses."""
    return [PriorMetricDose(c.oar_doses_gy[key], c.n_fractions, c.interval_days, c.name)
            for c in case.courses if c.oar_doses_gy]


def evaluate_case(protocol: Protocol, case: ConstraintCase, *, recovery_model: Optional[str] = None,
                  conservation_factor: Optional[float] = None,
                  override_reason: Optional[str] = None, sensitivity: bool = False) -> Dict[str, Any]:
    """Run :func:`reirrad.constraints.remaining_tolerance` for every OAR of the case.

    Returns the result mapping (JSON-ready) with ``oars``, ``eligibility``, ``warnings`` and
    ``provenance``; with ``sensitivity`` also ``sensitivity`` (the rows) and ``sensitivity_summary``
    (:func:`reirrad.sensitivity.sensitivity_analysis`; every OAR counts as limiting for its
    ``sensitive-decision`` flag, in ``warnings``: without a plan nothing says which one binds).

    Raises
    ------
    reirrad.errors.InputError
        Unknown OAR keys, an OAR dose missing from one course, invalid values.
    """
    n_fx = protocol.n_fractions if case.n_fractions is None else case.n_fractions
    oar_keys: List[str] = []
    for course in case.courses:
        for key in course.oar_doses_gy:
            protocol.oar(key)  # raises with the list of keys
            if key not in oar_keys:
                oar_keys.append(key)
    for course in case.courses:
        missing = [k for k in oar_keys if k not in course.oar_doses_gy]
        if course.oar_doses_gy and missing:
            raise InputError(
                f"course '{course.name}' gives no dose for {missing}; give every OAR's dose in every "
                "course (0 if it received none) - a missing dose is never assumed to be zero"
            )
    infos = [PriorCourseInfo(c.name, c.interval_days, bool(c.oar_doses_gy)) for c in case.courses]
    eligibility = list(check_eligibility(protocol, infos, n_fractions=n_fx, recovery_model=recovery_model))
    results: List[RemainingTolerance] = []
    if not any(f.code == "fractionation-not-in-protocol" for f in eligibility):
        ordered = [k for k in protocol.oar_keys if k in oar_keys]
        for key in ordered:
            results.append(remaining_tolerance(protocol, key, _priors(case, key), n_fx,
                                               recovery_model=recovery_model,
                                               conservation_factor=conservation_factor))
    analysis = (sensitivity_analysis(protocol, {r.oar: _priors(case, r.oar) for r in results}, n_fx,
                                     recovery_model=recovery_model, conservation_factor=conservation_factor)
                if sensitivity and results else None)
    oar_findings = unique_findings(f for r in results for f in r.findings)
    # course-level findings already reported by eligibility are not repeated as warnings
    elig_codes = {f.code for f in eligibility}
    warnings = [f for f in oar_findings if f.severity != "info" and f.code not in elig_codes]
    if analysis is not None:
        warnings.extend(sensitivity_findings(analysis, protocol))
    stop_from_oars = [f for f in warnings if f.severity == "stop"]
    eligibility.extend(stop_from_oars)
    used: Dict[str, Dict[str, Any]] = {}
    extra = () if analysis is None else analysis.values_used
    for q in [q for r in results for q in r.values_used] + list(extra):
        used[q.key_path] = {"value": q.value, "unit": q.unit, "source": q.source, "status": q.status}
    model = protocol.recovery.model if recovery_model is None else recovery_model
    factor = (protocol.recovery.conservation_factor.value if conservation_factor is None
              else conservation_factor)
    return {
        "kind": "constraints",
        "n_fractions": n_fx,
        "oars": [r.to_dict() for r in results],
        "eligibility": eligibility_record(eligibility, override_reason),
        "warnings": [f.to_dict() for f in warnings if f not in stop_from_oars],
        "provenance": {
            "software_version": __version__,
            "protocol": protocol.provenance(),
            "method": "metric sum (guidance): per-course metric dose -> EQD2 -> recovery -> sum",
            "recovery": {
                "model": model,
                "overridden": recovery_model is not None,
                "conservation_factor": factor,
                "conservation_factor_note": "project's parameterisation: scales credited recovery",
                "source": protocol.recovery.model_source.source,
                "status": protocol.recovery.model_source.status,
            },
            "lq_model": "plain LQ, no time factor",
            "values_used": used,
        },
        **({} if analysis is None else analysis.record()),
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(result: Mapping[str, Any]) -> str:
    """Plain-text table of a constraints result (doses in Gy; recovery as a fraction)."""
    header = ("OAR", "metric", "a/b", "limit EQD2", "prior EQD2", "recov", "eff prior",
              "remaining", "cum allowed", "de novo", "ALLOWED", "limited by")
    rows = [header]
    for r in result["oars"]:
        rows.append((r["name"], r["metric"], _fmt(r["alpha_beta_gy"], 1),
                     _fmt(checked_limit(r)), _fmt(r["prior_eqd2_gy"]),
                     _fmt(r["recovered_fraction"]), _fmt(r["effective_prior_eqd2_gy"]),
                     _fmt(r["remaining_eqd2_gy"]), _fmt(r["cumulative_allowed_physical_gy"]),
                     _fmt(r["de_novo_mandatory_gy"]), _fmt(r["allowed_physical_gy"]),
                     r["limited_by"] + (" (EXHAUSTED)" if r["exhausted"] else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_fx = result["n_fractions"]
    lines.append("")
    if result["oars"]:
        for course in result["oars"][0]["courses"]:
            months = course["interval_months"]
            when = ("interval unknown" if course["interval_days"] is None else
                    f"interval {course['interval_days']:g} days ({months:.3f} months of 30.4375 days)")
            credit = ("" if course["recovered_fraction"] is None else
                      f", recovery credited {100 * course['recovered_fraction']:.0f} %")
            lines.append(f"Prior course '{course['course']}': {course['n_fractions']} fractions, "
                         f"{when}{credit}.")
    lines.extend(checked_limit_lines(result["oars"], "'limit EQD2'"))
    if any(r["cumulative_limit_eqd2_gy"] is None for r in result["oars"]):
        lines.append("'-' = the protocol has no cumulative limit for that OAR: "
                     "only its de novo limit applies.")
    lines.append(f"Doses in Gy. EQD2 at each OAR's a/b; 'ALLOWED' is the physical planning limit in "
                 f"{n_fx} fractions = min(cumulative allowed, de novo mandatory).")
    if result.get("sensitivity_summary"):
        lines.append(format_sensitivity(result))
    elig = result["eligibility"]
    for f in elig["findings"]:
        lines.append(f"[{f['severity'].upper()}] {f['code']}: {f['message']}")
    for f in result["warnings"]:
        lines.append(f"[{f['severity'].upper()}] {f['code']}: {f['message']}")
    if elig["override_reason"] and not elig["may_proceed"]:
        lines.append(f"Eligibility override recorded but not applied: {elig['override_reason']} (no override "
                     "lifts a stop that needs action: fractions outside the protocol)")
    elif elig["override_reason"]:
        lines.append(f"Eligibility override recorded: {elig['override_reason']}")
    prov = result["provenance"]
    counts = prov["protocol"]["status_counts"]
    lines.append(f"Protocol {prov['protocol']['name']} {prov['protocol']['version']} "
                 f"(sha256 {prov['protocol']['sha256'][:12]}): values confirmed {counts['confirmed']}, "
                 f"secondary-source {counts['secondary-source']}, unverified {counts['unverified']}. "
                 f"Recovery model: {prov['recovery']['model']}.")
    return "\n".join(lines)
