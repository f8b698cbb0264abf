"""LQ-L model (reirrad.lql): derived values from docs/reference/radiobiology.md §2.2."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reirrad import lq, lql
from reirrad.errors import InputError


def test_45gy_5fx_ab3_transition_6gy_gives_165():
    """45 Gy/5 (d = 9), α/β 3, d_T 6: BED = 5·[9·(1 + 12/3) − 36/3] = 5·(45 − 12) = 165 Gy₃ (LQ 180)."""
    assert lql.bed_lql_gy(45.0, 5, 3.0, 6.0) == pytest.approx(165.0)
    assert lq.bed_gy(45.0, 5, 3.0) == pytest.approx(180.0)


def test_45gy_5fx_ab10_transition_6gy_gives_81():
    """α/β 10, d_T 6: BED = 5·[9·2.2 − 3.6] = 5·16.2 = 81.0 Gy₁₀ (LQ 85.5)."""
    assert lql.bed_lql_gy(45.0, 5, 10.0, 6.0) == pytest.approx(81.0)
    assert lql.eqd2_lql_gy(45.0, 5, 10.0, 6.0) == pytest.approx(81.0 / 1.2)


@given(dose=st.floats(min_value=0.0, max_value=30.0), n=st.integers(1, 10))
def test_equals_plain_lq_below_transition(dose, n):
    """Property: for d ≤ d_T the LQ-L BED equals the plain LQ BED."""
    d_t = 6.0
    if dose / n <= d_t:
        assert lql.bed_lql_gy(dose, n, 3.0, d_t) == pytest.approx(lq.bed_gy(dose, n, 3.0))


@given(d=st.floats(min_value=0.0, max_value=30.0), d_t=st.floats(min_value=2.0, max_value=15.0))
def test_never_above_plain_lq_and_continuous(d, d_t):
    """Property: LQ-L ≤ LQ everywhere (the linear tangent lies below the parabola), equal at d_T."""
    assert lql.bed_lql_gy(d, 1, 3.0, d_t) <= lq.bed_gy(d, 1, 3.0) + 1e-9
    assert lql.bed_lql_gy(d_t, 1, 3.0, d_t) == pytest.approx(lq.bed_gy(d_t, 1, 3.0))


def test_arrays_and_bad_transition():
    """Arrays are accepted; an EQD2 with d_T < 2 Gy is refused (2 Gy reference not in the LQ region)."""
    out = lql.bed_lql_gy(np.array([10.0, 45.0]), 5, 3.0, 6.0)
    np.testing.assert_allclose(out, [10.0 * (1 + 2.0 / 3.0), 165.0])
    with pytest.raises(InputError, match=">= 2 Gy"):
        lql.eqd2_lql_gy(45.0, 5, 3.0, 1.5)
    with pytest.raises(InputError, match="transition_dose_gy must be > 0"):
        lql.bed_lql_gy(45.0, 5, 3.0, 0.0)
