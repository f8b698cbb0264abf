"""Spatial Registration reader and frame transforms.

Source of truth: DICOM PS3.3 C.20.2.1.1 — FrameOfReferenceTransformationMatrix is a row-major 4×4 that
maps points of the item's frame (B) into the registration object's frame (A): p_A = M · p_B. The test
matrix is a 90° rotation about z plus a translation (10, −5, 2) mm, so p_B = (10, 0, 0) maps by hand to
R·p_B + t = (0, 10, 0) + (10, −5, 2) = (10, 5, 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad_tps.dicom import frame_transform, read_registration, require_registration
from tests.plugin.dicom import factory

FRAME_C = "1.2.826.0.1.3680043.8.498.1003"
B_TO_A = np.array([[0.0, -1.0, 0.0, 10.0],
                   [1.0, 0.0, 0.0, -5.0],
                   [0.0, 0.0, 1.0, 2.0],
                   [0.0, 0.0, 0.0, 1.0]])
C_TO_A = np.array([[1.0, 0.0, 0.0, 0.0],
                   [0.0, 1.0, 0.0, 0.0],
                   [0.0, 0.0, 1.0, -30.0],
                   [0.0, 0.0, 0.0, 1.0]])


def reg_file(path: Path) -> Path:
    """REG of frame A: item A (identity), item B (B_TO_A), item C (C_TO_A)."""
    return factory.registration(path, [(factory.FRAME_A, np.eye(4), "RIGID"),
                                       (factory.FRAME_B, B_TO_A, "RIGID"),
                                       (FRAME_C, C_TO_A, "RIGID")])


def test_matrix_is_read_row_major_with_source_and_target(tmp_path: Path) -> None:
    """Item B: source B, target A (the object's frame), matrix as written (row-major)."""
    regs = read_registration(reg_file(tmp_path / "reg.dcm"))
    assert len(regs) == 3
    item = regs[1]
    assert (item.source_frame_of_reference_uid, item.target_frame_of_reference_uid) == (
        factory.FRAME_B, factory.FRAME_A)
    assert item.matrix_type == "RIGID"
    np.testing.assert_allclose(item.matrix, B_TO_A)
    assert not item.matrix.flags.writeable


def test_direction_convention_with_a_point(tmp_path: Path) -> None:
    """p_B = (10, 0, 0) → p_A = (10, 5, 2) by hand; the inverse maps it back."""
    item = read_registration(reg_file(tmp_path / "reg.dcm"))[1]
    np.testing.assert_allclose(item.matrix @ [10.0, 0.0, 0.0, 1.0], [10.0, 5.0, 2.0, 1.0])
    np.testing.assert_allclose(item.inverse().matrix @ [10.0, 5.0, 2.0, 1.0], [10.0, 0.0, 0.0, 1.0],
                               atol=1e-12)


def test_frame_transform_direct_inverse_and_through_the_shared_frame(tmp_path: Path) -> None:
    """B → A direct; A → B inverse; B → C through A: M_C⁻¹ · M_B, so p_B = (10, 0, 0) → p_A = (10, 5, 2)
    → p_C = (10, 5, 32) (C_TO_A shifts z by −30)."""
    regs = read_registration(reg_file(tmp_path / "reg.dcm"))
    np.testing.assert_allclose(frame_transform(regs, factory.FRAME_B, factory.FRAME_A), B_TO_A)
    a_to_b = frame_transform(regs, factory.FRAME_A, factory.FRAME_B)
    assert a_to_b is not None
    np.testing.assert_allclose(a_to_b @ [10.0, 5.0, 2.0, 1.0], [10.0, 0.0, 0.0, 1.0], atol=1e-12)
    b_to_c = frame_transform(regs, factory.FRAME_B, FRAME_C)
    assert b_to_c is not None
    np.testing.assert_allclose(b_to_c @ [10.0, 0.0, 0.0, 1.0], [10.0, 5.0, 32.0, 1.0], atol=1e-12)
    assert frame_transform(regs, factory.FRAME_B, "9.9.9") is None
    np.testing.assert_array_equal(frame_transform((), "1.2", "1.2"), np.eye(4))


def test_prior_dose_resampled_through_the_registration(tmp_path: Path) -> None:
    """A prior dose in frame B with D(x, y, z) = x_B Gy (x_B ≥ 0 on its grid), resampled onto a planning
    grid in frame A: the planning voxel at p_A = (10, 5, 2) is p_B = (10, 0, 0), so it receives 10 Gy."""
    regs = read_registration(reg_file(tmp_path / "reg.dcm"))
    transform = require_registration(factory.FRAME_A, factory.FRAME_B, regs)
    assert transform is not None
    xs = np.arange(0.0, 21.0)
    prior = DoseGrid(np.broadcast_to(xs, (5, 11, 21)).copy(), (0.0, -5.0, -2.0), (1.0, 1.0, 1.0),
                     frame_of_reference_uid=factory.FRAME_B)
    planning = DoseGrid(np.zeros((3, 3, 3)), (9.0, 4.0, 1.0), (1.0, 1.0, 1.0),
                        frame_of_reference_uid=factory.FRAME_A)
    moved = prior.resample(planning, transform=transform)
    assert moved.grid.values_gy[1, 1, 1] == pytest.approx(10.0)  # voxel (1, 1, 1) is at (10, 5, 2) in A
    assert bool(moved.inside.all())


def test_rigid_scale_is_read(tmp_path: Path) -> None:
    """RIGID_SCALE (rotation × scale) is accepted: columns orthogonal, determinant > 0."""
    scaled = np.diag([1.02, 1.02, 1.02, 1.0])
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, scaled, "RIGID_SCALE")])
    regs = read_registration(path)
    assert regs[0].matrix_type == "RIGID_SCALE"


@pytest.mark.parametrize("scale", [1000.0, 0.001, 2.5])
def test_an_implausible_rigid_scale_is_refused(tmp_path: Path, scale: float) -> None:
    """Found on a hostile REG: RIGID_SCALE diag(1000) drew every planning voxel's prior dose from one point
    (femoral head prior EQD2 7.4 -> 43.2 Gy), 0.001 moved it off the grid, both without a finding. Axis
    scales outside 0.5-2 (registration.PLAUSIBLE_SCALE) are refused; 2 itself is read."""
    scaled = np.diag([scale, scale, scale, 1.0])
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, scaled, "RIGID_SCALE")])
    with pytest.raises(InputError, match=rf"scales the axes by \[{scale!r}, {scale!r}, {scale!r}\], outside "
                                         r"0.5-2"):
        read_registration(path)
    edge = factory.registration(tmp_path / "edge.dcm", [(factory.FRAME_B, np.diag([2.0, 0.5, 1.0, 1.0]),
                                                          "RIGID_SCALE")])
    assert read_registration(edge)[0].matrix_type == "RIGID_SCALE"


def test_a_last_row_within_the_tolerance_is_read_as_exactly_affine(tmp_path: Path) -> None:
    """A last row 0 0 0 1.00009 passed the matrix check (1e-4) and then failed the engine's own stricter
    check with a message naming neither the file nor a fix. It is read as 0 0 0 1."""
    matrix = np.eye(4)
    matrix[3, 3] = 1.00009
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, matrix, "RIGID")])
    assert read_registration(path)[0].matrix[3].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_a_translation_beyond_ten_metres_is_refused(tmp_path: Path) -> None:
    """Found on a hostile REG: a 5 km translation ran (exit 0) with every OAR flagged 100 % outside the
    prior dose. A translation beyond 10 m (geometry.PATIENT_EXTENT_MM) is a malformed file; 10 m is read."""
    far = np.eye(4)
    far[:3, 3] = (3.0e6, 4.0e6, 0.0)
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, far, "RIGID")])
    with pytest.raises(InputError, match=r"translates by 5e\+06 mm, beyond 10000 mm \(10 m\)"):
        read_registration(path)
    far[:3, 3] = (6000.0, 8000.0, 0.0)
    edge = factory.registration(tmp_path / "edge.dcm", [(factory.FRAME_B, far, "RIGID")])
    assert float(np.linalg.norm(read_registration(edge)[0].matrix[:3, 3])) == pytest.approx(1.0e4)


def test_affine_is_refused(tmp_path: Path) -> None:
    """Only rigid registrations are used to move doses."""
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, np.eye(4), "AFFINE")])
    with pytest.raises(InputError, match="AFFINE registration; reirrad uses rigid registrations only"):
        read_registration(path)


def test_matrix_that_is_not_rigid_is_refused(tmp_path: Path) -> None:
    """A matrix declared RIGID must be a rotation (here it scales x by 2)."""
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, np.diag([2.0, 1, 1, 1]), "RIGID")])
    with pytest.raises(InputError, match=r"declared RIGID but .* is not a rotation"):
        read_registration(path)


def test_chained_matrices_are_refused(tmp_path: Path) -> None:
    """Decision: one matrix per item (the order of a chain is easy to get wrong)."""
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, B_TO_A, "RIGID")], chain=True)
    with pytest.raises(InputError, match="chains 2 matrices"):
        read_registration(path)


def test_deformable_registration_is_refused(tmp_path: Path) -> None:
    path = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, B_TO_A, "RIGID")],
                                sop_class=factory.DEFORMABLE_REG)
    with pytest.raises(InputError, match="Deformable Spatial Registration"):
        read_registration(path)


def test_conflicting_registrations_are_refused(tmp_path: Path) -> None:
    """Two REG files that register B to A differently (5 mm apart): which one is meant cannot be guessed."""
    one = read_registration(factory.registration(tmp_path / "a.dcm", [(factory.FRAME_B, B_TO_A, "RIGID")]))
    shifted = B_TO_A.copy()
    shifted[0, 3] += 5.0
    two = read_registration(factory.registration(tmp_path / "b.dcm", [(factory.FRAME_B, shifted, "RIGID")]))
    with pytest.raises(InputError, match="disagree"):
        frame_transform(one + two, factory.FRAME_B, factory.FRAME_A)
    np.testing.assert_allclose(frame_transform(one + one, factory.FRAME_B, factory.FRAME_A), B_TO_A)
