"""Maps of a run (reirrad.runmaps) on LRRC-01 (one prior course, 45 Gy/25, 913 days before the new course).

Sources of truth: the guidance's recovery band (> 18 months → 50 %, docs/reference/radiobiology.md §1.2), the
LQ
inverse in closed form (n fractions of d with n·d·(d + α/β)/(2 + α/β) = EQD2 give
d = (−α/β + √(α/β² + 4·EQD2·(2 + α/β)/n))/2), and properties that must hold (remaining EQD2 in
[0, limit], effective prior EQD2 ≥ 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from reirrad.protocol import load_protocol
from reirrad.runmaps import display_recovery, effective_prior_map, limited_oars, remaining_maps
from reirrad.workflow import WorkflowOptions, prepare
from tps_stubs.direct import DirectCase

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


@pytest.fixture(scope="module")
def prep():
    return prepare(PROTOCOL, DirectCase("LRRC-01").read(), WorkflowOptions(dry_run=True))


def test_display_recovery_is_the_50_percent_band(prep):
    assert display_recovery(prep) == [pytest.approx(0.5)]


def _expected_remaining(prep, key, limit):
    """The map written out voxel by voxel: limit − (1 − f)·EQD2 of the prior dose at the OAR's α/β (the
    course's own fractions; f the recovery credited to the course for this OAR), floored at 0, and
    the allowed physical dose in the new course from the closed-form LQ inverse (module docstring)."""
    tol = prep.tolerances[key]
    ab, n = tol.alpha_beta_gy, prep.n_fractions
    (course,) = prep.prior_courses
    (fraction,) = [c.recovery.fraction for c in tol.courses]
    total = np.asarray(course.dose.values_gy)
    eqd2 = total * (total / course.n_fractions + ab) / (2.0 + ab)
    remaining = np.maximum(limit - (1.0 - fraction) * eqd2, 0.0)
    d = (-ab + np.sqrt(ab * ab + 4.0 * remaining * (2.0 + ab) / n)) / 2.0
    return remaining, n * d


def test_remaining_maps_per_limited_oar(prep):
    """Every limited OAR's map equals the closed form voxel by voxel, against its cumulative limit (the
    guidance's model checks against the limit itself: ``check_limit_eqd2_gy`` equals it)."""
    maps = remaining_maps(prep)
    assert sorted(maps) == sorted(limited_oars(prep)) and maps
    for key, rmap in maps.items():
        tol = prep.tolerances[key]
        assert tol.check_limit_eqd2_gy == tol.cumulative_limit_eqd2_gy
        remaining, allowed = _expected_remaining(prep, key, tol.cumulative_limit_eqd2_gy)
        np.testing.assert_allclose(rmap.remaining_eqd2.values_gy, remaining, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(rmap.allowed_physical.values_gy, allowed, rtol=1e-9, atol=1e-9)
        assert remaining.min() >= 0.0 and remaining.max() <= tol.cumulative_limit_eqd2_gy


def test_remaining_maps_check_against_the_single_course_tolerance_with_jones_grant():
    """Jones & Grant checks the cumulative EQD2 against min(limit L, single-course tolerance T)
    (reirrad.constraints; small bowel L = 70, T = 50 Gy in the protocol). The maps used L: where the
    check allowed 24.84 Gy (small bowel, LRRC-01) the exported map showed up to 31.82 Gy (a clinical
    review's finding). Now each map is the closed form against T where T < L, and no voxel's
    remaining EQD2 exceeds T."""
    jg = prepare(PROTOCOL, DirectCase("LRRC-01").read(),
                 WorkflowOptions(dry_run=True, recovery_model="jones-grant-2014"))
    maps = remaining_maps(jg)
    bowel = jg.tolerances["small_bowel"]
    tolerance = PROTOCOL.oar("small_bowel").single_course_tolerance_eqd2.value
    assert (bowel.check_limit_eqd2_gy, bowel.cumulative_limit_eqd2_gy, tolerance) == (50.0, 70.0, 50.0)
    for key, rmap in maps.items():
        check = jg.tolerances[key].check_limit_eqd2_gy
        remaining, allowed = _expected_remaining(jg, key, check)
        np.testing.assert_allclose(rmap.remaining_eqd2.values_gy, remaining, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(rmap.allowed_physical.values_gy, allowed, rtol=1e-9, atol=1e-9)
    assert maps["small_bowel"].remaining_eqd2.values_gy.max() <= 50.0


def test_effective_prior_map_is_half_the_prior_eqd2_somewhere(prep):
    """With 50 % credited, the effective EQD2 is half the prior EQD2 at the chosen α/β of each voxel."""
    emap = effective_prior_map(prep)
    assert emap is not None
    values = emap.eqd2.values_gy
    assert values.min() >= 0.0 and values.max() > 0.0
    prior = prep.prior_courses[0]
    d = prior.dose.values_gy / prior.n_fractions
    ab = emap.alpha_beta_gy
    expected = 0.5 * prior.dose.values_gy * (d + ab) / (2.0 + ab)
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-9)
