"""Audit export of a workflow run: one flat record per run, as CSV rows or JSON.

:func:`audit_record` turns a result mapping (:func:`reirrad.result.build_result`) into one flat,
JSON-serialisable record: scalar values only (text, number, true/false or empty), keys in a
stable order, per-OAR columns ``oar.<key>.<field>``, prior courses ``prior.<n>.<field>`` (n from 1).
:func:`append_audit_csv` appends it to a CSV file (one row per run; text that starts like a
spreadsheet formula gets a leading ``'``, :data:`FORMULA_STARTS`) and refuses a record whose
columns differ from the file's header; :func:`records_csv_text` is the CSV text of many records sharing
one header (the cohort table of :mod:`reirrad.cohort`); :func:`write_audit_json` writes records as JSON.

Reporting items covered
-----------------------
The ESTRO-EORTC re-irradiation consensus (Andratschke et al., Lancet Oncol 2022) lists what a
re-irradiation report should state. The item list used here is **reconstructed [M]** in
``docs/reference/radiobiology.md`` §4 (from memory of the literature, to be checked against the
consensus tables); numbers below are that list's. Covered, as far as the TPS data hold them:

* item 4, each prior course: its label, modality (``external`` or ``brachytherapy``), date of last
  fraction, prescription (total dose, Gy), number of fractions and dose per fraction
  (``prior.<n>.*``); DICOM dose data were available
  (the run needs them);
* item 5, interval from the end of each prior course to the new course (days and months);
* item 6, the re-irradiation course: prescription, fractions, dose per fraction, planned start
  (``new_course.*``), the planning intent (limit-toxicity / isotoxic) and search;
* item 7, cumulative-dose methodology (``method.*``): registration kind per course
  (``prior.<n>.registration``: ``same-frame``, ``rigid`` or ``deformable``) and overall,
  summation level (DVH metric and voxel), LQ model, dose reference (EQD2, 2 Gy per fraction),
  α/β per structure (``oar.<key>.alpha_beta_gy``), recovery model, its
  source and status, the conservation factor with the risk factors recorded for it
  (``method.recovery_risk_factors``: keys of :data:`reirrad.review.RISK_FACTORS`, ``;``-separated;
  an absent key means "not recorded", not "absent"), and the recovery credited per course
  (``prior.<n>.recovered_fraction_min`` / ``_max`` over the OARs with a cumulative limit; they
  differ only for dose-dependent models) and per OAR (``oar.<key>.recovered_fraction``;
  ``oar.<key>.recovery_credited`` false when the protocol's cumulative limit already includes
  recovery);
* item 8, cumulative OAR doses: EQD2 at each OAR's protocol metric (e.g. D0.5cc) by both methods
  and the deciding method's (``method.reported_cumulative``), the limit, the remaining budget, what
  limits the allowed dose (``limited_by``:
  ``cumulative``, ``de-novo`` or ``per-course``) and the verdict (``passed`` empty when it is not
  assessable: prior dose but no cumulative limit, with a flag finding); target doses (D95, D98,
  V95 %, BED at D95/D98, V(BED ≥ threshold));
* eligibility: whether the protocol's rules were met and the override reason; ``findings`` lists
  every finding of the run (eligibility, matching, per OAR, stops let through by the override) as
  ``severity:code[:subject]``, separated by ``;``; ``eligibility.overridden_stop_codes`` the stop
  findings the override let through and ``flag_warning_codes`` every ``flag`` finding, both as
  ``code[:subject]``, ``;``-separated;
* the decision: ``status``, ``exit_code`` (:func:`reirrad.statuses.exit_code_for`) and the final
  check on the dose re-read from the TPS after the last optimisation and the normalisation
  (``final_check.*``: re-read, normalisation value, every OAR limit met, coverage met, failing OARs);
  empty for a run with no final check (dry run, offline evaluation);
* tumour dose: D95 and D80 as EQD2 at the tumour α/β values 5 and 10 Gy
  (``target.tumour_d95_eqd2_ab5_gy`` …, :data:`TUMOUR_ALPHA_BETAS_GY`; fixed, so that the header does
  not depend on the run; empty when the result has no figure at that α/β — figures at other α/β
  values are in the result JSON only).

A national re-irradiation audit additionally collects dates, doses, fractionation, intent,
cumulative OAR doses and the recovery assumptions: all of these are in the record, with
"intent" meaning the planning intent above.

Not covered (not in the TPS data): item 1 the ESTRO-EORTC classification (type 1 / type 2 /
repeat organ / repeat irradiation) and the clinical intent (curative / palliative); item 2
patient characteristics (age, performance status, comorbidities, persisting toxicity, prior
surgery and systemic therapy) beyond the risk factors ticked for the conservation factor;
item 3 tumour characteristics (histology, stages, in-field or marginal recurrence, response);
the start dates, techniques and target volumes of prior courses, concurrent systemic therapy,
and for the new course its technique, margins and image guidance; item 9 follow-up (toxicity
scale, acute and late toxicity, local control, survival, quality of life). These belong to the
clinical record, not to a planning run.

Dates are ISO 8601 text. ``new_course.planned_start`` is the result's ``planned_start`` when it
has one, else derived as last fraction + interval of the first prior course that has both.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import InputError
from .files import exclusive_lock, write_text_atomic
from .statuses import exit_code_for

__all__ = [
    "AUDIT_SCHEMA",
    "FINAL_CHECK_FIELDS",
    "METHOD_FIELDS",
    "OAR_FIELDS",
    "PRIOR_FIELDS",
    "RUN_FIELDS",
    "TARGET_FIELDS",
    "TUMOUR_ALPHA_BETAS_GY",
    "TUMOUR_FIELDS",
    "append_audit_csv",
    "audit_csv_text",
    "audit_record",
    "finding_codes",
    "flag_findings",
    "overridden_stops",
    "records_csv_text",
    "result_findings",
    "stop_findings",
    "tumour_dose_at",
    "write_audit_json",
]

#: Identifier and version of the record layout (changes whenever a column is added or renamed).
AUDIT_SCHEMA = "reirrad-audit/4"  # 4: oar.<key>.check_limit_eqd2_gy (2026-12-07)

#: Leading columns, one per run.
RUN_FIELDS = (
    "schema", "patient_id", "plan_id", "tps", "tps_version", "software_version",
    "protocol.name", "protocol.version", "protocol.sha256", "status", "exit_code", "planning_intent",
    "search", "eligibility.eligible", "eligibility.may_proceed", "eligibility.override_reason",
    "eligibility.overridden_stop_codes", "findings", "flag_warning_codes",
    "new_course.planned_start", "new_course.prescription_gy", "new_course.n_fractions",
    "new_course.dose_per_fraction_gy", "new_course.optimisations", "new_course.limiting_oars",
    "prior.count",
)
#: Columns of each prior course, as ``prior.<n>.<field>``.
PRIOR_FIELDS = (
    "course", "modality", "last_fraction", "interval_days", "interval_months", "prescription_gy",
    "n_fractions", "dose_per_fraction_gy", "registration", "registration_id", "recovered_fraction_min",
    "recovered_fraction_max",
)
#: Cumulative-dose methodology columns, as ``method.<field>``.
METHOD_FIELDS = (
    "registration", "summation_level", "lq_model", "dose_reference", "overlap_assumption",
    "reported_cumulative", "recovery_model", "recovery_source", "recovery_status",
    "recovery_conservation_factor", "recovery_risk_factors",
)
#: Columns of each OAR, as ``oar.<key>.<field>``; each is the result's OAR record field of that name.
OAR_FIELDS = (
    "structure", "metric", "alpha_beta_gy", "cumulative_limit_eqd2_gy", "prior_eqd2_gy",
    "recovered_fraction", "effective_prior_eqd2_gy", "remaining_eqd2_gy", "exhausted",
    "allowed_physical_gy", "limited_by", "planned_physical_gy", "cumulative_eqd2_metric_sum_gy",
    "cumulative_eqd2_voxelwise_gy", "cumulative_eqd2_gy", "passed", "recovery_credited",
    "per_course_limit_physical_gy", "check_limit_eqd2_gy",
)
#: Final-check columns, as ``final_check.<field>``: column field → the result's ``final_check`` key.
FINAL_CHECK_FIELDS = (
    ("rechecked", "dose_rechecked_after_normalisation"),
    ("normalisation_value", "normalisation_value"),
    ("oar_limits_met", "oar_limits_met"),
    ("coverage_met", "coverage_met"),
    ("failing_oars", "failing_oars"),
)
#: Target columns, as ``target.<field>``; each is the result's target field of that name.
TARGET_FIELDS = (
    "structure", "prescription_gy", "d95_gy", "d98_gy", "v95_pct", "d95_bed10_gy", "d98_bed10_gy",
    "bed_threshold_gy", "v_bed_threshold_pct", "coverage_min_pct", "coverage_met",
)
#: Tumour α/β values (Gy) given audit columns, fixed so that every run of a protocol has one header.
TUMOUR_ALPHA_BETAS_GY = (5.0, 10.0)
#: Tumour-dose figures given audit columns at each α/β of :data:`TUMOUR_ALPHA_BETAS_GY`, as
#: ``target.tumour_<field>_ab<α/β>_gy`` (e.g. ``target.tumour_d95_eqd2_ab5_gy``); each is the field
#: ``<field>_gy`` of the result's ``target.tumour_dose`` entry at that α/β.
TUMOUR_FIELDS = ("d95_eqd2", "d80_eqd2")

_DAYS_PER_MONTH = 30.4375
Scalar = Union[str, int, float, bool, None]


def _scalar(name: str, value: Any) -> Scalar:
    """A plain JSON scalar (numpy scalars converted); InputError for anything else."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            raise InputError(f"audit column {name!r} is {number!r}; the record takes finite numbers only")
        return number
    raise InputError(f"audit column {name!r} must be text, a number, true/false or empty "
                     f"(got {type(value).__name__})")


def _get(mapping: Optional[Mapping[str, Any]], key: str) -> Any:
    return None if mapping is None else mapping.get(key)


def _section(result: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = result.get(key)
    if not isinstance(value, Mapping):
        raise InputError(f"result[{key!r}] must be a mapping (got {type(value).__name__}); give the "
                         "mapping of reirrad.result.build_result")
    return value


def _per_fraction(dose_gy: Any, n_fractions: Any) -> Optional[float]:
    if dose_gy is None or not n_fractions:
        return None
    return float(dose_gy) / int(n_fractions)


def _planned_start(result: Mapping[str, Any], courses: Sequence[Mapping[str, Any]]) -> Optional[str]:
    given = result.get("planned_start")
    if given is not None:
        return str(given)
    for c in courses:
        last, days = c.get("last_fraction"), c.get("interval_days")
        if last is not None and days is not None:
            return (date.fromisoformat(str(last)) + timedelta(days=int(days))).isoformat()
    return None


def _course_recovery(oars: Sequence[Mapping[str, Any]], index: int) -> List[float]:
    """Recovery credited to prior course ``index`` by every OAR with a cumulative limit."""
    found = []
    for oar in oars:
        courses = oar.get("courses") or []
        if oar.get("cumulative_limit_eqd2_gy") is None or index >= len(courses):
            continue
        fraction = courses[index].get("recovered_fraction")
        if fraction is not None:
            found.append(float(fraction))
    return found


# ---------------------------------------------------------------------------------------------
# findings of a result (shared by the views: console summary, HTML report, audit row)


def _finding_list(value: Any) -> List[Mapping[str, Any]]:
    """The finding mappings of ``value`` (a list of them, or None for none)."""
    return [f for f in value or [] if isinstance(f, Mapping)]


def overridden_stops(result: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    """The ``stop`` findings the recorded override let through (``eligibility.overridden``)."""
    return _finding_list((result.get("eligibility") or {}).get("overridden"))


def stop_findings(result: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    """The ``stop`` findings that stopped a run (``stop_findings`` of a stopped result; absent in
    results written before it existed: empty)."""
    return _finding_list(result.get("stop_findings"))


def result_findings(result: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    """Every finding of a result, deduplicated, in the order: eligibility findings, stops let through
    by the override, ``warnings``, stop findings of a stopped run, per-OAR findings, and the findings of
    the files read by a launcher (``dicom_findings`` of ``reirrad evaluate``: skipped contours,
    non-conformant files, the prescription's source).

    Two findings are the same when severity, code, subject and message all agree.
    """
    sources = [_finding_list((result.get("eligibility") or {}).get("findings")), overridden_stops(result),
               _finding_list(result.get("warnings")), stop_findings(result)]
    sources.extend(_finding_list(o.get("findings")) for o in result.get("oars") or [])
    sources.append(_finding_list(result.get("dicom_findings")))
    found: Dict[Any, Mapping[str, Any]] = {}
    for source in sources:
        for f in source:
            found.setdefault((f.get("severity"), f.get("code"), f.get("subject"), f.get("message")), f)
    return list(found.values())


def flag_findings(result: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    """Every finding of severity ``flag`` (they must be shown prominently), deduplicated."""
    return [f for f in result_findings(result) if f.get("severity") == "flag"]


def finding_codes(findings: Sequence[Mapping[str, Any]], *, severity: bool = False) -> str:
    """``code[:subject]`` of each finding (``severity:`` first when asked), deduplicated, ``;``-separated."""
    texts = ((f"{f.get('severity')}:" if severity else "") + str(f.get("code"))
             + (f":{f.get('subject')}" if f.get("subject") else "") for f in findings)
    return ";".join(dict.fromkeys(texts))


def tumour_dose_at(result: Mapping[str, Any], alpha_beta_gy: float) -> Optional[Mapping[str, Any]]:
    """The ``target.tumour_dose`` entry at ``alpha_beta_gy`` (to 1e-9 Gy), or None."""
    for entry in _get(result.get("target"), "tumour_dose") or []:
        ab = entry.get("alpha_beta_gy")
        if ab is not None and math.isclose(float(ab), alpha_beta_gy, rel_tol=0.0, abs_tol=1e-9):
            return dict(entry)
    return None


# ---------------------------------------------------------------------------------------------
# columns


def _alpha_beta_label(alpha_beta_gy: float) -> str:
    """``5`` for 5.0, ``2p5`` for 2.5 (a column-name-safe α/β)."""
    return f"{alpha_beta_gy:g}".replace(".", "p")


def _final_check_columns(result: Mapping[str, Any]) -> Dict[str, Any]:
    check = result.get("final_check")
    out: Dict[str, Any] = {}
    for column, key in FINAL_CHECK_FIELDS:
        value = _get(check, key)
        if isinstance(value, (list, tuple)):
            value = ";".join(str(v) for v in value)
        out[f"final_check.{column}"] = value
    return out


def _tumour_columns(result: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for ab in TUMOUR_ALPHA_BETAS_GY:
        entry = tumour_dose_at(result, ab)
        for field in TUMOUR_FIELDS:
            out[f"target.tumour_{field}_ab{_alpha_beta_label(ab)}_gy"] = _get(entry, f"{field}_gy")
    return out


def _prior_columns(courses: Sequence[Mapping[str, Any]], oars: Sequence[Mapping[str, Any]],
                   n_courses: int) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for n in range(n_courses):
        course = courses[n] if n < len(courses) else None
        days = _get(course, "interval_days")
        fractions = _course_recovery(oars, n) if course is not None else []
        rx, n_fx = _get(course, "prescription_gy"), _get(course, "n_fractions")
        values = {
            "course": _get(course, "course"),
            "modality": _get(course, "modality"),
            "last_fraction": _get(course, "last_fraction"),
            "interval_days": days,
            "interval_months": None if days is None else float(days) / _DAYS_PER_MONTH,
            "prescription_gy": rx,
            "n_fractions": n_fx,
            "dose_per_fraction_gy": _per_fraction(rx, n_fx),
            "registration": _get(course, "registration"),
            "registration_id": _get(course, "registration_id"),
            "recovered_fraction_min": min(fractions) if fractions else None,
            "recovered_fraction_max": max(fractions) if fractions else None,
        }
        for field in PRIOR_FIELDS:
            out[f"prior.{n + 1}.{field}"] = values[field]
    return out


def _reported_cumulative(deciding: Any, methods: Sequence[str]) -> Optional[str]:
    """Which cumulative EQD2 the row's ``cumulative_eqd2_gy`` is: the deciding method's (both computed), or
    the larger of the two when both decide (or the result predates the deciding method)."""
    if deciding in ("metric-sum", "voxel-wise"):
        return f"{deciding} (the protocol's deciding method; both computed)"
    return ("larger of: " + "; ".join(methods)) if methods else None


def _method_columns(prov: Mapping[str, Any], recovery: Mapping[str, Any],
                    courses: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    registrations = list(dict.fromkeys(str(c.get("registration")) for c in courses))
    methods = [str(m) for m in prov.get("cumulative_methods") or []]
    method = {
        "registration": ";".join(registrations) if registrations else None,
        "summation_level": "DVH metric (guidance metric sum) and voxel (voxel-wise EQD2)",
        "lq_model": prov.get("lq_model"),
        "dose_reference": "EQD2 (2 Gy per fraction) at each structure's alpha/beta",
        "overlap_assumption": ("metric sum: prior metric doses of all courses summed as though on the "
                               "same sub-volume (an upper bound of the voxel-wise sum for Dmax only)"),
        "reported_cumulative": _reported_cumulative(prov.get("deciding_method"), methods),
        "recovery_model": recovery.get("model"),
        "recovery_source": recovery.get("source"),
        "recovery_status": recovery.get("status"),
        "recovery_conservation_factor": recovery.get("conservation_factor"),
        "recovery_risk_factors": ";".join(str(r) for r in recovery.get("risk_factors") or []),
    }
    return {f"method.{field}": method[field] for field in METHOD_FIELDS}


def audit_record(result: Mapping[str, Any], *, oar_keys: Optional[Sequence[str]] = None,
                 n_prior_courses: Optional[int] = None) -> Dict[str, Any]:
    """One flat audit record of a run.

    Parameters
    ----------
    result : mapping
        The result of :func:`reirrad.result.build_result`.
    oar_keys : sequence of str, optional
        OAR keys to give columns, in this order (default: the result's OARs). Pass the protocol's
        ``oar_keys`` so that records of patients with different contoured OARs share one CSV
        header; OARs the result does not list get empty columns.
    n_prior_courses : int, optional
        Number of ``prior.<n>`` column groups (default: the result's prior courses). A larger
        number gives empty groups, for the same reason.

    Returns
    -------
    dict
        Column → value (text, int, float, bool or None), in the order: :data:`RUN_FIELDS`,
        :data:`PRIOR_FIELDS` per course, :data:`METHOD_FIELDS`, :data:`FINAL_CHECK_FIELDS`,
        :data:`OAR_FIELDS` per OAR, :data:`TARGET_FIELDS`, :data:`TUMOUR_FIELDS` per α/β of
        :data:`TUMOUR_ALPHA_BETAS_GY`. The columns depend only on ``oar_keys`` and
        ``n_prior_courses``, never on the run's values, so runs of one protocol share a header.
        Doses in Gy, EQD2 at each OAR's α/β, volumes in %, recovery as a fraction in [0, 1],
        intervals in days and months (days / 30.4375); lists (failing OARs) ``;``-separated.

    Raises
    ------
    reirrad.errors.InputError
        A result without its mappings, an OAR key the result lists that ``oar_keys`` omits,
        fewer ``n_prior_courses`` than the result has, or a non-scalar value.
    """
    if not isinstance(result, Mapping):
        raise InputError("result must be the mapping of reirrad.result.build_result "
                         f"(got {type(result).__name__})")
    prov = _section(result, "provenance")
    protocol = _section(prov, "protocol")
    eligibility = _section(result, "eligibility")
    courses: Sequence[Mapping[str, Any]] = prov.get("prior_courses") or []
    oars: Sequence[Mapping[str, Any]] = result.get("oars") or []
    by_key = {str(o.get("name")): o for o in oars}
    keys = list(by_key) if oar_keys is None else [str(k) for k in oar_keys]
    missing = [k for k in by_key if k not in keys]
    if missing:
        raise InputError(f"oar_keys {keys} omit the result's OARs {missing}; include every OAR of the "
                         "result (e.g. the protocol's oar_keys)")
    n_courses = len(courses) if n_prior_courses is None else int(n_prior_courses)
    if n_courses < len(courses):
        raise InputError(f"n_prior_courses={n_courses} but the result has {len(courses)} prior courses; "
                         "give at least that many")
    n_fx = result.get("n_fractions")
    record: Dict[str, Any] = {
        "schema": AUDIT_SCHEMA,
        "patient_id": result.get("patient_id"),
        "plan_id": result.get("plan_id"),
        "tps": prov.get("tps"),
        "tps_version": prov.get("tps_version"),
        "software_version": prov.get("software_version"),
        "protocol.name": protocol.get("name"),
        "protocol.version": protocol.get("version"),
        "protocol.sha256": protocol.get("sha256"),
        "status": result.get("status"),
        "exit_code": exit_code_for(result),
        "planning_intent": result.get("intent"),
        "search": result.get("search"),
        "eligibility.eligible": eligibility.get("eligible"),
        "eligibility.may_proceed": eligibility.get("may_proceed"),
        "eligibility.override_reason": eligibility.get("override_reason"),
        "eligibility.overridden_stop_codes": finding_codes(overridden_stops(result)),
        "findings": finding_codes(result_findings(result), severity=True),
        "flag_warning_codes": finding_codes(flag_findings(result)),
        "new_course.planned_start": _planned_start(result, courses),
        "new_course.prescription_gy": result.get("prescription_gy"),
        "new_course.n_fractions": n_fx,
        "new_course.dose_per_fraction_gy": _per_fraction(result.get("prescription_gy"), n_fx),
        "new_course.optimisations": (result.get("optimisations") or {}).get("count"),
        "new_course.limiting_oars": ";".join(str(o) for o in result.get("limiting_oars") or []),
        "prior.count": len(courses),
    }
    record.update(_prior_columns(courses, oars, n_courses))
    record.update(_method_columns(prov, _section(prov, "recovery"), courses))
    record.update(_final_check_columns(result))
    for key in keys:
        for field in OAR_FIELDS:
            record[f"oar.{key}.{field}"] = _get(by_key.get(key), field)
    target = result.get("target")
    for field in TARGET_FIELDS:
        record[f"target.{field}"] = _get(target, field)
    record.update(_tumour_columns(result))
    return {name: _scalar(name, value) for name, value in record.items()}


# ---------------------------------------------------------------------------------------------
# writing


def _checked_record(record: Mapping[str, Any]) -> Dict[str, Scalar]:
    if not isinstance(record, Mapping) or not record:
        raise InputError("an audit record must be a non-empty mapping (see audit_record)")
    out: Dict[str, Scalar] = {}
    for name, value in record.items():
        if not isinstance(name, str):
            raise InputError(f"audit column names must be text (got {name!r})")
        out[name] = _scalar(name, value)
    return out


#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula
#: (OWASP, "CSV Injection"): a text cell starting with one is written with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Scalar) -> str:
    """CSV text of a value: empty for None, true/false, repr for floats (exact round trip); text that
    starts like a formula (:data:`FORMULA_STARTS`: a patient id ``=HYPERLINK(...)`` or an override reason
    written into the row) gets a leading ``'``, so that a spreadsheet shows it as text and never runs it
    (quoting alone does not stop that). Numbers are written as numbers, negative ones too."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def records_csv_text(records: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of records that share one header: the header, then one row per record.

    Values are written as by :func:`append_audit_csv` (empty for None, ``true``/``false``, floats with
    ``repr``, CRLF line ends).

    Parameters
    ----------
    records : sequence of mapping
        Flat records (e.g. :func:`audit_record`, or rows that add leading columns to it), each with the
        same column names in the same order.

    Returns
    -------
    str

    Raises
    ------
    reirrad.errors.InputError
        No record, a non-scalar value, or a record whose columns differ from the first record's.
    """
    if isinstance(records, Mapping) or not records:
        raise InputError("records must be a non-empty sequence of flat records")
    checked = [_checked_record(r) for r in records]
    columns = list(checked[0])
    for n, record in enumerate(checked[1:], start=2):
        if list(record) != columns:
            raise InputError(f"record {n} has other columns than record 1; records_csv_text writes records "
                             "that share one header")
    return _csv_text([columns] + [[_cell(v) for v in r.values()] for r in checked])


def append_audit_csv(path: Union[str, os.PathLike[str]], record: Mapping[str, Any]) -> Path:
    """Append one record as a CSV row; write the header first when the file is new or empty.

    Values are written as: empty for None, ``true``/``false``, floats with ``repr`` (they read
    back exactly with ``float``), UTF-8, comma-separated, CRLF line ends (the csv module's default).

    Runs may share one file (automated plan generation, several workstations on a share): the header
    check and the append happen under :func:`reirrad.files.exclusive_lock` (``<path>.lock``), so two
    runs never both write a header nor interleave their rows.

    Parameters
    ----------
    path : str or path-like
        The CSV file; its directory must exist.
    record : mapping
        From :func:`audit_record`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    reirrad.errors.InputError
        The record's columns differ from the existing file's header (the message lists the
        columns missing on either side, or says the order differs), or another writer held the
        lock for longer than :data:`reirrad.files.LOCK_TIMEOUT_S`; nothing is written then.
    """
    target = Path(path)
    with exclusive_lock(target):
        write_text_atomic(target, audit_csv_text(target, record))
    return target


def audit_csv_text(path: Union[str, os.PathLike[str]], record: Mapping[str, Any]) -> str:
    """The whole CSV file with ``record`` appended: what :func:`append_audit_csv` writes.

    The caller holds the file's lock (:func:`reirrad.files.exclusive_lock`) from this call until the
    text has replaced the file, so the row is appended as one transaction with a run's other outputs
    (:mod:`reirrad.outputs`) and no other writer's row is lost.

    Raises
    ------
    reirrad.errors.InputError
        As :func:`append_audit_csv` (columns differ from the header), or the file is not UTF-8 text.
    """
    target = Path(path)
    checked = _checked_record(record)
    columns = list(checked)
    row = [_cell(v) for v in checked.values()]
    if not target.exists() or target.stat().st_size == 0:
        return _csv_text([columns, row])
    try:
        existing = target.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{target}: not an audit CSV (not UTF-8 text at byte {exc.start}); nothing was "
                         "written. Give a new file or the audit CSV of earlier runs") from None
    _check_header(target, existing, columns)
    separator = "" if existing.endswith(("\n", "\r")) else "\r\n"
    return existing + separator + _csv_text([row])


def _some(names: List[str], shown: int = 6) -> str:
    """The first ``shown`` names, and how many more (a header can have hundreds of columns)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{names[:shown]}{more}"


def _check_header(target: Path, text: str, columns: List[str]) -> None:
    """Raise InputError unless the CSV text's header is ``columns`` (same names, same order)."""
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    if header == columns:
        return
    only_file = [c for c in header if c not in set(columns)]
    only_record = [c for c in columns if c not in set(header)]
    if only_file or only_record:
        detail = (f"{len(only_file)} column(s) in the file but not in the record: {_some(only_file)}; "
                  f"{len(only_record)} in the record but not in the file: {_some(only_record)}")
    else:
        detail = "the same columns in a different order"
    raise InputError(
        f"{target} is not an audit CSV of runs like this one: its header's columns differ from this run's "
        "row "
        f"({detail}); give a new file, or one written by runs of the same protocol (from code: build the "
        "records with the same oar_keys and n_prior_courses)"
    )


def write_audit_json(path: Union[str, os.PathLike[str]], records: Sequence[Mapping[str, Any]]) -> Path:
    """Write records as JSON: ``{"schema": AUDIT_SCHEMA, "records": [...]}`` (atomic replace).

    Parameters
    ----------
    path : str or path-like
        The JSON file; its directory must exist. An existing file is replaced.
    records : sequence of mapping
        From :func:`audit_record` (may have different columns: each keeps its own keys and order).

    Returns
    -------
    pathlib.Path
    """
    if isinstance(records, Mapping):
        raise InputError("records must be a sequence of audit records; wrap a single record in a list")
    checked = [_checked_record(r) for r in records]
    text = json.dumps({"schema": AUDIT_SCHEMA, "records": checked}, indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"
    target = Path(path)
    write_text_atomic(target, text)
    return target
