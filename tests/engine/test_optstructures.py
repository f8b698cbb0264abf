"""Optimisation structures (reirrad.optstructures, reirrad.roi_algebra) and the protocol's
``optimisation_structures`` section.

Sources of truth:

* closed forms on analytic shapes (written next to each test): a sphere of radius R grown by r has volume
  4/3·π·(R + r)³; a sphere minus an (effectively infinite) cylinder of radius ρ through its centre is a
  "napkin ring" of volume 4/3·π·(R² − ρ²)^(3/2); a ring between spheres 4/3·π·(R₂³ − R₁³); a box of sides
  Lx, Ly, Lz grown by a per-octant ellipsoid with extents X = right + left, Y = anterior + posterior,
  Z = inferior + superior has volume LxLyLz + LxLyZ + LxLzY + LyLzX + π/4·(LxYZ + LyXZ + LzXY) + π/6·XYZ
  (Steiner's formula for a box: each face, edge and corner adds a slab, a quarter-elliptic cylinder per
  quadrant, an eighth ellipsoid per octant); a box shrunk by it is (Lx − X)(Ly − Y)(Lz − Z);
* hand-derived rules: which OARs are subtracted at which level, which names are free;
* the protocol schema (docs/protocol-schema.md).

Tolerance of the volume checks: **3 %**. The engine works on a lattice of step h = 2.5 mm / 3 = 0.83 mm and
places a surface within about h/4 = 0.21 mm on average (module docstring of reirrad.roi_algebra); on the
smallest radius here (R − r = 15 mm, a shrunk sphere) that is 3·0.21/15 = 4 % at worst, on 20 mm and more
at most 3.1 %; the errors measured are at most 2.1 %.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Dict, List, Sequence

import numpy as np
import pytest
import yaml

from reirrad.dose import DoseGrid
from reirrad.errors import InputError, ProtocolError
from reirrad.optstructures import OarInput, build_recipe, check_volumes, optimisation_recipe
from reirrad.protocol import PROTOCOL_DIR, OptimisationStructureSettings, load_protocol, parse_protocol
from reirrad.roi_algebra import Expression, Margin, Operation, expected_volume_cc
from reirrad.structures import Occupancy, structure_occupancy
from reirrad.workflow import WorkflowOptions, prepare
from tps_stubs.direct import DirectCase

from .phantoms import cylinder_contours, sphere_contours

TOL = 0.03
SPACING = 2.5
SHAPE = (48, 48, 48)
R = 20.0
CENTRE = (0.3, 0.7, 0.2)  # off the voxel centres, so nothing is aligned by luck
SHIPPED = PROTOCOL_DIR / "uk-sabr-pelvis-reirradiation.yaml"
PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
SETTINGS = PROTOCOL.optimisation_structures


def _grid(direction: Any = None, origin: Any = None) -> DoseGrid:
    half = (SHAPE[0] - 1) * SPACING / 2
    return DoseGrid(np.zeros(SHAPE), origin if origin is not None else [-half] * 3, [SPACING] * 3, direction)


def sphere_cc(radius: float) -> float:
    return 4.0 / 3.0 * math.pi * radius**3 / 1000.0


def square(x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)


def box_contours(lo: Sequence[float], hi: Sequence[float], plane_mm: float = 1.0) -> List[np.ndarray]:
    """Squares on planes whose slabs cover exactly [lo_z, hi_z]."""
    n = round((hi[2] - lo[2]) / plane_mm)
    return [square(lo[0], hi[0], lo[1], hi[1], lo[2] + (m + 0.5) * plane_mm) for m in range(n)]


@pytest.fixture(scope="module")
def grid() -> DoseGrid:
    return _grid()


@pytest.fixture(scope="module")
def ptv(grid: DoseGrid) -> Occupancy:
    return structure_occupancy(sphere_contours(CENTRE, R, 1.0), grid, name="PTV")


@pytest.fixture(scope="module")
def cylinder(grid: DoseGrid) -> Occupancy:
    """Radius 5 mm along z through the sphere's centre, 90 mm long: infinite for the 40 mm sphere."""
    return structure_occupancy(cylinder_contours(CENTRE, 5.0, 45.0, 1.0), grid, name="Cyl")


def grow(*sources: str, mm: float = 0.0, kind: str = "expand") -> Expression:
    return Expression(tuple(sources), Margin.isotropic(kind, mm))


def relative_error(value: float, exact: float) -> float:
    return abs(value / exact - 1.0)


# --------------------------------------------------------------------------------------
# Expected volumes against closed forms


def test_sphere_itself(grid, ptv):
    volume = expected_volume_cc(Operation(grow("PTV")), {"PTV": ptv}, grid)
    assert relative_error(volume, sphere_cc(R)) < TOL
    # the lattice set has the occupancy's own volume (its level is chosen by volume)
    assert volume == pytest.approx(ptv.volume_in_grid_cc, rel=2e-3)


@pytest.mark.parametrize("r_mm", [2.0, 3.0, 5.0, 10.0, 25.0])
def test_sphere_expanded(grid, ptv, r_mm):
    """4/3·π·(R + r)³."""
    volume = expected_volume_cc(Operation(grow("PTV", mm=r_mm)), {"PTV": ptv}, grid)
    assert relative_error(volume, sphere_cc(R + r_mm)) < TOL


@pytest.mark.parametrize("r_mm", [3.0, 5.0])
def test_sphere_contracted(grid, ptv, r_mm):
    """4/3·π·(R − r)³ (allowance 4 % for the 15 mm sphere, see the module docstring)."""
    volume = expected_volume_cc(Operation(grow("PTV", mm=r_mm, kind="contract")), {"PTV": ptv}, grid)
    assert relative_error(volume, sphere_cc(R - r_mm)) < 0.04


@pytest.mark.parametrize("r_mm", [0.0, 3.0])
def test_sphere_minus_cylinder_through_centre(grid, ptv, cylinder, r_mm):
    """Napkin ring: 4/3·π·(R² − ρ²)^(3/2) with ρ = 5 mm + the cylinder's margin."""
    rho = 5.0 + r_mm
    op = Operation(grow("PTV"), grow("Cyl", mm=r_mm), "subtraction")
    volume = expected_volume_cc(op, {"PTV": ptv, "Cyl": cylinder}, grid)
    assert relative_error(volume, 4.0 / 3.0 * math.pi * (R**2 - rho**2) ** 1.5 / 1000.0) < TOL


def test_intersection_and_union_complete_the_sphere(grid, ptv, cylinder):
    """(S − C) + (S ∩ C) = S and S ∪ C = S + C − S ∩ C, on the same lattice exactly."""
    occ = {"PTV": ptv, "Cyl": cylinder}
    minus = expected_volume_cc(Operation(grow("PTV"), grow("Cyl"), "subtraction"), occ, grid)
    inter = expected_volume_cc(Operation(grow("PTV"), grow("Cyl"), "intersection"), occ, grid)
    union = expected_volume_cc(Operation(grow("PTV"), grow("Cyl"), "union"), occ, grid)
    whole = expected_volume_cc(Operation(grow("PTV")), occ, grid)
    cyl = expected_volume_cc(Operation(grow("Cyl")), occ, grid)
    assert minus + inter == pytest.approx(whole, rel=1e-12)
    assert union == pytest.approx(whole + cyl - inter, rel=1e-12)
    # sphere ∩ cylinder through its centre = sphere − napkin ring
    h = math.sqrt(R**2 - 25.0)
    exact = (sphere_cc(R) * 1000.0 - 4.0 / 3.0 * math.pi * h**3) / 1000.0
    assert relative_error(inter, exact) < 0.05  # a thin cylinder (4 voxels across): 5 %


def test_ring_between_spheres(grid, ptv):
    """4/3·π·((R + 25)³ − (R + 5)³)."""
    op = Operation(grow("PTV", mm=25.0), grow("PTV", mm=5.0), "subtraction")
    volume = expected_volume_cc(op, {"PTV": ptv}, grid)
    assert relative_error(volume, sphere_cc(R + 25.0) - sphere_cc(R + 5.0)) < TOL


BOX_LO, BOX_HI = (-14.6, -11.8, -9.7), (15.4, 12.2, 10.3)  # 30 x 24 x 20 mm, off the voxel edges


def box_grown_cc(sides: Sequence[float], x: float, y: float, z: float) -> float:
    lx, ly, lz = sides
    mm3 = (lx * ly * lz + lx * ly * z + lx * lz * y + ly * lz * x
           + math.pi / 4.0 * (lx * y * z + ly * x * z + lz * x * y) + math.pi / 6.0 * x * y * z)
    return mm3 / 1000.0


BOX_TOL = 0.09


def test_box_grown_anisotropically(grid):
    """Six different distances; Steiner's formula for a box (module docstring). Allowance **9 %** (measured
    −6 %): the occupancy of 2.5 mm voxels rounds the box's edges over about half a voxel, which a margin
    carries outwards (−4 to −5 % for isotropic 3-10 mm margins here), and where a face's margin is smaller
    than the largest the surface's position between lattice points is carried only in part (up to one
    lattice step, 0.83 mm, short on such a face; reirrad.roi_algebra._dilate)."""
    box = structure_occupancy(box_contours(BOX_LO, BOX_HI), grid, name="Box")
    margin = Margin("expand", right_mm=3.0, left_mm=6.0, anterior_mm=4.0, posterior_mm=8.0, inferior_mm=5.0,
                    superior_mm=10.0)
    volume = expected_volume_cc(Operation(Expression(("Box",), margin)), {"Box": box}, grid)
    assert relative_error(volume, box_grown_cc((30.0, 24.0, 20.0), 9.0, 12.0, 15.0)) < BOX_TOL


def test_box_shrunk_anisotropically(grid):
    """(30 − 5)(24 − 6)(20 − 4) mm³ = 7.2 cm³; allowance 9 % as above (measured +7.7 % of a small box:
    0.55 cm³, about 0.25 mm on each face)."""
    box = structure_occupancy(box_contours(BOX_LO, BOX_HI), grid, name="Box")
    margin = Margin("contract", right_mm=2.0, left_mm=3.0, anterior_mm=2.0, posterior_mm=4.0, inferior_mm=3.0,
                    superior_mm=1.0)
    volume = expected_volume_cc(Operation(Expression(("Box",), margin)), {"Box": box}, grid)
    assert relative_error(volume, 7.2) < BOX_TOL


@pytest.mark.parametrize("feet_first", [False, True])
def test_superior_means_plus_z_whatever_the_slice_order(feet_first):
    """Box A grown 10 mm superiorly overlaps box B above it by 30 × 24 × 10 mm = 7.2 cm³; grown inferiorly,
    not at all. A feet-first grid (slices towards −z) must give the same: directions are patient
    directions."""
    half = (SHAPE[0] - 1) * SPACING / 2
    g = (_grid(np.diag([1.0, 1.0, -1.0]), [-half, -half, half]) if feet_first else _grid())
    a = structure_occupancy(box_contours(BOX_LO, BOX_HI), g, name="A")
    above = box_contours((BOX_LO[0], BOX_LO[1], BOX_HI[2]), (BOX_HI[0], BOX_HI[1], BOX_HI[2] + 20.0))
    b = structure_occupancy(above, g, name="B")
    occ = {"A": a, "B": b}
    up = Margin("expand", 0.0, 0.0, 0.0, 0.0, 0.0, 10.0)
    down = Margin("expand", 0.0, 0.0, 0.0, 0.0, 10.0, 0.0)
    overlap_up = expected_volume_cc(Operation(Expression(("A",), up), grow("B"), "intersection"), occ, g)
    overlap_down = expected_volume_cc(Operation(Expression(("A",), down), grow("B"), "intersection"), occ, g)
    assert relative_error(overlap_up, 7.2) < TOL
    assert overlap_down < 0.02 * 7.2


def test_anisotropic_in_plane_margin_refused_on_a_rotated_grid():
    c, s = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    g = _grid(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), [-40.0, -40.0, -58.75])
    occ = {"PTV": structure_occupancy(sphere_contours((0.0, 0.0, 0.0), 10.0, 1.0), g, name="PTV")}
    assert expected_volume_cc(Operation(grow("PTV", mm=3.0)), occ, g) > sphere_cc(10.0)
    with pytest.raises(InputError, match="rotated in the axial plane"):
        wider_left = Margin("expand", 3.0, 5.0, 3.0, 3.0, 0.0, 0.0)
        expected_volume_cc(Operation(Expression(("PTV",), wider_left)), occ, g)


def test_margin_and_operation_refusals():
    with pytest.raises(InputError, match="exceeds 50 mm"):
        Margin.isotropic("expand", 60.0)
    with pytest.raises(InputError, match=r"right_mm must be >= 0"):
        Margin("expand", -1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(InputError, match="margin kind"):
        Margin.isotropic("grow", 3.0)
    with pytest.raises(InputError, match="exactly when combine"):
        Operation(grow("PTV"), None, "subtraction")
    with pytest.raises(InputError, match="one or more structure names"):
        Expression((), Margin.zero())


# --------------------------------------------------------------------------------------
# The recipe


@pytest.fixture(scope="module")
def small_oars(grid: DoseGrid) -> Dict[str, Occupancy]:
    """Small spheres (radius 5 mm) touching the PTV, one per OAR key used below."""
    places = {"small_bowel": (22.0, 0.0, 0.0), "sacral_plexus": (-22.0, 0.0, 0.0),
              "bladder": (0.0, 22.0, 0.0), "rectum": (0.0, -22.0, 0.0)}
    return {k: structure_occupancy(sphere_contours(c, 5.0, 1.0), grid, name=k) for k, c in places.items()}


STRUCTURE_IDS = {"small_bowel": "Bowel_Small", "sacral_plexus": "SacralPlex", "bladder": "Bladder",
                 "rectum": "Rectum"}


def oar_inputs(occupancies: Dict[str, Occupancy], allowed: Dict[str, float]) -> List[OarInput]:
    return [OarInput(k, STRUCTURE_IDS[k], occupancies[k], allowed[k]) for k in STRUCTURE_IDS if k in allowed]


def recipe(grid, ptv, oars, *, level=30.0, settings=SETTINGS, existing=(), owned=()):
    ids = ["PTV", *(o.structure_id for o in oars), *existing]
    return build_recipe(settings, prescription_gy=level, grid=grid, target_id="PTV", target=ptv, oars=oars,
                        existing_ids=ids, owned_ids=owned)


def test_which_oars_are_subtracted(grid, ptv, small_oars):
    """Level 30 Gy, factor 1 (shipped): subtracted when allowed < 30 Gy. Small bowel 29.9 (yes, as its PRV),
    bladder 29.99 (yes, itself: no PRV), sacral plexus 30.0 (no: not below), rectum 35 (no)."""
    allowed = {"small_bowel": 29.9, "sacral_plexus": 30.0, "bladder": 29.99, "rectum": 35.0}
    oars = oar_inputs(small_oars, allowed)
    made = recipe(grid, ptv, oars)
    assert made.subtracted_oars == ("small_bowel", "bladder")
    target = made.structure("zRR_PTV_opt")
    assert target.role == "target-opt"
    assert target.operation.combine == "subtraction"
    assert target.operation.b is not None and target.operation.b.sources == ("zRR_PRV_SBowel", "Bladder")
    assert [(u.structure_id, u.operand) for u in target.derived_from] == [
        ("PTV", "a"), ("zRR_PRV_SBowel", "b"), ("Bladder", "b")]
    # PRVs for the OARs with a prv entry that are present, in the protocol's order, before PTV_opt
    assert [s.name for s in made.structures] == [
        "zRR_PRV_SBowel", "zRR_PRV_Rectum", "zRR_PRV_SacPlx", "zRR_PTV_opt", "zRR_Ring"]
    prv = made.structure("zRR_PRV_SBowel")
    assert prv.oar_key == "small_bowel" and prv.operation.a.margin == Margin.isotropic("expand", 3.0)
    # each subtracted sphere (r 5 mm, PRV 8 mm) cuts into the PTV: PTV_opt is smaller than the PTV
    assert target.expected_volume_cc < made.structure("zRR_Ring").expected_volume_cc
    assert 0.8 * sphere_cc(R) < target.expected_volume_cc < sphere_cc(R)


def test_oars_far_from_the_ptv_are_left_out(grid):
    """A 5 mm sphere 40 mm from a 10 mm PTV (PRV 8 mm: 22 mm apart, far more than a 2.5 mm voxel) is below
    the level but not subtracted; one touching the PTV is."""
    small = structure_occupancy(sphere_contours((0.0, 0.0, 0.0), 10.0, 1.0), grid, name="PTV")
    far = structure_occupancy(sphere_contours((40.0, 0.0, 0.0), 5.0, 1.0), grid, name="Far")
    close = structure_occupancy(sphere_contours((0.0, 14.0, 0.0), 5.0, 1.0), grid, name="Close")
    oars = [OarInput("small_bowel", "Far", far, 10.0), OarInput("bladder", "Close", close, 10.0)]
    made = build_recipe(SETTINGS, prescription_gy=30.0, grid=grid, target_id="PTV", target=small, oars=oars,
                        existing_ids=["PTV", "Far", "Close"])
    assert made.subtracted_oars == ("bladder",) and made.apart_oars == ("small_bowel",)
    target = made.structure("zRR_PTV_opt")
    assert target.operation.b is not None and target.operation.b.sources == ("Close",)
    assert "not subtracted, more than one voxel (2.5 mm) from PTV: small_bowel 10.00 Gy" in target.reason


def test_factor_moves_the_threshold(grid, ptv, small_oars):
    """Factor 1.2 at 30 Gy: threshold 36 Gy, so the rectum at 35 Gy is subtracted too."""
    factor = {"value": 1.2, "source": "project", "status": "unverified"}
    settings = _settings_with(lambda s: s.__setitem__("subtract_factor", factor))
    oars = oar_inputs(small_oars, {"small_bowel": 40.0, "rectum": 35.0})
    assert recipe(grid, ptv, oars, settings=settings).subtracted_oars == ("rectum",)
    assert recipe(grid, ptv, oars).subtracted_oars == ()


def test_no_oar_below_gives_the_ptv_itself(grid, ptv, small_oars):
    made = recipe(grid, ptv, oar_inputs(small_oars, {"rectum": 40.0}))
    target = made.structure("zRR_PTV_opt")
    assert target.operation.combine == "none" and target.operation.b is None
    assert target.expected_volume_cc == pytest.approx(ptv.volume_in_grid_cc, rel=2e-3)


def test_recipe_ring_and_prv_volumes(grid, ptv, small_oars):
    """Shipped ring 5 → 25 mm; the rectum's PRV is its 5 mm sphere grown 3 mm: 4/3·π·8³."""
    made = recipe(grid, ptv, oar_inputs(small_oars, {"rectum": 40.0}))
    ring = made.structure("zRR_Ring")
    assert ring.operation.a.margin == Margin.isotropic("expand", 25.0)
    assert ring.operation.b is not None and ring.operation.b.margin == Margin.isotropic("expand", 5.0)
    assert relative_error(ring.expected_volume_cc, sphere_cc(R + 25.0) - sphere_cc(R + 5.0)) < TOL
    # a 5 mm sphere is 4 voxels across: 5 % (surface error h/4 on 8 mm: 3·0.21/8 = 8 % at worst)
    assert relative_error(made.structure("zRR_PRV_Rectum").expected_volume_cc, sphere_cc(8.0)) < 0.05


def test_napkin_ring_through_the_recipe(grid, ptv, cylinder):
    """An OAR 'cylinder' with the small bowel's PRV (3 mm) below the level: PTV_opt = sphere minus the
    cylinder of radius 8 mm."""
    oars = [OarInput("small_bowel", "Cyl", cylinder, 20.0)]
    made = build_recipe(SETTINGS, prescription_gy=30.0, grid=grid, target_id="PTV", target=ptv, oars=oars,
                        existing_ids=["PTV", "Cyl"])
    volume = made.structure("zRR_PTV_opt").expected_volume_cc
    assert relative_error(volume, 4.0 / 3.0 * math.pi * (R**2 - 8.0**2) ** 1.5 / 1000.0) < TOL


def test_empty_target_is_flagged(grid, ptv):
    """An OAR that contains the whole PTV and is below the level leaves nothing to optimise on."""
    big = OarInput("bladder", "Bladder", structure_occupancy(sphere_contours(CENTRE, 30.0, 1.0), grid), 10.0)
    made = build_recipe(SETTINGS, prescription_gy=30.0, grid=grid, target_id="PTV", target=ptv, oars=[big],
                        existing_ids=["PTV", "Bladder"])
    assert made.structure("zRR_PTV_opt").expected_volume_cc == 0.0
    assert [f.code for f in made.findings] == ["optimisation-target-empty"]


# --------------------------------------------------------------------------------------
# Names


def names_of(made) -> List[str]:
    return [s.name for s in made.structures]


def test_names_avoid_existing_structures_case_insensitively(grid, ptv, small_oars):
    oars = oar_inputs(small_oars, {"rectum": 40.0})
    made = recipe(grid, ptv, oars, existing=["zRR_PTV_opt", "ZRR_PRV_RECTUM", "zrr_prv_rectum_1", "zrr_ring"])
    assert names_of(made) == ["zRR_PRV_Rectum_2", "zRR_PTV_opt_1", "zRR_Ring_1"]
    for name in names_of(made):
        assert name.lower() not in {"zrr_ptv_opt", "zrr_prv_rectum", "zrr_prv_rectum_1", "zrr_ring"}
        assert len(name) <= 16  # Eclipse's structure id limit


def test_names_are_the_same_on_every_run(grid, ptv, small_oars):
    """Run 1 against a clinician's zRR_PTV_opt; run 2 sees run 1's structures (owned) and the clinician's:
    the same names, so the adapter updates them."""
    oars = oar_inputs(small_oars, {"rectum": 40.0, "small_bowel": 20.0})
    first = recipe(grid, ptv, oars, existing=["zRR_PTV_opt"])
    again = recipe(grid, ptv, oars, existing=["zRR_PTV_opt"])
    assert names_of(first) == names_of(again)
    second = recipe(grid, ptv, oars, existing=["zRR_PTV_opt", *names_of(first)], owned=names_of(first))
    assert names_of(second) == names_of(first)
    assert "zRR_PTV_opt" not in names_of(second)
    volumes = [s.expected_volume_cc for s in first.structures]
    assert [s.expected_volume_cc for s in second.structures] == volumes


def test_own_structures_are_reused_even_when_a_freer_name_exists(grid, ptv, small_oars):
    """Run 1 made zRR_PTV_opt_1 (the clinician had zRR_PTV_opt, since deleted) and ZRR_RING (spelt so in the
    TPS): run 2 updates those two, with the TPS's spelling, instead of making new ones."""
    oars = oar_inputs(small_oars, {"rectum": 40.0})
    own = ["zRR_PTV_opt_1", "ZRR_RING"]
    made = recipe(grid, ptv, oars, existing=own, owned=own)
    assert names_of(made) == ["zRR_PRV_Rectum", "zRR_PTV_opt_1", "ZRR_RING"]


def test_no_free_name_is_refused(grid, ptv, small_oars):
    taken = ["zRR_Ring", *(f"ZRR_RING_{i}" for i in range(1, 10))]
    with pytest.raises(InputError, match=r"'zRR_Ring' and its suffixes _1 \.\.\. _9 are all taken"):
        recipe(grid, ptv, oar_inputs(small_oars, {"rectum": 40.0}), existing=taken)


def test_a_created_structure_is_never_its_own_source(grid, ptv, small_oars):
    oars = oar_inputs(small_oars, {"rectum": 40.0})
    with pytest.raises(InputError, match="the plan's target is 'zRR_PTV_opt'"):
        build_recipe(SETTINGS, prescription_gy=30.0, grid=grid, target_id="zRR_PTV_opt", target=ptv,
                     oars=oars, existing_ids=["zRR_PTV_opt", "Rectum"], owned_ids=["zRR_PTV_opt"])
    with pytest.raises(InputError, match="owned_ids"):
        recipe(grid, ptv, oars, owned=["zRR_Ring"])  # not in the case


def test_disabled_or_absent_section_gives_an_empty_recipe(grid, ptv, small_oars):
    oars = oar_inputs(small_oars, {"rectum": 40.0})
    off = _settings_with(lambda s: s.__setitem__("enabled", False))
    for settings in (None, off):
        made = recipe(grid, ptv, oars, settings=settings)
        assert not made.enabled and made.structures == ()
        assert [f.code for f in made.findings] == ["optimisation-structures-off"]
        assert check_volumes(made, {}) == []


def test_recipe_of_a_prepared_stub_case():
    """LRRC-01 at 30 Gy: of the OARs whose allowed dose is below 30 Gy, those near the PTV are subtracted and
    the others listed apart; every name is free."""
    prepared = prepare(PROTOCOL, DirectCase("LRRC-01").read(), WorkflowOptions(dry_run=True))
    made = optimisation_recipe(prepared, 30.0)
    below = tuple(k for k in PROTOCOL.oar_keys if k in prepared.tolerances
                  and prepared.tolerances[k].allowed_physical_gy < 30.0)
    assert sorted(made.subtracted_oars + made.apart_oars) == sorted(below) and made.subtracted_oars
    assert made.structure("zRR_PTV_opt").operation.b is not None
    existing = {s.id.lower() for s in prepared.snapshot.structures}
    assert not existing & {n.lower() for n in names_of(made)}
    target = made.structure("zRR_PTV_opt")
    assert 0.0 < target.expected_volume_cc < prepared.target.volume_cc
    entry = target.to_dict()
    assert entry["role"] == "target-opt" and entry["expected_volume_cc"] == target.expected_volume_cc
    assert entry["derived_from"][0] == {"structure": prepared.target_id, "operand": "a",
                                        "margin": Margin.zero().to_dict()}


# --------------------------------------------------------------------------------------
# The TPS's volumes against the engine's


def test_volume_mismatch_fires_just_above_the_tolerance(grid, ptv, small_oars):
    """Shipped tolerance: 10 % or 1 cm³, whichever is larger. PTV_opt (~33 cm³): 10 % wins; the rectum's PRV
    (~2 cm³): 1 cm³ wins."""
    made = recipe(grid, ptv, oar_inputs(small_oars, {"rectum": 40.0}))
    expected = {s.name: s.expected_volume_cc for s in made.structures}
    big, small = expected["zRR_PTV_opt"], expected["zRR_PRV_Rectum"]
    assert big * 0.1 > 1.0 > small * 0.1
    ok = dict(expected, zRR_PTV_opt=big * 1.0999, zRR_PRV_Rectum=small - 0.999)
    assert check_volumes(made, ok) == []
    bad = dict(expected, zRR_PTV_opt=big * 1.1001, zRR_PRV_Rectum=small + 1.001)
    found = check_volumes(made, bad)
    assert [(f.code, f.severity, f.subject) for f in found] == [
        ("optimisation-structure-volume-mismatch", "flag", "zRR_PRV_Rectum"),
        ("optimisation-structure-volume-mismatch", "flag", "zRR_PTV_opt")]
    message = found[1].message
    assert f"{big * 1.1001:.2f} cm³" in message and f"{big:.2f} cm³" in message
    assert f"{big * 0.1001:+.2f} cm³" in message and "+10.0 %" in message


def test_volume_check_missing_and_unknown(grid, ptv, small_oars):
    made = recipe(grid, ptv, oar_inputs(small_oars, {"rectum": 40.0}))
    volumes = {s.name: s.expected_volume_cc for s in made.structures}
    del volumes["zRR_Ring"]
    assert [(f.code, f.subject) for f in check_volumes(made, volumes)] == [
        ("optimisation-structure-volume-missing", "zRR_Ring")]
    with pytest.raises(InputError, match="which the recipe did not create"):
        check_volumes(made, {"PTV": 30.0})
    with pytest.raises(InputError, match="must be finite"):
        check_volumes(made, {"zRR_Ring": float("nan")})


# --------------------------------------------------------------------------------------
# The protocol section


def _raw() -> Dict[str, Any]:
    with open(SHIPPED, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _settings_with(change: Callable[[Dict[str, Any]], None]) -> OptimisationStructureSettings:
    raw = copy.deepcopy(_raw())
    change(raw["optimisation_structures"])
    settings = parse_protocol(raw).optimisation_structures
    assert settings is not None
    return settings


def test_shipped_section_values_and_provenance():
    """Every number of the section is a project choice, unverified (docs/optimisation-structures.md)."""
    s = SETTINGS
    assert s is not None and s.enabled and s.name_prefix == "zRR_"
    assert s.subtract_factor.value == 1.0 and (s.ring_gap.value, s.ring_width.value) == (5.0, 20.0)
    assert (s.volume_tolerance_percent.value, s.volume_tolerance_cc.value) == (10.0, 1.0)
    assert {p.oar_key: p.margin.value for p in s.prvs} == {
        "small_bowel": 3.0, "large_bowel": 3.0, "rectum": 3.0, "sacral_plexus": 3.0, "cauda_equina": 3.0,
        "spinal_cord": 3.0}
    section = [q for q in PROTOCOL.quantities() if q.key_path.startswith("optimisation_structures")]
    assert len(section) == 6 + 6 + 1  # choice, factor, gap, width, two tolerances; six PRV margins; spatial
    assert {(q.source, q.status) for q in section} == {("project", "unverified")}
    assert {q.unit for q in section if ".prv." in q.key_path or ".ring." in q.key_path} == {"mm"}


def test_protocol_without_the_section_still_loads():
    raw = _raw()
    del raw["optimisation_structures"]
    protocol = parse_protocol(raw)
    assert protocol.optimisation_structures is None
    assert protocol.oar_keys == PROTOCOL.oar_keys


def _set(path: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    def change(section: Dict[str, Any]) -> None:
        keys = path.split(".")
        node = section
        for k in keys[:-1]:
            node = node[k]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return change


_DELETE = object()


def mm(value: Any, unit: str = "mm") -> Dict[str, Any]:
    return {"value": value, "unit": unit, "source": "project", "status": "unverified"}


@pytest.mark.parametrize(("change", "where", "what"), [
    (_set("name_prefix", "zz"), "name_prefix", r"then '_'"),
    (_set("name_prefix", "1RR_"), "name_prefix", r"expected a letter"),
    (_set("name_prefix", "reirrad_"), "name_prefix", r"up to 5 more"),
    (_set("target_opt_name", "PTV opt"), "target_opt_name", r"only letters, digits and '_'"),
    (_set("target_opt_name", "PTV_optimised"), "target_opt_name",
     r"13 characters; with the prefix 'zRR_' at most 10"),
    (_set("prv.bowel", {"name": "PRV_B", "margin": mm(3.0)}), "prv.bowel", r"not an OAR of this protocol"),
    (_set("prv.rectum.margin", mm(0.3)), "prv.rectum.margin.value", r"below 1 mm.*in mm \(not cm\)"),
    (_set("prv.rectum.margin", mm(25.0)), "prv.rectum.margin.value", r"above the plausible maximum 20 mm"),
    (_set("prv.rectum.margin", mm(3.0, "cm")), "prv.rectum.margin.unit", r"unit must be 'mm'"),
    (_set("prv.rectum.margin", mm(0.0)), "prv.rectum.margin.value", r"must be > 0"),
    (_set("prv.rectum.name", "PTV_OPT"), "optimisation_structures", r"both be named 'zRR_PTV_OPT'"),
    (_set("subtract_factor", {"value": 2.0, "source": "project", "status": "unverified"}),
     "subtract_factor.value", r"above the plausible maximum 1.5"),
    (_set("subtract_factor", {"value": 0.2, "source": "project", "status": "unverified"}),
     "subtract_factor.value", r"must be in \[0.5, 1.5\]"),
    (lambda s: (_set("ring.gap", mm(15.0))(s), _set("ring.width", mm(40.0))(s)), "ring.width.value",
     r"gap 15 mm \+ width 40 mm exceeds 50 mm, the largest margin Eclipse takes"),
    (_set("ring.width", mm(1.0)), "ring.width.value", r"must be >= 2 mm"),
    (_set("ring.gap", mm(-1.0)), "ring.gap.value", r"must be >= 0 mm"),
    (_set("volume_tolerance.percent", mm(0.0, "%")), "volume_tolerance.percent.value", r"must be > 0"),
    (_set("volume_tolerance.cc", mm(1.0, "cc")), "volume_tolerance.cc.unit", r"unit must be 'cm3'"),
    (_set("enabled", "yes"), "enabled", r"expected true or false"),
    (_set("choice_source", _DELETE), "choice_source", r"required key is missing"),
    (_set("ring.inner", mm(5.0)), "ring.inner", r"unknown key"),
    (_set("subtract_factor.source", "nowhere"), "subtract_factor.source", r"not defined under 'sources'"),
])
def test_bad_section_values_are_refused(change, where, what):
    raw = copy.deepcopy(_raw())
    change(raw["optimisation_structures"])
    with pytest.raises(ProtocolError, match=what) as info:
        parse_protocol(raw)
    assert info.value.key_path == f"optimisation_structures.{where}" or (
        where == "optimisation_structures" and info.value.key_path == where)


def test_a_created_name_an_oar_would_match_is_refused():
    """A site pattern that is not anchored would take zRR_PRV_Rectum for the rectum on the next run."""
    raw = copy.deepcopy(_raw())
    raw["oars"]["rectum"]["patterns"] = ["(?i)rectum"]
    with pytest.raises(ProtocolError, match=r"'zRR_PRV_Rectum' would be matched as OAR 'rectum'"):
        parse_protocol(raw)
