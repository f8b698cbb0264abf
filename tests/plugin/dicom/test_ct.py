"""CT series geometry (PS3.3 C.7.6.2 Image Plane) and dose grids of zeros on it.

Source of truth: slice positions chosen by hand (written to the folder in shuffled order), and the
voxel-count rule ``n = floor(extent / spacing) + 1``, centred, computed by hand in the docstrings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

pytest.importorskip("pydicom")

from reirrad.errors import InputError
from reirrad_tps.dicom import read_ct_geometry, zero_dose_grid
from tests.plugin.dicom import factory

Z_MM = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def write_series(folder: Path, zs: Sequence[float], **kwargs: object) -> Path:
    """One CT slice per z, PixelSpacing [0.5, 1.0] (rows 0.5 mm apart, columns 1 mm), 8 rows × 10 columns,
    files named in an order unrelated to position."""
    folder.mkdir(exist_ok=True)
    order = [3, 0, 5, 1, 4, 2, 6, 7, 8, 9][: len(zs)]
    for n, z in zip(order, zs):
        factory.ct_slice(folder / f"CT{n:03d}.dcm", ipp=(-5.0, -2.0, z), pixel_spacing=(0.5, 1.0), **kwargs)
    return folder


def test_implausible_ct_slice_spacing_is_refused(tmp_path: Path) -> None:
    """Slices 30 mm apart (outside 0.1-20 mm, geometry.PLAUSIBLE_SPACING_MM): refused, naming the axis and
    where the spacing came from."""
    folder = write_series(tmp_path / "ct", [0.0, 30.0, 60.0])
    with pytest.raises(InputError, match=r"the CT's z spacing is 30 mm \(from the slice positions "
                                         r"\(ImagePositionPatient\)\), outside the 0.1-20 mm"):
        read_ct_geometry(folder)


def test_a_ct_slice_beyond_the_patient_extent_is_refused(tmp_path: Path) -> None:
    """An ImagePositionPatient beyond ±10 m (PATIENT_EXTENT_MM) is a malformed slice: refused, naming it."""
    folder = tmp_path / "ct"
    folder.mkdir()
    for n, z in enumerate((0.0, 2.0)):
        factory.ct_slice(folder / f"CT{n:03d}.dcm", ipp=(2e4, -2.0, z), pixel_spacing=(0.5, 1.0))
    with pytest.raises(InputError, match=r"the CT slice's ImagePositionPatient \(0020,0032\) is "
                                         r"\(20000, -2, 0\)"):
        read_ct_geometry(folder)


def test_folder_series_sorted_by_position(tmp_path: Path) -> None:
    """Slices sorted along n = (0, 0, 1): origin at z = 0, spacing (1.0, 0.5, 2.0) from PixelSpacing
    [0.5, 1.0] = [row Δ (y), column Δ (x)]; non-DICOM and non-CT files in the folder are ignored."""
    folder = write_series(tmp_path / "ct", Z_MM)
    (folder / "README.txt").write_text("export notes\n")
    factory.rt_struct(folder / "RS.dcm", [("BOX", "ORGAN", factory.box_contours((0, 1), (0, 1), [0.0]))])
    ct = read_ct_geometry(folder)
    assert ct.origin_mm == (-5.0, -2.0, 0.0)
    assert ct.spacing_mm == (1.0, 0.5, 2.0)
    assert ct.size == (10, 8, 6)
    np.testing.assert_allclose(ct.direction, np.eye(3))
    assert ct.frame_of_reference_uid == factory.FRAME_A
    assert ct.patient_study.patient_id == "REIRR-01"


def test_feet_first_series(tmp_path: Path) -> None:
    """IOP (−1,0,0, 0,1,0): n = (0, 0, −1), so the first slice along n is the one at z = 10 mm and the k
    axis points to −z."""
    ct = read_ct_geometry(write_series(tmp_path / "ct", Z_MM, iop=factory.FEET_FIRST))
    assert ct.origin_mm == (-5.0, -2.0, 10.0)
    np.testing.assert_allclose(ct.direction, [[-1, 0, 0], [0, 1, 0], [0, 0, -1]], atol=1e-12)
    assert ct.spacing_mm[2] == 2.0


def test_list_of_files(tmp_path: Path) -> None:
    """The same series given as files."""
    folder = write_series(tmp_path / "ct", Z_MM)
    ct = read_ct_geometry(sorted(folder.glob("CT*.dcm")))
    assert ct.size == (10, 8, 6)


def test_zero_grid_on_the_ct(tmp_path: Path) -> None:
    """spacing None: the CT's own voxels."""
    ct = read_ct_geometry(write_series(tmp_path / "ct", Z_MM))
    grid = zero_dose_grid(ct)
    assert grid.shape == (6, 8, 10)
    assert (grid.origin_mm, grid.spacing_mm) == (ct.origin_mm, ct.spacing_mm)
    assert grid.frame_of_reference_uid == factory.FRAME_A
    assert float(grid.values_gy.max()) == 0.0


def test_zero_grid_at_another_spacing(tmp_path: Path) -> None:
    """CT voxel-centre extent (9, 3.5, 10) mm at 3 mm: n = (4, 2, 4), spanning (9, 3, 9) mm, centred:
    origin = (−5, −2, 0) + ((9 − 9)/2, (3.5 − 3)/2, (10 − 9)/2) = (−5, −1.75, 0.5)."""
    ct = read_ct_geometry(write_series(tmp_path / "ct", Z_MM))
    grid = zero_dose_grid(ct, spacing_mm=3.0)
    assert grid.shape == (4, 2, 4)
    assert grid.spacing_mm == (3.0, 3.0, 3.0)
    np.testing.assert_allclose(grid.origin_mm, (-5.0, -1.75, 0.5))
    with pytest.raises(InputError, match="spacing_mm must be"):
        zero_dose_grid(ct, spacing_mm=(1.0, 2.0))


def test_non_uniform_slices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not uniformly spaced"):
        read_ct_geometry(write_series(tmp_path / "ct", [0.0, 2.0, 5.0]))


def test_duplicate_slices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="same position"):
        read_ct_geometry(write_series(tmp_path / "ct", [0.0, 0.0]))


def test_tilted_gantry_is_refused(tmp_path: Path) -> None:
    """Slices whose IPP moves in y as z moves (a sheared stack) are not a regular grid."""
    folder = tmp_path / "ct"
    folder.mkdir()
    for n, z in enumerate(Z_MM[:3]):
        factory.ct_slice(folder / f"CT{n}.dcm", ipp=(0.0, 0.5 * z, z))
    with pytest.raises(InputError, match="tilted gantry"):
        read_ct_geometry(folder)


def test_two_series_in_a_folder_need_a_choice(tmp_path: Path) -> None:
    folder = write_series(tmp_path / "ct", Z_MM[:2])
    factory.ct_slice(folder / "other.dcm", ipp=(0.0, 0.0, 0.0), series_uid="1.2.826.0.1.3680043.8.498.5002")
    with pytest.raises(InputError, match="holds 2 CT series"):
        read_ct_geometry(folder)
    ct = read_ct_geometry(folder, series_instance_uid="1.2.826.0.1.3680043.8.498.5001")
    assert ct.size[2] == 2


def test_mixed_frames_are_refused(tmp_path: Path) -> None:
    folder = write_series(tmp_path / "ct", Z_MM[:2])
    factory.ct_slice(folder / "CT999.dcm", ipp=(-5.0, -2.0, 4.0), pixel_spacing=(0.5, 1.0),
                     frame_uid=factory.FRAME_B)
    with pytest.raises(InputError, match=r"FrameOfReferenceUID .* differs"):
        read_ct_geometry(folder)


def test_empty_folder_and_non_ct_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no CT image files"):
        read_ct_geometry(tmp_path / "empty")
    plan = factory.rt_plan(tmp_path / "rp.dcm")
    with pytest.raises(InputError, match="not CT Image"):
        read_ct_geometry([plan])
