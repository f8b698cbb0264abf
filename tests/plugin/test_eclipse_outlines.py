"""The Eclipse adapter writes outlined structures (issue 20 item 3, the low-tolerance part of an OAR)
contour by contour in the ESAPI stand-in (``EclipsePlanner.make_outlined_structures``).

Sources of truth: the engine's masks and its volume of the written contours
(:func:`reirrad.outlines.outline_planes`, :func:`reirrad.structures.structure_occupancy`), closed forms for
the voxel-square ring, the stand-in's journal (which writes were made), and the ownership rule of
:class:`reirrad.ports.StructureMaker`.

Tolerance. LRRC-01's image has 2.5 mm planes at the centres of the plan's 2.5 mm dose slices, so the
contours :func:`~reirrad.outlines.outline_planes` traces on the dose grid's voxel edges lie on image
planes one per dose slice. Then (a) the engine's occupancy of the contours is exactly the mask (1 inside, 0
outside: tests/engine/test_outlines.py), so ``expected_volume_cc`` = voxel count × 15.625 mm³, and (b) the
stand-in's ``Structure.Volume`` is the exact area of each plane's segment (DEVIATIONS.md) × 2.5 mm, the
same number, and its voxel-centre mask on the calculation grid is the engine's mask (every voxel centre
is half a voxel from every contour edge). Both volumes are sums of the same rectangles in floating
point: they must agree to 1e-9 relative, far below one voxel (15.6 mm³ = 0.0156 cm³, 0.4 % of the
sphere). A wrong hole, a plane left over from an earlier run or a lost island is at least one voxel.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.objectives import OptimizationObjective
from reirrad.optstructures import OutlinedStructure
from reirrad.outlines import PlaneOutline, outline_planes
from reirrad.ports import OutlineMaker
from reirrad.protocol import load_protocol
from reirrad.snapshot import CaseSnapshot
from reirrad.structures import structure_occupancy
from reirrad_tps.eclipse import EclipseCaseSource, EclipsePlanner, StructureSetNotWritableError
from tests.ports_support import assert_signatures_match
from tps_stubs import esapi as stub
from tps_stubs.esapi import _populate
from tps_stubs.patients import load_patient

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
PREFIX = PROTOCOL.optimisation_structures.name_prefix  # type: ignore[union-attr]
PATIENT = "LRRC-01"
ORGAN = "Bowel_Small"
SPHERE = f"{PREFIX}LT_BowelSm"
RING = f"{PREFIX}LT_Ring"
RADIUS_MM = 10.0
#: The ring on each of its planes, in dose voxels (2.5 mm): a 12 × 12 square with a 6 × 6 hole and a
#: 2 × 2 island in the hole's middle: 144 − 36 + 4 = 112 voxels, 700 mm² a plane.
RING_PLANES = 4
RING_AREA_MM2 = (30.0 ** 2 - 15.0 ** 2 + 5.0 ** 2)
REL = 1e-9
#: name -> (the outlined structure, its dose-grid mask)
Regions = Dict[str, Tuple[OutlinedStructure, np.ndarray]]


@pytest.fixture(scope="module")
def case(esapi: Any) -> CaseSnapshot:
    """LRRC-01 as the Eclipse adapter reads it (the plan's dose grid, the clinician's contours)."""
    stub.reset()
    ctx = stub.load_context(PATIENT, "Gy")
    source = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, planned_start=dt.date(2026, 12, 7))
    snapshot = source.read()
    stub.reset()
    return snapshot


def _outlined(name: str, mask: np.ndarray, grid: DoseGrid, planes_z: List[float]) -> OutlinedStructure:
    planes = tuple(outline_planes(mask, grid, planes_z))
    contours = [loop for plane in planes for loop in plane.loops_mm]
    expected = structure_occupancy(contours, grid, name=name).volume_cc
    return OutlinedStructure(name=name, role="low-tolerance", oar_key="small_bowel", structure_id=ORGAN,
                             planes=planes, expected_volume_cc=expected, plane_spacing_mm=2.5,
                             region_volume_cc=float(mask.sum()) * grid.voxel_volume_cc, reason="test region")


@pytest.fixture(scope="module")
def regions(case: CaseSnapshot) -> Regions:
    """A 10 mm ball of dose voxels deep inside the small bowel (every voxel at least 12.5 mm inside the
    engine's organ), and the voxel-square ring with a hole and an island, both outlined on the small bowel's
    own contour planes (image planes); with their masks."""
    grid = case.dose_grid
    organ = case.structure(ORGAN)
    planes_z = sorted({float(c[0, 2]) for c in organ.contours_mm})
    inside = structure_occupancy(organ.contours_mm, grid, name=ORGAN).fraction >= 0.5
    reach = int(np.ceil((RADIUS_MM + 2.5) / 2.5))
    steps = range(-reach, reach + 1)
    offsets = [(dz, dy, dx) for dz in steps for dy in steps for dx in steps
               if 2.5 * np.sqrt(dz * dz + dy * dy + dx * dx) <= RADIUS_MM + 2.5]
    deep = inside.copy()
    for dz, dy, dx in offsets:  # an erosion: only wrap-around of np.roll could be wrong, far from the organ
        deep &= np.roll(inside, (dz, dy, dx), axis=(0, 1, 2))
    candidates = np.argwhere(deep)
    assert len(candidates), "no point 12.5 mm deep in the small bowel"
    centre = candidates[np.argmin(np.linalg.norm(candidates - candidates.mean(axis=0), axis=1))]
    k, j, i = np.indices(grid.shape)
    distance = 2.5 * np.sqrt((k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2)
    ball = distance <= RADIUS_MM
    assert not (ball & ~inside).any()

    ring = np.zeros(grid.shape, dtype=bool)
    k0, j0, i0 = centre
    planes = slice(k0 - RING_PLANES // 2, k0 + RING_PLANES // 2)
    for half, value in ((6, True), (3, False), (1, True)):
        ring[planes, j0 - half:j0 + half, i0 - half:i0 + half] = value
    return {SPHERE: (_outlined(SPHERE, ball, grid, planes_z), ball),
            RING: (_outlined(RING, ring, grid, planes_z), ring)}


def _session(*, approved: bool = False, contour_add: str = "xor") -> Tuple[Any, EclipsePlanner]:
    model = load_patient(PATIENT)
    model = dataclasses.replace(model, structure_sets=tuple(dataclasses.replace(s, approved=approved)
                                                            for s in model.structure_sets))
    ctx = stub.load_context(model, "Gy", contour_add=contour_add)
    planner = EclipsePlanner(ctx.ExternalPlanSetup, patient=ctx.Patient)
    planner.begin_modifications()
    return ctx, planner


def _structures(ctx: Any) -> Dict[str, Any]:
    return {str(s.Id): s for s in ctx.ExternalPlanSetup.StructureSet.Structures}


def _clinicians(ctx: Any) -> Dict[str, Tuple[str, float, int]]:
    """Each clinician's structure: DICOM type, volume, number of image planes with contours."""
    nz = int(ctx.ExternalPlanSetup.StructureSet.Image.ZSize)
    return {sid: (str(s.DicomType), float(s.Volume), len(_written_planes(s, nz)))
            for sid, s in _structures(ctx).items() if not sid.startswith(PREFIX)}


def _members(member: str) -> List[Any]:
    return [e for e in stub.journal() if e.member == member]


def _written_planes(structure: Any, nz: int) -> List[int]:
    return [z for z in range(nz) if len(structure.GetContoursOnImagePlane(z))]


def _image_plane(ctx: Any, z_mm: float) -> int:
    image = ctx.ExternalPlanSetup.StructureSet.Image
    return round((z_mm - float(image.Origin.z)) / float(image.ZRes))


# -- making them -----------------------------------------------------------------------------------------
def test_the_planner_is_an_outline_maker(fresh: Any) -> None:
    """reirrad.ports.OutlineMaker: its four methods with the port's signatures."""
    _, planner = _session()
    assert_signatures_match(planner, OutlineMaker)


def test_the_regions_are_what_the_engine_says(regions: Regions,
                                              case: CaseSnapshot) -> None:
    """The test's own premises: the engine's volume of the contours is the mask's (module docstring), the
    ring's is the closed form, and each ring plane has an outer boundary, a hole and an island, in that
    order (decreasing area)."""
    voxel_cc = case.dose_grid.voxel_volume_cc
    for made, mask in regions.values():
        assert made.expected_volume_cc == pytest.approx(mask.sum() * voxel_cc, rel=REL)
    ring, _ = regions[RING]
    assert ring.expected_volume_cc == pytest.approx(RING_PLANES * RING_AREA_MM2 * 2.5 / 1000.0, rel=REL)
    assert [p.holes for p in ring.planes] == [(False, True, False)] * RING_PLANES


@pytest.mark.parametrize("contour_add", ["xor", "union"])
def test_they_are_made_with_the_engines_volume_under_either_addition(
        fresh: Any, regions: Regions,
        contour_add: str) -> None:
    """Whether Eclipse's AddContourOnImagePlane unites or exclusive-ors (unconfirmed; the stand-in models
    both): the volumes are the engine's (within 1e-9, module docstring) and the ring's closed form, so its
    hole is a hole and its island is there; every hole is written with SubtractContourOnImagePlane, every
    other loop with AddContourOnImagePlane, on the image plane of its z; the structures are CONTROL and
    reirrad's, and no clinician's structure changes."""
    ctx, planner = _session(contour_add=contour_add)
    before = _clinicians(ctx)
    made = [regions[SPHERE][0], regions[RING][0]]
    volumes = planner.make_outlined_structures(made, PREFIX)
    assert list(volumes) == [SPHERE, RING]
    structures = _structures(ctx)
    for s in made:
        assert volumes[s.name] == float(structures[s.name].Volume)
        assert volumes[s.name] == pytest.approx(s.expected_volume_cc, rel=REL)
        assert str(structures[s.name].DicomType) == "CONTROL"
    assert volumes[RING] == pytest.approx(RING_PLANES * RING_AREA_MM2 * 2.5 / 1000.0, rel=REL)
    assert sorted(planner.owned_structure_ids(PREFIX)) == sorted([SPHERE, RING])
    loops = [(plane, hole) for s in made for plane in s.planes for hole in plane.holes]
    assert len(_members("SubtractContourOnImagePlane")) == sum(h for _, h in loops) == RING_PLANES
    assert len(_members("AddContourOnImagePlane")) == sum(not h for _, h in loops)
    written = sorted({int(e.arguments[1]) for e in _members("AddContourOnImagePlane") if e.object_id == RING})
    assert written == sorted(_image_plane(ctx, p.z_mm) for p in regions[RING][0].planes)
    assert _members("ClearAllContoursOnImagePlane") == []  # new structures: nothing to clear
    ring = structures[RING]
    centre = regions[RING][0].planes[0]
    z = centre.z_mm
    middle = centre.loops_mm[2].mean(axis=0)  # the island's centre, also the hole's and the ring's
    v = stub.runtime().Types.VVector
    assert ring.IsPointInsideSegment(v(float(middle[0]), float(middle[1]), z))  # island
    assert not ring.IsPointInsideSegment(v(float(middle[0]) + 5.0, float(middle[1]), z))  # hole
    assert ring.IsPointInsideSegment(v(float(middle[0]) + 12.5, float(middle[1]), z))  # ring
    assert _clinicians(ctx) == before
    for e in stub.journal():
        mine = e.arguments[1] if e.member == "AddStructure" else e.object_id
        assert mine.startswith(PREFIX), e


def test_the_mask_reaches_the_stand_in_optimiser(
        fresh: Any, regions: Regions, case: CaseSnapshot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An objective on the outlined structure hands the stand-in optimiser its voxel-centre mask on the
    plan's calculation grid: exactly the engine's mask (module docstring)."""
    _, planner = _session()
    made, mask = regions[SPHERE]
    planner.make_outlined_structures([made], PREFIX)
    seen: List[Dict[str, np.ndarray]] = []
    real = _populate._made_in_tps

    def recorded(*args: Any) -> Dict[str, np.ndarray]:
        masks = real(*args)
        seen.append(masks)
        return masks

    monkeypatch.setattr(_populate, "_made_in_tps", recorded)
    planner.set_prescription(30.0, 5)
    # a lower objective: the stand-in optimiser takes a made structure's mask for one (its upper and max
    # objectives on made structures are another change); only the mask handed over is under test here
    planner.write_objectives([OptimizationObjective("PTV", "lower", 30.0, 95.0, 80.0, "target"),
                              OptimizationObjective(SPHERE, "lower", 1.0, 50.0, 1.0, "oar")])
    planner.optimise()
    assert seen and SPHERE in seen[-1]
    assert seen[-1][SPHERE].shape == (mask.size,)
    assert np.array_equal(seen[-1][SPHERE].reshape(case.dose_grid.shape), mask)


# -- re-runs ---------------------------------------------------------------------------------------------
def test_a_rerun_replaces_the_contours(fresh: Any,
                                       regions: Regions) -> None:
    """The same name written again replaces the contours: first the ring, then the sphere under the
    ring's name (every image plane cleared first, so none of the ring is left), then the sphere again
    (same volume): one structure, one AddStructure, the clinician's structures unchanged. Under union
    addition, where a plane not cleared would keep its old area."""
    ctx, planner = _session(contour_add="union")
    before = _clinicians(ctx)
    count = len(_structures(ctx))
    nz = int(ctx.ExternalPlanSetup.StructureSet.Image.ZSize)
    ring = regions[RING][0]
    sphere = dataclasses.replace(regions[SPHERE][0], name=RING)
    first = planner.make_outlined_structures([ring], PREFIX)
    second = planner.make_outlined_structures([sphere], PREFIX)
    third = planner.make_outlined_structures([sphere], PREFIX)
    assert first[RING] == pytest.approx(ring.expected_volume_cc, rel=REL)
    assert second[RING] == third[RING] == pytest.approx(sphere.expected_volume_cc, rel=REL)
    assert len(_structures(ctx)) == count + 1 and len(_members("AddStructure")) == 1
    assert len(_members("ClearAllContoursOnImagePlane")) == 2 * nz
    sphere_planes = sorted(_image_plane(ctx, p.z_mm) for p in sphere.planes)
    assert _written_planes(_structures(ctx)[RING], nz) == sphere_planes
    assert planner.owned_structure_ids(PREFIX) == [RING]
    assert _clinicians(ctx) == before


# -- refusals --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift_mm", [1.25, 0.02, 1000.0])
def test_a_plane_off_the_image_planes_is_refused_before_anything_is_written(
        fresh: Any, regions: Regions, shift_mm: float) -> None:
    """A plane between image planes (half a plane, or 0.02 mm: above the 0.01 mm tolerance) or beyond the
    image: InputError naming the structure, the z and the image's planes; nothing written, not even the
    valid structure before it."""
    ctx, planner = _session()
    good = regions[SPHERE][0]
    ring = regions[RING][0]
    plane = ring.planes[1]
    up = np.array([0.0, 0.0, shift_mm])
    moved = PlaneOutline(plane.z_mm + shift_mm, tuple(loop + up for loop in plane.loops_mm), plane.holes)
    bad = dataclasses.replace(ring, planes=(ring.planes[0], moved, *ring.planes[2:]))
    count = len(_structures(ctx))
    with pytest.raises(InputError, match=rf"{RING}.*z = {plane.z_mm + shift_mm:g} mm.*planes"):
        planner.make_outlined_structures([good, bad], PREFIX)
    assert stub.journal() == [] and len(_structures(ctx)) == count


def test_an_approved_structure_set_is_refused(fresh: Any, regions: Regions) -> None:
    """LRRC-01 with its planning structure set approved: CanAddStructure is False, nothing written."""
    ctx, planner = _session(approved=True)
    count = len(_structures(ctx))
    with pytest.raises(StructureSetNotWritableError, match="approved"):
        planner.make_outlined_structures([regions[SPHERE][0]], PREFIX)
    assert stub.journal() == [] and len(_structures(ctx)) == count


@pytest.mark.parametrize(("dicom_type", "name"), [("ORGAN", SPHERE), ("CONTROL", SPHERE.lower())])
def test_a_foreign_structure_with_the_name_is_refused(
        fresh: Any, regions: Regions, dicom_type: str, name: str) -> None:
    """A clinician's structure with the name (another type, or the prefix in another case) is not
    reirrad's: InputError naming it, nothing written, its contours kept."""
    ctx, planner = _session()
    theirs = ctx.ExternalPlanSetup.StructureSet.AddStructure(dicom_type, name)
    theirs.SegmentVolume = _structures(ctx)["PTV"].SegmentVolume
    volume = float(theirs.Volume)
    written = len(stub.journal())
    with pytest.raises(InputError, match=name):
        planner.make_outlined_structures([regions[SPHERE][0]], PREFIX)
    assert len(stub.journal()) == written and float(theirs.Volume) == volume


def test_the_prefix_and_the_type_are_required(fresh: Any, regions: Regions) -> None:
    """No prefix, a name without it, or something else than an OutlinedStructure: InputError, no write."""
    _, planner = _session()
    sphere = regions[SPHERE][0]
    with pytest.raises(InputError, match="prefix"):
        planner.make_outlined_structures([sphere], "")
    with pytest.raises(InputError, match="prefix"):
        planner.make_outlined_structures([dataclasses.replace(sphere, name="LT_BowelSm")], PREFIX)
    with pytest.raises(InputError, match="OutlinedStructure"):
        planner.make_outlined_structures(["zRR_x"], PREFIX)  # type: ignore[list-item]
    assert stub.journal() == []
