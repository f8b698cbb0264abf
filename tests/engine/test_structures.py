"""Structure occupancy from contours (reirrad.structures).

Sources of truth: hand-countable squares on 1 mm pixels, the slab model's own closed form
(Σ π·ρ²·Δ), the sphere volume 4/3·π·r³, and invariance under grid orientation.
"""

from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reirrad import structures
from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.errors import IncompatibleDoseError, InputError
from reirrad.structures import _self_intersects, mask_from_contours, structure_occupancy
from tests.engine.phantoms import circle, cylinder_contours, slab_model_sphere_volume_mm3, sphere_contours


def square(x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])


def unit_grid(shape=(5, 5, 6)) -> DoseGrid:
    """1 mm voxels, centre of voxel [0, 0, 0] at the origin: voxel i spans x ∈ [i − ½, i + ½]."""
    return DoseGrid(np.zeros(shape), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def test_pixel_aligned_box_is_counted_exactly():
    """Square x ∈ [−½, 2½], y ∈ [−½, 1½] on planes z = 0, 1, 2: 3×2 pixels × 3 slices, occupancy 1."""
    grid = unit_grid()
    occ = structure_occupancy([square(-0.5, 2.5, -0.5, 1.5, z) for z in (0.0, 1.0, 2.0)], grid)
    expected = np.zeros(grid.shape)
    expected[0:3, 0:2, 0:3] = 1.0
    np.testing.assert_allclose(occ.fraction, expected, atol=1e-12)
    assert occ.volume_cc == pytest.approx(18 / 1000)
    assert occ.volume_in_grid_cc == pytest.approx(18 / 1000)
    assert occ.findings == ()


def test_half_pixels_give_half_occupancy():
    """Square x ∈ [0, 2], y ∈ [−½, ½]: pixels i = 0 and 2 are half covered, i = 1 fully."""
    grid = unit_grid()
    occ = structure_occupancy([square(0.0, 2.0, -0.5, 0.5, 0.0)], grid, plane_spacing_mm=1.0)
    np.testing.assert_allclose(occ.fraction[0, 0, :4], [0.5, 1.0, 0.5, 0.0], atol=1e-12)
    assert occ.volume_cc == pytest.approx(2.0 / 1000)


def test_triangle_area_fractions():
    """Right triangle (0,0),(2,0),(0,2) shifted by −½: area 2 mm²; pixel (0,0) fully inside except a
    corner? Check the total area and that every fraction lies in [0, 1]."""
    grid = unit_grid()
    tri = np.array([[-0.5, -0.5, 0.0], [1.5, -0.5, 0.0], [-0.5, 1.5, 0.0]])
    occ = structure_occupancy([tri], grid, plane_spacing_mm=1.0, subrows=64)
    assert occ.fraction.sum() == pytest.approx(2.0, abs=1e-4)  # midpoint rule in y is exact for
    assert occ.fraction[0, 0, 0] == pytest.approx(1.0)          # a linear edge: error only O(1/64²)
    assert occ.fraction[0, 0, 1] == pytest.approx(0.5, abs=1e-3)
    assert occ.fraction[0, 1, 1] == pytest.approx(0.0, abs=1e-3)


def test_hole_and_islands_by_even_odd():
    """Outer 4×4 square with a 2×2 hole (area 12) plus a separate 1×1 island (area 1) = 13 mm²."""
    grid = DoseGrid(np.zeros((1, 10, 10)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    contours = [square(-0.5, 3.5, -0.5, 3.5, 0.0), square(0.5, 2.5, 0.5, 2.5, 0.0),
                square(5.5, 6.5, 5.5, 6.5, 0.0)]
    occ = structure_occupancy(contours, grid, plane_spacing_mm=1.0)
    assert occ.fraction.sum() == pytest.approx(13.0)
    assert occ.fraction[0, 1, 1] == 0.0 and occ.fraction[0, 0, 0] == 1.0 and occ.fraction[0, 6, 6] == 1.0


def test_end_caps_and_gaps_between_planes():
    """Planes z = 0, 1, 2 and 6, 7 (Δ = 1): slabs [−½, 2½] and [5½, 7½]; voxels 3–5 stay empty."""
    grid = DoseGrid(np.zeros((10, 3, 3)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    contours = [square(-0.5, 0.5, -0.5, 0.5, z) for z in (0.0, 1.0, 2.0, 6.0, 7.0)]
    occ = structure_occupancy(contours, grid)
    np.testing.assert_allclose(occ.fraction[:, 0, 0], [1, 1, 1, 0, 0, 0, 1, 1, 0, 0], atol=1e-12)


def test_contour_planes_between_dose_planes():
    """A single plane at z = 0.5 with 1 mm slab covers [0, 1]: voxels k = 0 and 1 get ½ each."""
    grid = unit_grid()
    occ = structure_occupancy([square(-0.5, 0.5, -0.5, 0.5, 0.5)], grid, plane_spacing_mm=1.0)
    np.testing.assert_allclose(occ.fraction[:3, 0, 0], [0.5, 0.5, 0.0], atol=1e-12)


def test_coarse_planes_on_a_fine_grid():
    """Planes every 3 mm on a 1 mm grid: each slab covers three voxels fully (no gaps, no overlaps)."""
    grid = DoseGrid(np.zeros((12, 3, 3)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    occ = structure_occupancy([square(-0.5, 0.5, -0.5, 0.5, z) for z in (2.0, 5.0, 8.0)], grid)
    np.testing.assert_allclose(occ.fraction[:, 0, 0], [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0], atol=1e-12)


SPHERE_GRID = DoseGrid(np.zeros((40, 40, 40)), (-39.0, -39.0, -39.0), (2.0, 2.0, 2.0))
CENTRE = (0.3, -0.7, 0.4)


@pytest.mark.parametrize("radius", [10.0, 25.0])
@pytest.mark.parametrize("phase", [0.0, 0.37, 1.0])
def test_sphere_reproduces_the_slab_model_volume(radius, phase):
    """Occupancy integrates to the slab model's closed form Σ π·ρ_m²·Δ (2 mm planes) within 0.1 %:
    the 256-gon loses 1e-4 of each circle's area and the in-plane mid-point rule in y (4 or more sub-rows per
    pixel, the default is 8) errs by up to ~5e-4 on the smallest circles."""
    occ = structure_occupancy(sphere_contours(CENTRE, radius, 2.0, phase), SPHERE_GRID)
    expected = slab_model_sphere_volume_mm3(radius, 2.0, phase) / 1000.0
    assert occ.volume_cc == pytest.approx(expected, rel=1e-3)
    assert occ.volume_in_grid_cc == pytest.approx(occ.volume_cc, rel=1e-9)


@pytest.mark.parametrize(("radius", "plane_spacing"), [(10.0, 1.0), (25.0, 1.0), (25.0, 2.0), (10.0, 2.0)])
def test_sphere_volume_within_one_percent_of_four_thirds_pi_r_cubed(radius, plane_spacing):
    """4/3·π·r³ (4.189 cm³ for r = 10 mm, 65.45 cm³ for r = 25 mm) within 1 % on 2 mm voxels.

    Contour planes at a phase of 0.37 mm. Known limit of the slab model (docs): for r = 10 mm on
    2 mm planes the error reaches −1.0 % when a plane falls exactly Δ from the poles.
    """
    occ = structure_occupancy(sphere_contours(CENTRE, radius, plane_spacing, 0.37), SPHERE_GRID)
    assert occ.volume_cc == pytest.approx(4.0 / 3.0 * math.pi * radius**3 / 1000.0, rel=0.01)


def test_cylinder_volume():
    """Cylinder R = 15 mm, length 40 mm: π·R²·2L = 28.27 cm³ within 0.1 % (slabs cover it exactly)."""
    occ = structure_occupancy(cylinder_contours(CENTRE, 15.0, 20.0, 2.0), SPHERE_GRID)
    assert occ.volume_cc == pytest.approx(math.pi * 225.0 * 40.0 / 1000.0, rel=1e-3)


def test_orientation_does_not_change_the_structure():
    """Feet-first (z decreasing), x-flipped and 90°-rotated grids covering the same voxel centres give
    the same occupancy at the same patient positions. Flips are exact; the rotation scans lines along
    the other patient axis, so it agrees to the sub-row accuracy (boundary voxels within 0.1 with
    4 sub-rows, total volume within 0.1 %)."""
    contours = sphere_contours(CENTRE, 10.0, 2.0, 0.37)
    head_first = structure_occupancy(contours, SPHERE_GRID).fraction
    ff = DoseGrid(np.zeros((40, 40, 40)), (-39.0, -39.0, 39.0), (2.0, 2.0, 2.0), np.diag([1.0, 1.0, -1.0]))
    np.testing.assert_allclose(structure_occupancy(contours, ff).fraction[::-1], head_first, atol=1e-9)
    xflip = DoseGrid(np.zeros((40, 40, 40)), (39.0, -39.0, -39.0), (2.0, 2.0, 2.0), np.diag([-1.0, 1.0, 1.0]))
    np.testing.assert_allclose(structure_occupancy(contours, xflip).fraction[:, :, ::-1], head_first,
                               atol=1e-9)
    # columns: x index runs along +y, y index along −x (a 90° in-plane rotation)
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    rotated = DoseGrid(np.zeros((40, 40, 40)), (39.0, -39.0, -39.0), (2.0, 2.0, 2.0), rot)
    occ_rot = structure_occupancy(contours, rotated).fraction
    # voxel [k, j, i] of `rotated` is at x = 39 − 2j, y = −39 + 2i, i.e. head-first [k, i, 39 − j]
    as_head_first = np.transpose(occ_rot, (0, 2, 1))[:, :, ::-1]
    np.testing.assert_allclose(as_head_first, head_first, atol=0.1)
    assert as_head_first.sum() == pytest.approx(head_first.sum(), rel=1e-3)


def test_partly_outside_the_grid_is_reported_not_silent():
    """A sphere centred on the grid edge: about half its volume is off the grid, flagged with the %."""
    grid = DoseGrid(np.zeros((20, 20, 20)), (0.0, -19.0, -19.0), (2.0, 2.0, 2.0))
    occ = structure_occupancy(sphere_contours((0.0, 0.0, 0.0), 10.0, 2.0, 0.37), grid, name="Bladder")
    assert 0.4 < 1.0 - occ.volume_in_grid_cc / occ.volume_cc < 0.6
    assert [f.code for f in occ.findings] == ["structure-partly-outside-dose-grid"]
    assert "Bladder" in occ.findings[0].message


def test_off_grid_planes_area_is_computed_on_first_use_of_the_volume(monkeypatch, caplog):
    """The box x ∈ [−½, 2½], y ∈ [−½, 1½] on planes z = 0 … 9 (1 mm apart) against a grid of slices
    z = 0 … 3: six of its ten slabs miss the grid. Occupancy, DVH and its metrics do not compute
    those planes' area; the first read of ``volume_cc`` or ``findings`` does, once. The volume is
    then the box's 6 mm² × 10 mm = 60 mm³ (slab model, end caps ½ mm: z from −½ to 9½), the in-grid
    part 6 × 4 = 24 mm³, and the finding says 60 % is outside, logged when decided. Until then the
    occupancy keeps the grid's geometry alone, not the grid (its doses can be freed)."""
    calls = []
    real = structures._off_grid_areas_px

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(structures, "_off_grid_areas_px", counted)
    grid = unit_grid((4, 5, 6))
    box = [square(-0.5, 2.5, -0.5, 1.5, float(z)) for z in range(10)]
    occ = structure_occupancy(box, grid, name="Rectum")
    dvh = DVH.from_dose(grid, occ)
    assert (dvh.volume_cc, dvh.max_gy, dvh.dose_at_volume_cc(0.01)) == (pytest.approx(0.024), 0.0, 0.0)
    assert calls == [] and caplog.records == []
    # the pending volume keeps the grid's geometry, not its doses: the grid can go
    gone = weakref.ref(grid)
    del grid, dvh
    gc.collect()
    assert gone() is None
    assert occ.volume_in_grid_cc == pytest.approx(0.024, rel=1e-12)
    assert occ.volume_cc == pytest.approx(0.060, rel=1e-12)
    assert [f.code for f in occ.findings] == ["structure-partly-outside-dose-grid"]
    assert "Rectum: 60.0 % of its 0.06 cm³" in occ.findings[0].message
    assert occ.findings is occ.findings and calls == [1]
    assert [r.getMessage() for r in caplog.records] == [occ.findings[0].message]


def test_volume_with_every_plane_on_the_grid_is_known_on_construction(monkeypatch):
    """The same box on planes z = 0 … 3, all inside the grid's pixels: the volume is the coverage's
    (no plane's area from the scan lines alone, :func:`_areas_px`, ever), 6 × 4 = 24 mm³."""
    monkeypatch.setattr(structures, "_areas_px", lambda *a, **k: pytest.fail("every plane is on the grid"))
    box = [square(-0.5, 2.5, -0.5, 1.5, float(z)) for z in range(4)]
    occ = structure_occupancy(box, unit_grid((4, 5, 6)))
    assert occ.volume_cc == pytest.approx(0.024, rel=1e-12) and occ.findings == ()


def test_self_intersection_is_flagged():
    """A bow-tie contour crosses itself: it is filled by even-odd and flagged."""
    grid = unit_grid()
    bowtie = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    occ = structure_occupancy([bowtie], grid, plane_spacing_mm=1.0)
    assert [f.code for f in occ.findings] == ["self-intersecting-contour"]


def crossing_pair_exists(xy: np.ndarray) -> bool:
    """The definition, pair by pair: two non-adjacent edges whose endpoints each lie strictly on
    opposite sides of the other's line."""
    n = len(xy)
    edges = [(xy[k], xy[(k + 1) % n]) for k in range(n)]

    def side(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing vertex
            (a, b), (c, d) = edges[i], edges[j]
            if side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0:
                return True
    return False


@settings(max_examples=300, deadline=None)
@given(st.integers(4, 40), st.booleans(), st.integers(0, 2**32 - 1))
def test_self_intersection_test_is_the_pairwise_definition(n: int, lattice: bool, seed: int) -> None:
    """Random polygons, also on a small integer lattice (touching vertices, collinear and horizontal
    edges, shared y-ranges): the pruned test (only edges whose y-ranges overlap) answers as the
    pairwise definition does."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(-4, 5, (n, 2)).astype(float) if lattice else rng.normal(0.0, 10.0, (n, 2))
    assert _self_intersects(xy) == crossing_pair_exists(xy)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(3, 25), st.booleans()), min_size=1, max_size=6),
       st.integers(0, 2**32 - 1))
def test_self_intersection_of_several_polygons_at_once_is_each_ones_definition(shapes, seed: int) -> None:
    """Several random polygons tested at once (each in its own band of the sort key, the candidate
    pairs filtered in sorted order) answer polygon by polygon as the pairwise definition does."""
    rng = np.random.default_rng(seed)
    polygons = [rng.integers(-4, 5, (n, 2)).astype(float) if lattice else rng.normal(0.0, 10.0, (n, 2))
                for n, lattice in shapes]
    assert structures._self_intersecting(polygons).tolist() == [crossing_pair_exists(xy) for xy in polygons]


def test_a_many_point_smooth_contour_is_not_flagged_and_a_fold_is() -> None:
    """A 720-point wavy ring is simple; moving one vertex to well outside the opposite side of the ring
    makes its two edges cross the ring there."""
    t = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    r = 40.0 + 3.0 * np.sin(7.0 * t)
    ring = np.column_stack([r * np.cos(t), r * np.sin(t)])
    assert not _self_intersects(ring)
    folded = ring.copy()
    folded[100] = -1.5 * folded[100]
    assert _self_intersects(folded) and crossing_pair_exists(folded)


@pytest.mark.parametrize(
    ("contours", "kwargs", "match"),
    [
        ([], {}, "no contours"),
        ([np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])], {}, "needs >= 3"),
        ([np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])], {}, "needs >= 3"),
        ([np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])], {"plane_spacing_mm": 1.0},
         "encloses no area"),
        ([np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.5], [0.0, 1.0, 0.0]])], {}, "not on one axial plane"),
        ([np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])], {}, r"\(N, 3\)"),
        ([np.array([[0.0, np.nan, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])], {}, "non-finite"),
        ([square(-0.5, 0.5, -0.5, 0.5, 0.0)], {}, "plane_spacing_mm"),
        ([square(100.0, 101.0, 100.0, 101.0, 0.0)], {"plane_spacing_mm": 1.0}, "inside the dose grid"),
        ([square(-0.5, 0.5, -0.5, 0.5, 50.0)], {"plane_spacing_mm": 1.0}, "inside the dose grid"),
        ([square(-0.5, 0.5, -0.5, 0.5, 0.0)], {"plane_spacing_mm": 1.0, "subrows": 0}, "subrows"),
    ],
)
def test_bad_contours_are_clear_errors(contours, kwargs, match):
    """Too few points, degenerate or non-axial polygons, off-grid or empty structures: errors."""
    with pytest.raises(InputError, match=match):
        structure_occupancy(contours, unit_grid(), **kwargs)


def test_a_bad_contour_names_its_structure():
    """Found on a hostile RT Structure Set: "contour 0 is not on one axial plane" named neither the ROI
    nor the file. The contour's message now starts with the structure's name."""
    tilted = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.5], [0.0, 1.0, 0.0]])
    with pytest.raises(InputError, match=r"^Rectum: contour 0 is not on one axial plane"):
        structure_occupancy([tilted], unit_grid(), name="Rectum")


def test_oblique_grid_is_refused():
    """A dose grid tilted out of the axial plane cannot take axial contours: clear error."""
    c, s = math.cos(0.2), math.sin(0.2)
    tilted = DoseGrid(np.zeros((3, 3, 3)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                      np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]))
    with pytest.raises(InputError, match="axial"):
        structure_occupancy([square(-0.5, 0.5, -0.5, 0.5, 0.0)], tilted, plane_spacing_mm=1.0)


def test_mask_from_contours_is_the_occupancy_array():
    """The docs/design.md §5 function returns the same fractional array, read-only, values in [0, 1]."""
    contours = [circle((0.0, 0.0), 8.0, z) for z in (-2.0, 0.0, 2.0)]
    mask = mask_from_contours(contours, SPHERE_GRID)
    np.testing.assert_array_equal(mask, structure_occupancy(contours, SPHERE_GRID).fraction)
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert not mask.flags.writeable


def test_mismatched_frames_of_reference_are_refused():
    """Contours in one frame of reference and a dose grid in another are never combined."""
    grid = DoseGrid(np.zeros((3, 3, 3)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), frame_of_reference_uid="1.2.3")
    contour = [square(-0.5, 0.5, -0.5, 0.5, 0.0)]
    with pytest.raises(IncompatibleDoseError, match=r"frame of reference 9\.9"):
        structure_occupancy(contour, grid, plane_spacing_mm=1.0, frame_of_reference_uid="9.9")
    ok = structure_occupancy(contour, grid, plane_spacing_mm=1.0, frame_of_reference_uid="1.2.3")
    assert ok.volume_cc == pytest.approx(0.001)


def test_possibly_open_contour_is_flagged():
    """A U-shaped polyline (closing edge 20 mm, other edges ≤ 1 mm) is flagged as possibly open."""
    xs = np.linspace(0.0, 20.0, 41)
    u_shape = np.concatenate([
        np.column_stack([np.zeros(21), np.linspace(20.0, 0.0, 21)]),
        np.column_stack([xs[1:], np.zeros(40)]),
        np.column_stack([np.full(20, 20.0), np.linspace(1.0, 20.0, 20)]),
    ])
    contour = np.column_stack([u_shape, np.zeros(len(u_shape))])
    grid = DoseGrid(np.zeros((1, 25, 25)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    occ = structure_occupancy([contour], grid, plane_spacing_mm=1.0)
    assert "possibly-open-contour" in [f.code for f in occ.findings]
    closed = structure_occupancy([circle((10.0, 10.0), 5.0, 0.0)], grid, plane_spacing_mm=1.0)
    assert closed.findings == ()


def test_open_looking_test_of_all_polygons_at_once_is_the_per_polygon_definition():
    """``_looking_open`` on many polygons at once against its definition taken polygon by polygon: closing
    edge > 2 mm, > 5 × ``np.median`` of the other edges, and at least 3 of those. Random polygons of 2 to
    9 points (odd and even numbers of edges, repeated points, so equal lengths), some with the last point
    moved far so that the closing edge is long, and three polygons on the 5 × median boundary."""
    rng = np.random.default_rng(7)

    def defined(xy: np.ndarray) -> bool:
        edges = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        closing = float(np.linalg.norm(xy[0] - xy[-1]))
        return len(edges) >= 3 and closing > 2.0 and closing > 5.0 * float(np.median(edges))

    polygons = []
    for _ in range(400):
        xy = rng.integers(0, 4, size=(int(rng.integers(2, 10)), 2)).astype(float)
        if rng.random() < 0.5:
            xy[-1] += rng.uniform(0.0, 30.0, size=2)
        polygons.append(xy)
    # on the boundary: points along x, closing edge exactly 5 × the median (not flagged), and 2⁻⁴⁰ more
    for xs, flagged in (([0, 1, 2, 3, 4, 5], False), ([0, 1, 2, 3, 5], False),
                        ([0, 1, 2, 3, 4, 5 + 2.0**-40], True)):
        polygons.append(np.column_stack([xs, np.zeros(len(xs))]).astype(float))
        assert defined(polygons[-1]) is flagged
    expected = [defined(xy) for xy in polygons]
    assert 50 < sum(expected) < 350
    assert structures._looking_open(polygons).tolist() == expected


def test_occupancy_is_stored_on_its_bounding_box():
    """Only the structure's bounding box is stored; the full-grid array and both DVH inputs agree
    (voxel-centre scoring, ``sub_samples=1``: a plain array carries no sub-voxel data)."""
    occ = structure_occupancy(sphere_contours(CENTRE, 10.0, 2.0, 0.37), SPHERE_GRID, sub_samples=1)
    assert occ.box_fraction.size < SPHERE_GRID.values_gy.size / 20
    full = occ.fraction
    assert full.shape == SPHERE_GRID.shape and not full.flags.writeable
    np.testing.assert_array_equal(full[occ.box], occ.box_fraction)
    assert full.sum() == pytest.approx(occ.box_fraction.sum())
    dose = DoseGrid(np.arange(SPHERE_GRID.values_gy.size, dtype=float).reshape(SPHERE_GRID.shape) / 1e3,
                    SPHERE_GRID.origin_mm, SPHERE_GRID.spacing_mm)
    a, b = DVH.from_dose(dose, occ), DVH.from_dose(dose, full)
    np.testing.assert_array_equal(a.doses_gy, b.doses_gy)
    np.testing.assert_allclose(a.volumes_cc, b.volumes_cc)


# --- sub-voxel occupancy of boundary voxels ----------------------------------------------
def test_sub_voxel_occupancy_of_a_half_covered_voxel():
    """Square x ∈ [−½, 0], y ∈ [−½, ½] on planes z = −¼, ¼ (spacing ½ mm: slabs [−½, 0], [0, ½]):
    voxel [0, 0, 0] is half covered, along x. With n = 4, sub-voxel columns a = 0, 1 (x < 0) are
    full and a = 2, 3 empty, in every sub-row and sub-slice (hand count)."""
    grid = unit_grid((3, 3, 3))
    occ = structure_occupancy([square(-0.5, 0.0, -0.5, 0.5, z) for z in (-0.25, 0.25)], grid,
                              plane_spacing_mm=0.5, sub_samples=4)
    expected_voxels = np.zeros(grid.shape)
    expected_voxels[0, 0, 0] = 0.5
    np.testing.assert_allclose(occ.fraction, expected_voxels, atol=1e-12)
    assert len(occ.sub_voxels) == 1
    assert np.unravel_index(occ.sub_voxels[0], occ.box_fraction.shape) == (0 - occ.box[0].start,
                                                                          0 - occ.box[1].start,
                                                                          0 - occ.box[2].start)
    expected = np.zeros((4, 4, 4))
    expected[:, :, :2] = 1.0
    np.testing.assert_allclose(occ.sub_fraction[0], expected, atol=1e-12)


@pytest.mark.parametrize("fine_pixels", [1, 2, 2048])
def test_sub_voxel_occupancy_with_several_intervals_on_a_scan_line(fine_pixels, monkeypatch):
    """Rectangles side by side in one voxel slice (planes z = −¼, ¼, spacing ½: the slice is spanned),
    each a whole pixel row high, so every scan line of pixel row j crosses the same x intervals:
    row 0 three ([−0.4, −0.2], [−0.05, 0.1], [0.2, 0.35]), row 1 one ([−0.5, 0.2]), row 2 two
    ([−0.3, 0.0], [0.15, 0.5]), all inside pixel column 0 (x ∈ [−½, ½]). Sub-voxel (c, b, a) of voxel
    (0, j, 0) is covered by the intervals' overlap with x ∈ [−½ + a/4, −½ + (a + 1)/4], × 4, in every
    sub-row b and sub-slice c (hand count). The pixels are taken by their busiest line's intervals,
    most first, :data:`_FINE_PIXELS` at a time: chunks of 1, 2 and all give these values."""
    monkeypatch.setattr(structures, "_FINE_PIXELS", fine_pixels)
    rows = {0: [(-0.4, -0.2), (-0.05, 0.1), (0.2, 0.35)], 1: [(-0.5, 0.2)], 2: [(-0.3, 0.0), (0.15, 0.5)]}
    contours = [square(x0, x1, j - 0.5, j + 0.5, z) for j, spans in rows.items() for x0, x1 in spans
                for z in (-0.25, 0.25)]
    grid = unit_grid((3, 4, 3))
    occ = structure_occupancy(contours, grid, plane_spacing_mm=0.5, sub_samples=4)
    voxels = [np.unravel_index(v, occ.box_fraction.shape) for v in occ.sub_voxels]
    assert [(k + occ.box[0].start, j + occ.box[1].start, i + occ.box[2].start) for k, j, i in voxels] == \
        [(0, 0, 0), (0, 1, 0), (0, 2, 0)]
    for position, spans in rows.items():
        columns = [sum(max(0.0, min(x1, -0.5 + (a + 1) / 4) - max(x0, -0.5 + a / 4)) for x0, x1 in spans) * 4
                   for a in range(4)]
        expected = np.broadcast_to(np.array(columns), (4, 4, 4))
        np.testing.assert_allclose(occ.sub_fraction[position], expected, rtol=0.0, atol=1e-12)
        assert occ.box_fraction.ravel()[occ.sub_voxels[position]] == pytest.approx(
            sum(x1 - x0 for x0, x1 in spans), abs=1e-12)


def test_sub_voxels_average_to_the_voxel_occupancy():
    """For every boundary voxel of a sphere (oblique edges, end caps), the mean of its 4³ sub-voxel
    occupancies is its occupancy (the same scan lines and slabs, integrated finer); the voxel
    occupancies do not depend on n (subrows = 8 is a multiple of 2 and 4)."""
    grid = DoseGrid(np.zeros((16, 16, 16)), (-15.0, -15.0, -15.0), (2.0, 2.0, 2.0))
    contours = sphere_contours((0.3, -0.7, 0.4), 9.0, 2.0, 0.37)
    occ = structure_occupancy(contours, grid, sub_samples=4)
    assert len(occ.sub_voxels) > 100
    means = occ.sub_fraction.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(means, occ.box_fraction.ravel()[occ.sub_voxels], atol=1e-12)
    # some boundary voxels only, in any order, or none: the same values as computing all of them
    some = np.arange(len(occ.sub_voxels))[::-7][:40]
    np.testing.assert_array_equal(occ.sub_fraction_of(some), occ.sub_fraction[some])
    assert occ.sub_fraction_of([]).shape == (0, 4, 4, 4)
    for n in (1, 2):
        other = structure_occupancy(contours, grid, sub_samples=n)
        np.testing.assert_allclose(other.box_fraction, occ.box_fraction, atol=1e-12)


@pytest.mark.parametrize("group_cells", [1, 40, 300])
def test_coverage_tallied_plane_group_by_group_is_the_same(group_cells, monkeypatch):
    """The plane coverage is tallied a group of planes at a time (each row's steps sum to 0, so a
    group's running sum starts at 0 as the whole's does there): groups of one plane each, of a few
    planes, or one group give the same occupancy and sub-voxel occupancy, bit for bit."""
    grid = DoseGrid(np.zeros((16, 16, 16)), (-15.0, -15.0, -15.0), (2.0, 2.0, 2.0))
    contours = sphere_contours((0.3, -0.7, 0.4), 9.0, 2.0, 0.37)
    whole = structure_occupancy(contours, grid, sub_samples=4)
    monkeypatch.setattr(structures, "_GROUP_CELLS", group_cells)
    grouped = structure_occupancy(contours, grid, sub_samples=4)
    np.testing.assert_array_equal(grouped.box_fraction, whole.box_fraction)
    np.testing.assert_array_equal(grouped.sub_fraction, whole.sub_fraction)


def test_sub_voxel_projection_is_the_sum_over_the_sub_voxels():
    """``sub_projection_of`` equals the einsum of the sub-voxel occupancy with the per-axis weights
    (its definition), to rounding, for the trilinear weights of the sub-voxel centres (what the DVH
    uses) and for all-ones weights (then it is n³ × the voxel's occupancy: the sub-voxels average to
    it); in any order of the voxels asked for; weights of the wrong shape are refused."""
    grid = DoseGrid(np.zeros((16, 16, 16)), (-15.0, -15.0, -15.0), (2.0, 2.0, 2.0))
    occ = structure_occupancy(sphere_contours((0.3, -0.7, 0.4), 9.0, 2.0, 0.37), grid, sub_samples=4)
    everything = np.arange(len(occ.sub_voxels))
    offset = (np.arange(4) + 0.5) / 4 - 0.5
    trilinear = np.stack([np.maximum(-offset, 0.0), 1.0 - np.abs(offset), np.maximum(offset, 0.0)], axis=1)
    sub = occ.sub_fraction
    np.testing.assert_allclose(occ.sub_projection_of(everything, trilinear),
                               np.einsum("vcba,cz,by,ax->vzyx", sub, trilinear, trilinear, trilinear),
                               rtol=0.0, atol=1e-12)
    ones = occ.sub_projection_of(everything, np.ones((4, 1))).reshape(-1)
    np.testing.assert_allclose(ones, 64.0 * occ.box_fraction.ravel()[occ.sub_voxels], rtol=0.0, atol=1e-10)
    some = everything[::-5][:30]
    np.testing.assert_array_equal(occ.sub_projection_of(some, trilinear),
                                  occ.sub_projection_of(everything, trilinear)[some])
    with pytest.raises(InputError, match=r"weights must have shape \(sub_samples = 4, k\)"):
        occ.sub_projection_of(some, np.ones((3, 3)))
    with pytest.raises(InputError, match="finite"):
        occ.sub_projection_of(some, np.full((4, 3), np.nan))
    # n = 1: a voxel is one uniform sub-voxel
    single = structure_occupancy(sphere_contours((0.3, -0.7, 0.4), 9.0, 2.0, 0.37), grid, sub_samples=1)
    w = np.array([[0.25, 0.5, 0.25]])
    expected = single.box_fraction.ravel()[single.sub_voxels][:, None, None, None] * np.einsum(
        "z,y,x->zyx", w[0], w[0], w[0])
    np.testing.assert_allclose(single.sub_projection_of(np.arange(len(single.sub_voxels)), w), expected)


def test_planes_off_the_grid_still_count_in_the_volume():
    """Contour planes whose slabs miss the grid are not rasterised, but their area still counts:
    a cylinder r = 6 mm on planes z = 0.5 … 19.5 mm over a grid covering z ∈ [−½, 6½] mm has the same
    slab-model volume as on a grid covering it all, and its in-grid part is the 6.5 mm of its 20
    planes' 1 mm slabs ([0, 20] mm) that the grid covers."""
    contours = cylinder_contours((0.0, 0.0, 10.0), 6.0, 10.0, 1.0)
    small = DoseGrid(np.zeros((7, 15, 15)), (-7.0, -7.0, 0.0), (1.0, 1.0, 1.0))
    large = DoseGrid(np.zeros((26, 15, 15)), (-7.0, -7.0, -2.0), (1.0, 1.0, 1.0))
    part, whole = structure_occupancy(contours, small), structure_occupancy(contours, large)
    assert part.volume_cc == pytest.approx(whole.volume_cc, rel=1e-12)
    assert part.volume_in_grid_cc == pytest.approx(6.5 / 20 * whole.volume_cc, rel=1e-9)


def test_planes_reaching_past_the_grid_in_plane():
    """A cylinder r = 6 mm reaching past a grid's pixels in x and y: its coverage is computed on the
    grid's pixels alone, and its volume from the planes' whole area. The occupancy of the grid's
    voxels and the volume equal those on a grid covering it all (to rounding: the in-plane
    boundary pixels' parts are summed in another order), every sub-voxel occupancy too; the in-grid
    volume is that of the voxels kept."""
    contours = cylinder_contours((0.4, -0.3, 3.0), 6.0, 3.0, 1.0)
    small = DoseGrid(np.zeros((7, 6, 7)), (-1.0, -4.0, 0.0), (1.0, 1.0, 1.0))  # x ∈ [−1.5, 5.5] mm
    large = DoseGrid(np.zeros((7, 15, 15)), (-7.0, -7.0, 0.0), (1.0, 1.0, 1.0))
    part, whole = structure_occupancy(contours, small), structure_occupancy(contours, large)
    assert part.volume_cc == pytest.approx(whole.volume_cc, rel=1e-12)
    np.testing.assert_allclose(part.fraction, whole.fraction[:, 3:9, 6:13], rtol=0.0, atol=1e-12)
    assert part.volume_in_grid_cc == pytest.approx(whole.fraction[:, 3:9, 6:13].sum() / 1000.0, rel=1e-12)
    assert any(f.code == "structure-partly-outside-dose-grid" for f in part.findings)
    assert len(part.sub_voxels) > 10
    # the same boundary voxels, and their sub-voxels, on both grids
    k, j, i = np.unravel_index(part.sub_voxels, part.box_fraction.shape)
    grid_index = (k + part.box[0].start, j + part.box[1].start + 3, i + part.box[2].start + 6)
    whole_flat = np.ravel_multi_index(tuple(g - b.start for g, b in zip(grid_index, whole.box)),
                                      whole.box_fraction.shape)
    positions = np.searchsorted(whole.sub_voxels, whole_flat)
    np.testing.assert_array_equal(whole.sub_voxels[positions], whole_flat)
    np.testing.assert_allclose(part.sub_fraction, whole.sub_fraction_of(positions), rtol=0.0, atol=1e-12)


def test_shape_findings_only_for_contours_that_reach_the_grid():
    """A bow-tie (self-intersecting) contour is flagged on a plane whose slab overlaps the grid
    (z ∈ [−½, 4½] mm), not on one 10 mm beyond it, which adds nothing to any dose statistic."""
    grid = unit_grid()
    bow_tie = [(0.0, 0.0), (3.0, 3.0), (3.0, 0.0), (0.0, 3.0)]
    squares = [square(0.0, 3.0, 0.0, 3.0, z) for z in (1.0, 2.0)]
    for z, flagged in ((3.0, True), (14.0, False)):
        tie = np.array([(x, y, z) for x, y in bow_tie])
        occ = structure_occupancy([*squares, tie], grid, plane_spacing_mm=1.0)
        kinds = [f.code for f in occ.findings]
        assert ("self-intersecting-contour" in kinds) is flagged


def _sorted_intervals(planes, subrows: int, sub_samples: int):
    """The scan-line intervals the straightforward way: every crossing sorted by (line, x), paired."""
    sl = structures._scan_lines(planes, subrows, sub_samples)
    row, x, _ = structures._edge_crossings(sl.ys, sl.starts, sl.ends, sl.first, sl.stop)
    order = np.lexsort((x, row))
    row, x = row[order], x[order]
    per_line = np.bincount(row, minlength=len(sl.ys))
    r = np.arange(len(row)) - (np.cumsum(per_line) - per_line)[row]
    opens = np.flatnonzero((r % 2 == 0) & (r + 1 < per_line[row]))
    return row[opens], r[opens] // 2, x[opens], x[opens + 1]


def _random_planes(seed: int) -> list:
    """1-5 planes of 1-3 polygons each: smooth rings (nested or not) or random self-intersecting
    ones, half of them with vertices on a 1/16-pixel lattice (some exactly on scan lines)."""
    rng = np.random.default_rng(seed)
    planes = []
    for _ in range(int(rng.integers(1, 6))):
        plane = []
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.5:
                t = np.sort(rng.uniform(0.0, 2.0 * np.pi, int(rng.integers(3, 40))))
                r = rng.uniform(1.0, 12.0) * (1.0 + 0.2 * rng.uniform(-1.0, 1.0, len(t)))
                xy = np.column_stack([20.0 + r * np.cos(t), 15.0 + r * np.sin(t)])
            else:
                xy = rng.uniform(-3.0, 30.0, (int(rng.integers(3, 12)), 2))
            if rng.random() < 0.5:
                xy = np.round(xy * 16.0) / 16.0
            plane.append(xy)
        planes.append(plane)
    return planes


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4]))
def test_scan_line_intervals_are_those_of_sorting_every_crossing(seed: int, sub_samples: int) -> None:
    """Planes of random polygons (smooth rings, nested rings, random self-intersecting ones, vertices
    on a 1/16-pixel lattice so that some lie exactly on scan lines): the intervals, their order and
    the planes' areas are bit for bit those of sorting every crossing by (line, x); the searchsorted
    replacement gives searchsorted's lines."""
    planes = _random_planes(seed)
    iv = structures._intervals(planes, 8, sub_samples)
    line, rank, x_in, x_out = _sorted_intervals(planes, 8, sub_samples)
    for got, want in ((iv.line, line), (iv.rank, rank), (iv.x_in, x_in), (iv.x_out, x_out)):
        np.testing.assert_array_equal(got, want)
    sl = structures._scan_lines(planes, 8, sub_samples)
    edge_plane = np.repeat(np.arange(len(planes)), [sum(len(p) for p in plane) for plane in planes])
    for ends, got in ((np.minimum(sl.starts[:, 1], sl.ends[:, 1]), sl.first),
                      (np.maximum(sl.starts[:, 1], sl.ends[:, 1]), sl.stop)):
        for k in range(len(planes)):
            l0, count = int(sl.line_start[k]), int(sl.rows[k] * sl.per_row)
            want = l0 + np.searchsorted(sl.ys[l0:l0 + count], ends[edge_plane == k], side="left")
            np.testing.assert_array_equal(got[edge_plane == k], want)


def test_sorting_by_line_then_x_is_lexsort_also_when_keys_tie() -> None:
    """Crossings whose x differ by less than the combined key's resolution, and equal x: the values
    come out as ``np.lexsort`` orders them."""
    rng = np.random.default_rng(7)
    row = rng.integers(0, 50_000, 20_000)
    x = rng.uniform(-100.0, 200.0, len(row))
    x[::3] = 1.0 + rng.integers(0, 4, len(x[::3])) * 1e-13  # below the key's resolution at large rows
    x[1::7] = 5.0
    got_row, got_x = structures._by_line_then_x(row, x)
    order = np.lexsort((x, row))
    np.testing.assert_array_equal(got_row, row[order])
    np.testing.assert_array_equal(got_x, x[order])


def test_batched_contour_checks_raise_the_first_failing_contours_error() -> None:
    """One bad contour among good ones: the same error as checking contour by contour."""
    good = [square(0.0, 2.0, 0.0, 2.0, float(z)) for z in range(4)]
    cases = [(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), "contour 2 has 2 distinct"),
             (np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.5], [1.0, 1.0, 0.0]]), "contour 2 is not on one axial"),
             (np.array([[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0], [1.0, 1.0, 0.0]]), "contour 2 has non-finite"),
             (np.zeros((4, 2)), "contour 2 must be an"),
             ([[0.0, 0.0], [1.0]], "contour 2 must be an")]
    for bad, match in cases:
        with pytest.raises(InputError, match=match):
            structures._clean_polygons([*good[:2], bad, *good[2:]])
    closed = np.vstack([good[0], good[0][:1]])
    cleaned = structures._clean_polygons([closed, good[1]])
    np.testing.assert_array_equal(cleaned[0], good[0])
    np.testing.assert_array_equal(cleaned[1], good[1])


def test_collinearity_screen_agrees_with_the_svd() -> None:
    """Polygons from clearly 2-D to exactly and nearly collinear (1e-12 to 1e-6 off a line): the Gram
    screen and the SVD give ``encloses_no_area``'s answer for each."""
    rng = np.random.default_rng(3)
    polys = []
    for off in (0.0, 1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-3, 1.0):
        t = rng.uniform(-50.0, 50.0, 30)
        polys.append(np.column_stack([100.0 + t, -20.0 + 0.3 * t + off * rng.normal(size=30)]))
    polys.append(np.full((5, 2), 3.0))  # one point repeated
    got = structures._collinear_each(polys)
    want = [structures.encloses_no_area(p) for p in polys]
    assert got.tolist() == want
    assert want[0] and not want[-2]


def _planes_area_px(planes, subrows: int = 8, sub_samples: int = 4) -> list:
    """Each plane's off-grid area (pixels): ``structures._areas_px`` of its polygons (lists of (N, 2)
    continuous-index points) laid end to end."""
    polys = [p for plane in planes for p in plane]
    sizes = np.array([len(p) for p in polys], dtype=np.int64)
    per_plane = np.array([len(plane) for plane in planes], dtype=np.int64)
    return list(structures._areas_px(np.concatenate(polys), sizes, per_plane, subrows, sub_samples))


def _coverage_area_px(planes, subrows: int = 8, sub_samples: int = 4) -> np.ndarray:
    """Each plane's area (pixels) the on-grid way: the sum of its per-pixel scan-line coverage."""
    planes_coverage = structures._planes_coverage(planes, subrows, sub_samples).planes
    return np.array([float(p.coverage.sum()) for p in planes_coverage])


def _crossings_per_line(planes, subrows: int = 8, sub_samples: int = 4) -> np.ndarray:
    """Number of crossings of every scan line of the planes (planes laid end to end)."""
    polys = [p for plane in planes for p in plane]
    ol = structures._outline(np.concatenate(polys), np.array([len(p) for p in polys]),
                             np.array([len(plane) for plane in planes]), subrows, sub_samples)
    return structures._line_sums(ol)[1]


def ring(x: float, y: float, radius: float, n: int) -> np.ndarray:
    """n points on a circle, (n, 2)."""
    return circle((x, y), radius, 0.0, n)[:, :2]


_U_SHAPE = np.array([(0.0, 0.0), (6.0, 0.0), (6.0, 5.0), (4.0, 5.0), (4.0, 2.0), (2.0, 2.0), (2.0, 5.0),
                     (0.0, 5.0)]) + 0.3


@pytest.mark.parametrize("planes, most_crossings", [
    # y-monotone, every vertex exactly on a scan line (lines at j − ½ + (l + ½)/8: y = 0.0625 + k/8)
    ([[np.array([(0.0, 0.0625), (5.0, 1.0625), (3.0, 4.0625), (-1.0, 2.5625)])]], 2),
    # horizontal edges (a staircase) and one on a scan line
    ([[np.array([(0.0, 0.0), (4.0, 0.0), (4.0, 1.0625), (6.0, 1.0625), (6.0, 3.0), (1.0, 3.0),
                 (1.0, 2.0), (0.0, 2.0)])]], 2),
    # a flat edge (|dx| > 4 |dy|) crossing several lines
    ([[np.array([(0.0, 0.0), (20.0, 1.3), (2.0, 3.0)])]], 2),
    # U-shaped (not y-monotone): the lines through its arms are crossed four times
    ([[_U_SHAPE]], 4),
    # two disjoint polygons on one plane, side by side (four crossings) and one above the other
    ([[ring(3.0, 3.0, 2.0, 24), ring(9.0, 3.5, 2.5, 31)]], 4),
    ([[ring(3.0, 3.0, 2.0, 24), ring(3.5, 9.0, 2.5, 31)]], 2),
    # nested: a hole
    ([[ring(5.0, 5.0, 4.0, 40), ring(5.2, 4.9, 1.5, 17)]], 4),
    # self-intersecting bow-tie (four crossings per line) and hourglass (two: the upward crossing is
    # left of the downward one below the waist, right of it above)
    ([[np.array([(0.0, 0.0), (3.0, 3.0), (3.0, 0.0), (0.0, 3.0)]) + 0.1]], 4),
    ([[np.array([(0.0, 0.0), (3.0, 3.0), (0.0, 3.0), (3.0, 0.0)]) + 0.1]], 2),
    # several planes at once, one of them lying across another's lines in the concatenation
    ([[_U_SHAPE], [ring(3.0, 3.0, 2.0, 24)], [np.array([(0.0, 0.0), (3.0, 3.0), (3.0, 0.0),
                                                                  (0.0, 3.0)]) - 7.2]], 4),
])
def test_off_grid_area_is_the_scan_line_area(planes, most_crossings: int) -> None:
    """The off-grid planes' area (running sums over the lines crossed twice, sorted crossings on the
    others) is the on-grid coverage's total, the same scan lines, to rounding (not the shoelace area)."""
    assert int(_crossings_per_line(planes).max()) == most_crossings
    for sub_samples in (1, 2, 4):
        np.testing.assert_allclose(_planes_area_px(planes, 8, sub_samples),
                                   _coverage_area_px(planes, 8, sub_samples), rtol=1e-12, atol=1e-12)


def test_off_grid_area_of_a_rectangle_and_of_a_triangle_by_hand() -> None:
    """A pixel-aligned 3 × 2 rectangle is 6 pixels; the U above is 6 × 5 − 2 × 3 = 24 pixels (its
    horizontal edges lie between scan lines, so the mid-point rule is exact); the triangle
    (0, 0), (4, 0), (0, 4) of area 8 gets 8 exactly too (a linear width is integrated exactly)."""
    rectangle = np.array([(-0.5, -0.5), (2.5, -0.5), (2.5, 1.5), (-0.5, 1.5)])
    triangle = np.array([(0.0, 0.0), (4.0, 0.0), (0.0, 4.0)]) + 0.5
    got = _planes_area_px([[rectangle], [_U_SHAPE], [triangle]], 8, 4)
    np.testing.assert_allclose(got, [6.0, 24.0, 8.0], rtol=1e-13)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4]))
def test_off_grid_area_of_random_planes_is_the_coverage_total(seed: int, sub_samples: int) -> None:
    """Planes of random polygons (as in the interval test: smooth, nested, self-intersecting, on a
    1/16-pixel lattice): the off-grid area is the sum of the on-grid coverage to rounding."""
    planes = _random_planes(seed)
    np.testing.assert_allclose(_planes_area_px(planes, 8, sub_samples),
                               _coverage_area_px(planes, 8, sub_samples), rtol=1e-12, atol=1e-11)
    # an edge's lines from its vertices' first lines are those of the scan-line code
    polys = [p for plane in planes for p in plane]
    ol = structures._outline(np.concatenate(polys), np.array([len(p) for p in polys]),
                             np.array([len(plane) for plane in planes]), 8, sub_samples)
    sl = structures._scan_lines(planes, 8, sub_samples)
    np.testing.assert_array_equal(ol.ys, sl.ys)
    np.testing.assert_array_equal(np.minimum(ol.line, ol.line[ol.nxt]), sl.first)
    np.testing.assert_array_equal(np.maximum(ol.line, ol.line[ol.nxt]), sl.stop)


def test_first_line_at_is_searchsorted_on_and_next_to_the_lines() -> None:
    """y exactly on a scan line, one float below and above it, and between lines, on planes whose
    boxes start at rows far from 0: the searchsorted ("left") index of y among the plane's lines."""
    per_row = 8
    for j0, rows in ((0, 3), (-417, 5), (2891, 2)):
        count = rows * per_row
        ys = (j0 - 0.5) + (np.arange(count) + 0.5) / per_row
        y = np.concatenate([ys, np.nextafter(ys, -np.inf), np.nextafter(ys, np.inf), ys + 0.5 / per_row,
                            [j0 - 0.6, j0 - 0.5, ys[-1] + 1e-12, j0 + rows + 3.0]])
        ones = np.ones(len(y), dtype=np.int64)
        got = structures._first_line_at(ys, y, l0=0 * ones, count=count * ones, j0=j0 * ones, per_row=per_row)
        np.testing.assert_array_equal(got, np.searchsorted(ys, y, side="left"))
