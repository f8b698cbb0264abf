"""Voxel-wise EQD2, recovery, overlap rule and remaining-tolerance maps (reirrad.biomaps).

Sources of truth: the LQ closed form per voxel (EQD2 = D·(d + α/β)/(2 + α/β)), hand-computed
overlap cases written in each docstring, and consistency with the metric method.
"""

from __future__ import annotations

import numpy as np
import pytest

from reirrad import lq
from reirrad.biomaps import (
    CourseDose,
    Tissue,
    effective_prior_eqd2_at,
    effective_prior_eqd2_map,
    remaining_tolerance_map,
)
from reirrad.dose import DoseGrid
from reirrad.errors import IncompatibleDoseError, InputError
from reirrad.structures import structure_occupancy


def grid(values) -> DoseGrid:
    return DoseGrid(np.asarray(values, dtype=float).reshape(1, 1, -1), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))


def test_single_course_is_per_voxel_eqd2_with_recovery():
    """Each voxel uses its own dose per fraction: 45, 30, 0 Gy in 25 fx at α/β 3 → 43.2, 26.4, 0;
    30 % recovery → 30.24, 18.48, 0 Gy."""
    course = CourseDose("LCCRT", grid([45.0, 30.0, 0.0]), 25, 0.3)
    out = effective_prior_eqd2_at([course], 3.0)
    np.testing.assert_allclose(out.values_gy.ravel(), [30.24, 0.7 * 30 * (1.2 + 3) / 5, 0.0])
    assert out.quantity == "eqd2" and out.alpha_beta_gy == 3.0


def test_overlap_rule_picks_the_alpha_beta_with_the_highest_eqd2():
    """Voxel 0: 30 Gy/5 (6 Gy/fx) → α/β 2 gives 60 > 54 (α/β 3). Voxel 1: 5 Gy/5 (1 Gy/fx) → α/β 3
    gives 4.0 > 3.75 (α/β 2). Both voxels lie in a nerve (α/β 2) and bowel (α/β 3) overlap."""
    both = np.ones((1, 1, 2))
    tissues = [Tissue("SacralPlex", both, 2.0), Tissue("Bowel_Small", both, 3.0)]
    out = effective_prior_eqd2_map([CourseDose("c", grid([30.0, 5.0]), 5, 0.0)], tissues, 3.0)
    np.testing.assert_allclose(out.eqd2.values_gy.ravel(), [60.0, 4.0])
    np.testing.assert_array_equal(out.alpha_beta_gy.ravel(), [2.0, 3.0])


def test_courses_are_never_summed_at_different_alpha_beta():
    """Course A 30 Gy/5 and course B 5 Gy/5 in the same voxel (nerve/bowel overlap, no recovery).
    Per course the winners differ (A: α/β 2 → 60; B: α/β 3 → 4.0), but the sum is taken at one α/β:
    α/β 2 → 60 + 3.75 = 63.75, α/β 3 → 54 + 4 = 58; so 63.75 at α/β 2, not the mixed 64."""
    both = np.ones((1, 1, 1))
    tissues = [Tissue("SacralPlex", both, 2.0), Tissue("Bowel_Small", both, 3.0)]
    courses = [CourseDose("A", grid([30.0]), 5, 0.0), CourseDose("B", grid([5.0]), 5, 0.0)]
    out = effective_prior_eqd2_map(courses, tissues, 3.0)
    assert out.eqd2.values_gy.item() == pytest.approx(63.75)
    assert out.alpha_beta_gy.item() == 2.0


def test_background_and_partial_voxels():
    """Voxel 0 is outside every tissue: background α/β 10 only, 30 Gy/5 → 30·16/12 = 40. Voxel 1 is half
    in a nerve (α/β 2), so both compete: 0.5 Gy/5 → α/β 10: 0.5·10.1/12 = 0.421 > α/β 2: 0.5·2.1/4 =
    0.263, background wins. Voxel 2 is fully in the nerve: α/β 2 only, 0.263."""
    occ = np.array([[[0.0, 0.5, 1.0]]])
    course = CourseDose("c", grid([30.0, 0.5, 0.5]), 5, 0.0)
    out = effective_prior_eqd2_map([course], [Tissue("Nerve", occ, 2.0)], 10.0)
    expected = [lq.eqd2_gy(30.0, 5, 10.0), lq.eqd2_gy(0.5, 5, 10.0), lq.eqd2_gy(0.5, 5, 2.0)]
    np.testing.assert_allclose(out.eqd2.values_gy.ravel(), expected)
    np.testing.assert_array_equal(out.alpha_beta_gy.ravel(), [10.0, 10.0, 2.0])


def test_remaining_tolerance_map_matches_the_scalar_method():
    """Prior 45 Gy/25 with 50 % recovery: effective 21.6 Gy₃; bowel limit 70 → remaining 48.4 →
    28.08 Gy in 5 fx (as in test_constraints). A 160 Gy/25 voxel is over the limit: floored at 0."""
    course = CourseDose("c", grid([45.0, 160.0]), 25, 0.5)
    out = remaining_tolerance_map([course], 3.0, 70.0, 5)
    assert out.remaining_eqd2.values_gy[0, 0, 0] == pytest.approx(48.4)
    expected = lq.physical_dose_for_eqd2_gy(48.4, 5, 3.0)
    assert out.allowed_physical.values_gy[0, 0, 0] == pytest.approx(expected)
    # 160 Gy/25 at α/β 3: 160·(6.4+3)/5 = 300.8 → 150.4 effective > 70 → remaining floored at 0
    assert out.remaining_eqd2.values_gy[0, 0, 1] == 0.0
    assert out.allowed_physical.values_gy[0, 0, 1] == 0.0
    assert out.allowed_physical.quantity == "physical"


def test_incompatible_inputs_are_refused():
    """Different grids, an EQD2 map given as a course dose, recovery > 1, mismatched tissues."""
    a = CourseDose("A", grid([1.0, 2.0]), 5, 0.0)
    b = CourseDose("B", grid([1.0, 2.0, 3.0]), 5, 0.0)
    with pytest.raises(IncompatibleDoseError, match="different grid"):
        effective_prior_eqd2_at([a, b], 3.0)
    eqd2 = DoseGrid(np.ones((1, 1, 2)), (0, 0, 0), (2, 2, 2), quantity="eqd2")
    with pytest.raises(IncompatibleDoseError, match="total physical dose"):
        CourseDose("E", eqd2, 5, 0.0)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        CourseDose("F", grid([1.0]), 5, 1.5)
    with pytest.raises(InputError, match="differs from the dose grid"):
        effective_prior_eqd2_map([a], [Tissue("T", np.ones((1, 1, 3)), 3.0)], 3.0)
    with pytest.raises(InputError, match="no prior course"):
        effective_prior_eqd2_at([], 3.0)


def test_tissue_from_boxed_occupancy_equals_full_array():
    """A Tissue given an Occupancy (bounding box) gives the same composite map as its full array."""
    geometry = DoseGrid(np.zeros((6, 6, 6)), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    square = np.array([[1.0, 1.0, 4.0], [7.0, 1.0, 4.0], [7.0, 7.0, 4.0], [1.0, 7.0, 4.0]])
    occ = structure_occupancy([square + np.array([0.0, 0.0, dz]) for dz in (0.0, 2.0, 4.0)], geometry)
    dose = DoseGrid(np.linspace(0.0, 60.0, 216).reshape(6, 6, 6), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    course = [CourseDose("c", dose, 5, 0.3)]
    boxed = effective_prior_eqd2_map(course, [Tissue("Nerve", occ, 2.0)], 3.0)
    full = effective_prior_eqd2_map(course, [Tissue("Nerve", occ.fraction, 2.0)], 3.0)
    np.testing.assert_array_equal(boxed.eqd2.values_gy, full.eqd2.values_gy)
    np.testing.assert_array_equal(boxed.alpha_beta_gy, full.alpha_beta_gy)
    assert (boxed.alpha_beta_gy == 2.0).any() and (boxed.alpha_beta_gy == 3.0).any()
