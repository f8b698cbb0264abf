"""reirrad's optimisation structures made by the RayStation adapter (``reirrad_tps.raystation.structures``)
in the RayStation stand-in.

Sources of truth: the engine's recipe and expected volumes (:mod:`reirrad.optstructures`), the stand-in's
ROI algebra (``tps_stubs/raystation/roi_algebra.py``, DEVIATIONS.md) and docs/reference/raystation.md §9
(margins in cm, ``Type='Control'``, approval through ``SubStructureSets``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Dict, Iterator, List

import numpy as np
import pytest

import tps_stubs.raystation as rs
from reirrad.errors import ApprovedPlanError, InputError
from reirrad.objectives import OptimizationObjective
from reirrad.optstructures import OptimisationRecipe, check_volumes, optimisation_recipe
from reirrad.protocol import load_protocol
from reirrad.roi_algebra import Margin
from reirrad.workflow import PreparedCase, WorkflowOptions, prepare
from reirrad_tps.raystation import CopyOnFirstWritePlanner, RayStationCaseSource, entry
from reirrad_tps.raystation import structures as rs_structures
from tests.raystation_support import roi_volumes, rs_planner

VERSION = "2024B"
PREFIX = "zRR_"
PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


@pytest.fixture(autouse=True)
def _unload() -> Iterator[None]:
    yield
    rs.unload()




def _prepared(version: str = VERSION) -> PreparedCase:
    patient, case, plan, beam_set, exam = entry.current_objects(version)
    snapshot = RayStationCaseSource(case, plan, beam_set, exam, patient=patient, tps_version=version,
                                    prior_dates={"PELVIS_45": dt.date(2024, 6, 7)},
                                    planned_start=dt.date(2026, 12, 7)).read()
    return prepare(PROTOCOL, snapshot, WorkflowOptions(dry_run=True))


@pytest.fixture(scope="module")
def recipes(unapproved: Path) -> Dict[float, OptimisationRecipe]:
    """The engine's recipes at 45 and 30 Gy for the unapproved LRRC-01 (nothing made yet)."""
    rs.load(unapproved, VERSION)
    prepared = _prepared()
    rs.unload()
    return {level: optimisation_recipe(prepared, level) for level in (45.0, 30.0)}




def test_the_recipe_is_made_as_control_rois_with_the_engines_volumes(unapproved: Path, recipes: Any) -> None:
    """Engine: every structure exists, Type Control, its stand-in volume within the recipe's tolerance."""
    rs.load(unapproved, VERSION)
    planner, case, _ = rs_planner()
    assert planner.structures_not_writable() is None
    assert planner.owned_structure_ids(PREFIX) == []
    recipe = recipes[45.0]
    volumes = planner.make_structures(recipe.structures, PREFIX)
    assert list(volumes) == [s.name for s in recipe.structures]
    for s in recipe.structures:
        assert case.PatientModel.RegionsOfInterest[s.name].Type == "Control"
    assert check_volumes(recipe, volumes) == []
    assert planner.owned_structure_ids(PREFIX) == [s.name for s in recipe.structures]


def test_a_rerun_updates_the_same_rois_and_no_clinician_roi(unapproved: Path, recipes: Any) -> None:
    """Stand-in state: a re-run (same level, then another, from a fresh read) adds no ROI and changes no
    clinician ROI's volume; the target changes with the level."""
    rs.load(unapproved, VERSION)
    planner, case, beam_set = rs_planner()
    planner.owned_structure_ids(PREFIX)
    first = planner.make_structures(recipes[45.0].structures, PREFIX)
    before = roi_volumes(case, beam_set)
    clinician = {n: v for n, v in before.items() if not n.startswith(PREFIX)}
    again = planner.make_structures(recipes[45.0].structures, PREFIX)
    assert again == pytest.approx(first)
    prepared = _prepared()  # a new run reads the case again: reirrad's ROIs are now in it
    owned = planner.owned_structure_ids(PREFIX)
    recipe30 = optimisation_recipe(prepared, 30.0, owned_ids=owned)
    assert [s.name for s in recipe30.structures] == [s.name for s in recipes[45.0].structures]
    lower = planner.make_structures(recipe30.structures, PREFIX)
    after = roi_volumes(case, beam_set)
    assert sorted(after) == sorted(before)  # no duplicate
    assert {n: after[n] for n in clinician} == clinician
    target = f"{PREFIX}PTV_opt"
    assert lower[target] > first[target]  # fewer OARs subtracted at 30 Gy
    assert check_volumes(recipe30, lower) == []


@pytest.mark.parametrize("roi_type,name", [("Organ", "zRR_PTV_opt"), ("Control", "PTV_opt")])
def test_a_clinician_roi_is_not_owned_and_never_written(unapproved: Path, recipes: Any, roi_type: str,
                                                        name: str) -> None:
    """§9 / ownership rule: a colliding ROI that is not Control, or without the prefix, is not reirrad's;
    making a structure of that name is refused before anything is written."""
    rs.load(unapproved, VERSION)
    planner, case, beam_set = rs_planner()
    case.PatientModel.CreateRoi(Name=name, Color="Red", Type=roi_type)
    assert name not in planner.owned_structure_ids(PREFIX)
    recipe = recipes[45.0]
    structures = list(recipe.structures)
    if not name.startswith(PREFIX):  # the engine never asks for it; the adapter refuses defensively
        structures[-2] = type(structures[-2])(name, "target-opt", structures[-2].operation, 1.0, "test")
    before = roi_volumes(case, beam_set)
    with pytest.raises(InputError, match=r"not reirrad's|prefix"):
        planner.make_structures(structures, PREFIX)
    assert roi_volumes(case, beam_set) == before


@pytest.mark.parametrize("version", ["11B", "12A", VERSION])
def test_an_approved_structure_set_is_refused_and_nothing_written(version: str, recipes: Any,
                                                                  approved: Path) -> None:
    """§9 'Structure-set approval (12A+)' / 11B ApprovedStructureSets: LRRC-01 with its planning structure
    set approved."""
    rs.load(approved, version)
    planner, case, beam_set = rs_planner(version)
    reason = planner.structures_not_writable()
    assert reason is not None and "approved" in reason
    before = roi_volumes(case, beam_set)
    with pytest.raises(ApprovedPlanError, match="approved"):
        planner.make_structures(recipes[45.0].structures, PREFIX)
    assert roi_volumes(case, beam_set) == before


def test_the_copy_planner_reads_without_copying_and_copies_before_making(unapproved: Path,
                                                                        recipes: Any) -> None:
    """planner.py: structures are case-level; making them is a write (the plan copy first), reading is not."""
    rs.load(unapproved, VERSION)
    _, case, plan, beam_set, _ = entry.current_objects(VERSION)
    wrapper = CopyOnFirstWritePlanner(case, plan, beam_set, version=VERSION)
    assert wrapper.structures_not_writable() is None
    assert wrapper.owned_structure_ids(PREFIX) == []
    assert wrapper.plan_name is None
    volumes = wrapper.make_structures(recipes[45.0].structures, PREFIX)
    assert wrapper.plan_name is not None and check_volumes(recipes[45.0], volumes) == []
    assert wrapper.owned_structure_ids(PREFIX) == [s.name for s in recipes[45.0].structures]


def _objectives(target: str, rx_gy: float) -> List[OptimizationObjective]:
    return [
        OptimizationObjective(target, "lower", rx_gy, 95.0, 80.0, "target"),
        OptimizationObjective("PTV", "max", 1.4 * rx_gy, 0.0, 80.0, "target"),
        OptimizationObjective("SacralPlex", "upper", 24.0, 1.0, 100.0, "oar"),
        OptimizationObjective("Rectum", "mean", 10.0, 0.0, 95.0, "oar"),
    ]


def test_optimising_on_the_created_ptv_opt_uses_its_mask(unapproved: Path, recipes: Any) -> None:
    """Stand-in planner: a lower objective on a created ROI counts its voxels (mask path), so the dose
    differs from the same objectives with the lower one on the PTV."""
    doses = {}
    for target in ("PTV", f"{PREFIX}PTV_opt"):
        rs.load(unapproved, VERSION)
        planner, _, _ = rs_planner()
        planner.make_structures(recipes[45.0].structures, PREFIX)
        planner.write_objectives(_objectives(target, 45.0))
        planner.optimise()
        doses[target] = planner.compute_dose().values_gy
        rs.unload()
    assert not np.allclose(doses["PTV"], doses[f"{PREFIX}PTV_opt"])


def test_a_3_mm_prv_is_made_with_0_3_cm(unapproved: Path, recipes: Any, monkeypatch: Any) -> None:
    """§9: margins are cm; the engine's 3 mm becomes 0.3 in every direction, and the PRV's volume is the
    engine's (a 3 cm margin would be many times larger)."""
    assert rs_structures.margin_settings(Margin.isotropic("expand", 3.0)) == {
        "Type": "Expand", "Right": 0.3, "Left": 0.3, "Anterior": 0.3, "Posterior": 0.3, "Inferior": 0.3,
        "Superior": 0.3}
    calls: List[Dict[str, Any]] = []
    original = rs_structures.margin_keywords

    def spy(operation: Any, examination: Any) -> Any:
        keywords = original(operation, examination)
        calls.append(keywords)
        return keywords

    monkeypatch.setattr(rs_structures, "margin_keywords", spy)
    rs.load(unapproved, VERSION)
    planner, _, beam_set = rs_planner()
    prv = next(s for s in recipes[45.0].structures if s.name == f"{PREFIX}PRV_SacPlx")
    volumes = planner.make_structures([prv], PREFIX)
    (call,) = calls  # a PRV is CreateMarginGeometry, the form public scripts confirm
    assert call["SourceRoiName"] == "SacralPlex"
    assert call["MarginSettings"]["Superior"] == pytest.approx(0.3)
    organ = beam_set.GetStructureSet().RoiGeometries["SacralPlex"].GetRoiVolume()
    assert organ < volumes[prv.name] < 4.0 * organ  # a thin organ: 3 mm doubles it; 3 cm would be ~30x
    assert abs(volumes[prv.name] - prv.expected_volume_cc) <= 0.1 * prv.expected_volume_cc


@pytest.mark.parametrize("other", ["Skin", "Femur_Head_L"])
def test_an_operand_empty_near_the_ptv_is_an_empty_set(unapproved: Path, other: str) -> None:
    """Stand-in (DEVIATIONS.md, ROI algebra): an operand with no geometry in the working region (the skin
    shell around the PTV, a far femoral head) is an empty set: PTV − it is the PTV, PTV ∩ it is empty."""
    rs.load(unapproved, VERSION)
    _, case, beam_set = rs_planner()
    exam = beam_set.GetPlanningExamination()
    structure_set = beam_set.GetStructureSet()
    zero = rs_structures.margin_settings(Margin.zero())
    ptv = structure_set.RoiGeometries["PTV"].GetRoiVolume()
    for operation in ("Subtraction", "Intersection"):
        roi = case.PatientModel.CreateRoi(Name=f"zRR_{operation}", Color="Red", Type="Control")
        roi.CreateAlgebraGeometry(Examination=exam, Algorithm="Auto",
                                  ExpressionA={"Operation": "Union", "SourceRoiNames": ["PTV"],
                                               "MarginSettings": zero},
                                  ExpressionB={"Operation": "Union", "SourceRoiNames": [other],
                                               "MarginSettings": zero},
                                  ResultOperation=operation, ResultMarginSettings=zero)
    assert structure_set.RoiGeometries["zRR_Subtraction"].GetRoiVolume() == pytest.approx(ptv, rel=0.01)
    assert structure_set.RoiGeometries["zRR_Intersection"].PrimaryShape is None
