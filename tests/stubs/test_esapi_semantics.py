"""The ESAPI stand-in behaves as docs/reference/esapi.md says Eclipse and pythonnet do.

Section numbers (§) are those of ``shared/reference/esapi.md``; behaviour the reference leaves open is
described in ``tps_stubs/esapi/DEVIATIONS.md`` and tested against that.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Iterator

import numpy as np
import pytest

from tests.esapi_support import with_static_beams, without_mlc
from tps_stubs import esapi as stub
from tps_stubs import planner as stand_in_planner
from tps_stubs.patients import load_patient
from tps_stubs.patients.model import PlanModel
from tps_stubs.planner import PlannerObjective, optimise

LRRC = "LRRC-01"


# -- helpers -----------------------------------------------------------------------------------------
def _unit(esapi: Any, name: str) -> Any:
    return getattr(esapi.Types.DoseValue.DoseUnit, name)


def _dose(esapi: Any, value: float, unit: str = "Gy") -> Any:
    return esapi.Types.DoseValue(value, _unit(esapi, unit))


def _structures(ctx: Any) -> Dict[str, Any]:
    return {str(s.Id): s for s in ctx.StructureSet.Structures}


def _prior_plan(ctx: Any) -> Any:
    return next(p for c in ctx.Patient.Courses for p in c.PlanSetups if p.IsDoseValid)


def _gy(dose_value: Any) -> float:
    return float(dose_value.Dose) / {"Gy": 1.0, "cGy": 100.0}[str(dose_value.Unit)]


def _raw_planes(esapi: Any, dose: Any) -> np.ndarray:
    """Raw voxels [z, y, x] through GetVoxels (copies, no live numpy views of .NET arrays)."""
    buf = esapi.System.Array.CreateInstance(esapi.System.Int32, dose.XSize, dose.YSize)
    planes = []
    for k in range(dose.ZSize):
        dose.GetVoxels(k, buf)
        planes.append(np.array(buf).T)
    return np.stack(planes)


def _dose_gy(esapi: Any, dose: Any) -> np.ndarray:
    """The dose in Gy [z, y, x], calibrated linearly from VoxelToDoseValue(0) and (1)
    (docs/reference/esapi.md §4.2)."""
    v0, v1 = _gy(dose.VoxelToDoseValue(0)), _gy(dose.VoxelToDoseValue(1))
    return v0 + (v1 - v0) * _raw_planes(esapi, dose)


def _sabr_objectives(esapi: Any, ctx: Any, unit: str) -> None:
    """Writes a target and two OAR objectives in ``unit`` (TOTAL dose): PTV Lower 30 Gy at 95 %,
    Rectum Upper 20 Gy at 0 %, Bowel_Small Upper 18 Gy at 1 %."""
    factor = 100.0 if unit == "cGy" else 1.0
    op = esapi.Types.OptimizationObjectiveOperator
    s = _structures(ctx)
    setup = ctx.ExternalPlanSetup.OptimizationSetup
    setup.AddPointObjective(s["PTV"], op.Lower, _dose(esapi, 30.0 * factor, unit), 95.0, 100.0)
    setup.AddPointObjective(s["Rectum"], op.Upper, _dose(esapi, 20.0 * factor, unit), 0.0, 80.0)
    setup.AddPointObjective(s["Bowel_Small"], op.Upper, _dose(esapi, 18.0 * factor, unit), 1.0, 80.0)


@pytest.fixture()
def ctx(fresh_session: Any) -> Any:
    """LRRC-01 as a write-enabled plug-in context on a clinical system, unit Gy."""
    return stub.load_context(LRRC)


@pytest.fixture()
def static_ctx(fresh_session: Any) -> Any:
    """As ``ctx`` with the new plan's beams static fields (what the IMRT optimiser takes)."""
    return stub.load_context(with_static_beams(LRRC))


# -- units and raw voxels ------------------------------------------------------------------------------
def test_same_dose_in_gy_and_cgy(fresh_session: Any) -> None:
    """§15.1 / §18.3: the dose unit is configuration; the same patient reads the same dose in Gy and cGy."""
    esapi = fresh_session
    in_gy = stub.load_context(LRRC, "Gy")
    dose_gy = _dose_gy(esapi, _prior_plan(in_gy).Dose)
    assert in_gy.PlanSetup.DosePerFraction.Dose == pytest.approx(6.0)
    in_cgy = stub.load_context(LRRC, "cGy")
    prior = _prior_plan(in_cgy)
    assert prior.Dose.DoseMax3D.Unit == _unit(esapi, "cGy")
    assert in_cgy.PlanSetup.TotalDose.Unit == _unit(esapi, "cGy")
    assert in_cgy.PlanSetup.TotalDose.Dose == pytest.approx(3000.0)
    np.testing.assert_allclose(_dose_gy(esapi, prior.Dose), dose_gy, rtol=1e-12, atol=0)


def test_raw_voxels_scale_linearly_to_model_dose(ctx: Any, esapi: Any) -> None:
    """§4.2: GetVoxels fills raw ints that VoxelToDoseValue scales linearly to the model's dose."""
    model = load_patient(LRRC).courses[0].plans[0].dose
    dose = _prior_plan(ctx).Dose
    raw = _raw_planes(esapi, dose)
    assert raw.dtype == np.int32 and raw.max() == 2 ** 24  # DEVIATIONS.md: the maximum is 2^24 counts
    scale = _gy(dose.VoxelToDoseValue(1)) - _gy(dose.VoxelToDoseValue(0))
    assert _gy(dose.VoxelToDoseValue(0)) == 0.0
    np.testing.assert_allclose(raw * scale, model.values_gy, rtol=0, atol=scale)
    assert _gy(dose.VoxelToDoseValue(12345)) == pytest.approx(12345 * scale, rel=1e-12)


def test_int_buffer_contract(ctx: Any, esapi: Any) -> None:
    """§4.2 / §14.2 / §16: GetVoxels fills a caller-allocated int[XSize, YSize]; numpy arrays are refused."""
    dose = _prior_plan(ctx).Dose
    buf = esapi.System.Array.CreateInstance(esapi.System.Int32, dose.XSize, dose.YSize)
    assert dose.GetVoxels(10, buf) is None
    assert np.array(buf).shape == (dose.XSize, dose.YSize)
    with pytest.raises(TypeError):
        dose.GetVoxels(10, np.zeros((dose.XSize, dose.YSize), np.int32))
    wrong = esapi.System.Array.CreateInstance(esapi.System.Int32, dose.YSize, dose.XSize)
    with pytest.raises(esapi.System.ArgumentException):
        dose.GetVoxels(10, wrong)


def test_dose_grid_geometry(ctx: Any) -> None:
    """§4.2: sizes, resolutions (mm), Origin = centre of the first voxel, and the X/Y/Z directions."""
    model = load_patient(LRRC).courses[0].plans[0].dose
    dose = _prior_plan(ctx).Dose
    assert (dose.XSize, dose.YSize, dose.ZSize) == model.size
    assert (dose.XRes, dose.YRes, dose.ZRes) == pytest.approx(model.spacing_mm)
    assert (dose.Origin.x, dose.Origin.y, dose.Origin.z) == pytest.approx(model.origin_mm)
    for axis, vector in enumerate((dose.XDirection, dose.YDirection, dose.ZDirection)):
        assert (vector.x, vector.y, vector.z) == pytest.approx(tuple(model.direction[:, axis]))


def test_dose_to_point_and_profile(ctx: Any, esapi: Any) -> None:
    """§4.2: GetDoseToPoint interpolates the dose; GetDoseProfile fills the buffer it is given."""
    model = load_patient(LRRC).courses[0].plans[0].dose
    dose = _prior_plan(ctx).Dose
    k, j, i = 40, 50, 60
    centre = esapi.Types.VVector(*(np.asarray(model.origin_mm) + np.asarray(model.spacing_mm) * (i, j, k)))
    assert _gy(dose.GetDoseToPoint(centre)) == pytest.approx(model.values_gy[k, j, i], abs=1e-5)
    half = esapi.Types.VVector(centre.x + model.spacing_mm[0] / 2, centre.y, centre.z)
    midway = (model.values_gy[k, j, i] + model.values_gy[k, j, i + 1]) / 2
    assert _gy(dose.GetDoseToPoint(half)) == pytest.approx(midway, abs=1e-5)
    stop = esapi.Types.VVector(centre.x + 10 * model.spacing_mm[0], centre.y, centre.z)
    buffer = esapi.System.Array.CreateInstance(esapi.System.Double, 11)
    profile = dose.GetDoseProfile(centre, stop, buffer)
    assert profile.Count == 11 and profile.Unit == _unit(esapi, "Gy")
    np.testing.assert_allclose(np.array(buffer), model.values_gy[k, j, i:i + 11], atol=1e-5)
    assert profile[10].Position.x == pytest.approx(stop.x)


def test_image_voxels_and_contours(ctx: Any, esapi: Any) -> None:
    """§6.2 / §6.3: Image voxels + VoxelToDisplayValue give HU; GetContoursOnImagePlane gives VVector[][]."""
    model = load_patient(LRRC)
    image = ctx.Image
    k = 48
    buf = esapi.System.Array.CreateInstance(esapi.System.Int32, image.XSize, image.YSize)
    image.GetVoxels(k, buf)
    raw = np.array(buf).T
    hu = raw.astype(float) + (image.VoxelToDisplayValue(0) - 0.0)
    np.testing.assert_array_equal(hu, model.image("CT_PLAN").hu[k])
    ptv_model = model.structure_set("CT_PLAN").structure("PTV")
    plane = sorted(ptv_model.contours_by_plane)[len(ptv_model.contours_by_plane) // 2]
    ptv = _structures(ctx)["PTV"]
    contours = ptv.GetContoursOnImagePlane(plane)
    assert len(contours) == len(ptv_model.contours_by_plane[plane])
    got = np.array([[p.x, p.y, p.z] for p in contours[0]])
    np.testing.assert_allclose(got, ptv_model.contours_by_plane[plane][0])
    assert len(ptv.GetContoursOnImagePlane(0)) == 0
    centre = ptv.CenterPoint
    assert ptv.IsPointInsideSegment(centre)
    assert not ptv.IsPointInsideSegment(esapi.Types.VVector(centre.x + 60.0, centre.y, centre.z))
    assert ptv.Volume == pytest.approx(4.0 / 3.0 * math.pi * 22 * 14 * 20 / 1000.0, rel=0.03)


# -- write guards ------------------------------------------------------------------------------------
def test_write_requires_begin_modifications(ctx: Any, esapi: Any) -> None:
    """§2.3 / §15.5: writes throw UnauthorizedScriptingAPIAccessException before BeginModifications()."""
    plan = ctx.ExternalPlanSetup
    with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="BeginModifications"):
        plan.SetPrescription(5, _dose(esapi, 6.0), 1.0)
    assert stub.journal() == []
    ctx.Patient.BeginModifications()
    plan.SetPrescription(5, _dose(esapi, 6.5), 1.0)
    assert plan.TotalDose.Dose == pytest.approx(32.5)


def test_approved_plans_structure_sets_and_completed_courses_are_locked(ctx: Any, esapi: Any) -> None:
    """§10.4 / DESIGN §6: approved/treated plans, approved structure sets, completed courses refuse writes."""
    ctx.Patient.BeginModifications()
    unauthorized = esapi.Model.UnauthorizedScriptingAPIAccessException
    prior = _prior_plan(ctx)
    assert prior.ApprovalStatus == esapi.Types.PlanSetupApprovalStatus.Completed and prior.IsTreated
    with pytest.raises(unauthorized, match="Completed"):
        prior.SetPrescription(25, _dose(esapi, 1.8), 1.0)
    with pytest.raises(unauthorized):
        prior.PlanNormalizationValue = 100.0
    assert ctx.StructureSet.CanAddStructure("CONTROL", "NewOAR")  # LRRC-01's working set is not approved
    with pytest.raises(unauthorized, match="completed"):
        prior.Course.AddExternalPlanSetup(ctx.StructureSet)
    assert stub.journal() == []


@pytest.mark.parametrize("set_lock", ["plans", "approval"])
def test_a_structure_set_an_approved_or_treated_plan_uses_is_locked_in_the_strict_reading(
        fresh_session: Any, set_lock: str) -> None:
    """DEVIATIONS.md: whether Eclipse locks the structure set of an approved or treated plan is not in the
    reference. With ``set_lock="plans"`` (the default) the stand-in does: LRRC-01's prior set CT_2024 (the
    Completed, treated PELVIS_45's) refuses new structures and edits, naming the plan, although the set
    itself is unapproved here; with "approval" only its own approval locks it. The new plan's set, which no
    approved plan uses, is writable under both; an unknown reading is refused."""
    esapi = fresh_session
    model = load_patient(LRRC)
    unapproved = dataclasses.replace(model, structure_sets=tuple(
        dataclasses.replace(s, approved=False) for s in model.structure_sets))
    ctx = stub.load_context(unapproved, set_lock=set_lock)
    ctx.Patient.BeginModifications()
    prior_set = _prior_plan(ctx).StructureSet
    assert str(prior_set.Id) == "CT_2024" and str(ctx.StructureSet.Id) == "CT_PLAN"
    assert ctx.StructureSet.CanAddStructure("CONTROL", "NewOAR")
    external = next(iter(prior_set.Structures))
    ok, message = external.CanEditSegmentVolume("")
    if set_lock == "plans":
        assert not prior_set.CanAddStructure("CONTROL", "NewOAR") and not ok
        assert "used by plan 'C1_LCCRT/PELVIS_45' (Completed, treated)" in message
        with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="PELVIS_45"):
            prior_set.AddStructure("CONTROL", "NewOAR")
    else:
        assert prior_set.CanAddStructure("CONTROL", "NewOAR") and ok
    with pytest.raises(ValueError, match="set_lock must be one of"):
        stub.load_context(LRRC, set_lock="never")


def test_read_only_plugin_context(fresh_session: Any) -> None:
    """§3.3: a script that is not an approved write-enabled script cannot modify data."""
    esapi = fresh_session
    ctx = stub.load_context(LRRC, writeable=False)
    ctx.Patient.BeginModifications()
    assert not ctx.Patient.CanModifyData()
    with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="read-only"):
        ctx.ExternalPlanSetup.PlanNormalizationValue = 100.0


def test_non_clinical_guard_members_need_research_system(fresh_session: Any) -> None:
    """§10.5: Course.RemovePlanSetup has the non-clinical guard in 15.1-15.6 (research systems only)."""
    esapi = fresh_session
    for mode in ("clinical", "research"):
        ctx = stub.load_context(LRRC, mode=mode)
        ctx.Patient.BeginModifications()
        new_plan = ctx.Course.AddExternalPlanSetup(ctx.StructureSet)
        if mode == "clinical":
            with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="non-clinical"):
                ctx.Course.RemovePlanSetup(new_plan)
        else:
            ctx.Course.RemovePlanSetup(new_plan)
            assert [str(p.Id) for p in ctx.Course.PlanSetups] == ["SABR_REIRR"]


# -- applications -------------------------------------------------------------------------------------
def test_custom_executable_is_read_only_in_clinical_mode(fresh_session: Any) -> None:
    """§2.2 / §3.3: CustomScriptExecutable applications are read-only on a clinical system."""
    esapi = fresh_session
    app = stub.create_application("test-script", mode="clinical")
    try:
        patient = app.OpenPatientById(LRRC)
        patient.BeginModifications()
        assert not patient.CanModifyData()
        plan = next(p for c in patient.Courses for p in c.PlanSetups if str(p.Id) == "SABR_REIRR")
        with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="read-only"):
            plan.SetPrescription(5, _dose(esapi, 6.0), 1.0)
        with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="not allowed"):
            app.SaveModifications()
    finally:
        app.Dispose()


def test_custom_executable_is_writable_in_research_mode(fresh_session: Any) -> None:
    """§2.2 / §3.3: the same application may write on a non-clinical system, and saving is recorded."""
    esapi = fresh_session
    app = stub.create_application("test-script", mode="research")
    try:
        assert LRRC in [str(s.Id) for s in app.PatientSummaries]
        patient = app.OpenPatientById(LRRC)
        patient.BeginModifications()
        assert patient.CanModifyData()
        plan = next(p for c in patient.Courses for p in c.PlanSetups if str(p.Id) == "SABR_REIRR")
        plan.SetPrescription(5, _dose(esapi, 7.0), 1.0)
        app.SaveModifications()
        assert [e.member for e in stub.journal()] == ["SetPrescription", "SaveModifications"]
    finally:
        app.Dispose()


def test_one_application_per_process(fresh_session: Any) -> None:
    """§2.2 / §13.1 (PyESAPI #16): only one Application may be created during the program's run."""
    esapi = fresh_session
    app = stub.create_application("first")
    app.Dispose()
    with pytest.raises(esapi.Model.FatalTpsNetException, match="Only one Application"):
        stub.create_application("second")
    stub.reset()  # test support (builder-level reset)
    stub.create_application("third").Dispose()


def test_create_application_needs_managed_entry_point(fresh_session: Any) -> None:
    """§2.2: Application.CreateApplication() fails without a managed entry assembly (as under python)."""
    esapi = fresh_session
    with pytest.raises(esapi.Model.FatalTpsNetException, match="managed"):
        esapi.API.Application.CreateApplication()
    assert not esapi.Builder.StubSystem.ApplicationCreated


def test_one_patient_open_at_a_time(fresh_session: Any) -> None:
    """§2.2: only one patient can be open; ClosePatient releases it; an unknown id gives null."""
    esapi = fresh_session
    app = stub.create_application("test-script")
    try:
        assert app.OpenPatientById("NO-SUCH-PATIENT") is None
        patient = app.OpenPatientById(LRRC)
        with pytest.raises(esapi.System.InvalidOperationException, match="Only one patient"):
            app.OpenPatientById(LRRC)
        app.ClosePatient()
        assert str(app.OpenPatientById(LRRC).Id) == LRRC
        assert patient.CanModifyData() is False
    finally:
        app.Dispose()


# -- optimisation, dose calculation, normalisation ----------------------------------------------------------
def test_optimisation_resets_normalisation(ctx: Any, esapi: Any) -> None:
    """§10.3: after optimisation the plan normalisation is 'No plan normalization' (value NaN)."""
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    plan.PlanNormalizationValue = 100.0
    assert str(plan.PlanNormalizationMethod) == "Plan Normalization Value"
    result = plan.OptimizeVMAT()
    assert result.Success
    assert math.isnan(plan.PlanNormalizationValue)
    assert str(plan.PlanNormalizationMethod) == "No plan normalization"
    assert not plan.IsDoseValid and plan.Dose is None  # DEVIATIONS.md: dose valid after CalculateDose
    assert plan.CalculateDose().Success and plan.IsDoseValid


def test_absurd_iterations_and_negative_objective_doses_are_refused(static_ctx: Any, esapi: Any) -> None:
    """DEVIATIONS.md (no bound documented; the stricter reading): IMRT Optimize with 0 or -5 iterations
    and a point, mean or EUD objective of -5 Gy throw ArgumentOutOfRangeException naming the parameter;
    nothing is added or optimised."""
    ctx = static_ctx
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    setup = plan.OptimizationSetup
    count = len(list(setup.Objectives))
    restart = esapi.Types.OptimizationOption.RestartOptimization
    for iterations in (0, -5):
        with pytest.raises(Exception, match="maxIterations"):
            plan.Optimize(iterations, restart, "Millennium 120")
    rectum = _structures(ctx)["Rectum"]
    upper = esapi.Types.OptimizationObjectiveOperator.Upper
    negative = _dose(esapi, -5.0, "Gy")
    for add in (lambda: setup.AddPointObjective(rectum, upper, negative, 0.0, 80.0),
                lambda: setup.AddMeanDoseObjective(rectum, negative, 80.0),
                lambda: setup.AddEUDObjective(rectum, upper, negative, 1.0, 80.0)):
        with pytest.raises(Exception, match="objective dose must be >= 0"):
            add()
    assert len(list(setup.Objectives)) == count
    assert not [e for e in stub.journal() if e.member.startswith("Optimize")]


def test_imrt_optimisation_needs_leaf_motions(static_ctx: Any, esapi: Any) -> None:
    """§10.3: Optimize (IMRT) is followed by CalculateLeafMotions before CalculateDose succeeds."""
    ctx = static_ctx
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    result = plan.Optimize(200, esapi.Types.OptimizationOption.RestartOptimization)
    assert result.Success and result.NumberOfIMRTOptimizerIterations == 200
    assert not plan.CalculateDose().Success
    assert plan.CalculateLeafMotions(esapi.Types.SmartLMCOptions(False, True)).Success
    assert plan.CalculateDose().Success


def test_continue_optimisation_warm_starts_and_restart_does_not(static_ctx: Any, esapi: Any) -> None:
    """tps_stubs.planner (module docstring, point 4) through ESAPI's start option (§10.3 enums): after
    an optimisation at a lower rectum objective, ``ContinueOptimization`` gives another dose than
    ``RestartOptimization`` of the same objectives, and a restart gives the first restart's dose again."""
    ctx = static_ctx
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    options = esapi.Types.OptimizationOption
    _sabr_objectives(esapi, ctx, "Gy")
    setup = plan.OptimizationSetup
    rectum = next(o for o in setup.Objectives if str(o.StructureId) == "Rectum")

    def optimised(option: Any) -> np.ndarray:
        assert plan.Optimize(100, option).Success
        assert plan.CalculateLeafMotions().Success and plan.CalculateDose().Success
        return _dose_gy(esapi, plan.Dose)

    restart = optimised(options.RestartOptimization)
    setup.RemoveObjective(rectum)
    op = esapi.Types.OptimizationObjectiveOperator
    low = setup.AddPointObjective(_structures(ctx)["Rectum"], op.Upper, _dose(esapi, 8.0, "Gy"), 0.0, 80.0)
    optimised(options.RestartOptimization)
    setup.RemoveObjective(low)
    setup.AddPointObjective(_structures(ctx)["Rectum"], op.Upper, _dose(esapi, 20.0, "Gy"), 0.0, 80.0)
    continued = optimised(options.ContinueOptimization)
    assert not np.array_equal(continued, restart)
    np.testing.assert_array_equal(optimised(options.RestartOptimization), restart)


@pytest.mark.parametrize("default", ["RestartOptimization", "ContinueOptimization"])
def test_an_optimisation_without_a_start_option_follows_the_modelled_default(fresh_session: Any,
                                                                             default: str) -> None:
    """DEVIATIONS.md: what ``OptimizeVMAT()`` (no start option) does is undocumented, so the stand-in
    models both readings. After an optimisation at a lower rectum objective, ``OptimizeVMAT()`` of the
    original objectives gives the restart dose under "RestartOptimization" and another (warm) dose under
    "ContinueOptimization" — the same as an explicit ``ContinueOptimization``."""
    esapi = fresh_session
    stub.configure(default_start_option=default)
    try:
        ctx = stub.load_context(LRRC, "Gy")
        plan = ctx.ExternalPlanSetup
        ctx.Patient.BeginModifications()
        _sabr_objectives(esapi, ctx, "Gy")
        setup = plan.OptimizationSetup
        options = esapi.Types.OptimizationOption
        mlc = str(next(iter(plan.Beams)).MLC.Id)

        def optimised(*args: Any) -> np.ndarray:
            assert plan.OptimizeVMAT(*args).Success and plan.CalculateDose().Success
            return _dose_gy(esapi, plan.Dose)

        restart = optimised(esapi.Types.OptimizationOptionsVMAT(options.RestartOptimization, mlc))
        rectum = next(o for o in setup.Objectives if str(o.StructureId) == "Rectum")
        setup.RemoveObjective(rectum)
        op = esapi.Types.OptimizationObjectiveOperator
        rectum_8gy = _dose(esapi, 8.0, "Gy")
        low = setup.AddPointObjective(_structures(ctx)["Rectum"], op.Upper, rectum_8gy, 0.0, 80.0)
        optimised()
        setup.RemoveObjective(low)
        setup.AddPointObjective(_structures(ctx)["Rectum"], op.Upper, _dose(esapi, 20.0, "Gy"), 0.0, 80.0)
        unspecified = optimised()
        if default == "RestartOptimization":
            np.testing.assert_array_equal(unspecified, restart)
        else:
            assert not np.array_equal(unspecified, restart)
    finally:
        stub.configure()
    with pytest.raises(ValueError, match="default_start_option must be one of"):
        stub.configure(default_start_option="Continue")


def test_each_optimiser_refuses_the_other_kind_of_beam(ctx: Any, static_ctx: Any, esapi: Any) -> None:
    """DEVIATIONS.md (the stricter reading where the reference is silent): OptimizeVMAT refuses static
    fields and Optimize (IMRT) refuses arcs, naming the beams. ``GantryDirection`` is Clockwise for a stub
    ARC beam and None for a static one; AddVMATBeam keeps the direction it is given, and a copy of the
    plan keeps its beams' directions; IsSetupField is False (no setup fields modelled)."""
    types = esapi.Types
    restart = types.OptimizationOption.RestartOptimization
    arcs, fields = ctx.ExternalPlanSetup, static_ctx.ExternalPlanSetup
    assert {str(b.GantryDirection) for b in arcs.Beams} == {"Clockwise"}
    assert {str(b.GantryDirection) for b in fields.Beams} == {"None"}
    assert not any(bool(b.IsSetupField) for b in arcs.Beams)
    for context in (ctx, static_ctx):
        context.Patient.BeginModifications()
        _sabr_objectives(esapi, context, "Gy")
    with pytest.raises(Exception, match=r"Optimize cannot optimize arc fields \(ARC1, ARC2\)"):
        arcs.Optimize(100, restart, "Millennium 120")
    with pytest.raises(Exception, match=r"OptimizeVMAT cannot optimize static fields \(ARC1, ARC2\)"):
        fields.OptimizeVMAT(types.OptimizationOptionsVMAT(restart, "Millennium 120"))
    assert arcs.OptimizeVMAT(types.OptimizationOptionsVMAT(restart, "Millennium 120")).Success
    assert fields.Optimize(100, restart, "Millennium 120").Success
    import System  # noqa: PLC0415 - loaded with the stand-in (pythonnet)

    weights = System.Array[System.Double]([0.0, 1.0])  # IEnumerable<double>
    beam = arcs.AddVMATBeam(types.ExternalBeamMachineParameters("TrueBeam", "6X", 600, "ARC", None),
                            weights, 30.0, 179.0, 181.0, types.GantryDirection.CounterClockwise, 0.0,
                            types.VVector(0.0, 0.0, 0.0))
    assert str(beam.GantryDirection) == "CounterClockwise"
    copy = arcs.Course.CopyPlanSetup(arcs)
    assert [str(b.GantryDirection) for b in copy.Beams] == ["Clockwise", "Clockwise", "CounterClockwise"]


def test_beams_carry_an_mlc_and_the_optimiser_needs_exactly_one(ctx: Any, esapi: Any) -> None:
    """esapi.md §10.3 (no-MLC overloads): "If there are more than one MLC or no MLC at all, an exception
    is thrown". The stub plan's beams carry "Millennium 120" (DEVIATIONS.md); an MLC id no beam carries
    is refused too (the stand-in's strict reading)."""
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    assert {str(b.MLC.Id) for b in plan.Beams} == {"Millennium 120"}
    options = esapi.Types.OptimizationOptionsVMAT(esapi.Types.OptimizationOption.RestartOptimization, "HD120")
    with pytest.raises(Exception, match="no beam has MLC 'HD120'"):
        plan.OptimizeVMAT(options)
    assert plan.OptimizeVMAT("Millennium 120").Success


def test_a_plan_whose_beams_carry_no_mlc_cannot_be_optimised_without_an_mlc_id(fresh_session: Any) -> None:
    """The same documented rule with no MLC at all: a definition's beam with ``mlc: null``."""
    esapi = fresh_session
    ctx = stub.load_context(without_mlc(LRRC), "Gy")
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    assert all(b.MLC is None for b in ctx.ExternalPlanSetup.Beams)
    with pytest.raises(Exception, match="no MLC in the plan's beams"):
        ctx.ExternalPlanSetup.OptimizeVMAT()


def test_an_injected_transient_dose_failure_fails_n_calls_then_clears(ctx: Any, esapi: Any) -> None:
    """DEVIATIONS.md (fault injection): with ``fail_dose_calculations(2)`` after an optimisation the next
    two CalculateDose calls return Success False, are journalled and leave the plan without a dose; the
    third succeeds with the optimised dose. A reset clears an unused count; a negative one is refused."""
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    assert plan.OptimizeVMAT().Success
    stub.fail_dose_calculations(2)
    assert [bool(plan.CalculateDose().Success) for _ in range(2)] == [False, False]
    assert not plan.IsDoseValid and plan.Dose is None
    assert plan.CalculateDose().Success
    assert [e.member for e in stub.journal()][-3:] == ["CalculateDose"] * 3
    assert plan.IsDoseValid and esapi.Builder.StubSystem.DoseCalculationFailures == 0
    stub.fail_dose_calculations(1)
    stub.reset()
    assert esapi.Builder.StubSystem.DoseCalculationFailures == 0
    with pytest.raises(ValueError, match=">= 0"):
        stub.fail_dose_calculations(-1)


def test_planner_dose_through_api_in_cgy(fresh_session: Any) -> None:
    """§10.2-10.3: objectives in the system unit (here cGy, TOTAL) drive the stand-in planner's dose."""
    esapi = fresh_session
    ctx = stub.load_context(LRRC, "cGy")
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "cGy")
    assert plan.OptimizeVMAT(esapi.Types.OptimizationOptionsVMAT(
        esapi.Types.OptimizationOption.RestartOptimization, "Millennium 120")).Success
    assert plan.CalculateDose().Success
    model = load_patient(LRRC)
    expected = optimise(
        model, structure_set_id="CT_PLAN", target_id="PTV", prescription_gy=30.0,
        objectives=[PlannerObjective("PTV", "lower", 30.0, 95.0, 100.0),
                    PlannerObjective("Rectum", "max", 20.0, 0.0, 80.0),
                    PlannerObjective("Bowel_Small", "upper", 18.0, 1.0, 80.0)],
        grid=(plan.Dose.Origin.x, plan.Dose.Origin.y, plan.Dose.Origin.z) and _grid(plan.Dose),
        direction=model.image("CT_PLAN").direction)
    got = _dose_gy(esapi, plan.Dose)
    scale = _gy(plan.Dose.VoxelToDoseValue(1))
    np.testing.assert_allclose(got, expected.values_gy, rtol=0, atol=scale)
    rectum = _structures(ctx)["Rectum"]
    d_max = plan.GetDoseAtVolume(rectum, 0.0, esapi.Types.VolumePresentation.AbsoluteCm3,
                                 esapi.Types.DoseValuePresentation.Absolute)
    # the rectum's maximum through the API (cGy) is the planner's: at least the hottest voxel centre
    # inside the rectum, at most the hottest within half a voxel diagonal of it (partial voxels)
    assert d_max.Unit == _unit(esapi, "cGy")
    rectum_model = model.structure_set("CT_PLAN").structure("Rectum")
    shape = {"union": list(rectum_model.primitives)}
    direction = model.image("CT_PLAN").direction
    distance = stand_in_planner._grid_signed_distance(shape, _grid(plan.Dose), direction, None)
    values = expected.values_gy.ravel()
    half_diagonal = 0.5 * float(np.linalg.norm(_grid(plan.Dose)[1]))
    assert 100.0 * values[distance <= 0.0].max() - 1e-6 <= d_max.Dose
    assert d_max.Dose <= 100.0 * values[distance <= half_diagonal].max() + 1e-6


def _grid(dose: Any) -> Any:
    return ((dose.Origin.x, dose.Origin.y, dose.Origin.z), (dose.XRes, dose.YRes, dose.ZRes),
            (dose.XSize, dose.YSize, dose.ZSize))


def test_normalisation_value_scales_dose(ctx: Any, esapi: Any) -> None:
    """§4.4 / §10.3: dose scales as 100 / PlanNormalizationValue ('normalise after CalculateDose' pattern)."""
    plan = ctx.ExternalPlanSetup
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    plan.OptimizeVMAT()
    plan.CalculateDose()
    ptv = _structures(ctx)["PTV"]
    rel, absolute = esapi.Types.VolumePresentation.Relative, esapi.Types.DoseValuePresentation.Absolute
    plan.PlanNormalizationValue = 100.0
    d95 = plan.GetDoseAtVolume(ptv, 95.0, rel, absolute).Dose
    plan.PlanNormalizationValue = 100.0 * d95 / 30.0
    assert plan.GetDoseAtVolume(ptv, 95.0, rel, absolute).Dose == pytest.approx(30.0, rel=1e-9)
    with pytest.raises(esapi.System.ArgumentException):
        plan.PlanNormalizationValue = float("nan")


def test_objectives_need_the_system_unit(ctx: Any, esapi: Any) -> None:
    """§10.2: objective doses must be in the unit of the system configuration; volumes are 0-100 %."""
    ctx.Patient.BeginModifications()
    setup = ctx.ExternalPlanSetup.OptimizationSetup
    rectum = _structures(ctx)["Rectum"]
    upper = esapi.Types.OptimizationObjectiveOperator.Upper
    with pytest.raises(esapi.System.ArgumentException, match="system configuration"):
        setup.AddPointObjective(rectum, upper, _dose(esapi, 2000.0, "cGy"), 0.0, 80.0)
    with pytest.raises(esapi.System.ArgumentException, match="0-100"):
        setup.AddPointObjective(rectum, upper, _dose(esapi, 20.0), 150.0, 80.0)
    objective = setup.AddPointObjective(rectum, upper, _dose(esapi, 20.0), 0.5, 80.0)
    assert objective.Volume == 0.5 and str(objective.StructureId) == "Rectum"
    assert stub.planner_objective(objective) == PlannerObjective("Rectum", "upper", 20.0, 0.5, 80.0)


def test_relative_presentation_gives_percent(ctx: Any, esapi: Any) -> None:
    """§15.2 / DEVIATIONS.md: with DoseValuePresentation.Relative doses come back in % of the total dose."""
    prior = _prior_plan(ctx)
    assert prior.DoseValuePresentation == esapi.Types.DoseValuePresentation.Absolute
    prior.DoseValuePresentation = esapi.Types.DoseValuePresentation.Relative
    peak = prior.Dose.DoseMax3D
    assert peak.Unit == _unit(esapi, "Percent") and peak.Dose == pytest.approx(100.0, abs=0.01)
    assert prior.Dose.VoxelToDoseValue(1).Unit == _unit(esapi, "Percent")


def test_dvh_is_consistent(ctx: Any, esapi: Any) -> None:
    """§7: cumulative DVH starts at 100 %, its maximum is D(0 cc), and volumes are in cm³ (the prior plan's
    dose on its own structure set's rectum; a structure of another set gives no DVH)."""
    prior = _prior_plan(ctx)
    rectum = {str(s.Id): s for s in prior.StructureSet.Structures}["Rectum"]
    t = esapi.Types
    dvh = prior.GetDVHCumulativeData(rectum, t.DoseValuePresentation.Absolute, t.VolumePresentation.Relative,
                                     0.1)
    curve = list(dvh.CurveData)
    assert curve[0].Volume == pytest.approx(100.0) and str(curve[0].VolumeUnit) == "%"
    assert dvh.Volume == pytest.approx(rectum.Volume, rel=0.15)
    d0 = prior.GetDoseAtVolume(rectum, 0.0, t.VolumePresentation.AbsoluteCm3,
                               t.DoseValuePresentation.Absolute)
    assert d0.Dose == pytest.approx(dvh.MaxDose.Dose)
    above = _dose(esapi, dvh.MaxDose.Dose + 0.01)
    assert prior.GetVolumeAtDose(rectum, above, t.VolumePresentation.AbsoluteCm3) == 0.0


# -- evaluation doses ----------------------------------------------------------------------------------
def test_create_evaluation_dose_fails_with_beams(ctx: Any, esapi: Any) -> None:
    """§9: 'To create an evaluation dose, the plan must not contain any beams.'"""
    ctx.Patient.BeginModifications()
    with pytest.raises(esapi.System.InvalidOperationException, match="must not contain any beams"):
        ctx.ExternalPlanSetup.CreateEvaluationDose()
    with pytest.raises(esapi.System.InvalidOperationException, match="must not contain any beams"):
        ctx.ExternalPlanSetup.CopyEvaluationDose(_prior_plan(ctx).Dose)


def test_evaluation_dose_on_beamless_plan(ctx: Any, esapi: Any) -> None:
    """§9: a beamless plan takes an evaluation dose written with DoseValueToVoxel and SetVoxels."""
    ctx.Patient.BeginModifications()
    plan = ctx.Course.AddExternalPlanSetup(ctx.StructureSet)
    evaluation = plan.CreateEvaluationDose()
    assert plan.DoseAsEvaluationDose is not None
    raw = evaluation.DoseValueToVoxel(_dose(esapi, 12.5))
    values = esapi.System.Array.CreateInstance(esapi.System.Int32, evaluation.XSize, evaluation.YSize)
    view = np.asarray(values)
    view[:] = raw
    del view
    evaluation.SetVoxels(3, values)
    check = esapi.System.Array.CreateInstance(esapi.System.Int32, evaluation.XSize, evaluation.YSize)
    plan.Dose.GetVoxels(3, check)
    assert np.array(check).max() == raw
    assert _gy(plan.Dose.VoxelToDoseValue(raw)) == pytest.approx(12.5, abs=1e-5)
    copied = ctx.Course.AddExternalPlanSetup(ctx.StructureSet).CopyEvaluationDose(_prior_plan(ctx).Dose)
    assert _gy(copied.DoseMax3D) == pytest.approx(_gy(_prior_plan(ctx).Dose.DoseMax3D))


def test_save_refused_while_evaluation_dose_is_empty(fresh_session: Any) -> None:
    """§9: saving is not possible if the evaluation dose was created but its voxels were not set."""
    esapi = fresh_session
    app = stub.create_application("test-script", mode="research")
    try:
        patient = app.OpenPatientById(LRRC)
        patient.BeginModifications()
        course = next(c for c in patient.Courses if str(c.Id) == "C2_SABR")
        sset = next(iter(patient.StructureSets))
        evaluation = course.AddExternalPlanSetup(sset).CreateEvaluationDose()
        with pytest.raises(esapi.System.InvalidOperationException, match="voxels have not been set"):
            app.SaveModifications()
        evaluation.SetVoxels(0, esapi.System.Array.CreateInstance(esapi.System.Int32, evaluation.XSize,
                                                                   evaluation.YSize))
        app.SaveModifications()
    finally:
        app.Dispose()


# -- pythonnet behaviour -----------------------------------------------------------------------------------
def test_structs_are_copies(ctx: Any, esapi: Any) -> None:
    """§14.5 / §16: VVector, DoseValue and DVHPoint are structs; changing a returned copy changes nothing."""
    dose = _prior_plan(ctx).Dose
    origin = dose.Origin
    x0 = origin.x
    origin.x = x0 + 10.0
    assert dose.Origin.x == x0
    import clr  # noqa: PLC0415 - loaded by the esapi fixture

    for name in ("VVector", "DoseValue", "DVHPoint"):
        assert clr.GetClrType(getattr(esapi.Types, name)).IsValueType


def test_collections_are_ienumerable(ctx: Any, esapi: Any) -> None:
    """§14.6 / §16: IEnumerable<T> collections have no len() or Count; iterating yields the runtime type."""
    with pytest.raises(TypeError):
        len(ctx.PlansInScope)
    assert not hasattr(ctx.Patient.Courses, "Count")
    plans = list(ctx.PlansInScope)
    assert [type(p).__name__ for p in plans] == ["ExternalPlanSetup"]
    assert type(ctx.PlanSetup).__name__ == "ExternalPlanSetup"  # typed PlanSetup, runtime subtype


def test_enums_by_name_only(esapi: Any) -> None:
    """§14.3: pythonnet 3 does not convert int to enum; DoseValue.DoseUnit is nested with exact values."""
    with pytest.raises(TypeError):
        esapi.Types.DoseValue(2.0, 1)
    value = esapi.Types.DoseValue(2.0, esapi.Types.DoseValue.DoseUnit.Gy)
    assert value.Unit == esapi.Types.DoseValue.DoseUnit.Gy
    assert str(esapi.Types.DoseValue.DoseUnit.cGy) == "cGy"
    assert esapi.Types.DoseValue.DoseUnit.__name__ == "DoseUnit"


def test_nullable_fractions_and_undefined_prescription(ctx: Any) -> None:
    """§4.4 / §14.6: NumberOfFractions is int? (None without prescription); normalisation NaN if undefined."""
    plan = ctx.ExternalPlanSetup
    assert plan.NumberOfFractions == 5 and isinstance(plan.NumberOfFractions, int)
    ctx.Patient.BeginModifications()
    new_plan = ctx.Course.AddExternalPlanSetup(ctx.StructureSet)
    assert new_plan.NumberOfFractions is None
    assert new_plan.TotalDose.IsUndefined()
    assert math.isnan(new_plan.PlanNormalizationValue)


def test_out_parameters_come_back_as_tuples(ctx: Any) -> None:
    """§14.4: out parameters come back as a tuple (return value, out values)."""
    ptv = _structures(ctx)["PTV"]
    has_hu, hu = ptv.GetAssignedHU()
    assert has_hu is False and math.isnan(hu)
    ok, message = ptv.CanEditSegmentVolume()  # LRRC-01's working structure set is not approved
    assert ok is True and str(message) == ""
    approved = {str(s.Id): s for s in stub.load_context("LRRC-02").StructureSet.Structures}["PTV"]
    ok, message = approved.CanEditSegmentVolume()
    assert ok is False and "approved" in str(message)


# -- registrations and dates -----------------------------------------------------------------------------
def test_registration_matrix_convention(fresh_session: Any) -> None:
    """§8: TransformPoint maps SourceFOR to RegisteredFOR; TransformationMatrix is that map (DEVIATIONS)."""
    esapi = fresh_session
    model = load_patient("REG-01")
    ctx = stub.load_context("REG-01")
    (reg,) = list(ctx.Patient.Registrations)
    (reg_model,) = model.registrations
    assert (str(reg.SourceFOR), str(reg.RegisteredFOR)) == (reg_model.source_for, reg_model.target_for)
    matrix = np.array([[reg.TransformationMatrix[r, c] for c in range(4)] for r in range(4)])
    np.testing.assert_allclose(matrix, reg_model.matrix)
    p = np.array([12.0, -40.0, 33.0])
    moved = reg.TransformPoint(esapi.Types.VVector(*p))
    np.testing.assert_allclose([moved.x, moved.y, moved.z], matrix[:3, :3] @ p + matrix[:3, 3])
    back = reg.InverseTransformPoint(moved)
    np.testing.assert_allclose([back.x, back.y, back.z], p, atol=1e-9)


def test_course_dates(ctx: Any) -> None:
    """docs/reference/esapi-members.md Course / DEVIATIONS.md: dates are Course.StartDateTime and
    CompletedDateTime."""
    model = load_patient(LRRC).course("C1_LCCRT")
    prior, current = list(ctx.Patient.Courses)
    start, completed = prior.StartDateTime, prior.CompletedDateTime
    assert (start.Year, start.Month, start.Day) == (model.start.year, model.start.month, model.start.day)
    assert (completed.Year, completed.Month, completed.Day) == (
        model.end.year, model.end.month, model.end.day)
    assert current.StartDateTime is None and current.CompletedDateTime is None


# -- the journal -----------------------------------------------------------------------------------------
def test_journal_records_writes(ctx: Any, esapi: Any) -> None:
    """Issue 4 brief: every write through a modifying member is journaled (object, member, arguments)."""
    ctx.Patient.BeginModifications()
    plan = ctx.ExternalPlanSetup
    plan.SetPrescription(5, _dose(esapi, 7.0), 1.0)
    ptv = _structures(ctx)["PTV"]
    plan.OptimizationSetup.AddPointObjective(ptv, esapi.Types.OptimizationObjectiveOperator.Lower,
                                             _dose(esapi, 35.0), 95.0, 100.0)
    with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException):
        _prior_plan(ctx).PlanNormalizationValue = 99.0
    entries = stub.journal()
    assert [(e.sequence, e.object_type, e.object_id, e.member) for e in entries] == [
        (1, "ExternalPlanSetup", "SABR_REIRR", "SetPrescription"),
        (2, "OptimizationSetup", "SABR_REIRR", "AddPointObjective")]
    assert entries[0].arguments == ("5", "7.000 Gy", "1")
    assert entries[1].arguments == ("Structure 'PTV'", "Lower", "35.000 Gy", "95", "100")
    stub.load_context(LRRC)
    assert stub.journal() == []


# -- structure algebra on a hand-countable phantom ---------------------------------------------------------
#: Phantom: a 24³ image of 2 mm voxels (voxel (i, j, k) centred at (2i, 2j, 2k) mm, 0.008 cm³ each).
_N, _MM = 24, 2.0
_VOXEL_CC = _MM ** 3 / 1000.0


def _box_contours(i0: int, i1: int, j0: int, j1: int, k0: int, k1: int) -> Any:
    """(planes, counts, xyz) of the voxels [i0, i1) × [j0, j1) × [k0, k1): one square per plane on the
    voxel edges (every voxel centre is 1 mm inside or outside)."""
    x0, x1, y0, y1 = (_MM * (i0 - 0.5), _MM * (i1 - 0.5), _MM * (j0 - 0.5), _MM * (j1 - 0.5))
    planes = list(range(k0, k1))
    xyz = [v for k in planes for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)) for v in (p[0], p[1], _MM * k)]
    return planes, [4] * len(planes), xyz


def _phantom(esapi: Any, *, approved: bool = False) -> Any:
    """A plug-in context on a patient with the phantom image, a structure set (approved or not) holding
    ``A`` = voxels [4, 14)³ (1000 voxels), ``B`` = ``A`` shifted by 5 voxels along +x (overlap 500) and
    ``Dot`` = the single voxel (4, 4, 4) at ``A``'s corner, and an empty course; clinical, writable, Gy."""
    b, net = esapi.Builder, stub.net_array
    stub.reset()
    b.StubSystem.ResearchMode = False
    b.StubSystem.PluginWriteable = True
    b.StubSystem.ContourAddition = "xor"
    b.StubSystem.DoseUnit = esapi.Types.DoseValue.DoseUnit.Gy
    patient = b.ModelBuilder.NewPatient("PHANTOM", "Phantom", "Box", "")
    image = b.ModelBuilder.AddImage(patient, "CT", "1.2.3.4", net([0.0, 0.0, 0.0], "float64"),
                                    net([_MM] * 3, "float64"), net([_N] * 3, "int32"),
                                    net(np.eye(3).ravel(), "float64"), net(np.full(_N ** 3, 1024), "int32"))
    sset = b.ModelBuilder.AddStructureSet(patient, "CT", image, approved)
    for sid, box in (("A", (4, 14, 4, 14, 4, 14)), ("B", (9, 19, 4, 14, 4, 14)), ("Dot", (4, 5, 4, 5, 4, 5))):
        planes, counts, xyz = _box_contours(*box)
        b.ModelBuilder.AddStructure(sset, sid, "ORGAN", net(planes, "int32"), net(counts, "int32"),
                                    net(xyz, "float64"))
    course = b.ModelBuilder.AddCourse(patient, "C1", "", "")
    return b.StubSystem.CreatePluginContext(patient, course, None, "phantom")


def _phantom_structures(ctx: Any) -> Dict[str, Any]:
    sset = next(iter(ctx.Patient.StructureSets))
    return {str(s.Id): s for s in sset.Structures}


def _voxels(structure: Any) -> int:
    """The structure's volume as a voxel count (it must be a whole number of voxels)."""
    count = structure.Volume / _VOXEL_CC
    assert count == pytest.approx(round(count), abs=1e-6)
    return round(count)


def _assign(ctx: Any, segment: Any, sid: str = "Result") -> Any:
    """A new ORGAN structure ``sid`` in the phantom's structure set whose SegmentVolume is ``segment``."""
    sset = next(iter(ctx.Patient.StructureSets))
    structure = sset.AddStructure("ORGAN", sid)
    structure.SegmentVolume = segment
    return structure


@pytest.fixture()
def phantom(fresh_session: Any) -> Any:
    ctx = _phantom(fresh_session)
    ctx.Patient.BeginModifications()
    return ctx


def test_phantom_volumes_from_contours(phantom: Any) -> None:
    """The phantom's contour volumes are whole voxel counts (area × slice thickness)."""
    s = _phantom_structures(phantom)
    assert (_voxels(s["A"]), _voxels(s["B"]), _voxels(s["Dot"])) == (1000, 1000, 1)
    assert s["A"].Volume == pytest.approx(8.0)


def test_segment_volume_round_trip(phantom: Any) -> None:
    """Structure.SegmentVolume get then set keeps the voxels; the contours become voxel-edge rectangles."""
    s = _phantom_structures(phantom)
    copy = _assign(phantom, s["A"].SegmentVolume)
    assert _voxels(copy) == 1000
    assert (copy.CenterPoint.x, copy.CenterPoint.y, copy.CenterPoint.z) == pytest.approx((17.0, 17.0, 17.0))
    assert len(copy.GetContoursOnImagePlane(4)) == 10 and len(copy.GetContoursOnImagePlane(3)) == 0


def test_boolean_operations_count_voxels(phantom: Any, esapi: Any) -> None:
    """And / Or / Sub / Xor / Not of two boxes overlapping by 5 × 10 × 10 voxels; Structure forms and
    SegmentVolume forms agree."""
    s = _phantom_structures(phantom)
    a, b = s["A"], s["B"].SegmentVolume
    expected = {"And": 500, "Or": 1500, "Sub": 500, "Xor": 1000}
    for name, count in expected.items():
        assert _voxels(_assign(phantom, getattr(a, name)(b), name)) == count, name
        assert _voxels(_assign(phantom, getattr(a.SegmentVolume, name)(b), name + "2")) == count, name
    assert _voxels(_assign(phantom, a.Not(), "Not")) == _N ** 3 - 1000
    implicit = esapi.API.Structure.op_Implicit(s["B"])
    assert _voxels(_assign(phantom, a.Sub(implicit), "Implicit")) == 500


def test_isotropic_margin_counts_voxels(phantom: Any) -> None:
    """A 2 mm margin on 2 mm voxels adds the six face layers (no edges or corners: their centres are 2.8
    and 3.5 mm away): 1000 + 6 × 100; −2 mm leaves 8³ voxels."""
    a = _phantom_structures(phantom)["A"]
    assert _voxels(_assign(phantom, a.Margin(2.0), "Grow")) == 1600
    assert _voxels(_assign(phantom, a.Margin(-2.0), "Shrink")) == 512
    assert _voxels(_assign(phantom, a.Margin(0.0), "Same")) == 1000
    grown = _assign(phantom, a.Margin(2.0), "Grow2")
    assert grown.Volume == pytest.approx(12.8)


def test_margin_of_a_voxel_is_a_lattice_ball(phantom: Any, esapi: Any) -> None:
    """A 4 mm margin on one voxel gives the 33 voxels with i² + j² + k² ≤ 4 (1 + 6 + 12 + 8 + 6); the box
    minus that ball, centred on the box's corner voxel, loses the ball's 11 voxels with i, j, k ≥ 0."""
    s = _phantom_structures(phantom)
    ball = _assign(phantom, s["Dot"].Margin(4.0), "Ball")
    assert _voxels(ball) == 33
    assert _voxels(_assign(phantom, s["A"].Sub(ball.SegmentVolume), "Hollow")) == 1000 - 11
    assert _voxels(_assign(phantom, s["A"].And(ball.SegmentVolume), "Cap")) == 11
    v = esapi.Types.VVector
    assert ball.IsPointInsideSegment(v(8.0, 8.0, 12.0)) and not ball.IsPointInsideSegment(v(10.0, 10.0, 12.0))


def test_asymmetric_margins_follow_the_axes(phantom: Any, esapi: Any) -> None:
    """AxisAlignedMargins(geometry, x1, y1, z1, x2, y2, z2): x1 grows towards −x, x2 towards +x; Outer grows,
    Inner shrinks; an octant's margin is an ellipse (x2 = 4, y2 = 2 adds two +x layers and one +y layer but
    no edge voxel: (1/2)² + 1² > 1)."""
    t = esapi.Types
    outer, inner = t.StructureMarginGeometry.Outer, t.StructureMarginGeometry.Inner
    a = _phantom_structures(phantom)["A"]
    minus_x = _assign(phantom, a.AsymmetricMargin(t.AxisAlignedMargins(outer, 2, 0, 0, 0, 0, 0)), "MinusX")
    assert _voxels(minus_x) == 1100
    assert minus_x.IsPointInsideSegment(t.VVector(6.0, 10.0, 10.0))
    assert not minus_x.IsPointInsideSegment(t.VVector(28.0, 10.0, 10.0))
    octant = a.AsymmetricMargin(t.AxisAlignedMargins(outer, 0, 0, 0, 4, 2, 0))
    assert _voxels(_assign(phantom, octant, "Octant")) == 1300
    shrunk = _assign(phantom, a.AsymmetricMargin(t.AxisAlignedMargins(inner, 0, 0, 0, 0, 0, 2)), "TopOff")
    assert _voxels(shrunk) == 900
    assert not shrunk.IsPointInsideSegment(t.VVector(10.0, 10.0, 26.0))
    assert shrunk.IsPointInsideSegment(t.VVector(10.0, 10.0, 8.0))
    with pytest.raises(esapi.System.ArgumentException):
        a.AsymmetricMargin(t.AxisAlignedMargins(outer, -1, 0, 0, 0, 0, 0))


def test_margins_are_bounded(phantom: Any, esapi: Any) -> None:
    """DEVIATIONS.md: margins beyond 50 mm (or not finite) are refused."""
    a = _phantom_structures(phantom)["A"]
    for bad in (50.5, -60.0, float("nan")):
        with pytest.raises(esapi.System.ArgumentOutOfRangeException):
            a.Margin(bad)


def test_segment_volume_writes_are_guarded(fresh_session: Any) -> None:
    """§10: set_SegmentVolume needs BeginModifications; computing a segment does not (it changes nothing)."""
    esapi = fresh_session
    ctx = _phantom(esapi)
    s = _phantom_structures(ctx)
    grown = s["A"].Margin(2.0)  # a read
    with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="BeginModifications"):
        s["B"].SegmentVolume = grown
    ctx.Patient.BeginModifications()
    s["B"].SegmentVolume = grown
    assert _voxels(s["B"]) == 1600
    assert [e.member for e in stub.journal()] == ["set_SegmentVolume"]


# -- contours written plane by plane (DEVIATIONS.md, "Contours written by a script") -------------------------
def _square(esapi: Any, i0: int, i1: int, j0: int, j1: int, k: int) -> Any:
    """VVector[] of the voxel-edge square around voxels [i0, i1) × [j0, j1) on phantom plane k."""
    x0, x1, y0, y1 = (_MM * (i0 - 0.5), _MM * (i1 - 0.5), _MM * (j0 - 0.5), _MM * (j1 - 0.5))
    v = esapi.Types.VVector
    return esapi.System.Array[v]([v(x0, y0, _MM * k), v(x1, y0, _MM * k), v(x1, y1, _MM * k),
                                  v(x0, y1, _MM * k)])


@pytest.fixture()
def contour_addition(esapi: Any) -> Iterator[Any]:
    """Restores the stand-in's AddContourOnImagePlane setting after the test."""
    system = esapi.Builder.StubSystem
    before = str(system.ContourAddition)
    yield system
    system.ContourAddition = before


@pytest.mark.parametrize(("addition", "added"), [("xor", 100), ("union", 150)])
def test_added_contours_combine_as_configured_and_subtracted_ones_cut(
        phantom: Any, esapi: Any, contour_addition: Any, addition: str, added: int) -> None:
    """Two 10 × 10-voxel squares overlapping by 50 voxels on one plane: exclusive-or leaves 100 voxels'
    area, union 150; subtracting a 2 × 2 square inside the first removes 4 either way. Volume, the
    point test and the contours returned follow."""
    contour_addition.ContourAddition = addition
    sset = next(iter(phantom.Patient.StructureSets))
    w = sset.AddStructure("CONTROL", "Written")
    w.AddContourOnImagePlane(_square(esapi, 4, 14, 4, 14, 4), 4)
    w.AddContourOnImagePlane(_square(esapi, 9, 19, 4, 14, 4), 4)
    assert _voxels(w) == added
    w.SubtractContourOnImagePlane(_square(esapi, 5, 7, 5, 7, 4), 4)
    assert _voxels(w) == added - 4
    v = esapi.Types.VVector
    assert w.IsPointInsideSegment(v(22.0, 16.0, 8.0)) == (addition == "union")  # in the overlap
    assert not w.IsPointInsideSegment(v(10.0, 10.0, 8.0))  # in the hole
    assert w.IsPointInsideSegment(v(8.0, 16.0, 8.0)) and w.IsPointInsideSegment(v(34.0, 16.0, 8.0))
    assert len(w.GetContoursOnImagePlane(4)) == 3
    assert [e.member for e in stub.journal()][-3:] == ["AddContourOnImagePlane"] * 2 + [
        "SubtractContourOnImagePlane"]


@pytest.mark.parametrize("addition", ["xor", "union"])
def test_crossing_contours_have_exact_areas(phantom: Any, esapi: Any, contour_addition: Any,
                                            addition: str) -> None:
    """A square of half-side a and the same square turned by 45° cross at eight points off every vertex
    level: union a²(16 − 8√2), exclusive-or a²(24 − 16√2) (their common part is a regular octagon)."""
    contour_addition.ContourAddition = addition
    a, c, k = 10.0, 24.0, 10
    v = esapi.Types.VVector
    r = a * math.sqrt(2.0)
    square = [v(c - a, c - a, 20.0), v(c + a, c - a, 20.0), v(c + a, c + a, 20.0), v(c - a, c + a, 20.0)]
    diamond = [v(c, c - r, 20.0), v(c + r, c, 20.0), v(c, c + r, 20.0), v(c - r, c, 20.0)]
    sset = next(iter(phantom.Patient.StructureSets))
    w = sset.AddStructure("CONTROL", "Star")
    for polygon in (square, diamond):
        w.AddContourOnImagePlane(esapi.System.Array[v](polygon), k)
    area = a * a * ((16 - 8 * math.sqrt(2)) if addition == "union" else (24 - 16 * math.sqrt(2)))
    assert w.Volume == pytest.approx(area * _MM / 1000.0, rel=1e-12)
    assert (w.CenterPoint.x, w.CenterPoint.y, w.CenterPoint.z) == pytest.approx((c, c, 20.0))
    assert w.IsPointInsideSegment(v(c, c, 20.0)) == (addition == "union")


def test_subtracting_everything_or_from_nothing_leaves_the_plane_empty(phantom: Any, esapi: Any) -> None:
    """A subtraction on a plane without contours stores nothing; one that removes all of the plane's
    segment removes its contours; ClearAllContoursOnImagePlane empties a plane. Each is journalled."""
    sset = next(iter(phantom.Patient.StructureSets))
    w = sset.AddStructure("CONTROL", "Gone")
    w.SubtractContourOnImagePlane(_square(esapi, 4, 14, 4, 14, 4), 4)
    assert w.IsEmpty and w.Volume == 0.0
    w.AddContourOnImagePlane(_square(esapi, 4, 14, 4, 14, 4), 4)
    w.AddContourOnImagePlane(_square(esapi, 4, 14, 4, 14, 5), 5)
    w.SubtractContourOnImagePlane(_square(esapi, 2, 16, 2, 16, 4), 4)
    assert _voxels(w) == 100 and len(w.GetContoursOnImagePlane(4)) == 0
    w.ClearAllContoursOnImagePlane(5)
    assert w.IsEmpty and math.isnan(w.CenterPoint.x)
    assert [e.member for e in stub.journal()] == ["AddStructure", "SubtractContourOnImagePlane",
                                                  "AddContourOnImagePlane", "AddContourOnImagePlane",
                                                  "SubtractContourOnImagePlane",
                                                  "ClearAllContoursOnImagePlane"]


def test_contour_writes_are_guarded(fresh_session: Any, esapi: Any) -> None:
    """§10: SubtractContourOnImagePlane needs BeginModifications and an unapproved structure set."""
    ctx = _phantom(esapi, approved=True)
    a = _phantom_structures(ctx)["A"]
    denied = esapi.Model.UnauthorizedScriptingAPIAccessException
    with pytest.raises(denied, match="BeginModifications"):
        a.SubtractContourOnImagePlane(_square(esapi, 4, 6, 4, 6, 4), 4)
    ctx.Patient.BeginModifications()
    with pytest.raises(denied, match="approved"):
        a.SubtractContourOnImagePlane(_square(esapi, 4, 6, 4, 6, 4), 4)
    assert _voxels(a) == 1000 and stub.journal() == []


def test_an_approved_stub_structure_set_refuses_structures(fresh_session: Any, esapi: Any) -> None:
    """LRRC-02's planning structure set is approved: AddStructure is refused, CanAddStructure says so."""
    ctx = stub.load_context("LRRC-02")
    ctx.Patient.BeginModifications()
    assert not ctx.StructureSet.CanAddStructure("CONTROL", "NewOAR")
    with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException, match="approved"):
        ctx.StructureSet.AddStructure("ORGAN", "NewOAR")


def test_approved_structure_set_refuses_and_copies(fresh_session: Any) -> None:
    """An approved structure set refuses AddStructure and set_SegmentVolume; StructureSet.Copy gives an
    unapproved copy with every structure, which accepts them."""
    esapi = fresh_session
    ctx = _phantom(esapi, approved=True)
    ctx.Patient.BeginModifications()
    sset = next(iter(ctx.Patient.StructureSets))
    a = _phantom_structures(ctx)["A"]
    assert not sset.CanAddStructure("ORGAN", "New")
    assert not sset.CanRemoveStructure(a)
    denied = esapi.Model.UnauthorizedScriptingAPIAccessException
    with pytest.raises(denied, match="approved"):
        sset.AddStructure("ORGAN", "New")
    with pytest.raises(denied, match="approved"):
        a.SegmentVolume = a.Margin(2.0)
    ok, message = a.CanEditSegmentVolume("")
    assert not ok and "approved" in str(message)
    copy = sset.Copy()
    assert str(copy.Id) != str(sset.Id) and copy.Image == sset.Image
    copied = {str(s.Id): s for s in copy.Structures}
    assert sorted(copied) == ["A", "B", "Dot"] and _voxels(copied["A"]) == 1000
    assert copy.CanAddStructure("ORGAN", "PTV_opt")
    copied["A"].SegmentVolume = copied["A"].Margin(2.0)
    assert _voxels(copied["A"]) == 1600 and _voxels(a) == 1000
    assert copy.CanRemoveStructure(copied["Dot"])
    copy.RemoveStructure(copied["Dot"])
    assert sorted(str(s.Id) for s in copy.Structures) == ["A", "B"]


def test_create_new_structure_set(phantom: Any, esapi: Any) -> None:
    """Image.CreateNewStructureSet (15.5): an empty, writable set on that image with a unique id; segments
    of another structure set on the same image combine with it."""
    image = next(iter(phantom.Patient.StructureSets)).Image
    new = image.CreateNewStructureSet()
    assert list(new.Structures) == [] and new.Image == image
    assert len({str(s.Id) for s in phantom.Patient.StructureSets}) == 2
    target = new.AddStructure("PTV", "PTV_opt")
    target.SegmentVolume = _phantom_structures(phantom)["A"].Margin(2.0)
    assert _voxels(target) == 1600
    assert str(next(iter(stub.journal())).member) == "CreateNewStructureSet"


def test_segments_of_other_images_are_refused(phantom: Any, esapi: Any) -> None:
    """Segments combine only on one image (the stand-in's voxel grid)."""
    b, net = esapi.Builder, stub.net_array
    other = b.ModelBuilder.AddImage(phantom.Patient, "CT2", "1.2.3.5", net([0.0, 0.0, 0.0], "float64"),
                                    net([_MM] * 3, "float64"), net([8] * 3, "int32"),
                                    net(np.eye(3).ravel(), "float64"), net(np.full(8 ** 3, 1024), "int32"))
    other_set = b.ModelBuilder.AddStructureSet(phantom.Patient, "CT2", other, False)
    planes, counts, xyz = _box_contours(1, 3, 1, 3, 1, 3)
    small = b.ModelBuilder.AddStructure(other_set, "S", "ORGAN", net(planes, "int32"), net(counts, "int32"),
                                        net(xyz, "float64"))
    a = _phantom_structures(phantom)["A"]
    with pytest.raises(esapi.System.ArgumentException, match="same image"):
        a.Or(small.SegmentVolume)
    with pytest.raises(esapi.System.ArgumentException, match="another image"):
        a.SegmentVolume = small.SegmentVolume


# -- brachytherapy, plan copies, user --------------------------------------------------------------------
def _brachy_phantom(esapi: Any) -> Any:
    """The phantom with a completed course ``HDR`` holding a treated BrachyPlanSetup ``HDR_7x4`` (7 Gy × 4,
    a uniform 7 Gy × 4 = 28 Gy dose on box ``A``, 0 elsewhere), as the current plan of a plug-in context."""
    b, net = esapi.Builder, stub.net_array
    ctx = _phantom(esapi)
    patient = ctx.Patient
    sset = next(iter(patient.StructureSets))
    course = b.ModelBuilder.AddCourse(patient, "HDR", "2024-03-04T08:00:00", "2024-03-25T17:30:00")
    grid = (net([0.0, 0.0, 0.0], "float64"), net([_MM] * 3, "float64"), net([_N] * 3, "int32"),
            net(np.eye(3).ravel(), "float64"))
    plan = b.ModelBuilder.AddBrachyPlan(course, "HDR_7x4", sset, "A", 4, 28.0, "TreatmentApproved", True,
                                        100.0, *grid)
    dose = np.zeros((_N, _N, _N))
    dose[4:14, 4:14, 4:14] = 28.0
    b.ModelBuilder.SetDose(plan, *grid, net(dose.ravel(), "float64"))
    stub.reset()
    return b.StubSystem.CreatePluginContext(patient, course, plan, "brachy")


def test_brachy_plan_setup(fresh_session: Any) -> None:
    """BrachyPlanSetup derives from PlanSetup: prescription, fractions, approval, course and dose (DVH) are
    read as for an external plan; it is reachable from Course.BrachyPlanSetups and the ScriptContext."""
    esapi = fresh_session
    ctx = _brachy_phantom(esapi)
    plan = ctx.BrachyPlanSetup
    assert plan is not None and ctx.ExternalPlanSetup is None
    assert isinstance(plan, esapi.API.PlanSetup)
    assert plan.NumberOfFractions == 4 and _gy(plan.DosePerFraction) == pytest.approx(7.0)
    assert _gy(plan.TotalDose) == pytest.approx(28.0)
    assert str(plan.ApprovalStatus) == "TreatmentApproved" and plan.IsTreated
    assert str(plan.Course.Id) == "HDR" and plan.Course.CompletedDateTime is not None
    assert [str(p.Id) for p in ctx.Course.BrachyPlanSetups] == ["HDR_7x4"]
    assert [str(p.Id) for p in ctx.Course.PlanSetups] == ["HDR_7x4"]
    assert list(ctx.Course.ExternalPlanSetups) == []
    assert [str(p.Id) for p in ctx.BrachyPlansInScope] == ["HDR_7x4"]
    assert plan.IsDoseValid and _gy(plan.Dose.DoseMax3D) == pytest.approx(28.0, rel=1e-6)
    a = _phantom_structures(ctx)["A"]
    t = esapi.Types
    assert plan.GetVolumeAtDose(a, _dose(esapi, 27.9), t.VolumePresentation.AbsoluteCm3) == pytest.approx(8.0)
    ctx.Patient.BeginModifications()
    with pytest.raises(esapi.Model.UnauthorizedScriptingAPIAccessException):
        plan.SetPrescription(4, _dose(esapi, 6.0), 1.0)


def test_stub_patient_prior_plan_can_be_brachy(fresh_session: Any) -> None:
    """_populate: a stub plan whose ``modality`` is ``brachytherapy`` is built as a BrachyPlanSetup (no
    beams), the others as ExternalPlanSetups."""
    model = load_patient(LRRC)
    prior_course = next(c for c in model.courses if c.id != model.current_course_id)
    prior = prior_course.plans[0]

    @dataclasses.dataclass(frozen=True, eq=False)
    class BrachyPlan(PlanModel):
        modality: str = "brachytherapy"

    brachy = BrachyPlan(**{f.name: getattr(prior, f.name) for f in dataclasses.fields(PlanModel)
                           if f.name != "modality"})
    assert stub.is_brachy(brachy) and not stub.is_brachy(prior)
    courses = tuple(dataclasses.replace(c, plans=(brachy, *c.plans[1:])) if c is prior_course else c
                    for c in model.courses)
    ctx = stub.load_context(dataclasses.replace(model, courses=courses))
    net_course = next(c for c in ctx.Patient.Courses if str(c.Id) == prior_course.id)
    net_plan = next(iter(net_course.BrachyPlanSetups))
    assert str(net_plan.Id) == prior.id and list(net_plan.Beams) == []
    assert net_plan.NumberOfFractions == prior.n_fractions and net_plan.IsDoseValid
    assert _gy(net_plan.TotalDose) == pytest.approx(prior.prescription_gy)
    assert ctx.ExternalPlanSetup is not None and ctx.BrachyPlanSetup is None


def test_copy_plan_setup(ctx: Any, esapi: Any) -> None:
    """Course.CopyPlanSetup(PlanSetup): an unapproved copy with the source's prescription, beams and
    objectives, without dose; writes are guarded; brachytherapy plans are refused."""
    denied = esapi.Model.UnauthorizedScriptingAPIAccessException
    with pytest.raises(denied, match="BeginModifications"):
        ctx.Course.CopyPlanSetup(ctx.PlanSetup)
    ctx.Patient.BeginModifications()
    source = ctx.ExternalPlanSetup
    _sabr_objectives(esapi, ctx, "Gy")
    copy = ctx.Course.CopyPlanSetup(source)
    assert isinstance(copy, esapi.API.ExternalPlanSetup)
    assert str(copy.Id) == f"{source.Id}_1" and str(copy.Course.Id) == str(ctx.Course.Id)
    assert copy.NumberOfFractions == source.NumberOfFractions
    assert _gy(copy.TotalDose) == pytest.approx(_gy(source.TotalDose))
    assert len(list(copy.Beams)) == len(list(source.Beams))
    assert len(list(copy.OptimizationSetup.Objectives)) == 3
    assert not copy.IsDoseValid and str(copy.ApprovalStatus) == "UnApproved"
    prior = _prior_plan(ctx)
    from_prior = ctx.Course.CopyPlanSetup(prior)  # an approved plan of a completed course may be copied
    assert str(from_prior.ApprovalStatus) == "UnApproved" and not from_prior.IsTreated
    with pytest.raises(denied, match="completed"):
        prior.Course.CopyPlanSetup(prior)
    assert str(copy.Id) in {str(p.Id) for p in ctx.Course.PlanSetups}


def test_copy_plan_setup_refuses_brachy(fresh_session: Any) -> None:
    """CopyPlanSetup copies external-beam plans only (DEVIATIONS.md)."""
    esapi = fresh_session
    ctx = _brachy_phantom(esapi)
    ctx.Patient.BeginModifications()
    target = next(c for c in ctx.Patient.Courses if str(c.Id) == "C1")
    with pytest.raises(esapi.System.InvalidOperationException, match="external beam"):
        target.CopyPlanSetup(ctx.BrachyPlanSetup)


def test_current_user(ctx: Any, fresh_session: Any) -> None:
    """ScriptContext.CurrentUser and Application.CurrentUser: a User with Id, Name and Language."""
    user = ctx.CurrentUser
    assert (str(user.Id), str(user.Name), str(user.Language)) == ("reirrad-stub", "reirrad stub user", "ENU")
    stub.reset()
    app = stub.create_application("user-test")
    try:
        assert str(app.CurrentUser.Id) == "reirrad-stub"
    finally:
        app.Dispose()


def test_dvh_dose_in_another_unit_is_refused(ctx: Any, esapi: Any) -> None:
    """GetVolumeAtDose with a DoseValue in another unit than the system's throws with Eclipse's wording
    ("Dose Units do not match to system settings"); the system unit and % are accepted."""
    prior = _prior_plan(ctx)
    rectum = {str(s.Id): s for s in prior.StructureSet.Structures}["Rectum"]
    t = esapi.Types
    with pytest.raises(esapi.System.ArgumentException, match="Dose Units do not match to system settings"):
        prior.GetVolumeAtDose(rectum, _dose(esapi, 2000.0, "cGy"), t.VolumePresentation.AbsoluteCm3)
    in_gy = prior.GetVolumeAtDose(rectum, _dose(esapi, 20.0), t.VolumePresentation.Relative)
    assert 0.0 <= in_gy <= 100.0
    prior.GetVolumeAtDose(rectum, _dose(esapi, 50.0, "Percent"), t.VolumePresentation.Relative)


def test_copy_plan_setup_onto_another_structure_set(ctx: Any, esapi: Any) -> None:
    """CopyPlanSetup(PlanSetup, StructureSet, StringBuilder) (13.7): the copy uses the given structure set
    of the same image; objectives follow their structures by id, and what the set lacks is left out and
    reported in the diagnostics."""
    ctx.Patient.BeginModifications()
    _sabr_objectives(esapi, ctx, "Gy")
    source = ctx.ExternalPlanSetup
    new_set = ctx.StructureSet.Copy()
    new_set.RemoveStructure(next(s for s in new_set.Structures if str(s.Id) == "Bowel_Small"))
    diagnostics = esapi.System.Text.StringBuilder()
    copy = ctx.Course.CopyPlanSetup(source, new_set, diagnostics)
    assert copy.StructureSet == new_set and str(copy.TargetVolumeID) == str(source.TargetVolumeID)
    objectives = list(copy.OptimizationSetup.Objectives)
    assert sorted(str(o.StructureId) for o in objectives) == ["PTV", "Rectum"]
    assert all(any(o.Structure == s for s in new_set.Structures) for o in objectives)
    text = str(diagnostics.ToString())
    assert "Bowel_Small" in text and text.count("\n") == 1
    image = ctx.StructureSet.Image
    assert copy.StructureSet.Image == image
    foreign = _foreign_structure_set(esapi)
    with pytest.raises(esapi.System.ArgumentException, match="does not belong"):
        ctx.Course.CopyPlanSetup(source, foreign, diagnostics)
    b, net = esapi.Builder, stub.net_array
    other_image = b.ModelBuilder.AddImage(ctx.Patient, "CBCT", str(image.FOR),
                                          net([0.0, 0.0, 0.0], "float64"), net([_MM] * 3, "float64"),
                                          net([4] * 3, "int32"), net(np.eye(3).ravel(), "float64"),
                                          net(np.full(4 ** 3, 1024), "int32"))
    other_set = b.ModelBuilder.AddStructureSet(ctx.Patient, "CBCT", other_image, False)
    with pytest.raises(esapi.System.ArgumentException, match="source plan's image"):
        ctx.Course.CopyPlanSetup(source, other_set, diagnostics)


def _foreign_structure_set(esapi: Any) -> Any:
    """A structure set of another (phantom) patient."""
    b, net = esapi.Builder, stub.net_array
    patient = b.ModelBuilder.NewPatient("OTHER", "Other", "", "")
    image = b.ModelBuilder.AddImage(patient, "CT", "1.2.3.9", net([0.0, 0.0, 0.0], "float64"),
                                    net([_MM] * 3, "float64"), net([4] * 3, "int32"),
                                    net(np.eye(3).ravel(), "float64"), net(np.full(4 ** 3, 1024), "int32"))
    return b.ModelBuilder.AddStructureSet(patient, "CT", image, False)
