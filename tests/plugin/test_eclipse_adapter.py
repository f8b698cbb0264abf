"""The Eclipse adapter (``reirrad_tps.eclipse``) against the ESAPI stand-in (Mono + pythonnet), Gy and cGy.

Each test's docstring names its source of truth: the stub-patient model (``tps_stubs.patients``, TOTAL
Gy and mm by construction), the stand-in's journal, ``tps_stubs.direct.DirectCase`` (the same patient
without any TPS API), or a section of ``docs/reference/esapi.md`` (§n).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, List, Tuple

import numpy as np
import pytest

from reirrad.errors import InputError, UnitError
from reirrad.objectives import OptimizationObjective
from reirrad.ports import CaseSource, Planner
from reirrad.protocol import load_protocol
from reirrad.workflow import WorkflowOptions, run
from reirrad_tps.eclipse import (
    ApprovedPlanError,
    DoseCalculationError,
    EclipseCaseSource,
    EclipsePlanner,
    ModificationsNotBegunError,
    ReadOnlySessionError,
    read_dose_grid,
)
from reirrad_tps.eclipse.source import course_plans
from reirrad_tps.eclipse.units import dose_gy, dose_value_gy, from_gy
from tests.esapi_support import with_current_beams, with_current_plan, with_static_beams, without_mlc
from tests.ports_support import exercise_planner, read_through_port
from tps_stubs import esapi as stub
from tps_stubs.direct import DirectCase
from tps_stubs.patients import DEFINITIONS, load_patient
from tps_stubs.patients.model import PlanModel

UNITS = ("Gy", "cGy")
FACTOR = {"Gy": 1.0, "cGy": 100.0}


def _prior(ctx: Any) -> Any:
    return next(p for c in ctx.Patient.Courses for p in c.PlanSetups if p.IsDoseValid)


def _objectives(rx_gy: float) -> List[OptimizationObjective]:
    return [
        OptimizationObjective("PTV", "lower", rx_gy, 95.0, 80.0, "target"),
        OptimizationObjective("PTV", "max", 1.4 * rx_gy, 0.0, 80.0, "target"),
        OptimizationObjective("Rectum", "upper", 20.0, 1.0, 100.0, "oar"),
        OptimizationObjective("Bowel_Small", "mean", 10.0, 0.0, 95.0, "oar"),
    ]


def _planner(ctx: Any, **kwargs: Any) -> EclipsePlanner:
    return EclipsePlanner(ctx.ExternalPlanSetup, patient=ctx.Patient, **kwargs)


# -- units -------------------------------------------------------------------------------------------
def test_units_convert_gy_and_cgy_and_refuse_the_rest(esapi: Any) -> None:
    """§4.3: DoseUnit {Unknown, Gy, cGy, Percent}; only Gy and cGy are absolute."""
    unit = esapi.Types.DoseValue.DoseUnit
    assert dose_value_gy(esapi.Types.DoseValue(3000.0, unit.cGy)) == pytest.approx(30.0)
    assert dose_value_gy(esapi.Types.DoseValue(30.0, unit.Gy)) == 30.0
    assert from_gy(30.0, unit.cGy) == pytest.approx(3000.0) and from_gy(30.0, "Gy") == 30.0
    for bad in (unit.Percent, unit.Unknown, "%"):
        with pytest.raises(UnitError, match="Absolute"):
            dose_gy(100.0, bad)
    with pytest.raises(UnitError, match="Unknown"):
        dose_value_gy(esapi.Types.DoseValue.Undefined)
    with pytest.raises(UnitError, match="undefined"):
        dose_gy(float("nan"), "Gy")


def test_importing_the_adapter_does_not_import_clr() -> None:
    """docs/reference/style.md §3 practice 1: no TPS module at import."""
    code = "import sys, reirrad_tps.eclipse; assert 'clr' not in sys.modules, 'clr imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- reading -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", UNITS)
def test_prior_dose_equals_the_model_total_in_gy(fresh: Any, unit: str) -> None:
    """Stub model: the prior TOTAL dose read through raw voxels + VoxelToDoseValue(0)/(1) equals the
    model's values_gy within one count (max dose / 2^24), in a Gy and a cGy clinic; geometry in mm."""
    ctx = stub.load_context("LRRC-01", unit)
    model = load_patient("LRRC-01").prior_plans()[0].dose
    assert model is not None
    grid = read_dose_grid(_prior(ctx).Dose)
    count = float(model.values_gy.max()) / 2 ** 24
    np.testing.assert_allclose(grid.values_gy, model.values_gy, rtol=0, atol=count)
    np.testing.assert_allclose(grid.origin_mm, model.origin_mm, atol=1e-9)
    np.testing.assert_allclose(grid.spacing_mm, model.spacing_mm, atol=1e-12)
    np.testing.assert_allclose(grid.direction, model.direction, atol=1e-12)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("offset_gy", [-0.75, 0.5])
def test_a_non_zero_calibration_offset_is_applied(fresh: Any, unit: str, offset_gy: float) -> None:
    """§4.2: dose = V(0) + (V(1) − V(0))·raw. With the stand-in's calibration offset set (raw =
    (dose − offset)/scale), VoxelToDoseValue(0) is the offset in the clinic's unit and the read dose
    still equals the model's TOTAL Gy within one count ((max − offset) / 2^24)."""
    fresh.Builder.StubSystem.DoseOffsetGy = offset_gy
    try:
        ctx = stub.load_context("LRRC-01", unit)
        dose = _prior(ctx).Dose
        zero = dose.VoxelToDoseValue(0)
        assert float(zero.Dose) == pytest.approx(offset_gy * FACTOR[unit], rel=1e-12)
        model = load_patient("LRRC-01").prior_plans()[0].dose
        assert model is not None
        grid = read_dose_grid(dose)
    finally:
        fresh.Builder.StubSystem.DoseOffsetGy = 0.0
    count = (float(model.values_gy.max()) - offset_gy) / 2 ** 24
    np.testing.assert_allclose(grid.values_gy, model.values_gy, rtol=0, atol=count)


def test_relative_presentation_is_refused(fresh: Any) -> None:
    """§4.1 / stand-in README: a Relative presentation gives %; the adapter refuses, never guesses."""
    ctx = stub.load_context("LRRC-01")
    prior = _prior(ctx)
    prior.DoseValuePresentation = fresh.Types.DoseValuePresentation.Relative
    with pytest.raises(UnitError, match="Percent"):
        read_dose_grid(prior.Dose)
    with pytest.raises(InputError, match="Absolute"):
        EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()


@pytest.mark.parametrize(("patient", "unit"), [("LRRC-01", "Gy"), ("LRRC-01", "cGy"), ("CGY-01", None)])
def test_snapshot_of_the_plan_structures_and_prior(fresh: Any, patient: str, unit: Any) -> None:
    """Stub model + §4.4/§6.2: plan (fractions, TOTAL Gy prescription, target, beams, writable), contours
    in mm on every plane, prior TOTAL dose and fractions, last fraction = Course.CompletedDateTime."""
    ctx = stub.load_context(patient, unit)
    model = load_patient(patient)
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, planned_start=dt.date(2026, 12, 7),
                             tps_version="15.6").read()
    plan, mplan = snap.plan, model.current_plan
    assert (plan.id, plan.n_fractions, plan.target_id) == (mplan.id, mplan.n_fractions, mplan.target_id)
    assert plan.prescription_gy == pytest.approx(mplan.prescription_gy)
    assert plan.has_beams and plan.writable and plan.approval_status == "UnApproved"
    assert (snap.patient_id, snap.tps, snap.tps_version) == (patient, "Eclipse", "15.6")
    assert snap.planned_start == dt.date(2026, 12, 7)
    sset = model.structure_set(mplan.structure_set_id)
    assert [s.id for s in snap.structures] == [s.id for s in sset.structures]
    ptv = snap.structure("PTV")
    expected = sset.structure("PTV").all_contours()
    assert len(ptv.contours_mm) == len(expected)
    for got, want in zip(ptv.contours_mm, expected):
        np.testing.assert_allclose(got, want, atol=1e-9)
    assert ptv.frame_of_reference_uid == snap.planning_frame_of_reference_uid
    (prior,) = snap.prior_courses
    (mprior,) = model.prior_plans()
    assert (prior.plan_id, prior.n_fractions, prior.planning_to_dose) == (mprior.id, mprior.n_fractions, None)
    assert prior.registration_kind == "same-frame"
    assert prior.prescription_gy == pytest.approx(mprior.prescription_gy)
    assert prior.last_fraction == model.course(mprior.course_id).end


def test_reg01_registration_gives_planning_to_dose(fresh: Any) -> None:
    """§8 + stub model: planning_to_dose = inverse of the registration SourceFOR (prior) → RegisteredFOR
    (planning), built from TransformPoint / InverseTransformPoint."""
    ctx = stub.load_context("REG-01")
    model = load_patient("REG-01")
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    (prior,) = snap.prior_courses
    (reg,) = model.registrations
    assert prior.registration_id == reg.id and prior.planning_to_dose is not None
    assert prior.registration_kind == "rigid"  # issue 14 item 9: said explicitly by the adapter
    np.testing.assert_allclose(prior.planning_to_dose, np.linalg.inv(reg.matrix), atol=1e-9)
    assert prior.dose.frame_of_reference_uid != snap.planning_frame_of_reference_uid


def test_two01_has_two_prior_courses(fresh: Any) -> None:
    """Stub model: TWO-01 has two prior courses, each with its own fractions and completion date."""
    ctx = stub.load_context("TWO-01")
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    got = [(p.course_id, p.plan_id, p.n_fractions, p.last_fraction) for p in snap.prior_courses]
    assert got == [("C1_LCCRT", "PELVIS_45", 25, dt.date(2023, 8, 7)),
                   ("C2_PALL", "PALL_20", 5, dt.date(2025, 12, 7))]


def _two_courses_one_plan_id(tmp_path: Any) -> Any:
    """TWO-01 with its second course's plan renamed PELVIS_45, the first course's plan's Id: Eclipse plan
    Ids are unique only within a course (the stand-in, like Eclipse, allows it)."""
    text = (DEFINITIONS / "TWO-01.yaml").read_text(encoding="utf-8")
    assert text.count("      - id: PALL_20\n") == 1 and text.startswith("id: TWO-01\n")
    path = tmp_path / "DUP-01.yaml"
    path.write_text(text.replace("      - id: PALL_20\n", "      - id: PELVIS_45\n").replace(
        "id: TWO-01\n", "id: DUP-01\n", 1), encoding="utf-8")
    return path


def test_plans_of_two_courses_with_one_id_are_two_prior_courses(fresh: Any, tmp_path: Any) -> None:
    """Stub model of TWO-01 (45 Gy/25 in C1_LCCRT, 20 Gy/5 in C2_PALL) with both plans named PELVIS_45:
    each course's plan is read with its own fractions, prescription and dose (the second one replaced
    the first when plans were keyed by Id alone: 20 Gy/5 was counted twice, 45 Gy/25 lost). A date for
    the bare Id is refused as ambiguous; COURSE/PLAN names one; the dialog's rows name them so too."""
    model = load_patient("TWO-01")
    path = _two_courses_one_plan_id(tmp_path)
    ctx = stub.load_context(str(path))
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    got = [(p.course_id, p.plan_id, p.n_fractions, p.prescription_gy) for p in snap.prior_courses]
    assert got == [("C1_LCCRT", "PELVIS_45", 25, 45.0), ("C2_PALL", "PELVIS_45", 5, 20.0)]
    for prior, mprior in zip(snap.prior_courses, model.prior_plans()):
        assert float(prior.dose.values_gy.max()) == pytest.approx(float(mprior.dose.values_gy.max()))
        assert prior.last_fraction == model.course(mprior.course_id).end
    with pytest.raises(InputError, match=r"names plan 'PELVIS_45', which is in 2 courses "
                                         r"\(C1_LCCRT/PELVIS_45, C2_PALL/PELVIS_45\).*COURSE/PLAN"):
        EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup,
                          prior_dates={"PELVIS_45": dt.date(2025, 12, 5)}).read()
    dated = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup,
                              prior_dates={"C2_PALL/PELVIS_45": dt.date(2025, 12, 5)}).read()
    assert [(p.last_fraction, p.last_fraction_source) for p in dated.prior_courses] == [
        (dt.date(2023, 8, 7), "course-completed"), (dt.date(2025, 12, 5), "user")]
    with pytest.raises(InputError, match="which is in 2 courses"):
        snap.with_dates(None, {"PELVIS_45": dt.date(2025, 12, 5)})
    again = snap.with_dates(None, {"C1_LCCRT/PELVIS_45": dt.date(2023, 8, 1)})
    assert [p.last_fraction for p in again.prior_courses] == [dt.date(2023, 8, 1), dt.date(2025, 12, 7)]
    stub.reset()
    ctx = stub.load_context("TWO-01")  # unique Ids: the Id or COURSE/PLAN, never both for one plan
    two = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    assert two.with_dates(None, {"C2_PALL/PALL_20": dt.date(2025, 12, 5)}).prior_courses[1].last_fraction == \
        two.with_dates(None, {"PALL_20": dt.date(2025, 12, 5)}).prior_courses[1].last_fraction
    with pytest.raises(InputError,
                       match=r"names plan C2_PALL/PALL_20 twice \('PALL_20' and 'C2_PALL/PALL_20'\)"):
        two.with_dates(None, {"PALL_20": dt.date(2025, 12, 5), "C2_PALL/PALL_20": dt.date(2025, 12, 5)})
    with pytest.raises(InputError,
                       match=r"names 'PALL_2', which is not one of the plans \['PELVIS_45', 'PALL_20'\]"):
        two.with_dates(None, {"PALL_2": dt.date(2025, 12, 5)})


def test_a_date_names_the_prior_plan_when_the_new_course_has_a_plan_of_that_id(fresh: Any,
                                                                              tmp_path: Any) -> None:
    """LRRC-01 with an alternative plan PELVIS_45 (unapproved, no dose) in the new plan's course: it is not
    a prior plan (reirrad.priors), so the bare Id names the prior course's PELVIS_45 - as the review and
    the dialog name it (plan_keys of the prior courses) - and is not refused as ambiguous."""
    text = (DEFINITIONS / "LRRC-01.yaml").read_text(encoding="utf-8")
    anchor = "  - id: C2_SABR\n    plans:\n"
    assert text.count(anchor) == 1
    alternative = ("      - id: PELVIS_45\n        image: CT_PLAN\n        structure_set: CT_PLAN\n"
                   "        n_fractions: 5\n        prescription_gy: 30.0\n        approval: UnApproved\n")
    path = tmp_path / "ALT-01.yaml"
    path.write_text(text.replace(anchor, anchor + alternative).replace("id: LRRC-01\n", "id: ALT-01\n", 1),
                    encoding="utf-8")
    ctx = stub.load_context(str(path))
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup,
                             prior_dates={"PELVIS_45": dt.date(2024, 6, 7)}).read()
    assert [(p.label, p.last_fraction, p.last_fraction_source) for p in snap.prior_courses] == [
        ("C1_LCCRT/PELVIS_45", dt.date(2024, 6, 7), "user")]
    with pytest.raises(InputError, match=r"names 'C2_SABR/PELVIS_45', which is not one of the plans "
                                         r"\['PELVIS_45'\]"):
        EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup,
                          prior_dates={"C2_SABR/PELVIS_45": dt.date(2024, 6, 7)}).read()


def _plan(ctx: Any, course_id: str, plan_id: str) -> Any:
    course = next(c for c in ctx.Patient.Courses if c.Id == course_id)
    return next(p for p in course.PlanSetups if p.Id == plan_id)


def _add_plan_sum(fresh: Any, ctx: Any, course_id: str, plans: List[Tuple[str, str]],
                  operations: List[str], weights: List[float]) -> None:
    course = next(c for c in ctx.Patient.Courses if c.Id == course_id)
    members = fresh.System.Array[fresh.API.PlanSetup]([_plan(ctx, c, p) for c, p in plans])
    fresh.Builder.ModelBuilder.AddPlanSum(course, "SUM", members, fresh.System.Array[fresh.System.String](
        operations), fresh.System.Array[fresh.System.Double](weights))


def test_a_prior_plan_sum_of_whole_plans_reads_each_plan_once(fresh: Any) -> None:
    """docs/reference/esapi.md §5: a plan sum mixes fractionations, so its plans are read one by one. TWO-01
    with a
    sum of both prior plans (Addition, weight 1): the same two courses as without the sum."""
    ctx = stub.load_context("TWO-01")
    _add_plan_sum(fresh, ctx, "C2_PALL", [("C1_LCCRT", "PELVIS_45"), ("C2_PALL", "PALL_20")],
                  ["Addition", "Addition"], [1.0, 1.0])
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    assert [(p.plan_id, p.n_fractions) for p in snap.prior_courses] == [("PELVIS_45", 25), ("PALL_20", 5)]


@pytest.mark.parametrize(("operation", "weight", "needle"), [
    ("Subtraction", 1.0, "Subtraction with weight 1"),
    ("Addition", 0.6, "Addition with weight 0.6"),
])
def test_a_prior_plan_sum_that_is_not_whole_plans_is_refused(fresh: Any, operation: str, weight: float,
                                                              needle: str) -> None:
    """A sum that subtracts or weights a plan describes a delivered dose the per-plan reading would
    not reproduce: refused with the sum, the plan and what to do."""
    ctx = stub.load_context("TWO-01")
    _add_plan_sum(fresh, ctx, "C2_PALL", [("C1_LCCRT", "PELVIS_45"), ("C2_PALL", "PALL_20")],
                  ["Addition", operation], [1.0, weight])
    with pytest.raises(InputError, match="plan sum 'SUM'") as info:
        EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    assert needle in str(info.value) and "'PALL_20'" in str(info.value)


def test_plans_of_the_new_plans_course_are_never_prior_dose(fresh: Any) -> None:
    """An alternative plan with a dose in the NEW course (LRRC-01, C2_SABR) is not a prior course."""
    ctx = stub.load_context("LRRC-01")
    prior = _prior(ctx)
    course = next(c for c in ctx.Patient.Courses if c.Id == "C2_SABR")
    dose = prior.Dose
    origin = [dose.Origin.x, dose.Origin.y, dose.Origin.z]
    size = [dose.XSize, dose.YSize, dose.ZSize]
    grid = (fresh.System.Array[fresh.System.Double](origin),
            fresh.System.Array[fresh.System.Double]([dose.XRes, dose.YRes, dose.ZRes]),
            fresh.System.Array[fresh.System.Int32](size),
            fresh.System.Array[fresh.System.Double]([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]))
    alternative = fresh.Builder.ModelBuilder.AddExternalPlan(
        course, "SABR_ALT", ctx.ExternalPlanSetup.StructureSet, "PTV", 5, 30.0, "UnApproved", False, 100.0,
        *grid)
    values = fresh.System.Array[fresh.System.Double]([1.0] * (size[0] * size[1] * size[2]))
    fresh.Builder.ModelBuilder.SetDose(alternative, *grid, values)
    assert alternative.IsDoseValid
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    assert [p.plan_id for p in snap.prior_courses] == ["PELVIS_45"]


def test_prior_dates_must_name_prior_plans(fresh: Any) -> None:
    """A prior_dates key that is not a prior plan is refused with the valid ids."""
    ctx = stub.load_context("LRRC-01")
    with pytest.raises(InputError, match="PELVIS_45"):
        EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, prior_dates={"NOPE": dt.date(2024, 1, 1)}
                          ).read()
    with pytest.raises(InputError, match=r"datetime\.date"):
        EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, prior_dates={"PELVIS_45": "2024-06-07"})


def test_a_given_date_that_differs_from_eclipses_is_used_and_flagged(fresh: Any) -> None:
    """Stub model (LRRC-01's prior course ends on the model's date): a prior_dates answer replaces
    Course.CompletedDateTime, with a flag naming both dates and their difference in days; the same
    date as Eclipse's, or a plan not given, has no such flag."""
    ctx = stub.load_context("LRRC-01")
    model = load_patient("LRRC-01")
    (mprior,) = model.prior_plans()
    completed = model.course(mprior.course_id).end
    given = completed - dt.timedelta(days=30)
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, prior_dates={mprior.id: given}).read()
    (prior,) = snap.prior_courses
    assert (prior.last_fraction, prior.last_fraction_source) == (given, "user")
    (flag,) = [f for f in snap.source_findings if f.code == "last-fraction-date-differs"]
    assert flag.severity == "flag" and flag.subject == prior.label
    assert given.isoformat() in flag.message and completed.isoformat() in flag.message
    assert "30 days before" in flag.message
    later = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup,
                              prior_dates={mprior.id: completed + dt.timedelta(days=2)}).read()
    assert any("2 days after" in f.message for f in later.source_findings)
    for dates in ({mprior.id: completed}, {}):
        same = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, prior_dates=dates).read()
        assert not [f for f in same.source_findings if f.code == "last-fraction-date-differs"]


@pytest.mark.parametrize("unit", UNITS)
def test_the_adapters_satisfy_the_engine_ports(fresh: Any, unit: str) -> None:
    """reirrad.ports, by signature and behaviour (tests/ports_support.py): every Protocol method exists
    with the Protocol's parameters; driven only through the ports with their keyword names, the plan
    is optimised, its dose computed, and normalising to 1.1 × the engine-measured D95 scales the whole
    dose by one factor of 1.1 (±1 %: Eclipse measures D95 on its own structure model), so the engine
    then measures 1.1 × the old D95; ``normalise`` returns Eclipse's PlanNormalizationValue."""
    ctx = stub.load_context("LRRC-01", unit)
    source: CaseSource = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup)
    eclipse = _planner(ctx)
    eclipse.begin_modifications()  # an adapter-specific step, not part of the port
    planner: Planner = eclipse
    snapshot = read_through_port(source)
    _, _, record = exercise_planner(planner, snapshot, "PTV", _objectives(30.0))
    assert record == float(ctx.ExternalPlanSetup.PlanNormalizationValue)


# -- writing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", UNITS)
def test_prescription_and_objectives_land_in_the_system_unit(fresh: Any, unit: str) -> None:
    """§10.2 + journal: 30 Gy/5 → SetPrescription(5, 6 Gy or 600 cGy per fraction); objectives are TOTAL
    doses in the clinic's unit (30 Gy → 3000 cGy), volumes in %, existing objectives removed first."""
    ctx = stub.load_context("LRRC-01", unit)
    planner = _planner(ctx)
    planner.begin_modifications()
    planner.set_prescription(30.0, 5)
    planner.write_objectives(_objectives(30.0))
    planner.write_objectives(_objectives(30.0))  # replaces, does not append
    entries = stub.journal()
    f = FACTOR[unit]
    fmt = (lambda v: f"{v:.3f} Gy") if unit == "Gy" else (lambda v: f"{v * f:.1f} cGy")
    assert (entries[0].member, entries[0].arguments) == ("SetPrescription", ("5", fmt(6.0), "1"))
    adds = [e for e in entries if e.member.startswith("Add")]
    assert [e.arguments for e in adds[:4]] == [
        ("Structure 'PTV'", "Lower", fmt(30.0), "95", "80"),
        ("Structure 'PTV'", "Upper", fmt(42.0), "0", "80"),
        ("Structure 'Rectum'", "Upper", fmt(20.0), "1", "100"),
        ("Structure 'Bowel_Small'", fmt(10.0), "95"),
    ]
    assert [e.member for e in entries].count("RemoveObjective") == 4
    assert len(list(ctx.ExternalPlanSetup.OptimizationSetup.Objectives)) == 4
    nto = [e for e in entries if e.member == "AddAutomaticNormalTissueObjective"]
    assert [e.arguments for e in nto] == [("100",), ("100",)]  # after each objective set, replacing
    nto_params = [p for p in ctx.ExternalPlanSetup.OptimizationSetup.Parameters
                  if type(p).__name__ == "OptimizationNormalTissueParameter"]
    assert len(nto_params) == 1 and bool(nto_params[0].IsAutomatic)


def test_a_hard_objective_gets_the_top_priority_of_the_set(fresh: Any) -> None:
    """Issue 14 item 7 + docs/reference/esapi.md §10.2 (the optimiser takes only weighted objectives): a hard
    objective
    is written at the highest priority among the set and the NTO's (here the NTO's 100 > every
    objective's), soft ones keep theirs; without an NTO the top is the objectives' own maximum (80).
    Source: the stand-in journal (AddPointObjective / AddMeanDoseObjective arguments as ESAPI got them)."""
    ctx = stub.load_context("LRRC-01", "Gy")
    objectives = _objectives(30.0)
    objectives[3] = OptimizationObjective("Bowel_Small", "mean", 10.0, 0.0, 60.0, "oar", hard=True)
    objectives[2] = OptimizationObjective("Rectum", "upper", 20.0, 1.0, 70.0, "oar", hard=True)
    objectives[1] = OptimizationObjective("PTV", "max", 42.0, 0.0, 80.0, "target")
    for nto, top in ((100.0, "100"), (None, "80")):
        stub.reset()
        ctx = stub.load_context("LRRC-01", "Gy")
        planner = _planner(ctx, normal_tissue_priority=nto)
        planner.begin_modifications()
        planner.write_objectives(objectives)
        adds = [e.arguments for e in stub.journal() if e.member in ("AddPointObjective",
                                                                     "AddMeanDoseObjective")]
        assert [a[-1] for a in adds] == ["80", "80", top, top]
        assert planner.top_priority([10.0, 20.0]) == (100.0 if nto else 20.0)


def test_writes_need_begin_modifications_and_nothing_is_written(fresh: Any) -> None:
    """§2.3: without BeginModifications every write is refused by the adapter first; journal unchanged."""
    ctx = stub.load_context("LRRC-01")
    planner = _planner(ctx)
    for call in (lambda: planner.set_prescription(30.0, 5),
                 lambda: planner.write_objectives(_objectives(30.0)), planner.optimise,
                 planner.compute_dose, lambda: planner.normalise("PTV", 30.0, 95.0)):
        with pytest.raises(ModificationsNotBegunError, match="BeginModifications"):
            call()
    assert stub.journal() == []


def test_an_approved_plan_is_refused_before_any_call(fresh: Any) -> None:
    """§10.4 / DESIGN §6: a Completed, treated prior plan is refused by the adapter; journal unchanged."""
    ctx = stub.load_context("LRRC-01")
    planner = EclipsePlanner(_prior(ctx), patient=ctx.Patient)
    planner.begin_modifications()
    with pytest.raises(ApprovedPlanError, match="Completed"):
        planner.set_prescription(30.0, 5)
    with pytest.raises(ApprovedPlanError):
        planner.write_objectives(_objectives(30.0))
    assert stub.journal() == []


def test_a_read_only_session_is_refused(fresh: Any) -> None:
    """§3.3: a plug-in that is not an approved write-enabled script cannot modify data."""
    ctx = stub.load_context("LRRC-01", writeable=False)
    with pytest.raises(ReadOnlySessionError, match="CanModifyData"):
        _planner(ctx).begin_modifications()
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    assert not snap.plan.writable


def test_bad_objectives_are_refused_before_any_write(fresh: Any) -> None:
    """Unknown structures and kinds are named; nothing written."""
    ctx = stub.load_context("LRRC-01")
    planner = _planner(ctx)
    planner.begin_modifications()
    with pytest.raises(InputError, match="NoSuchOAR"):
        planner.write_objectives([OptimizationObjective("NoSuchOAR", "max", 10.0, 0.0, 90.0, "oar")])
    assert stub.journal() == []


@pytest.mark.parametrize("unit", UNITS)
def test_optimise_compute_and_normalise(fresh: Any, unit: str) -> None:
    """§10.3: OptimizeVMAT, CalculateDose → a TOTAL Gy dose (same in Gy and cGy clinics); normalising
    puts D95 % of the PTV at the requested dose (GetDoseAtVolume after the new PlanNormalizationValue)."""
    ctx, planner = _optimised(unit)
    dose = planner.compute_dose()
    assert 25.0 < float(dose.values_gy.max()) < 50.0
    assert dose.frame_of_reference_uid == str(ctx.StructureSet.Image.FOR)
    returned = planner.normalise("PTV", 30.0, 95.0)
    plan = ctx.ExternalPlanSetup
    ptv = next(s for s in ctx.StructureSet.Structures if s.Id == "PTV")
    d95 = plan.GetDoseAtVolume(ptv, 95.0, fresh.Types.VolumePresentation.Relative,
                               fresh.Types.DoseValuePresentation.Absolute)
    assert dose_value_gy(d95) == pytest.approx(30.0, rel=1e-6)
    members = [e.member for e in stub.journal()]
    # Planner port + docs/reference/esapi.md §4.4: normalise returns Eclipse's own record,
    # PlanNormalizationValue (%).
    assert returned == pytest.approx(float(plan.PlanNormalizationValue), abs=1e-12)
    assert returned == float(stub.journal()[-1].arguments[0])  # the value the adapter set, read back
    assert members[-4:] == ["OptimizeVMAT", "CalculateDose", "set_PlanNormalizationValue",
                            "set_PlanNormalizationValue"]


def _optimised(unit: str = "Gy") -> Tuple[Any, EclipsePlanner]:
    """LRRC-01's current plan at 30 Gy/5, optimised (VMAT), without a dose yet."""
    ctx = stub.load_context("LRRC-01", unit)
    planner = _planner(ctx)
    planner.begin_modifications()
    planner.set_prescription(30.0, 5)
    planner.write_objectives(_objectives(30.0))
    planner.optimise()
    return ctx, planner


def _members_after_optimise() -> List[str]:
    members = [e.member for e in stub.journal()]
    return members[members.index("OptimizeVMAT") + 1:]


def test_a_dose_calculation_that_fails_once_is_retried_and_the_dose_read(
        fresh: Any, caplog: pytest.LogCaptureFixture) -> None:
    """§10.3 (CalculateDose retried once when Success is False, as the public nm_planner code does for
    an Eclipse 16.1 bug), on the stand-in's transient fault (``fail_dose_calculations(1)``, documented in
    tps_stubs/esapi/DEVIATIONS.md): exactly two CalculateDose calls, one warning naming the plan, and the
    dose read is the one the same optimised plan gives without the fault (the stand-in's planner is
    deterministic: identical voxels)."""
    _, planner = _optimised()
    reference = planner.compute_dose().values_gy
    stub.reset()
    ctx, planner = _optimised()
    stub.fail_dose_calculations(1)
    with caplog.at_level("WARNING", logger="reirrad_tps.eclipse.planner"):
        dose = planner.compute_dose()
    assert _members_after_optimise() == ["CalculateDose", "CalculateDose"]
    assert fresh.Builder.StubSystem.DoseCalculationFailures == 0
    assert bool(ctx.ExternalPlanSetup.IsDoseValid)
    assert np.array_equal(dose.values_gy, reference)
    warnings = [r.getMessage() for r in caplog.records if r.name == "reirrad_tps.eclipse.planner"]
    assert len(warnings) == 1 and "retrying once" in warnings[0]
    assert str(ctx.ExternalPlanSetup.Id) in warnings[0]


@pytest.mark.parametrize("failures", [2, 3])
def test_a_dose_calculation_that_fails_twice_raises_and_nothing_else_is_called(fresh: Any,
                                                                                failures: int) -> None:
    """§10.3: Success False on the call and on its one retry → DoseCalculationError naming the plan;
    exactly two CalculateDose calls and no other write after the optimisation (with three failures
    scripted, the third is left unused: one retry, not more); the plan has no valid dose. The failure
    was transient: the next compute_dose calls until the fault is used up, then reads the dose."""
    ctx, planner = _optimised()
    stub.fail_dose_calculations(failures)
    with pytest.raises(DoseCalculationError, match=f"failed twice on plan '{ctx.ExternalPlanSetup.Id}'"):
        planner.compute_dose()
    assert _members_after_optimise() == ["CalculateDose", "CalculateDose"]
    assert fresh.Builder.StubSystem.DoseCalculationFailures == failures - 2
    assert not bool(ctx.ExternalPlanSetup.IsDoseValid)
    dose = planner.compute_dose()  # 0 or 1 failure left: at most one retry
    assert _members_after_optimise().count("CalculateDose") == 2 + (failures - 2) + 1
    assert bool(ctx.ExternalPlanSetup.IsDoseValid) and float(dose.values_gy.max()) > 0.0


def test_imrt_optimises_with_explicit_enums_then_leaf_motions(fresh: Any) -> None:
    """§10.3: the IMRT path is Optimize(maxIterations, OptimizationOption.RestartOptimization, mlcId) then
    CalculateLeafMotions() before CalculateDose(); the dose is a TOTAL Gy dose as for VMAT (LRRC-01 with
    static fields: IMRT's)."""
    ctx = stub.load_context(with_static_beams("LRRC-01"))
    planner = _planner(ctx, technique="IMRT", max_iterations=400)
    planner.begin_modifications()
    planner.set_prescription(30.0, 5)
    planner.write_objectives(_objectives(30.0))
    planner.optimise()
    dose = planner.compute_dose()
    assert 25.0 < float(dose.values_gy.max()) < 50.0
    entries = stub.journal()
    assert [e.member for e in entries[-3:]] == ["Optimize", "CalculateLeafMotions", "CalculateDose"]
    assert entries[-3].arguments == ("400", "RestartOptimization", "Millennium 120")
    assert "OptimizeVMAT" not in [e.member for e in entries]


def _lrrc01_for(technique: str) -> Any:
    """LRRC-01 as the technique needs it: its arcs for VMAT, static fields for IMRT."""
    return "LRRC-01" if technique == "VMAT" else with_static_beams("LRRC-01")


def _two_levels(technique: str) -> List[np.ndarray]:
    """LRRC-01 optimised at 30 then 35 Gy with the same planner (as the isotoxic search does)."""
    ctx = stub.load_context(_lrrc01_for(technique))
    planner = _planner(ctx, technique=technique)
    planner.begin_modifications()
    doses = []
    for level in (30.0, 35.0):
        planner.set_prescription(level, 5)
        planner.write_objectives(_objectives(level))
        planner.optimise()
        doses.append(planner.compute_dose().values_gy)
    return doses


@pytest.mark.parametrize("technique", ["VMAT", "IMRT"])
def test_every_optimisation_restarts_whatever_esapi_does_without_a_start_option(fresh: Any,
                                                                                technique: str) -> None:
    """What ESAPI does with an optimisation call that gives no start option is undocumented; the stand-in
    models both readings (tps_stubs/esapi/DEVIATIONS.md). The adapter gives RestartOptimization and the
    beams' MLC id on every call, so the second level's dose is the same under both readings — and equals
    a cold optimisation at that level alone (no dependence on the level optimised before)."""
    member = "OptimizeVMAT" if technique == "VMAT" else "Optimize"
    results = {}
    for default in ("RestartOptimization", "ContinueOptimization"):
        stub.configure(default_start_option=default)
        try:
            stub.reset()
            results[default] = _two_levels(technique)
            calls = [e for e in stub.journal() if e.member == member]
            assert len(calls) == 2
            assert all({"RestartOptimization", "Millennium 120"} <= set(e.arguments) for e in calls)
        finally:
            stub.configure()
    np.testing.assert_array_equal(results["RestartOptimization"][1], results["ContinueOptimization"][1])
    stub.reset()
    ctx = stub.load_context(_lrrc01_for(technique))
    planner = _planner(ctx, technique=technique)
    planner.begin_modifications()
    planner.set_prescription(35.0, 5)
    planner.write_objectives(_objectives(35.0))
    planner.optimise()
    np.testing.assert_array_equal(planner.compute_dose().values_gy, results["ContinueOptimization"][1])


@pytest.mark.parametrize(("technique", "beams", "message"), [
    ("VMAT", "STATIC", r"technique VMAT optimises arcs, and beam\(s\) ARC1, ARC2 are static fields .*choose "
                       r"--technique IMRT"),
    ("IMRT", "ARC", r"technique IMRT optimises static fields, and beam\(s\) ARC1, ARC2 are arcs.*choose "
                    r"--technique VMAT"),
    ("IMRT", "MIXED", r"beam\(s\) ARC1 are arcs.*neither optimiser takes both \(arcs ARC1; static fields "
                      r"ARC2\)"),
])
def test_a_technique_that_does_not_suit_the_beams_is_refused_before_any_write(
        fresh: Any, technique: str, beams: str, message: str) -> None:
    """What Eclipse's optimisers do with the other kind of beam is not in the reference (the stand-in
    refuses it, DEVIATIONS.md): the adapter checks the beams' GantryDirection (None = static) against
    the technique before its first write and names the beams and the fix; the journal stays empty."""
    if beams == "MIXED":
        arc, other = load_patient("LRRC-01").current_plan.beams
        patient = with_current_plan("LRRC-01", beams=(arc, dataclasses.replace(other, technique="STATIC")))
    else:
        patient = with_current_beams("LRRC-01", technique=beams)
    ctx = stub.load_context(patient)
    planner = _planner(ctx, technique=technique)
    planner.begin_modifications()
    with pytest.raises(InputError, match=message):
        planner.set_prescription(30.0, 5)
    assert [e.member for e in stub.journal() if e.member != "BeginModifications"] == []


def test_an_approved_plan_is_refused_as_approved_before_its_beams_are_judged(fresh: Any) -> None:
    """The plan's own state comes first: an approved plan whose static fields would not suit VMAT gets
    ApprovedPlanError (the host's handling of approved plans), not the technique's InputError."""
    static = with_current_beams("LRRC-01", technique="STATIC")
    approved = dataclasses.replace(static, courses=tuple(
        dataclasses.replace(c, plans=tuple(dataclasses.replace(p, approval_status="PlanningApproved")
                                           if p.id == "SABR_REIRR" else p for p in c.plans))
        for c in static.courses))
    ctx = stub.load_context(approved)
    planner = _planner(ctx, technique="VMAT")
    with pytest.raises(ApprovedPlanError, match="PlanningApproved"):
        planner.set_prescription(30.0, 5)


def test_a_plan_without_an_mlc_is_refused_before_the_optimiser_runs(fresh: Any) -> None:
    """No MLC id given and no beam with an MLC: a clear InputError asking for --mlc-id; nothing optimised."""
    ctx = stub.load_context(without_mlc("LRRC-01"))
    planner = _planner(ctx)
    planner.begin_modifications()
    planner.set_prescription(30.0, 5)
    planner.write_objectives(_objectives(30.0))
    with pytest.raises(InputError, match=r"no beam has an MLC; .*--mlc-id"):
        planner.optimise()
    assert "OptimizeVMAT" not in [e.member for e in stub.journal()]
    explicit = _planner(ctx, mlc_id="Millennium 120", modifications_begun=True)
    with pytest.raises(Exception, match="no beam has MLC 'Millennium 120'"):  # the stand-in: the TPS refuses
        explicit.optimise()


# -- the workflow ------------------------------------------------------------------------------------
def test_dry_run_gives_the_same_tolerances_as_direct_case(fresh: Any) -> None:
    """DirectCase (no TPS API) is the reference: the dry run on the Eclipse snapshot of LRRC-01 gives the
    same remaining tolerances within 0.1 Gy."""
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    ctx = stub.load_context("LRRC-01")
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup,
                             planned_start=load_patient("LRRC-01").planned_start).read()
    options = WorkflowOptions(dry_run=True)
    ours = run(protocol, snap, _planner(ctx), options).prepared
    ref = run(protocol, DirectCase("LRRC-01").read(), None, options).prepared
    got = {k: t.allowed_physical_gy for k, t in ours.tolerances.items()}
    want = {k: t.allowed_physical_gy for k, t in ref.tolerances.items()}
    assert got.keys() == want.keys() and got
    for oar, value in want.items():
        assert got[oar] == pytest.approx(value, abs=0.1), oar
    assert stub.journal() == []


def test_the_normal_tissue_objective_can_be_left_out_and_is_checked(fresh: Any) -> None:
    """normal_tissue_priority=None writes no NTO; a negative priority is refused before any write."""
    ctx = stub.load_context("LRRC-01")
    planner = _planner(ctx, normal_tissue_priority=None)
    planner.begin_modifications()
    planner.write_objectives(_objectives(30.0))
    assert "AddAutomaticNormalTissueObjective" not in [e.member for e in stub.journal()]
    with pytest.raises(InputError, match="normal_tissue_priority"):
        _planner(ctx, normal_tissue_priority=-1.0)


# -- prior brachytherapy ---------------------------------------------------------------------------------
def _with_prior_brachy(patient_id: str = "LRRC-01") -> Tuple[Any, Any]:
    """The stub patient with a treated HDR plan ``HDR_7x4`` (7 Gy × 4, a BrachyPlanSetup) added to its
    prior course; its dose is the prior external plan's dose × 28/45 (a stand-in dose, any will do)."""
    model = load_patient(patient_id)
    prior_course = next(c for c in model.courses if c.id != model.current_course_id)
    external = prior_course.plans[0]
    assert external.dose is not None

    @dataclasses.dataclass(frozen=True, eq=False)
    class BrachyPlan(PlanModel):
        modality: str = "brachytherapy"

    fields = {f.name: getattr(external, f.name) for f in dataclasses.fields(PlanModel)
              if f.name not in ("modality", "id", "n_fractions", "prescription_gy", "beams", "dose")}
    dose = dataclasses.replace(external.dose, values_gy=external.dose.values_gy * (28.0 / 45.0))
    brachy = BrachyPlan(id="HDR_7x4", n_fractions=4, prescription_gy=28.0, beams=(), dose=dose, **fields)
    courses = tuple(dataclasses.replace(c, plans=(*c.plans, brachy)) if c is prior_course else c
                    for c in model.courses)
    return dataclasses.replace(model, courses=courses), brachy


def test_course_plans_adds_brachy_plans_not_in_plan_setups() -> None:
    """Course.PlanSetups then the BrachyPlanSetups it did not list, once per plan id."""
    ext, hdr = SimpleNamespace(Id="EXT"), SimpleNamespace(Id="HDR")
    assert course_plans(SimpleNamespace(PlanSetups=[ext], BrachyPlanSetups=[hdr])) == [ext, hdr]
    assert course_plans(SimpleNamespace(PlanSetups=[ext, hdr], BrachyPlanSetups=[hdr])) == [ext, hdr]
    assert course_plans(SimpleNamespace(PlanSetups=[ext], BrachyPlanSetups=[])) == [ext]


@pytest.mark.parametrize("unit", UNITS)
def test_a_prior_brachy_plan_is_a_prior_course_with_its_own_fractions(fresh: Any, unit: str) -> None:
    """Stub model: a treated BrachyPlanSetup of the prior course is selected by the engine's rule and read
    with its own dose (TOTAL Gy, within one count) and fractions (4), beside the external plan (25); the
    snapshot records each prior course's modality."""
    model, brachy = _with_prior_brachy()
    ctx = stub.load_context(model, unit)
    snap = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup).read()
    got = {p.plan_id: p for p in snap.prior_courses}
    assert sorted(got) == ["HDR_7x4", "PELVIS_45"]
    assert (got["HDR_7x4"].n_fractions, got["PELVIS_45"].n_fractions) == (4, 25)
    assert got["HDR_7x4"].prescription_gy == pytest.approx(28.0)
    assert got["HDR_7x4"].course_id == got["PELVIS_45"].course_id
    assert (got["HDR_7x4"].modality, got["PELVIS_45"].modality) == ("brachytherapy", "external")
    values = brachy.dose.values_gy
    np.testing.assert_allclose(got["HDR_7x4"].dose.values_gy, values, rtol=0,
                               atol=float(values.max()) / 2 ** 24)
