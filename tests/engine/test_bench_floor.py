"""The speed benchmark's floor (``benchmarks/bench_dicom_dvh.voxel_centre_floor``) against hand counts.

The floor is a figure in the decision on issue 19's speed target: the benchmark checks its counts
against dicompyler-core's on real data when dicompyler-core is installed; these phantoms check it
without dicompyler-core, on voxel centres countable by hand (1 mm voxels, centres at integer mm).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from reirrad.dose import DoseGrid

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_dicom_dvh import voxel_centre_floor


def square(low: float, high: float, z: float) -> np.ndarray:
    return np.array([[low, low, z], [high, low, z], [high, high, z], [low, high, z]])


@pytest.fixture
def grid() -> DoseGrid:
    """10 × 10 × 3 voxels of 1 mm, centres at 0..9 mm (x, y) and 0..2 mm (z); dose = 1 + x index (Gy)."""
    values = np.broadcast_to(1.0 + np.arange(10.0), (3, 10, 10)).copy()
    return DoseGrid(values, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def test_square_counts_the_centres_inside(grid: DoseGrid) -> None:
    # centres 2..5 in x and y: 16 voxels; their doses 3, 4, 5, 6 Gy, 4 voxels each
    count, histogram = voxel_centre_floor(grid, [square(1.5, 5.5, 1.0)])
    assert count == 16
    assert histogram.sum() == 16
    assert [int(histogram[round(d * 100) - 1:round(d * 100) + 1].sum()) for d in (3, 4, 5, 6)] == [4, 4, 4, 4]


def test_hole_by_even_odd_rule_and_planes_off_the_grid(grid: DoseGrid) -> None:
    # outer 2..7 (36 centres) minus the hole 4..5 (4 centres); a contour at z 1.4 mm belongs to plane 1
    # (the nearest), one at z 7 mm to no plane of the grid (its nearest, 7, lies off it) and adds nothing
    contours = [square(1.5, 7.5, 1.4), square(3.5, 5.5, 1.4), square(1.5, 7.5, 7.0)]
    count, _ = voxel_centre_floor(grid, contours)
    assert count == 32


def test_two_planes_and_a_triangle(grid: DoseGrid) -> None:
    # right triangle (0.5, 0.5) (6.7, 0.5) (0.5, 6.7): centres (i, j) >= 1 with i + j <= 7 (none on the
    # hypotenuse x + y = 7.2): 6 + 5 + 4 + 3 + 2 + 1 = 21 voxels; and the 16-voxel square on another plane
    triangle = np.array([[0.5, 0.5, 0.0], [6.7, 0.5, 0.0], [0.5, 6.7, 0.0]])
    count, _ = voxel_centre_floor(grid, [triangle, square(1.5, 5.5, 2.0)])
    assert count == 21 + 16
