"""Shared helpers of the pyradplan backend tests.

The tests that need pyRadPlan run in their own environment (``make pytest-pyradplan`` builds
``.venv-pyradplan`` with the ``pyradplan`` extra and sets ``REIRRAD_REQUIRE_PYRADPLAN=1``): there a missing
engine fails the test. In the main ``.venv`` (no pyRadPlan, by design) they skip, saying why.
"""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np
import pytest

from reirrad.dose import DoseGrid
from reirrad.snapshot import StructureData

#: Set by ``make pytest-pyradplan``: pyRadPlan must be importable, a skip would hide a broken environment.
REQUIRED = "REIRRAD_REQUIRE_PYRADPLAN"


def require_pyradplan() -> None:
    """Skip (main environment) or fail (the pyradplan environment) when the backend cannot run."""
    from reirrad_tps.pyradplan.engine import describe_missing  # noqa: PLC0415

    reason = describe_missing()
    if reason is None:
        return
    if os.environ.get(REQUIRED):
        pytest.fail(f"pyRadPlan unavailable in its own environment: {reason}")
    pytest.skip(f"pyRadPlan not installed here (make pytest-pyradplan runs these tests): {reason}")


def box_contours(x: Tuple[float, float], y: Tuple[float, float], z: Tuple[float, float],
                 step: float = 2.5) -> Tuple[np.ndarray, ...]:
    """Closed axial rectangles (mm) on planes from z0 to z1 every ``step`` mm."""
    zs = np.arange(z[0], z[1] + 1e-9, step)
    return tuple(np.array([[x[0], y[0], zz], [x[1], y[0], zz], [x[1], y[1], zz], [x[0], y[1], zz]])
                 for zz in zs)


def phantom_structures() -> Tuple[StructureData, ...]:
    """A hand-checkable phantom: a 160 × 120 × 120 mm water body, a 30 mm cubic target at x = +30 mm, a
    bone block at x = -50 mm and an OAR bar between them."""
    return (StructureData("BODY", "EXTERNAL", box_contours((-80, 80), (-60, 60), (-60, 60))),
            StructureData("PTV", "PTV", box_contours((15, 45), (-15, 15), (-15, 15))),
            StructureData("Femur_Head_L", "ORGAN", box_contours((-65, -35), (-15, 15), (-15, 15))),
            StructureData("Rectum", "ORGAN", box_contours((-10, 5), (-10, 10), (-30, 30))))


def phantom_grid(spacing: float = 5.0) -> DoseGrid:
    """A zero grid covering the phantom with air around it (voxel centres from (-100, -75, -75) mm)."""
    n = (int(200 / spacing) + 1, int(150 / spacing) + 1, int(150 / spacing) + 1)
    return DoseGrid(np.zeros((n[2], n[1], n[0])), (-100.0, -75.0, -75.0), (spacing,) * 3)
