"""Optimisation structures in a planning run (issue 20 items 1, 2 and 4; reirrad.planstructures).

Sources of truth: the recipe's rule (docs/optimisation-structures.md: PTV_opt = PTV minus the PRV of every
OAR near it whose allowed dose is below the level), set algebra (the PTV is the disjoint union of the
optimisation target and the compromised region, so their volumes add up to the PTV's), the ownership rule
of reirrad.ports.StructureMaker, and the TPS-less planner's journal. The TPS stand-ins' own checks are in
tests/plugin/test_*_optstructures.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Sequence

import pytest

from reirrad.errors import InputError
from reirrad.optstructures import COMPROMISED, optimisation_recipe
from reirrad.protocol import load_protocol
from reirrad.report.data import map_slices
from reirrad.result import build_result
from reirrad.runner import OutputRequest, execute
from reirrad.workflow import WorkflowOptions, prepare, run
from reirrad_tps.planrun import plan_on_stub
from reirrad_tps.summary import summary
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
LIMIT = WorkflowOptions(intent="limit-toxicity")


@pytest.fixture(scope="module")
def lrrc_run():
    case = DirectCase("LRRC-01")
    planner = DirectPlanner(case, make_structures=True)
    workflow = run(PROTOCOL, case.read(), planner, LIMIT)
    return case, planner, workflow, build_result(workflow)


def test_a_run_records_the_structures_and_targets_ptv_opt(lrrc_run):
    """LRRC-01 at 30 Gy: a target-opt and a PRV per protocol OAR that has one, each with the TPS's and the
    engine's volume; the coverage objective is on PTV_opt, the target's maximum on the PTV, every OAR
    objective on a clinician's structure."""
    case, _, workflow, result = lrrc_run
    entries = {e["name"]: e for e in result["optimisation_structures"]}
    roles = sorted(e["role"] for e in entries.values())
    matched = workflow.prepared.oar_structures
    prvs = [p.oar_key for p in PROTOCOL.optimisation_structures.prvs if p.oar_key in matched]
    assert roles == sorted(["target-opt", "ring"] + ["prv"] * len(prvs))
    for e in entries.values():
        assert e["name"].startswith("zRR_") and e["volume_cc"] is not None and e["expected_volume_cc"] > 0
        assert e["derived_from"] and all(d["structure"] for d in e["derived_from"])
    clinician = {s.id for s in case.read().structures}
    target = [o for o in result["objectives"] if o["role"] == "target"]
    assert {(o["kind"], o["structure_id"]) for o in target} == {("lower", "zRR_PTV_opt"), ("max", "PTV")}
    assert all(o["structure_id"] in clinician for o in result["objectives"] if o["role"] == "oar")
    # the adapter's journal: every structure made once (one level, one recipe)
    assert sorted(j["name"] for j in workflow_planner_journal(lrrc_run)) == sorted(entries)


def workflow_planner_journal(lrrc_run) -> Sequence[Dict[str, Any]]:
    return lrrc_run[1].structure_journal


def test_regions_partition_the_ptv(lrrc_run):
    """The optimisation target and the compromised region are disjoint and make up the PTV: their volumes
    add up to the PTV's (inside the dose grid) to within the lattice's level choice (0.1 %). Both carry
    D95/V95 and the tumour EQD2."""
    _, _, workflow, result = lrrc_run
    regions = result["target_regions"]
    opt, compromised = regions["optimisation_target"], regions["compromised"]
    assert opt["structure"] == "zRR_PTV_opt" and compromised["structure"] is None
    assert compromised["derived_from"]["intersection_of"] == ["PTV"]
    ptv = workflow.prepared.target.volume_in_grid_cc
    assert opt["volume_cc"] + compromised["volume_cc"] == pytest.approx(ptv, rel=1e-3)
    for region in (opt, compromised):
        assert {"d95_gy", "d98_gy", "v95_pct", "tumour_dose"} <= set(region)
    # the compromised region lies next to OARs the plan spares: its D95 is below the optimisation target's
    assert compromised["d95_gy"] < opt["d95_gy"]


def test_rerun_updates_the_same_structures(lrrc_run):
    """A second run on the same case reuses reirrad's structures (the ownership rule): the same names, each
    made as an update, none duplicated; every clinician structure is left alone (the stand-in refuses to
    make one)."""
    case, planner, _, result = lrrc_run
    before = len(planner.structure_journal)
    again = build_result(run(PROTOCOL, case.read(), planner, LIMIT))
    names = [e["name"] for e in again["optimisation_structures"]]
    assert names == [e["name"] for e in result["optimisation_structures"]]
    made = planner.structure_journal[before:]
    assert [j["name"] for j in made] == names and all(j["update"] for j in made)


def test_a_locked_structure_set_gets_no_structures():
    """A structure set that cannot take structures: nothing is made, a flag says why, and the coverage
    objective stays on the PTV."""
    case = DirectCase("LRRC-01")
    planner = DirectPlanner(case, make_structures=True)
    planner.structures_locked = "structure set approved"
    result = build_result(run(PROTOCOL, case.read(), planner, LIMIT))
    assert planner.structure_journal == [] and result["optimisation_structures"] == []
    assert "optimisation-structures-not-made" in {w["code"] for w in result["warnings"]}
    assert {o["structure_id"] for o in result["objectives"] if o["role"] == "target"} == {"PTV"}


def test_a_planner_without_the_capability_is_flagged():
    case = DirectCase("LRRC-01")
    result = build_result(run(PROTOCOL, case.read(), DirectPlanner(case), LIMIT))
    assert "optimisation-structures-not-supported" in {w["code"] for w in result["warnings"]}
    assert result["optimisation_structures"] == [] and not result["target_regions"]


def test_disabled_in_the_protocol_makes_nothing():
    settings = dataclasses.replace(PROTOCOL.optimisation_structures, enabled=False)
    protocol = dataclasses.replace(PROTOCOL, optimisation_structures=settings)
    case = DirectCase("LRRC-01")
    planner = DirectPlanner(case, make_structures=True)
    result = build_result(run(protocol, case.read(), planner, LIMIT))
    assert planner.structure_journal == [] and result["optimisation_structures"] == []
    assert not {w["code"] for w in result["warnings"]} & {"optimisation-structures-not-made",
                                                           "optimisation-structures-not-supported"}


class _Mismeasuring(DirectPlanner):
    """A TPS whose PTV_opt comes out 20 % larger than the engine's."""

    def _make_structures(self, structures, prefix):
        volumes = super()._make_structures(structures, prefix)
        return {k: v * (1.2 if k.endswith("PTV_opt") else 1.0) for k, v in volumes.items()}


def test_a_tps_volume_beyond_the_tolerance_is_flagged():
    """20 % is beyond the shipped tolerance (10 % or 1 cm³, whichever is larger, for a PTV_opt of ~25 cm³)."""
    case = DirectCase("LRRC-01")
    result = build_result(run(PROTOCOL, case.read(), _Mismeasuring(case, make_structures=True), LIMIT))
    flagged = [w for w in result["warnings"] if w["code"] == "optimisation-structure-volume-mismatch"]
    assert [w["subject"] for w in flagged] == ["zRR_PTV_opt"]


def test_dry_run_previews_without_writing():
    """A dry run lists what would be made at the highest level (no TPS volume) and writes nothing; when
    the case already holds reirrad's structures (prefix, CONTROL) the preview names those, not new
    suffixed names."""
    case = DirectCase("LRRC-01")
    snapshot = case.read()
    workflow = run(PROTOCOL, snapshot, None, WorkflowOptions(dry_run=True))
    entries = build_result(workflow)["optimisation_structures"]
    assert entries and all(e["volume_cc"] is None for e in entries)
    assert {e["role"] for e in entries} >= {"target-opt", "prv", "ring"}
    rectum = next(s for s in snapshot.structures if s.id == "Rectum")
    held = tuple(dataclasses.replace(rectum, id=e["name"], dicom_type="CONTROL") for e in entries)
    again = run(PROTOCOL, dataclasses.replace(snapshot, structures=snapshot.structures + held), None,
                WorkflowOptions(dry_run=True))
    assert [e["name"] for e in build_result(again)["optimisation_structures"]] == [e["name"] for e in entries]


def test_the_recipe_follows_the_level():
    """Which OARs PTV_opt subtracts depends on the level: at 45 Gy at least those at 30 Gy (an allowed dose
    below 30 Gy is below 45 Gy), so its volume is no larger; the compromised region is its complement."""
    prepared = prepare(PROTOCOL, DirectCase("LRRC-01").read(), WorkflowOptions(dry_run=True))
    low, high = optimisation_recipe(prepared, 30.0), optimisation_recipe(prepared, 45.0)
    assert set(low.subtracted_oars) <= set(high.subtracted_oars)
    assert high.target_opt.expected_volume_cc <= low.target_opt.expected_volume_cc
    for recipe in (low, high):
        both = (recipe.region_occupancy(recipe.target_opt.name).volume_in_grid_cc
                + recipe.region_occupancy(COMPROMISED).volume_in_grid_cc)
        assert both == pytest.approx(prepared.target.volume_in_grid_cc, rel=1e-3)


def test_console_summary_and_report_show_structures_and_regions(tmp_path):
    """The summary lists every structure with both volumes and the two regions; the report has the same
    structures and regions in its own section (values from the result, nothing recomputed)."""
    case = DirectCase("LRRC-01")
    report = tmp_path / "r.html"
    outcome = execute(PROTOCOL, case.read(), LIMIT, planner=DirectPlanner(case, make_structures=True),
                      outputs=OutputRequest(report=str(report)))
    result = outcome.result
    text = summary(result)
    assert "Optimisation structures made in the TPS:" in text
    for entry in result["optimisation_structures"]:
        assert f"{entry['name']} ({entry['role']}): TPS {entry['volume_cc']:.2f} cm3" in text
    assert "Compromised region" in text and "Optimisation target zRR_PTV_opt" in text
    assert "follow the metric sum (the guidance's method)" in text  # the protocol's deciding method
    page = report.read_text(encoding="utf-8")
    assert "follow the metric sum" in page
    assert 'id="structures-table"' in page and 'id="regions-table"' in page
    assert all(e["name"] in page for e in result["optimisation_structures"])
    # the slice plots outline the optimisation target and the compromised region (engine masks): on the
    # axial slice through the PTV's centre the optimisation target is there
    slices, _ = map_slices(outcome)
    axial = next(s for s in slices if s.view == "axial")
    outlines = {o.name: o.occupancy for o in axial.outlines}
    assert {"zRR_PTV_opt", "compromised region"} <= set(outlines)
    assert outlines["zRR_PTV_opt"].max() >= 0.5


class _FailingMaker(DirectPlanner):
    """A TPS that refuses the third structure (as RayStation or Eclipse may refuse a call part-way)."""

    def _make_structures(self, structures, prefix):
        made = super()._make_structures(structures[:2], prefix)
        raise InputError(f"the TPS refused {structures[2].name} after making {sorted(made)}")


def test_a_tps_refusal_part_way_ends_the_run_before_any_optimisation():
    """The structures are made before the level's objectives are written: a refusal ends the run with the
    TPS's message, nothing was optimised, and what was made is only reirrad's (prefixed names)."""
    case = DirectCase("LRRC-01")
    planner = _FailingMaker(case, make_structures=True)
    with pytest.raises(InputError, match="the TPS refused zRR_"):
        run(PROTOCOL, case.read(), planner, LIMIT)
    assert [j["member"] for j in planner.journal] == ["set_prescription"]
    assert planner.structure_journal and all(j["name"].startswith("zRR_") for j in planner.structure_journal)


@pytest.mark.parametrize(("tps", "version"), [("raystation-stub", "2024B"), ("eclipse-stub", "15.6")])
def test_spatial_objectives_in_both_tps_stand_ins(tps: str, version: str) -> None:
    """LRRC-01 at 30 Gy with spatial objectives, through each TPS stand-in and its adapter: the small bowel's
    low-tolerance structure is written contour by contour, the TPS's volume agrees with the engine's within
    the protocol's tolerance (no mismatch flag), and its maximum objective is among those written, at the
    region's allowed dose minus the OAR objective margin."""
    result = plan_on_stub(tps, version, "LRRC-01", PROTOCOL,
                          WorkflowOptions(intent="limit-toxicity", objectives="spatial"))
    assert result["objective_mode"] == "spatial"
    (low,) = [e for e in result["optimisation_structures"] if e["role"] == "low-tolerance"]
    assert low["name"] == "zRR_LT_Bowel_S" and low["oar_key"] == "small_bowel"
    assert low["volume_cc"] is not None
    settings = PROTOCOL.optimisation_structures
    allowed = max(settings.volume_tolerance_percent.value / 100.0 * low["expected_volume_cc"],
                  settings.volume_tolerance_cc.value)
    assert abs(low["volume_cc"] - low["expected_volume_cc"]) <= allowed
    codes = [(w["code"], w.get("subject")) for w in result["warnings"]]
    assert ("optimisation-structure-volume-mismatch", low["name"]) not in codes
    assert ("spatial-objectives-not-supported", "spatial-objectives") not in codes
    (objective,) = [o for o in result["objectives"] if o["structure_id"] == low["name"]]
    assert objective["kind"] == "max" and objective["oar_key"] == "small_bowel"
