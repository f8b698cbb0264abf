"""Outlined (low-tolerance) structures written contour by contour by the RayStation adapter
(``reirrad_tps.raystation.structures.make_outlined_structures``, :class:`reirrad.ports.OutlineMaker`) into the
RayStation stand-in (``tps_stubs/raystation/contours.py``).

Sources of truth: the engine's outlines and their volume (:mod:`reirrad.outlines`: with one contour plane per
dose slice at the slice centre, the written contours occupy exactly the mask's voxels), public scripts' call
forms (the adapter's module docstring) and the stand-in's documented strictness (DEVIATIONS.md).

**Volume tolerance.** On LRRC-01 the planning CT's slices (2.5 mm) are the dose grid's slice centres, and
the stand-in's ``GetRoiVolume`` integrates the written contours with the engine's own occupancy on the
examination's default grid, which is the plan's dose grid (asserted below). The loops run along dose-voxel
edges, where that integration is exact, so the TPS volume, the engine's ``expected_volume_cc`` and the
mask's voxel count × voxel volume agree up to float rounding of the mm → cm → mm round trip: the tests allow
``1e-9 × V`` (measured difference 0). A real RayStation voxelises on its own grid; that difference is what
the protocol's volume tolerance (``check_volumes``) is for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import pytest

import tps_stubs.raystation as rs
from reirrad.dose import DoseGrid
from reirrad.errors import ApprovedPlanError, InputError
from reirrad.optstructures import OutlinedStructure
from reirrad.outlines import PlaneOutline, outline_planes
from reirrad.structures import structure_occupancy
from reirrad_tps.raystation import CopyOnFirstWritePlanner, RayStationCaseSource, entry
from reirrad_tps.raystation import structures as rs_structures
from reirrad_tps.raystation.units import points_mm_from_cm
from tests.raystation_support import roi_volumes, rs_planner
from tps_stubs.planner import PlannerObjective
from tps_stubs.raystation import dose_calculation
from tps_stubs.raystation.errors import ArgumentException, InvalidOperationException

VERSION = "2024B"
PREFIX = "zRR_"
NAME = "zRR_LowTol_Bowel_Small"
ORGAN = "Bowel_Small"
CENTRE_MM = (0.0, -35.0, 75.0)  # inside the small bowel's main ellipsoid (standard-pelvis anatomy)
REL = 1e-9  # module docstring


@pytest.fixture(autouse=True)
def _unload() -> Iterator[None]:
    yield
    rs.unload()




@pytest.fixture(scope="module")
def geometry(unapproved: Path) -> Tuple[DoseGrid, List[float]]:
    """The plan's dose grid and the small bowel's contour planes (mm), as the adapter reads them."""
    rs.load(unapproved, VERSION)
    patient, case, plan, beam_set, exam = entry.current_objects(VERSION)
    snapshot = RayStationCaseSource(case, plan, beam_set, exam, patient=patient, tps_version=VERSION,
                                    prior_dates={"PELVIS_45": dt.date(2024, 6, 7)},
                                    planned_start=dt.date(2026, 12, 7)).read()
    assert exam._default_grid().engine_grid().origin_mm == pytest.approx(snapshot.dose_grid.origin_mm)
    organ = next(s for s in snapshot.structures if s.id == ORGAN)
    rs.unload()
    return snapshot.dose_grid, sorted({float(c[0, 2]) for c in organ.contours_mm})


def _centres(grid: DoseGrid) -> np.ndarray:
    ijk = np.argwhere(np.ones(grid.shape, bool))[:, ::-1].astype(float)
    return np.asarray(grid.index_to_patient_mm(ijk)).reshape((*tuple(grid.shape), 3))


def _sphere(grid: DoseGrid, radius_mm: float = 10.0) -> np.ndarray:
    return np.asarray(np.linalg.norm(_centres(grid) - np.array(CENTRE_MM), axis=-1) <= radius_mm)


def _ring(grid: DoseGrid) -> np.ndarray:
    """Three slices of a 13 × 13-voxel square with a 9 × 9 hole holding a 3 × 3 island."""
    i, j, k = (round(float(v)) for v in (np.array(CENTRE_MM) - grid.origin_mm) / grid.spacing_mm)  # axial
    mask = np.zeros(grid.shape, bool)
    mask[k - 1:k + 2, j - 6:j + 7, i - 6:i + 7] = True
    mask[k - 1:k + 2, j - 4:j + 5, i - 4:i + 5] = False
    mask[k - 1:k + 2, j - 1:j + 2, i - 1:i + 2] = True
    return mask


def _outlined(mask: np.ndarray, grid: DoseGrid, planes: Sequence[float]) -> OutlinedStructure:
    outlines = outline_planes(mask, grid, planes)
    contours = [loop for o in outlines for loop in o.loops_mm]
    expected = structure_occupancy(contours, grid).volume_cc
    return OutlinedStructure(NAME, "low-tolerance", "small_bowel", ORGAN, tuple(outlines), expected, 2.5,
                             float(mask.sum()) * grid.voxel_volume_cc, "test region")




def _voxels(beam_set: Any, name: str) -> np.ndarray:
    """RayStation's voxelisation of an ROI on the plan's dose grid, [z, y, x], 0–255."""
    grid = beam_set.GetDoseGrid()
    values = beam_set.GetStructureSet().RoiGeometries[name].GetRoiGeometryAsVoxels(
        Corner=grid.Corner, VoxelSize=grid.VoxelSize, NrVoxels=grid.NrVoxels)
    return np.asarray(values).reshape(tuple(int(grid.NrVoxels[a]) for a in "zyx"))


# -- the adapter -----------------------------------------------------------------------------------------
def test_a_sphere_is_written_as_a_control_roi_with_the_engines_volume(unapproved: Path,
                                                                      geometry: Any) -> None:
    """Engine outlines + module docstring tolerance: a 10 mm sphere in the small bowel, its TPS volume, its
    voxels on the dose grid, its contours read back in mm; a Control ROI that is reirrad's afterwards."""
    grid, planes = geometry
    mask = _sphere(grid)
    structure = _outlined(mask, grid, planes)
    assert structure.expected_volume_cc == pytest.approx(structure.region_volume_cc, rel=REL)
    rs.load(unapproved, VERSION)
    planner, case, beam_set = rs_planner()
    volumes = planner.make_outlined_structures([structure], PREFIX)
    assert list(volumes) == [NAME]
    assert abs(volumes[NAME] - structure.expected_volume_cc) <= REL * structure.expected_volume_cc
    assert case.PatientModel.RegionsOfInterest[NAME].Type == "Control"
    assert planner.owned_structure_ids(PREFIX) == [NAME]
    np.testing.assert_array_equal(_voxels(beam_set, NAME), np.where(mask, 255, 0))
    geometry_rs = beam_set.GetStructureSet().RoiGeometries[NAME]
    assert geometry_rs.HasContours()
    read = [points_mm_from_cm(c) for c in geometry_rs.PrimaryShape.Contours]
    assert len(read) == len(structure.contours_mm)
    for got, want in zip(read, structure.contours_mm):
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_holes_are_holes_and_islands_in_them_are_islands(unapproved: Path, geometry: Any) -> None:
    """Even–odd rule (reirrad.outlines; RayStation's contour list, DICOM-like): the hole's voxels are outside,
    the island's inside, and the volume is 169 − 81 + 9 voxels per slice."""
    grid, planes = geometry
    mask = _ring(grid)
    structure = _outlined(mask, grid, planes)
    assert [p.holes for p in structure.planes] == [(False, True, False)] * 3
    rs.load(unapproved, VERSION)
    planner, _, beam_set = rs_planner()
    volumes = planner.make_outlined_structures([structure], PREFIX)
    voxel_cc = grid.voxel_volume_cc
    assert volumes[NAME] == pytest.approx(3 * (169 - 81 + 9) * voxel_cc, rel=REL)
    assert abs(volumes[NAME] - structure.expected_volume_cc) <= REL * structure.expected_volume_cc
    np.testing.assert_array_equal(_voxels(beam_set, NAME), np.where(mask, 255, 0))


def test_a_rerun_replaces_the_contours_and_touches_no_clinician_roi(unapproved: Path, geometry: Any) -> None:
    """OutlineMaker: a second call with the same name adds no ROI, gives the same volume; a third with
    another region replaces the contours (the ring's volume, not the union); the clinician's ROIs keep their
    volumes."""
    grid, planes = geometry
    sphere, ring = _outlined(_sphere(grid), grid, planes), _outlined(_ring(grid), grid, planes)
    rs.load(unapproved, VERSION)
    planner, case, beam_set = rs_planner()
    first = planner.make_outlined_structures([sphere], PREFIX)
    before = roi_volumes(case, beam_set)
    again = planner.make_outlined_structures([sphere], PREFIX)
    assert again == pytest.approx(first, rel=REL)
    assert roi_volumes(case, beam_set) == pytest.approx(before, rel=REL)
    replaced = planner.make_outlined_structures([ring], PREFIX)
    after = roi_volumes(case, beam_set)
    assert sorted(after) == sorted(before)  # no duplicate ROI
    assert replaced[NAME] == pytest.approx(ring.expected_volume_cc, rel=REL)
    assert {n: v for n, v in after.items() if n != NAME} == {n: v for n, v in before.items() if n != NAME}
    writes = [e for e in rs.journal() if e.outcome == "ok"]
    assert all(NAME in e.path or e.arguments.get("Name") == NAME for e in writes)  # only reirrad's ROI
    assert [e.member for e in writes].count("CreateBoxGeometry") == 1  # the placeholder once, for the new ROI


def test_a_contour_off_the_image_slices_is_refused_before_anything_is_written(unapproved: Path,
                                                                              geometry: Any) -> None:
    """OutlineMaker: a z that is not an image slice (1.25 mm between two 2.5 mm slices) is refused, naming the
    structure, the z and the slices, before the first write (here the first structure is valid)."""
    grid, planes = geometry
    good = _outlined(_sphere(grid), grid, planes)
    moved = tuple(PlaneOutline(p.z_mm + 1.25, tuple(np.column_stack([lp[:, :2], lp[:, 2] + 1.25])
                                                    for lp in p.loops_mm), p.holes)
                  for p in good.planes)
    shifted = OutlinedStructure(f"{NAME}_2", "low-tolerance", "small_bowel", ORGAN, moved,
                                good.expected_volume_cc, 2.5, good.region_volume_cc, "test")
    rs.load(unapproved, VERSION)
    planner, case, _ = rs_planner()
    rois = [r.Name for r in case.PatientModel.RegionsOfInterest]
    z = moved[0].z_mm
    with pytest.raises(InputError, match=rf"{NAME}_2: a contour at z = {z:g} mm is not on an image slice .*"
                                         r"slices from -120 to 120 mm every 2\.5 mm"):
        planner.make_outlined_structures([good, shifted], PREFIX)
    assert [r.Name for r in case.PatientModel.RegionsOfInterest] == rois
    assert rs.journal() == []


@pytest.mark.parametrize("version", ["11B", "12A", VERSION])
def test_an_approved_structure_set_is_refused(version: str, approved: Path, geometry: Any) -> None:
    """§9 structure-set approval (12A+ SubStructureSets, 11B ApprovedStructureSets): nothing is written."""
    grid, planes = geometry
    rs.load(approved, version)
    planner, _, _ = rs_planner(version)
    with pytest.raises(ApprovedPlanError, match="approved"):
        planner.make_outlined_structures([_outlined(_sphere(grid), grid, planes)], PREFIX)
    assert rs.journal() == []


@pytest.mark.parametrize("roi_type", ["Organ", "Ptv"])
def test_a_foreign_roi_of_that_name_is_refused_and_never_written(unapproved: Path, geometry: Any,
                                                                 roi_type: str) -> None:
    """Ownership rule (docs/optimisation-structures.md): a prefixed ROI that is not Control is the
    clinician's; the outlined structure of that name is refused before anything is written."""
    grid, planes = geometry
    rs.load(unapproved, VERSION)
    planner, case, beam_set = rs_planner()
    case.PatientModel.CreateRoi(Name=NAME, Color="Red", Type=roi_type)
    writes = len(rs.journal())
    with pytest.raises(InputError, match="not reirrad's"):
        planner.make_outlined_structures([_outlined(_sphere(grid), grid, planes)], PREFIX)
    assert len(rs.journal()) == writes
    assert beam_set.GetStructureSet().RoiGeometries[NAME].PrimaryShape is None


def test_the_copy_planner_copies_the_plan_before_writing_contours(unapproved: Path, geometry: Any) -> None:
    """planner.py: making structures is a write: CopyOnFirstWritePlanner makes the run's plan copy first."""
    grid, planes = geometry
    rs.load(unapproved, VERSION)
    _, case, plan, beam_set, _ = entry.current_objects(VERSION)
    wrapper = CopyOnFirstWritePlanner(case, plan, beam_set, version=VERSION)
    assert wrapper.plan_name is None
    structure = _outlined(_sphere(grid), grid, planes)
    volumes = wrapper.make_outlined_structures([structure], PREFIX)
    assert wrapper.plan_name is not None
    assert volumes[NAME] == pytest.approx(structure.expected_volume_cc, rel=REL)


def test_the_stand_in_optimiser_sees_the_written_region(unapproved: Path, geometry: Any) -> None:
    """dose_calculation.structure_masks: an objective on the outlined ROI reaches the planner as voxels."""
    grid, planes = geometry
    mask = _sphere(grid)
    rs.load(unapproved, VERSION)
    planner, _, beam_set = rs_planner()
    planner.make_outlined_structures([_outlined(mask, grid, planes)], PREFIX)
    masks = dose_calculation.structure_masks(beam_set, [PlannerObjective(NAME, "lower", 30.0, 95.0)])
    np.testing.assert_array_equal(masks[NAME], mask.ravel())


# -- the stand-in's contour writing ------------------------------------------------------------------------
def _square(z_cm: float, half_cm: float = 0.5) -> List[Dict[str, float]]:
    return [{"x": -half_cm, "y": -3.5 - half_cm, "z": z_cm}, {"x": half_cm, "y": -3.5 - half_cm, "z": z_cm},
            {"x": half_cm, "y": -3.5 + half_cm, "z": z_cm}, {"x": -half_cm, "y": -3.5 + half_cm, "z": z_cm}]


def _boxed_roi(case: Any, beam_set: Any, representation: str = "Voxels") -> Any:
    """A new Control ROI with a 1 cm placeholder box, as the adapter makes it; its geometry."""
    roi = case.PatientModel.CreateRoi(Name=NAME, Color="Red", Type="Control")
    roi.CreateBoxGeometry(Size={"x": 1.0, "y": 1.0, "z": 1.0}, Examination=beam_set.GetPlanningExamination(),
                          Center={"x": 0.0, "y": -3.5, "z": 7.5}, Representation=representation,
                          VoxelSize=None)
    return beam_set.GetStructureSet().RoiGeometries[NAME]


MALFORMED = [
    ("not a list", {"x": 0.0}, TypeError),
    ("a point without z", [[{"x": 0.0, "y": 0.0}] * 3], TypeError),
    ("a point with an extra key", [[{"x": 0.0, "y": 0.0, "z": 7.5, "w": 1.0}] * 3], TypeError),
    ("tuples for points", [[(0.0, 0.0, 7.5)] * 3], TypeError),
    ("a non-numeric coordinate", [[{"x": "0", "y": 0.0, "z": 7.5}] * 3], TypeError),
    ("two points", [_square(7.5)[:2]], ArgumentException),
    ("a non-planar contour", [[*_square(7.5)[:3], {"x": -0.5, "y": -3.0, "z": 7.75}]], ArgumentException),
    ("z between slices", [_square(7.625)], ArgumentException),
    ("every value in mm (z = 75 cm is off the image)",
     [[{k: 10 * v for k, v in p.items()} for p in _square(7.5)]], ArgumentException),
    ("no contour", [], ArgumentException),
]


@pytest.mark.parametrize("value,error", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_the_stand_in_refuses_malformed_contour_lists(unapproved: Path, value: Any, error: type) -> None:
    """Stand-in strictness (tps_stubs/raystation/contours.py): a list of lists of points with exactly x, y, z,
    each contour planar on an image slice; refused values change nothing. A contour whose x and y are given
    in mm but whose z is right is **not** detectable (only a z off the image is)."""
    rs.load(unapproved, VERSION)
    _, case, beam_set = rs_planner()
    geometry_rs = _boxed_roi(case, beam_set)
    geometry_rs.SetRepresentation(Representation="Contours")
    before = geometry_rs.GetRoiVolume()
    with pytest.raises(error):
        geometry_rs.PrimaryShape.Contours = value
    assert geometry_rs.GetRoiVolume() == before


def test_the_stand_in_writes_contours_only_on_a_contour_shape_of_a_writable_geometry(unapproved: Path,
                                                                                    approved: Path) -> None:
    """Public-scripts R11 and the [stub-2025] shape types: a voxel (box) or mesh shape has no ``Contours``
    until ``SetRepresentation``; an empty geometry has no shape (``PrimaryShape`` None); approved data
    refuses. The mesh ROI is the PTV: the organs are approved in the prior CT's structure set, which the
    stand-in reads as locking the ROI on every examination (its stricter reading)."""
    rs.load(unapproved, VERSION, mesh_rois=["PTV"])
    _, case, beam_set = rs_planner()
    structure_set = beam_set.GetStructureSet()
    empty = case.PatientModel.CreateRoi(Name="zRR_empty", Color="Red", Type="Control")
    with pytest.raises(AttributeError):
        structure_set.RoiGeometries[empty.Name].PrimaryShape.Contours = [_square(7.5)]
    geometry_rs = _boxed_roi(case, beam_set)
    assert not geometry_rs.HasContours() and not hasattr(geometry_rs.PrimaryShape, "Contours")
    assert geometry_rs.GetRoiVolume() == pytest.approx(1.0 * 1.0 * 0.25 * 4)  # 4 slices in 1 cm, 2.5 mm slabs
    geometry_rs.SetRepresentation(Representation="Contours")
    geometry_rs.PrimaryShape.Contours = [_square(7.5, 1.0), _square(7.5, 0.5), _square(7.75, 1.0)]
    assert geometry_rs.GetRoiVolume() == pytest.approx((4.0 - 1.0) * 0.25 + 4.0 * 0.25)  # a hole on 7.5 cm
    mesh = structure_set.RoiGeometries["PTV"]
    with pytest.raises(AttributeError):
        mesh.PrimaryShape.Contours = [_square(-5.5)]
    mesh.SetRepresentation(Representation="Contours")
    assert mesh.HasContours() and len(mesh.PrimaryShape.Contours) > 0
    rs.unload()
    rs.load(approved, VERSION)
    _, _, beam_set = rs_planner()
    rectum = beam_set.GetStructureSet().RoiGeometries["Rectum"]
    with pytest.raises(InvalidOperationException):
        rectum.PrimaryShape.Contours = rectum.PrimaryShape.Contours[:3]
    with pytest.raises(InvalidOperationException):
        rectum.SetRepresentation(Representation="Voxels")


def test_only_units_converts_the_contours(geometry: Any) -> None:
    """style.md §3 practice 4: the contour value is every loop in cm (mm ÷ 10 in units.py), planes checked."""
    grid, planes = geometry
    structure = _outlined(_ring(grid), grid, planes)
    written = rs_structures.contours_cm(structure, [-120.0 + 2.5 * k for k in range(97)])
    assert len(written) == 9 and all(set(p) == {"x", "y", "z"} for c in written for p in c)
    assert all(type(p["x"]) is float for c in written for p in c)
    np.testing.assert_allclose(points_mm_from_cm(written[0]), structure.contours_mm[0])
