"""Dose grids (reirrad.dose): geometry convention, validation, trilinear resampling.

Sources of truth: the DESIGN.md §5 convention (voxel [k, j, i] at origin + direction·(i·sx, j·sy,
k·sz)), hand-computed coordinates, and the exactness of trilinear interpolation for fields that
are linear in x, y and z (a property of multilinear interpolation).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reirrad.dose import DoseGrid
from reirrad.errors import InputError

FEET_FIRST = np.diag([1.0, 1.0, -1.0])


def linear_dose(points: np.ndarray) -> np.ndarray:
    """D(x, y, z) = 20 + 0.1·x − 0.05·y + 0.2·z Gy (non-negative on the boxes used here)."""
    return 20.0 + 0.1 * points[:, 0] - 0.05 * points[:, 1] + 0.2 * points[:, 2]


def grid_from_function(shape, origin, spacing, direction=None, fn=linear_dose) -> DoseGrid:
    geometry = DoseGrid(np.zeros(shape), origin, spacing, direction)
    values = np.stack([fn(geometry.voxel_centres_mm(k)).reshape(shape[1:]) for k in range(shape[0])])
    return DoseGrid(values, origin, spacing, direction)


def test_voxel_position_convention():
    """Voxel [k=2, j=1, i=3] of a grid with origin (−10, 5, 100) and spacing (2, 3, 2.5) mm is at
    (−10 + 3·2, 5 + 1·3, 100 + 2·2.5) = (−4, 8, 105); feet-first it is at z = 100 − 5 = 95."""
    grid = DoseGrid(np.zeros((4, 3, 5)), (-10.0, 5.0, 100.0), (2.0, 3.0, 2.5))
    np.testing.assert_allclose(grid.index_to_patient_mm([3, 1, 2]), [[-4.0, 8.0, 105.0]])
    np.testing.assert_allclose(grid.patient_mm_to_index([-4.0, 8.0, 105.0]), [[3.0, 1.0, 2.0]])
    ff = DoseGrid(np.zeros((4, 3, 5)), (-10.0, 5.0, 100.0), (2.0, 3.0, 2.5), FEET_FIRST)
    np.testing.assert_allclose(ff.index_to_patient_mm([3, 1, 2]), [[-4.0, 8.0, 95.0]])
    assert grid.voxel_volume_cc == pytest.approx(2.0 * 3.0 * 2.5 / 1000.0)


def test_immutable():
    """Values are copied and read-only; attributes cannot be reassigned."""
    source = np.ones((2, 2, 2))
    grid = DoseGrid(source, (0, 0, 0), (1, 1, 1))
    source[0, 0, 0] = 99.0
    assert grid.values_gy[0, 0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        grid.values_gy[0, 0, 0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.origin_mm = (1.0, 1.0, 1.0)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values_gy": np.full((2, 2, 2), np.nan)}, "finite"),
        ({"values_gy": -np.ones((2, 2, 2))}, "negative"),
        ({"values_gy": np.ones((2, 2))}, "3-D"),
        ({"values_gy": np.ones((0, 2, 2))}, "3-D"),
        ({"spacing_mm": (1.0, 0.0, 1.0)}, "spacing_mm must be > 0"),
        ({"spacing_mm": (1.0, -2.5, 1.0)}, "spacing_mm must be > 0"),
        ({"spacing_mm": (1.0, 1.0)}, "3 values"),
        ({"origin_mm": (0.0, float("inf"), 0.0)}, "finite"),
        ({"direction": np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])}, "orthonormal"),
        ({"direction": np.eye(2)}, "3x3"),
        ({"quantity": "BED"}, "quantity"),
        ({"alpha_beta_gy": 3.0}, "only meaningful"),
    ],
)
def test_invalid_grids_are_refused(kwargs, match):
    """NaN, negative dose, wrong dimensionality, bad spacing/origin/direction are clear errors."""
    args = {"values_gy": np.ones((2, 2, 2)), "origin_mm": (0.0, 0.0, 0.0), "spacing_mm": (1.0, 1.0, 1.0)}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        DoseGrid(**args)


def test_identity_resampling_returns_the_same_values():
    """Resampling onto the same geometry reproduces every voxel, all inside."""
    grid = grid_from_function((5, 6, 7), (0.0, 0.0, 0.0), (2.0, 2.0, 3.0))
    out = grid.resample(grid)
    np.testing.assert_allclose(out.grid.values_gy, grid.values_gy, atol=1e-12)
    assert out.inside.all()


@given(
    ox=st.floats(-3.0, 3.0), oy=st.floats(-3.0, 3.0), oz=st.floats(-3.0, 3.0),
    sx=st.floats(0.7, 3.0), sz=st.floats(0.7, 3.0),
)
def test_trilinear_is_exact_for_a_linear_field(ox, oy, oz, sx, sz):
    """Property: a field linear in x, y, z is reproduced exactly at any inside target voxel."""
    source = grid_from_function((16, 16, 16), (-12.0, -12.0, -12.0), (2.0, 2.0, 2.0))  # centres −12…18 mm
    target = DoseGrid(np.zeros((4, 5, 6)), (ox - 2.0, oy - 2.0, oz - 2.0), (sx, 1.0, sz))
    out = source.resample(target)
    assert out.inside.all()
    expected = np.stack([linear_dose(target.voxel_centres_mm(k)).reshape(5, 6) for k in range(4)])
    np.testing.assert_allclose(out.grid.values_gy, expected, rtol=1e-10, atol=1e-10)


def test_rigid_translation_through_a_4x4_matrix():
    """p_source = T·p_target with a 2.5 mm shift in x: the target sees D(x + 2.5, y, z)."""
    source = grid_from_function((10, 10, 10), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((3, 3, 3)), (4.0, 4.0, 4.0), (2.0, 2.0, 2.0))
    shift = np.eye(4)
    shift[0, 3] = 2.5
    out = source.resample(target, shift)
    centres = np.concatenate([target.voxel_centres_mm(k) for k in range(3)])
    centres[:, 0] += 2.5
    np.testing.assert_allclose(out.grid.values_gy.ravel(), linear_dose(centres), atol=1e-10)


def test_rotation_about_z_by_90_degrees():
    """T rotates (x, y) → (−y, x): the target at (x, y, z) sees D(−y, x, z)."""
    source = grid_from_function((9, 9, 9), (-8.0, -8.0, -8.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((2, 3, 3)), (-2.0, -2.0, 0.0), (2.0, 2.0, 2.0))
    rot = np.eye(4)
    rot[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]
    out = source.resample(target, rot)
    centres = np.concatenate([target.voxel_centres_mm(k) for k in range(2)])
    rotated = np.column_stack([-centres[:, 1], centres[:, 0], centres[:, 2]])
    np.testing.assert_allclose(out.grid.values_gy.ravel(), linear_dose(rotated), atol=1e-10)


def test_feet_first_and_head_first_hold_the_same_dose():
    """A feet-first grid (z decreasing with k) of the same field samples identically to head-first."""
    hf = grid_from_function((8, 6, 6), (0.0, 0.0, 0.0), (2.0, 2.0, 2.5))
    ff = grid_from_function((8, 6, 6), (0.0, 0.0, 17.5), (2.0, 2.0, 2.5), FEET_FIRST)
    np.testing.assert_allclose(ff.values_gy[::-1], hf.values_gy, atol=1e-12)
    points = np.array([[3.3, 4.1, 5.2], [1.0, 9.0, 16.0], [10.0, 0.5, 0.1]])
    np.testing.assert_allclose(ff.sample(points)[0], hf.sample(points)[0], atol=1e-12)
    np.testing.assert_allclose(hf.sample(points)[0], linear_dose(points), atol=1e-12)


def test_outside_points_get_zero_and_coverage_is_reported():
    """Target voxels beyond the source's voxel-centre box get 0 Gy; the OAR fraction outside is
    the occupancy-weighted share: here 2 of 4 occupied voxels (x = 20, 22 mm > last centre 18 mm)."""
    source = DoseGrid(np.full((10, 10, 10), 5.0), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((1, 1, 4)), (16.0, 4.0, 4.0), (2.0, 2.0, 2.0))
    out = source.resample(target)
    np.testing.assert_allclose(out.grid.values_gy.ravel(), [5.0, 5.0, 0.0, 0.0])
    assert out.inside.ravel().tolist() == [True, True, False, False]
    assert out.fraction_outside(np.ones((1, 1, 4))) == pytest.approx(0.5)
    assert out.fraction_outside(np.array([[[1.0, 1.0, 0.0, 0.0]]])) == 0.0
    with pytest.raises(InputError, match="empty"):
        out.fraction_outside(np.zeros((1, 1, 4)))


def test_bad_transform_is_refused():
    """A transform that is not a 4x4 homogeneous matrix is refused."""
    grid = DoseGrid(np.ones((2, 2, 2)), (0, 0, 0), (1, 1, 1))
    with pytest.raises(InputError, match="4x4"):
        grid.resample(grid, np.eye(3))
    bad = np.eye(4)
    bad[3, 0] = 1.0
    with pytest.raises(InputError, match="last row"):
        grid.resample(grid, bad)


def test_bad_sample_points_and_occupancy_are_refused():
    """NaN points would silently read as 'outside' (0 Gy): refused; occupancy above 1 is refused."""
    grid = DoseGrid(np.ones((2, 2, 2)), (0, 0, 0), (1, 1, 1))
    with pytest.raises(InputError, match="finite"):
        grid.sample([[0.5, np.nan, 0.5]])
    with pytest.raises(InputError, match="rows of"):
        grid.sample([[0.5, 0.5]])
    out = grid.resample(grid)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        out.fraction_outside(np.full((2, 2, 2), 2.0))
