"""The shared array checks (``reirrad._validate``): the one-reduction non-negative check.

``check_float_array(..., non_negative=True)`` first asks ``_all_finite_non_negative``, which reads the
IEEE 754 bits as unsigned integers and takes one maximum (the reasoning is in its docstring). The
properties below compare it with the plain definition — every value finite and ``>= 0.0`` — on arrays
drawn to contain NaNs (of either sign), infinities, signed zeros, subnormals, the largest finite double
and ordinary doses, in any layout.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reirrad._validate import _all_finite_non_negative, check_float_array
from reirrad.errors import InputError

SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
           -1.7976931348623157e308, float("inf"), float("-inf"), float("nan"), -float("nan"), 30.0, -1e-12]
VALUES = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True, width=64))


def plain(arr: np.ndarray) -> bool:
    """The definition: every value finite and >= 0.0 (-0.0 included: it compares equal to 0.0)."""
    return bool(np.all(np.isfinite(arr)) and np.all(arr >= 0.0))


@given(st.lists(VALUES, min_size=1, max_size=40))
def test_one_reduction_agrees_with_the_definition(values: list) -> None:
    """True only for finite non-negative arrays; False for those only when a -0.0 is present."""
    arr = np.array(values, dtype=np.float64)
    fast = _all_finite_non_negative(arr)
    if fast:
        assert plain(arr)
    elif plain(arr):
        assert np.any(np.signbit(arr)), "a valid array without -0.0 must take the one-reduction path"


@given(st.lists(VALUES, min_size=1, max_size=40))
def test_check_refuses_exactly_the_invalid_arrays(values: list) -> None:
    """check_float_array(non_negative=True) raises iff some value is NaN, infinite or below 0.0."""
    arr = np.array(values, dtype=np.float64)
    if plain(arr):
        check_float_array("dose", arr, non_negative=True, unit="Gy")
    else:
        with pytest.raises(InputError, match="dose must be"):
            check_float_array("dose", arr, non_negative=True, unit="Gy")


def test_views_and_byte_orders() -> None:
    """Strided and transposed views are checked in place; another byte order falls back (same verdict)."""
    base = np.arange(24.0).reshape(2, 3, 4)
    assert _all_finite_non_negative(base[:, ::2, 1:].transpose(2, 0, 1))
    swapped = base.astype(">f8")
    assert not _all_finite_non_negative(swapped)  # not read bit-wise: the plain checks decide
    check_float_array("dose", swapped, non_negative=True, unit="Gy")
    swapped[1, 2, 3] = np.nan
    with pytest.raises(InputError, match="finite"):
        check_float_array("dose", swapped, non_negative=True, unit="Gy")


def test_negative_zero_is_a_valid_dose() -> None:
    """-0.0 leaves the bit-wise path (sign bit set) and is then accepted as the zero it is."""
    arr = np.array([[1.0, -0.0], [0.0, 2.0]])
    assert not _all_finite_non_negative(arr)
    check_float_array("dose", arr, non_negative=True, unit="Gy")
