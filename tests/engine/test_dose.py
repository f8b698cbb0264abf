"""Dose grids (reirrad.dose): geometry convention, validation, trilinear resampling.

Sources of truth: the docs/design.md §5 convention (voxel [k, j, i] at origin + direction·(i·sx, j·sy,
k·sz)), hand-computed coordinates, and the exactness of trilinear interpolation for fields that
are linear in x, y and z (a property of multilinear interpolation). Deformable resampling: the
DisplacementField definition (a target point p reads the source at A·(p + u(p))) evaluated in
closed form.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reirrad import dose as reirrad_dose
from reirrad.dose import DisplacementField, DoseGrid
from reirrad.errors import IncompatibleDoseError, InputError

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


def _handed_over(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype=np.float64)
    values.flags.writeable = False
    return values


def test_a_read_only_owned_float64_array_is_adopted_and_still_checked():
    """A reader that hands over its own read-only float64 array saves a copy (the grid holds that very
    array); the array is still validated (NaN, +inf and negative doses refused); a view of another
    array, or a writable one, is copied as before."""
    owned = _handed_over(np.ones((2, 2, 2)))
    assert DoseGrid(owned, (0, 0, 0), (1, 1, 1)).values_gy is owned
    for bad, match in ((np.nan, "finite"), (np.inf, "finite"), (-1.0, "negative")):
        values = np.ones((2, 2, 2))
        values[1, 0, 1] = bad
        with pytest.raises(InputError, match=match):
            DoseGrid(_handed_over(values), (0, 0, 0), (1, 1, 1))
    base = np.ones((2, 2, 4))
    view = base[:, :, :2]
    view.flags.writeable = False
    assert DoseGrid(view, (0, 0, 0), (1, 1, 1)).values_gy is not view


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values_gy": np.full((2, 2, 2), np.nan)}, "finite"),
        ({"values_gy": np.array([[[1.0, np.inf], [0.0, 0.0]]])}, "finite"),
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


@pytest.mark.parametrize("size", [2, 3, 17])
def test_corners_equal_clipping_the_index_to_the_centre_range_first(size):
    """The kernel's lower voxel and weight along an axis are, bit for bit, those of the plain
    definition: the index clipped to the centre range [0, size − 1], its lower voxel floor(index)
    at most size − 2 (the last interval ends at the last centre), its weight the remainder. Checked
    below, at and above the range, within the 1e-6 voxel tolerance of its ends and at random."""
    rng = np.random.default_rng(size)
    ends = [0.0, size - 2.0, size - 1.0]
    index = np.concatenate([
        [-7.0, -1.0, -1e-6, -1e-7, -0.0, 0.5, size - 1.5, size - 1.0 + 1e-7, size - 1.0 + 1e-6, size + 3.0],
        ends, np.nextafter(ends, -np.inf), np.nextafter(ends, np.inf), rng.uniform(-2.0, size + 1.0, 200)])
    clipped = np.clip(index, 0.0, size - 1.0)
    lower = np.minimum(np.floor(clipped), size - 2.0)
    corners = reirrad_dose._corners((1, 1, size), [index.copy(), np.zeros_like(index)])
    np.testing.assert_array_equal(corners.lowest, lower.astype(np.intp))
    np.testing.assert_array_equal(corners.weights[0], clipped - lower)
    np.testing.assert_array_equal(corners.inside, (index >= -1e-6) & (index <= size - 1.0 + 1e-6))


def multilinear_dose(points: np.ndarray) -> np.ndarray:
    """D = 20 + 0.1·x − 0.05·y + 0.2·z + 0.01·xy + 0.005·yz − 0.004·xz + 0.0002·xyz Gy (x, y, z mm).

    Linear in each coordinate separately, so trilinear interpolation on an axis-aligned grid
    reproduces it exactly at any point (positive on the boxes used here).
    """
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return (20.0 + 0.1 * x - 0.05 * y + 0.2 * z + 0.01 * x * y + 0.005 * y * z - 0.004 * x * z
            + 0.0002 * x * y * z)


def rotation_matrix(axis, angle: float, shift) -> np.ndarray:
    """4x4 rotation by ``angle`` rad about the unit vector of ``axis`` (Rodrigues), then ``shift`` mm."""
    u = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    cross = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    matrix = np.eye(4)
    matrix[:3, :3] = np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross
    matrix[:3, 3] = shift
    return matrix


@given(
    axis=st.sampled_from([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, -2.0, 3.0)]),
    angle=st.floats(-math.pi, math.pi),
    shift=st.tuples(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)),
)
def test_rotated_multilinear_field_is_reproduced_exactly(axis, angle, shift):
    """Property: through any rotation (about x, y, z or an oblique axis) and shift, each covered
    target voxel gets the closed-form D at its mapped centre; a centre mapped clearly outside the
    source's voxel-centre box (−12…18 mm) gets 0 Gy and is not covered, one clearly inside is."""
    source = grid_from_function((16, 16, 16), (-12.0, -12.0, -12.0), (2.0, 2.0, 2.0),
                                fn=multilinear_dose)
    target = DoseGrid(np.zeros((6, 7, 8)), (-6.0, -5.0, -4.0), (2.1, 1.9, 2.3))
    transform = rotation_matrix(axis, angle, shift)
    out = source.resample(target, transform)
    centres = np.concatenate([target.voxel_centres_mm(k) for k in range(6)])
    mapped = centres @ transform[:3, :3].T + transform[:3, 3]
    values, inside = out.grid.values_gy.ravel(), out.inside.ravel()
    np.testing.assert_allclose(values[inside], multilinear_dose(mapped[inside]), rtol=1e-9, atol=1e-9)
    assert (values[~inside] == 0.0).all()
    margin_mm = 1e-3
    clearly_in = np.all((mapped > -12.0 + margin_mm) & (mapped < 18.0 - margin_mm), axis=1)
    clearly_out = np.any((mapped < -12.0 - margin_mm) | (mapped > 18.0 + margin_mm), axis=1)
    assert inside[clearly_in].all()
    assert not inside[clearly_out].any()


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


# -- deformable resampling (DisplacementField) --------------------------------------------------


def field_from_function(shape, origin, spacing, fn, direction=None) -> DisplacementField:
    """A DVF whose voxel [k, j, i] holds fn(centre) (rows of (dx, dy, dz) mm)."""
    geometry = DoseGrid(np.zeros(shape), origin, spacing, direction)
    vectors = np.stack([fn(geometry.voxel_centres_mm(k)).reshape((*shape[1:], 3)) for k in range(shape[0])])
    return DisplacementField(vectors, origin, spacing, direction)


def all_centres(grid: DoseGrid) -> np.ndarray:
    """Voxel centres of every slice, in the raveled [z, y, x] order of values_gy."""
    return np.concatenate([grid.voxel_centres_mm(k) for k in range(grid.shape[0])])


def test_zero_field_equals_identity_resampling():
    """By definition p_source = p + 0: a zero field reproduces resample() without transform (to
    rounding: the rigid path interpolates axis by axis, the same weights summed in another order)."""
    source = grid_from_function((5, 6, 7), (0.0, 0.0, 0.0), (2.0, 2.0, 3.0))
    target = DoseGrid(np.zeros((3, 4, 5)), (1.0, 0.5, 2.0), (2.5, 2.0, 3.0))
    zero = DisplacementField(np.zeros((4, 5, 6, 3)), (-1.0, -1.0, -1.0), (4.0, 3.0, 5.0))
    out = source.resample_deformable(target, zero)
    rigid = source.resample(target)
    np.testing.assert_allclose(out.grid.values_gy, rigid.grid.values_gy, rtol=1e-14)
    np.testing.assert_array_equal(out.inside, rigid.inside)
    assert out.inside.all()


def test_uniform_field_equals_the_translation_matrix_and_the_closed_form():
    """A uniform u = (2.5, 0, −1) mm equals T = translation(2.5, 0, −1), and D(p + u) in closed form."""
    source = grid_from_function((10, 10, 10), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((3, 4, 3)), (4.0, 3.0, 5.0), (2.0, 1.5, 2.5))
    u = np.array([2.5, 0.0, -1.0])
    uniform = DisplacementField(np.broadcast_to(u, (3, 3, 3, 3)), (0.0, 0.0, 0.0), (9.0, 9.0, 9.0))
    out = source.resample_deformable(target, uniform)
    shift = np.eye(4)
    shift[:3, 3] = u
    np.testing.assert_allclose(out.grid.values_gy, source.resample(target, shift).grid.values_gy,
                               atol=1e-12)
    np.testing.assert_allclose(out.grid.values_gy.ravel(), linear_dose(all_centres(target) + u),
                               rtol=1e-12, atol=1e-10)
    assert out.inside.all()


@pytest.mark.parametrize(
    ("name", "displacement"),
    [
        ("u = (0.05·x, 0, 0)", lambda p: np.column_stack([0.05 * p[:, 0], 0 * p[:, 0], 0 * p[:, 0]])),
        ("u = (0.05·x, −0.02·y, 0.01·x·y)",
         lambda p: np.column_stack([0.05 * p[:, 0], -0.02 * p[:, 1], 0.01 * p[:, 0] * p[:, 1]])),
    ],
)
def test_spatially_varying_field_against_the_closed_form(name, displacement):
    """Closed form D(p + u(p)), with u interpolated exactly (trilinear is exact for multilinear u).

    The field lives on its own coarser, offset grid so its values really are interpolated. The
    expected dose is the source's linear D evaluated at the exactly known mapped point: sampling a
    linear D is exact at any point, whereas a trilinear interpolation of the *composed* dose on the
    target grid would not be (D∘(p + u) is not linear in general), hence the tight 1e-9 tolerance.
    """
    source = grid_from_function((16, 16, 16), (-2.0, -2.0, -2.0), (2.0, 2.0, 2.0))  # centres −2…28 mm
    target = DoseGrid(np.zeros((5, 6, 7)), (0.5, 1.0, 1.5), (3.0, 2.5, 2.0))
    dvf = field_from_function((5, 6, 6), (-1.0, -0.5, 0.0), (5.0, 4.0, 3.0), displacement)
    out = source.resample_deformable(target, dvf)
    points = all_centres(target)
    expected = linear_dose(points + displacement(points))
    assert out.inside.all(), name
    np.testing.assert_allclose(out.grid.values_gy.ravel(), expected, rtol=1e-12, atol=1e-9)
    assert not np.allclose(out.grid.values_gy.ravel(), linear_dose(points))  # the field did something


def test_feet_first_field_maps_like_head_first():
    """The DVF uses the DoseGrid geometry convention: a feet-first field of the same u is equivalent."""
    source = grid_from_function((16, 16, 16), (-2.0, -2.0, -2.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((4, 4, 4)), (2.0, 2.0, 2.0), (3.0, 3.0, 3.0))

    def u(p):
        return np.column_stack([0.03 * p[:, 2], 0.02 * p[:, 0], -0.04 * p[:, 1]])

    hf = field_from_function((6, 5, 5), (0.0, 0.0, 0.0), (4.0, 4.0, 3.0), u)
    ff = field_from_function((6, 5, 5), (0.0, 0.0, 15.0), (4.0, 4.0, 3.0), u, FEET_FIRST)
    a = source.resample_deformable(target, hf).grid.values_gy
    b = source.resample_deformable(target, ff).grid.values_gy
    np.testing.assert_allclose(a, b, atol=1e-10)
    points = all_centres(target)
    np.testing.assert_allclose(a.ravel(), linear_dose(points + u(points)), atol=1e-9)


def test_affine_is_applied_after_the_deformation():
    """Documented order p_source = A·(p + u): with A a 90° rotation about z, D(R(p + u)) ≠ D(Rp + u)."""
    source = grid_from_function((12, 12, 12), (-11.0, -11.0, -11.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((2, 3, 3)), (-2.0, -2.0, 0.0), (2.0, 2.0, 2.0))
    u = np.array([3.0, 0.0, 0.0])
    uniform = DisplacementField(np.broadcast_to(u, (2, 2, 2, 3)), (-5.0, -5.0, -5.0), (10.0, 10.0, 10.0))
    rot = np.eye(4)
    rot[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]
    out = source.resample_deformable(target, uniform, affine=rot)
    moved = all_centres(target) + u
    rotated = np.column_stack([-moved[:, 1], moved[:, 0], moved[:, 2]])
    np.testing.assert_allclose(out.grid.values_gy.ravel(), linear_dose(rotated), atol=1e-10)
    wrong_order = all_centres(target) @ rot[:3, :3].T + u
    assert not np.allclose(out.grid.values_gy.ravel(), linear_dose(wrong_order))


def test_mapped_outside_the_source_gets_zero_and_is_counted():
    """A uniform +4 mm shift in x pushes target x = 16, 18 mm to 20, 22 mm, beyond the source's last
    centre (18 mm): those 2 of 4 voxels get 0 Gy and fraction_outside = 0.5."""
    source = DoseGrid(np.full((10, 10, 10), 5.0), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((1, 1, 4)), (12.0, 4.0, 4.0), (2.0, 2.0, 2.0))
    shift = DisplacementField(np.broadcast_to([4.0, 0.0, 0.0], (2, 2, 2, 3)), (0.0, 0.0, 0.0),
                              (20.0, 20.0, 20.0))
    out = source.resample_deformable(target, shift)
    np.testing.assert_allclose(out.grid.values_gy.ravel(), [5.0, 5.0, 0.0, 0.0])
    assert out.inside.ravel().tolist() == [True, True, False, False]
    assert out.fraction_outside(np.ones((1, 1, 4))) == pytest.approx(0.5)


def test_outside_the_field_extent_gets_zero_and_is_counted():
    """Target voxels at x = 14, 16 mm lie beyond the field's last centre (12 mm): no registration is
    known there, so they get 0 Gy and count as outside although the source covers them."""
    source = DoseGrid(np.full((10, 10, 10), 5.0), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((1, 1, 4)), (10.0, 4.0, 4.0), (2.0, 2.0, 2.0))
    zero = DisplacementField(np.zeros((2, 2, 2, 3)), (0.0, 0.0, 0.0), (12.0, 12.0, 12.0))
    out = source.resample_deformable(target, zero)
    assert source.resample(target).inside.all()
    np.testing.assert_allclose(out.grid.values_gy.ravel(), [5.0, 5.0, 0.0, 0.0])
    assert out.inside.ravel().tolist() == [True, True, False, False]
    assert out.fraction_outside(np.array([[[0.0, 1.0, 1.0, 1.0]]])) == pytest.approx(2.0 / 3.0)


def test_displacement_field_is_immutable_and_samples_trilinearly():
    """Values are copied and read-only; a field linear in x is sampled exactly between centres."""
    vectors = np.zeros((2, 2, 2, 3))
    vectors[:, :, 1, 0] = 4.0  # dx = 0 at x = 0 mm, 4 at x = 2 mm → 1.5 at x = 0.75 mm
    dvf = DisplacementField(vectors, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    vectors[0, 0, 0, 0] = 99.0
    assert dvf.vectors_mm[0, 0, 0, 0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        dvf.vectors_mm[0, 0, 0, 0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        dvf.origin_mm = (1.0, 1.0, 1.0)  # type: ignore[misc]
    u, inside = dvf.sample([[0.75, 1.0, 0.3], [3.0, 1.0, 1.0]])
    np.testing.assert_allclose(u, [[1.5, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert inside.tolist() == [True, False]
    assert dvf.shape == (2, 2, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vectors_mm": np.full((2, 2, 2, 3), np.nan)}, "vectors_mm must be finite"),
        ({"vectors_mm": np.zeros((2, 2, 2))}, r"shape \(nz, ny, nx, 3\)"),
        ({"vectors_mm": np.zeros((2, 2, 2, 2))}, r"shape \(nz, ny, nx, 3\)"),
        ({"vectors_mm": np.zeros((3, 2, 2, 2))}, "last axis"),
        ({"vectors_mm": np.zeros((0, 2, 2, 3))}, "non-empty"),
        ({"spacing_mm": (1.0, 0.0, 1.0)}, "spacing_mm must be > 0"),
        ({"spacing_mm": (1.0, 1.0, -2.0)}, "spacing_mm must be > 0"),
        ({"origin_mm": (0.0, float("nan"), 0.0)}, "origin_mm must be finite"),
        ({"direction": np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])}, "orthonormal"),
    ],
)
def test_invalid_displacement_fields_are_refused(kwargs, match):
    """NaN, wrong shape, non-positive spacing, non-finite origin, skewed direction: clear InputErrors."""
    args = {"vectors_mm": np.zeros((2, 2, 2, 3)), "origin_mm": (0.0, 0.0, 0.0), "spacing_mm": (1.0, 1.0, 1.0)}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        DisplacementField(**args)


def test_bad_deformable_arguments_are_refused():
    """A field that is not a DisplacementField, or a non-homogeneous affine, is refused by name."""
    grid = DoseGrid(np.ones((2, 2, 2)), (0, 0, 0), (1, 1, 1))
    dvf = DisplacementField(np.zeros((2, 2, 2, 3)), (0, 0, 0), (1, 1, 1))
    with pytest.raises(InputError, match="field must be a DisplacementField"):
        grid.resample_deformable(grid, np.zeros((2, 2, 2, 3)))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="affine must be a 4x4"):
        grid.resample_deformable(grid, dvf, affine=np.eye(3))
    with pytest.raises(InputError, match="target must be a DoseGrid"):
        grid.resample_deformable(dvf, dvf)  # type: ignore[arg-type]


def test_frames_of_reference():
    """Resampling without a transform between grids in different known frames is refused; the result
    takes the target's frame."""
    a = DoseGrid(np.ones((2, 2, 2)), (0, 0, 0), (1, 1, 1), frame_of_reference_uid="1.2.3")
    b = DoseGrid(np.zeros((2, 2, 2)), (0, 0, 0), (1, 1, 1), frame_of_reference_uid="4.5.6")
    with pytest.raises(IncompatibleDoseError, match="register"):
        a.resample(b)
    assert a.resample(b, np.eye(4)).grid.frame_of_reference_uid == "4.5.6"


def resampled_as_point_sampling(source: DoseGrid, target: DoseGrid, transform: np.ndarray):
    """``source.resample(target, transform)``, checked voxel by voxel against ``source.sample`` at
    each mapped target voxel centre (values within 1e-12, the same coverage)."""
    out = source.resample(target, transform)
    for k in range(target.shape[0]):
        centres = target.voxel_centres_mm(k)
        expected, covered = source.sample(centres @ transform[:3, :3].T + transform[:3, 3])
        np.testing.assert_allclose(out.grid.values_gy[k].ravel(), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(out.inside[k].ravel(), covered)
    return out


@pytest.mark.parametrize("transform", [
    np.array([[1.0, 0, 0, 1.3], [0, 1, 0, -0.7], [0, 0, 1, 2.1], [0, 0, 0, 1]]),  # translation
    np.array([[-1.0, 0, 0, 20.3], [0, 1, 0, -0.7], [0, 0, -1, 30.1], [0, 0, 0, 1]]),  # two flips
    np.array([[0.0, -1, 0, 15.2], [1, 0, 0, -0.4], [0, 0, 1, 1.0], [0, 0, 0, 1]]),  # 90° about z
    np.array([[1.0, 0, 0, 0.5], [0, math.cos(0.2), -math.sin(0.2), 1.0],
              [0, math.sin(0.2), math.cos(0.2), -2.0], [0, 0, 0, 1]]),  # 0.2 rad about x
    rotation_matrix((0.0, 1.0, 0.0), 0.3, (1.0, -0.5, 0.7)),  # about y
    rotation_matrix((0.0, 0.0, 1.0), -0.25, (0.4, 0.9, -1.1)),  # about z
    rotation_matrix((1.0, -2.0, 3.0), 0.2, (0.5, 1.0, -2.0)),  # oblique axis
])
def test_every_resampling_path_agrees_with_point_sampling(transform):
    """resample() (row by row for translations, flips and rotations about x; plane by plane for
    rotations about z or y; an 8-corner gather for oblique rotations) gives, voxel by voxel, what
    ``sample`` gives at each mapped voxel centre, 0 and not covered outside."""
    rng = np.random.default_rng(7)
    source = DoseGrid(rng.uniform(0.0, 50.0, (9, 11, 13)), (-3.0, 1.0, 2.0), (2.5, 2.0, 3.0))
    target = DoseGrid(np.zeros((8, 10, 12)), (-1.0, 0.0, 4.0), (2.0, 2.5, 2.5))
    out = resampled_as_point_sampling(source, target, transform)
    assert 0 < out.inside.sum() < out.inside.size


@pytest.mark.parametrize("transform", [
    np.eye(4),
    rotation_matrix((0.0, 0.0, 1.0), 0.3, (0.5, -0.5, 0.0)),  # about z: plane by plane
    rotation_matrix((1.0, 0.0, 0.0), math.pi, (0.5, 20.0, 8.0)),  # about x (z = 4 mm onto itself)
    rotation_matrix((0.0, 1.0, 0.0), math.pi, (20.0, -0.5, 8.0)),  # about y (likewise)
])
def test_a_single_slice_source_covers_only_its_plane(transform):
    """A one-slice source (one voxel along z, at z = 4 mm) is interpolated in x and y only; target
    voxels whose mapped centre is off its plane (beyond 1e-6 voxel) get 0 Gy and are not covered:
    here all but the target's first slice (z = 4 mm, mapped onto z = 4 mm)."""
    rng = np.random.default_rng(3)
    source = DoseGrid(rng.uniform(0.0, 50.0, (1, 11, 13)), (-3.0, 1.0, 4.0), (2.5, 2.0, 3.0))
    target = DoseGrid(np.zeros((3, 10, 12)), (-1.0, 0.0, 4.0), (2.0, 2.5, 2.5))
    out = resampled_as_point_sampling(source, target, transform)
    assert out.inside[0].any()
    assert not out.inside[1:].any()
