"""Cumulative evaluation by the metric sum and voxel-wise (reirrad.cumulative).

Phantoms of 1 cm³ voxels in a row, so every D0.5cc is the hottest voxel's dose (DVH convention:
the curve is flat at the maximum up to half the hottest voxel's volume). Arithmetic in docstrings.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reirrad.cumulative import PriorCourseDose, evaluate_cumulative
from reirrad.dose import DoseGrid
from reirrad.errors import IncompatibleDoseError
from reirrad.evaluation import PlanEvaluation, method_findings
from reirrad.protocol import load_protocol

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


def row(values) -> DoseGrid:
    return DoseGrid(np.asarray(values, dtype=float).reshape(1, 1, -1), (0.0, 0.0, 0.0), (10.0, 10.0, 10.0))


def test_uniform_doses_give_the_same_answer_both_ways():
    """Prior 45 Gy/25 everywhere, 730 d (50 %): 21.6 Gy₃; new 20 Gy/5: 20·(4+3)/5 = 28 Gy₃;
    cumulative 49.6 ≤ 70 (small bowel) by both methods; planned 20 ≤ 35 Gy de novo."""
    occ = np.ones((1, 1, 4))
    result = evaluate_cumulative(PROTOCOL, "small_bowel", occ,
                                 [PriorCourseDose("LCCRT", row([45.0] * 4), 25, 730)],
                                 new_dose=row([20.0] * 4), n_fractions=5, structure="Bowel_Small")
    assert result.cumulative_eqd2_metric_sum_gy == pytest.approx(49.6)
    assert result.cumulative_eqd2_voxelwise_gy == pytest.approx(49.6)
    assert result.planned_physical_gy == pytest.approx(20.0)
    assert result.passed
    record = result.to_dict()
    assert record["structure"] == "Bowel_Small" and record["passed"] is True
    assert record["cumulative_eqd2_gy"] == pytest.approx(49.6)


def test_separate_hot_spots_metric_sum_is_the_higher_here():
    """Prior hot spot in voxel 0 (60 Gy/30 → 60 Gy₃ → 30 after 50 %), rest 10 Gy/30; new hot spot in
    voxel 19 (26 Gy/5 → 26·8.2/5 = 42.64 Gy₃), rest 5 Gy/5 (4.0 Gy₃).
    Metric sum: 30 + 42.64 = 72.64 > 70 → fails. Voxel-wise: voxel 19 = 0.5·10·(1/3 + 3)/5 + 42.64
    = 3.333 + 42.64 = 45.97; voxel 0 = 30 + 4 = 34 → 45.97 ≤ 70. Overall: failed (the shipped protocol
    decides by the metric sum), cumulative reported as the metric sum, 72.64. With 1 cm³ voxels every
    D0.5cc is a single voxel's dose, so here the metric sum is the higher; the next test is the reverse."""
    prior = np.full(20, 10.0)
    prior[0] = 60.0
    new = np.full(20, 5.0)
    new[19] = 26.0
    result = evaluate_cumulative(PROTOCOL, "small_bowel", np.ones((1, 1, 20)),
                                 [PriorCourseDose("A", row(prior), 30, 730)],
                                 new_dose=row(new), n_fractions=5)
    assert result.cumulative_eqd2_metric_sum_gy == pytest.approx(72.64)
    assert result.cumulative_eqd2_voxelwise_gy == pytest.approx(10.0 / 3.0 + 42.64)
    assert result.passed_metric_sum is False and result.passed_voxelwise is True
    assert not result.passed
    assert result.cumulative_eqd2_gy == pytest.approx(72.64)



def test_two_prior_courses_hot_apart_metric_sum_below_voxel_wise():
    """docs/clinical-decisions.md 4: the metric sum bounds the voxel-wise sum for Dmax only. Twenty
    0.1 cm³ voxels; course A 65 Gy/25 in voxels 0-3 (0.4 cm³), course B in voxels 4-7, both 10 Gy/25
    elsewhere, both 800 days (50 %); new 25 Gy/5 uniform (25·8/5 = 40 Gy₃). Each course's D0.5cc is
    10 Gy (its 0.4 cm³ hot spot lies above 0.5 cm³'s reach): 10·3.4/5 = 6.8 Gy₃ → 3.4 each; metric sum
    3.4 + 3.4 + 40 = 46.8 ≤ 70. Voxel-wise the hot 0.8 cm³ holds 0.5·65·5.6/5 + 3.4 + 40 = 36.4 + 43.4
    = 79.8 > 70 in every voxel: D0.5cc = 79.8."""
    a, b = np.full(20, 10.0), np.full(20, 10.0)
    a[0:4] = 65.0
    b[4:8] = 65.0
    grid = lambda v: DoseGrid(np.asarray(v, dtype=float).reshape(1, 1, -1), (0.0, 0.0, 0.0),  # noqa: E731
                              (10.0, 10.0, 1.0))
    result = evaluate_cumulative(PROTOCOL, "small_bowel", np.ones((1, 1, 20)),
                                 [PriorCourseDose("A", grid(a), 25, 800),
                                  PriorCourseDose("B", grid(b), 25, 800)],
                                 new_dose=grid(np.full(20, 25.0)), n_fractions=5)
    assert result.cumulative_eqd2_metric_sum_gy == pytest.approx(46.8)
    assert result.cumulative_eqd2_voxelwise_gy == pytest.approx(79.8)
    assert result.passed is True and result.methods_disagree is True  # the shipped metric sum decides

def test_de_novo_only_oar():
    """Femoral head (no cumulative limit): the de novo D10cc ≤ 30 Gy fails at 31 Gy; the cumulative
    EQD2 is still reported, nominal (no recovery): 40 Gy/25 → 40·4.6/5 = 36.8 Gy₃, 31 Gy/5 →
    31·9.2/5 = 57.04 Gy₃, sum 93.84 Gy₃."""
    result = evaluate_cumulative(PROTOCOL, "femoral_head_l", np.ones((1, 1, 20)),
                                 [PriorCourseDose("A", row([40.0] * 20), 25, 730)],
                                 new_dose=row([31.0] * 20), n_fractions=5)
    assert result.cumulative_eqd2_gy == pytest.approx(93.84)
    assert result.planned_physical_gy == pytest.approx(31.0)
    assert result.passed is False


def test_no_silent_pass_without_a_cumulative_limit():
    """Issue 14 item 4: the femoral head meets its de novo limit (20 Gy ≤ 30 Gy) but had 40 Gy/25
    before and has no cumulative limit: `passed` is None (not assessable), never True; the cumulative
    EQD2 is 36.8 + 20·7/5 = 64.8 Gy₃. Without prior dose the de novo verdict stands (True)."""
    result = evaluate_cumulative(PROTOCOL, "femoral_head_l", np.ones((1, 1, 20)),
                                 [PriorCourseDose("A", row([40.0] * 20), 25, 730)],
                                 new_dose=row([20.0] * 20), n_fractions=5)
    assert result.passed is None and result.passed_de_novo is True
    assert result.cumulative_eqd2_gy == pytest.approx(64.8)
    assert result.to_dict()["passed"] is None
    clean = evaluate_cumulative(PROTOCOL, "femoral_head_l", np.ones((1, 1, 20)),
                                [PriorCourseDose("A", row([0.0] * 20), 25, 730)],
                                new_dose=row([20.0] * 20), n_fractions=5)
    assert clean.passed is True


def test_new_course_above_the_per_course_cap_fails():
    """The cord's per-course cap (49 Gy EQD2₂ = 26.70 Gy in 5 fx) fails a new course of 27.5 Gy/5
    (EQD2₂ = 27.5·7.5/4 = 51.56 Gy) even with no prior dose and the de novo 28 Gy met."""
    result = evaluate_cumulative(PROTOCOL, "spinal_cord", np.ones((1, 1, 20)), [],
                                 new_dose=row([27.5] * 20), n_fractions=5)
    assert result.passed_de_novo is True and result.passed_per_course is False
    assert result.passed is False


def test_prior_on_another_grid_is_refused():
    """A prior dose not resampled onto the planning grid is an error, not a silent mismatch."""
    with pytest.raises(IncompatibleDoseError, match="resample"):
        evaluate_cumulative(PROTOCOL, "rectum", np.ones((1, 1, 4)),
                            [PriorCourseDose("A", row([45.0] * 5), 25, 730)],
                            new_dose=row([20.0] * 4), n_fractions=5)


def _deciding(method: str):
    return dataclasses.replace(PROTOCOL, cumulative=dataclasses.replace(PROTOCOL.cumulative,
                                                                        deciding_method=method))


@pytest.mark.parametrize(("method", "passed", "reported"), [
    ("metric-sum", True, 8.16), ("both", False, 74.16), ("voxel-wise", False, 74.16)])
def test_the_protocols_deciding_method_decides(method, passed, reported):
    """Issue 20 item 3: two hot spots of 0.4 cm³ (four 0.1 cm³ voxels each), one per course, in different
    places. Prior 65 Gy/25 there (65·(2.6+3)/5 = 72.8 Gy₃), 10 Gy/25 elsewhere (10·3.4/5 = 6.8 Gy₃), 150
    days (no recovery under the guidance); new 35 Gy/5 in the other spot (35·10/5 = 70 Gy₃), 2 Gy/5
    elsewhere (2·3.4/5 = 1.36 Gy₃). Each course's D0.5cc misses its own 0.4 cm³ spot: metric sum
    6.8 + 1.36 = 8.16 ≤ 70. The sum's hottest 0.5 cm³ covers both spots: voxel-wise D0.5cc = the cooler
    spot, 72.8 + 1.36 = 74.16 > 70. The shipped protocol decides by the metric sum (the guidance): passed,
    with the disagreement exposed; `both` and `voxel-wise` fail. The reported cumulative EQD2 is the deciding
    method's (both: the larger)."""
    prior = np.full(20, 10.0)
    prior[:4] = 65.0
    new = np.full(20, 2.0)
    new[-4:] = 35.0
    grid = lambda v: DoseGrid(np.asarray(v, dtype=float).reshape(1, 1, -1), (0.0, 0.0, 0.0),  # noqa: E731
                              (10.0, 10.0, 1.0))
    result = evaluate_cumulative(_deciding(method), "small_bowel", np.ones((1, 1, 20)),
                                 [PriorCourseDose("A", grid(prior), 25, 150)], new_dose=grid(new),
                                 n_fractions=5)
    assert result.cumulative_eqd2_metric_sum_gy == pytest.approx(8.16)
    assert result.cumulative_eqd2_voxelwise_gy == pytest.approx(74.16)
    assert result.passed is passed and result.cumulative_eqd2_gy == pytest.approx(reported)
    assert result.methods_disagree is (method == "metric-sum")
    assert result.to_dict()["deciding_method"] == method
    assert PROTOCOL.cumulative.deciding_method == "metric-sum"
    # a plan whose verdict follows the metric sum while the voxel-wise map breaks the limit gets a flag
    plan = PlanEvaluation(prescription_gy=30.0, oars=(result,), target=None, coverage_ok=True,  # type: ignore[arg-type]
                          oars_ok=bool(result.passed), limiting_load_fraction=0.98)
    found = method_findings(plan)
    assert [(f.code, f.severity, f.subject) for f in found] == (
        [("cumulative-methods-disagree", "flag", "small_bowel")] if method == "metric-sum" else [])
