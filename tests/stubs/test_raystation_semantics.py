"""Semantics of the RayStation stand-in (``tps_stubs.raystation``) against docs/reference/raystation.md.

Each test's docstring names its source of truth: a section of ``docs/reference/raystation.md``
(§n) or a closed form computed here from the stub-patient model.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

import numpy as np
import pytest

import tps_stubs.raystation as rs
from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.structures import structure_occupancy
from tps_stubs.patients import load_patient
from tps_stubs.planner import PlannerObjective, optimise
from tps_stubs.raystation import versions

FFS_YAML = """\
id: FFS-T
name: TEST^FFS
planned_start: 2026-12-07
images:
  - id: CT_FFS
    frame_of_reference_uid: 1.2.826.0.1.3680043.10.9999.1
    spacing_mm: [5.0, 5.0, 5.0]
    size: [40, 30, 24]
    orientation: FeetFirstSupine
structure_sets:
  - id: CT_FFS
    image: CT_FFS
    structures:
      PTV: {type: PTV, shape: {ellipsoid: {centre: [10, 5, 20], radii: [20, 15, 25]}}}
courses:
  - id: C1
    plans:
      - id: OLD
        image: CT_FFS
        n_fractions: 10
        prescription_gy: 30.0
        approval: Completed
        dose: {target: {box: {centre: [20, 0, 10], half_size: [30, 20, 25]}}, falloff_mm: 10, spacing_mm: 5}
  - id: C2
    plans:
      - id: NEW
        image: CT_FFS
        target: PTV
        n_fractions: 5
        prescription_gy: 30.0
current: {course: C2, plan: NEW}
"""


@pytest.fixture(autouse=True)
def _no_connect_left() -> Iterator[None]:
    yield
    rs.unload()


def _load(version: str = "2024B", patient: Any = "LRRC-01", **kwargs: Any) -> Any:
    return rs.load(patient, version, **kwargs)


def _prior(connect: Any, name: str = "PELVIS_45") -> Any:
    return connect.get_current("Case").TreatmentPlans[name]


def _optimised(connect: Any, *, compute: bool = True) -> Any:
    """The current beam set after one MaxDvh objective and an optimisation (and ComputeDose)."""
    plan = connect.get_current("Plan")
    po = plan.PlanOptimizations[0]
    f = po.AddOptimizationFunction(FunctionType="MaxDvh", RoiName="SacralPlex")
    f.DoseFunctionParameters.DoseLevel = 2400
    f.DoseFunctionParameters.PercentVolume = 1
    po.RunOptimization()
    beam_set = connect.get_current("BeamSet")
    if compute:
        beam_set.ComputeDose(ComputeBeamDoses=True, DoseAlgorithm="CCDose", ForceRecompute=False)
    return beam_set


# -- §2: connect wrapper semantics -------------------------------------------------------------------
def test_methods_take_keyword_arguments_only() -> None:
    """§2 / §4: positional arguments raise TypeError("Method must be called with named arguments.")."""
    connect = _load()
    dose = _prior(connect).TreatmentCourse.TotalDose
    with pytest.raises(TypeError, match=r"^Method must be called with named arguments\.$"):
        dose.GetDoseStatistic("Rectum", "Max")
    with pytest.raises(TypeError, match="named arguments"):
        connect.get_current("Plan").PlanOptimizations[0].AddOptimizationFunction("MaxDose", "Rectum")
    assert dose.GetDoseStatistic(RoiName="Rectum", DoseType="Max") > 0.0


def test_unknown_keyword_and_missing_keyword_raise_type_error() -> None:
    """§2 (keywords pass through and are matched by RayStation); stand-in strict reading for mismatches."""
    dose = _prior(_load()).TreatmentCourse.TotalDose
    with pytest.raises(TypeError, match="RoiNames"):
        dose.GetDoseStatistic(RoiNames=["Rectum"], DoseType="Max")
    with pytest.raises(TypeError, match="DoseType"):
        dose.GetDoseStatistic(RoiName="Rectum")


def test_missing_member_raises_attribute_error() -> None:
    """§2: a missing member raises AttributeError("Object has no member …"), so hasattr works."""
    plan = _load().get_current("Plan")
    with pytest.raises(AttributeError, match=r"^Object has no member"):
        plan.NoSuchMember  # noqa: B018
    assert not hasattr(plan, "ScaleDose")  # §15: BeamSet.ScaleDose is not known to exist
    assert hasattr(plan, "BeamSets")
    with pytest.raises(AttributeError, match=r"^Object has no member"):
        plan.NoSuchMember = 1
    assert "BeamSets" in dir(plan) and "NoSuchMember" not in dir(plan)


def test_read_only_property_cannot_be_set() -> None:
    """§12.1: FractionationPattern.NumberOfFractions is read-only (set through AddNewBeamSet)."""
    connect = _load()
    with pytest.raises(rs.ScriptException, match="cannot be set"):
        connect.get_current("BeamSet").FractionationPattern.NumberOfFractions = 3


def test_collections_index_by_int_and_by_name() -> None:
    """§2: collections index by int or key, with len, .Count, .Keys, iteration, in, IndexOf, KeyOf, _Key."""
    connect = _load()
    patient = connect.get_current("Patient")
    case = patient.Cases[0]
    assert patient.Cases["Case 1"] is case and patient.Cases._Case_1 is case
    plans = case.TreatmentPlans
    assert plans.Keys == ["PELVIS_45", "SABR_REIRR"] and plans.Count == len(plans) == 2
    assert [p.Name for p in plans] == plans.Keys
    assert plans["SABR_REIRR"].Equals(connect.get_current("Plan"))
    assert plans[1] in plans and plans.IndexOf(plans[1]) == 1 and plans.KeyOf(plans[0]) == "PELVIS_45"
    rois = case.PatientModel.RegionsOfInterest
    assert rois._Bowel_Small is rois["Bowel_Small"]
    with pytest.raises(AttributeError):
        "Rectum" in rois  # noqa: B015 - §2: `in` expects a script object, not a name
    with pytest.raises(TypeError):
        rois.keys()  # §2: RaySearch's keys() calls the Keys property; use .Keys
    with pytest.raises(KeyError):
        rois["NoSuchRoi"]
    with pytest.raises(IndexError):
        rois[99]


def test_points_are_dicts_with_attribute_access() -> None:
    """§2: Corner / VoxelSize are ExpandoDictionary values usable as p.x and p['x']."""
    grid = _prior(_load()).BeamSets[0].FractionDose.InDoseGrid
    corner = grid.Corner
    assert corner.x == corner["x"] and sorted(corner.keys()) == ["x", "y", "z"]


# -- §5: dose arrays, grids, fraction vs total -----------------------------------------------------
def test_dose_data_shape_order_and_units() -> None:
    """§5.2: DoseData is a numpy array (nz, ny, nx), x fastest, in cGy = 100 × the model's TOTAL Gy."""
    connect = _load()
    model_dose = load_patient("LRRC-01").prior_plans()[0].dose
    total = _prior(connect).TreatmentCourse.TotalDose
    data = total.DoseValues.DoseData
    n = total.InDoseGrid.NrVoxels
    assert isinstance(data, np.ndarray) and data.shape == (n.z, n.y, n.x) == model_dose.values_gy.shape
    np.testing.assert_allclose(data, model_dose.values_gy * 100.0, rtol=1e-12)
    k, j, i = 40, 30, 70
    assert data.ravel()[(k * n.y + j) * n.x + i] == data[k, j, i]


def test_corner_is_the_voxel_edge_in_cm() -> None:
    """§5.3: Corner = centre of voxel 0 − half a voxel (cm); VoxelSize cm; centres at Corner + (i+½)·size."""
    connect = _load()
    model_dose = load_patient("LRRC-01").prior_plans()[0].dose
    grid = _prior(connect).BeamSets[0].FractionDose.InDoseGrid
    for axis, name in enumerate("xyz"):
        spacing = model_dose.spacing_mm[axis]
        assert grid.VoxelSize[name] == pytest.approx(spacing / 10.0)
        assert grid.Corner[name] == pytest.approx((model_dose.origin_mm[axis] - spacing / 2.0) / 10.0)
        assert (grid.Corner[name] + 0.5 * grid.VoxelSize[name]) * 10.0 == pytest.approx(
            model_dose.origin_mm[axis]
        )


def test_feet_first_grid_is_stored_along_positive_axes(tmp_path: Any) -> None:
    """§5.2–5.3 closed form: a feet-first dose is flipped so voxel [k,j,i] sits at Corner + (i,j,k + ½)·size
    and holds the model's dose at that patient point."""
    path = tmp_path / "FFS-T.yaml"
    path.write_text(FFS_YAML, encoding="utf-8")
    connect = _load(patient=path)
    model_dose = load_patient(path).prior_plans()[0].dose
    engine = DoseGrid(model_dose.values_gy, model_dose.origin_mm, model_dose.spacing_mm, model_dose.direction)
    dose = _prior(connect, "OLD").TreatmentCourse.TotalDose
    data, grid = dose.DoseValues.DoseData, dose.InDoseGrid
    for k, j, i in [(0, 0, 0), (3, 7, 11), (20, 25, 30)]:
        centre_cm = [grid.Corner[a] + (idx + 0.5) * grid.VoxelSize[a] for a, idx in zip("xyz", (i, j, k))]
        expected, _ = engine.sample(np.array([centre_cm]) * 10.0)
        assert data[k, j, i] == pytest.approx(expected[0] * 100.0, rel=1e-9)
        point = dict(zip("xyz", centre_cm))
        assert dose.InterpolateDoseInPoint(Point=point, PointFrameOfReference=grid.FrameOfReference) == (
            pytest.approx(data[k, j, i], rel=1e-9)
        )


def test_fraction_dose_times_fractions_is_total_dose() -> None:
    """§5.1: FractionDose is one fraction of the beam set; TreatmentCourse.TotalDose the plan total."""
    connect = _load()
    plan = _prior(connect)
    beam_set = plan.BeamSets[0]
    fractions = beam_set.FractionationPattern.NumberOfFractions
    assert fractions == 25
    np.testing.assert_allclose(
        beam_set.FractionDose.DoseValues.DoseData * fractions,
        plan.TreatmentCourse.TotalDose.DoseValues.DoseData,
        rtol=1e-12,
    )
    stat = beam_set.FractionDose.GetDoseStatistic(RoiName="Rectum", DoseType="Average")
    assert stat * fractions == pytest.approx(
        plan.TreatmentCourse.TotalDose.GetDoseStatistic(RoiName="Rectum", DoseType="Average"), rel=1e-12
    )


def test_dose_values_is_none_before_any_dose() -> None:
    """§5.1: dose.DoseValues is None when no dose has been computed."""
    connect = _load()
    assert connect.get_current("BeamSet").FractionDose.DoseValues is None
    assert connect.get_current("Plan").TreatmentCourse.TotalDose.DoseValues is None


# -- §6: statistics agree with the engine --------------------------------------------------------------
@pytest.mark.parametrize("roi", ["Rectum", "SacralPlex", "Bladder"])
def test_dose_statistics_agree_with_the_engine_dvh(roi: str) -> None:
    """§6 (cGy; volumes as fractions 0–1) against reirrad.dvh.DVH of the same dose and contours, scored
    at voxel centres as the stand-in's RayStation statistics are (tps_stubs/raystation/grids.py)."""
    connect = _load()
    model = load_patient("LRRC-01")
    d = model.prior_plans()[0].dose
    grid = DoseGrid(d.values_gy, d.origin_mm, d.spacing_mm, d.direction)
    dvh = DVH.from_dose(
        grid, structure_occupancy(model.structure_set("CT_PLAN").structure(roi).all_contours(), grid,
                                  sub_samples=1)
    )
    total = _prior(connect).TreatmentCourse.TotalDose
    assert total.GetDoseStatistic(RoiName=roi, DoseType="Max") == pytest.approx(dvh.max_gy * 100.0, rel=1e-9)
    assert total.GetDoseStatistic(RoiName=roi, DoseType="Min") == pytest.approx(dvh.min_gy * 100.0, rel=1e-9)
    assert total.GetDoseStatistic(RoiName=roi, DoseType="Average") == pytest.approx(
        dvh.mean_gy * 100.0, rel=1e-9
    )
    at_volumes = total.GetDoseAtRelativeVolumes(RoiName=roi, RelativeVolumes=[0.98, 0.5, 0.02])
    np.testing.assert_allclose(
        at_volumes, [dvh.dose_at_volume_pct(p) * 100.0 for p in (98, 50, 2)], rtol=1e-9
    )
    level_cgy = dvh.mean_gy * 100.0
    fraction = total.GetRelativeVolumeAtDoseValues(RoiName=roi, DoseValues=[level_cgy])
    assert fraction[0] == pytest.approx(dvh.volume_at_dose_pct(level_cgy / 100.0) / 100.0, rel=1e-9)
    assert 0.0 < fraction[0] < 1.0


def test_statistics_errors() -> None:
    """§4 ('exists no ROI'), §6 (DoseType values seen: Min, Max, Average; volumes are fractions)."""
    total = _prior(_load()).TreatmentCourse.TotalDose
    with pytest.raises(rs.ScriptException, match="exists no ROI"):
        total.GetDoseStatistic(RoiName="NoSuchRoi", DoseType="Max")
    with pytest.raises(rs.ScriptException, match="DoseType"):
        total.GetDoseStatistic(RoiName="Rectum", DoseType="Median")
    with pytest.raises(rs.ScriptException, match="fractions"):
        total.GetDoseAtRelativeVolumes(RoiName="Rectum", RelativeVolumes=[95])


def test_roi_volume_distribution_indexes_the_flat_dose() -> None:
    """§6: RoiVolumeDistribution.VoxelIndices index DoseData.ravel() (x fastest); RelativeVolumes sum to 1."""
    total = _prior(_load()).TreatmentCourse.TotalDose
    dist = total.GetDoseGridRoi(RoiName="Rectum").RoiVolumeDistribution
    weights = dist.RelativeVolumes
    assert weights.sum() == pytest.approx(1.0)
    mean = float(np.dot(total.DoseValues.DoseData.ravel()[dist.VoxelIndices], weights))
    assert mean == pytest.approx(total.GetDoseStatistic(RoiName="Rectum", DoseType="Average"), rel=1e-9)


def test_roi_geometry_members() -> None:
    """§9: HasContours, PrimaryShape (contours in cm), GetRoiVolume (cm³), GetRoiGeometryAsVoxels (0–255)."""
    connect = _load()
    structure_set = connect.get_current("Case").PatientModel.StructureSets["CT_PLAN"]
    geometry = structure_set.RoiGeometries["PTV"]
    model_ptv = load_patient("LRRC-01").structure_set("CT_PLAN").structure("PTV")
    assert geometry.HasContours() and geometry.OfRoi.Type == "Ptv"
    contours = geometry.PrimaryShape.Contours
    first = model_ptv.all_contours()[0][0]
    assert [contours[0][0][a] * 10.0 for a in "xyz"] == pytest.approx(list(first))
    assert geometry.GetRoiVolume() == pytest.approx(4.0 / 3.0 * np.pi * 2.2 * 1.4 * 2.0, rel=0.03)
    grid = connect.get_current("BeamSet").GetDoseGrid()
    voxels = geometry.GetRoiGeometryAsVoxels(
        Corner=grid.Corner, VoxelSize=grid.VoxelSize, NrVoxels=grid.NrVoxels
    )
    size = grid.VoxelSize
    assert voxels.dtype == np.uint8 and voxels.max() == 255
    assert voxels.sum() / 255.0 * size.x * size.y * size.z == pytest.approx(geometry.GetRoiVolume(), rel=0.01)


# -- §11–§12: optimisation, dose computation, scaling --------------------------------------------------
def test_run_optimization_calls_the_planner_with_total_gy() -> None:
    """§11.1 (DoseLevel cGy plan TOTAL, PercentVolume %) → tps_stubs.planner.optimise in TOTAL Gy."""
    connect = _load()
    beam_set = _optimised(connect)
    model = load_patient("LRRC-01")
    grid = beam_set.GetDoseGrid()
    origin = tuple((grid.Corner[a] + grid.VoxelSize[a] / 2.0) * 10.0 for a in "xyz")
    spacing = tuple(grid.VoxelSize[a] * 10.0 for a in "xyz")
    size = tuple(grid.NrVoxels[a] for a in "xyz")
    expected = optimise(
        model,
        structure_set_id="CT_PLAN",
        target_id="PTV",
        prescription_gy=30.0,
        objectives=[PlannerObjective("SacralPlex", "upper", 24.0, 1.0)],
        grid=(origin, spacing, size),
        direction=np.eye(3),
    )
    total = connect.get_current("Plan").TreatmentCourse.TotalDose.DoseValues.DoseData
    np.testing.assert_allclose(total, expected.values_gy * 100.0, rtol=1e-9, atol=1e-9)


def test_compute_dose_raises_when_already_computed() -> None:
    """§4 / §11.3 / §14.9: ComputeDose(ForceRecompute=False) raises 'Dose has already been computed …'."""
    connect = _load()
    beam_set = _optimised(connect)
    with pytest.raises(Exception, match=r"^Dose has already been computed with the current parameters"):
        beam_set.ComputeDose(ComputeBeamDoses=True, DoseAlgorithm="CCDose", ForceRecompute=False)
    beam_set.ComputeDose(ComputeBeamDoses=True, DoseAlgorithm="CCDose", ForceRecompute=True)
    assert beam_set.FractionDose.DoseValues.IsAccurate


def test_compute_final_dose_makes_the_optimised_dose_current() -> None:
    """§11.2–11.3: with DoseCalculation.ComputeFinalDose the optimisation leaves an up-to-date dose."""
    connect = _load("12A")
    po = connect.get_current("Plan").PlanOptimizations[0]
    po.OptimizationParameters.DoseCalculation.ComputeFinalDose = True
    po.RunOptimization()
    beam_set = connect.get_current("BeamSet")
    assert beam_set.FractionDose.DoseValues.IsClinical
    with pytest.raises(rs.ScriptException, match="already been computed"):
        beam_set.ComputeDose(ForceRecompute=False)


def test_scaling_to_the_prescription_meets_it() -> None:
    """§12.1–12.2: prescription DoseValue is the beam-set TOTAL in cGy at DoseVolume %; scaling meets it."""
    connect = _load()
    beam_set = _optimised(connect)
    reference = beam_set.Prescription.PrimaryPrescriptionDoseReference
    assert (reference.OnStructure.Name, reference.DoseValue, reference.DoseVolume) == ("PTV", 3000.0, 95.0)
    reference.DoseValue = 3250
    beam_set.ScaleToPrimaryPrescriptionDoseReference()
    fractions = beam_set.FractionationPattern.NumberOfFractions
    d95 = beam_set.FractionDose.GetDoseAtRelativeVolumes(RoiName="PTV", RelativeVolumes=[0.95])[0] * fractions
    assert d95 == pytest.approx(3250.0, rel=1e-9)
    beam_set.ScaleToDoseGoal(RoiName="PTV", DoseValue=3000, DoseVolume=50, PrescriptionType="DoseAtVolume")
    d50 = connect.get_current("Plan").TreatmentCourse.TotalDose.GetDoseAtRelativeVolumes(
        RoiName="PTV", RelativeVolumes=[0.5]
    )[0]
    assert d50 == pytest.approx(3000.0, rel=1e-9)


def test_normalize_to_prescription_in_older_versions() -> None:
    """§12.2: NormalizeToPrescription (≤ 12A) scales the MU so the ROI metric equals DoseValue (TOTAL cGy)."""
    connect = _load("11B")
    beam_set = _optimised(connect)
    beam_set.NormalizeToPrescription(
        RoiName="PTV", DoseValue=3500, DoseVolume=95, PrescriptionType="DoseAtVolume"
    )
    total = connect.get_current("Plan").TreatmentCourse.TotalDose
    assert total.GetDoseAtRelativeVolumes(RoiName="PTV", RelativeVolumes=[0.95])[0] == pytest.approx(3500.0)


def test_objective_is_none_without_functions_and_falloff_has_no_function_type() -> None:
    """§11.1: po.Objective can be None; DoseFallOff parameters have no FunctionType attribute."""
    po = _load().get_current("Plan").PlanOptimizations[0]
    assert po.Objective is None
    f = po.AddOptimizationFunction(FunctionType="DoseFallOff", RoiName="External")
    assert not hasattr(f.DoseFunctionParameters, "FunctionType")
    assert hasattr(f.DoseFunctionParameters, "AdaptToTargetDoseLevels")
    assert po.Objective.ConstituentFunctions[0].ForRegionOfInterest.Name == "External"
    with pytest.raises(SystemError, match="No ROI named"):
        po.AddOptimizationFunction(FunctionType="MaxDose", RoiName="NoSuchRoi")


def test_constraints_live_in_po_constraints_and_their_weight_changes_nothing() -> None:
    """§11.1 ("Constraints: po.Constraints[j]"; ClearConstituentFunctions clears objectives) + public
    2024B scripts (mialar/autoscript_lung: constraints set DoseLevel only; KaleyWhite copy_opt_stuff.py:
    every function has Weight): a constraint is not an objective, survives ClearConstituentFunctions, and
    the optimised dose is the same whatever Weight it is given; the same function as an objective holds
    the plexus no tighter. Two-sided functions are refused as constraints (the stand-in's strict
    reading, DEVIATIONS.md)."""
    connect = _load()
    po = connect.get_current("Plan").PlanOptimizations[0]
    f = po.AddOptimizationFunction(FunctionType="MaxDvh", RoiName="SacralPlex", IsConstraint=True)
    f.DoseFunctionParameters.DoseLevel = 2400
    f.DoseFunctionParameters.PercentVolume = 1
    assert po.Objective is None and len(po.Constraints) == 1
    po.ClearConstituentFunctions()
    assert po.Constraints[0].DoseFunctionParameters.DoseLevel == 2400
    po.RunOptimization()
    first = connect.get_current("BeamSet")
    first.ComputeDose(ComputeBeamDoses=True, DoseAlgorithm="CCDose", ForceRecompute=False)
    plan = connect.get_current("Plan")
    before = plan.TreatmentCourse.TotalDose.DoseValues.DoseData
    f.DoseFunctionParameters.Weight = 1000.0  # settable, as on every function; no effect on a constraint
    po.ResetOptimization()  # both optimisations start cold (a warm start depends on the previous one)
    po.RunOptimization()
    first.ComputeDose(ComputeBeamDoses=True, DoseAlgorithm="CCDose", ForceRecompute=False)
    np.testing.assert_array_equal(plan.TreatmentCourse.TotalDose.DoseValues.DoseData, before)
    for two_sided in ("UniformDose", "TargetEud"):
        with pytest.raises(Exception, match="cannot be a constraint"):
            po.AddOptimizationFunction(FunctionType=two_sided, RoiName="PTV", IsConstraint=True)
    with pytest.raises(Exception, match="IsConstraint must be True or False"):
        po.AddOptimizationFunction(FunctionType="MaxDose", RoiName="Rectum", IsConstraint=1)
    assert len(po.Constraints) == 1
    held = plan.TreatmentCourse.TotalDose.GetDoseStatistic(RoiName="SacralPlex", DoseType="Max")
    soft = _load()
    _optimised(soft)  # the same limit as an objective of weight 1: held no tighter than the constraint
    loose = soft.get_current("Plan").TreatmentCourse.TotalDose.GetDoseStatistic(RoiName="SacralPlex",
                                                                                DoseType="Max")
    assert loose >= held - 1e-6


def test_clinical_goal_values_use_the_reference_units() -> None:
    """§13: DoseAtAbsoluteVolume → cGy at a cm³ volume; VolumeAtDose → fraction at a cGy level (TOTAL)."""
    connect = _load()
    plan = _prior(connect)
    setup = connect.get_current("Plan").TreatmentCourse.EvaluationSetup
    setup.AddClinicalGoal(
        RoiName="Rectum",
        GoalCriteria="AtMost",
        GoalType="DoseAtAbsoluteVolume",
        PrimaryAcceptanceLevel=3200,
        ParameterValue=0.5,
        Priority=1,
        AssociateToPlan=True,
    )
    setup.AddClinicalGoal(
        RoiName="Rectum",
        GoalCriteria="AtMost",
        GoalType="VolumeAtDose",
        PrimaryAcceptanceLevel=0.5,
        ParameterValue=4000,
        Priority=2,
    )
    total = plan.TreatmentCourse.TotalDose
    fraction_dose = plan.BeamSets[0].FractionDose
    d05, v40 = setup.EvaluationFunctions
    d05_value = d05.GetClinicalGoalValueForEvaluationDose(
        DoseDistribution=fraction_dose, ScaleFractionDoseToBeamSet=True
    )
    assert d05_value == pytest.approx(d05.GetClinicalGoalValueForEvaluationDose(DoseDistribution=total))
    assert v40.GetClinicalGoalValueForEvaluationDose(DoseDistribution=total) == pytest.approx(
        total.GetRelativeVolumeAtDoseValues(RoiName="Rectum", DoseValues=[4000])[0]
    )
    assert d05.PlanningGoal.PrimaryAcceptanceLevel == 3200
    assert not d05.EvaluateClinicalGoalForEvaluationDose(DoseDistribution=total)  # prior rectum ≈ 45 Gy


# -- §4 / §14.6: approval locks --------------------------------------------------------------------------
def test_approved_plan_refuses_every_write() -> None:
    """§4 / §14.6: writes to an approved plan raise an exception class named InvalidOperationException."""
    connect = _load()
    plan = _prior(connect)
    assert plan.Review.ApprovalStatus == "Approved" and connect.get_current("Plan").Review is None
    beam_set = plan.BeamSets[0]
    attempts = [
        lambda: beam_set.ComputeDose(ForceRecompute=True),
        lambda: plan.PlanOptimizations[0].AddOptimizationFunction(FunctionType="MaxDose", RoiName="Rectum"),
        lambda: beam_set.ScaleToDoseGoal(
            RoiName="Rectum", DoseValue=100, DoseVolume=50, PrescriptionType="DoseAtVolume"
        ),
        lambda: setattr(
            plan.PlanOptimizations[0].OptimizationParameters.Algorithm, "MaxNumberOfIterations", 5
        ),
        lambda: plan.TreatmentCourse.EvaluationSetup.AddClinicalGoal(
            RoiName="Rectum", GoalCriteria="AtMost", GoalType="AverageDose", PrimaryAcceptanceLevel=1000
        ),
    ]
    for attempt in attempts:
        with pytest.raises(Exception) as info:
            attempt()
        assert type(info.value).__name__ == "InvalidOperationException"
        assert "approved" in info.value.Message
    assert [e.outcome.split(":")[0] for e in rs.journal()] == ["InvalidOperationException"] * len(attempts)
    assert beam_set.FractionDose.DoseValues is not None  # reading is allowed


def test_approved_structure_set_locks_its_rois() -> None:
    """§4 (dicom roi_functions.py: OrganType on an approved ROI) and §9 (12A+: SubStructureSets.Review);
    LRRC-02's planning structure set is approved (LRRC-01's is not)."""
    connect = _load("12A", patient="LRRC-02")
    case = connect.get_current("Case")
    sub = case.PatientModel.StructureSets["CT_PLAN"].SubStructureSets[0]
    assert sub.Review.ApprovalStatus == "Approved"
    with pytest.raises(rs.InvalidOperationException):
        case.PatientModel.RegionsOfInterest["Rectum"].OrganData.OrganType = "Target"
    roi = case.PatientModel.CreateRoi(Name="PTV_opt", Color="Red", Type="Control")
    roi.OrganData.OrganType = "Other"  # a new ROI is not approved
    assert not case.PatientModel.StructureSets["CT_PLAN"].RoiGeometries["PTV_opt"].HasContours()


# -- §2: CompositeAction, set_progress, GUI functions ---------------------------------------------------
def test_composite_action_rolls_back_everything_on_an_exception() -> None:
    """§2 CompositeAction (one undo step, exceptions propagate) + the brief: an exception undoes it all."""
    connect = _load()
    plan = connect.get_current("Plan")
    beam_set = connect.get_current("BeamSet")
    reference = beam_set.Prescription.PrimaryPrescriptionDoseReference
    with pytest.raises(RuntimeError, match="boom"), connect.CompositeAction("Re-irradiation plan"):
        reference.DoseValue = 3500
        _optimised(connect)
        connect.get_current("Case").PatientModel.CreateRoi(Name="PTV_opt", Color="Red", Type="Control")
        assert beam_set.FractionDose.DoseValues is not None
        raise RuntimeError("boom")
    assert reference.DoseValue == 3000.0
    assert plan.PlanOptimizations[0].Objective is None and beam_set.FractionDose.DoseValues is None
    assert "PTV_opt" not in connect.get_current("Case").PatientModel.RegionsOfInterest.Keys
    assert all(e.rolled_back for e in rs.journal()) and rs.current_session().undo_history == []


def test_composite_action_is_one_undo_step() -> None:
    """§2: sub-actions inside a CompositeAction are grouped and labelled as one action in the undo history."""
    connect = _load()
    with connect.CompositeAction("Set up"):
        _optimised(connect, compute=False)
    connect.get_current("Patient").Save()
    history = rs.current_session().undo_history
    assert [step.name for step in history] == ["Set up", "Save"]
    assert [e.member for e in history[0].entries] == [
        "AddOptimizationFunction",
        "DoseLevel",
        "PercentVolume",
        "RunOptimization",
    ]
    assert rs.current_session().saves == 1


def test_a_failed_write_changes_nothing() -> None:
    """§2 (actions are atomic): a write that raises leaves the patient as it was."""
    connect = _load()
    beam_set = connect.get_current("BeamSet")
    with pytest.raises(rs.ScriptException, match="no segments"):
        beam_set.ComputeDose(ForceRecompute=False)
    assert beam_set.FractionDose.DoseValues is None and rs.journal()[0].outcome.startswith("ScriptException")


def test_set_progress_takes_an_int_percentage() -> None:
    """§2: set_progress(message, percentage=-1, operation=None); a float raises TypeError (2024B)."""
    connect = _load()
    connect.set_progress("Optimising", 40)
    connect.set_progress("Starting")
    with pytest.raises(TypeError, match="No method matches given arguments"):
        connect.set_progress("Optimising", 40.0)
    with pytest.raises(ValueError, match="between -1 and 100"):
        connect.set_progress("Optimising", 101)
    assert rs.current_session().progress == [("Optimising", 40, None), ("Starting", -1, None)]


def test_gui_functions_when_headless() -> None:
    """§1.4 / §14.13: with the GUI disabled, await_user_input and get_current('ui') raise."""
    connect = _load(gui=False)
    assert connect.is_gui_disabled()
    with pytest.raises(Exception, match="has been disabled because the script is running with no GUI"):
        connect.await_user_input(message="Check the objectives")
    with pytest.raises(Exception, match="no GUI"):
        connect.get_current("ui")
    gui = _load()
    gui.await_user_input(message="Check the objectives")
    assert not gui.is_gui_disabled() and rs.current_session().prompts == ["Check the objectives"]


def test_a_module_without_is_gui_disabled() -> None:
    """§1.4 shows ``is_gui_disabled`` in 11B-SP2's module alone: ``gui_probe=False`` leaves it out of the
    module and its ``__all__``; the GUI functions behave as before (headless: they raise)."""
    connect = _load(gui=False, gui_probe=False)
    assert not hasattr(connect, "is_gui_disabled") and "is_gui_disabled" not in connect.__all__
    with pytest.raises(Exception, match="no GUI"):
        connect.await_user_input(message="Check the objectives")
    assert hasattr(_load(), "is_gui_disabled")


def test_get_current_raises_system_error_when_nothing_is_current() -> None:
    """§3 / §4: get_current raises SystemError when nothing is loaded ('invalid objecthandle')."""
    connect = _load(patient=None)
    for kind in ("Patient", "Case", "Plan", "BeamSet", "Examination"):
        with pytest.raises(SystemError, match=r"(?i)invalid objecthandle"):
            connect.get_current(kind)
    connect = _load(open_plan=False)
    assert connect.get_current("Case").CaseName == "Case 1"
    with pytest.raises(SystemError):
        connect.get_current("BeamSet")
    connect.get_current("Case").TreatmentPlans["SABR_REIRR"].SetCurrent()
    assert connect.get_current("BeamSet").DicomPlanLabel == "SABR_REIRR"


def test_load_installs_connect_and_twice_gives_a_fresh_patient() -> None:
    """Brief: load() installs sys.modules['connect'] with the patient current; a second load starts afresh."""
    first = _load()
    assert sys.modules["connect"] is first
    from connect import get_current  # type: ignore[import-not-found]  # noqa: PLC0415 - installed by load()

    get_current("Plan").PlanOptimizations[0].AddOptimizationFunction(FunctionType="MaxDose", RoiName="Rectum")
    second = _load()
    assert sys.modules["connect"] is second and second is not first
    assert second.get_current("Plan").PlanOptimizations[0].Objective is None
    assert rs.journal() == [] and len(first._journal) == 1
    assert not second.get_current("Plan").Equals(first.get_current("Plan"))


def test_journal_records_object_path_member_and_arguments() -> None:
    """Brief: every write (method call or property set) is journaled with path, member and arguments."""
    connect = _load()
    beam_set = connect.get_current("BeamSet")
    beam_set.SetAutoScaleToPrimaryPrescription(AutoScale=False)
    beam_set.Prescription.PrimaryPrescriptionDoseReference.DoseValue = 3250
    beam_set.FractionDose.GetDoseGridRoi  # noqa: B018 - reads are not journaled
    entries = [(e.path, e.member, e.kind, e.arguments, e.outcome) for e in rs.journal()]
    base = "Patient.Cases['Case 1'].TreatmentPlans['SABR_REIRR'].BeamSets['SABR_REIRR']"
    assert entries == [
        (base, "SetAutoScaleToPrimaryPrescription", "call", {"AutoScale": False}, "ok"),
        (f"{base}.Prescription.DosePrescriptions[0]", "DoseValue", "set", {"value": 3250}, "ok"),
    ]


# -- §14.2: version profiles ----------------------------------------------------------------------------
def _goal(connect: Any) -> Any:
    setup = connect.get_current("Plan").TreatmentCourse.EvaluationSetup
    level = "PrimaryAcceptanceLevel" if connect._session.version == "2024B" else "AcceptanceLevel"
    setup.AddClinicalGoal(RoiName="Rectum", GoalCriteria="AtMost", GoalType="AverageDose", **{level: 1000})
    return setup.EvaluationFunctions[0].PlanningGoal


#: stand-in class of the version table → how to reach an object of it in LRRC-01
OWNERS = {
    "BeamSet": lambda c: c.get_current("BeamSet"),
    "Prescription": lambda c: c.get_current("BeamSet").Prescription,
    "PlanOptimization": lambda c: c.get_current("Plan").PlanOptimizations[0],
    "DoseValues": lambda c: _prior(c).BeamSets[0].FractionDose.DoseValues,
    "StructureSet": lambda c: c.get_current("Case").PatientModel.StructureSets["CT_PLAN"],
    "OptimizationFunction": lambda c: (
        c.get_current("Plan")
        .PlanOptimizations[0]
        .AddOptimizationFunction(FunctionType="MaxDose", RoiName="Rectum")
    ),
    "PlanningGoal": _goal,
}


@pytest.mark.parametrize(("cls", "member"), sorted(versions.MEMBERS))
def test_renamed_members_exist_only_in_their_versions(cls: str, member: str) -> None:
    """§14.2 (and §5.1, §7.6, §9, §11.1, §12, §13): each version-restricted member, per the version table."""
    for version in versions.VERSIONS:
        obj = OWNERS[cls](_load(version))
        assert hasattr(obj, member) == (version in versions.MEMBERS[(cls, member)]), (version, cls, member)


def test_renamed_clinical_goal_keyword() -> None:
    """§13 / §14.2: AcceptanceLevel before 2024B, PrimaryAcceptanceLevel (and AssociateToPlan) from 2024B."""
    for version, accepted, rejected in [
        ("12A", "AcceptanceLevel", "PrimaryAcceptanceLevel"),
        ("2024B", "PrimaryAcceptanceLevel", "AcceptanceLevel"),
    ]:
        setup = _load(version).get_current("Plan").TreatmentCourse.EvaluationSetup
        common = {"RoiName": "Rectum", "GoalCriteria": "AtMost", "GoalType": "AverageDose"}
        setup.AddClinicalGoal(**common, **{accepted: 1000})
        with pytest.raises(TypeError, match=rejected):
            setup.AddClinicalGoal(**common, **{rejected: 1000})
        assert setup.EvaluationFunctions.Count == 1


def test_renamed_prescription_method() -> None:
    """§12.1 / §14.2: AddDosePrescriptionToRoi before 12A, AddRoiPrescriptionDoseReference from 12A."""
    args = {"RoiName": "PTV", "DoseVolume": 95, "PrescriptionType": "DoseAtVolume", "DoseValue": 3000}
    old = _load("11B").get_current("BeamSet")
    old.AddDosePrescriptionToRoi(**args, AutoScaleDose=False)
    assert old.Prescription.PrimaryDosePrescription.DoseValue == 3000.0
    assert not hasattr(old, "AddRoiPrescriptionDoseReference")
    new = _load("12A").get_current("BeamSet")
    new.AddRoiPrescriptionDoseReference(**args)
    assert not hasattr(new, "AddDosePrescriptionToRoi")


def test_renamed_map_dose_keywords() -> None:
    """§7.3 / §14.2: MapDose(FractionNumber, SetTotalDoseEstimateReference) before, FractionEvaluationIndex
    after (2024B in the stand-in); MapDose needs a deformable registration (§7.3 'Rigid-only mapping')."""
    for version, accepted, rejected in [
        ("12A", {"FractionNumber": 0, "SetTotalDoseEstimateReference": True}, {"FractionEvaluationIndex": 0}),
        ("2024B", {"FractionEvaluationIndex": 0}, {"FractionNumber": 0}),
    ]:
        connect = _load(version, "REG-01")
        case = connect.get_current("Case")
        dose = case.TreatmentPlans["PELVIS_50_4"].BeamSets[0].FractionDose
        rigid = case.Registrations[0].StructureRegistrations["Source registration"]
        with pytest.raises(rs.ScriptException, match="deformable"):
            case.MapDose(DoseDistribution=dose, StructureRegistration=rigid, **accepted)
        case.PatientModel.CreateHybridDeformableRegistrationGroup(
            RegistrationGroupName="DIR",
            ReferenceExaminationName="CT_PLAN",
            TargetExaminationNames=["CT_PRIOR"],
        )
        deformable = case.StructureRegistrations[0]
        assert deformable.InStructureRegistrationGroup.Name == "DIR"
        assert (deformable.FromExamination.Name, deformable.ToExamination.Name) == ("CT_PLAN", "CT_PRIOR")
        with pytest.raises(TypeError, match=next(iter(rejected))):
            case.MapDose(DoseDistribution=dose, StructureRegistration=deformable, **rejected)
        assert case.MapDose(DoseDistribution=dose, StructureRegistration=deformable, **accepted) is None
        on_plan_ct = case.TreatmentDelivery.FractionEvaluations[0].DoseOnExaminations["CT_PLAN"]
        mapped = on_plan_ct.DoseEvaluations[0]
        assert mapped.OfDoseDistribution.Equals(dose)
        with pytest.raises(rs.ScriptException, match="UpdateDoseGridStructures"):
            mapped.GetDoseStatistic(RoiName="Rectum", DoseType="Max")
        mapped.UpdateDoseGridStructures()
        assert mapped.GetDoseStatistic(RoiName="Rectum", DoseType="Max") == pytest.approx(
            dose.GetDoseStatistic(RoiName="Rectum", DoseType="Max"), rel=0.05
        )


# -- §8: registrations -------------------------------------------------------------------------------------
def test_rigid_registration_matrix() -> None:
    """§8 + closed form: GetTransformForExaminations is the model's 4×4 (translation cm), p_To = T p_From,
    returned FLAT (16 numbers, row-major) as public scripts read it
    (docs/reference/raystation-public-scripts.md G4: wrssc autoplan_tomo_vmat_tbi.py t[0..15])."""
    connect = _load(patient="REG-01")
    case = connect.get_current("Case")
    matrix_mm = load_patient("REG-01").registrations[0].matrix
    registration = case.Registrations[0]
    assert registration.RegistrationSource.FromExamination.Name == "CT_PRIOR"
    assert registration.ToFrameOfReference == case.Examinations["CT_PLAN"].EquipmentInfo.FrameOfReference
    flat = case.GetTransformForExaminations(FromExamination="CT_PRIOR", ToExamination="CT_PLAN")
    assert isinstance(flat, list) and len(flat) == 16
    forward = np.reshape(flat, (4, 4))
    expected = np.array(matrix_mm, dtype=float)
    expected[:3, 3] /= 10.0
    np.testing.assert_allclose(forward, expected, atol=1e-12)
    backward = np.reshape(
        case.GetTransformForExaminations(FromExamination="CT_PLAN", ToExamination="CT_PRIOR"), (4, 4))
    np.testing.assert_allclose(backward @ forward, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("direction", ["from-to", "to-from"])
def test_point_transform_maps_from_to_under_either_matrix_reading(direction: str, monkeypatch: Any) -> None:
    """Public re-plan scripts: case.TransformPointFromExaminationToExamination(FromExamination=<old CT>,
    ToExamination=<new CT>, Point={'x','y','z'} cm) moves a point of the old CT into the new one, read as
    ``.x`` (closed form: the stub model's prior → planning matrix, translation mm → cm). The session's
    ``transform_direction`` changes only GetTransformForExaminations (the inverse in "to-from"), also when
    chosen by TPS_STUBS_RAYSTATION_TRANSFORM_DIRECTION; an unknown reading is refused."""
    monkeypatch.setenv(rs.TRANSFORM_DIRECTION_ENV, direction)
    connect = _load(patient="REG-01")
    case = connect.get_current("Case")
    prior_to_planning = np.array(load_patient("REG-01").registrations[0].matrix, dtype=float)  # mm
    p_cm = {"x": 1.5, "y": -2.0, "z": 4.25}
    moved = case.TransformPointFromExaminationToExamination(
        FromExamination="CT_PRIOR", ToExamination="CT_PLAN", Point=p_cm)
    expected_mm = prior_to_planning @ np.array([15.0, -20.0, 42.5, 1.0])
    np.testing.assert_allclose([moved.x, moved.y, moved["z"]], expected_mm[:3] / 10.0, atol=1e-12)
    matrix = np.reshape(case.GetTransformForExaminations(FromExamination="CT_PRIOR", ToExamination="CT_PLAN"),
                        (4, 4))
    matrix[:3, 3] *= 10.0
    np.testing.assert_allclose(matrix, prior_to_planning if direction == "from-to" else
                               np.linalg.inv(prior_to_planning), atol=1e-9)
    with pytest.raises(TypeError):
        case.TransformPointFromExaminationToExamination("CT_PRIOR", "CT_PLAN", p_cm)
    with pytest.raises(rs.ScriptException, match="'x', 'y' and 'z'"):
        case.TransformPointFromExaminationToExamination(FromExamination="CT_PRIOR", ToExamination="CT_PLAN",
                                                        Point={"x": 1.0, "y": 2.0})
    with pytest.raises(rs.ScriptException, match="finite"):
        case.TransformPointFromExaminationToExamination(FromExamination="CT_PRIOR", ToExamination="CT_PLAN",
                                                        Point={"x": 1.0, "y": 2.0, "z": float("nan")})
    with pytest.raises(ValueError, match="transform_direction must be one of"):
        _load(patient="REG-01", transform_direction="backwards")


def test_point_transform_without_a_registration_raises() -> None:
    """The stricter reading where the real behaviour is unknown: when no registration links the two
    examinations (REG-01 with its registration removed) the point call raises ScriptException, where
    GetTransformForExaminations gives None (public-scripts G3)."""
    connect = _load(patient="REG-01")
    case = connect.get_current("Case")
    case._s["registrations"]._s["items"] = []
    assert case.GetTransformForExaminations(FromExamination="CT_PLAN", ToExamination="CT_PRIOR") is None
    with pytest.raises(rs.ScriptException, match="no registration"):
        case.TransformPointFromExaminationToExamination(FromExamination="CT_PLAN", ToExamination="CT_PRIOR",
                                                        Point={"x": 0.0, "y": 0.0, "z": 0.0})


def test_prior_plans_are_approved_beam_sets_without_dates() -> None:
    """Brief + §5.1: a prior plan with a dose is a TreatmentPlan with one BeamSet; no dates in RayStation."""
    connect = _load(patient="REG-01")
    prior = _prior(connect, "PELVIS_50_4")
    assert prior.BeamSets.Count == 1 and prior.Review.ApprovalStatus == "Approved"
    beam_set = prior.BeamSets[0]
    assert beam_set.FractionationPattern.NumberOfFractions == 28
    assert beam_set.GetPlanningExamination().Name == "CT_PRIOR"
    assert beam_set.FrameOfReference == beam_set.FractionDose.InDoseGrid.FrameOfReference
    total = prior.TreatmentCourse.TotalDose.DoseValues.DoseData
    assert total.max() == pytest.approx(5040.0, rel=1e-6)
    for member in ("TreatmentDate", "FirstFractionDate", "LastFractionDate"):
        assert not hasattr(prior, member) and not hasattr(beam_set, member)


def test_auto_scale_to_prescription_setting_by_version() -> None:
    """§11.2: AutoScaleToPrescription can be set before 12A only; SetAutoScaleToPrimaryPrescription in all."""
    old = _load("11B")
    old.get_current("Plan").PlanOptimizations[0].AutoScaleToPrescription = True
    assert old.get_current("Plan").PlanOptimizations[0].AutoScaleToPrescription
    new = _load("12A")
    with pytest.raises(rs.ScriptException, match="cannot be set"):
        new.get_current("Plan").PlanOptimizations[0].AutoScaleToPrescription = True
    beam_set = new.get_current("BeamSet")
    beam_set.SetAutoScaleToPrimaryPrescription(AutoScale=True)
    _optimised(new, compute=False)
    d95 = new.get_current("Plan").TreatmentCourse.TotalDose.GetDoseAtRelativeVolumes(
        RoiName="PTV", RelativeVolumes=[0.95]
    )[0]
    assert d95 == pytest.approx(beam_set.Prescription.PrimaryPrescriptionDoseReference.DoseValue, rel=1e-9)


def test_unknown_version_and_star_import() -> None:
    """§14.2 (versions are modelled, not guessed) and §14.12 (adapters must not rely on star-import leaks)."""
    with pytest.raises(ValueError, match="2025"):
        rs.load("LRRC-01", "2025")
    connect = _load()
    assert sorted(connect.__all__) == [
        "CompositeAction",
        "await_user_input",
        "get_current",
        "is_gui_disabled",
        "set_progress",
    ]


# -- mesh ROIs, plan copies, rollback modes, the 11A-style profile ------------------------------------
@pytest.mark.parametrize("version", versions.VERSIONS)
def test_mesh_rois_have_no_contours_but_voxelise(version: str) -> None:
    """docs/reference/raystation-public-scripts.md R11 (``hasattr(PrimaryShape, 'Contours')`` is False for
    a mesh) and §9 (``GetRoiGeometryAsVoxels`` 0–255 on a grid): a mesh ROI voxelises exactly as the same
    ROI with contours; a helper couch mesh exists with its ROI type."""
    plain = _load(version)
    bladder = plain.get_current("BeamSet").GetStructureSet().RoiGeometries["Bladder"]
    grid = plain.get_current("BeamSet").GetDoseGrid()
    on_grid = {"Corner": grid.Corner, "VoxelSize": grid.VoxelSize, "NrVoxels": grid.NrVoxels}
    expected = bladder.GetRoiGeometryAsVoxels(**on_grid)
    connect = _load(version, mesh_rois=("Bladder",), helper_mesh_rois={"Couch": "Support"})
    structure_set = connect.get_current("BeamSet").GetStructureSet()
    mesh = structure_set.RoiGeometries["Bladder"]
    assert mesh.PrimaryShape is not None and not hasattr(mesh.PrimaryShape, "Contours")
    assert not mesh.HasContours() and len(mesh.PrimaryShape.Triangles) > 0
    assert all(len(t) == 3 for t in mesh.PrimaryShape.Triangles)
    np.testing.assert_array_equal(
        mesh.GetRoiGeometryAsVoxels(**on_grid), expected)
    couch = structure_set.RoiGeometries["Couch"]
    assert couch.OfRoi.Type == "Support" and not hasattr(couch.PrimaryShape, "Contours")
    assert structure_set.RoiGeometries["Rectum"].HasContours()


@pytest.mark.parametrize("rollback", [True, False])
def test_composite_action_with_and_without_rollback(rollback: bool) -> None:
    """public-scripts U2 (no public source confirms a rollback; scripts undo by hand): the stand-in's
    ``CompositeAction`` undoes a failed block only in its rollback mode; the exception propagates in
    both, and without rollback the failed step stays in the undo history."""
    connect = _load(rollback=rollback)
    beam_set = connect.get_current("BeamSet")
    with pytest.raises(RuntimeError, match="boom"), connect.CompositeAction("step"):
        beam_set.Prescription.PrimaryPrescriptionDoseReference.DoseValue = 3300.0
        raise RuntimeError("boom")
    value = beam_set.Prescription.PrimaryPrescriptionDoseReference.DoseValue
    assert value == (3000.0 if rollback else 3300.0)
    history = rs.current_session().undo_history
    assert history == [] if rollback else [(s.name, s.failed) for s in history] == [("step", True)]


def test_rollback_mode_from_the_environment(monkeypatch: Any) -> None:
    """tps_stubs.raystation.session.ROLLBACK_ENV: ``0`` switches rollback off at load; set_rollback too."""
    monkeypatch.setenv("TPS_STUBS_RAYSTATION_ROLLBACK", "0")
    _load()
    assert rs.current_session().rollback is False
    rs.set_rollback(True)
    assert rs.current_session().rollback is True


@pytest.mark.parametrize("version", versions.VERSIONS)
def test_copy_plan_copies_an_unapproved_plan(version: str) -> None:
    """§10 ``case.CopyPlan(PlanName, NewPlanName, KeepBeamSetNames)``: the copy holds the beam sets,
    fractions and prescription, is never reviewed, and a taken name is refused."""
    from tps_stubs.raystation.errors import ScriptException  # noqa: PLC0415

    connect = _load(version)
    case = connect.get_current("Case")
    assert case.CopyPlan(PlanName="PELVIS_45", NewPlanName="PELVIS_45 copy", KeepBeamSetNames=True) is None
    copy = case.TreatmentPlans["PELVIS_45 copy"]
    assert copy.Review is None and copy.BeamSets[0].DicomPlanLabel == "PELVIS_45"
    assert copy.BeamSets[0].FractionationPattern.NumberOfFractions == 25
    assert copy.TreatmentCourse.TotalDose.DoseValues is not None
    case.CopyPlan(PlanName="PELVIS_45", NewPlanName="other")
    assert case.TreatmentPlans["other"].BeamSets[0].DicomPlanLabel == "PELVIS_45_1"
    with pytest.raises(ScriptException, match="already exists"):
        case.CopyPlan(PlanName="PELVIS_45", NewPlanName="other")


def test_the_11a_style_prescription_profile() -> None:
    """public-scripts P2/P4 (KaleyWhite copy_beam_set.py, 11A era): ``AddRoiPrescriptionDoseReference`` and
    ``Prescription.PrescriptionDoseReferences``; no ``Primary…`` member and no
    ``AddDosePrescriptionToRoi``."""
    connect = _load("11A")
    beam_set = connect.get_current("BeamSet")
    prescription = beam_set.Prescription
    assert not hasattr(prescription, "PrimaryPrescriptionDoseReference")
    assert not hasattr(prescription, "PrimaryDosePrescription")
    assert prescription.PrescriptionDoseReferences[0].DoseValue == 3000.0
    assert hasattr(beam_set, "AddRoiPrescriptionDoseReference")
    assert not hasattr(beam_set, "AddDosePrescriptionToRoi")
    assert hasattr(beam_set, "NormalizeToPrescription") and not hasattr(beam_set, "ScaleToDoseGoal")


def test_transform_is_none_without_a_registration_and_beam_set_approval_locks() -> None:
    """public-scripts G3 (None when no registration links the examinations), N9 (``beam_set.Review``) and
    §11.3 (``AccurateDoseAlgorithm.DoseAlgorithm``)."""
    from tps_stubs.raystation.errors import InvalidOperationException  # noqa: PLC0415

    connect = _load(patient="REG-01")
    case = connect.get_current("Case")
    case._s["registrations"]._s["items"] = []
    assert case.GetTransformForExaminations(FromExamination="CT_PLAN", ToExamination="CT_PRIOR") is None
    beam_set = connect.get_current("BeamSet")
    assert beam_set.AccurateDoseAlgorithm.DoseAlgorithm == "CCDose" and beam_set.Review is None
    beam_set._set_review("Approved")
    with pytest.raises(InvalidOperationException, match="beam set 'SABR_REIRR' is approved"):
        beam_set.SetAutoScaleToPrimaryPrescription(AutoScale=False)


def test_run_optimization_warm_starts_unless_reset() -> None:
    """tps_stubs.planner (module docstring, point 4): a second RunOptimization continues from the beam
    set's previous solution (here one made for a lower max dose on the plexus), so its dose differs
    from a cold start of the same functions; after ResetOptimization it is the cold start's, bit for
    bit. A scheduled optimiser failure (the patient's optimiser.fail_on) raises and keeps the dose."""
    connect = _load()
    po = connect.get_current("Plan").PlanOptimizations[0]
    beam_set = connect.get_current("BeamSet")
    plan = connect.get_current("Plan")

    def dose_after_optimising(level_cgy: float, *, reset: bool) -> np.ndarray:
        function.DoseFunctionParameters.DoseLevel = level_cgy
        if reset:
            po.ResetOptimization()
        po.RunOptimization()
        beam_set.ComputeDose(ComputeBeamDoses=True, DoseAlgorithm="CCDose", ForceRecompute=False)
        return np.array(plan.TreatmentCourse.TotalDose.DoseValues.DoseData)

    target = po.AddOptimizationFunction(FunctionType="MinDvh", RoiName="PTV")
    target.DoseFunctionParameters.DoseLevel = 3000
    target.DoseFunctionParameters.PercentVolume = 95
    function = po.AddOptimizationFunction(FunctionType="MaxDose", RoiName="SacralPlex")
    function.DoseFunctionParameters.Weight = 100
    cold = dose_after_optimising(2400, reset=True)
    dose_after_optimising(1200, reset=True)
    warm = dose_after_optimising(2400, reset=False)
    assert not np.array_equal(warm, cold)
    np.testing.assert_array_equal(dose_after_optimising(2400, reset=True), cold)
