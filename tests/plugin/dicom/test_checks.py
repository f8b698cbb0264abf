"""Consistency checks before DICOM objects are combined (for ``reirrad evaluate``).

Sources of truth: PS3.3 C.7.4.1 (coordinates of different frames of reference are unrelated), and the
plausibility rule of reirrad_tps.dicom.checks: a plan's dose maximum is at least 0.9 × its TOTAL
prescription (45 Gy here), so a 25-fraction plan read as one fraction (max 1.8 Gy × 1.1) is stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from reirrad.errors import IncompatibleDoseError, InputError
from reirrad_tps.dicom import (
    check_dose_against_plan,
    check_same_frame,
    read_registration,
    read_rt_dose,
    read_rt_dose_info,
    read_rt_plan,
    read_rt_struct,
    require_registration,
)
from tests.plugin.dicom import factory

# 49.5 Gy maximum (110 % of 45 Gy) with DoseGridScaling 0.001: 49 500 counts.
PLAN_MAX_COUNTS = 49500


def dose_counts(max_counts: int) -> np.ndarray:
    counts = np.full((3, 4, 5), max_counts // 2, dtype=np.uint32)
    counts[1, 2, 2] = max_counts
    return counts


def test_same_frame_passes_and_different_frames_are_refused() -> None:
    """Same UID: fine. Different UIDs: IncompatibleDoseError naming both and the fix."""
    check_same_frame(factory.FRAME_A, "the dose", factory.FRAME_A, "the structures")
    with pytest.raises(IncompatibleDoseError,
                       match=r"the structures is in frame of reference .*1002.*--registration"):
        check_same_frame(factory.FRAME_A, "the dose", factory.FRAME_B, "the structures")
    with pytest.raises(InputError, match="has no frame of reference UID"):
        check_same_frame(factory.FRAME_A, "the dose", None, "the structures")


def test_dose_and_structures_in_different_frames_without_registration(tmp_path: Path) -> None:
    """A prior dose (frame B) and the planning structures (frame A), read from files: refused until a
    registration relates them; with the REG, the transform planning → prior frame is returned."""
    dose = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", dose_counts(1000), frame_uid=factory.FRAME_B))
    structures = read_rt_struct(factory.rt_struct(
        tmp_path / "rs.dcm", [("BOX", "ORGAN", factory.box_contours((0, 1), (0, 1), [0.0]))]))
    with pytest.raises(IncompatibleDoseError, match="different patient coordinate systems"):
        check_same_frame(structures.frame_of_reference_uid, "the structure set",
                         dose.frame_of_reference_uid, "the prior dose")
    with pytest.raises(IncompatibleDoseError, match=r"no registration relates them.*--registration REG"):
        require_registration(structures.frame_of_reference_uid, dose.frame_of_reference_uid, ())
    shift = np.eye(4)
    shift[:3, 3] = (1.0, 2.0, 3.0)  # p_A = p_B + (1, 2, 3)
    regs = read_registration(factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, shift, "RIGID")]))
    transform = require_registration(structures.frame_of_reference_uid, dose.frame_of_reference_uid, regs)
    assert transform is not None
    np.testing.assert_allclose(transform @ [1.0, 2.0, 3.0, 1.0], [0.0, 0.0, 0.0, 1.0])
    assert require_registration(factory.FRAME_A, factory.FRAME_A, ()) is None


def test_consistent_dose_and_plan_give_no_findings(tmp_path: Path) -> None:
    """Max 49.5 Gy for a 45 Gy plan that the dose references: nothing to report."""
    path = factory.rt_dose(tmp_path / "rd.dcm", dose_counts(PLAN_MAX_COUNTS))
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm"))
    assert check_dose_against_plan(read_rt_dose_info(path), read_rt_dose(path), plan) == ()


def test_dose_maximum_below_the_prescription_is_a_stop(tmp_path: Path) -> None:
    """One fraction of 45 Gy / 25 (max 1.98 Gy) labelled PLAN: 1.98 < 0.9 × 45 → stop finding."""
    path = factory.rt_dose(tmp_path / "rd.dcm", dose_counts(PLAN_MAX_COUNTS // 25))
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm"))
    findings = check_dose_against_plan(read_rt_dose_info(path), read_rt_dose(path), plan)
    assert [(f.code, f.severity) for f in findings] == [("dose-maximum-below-prescription", "stop")]
    assert "1.98 Gy" in findings[0].message


def test_dose_maximum_far_above_the_prescription_is_a_stop(tmp_path: Path) -> None:
    """A whole-group FRACTION dose wrongly read as per fraction (× 25): max 1237.5 Gy > 3 × 45 → stop
    (issue 19: refused in both directions)."""
    path = factory.rt_dose(tmp_path / "rd.dcm", dose_counts(PLAN_MAX_COUNTS), summation="FRACTION")
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm"))
    grid = read_rt_dose(path, n_fractions=plan.require_n_fractions(), fraction_summation="per-fraction")
    findings = check_dose_against_plan(read_rt_dose_info(path), grid, plan)
    assert [(f.code, f.severity) for f in findings] == [("dose-maximum-far-above-prescription", "stop")]


def test_dose_without_plan_reference_is_flagged(tmp_path: Path) -> None:
    path = factory.rt_dose(tmp_path / "rd.dcm", dose_counts(PLAN_MAX_COUNTS), plan_uid=None)
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm"))
    findings = check_dose_against_plan(read_rt_dose_info(path), read_rt_dose(path), plan)
    assert [f.code for f in findings] == ["dose-references-no-plan"]


def test_dose_of_another_plan_or_patient_is_refused(tmp_path: Path) -> None:
    """The dose references PLAN_UID; a plan with another UID, or of another patient, is refused."""
    path = factory.rt_dose(tmp_path / "rd.dcm", dose_counts(PLAN_MAX_COUNTS))
    info, grid = read_rt_dose_info(path), read_rt_dose(path)
    other = read_rt_plan(factory.rt_plan(tmp_path / "rp2.dcm", sop_uid="1.2.826.0.1.3680043.8.498.2999"))
    with pytest.raises(InputError, match="is the dose of RT Plan"):
        check_dose_against_plan(info, grid, other)
    stranger = read_rt_plan(factory.rt_plan(tmp_path / "rp3.dcm", patient_id="SOMEONE-ELSE"))
    with pytest.raises(InputError, match="is for patient 'REIRR-01' but the plan"):
        check_dose_against_plan(info, grid, stranger)
    moved = read_rt_plan(factory.rt_plan(tmp_path / "rp4.dcm", frame_uid=factory.FRAME_B))
    with pytest.raises(IncompatibleDoseError, match="frame of reference"):
        check_dose_against_plan(info, grid, moved)
