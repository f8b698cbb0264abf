"""The pyradplan backend's pure parts: objective translation, units, the planning volume (no pyRadPlan)."""

from __future__ import annotations

import numpy as np
import pytest

import reirrad_tps.pyradplan as backend
from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.objectives import OptimizationObjective
from reirrad_tps.pyradplan.objectives import HARD_FACTOR, PENALTY_PER_PRIORITY, UNDERDOSE_SHARE
from reirrad_tps.pyradplan.phantom import AIR_HU, BONE_HU, WATER_HU, build_volume, canonical_grid
from tests.pyradplan.support import phantom_grid, phantom_structures


def _obj(kind: str, dose: float, pct: float = 0.0, *, structure: str = "Rectum", priority: float = 90.0,
         hard: bool = False) -> OptimizationObjective:
    return OptimizationObjective(structure, kind, dose, pct, priority, "oar", hard=hard)


def test_every_kind_is_translated_per_fraction() -> None:
    objectives = [_obj("upper", 25.0, 2.5), _obj("max", 30.0), _obj("mean", 10.0, structure="Bladder"),
                  OptimizationObjective("PTV", "lower", 40.0, 95.0, 80.0, "target")]
    out = backend.translate_objectives(objectives, 5)
    p = 90.0 * PENALTY_PER_PRIORITY
    assert out["Rectum"] == [{"name": "Max DVH", "priority": p, "d": 5.0, "v_max": 2.5},
                             {"name": "Squared Overdosing", "priority": p, "d_max": 6.0}]
    assert out["Bladder"] == [{"name": "Mean Dose", "priority": p, "d_ref": 0.0, "f_diff": "linear"}]
    t = 80.0 * PENALTY_PER_PRIORITY
    assert out["PTV"] == [{"name": "Min DVH", "priority": t, "d": 8.0, "v_min": 95.0},
                          {"name": "Squared Underdosing", "priority": t * UNDERDOSE_SHARE, "d_min": 8.0}]
    assert {o["name"] for rows in out.values() for o in rows} <= set(backend.ENGINE_OBJECTIVE_NAMES)


def test_hard_objectives_weigh_more() -> None:
    soft, hard = (backend.translate_objectives([_obj("max", 30.0, hard=h)], 5)["Rectum"][0]["priority"]
                  for h in (False, True))
    assert hard == pytest.approx(HARD_FACTOR * float(soft))


def test_a_dvh_objective_needs_a_volume_strictly_between_0_and_100() -> None:
    with pytest.raises(InputError, match="between 0 and 100"):
        backend.translate_objectives([_obj("upper", 25.0, 0.0)], 5)


def test_units_round_trip_in_one_place() -> None:
    assert backend.per_fraction_gy(30.0, 5) == pytest.approx(6.0)
    assert backend.total_gy(6.0, 5) == pytest.approx(30.0)
    arr = np.array([1.0, 2.5])
    np.testing.assert_allclose(backend.total_gy(arr, 5), [5.0, 12.5])
    with pytest.raises(InputError):
        backend.per_fraction_gy(30.0, 0)
    with pytest.raises(InputError):
        backend.total_gy(6.0, 5.0)  # type: ignore[arg-type]


def test_volume_is_water_in_the_body_bone_in_bones_air_outside() -> None:
    grid = phantom_grid(5.0)
    volume = build_volume(grid, phantom_structures(), "PTV")
    assert volume.body_id == "BODY" and volume.bone_ids == ("Femur_Head_L",)
    hu = volume.hu
    # voxel centres: x = -100 + 5 i, y = -75 + 5 j, z = -75 + 5 k
    assert hu[15, 15, 26] == WATER_HU          # (30, 0, 0): in the target, water
    assert hu[15, 15, 10] == BONE_HU           # (-50, 0, 0): in the bone block
    assert hu[15, 15, 0] == AIR_HU             # (-100, 0, 0): outside the body
    assert volume.masks["PTV"][15, 15, 26] and not volume.masks["PTV"][15, 15, 10]
    assert volume.masks["PTV"].sum() == pytest.approx(6 * 6 * 6, abs=6 * 6 * 2)  # 30 mm cube at 5 mm


def test_a_flipped_grid_keeps_its_voxel_centres() -> None:
    direction = np.diag([1.0, 1.0, -1.0])
    grid = DoseGrid(np.zeros((4, 3, 2)), (0.0, 0.0, 30.0), (5.0, 5.0, 10.0), direction)
    canon = canonical_grid(grid)
    assert canon.origin_mm == (0.0, 0.0, 0.0)
    first = set(map(tuple, grid.index_to_patient_mm(np.array([[0, 0, 0], [1, 2, 3]]))))
    assert first == {(0.0, 0.0, 30.0), (5.0, 10.0, 0.0)}
    assert tuple(canon.index_to_patient_mm(np.array([[0, 0, 3]]))[0]) == (0.0, 0.0, 30.0)


def test_an_oblique_grid_and_a_missing_body_are_refused() -> None:
    c, s = np.cos(0.3), np.sin(0.3)
    oblique = DoseGrid(np.zeros((2, 2, 2)), (0.0, 0.0, 0.0), (5.0, 5.0, 5.0),
                       np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))
    with pytest.raises(InputError, match="oblique"):
        canonical_grid(oblique)
    no_body = [s for s in phantom_structures() if s.dicom_type != "EXTERNAL"]
    with pytest.raises(InputError, match="EXTERNAL"):
        build_volume(phantom_grid(), no_body, "PTV")


def test_oar_masks_keep_every_voxel_they_touch_the_target_its_half_inside_voxels() -> None:
    from reirrad.structures import mask_from_contours  # noqa: PLC0415

    structures = {s.id: s for s in phantom_structures()}
    volume = build_volume(phantom_grid(5.0), list(structures.values()), "PTV")
    for sid, rule in (("Rectum", lambda f: f > 0.0), ("PTV", lambda f: f >= 0.5)):
        fraction = mask_from_contours(structures[sid].contours_mm, volume.grid)
        np.testing.assert_array_equal(volume.masks[sid], rule(fraction))
    rectum = mask_from_contours(structures["Rectum"].contours_mm, volume.grid)
    assert np.any((rectum > 0.0) & (rectum < 0.5))  # the rule above is not vacuous


def test_the_normal_tissue_objective_caps_the_body_outside_the_target_at_the_prescription() -> None:
    from reirrad_tps.pyradplan.objectives import NORMAL_TISSUE_PRIORITY  # noqa: PLC0415

    objectives = [_obj("max", 30.0), OptimizationObjective("PTV", "lower", 40.0, 95.0, 80.0, "target")]
    penalty = NORMAL_TISSUE_PRIORITY * PENALTY_PER_PRIORITY
    assert backend.normal_tissue_objective(objectives, 5) == {backend.NORMAL_TISSUE_ID: [
        {"name": "Squared Overdosing", "priority": penalty, "d_max": 8.0}]}
    assert backend.normal_tissue_objective(objectives[:1], 5) == {}
    volume = build_volume(phantom_grid(5.0), phantom_structures(), "PTV")
    normal = volume.masks[backend.NORMAL_TISSUE_ID]
    np.testing.assert_array_equal(normal, volume.masks["BODY"] & ~volume.masks["PTV"])
