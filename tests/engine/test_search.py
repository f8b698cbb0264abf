"""Pieces of the predictive isotoxic search (``reirrad.search``) checked against their definitions.

The search as a whole is checked end to end in tests/e2e/test_workflow.py (same level as an
exhaustive search on every stub patient); here, the nearest-distance helper it leans on.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reirrad.search import _min_distance


def by_definition(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """min over q of ||p − q||, pair by pair."""
    return np.array([np.min(np.linalg.norm(others - p, axis=1)) for p in points])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 5000), st.floats(-400.0, 400.0), st.integers(0, 2**32 - 1))
def test_nearest_distance_is_the_definition(n: int, m: int, shift_mm: float, seed: int) -> None:
    """Random point sets anywhere in a pelvic frame (shifted up to ±400 mm, more than one chunk of
    2048 others): equal to the pairwise definition within 1e-6 mm."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-60.0, 60.0, (n, 3)) + shift_mm
    others = rng.uniform(-150.0, 150.0, (m, 3)) + shift_mm
    expected = by_definition(points, others)
    np.testing.assert_allclose(_min_distance(points, others), expected, rtol=0, atol=1e-6)


def test_coincident_points_and_empty_sets() -> None:
    """A point that is one of the others is at distance 0 (within 1e-5 mm, the documented rounding);
    no others: infinitely far; no points: nothing to return."""
    others = np.array([[312.5, -287.5, 1042.5], [0.0, 0.0, 0.0], [2.5, 2.5, 2.5]])
    points = np.array([[312.5, -287.5, 1042.5], [2.5, 2.5, 5.0]])
    got = _min_distance(points, others)
    assert got[0] <= 1e-5
    assert abs(got[1] - 2.5) <= 1e-9
    assert np.all(np.isinf(_min_distance(points, np.zeros((0, 3)))))
    assert _min_distance(np.zeros((0, 3)), others).shape == (0,)
