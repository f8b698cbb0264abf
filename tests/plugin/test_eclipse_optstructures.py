"""The Eclipse adapter makes reirrad's optimisation structures (issue 20 item 1) in the ESAPI stand-in.

Sources of truth: the engine's recipe and its expected volumes (:mod:`reirrad.optstructures`,
:mod:`reirrad.roi_algebra`), the stub-patient model (the clinician's structures), the stand-in's journal
(which writes were made), and the ownership rule of :class:`reirrad.ports.StructureMaker`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from reirrad.dvh import DVH
from reirrad.errors import InputError
from reirrad.objectives import OptimizationObjective
from reirrad.optstructures import (
    OptimisationRecipe,
    OptimisationStructure,
    check_volumes,
    optimisation_recipe,
)
from reirrad.ports import StructureMaker
from reirrad.protocol import load_protocol
from reirrad.roi_algebra import Expression, Margin, Operation, expected_volume_cc
from reirrad.structures import structure_occupancy
from reirrad.workflow import PreparedCase, WorkflowOptions, prepare, run
from reirrad_tps.eclipse import (
    ApprovedPlanError,
    EclipseCaseSource,
    EclipsePlanner,
    ModificationsNotBegunError,
    ReadOnlySessionError,
    StructureSetNotWritableError,
)
from tests.ports_support import assert_signatures_match
from tps_stubs import esapi as stub
from tps_stubs.direct import DirectCase
from tps_stubs.patients import load_patient
from tps_stubs.patients.model import StubPatient

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
PREFIX = PROTOCOL.optimisation_structures.name_prefix  # type: ignore[union-attr]
PATIENT = "LRRC-01"
PLANNED_START = dt.date(2026, 12, 7)


@pytest.fixture(scope="module")
def prepared() -> PreparedCase:
    return prepare(PROTOCOL, DirectCase(PATIENT).read(), WorkflowOptions(dry_run=True))


@pytest.fixture(scope="module")
def recipes(prepared: PreparedCase) -> Dict[float, OptimisationRecipe]:
    """The engine's recipes at 45 and 30 Gy (no structure of reirrad's in the case yet)."""
    return {level: optimisation_recipe(prepared, level) for level in (45.0, 30.0)}


def _with_approval(patient_id: str, approved: bool) -> StubPatient:
    """The stub patient with every structure set approved or not (LRRC-01's planning set is not)."""
    model = load_patient(patient_id)
    return dataclasses.replace(model, structure_sets=tuple(dataclasses.replace(s, approved=approved)
                                                           for s in model.structure_sets))


def _session(*, approved: bool = False, writeable: bool = True, begin: bool = True,
             **kwargs: Any) -> Tuple[Any, EclipsePlanner]:
    model = _with_approval(PATIENT, approved)
    ctx = stub.load_context(model, "Gy", writeable=writeable)
    planner = EclipsePlanner(ctx.ExternalPlanSetup, patient=ctx.Patient, **kwargs)
    if begin:
        planner.begin_modifications()
    return ctx, planner


def _structures(ctx: Any) -> Dict[str, Any]:
    return {str(s.Id): s for s in ctx.ExternalPlanSetup.StructureSet.Structures}


def _clinicians(ctx: Any) -> Dict[str, Tuple[str, float, List[Any]]]:
    """Each clinician's structure: DICOM type, volume and its contours on every image plane."""
    sset = ctx.ExternalPlanSetup.StructureSet
    nz = int(sset.Image.ZSize)
    out = {}
    for sid, s in _structures(ctx).items():
        if sid.startswith(PREFIX):
            continue
        contours = [np.array([[p.x, p.y, p.z] for p in c]).tolist()
                    for z in range(nz) for c in s.GetContoursOnImagePlane(z)]
        out[sid] = (str(s.DicomType), float(s.Volume), contours)
    return out


def _structure_writes(entries: List[Any]) -> List[Any]:
    return [e for e in entries if e.object_type in ("Structure", "StructureSet")]


def _assert_only_own_writes(entries: List[Any]) -> None:
    """Every structure write the stand-in journalled: AddStructure("CONTROL", <prefixed id>) on the set, or
    a write on a structure with the prefix."""
    writes = _structure_writes(entries)
    assert writes
    for e in writes:
        if e.member == "AddStructure":
            assert e.arguments[0] == "CONTROL" and e.arguments[1].startswith(PREFIX), e
        else:
            assert e.object_type == "Structure" and e.object_id.startswith(PREFIX), e


def _prv_bounds(prepared: PreparedCase, made: OptimisationStructure) -> Tuple[float, float]:
    """The engine's volume of the PRV's organ grown by 2 mm and by the PRV margin: the stand-in's lattice
    ball (voxel centres within the margin of a segment voxel's centre, tps_stubs/esapi/DEVIATIONS.md) on
    LRRC-01's 2 × 2 × 2.5 mm image reaches at least one in-plane voxel (2 mm) and never beyond the margin."""
    (source,) = made.operation.a.sources
    margin = made.operation.a.margin.distance_mm("right")
    key = made.oar_key
    assert key is not None and prepared.oar_structures[key] == source
    occupancy = {source: prepared.oar_occupancy[key]}
    grid = prepared.snapshot.dose_grid
    grown_2mm = Operation(Expression((source,), Margin.isotropic("expand", 2.0)))
    low = expected_volume_cc(grown_2mm, occupancy, grid)
    high = expected_volume_cc(made.operation, occupancy, grid)
    assert margin == 3.0 and high == pytest.approx(made.expected_volume_cc, rel=1e-9)
    return low, high


# -- making them ---------------------------------------------------------------------------------------
def test_the_planner_is_a_structure_maker(fresh: Any) -> None:
    """reirrad.ports.StructureMaker: the three methods with the port's signatures."""
    _, planner = _session()
    assert_signatures_match(planner, StructureMaker)


def test_the_recipe_is_made_as_control_structures_with_the_engines_volumes(
        fresh: Any, prepared: PreparedCase, recipes: Dict[float, OptimisationRecipe]) -> None:
    """Engine recipe at 45 Gy: every structure is made, DICOM type CONTROL, and the volume returned is the
    structure's Structure.Volume. The optimisation target and the ring agree with the engine's expected
    volume within the recipe's tolerance (check_volumes finds nothing); each PRV lies between the engine's
    volume of its organ grown by 2 mm and by 3 mm (the stand-in's voxel-lattice margin, _prv_bounds)."""
    recipe = recipes[45.0]
    ctx, planner = _session()
    before = _clinicians(ctx)
    assert planner.owned_structure_ids(PREFIX) == []
    assert planner.structures_not_writable() is None
    volumes = planner.make_structures(recipe.structures, PREFIX)
    made = _structures(ctx)
    assert list(volumes) == [s.name for s in recipe.structures]
    for s in recipe.structures:
        assert str(made[s.name].DicomType) == "CONTROL"
        assert volumes[s.name] == float(made[s.name].Volume) > 0.0
    assert sorted(planner.owned_structure_ids(PREFIX)) == sorted(volumes)
    findings = check_volumes(recipe, volumes)
    flagged = {f.subject for f in findings}
    assert flagged <= {s.name for s in recipe.structures if s.role == "prv"}, findings
    for s in recipe.structures:
        if s.role == "prv":
            low, high = _prv_bounds(prepared, s)
            assert low <= volumes[s.name] <= high, (s.name, low, volumes[s.name], high)
    assert _clinicians(ctx) == before
    _assert_only_own_writes(stub.journal())


@pytest.mark.xfail(strict=True, reason="the ESAPI stand-in grows a segment by its voxel-centre lattice ball "
                   "(2 mm in-plane steps for a 3 mm margin on LRRC-01's image), 11-16 % short of a 3 mm "
                   "growth for the rectum and sacral plexus PRVs; Eclipse grows its surface model")
def test_every_prv_agrees_with_the_engine_within_the_tolerance(
        fresh: Any, recipes: Dict[float, OptimisationRecipe]) -> None:
    """The issue's acceptance check for the PRVs too: check_volumes finds nothing at 45 Gy."""
    _, planner = _session()
    planner.owned_structure_ids(PREFIX)
    assert check_volumes(recipes[45.0], planner.make_structures(recipes[45.0].structures, PREFIX)) == []


def test_a_rerun_updates_the_same_structures_and_no_clinicians(
        fresh: Any, prepared: PreparedCase, recipes: Dict[float, OptimisationRecipe]) -> None:
    """A second run at 45 Gy and one at 30 Gy update reirrad's structures in place (same count, no copies;
    the names come back from the recipe built on the case as Eclipse now holds it, with owned_ids), and
    the clinician's structures keep their type, volume and every contour point."""
    ctx, planner = _session()
    before = _clinicians(ctx)
    planner.owned_structure_ids(PREFIX)
    first = planner.make_structures(recipes[45.0].structures, PREFIX)
    count = len(_structures(ctx))
    assert count == len(before) + len(first)

    again = planner.make_structures(recipes[45.0].structures, PREFIX)
    assert again == first and len(_structures(ctx)) == count

    owned = planner.owned_structure_ids(PREFIX)
    snapshot = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, planned_start=PLANNED_START).read()
    reread = prepare(PROTOCOL, snapshot, WorkflowOptions(dry_run=True))
    lower = optimisation_recipe(reread, 30.0, owned_ids=owned)
    assert [s.name for s in lower.structures] == [s.name for s in recipes[30.0].structures] == list(first)
    third = planner.make_structures(lower.structures, PREFIX)
    assert len(_structures(ctx)) == count and sorted(planner.owned_structure_ids(PREFIX)) == sorted(first)
    opt = f"{PREFIX}PTV_opt"
    # fewer OARs fall below 30 Gy than below 45 Gy: the optimisation target grows back, as the engine says
    assert set(lower.subtracted_oars) < set(recipes[45.0].subtracted_oars)
    assert lower.structure(opt).expected_volume_cc > recipes[45.0].structure(opt).expected_volume_cc
    assert third[opt] > first[opt]
    assert {n: v for n, v in third.items() if n != opt} == {n: v for n, v in first.items() if n != opt}
    assert _clinicians(ctx) == before
    adds = [e for e in stub.journal() if e.member == "AddStructure"]
    assert len(adds) == len(first)
    _assert_only_own_writes(stub.journal())


# -- ownership -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("dicom_type", "name"), [("ORGAN", "zRR_PTV_opt"), ("CONTROL", "zrr_PTV_opt")])
def test_a_clinicians_colliding_structure_is_not_owned_and_never_written(
        fresh: Any, recipes: Dict[float, OptimisationRecipe], dicom_type: str, name: str) -> None:
    """A clinician's structure with the recipe's name (another type, or the prefix in another case) is
    not reirrad's: owned_structure_ids leaves it out, make_structures refuses before any write."""
    ctx, planner = _session()
    sset = ctx.ExternalPlanSetup.StructureSet
    theirs = sset.AddStructure(dicom_type, name)  # as the clinician would
    theirs.SegmentVolume = _structures(ctx)["PTV"].SegmentVolume
    plain = sset.AddStructure("CONTROL", "PTV_helper")  # CONTROL without the prefix
    plain.SegmentVolume = _structures(ctx)["PTV"].SegmentVolume
    before = _clinicians(ctx)
    state = (str(theirs.DicomType), float(theirs.Volume))
    written = len(stub.journal())
    assert planner.owned_structure_ids(PREFIX) == []
    with pytest.raises(InputError, match=name):
        planner.make_structures(recipes[45.0].structures, PREFIX)
    assert len(stub.journal()) == written
    assert (str(theirs.DicomType), float(theirs.Volume)) == state
    assert _clinicians(ctx) == before


def test_names_longer_than_16_characters_and_anisotropic_margins_are_refused(
        fresh: Any, recipes: Dict[float, OptimisationRecipe]) -> None:
    """ESAPI 15.6 ids take 16 characters; AxisAlignedMargins' axes are not confirmed (isotropic only)."""
    _, planner = _session()
    planner.owned_structure_ids(PREFIX)
    ring = recipes[45.0].structure(f"{PREFIX}Ring")
    long = dataclasses.replace(ring, name=f"{PREFIX}Ring_far_outside")
    written = len(stub.journal())
    with pytest.raises(InputError, match="zRR_Ring_far_outside"):
        planner.make_structures([long], PREFIX)
    sideways = Margin("expand", 5.0, 5.0, 5.0, 5.0, 10.0, 10.0)
    skewed = dataclasses.replace(ring, operation=Operation(Expression(("PTV",), sideways)))
    with pytest.raises(InputError, match="anisotropic"):
        planner.make_structures([skewed], PREFIX)
    foreign = dataclasses.replace(ring, name="Ring")
    with pytest.raises(InputError, match="prefix"):
        planner.make_structures([foreign], PREFIX)
    assert len(stub.journal()) == written


# -- refusals --------------------------------------------------------------------------------------------
def test_an_approved_structure_set_takes_nothing(fresh: Any,
                                                 recipes: Dict[float, OptimisationRecipe]) -> None:
    """LRRC-01 with its planning structure set approved: CanAddStructure is False."""
    ctx, planner = _session(approved=True)
    reason = planner.structures_not_writable()
    assert reason is not None and "CT_PLAN" in reason and "approved" in reason
    count = len(_structures(ctx))
    planner.owned_structure_ids(PREFIX)
    with pytest.raises(StructureSetNotWritableError, match="approved"):
        planner.make_structures(recipes[45.0].structures, PREFIX)
    assert isinstance(StructureSetNotWritableError("x"), ApprovedPlanError)
    assert len(_structures(ctx)) == count and _structure_writes(stub.journal()) == []


def _sharing_its_set_with_the_prior() -> StubPatient:
    """LRRC-01 with the treated prior plan PELVIS_45 on the new plan's structure set (CT_PLAN; the image
    geometry is the same, so the prior dose is unchanged)."""
    model = load_patient(PATIENT)
    courses = tuple(dataclasses.replace(c, plans=tuple(
        dataclasses.replace(p, image_id="CT_PLAN", structure_set_id="CT_PLAN") if p.id == "PELVIS_45" else p
        for p in c.plans)) for c in model.courses)
    return dataclasses.replace(model, courses=courses)


@pytest.mark.parametrize("set_lock", ["plans", "approval"])
def test_a_structure_set_a_treated_plan_uses_takes_nothing_whatever_eclipse_allows(
        fresh: Any, recipes: Dict[float, OptimisationRecipe], set_lock: str) -> None:
    """Whether Eclipse locks a treated plan's structure set is not in the reference; the stand-in models
    both (``set_lock``: "plans" locks it, "approval" only an approved set). Under either, the adapter
    refuses to add structures to the set the Completed PELVIS_45 uses, naming it and the fix, and writes
    nothing; the run plans without optimisation structures (the engine's flag)."""
    ctx = stub.load_context(_sharing_its_set_with_the_prior(), "Gy", set_lock=set_lock)
    planner = EclipsePlanner(ctx.ExternalPlanSetup, patient=ctx.Patient)
    planner.begin_modifications()
    sset = ctx.ExternalPlanSetup.StructureSet
    assert bool(sset.CanAddStructure("CONTROL", "zRR_probe")) == (set_lock == "approval")
    reason = planner.structures_not_writable()
    assert reason is not None and "also the structure set of plan(s) C1_LCCRT/PELVIS_45 (Completed" in reason
    assert "copy the structure set in Eclipse" in reason
    count = len(_structures(ctx))
    with pytest.raises(StructureSetNotWritableError, match=r"C1_LCCRT/PELVIS_45.*Nothing was written"):
        planner.make_structures(recipes[45.0].structures, PREFIX)
    assert len(_structures(ctx)) == count and _structure_writes(stub.journal()) == []


@pytest.mark.parametrize(("writeable", "begin", "error", "words"), [
    (False, False, ReadOnlySessionError, "CanModifyData"),
    (True, False, ModificationsNotBegunError, "BeginModifications"),
])
def test_a_read_only_session_or_modifications_not_begun_write_nothing(
        fresh: Any, recipes: Dict[float, OptimisationRecipe], writeable: bool, begin: bool, error: Any,
        words: str) -> None:
    """The planner's guards: the reason names the cause, make_structures raises its error, no write."""
    ctx, planner = _session(writeable=writeable, begin=begin)
    reason = planner.structures_not_writable()
    assert reason is not None and words in reason
    count = len(_structures(ctx))
    with pytest.raises(error):
        planner.make_structures(recipes[45.0].structures, PREFIX)
    assert len(_structures(ctx)) == count and _structure_writes(stub.journal()) == []


def test_make_structures_needs_the_prefix(fresh: Any, recipes: Dict[float, OptimisationRecipe]) -> None:
    _, planner = _session()
    with pytest.raises(InputError, match="prefix"):
        planner.make_structures(recipes[45.0].structures, "")


# -- optimising on them ----------------------------------------------------------------------------------
def _objectives(target: str, rx: float) -> List[OptimizationObjective]:
    return [OptimizationObjective(target, "lower", rx, 95.0, 80.0, "target"),
            OptimizationObjective("PTV", "max", 1.4 * rx, 0.0, 80.0, "target"),
            OptimizationObjective("Rectum", "upper", 20.0, 1.0, 100.0, "oar"),
            OptimizationObjective("SacralPlex", "upper", 20.0, 1.0, 100.0, "oar")]


def test_optimising_on_the_made_target_works_and_changes_the_dose(
        fresh: Any, recipes: Dict[float, OptimisationRecipe]) -> None:
    """The stand-in optimiser takes the made zRR_PTV_opt as a mask (its lower objective counts underdose
    only there): the optimisation succeeds, and the dose differs from the one with the lower objective on
    the PTV, lower where the PTV overlaps the subtracted organs (the trade-off)."""
    rx = 45.0
    _, planner = _session()
    planner.owned_structure_ids(PREFIX)
    planner.make_structures(recipes[rx].structures, PREFIX)
    opt = f"{PREFIX}PTV_opt"
    doses = {}
    for target in ("PTV", opt):
        planner.set_prescription(rx, 5)
        planner.write_objectives(_objectives(target, rx))
        planner.optimise()
        doses[target] = planner.compute_dose()
    assert not np.allclose(doses["PTV"].values_gy, doses[opt].values_gy)
    assert "rectum" in recipes[rx].subtracted_oars
    snapshot = DirectCase(PATIENT).read()

    def dose_at(sid: str, target: str, pct: float) -> float:
        occupancy = structure_occupancy(snapshot.structure(sid).contours_mm, doses[target], name=sid)
        return DVH.from_dose(doses[target], occupancy).dose_at_volume_pct(pct)

    # underdose of the PTV where it overlaps the rectum's PRV no longer counts: the rectum's near-maximum
    # comes down and the PTV's D95 with it
    assert dose_at("Rectum", opt, 1.0) < dose_at("Rectum", "PTV", 1.0)
    assert dose_at("PTV", opt, 95.0) < dose_at("PTV", "PTV", 95.0)


def test_the_planning_run_makes_them_through_the_port(fresh: Any) -> None:
    """reirrad.workflow.run with the Eclipse source and planner on LRRC-01 with an unapproved structure set:
    the result's optimisation_structures carry the TPS's volumes (Structure.Volume read back), and the
    structures are in Eclipse as CONTROL."""
    ctx, planner = _session()
    snapshot = EclipseCaseSource(ctx.Patient, ctx.ExternalPlanSetup, planned_start=PLANNED_START).read()
    result = run(PROTOCOL, snapshot, planner, WorkflowOptions())
    entries = result.optimisation_structures
    made = _structures(ctx)
    assert entries and {e["name"] for e in entries} == set(planner.owned_structure_ids(PREFIX))
    for e in entries:
        assert str(made[e["name"]].DicomType) == "CONTROL"
        assert e["volume_cc"] == pytest.approx(float(made[e["name"]].Volume))
