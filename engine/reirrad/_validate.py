"""Input checks shared by the engine's numerical modules (private).

Each check raises :class:`reirrad.errors.InputError` with the argument's name, the
value that was given and what is expected.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from .bounds import check_date
from .errors import InputError, echo

FloatArray = NDArray[np.float64]
Scalar = Union[float, int]


def as_date(name: str, value: Any, *, text: bool) -> dt.date:
    """``value`` as a ``datetime.date`` (a ``datetime`` gives its date), else raise.

    With ``text`` True, ISO text ``YYYY-MM-DD`` is accepted too (command line, answers and case files);
    with False only date objects are (Python callers of the adapters), so a string is never parsed in a
    guessed format. The year must be within :data:`reirrad.bounds.MIN_YEAR` …
    :data:`reirrad.bounds.MAX_YEAR`.
    """
    if isinstance(value, dt.datetime):
        return check_date(name, value.date())
    if isinstance(value, dt.date):
        return check_date(name, value)
    if text and isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return check_date(name, parsed)
    expected = "a date YYYY-MM-DD" if text else "a datetime.date, e.g. datetime.date(2024, 6, 7)"
    kind = "" if isinstance(value, str) else f" of type {type(value).__name__}"
    raise InputError(f"{name} must be {expected} (got {echo(value)}{kind})")


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a whole number ≥ 1, else raise.

    ``bool`` is refused although it is an ``int`` subclass, and so is a float such as
    ``5.0``: a fraction count given as a float usually means two arguments were swapped.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(
            f"{name} must be a whole number of fractions >= 1 (got {echo(value)} of type "
            f"{type(value).__name__}); pass an int such as 5"
        )
    if value < 1:
        raise InputError(f"{name} must be >= 1 (got {echo(value)}); a course has at least one fraction")
    return int(value)


def finite_float(name: str, value: Any, *, minimum: float | None = None,
                 strictly_positive: bool = False, unit: str = "") -> float:
    """Return ``value`` as a finite float, optionally bounded below; else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(
            f"{name} must be a real number{(' in ' + unit) if unit else ''} "
            f"(got {echo(value)} of type {type(value).__name__})"
        )
    try:
        as_float = float(value)
    except OverflowError:  # an int too large for a float
        raise InputError(f"{name} must be finite (got {echo(value)})") from None
    if not math.isfinite(as_float):
        raise InputError(f"{name} must be finite (got {echo(value)})")
    suffix = f" {unit}" if unit else ""
    if strictly_positive and not as_float > 0.0:
        raise InputError(f"{name} must be > 0{suffix} (got {echo(value)})")
    if minimum is not None and as_float < minimum:
        raise InputError(f"{name} must be >= {minimum:g}{suffix} (got {echo(value)})")
    return as_float


def float_array(name: str, value: Any, *, strictly_positive: bool = False,
                non_negative: bool = False, unit: str = "") -> FloatArray:
    """Return ``value`` as a NEW float64 array after checking it is finite and in range.

    Scalars become 0-d arrays. The check reports the first offending value.
    """
    raw = np.asarray(value)
    if raw.dtype.kind not in "iuf":  # refuse booleans, text ('30'), objects, complex, dates
        raise InputError(f"{name} must be numeric (got {echo(value)} of type {type(value).__name__})")
    arr = raw.astype(np.float64)  # always a copy: callers may keep and freeze it
    check_float_array(name, arr, strictly_positive=strictly_positive, non_negative=non_negative, unit=unit)
    return arr


def check_float_array(name: str, arr: FloatArray, *, strictly_positive: bool = False,
                      non_negative: bool = False, unit: str = "") -> None:
    """Check a float64 array as :func:`float_array` does, without copying it.

    The common case costs two reductions (min and max propagate NaN), or one for ``non_negative``
    (see :func:`_all_finite_non_negative`); masks are built only to report the first offending value.
    """
    suffix = f" {unit}" if unit else ""
    if arr.size == 0:
        return
    if non_negative and not strictly_positive and _all_finite_non_negative(arr):
        return
    lo, hi = float(arr.min()), float(arr.max())
    if (np.isfinite(lo) and np.isfinite(hi) and (not strictly_positive or lo > 0.0)
            and (not non_negative or lo >= 0.0)):
        return
    finite = np.isfinite(arr)
    if not np.all(finite):
        bad = arr[~finite].flat[0]
        raise InputError(f"{name} must be finite everywhere (found {bad!r}); "
                         "replace NaN/inf before converting")
    if strictly_positive and np.any(arr <= 0.0):
        bad = arr[arr <= 0.0].flat[0]
        raise InputError(f"{name} must be > 0{suffix} (found {bad!r})")
    if non_negative and np.any(arr < 0.0):
        bad = arr[arr < 0.0].flat[0]
        raise InputError(f"{name} must be >= 0{suffix} (found {bad!r}); "
                         "a dose cannot be negative")


_LARGEST_FINITE_BITS = int(np.array(np.finfo(np.float64).max).view(np.uint64))  # 0x7FEFFFFFFFFFFFFF


def _all_finite_non_negative(arr: FloatArray) -> bool:
    """True if every value is finite and ≥ +0.0, in one integer reduction over the IEEE 754 bits.

    A binary64 value read as an unsigned 64-bit integer is sign bit, exponent, fraction from the
    top bit down. The finite values with a clear sign bit (+0.0 … the largest finite double) are
    exactly the integers 0 … 0x7FEFFFFFFFFFFFFF; +inf (0x7FF0000000000000), every NaN
    (exponent all ones) and every value with the sign bit set (the negatives, −inf, −0.0) lie
    above. So the check is one ``max`` instead of ``min`` and ``max``. False is not a verdict:
    −0.0 (a valid zero) and arrays this view cannot take (another byte order) return False and the
    caller falls back to the value-by-value checks.
    """
    if arr.dtype != np.dtype("=f8"):
        return False
    return int(arr.view(np.uint64).max()) <= _LARGEST_FINITE_BITS


def is_scalar(*values: Any) -> bool:
    """True when every value is a Python/numpy scalar (not an array of any shape)."""
    return all(np.ndim(v) == 0 and not isinstance(v, np.ndarray) for v in values)
