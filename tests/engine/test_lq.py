"""Linear-quadratic conversions (reirrad.lq) against published and hand-derived values.

Sources: docs/reference/radiobiology.md §2.1 (formulas) and §6 (worked examples O1–O9, arithmetic
shown there and repeated in each docstring).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reirrad import lq
from reirrad.errors import IncompatibleDoseError, InputError

doses = st.floats(min_value=0.0, max_value=150.0, allow_nan=False)
fractions = st.integers(min_value=1, max_value=45)
alpha_betas = st.floats(min_value=0.5, max_value=20.0, allow_nan=False)


def test_o1_30gy_5fx_ab3_gives_eqd2_54():
    """O1: BED = 30·(1 + 6/3) = 90 Gy₃; EQD2 = 90/(1 + 2/3) = 54.0 Gy."""
    assert lq.bed_gy(30.0, 5, 3.0) == pytest.approx(90.0)
    assert lq.eqd2_gy(30.0, 5, 3.0) == pytest.approx(54.0)


def test_o2_30gy_5fx_other_alpha_betas():
    """O2: 30 Gy/5 → EQD2 40.0 (α/β 10: 30·16/12), 60.0 (α/β 2: 30·8/4), 47.14 (α/β 5: 30·11/7)."""
    assert lq.eqd2_gy(30.0, 5, 10.0) == pytest.approx(40.0)
    assert lq.eqd2_gy(30.0, 5, 2.0) == pytest.approx(60.0)
    assert lq.eqd2_gy(30.0, 5, 5.0) == pytest.approx(330.0 / 7.0)
    assert round(lq.eqd2_gy(30.0, 5, 5.0), 2) == 47.14


def test_o3_nieder_50gy_25fx_bed():
    """O3 (Nieder 2006 abstract): 50 Gy/2 Gy = 100 Gy₂ = 75 Gy₄ (50·(1 + 2/2), 50·(1 + 2/4))."""
    assert lq.bed_gy(50.0, 25, 2.0) == pytest.approx(100.0)
    assert lq.bed_gy(50.0, 25, 4.0) == pytest.approx(75.0)


def test_o4_conventional_courses_at_ab3():
    """O4: 45/25 → 45·(1.8+3)/5 = 43.2; 50.4/28 → 50.4·(1.8+3)/5 = 48.384;
    25/5 → 25·(5+3)/5 = 40.0 at α/β 3 and 25·15/12 = 31.25 at α/β 10."""
    assert lq.eqd2_gy(45.0, 25, 3.0) == pytest.approx(43.2)
    assert lq.eqd2_gy(50.4, 28, 3.0) == pytest.approx(48.384)
    assert round(lq.eqd2_gy(50.4, 28, 3.0), 2) == 48.38
    assert lq.eqd2_gy(25.0, 5, 3.0) == pytest.approx(40.0)
    assert lq.eqd2_gy(25.0, 5, 10.0) == pytest.approx(31.25)


def test_o5_45gy_5fx():
    """O5: 45 Gy/5 → BED₁₀ 45·1.9 = 85.5, EQD2₁₀ 85.5/1.2 = 71.25, EQD2₃ 45·12/5 = 108.0."""
    assert lq.bed_gy(45.0, 5, 10.0) == pytest.approx(85.5)
    assert lq.eqd2_gy(45.0, 5, 10.0) == pytest.approx(71.25)
    assert lq.eqd2_gy(45.0, 5, 3.0) == pytest.approx(108.0)


def test_o6_bed10_80_in_5fx_is_43_01gy():
    """O6 (Robinson 2022 target): d² + 10d − 160 = 0 → d = (−10 + √740)/2 = 8.601 Gy, D = 43.01 Gy."""
    dose = lq.physical_dose_for_bed_gy(80.0, 5, 10.0)
    assert dose == pytest.approx(5.0 * (-10.0 + math.sqrt(740.0)) / 2.0)
    assert round(dose, 2) == 43.01
    assert lq.bed_gy(dose, 5, 10.0) == pytest.approx(80.0)


def test_o7_inverse_bowel_budget():
    """O7: R = 68.4 Gy₃ → BED 114 → d² + 3d − 68.4 = 0 → d = (−3 + √282.6)/2 = 6.905, D = 34.53 Gy."""
    dose = lq.physical_dose_for_eqd2_gy(68.4, 5, 3.0)
    assert dose == pytest.approx(5.0 * (-3.0 + math.sqrt(282.6)) / 2.0)
    assert round(dose, 2) == 34.53


def test_o9_sacral_plexus_inverse():
    """O9: 50.4/28 at α/β 2 → 50.4·3.8/4 = 47.88; R = 85 − 23.94 = 61.06 → D = 30.30; R = 19.12 → 15.18."""
    assert lq.eqd2_gy(50.4, 28, 2.0) == pytest.approx(47.88)
    assert round(lq.physical_dose_for_eqd2_gy(85.0 - 0.5 * 47.88, 5, 2.0), 2) == 30.30
    assert round(lq.physical_dose_for_eqd2_gy(67.0 - 47.88, 5, 2.0), 2) == 15.18


def test_inverse_of_exhausted_budget_is_zero():
    """A budget ≤ 0 gives 0 Gy (docs/reference/radiobiology.md §2.1: 'If BED_R ≤ 0, the answer is d = 0')."""
    assert lq.physical_dose_for_eqd2_gy(0.0, 5, 3.0) == 0.0
    assert lq.physical_dose_for_eqd2_gy(-12.5, 5, 3.0) == 0.0
    out = lq.physical_dose_for_eqd2_gy(np.array([-1.0, 0.0, 54.0]), 5, 3.0)
    np.testing.assert_allclose(out, [0.0, 0.0, 30.0])


def test_vectorised_over_arrays_and_alpha_beta_maps():
    """Arrays broadcast against a per-voxel α/β map; each element equals the scalar result."""
    dose = np.array([[0.0, 30.0], [45.0, 10.0]])
    ab = np.array([[3.0, 3.0], [10.0, 2.0]])
    out = lq.eqd2_gy(dose, 5, ab)
    assert isinstance(out, np.ndarray)
    assert out.shape == (2, 2)
    for idx in np.ndindex(dose.shape):
        assert out[idx] == pytest.approx(lq.eqd2_gy(float(dose[idx]), 5, float(ab[idx])))
    assert isinstance(lq.eqd2_gy(30.0, 5, 3.0), float)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dose_gy": -1.0, "n_fractions": 5, "alpha_beta_gy": 3.0}, "dose cannot be negative"),
        ({"dose_gy": float("nan"), "n_fractions": 5, "alpha_beta_gy": 3.0}, "finite"),
        ({"dose_gy": 30.0, "n_fractions": 0, "alpha_beta_gy": 3.0}, "n_fractions must be >= 1"),
        ({"dose_gy": 30.0, "n_fractions": 5.0, "alpha_beta_gy": 3.0}, "whole number"),
        ({"dose_gy": 30.0, "n_fractions": True, "alpha_beta_gy": 3.0}, "whole number"),
        ({"dose_gy": 30.0, "n_fractions": 5, "alpha_beta_gy": 0.0}, "alpha_beta_gy must be > 0"),
        ({"dose_gy": 30.0, "n_fractions": 5, "alpha_beta_gy": -3.0}, "alpha_beta_gy must be > 0"),
        ({"dose_gy": "30", "n_fractions": 5, "alpha_beta_gy": 3.0}, "must be numeric"),
        ({"dose_gy": [30.0, None], "n_fractions": 5, "alpha_beta_gy": 3.0}, "must be numeric"),
    ],
)
def test_bad_input_is_refused_with_a_named_error(kwargs, match):
    """Invalid doses, fraction counts and α/β raise InputError naming the argument."""
    with pytest.raises(InputError, match=match):
        lq.eqd2_gy(**kwargs)


def test_negative_voxel_in_array_is_refused():
    """One negative voxel in a dose array is reported with its value."""
    with pytest.raises(InputError, match=r"-0\.5"):
        lq.eqd2_gy(np.array([1.0, -0.5]), 5, 3.0)


@given(dose=doses, n=fractions, ab=alpha_betas)
def test_eqd2_equals_dose_at_2gy_per_fraction(dose, n, ab):
    """Property: when d = 2 Gy, EQD2 = D for any α/β (Withers formula with d = 2). In general, from
    EQD2 = D·(d + α/β)/(2 + α/β) with d = D/n: EQD2 − D = D·(d − 2)/(2 + α/β), so EQD2 exceeds D exactly
    when the dose per fraction exceeds 2 Gy, and falls short of it below."""
    total = 2.0 * n
    for fixed_ab in (1.5, 2.0, 3.0, 10.0, ab):
        assert lq.eqd2_gy(total, n, fixed_ab) == pytest.approx(total)
    excess = dose * (dose / n - 2.0) / (2.0 + ab)
    assert lq.eqd2_gy(dose, n, ab) - dose == pytest.approx(excess, rel=1e-9, abs=1e-9)
    if dose > 1e-6 and abs(dose / n - 2.0) > 1e-6:
        assert (lq.eqd2_gy(dose, n, ab) > dose) is (dose / n > 2.0)


@given(dose=doses, n=fractions, ab=alpha_betas)
def test_inverse_round_trips(dose, n, ab):
    """Property: physical_dose_for_eqd2(eqd2(D)) = D, and bed/eqd2 conversions invert each other."""
    eqd2 = lq.eqd2_gy(dose, n, ab)
    assert lq.physical_dose_for_eqd2_gy(eqd2, n, ab) == pytest.approx(dose, rel=1e-9, abs=1e-9)
    bed = lq.bed_gy(dose, n, ab)
    assert lq.eqd2_from_bed_gy(bed, ab) == pytest.approx(eqd2, rel=1e-12, abs=1e-12)
    assert lq.bed_from_eqd2_gy(eqd2, ab) == pytest.approx(bed, rel=1e-12, abs=1e-12)


@given(d1=doses, d2=doses, n=fractions, ab=alpha_betas)
def test_monotone_in_dose(d1, d2, n, ab):
    """Property: BED and EQD2 increase with total dose at fixed fractions and α/β."""
    lo, hi = sorted((d1, d2))
    assert lq.eqd2_gy(lo, n, ab) <= lq.eqd2_gy(hi, n, ab)
    assert lq.bed_gy(lo, n, ab) <= lq.bed_gy(hi, n, ab)


@given(dose=st.floats(min_value=0.1, max_value=100.0), n=fractions)
def test_large_alpha_beta_tends_to_physical_dose(dose, n):
    """Property: EQD2 → D as α/β → ∞ (fractionation insensitive tissue)."""
    assert lq.eqd2_gy(dose, n, 1e9) == pytest.approx(dose, rel=1e-6)


@given(dose=st.floats(min_value=0.1, max_value=100.0), n=st.integers(min_value=2, max_value=40),
       ab=alpha_betas)
def test_fewer_fractions_means_more_effect_above_2gy(dose, n, ab):
    """Property: the same total in fewer (larger) fractions has a larger EQD2 (d-dependence of LQ)."""
    assert lq.eqd2_gy(dose, n - 1, ab) > lq.eqd2_gy(dose, n, ab)


def test_eqd2dose_refuses_mixed_alpha_beta():
    """EQD2 at α/β 3 and α/β 5 (e.g. bladder in two systems) must not be summed."""
    total = lq.Eqd2Dose(10.0, 3.0) + lq.Eqd2Dose(5.0, 3.0)
    assert total == lq.Eqd2Dose(15.0, 3.0)
    with pytest.raises(IncompatibleDoseError, match="α/β 3 Gy to EQD2 at α/β 5 Gy"):
        _ = lq.Eqd2Dose(10.0, 3.0) + lq.Eqd2Dose(5.0, 5.0)
