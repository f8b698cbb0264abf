"""Time-dependent recovery of organ-at-risk tolerance between radiotherapy courses.

Recovery is credited by **discounting the prior dose** ("incorporated into the original
dose delivered", UK SABR Consortium guidance): the effective prior EQD2 of a course is
``(1 − f)·EQD2_prior`` where ``f`` is the recovered fraction returned here.

Models (select by name; every result records the model and its parameters):

``"uk-guidance"``
    Moreno-Olmedo et al. 2025 (UK SABR Consortium pelvic re-irradiation guidance, as stated
    in the paper's summary; status *secondary-source*): interval < 6 months → 0 (and the
    ``interval-under-6-months`` finding); 6 ≤ m ≤ 18 → 0.30; m > 18 → 0.50.
    **Boundaries (this project's reading, documented):** both 6.0 and 18.0 months are in the
    30 % band, i.e. the 6-month boundary is inclusive and "more than 18 months" is strict.
    Months = days / 30.4375 (mean Gregorian month, as in DICOMautomaton). The comparison is
    made in days (6 months = 182.625 d, 18 months = 547.875 d), so it is exact.
``"jones-grant-2014"``
    Jones & Grant, Clin Oncol 2014 (doi 10.1016/j.clon.2014.04.027), equation as quoted in
    DICOMautomaton (``DecayDoseOverTime.cc``, Figure 4 caption of the paper). With
    ρ = prior/tolerance (BED or EQD2 at the same α/β — the ratio is the same) and t the
    interval in years, the remembered prior dose is tolerance·(1 − (1 − ρ)^(1/(1+r))) with
    ``curve="fitted"``:   r = 2.8 + exp(1.67·(t − 1)), or
    ``curve="cautious"``: r = 1.5 + exp(1.2·(t − 1))  (the paper's preferred cautious line).
    Hence f = 1 − remembered/prior. **Validity:** the model is defined for 0 < ρ < 1; for
    ρ ≥ 1 no recovery is credited (finding ``prior-at-or-above-tolerance``). Intervals are
    clamped to the fitted range 0–36 months as DICOMautomaton does; a longer interval is
    evaluated at 36 months (less recovery than extrapolation would give) with the finding
    ``outside-model-validity``. The model was fitted to primate spinal-cord data; using it for
    pelvic organs is a model comparison only.
``"linear-15pct-per-year"``
    Robinson et al., Clin Oncol 2022 (doi 10.1016/j.clon.2022.04.007): "fixed 15 % per annum
    tissue recovery"; f = 0.15 · days/365.25, capped at 0.50 (the cap is this project's
    decision, docs/design.md §4, and is not in the abstract).
``"none"``
    f = 0 whatever the interval.

Conservation factor (**this project's parameterisation**, not a published formula): a factor
c in (0, 1] multiplies the credited recovery, f_credited = c·f, to be more cautious for risk
factors (prior pelvic surgery, diabetes, vasculopathy, age, prior systemic therapy). The
guidance mentions a conservation factor for such risk factors in the Woolley/Moore software,
but its functional form and values could not be retrieved (docs/reference/radiobiology.md §3.3).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

from ._validate import finite_float
from .bounds import check_course_dates
from .errors import InputError
from .findings import Finding

__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_YEAR",
    "RECOVERY_MODELS",
    "UK_MIN_INTERVAL_DAYS",
    "UK_UPPER_DAYS",
    "RecoveryAssessment",
    "assess_recovery",
    "interval_days_between",
    "recovered_fraction",
]

#: Mean Gregorian month in days (docs/design.md §4; DICOMautomaton uses the same value).
DAYS_PER_MONTH = 30.4375
#: Mean Julian year in days.
DAYS_PER_YEAR = 365.25

RECOVERY_MODELS = ("uk-guidance", "jones-grant-2014", "linear-15pct-per-year", "none")

# uk-guidance band edges in days (exact in binary floating point).
_UK_LOWER_DAYS = 6.0 * DAYS_PER_MONTH  # 182.625
#: Shortest interval (days) the UK guidance accepts without an override: 6 months.
UK_MIN_INTERVAL_DAYS = _UK_LOWER_DAYS
#: Longest interval (days) in the UK guidance's 30 % band: 18 months ("more than 18 months" gets 50 %).
UK_UPPER_DAYS = 18.0 * DAYS_PER_MONTH  # 547.875
_UK_MID_FRACTION = 0.30
_UK_HIGH_FRACTION = 0.50

_LINEAR_RATE_PER_YEAR = 0.15
_LINEAR_CAP = 0.50

_JG_MAX_MONTHS = 36.0
_JG_CURVES: Dict[str, Tuple[float, float]] = {
    # curve name: (offset, slope per year) in r = offset + exp(slope * (t_years - 1))
    "fitted": (2.8, 1.67),
    "cautious": (1.5, 1.2),
}

ParamValue = Union[float, str]


@dataclass(frozen=True)
class RecoveryAssessment:
    """The recovery credited for one prior course, with everything needed to audit it.

    Attributes
    ----------
    model : str
        Model name (one of :data:`RECOVERY_MODELS`).
    interval_days : float or None
        Days from the last fraction of the prior course to the first of the new one;
        None when unknown (then nothing is credited and an ``unknown-interval`` finding is set).
    interval_months : float or None
        ``interval_days / 30.4375``.
    model_fraction : float
        Recovered fraction given by the model before the conservation factor, in [0, 1].
    conservation_factor : float
        Factor in (0, 1] applied to the model's fraction (1 = not applied).
    fraction : float
        Credited recovered fraction, ``conservation_factor * model_fraction``.
    parameters : dict
        Model parameters used (curve, tolerance, …) for the provenance record.
    findings : tuple of Finding
        Eligibility/validity observations (e.g. interval under 6 months).
    """

    model: str
    interval_days: Optional[float]
    interval_months: Optional[float]
    model_fraction: float
    conservation_factor: float
    fraction: float
    parameters: Dict[str, ParamValue] = field(default_factory=dict)
    findings: Tuple[Finding, ...] = ()


def interval_days_between(last_fraction: _dt.date, new_first_fraction: _dt.date, *,
                          course: str = "", today: Optional[_dt.date] = None) -> int:
    """Days from the last fraction of a prior course to the first fraction of the new one.

    ``course`` names the prior course in messages; ``today`` (default: the computer's date) bounds
    both dates (:func:`reirrad.bounds.check_course_dates`).

    Raises
    ------
    reirrad.errors.InputError
        When the new course would start before the prior one ended, the prior course ends after today,
        or the new course starts more than a year from today.
    """
    for name, value in (("last_fraction", last_fraction), ("new_first_fraction", new_first_fraction)):
        if not isinstance(value, _dt.date):
            raise InputError(f"{name} must be a date (got {value!r}); use YYYY-MM-DD")
    days = (new_first_fraction - last_fraction).days
    if days < 0:
        raise InputError(
            f"the new course starts {new_first_fraction.isoformat()}, before the prior course "
            f"ended {last_fraction.isoformat()} ({days} days); check the two dates"
        )
    check_course_dates(last_fraction, new_first_fraction, course=course or "(unnamed)", today=today)
    return days


def _check_interval(interval_days: Any) -> float:
    days = finite_float("interval_days", interval_days, unit="days")
    if days < 0:
        raise InputError(
            f"interval_days must be >= 0 (got {interval_days!r}); it is measured from the last "
            "fraction of the prior course to the first fraction of the new one"
        )
    return days


def _check_conservation(conservation_factor: Any) -> float:
    c = finite_float("conservation_factor", conservation_factor)
    if not 0.0 < c <= 1.0:
        raise InputError(
            f"conservation_factor must be in (0, 1] (got {conservation_factor!r}); 1 credits the "
            "model's recovery in full, smaller values credit less"
        )
    return c


def _reject_unknown(model: str, params: Dict[str, Any], allowed: Tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InputError(
            f"recovery model {model!r} does not take parameter(s) {unknown}; "
            f"it accepts {list(allowed) or 'none'}"
        )


def _uk_guidance(days: float) -> Tuple[float, Tuple[Finding, ...]]:
    if days < _UK_LOWER_DAYS:
        finding = Finding(
            "interval-under-6-months", "stop",
            f"interval {days:g} days ({days / DAYS_PER_MONTH:.2f} months) is under 6 months: "
            "outside the UK guidance; no recovery credited; continuing needs a recorded override",
        )
        return 0.0, (finding,)
    if days <= UK_UPPER_DAYS:
        return _UK_MID_FRACTION, ()
    return _UK_HIGH_FRACTION, ()


def _linear(days: float) -> float:
    return min(_LINEAR_RATE_PER_YEAR * days / DAYS_PER_YEAR, _LINEAR_CAP)


def _jones_grant(days: float, params: Dict[str, Any]) -> Tuple[float, Dict[str, ParamValue],
                                                                  Tuple[Finding, ...]]:
    _reject_unknown("jones-grant-2014", params, ("prior_eqd2_gy", "tolerance_eqd2_gy", "curve"))
    missing = [k for k in ("prior_eqd2_gy", "tolerance_eqd2_gy", "curve") if k not in params]
    if missing:
        raise InputError(
            f"recovery model 'jones-grant-2014' needs {missing}: prior_eqd2_gy (the course's EQD2 "
            "at the tissue α/β), tolerance_eqd2_gy (tolerance at the same α/β) and curve "
            "('fitted' or 'cautious')"
        )
    curve = params["curve"]
    if curve not in _JG_CURVES:
        raise InputError(
            f"jones-grant-2014 curve must be 'fitted' or 'cautious' (got {curve!r})"
        )
    prior = finite_float("prior_eqd2_gy", params["prior_eqd2_gy"], minimum=0.0, unit="Gy")
    tolerance = finite_float("tolerance_eqd2_gy", params["tolerance_eqd2_gy"],
                             strictly_positive=True, unit="Gy")
    findings = []
    months = days / DAYS_PER_MONTH
    if months > _JG_MAX_MONTHS:
        findings.append(Finding(
            "outside-model-validity", "flag",
            f"interval {months:.1f} months is beyond the 36-month range of the Jones & Grant 2014 "
            "fit; evaluated at 36 months (less recovery than extrapolation)",
        ))
        months = _JG_MAX_MONTHS
    offset, slope = _JG_CURVES[curve]
    r = offset + math.exp(slope * (months / 12.0 - 1.0))
    used: Dict[str, ParamValue] = {"curve": curve, "tolerance_eqd2_gy": tolerance,
                                   "prior_eqd2_gy": prior, "r": r, "evaluated_months": months}
    ratio = prior / tolerance
    if ratio <= 0.0:
        return 0.0, used, tuple(findings)
    if ratio >= 1.0:
        findings.append(Finding(
            "prior-at-or-above-tolerance", "flag",
            f"prior EQD2 {prior:.2f} Gy is at or above the tolerance {tolerance:.2f} Gy "
            "(ratio ≥ 1): the Jones & Grant model does not apply; no recovery credited",
        ))
        return 0.0, used, tuple(findings)
    remembered = tolerance * (1.0 - (1.0 - ratio) ** (1.0 / (1.0 + r)))
    return 1.0 - remembered / prior, used, tuple(findings)


def assess_recovery(model: str, interval_days: Optional[float], *,
                    conservation_factor: float = 1.0, **params: Any) -> RecoveryAssessment:
    """Recovered fraction of a prior course's dose, with findings and parameters.

    Parameters
    ----------
    model : str
        One of :data:`RECOVERY_MODELS`.
    interval_days : float or None
        Days from the last prior fraction to the first new fraction (≥ 0). None means
        unknown: nothing is credited and the ``unknown-interval`` finding (severity stop)
        is returned.
    conservation_factor : float, optional
        Factor in (0, 1] scaling the credited recovery (this project's parameterisation;
        1, the default, means no risk-factor adjustment).
    **params
        Model parameters: ``jones-grant-2014`` needs ``prior_eqd2_gy``, ``tolerance_eqd2_gy``
        and ``curve``; the other models take none.

    Returns
    -------
    RecoveryAssessment

    Raises
    ------
    reirrad.errors.InputError
        Unknown model, negative/unknown interval, conservation factor outside (0, 1],
        missing or unknown model parameters.
    """
    if model not in RECOVERY_MODELS:
        raise InputError(f"unknown recovery model {model!r}; choose one of {list(RECOVERY_MODELS)}")
    c = _check_conservation(conservation_factor)
    if interval_days is None:
        unknown = Finding(
            "unknown-interval", "stop",
            "the interval since the prior course is unknown: no recovery credited and the "
            "6-month eligibility rule cannot be checked; enter the date of its last fraction",
        )
        return RecoveryAssessment(model=model, interval_days=None, interval_months=None,
                                  model_fraction=0.0, conservation_factor=c, fraction=0.0,
                                  parameters={}, findings=(unknown,))
    days = _check_interval(interval_days)
    findings: Tuple[Finding, ...] = ()
    used: Dict[str, ParamValue] = {}
    if model == "uk-guidance":
        _reject_unknown(model, params, ())
        f, findings = _uk_guidance(days)
    elif model == "linear-15pct-per-year":
        _reject_unknown(model, params, ())
        f = _linear(days)
        used = {"rate_per_year": _LINEAR_RATE_PER_YEAR, "cap": _LINEAR_CAP}
    elif model == "jones-grant-2014":
        f, used, findings = _jones_grant(days, params)
    else:
        _reject_unknown(model, params, ())
        f = 0.0
    return RecoveryAssessment(
        model=model,
        interval_days=days,
        interval_months=days / DAYS_PER_MONTH,
        model_fraction=f,
        conservation_factor=c,
        fraction=c * f,
        parameters=used,
        findings=findings,
    )


def recovered_fraction(model: str, interval_days: Optional[float], **params: Any) -> float:
    """Credited recovered fraction in [0, 1] (see :func:`assess_recovery` for details).

    Accepts the same keyword parameters as :func:`assess_recovery`, including
    ``conservation_factor``.

    Examples
    --------
    >>> recovered_fraction("uk-guidance", 365)
    0.3
    >>> recovered_fraction("uk-guidance", 730)
    0.5
    """
    if interval_days is None:
        raise InputError(
            "interval_days is unknown (None); a bare fraction cannot carry the 'unknown interval' "
            "finding - use assess_recovery(), or give the days since the prior course's last fraction"
        )
    return assess_recovery(model, interval_days, **params).fraction
