"""Deformable Spatial Registration reader and the mapping of a prior dose through it.

Source of truth: DICOM PS3.3 C.20.3.1.1 — a point p of the Registered RCS (the REG's own frame, here the
planning frame A) samples the Source RCS (the prior dose's frame B) at
``p_S = M_post · (M_pre · p + D(p))``, D the vector of ``VectorGridData`` at p (C.20.3.1.3: float32 x, y, z
triplets, i fastest). The fields written here are affine in p (a uniform translation plus a linear shear),
so their trilinear interpolation is exact (trilinear interpolation reproduces affine functions), and they
are exactly representable in float32 (multiples of 0.25 mm). Every expected dose below is a closed form of
the analytic prior dose at p_S:

* an affine prior dose is mapped exactly (only float64 rounding: 1e-9 Gy);
* a quadratic term q·x² is interpolated between the prior grid's x nodes x0 < x_S < x0 + h with the exact
  linear-interpolation error q·(x_S − x0)·(x0 + h − x_S) ≤ q·h²/4 (here q = 0.01 Gy/mm², h = 2 mm: at most
  0.01 Gy), which the test adds to the closed form and bounds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

pytest.importorskip("pydicom")

from reirrad import cli
from reirrad.dose import DoseGrid
from reirrad.errors import IncompatibleDoseError, InputError
from reirrad_tps.dicom import (
    place_prior_dose,
    read_deformable_registration,
    read_registration,
    read_registrations,
)
from tests.plugin.dicom import factory

FRAME_A, FRAME_B = factory.FRAME_A, factory.FRAME_B
FRAME_C = "1.2.826.0.1.3680043.8.498.1003"

# Deformation grid (frame A): x, y from -30 to 30 mm, z from -15 to 15 mm, every 5 mm.
GRID_IPP = (-30.0, -30.0, -15.0)
GRID_RES = (5.0, 5.0, 5.0)
GRID_DIMS = (13, 13, 7)  # XD, YD, ZD
TRANSLATION = np.array([3.0, -2.0, 1.5])
SHEAR = np.array([[0.0, 0.05, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # u_x += 0.05·y
Q_GY_PER_MM2 = 0.01
PRIOR_H_MM = 2.0


def grid_points() -> np.ndarray:
    """(ZD, YD, XD, 3) patient positions of the deformation grid's voxel centres (axial IOP)."""
    xd, yd, zd = GRID_DIMS
    k, j, i = np.meshgrid(np.arange(zd), np.arange(yd), np.arange(xd), indexing="ij")
    return np.stack([GRID_IPP[0] + GRID_RES[0] * i, GRID_IPP[1] + GRID_RES[1] * j,
                     GRID_IPP[2] + GRID_RES[2] * k], axis=-1).astype(float)


def affine_field(points: np.ndarray) -> np.ndarray:
    """D(p) = t + S·p (mm)."""
    return TRANSLATION + points @ SHEAR.T


def uniform(vector: Any) -> np.ndarray:
    xd, yd, zd = GRID_DIMS
    return np.broadcast_to(np.asarray(vector, dtype=float), (zd, yd, xd, 3)).copy()


def write(tmp_path: Path, vectors: Any, name: str = "dreg.dcm", **kwargs: Any) -> Path:
    return factory.deformable_registration(tmp_path / name, vectors, ipp=GRID_IPP, resolution_mm=GRID_RES,
                                           **kwargs)


def linear_gy(p: np.ndarray) -> np.ndarray:
    """The affine part of the prior dose, Gy (p in frame B, mm)."""
    return 20.0 + 0.2 * p[..., 0] - 0.1 * p[..., 1] + 0.05 * p[..., 2]


def prior_dose(quadratic: bool = False) -> DoseGrid:
    """Prior dose in frame B on x, y ∈ [-40, 40] mm (2 mm), z ∈ [-20, 20] mm (2.5 mm)."""
    nx, ny, nz = 41, 41, 17
    origin = (-40.0, -40.0, -20.0)
    spacing = (PRIOR_H_MM, PRIOR_H_MM, 2.5)
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    p = np.stack([origin[0] + spacing[0] * i, origin[1] + spacing[1] * j, origin[2] + spacing[2] * k], -1)
    values = linear_gy(p) + (Q_GY_PER_MM2 * p[..., 0] ** 2 if quadratic else 0.0)
    return DoseGrid(values, origin, spacing, frame_of_reference_uid=FRAME_B)


def planning_grid() -> DoseGrid:
    """Planning grid in frame A: x, y ∈ [-20, 20], z ∈ [-10, 10] mm every 2.5 mm (inside the field)."""
    return DoseGrid(np.zeros((9, 17, 17)), (-20.0, -20.0, -10.0), (2.5, 2.5, 2.5),
                    frame_of_reference_uid=FRAME_A)


def planning_points(grid: DoseGrid) -> np.ndarray:
    nz, ny, nx = grid.shape
    return np.stack([grid.voxel_centres_mm(k) for k in range(nz)]).reshape(nz, ny, nx, 3)


# -- the round trip ------------------------------------------------------------------------------------


def test_translation_and_shear_map_an_affine_dose_exactly(tmp_path: Path) -> None:
    """D(p) = (3, −2, 1.5) + (0.05·y, 0, 0) mm written as float32, read back and used: every planning
    voxel receives the affine prior dose at p_S = p + D(p), to rounding (1e-9 Gy)."""
    reg_file = write(tmp_path, affine_field(grid_points()))
    (reg,) = read_deformable_registration(reg_file)
    assert (reg.source_frame_of_reference_uid, reg.target_frame_of_reference_uid) == (FRAME_B, FRAME_A)
    np.testing.assert_array_equal(reg.affine, np.eye(4))
    np.testing.assert_array_equal(reg.field.vectors_mm, affine_field(grid_points()))  # exact in float32
    planning = planning_grid()
    placed = place_prior_dose(prior_dose(), planning, FRAME_A, read_registrations([reg_file]), what="prior")
    assert placed.kind == "deformable" and placed.planning_to_dose is None and placed.findings == ()
    p = planning_points(planning)
    np.testing.assert_allclose(placed.dose.values_gy, linear_gy(p + affine_field(p)), rtol=0, atol=1e-9)
    assert placed.dose.frame_of_reference_uid == FRAME_A
    # by hand at the planning voxel p = (10, 10, 0): p_S = (10 + 3 + 0.5, 10 − 2, 0 + 1.5) = (13.5, 8, 1.5),
    # D = 20 + 0.2·13.5 − 0.1·8 + 0.05·1.5 = 21.975 Gy; the voxel is (i, j, k) = (12, 12, 4)
    assert placed.dose.values_gy[4, 12, 12] == pytest.approx(21.975, abs=1e-9)


def test_a_curved_dose_is_mapped_within_the_stated_interpolation_error(tmp_path: Path) -> None:
    """Prior dose affine + q·x²: the mapped dose is the closed form at p_S plus the exact interpolation error
    q·(x_S − x0)·(x0 + h − x_S) of the prior grid's x nodes, which is ≤ q·h²/4 = 0.01 Gy."""
    reg_file = write(tmp_path, affine_field(grid_points()))
    planning = planning_grid()
    placed = place_prior_dose(prior_dose(quadratic=True), planning, FRAME_A, read_registrations([reg_file]),
                              what="prior")
    ps = planning_points(planning) + affine_field(planning_points(planning))
    x = ps[..., 0]
    x0 = -40.0 + PRIOR_H_MM * np.floor((x + 40.0) / PRIOR_H_MM)
    bias = Q_GY_PER_MM2 * (x - x0) * (x0 + PRIOR_H_MM - x)
    assert bias.max() <= Q_GY_PER_MM2 * PRIOR_H_MM ** 2 / 4 + 1e-12 and bias.max() > 0.0
    exact = linear_gy(ps) + Q_GY_PER_MM2 * x ** 2
    np.testing.assert_allclose(placed.dose.values_gy, exact + bias, rtol=0, atol=1e-9)
    assert np.abs(placed.dose.values_gy - exact).max() <= 0.01 + 1e-9


def test_pre_and_post_matrices_apply_in_the_order_of_ps33(tmp_path: Path) -> None:
    """M_pre = 90° about z + (7, 0, 0) mm, M_post = M_pre⁻¹ (as some exporters write), D = (0, 5, 0):
    p_S = M_pre⁻¹·(M_pre·p + D) = p + L_pre⁻¹·D = p + (5, 0, 0) by hand (Rz(−90°) takes y to x). An affine
    prior dose 20 + 0.2x − 0.1y + 0.05z then gains 0.2 × 5 = 1 Gy everywhere."""
    pre = np.array([[0.0, -1.0, 0.0, 7.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    reg_file = write(tmp_path, uniform([0.0, 5.0, 0.0]), pre=pre, post=np.linalg.inv(pre))
    (reg,) = read_deformable_registration(reg_file)
    np.testing.assert_allclose(reg.affine, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(reg.field.sample([[0.0, 0.0, 0.0]])[0], [[5.0, 0.0, 0.0]], atol=1e-12)
    planning = planning_grid()
    placed = place_prior_dose(prior_dose(), planning, FRAME_A, read_registrations([reg_file]), what="prior")
    np.testing.assert_allclose(placed.dose.values_gy, linear_gy(planning_points(planning)) + 1.0, atol=1e-9)
    assert reg.max_displacement_mm == pytest.approx(5.0)


def test_the_post_matrix_applies_after_the_deformation(tmp_path: Path) -> None:
    """Only M_post = translation (0, 0, 2.5) mm and D = (1, 0, 0): p_S = p + (1, 0, 2.5), so the affine prior
    dose gains 0.2·1 + 0.05·2.5 = 0.325 Gy."""
    post = np.eye(4)
    post[2, 3] = 2.5
    reg_file = write(tmp_path, uniform([1.0, 0.0, 0.0]), post=post)
    planning = planning_grid()
    placed = place_prior_dose(prior_dose(), planning, FRAME_A, read_registrations([reg_file]), what="prior")
    np.testing.assert_allclose(placed.dose.values_gy, linear_gy(planning_points(planning)) + 0.325, atol=1e-9)


def test_a_deformation_within_the_planning_frame_is_applied_not_ignored(tmp_path: Path) -> None:
    """A REG of frame A sampling A itself (two images sharing a frame) with D = (2, 0, 0) mm and a prior dose
    already in A: the deformation is applied (+0.2 × 2 = 0.4 Gy), never silently dropped."""
    reg_file = write(tmp_path, uniform([2.0, 0.0, 0.0]), source_uid=FRAME_A)
    in_a = DoseGrid(prior_dose().values_gy, prior_dose().origin_mm, prior_dose().spacing_mm,
                    frame_of_reference_uid=FRAME_A)
    planning = planning_grid()
    placed = place_prior_dose(in_a, planning, FRAME_A, read_registrations([reg_file]), what="prior")
    assert placed.kind == "deformable"
    np.testing.assert_allclose(placed.dose.values_gy, linear_gy(planning_points(planning)) + 0.4, atol=1e-9)


def test_largest_displacement_is_reported_with_its_place(tmp_path: Path) -> None:
    """|t + S·p| is largest where 0.05·y adds most to t_x = 3: y = 30 mm, |(4.5, −2, 1.5)| =
    √(20.25 + 4 + 2.25) = √26.5 = 5.148 mm, at x = −30 (the first such voxel in file order; every x and z
    ties)."""
    reg_file = write(tmp_path, affine_field(grid_points()), identity_item=True)
    (reg,) = read_deformable_registration(reg_file)  # the identity item of frame A itself is skipped
    assert reg.item == 1
    assert reg.max_displacement_mm == pytest.approx(np.sqrt(26.5), abs=1e-6)
    assert reg.max_displacement_at_mm == pytest.approx((-30.0, 30.0, -15.0))
    placed = place_prior_dose(prior_dose(), planning_grid(), FRAME_A, read_registrations([reg_file]),
                              what="prior")
    assert placed.registration_id == ("deformable dreg.dcm item 1, largest displacement 5.1 mm at "
                                      "(-30.0, 30.0, -15.0) mm")


def test_planning_voxels_outside_the_field_are_flagged(tmp_path: Path) -> None:
    """A planning grid reaching x = 35 mm, beyond the field's x = 30: those voxels get 0 Gy and a flag gives
    their share (x = 32.5 and 35 mm: 2 of 19 columns = 10.5 %)."""
    reg_file = write(tmp_path, uniform([0.0, 0.0, 0.0]))
    wide = DoseGrid(np.zeros((9, 17, 19)), (-10.0, -20.0, -10.0), (2.5, 2.5, 2.5),
                    frame_of_reference_uid=FRAME_A)
    placed = place_prior_dose(prior_dose(), wide, FRAME_A, read_registrations([reg_file]), what="prior")
    (finding,) = placed.findings
    assert finding.severity == "flag" and "10.5 % of the planning dose grid" in finding.message
    assert float(np.abs(placed.dose.values_gy[:, :, 17:]).max()) == 0.0


# -- refusals ------------------------------------------------------------------------------------------


def test_missing_grid_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError,
                       match=r"item 0 \(source frame .*\) has no DeformableRegistrationGridSequence"):
        read_deformable_registration(write(tmp_path, None, pre=np.eye(4)))


def test_wrong_vector_count_is_refused(tmp_path: Path) -> None:
    """13 × 13 × 7 vectors written, GridDimensions claims 13\\13\\8: 3549 floats where 4056 are needed."""
    path = write(tmp_path, affine_field(grid_points()), dimensions=(13, 13, 8))
    with pytest.raises(InputError, match=r"VectorGridData \(0064,0009\) holds 3549 floats, but "
                                         r"GridDimensions 13\\13\\8 needs 3 x 1352 = 4056"):
        read_deformable_registration(path)


def test_non_orthonormal_orientation_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, uniform([0.0, 0.0, 0.0]), iop=(1.0, 0.0, 0.0, 0.2, 1.0, 0.0))
    with pytest.raises(InputError, match=r"DeformableRegistrationGridSequence: ImageOrientationPatient .* "
                                         "column cosine"):
        read_deformable_registration(path)


def test_nan_vectors_are_refused(tmp_path: Path) -> None:
    vectors = uniform([1.0, 0.0, 0.0])
    vectors[2, 3, 4] = np.nan
    with pytest.raises(InputError, match=r"1 undefined \(NaN or infinite\) vectors, the first at grid index "
                                         r"\(i, j, k\) = \(4, 3, 2\)"):
        read_deformable_registration(write(tmp_path, vectors))


@pytest.mark.parametrize(("omit", "needle"), [
    (("GridResolution",), r"GridResolution \(0064,0008\) is missing"),
    (("ImagePositionPatient",), r"ImagePositionPatient \(0020,0032\) is missing"),
    (("VectorGridData",), r"VectorGridData \(0064,0009\) is missing"),
])
def test_missing_grid_attributes_are_refused(tmp_path: Path, omit: Any, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        read_deformable_registration(write(tmp_path, uniform([0.0, 0.0, 0.0]), omit=omit))


@pytest.mark.parametrize("resolution", [(5e-324, 5.0, 5.0), (5.0, 5.0, 1e6)])
def test_an_implausible_grid_resolution_is_refused(tmp_path: Path, resolution: Any) -> None:
    """Found on hostile files: GridResolution 5e-324 mm ended in an IndexError (traceback) in the dose
    gather; 1e6 mm was accepted. A resolution outside 0.1-20 mm (as a dose grid's) is refused."""
    path = factory.deformable_registration(tmp_path / "dreg.dcm", uniform([0.0, 0.0, 0.0]), ipp=GRID_IPP,
                                           resolution_mm=resolution)
    with pytest.raises(InputError, match=r"the deformation grid's [xz] spacing is .* mm \(from "
                                         r"GridResolution \(0064,0008\), [xz]\), outside the 0.1-20 mm"):
        read_deformable_registration(path)


@pytest.mark.parametrize("size, shown", [(5.0e6, "5e\\+06"), (3.0e38, "5.19615e\\+38")])
def test_a_displacement_beyond_ten_metres_is_refused(tmp_path: Path, size: float, shown: str) -> None:
    """Kilometre vectors ran with only coverage flags; 3e38 (a finite float32) was reported as an "inf" mm
    displacement (its norm taken in float32). A vector beyond 10 m is refused, its length taken in
    float64."""
    vectors = uniform([0.0, 0.0, 0.0])
    vectors[1, 2, 3] = (size, size, size) if size > 1e30 else (size, 0.0, 0.0)
    with pytest.raises(InputError, match=rf"a displacement vector of {shown} mm at .* beyond 10000 mm"):
        read_deformable_registration(write(tmp_path, vectors))


def test_a_scaled_post_matrix_is_refused(tmp_path: Path) -> None:
    """A post-deformation RIGID_SCALE of 0.001 moved the prior dose off the grid with only coverage flags."""
    path = write(tmp_path, uniform([0.0, 0.0, 0.0]), post=np.diag([0.001, 0.001, 0.001, 1.0]),
                 matrix_type="RIGID_SCALE")
    with pytest.raises(InputError, match=r"scales the axes by \[0.001, 0.001, 0.001\], outside 0.5-2"):
        read_deformable_registration(path)


def test_affine_pre_matrix_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, uniform([0.0, 0.0, 0.0]), pre=np.diag([2.0, 1.0, 1.0, 1.0]), matrix_type="AFFINE")
    with pytest.raises(InputError, match=r"PreDeformationMatrixRegistrationSequence .* is AFFINE"):
        read_deformable_registration(path)


def test_unknown_frames_are_refused(tmp_path: Path) -> None:
    """The REG samples frame C into A; the prior dose is in B: nothing relates B to A."""
    path = write(tmp_path, uniform([0.0, 0.0, 0.0]), source_uid=FRAME_C)
    with pytest.raises(IncompatibleDoseError,
                       match=rf"no registration relates them .*{FRAME_C} -> {FRAME_A}"):
        place_prior_dose(prior_dose(), planning_grid(), FRAME_A, read_registrations([path]), what="prior")


def test_the_opposite_direction_is_refused(tmp_path: Path) -> None:
    """A REG of frame B sampling A (planning image as the moving one) would need the inverse deformation."""
    path = write(tmp_path, uniform([0.0, 0.0, 0.0]), source_uid=FRAME_A, frame_uid=FRAME_B)
    with pytest.raises(InputError, match="the opposite direction"):
        place_prior_dose(prior_dose(), planning_grid(), FRAME_A, read_registrations([path]), what="prior")


def test_a_rigid_and_a_deformable_registration_of_the_same_frames_are_refused(tmp_path: Path) -> None:
    deformable = write(tmp_path, uniform([0.0, 0.0, 0.0]))
    rigid = factory.registration(tmp_path / "rigid.dcm", [(FRAME_B, np.eye(4), "RIGID")])
    with pytest.raises(InputError, match="both a rigid and a deformable registration"):
        place_prior_dose(prior_dose(), planning_grid(), FRAME_A, read_registrations([deformable, rigid]),
                         what="prior")


def test_the_rigid_reader_names_the_deformable_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="read_deformable_registration"):
        read_registration(write(tmp_path, uniform([0.0, 0.0, 0.0])))


# -- reirrad evaluate ----------------------------------------------------------------------------------

PRIOR_UID = "1.2.826.0.1.3680043.8.498.2201"
NEW_UID = "1.2.826.0.1.3680043.8.498.2202"
SHAPE = (12, 24, 24)
IPP = (-57.5, -57.5, -27.5)


def _ramp_dose(path: Path, frame: str, shift_x_mm: float) -> str:
    """Prior dose 10 + 0.1·(x − shift) Gy (4.25 to 15.75 Gy) on the small case's grid moved by ``shift`` mm
    along x."""
    nz, _, nx = SHAPE
    xs = IPP[0] + shift_x_mm + 5.0 * np.arange(nx)
    gy = np.broadcast_to(10.0 + 0.1 * (xs - shift_x_mm), SHAPE)
    counts = np.rint(gy / 1e-4).astype(np.uint32)
    return str(factory.rt_dose(path, counts, scaling="0.0001", ipp=(IPP[0] + shift_x_mm, IPP[1], IPP[2]),
                               pixel_spacing=(5.0, 5.0), offsets=[5.0 * k for k in range(nz)],
                               frame_uid=frame, plan_uid=PRIOR_UID))


def _evaluate(args: List[str], out: Path, capsys: Any) -> Dict[str, Any]:
    path = out / "result.json"
    code = cli.main(["evaluate", *args, "--json", str(path)])
    text = capsys.readouterr()
    assert code == 0, text.out + text.err
    return dict(json.loads(path.read_text()))


def test_evaluate_maps_a_prior_dose_through_a_deformable_registration(tmp_path: Path, capsys: Any) -> None:
    """The prior dose 10 + 0.1·x Gy (15 Gy prescribed) written in frame B 10 mm further along x, and a
    deformable REG of the planning frame sampling B at p + (10, 0, 0) mm on the planning grid: the same
    per-OAR prior EQD2 as the dose written in the planning frame (the mapped points are the B voxel
    centres, so no interpolation); recorded as ``deformable`` with its largest displacement (10.0 mm) in
    the provenance and in the ``deformable-registration`` flag."""
    f = factory.small_case(tmp_path, frame_uid=FRAME_A, prior_uid=PRIOR_UID, new_uid=NEW_UID, prior_gy=15.0,
                           new_gy=30.0)
    same_frame = _ramp_dose(tmp_path / "rd_a.dcm", FRAME_A, 0.0)
    in_b = _ramp_dose(tmp_path / "rd_b.dcm", FRAME_B, 10.0)
    plan_b = str(factory.rt_plan(tmp_path / "rp_b.dcm", n_fractions=25, prescriptions_gy=(15.0,),
                                 sop_uid=PRIOR_UID, frame_uid=FRAME_B))
    nz, ny, nx = SHAPE
    vectors = np.broadcast_to(np.array([10.0, 0.0, 0.0]), (nz, ny, nx, 3))
    reg = factory.deformable_registration(tmp_path / "dreg.dcm", vectors, ipp=IPP,
                                          resolution_mm=(5.0, 5.0, 5.0))
    common = ["--structures", f["rs"], "--new-dose", f["rd_new"], "--prescription-gy", "30",
              "--interval-days", "700"]
    mapped = _evaluate([*common, "--prior-dose", in_b, "--prior-plan", plan_b, "--registration", str(reg)],
                       tmp_path, capsys)
    truth = _evaluate([*common, "--prior-dose", same_frame, "--prior-plan", f["rp_prior"]], tmp_path, capsys)
    for a, b in zip(mapped["oars"], truth["oars"]):
        assert a["name"] == b["name"]
        assert a["prior_eqd2_gy"] == pytest.approx(b["prior_eqd2_gy"], abs=1e-6), a["name"]
    (course,) = mapped["provenance"]["prior_courses"]
    assert course["registration"] == "deformable"
    assert "dreg.dcm item 0, largest displacement 10.0 mm" in course["registration_id"]
    flags = [w for w in mapped["warnings"] if w["code"] == "deformable-registration"]
    assert len(flags) == 1 and "largest displacement 10.0 mm" in flags[0]["message"]
    assert not [w for w in truth["warnings"] if w["code"] == "deformable-registration"]


def test_evaluate_refuses_a_bad_deformable_registration_in_one_line(tmp_path: Path, capsys: Any) -> None:
    """A NaN vector in the REG given to ``reirrad evaluate``: exit 2, one error line naming the file, the
    attribute and the grid index, no traceback."""
    f = factory.small_case(tmp_path, frame_uid=FRAME_A, prior_uid=PRIOR_UID, new_uid=NEW_UID, prior_gy=15.0,
                           new_gy=30.0)
    in_b = _ramp_dose(tmp_path / "rd_b.dcm", FRAME_B, 10.0)
    plan_b = str(factory.rt_plan(tmp_path / "rp_b.dcm", n_fractions=25, prescriptions_gy=(15.0,),
                                 sop_uid=PRIOR_UID, frame_uid=FRAME_B))
    nz, ny, nx = SHAPE
    vectors = np.broadcast_to(np.array([10.0, 0.0, 0.0]), (nz, ny, nx, 3)).copy()
    vectors[0, 0, 1] = np.nan
    reg = factory.deformable_registration(tmp_path / "nan.dcm", vectors, ipp=IPP,
                                          resolution_mm=(5.0, 5.0, 5.0))
    code = cli.main(["evaluate", "--structures", f["rs"], "--new-dose", f["rd_new"], "--prescription-gy",
                     "30", "--interval-days", "700", "--prior-dose", in_b, "--prior-plan", plan_b,
                     "--registration", str(reg)])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.out + captured.err
    (line,) = [x for x in captured.err.splitlines() if x.startswith("reirrad: error: ")]
    assert "nan.dcm" in line and "VectorGridData (0064,0009)" in line and "(i, j, k) = (1, 0, 0)" in line
