"""ROI margins and algebra of the RayStation stand-in (``CreateMarginGeometry``, ``CreateAlgebraGeometry``).

Sources of truth: docs/reference/raystation.md §9 (call forms, margins in cm), §4 / §14.6 (approved data
raises ``InvalidOperationException``), §2 (keyword-only calls), §5.3 (DICOM patient coordinates: x to the
patient's left, y posterior, z superior), and closed forms computed here for analytic phantoms (a sphere,
a box whose z faces lie on slab edges, a cylinder along z). Tolerances are those stated in
``tps_stubs/raystation/roi_algebra.py`` (2.5 mm planes, 1 mm in-plane lattice).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterator, Tuple

import numpy as np
import pytest

import tps_stubs.raystation as rs

PHANTOM_YAML = """\
id: ALGEBRA-T
name: TEST^ALGEBRA
planned_start: 2026-12-07
images:
  - id: CT_A
    frame_of_reference_uid: 1.2.826.0.1.3680043.10.9999.20
    spacing_mm: [2.0, 2.0, 2.5]
    size: [100, 100, 61]
    orientation: {orientation}
structure_sets:
  - id: CT_A
    image: CT_A
    approved: {approved}
    structures:
      PTV: {{type: PTV, shape: {{sphere: {{centre: [0, 0, 0], radius: 20}}}}}}
      Box: {{type: ORGAN, shape: {{box: {{centre: [0, 0, 0], half_size: [15, 10, 18.75]}}}}}}
      Cyl: {{type: ORGAN, shape: {{cylinder: {{centre: [25, 0], radii: [8, 8], z: [-40, 40]}}}}}}
courses:
  - id: C2
    plans:
      - id: NEW
        image: CT_A
        target: PTV
        n_fractions: 5
        prescription_gy: 30.0
current: {{course: C2, plan: NEW}}
"""
DIRECTIONS = ("Superior", "Inferior", "Anterior", "Posterior", "Right", "Left")
SPHERE_CM = 2.0
BOX_CM = (3.0, 2.0, 3.75)  # full sizes x, y, z; z faces at ±18.75 mm = slab edges of the 2.5 mm planes


@pytest.fixture(autouse=True)
def _no_connect_left() -> Iterator[None]:
    yield
    rs.unload()


def _phantom(tmp_path: Any, version: str = "2024B", *, approved: bool = False,
             orientation: str = "HeadFirstSupine") -> Tuple[Any, Any, Any]:
    path = tmp_path / "ALGEBRA-T.yaml"
    path.write_text(PHANTOM_YAML.format(approved=str(approved).lower(), orientation=orientation),
                    encoding="utf-8")
    connect = rs.load(path, version)
    case = connect.get_current("Case")
    return connect, case.PatientModel, connect.get_current("Examination")


def margin(cm: float = 0.0, kind: str = "Expand", **per_direction: float) -> Dict[str, Any]:
    settings: Dict[str, Any] = {"Type": kind, **{d: cm for d in DIRECTIONS}}
    settings.update(per_direction)
    return settings


def expression(*names: str, operation: str = "Union", settings: Any = None) -> Dict[str, Any]:
    return {"Operation": operation, "SourceRoiNames": list(names),
            "MarginSettings": margin() if settings is None else settings}


def _geometry(pm: Any, exam: Any, name: str) -> Any:
    return pm.StructureSets[exam.Name].RoiGeometries[name]


def _grown(pm: Any, exam: Any, name: str, source: str, settings: Dict[str, Any]) -> Any:
    roi = pm.CreateRoi(Name=name, Color="Yellow", Type="Control")
    roi.CreateMarginGeometry(Examination=exam, SourceRoiName=source, MarginSettings=settings)
    return _geometry(pm, exam, name)


def box_sum_cc(size: Tuple[float, float, float], grow: Tuple[float, float, float]) -> float:
    """Volume of a box (full sizes a, b, c) grown by a kernel that is an ellipsoid per octant, cm³.

    With X = Right + Left, Y = Anterior + Posterior, Z = Inferior + Superior: the box, its faces moved
    out (bc·X + ac·Y + ab·Z), quarter-elliptic edges (π/4·(a·Y·Z + b·X·Z + c·X·Y)) and octant corners
    (π/6·X·Y·Z, the octants of the kernel).
    """
    a, b, c = size
    x, y, z = grow
    return (a * b * c + b * c * x + a * c * y + a * b * z
            + math.pi / 4.0 * (a * y * z + b * x * z + c * x * y) + math.pi / 6.0 * x * y * z)


def _lens_area(r1: np.ndarray, r2: float, d: float) -> np.ndarray:
    """Area of the intersection of two discs (radii r1, r2, centres d apart), closed form."""
    out = np.zeros_like(r1)
    inside = d <= np.abs(r2 - r1)
    out[inside] = math.pi * np.minimum(r1[inside], r2) ** 2
    part = (d < r1 + r2) & ~inside
    r = r1[part]
    out[part] = (r * r * np.arccos((d * d + r * r - r2 * r2) / (2 * d * r))
                 + r2 * r2 * np.arccos((d * d + r2 * r2 - r * r) / (2 * d * r2))
                 - 0.5 * np.sqrt((-d + r + r2) * (d + r - r2) * (d - r + r2) * (d + r + r2)))
    return out


# -- §9: margins, analytic shapes ----------------------------------------------------------------
@pytest.mark.parametrize("grow_cm", [0.3, 0.5, 1.0])
def test_sphere_grown_by_a_margin_is_the_larger_sphere(tmp_path: Any, grow_cm: float) -> None:
    """Closed form: a sphere of radius R grown by r is the sphere of radius R + r (4/3·π·(R + r)³),
    within 2.5 %; the source itself is within 0.5 % of 4/3·π·R³."""
    _, pm, exam = _phantom(tmp_path)
    source = _geometry(pm, exam, "PTV").GetRoiVolume()
    assert source == pytest.approx(4.0 / 3.0 * math.pi * SPHERE_CM ** 3, rel=0.005)
    grown = _grown(pm, exam, "PTV_grown", "PTV", margin(grow_cm)).GetRoiVolume()
    assert grown == pytest.approx(4.0 / 3.0 * math.pi * (SPHERE_CM + grow_cm) ** 3, rel=0.025)


def test_contract_erodes_the_sphere(tmp_path: Any) -> None:
    """Closed form: 'Contract' by r shrinks a sphere to radius R − r (within 2.5 %)."""
    _, pm, exam = _phantom(tmp_path)
    shrunk = _grown(pm, exam, "PTV_shrunk", "PTV", margin(0.5, "Contract")).GetRoiVolume()
    assert shrunk == pytest.approx(4.0 / 3.0 * math.pi * (SPHERE_CM - 0.5) ** 3, rel=0.025)
    box = _grown(pm, exam, "Box_shrunk", "Box", margin(0, "Contract", Right=0.5, Left=0.2, Superior=0.5))
    low, high = box.GetBoundingBox()
    assert (low.x, high.x) == (pytest.approx(-1.0, abs=0.05), pytest.approx(1.3, abs=0.05))
    assert (low.y, high.y) == (pytest.approx(-1.0, abs=0.05), pytest.approx(1.0, abs=0.05))
    # contour planes: the box's top plane 17.5 mm moves 5 mm down; its bottom plane stays
    assert (low.z, high.z) == (pytest.approx(-1.75, abs=1e-6), pytest.approx(1.25, abs=1e-6))
    # faces moved in by the margins: 2.3 x 2 x 3.25 cm (z: slab model, planes -17.5 .. 12.5 mm)
    assert box.GetRoiVolume() == pytest.approx(2.3 * 2.0 * 3.25, rel=0.01)


def test_anisotropic_margins_move_the_right_faces(tmp_path: Any) -> None:
    """§5.3 axes: Right grows towards −x, Left +x, Anterior −y, Posterior +y, Inferior −z, Superior +z;
    each face moves by its own margin (cm); the volume is the box's Minkowski sum with the per-octant
    ellipsoid within 6 % (its edges between planes are rounded tighter, roi_algebra docstring)."""
    _, pm, exam = _phantom(tmp_path)
    settings = margin(0, Right=0.5, Left=1.0, Anterior=0.3, Posterior=0.7, Superior=0.5, Inferior=1.0)
    grown = _grown(pm, exam, "Box_aniso", "Box", settings)
    low, high = grown.GetBoundingBox()
    assert (low.x, high.x) == (pytest.approx(-1.5 - 0.5, abs=0.05), pytest.approx(1.5 + 1.0, abs=0.05))
    assert (low.y, high.y) == (pytest.approx(-1.0 - 0.3, abs=0.05), pytest.approx(1.0 + 0.7, abs=0.05))
    # top / bottom contour planes ±17.5 mm move by 5 mm (2 planes) and 10 mm (4 planes)
    assert (low.z, high.z) == (pytest.approx(-1.75 - 1.0, abs=1e-6), pytest.approx(1.75 + 0.5, abs=1e-6))
    expected = box_sum_cc(BOX_CM, (1.5, 1.0, 1.5))
    assert expected * 0.94 <= grown.GetRoiVolume() <= expected
    # an isotropic box margin, the same rule
    iso = _grown(pm, exam, "Box_5", "Box", margin(0.5)).GetRoiVolume()
    assert box_sum_cc(BOX_CM, (1.0, 1.0, 1.0)) * 0.94 <= iso <= box_sum_cc(BOX_CM, (1.0, 1.0, 1.0))


def test_a_margin_of_half_a_cm_is_five_millimetres(tmp_path: Any) -> None:
    """§9: margins are in cm: 0.5 moves the Left face of the box (x = 15 mm) to 20 mm, and the returned
    contour points are in cm too."""
    _, pm, exam = _phantom(tmp_path)
    grown = _grown(pm, exam, "Box_left", "Box", margin(0, Left=0.5))
    xs = [p.x for contour in grown.PrimaryShape.Contours for p in contour]
    assert max(xs) == pytest.approx(2.0, abs=0.05)
    assert min(xs) == pytest.approx(-1.5, abs=0.05)
    # the face moved by 5 mm over the box's full height: + 0.5 x 2 x 3.75 cm³
    assert grown.GetRoiVolume() == pytest.approx(_geometry(pm, exam, "Box").GetRoiVolume() + 3.75, rel=0.01)


def test_superior_is_plus_z_on_a_feet_first_image(tmp_path: Any) -> None:
    """§5.3: margins act in DICOM patient coordinates, so on a feet-first image (index z reversed) a
    superior margin still grows towards +z."""
    _, pm, exam = _phantom(tmp_path, orientation="FeetFirstSupine")
    grown = _grown(pm, exam, "Box_sup", "Box", margin(0, Superior=1.0))
    low, high = grown.GetBoundingBox()
    assert (low.z, high.z) == (pytest.approx(-1.75, abs=1e-6), pytest.approx(2.75, abs=1e-6))


# -- §9: ROI algebra ---------------------------------------------------------------------------------
def test_ptv_minus_grown_cylinder_matches_the_closed_form(tmp_path: Any) -> None:
    """Closed form: PTV (sphere R = 20 mm) − (cylinder r = 8 mm along z, axis 25 mm away, grown 5 mm):
    the cylinder spans the sphere in z, so the cut is ∫ lens(√(R² − z²), 13 mm, 25 mm) dz (within 2 %)."""
    _, pm, exam = _phantom(tmp_path)
    roi = pm.CreateRoi(Name="PTV_opt", Color="Red", Type="Ptv")
    roi.CreateAlgebraGeometry(Examination=exam, Algorithm="Auto", ExpressionA=expression("PTV"),
                              ExpressionB=expression("Cyl", settings=margin(0.5)),
                              ResultOperation="Subtraction", ResultMarginSettings=margin())
    z = np.linspace(-20.0, 20.0, 40001)
    lens = _lens_area(np.sqrt(np.maximum(400.0 - z * z, 0.0)), 13.0, 25.0)
    cut_cc = float(np.sum((lens[1:] + lens[:-1]) / 2.0 * np.diff(z))) / 1000.0
    expected = 4.0 / 3.0 * math.pi * SPHERE_CM ** 3 - cut_cc
    assert cut_cc > 1.0  # the cut is not negligible
    assert _geometry(pm, exam, "PTV_opt").GetRoiVolume() == pytest.approx(expected, rel=0.02)
    assert roi.Type == "Ptv" and roi.OrganData.OrganType == "Target"


def test_union_intersection_subtraction_are_consistent(tmp_path: Any) -> None:
    """Set identities on the same grid: |A ∪ B| + |A ∩ B| = |A| + |B| (within 0.5 %) and
    |A − B| = |A| − |A ∩ B| (within 1.5 %: where the sphere pokes less than the 1 mm lattice step
    through a box face, the sliver is lost from both A − B and A ∩ B); 'None' is A alone; an
    Intersection expression of two ROIs equals ResultOperation 'Intersection'."""
    _, pm, exam = _phantom(tmp_path)
    volumes = {}
    for op in ("Union", "Intersection", "Subtraction", "None"):
        roi = pm.CreateRoi(Name=f"PTV_{op}", Color="Blue", Type="Control")
        roi.CreateAlgebraGeometry(Examination=exam, ExpressionA=expression("PTV"),
                                  ExpressionB=expression("Box"), ResultOperation=op,
                                  ResultMarginSettings=margin())
        volumes[op] = _geometry(pm, exam, f"PTV_{op}").GetRoiVolume()
    a, b = _geometry(pm, exam, "PTV").GetRoiVolume(), _geometry(pm, exam, "Box").GetRoiVolume()
    assert volumes["Union"] + volumes["Intersection"] == pytest.approx(a + b, rel=0.005)
    assert volumes["Subtraction"] == pytest.approx(a - volumes["Intersection"], rel=0.015)
    assert volumes["None"] == pytest.approx(a, rel=0.005)
    assert volumes["Union"] > max(a, b) and volumes["Intersection"] < min(a, b)
    roi = pm.CreateRoi(Name="PTV_and_Box", Color="Blue", Type="Control")
    roi.CreateAlgebraGeometry(Examination=exam,
                              ExpressionA=expression("PTV", "Box", operation="Intersection"))
    both = _geometry(pm, exam, "PTV_and_Box").GetRoiVolume()
    assert both == pytest.approx(volumes["Intersection"], rel=1e-6)


def test_a_ring_is_a_shell_with_a_hole(tmp_path: Any) -> None:
    """Closed form: (PTV + 2 cm) − (PTV + 0.5 cm) is the shell 4/3·π·(4³ − 2.5³) cm³ (within 2.5 %), with
    two contours (outer, hole) on the central plane."""
    _, pm, exam = _phantom(tmp_path)
    roi = pm.CreateRoi(Name="Ring", Color="Green", Type="Control")
    roi.CreateAlgebraGeometry(Examination=exam, ExpressionA=expression("PTV", settings=margin(2.0)),
                              ExpressionB=expression("PTV", settings=margin(0.5)),
                              ResultOperation="Subtraction", ResultMarginSettings=margin())
    ring = _geometry(pm, exam, "Ring")
    assert ring.GetRoiVolume() == pytest.approx(4.0 / 3.0 * math.pi * (4.0 ** 3 - 2.5 ** 3), rel=0.025)
    central = [c for c in ring.PrimaryShape.Contours if abs(c[0].z) < 1e-9]
    assert len(central) == 2


def test_derived_geometry_works_with_the_other_members(tmp_path: Any) -> None:
    """The result is an ordinary contour geometry: HasContours, PrimaryShape.Contours (cm), voxels that
    sum to its volume, and dose statistics on a plan dose (a zero margin copy has the source's
    statistics: a copy of the rectum on the prior plan's examination, where its dose is)."""
    connect = rs.load("LRRC-01", "2024B")
    case, exam = connect.get_current("Case"), connect.get_current("Examination")
    pm = case.PatientModel
    copy = _grown(pm, exam, "PTV_copy", "PTV", margin())
    assert copy.HasContours() and copy.OfRoi.Name == "PTV_copy"
    assert copy.GetRoiVolume() == pytest.approx(_geometry(pm, exam, "PTV").GetRoiVolume(), rel=0.005)
    grid = {"Corner": {"x": -6.0, "y": -6.0, "z": -10.0}, "VoxelSize": {"x": 0.25, "y": 0.25, "z": 0.25},
            "NrVoxels": {"x": 48, "y": 72, "z": 80}}
    voxels = copy.GetRoiGeometryAsVoxels(**grid)
    assert voxels.sum() / 255.0 * 0.25 ** 3 == pytest.approx(copy.GetRoiVolume(), rel=0.01)
    prior = case.TreatmentPlans["PELVIS_45"]
    _grown(pm, prior.BeamSets[0].GetPlanningExamination(), "Rectum_copy", "Rectum", margin())
    dose = prior.TreatmentCourse.TotalDose
    for kind in ("Average", "Max", "Min"):
        assert dose.GetDoseStatistic(RoiName="Rectum_copy", DoseType=kind) == pytest.approx(
            dose.GetDoseStatistic(RoiName="Rectum", DoseType=kind), rel=0.01)


def test_rerunning_replaces_the_geometry_and_a_roi_can_be_its_own_source(tmp_path: Any) -> None:
    """A second call replaces the geometry (public scripts re-run algebra on an existing ROI; the
    couch script grows an ROI from itself); the geometry does not follow later changes of its
    source (it is computed once)."""
    _, pm, exam = _phantom(tmp_path)
    prv = _grown(pm, exam, "PRV", "Cyl", margin(0.3))
    small = prv.GetRoiVolume()
    prv_roi = pm.RegionsOfInterest["PRV"]
    prv_roi.CreateMarginGeometry(Examination=exam, SourceRoiName="Cyl", MarginSettings=margin(0.7))
    assert prv.GetRoiVolume() > small * 1.3
    before = prv.GetRoiVolume()
    prv_roi.CreateMarginGeometry(Examination=exam, SourceRoiName="PRV", MarginSettings=margin(0.2))
    assert prv.GetRoiVolume() > before
    grown_from_prv = _grown(pm, exam, "PRV_plus", "PRV", margin(0.5)).GetRoiVolume()
    prv_roi.CreateMarginGeometry(Examination=exam, SourceRoiName="Cyl", MarginSettings=margin())
    assert _geometry(pm, exam, "PRV_plus").GetRoiVolume() == grown_from_prv


@pytest.mark.parametrize("version", rs.VERSIONS)
def test_every_version_has_the_calls(tmp_path: Any, version: str) -> None:
    """§9: both calls in every modelled version (public scripts from IronPython-era to 2024B use them)."""
    _, pm, exam = _phantom(tmp_path, version)
    roi = pm.CreateRoi(Name="X", Color="Red", Type="Control")
    roi.CreateMarginGeometry(Examination=exam, SourceRoiName="PTV", MarginSettings=margin(0.2))
    roi.CreateAlgebraGeometry(Examination=exam, ExpressionA=expression("PTV"),
                              ExpressionB=expression("Cyl"), ResultOperation="Subtraction")
    assert _geometry(pm, exam, "X").HasContours()


# -- §2: keyword-only calls; refusals -------------------------------------------------------------
def test_keyword_only_and_unknown_keywords(tmp_path: Any) -> None:
    """§2: positional arguments raise TypeError("Method must be called with named arguments."); an
    unknown keyword (e.g. 'Resolution', not in any call form) or a missing one raises TypeError."""
    _, pm, exam = _phantom(tmp_path)
    roi = pm.CreateRoi(Name="X", Color="Red", Type="Control")
    with pytest.raises(TypeError, match="named arguments"):
        roi.CreateMarginGeometry(exam, "PTV", margin(0.5))
    with pytest.raises(TypeError, match="named arguments"):
        roi.CreateAlgebraGeometry(exam, expression("PTV"))
    with pytest.raises(TypeError, match="Resolution"):
        roi.CreateAlgebraGeometry(Examination=exam, ExpressionA=expression("PTV"), Resolution=0.1)
    with pytest.raises(TypeError, match="SourceRoiName"):
        roi.CreateMarginGeometry(Examination=exam, MarginSettings=margin(0.5))
    with pytest.raises(TypeError, match="ExpressionA"):
        roi.CreateAlgebraGeometry(Examination=exam)
    assert not _geometry(pm, exam, "X").HasContours()


BAD_MARGINS = [
    ({"Type": "Expand", "Sup": 0.5}, "unknown key 'Sup'"),
    ({k: v for k, v in margin(0.5).items() if k != "Left"}, "missing the key 'Left'"),
    (margin(0.5, "Grow"), "'Expand' or 'Contract'"),
    (margin(0, Anterior=-0.5), "must be >= 0 cm"),
    (margin(0, Superior=15.5), "at most 15 cm"),
    (margin(0, Right=float("nan")), "finite"),
    (margin(0, Right=True), "number of cm"),
    (margin(0, Right="0.5"), "number of cm"),
    ([0.5] * 6, "must be a dictionary"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_MARGINS)
def test_bad_margin_settings_are_refused(tmp_path: Any, settings: Any, message: str) -> None:
    """Strict where the real API is unknown (DEVIATIONS.md): every key once, Type Expand/Contract,
    margins 0–15 cm ("the maximum expansion is 15 cm", a public couch script)."""
    _, pm, exam = _phantom(tmp_path)
    roi = pm.CreateRoi(Name="X", Color="Red", Type="Control")
    with pytest.raises(rs.ScriptException, match=message):
        roi.CreateMarginGeometry(Examination=exam, SourceRoiName="PTV", MarginSettings=settings)
    with pytest.raises(rs.ScriptException, match=message):
        roi.CreateAlgebraGeometry(Examination=exam, ExpressionA=expression("PTV", settings=settings))
    with pytest.raises(rs.ScriptException, match=message):
        roi.CreateAlgebraGeometry(Examination=exam, ExpressionA=expression("PTV"),
                                  ResultMarginSettings=settings)
    assert not _geometry(pm, exam, "X").HasContours()


def test_bad_expressions_and_sources_are_refused(tmp_path: Any) -> None:
    """Unknown operation, result operation or algorithm; an unknown or empty source; a source without
    geometry on the examination ("no geometry set for ROI", §4); a name instead of an examination."""
    _, pm, exam = _phantom(tmp_path)
    roi = pm.CreateRoi(Name="X", Color="Red", Type="Control")
    pm.CreateRoi(Name="Empty", Color="Red", Type="Organ")
    cases = [
        (dict(ExpressionA=expression("PTV", operation="Xor")), "'Union' or 'Intersection'"),
        (dict(ExpressionA=expression("PTV"), ExpressionB=expression("Box"), ResultOperation="Difference"),
         "ResultOperation must be one of"),
        (dict(ExpressionA=expression("PTV"), Algorithm="Magic"), "Algorithm must be one of"),
        (dict(ExpressionA=expression()), "names no ROI"),
        (dict(ExpressionA=expression("PTV"), ResultOperation="Subtraction"),
         "needs source ROIs in ExpressionB"),
        (dict(ExpressionA={**expression("PTV"), "Margin": margin()}), "unknown key 'Margin'"),
        (dict(ExpressionA={"Operation": "Union", "SourceRoiNames": ["PTV"]}),
         "missing the key 'MarginSettings'"),
        (dict(ExpressionA=expression("PTV"), ExpressionB={**expression("Box"), "SourceRoiNames": "Box"}),
         "list of ROI names"),
        (dict(ExpressionA=expression("Nothing")), "exists no ROI"),
        (dict(ExpressionA=expression("PTV"), ExpressionB=expression("Empty"), ResultOperation="Union"),
         "no geometry set for ROI"),
    ]
    for kwargs, message in cases:
        with pytest.raises(rs.ScriptException, match=message):
            roi.CreateAlgebraGeometry(Examination=exam, **kwargs)
    with pytest.raises(rs.ScriptException, match="no geometry set for ROI"):
        roi.CreateMarginGeometry(Examination=exam, SourceRoiName="Empty", MarginSettings=margin(0.5))
    with pytest.raises(rs.ScriptException, match="examination of the case"):
        roi.CreateMarginGeometry(Examination=exam.Name, SourceRoiName="PTV", MarginSettings=margin(0.5))
    assert not _geometry(pm, exam, "X").HasContours()
    # a failed call is journaled as failed and changed nothing
    assert rs.journal()[-1].outcome.startswith("ScriptException")


def test_approved_rois_are_never_written(tmp_path: Any) -> None:
    """§4 / §14.6: writing an approved ROI's geometry raises InvalidOperationException (also from
    itself); approved ROIs may be sources; a new ROI in the approved structure set is not approved
    (12A+: approval is per sub-structure set of ROI geometries, §9) and can be written and re-written."""
    connect = rs.load("LRRC-02", "12A")  # an approved planning structure set (LRRC-01's is not)
    case, exam = connect.get_current("Case"), connect.get_current("Examination")
    pm = case.PatientModel
    assert pm.StructureSets[exam.Name].SubStructureSets[0].Review.ApprovalStatus == "Approved"
    rectum = pm.RegionsOfInterest["Rectum"]
    volume = _geometry(pm, exam, "Rectum").GetRoiVolume()
    with pytest.raises(rs.InvalidOperationException):
        rectum.CreateMarginGeometry(Examination=exam, SourceRoiName="Rectum", MarginSettings=margin(0.5))
    with pytest.raises(rs.InvalidOperationException):
        rectum.CreateAlgebraGeometry(Examination=exam, ExpressionA=expression("PTV"))
    assert _geometry(pm, exam, "Rectum").GetRoiVolume() == volume
    prv = _grown(pm, exam, "Rectum_PRV", "Rectum", margin(0.5))
    assert prv.GetRoiVolume() > volume
    pm.RegionsOfInterest["Rectum_PRV"].CreateMarginGeometry(Examination=exam, SourceRoiName="Rectum",
                                                            MarginSettings=margin(0.3))
    assert volume < prv.GetRoiVolume()


def test_composite_action_rolls_the_geometry_back(tmp_path: Any) -> None:
    """The stand-in's CompositeAction rollback mode: a failed block leaves the ROI as it was."""
    connect, pm, exam = _phantom(tmp_path)
    prv = _grown(pm, exam, "PRV", "Cyl", margin(0.3))
    before = prv.GetRoiVolume()
    with pytest.raises(RuntimeError), connect.CompositeAction("Optimisation structures"):
        pm.RegionsOfInterest["PRV"].CreateMarginGeometry(Examination=exam, SourceRoiName="Cyl",
                                                         MarginSettings=margin(1.0))
        raise RuntimeError("later step failed")
    assert prv.GetRoiVolume() == before


def test_a_contraction_past_the_centre_leaves_no_geometry(tmp_path: Any) -> None:
    """Closed form: an 8 mm cylinder shrunk by 1 cm is empty; the ROI then has no geometry on the
    examination (PrimaryShape None, HasContours False, GetRoiVolume raises "no geometry set for ROI")."""
    _, pm, exam = _phantom(tmp_path)
    empty = _grown(pm, exam, "Cyl_shrunk", "Cyl", margin(1.0, "Contract"))
    assert empty.PrimaryShape is None and not empty.HasContours()
    with pytest.raises(rs.ScriptException, match="no geometry set for ROI"):
        empty.GetRoiVolume()
