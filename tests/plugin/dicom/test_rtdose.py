"""RT Dose reader: scaling, units, summation and geometry pitfalls (docs/reference/ecosystem.md §4).

Sources of truth: DICOM PS3.3 C.8.8.3 (RT Dose module), C.8.8.3.2 (GridFrameOffsetVector), C.7.6.2.1.1
(ImagePositionPatient / ImageOrientationPatient), §10.7.1.3 (PixelSpacing = [row spacing, column
spacing]), and voxel positions computed by hand in each docstring. Synthetic files come from
``tests/plugin/dicom/factory.py`` (stored counts 1000·k + 100·j + i + 1, DoseGridScaling 0.001 Gy).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from reirrad.errors import InputError, UnitError
from reirrad_tps.dicom import read_eqd2_dose, read_rt_dose, read_rt_dose_info
from tests.plugin.dicom import factory

SHAPE = (3, 4, 5)  # frames (k), rows (j), columns (i)
IPP = (-10.0, -20.0, 30.0)


def dose_gy(k: int, j: int, i: int) -> float:
    """The dose the factory stores at frame k, row j, column i: (1000k + 100j + i + 1) × 0.001 Gy."""
    return (1000 * k + 100 * j + i + 1) * 0.001


@pytest.fixture
def counts() -> np.ndarray:
    return factory.counts_ramp(SHAPE)


def test_dose_grid_scaling_is_applied(tmp_path: Path, counts: np.ndarray) -> None:
    """PS3.3 C.8.8.3: dose = stored value × DoseGridScaling (pydicom returns the stored integers)."""
    grid = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP))
    assert grid.shape == SHAPE
    assert grid.quantity == "physical"
    assert grid.frame_of_reference_uid == factory.FRAME_A
    assert grid.values_gy[2, 3, 4] == pytest.approx(dose_gy(2, 3, 4))
    np.testing.assert_allclose(grid.values_gy, counts * 0.001, rtol=1e-12)


def test_relative_and_absolute_offsets_give_the_same_grid(tmp_path: Path, counts: np.ndarray) -> None:
    """PS3.3 C.8.8.3.2: relative offsets (0, 2.5, 5) and absolute z (30, 32.5, 35) with IOP 1\\0\\0\\0\\1\\0
    and IPP z = 30 describe the same frames at z = 30, 32.5, 35 mm."""
    relative = read_rt_dose(factory.rt_dose(tmp_path / "rel.dcm", counts, ipp=IPP, offsets=[0, 2.5, 5]))
    absolute = read_rt_dose(factory.rt_dose(tmp_path / "abs.dcm", counts, ipp=IPP, offsets=[30, 32.5, 35]))
    assert relative.same_geometry(absolute)
    np.testing.assert_array_equal(relative.values_gy, absolute.values_gy)
    assert relative.origin_mm == IPP
    assert relative.spacing_mm == (2.0, 2.0, 2.5)
    np.testing.assert_allclose(relative.index_to_patient_mm([0, 0, 2]), [[-10.0, -20.0, 35.0]])


@pytest.mark.parametrize("offsets", [[0.0, -2.5, -5.0], [30.0, 27.5, 25.0]], ids=["relative", "absolute"])
def test_decreasing_offsets_point_the_slice_axis_down(tmp_path: Path, counts: np.ndarray,
                                                      offsets: list) -> None:
    """Decreasing offsets (relative 0, −2.5, −5 or absolute 30, 27.5, 25): frame k is at z = 30 − 2.5k.
    Frame 2 (stored 2000 + 100j + i + 1) must be found at z = 25 mm, and the k axis is −z."""
    grid = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, offsets=offsets))
    assert grid.spacing_mm == (2.0, 2.0, 2.5)
    np.testing.assert_allclose(np.asarray(grid.direction)[:, 2], [0.0, 0.0, -1.0])
    np.testing.assert_allclose(grid.index_to_patient_mm([1, 2, 2]), [[-8.0, -16.0, 25.0]])
    value, inside = grid.sample([[-8.0, -16.0, 25.0]])
    assert inside[0]
    assert value[0] == pytest.approx(dose_gy(2, 2, 1))


def test_feet_first_orientation_voxel_positions(tmp_path: Path, counts: np.ndarray) -> None:
    """Feet-first supine IOP (−1,0,0, 0,1,0): n = row × column = (0, 0, −1). With relative offsets
    (0, 2.5, 5), voxel (i=1, j=2, k=2) is at IPP + 1·2·(−1,0,0) + 2·2·(0,1,0) + 2·2.5·(0,0,−1)
    = (−12, −16, 25) mm (hand computation)."""
    grid = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, iop=factory.FEET_FIRST))
    np.testing.assert_allclose(grid.index_to_patient_mm([1, 2, 2]), [[-12.0, -16.0, 25.0]])
    value, inside = grid.sample([[-12.0, -16.0, 25.0]])
    assert inside[0]
    assert value[0] == pytest.approx(dose_gy(2, 2, 1))
    np.testing.assert_allclose(grid.direction, [[-1, 0, 0], [0, 1, 0], [0, 0, -1]], atol=1e-12)


def test_non_axial_orientation_voxel_positions(tmp_path: Path, counts: np.ndarray) -> None:
    """Coronal IOP (1,0,0, 0,0,−1): columns run along −z, n = (1,0,0) × (0,0,−1) = (0, 1, 0). Voxel
    (i=2, j=3, k=1) is at IPP + 2·2·x̂ + 3·2·(−ẑ) + 1·2.5·ŷ = (−6, −17.5, 24) mm."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, iop=(1, 0, 0, 0, 0, -1))
    grid = read_rt_dose(path)
    np.testing.assert_allclose(grid.index_to_patient_mm([2, 3, 1]), [[-6.0, -17.5, 24.0]])
    value, _ = grid.sample([[-6.0, -17.5, 24.0]])
    assert value[0] == pytest.approx(dose_gy(1, 3, 2))


def test_rotated_orientation_voxel_positions(tmp_path: Path, counts: np.ndarray) -> None:
    """IOP rotated 30° about z: row (cos 30°, sin 30°, 0), column (−sin 30°, cos 30°, 0). Voxel
    (i=1, j=1, k=0) is at IPP + 2·row + 2·column = (−10 + 2cos30 − 2sin30, −20 + 2sin30 + 2cos30, 30)."""
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    grid = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, iop=(c, s, 0, -s, c, 0)))
    expected = [-10 + 2 * c - 2 * s, -20 + 2 * s + 2 * c, 30.0]
    np.testing.assert_allclose(grid.index_to_patient_mm([1, 1, 0]), [expected], atol=1e-9)
    value, _ = grid.sample([expected])
    assert value[0] == pytest.approx(dose_gy(0, 1, 1))


def test_pixel_spacing_is_row_spacing_then_column_spacing(tmp_path: Path, counts: np.ndarray) -> None:
    """PS3.3 §10.7.1.3: PixelSpacing [2.0, 3.0] = [Δ between rows (y), Δ between columns (x)], so
    spacing_mm = (3.0, 2.0, 2.5) and voxel (i=1, j=1, k=0) is at (−10 + 3, −20 + 2, 30)."""
    grid = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, pixel_spacing=(2.0, 3.0)))
    assert grid.spacing_mm == (3.0, 2.0, 2.5)
    np.testing.assert_allclose(grid.index_to_patient_mm([1, 1, 0]), [[-7.0, -18.0, 30.0]])
    value, _ = grid.sample([[-7.0, -18.0, 30.0]])
    assert value[0] == pytest.approx(dose_gy(0, 1, 1))


@pytest.mark.parametrize(("pixel_spacing", "offsets", "message"), [
    ((1e-9, 1e-9), None, r"x spacing is 1e-09 mm \(from PixelSpacing \(0028,0030\), column spacing\)"),
    ((2.0, 0.05), None, r"x spacing is 0.05 mm"),
    ((25.0, 2.0), None, r"y spacing is 25 mm \(from PixelSpacing \(0028,0030\), row spacing\)"),
    ((2.0, 2.0), [0.0, 25000.0, 50000.0], r"z spacing is 25000 mm \(from GridFrameOffsetVector"),
])
def test_implausible_spacing_is_refused(tmp_path: Path, counts: np.ndarray, pixel_spacing, offsets,
                                        message: str) -> None:
    """Found on hostile files: PixelSpacing 1e-9 mm ended in a 20 TiB allocation (a traceback) when an
    organ was rasterised; 25 m between planes was evaluated and every organ "passed". A spacing outside
    0.1-20 mm (geometry.PLAUSIBLE_SPACING_MM) is refused, naming the axis, the value and the attribute;
    the bounds themselves are accepted."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, pixel_spacing=pixel_spacing, offsets=offsets)
    with pytest.raises(InputError, match=message + r".* outside the 0.1-20 mm of any clinical grid"):
        read_rt_dose(path)
    edges = factory.rt_dose(tmp_path / "edges.dcm", counts, pixel_spacing=(20.0, 0.1),
                            offsets=[0.0, 0.1, 0.2])
    assert read_rt_dose(edges).spacing_mm == pytest.approx((0.1, 20.0, 0.1))


@pytest.mark.parametrize("ipp", [(1e308, 0.0, 0.0), (0.0, -10000.5, 0.0)])
def test_a_grid_beyond_the_patient_extent_is_refused(tmp_path: Path, counts: np.ndarray, ipp) -> None:
    """Found by a hostile-input review: an RT Dose at x = 1e308 mm was evaluated (every OAR "100 % outside
    the prior dose", its dose taken as 0). An ImagePositionPatient beyond ±10 m (PATIENT_EXTENT_MM, as for
    contours) is refused, naming the attribute; 10 m itself is accepted."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=ipp)
    with pytest.raises(InputError, match=r"ImagePositionPatient \(0020,0032\) is .* beyond ±10000 mm"):
        read_rt_dose(path)
    edge = factory.rt_dose(tmp_path / "edge.dcm", counts, ipp=(-1e4, 0.0, 1e4))
    assert read_rt_dose(edge).origin_mm[0] == -1e4


@pytest.mark.parametrize(("summation", "reading"), [("FRACTION_SESSION", None), ("FRACTION", "per-fraction")])
def test_per_fraction_dose_is_multiplied_by_the_fractions(tmp_path: Path, counts: np.ndarray,
                                                          summation: str, reading: str) -> None:
    """PS3.3 C.8.8.3: FRACTION_SESSION is one session (fraction) of a fraction group; a FRACTION file
    the caller says is per fraction is read the same way: × n_fractions is the total, 25 × 0.001 Gy
    per count."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, summation=summation)
    grid = read_rt_dose(path, n_fractions=25, fraction_summation=reading)
    np.testing.assert_allclose(grid.values_gy, counts * 0.001 * 25, rtol=1e-12)


def test_fraction_dose_read_as_the_whole_group_when_told(tmp_path: Path, counts: np.ndarray) -> None:
    """PS3.3 C.8.8.3 defines FRACTION as a single fraction group's (whole) delivery: read as told,
    'total' takes the values as they are."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, summation="FRACTION")
    grid = read_rt_dose(path, n_fractions=25, fraction_summation="total")
    np.testing.assert_allclose(grid.values_gy, counts * 0.001, rtol=1e-12)


def test_fraction_dose_is_never_guessed(tmp_path: Path, counts: np.ndarray) -> None:
    """FRACTION without saying how to read it is refused, naming both readings and the option."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, summation="FRACTION")
    with pytest.raises(InputError,
                       match=r"'FRACTION'.*--fraction-dose total or --fraction-dose per-fraction"):
        read_rt_dose(path, n_fractions=25)


def test_per_fraction_dose_without_fractions_is_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """Without the plan's fractions a FRACTION_SESSION dose cannot be totalled: refused, naming the fix."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, summation="FRACTION_SESSION")
    with pytest.raises(InputError,
                       match=r"is 'FRACTION_SESSION'.*n_fractions.*--prior-plan"):
        read_rt_dose(path)


def test_plan_dose_ignores_n_fractions(tmp_path: Path, counts: np.ndarray) -> None:
    """A PLAN dose is already the total (PS3.3 C.8.8.3): n_fractions must not multiply it."""
    grid = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts), n_fractions=25)
    assert grid.values_gy[0, 0, 0] == pytest.approx(0.001)


def test_single_frame_dose(tmp_path: Path) -> None:
    """A single-frame RT Dose (no NumberOfFrames, no offsets): one slice, thickness from SliceThickness."""
    counts = factory.counts_ramp((1, 4, 5))
    grid = read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, single_frame=True))
    assert grid.shape == (1, 4, 5)
    assert grid.spacing_mm == (2.0, 2.0, 2.5)
    assert grid.values_gy[0, 3, 4] == pytest.approx(dose_gy(0, 3, 4))


def test_read_rt_dose_info(tmp_path: Path, counts: np.ndarray) -> None:
    """The header fields come straight from the file."""
    info = read_rt_dose_info(factory.rt_dose(tmp_path / "rd.dcm", counts, summation="FRACTION"))
    assert info.frame_of_reference_uid == factory.FRAME_A
    assert info.summation_type == "FRACTION"
    assert (info.dose_type, info.dose_units) == ("PHYSICAL", "GY")
    assert info.referenced_plan_uids == (factory.PLAN_UID,)
    assert info.patient_id == "REIRR-01"
    assert info.comment == "synthetic"
    assert info.patient_study.study_instance_uid == factory.STUDY_UID
    assert info.sop_instance_uid


def test_read_eqd2_dose_reads_effective_doses(tmp_path: Path, counts: np.ndarray) -> None:
    """DoseType EFFECTIVE is read as EQD2 only when the caller says so, with its α/β."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, dose_type="EFFECTIVE")
    grid = read_eqd2_dose(path, alpha_beta_gy=3.0)
    assert (grid.quantity, grid.alpha_beta_gy) == ("eqd2", 3.0)
    with pytest.raises(InputError, match=r"EFFECTIVE.*read_eqd2_dose"):
        read_rt_dose(path)
    with pytest.raises(InputError, match="'PHYSICAL'"):
        read_eqd2_dose(factory.rt_dose(tmp_path / "phys.dcm", counts), alpha_beta_gy=3.0)


# -- malformed input ----------------------------------------------------------------------------

def test_missing_dose_grid_scaling_is_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """Without DoseGridScaling the stored integers have no dose meaning (PS3.3 C.8.8.3)."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, omit=["DoseGridScaling"])
    with pytest.raises(InputError, match=r"rd\.dcm: DoseGridScaling \(3004,000E\) is missing"):
        read_rt_dose(path)


def test_a_scaling_that_overflows_the_dose_is_refused_naming_it(tmp_path: Path, counts: np.ndarray) -> None:
    """Found by a hostile-input review: DoseGridScaling 1e308 gave an infinite dose, refused by the engine
    as "values_gy must be finite everywhere ... replace NaN/inf", naming neither the file nor the
    attribute. The reader refuses it, naming both and the stored maximum."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, scaling="1e308")
    with pytest.raises(InputError, match=r"rd\.dcm: the largest stored value \d+ x DoseGridScaling "
                                         r"\(3004,000E\) 1e\+308 is not a finite dose"):
        read_rt_dose(path)


@pytest.mark.parametrize("scaling", ["0", "-0.001"])
def test_non_positive_dose_grid_scaling_is_refused(tmp_path: Path, counts: np.ndarray, scaling: str) -> None:
    """A scaling ≤ 0 cannot map counts to a dose."""
    with pytest.raises(InputError, match="must be a finite number > 0"):
        read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, scaling=scaling))


@pytest.mark.parametrize("units", ["RELATIVE", "CGY"])
def test_relative_or_unknown_units_are_refused(tmp_path: Path, counts: np.ndarray, units: str) -> None:
    """PS3.3 C.8.8.3: DoseUnits GY or RELATIVE; only GY is absolute."""
    with pytest.raises(UnitError, match=f"DoseUnits \\(3004,0002\\) is '{units}'.*absolute units"):
        read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, units=units))


@pytest.mark.parametrize("summation", ["BEAM", "BRACHY", "CONTROL_POINT", "BEAM_SESSION"])
def test_partial_doses_are_refused(tmp_path: Path, counts: np.ndarray, summation: str) -> None:
    """A beam's (or setup's, control point's) dose is not the plan dose (PS3.3 C.8.8.3)."""
    with pytest.raises(InputError, match=f"'{summation}'.*only part of a plan's dose.*PLAN"):
        read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, summation=summation), n_fractions=5)


def test_error_dose_type_is_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """DoseType ERROR is a difference/uncertainty grid, not a dose."""
    with pytest.raises(InputError, match="'ERROR'"):
        read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, dose_type="ERROR"))


def test_non_uniform_offsets_are_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """The engine's grids are regular: offsets 0, 2.5, 6 are refused, naming the gaps."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, offsets=[0.0, 2.5, 6.0])
    with pytest.raises(InputError,
                       match=r"GridFrameOffsetVector \(3004,000C\) is not uniformly spaced.*2\.5, 3\.5"):
        read_rt_dose(path)


def test_absolute_offsets_with_non_axial_orientation_are_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """PS3.3 C.8.8.3.2: absolute offsets are permitted only with IOP 1\\0\\0\\0\\1\\0."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, iop=factory.FEET_FIRST,
                           offsets=[30.0, 32.5, 35.0])
    with pytest.raises(InputError,
                       match=r"absolute form.*only with ImageOrientationPatient 1\\0\\0\\0\\1\\0"):
        read_rt_dose(path)


def test_offsets_that_fit_neither_form_are_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """First offset 7 is neither 0 (relative) nor the IPP z 30 (absolute): ambiguous."""
    with pytest.raises(InputError, match=r"neither 0.*nor the ImagePositionPatient z 30"):
        read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP, offsets=[7.0, 9.5, 12.0]))


def test_offset_count_must_match_frames(tmp_path: Path, counts: np.ndarray) -> None:
    """One offset per frame (PS3.3 C.8.8.3.2)."""
    with pytest.raises(InputError, match="has 2 values for 3 frames"):
        read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, offsets=[0.0, 2.5]))


def test_missing_frame_of_reference_is_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """Without a frame of reference the dose cannot be related to structures (PS3.3 C.7.4.1)."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, omit=["FrameOfReferenceUID"])
    with pytest.raises(InputError, match=r"FrameOfReferenceUID \(0020,0052\) is missing"):
        read_rt_dose(path)


def test_bad_orientation_is_refused(tmp_path: Path, counts: np.ndarray) -> None:
    """Row and column cosines must be orthogonal unit vectors."""
    with pytest.raises(InputError, match="not orthogonal"):
        read_rt_dose(factory.rt_dose(tmp_path / "rd.dcm", counts, iop=(1, 0, 0, 0.5, 0.866025, 0)))


def test_non_dicom_file_is_refused(tmp_path: Path) -> None:
    """A text file is not DICOM: named, with the fix."""
    path = tmp_path / "notes.txt"
    path.write_text("not a dose\n")
    with pytest.raises(InputError, match=r"notes\.txt is not a DICOM file.*RT Dose"):
        read_rt_dose(path)


def test_empty_compressed_and_special_files_are_refused_with_what_to_do(tmp_path: Path, counts: np.ndarray
                                                                        ) -> None:
    """An empty file (an interrupted copy), a compressed RT Dose (gzip, ZIP, bzip2, xz: the signatures
    of those formats) and a pipe are each refused saying what they are and what to do - they were
    refused as "not a DICOM file" (or, for a pipe, the read waited for a writer). A real RT Dose whose
    128-byte preamble begins with a gzip signature is still read: only bytes before 'DICM' are a
    preamble."""
    source = factory.rt_dose(tmp_path / "rd.dcm", counts, ipp=IPP)
    data = source.read_bytes()
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(InputError,
                       match=r"empty\.dcm is empty \(0 bytes\).*export the RT Dose \(RD\) again"):
        read_rt_dose(empty)
    packed = {"rd.dcm.gz": gzip.compress(data), "rd.dcm.bz2": bz2.compress(data),
              "rd.dcm.xz": lzma.compress(data)}
    for name, content in packed.items():
        (tmp_path / name).write_bytes(content)
    with zipfile.ZipFile(tmp_path / "rd.zip", "w") as archive:
        archive.write(source, "rd.dcm")
    for name, needle in (("rd.dcm.gz", "gzip-compressed; decompress it first"),
                         ("rd.dcm.bz2", "bzip2-compressed"), ("rd.dcm.xz", "xz-compressed"),
                         ("rd.zip", r"a ZIP archive; extract the RT Dose \(RD\) file from it first")):
        with pytest.raises(InputError, match=needle):
            read_rt_dose(tmp_path / name)
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_rt_dose(fifo)
    assert data[128:132] == b"DICM"
    odd_preamble = tmp_path / "preamble.dcm"
    odd_preamble.write_bytes(b"\x1f\x8b" + data[2:])
    np.testing.assert_array_equal(read_rt_dose(odd_preamble).values_gy, read_rt_dose(source).values_gy)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_rt_dose(tmp_path / "absent.dcm")


def test_other_dicom_objects_are_refused(tmp_path: Path) -> None:
    """An RT Plan given as the dose is named as such."""
    path = factory.rt_plan(tmp_path / "rp.dcm")
    with pytest.raises(InputError, match=r"rp\.dcm is a RT Plan \(Modality RTPLAN\), not RT Dose"):
        read_rt_dose(path)


def test_pixel_count_must_match_the_header(tmp_path: Path, counts: np.ndarray) -> None:
    """Rows × Columns × NumberOfFrames must match the pixel data."""
    path = factory.rt_dose(tmp_path / "rd.dcm", counts, extra={"Rows": 3})
    with pytest.raises(InputError, match=r"rd\.dcm: PixelData holds 240 bytes but .* = 3 x 3 x 5 x 4 = 180"):
        read_rt_dose(path)


# -- optional dependency ------------------------------------------------------------------------

def test_importing_reirrad_tps_does_not_import_pydicom() -> None:
    """The dicom extra is optional: ``import reirrad_tps`` must not pull pydicom in."""
    code = "import sys, reirrad_tps; print('pydicom' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_pydicom_names_the_extra() -> None:
    """Without pydicom, importing reirrad_tps.dicom says which extra to install."""
    code = ("import sys; sys.modules['pydicom'] = None\n"
            "try:\n    import reirrad_tps.dicom\nexcept ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "install the 'dicom' extra" in out.stdout
