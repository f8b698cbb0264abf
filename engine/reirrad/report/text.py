"""Wording shared by the HTML report and the console summary (plain text, not escaped).

The console summary (``reirrad_tps.summary``) and the report (:mod:`reirrad.report.page`) say the
same things in the same words through these helpers: :func:`passed_text`, :func:`limited_by_text`,
:func:`registration_text`, :func:`status_lines`, :func:`plain_value`, :func:`final_check_rows` and
:data:`TUMOUR_DOSE_COLUMNS`. Every value comes from the result mapping; nothing is recomputed.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence, Tuple

import numpy as np

from ..statuses import EXIT_REVIEW, exit_code_for, status_meaning

__all__ = [
    "FINAL_CHECK_ITEMS",
    "PASSED_NOT_ASSESSABLE",
    "REGION_COLUMNS",
    "TUMOUR_DOSE_COLUMNS",
    "deciding_text",
    "exit_text",
    "final_check_rows",
    "limited_by_text",
    "passed_text",
    "plain_value",
    "region_rows",
    "registration_text",
    "status_lines",
    "structure_rows",
]


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


_DECIDING = {"metric-sum": "the metric sum (the guidance's method)",
             "voxel-wise": "the voxel-wise cumulative EQD2 (a local choice of the protocol)",
             "both": "both methods (each must be within the limit)"}


def deciding_text(result: Mapping[str, Any]) -> str:
    """Which cumulative method decides "pass" and the cumulative EQD2 shown
    (``provenance.deciding_method``)."""
    method = (result.get("provenance") or {}).get("deciding_method")
    which = _DECIDING.get(str(method), f"{plain_value(method)} (not recorded)")
    return (f"Pass and the cumulative EQD2 shown follow {which}; both methods are computed, and a "
            "disagreement is a flag finding.")


#: Columns of a target region (``target_regions.*``): (label, key, decimals).
REGION_COLUMNS: Tuple[Tuple[str, str, int], ...] = (
    ("Volume (cm³)", "volume_cc", 2),
    ("V95 (%)", "v95_pct", 1),
    ("D95 (Gy)", "d95_gy", 2),
    ("D98 (Gy)", "d98_gy", 2),
)


def region_rows(result: Mapping[str, Any]) -> List[Tuple[str, List[Tuple[object, int]], List[Any]]]:
    """(label, [(value, decimals) per :data:`REGION_COLUMNS`], tumour-dose entries) of the optimisation
    target and the compromised region (``target_regions``); [] when the run made none."""
    regions = result.get("target_regions") or {}
    out = []
    labels = (("optimisation_target", "Optimisation target"),
              ("compromised", "Compromised region (PTV inside what the optimisation target leaves out)"))
    for key, label in labels:
        region = regions.get(key)
        if not isinstance(region, Mapping):
            continue
        name = region.get("structure")
        title = f"{label} {name}" if name else label
        out.append((title, [(region.get(k), d) for _, k, d in REGION_COLUMNS],
                    list(region.get("tumour_dose") or [])))
    return out


def structure_rows(result: Mapping[str, Any]) -> List[Tuple[str, str, object, object, str]]:
    """(name, role, TPS volume cm³, engine's expected volume cm³, reason) of each optimisation structure."""
    return [(str(e.get("name")), str(e.get("role")), e.get("volume_cc"), e.get("expected_volume_cc"),
             str(e.get("reason") or "")) for e in result.get("optimisation_structures") or []
            if isinstance(e, Mapping)]


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


def checked_limit(oar: Mapping[str, Any]) -> Any:
    """What an OAR record's cumulative EQD2 is checked against, EQD2 Gy: ``check_limit_eqd2_gy`` (with the
    Jones & Grant model min(cumulative limit, single-course tolerance), else the cumulative limit), the
    cumulative limit for a record without it, None without a cumulative limit.

    Every table, plot and map shows this, not ``cumulative_limit_eqd2_gy`` alone: with Jones & Grant a
    single-course tolerance T below the limit L is what binds (a clinical review found the remaining-
    tolerance maps, the report, the tables and the cohort strips using L = 70 Gy where the check used
    T = 50 Gy: 31.82 Gy shown as allowed where the check allows 24.84 Gy).
    """
    checked = oar.get("check_limit_eqd2_gy")
    return oar.get("cumulative_limit_eqd2_gy") if checked is None else checked


def checked_limit_note(oar: Mapping[str, Any]) -> str:
    """``""``, or why :func:`checked_limit` is below the record's cumulative limit (the single-course
    tolerance of the Jones & Grant model), for the tables."""
    checked, limit = oar.get("check_limit_eqd2_gy"), oar.get("cumulative_limit_eqd2_gy")
    if isinstance(checked, (int, float)) and isinstance(limit, (int, float)) and checked < limit:
        return f"single-course tolerance (cumulative limit {float(limit):.2f})"
    return ""


def checked_limit_lines(oars: Sequence[Mapping[str, Any]], column: str) -> List[str]:
    """A line for each OAR whose checked limit (shown in the table's ``column``, e.g. ``'limit'``) is a
    single-course tolerance below its cumulative limit (:func:`checked_limit_note`), for the plain-text
    tables."""
    lines = []
    for oar in oars:
        note = checked_limit_note(oar)
        if note:
            lines.append(f"{column} of {oar.get('name')} is the {note}: the Jones & Grant model checks "
                         "against the lower of the two.")
    return lines


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
