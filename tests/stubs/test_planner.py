"""The stand-in optimiser (tps_stubs.planner): determinism and the behaviour its docstring states.

Sources of truth: the closed forms in the planner's module docstring (surface dose ≈ Rx, the
carve D = min(D₀, c + 0.06·Rx·max(s, 0)), the cost's weights, the deliverability perturbation
|a·φ| ≤ a) and properties (same input → same output; a higher weight holds an OAR lower; a
warm start depends on what was optimised before; noise varies between runs; failures leave the
solution as it was).
"""

from __future__ import annotations

import dataclasses

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


PLEX_OBJECTIVES = [PlannerObjective("SacralPlex", "upper", 24.0, 0.2, 100.0),
                   PlannerObjective("SacralPlex", "max", 25.0, 0.0, 100.0),
                   PlannerObjective("PTV", "lower", 40.0, 95.0, 80.0)]


def _weighted(weight: float, rx: float = 40.0):
    objectives = [PlannerObjective(o.structure_id, o.kind, o.dose_gy, o.volume_pct,
                                   weight if o.structure_id == "SacralPlex" else o.priority)
                  for o in PLEX_OBJECTIVES]
    return plan(rx, objectives)


def test_sequencing_perturbation_is_bounded():
    """Without objectives the dose is D₀·(1 + a·φ) with |φ| ≤ 1 and a = 1.5 %: Dmax within 1.5 % of
    1.2·Rx's neighbourhood (D₀ ≤ 1.12 + 0.08 = 1.2·Rx), never above 1.2·1.015·Rx."""
    ptv = dvh(plan(30.0), "PTV")
    assert ptv.max_gy <= 1.2 * 1.015 * 30.0 + 1e-9
    assert ptv.max_gy >= 1.2 * 0.985 * 30.0 * 0.98  # the centre voxel is within 2 % of the centre


def test_an_oar_weight_trades_the_oar_against_coverage():
    """The same objectives at OAR weight 1000 and 10 (target 80): the heavier weight holds the sacral
    plexus's D0.1cc lower and costs coverage; the lighter lets the plexus overshoot its 25 Gy max
    objective (soft objectives, not caps)."""
    heavy, light = _weighted(1000.0), _weighted(10.0)
    plex_heavy, plex_light = dvh(heavy, "SacralPlex"), dvh(light, "SacralPlex")
    assert plex_heavy.dose_at_volume_cc(0.1) < plex_light.dose_at_volume_cc(0.1) - 1.0
    assert plex_light.dose_at_volume_cc(0.1) > 25.0
    assert dvh(heavy, "PTV").volume_at_dose_pct(38.0) < dvh(light, "PTV").volume_at_dose_pct(38.0)


def test_dvh_point_objective_spares_only_what_it_must():
    """An upper objective at 50 % of the volume asks only the colder half below the dose: the plexus
    keeps a hotter maximum than under a max objective at the same dose (DVH-point semantics)."""
    at_half = plan(40.0, [PlannerObjective("SacralPlex", "upper", 20.0, 50.0, 100.0),
                          PlannerObjective("PTV", "lower", 40.0, 95.0, 80.0)])
    at_max = plan(40.0, [PlannerObjective("SacralPlex", "max", 20.0, 0.0, 100.0),
                         PlannerObjective("PTV", "lower", 40.0, 95.0, 80.0)])
    assert dvh(at_half, "SacralPlex").max_gy > dvh(at_max, "SacralPlex").max_gy + 1.0


def test_a_constraint_holds_against_the_target():
    """A RayStation constraint (weight 100 × the largest) holds the plexus's centre-counted maximum at
    its dose up to what three damped sweeps leave of the cold start (0.3³ of the gap from at most
    1.2·Rx) and the perturbation (1.5 %)."""
    objectives = [PlannerObjective("SacralPlex", "max", 22.0, 0.0, 1.0, constraint=True),
                  PlannerObjective("PTV", "lower", 40.0, 95.0, 80.0)]
    dose = plan(40.0, objectives)
    s = planner._grid_signed_distance({"union": list(SSET.structure("SacralPlex").primitives)}, GRID,
                                      IMAGE.direction, None)
    inside = dose.values_gy.ravel()[s <= 0.0]
    assert inside.max() <= (22.0 + 0.3 ** 3 * (1.2 * 40.0 - 22.0)) * 1.015


def _optimiser(**settings):
    patient = dataclasses.replace(PATIENT, optimiser=settings) if settings else PATIENT
    return planner.Optimiser(patient)


def _run(optimiser, rx, warm=True):
    return optimiser.run(structure_set_id="CT_PLAN", target_id="PTV", prescription_gy=rx,
                         objectives=[dataclasses.replace(o, dose_gy=o.dose_gy if o.kind != "lower" else rx)
                                     for o in PLEX_OBJECTIVES], grid=GRID, direction=IMAGE.direction,
                         warm=warm).values_gy


def test_warm_start_depends_on_the_previous_optimisation_and_a_reset_forgets_it():
    """35 Gy after 45 Gy warm-started differs from 35 Gy cold; after reset() the result is the cold
    one bit for bit, and a cold run equals the stateless optimise()."""
    cold = _run(_optimiser(), 35.0)
    warm_opt = _optimiser()
    _run(warm_opt, 45.0)
    warm = _run(warm_opt, 35.0)
    assert not np.array_equal(warm, cold)
    warm_opt.reset()
    np.testing.assert_array_equal(_run(warm_opt, 35.0), cold)
    objectives = [dataclasses.replace(o, dose_gy=35.0) if o.kind == "lower" else o for o in PLEX_OBJECTIVES]
    np.testing.assert_array_equal(plan(35.0, objectives).values_gy, cold)


def test_noise_varies_between_runs_and_is_reproducible_with_its_seed():
    """set_noise(1 %, seed): two cold runs of the same inputs differ by at most 1 % (|ψ| ≤ 1) of the
    dose; a new optimiser with the same seed repeats the same sequence."""
    try:
        planner.set_noise(1.0, seed=7)
        first = _optimiser()
        a, b = _run(first, 40.0, warm=False), _run(first, 40.0, warm=False)
        again = _optimiser()
        np.testing.assert_array_equal(_run(again, 40.0, warm=False), a)
    finally:
        planner.set_noise(0.0)
    assert not np.array_equal(a, b)
    high = a > 1.0
    assert np.max(np.abs(a[high] / b[high] - 1.0)) <= 0.0202  # (1.01 / 0.99) − 1


def test_a_scheduled_failure_raises_and_keeps_the_previous_solution():
    """optimiser.fail_on [2]: the second run raises OptimiserError naming the patient, the solution
    of the first is kept (a third run warm-starts from it), and runs are counted from 1."""
    optimiser = _optimiser(fail_on=[2])
    _run(optimiser, 40.0)
    kept = dict(optimiser.carves)
    with pytest.raises(planner.OptimiserError, match="optimisation 2 of patient LRRC-01"):
        _run(optimiser, 45.0)
    assert optimiser.carves == kept and optimiser.runs == 2
    _run(optimiser, 45.0)
    assert optimiser.runs == 3


@pytest.mark.parametrize(("settings", "needle"), [({"sequencing_pct": 20}, "sequencing_pct"),
                                                  ({"fail_on": [0]}, "fail_on"),
                                                  ({"noise": 1}, "unknown optimiser key")])
def test_bad_optimiser_settings_are_refused(settings, needle):
    """Out-of-range or unknown optimiser settings of a stub patient are refused by name."""
    with pytest.raises(ValueError, match=needle):
        _optimiser(**settings)


def test_unknown_structure_and_bad_prescription():
    """Objectives on a missing structure and non-positive prescriptions are refused."""
    with pytest.raises(KeyError, match="Liver"):
        plan(30.0, [PlannerObjective("Liver", "upper", 10.0)])
    with pytest.raises(ValueError, match="prescription"):
        plan(0.0)


def test_mask_signed_distance_on_a_hand_countable_grid():
    """One mask voxel on a 2 × 2.5 × 3 mm grid: −1 mm (half the smallest spacing) at it, the neighbour's
    centre distance − 1 mm beside it, and the reach beyond the reach box."""
    grid = ((0.0, 0.0, 0.0), (2.0, 2.5, 3.0), (30, 20, 10))
    mask = np.zeros((10, 20, 30), bool)
    mask[5, 10, 15] = True
    field = planner._mask_signed_distance(mask.ravel(), grid, reach_mm=10.0).reshape(mask.shape)
    assert field[5, 10, 15] == -1.0
    assert field[5, 10, 16] == pytest.approx(2.0 - 1.0)
    assert field[5, 11, 15] == pytest.approx(2.5 - 1.0)
    assert field[6, 11, 16] == pytest.approx(np.sqrt(4.0 + 6.25 + 9.0) - 1.0)
    assert field[5, 10, 15 + 4] == pytest.approx(8.0 - 1.0)
    assert field[5, 10, 29] == 10.0  # beyond the reach box: capped
    assert field[0, 0, 0] == 10.0


def test_an_upper_objective_on_a_made_structure_carves_around_its_mask():
    """A structure made in the TPS (here the voxel centres of the rectum inside the PTV's 10 mm
    surroundings) with a max objective is carved like an analytic OAR: with ten times the coverage's
    weight its hottest voxel closes at least 90 % of the gap to the objective (what is left: the damped
    sweeps' 0.3³ of the gap, the balance against coverage and the sequencing's ± 1.5 %) and never goes
    below the objective by more than the sequencing; coverage pays for it; the rectum far from it keeps
    its dose."""
    rect = planner._grid_signed_distance({"union": list(SSET.structure("Rectum").primitives)}, GRID,
                                         IMAGE.direction, None)
    ptv = planner._grid_signed_distance({"union": list(SSET.structure("PTV").primitives)}, GRID,
                                        IMAGE.direction, None)
    part = (rect <= 0.0) & (ptv <= 10.0)
    assert part.sum() > 20
    free = optimise(PATIENT, structure_set_id="CT_PLAN", target_id="PTV", prescription_gy=35.0,
                    objectives=[PlannerObjective("PTV", "lower", 35.0)], grid=GRID, direction=IMAGE.direction)
    made = optimise(PATIENT, structure_set_id="CT_PLAN", target_id="PTV", prescription_gy=35.0,
                    objectives=[PlannerObjective("PTV", "lower", 35.0),
                                PlannerObjective("zRR_LT", "max", 20.0, priority=10.0)],
                    grid=GRID, direction=IMAGE.direction, masks={"zRR_LT": part})
    before = free.values_gy.ravel()[part].max()
    after = made.values_gy.ravel()[part].max()
    assert before > 30.0
    assert 20.0 * 0.985 <= after <= 20.0 + 0.1 * (before - 20.0)
    covered = lambda dose: float(np.mean(dose.values_gy.ravel()[ptv <= 0.0] >= 35.0))  # noqa: E731
    assert covered(made) < covered(free) - 0.2
    far = (rect <= 0.0) & (ptv > 40.0)
    np.testing.assert_allclose(made.values_gy.ravel()[far], free.values_gy.ravel()[far], rtol=0.05)
