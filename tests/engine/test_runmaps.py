"""Maps of a run (reirrad.runmaps) on LRRC-01 (one prior course, 45 Gy/25, 913 days before the new course).

Sources of truth: the guidance's recovery band (> 18 months → 50 %, docs/reference/radiobiology.md §1.2), the
LQ
inverse in closed form (n fractions of d with n·d·(d + α/β)/(2 + α/β) = EQD2 give
d = (−α/β + √(α/β² + 4·EQD2·(2 + α/β)/n))/2), and properties that must hold (remaining EQD2 in
[0, limit], effective prior EQD2 ≥ 0).
"""

from __future__ import annotations

import math

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


def test_remaining_maps_per_limited_oar(prep):
    maps = remaining_maps(prep)
    assert sorted(maps) == sorted(limited_oars(prep)) and maps
    for key, rmap in maps.items():
        tol = prep.tolerances[key]
        limit, ab, n = tol.cumulative_limit_eqd2_gy, tol.alpha_beta_gy, prep.n_fractions
        remaining = rmap.remaining_eqd2.values_gy
        assert remaining.min() >= 0.0 and remaining.max() <= limit + 1e-9
        # Where the prior dose is zero the whole limit remains: d from the closed form, times n.
        untouched = remaining == pytest.approx(limit)
        if np.any(untouched):
            d = (-ab + math.sqrt(ab * ab + 4.0 * limit * (2.0 + ab) / n)) / 2.0
            assert rmap.allowed_physical.values_gy[untouched].max() == pytest.approx(n * d, rel=1e-9)


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
