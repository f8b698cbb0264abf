"""Input checks shared by the TPS adapters (private)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional

from reirrad.errors import InputError

__all__ = ["number"]


def number(name: str, value: Any, unit: str, *, minimum: float, inclusive: bool = True,
            maximum: Optional[float] = None) -> float:
    """``value`` as a finite float within bounds, else InputError naming ``name``, value and unit."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InputError(f"{name} must be a finite number in {unit} (got {value!r})")
    out = float(value)
    low_ok = out >= minimum if inclusive else out > minimum
    if not low_ok or (maximum is not None and out > maximum):
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        if maximum is not None:
            bound += f" and <= {maximum:g}"
        raise InputError(f"{name} must be {bound} {unit} (got {value!r})")
    return out
