"""DVH metric names used by protocol files and results (``Dmax``, ``Dmean``, ``D0.5cc`` …).

Volumes in metric names are absolute, in cm³ (``cc``). Relative-volume metrics are not
accepted for OAR limits: cumulative re-irradiation limits are stated for absolute volumes,
and a percentage of a structure changes with its contouring extent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .errors import InputError

__all__ = ["Metric", "parse_metric"]

_METRIC_RE = re.compile(r"^D(?:(?P<agg>max|mean)|(?P<vol>\d+(?:\.\d+)?)cc)$")

METRIC_FORMS = "'Dmax', 'Dmean' or 'D<volume>cc' such as 'D0.1cc', 'D0.5cc', 'D2cc', 'D10cc'"


@dataclass(frozen=True)
class Metric:
    """A dose metric of a structure.

    Attributes
    ----------
    name : str
        Canonical text, e.g. ``"D0.5cc"``.
    kind : str
        ``"max"``, ``"mean"`` or ``"volume"`` (minimum dose to the hottest ``volume_cc``).
    volume_cc : float or None
        The volume for ``kind == "volume"``, cm³.
    """

    name: str
    kind: str
    volume_cc: Optional[float] = None

    def __str__(self) -> str:
        return self.name


def parse_metric(text: object) -> Metric:
    """Parse a metric name such as ``"D0.5cc"``.

    Raises
    ------
    reirrad.errors.InputError
        For anything else, e.g. ``"D0.5c"`` or ``"V20Gy"``, naming the accepted forms.
    """
    if not isinstance(text, str):
        raise InputError(f"metric must be text such as 'D0.5cc' (got {text!r})")
    match = _METRIC_RE.match(text.strip())
    if match is None:
        raise InputError(f"unknown metric {text!r}; expected {METRIC_FORMS}")
    if match.group("agg"):
        return Metric(name=f"D{match.group('agg')}", kind=match.group("agg"))
    volume = float(match.group("vol"))
    if volume <= 0.0:
        raise InputError(f"metric {text!r} has a zero volume; use 'Dmax' for a point dose")
    # canonical name: 'D0.50cc' and 'D0.5cc' are the same metric
    return Metric(name=f"D{volume:g}cc", kind="volume", volume_cc=volume)
