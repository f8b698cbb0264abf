"""The checks both TPS adapters share (one definition each): rigid registrations and dates.

Sources of truth: a rotation matrix is rigid exactly when RᵀR = I and det R = +1 (a reflection has
det −1, a scaling RᵀR ≠ I); ISO 8601 calendar dates YYYY-MM-DD.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from reirrad._validate import as_date
from reirrad.errors import InputError
from reirrad.snapshot import rigid_matrix


def _rotation_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = [10.0, -5.0, 2.5]
    return m


def test_rotation_and_translation_is_rigid():
    m = _rotation_z(30.0)
    assert np.array_equal(rigid_matrix(m, "registration R1", "fix it"), m)


@pytest.mark.parametrize(("change", "why"), [
    (lambda m: m @ np.diag([1.02, 1.0, 1.0, 1.0]), "scaled by 2 %"),
    (lambda m: m @ np.diag([-1.0, 1.0, 1.0, 1.0]), "a reflection (det -1)"),
    (lambda m: np.vstack([m[:3], [0.0, 0.0, 0.1, 1.0]]), "not homogeneous"),
    (lambda m: m[:3], "3x4"),
])
def test_non_rigid_transforms_are_refused_naming_the_registration(change, why):
    with pytest.raises(InputError, match="registration R1") as err:
        rigid_matrix(change(_rotation_z(30.0)), "registration R1", "register rigidly and run again")
    assert "register rigidly and run again" in str(err.value), why


def test_dates_from_objects_and_only_optionally_from_text():
    assert as_date("d", dt.datetime(2024, 6, 7, 15, 30), text=False) == dt.date(2024, 6, 7)
    assert as_date("d", " 2024-06-07 ", text=True) == dt.date(2024, 6, 7)
    with pytest.raises(InputError, match=r"last_fraction must be a datetime\.date"):
        as_date("last_fraction", "2024-06-07", text=False)
    for bad in ("07/06/2024", "2024-13-01", 20240607, None):
        with pytest.raises(InputError, match="YYYY-MM-DD"):
            as_date("last_fraction", bad, text=True)
