"""The stand-in planner (tps_stubs.planner): determinism and the behaviour its docstring states.

Sources of truth: the closed forms in the planner's module docstring (surface dose ≈ Rx, cap
C = 0.98·L + 0.06·Rx·max(s, 0)) and properties (same input → same output; coverage falls as
the prescription rises next to a capped OAR).
"""

from __future__ import annotations

import numpy as np
import pytest

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.structures import structure_occupancy
from tps_stubs import planner
from tps_stubs.patients import load_patient
from tps_stubs.planner import PlannerObjective, dose_grid_for, optimise

PATIENT = load_patient("LRRC-01")
IMAGE = PATIENT.image("CT_PLAN")
GRID = dose_grid_for(IMAGE, 2.5)
SSET = PATIENT.structure_set("CT_PLAN")


def plan(rx, objectives=()):
    dose = optimise(PATIENT, structure_set_id="CT_PLAN", target_id="PTV", prescription_gy=rx,
                    objectives=list(objectives), grid=GRID, direction=IMAGE.direction)
    return DoseGrid(dose.values_gy, dose.origin_mm, dose.spacing_mm, dose.direction)


def dvh(grid, structure):
    return DVH.from_dose(grid, structure_occupancy(SSET.structure(structure).all_contours(), grid))


def test_deterministic():
    """Same inputs give bit-identical doses."""
    objectives = [PlannerObjective("SacralPlex", "upper", 24.0),
                  PlannerObjective("Rectum", "upper", 28.0)]
    np.testing.assert_array_equal(plan(35.0, objectives).values_gy, plan(35.0, objectives).values_gy)


def test_remembered_distance_fields_give_the_computed_dose(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed-distance fields optimise() keeps between calls change nothing: a dose from a cleared
    cache equals the dose from a warm one bit for bit, the kept fields are read-only, and the cache
    stays within its size (1 entry here: the PTV's and an OAR's field evict each other)."""
    objectives = [PlannerObjective("Rectum", "upper", 28.0)]
    planner._signed_distances.clear()
    cold = plan(35.0, objectives).values_gy
    warm = plan(35.0, objectives).values_gy
    np.testing.assert_array_equal(cold, warm)
    assert all(not field.flags.writeable for field in planner._signed_distances.values())
    monkeypatch.setattr(planner, "SIGNED_DISTANCE_CACHE_SIZE", 1)
    planner._signed_distances.clear()
    np.testing.assert_array_equal(plan(35.0, objectives).values_gy, cold)
    assert len(planner._signed_distances) == 1
    # a grid of the same size shifted by 1 mm is never served the kept fields
    monkeypatch.setattr(planner, "SIGNED_DISTANCE_CACHE_SIZE", 16)
    shifted = (tuple(v + 1.0 for v in GRID[0]), GRID[1], GRID[2])

    def on_shifted() -> np.ndarray:
        return optimise(PATIENT, structure_set_id="CT_PLAN", target_id="PTV", prescription_gy=35.0,
                        objectives=objectives, grid=shifted, direction=IMAGE.direction).values_gy

    after_cold = on_shifted()
    planner._signed_distances.clear()
    np.testing.assert_array_equal(after_cold, on_shifted())
    assert not np.array_equal(after_cold, cold)


def test_unconstrained_plan_covers_the_target():
    """Without OAR objectives the PTV surface gets ≈ 1.01·Rx, so V95% ≥ 95 %; Dmax ≈ 1.12 + 0.08 = 1.2·Rx."""
    ptv = dvh(plan(30.0), "PTV")
    assert ptv.volume_at_dose_pct(0.95 * 30.0) >= 95.0
    assert ptv.max_gy == pytest.approx(1.2 * 30.0, rel=0.02)


def test_oar_objective_caps_the_oar():
    """Inside the OAR the dose is ≤ 0.98·L at voxel centres; a partly occupied boundary voxel's centre
    is at most half a voxel diagonal (2.17 mm) outside, so Dmax ≤ 0.98·L + 0.06·Rx·2.17."""
    limit, rx = 24.0, 40.0
    plex = dvh(plan(rx, [PlannerObjective("SacralPlex", "upper", limit)]), "SacralPlex")
    assert plex.max_gy <= 0.98 * limit + 0.06 * rx * 2.17 + 1e-9


def test_escalation_next_to_an_oar_costs_coverage():
    """With the sacral plexus capped at 24 Gy, PTV V95% never rises with Rx and is lower at 45 than at
    30 Gy (the band of PTV voxels with 0.98·L + 0.06·Rx·s < 0.95·Rx widens with Rx; on a 2.5 mm grid it
    grows in whole voxel rows, so some steps are flat)."""
    objectives = [PlannerObjective("SacralPlex", "upper", 24.0)]
    coverage = [dvh(plan(rx, objectives), "PTV").volume_at_dose_pct(0.95 * rx)
                for rx in (30.0, 35.0, 40.0, 45.0)]
    assert all(a >= b for a, b in zip(coverage, coverage[1:]))
    assert coverage[-1] < coverage[0] - 5.0


def test_unknown_structure_and_bad_prescription():
    """Objectives on a missing structure and non-positive prescriptions are refused."""
    with pytest.raises(KeyError, match="Liver"):
        plan(30.0, [PlannerObjective("Liver", "upper", 10.0)])
    with pytest.raises(ValueError, match="prescription"):
        plan(0.0)
