"""The low-tolerance part of each OAR (reirrad.spatial, issue 20 item 3's engine part).

Sources of truth: the definition (voxel-wise remaining EQD2 below the metric method's: with one prior
course, the voxels whose prior dose exceeds the prior metric dose), the stub patient EDGE-01's definition
(the 60 Gy boost sphere centred at (-35, -5, -10) mm, radius 28 mm, lies far from the new PTV centred at
(62, 5, 52) mm), and properties that must hold (never above the metric level's allowed dose).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from reirrad.dvh import DVH
from reirrad.errors import InputError
from reirrad.planstructures import StructureRun
from reirrad.protocol import PROTOCOL_DIR, load_protocol, parse_protocol
from reirrad.runner import execute
from reirrad.snapshot import StructureData
from reirrad.spatial import INSIDE, low_tolerance_regions, spatial_plan
from reirrad.structures import structure_occupancy
from reirrad.workflow import WorkflowOptions, prepare, run
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


@pytest.fixture(scope="module")
def edge():
    return prepare(PROTOCOL, DirectCase("EDGE-01").read(), WorkflowOptions(dry_run=True))


def test_the_small_bowels_low_tolerance_part_is_in_the_boosted_loop(edge):
    """EDGE-01: the region lies in the loop inside the 60 Gy boost (its centre within the boost sphere's
    28 mm radius of (-35, -5, -10)), far from the new PTV; every voxel of it got more than the prior
    D0.5cc, and it is no larger than the metric's volume would allow for a near-maximum metric (≤ 1 cm³)."""
    (region,) = [r for r in low_tolerance_regions(edge) if r.oar_key == "small_bowel"]
    centre = np.asarray(region.centroid_mm)
    assert np.linalg.norm(centre - np.array([-35.0, -5.0, -10.0])) < 28.0
    assert np.linalg.norm(centre - np.array([62.0, 5.0, 52.0])) > 80.0
    prior = edge.prior_courses[0].dose
    metric = DVH.from_dose(prior, edge.oar_occupancy["small_bowel"]).metric_gy(
        PROTOCOL.oar("small_bowel").de_novo.metric)
    assert np.all(np.asarray(prior.values_gy)[region.voxels] > metric)
    assert np.all(np.asarray(edge.oar_occupancy["small_bowel"].fraction)[region.voxels] >= INSIDE)
    assert 0.0 < region.volume_cc <= 1.0


def test_the_allowed_dose_is_the_lq_inverse_of_the_smallest_remaining_and_below_the_metric_level(edge):
    """A region's allowed dose is the physical dose in n fractions whose EQD2 at the OAR's α/β equals its
    smallest remaining EQD2 E: EQD2 = D·(D/n + α/β)/(2 + α/β), so D = n/2·(−α/β + √((α/β)² + 4E(2 + α/β)/n))
    (closed form, independent of the maps' code). Being below the metric level's allowed dose then follows
    from the remaining EQD2 being lower (the region's definition): checked as a property."""
    regions = low_tolerance_regions(edge)
    assert regions
    n = edge.snapshot.plan.n_fractions
    for r in regions:
        ab = PROTOCOL.oar(r.oar_key).alpha_beta.value
        e = r.min_remaining_eqd2_gy
        expected = 0.0 if e <= 0.0 else n / 2.0 * (-ab + np.sqrt(ab * ab + 4.0 * e * (2.0 + ab) / n))
        assert r.allowed_physical_gy == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert r.allowed_physical_gy <= r.metric_allowed_physical_gy + 1e-9
        assert r.structure_id == edge.oar_structures[r.oar_key]


def test_no_prior_course_no_region():
    """Without prior dose there is no remaining-tolerance map, so no region."""
    snapshot = DirectCase("LRRC-01").read()
    bare = dataclasses.replace(snapshot, prior_courses=())
    prepared = prepare(PROTOCOL, bare, WorkflowOptions(dry_run=True, override_reason="test: no prior"))
    assert low_tolerance_regions(prepared) == []


# --------------------------------------------------------------------------------------
# Spatial objectives: the low-tolerance structures and their objectives (reirrad.spatial.spatial_plan)


def test_the_low_tolerance_structure_is_the_region_and_its_objective_is_stricter(edge):
    """EDGE-01: one structure, on the small bowel, named with the prefix within Eclipse's 16 characters;
    the engine's occupancy of its contours is the region voxel for voxel (outlines on the organ's planes,
    which here are the dose grid's slices); its objective is a maximum at the region's allowed dose minus
    the protocol's OAR objective margin, below the organ's own maximum objective."""
    plan = spatial_plan(edge)
    (s,) = plan.structures
    (region,) = plan.regions
    (obj,) = plan.objectives
    assert s.role == "low-tolerance" and s.oar_key == region.oar_key == "small_bowel"
    assert s.name.startswith("zRR_LT_") and len(s.name) <= 14  # 16 with room for a suffix "_9"
    occ = structure_occupancy(s.contours_mm, edge.snapshot.dose_grid, plane_spacing_mm=2.5, sub_samples=1)
    np.testing.assert_array_equal(np.asarray(occ.fraction) >= 0.5, region.voxels)
    assert s.expected_volume_cc == pytest.approx(region.volume_cc)
    margin = PROTOCOL.planning.oar_objective_margin.value
    assert (obj.structure_id, obj.kind, obj.oar_key) == (s.name, "max", "small_bowel")
    assert obj.dose_gy == pytest.approx(region.allowed_physical_gy - margin)
    organ_max = [o for o in edge.oar_objectives if o.oar_key == "small_bowel" and o.kind == "max"]
    assert organ_max and obj.dose_gy < min(o.dose_gy for o in organ_max)


def test_a_clinicians_structure_with_the_name_gets_a_suffix_and_reirrads_own_is_reused(edge):
    name = spatial_plan(edge).structures[0].name
    taken = dataclasses.replace(edge.snapshot, structures=(
        *edge.snapshot.structures, StructureData(name.lower(), "ORGAN", ())))
    other = dataclasses.replace(edge, snapshot=taken)
    assert spatial_plan(other).structures[0].name == f"{name}_1"
    mine = dataclasses.replace(edge.snapshot, structures=(
        *edge.snapshot.structures, StructureData(name, "CONTROL", ())))
    assert spatial_plan(dataclasses.replace(edge, snapshot=mine), owned_ids=[name]).structures[0].name == name


@pytest.fixture(scope="module")
def edge_spatial_outcome():
    """EDGE-01 planned (isotoxic) with spatial objectives, through the runner (result mapping, report)."""
    case = DirectCase("EDGE-01")
    planner = DirectPlanner(case, make_structures=True)
    return execute(PROTOCOL, case.read(), WorkflowOptions(objectives="spatial"), planner=planner), planner


@pytest.fixture(scope="module")
def edge_spatial(edge_spatial_outcome):
    outcome, planner = edge_spatial_outcome
    return outcome.run, planner


def test_a_spatial_run_makes_the_structure_writes_its_objective_and_meets_every_limit(edge_spatial):
    """EDGE-01 planned with spatial objectives: the structure is made once (not per level), reported with
    the TPS's volume, its objective is among those written, and every OAR meets its limits by the
    protocol's deciding method on the final dose (the cumulative evaluation is unchanged)."""
    result, planner = edge_spatial
    low = [e for e in result.optimisation_structures if e["role"] == "low-tolerance"]
    assert len(low) == 1 and low[0]["volume_cc"] == pytest.approx(low[0]["expected_volume_cc"])
    made = [j for j in planner.structure_journal if j["member"] == "make_outlined_structure"]
    assert [j["name"] for j in made] == [low[0]["name"]]
    assert any(o.structure_id == low[0]["name"] and o.kind == "max" for o in result.objectives)
    final = result.final_check.evaluation
    assert final.oars_ok
    for o in final.oars:
        assert o.deciding_method == PROTOCOL.cumulative.deciding_method
        assert o.passed is not False


def test_spatial_objectives_are_off_by_default_and_refused_when_unknown():

    settings = PROTOCOL.optimisation_structures
    assert settings is not None and settings.spatial_objectives is False
    assert (settings.spatial_choice.source, settings.spatial_choice.status) == ("project", "unverified")
    with pytest.raises(InputError, match="objectives must be one of"):
        WorkflowOptions(objectives="voxelwise")


def test_a_planner_that_cannot_write_contours_gets_a_flag_and_no_structure():

    prepared = prepare(PROTOCOL, DirectCase("EDGE-01").read(), WorkflowOptions(objectives="spatial"))

    class NoOutlines:
        def structures_not_writable(self):
            return None

        def owned_structure_ids(self, prefix):
            return []

        def make_structures(self, structures, prefix):
            return {s.name: s.expected_volume_cc for s in structures}

    run = StructureRun(prepared, NoOutlines())
    objectives = run.objectives_at(30.0)
    assert "spatial-objectives-not-supported" in [f.code for f in run.findings]
    assert not any(o.structure_id.startswith("zRR_LT_") for o in objectives)
    assert all(e["role"] != "low-tolerance" for e in run.result_entries())


def test_a_dry_run_previews_the_low_tolerance_structure_and_a_disabled_section_says_why():

    snapshot = DirectCase("EDGE-01").read()
    dry = run(PROTOCOL, snapshot, None, WorkflowOptions(dry_run=True, objectives="spatial"))
    low = [e for e in dry.optimisation_structures if e["role"] == "low-tolerance"]
    assert len(low) == 1 and low[0]["volume_cc"] is None and low[0]["expected_volume_cc"] > 0

    raw = yaml.safe_load((PROTOCOL_DIR / "uk-sabr-pelvis-reirradiation.yaml").read_text(encoding="utf-8"))
    raw["optimisation_structures"]["enabled"] = False
    off = parse_protocol(raw)
    prepared = prepare(off, snapshot, WorkflowOptions(objectives="spatial"))
    codes = [f.code for f in StructureRun(prepared, object()).findings]
    assert "spatial-objectives-not-made" in codes


def test_the_result_and_report_show_the_low_tolerance_structure(edge_spatial_outcome):
    """The result records the mode, the structure (role, TPS and engine volumes) and the choice's provenance;
    the report lists it and draws it on a remaining-tolerance slice through it."""
    pytest.importorskip("matplotlib")
    from reirrad.report import render_report  # noqa: PLC0415 - matplotlib is the report extra's

    outcome, _ = edge_spatial_outcome
    result = outcome.result
    assert result["objective_mode"] == "spatial"
    (entry,) = [e for e in result["optimisation_structures"] if e["role"] == "low-tolerance"]
    assert entry["operation"]["kind"] == "contours"
    assert entry["derived_from"][0]["structure_id"] == "Bowel_Small"
    used = result["provenance"]["values_used"]
    assert used["optimisation_structures.spatial_objectives"]["status"] == "unverified"
    page = render_report(outcome)
    assert 'data-role="low-tolerance"' in page
    assert f"through {entry['name']}" in page
