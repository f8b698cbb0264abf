"""Where a prior dose is defined (``PriorCourse.dose_coverage``) reaches the per-OAR coverage check.

A deformably mapped prior dose already lies on the planning grid, so the dose grid alone cannot show
an OAR the deformation did not reach: the adapter passes the mapping's coverage mask, and
``PriorCourse.on_grid`` intersects it with the grid coverage (``reirrad.workflow.prepare`` flags
``prior-dose-does-not-cover-oar`` from it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import List, Optional

import numpy as np
import pytest

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.snapshot import CaseSnapshot, PriorCourse
from reirrad.workflow import WorkflowOptions, prepare
from tps_stubs.direct import DirectCase


def _course(mask: np.ndarray) -> PriorCourse:
    dose = DoseGrid(np.full((4, 4, 4), 10.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return PriorCourse("C1", "P1", dose, 5, dt.date(2024, 1, 1), registration_kind="deformable",
                       dose_coverage=mask)


def test_on_grid_is_the_mask_on_the_same_grid_and_conservative_between_voxels() -> None:
    """Plane x = 1 undefined. On the same grid the covered voxels are exactly the mask; on a grid shifted
    by half a voxel along x, a voxel is covered only when both source voxels it lies between are: x
    centres 0.5 (between 0 and 1) and 1.5 (between 1 and 2) are uncovered, 2.5 is covered, and -0.5
    lies outside the grid: 4 columns, 1 covered."""
    mask = np.ones((4, 4, 4), dtype=bool)
    mask[:, :, 1] = False
    course = _course(mask)
    same = course.on_grid(course.dose)
    np.testing.assert_array_equal(same.inside, mask)
    shifted = DoseGrid(np.zeros((4, 4, 4)), (-0.5, 0.0, 0.0), (1.0, 1.0, 1.0))
    got = course.on_grid(shifted).inside
    np.testing.assert_array_equal(got[0, 0, :], [False, False, False, True])
    assert got.all(axis=(0, 1)).tolist() == [False, False, False, True]


def test_a_mask_of_the_wrong_shape_or_type_is_refused() -> None:
    with pytest.raises(InputError, match="dose_coverage must be a bool array"):
        _course(np.ones((4, 4, 3), dtype=bool))
    with pytest.raises(InputError, match="dose_coverage must be a bool array"):
        _course(np.ones((4, 4, 4)))


@pytest.mark.parametrize("covered", [True, False])
def test_prepare_flags_every_oar_where_the_prior_dose_is_undefined(covered: bool) -> None:
    """LRRC-01's prior dose with a coverage mask: all True gives the same findings as no mask; all False
    flags every matched OAR as 100 % outside the prior dose."""
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    snapshot = DirectCase("LRRC-01").read()
    baseline = prepare(protocol, snapshot, WorkflowOptions(dry_run=True))
    prior = snapshot.prior_courses[0]
    masked = dataclasses.replace(prior, dose_coverage=np.full(prior.dose.shape, covered))
    case = dataclasses.replace(snapshot, prior_courses=(masked, *snapshot.prior_courses[1:]))
    prepared = prepare(protocol, case, WorkflowOptions(dry_run=True))
    flagged = {f.subject for f in prepared.findings if f.code == "prior-dose-does-not-cover-oar"}
    before = {f.subject for f in baseline.findings if f.code == "prior-dose-does-not-cover-oar"}
    if covered:
        assert flagged == before
    else:
        assert flagged == set(prepared.oar_occupancy) and flagged
        messages = [f.message for f in prepared.findings if f.code == "prior-dose-does-not-cover-oar"]
        assert all("100.0 %" in m for m in messages)


def test_prepare_reports_the_targets_own_occupancy_findings() -> None:
    """The target's occupancy findings reach the run's findings, as each OAR's do: LRRC-01's target moved
    along z so that its middle contour plane lies on the dose grid's last slice has about half its volume
    off the grid, so ``structure-partly-outside-dose-grid`` names the target (before, only the OARs' were
    kept)."""
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    snapshot = DirectCase("LRRC-01").read()
    target_id = snapshot.plan.target_id
    assert target_id is not None
    grid = snapshot.dose_grid
    assert np.allclose(np.asarray(grid.direction), np.eye(3))
    target = snapshot.structure(target_id)
    planes = sorted({float(c[0, 2]) for c in target.contours_mm})
    shift = grid.origin_mm[2] + (grid.shape[0] - 1) * grid.spacing_mm[2] - planes[len(planes) // 2]
    moved = dataclasses.replace(target, contours_mm=tuple(c + np.array([0.0, 0.0, shift])
                                                          for c in target.contours_mm))
    moved_case = dataclasses.replace(snapshot, structures=tuple(moved if s.id == target_id else s
                                                                for s in snapshot.structures))

    def outside(case: CaseSnapshot) -> List[Optional[str]]:
        return [f.subject for f in prepare(protocol, case, WorkflowOptions(dry_run=True)).findings
                if f.code == "structure-partly-outside-dose-grid" and f.subject == target_id]

    assert outside(moved_case) == [target_id]
    assert outside(snapshot) == []
