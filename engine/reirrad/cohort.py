"""Cohort report of a batch run (``reirrad batch``): one CSV table and one HTML page over many cases.

Each case of a batch (:class:`CohortCase`) carries the result mapping of its run
(:func:`reirrad.result.build_result`, ``docs/result.md``) or, when it produced none, the reason. This
module only reads those mappings: it computes no clinical number. What it adds are counts (cases per
status, per prescription level, per limiting OAR), the spread of values over the cases (minimum, median,
maximum) and, for a policy comparison, differences of achieved levels.

* :func:`cohort_rows` / :func:`write_cohort_csv`: one row per case, the audit record
  (:func:`reirrad.audit.audit_record`) of its result behind the leading columns :data:`CASE_COLUMNS`.
* :func:`render_cohort_report` / :func:`write_cohort_report`: one self-contained HTML page (styles
  inline, plots as base64 PNG ``data:`` URIs).
* The numbers of the page, one function each: :func:`cohort_counts`, :func:`level_counts`,
  :func:`limiting_counts`, :func:`strip_data`, :func:`coverage_data`, :func:`interval_data`,
  :func:`policy_comparison`.

A case is **failed** when it produced no result mapping (``finished`` false or ``result`` None), **stopped**
when its result has status ``stopped`` (a stop finding or bad input ended it before anything was
written), else **finished**. ``reused`` is counted separately (a reused case is also finished, stopped
or failed).

Plots need matplotlib (the ``report`` extra), imported lazily as by :mod:`reirrad.report.plots`; without
it the tables remain and a note names the extra. Figures have a fixed width and dpi (the strip plot's
height grows with its number of OARs, :func:`strip_figure_px`) and are written without the PNG
"Software" chunk, so identical input gives an identical page apart from the time stamp.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import __version__
from .audit import audit_record, records_csv_text, result_findings
from .errors import InputError
from .files import write_text_atomic
from .outputs import AUDIT_PRIOR_COURSES
from .report.markup import CSS, Cell, Row, escape, fmt, img, kv_table, num, short, table, txt
from .report.plots import FIGURE_DPI, mpl_text, plot_choice, png_bytes
from .report.text import checked_limit, plain_value
from .statuses import STATUS_MEANINGS

__all__ = [
    "CASE_COLUMNS",
    "INTERVAL_FIGURE_PX",
    "CohortCase",
    "ComparisonRow",
    "CoverageRow",
    "IntervalPoint",
    "PolicyComparison",
    "StripPoint",
    "case_state",
    "cohort_counts",
    "cohort_rows",
    "coverage_data",
    "interval_data",
    "level_counts",
    "limiting_counts",
    "policy_comparison",
    "render_cohort_report",
    "strip_data",
    "strip_figure_px",
    "write_cohort_csv",
    "write_cohort_report",
]

#: Leading columns of a cohort row, before the audit record's columns. ``case_exit_code`` is the case's
#: process exit code (:attr:`CohortCase.exit_code`; the audit's own ``exit_code`` column is
#: :func:`reirrad.statuses.exit_code_for` of the result, and a failed case has none).
CASE_COLUMNS = ("case_id", "policy", "finished", "case_exit_code", "reused", "error")

_STRIP_WIDTH_IN = 6.4
_STRIP_BASE_IN = 1.0
_STRIP_ROW_IN = 0.42
_INTERVAL_FIGSIZE_IN = (6.4, 3.2)
#: Pixel size (width, height) of the interval / recovery plot.
INTERVAL_FIGURE_PX = (round(_INTERVAL_FIGSIZE_IN[0] * FIGURE_DPI),
                      round(_INTERVAL_FIGSIZE_IN[1] * FIGURE_DPI))
_DAYS_PER_MONTH = 30.4375  # as reirrad.audit's interval_months
_STATUS_ORDER = {s: n for n, s in enumerate(STATUS_MEANINGS)}
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
_EXTRA_CSS = """
tr.failed td { background: #fbdada; }
tr.stopped td { background: #fff4e0; }
td.above { color: #b00020; font-weight: bold; }
details { margin: 0.3em 0 0.8em 0; }
"""


@dataclass(frozen=True)
class CohortCase:
    """One case of a batch, as the batch runner hands it over.

    Attributes
    ----------
    case_id : str
        The manifest's id (for a policy comparison ``"<id>@<policy>"``); unique in a cohort.
    policy : str or None
        None, or the policy label in a comparison (e.g. ``"A.yaml"``, ``"jones-grant-2014"``).
    finished : bool
        True when the case produced a result mapping.
    exit_code : int or None
        The case's process exit code (:mod:`reirrad.statuses`); None if it never ran.
    result : mapping or None
        The case's result mapping (the result JSON); None when it failed.
    error : str or None
        One-line reason when not finished, or the stop reason.
    reused : bool
        The result came from an earlier run (inputs unchanged).
    seconds : float or None
        Wall time of the case, s (None when reused).
    """

    case_id: str
    policy: Optional[str]
    finished: bool
    exit_code: Optional[int]
    result: Optional[Mapping[str, Any]]
    error: Optional[str]
    reused: bool
    seconds: Optional[float]


@dataclass(frozen=True)
class StripPoint:
    """One case's cumulative EQD2 of one OAR (Gy, EQD2 at the OAR's α/β), from its result's ``oars[]``.

    ``value_gy`` is ``cumulative_eqd2_gy`` (the protocol's deciding method), ``metric_sum_gy``
    ``cumulative_eqd2_metric_sum_gy``, ``limit_gy`` what it is checked against
    (:func:`reirrad.report.text.checked_limit`: the cumulative limit, or the single-course tolerance
    below it with Jones & Grant; None: no cumulative limit) and ``passed`` the record's ``passed``.
    """

    case_id: str
    policy: Optional[str]
    value_gy: float
    metric_sum_gy: Optional[float]
    limit_gy: Optional[float]
    passed: Optional[bool]


@dataclass(frozen=True)
class IntervalPoint:
    """One prior course of one case: its interval to the new course and the recovery credited to it.

    From the case's audit record (:func:`reirrad.audit.audit_record`): ``prior.<n>.interval_days`` (the
    result's ``provenance.prior_courses[n].interval_days``) and ``prior.<n>.recovered_fraction_min`` /
    ``_max`` (the smallest and largest ``oars[].courses[n].recovered_fraction`` over the OARs with a
    cumulative limit; a fraction in [0, 1]).
    """

    case_id: str
    course: Optional[str]
    interval_days: Optional[float]
    recovered_min: Optional[float]
    recovered_max: Optional[float]


@dataclass(frozen=True)
class CoverageRow:
    """A finished case's coverage (``target.v95_pct``, ``target.coverage_min_pct``, ``target.coverage_met``;
    all None when the result has no ``target``: a dry run)."""

    case_id: str
    status: Optional[str]
    level_gy: Optional[float]
    v95_pct: Optional[float]
    coverage_min_pct: Optional[float]
    coverage_met: Optional[bool]


@dataclass(frozen=True)
class ComparisonRow:
    """One case of a policy comparison: the achieved level (``prescription_gy``, Gy) and status under each
    policy, and each policy's level minus the first policy's (Gy; None unless both levels are numbers)."""

    case: str
    levels_gy: Mapping[str, Optional[float]]
    statuses: Mapping[str, Optional[str]]
    differences_gy: Mapping[str, Optional[float]]


@dataclass(frozen=True)
class PolicyComparison:
    """Achieved levels per policy side by side.

    ``policies`` are in order of first appearance; the first is the reference of the differences.
    ``mean_difference_gy[p]`` is the arithmetic mean of ``differences_gy[p]`` over the ``n_compared[p]``
    cases where both levels are numbers (None when there is none).
    """

    policies: Tuple[str, ...]
    rows: Tuple[ComparisonRow, ...]
    mean_difference_gy: Mapping[str, Optional[float]]
    n_compared: Mapping[str, int]


# ---------------------------------------------------------------------------------------------
# reading the cases


def _checked(cases: Sequence[CohortCase]) -> List[CohortCase]:
    """The cases as a list; InputError for anything but CohortCase items with unique ids."""
    if isinstance(cases, (str, bytes, Mapping)):
        raise InputError("cases must be a sequence of CohortCase")
    out = list(cases)
    seen = set()
    for case in out:
        if not isinstance(case, CohortCase):
            raise InputError(f"cases must be CohortCase items (got {type(case).__name__})")
        if case.result is not None and not isinstance(case.result, Mapping):
            raise InputError(f"case {case.case_id!r}: result must be the result mapping or None "
                             f"(got {type(case.result).__name__})")
        if case.case_id in seen:
            raise InputError(f"case id {case.case_id!r} appears twice; each case needs its own id")
        seen.add(case.case_id)
    return out


def case_state(case: CohortCase) -> str:
    """``"failed"`` (no result mapping), ``"stopped"`` (result status ``stopped``) or ``"finished"``."""
    if not case.finished or case.result is None:
        return "failed"
    return "stopped" if case.result.get("status") == "stopped" else "finished"


def _finished(cases: Sequence[CohortCase]) -> List[Tuple[CohortCase, Mapping[str, Any]]]:
    """(case, result) of every finished case (a result and not stopped), in the given order."""
    return [(c, c.result) for c in _checked(cases) if c.result is not None and case_state(c) == "finished"]


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _level(result: Mapping[str, Any]) -> Optional[float]:
    return _number(result.get("prescription_gy"))


def _status_key(status: str) -> Tuple[int, str]:
    return (_STATUS_ORDER.get(status, len(_STATUS_ORDER)), status)


def _level_key(level: Optional[float]) -> Tuple[int, float]:
    """Highest level first, no level last."""
    return (1, 0.0) if level is None else (0, -level)


def _oar_labels(cases: Sequence[CohortCase]) -> Dict[str, str]:
    """OAR key → label, from the results' ``oars[]`` and ``unmatched_oars[]`` (first seen wins)."""
    labels: Dict[str, str] = {}
    for case in cases:
        result = case.result or {}
        for oar in [*(result.get("oars") or []), *(result.get("unmatched_oars") or [])]:
            if isinstance(oar, Mapping) and oar.get("name") is not None:
                labels.setdefault(str(oar["name"]), str(oar.get("label") or oar["name"]))
    return labels


def cohort_counts(cases: Sequence[CohortCase]) -> Dict[str, int]:
    """Number of ``cases`` and of them ``finished``, ``stopped``, ``failed`` (:func:`case_state`) and
    ``reused``."""
    checked = _checked(cases)
    states = Counter(case_state(c) for c in checked)
    return {"cases": len(checked), "finished": states["finished"], "stopped": states["stopped"],
            "failed": states["failed"], "reused": sum(1 for c in checked if c.reused)}


def level_counts(cases: Sequence[CohortCase]) -> Dict[Tuple[Optional[str], Optional[float], str], int]:
    """Cases per (policy, achieved level, status) over the cases with a result (stopped ones included).

    The level is the result's ``prescription_gy`` (Gy): the level the plan is left at, the dose evaluated
    for ``evaluated``, None for ``infeasible``, ``dry-run`` and ``stopped``. Keys are ordered by policy
    (first appearance), level (highest first, None last) and status (the order of
    :data:`reirrad.statuses.STATUS_MEANINGS`).
    """
    counts: Counter[Tuple[Optional[str], Optional[float], str]] = Counter()
    policies: Dict[Optional[str], int] = {}
    for case in _checked(cases):
        if case.result is None or case_state(case) == "failed":
            continue
        policies.setdefault(case.policy, len(policies))
        counts[(case.policy, _level(case.result), str(case.result.get("status")))] += 1
    order = sorted(counts, key=lambda k: (policies[k[0]], _level_key(k[1]), _status_key(k[2])))
    return {key: counts[key] for key in order}


def _names(value: Any) -> List[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def limiting_counts(cases: Sequence[CohortCase]) -> Dict[str, Tuple[int, int]]:
    """OAR key → (cases whose final plan it limits, cases where it failed the level above the chosen one).

    From each finished result's ``limiting_oars`` and ``level_limited_by.failing_oars``; each case counts
    once per OAR and list. Ordered by the sum of both counts (largest first), then key.
    """
    limiting: Counter[str] = Counter()
    failing: Counter[str] = Counter()
    for _, result in _finished(cases):
        limiting.update(set(_names(result.get("limiting_oars"))))
        above = result.get("level_limited_by")
        if isinstance(above, Mapping):
            failing.update(set(_names(above.get("failing_oars"))))
    keys = sorted(set(limiting) | set(failing), key=lambda k: (-(limiting[k] + failing[k]), k))
    return {k: (limiting[k], failing[k]) for k in keys}


def strip_data(cases: Sequence[CohortCase]) -> Dict[str, List[StripPoint]]:
    """OAR key → one :class:`StripPoint` per finished case whose result gives the OAR a cumulative EQD2.

    Read from each result's ``oars[]`` (``cumulative_eqd2_gy``, ``cumulative_eqd2_metric_sum_gy``,
    ``check_limit_eqd2_gy`` or ``cumulative_limit_eqd2_gy``, ``passed``); an OAR record without
    ``cumulative_eqd2_gy`` (a dry run: no plan dose) gives no point. OARs in order of first appearance,
    points in case order. OARs whose points all have no limit are the ones "without a cumulative limit".
    """
    out: Dict[str, List[StripPoint]] = {}
    for case, result in _finished(cases):
        for oar in result.get("oars") or []:
            if not isinstance(oar, Mapping):
                continue
            value = _number(oar.get("cumulative_eqd2_gy"))
            if value is None:
                continue
            passed = oar.get("passed")
            out.setdefault(str(oar.get("name")), []).append(StripPoint(
                case.case_id, case.policy, value, _number(oar.get("cumulative_eqd2_metric_sum_gy")),
                _number(checked_limit(oar)), passed if isinstance(passed, bool) else None))
    return out


def coverage_data(cases: Sequence[CohortCase]) -> List[CoverageRow]:
    """One :class:`CoverageRow` per finished case, from its result's ``target``."""
    rows = []
    for case, result in _finished(cases):
        target = _mapping(result.get("target"))
        met = target.get("coverage_met")
        rows.append(CoverageRow(case.case_id, result.get("status"), _level(result),
                                _number(target.get("v95_pct")), _number(target.get("coverage_min_pct")),
                                met if isinstance(met, bool) else None))
    return rows


def _audit(result: Mapping[str, Any], oar_keys: Sequence[str],
           n_prior: int) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(audit record, None), or (None, why) when :func:`reirrad.audit.audit_record` refuses the result."""
    try:
        return audit_record(result, oar_keys=oar_keys, n_prior_courses=n_prior), None
    except InputError as exc:
        return None, str(exc)


def _prior_count(result: Optional[Mapping[str, Any]]) -> int:
    prov = (result or {}).get("provenance")
    courses = prov.get("prior_courses") if isinstance(prov, Mapping) else None
    return len(courses) if isinstance(courses, (list, tuple)) else 0


def _layout(cases: Sequence[CohortCase]) -> Tuple[List[str], int]:
    """The audit layout every row shares: OAR keys (every result's ``oars`` and ``unmatched_oars``, first
    seen first) and prior-course groups (at least :data:`reirrad.outputs.AUDIT_PRIOR_COURSES`, as the
    per-case audit CSV, or the most any result has)."""
    keys = list(_oar_labels(cases))
    n_prior = max([AUDIT_PRIOR_COURSES, *(_prior_count(c.result) for c in cases)])
    return keys, n_prior


def interval_data(cases: Sequence[CohortCase]) -> List[IntervalPoint]:
    """One :class:`IntervalPoint` per prior course of each finished case (case order, then course order)."""
    finished = _finished(cases)
    keys, n_prior = _layout([c for c, _ in finished])
    points = []
    for case, result in finished:
        record, _ = _audit(result, keys, n_prior)
        if record is None:
            continue
        for n in range(1, int(record.get("prior.count") or 0) + 1):
            course = record.get(f"prior.{n}.course")
            points.append(IntervalPoint(
                case.case_id, None if course is None else str(course),
                _number(record.get(f"prior.{n}.interval_days")),
                _number(record.get(f"prior.{n}.recovered_fraction_min")),
                _number(record.get(f"prior.{n}.recovered_fraction_max"))))
    return points


def _base_id(case: CohortCase) -> str:
    """The manifest id of a compared case: ``case_id`` without its ``@<policy>`` suffix."""
    suffix = f"@{case.policy}"
    if case.policy is not None and case.case_id.endswith(suffix) and len(case.case_id) > len(suffix):
        return case.case_id[:-len(suffix)]
    return case.case_id


def _difference(level: Optional[float], reference: Optional[float]) -> Optional[float]:
    """``level - reference`` (Gy), or None unless both are numbers."""
    return None if level is None or reference is None else level - reference


def policy_comparison(cases: Sequence[CohortCase]) -> Optional[PolicyComparison]:
    """The achieved level of each case under each policy (None when no case has a policy).

    A case is the ``case_id`` without its ``@<policy>`` suffix; its level under a policy is the result's
    ``prescription_gy`` (None when the case failed, stopped or has no level). Differences are each
    policy's level minus the first policy's.

    Raises
    ------
    reirrad.errors.InputError
        Two cases of one policy that are the same case.
    """
    checked = _checked(cases)
    if all(c.policy is None for c in checked):
        return None
    policies: List[str] = []
    table_: Dict[str, Dict[str, CohortCase]] = {}
    for case in checked:
        policy = "(none)" if case.policy is None else case.policy
        if policy not in policies:
            policies.append(policy)
        row = table_.setdefault(_base_id(case), {})
        if policy in row:
            raise InputError(f"cases {row[policy].case_id!r} and {case.case_id!r} are the same case under "
                             f"policy {policy!r}")
        row[policy] = case
    first = policies[0]
    rows = []
    for base, by_policy in table_.items():
        levels = {p: (_level(by_policy[p].result or {}) if p in by_policy else None) for p in policies}
        statuses = {p: (str((by_policy[p].result or {}).get("status", "failed"))
                        if p in by_policy and case_state(by_policy[p]) != "failed"
                        else ("failed" if p in by_policy else None)) for p in policies}
        diffs = {p: _difference(levels[p], levels[first]) for p in policies[1:]}
        rows.append(ComparisonRow(base, levels, statuses, diffs))
    means: Dict[str, Optional[float]] = {}
    counts: Dict[str, int] = {}
    for p in policies[1:]:
        values = [d for d in (r.differences_gy[p] for r in rows) if d is not None]
        counts[p] = len(values)
        means[p] = (sum(values) / len(values)) if values else None
    return PolicyComparison(tuple(policies), tuple(rows), means, counts)


# ---------------------------------------------------------------------------------------------
# the CSV


def cohort_rows(cases: Sequence[CohortCase], *, oar_keys: Optional[Sequence[str]] = None,
                n_prior_courses: Optional[int] = None) -> List[Dict[str, Any]]:
    """One flat row per case: :data:`CASE_COLUMNS`, then the audit record of its result.

    Parameters
    ----------
    cases : sequence of CohortCase
    oar_keys : sequence of str, optional
        OAR keys given audit columns (default: every OAR of every result, ``oars`` then
        ``unmatched_oars``, first seen first); pass the protocol's ``oar_keys`` to get the per-case
        audit CSV's column order.
    n_prior_courses : int, optional
        Prior-course column groups (default: at least :data:`reirrad.outputs.AUDIT_PRIOR_COURSES`).

    Returns
    -------
    list of dict
        Every row has the same columns. The audit columns are
        ``reirrad.audit.audit_record(result, oar_keys=..., n_prior_courses=...)``; they are empty (None)
        for a failed case and for a result the audit does not take (a stopped result has no run, as the
        per-case audit CSV has no row for it). ``error`` is the case's ``error``, else the stop reason of
        a stopped result (``reason``), else why the audit refused the result.
    """
    checked = _checked(cases)
    keys, n_prior = _layout(checked)
    keys = keys if oar_keys is None else [str(k) for k in oar_keys]
    n_prior = n_prior if n_prior_courses is None else int(n_prior_courses)
    records: List[Tuple[CohortCase, Optional[Dict[str, Any]], Optional[str]]] = []
    columns: Optional[List[str]] = None
    for case in checked:
        record, why = (None, None) if case.result is None else _audit(case.result, keys, n_prior)
        if record is not None and columns is None:
            columns = list(record)
        records.append((case, record, why))
    if columns is None:  # no result the audit takes: the columns of an empty result of this layout
        columns = list(_empty_record(keys, n_prior))
    rows = []
    for case, record, why in records:
        error = case.error
        if error is None and case.result is not None and case_state(case) == "stopped":
            error = None if case.result.get("reason") is None else str(case.result.get("reason"))
        if error is None and why is not None and case_state(case) == "finished":
            error = f"no audit record: {why}"
        row: Dict[str, Any] = {"case_id": case.case_id, "policy": case.policy,
                               "finished": bool(case.finished), "case_exit_code": case.exit_code,
                               "reused": bool(case.reused), "error": error}
        row.update({c: (None if record is None else record.get(c)) for c in columns})
        if len(row) != len(CASE_COLUMNS) + len(columns):  # a leading column would hide an audit column
            raise InputError(f"audit columns {sorted(set(CASE_COLUMNS) & set(columns))} collide with the "
                             "cohort's leading columns")
        rows.append(row)
    return rows


def _empty_record(keys: Sequence[str], n_prior: int) -> Dict[str, Any]:
    """The audit columns of the layout, from a minimal result (values unused)."""
    minimal: Dict[str, Any] = {"provenance": {"protocol": {}, "recovery": {}}, "eligibility": {}}
    return audit_record(minimal, oar_keys=keys, n_prior_courses=n_prior)


def write_cohort_csv(path: Union[str, os.PathLike[str]], cases: Sequence[CohortCase], **kw: Any) -> Path:
    """Write :func:`cohort_rows` as CSV (values as in the audit CSV: :func:`reirrad.audit.records_csv_text`),
    atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or path-like
        The CSV file; its directory must exist. An existing file is replaced.
    cases : sequence of CohortCase
    **kw
        ``oar_keys`` and ``n_prior_courses``, passed to :func:`cohort_rows`.

    Returns
    -------
    pathlib.Path
    """
    rows = cohort_rows(cases, **kw)
    if not rows:
        raise InputError("a cohort CSV needs at least one case")
    target = Path(path)
    write_text_atomic(target, records_csv_text(rows))
    return target


# ---------------------------------------------------------------------------------------------
# plots (matplotlib, the 'report' extra, imported lazily)


def strip_figure_px(n_oars: int) -> Tuple[int, int]:
    """Pixel size (width, height) of the strip plot of ``n_oars`` OARs (fixed width; 0.42 in per OAR)."""
    height_in = _STRIP_BASE_IN + _STRIP_ROW_IN * max(n_oars, 1)
    return round(_STRIP_WIDTH_IN * FIGURE_DPI), round(height_in * FIGURE_DPI)


def _offset(index: int) -> float:
    """A fixed vertical offset of the index-th dot of a row, so that equal values stay visible."""
    return ((index % 5) - 2) * 0.07


def draw_strip(points: Mapping[str, Sequence[StripPoint]], labels: Mapping[str, str],
               policies: Sequence[Optional[str]]) -> bytes:
    """PNG of the cumulative EQD2 strip plot (:func:`strip_figure_px`): one row per OAR (first at the top),
    a filled dot per case at its ``value_gy`` (one colour per policy), an open circle at its metric-sum value
    when it differs, a red tick at each cumulative limit."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency
    from matplotlib.lines import Line2D  # noqa: PLC0415

    keys = list(points)
    width_px, height_px = strip_figure_px(len(keys))
    fig = Figure(figsize=(width_px / FIGURE_DPI, height_px / FIGURE_DPI), dpi=FIGURE_DPI)
    bottom = 0.55 / (height_px / FIGURE_DPI)
    top = 1.0 - 0.35 / (height_px / FIGURE_DPI)
    ax = fig.add_axes((0.3, bottom, 0.66, top - bottom))
    colours = {p: _COLOURS[n % len(_COLOURS)] for n, p in enumerate(policies)}
    right = 0.0
    for row, key in enumerate(keys):
        y = len(keys) - 1 - row
        for n, p in enumerate(points[key]):
            dy = _offset(n)
            ax.plot([p.value_gy], [y + dy], marker="o", markersize=4, linestyle="none",
                    color=colours.get(p.policy, _COLOURS[0]))
            if p.metric_sum_gy is not None and abs(p.metric_sum_gy - p.value_gy) > 1e-9:
                ax.plot([p.metric_sum_gy], [y + dy], marker="o", markersize=6, linestyle="none",
                        markerfacecolor="none", color="#555555")
            right = max(right, p.value_gy, p.metric_sum_gy or 0.0)
        for limit in sorted({p.limit_gy for p in points[key] if p.limit_gy is not None}):
            ax.plot([limit, limit], [y - 0.4, y + 0.4], color="#d62728", linewidth=1.5)
            right = max(right, limit)
    ax.set_yticks(list(range(len(keys))))
    ax.set_yticklabels([mpl_text(labels.get(k, k)) for k in reversed(keys)], fontsize=7)
    ax.set_ylim(-0.6, len(keys) - 0.4)
    ax.set_xlim(0.0, max(right, 1.0) * 1.08)
    ax.set_xlabel("cumulative EQD2 (Gy, at each OAR's α/β)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="x", linewidth=0.4, color="#dddddd")
    handles = [Line2D([], [], color="#d62728", linewidth=1.5, label="limit checked"),
               Line2D([], [], marker="o", markerfacecolor="none", color="#555555", linestyle="none",
                      label="metric sum (when it differs)")]
    if len(policies) > 1 or policies[:1] != [None]:
        handles.extend(Line2D([], [], marker="o", color=colours[p], linestyle="none",
                              label=mpl_text(p if p is not None else "(no policy)")) for p in policies)
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(handles), 4),
              fontsize=6, frameon=False)
    return png_bytes(fig)


def draw_intervals(points: Sequence[IntervalPoint]) -> bytes:
    """PNG of the recovery credited against the interval (:data:`INTERVAL_FIGURE_PX`): a dot per prior course
    at (interval in months, smallest recovery in %), a vertical line up to the largest when they differ."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency

    fig = Figure(figsize=_INTERVAL_FIGSIZE_IN, dpi=FIGURE_DPI)
    ax = fig.add_axes((0.1, 0.16, 0.86, 0.74))
    right = 1.0
    for p in points:
        if p.interval_days is None or p.recovered_min is None:
            continue
        x = p.interval_days / _DAYS_PER_MONTH
        right = max(right, x)
        if p.recovered_max is not None and p.recovered_max != p.recovered_min:
            ax.plot([x, x], [100.0 * p.recovered_min, 100.0 * p.recovered_max], color="#1f77b4",
                    linewidth=1.0)
        ax.plot([x], [100.0 * p.recovered_min], marker="o", markersize=4, linestyle="none", color="#1f77b4")
    ax.set_xlim(0.0, right * 1.08)
    ax.set_ylim(-3.0, 103.0)
    ax.set_xlabel("interval from the end of the prior course (months)", fontsize=8)
    ax.set_ylabel("recovery credited (%)", fontsize=8)
    ax.set_title("Recovery credited to each prior course against its interval", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, linewidth=0.4, color="#dddddd")
    return png_bytes(fig)


# ---------------------------------------------------------------------------------------------
# the page


def _status_text(case: CohortCase) -> str:
    return "failed (no result)" if case.result is None or case_state(case) == "failed" \
        else str(case.result.get("status"))


def _reason(case: CohortCase) -> Optional[str]:
    if case.error is not None:
        return case.error
    if case.result is not None and case_state(case) == "stopped" and case.result.get("reason") is not None:
        return str(case.result.get("reason"))
    return None


def _summary_section(cases: Sequence[CohortCase], title: str) -> str:
    counts = cohort_counts(cases)
    pairs = [("Cases", f'<span id="n-cases">{counts["cases"]}</span>'),
             ("Finished (a result, not stopped)", f'<span id="n-finished">{counts["finished"]}</span>'),
             ("Stopped (status stopped)", f'<span id="n-stopped">{counts["stopped"]}</span>'),
             ("Failed (no result)", f'<span id="n-failed">{counts["failed"]}</span>'),
             ("Reused from an earlier run (inputs unchanged)",
              f'<span id="n-reused">{counts["reused"]}</span>')]
    return (f"<header><h1>{escape(title)}</h1>"
            '<p class="safety"><strong>Decision support only.</strong> A cohort summary of planning runs: '
            "each case's own report and result are the record of that case; every figure here is read from "
            "them.</p>" + kv_table(pairs, {"id": "summary"}) + "</header>")


def _cases_section(cases: Sequence[CohortCase]) -> str:
    rows: List[Row] = []
    for case in cases:
        result = case.result or {}
        target = _mapping(result.get("target"))
        state = case_state(case)
        rows.append(([txt(case.case_id), txt(case.policy or ""), txt(_status_text(case)), num(case.exit_code),
                      num(result.get("prescription_gy")), txt(", ".join(_names(result.get("limiting_oars")))),
                      txt(_plain(target.get("coverage_met"))), txt("yes" if case.reused else "no"),
                      num(case.seconds, 1), txt(_reason(case) or "")],
                     {"data-case": case.case_id, "class": state}))
    return ('<section id="cases"><h2>Cases</h2>'
            + table(["Case", "Policy", "Status", "Exit code", "Level (Gy)", "Limiting OARs", "Coverage met",
                     "Reused", "Time (s)", "Error / stop reason"], rows, {"id": "cases-table"})
            + "</section>")


def _plain(value: object) -> str:
    """Text of a table value (:func:`reirrad.report.text.plain_value`, "—" for None; not escaped)."""
    return plain_value(value, missing="—")


def _levels_section(cases: Sequence[CohortCase]) -> str:
    counts = level_counts(cases)
    statuses = sorted({k[2] for k in counts}, key=_status_key)
    with_policy = any(k[0] is not None for k in counts)
    rows_by: Dict[Tuple[Optional[str], Optional[float]], Dict[str, int]] = {}
    for (policy, level, status), n in counts.items():
        rows_by.setdefault((policy, level), {})[status] = n
    rows: List[Row] = []
    for (policy, level), by_status in rows_by.items():
        cells = ([txt(policy or "")] if with_policy else []) + [
            Cell(short(level) if level is not None else "none", numeric=True)]
        cells += [num(by_status.get(s, 0)) for s in statuses] + [num(sum(by_status.values()))]
        rows.append((cells, {"data-level": "none" if level is None else f"{level:g}",
                             **({"data-policy": policy} if policy is not None else {})}))
    headers = (["Policy"] if with_policy else []) + ["Level (Gy)"] + statuses + ["Total"]
    out = ['<section id="levels"><h2>Achieved prescription levels</h2>',
           '<p class="note">Cases with a result per level (the result\'s <code>prescription_gy</code>: '
           "the level the plan is left at, the dose evaluated for <em>evaluated</em>; none for infeasible, "
           "dry-run and stopped) and status.</p>"]
    out.append(table(headers, rows, {"id": "levels-table"}) if rows
               else '<p class="note" id="levels-table">No case has a result.</p>')
    out.append("</section>")
    return "".join(out)


def _limiting_section(cases: Sequence[CohortCase], labels: Mapping[str, str]) -> str:
    counts = limiting_counts(cases)
    out = ['<section id="limiting"><h2>Limiting OARs</h2>',
           '<p class="note">Per OAR: the finished cases whose final plan it limits '
           "(<code>limiting_oars</code>: failing, or loaded to the protocol's fraction of its limit) and "
           "those where it broke its limit at the level above the chosen one "
           "(<code>level_limited_by.failing_oars</code>).</p>"]
    rows: List[Row] = [([txt(labels.get(k, k)), Cell(f"<code>{escape(k)}</code>"), num(a), num(b)],
                        {"data-oar": k}) for k, (a, b) in counts.items()]
    out.append(table(["OAR", "Key", "Limits the final plan (cases)", "Failed the level above (cases)"], rows,
                     {"id": "limiting-table"}) if rows
               else '<p class="note" id="limiting-table">No OAR limits a finished case.</p>')
    out.append("</section>")
    return "".join(out)


def _limits_text(points: Sequence[StripPoint]) -> str:
    limits = sorted({p.limit_gy for p in points if p.limit_gy is not None})
    return ", ".join(f"{v:g}" for v in limits) or "—"


def _cumulative_section(cases: Sequence[CohortCase], labels: Mapping[str, str], draw: bool,
                        reason: str) -> str:
    data = strip_data(cases)
    limited = {k: v for k, v in data.items() if any(p.limit_gy is not None for p in v)}
    unlimited = {k: v for k, v in data.items() if k not in limited}
    out = ['<section id="cumulative"><h2>Cumulative EQD2 per OAR against its limit</h2>',
           '<p class="note">Each finished case\'s <code>oars[].cumulative_eqd2_gy</code> (EQD2 at the OAR\'s '
           "α/β, at the protocol's metric, by the protocol's deciding method) against the limit it was "
           "checked against: <code>check_limit_eqd2_gy</code> (the cumulative limit, or with the Jones &amp; "
           "Grant model the single-course tolerance where it is lower), else "
           "<code>cumulative_limit_eqd2_gy</code>; the metric-sum value is "
           "<code>cumulative_eqd2_metric_sum_gy</code>. Above the limit: the value exceeds the limit.</p>"]
    if not limited:
        out.append('<p class="note" id="strip-note">No finished case has an OAR with a cumulative limit.</p>')
    elif draw:
        policies = list(dict.fromkeys(c.policy for c in cases if c.result is not None))
        out.append("<figure>" + img(draw_strip(limited, labels, policies), "Cumulative EQD2 per OAR",
                                    {"data-plot": "strip"}, strip_figure_px(len(limited)))
                   + "<figcaption>One row per OAR with a cumulative limit: a dot per case at its "
                     "cumulative EQD2 (colour: policy), an open circle at the metric-sum value where it "
                     "differs, a red line at the limit checked.</figcaption></figure>")
    else:
        out.append(f'<p class="note" id="plots-note">{escape(reason)}</p>')
    summary: List[Row] = []
    for key, points in limited.items():
        values = [p.value_gy for p in points]
        above = sum(1 for p in points if p.limit_gy is not None and p.value_gy > p.limit_gy)
        summary.append(([txt(labels.get(key, key)), Cell(escape(_limits_text(points)), numeric=True),
                         num(len(points)), num(min(values)), num(statistics.median(values)), num(max(values)),
                         Cell(str(above), numeric=True, css="above" if above else "")], {"data-oar": key}))
    if summary:
        out.append(table(["OAR", "Limit checked (Gy)", "Cases", "Minimum (Gy)", "Median (Gy)",
                          "Maximum (Gy)", "Above the limit (cases)"], summary, {"id": "cumulative-summary"}))
        detail: List[Row] = []
        for key, points in limited.items():
            for p in points:
                over = p.limit_gy is not None and p.value_gy > p.limit_gy
                detail.append(([txt(labels.get(key, key)), txt(p.case_id), Cell(fmt(p.value_gy), True,
                                                                                  "above" if over else ""),
                                num(p.metric_sum_gy), num(p.limit_gy), txt(_plain(p.passed))],
                               {"data-oar": key, "data-case": p.case_id}))
        out.append("<details><summary>Every case's value</summary>"
                   + table(["OAR", "Case", "Cumulative EQD2 (Gy)", "Metric sum (Gy)", "Limit (Gy)", "Passed"],
                           detail, {"id": "cumulative-table"}) + "</details>")
    if unlimited:
        rows: List[Row] = [([txt(labels.get(k, k)), num(len(v)), num(max(p.value_gy for p in v))],
                            {"data-oar": k}) for k, v in unlimited.items()]
        out.append("<h3>OARs without a cumulative limit</h3>"
                   '<p class="note">Their cumulative EQD2 is not assessable against a limit (each such '
                   "result carries a flag finding where a prior dose was given).</p>"
                   + table(["OAR", "Cases", "Maximum cumulative EQD2 (Gy)"], rows, {"id": "no-limit-table"}))
    out.append("</section>")
    return "".join(out)


def _coverage_section(cases: Sequence[CohortCase]) -> str:
    rows_ = coverage_data(cases)
    met = sum(1 for r in rows_ if r.coverage_met is True)
    not_met = sum(1 for r in rows_ if r.coverage_met is False)
    out = ['<section id="coverage"><h2>Target coverage</h2>',
           f'<p id="coverage-counts">Coverage rule met in {met} finished case(s), not met in {not_met}, '
           f"no target figures in {len(rows_) - met - not_met}.</p>"]
    rows: List[Row] = [([txt(r.case_id), txt(r.status), num(r.level_gy), num(r.v95_pct, 1),
                         num(r.coverage_min_pct, 1), txt(_plain(r.coverage_met))], {"data-case": r.case_id})
                       for r in rows_]
    out.append(table(["Case", "Status", "Level (Gy)", "PTV V95 (%)", "Minimum V95 (%)", "Coverage met"], rows,
                     {"id": "coverage-table"}))
    out.append("</section>")
    return "".join(out)


def _pct(fraction: Optional[float]) -> str:
    return "—" if fraction is None else f"{100.0 * fraction:.0f}"


def _intervals_section(cases: Sequence[CohortCase], draw: bool) -> str:
    points = interval_data(cases)
    out = ['<section id="intervals"><h2>Intervals and recovery credited</h2>',
           '<p class="note">One row per prior course of each finished case: its interval to the new course '
           "(<code>provenance.prior_courses[].interval_days</code>) and the recovery credited to it, "
           "smallest and largest over the OARs with a cumulative limit "
           "(<code>oars[].courses[].recovered_fraction</code>; the audit's "
           "<code>prior.&lt;n&gt;.recovered_fraction_min/max</code>).</p>"]
    if not points:
        out.append('<p class="note" id="intervals-table">No prior course in the finished cases.</p>'
                   "</section>")
        return "".join(out)
    days = [p.interval_days for p in points if p.interval_days is not None]
    if days:
        out.append(f'<p id="interval-range">Intervals: {len(days)} prior course(s), '
                   f"{min(days) / _DAYS_PER_MONTH:.1f} to {max(days) / _DAYS_PER_MONTH:.1f} months "
                   f"(median {statistics.median(days) / _DAYS_PER_MONTH:.1f}).</p>")
    if draw:
        out.append("<figure>" + img(draw_intervals(points), "Recovery credited against the interval",
                                    {"data-plot": "intervals"}, INTERVAL_FIGURE_PX)
                   + "<figcaption>A dot per prior course at its interval and smallest recovery credited; a "
                     "line up to the largest where OARs differ.</figcaption></figure>")
    rows: List[Row] = [([txt(p.case_id), txt(p.course), num(p.interval_days, 0),
                         num(None if p.interval_days is None else p.interval_days / _DAYS_PER_MONTH, 1),
                         Cell(_pct(p.recovered_min), True), Cell(_pct(p.recovered_max), True)],
                        {"data-case": p.case_id}) for p in points]
    out.append(table(["Case", "Prior course", "Interval (days)", "Interval (months)",
                      "Recovery credited, min (%)", "Recovery credited, max (%)"], rows,
                     {"id": "intervals-table"}))
    out.append("</section>")
    return "".join(out)


def _stopped_section(cases: Sequence[CohortCase]) -> str:
    stopped = [c for c in cases if case_state(c) == "stopped"]
    failed = [c for c in cases if case_state(c) == "failed"]
    out = ['<section id="stops"><h2>Stopped and failed cases</h2>']
    if stopped:
        rows: List[Row] = []
        for case in stopped:
            result = case.result or {}
            stops = [f for f in result_findings(result) if f.get("severity") == "stop"]
            found = "<br>".join(f"<strong>{escape(f.get('code'))}</strong>"
                                + (f" ({escape(f.get('subject'))})" if f.get("subject") else "")
                                + f": {escape(f.get('message'))}" for f in stops) or "—"
            rows.append(([txt(case.case_id), txt(result.get("patient_id")), txt(_reason(case)), Cell(found)],
                         {"data-case": case.case_id}))
        out.append("<h3>Stopped</h3>" + table(["Case", "Patient", "Reason", "Stop findings"], rows,
                                              {"id": "stopped-table"}))
    else:
        out.append('<p class="note" id="stopped-table">No case stopped.</p>')
    if failed:
        rows = [([txt(c.case_id), txt(c.policy or ""), num(c.exit_code), txt(c.error)],
                 {"data-case": c.case_id}) for c in failed]
        out.append("<h3>Failed</h3>" + table(["Case", "Policy", "Exit code", "Error"], rows,
                                             {"id": "failed-table"}))
    else:
        out.append('<p class="note" id="failed-table">No case failed.</p>')
    out.append("</section>")
    return "".join(out)


def _level_cell(level: Optional[float], status: Optional[str]) -> Cell:
    if level is not None:
        return Cell(short(level), numeric=True)
    return Cell(f'<span class="note">{escape(status or "not run")}</span>')


def _comparison_section(cases: Sequence[CohortCase]) -> str:
    comparison = policy_comparison(cases)
    if comparison is None:
        return ""
    first, others = comparison.policies[0], comparison.policies[1:]
    headers = ["Case"] + [f"Level (Gy), {p}" for p in comparison.policies] + [
        f"Difference (Gy), {p} − {first}" for p in others]
    rows: List[Row] = []
    for r in comparison.rows:
        cells = [txt(r.case)] + [_level_cell(r.levels_gy[p], r.statuses[p]) for p in comparison.policies]
        cells += [Cell(fmt(r.differences_gy[p]), numeric=True) for p in others]
        rows.append((cells, {"data-case": r.case}))
    means = "".join(f'<li data-policy="{escape(p)}">{escape(p)} − {escape(first)}: '
                    f"<strong>{fmt(comparison.mean_difference_gy[p])} Gy</strong> over "
                    f"{comparison.n_compared[p]} case(s) with a level under both</li>" for p in others)
    return ('<section id="comparison"><h2>Policy comparison</h2>'
            '<p class="note">The achieved level (<code>prescription_gy</code>) of each case under each '
            "policy; the status where there is no level. Differences are against the first policy.</p>"
            + table(headers, rows, {"id": "comparison-table"})
            + f'<p>Cohort mean difference:</p><ul id="mean-difference">{means}</ul></section>')


def _provenance_section(cases: Sequence[CohortCase], generated_at: datetime, mpl: Optional[str]) -> str:
    protocols: Dict[Tuple[str, str, str], int] = {}
    versions: Dict[str, int] = {}
    for _, result in _finished(cases):
        prov = _mapping(result.get("provenance"))
        proto = _mapping(prov.get("protocol"))
        key = (str(proto.get("name", "—")), str(proto.get("version", "—")), str(proto.get("sha256", "—")))
        protocols[key] = protocols.get(key, 0) + 1
        version = str(prov.get("software_version", "—"))
        versions[version] = versions.get(version, 0) + 1
    pairs = [("Generated at", f'<span id="generated-at">{escape(generated_at.isoformat())}</span>'),
             ("reirrad (this report)", escape(__version__)),
             ("reirrad (the runs)", escape(", ".join(f"{v} ({n})" for v, n in versions.items())) or "—"),
             ("matplotlib", escape(mpl) if mpl else "not used")]
    rows: List[Row] = [([txt(name), txt(version), Cell(f"<code>{escape(sha)}</code>"), num(n)], {})
                       for (name, version, sha), n in protocols.items()]
    return ('<section id="provenance"><h2>Provenance</h2>' + kv_table(pairs, {"id": "provenance-table"})
            + table(["Protocol", "Version", "sha256", "Finished cases"], rows, {"id": "protocols-table"})
            + "</section>")


def render_cohort_report(cases: Sequence[CohortCase], *, title: str = "reirrad cohort report",
                         generated_at: Optional[datetime] = None, plots: Optional[bool] = None) -> str:
    """The HTML cohort report, as one self-contained document.

    Sections: the counts (cases, finished, stopped, failed, reused), every case, the achieved prescription
    levels, the limiting OARs, the cumulative EQD2 per OAR against its limit (strip plot and tables), target
    coverage, intervals and recovery credited, the stopped and failed cases, the policy comparison (when
    the cases have policies) and the provenance (``docs/batch.md`` says where each number comes from).

    Parameters
    ----------
    cases : sequence of CohortCase
    title : str
        The page's heading and title.
    generated_at : datetime, optional
        Time stamp of the provenance block (default: now, UTC); nothing else depends on the time.
    plots : bool, optional
        None (default): draw the plots when matplotlib imports, else show a note naming the ``report``
        extra. True: draw them (InputError without matplotlib). False: no plots.

    Returns
    -------
    str

    Raises
    ------
    reirrad.errors.InputError
        Cases that are not CohortCase items with unique ids, or ``plots=True`` without matplotlib.
    """
    checked = _checked(cases)
    when = generated_at if generated_at is not None else datetime.now(timezone.utc)
    mpl, reason = plot_choice(plots)
    draw = mpl is not None
    labels = _oar_labels(checked)
    body = [
        _summary_section(checked, title),
        _cases_section(checked),
        _levels_section(checked),
        _limiting_section(checked, labels),
        _cumulative_section(checked, labels, draw, reason),
        _coverage_section(checked),
        _intervals_section(checked, draw),
        _stopped_section(checked),
        _comparison_section(checked),
        _provenance_section(checked, when, mpl if draw else None),
    ]
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}{_EXTRA_CSS}</style></head><body>\n" + "\n".join(b for b in body if b)
            + "\n</body></html>\n")


def write_cohort_report(path: Union[str, os.PathLike[str]], cases: Sequence[CohortCase], **kw: Any) -> Path:
    """Render the cohort report and write it to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or path-like
        Output file (``.html``); its directory must exist. An existing file is replaced only once the new
        one is completely written.
    cases : sequence of CohortCase
    **kw
        ``title``, ``generated_at`` and ``plots``, passed to :func:`render_cohort_report`.

    Returns
    -------
    pathlib.Path
    """
    target = Path(path)
    write_text_atomic(target, render_cohort_report(cases, **kw))
    return target
