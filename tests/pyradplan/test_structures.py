"""Optimisation structures made by the pyradplan backend (issue 20 item 1).

Sources of truth: the ownership rule of :class:`reirrad.ports.StructureMaker` (only reirrad's prefixed
structures are made or replaced; a planning structure never is), the engine's own model (the backend
computes each structure with :mod:`reirrad.roi_algebra`, so its volumes are the engine's expected volumes:
the workflow's volume check is not independent here, as for ``tps_stubs.direct.DirectPlanner``), and
pyRadPlan's optimisation problem itself: the voxels its objectives act on are read back from it
(``EngineSession.objective_voxels``), so the test sees whether an overlap step took voxels away.

The first tests need no pyRadPlan (a session without a dose engine, :class:`PlainSession`); the planning
run needs it (``make pytest-pyradplan``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

import numpy as np
import pytest

from reirrad.errors import InputError
from reirrad.optstructures import OutlinedStructure, optimisation_recipe
from reirrad.outlines import PlaneOutline
from reirrad.planstructures import structure_maker
from reirrad.protocol import load_protocol
from reirrad.structures import structure_occupancy
from reirrad.workflow import WorkflowOptions, prepare
from reirrad_tps.pyradplan.objectives import NORMAL_TISSUE_ID
from reirrad_tps.pyradplan.phantom import MadeStructures, PlanningVolume, build_volume
from reirrad_tps.pyradplan.planner import PyRadPlanPlanner
from tests.pyradplan.support import box_contours, phantom_grid, phantom_structures, require_pyradplan

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
PREFIX = PROTOCOL.optimisation_structures.name_prefix
LIMIT = WorkflowOptions(intent="limit-toxicity")


class PlainSession:
    """:class:`reirrad_tps.pyradplan.engine.EngineSession`'s structure members, without pyRadPlan."""

    def __init__(self, volume: PlanningVolume) -> None:
        self.volume = volume
        self.made = MadeStructures(volume)

    @property
    def made_structure_ids(self) -> List[str]:
        return self.made.ids

    def put_structure(self, structure_id: str, mask: Any, *, prefix: str, target: bool = False) -> int:
        return self.made.put(structure_id, mask, prefix=prefix, target=target)


def _phantom_volume() -> PlanningVolume:
    return build_volume(phantom_grid(5.0), phantom_structures(), "PTV")


def test_made_structures_are_added_replaced_and_never_a_planning_structure() -> None:
    volume = _phantom_volume()
    made = MadeStructures(volume)
    box = np.zeros(volume.grid.shape, dtype=bool)
    box[10:12, 10:13, 10:14] = True
    assert made.put("zRR_A", box, prefix=PREFIX) == 24 and made.ids == ["zRR_A"]
    assert made.put("zRR_A", box[::-1].copy() & False, prefix=PREFIX, target=True) == 0  # replaced, empty
    assert made.ids == ["zRR_A"] and made.is_target("zRR_A") and not made.mask("zRR_A").any()
    with pytest.raises(ValueError):
        made.mask("zRR_A")[0, 0, 0] = True  # read-only
    refused = [("ptv", PREFIX), ("Rectum", PREFIX), (NORMAL_TISSUE_ID, PREFIX), ("BODY", ""),
               ("PTV_opt", PREFIX), ("zRR_B", ""), ("zrr_a", PREFIX)]
    for name, prefix in refused:
        with pytest.raises(InputError):
            made.put(name, box, prefix=prefix)
    with pytest.raises(InputError, match="boolean mask"):
        made.put("zRR_B", box[1:], prefix=PREFIX)
    with pytest.raises(InputError, match="boolean mask"):
        made.put("zRR_B", box.astype(np.uint8), prefix=PREFIX)
    assert made.ids == ["zRR_A"] and not made.mask("zRR_A").any()
    # a planning structure named with the prefix (read from the case) is not reirrad's here either
    structures = (*phantom_structures(),
                  dataclasses.replace(phantom_structures()[3], id="zRR_PTV_opt", dicom_type="CONTROL"))
    with pytest.raises(InputError, match="planning structure"):
        MadeStructures(build_volume(phantom_grid(5.0), structures, "PTV")).put("zRR_PTV_opt", box,
                                                                                prefix=PREFIX)


@pytest.fixture(scope="module")
def lrrc01_plain() -> Dict[str, Any]:
    """LRRC-01 on a 5 mm grid: its recipe at 30 Gy made by the planner over a session without pyRadPlan."""
    from tps_stubs.direct import DirectCase  # noqa: PLC0415 - the stand-ins

    snapshot = DirectCase("LRRC-01", dose_spacing_mm=5.0).read()
    prepared = prepare(PROTOCOL, snapshot, LIMIT)
    recipe = optimisation_recipe(prepared, 30.0)
    volume = build_volume(snapshot.dose_grid, snapshot.structures, "PTV")
    planner = PyRadPlanPlanner(PlainSession(volume), snapshot.structures,  # type: ignore[arg-type]
                               prepared.n_fractions)
    return {"snapshot": snapshot, "recipe": recipe, "planner": planner,
            "volumes": planner.make_structures(recipe.structures, PREFIX)}


def test_the_planner_makes_the_recipe_with_the_engine_model(lrrc01_plain: Dict[str, Any]) -> None:
    """Every structure of the recipe is made, in order, as a mask on the session's grid; the volumes are
    the engine's expected volumes (the engine's model); the optimisation target is a target."""
    planner, recipe, volumes = lrrc01_plain["planner"], lrrc01_plain["recipe"], lrrc01_plain["volumes"]
    names = [s.name for s in recipe.structures]
    assert structure_maker(planner) is planner and planner.structures_not_writable() is None
    assert planner.session.made_structure_ids == names and planner.owned_structure_ids(PREFIX) == names
    assert planner.owned_structure_ids("other_") == []
    voxel_cc = float(np.prod(planner.session.volume.grid.spacing_mm)) / 1000.0
    for s in recipe.structures:
        assert volumes[s.name] == pytest.approx(s.expected_volume_cc, rel=1e-9, abs=1e-9), s.name
        mask = planner.session.made.mask(s.name)
        assert planner.session.made.is_target(s.name) == (s.role == "target-opt")
        # voxels at least half inside: their volume is the structure's to within its boundary voxels
        assert mask.sum() * voxel_cc == pytest.approx(volumes[s.name], rel=0.25), s.name
    target = recipe.target_opt
    assert target is not None and volumes[target.name] > 0.0
    ptv = planner.session.volume.masks["PTV"]
    inside = planner.session.made.mask(target.name)
    assert inside.any() and (inside & ~ptv).sum() <= 0.05 * inside.sum()  # PTV_opt lies in the PTV


def test_a_second_level_replaces_reirrads_structures_and_a_planning_name_is_refused(
        lrrc01_plain: Dict[str, Any]) -> None:
    planner, recipe = lrrc01_plain["planner"], lrrc01_plain["recipe"]
    names = list(planner.session.made_structure_ids)
    again = planner.make_structures(recipe.structures, PREFIX)
    assert planner.session.made_structure_ids == names and again == lrrc01_plain["volumes"]
    first = recipe.structures[0]
    for bad in (dataclasses.replace(first, name="PTV"), dataclasses.replace(first, name="Rectum_PRV")):
        with pytest.raises(InputError, match="planning structure"):
            planner.make_structures([bad], PREFIX)
    assert planner.session.made_structure_ids == names
    members = [j["member"] for j in planner.journal]
    assert members.count("make_structures") == 4


def test_an_outlined_structure_is_its_contours_half_inside_voxels() -> None:
    volume = _phantom_volume()
    planner = PyRadPlanPlanner(PlainSession(volume), phantom_structures(), 5)  # type: ignore[arg-type]
    loops = box_contours((-10, 5), (-10, 10), (-20, 20))  # on the phantom's 2.5 mm contour planes
    planes = tuple(PlaneOutline(float(loop[0, 2]), (loop,), (False,)) for loop in loops)
    occupancy = structure_occupancy([p.loops_mm[0] for p in planes], volume.grid, plane_spacing_mm=2.5)
    low = OutlinedStructure(f"{PREFIX}LT_Rectum", "low-tolerance", "rectum", "Rectum", planes,
                            occupancy.volume_cc, 2.5, occupancy.volume_cc, "test region")
    volumes = planner.make_outlined_structures([low], PREFIX)
    assert volumes == {low.name: pytest.approx(occupancy.volume_cc)}
    # 15 x 20 mm on 17 planes, each a slab of the structure's 2.5 mm plane spacing (not the 5 mm grid)
    assert volumes[low.name] == pytest.approx(1.5 * 2.0 * 4.25, rel=1e-6)
    mask = planner.session.made.mask(low.name)
    np.testing.assert_array_equal(mask, np.asarray(occupancy.fraction) >= 0.5)
    assert not planner.session.made.is_target(low.name) and planner.owned_structure_ids(PREFIX) == [low.name]
    with pytest.raises(InputError):
        planner.make_outlined_structures([dataclasses.replace(low, name="Rectum")], PREFIX)


# ------------------------------------------------------------------------------------------------------
# A planning run on pyRadPlan


@pytest.fixture(scope="module")
def lrrc01_run() -> Dict[str, Any]:
    """The workflow on LRRC-01 (limit-toxicity: one level; spatial objectives) with the pyRadPlan planner,
    as ``reirrad plan --tps pyradplan`` runs it (:func:`reirrad_tps.pyradplan.run.plan_snapshot`), coarse."""
    require_pyradplan()
    from reirrad.runner import execute  # noqa: PLC0415
    from reirrad_tps.pyradplan.engine import EngineSession, EngineSettings  # noqa: PLC0415
    from tps_stubs.direct import DirectCase  # noqa: PLC0415

    snapshot = DirectCase("LRRC-01", dose_spacing_mm=7.5).read()
    snapshot = dataclasses.replace(snapshot, plan=dataclasses.replace(snapshot.plan, writable=True))
    n_fx = snapshot.plan.n_fractions or PROTOCOL.n_fractions
    volume = build_volume(snapshot.dose_grid, snapshot.structures, "PTV")
    session = EngineSession(volume, EngineSettings.with_beams(5, bixel_width_mm=10.0), n_fx)
    planner = PyRadPlanPlanner(session, snapshot.structures, n_fx)
    options = dataclasses.replace(LIMIT, objectives="spatial")
    outcome = execute(PROTOCOL, snapshot, options, planner=planner)
    return {"outcome": outcome, "planner": planner, "session": session}


def test_a_pyradplan_run_makes_records_and_targets_the_structures(lrrc01_run: Dict[str, Any]) -> None:
    result, planner = lrrc01_run["outcome"].result, lrrc01_run["planner"]
    entries = {e["name"]: e for e in result["optimisation_structures"]}
    assert entries and "zRR_PTV_opt" in entries
    assert entries["zRR_PTV_opt"]["role"] == "target-opt"
    for e in entries.values():
        assert e["name"].startswith(PREFIX) and e["volume_cc"] is not None
        assert e["volume_cc"] == pytest.approx(e["expected_volume_cc"], rel=1e-9, abs=1e-9)  # engine model
    assert set(planner.owned_structure_ids(PREFIX)) == set(entries)
    target = {(o["kind"], o["structure_id"]) for o in result["objectives"] if o["role"] == "target"}
    assert ("lower", "zRR_PTV_opt") in target and ("max", "PTV") in target
    kinds = [o["name"] for o in planner.engine_objectives["zRR_PTV_opt"]]
    assert kinds == ["Min DVH", "Squared Underdosing"]
    low = [e["name"] for e in entries.values() if e["role"] == "low-tolerance"]
    assert low and all(e["volume_cc"] > 0 for e in entries.values() if e["name"] in low)
    for name in low:  # a maximum objective on each low-tolerance structure
        assert [o["name"] for o in planner.engine_objectives[name]] == ["Squared Overdosing"]
    codes = {w["code"] for w in result["warnings"]}
    assert not codes & {"optimisation-structures-not-supported", "optimisation-structures-not-made",
                        "optimisation-structure-volume-mismatch"}


def test_pyradplan_optimises_every_objective_on_its_whole_mask(lrrc01_run: Dict[str, Any]) -> None:
    """The VOIs pyRadPlan's problem optimised (after its overlap step) have the voxels of the masks: the
    coverage objective on zRR_PTV_opt counts all of PTV_opt's voxels (a Target VOI), a low-tolerance
    structure's maximum objective reaches all its voxels, and an OAR overlapping the PTV keeps its voxels
    inside it (pyRadPlan's overlap priorities are off, engine.py docstring)."""
    session = lrrc01_run["session"]
    used = session.objective_voxels
    low = [sid for sid in used if sid.startswith(f"{PREFIX}LT")]
    assert low and all(used[sid] > 0 for sid in low)
    assert used["zRR_PTV_opt"] == int(session.structure_mask("zRR_PTV_opt").sum()) > 0
    assert used["PTV"] == int(session.volume.masks["PTV"].sum())
    for sid, count in used.items():
        assert count == int(session.structure_mask(sid).sum()), sid
    ptv = session.volume.masks["PTV"]
    overlapping = [sid for sid in used if sid not in ("PTV", "zRR_PTV_opt")
                   and (session.structure_mask(sid) & ptv).any()]
    assert overlapping, "no OAR objective overlaps the PTV in LRRC-01 on this grid"


def test_pyradplans_overlap_step_would_empty_ptv_opt_as_an_oar(lrrc01_run: Dict[str, Any]) -> None:
    """Why the overlap step is off (pins pyRadPlan's behaviour the engine.py docstring describes): with
    ``StructureSet.apply_overlap_priorities`` a structure inside the PTV made as an OAR VOI (priority 5)
    loses every voxel to the PTV's Target VOI (priority 0); as a Target VOI it keeps them."""
    session = lrrc01_run["session"]
    m, ct = session._m, session._ct  # pyRadPlan's own objects, to exercise its overlap step
    ptv = session._mask_image(session.volume.masks["PTV"])
    opt = session._mask_image(session.structure_mask("zRR_PTV_opt"))
    for kind, kept in ((m.OAR, 0), (m.Target, int(session.structure_mask("zRR_PTV_opt").sum()))):
        cst = m.StructureSet(vois=[m.Target(name="PTV", mask=ptv, ct_image=ct),
                                   kind(name="zRR_PTV_opt", mask=opt, ct_image=ct)], ct_image=ct)
        assert np.size(cst.apply_overlap_priorities().vois[1].indices_numpy) == kept
