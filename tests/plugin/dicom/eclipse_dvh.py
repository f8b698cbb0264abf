"""Reading DICOM cumulative DVH curves (Eclipse's ``DVHSequence``, dicompyler-core's histograms) the
same way, for comparisons with reirrad's binless DVH (tests/plugin/dicom/test_eclipse_dvh.py and
benchmarks/bench_dicom_dvh.py).

A cumulative DVH in DICOM (PS3.3 C.8.8.4, DVH Sequence) is a list of (bin width, volume) pairs:
``DVHData`` = w₁, V₁, w₂, V₂, … with the bin widths in units of ``DVHDoseScaling`` × ``DoseUnits``,
and Vᵢ the volume receiving at least the dose at the **lower** edge of bin i (d₁ = 0, dᵢ₊₁ = dᵢ + wᵢ).
dicompyler-core's ``DVH.cumulative`` (``bins[:-1]``, ``counts``) has the same meaning.

Reading (one convention for every curve):

* the curve is piecewise linear through (dᵢ, Vᵢ), followed by (d_last + w_last, 0) when the last
  volume is not 0 (the dose at which the curve must have reached 0);
* D_v = the largest dose on that curve at which the volume is still ≥ v (linear between edges);
* Dmax = the first edge at which the volume is 0, i.e. the upper edge of the last non-empty bin
  (so it is within one bin width, 0.01 Gy here, above the true maximum);
* Dmean = Σ (bin centre × volume in the bin) / V₁, the bin volumes being the differences of the
  cumulative volumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class CurveMetrics:
    """Metrics read off a cumulative DVH curve (see the module docstring), Gy and cm³."""

    volume_cc: float
    max_gy: float
    mean_gy: float
    d0_5cc_gy: float
    d0_1cc_gy: float


def curve_metrics(bin_widths_gy: Sequence[float], cumulative_cc: Sequence[float]) -> CurveMetrics:
    """Metrics of a cumulative DVH given as bin widths (Gy) and volumes ≥ each lower edge (cm³)."""
    widths = np.asarray(bin_widths_gy, dtype=np.float64)
    volumes = np.asarray(cumulative_cc, dtype=np.float64)
    edges = np.concatenate([[0.0], np.cumsum(widths)])  # lower edges, then the last upper edge
    curve = np.concatenate([volumes, [0.0]])
    last = int(np.flatnonzero(curve > 0.0)[-1])
    total = float(curve[0])
    in_bin = -np.diff(curve)
    mean = float(np.dot((edges[:-1] + edges[1:]) / 2.0, in_bin) / total)

    def dose_at(v_cc: float) -> float:
        # the curve is non-increasing: interpolate dose against (negated) volume
        return float(np.interp(-v_cc, -curve, edges))

    return CurveMetrics(total, float(edges[last + 1]), mean, dose_at(0.5), dose_at(0.1))
