"""Recovery models (reirrad.recovery).

Sources: docs/design.md §4 and docs/reference/radiobiology.md §1.6 (UK guidance bands, 30.4375 days per
month), §3.2 (Jones & Grant 2014 equation as implemented in DICOMautomaton), §5.1 (Robinson
2022, 15 %/year).
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reirrad.errors import InputError
from reirrad.recovery import (
    DAYS_PER_MONTH,
    RECOVERY_MODELS,
    assess_recovery,
    interval_days_between,
    recovered_fraction,
)

SIX_MONTHS_DAYS = 6 * 30.4375  # 182.625
EIGHTEEN_MONTHS_DAYS = 18 * 30.4375  # 547.875


def test_model_names_are_the_designed_ones():
    """docs/design.md §5 names the four models."""
    assert set(RECOVERY_MODELS) == {"uk-guidance", "jones-grant-2014", "linear-15pct-per-year", "none"}
    assert DAYS_PER_MONTH == 30.4375


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, 0.0),
        (182, 0.0),                       # 5.98 months
        (SIX_MONTHS_DAYS - 1e-6, 0.0),    # just under 6.0 months
        (SIX_MONTHS_DAYS, 0.30),          # exactly 6.0 months: inclusive (documented choice)
        (183, 0.30),
        (365, 0.30),
        (EIGHTEEN_MONTHS_DAYS, 0.30),     # exactly 18.0 months: still the 6-18 band
        (EIGHTEEN_MONTHS_DAYS + 1e-6, 0.50),  # "more than 18 months"
        (548, 0.50),
        (730, 0.50),
        (3650, 0.50),
    ],
)
def test_uk_guidance_bands_and_boundaries(days, expected):
    """UK guidance: < 6 months 0, 6 ≤ m ≤ 18 → 0.30, m > 18 → 0.50 (months = days/30.4375)."""
    assert recovered_fraction("uk-guidance", days) == expected


def test_under_six_months_carries_a_stop_finding():
    """An interval under 6 months credits nothing and flags eligibility (severity stop)."""
    a = assess_recovery("uk-guidance", 150)
    assert a.fraction == 0.0
    assert [f.code for f in a.findings] == ["interval-under-6-months"]
    assert a.findings[0].severity == "stop"
    assert assess_recovery("uk-guidance", 200).findings == ()


def test_unknown_interval_credits_nothing_and_stops():
    """interval None: no recovery, 'unknown-interval' stop finding; the bare-float API refuses it."""
    a = assess_recovery("uk-guidance", None)
    assert a.fraction == 0.0
    assert a.findings[0].code == "unknown-interval"
    with pytest.raises(InputError, match="unknown"):
        recovered_fraction("uk-guidance", None)


@pytest.mark.parametrize("model", RECOVERY_MODELS)
def test_negative_interval_is_a_clear_error(model):
    """A negative interval (new course before the old ended) is refused for every model."""
    with pytest.raises(InputError, match="interval_days must be >= 0"):
        recovered_fraction(model, -1, **_jg_params(model))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "365", True])
def test_non_numeric_interval_is_refused(bad):
    """NaN, infinity, text and booleans are not intervals."""
    with pytest.raises(InputError):
        recovered_fraction("uk-guidance", bad)


def test_unknown_model_and_unknown_parameters():
    """Model names are checked; parameters a model does not take are refused, not ignored."""
    with pytest.raises(InputError, match="unknown recovery model"):
        recovered_fraction("woolley-2018", 365)
    with pytest.raises(InputError, match="does not take parameter"):
        recovered_fraction("uk-guidance", 365, cap=0.6)


def test_linear_15_percent_per_year_capped_at_half():
    """Robinson 2022: 15 %/year → 0.15 at 1 year, 0.30 at 2, 0.45 at 3; cap 0.50 from 3.33 years."""
    assert recovered_fraction("linear-15pct-per-year", 365.25) == pytest.approx(0.15)
    assert recovered_fraction("linear-15pct-per-year", 2 * 365.25) == pytest.approx(0.30)
    assert recovered_fraction("linear-15pct-per-year", 3 * 365.25) == pytest.approx(0.45)
    assert recovered_fraction("linear-15pct-per-year", 4 * 365.25) == pytest.approx(0.50)
    assert recovered_fraction("linear-15pct-per-year", 0) == 0.0


def test_none_model_credits_nothing():
    """Model 'none' gives 0 whatever the interval."""
    assert recovered_fraction("none", 10_000) == 0.0


def _jg_params(model, prior=40.0, tolerance=80.0, curve="fitted"):
    if model != "jones-grant-2014":
        return {}
    return {"prior_eqd2_gy": prior, "tolerance_eqd2_gy": tolerance, "curve": curve}


def _jg_closed_form(prior, tolerance, years, offset, slope):
    """Jones & Grant 2014 Fig. 4: r = offset + exp(slope(t − 1)); remembered = tol·(1 − (1 − ρ)^(1/(1+r)))."""
    r = offset + math.exp(slope * (years - 1.0))
    remembered = tolerance * (1.0 - (1.0 - prior / tolerance) ** (1.0 / (1.0 + r)))
    return 1.0 - remembered / prior


@pytest.mark.parametrize(("curve", "offset", "slope"), [("fitted", 2.8, 1.67), ("cautious", 1.5, 1.2)])
@pytest.mark.parametrize("years", [1.0, 2.0, 3.0])
def test_jones_grant_matches_the_published_equation(curve, offset, slope, years):
    """Both curves of Jones & Grant 2014 (Figure 4 caption) at 1, 2 and 3 years, ρ = 0.5.

    Worked value at 1 year, fitted: r = 2.8 + e⁰ = 3.8, 0.5^(1/4.8) = e^(−0.14440) = 0.86554,
    remembered = 80·(1 − 0.86554) = 10.757 Gy,
    f = 1 − 10.757/40 = 0.731.
    """
    days = years * 12 * DAYS_PER_MONTH
    got = recovered_fraction("jones-grant-2014", days, **_jg_params("jones-grant-2014", curve=curve))
    assert got == pytest.approx(_jg_closed_form(40.0, 80.0, years, offset, slope), rel=1e-12)
    if curve == "fitted" and years == 1.0:
        assert got == pytest.approx(1.0 - 80.0 * (1.0 - 0.5 ** (1.0 / 4.8)) / 40.0)
        assert round(got, 3) == 0.731


def test_jones_grant_cautious_credits_less_than_fitted():
    """The cautious (red) curve has a smaller r, hence less recovery, at every interval."""
    for days in (200, 365, 730, 1000):
        fitted = recovered_fraction("jones-grant-2014", days, **_jg_params("jones-grant-2014"))
        cautious = recovered_fraction("jones-grant-2014", days,
                                      **_jg_params("jones-grant-2014", curve="cautious"))
        assert cautious < fitted


def test_jones_grant_validity_range_is_enforced():
    """Beyond 36 months the model is evaluated at 36 months and flagged; ρ ≥ 1 credits nothing."""
    params = _jg_params("jones-grant-2014")
    at_36 = assess_recovery("jones-grant-2014", 36 * DAYS_PER_MONTH, **params)
    beyond = assess_recovery("jones-grant-2014", 60 * DAYS_PER_MONTH, **params)
    assert beyond.fraction == pytest.approx(at_36.fraction)
    assert [f.code for f in beyond.findings] == ["outside-model-validity"]
    assert at_36.findings == ()
    over = assess_recovery("jones-grant-2014", 730, prior_eqd2_gy=90.0, tolerance_eqd2_gy=80.0,
                           curve="fitted")
    assert over.fraction == 0.0
    assert [f.code for f in over.findings] == ["prior-at-or-above-tolerance"]


def test_jones_grant_requires_its_parameters():
    """Missing prior/tolerance/curve or an unknown curve are explicit errors."""
    with pytest.raises(InputError, match="needs"):
        recovered_fraction("jones-grant-2014", 365)
    with pytest.raises(InputError, match="'fitted' or 'cautious'"):
        recovered_fraction("jones-grant-2014", 365, prior_eqd2_gy=1.0, tolerance_eqd2_gy=2.0, curve="red")


@pytest.mark.parametrize("factor", [0.0, -0.1, 1.01, float("nan")])
def test_conservation_factor_outside_unit_interval_is_refused(factor):
    """The conservation factor must lie in (0, 1]."""
    with pytest.raises(InputError, match="conservation_factor"):
        recovered_fraction("uk-guidance", 730, conservation_factor=factor)


@given(days=st.floats(min_value=0, max_value=5000), factor=st.floats(min_value=0.01, max_value=1.0))
def test_conservation_factor_scales_credit(days, factor):
    """Property: credited = factor × model fraction, never more than the model's fraction."""
    for model in RECOVERY_MODELS:
        params = _jg_params(model)
        full = recovered_fraction(model, days, **params)
        scaled = recovered_fraction(model, days, conservation_factor=factor, **params)
        assert scaled == pytest.approx(factor * full)
        assert 0.0 <= scaled <= full <= 1.0


@given(d1=st.floats(min_value=0, max_value=1095), d2=st.floats(min_value=0, max_value=1095))
def test_recovery_never_decreases_with_time(d1, d2):
    """Property: a longer interval never credits less recovery (all models, within validity)."""
    lo, hi = sorted((d1, d2))
    for model in RECOVERY_MODELS:
        params = _jg_params(model)
        assert recovered_fraction(model, lo, **params) <= recovered_fraction(model, hi, **params) + 1e-12


def test_interval_from_dates():
    """Days between last prior fraction and first new fraction; reversed dates are refused."""
    assert interval_days_between(dt.date(2023, 6, 30), dt.date(2025, 3, 3)) == 612
    with pytest.raises(InputError, match="before the prior course"):
        interval_days_between(dt.date(2025, 3, 3), dt.date(2023, 6, 30))
