"""The RayStation adapter (``reirrad_tps.raystation``) against the RayStation stand-in, every profile
(the 11A-style prescription profile, 11B, 12A, 2024B).

Each test's docstring names its source of truth: the stub-patient model (``tps_stubs.patients``,
TOTAL Gy and mm by construction), a closed form from the stand-in planner, the stand-in's journal,
or a section of ``docs/reference/raystation.md`` (§n).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterator, List

import numpy as np
import pytest
import yaml

import tps_stubs.patients as stub_patients
import tps_stubs.raystation as rs
from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.errors import InputError
from reirrad.objectives import OptimizationObjective
from reirrad.ports import CaseSource, Planner
from reirrad.snapshot import CaseSnapshot
from reirrad.structures import structure_occupancy
from reirrad_tps.raystation import ApprovedPlanError, RayStationCaseSource, RayStationPlanner, entry
from reirrad_tps.raystation.grids import read_dose_grid
from tests.ports_support import exercise_planner, read_through_port
from tps_stubs.patients import load_patient
from tps_stubs.planner import conformal_dose, dose_grid_points
from tps_stubs.raystation.errors import ScriptException

VERSIONS = ("11A", "11B", "12A", "2024B")
#: What each stand-in profile spells (tps_stubs/raystation/versions.py; the adapter detects it).
PRIMARY = {"11A": "PrescriptionDoseReferences", "11B": "PrimaryDosePrescription",
           "12A": "PrimaryPrescriptionDoseReference", "2024B": "PrimaryPrescriptionDoseReference"}
ADD_RX = {"11A": "AddRoiPrescriptionDoseReference", "11B": "AddDosePrescriptionToRoi",
          "12A": "AddRoiPrescriptionDoseReference", "2024B": "AddRoiPrescriptionDoseReference"}


def _primary(beam_set: Any, version: str) -> Any:
    """The primary prescription as the profile spells it."""
    found = getattr(beam_set.Prescription, PRIMARY[version])
    return found[0] if version == "11A" else found
DEFINITIONS = Path(stub_patients.__file__).resolve().parent / "definitions"


@pytest.fixture(autouse=True)
def _unload() -> Iterator[None]:
    yield
    rs.unload()


def _source(version: str, **kwargs: Any) -> RayStationCaseSource:
    patient, case, plan, beam_set, exam = entry.current_objects(version)
    return RayStationCaseSource(case, plan, beam_set, exam, patient=patient, tps_version=version, **kwargs)


def _planner(version: str, **kwargs: Any) -> RayStationPlanner:
    _, case, plan, beam_set, _ = entry.current_objects(version)
    return RayStationPlanner(case, plan, beam_set, version=version, **kwargs)


def _read(version: str, patient: Any = "LRRC-01", **kwargs: Any) -> CaseSnapshot:
    rs.load(patient, version)
    return _source(version, **kwargs).read()


def _objectives(rx_gy: float) -> List[OptimizationObjective]:
    return [
        OptimizationObjective("PTV", "lower", rx_gy, 95.0, 80.0, "target"),
        OptimizationObjective("PTV", "max", 1.4 * rx_gy, 0.0, 80.0, "target"),
        OptimizationObjective("SacralPlex", "upper", 24.0, 1.0, 100.0, "oar"),
        OptimizationObjective("SacralPlex", "max", 27.0, 0.0, 100.0, "oar"),
        OptimizationObjective("Rectum", "mean", 10.0, 0.0, 95.0, "oar"),
    ]


@pytest.fixture(scope="module", params=VERSIONS)
def lrrc01(request: Any) -> Any:
    """(version, snapshot) of LRRC-01 read once per version."""
    snapshot = _read(request.param, prior_dates={"PELVIS_45": dt.date(2024, 6, 7)},
                     planned_start=dt.date(2026, 12, 7))
    rs.unload()
    return request.param, snapshot


@pytest.fixture(scope="module")
def variant(tmp_path_factory: Any) -> Path:
    """LRRC-01 with a prescription on the prior plan (45 Gy on PTV) and none on the new plan."""
    raw = yaml.safe_load((DEFINITIONS / "LRRC-01.yaml").read_text(encoding="utf-8"))
    raw["id"] = "LRRC-RX"
    prior, new = raw["courses"][0]["plans"][0], raw["courses"][1]["plans"][0]
    prior["target"] = "PTV"
    del new["prescription_gy"]
    path = Path(tmp_path_factory.mktemp("patients")) / "LRRC-RX.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


# -- reading ---------------------------------------------------------------------------------------
def test_read_lrrc01_prior_dose_is_the_model_total_in_gy(lrrc01: Any) -> None:
    """Stub model: the prior TotalDose read back equals the model's TOTAL Gy values on its own grid (mm,
    centres)."""
    version, snapshot = lrrc01
    model = load_patient("LRRC-01").prior_plans()[0]
    assert model.dose is not None
    (prior,) = snapshot.prior_courses
    np.testing.assert_allclose(prior.dose.values_gy, model.dose.values_gy, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(prior.dose.origin_mm, model.dose.origin_mm, atol=1e-9)
    np.testing.assert_allclose(prior.dose.spacing_mm, model.dose.spacing_mm, atol=1e-12)
    assert (prior.plan_id, prior.n_fractions, prior.approval_status) == ("PELVIS_45", 25, "Approved")
    assert prior.planning_to_dose is None and prior.registration_id is None
    assert prior.registration_kind == "same-frame"
    assert prior.last_fraction == dt.date(2024, 6, 7) and snapshot.planned_start == dt.date(2026, 12, 7)
    assert prior.dose.frame_of_reference_uid == snapshot.planning_frame_of_reference_uid
    assert (snapshot.tps, snapshot.tps_version, snapshot.patient_id) == ("RayStation", version, "LRRC-01")


def test_read_lrrc01_plan_and_dose_grid(lrrc01: Any) -> None:
    """§12.1 / §5.3 + stub model: 5 fractions, 30 Gy TOTAL on PTV, writable; grid origin = (Corner +
    VoxelSize/2)·10 mm."""
    version, snapshot = lrrc01
    plan = snapshot.plan
    assert (plan.id, plan.n_fractions, plan.prescription_gy, plan.target_id) == ("SABR_REIRR", 5, 30.0, "PTV")
    assert plan.has_beams and plan.writable and plan.approval_status == "NotReviewed"
    connect = rs.load("LRRC-01", version)
    grid = connect.get_current("BeamSet").GetDoseGrid()
    corner = np.array([grid.Corner[a] for a in "xyz"])
    voxel = np.array([grid.VoxelSize[a] for a in "xyz"])
    np.testing.assert_allclose(snapshot.dose_grid.origin_mm, (corner + voxel / 2.0) * 10.0, atol=1e-9)
    np.testing.assert_allclose(snapshot.dose_grid.spacing_mm, voxel * 10.0, atol=1e-12)
    assert snapshot.dose_grid.shape == (grid.NrVoxels["z"], grid.NrVoxels["y"], grid.NrVoxels["x"])


def test_read_lrrc01_structures_are_contours_in_mm(lrrc01: Any) -> None:
    """Stub model: PTV and SacralPlex come back as the model's contours in mm (RayStation gives cm)."""
    _, snapshot = lrrc01
    model = load_patient("LRRC-01").structure_set("CT_PLAN")
    for name in ("PTV", "SacralPlex"):
        read = snapshot.structure(name)
        expected = model.structure(name).all_contours()
        assert len(read.contours_mm) == len(expected) > 0
        for got, want in zip(read.contours_mm, expected):
            np.testing.assert_allclose(got, want, atol=1e-9)
    assert snapshot.structure("PTV").dicom_type == "PTV"
    assert snapshot.structure("SacralPlex").dicom_type == "ORGAN"


@pytest.mark.parametrize("version", VERSIONS)
def test_cgy_and_per_fraction_confusions_would_show(version: str) -> None:
    """Stub model (45 Gy/25 conformal prior): max ≈ 45 Gy, not 4500 (cGy) nor 1.8 (one fraction);
    FractionDose × 25 = TotalDose."""
    snapshot = _read(version)
    prior = snapshot.prior_courses[0]
    assert prior.dose.values_gy.max() == pytest.approx(45.0, rel=0.02)
    assert snapshot.plan.prescription_gy == pytest.approx(30.0)  # 3000 cGy TOTAL, not 3000 or 6
    case = rs.load("LRRC-01", version).get_current("Case")
    beam_set = case.TreatmentPlans["PELVIS_45"].BeamSets[0]
    one_fraction_cgy = beam_set.FractionDose.DoseValues.DoseData.max()
    assert one_fraction_cgy == pytest.approx(180.0, rel=0.02)
    from_fraction = read_dose_grid(beam_set.FractionDose)
    np.testing.assert_allclose(from_fraction.values_gy, prior.dose.values_gy, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("version", VERSIONS)
def test_prior_prescription_is_read_as_total_gy(version: str, variant: Path) -> None:
    """§12.1 (DoseValue TOTAL cGy): a prior plan with a 4500 cGy prescription reads as 45 Gy; no prescription
    → None."""
    snapshot = _read(version, variant)
    assert snapshot.prior_courses[0].prescription_gy == pytest.approx(45.0)
    assert (snapshot.plan.prescription_gy, snapshot.plan.target_id) == (None, None)


def _coarse(snapshot: CaseSnapshot) -> DoseGrid:
    """A 10 mm grid in the planning frame over the new plan's dose grid (keeps the closed form quick)."""
    grid = snapshot.dose_grid
    nz, ny, nx = grid.shape
    size = (nz * grid.spacing_mm[2] // 10, ny * grid.spacing_mm[1] // 10, nx * grid.spacing_mm[0] // 10)
    return DoseGrid(np.zeros(tuple(max(int(n), 1) for n in size)), grid.origin_mm, (10.0, 10.0, 10.0),
                    frame_of_reference_uid=grid.frame_of_reference_uid)


REG01_BOX = {"box": {"centre": [0, 30, -20], "half_size": [60, 55, 70]}}


def _central_points() -> np.ndarray:
    """The planning-frame sample points of tests/stubs/test_patients.py (5 x 5 x 7, 20 mm apart)."""
    return np.asarray(dose_grid_points((-40.0, 0.0, -60.0), (20.0, 20.0, 20.0), (5, 5, 7), np.eye(3)))


def _check_against_closed_form(mapped: Any) -> None:
    """REG-01 prior dose in the planning frame vs the conformal 50.4 Gy dose evaluated there.

    At the stub test's central points: within 2 % of 50.4 Gy. Over the whole (10 mm) grid: 99.9 % of
    the covered voxels within 2 % and all within 3 % (trilinear error in the steep 10 mm penumbra).
    """
    target = mapped.grid
    points = np.concatenate([target.voxel_centres_mm(k) for k in range(target.shape[0])])
    expected = conformal_dose(REG01_BOX, points, 50.4, falloff_mm=10.0).reshape(target.shape)
    inside = mapped.inside
    assert inside.mean() > 0.5  # the prior CT is shifted: part of the planning grid is outside it
    error = np.abs(target.values_gy[inside] - expected[inside])
    assert np.mean(error <= 0.02 * 50.4) >= 0.999 and error.max() <= 0.03 * 50.4


@pytest.mark.parametrize("version", VERSIONS)
def test_reg01_rigid_registration_maps_the_prior_dose(version: str) -> None:
    """tests/stubs/test_patients.py closed form: the prior dose through planning_to_dose is the conformal
    50.4 Gy dose (2 %)."""
    snapshot = _read(version, "REG-01")
    prior = snapshot.prior_courses[0]
    assert prior.planning_to_dose is not None and prior.registration_id == "rigid CT_PLAN -> CT_PRIOR"
    assert prior.registration_kind == "rigid"
    prior_to_planning = load_patient("REG-01").registrations[0].matrix  # mm, prior → planning
    np.testing.assert_allclose(prior.planning_to_dose @ prior_to_planning, np.eye(4), atol=1e-9)
    assert prior.dose.frame_of_reference_uid != snapshot.planning_frame_of_reference_uid
    assert (prior.n_fractions, rs.journal()) == (28, [])
    central, matrix = _central_points(), prior.planning_to_dose
    sampled, inside = prior.dose.sample(central @ matrix[:3, :3].T + matrix[:3, 3])
    assert inside.all()
    expected = conformal_dose(REG01_BOX, central, 50.4, falloff_mm=10.0)
    np.testing.assert_allclose(sampled, expected, atol=0.02 * 50.4)
    _check_against_closed_form(prior.dose.resample(_coarse(snapshot), prior.planning_to_dose))


@pytest.mark.parametrize("direction", ["from-to", "to-from"])
@pytest.mark.parametrize("version", VERSIONS)
def test_the_registration_matrix_direction_is_checked_and_either_reading_places_the_dose(
        version: str, direction: str) -> None:
    """The direction of GetTransformForExaminations' matrix is not documented (§8); the stand-in models
    both readings (``transform_direction``). The adapter checks it against
    TransformPointFromExaminationToExamination (From → To by its name): under either reading
    planning_to_dose is the inverse of the stub model's prior → planning matrix (closed form: M⁻¹·M = I),
    the reading used is recorded, the inverse with an ``info`` finding; nothing is written."""
    rs.load("REG-01", version, transform_direction=direction)
    source = _source(version)
    snapshot = source.read()
    prior_to_planning = load_patient("REG-01").registrations[0].matrix  # mm, prior → planning
    np.testing.assert_allclose(snapshot.prior_courses[0].planning_to_dose @ prior_to_planning, np.eye(4),
                               atol=1e-9)
    codes = {f.code for f in snapshot.source_findings}
    assert "registration-direction-unchecked" not in codes
    if direction == "from-to":
        assert source.call_forms["transform_direction"].startswith("p_To = M p_From (checked")
        assert "registration-matrix-inverse" not in codes
    else:
        assert source.call_forms["transform_direction"].startswith("p_From = M p_To: the inverse used")
        (inverse,) = [f for f in snapshot.source_findings if f.code == "registration-matrix-inverse"]
        assert inverse.severity == "info" and "'CT_PRIOR' to 'CT_PLAN'" in inverse.message
    assert rs.journal() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unchecked_or_contradictory_registration_direction(version: str, monkeypatch: Any) -> None:
    """Without the point call (absent in a version, or failing) the matrix is used as public scripts read
    it, with a ``flag`` naming both examinations; a point call that agrees with neither the matrix nor
    its inverse (here: the identity, while REG-01's registration is a shift and a rotation) is refused
    naming both distances, and nothing is written."""
    from tps_stubs.raystation.patient_objects import Case  # noqa: PLC0415

    rs.load("REG-01", version, transform_direction="from-to")
    expected = np.linalg.inv(load_patient("REG-01").registrations[0].matrix)

    def missing(self: Any, **kwargs: Any) -> Any:
        raise AttributeError("'Case' object has no attribute 'TransformPointFromExaminationToExamination'")

    monkeypatch.setattr(Case, "TransformPointFromExaminationToExamination", missing)
    source = _source(version)
    snapshot = source.read()
    np.testing.assert_allclose(snapshot.prior_courses[0].planning_to_dose, expected, atol=1e-9)
    (flag,) = [f for f in snapshot.source_findings if f.code == "registration-direction-unchecked"]
    assert flag.severity == "flag" and "'CT_PLAN' to 'CT_PRIOR'" in flag.message
    assert "AttributeError" in source.call_forms["transform_direction"]

    monkeypatch.setattr(Case, "TransformPointFromExaminationToExamination",
                        lambda self, **kwargs: dict(kwargs["Point"]))
    with pytest.raises(InputError, match=r"does not agree with itself.*mm \(its inverse .* mm\).*check the "
                                         r"registration"):
        _source(version).read()
    assert rs.journal() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_reg01_deformable_registration_maps_with_map_dose(version: str) -> None:
    """§7.3 (MapDose, version keywords) + the closed form: a mapped TOTAL dose on the planning grid, no
    matrix."""
    connect = rs.load("REG-01", version)
    case = connect.get_current("Case")
    case.PatientModel.CreateHybridDeformableRegistrationGroup(
        RegistrationGroupName="DIR", ReferenceExaminationName="CT_PLAN", TargetExaminationNames=["CT_PRIOR"]
    )
    snapshot = _source(version).read()
    prior = snapshot.prior_courses[0]
    assert prior.planning_to_dose is None and prior.registration_id == "deformable DIR CT_PRIOR"
    # Issue 14 item 9: no matrix, yet NOT the same frame; the kind says it was mapped deformably.
    assert prior.registration_kind == "deformable"
    assert prior.dose.frame_of_reference_uid == snapshot.planning_frame_of_reference_uid
    assert prior.dose.same_geometry(snapshot.dose_grid)
    (call,) = [e for e in rs.journal() if e.member == "MapDose"]
    keywords = {"FractionEvaluationIndex"} if version == "2024B" else {"FractionNumber",
                                                                      "SetTotalDoseEstimateReference"}
    assert keywords <= set(call.arguments) and call.outcome == "ok"
    sampled, inside = prior.dose.sample(_central_points())
    assert inside.all()
    expected = conformal_dose(REG01_BOX, _central_points(), 50.4, falloff_mm=10.0)
    np.testing.assert_allclose(sampled, expected, atol=0.02 * 50.4)
    rigid = _source(version, deformable=False).read().prior_courses[0]
    assert rigid.planning_to_dose is not None and rigid.registration_kind == "rigid"
    through_matrix = rigid.dose.resample(snapshot.dose_grid, rigid.planning_to_dose)
    covered = through_matrix.inside
    np.testing.assert_allclose(prior.dose.values_gy[covered], through_matrix.grid.values_gy[covered],
                               rtol=1e-9, atol=1e-9)
    assert len([e for e in rs.journal() if e.member == "MapDose"]) == 1  # deformable=False writes nothing


@pytest.mark.parametrize("version", VERSIONS)
def test_two01_has_two_prior_courses(version: str) -> None:
    """Stub model TWO-01: two prior plans (45 Gy/25, 20 Gy/5) with their own fractions and dates."""
    dates = {"PELVIS_45": dt.date(2023, 8, 7), "PALL_20": dt.date(2025, 12, 7)}
    snapshot = _read(version, "TWO-01", prior_dates=dates)
    by_plan = {p.plan_id: p for p in snapshot.prior_courses}
    assert sorted(by_plan) == ["PALL_20", "PELVIS_45"]
    assert (by_plan["PELVIS_45"].n_fractions, by_plan["PALL_20"].n_fractions) == (25, 5)
    assert {k: p.last_fraction for k, p in by_plan.items()} == dates
    assert by_plan["PALL_20"].dose.values_gy.max() == pytest.approx(20.0, rel=0.02)
    only = _source(version, prior_plan_names=["PALL_20"]).read()
    assert [p.plan_id for p in only.prior_courses] == ["PALL_20"]


@pytest.mark.parametrize("version", VERSIONS)
def test_bad_prior_arguments_name_the_value_and_the_fix(version: str) -> None:
    """Brief (InputError naming what, the value and the fix): unknown plan names and non-date dates are
    refused."""
    rs.load("LRRC-01", version)
    with pytest.raises(InputError, match=r"prior_dates names \['PELVIS_54'\].*PELVIS_45"):
        _source(version, prior_dates={"PELVIS_54": dt.date(2024, 6, 7)}).read()
    with pytest.raises(InputError, match=r"datetime\.date"):
        _source(version, prior_dates={"PELVIS_45": "2024-06-07"})
    with pytest.raises(InputError, match="never a prior course"):
        _source(version, prior_plan_names=["SABR_REIRR"]).read()
    with pytest.raises(InputError, match="not a plan of case"):
        _source(version, prior_plan_names=["NOPE"]).read()
    with pytest.raises(InputError, match="not supported"):
        _source("10B")


@pytest.mark.parametrize("version", VERSIONS)
def test_an_approved_plan_reads_as_not_writable(version: str) -> None:
    """§14.6 (plan.Review.ApprovalStatus == 'Approved' locks the plan): PlanInfo.writable is False."""
    connect = rs.load("LRRC-01", version)
    patient, case = connect.get_current("Patient"), connect.get_current("Case")
    prior = case.TreatmentPlans["PELVIS_45"]
    beam_set = prior.BeamSets[0]
    source = RayStationCaseSource(case, prior, beam_set, beam_set.GetPlanningExamination(),
                                  patient=patient, tps_version=version)
    snapshot = source.read()
    assert (snapshot.plan.writable, snapshot.plan.approval_status) == (False, "Approved")
    assert [p.plan_id for p in snapshot.prior_courses] == []  # only other plans are priors


@pytest.mark.parametrize("version", VERSIONS)
def test_the_adapters_satisfy_the_engine_ports(version: str) -> None:
    """reirrad.ports, by signature and behaviour (tests/ports_support.py): every Protocol method exists
    with the Protocol's parameters; driven only through the ports with their keyword names, the plan
    is optimised, its dose computed, and normalising to 1.1 × the engine-measured D95 scales the whole
    dose by one factor of 1.1 (±3 %: the stand-in's RayStation measures D95 at voxel centres, its ROI
    model, while reirrad samples the PTV's boundary voxels finer; on LRRC-01's PTV the two D95 differ by
    2.7 %), so the engine then measures 1.1 × the old D95 within the same 3 %; RayStation keeps no
    normalisation record (``normalise`` returns None)."""
    rs.load("LRRC-01", version)
    source: CaseSource = _source(version)
    planner: Planner = _planner(version)
    snapshot = read_through_port(source)
    _, _, record = exercise_planner(planner, snapshot, "PTV", _objectives(30.0), rel_tol=0.03)
    assert record is None


# -- writing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_writes_in_one_undo_step_in_cgy_totals(version: str) -> None:
    """Stand-in planner docstring (max ≈ 1.2 × Rx) + journal: prescription and levels written as TOTAL cGy."""
    rs.load("LRRC-01", version)
    planner = _planner(version)
    with entry.undoable("Re-irradiation plan", version):
        planner.set_prescription(35.0, 5)
        planner.write_objectives(_objectives(35.0))
        planner.optimise()
        dose = planner.compute_dose()
    assert isinstance(dose, DoseGrid) and dose.values_gy.max() == pytest.approx(1.2 * 35.0, rel=0.05)
    journal = rs.journal()
    assert [(e.member, e.arguments["value"]) for e in journal if e.member in ("DoseValue", "DoseLevel")] == [
        ("DoseValue", 3500.0), ("DoseLevel", 3500.0), ("DoseLevel", 4900.0), ("DoseLevel", 2400.0),
        ("DoseLevel", 2700.0), ("DoseLevel", 1000.0),
    ]
    functions = [e.arguments["FunctionType"] for e in journal if e.member == "AddOptimizationFunction"]
    assert functions == ["MinDvh", "MaxDose", "MaxDvh", "MaxDose", "MaxEud"]
    assert [e.arguments["value"] for e in journal if e.member == "PercentVolume"] == [95.0, 1.0]
    assert [e.arguments["value"] for e in journal if e.member == "EudParameterA"] == [1.0]
    history = rs.current_session().undo_history
    assert [step.name for step in history] == ["Re-irradiation plan"]
    assert all(e.composite == "Re-irradiation plan" for e in journal)


@pytest.mark.parametrize("version", VERSIONS)
def test_write_objectives_replaces_the_existing_functions(version: str) -> None:
    """Planner port ("Replace the plan's optimisation objectives") + §11.1: old objectives and constraints
    go."""
    connect = rs.load("LRRC-01", version)
    po = connect.get_current("Plan").PlanOptimizations[0]
    po.AddOptimizationFunction(FunctionType="MaxDose", RoiName="Bladder")
    po.AddOptimizationFunction(FunctionType="MaxDose", RoiName="Rectum", IsConstraint=True)
    planner = _planner(version)
    planner.write_objectives(_objectives(30.0)[:2])
    rois = [f.ForRegionOfInterest.Name for f in po.Objective.ConstituentFunctions]
    assert rois == ["PTV", "PTV"] and len(po.Constraints) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_hard_objectives_are_constraints_without_a_weight(version: str) -> None:
    """Issue 14 item 7 + §11.1 ("Constraints: po.Constraints[j]") + public 2024B scripts
    (mialar/autoscript_lung ENLUCA_func_defs.py: a constraint gets its DoseLevel, no Weight): a hard
    objective is added with IsConstraint=True and lands in po.Constraints; soft ones stay weighted
    objectives; no Weight is written on a constraint."""
    connect = rs.load("LRRC-01", version)
    objectives = _objectives(30.0)
    objectives[2] = OptimizationObjective("SacralPlex", "upper", 24.0, 1.0, 100.0, "oar", hard=True)
    objectives[3] = OptimizationObjective("SacralPlex", "max", 27.0, 0.0, 100.0, "oar", hard=True)
    _planner(version).write_objectives(objectives)
    po = connect.get_current("Plan").PlanOptimizations[0]
    constraints = [(f.ForRegionOfInterest.Name, f.DoseFunctionParameters.FunctionType,
                    f.DoseFunctionParameters.DoseLevel) for f in po.Constraints]
    assert constraints == [("SacralPlex", "MaxDvh", 2400.0), ("SacralPlex", "MaxDose", 2700.0)]
    assert po.Constraints[0].DoseFunctionParameters.PercentVolume == 1.0
    soft = [(f.ForRegionOfInterest.Name, f.DoseFunctionParameters.Weight)
            for f in po.Objective.ConstituentFunctions]
    assert soft == [("PTV", 80.0), ("PTV", 80.0), ("Rectum", 95.0)]
    journal = rs.journal()
    adds = [(e.arguments["RoiName"], e.arguments["IsConstraint"]) for e in journal
            if e.member == "AddOptimizationFunction"]
    assert adds == [("PTV", False), ("PTV", False), ("SacralPlex", True), ("SacralPlex", True),
                    ("Rectum", False)]
    weights = [e.path for e in journal if e.member == "Weight"]
    assert len(weights) == 3 and not any("Constraints" in path for path in weights)
    # written again: the old constraints are deleted first, never duplicated
    _planner(version).write_objectives(objectives)
    assert len(po.Constraints) == 2 and len(po.Objective.ConstituentFunctions) == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_normalise_returns_none_in_raystation(version: str) -> None:
    """Planner port: normalise returns the TPS's own record of the normalisation, else None; §12.2 names
    no normalisation figure RayStation keeps (the scaling changes the monitor units)."""
    rs.load("LRRC-01", version)
    planner = _planner(version)
    planner.write_objectives(_objectives(30.0))
    planner.optimise()
    planner.compute_dose()
    assert planner.normalise("PTV", 31.0, 95.0) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_normalise_meets_the_dose_at_volume(version: str) -> None:
    """§12.2 (version's scaling call) + engine DVH scored at voxel centres, the stand-in's RayStation
    statistics (tps_stubs/raystation/grids.py): after normalise(PTV, 32 Gy, 95 %) the PTV D95 is 32 Gy."""
    rs.load("LRRC-01", version)
    planner = _planner(version)
    planner.write_objectives(_objectives(30.0))
    planner.optimise()
    planner.compute_dose()
    planner.normalise("PTV", 32.0, 95.0)
    dose = planner.compute_dose()
    contours = load_patient("LRRC-01").structure_set("CT_PLAN").structure("PTV").all_contours()
    dvh = DVH.from_dose(dose, structure_occupancy(list(contours), dose, sub_samples=1))
    assert dvh.dose_at_volume_pct(95.0) == pytest.approx(32.0, rel=1e-6)
    scaling = "ScaleToDoseGoal" if version == "2024B" else "NormalizeToPrescription"
    (call,) = [e for e in rs.journal() if e.member == scaling]
    assert (call.arguments["DoseValue"], call.arguments["DoseVolume"]) == (3200.0, 95.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_missing_prescription_is_added_with_the_version_call(version: str, variant: Path) -> None:
    """§12.1 / §14.2: 11B AddDosePrescriptionToRoi, 12A+ AddRoiPrescriptionDoseReference; DoseValue TOTAL
    cGy."""
    connect = rs.load(variant, version)
    with pytest.raises(InputError, match="has no prescription; pass target_roi"):
        _planner(version).set_prescription(30.0, 5)
    _planner(version, target_roi="PTV", prescription_volume_pct=95.0).set_prescription(32.5, 5)
    method = ADD_RX[version]
    (call,) = [e for e in rs.journal() if e.member == method]
    assert (call.arguments["RoiName"], call.arguments["DoseValue"], call.arguments["DoseVolume"]) == (
        "PTV", 3250.0, 95.0)
    reference = _primary(connect.get_current("BeamSet"), version)
    assert (reference.OnStructure.Name, reference.DoseValue) == ("PTV", 3250.0)
    with pytest.raises(InputError, match="not on target_roi 'CTV'"):
        _planner(version, target_roi="CTV").set_prescription(30.0, 5)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_exception_inside_undoable_rolls_everything_back(version: str) -> None:
    """§2 CompositeAction (the stand-in, in its rollback mode, undoes the step on an exception, which
    propagates): the plan is unchanged."""
    connect = rs.load("LRRC-01", version, rollback=True)
    planner = _planner(version)
    with pytest.raises(RuntimeError, match="engine failed"), entry.undoable("Re-irradiation plan", version):
        planner.set_prescription(35.0, 5)
        planner.write_objectives(_objectives(35.0))
        planner.optimise()
        raise RuntimeError("engine failed")
    beam_set = connect.get_current("BeamSet")
    assert _primary(beam_set, version).DoseValue == 3000.0
    assert connect.get_current("Plan").PlanOptimizations[0].Objective is None
    assert beam_set.FractionDose.DoseValues is None
    assert rs.journal() and all(e.rolled_back for e in rs.journal())
    assert rs.current_session().undo_history == []


@pytest.mark.parametrize("version", VERSIONS)
def test_an_approved_plan_is_refused_before_any_call(version: str) -> None:
    """§14.6 + brief: every write on an approved plan raises ApprovedPlanError (an InputError) and writes
    nothing."""
    connect = rs.load("LRRC-01", version)
    prior = connect.get_current("Case").TreatmentPlans["PELVIS_45"]
    planner = RayStationPlanner(connect.get_current("Case"), prior, prior.BeamSets[0], version=version)
    attempts = [
        lambda: planner.set_prescription(35.0, 25),
        lambda: planner.write_objectives(_objectives(35.0)),
        planner.optimise,
        planner.compute_dose,
        lambda: planner.normalise("PTV", 35.0, 95.0),
    ]
    for attempt in attempts:
        with pytest.raises(ApprovedPlanError, match=r"PELVIS_45' is approved.*Nothing was written"):
            attempt()
    assert issubclass(ApprovedPlanError, InputError) and rs.journal() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_missing_roi_is_named_and_nothing_is_written(version: str) -> None:
    """§4 ("No ROI named" / "exists no ROI"): an objective on an unknown ROI names it, before any write."""
    rs.load("LRRC-01", version)
    planner = _planner(version)
    objectives = [*_objectives(30.0), OptimizationObjective("Bowel_Smal", "upper", 20.0, 2.0, 90.0, "oar")]
    with pytest.raises(InputError, match=r"No ROI named 'Bowel_Smal'"):
        planner.write_objectives(objectives)
    with pytest.raises(InputError, match="exists no ROI named"):
        planner.normalise("PTV_typo", 30.0, 95.0)
    assert rs.journal() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_bad_planner_values_are_refused(version: str) -> None:
    """§12.1 (NumberOfFractions is read-only) and the engine's units: wrong fractions and kinds are
    refused."""
    rs.load("LRRC-01", version)
    planner = _planner(version)
    with pytest.raises(InputError, match="has 5 fractions but 3 were requested"):
        planner.set_prescription(30.0, 3)
    with pytest.raises(InputError, match="dose_gy must be > 0 Gy"):
        planner.set_prescription(0.0, 5)
    lower_at_zero = OptimizationObjective("PTV", "lower", 30.0, 0.0, 80.0, "target")
    with pytest.raises(InputError, match="needs a volume > 0 %"):
        planner.write_objectives([lower_at_zero])
    assert rs.journal() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_already_computed_dose_is_not_a_failure(version: str) -> None:
    """§4 / §11.3 / §14.9: "Dose has already been computed with the current parameters" means the dose is
    current."""
    connect = rs.load("LRRC-01", version)
    po = connect.get_current("Plan").PlanOptimizations[0]
    po.OptimizationParameters.DoseCalculation.ComputeFinalDose = True
    planner = _planner(version)
    planner.write_objectives(_objectives(30.0))
    planner.optimise()
    first = planner.compute_dose()
    second = planner.compute_dose()
    np.testing.assert_array_equal(first.values_gy, second.values_gy)
    outcomes = [e.outcome for e in rs.journal() if e.member == "ComputeDose"]
    assert len(outcomes) == 2 and all("already been computed" in o for o in outcomes)


# -- entry -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_progress_is_an_int_clamped_to_0_100(version: str) -> None:
    """§2 / §14.4 (set_progress refuses floats): progress rounds and clamps; nothing is shown when
    headless."""
    rs.load("LRRC-01", version)
    entry.progress(12.7, "Optimising", version)
    entry.progress(140.0, "Done", version)
    entry.progress(-3, "Start", version)
    entry.progress(float("nan"), "Waiting", version)
    shown = rs.current_session().progress
    assert shown == [("Optimising", 13, None), ("Done", 100, None), ("Start", 0, None), ("Waiting", -1, None)]
    assert all(type(p) is int for _, p, _ in shown)
    rs.load("LRRC-01", version, gui=False)
    entry.progress(50.0, "Headless", version)
    assert rs.current_session().progress == []


@pytest.mark.parametrize("version", VERSIONS)
def test_progress_and_messages_without_is_gui_disabled(version: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """§1.4 shows ``is_gui_disabled`` in 11B-SP2's module alone: a module without it (``gui_probe=False``)
    still shows progress and messages with a GUI; headless, ``set_progress`` is still called (the stand-in
    records it: §1.4 names ``await_user_input`` and ``get_current('ui')`` as the calls that raise) and
    ``await_user_input`` fails and is logged instead, so a message neither ends the run nor hides the
    error it reports."""
    connect = rs.load("LRRC-01", version, gui_probe=False)
    assert not hasattr(connect, "is_gui_disabled")
    entry.progress(40.0, "Optimising", version)
    entry.notify("Check the objectives", version)
    assert rs.current_session().progress == [("Optimising", 40, None)]
    assert rs.current_session().prompts == ["Check the objectives"]
    rs.load("LRRC-01", version, gui=False, gui_probe=False)
    with caplog.at_level("INFO", logger="reirrad_tps.raystation.entry"):
        entry.progress(50.0, "Headless", version)
        entry.notify("reirrad stopped: the prior plan is not approved", version)
    assert rs.current_session().progress == [("Headless", 50, None)] and rs.current_session().prompts == []
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("reirrad stopped: the prior plan is not approved (not shown in RayStation:")
               for m in logged)


@pytest.mark.parametrize("version", VERSIONS)
def test_gui_call_errors_propagate_when_the_gui_state_is_known(version: str, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """With ``is_gui_disabled`` present and False, a failing ``set_progress`` is an error of the call
    (e.g. a wrong type), not a missing GUI: it propagates. Without ``is_gui_disabled`` the same failure is
    logged (the GUI state is unknown)."""

    def broken(message: str, percentage: int = -1, operation: Any = None) -> None:
        raise TypeError("No method matches given arguments for SetProgress")

    monkeypatch.setattr(rs.load("LRRC-01", version), "set_progress", broken)
    with pytest.raises(TypeError, match="SetProgress"):
        entry.progress(10.0, "Optimising", version)
    monkeypatch.setattr(rs.load("LRRC-01", version, gui_probe=False), "set_progress", broken)
    entry.progress(10.0, "Optimising", version)  # logged, not raised


@pytest.mark.parametrize("version", VERSIONS)
def test_current_objects_and_nothing_loaded(version: str) -> None:
    """§3 / §4 (get_current raises SystemError when nothing is open): a clear InputError names the missing
    object."""
    connect = rs.load("LRRC-01", version)
    patient, case, plan, beam_set, exam = entry.current_objects(version)
    assert patient.Equals(connect.get_current("Patient")) and plan.Name == "SABR_REIRR"
    assert exam.Equals(beam_set.GetPlanningExamination()) and case.CaseName == "Case 1"
    rs.load("LRRC-01", version, open_plan=False)
    with pytest.raises(InputError, match="No patient/plan loaded: RayStation has no current Plan"):
        entry.current_objects(version)
    rs.load(None, version)
    with pytest.raises(InputError, match="No patient/plan loaded: RayStation has no current Patient"):
        entry.current_objects(version)
    rs.unload()
    with pytest.raises(InputError, match="cannot be imported"):
        entry.current_objects(version)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_planning_examination_is_used_whatever_is_displayed(version: str) -> None:
    """§3 (beam_set.GetPlanningExamination): current_objects returns the planning CT; the source refuses
    another CT."""
    connect = rs.load("REG-01", version)
    case = connect.get_current("Case")
    rs.current_session().state["Examination"] = case.Examinations["CT_PRIOR"]  # the user looks at the old CT
    patient, _, plan, beam_set, exam = entry.current_objects(version)
    assert exam.Name == "CT_PLAN"
    with pytest.raises(InputError, match="'CT_PRIOR' is not the planning examination 'CT_PLAN'"):
        RayStationCaseSource(case, plan, beam_set, case.Examinations["CT_PRIOR"], patient=patient,
                             tps_version=version).read()


# -- mesh ROIs ---------------------------------------------------------------------------------------
MESH = {"mesh_rois": ("Bladder",), "helper_mesh_rois": {"Couch": "Support"}}


def _volume_cc(snapshot: CaseSnapshot, name: str) -> float:
    (structure,) = [s for s in snapshot.structures if s.id == name]
    return float(structure_occupancy(list(structure.contours_mm), snapshot.dose_grid).volume_cc)


@pytest.mark.parametrize("version", VERSIONS)
def test_mesh_rois_are_voxelised_through_raystation_or_skipped(version: str) -> None:
    """docs/reference/raystation-public-scripts.md R11 (mesh ROIs have no ``Contours``), R6 and
    docs/reference/raystation.md §9 (``GetRoiGeometryAsVoxels(Corner, VoxelSize, NrVoxels)``, 0–255): an
    organ as a mesh is read from RayStation's voxelisation on the dose grid (its volume within 10 % of
    the same organ read from contours, flagged), a couch mesh is skipped with an info finding, and
    nothing is written to the structure set."""
    contoured = _read(version, "LRRC-01", prior_dates={"PELVIS_45": dt.date(2024, 6, 7)})
    rs.unload()
    rs.load("LRRC-01", version, **MESH)
    snapshot = _source(version, prior_dates={"PELVIS_45": dt.date(2024, 6, 7)}).read()
    assert "Couch" not in {s.id for s in snapshot.structures}
    codes = {(f.code, f.subject): f for f in snapshot.source_findings}
    assert codes[("mesh-roi-skipped", "Couch")].severity == "info"
    assert codes[("mesh-roi-voxelised", "Bladder")].severity == "flag"
    mesh_cc, contour_cc = _volume_cc(snapshot, "Bladder"), _volume_cc(contoured, "Bladder")
    assert mesh_cc == pytest.approx(contour_cc, rel=0.10)
    assert rs.journal() == []
    assert "GetRoiGeometryAsVoxels" in snapshot.source_findings[-1].message


@pytest.mark.parametrize("version", VERSIONS)
def test_a_mesh_roi_raystation_cannot_voxelise_is_refused_by_name(version: str, monkeypatch: Any) -> None:
    """§9 + public-scripts R11: refuse only what cannot be read, naming the ROI and the RayStation error."""
    from tps_stubs.raystation.rois import RoiGeometry  # noqa: PLC0415

    def refuse(self: Any, **_: Any) -> Any:
        raise ScriptException("mesh is not closed")

    monkeypatch.setattr(RoiGeometry, "GetRoiGeometryAsVoxels", refuse)
    rs.load("LRRC-01", version, **MESH)
    with pytest.raises(InputError, match=r"ROI 'Bladder'.*mesh.*mesh is not closed"):
        _source(version).read()


# -- feature detection -------------------------------------------------------------------------------
#: The form each stand-in profile accepts (tps_stubs/raystation/versions.py), by call-forms key.
EXPECTED_FORMS = {
    "11A": {"primary_prescription": "PrescriptionDoseReferences[0]", "scaling": "NormalizeToPrescription",
            "dose_accuracy": "IsClinical"},
    "11B": {"primary_prescription": "PrimaryDosePrescription", "scaling": "NormalizeToPrescription",
            "dose_accuracy": "IsClinical"},
    "12A": {"primary_prescription": "PrimaryPrescriptionDoseReference", "scaling": "NormalizeToPrescription",
            "dose_accuracy": "IsClinical"},
    "2024B": {"primary_prescription": "PrimaryPrescriptionDoseReference", "scaling": "ScaleToDoseGoal",
              "dose_accuracy": "IsAccurate"},
}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_dependent_call_is_feature_detected_and_recorded(version: str) -> None:
    """§12.1, §12.2, §11.2, §11.3, §5.1 and public-scripts P1–P3, P9–P11, P14, C3, D19: each call is made
    in the form the profile accepts, found by trying (reirrad_tps.raystation.call_forms), and the form
    used is recorded (planner.call_forms; the snapshot's ``tps-call-forms`` info finding)."""
    rs.load("LRRC-01", version)
    snapshot = _source(version, prior_dates={"PELVIS_45": dt.date(2024, 6, 7)}).read()
    planner = _planner(version)
    planner.set_prescription(32.0, 5)
    planner.write_objectives(_objectives(32.0))
    planner.optimise()
    planner.compute_dose()
    planner.normalise("PTV", 32.0, 95.0)
    forms = planner.call_forms
    for key, form in EXPECTED_FORMS[version].items():
        assert forms[key] == form, key
    assert forms["auto_scale_off"] == "SetAutoScaleToPrimaryPrescription(AutoScale=False)"
    assert forms["dose_algorithm"] == "AccurateDoseAlgorithm.DoseAlgorithm"
    assert forms["compute_dose"].startswith("ComputeDose(ComputeBeamDoses=True, DoseAlgorithm='CCDose'")
    (info,) = [f for f in snapshot.source_findings if f.code == "tps-call-forms"]
    assert info.severity == "info" and EXPECTED_FORMS[version]["primary_prescription"] in info.message
    members = [e.member for e in rs.journal()]
    assert members.count("SetAutoScaleToPrimaryPrescription") == 1 and "ResetOptimization" in members
    assert members.index("ResetOptimization") < members.index("RunOptimization")
    assert not [e for e in rs.journal() if e.outcome != "ok"]  # a refused form never reaches RayStation


@pytest.mark.parametrize("version", VERSIONS)
def test_a_call_with_no_working_form_is_refused_naming_every_form(version: str, monkeypatch: Any) -> None:
    """reirrad_tps.raystation.call_forms: when no known spelling exists, InputError names each form tried
    and what it raised (here both scaling methods removed from the profile: §12.2's two spellings)."""
    from tps_stubs.raystation import versions as stub_versions  # noqa: PLC0415

    for member in ("ScaleToDoseGoal", "NormalizeToPrescription"):
        monkeypatch.setitem(stub_versions.MEMBERS, ("BeamSet", member), frozenset())
    rs.load("LRRC-01", version)
    planner = _planner(version)
    planner.set_prescription(30.0, 5)
    planner.write_objectives(_objectives(30.0))
    planner.optimise()
    planner.compute_dose()
    with pytest.raises(InputError, match=r"none of the known forms.*ScaleToDoseGoal: AttributeError.*"
                                         r"NormalizeToPrescription: AttributeError"):
        planner.normalise("PTV", 30.0, 95.0)


@pytest.mark.parametrize("keyword_error", ["TypeError", "ArgumentException"])
@pytest.mark.parametrize("version", VERSIONS)
def test_map_dose_maps_the_fraction_dose_with_no_reference_grid(version: str, keyword_error: str) -> None:
    """public-scripts E2/E3 (every public script maps a FractionDose with ``ReferenceDoseGrid=None``) and
    §7.3 (keywords detected): the mapped fraction dose × 28 fractions is the 50.4 Gy closed form; the
    evaluation dose it added is listed as created. Under both readings of an unmatched keyword (§2 does
    not say which exception: the stand-in's ``keyword_error``) the older spelling is found in 11A-12A; a
    .NET exception from the newer spelling is recorded with the form used."""
    connect = rs.load("REG-01", version, keyword_error=keyword_error)
    connect.get_current("Case").PatientModel.CreateHybridDeformableRegistrationGroup(
        RegistrationGroupName="DIR", ReferenceExaminationName="CT_PLAN", TargetExaminationNames=["CT_PRIOR"])
    source = _source(version)
    prior = source.read().prior_courses[0]
    (call,) = [e for e in rs.journal() if e.member == "MapDose"]
    assert call.arguments["ReferenceDoseGrid"] is None
    assert call.arguments["DoseDistribution"]._path.endswith(".FractionDose")
    old = version != "2024B"
    assert source.call_forms["map_dose"].startswith(
        "MapDose(FractionNumber=0" if old else "MapDose(FractionEvaluationIndex=0")
    assert ("(after MapDose(FractionEvaluationIndex=0" in source.call_forms["map_dose"]) == (
        old and keyword_error == "ArgumentException")
    sampled, inside = prior.dose.sample(_central_points())
    assert inside.all()
    np.testing.assert_allclose(sampled, conformal_dose(REG01_BOX, _central_points(), 50.4, falloff_mm=10.0),
                               atol=0.02 * 50.4)
    assert source.created_evaluation_doses == (
        "evaluation dose 'Mapped dose 1' (mapped from prior plan 'PELVIS_50_4') on examination 'CT_PLAN'",)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_beam_sets_dose_algorithm_is_used(version: str) -> None:
    """public-scripts C3 / D19 and §11.3: ``ComputeDose(DoseAlgorithm=beam_set.AccurateDoseAlgorithm
    .DoseAlgorithm)``, not a hard-coded 'CCDose'."""
    connect = rs.load("LRRC-01", version)
    connect.get_current("BeamSet").AccurateDoseAlgorithm._s["algorithm"] = "PhotonMonteCarlo"
    planner = _planner(version)
    planner.set_prescription(30.0, 5)
    planner.write_objectives(_objectives(30.0))
    planner.optimise()
    planner.compute_dose()
    (call,) = [e for e in rs.journal() if e.member == "ComputeDose"]
    assert call.arguments["DoseAlgorithm"] == "PhotonMonteCarlo"


@pytest.mark.parametrize("version", VERSIONS)
def test_an_approved_beam_set_is_not_writable(version: str) -> None:
    """public-scripts N9 (``beam_set.Review.ApprovalStatus``) and §14.6: an approved beam set in an
    unapproved plan reads as not writable and every write is refused before any call."""
    connect = rs.load("LRRC-01", version)
    connect.get_current("BeamSet")._set_review("Approved")
    snapshot = _source(version).read()
    assert not snapshot.plan.writable and "beam set Approved" in snapshot.plan.approval_status
    with pytest.raises(ApprovedPlanError, match=r"beam set 'SABR_REIRR'.*is approved.*Nothing was written"):
        _planner(version).set_prescription(30.0, 5)
    assert rs.journal() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_prescription_dose_raystation_refuses_or_does_not_take_is_refused_clearly(
        version: str, monkeypatch: Any) -> None:
    """Whether PrescriptionDoseReference.DoseValue is settable in 12A+ is not confirmed (DEVIATIONS.md):
    both other readings are modelled here. A read-only property (a .NET-like exception) is refused naming
    the value in cGy, RayStation's message and the two fixes; a setter that does not take the value
    (LRRC-01's 3000 cGy reads back after 3500 cGy was written) is refused too, never scaled or reported."""
    from tps_stubs.raystation.errors import InvalidOperationException  # noqa: PLC0415
    from tps_stubs.raystation.plans import PrescriptionDoseReference  # noqa: PLC0415

    rs.load("LRRC-01", version)
    held = _primary(rs.current_session().state["BeamSet"], version).DoseValue
    assert held == pytest.approx(3000.0)
    getter = PrescriptionDoseReference.DoseValue.fget

    def read_only(self: Any, value: Any) -> None:
        raise InvalidOperationException("Property 'DoseValue' is read-only.")

    monkeypatch.setattr(PrescriptionDoseReference, "DoseValue", property(getter, read_only))
    with pytest.raises(InputError, match=r"refused to change the prescription dose of beam set 'SABR_REIRR' "
                                         r"to 3500.00 cGy \(InvalidOperationException: .*read-only.*\).*or "
                                         r"delete it"):
        _planner(version).set_prescription(35.0, 5)
    monkeypatch.setattr(PrescriptionDoseReference, "DoseValue", property(getter, lambda self, value: None))
    with pytest.raises(InputError, match=r"reads 3000.00 cGy after 3500.00 cGy was written; RayStation did "
                                         r"not take it"):
        _planner(version).set_prescription(35.0, 5)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_site_prescription_is_flagged_and_refused_clearly(version: str, variant: Path) -> None:
    """§12.1 (``OnStructure`` names the ROI) and the issue's site/DSP case: a primary prescription without
    ``OnStructure`` gives no target and a flag on reading, and a clear refusal on writing (no
    AttributeError)."""
    connect = rs.load(variant, version)
    connect.get_current("BeamSet")._add_site_prescription(3000.0)
    snapshot = _source(version).read()
    assert snapshot.plan.target_id is None and snapshot.plan.prescription_gy == pytest.approx(30.0)
    assert "prescription-not-on-roi" in {f.code for f in snapshot.source_findings}
    with pytest.raises(InputError, match="site or a dose specification point"):
        _planner(version).set_prescription(30.0, 5)


@pytest.mark.parametrize("version", VERSIONS)
def test_transforms_as_a_flat_list_a_matrix_or_none(version: str, monkeypatch: Any) -> None:
    """public-scripts G3 (None when no registration exists) and G4 (a flat 16-element list), §8 (4×4):
    all three are handled; None is refused naming both examinations and the fix."""
    from tps_stubs.raystation.patient_objects import Case  # noqa: PLC0415

    flat = _read(version, "REG-01")
    source = _source(version)
    assert source.read().prior_courses[0].planning_to_dose is not None
    assert source.call_forms["transform"] == "flat-16"
    real = Case.GetTransformForExaminations

    def as_matrix(self: Any, **kwargs: Any) -> Any:
        return np.reshape(real(self, **kwargs), (4, 4))

    monkeypatch.setattr(Case, "GetTransformForExaminations", as_matrix)
    source = _source(version)
    square = source.read()
    assert source.call_forms["transform"] == "4x4"
    np.testing.assert_allclose(square.prior_courses[0].planning_to_dose,
                               flat.prior_courses[0].planning_to_dose)
    monkeypatch.setattr(Case, "GetTransformForExaminations", lambda self, **kwargs: None)
    with pytest.raises(InputError, match=r"no transform from 'CT_PLAN' to 'CT_PRIOR'.*create a rigid"):
        _source(version).read()


def test_call_first_moves_on_after_any_exception_and_names_every_one() -> None:
    """reirrad_tps.raystation.call_forms: the real type of a keyword mismatch is not documented (§2,
    §4), so a .NET-like exception moves on to the next form like a TypeError; the form used is recorded
    with the earlier error. When every form fails, one action failure is RayStation's own exception
    (the caller handles it as a single call's); two different ones are a refusal naming each, which
    does not claim a spelling problem."""
    from reirrad_tps.raystation.call_forms import CallForms, call_first  # noqa: PLC0415
    from tps_stubs.raystation.errors import ArgumentException, InvalidOperationException  # noqa: PLC0415

    def raises(exc: Exception) -> Any:
        def thunk() -> Any:
            raise exc
        return thunk

    used = CallForms()
    got = call_first("k", (("new", raises(ArgumentException("no parameter named 'X'"))),
                           ("old", lambda: 42)), used, "do it")
    assert got == 42
    assert used.as_mapping()["k"] == "old (after new: ArgumentException: no parameter named 'X')"
    assert call_first("t", (("new", raises(TypeError("kw"))), ("old", lambda: 1)), used, "do it") == 1
    assert used.as_mapping()["t"] == "old"  # a TypeError or a missing member is the usual detection
    locked = InvalidOperationException("approved")
    with pytest.raises(InvalidOperationException) as caught:  # one action failure: RayStation's own
        call_first("l", (("new", raises(locked)), ("old", raises(AttributeError("no member 'Old'")))),
                   used, "lock it")
    assert caught.value is locked
    with pytest.raises(InputError, match=r"refused every known form to map it; tried new: ArgumentException: "
                                         r"no parameter \| old: InvalidOperationException: approved"):
        call_first("n", (("new", raises(ArgumentException("no parameter"))), ("old", raises(locked))),
                   used, "map it")
    with pytest.raises(InputError, match="accepts none of the known forms"):
        call_first("m", (("new", raises(AttributeError("x"))), ("old", raises(TypeError("y")))), used, "m")


# -- writing into a copy -----------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_a_failed_plan_copy_names_what_it_left(version: str) -> None:
    """Whether a failed RayStation action can leave part of its work is not in the reference (§4): a
    ``CopyPlan`` that creates the copy and then fails (both forms: the second finds the name taken) is
    refused naming the plan it left; one that fails before creating anything says nothing was written."""
    from reirrad_tps.raystation.planner import copy_plan_for_run  # noqa: PLC0415

    rs.load("LRRC-01", version)
    _, case, plan, beam_set, _ = entry.current_objects(version)

    class HalfDone:
        """``case`` whose CopyPlan makes the copy, then raises (as a half-finished action might)."""

        TreatmentPlans = case.TreatmentPlans

        def CopyPlan(self, **kwargs: Any) -> None:  # noqa: N802 - RayStation's name
            case.CopyPlan(**kwargs)
            raise ScriptException("The plan could not be saved.")

    with pytest.raises(InputError, match="a plan 'SABR_REIRR reirrad' exists after the failure: check it "
                                         "and delete it"):
        copy_plan_for_run(HalfDone(), plan, beam_set)

    class Refused:
        TreatmentPlans = case.TreatmentPlans

        def CopyPlan(self, **kwargs: Any) -> None:  # noqa: N802
            raise ScriptException("The plan is locked.")

    with pytest.raises(InputError, match=r"'SABR_REIRR reirrad 2' for the run: The plan is locked.; "
                                         "nothing else was written"):
        copy_plan_for_run(Refused(), plan, beam_set)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_run_writes_into_a_copy_made_at_its_first_write(version: str) -> None:
    """§10 (``case.CopyPlan``) and the adapter's rule (reirrad_tps.raystation.planner docstring): nothing
    is written before the first planner call; then a copy named '<plan> reirrad' is made and planned,
    and the clinician's plan is never written. A second run's copy is '<plan> reirrad 2'."""
    from reirrad_tps.raystation.planner import CopyOnFirstWritePlanner  # noqa: PLC0415

    connect = rs.load("LRRC-01", version)
    _, case, plan, beam_set, _ = entry.current_objects(version)
    lazy = CopyOnFirstWritePlanner(case, plan, beam_set, version=version)
    assert lazy.plan_name is None and rs.journal() == []
    lazy.set_prescription(31.0, 5)
    lazy.write_objectives(_objectives(31.0))
    lazy.optimise()
    dose = lazy.compute_dose()
    assert lazy.plan_name == "SABR_REIRR reirrad" and dose.values_gy.max() > 0.0
    assert lazy.call_forms["copy_plan"] == "CopyPlan(PlanName, NewPlanName, KeepBeamSetNames=True)"
    assert not [e for e in rs.journal() if "TreatmentPlans['SABR_REIRR']" in e.path]
    assert _primary(plan.BeamSets[0], version).DoseValue == 3000.0
    copy = case.TreatmentPlans["SABR_REIRR reirrad"]
    assert _primary(copy.BeamSets[0], version).DoseValue == 3100.0 and copy.Review is None
    again = CopyOnFirstWritePlanner(case, plan, beam_set, version=version)
    again.set_prescription(30.0, 5)
    assert again.plan_name == "SABR_REIRR reirrad 2"
    assert connect.get_current("Plan") is plan
