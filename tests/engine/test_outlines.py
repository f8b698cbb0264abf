"""Outlines of voxel masks (reirrad.outlines): hand-countable loops and the round trip through the
engine's own occupancy (module docstring of reirrad.outlines, "Exactness")."""

from __future__ import annotations

import numpy as np
import pytest

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.outlines import mask_loops, outline_planes
from reirrad.structures import structure_occupancy


def _area(loop):
    """Shoelace area of a lattice loop (positive counter-clockwise)."""
    x = np.array([p[0] for p in loop], float)
    y = np.array([p[1] for p in loop], float)
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_single_voxel_is_a_unit_square_counter_clockwise():
    m = np.zeros((3, 3), bool)
    m[1, 1] = True
    (loop,) = mask_loops(m)
    assert loop == [(1, 1), (2, 1), (2, 2), (1, 2)]
    assert _area(loop) == 1.0


def test_l_shape_has_six_corners_and_its_voxel_count_as_area():
    m = np.zeros((4, 4), bool)
    m[0:3, 0] = True
    m[0, 0:3] = True  # an L of 5 voxels
    (loop,) = mask_loops(m)
    assert len(loop) == 6
    assert _area(loop) == 5.0


def test_ring_gives_an_outer_loop_and_a_clockwise_hole():
    m = np.ones((5, 5), bool)
    m[2, 2] = False
    loops = mask_loops(m)
    areas = sorted(_area(lp) for lp in loops)
    assert areas == [-1.0, 25.0]  # hole clockwise: 25 - 1 = 24 voxels by the even-odd rule


def test_voxels_touching_at_a_corner_stay_separate_loops():
    m = np.zeros((2, 2), bool)
    m[0, 0] = m[1, 1] = True
    loops = mask_loops(m)
    assert sorted(_area(lp) for lp in loops) == [1.0, 1.0]
    # and the complementary pinch: a hole touching the outside at a corner
    m = np.ones((3, 3), bool)
    m[1, 1] = m[2, 2] = False
    assert sum(_area(lp) for lp in mask_loops(m)) == 7.0


def test_empty_mask_has_no_loops_and_3d_is_refused():
    assert mask_loops(np.zeros((4, 4), bool)) == []
    with pytest.raises(InputError, match="2-D"):
        mask_loops(np.zeros((2, 2, 2), bool))


def _grid(direction=None):
    return DoseGrid(np.zeros((12, 20, 16)), origin_mm=(-30.0, -40.0, -15.0), spacing_mm=(2.0, 2.5, 3.0),
                    direction=direction)


@pytest.mark.parametrize("direction", [None, np.diag([-1.0, -1.0, 1.0]), np.diag([1.0, 1.0, -1.0])])
def test_round_trip_through_the_engine_occupancy_is_exact(direction):
    """Contours on one plane per slice, at the slice centres: every mask voxel fully occupied, every
    other voxel empty (random blob with holes and corner contacts)."""
    grid = _grid(direction)
    rng = np.random.default_rng(7)
    mask = np.zeros(grid.shape, bool)
    mask[3:9, 4:15, 3:13] = rng.random((6, 11, 10)) < 0.6
    planes = [float(grid.index_to_patient_mm([[0, 0, k]])[0][2]) for k in range(grid.shape[0])]
    outlines = outline_planes(mask, grid, planes)
    assert [round(o.z_mm, 6) for o in outlines] == sorted(round(p, 6) for k, p in enumerate(planes)
                                                          if mask[k].any())
    contours = [loop for o in outlines for loop in o.loops_mm]
    occ = structure_occupancy(contours, grid, plane_spacing_mm=3.0, sub_samples=1)
    fraction = np.asarray(occ.fraction)
    np.testing.assert_allclose(fraction[mask], 1.0, atol=1e-9)
    np.testing.assert_allclose(fraction[~mask], 0.0, atol=1e-9)
    assert occ.volume_cc == pytest.approx(mask.sum() * grid.voxel_volume_cc)


def test_planes_map_to_the_nearest_slice_and_outside_planes_are_dropped():
    grid = _grid()
    mask = np.zeros(grid.shape, bool)
    mask[5, 10, 8] = True  # slice 5 at z = -15 + 15 = 0 mm
    (o,) = outline_planes(mask, grid, [1.4, 100.0, -100.0])  # 1.4 mm from slice 5's centre
    assert o.z_mm == 1.4
    (loop,) = o.loops_mm
    np.testing.assert_allclose(loop[:, 2], 1.4)
    xs, ys = sorted(set(loop[:, 0])), sorted(set(loop[:, 1]))
    assert xs == pytest.approx([-30 + 8 * 2 - 1, -30 + 8 * 2 + 1])  # voxel edges ±1 mm about x = -14
    assert ys == pytest.approx([-40 + 10 * 2.5 - 1.25, -40 + 10 * 2.5 + 1.25])
    with pytest.raises(InputError, match="shape"):
        outline_planes(mask[:-1], grid, [0.0])


def test_loops_come_after_their_containers_and_holes_are_marked():
    """Island C in hole B in island A, and an isolated voxel: A, B, C ordered by area, B the hole."""
    grid = _grid()
    mask = np.zeros(grid.shape, bool)
    mask[4, 2:11, 2:11] = True   # A: 9 x 9
    mask[4, 4:9, 4:9] = False    # B: 5 x 5 hole
    mask[4, 6, 6] = True         # C: 1 voxel island in B
    mask[4, 15, 13] = True       # D: apart, 1 voxel
    z = float(grid.index_to_patient_mm([[0, 0, 4]])[0][2])
    (o,) = outline_planes(mask, grid, [z])
    areas = [abs(0.5 * float(np.sum(lp[:, 0] * np.roll(lp[:, 1], -1) - np.roll(lp[:, 0], -1) * lp[:, 1])))
             / (2.0 * 2.5) for lp in o.loops_mm]
    assert areas == pytest.approx([81.0, 25.0, 1.0, 1.0])
    assert o.holes == (False, True, False, False)
