"""RT Dose writer: round trip through the reader, and the attributes a TPS import relies on.

Sources of truth: the grids written (write → read must give every voxel centre back with its value
within DoseGridScaling/2 = max/(2³²−1)/2), DICOM PS3.3 C.8.8.3 (RT Dose module: DoseUnits, DoseType,
DoseSummationType, ReferencedRTPlanSequence required for PLAN) and C.8.8.3.2 (relative offsets).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from reirrad.dose import DoseGrid  # noqa: E402
from reirrad.errors import InputError  # noqa: E402
from reirrad_tps.dicom import (  # noqa: E402
    RtPlanInfo,
    read_eqd2_dose,
    read_rt_dose,
    read_rt_dose_info,
    read_rt_plan,
    write_rt_dose,
)
from reirrad_tps.dicom import files as dicom_files  # noqa: E402
from tests.plugin.dicom import factory  # noqa: E402

MAX_COUNT = 2**32 - 1


def rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


DIRECTIONS = {
    "axial-hfs": np.eye(3),
    "feet-first": np.diag([-1.0, 1.0, -1.0]),  # IOP (−1,0,0, 0,1,0), slices towards −z, right-handed
    "rotated": rotation("z", 30.0) @ rotation("x", 20.0),
    "left-handed": np.diag([1.0, 1.0, -1.0]),  # k = −(i × j): written slice-reversed
}


def make_grid(direction: np.ndarray, *, quantity: str = "physical", alpha_beta_gy: Any = None) -> DoseGrid:
    """Shape (4, 5, 6), spacing (2.5, 2.0, 3.0) mm, values 0–60 Gy (fixed seed) with one voxel at 0."""
    values = np.random.default_rng(9).uniform(0.0, 60.0, size=(4, 5, 6))
    values[0, 0, 0] = 0.0
    return DoseGrid(values, (-20.5, -30.25, 15.0), (2.5, 2.0, 3.0), direction, quantity=quantity,
                    alpha_beta_gy=alpha_beta_gy, frame_of_reference_uid=factory.FRAME_A)


@pytest.fixture
def plan(tmp_path: Path) -> RtPlanInfo:
    return read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm"))


def assert_same_dose(written: DoseGrid, read: DoseGrid, tolerance_gy: float) -> None:
    """Every voxel centre of ``written`` is a voxel centre of ``read`` with the same value (± tolerance)."""
    nz, ny, nx = written.shape
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
    found = read.patient_mm_to_index(written.index_to_patient_mm(ijk))
    np.testing.assert_allclose(found, np.rint(found), atol=1e-6)
    fi, fj, fk = np.rint(found).astype(int).T
    assert read.shape == written.shape
    np.testing.assert_allclose(read.values_gy[fk, fj, fi], written.values_gy[k.ravel(), j.ravel(), i.ravel()],
                               rtol=0, atol=tolerance_gy)


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_round_trip(tmp_path: Path, plan: RtPlanInfo, name: str) -> None:
    """write → read: the same voxel centres and doses within DoseGridScaling/2, for head-first, feet-first,
    oblique and left-handed grids; the first three keep their exact geometry."""
    grid = make_grid(DIRECTIONS[name])
    written = write_rt_dose(tmp_path / "out.dcm", grid, content="remaining-physical", source=plan,
                            n_fractions=5, label="small_bowel")
    read = read_rt_dose(tmp_path / "out.dcm")
    assert written.dose_grid_scaling >= float(grid.values_gy.max()) / MAX_COUNT
    assert_same_dose(grid, read, written.dose_grid_scaling / 2 * (1 + 1e-9))
    assert read.frame_of_reference_uid == factory.FRAME_A
    if name == "left-handed":
        # Written slice-reversed: the first frame is the grid's last slice, the k axis flips.
        np.testing.assert_allclose(read.origin_mm, grid.index_to_patient_mm([0, 0, 3])[0])
        np.testing.assert_allclose(np.asarray(read.direction)[:, 2], [0.0, 0.0, 1.0])
    else:
        assert read.same_geometry(grid)
        np.testing.assert_allclose(read.direction, grid.direction, atol=1e-12)
        assert np.max(np.abs(read.values_gy - grid.values_gy)) <= written.dose_grid_scaling / 2 * (1 + 1e-9)


def test_eqd2_map_attributes(tmp_path: Path, plan: RtPlanInfo) -> None:
    """An EQD2 map: DoseType EFFECTIVE, PLAN, GY, uint32, 32 bits, references the plan, new UIDs, the
    comment naming content and α/β, patient/study/frame copied, relative increasing offsets."""
    grid = make_grid(np.eye(3), quantity="eqd2", alpha_beta_gy=3.0)
    written = write_rt_dose(tmp_path / "eqd2.dcm", grid, content="eqd2", source=plan,
                            label="prior course PELVIS_45")
    ds = pydicom.dcmread(str(tmp_path / "eqd2.dcm"))
    assert ds.SOPClassUID == factory.RT_DOSE
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.Modality, ds.DoseUnits) == ("RTDOSE", "GY")
    assert (ds.DoseType, ds.DoseSummationType) == ("EFFECTIVE", "PLAN")
    assert ds.DoseComment == "reirrad EQD2 (alpha/beta 3 Gy) of prior course PELVIS_45"
    assert ds.DoseComment == written.dose_comment
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (32, 32, 31, 0)
    assert ds.pixel_array.dtype == np.uint32
    # DoseGridScaling is rounded up to 10 significant digits, so the maximum lands within 1e-9 of 2³²−1.
    assert MAX_COUNT * (1 - 1e-9) - 1 <= int(ds.pixel_array.max()) <= MAX_COUNT
    assert float(ds.DoseGridScaling) == pytest.approx(float(grid.values_gy.max()) / MAX_COUNT, rel=1e-9)
    assert ds.FrameOfReferenceUID == factory.FRAME_A
    assert (ds.PatientID, ds.StudyInstanceUID) == ("REIRR-01", factory.STUDY_UID)
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == factory.PLAN_UID
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPClassUID == factory.RT_PLAN
    assert ds.SOPInstanceUID == written.sop_instance_uid != plan.sop_instance_uid
    assert [float(v) for v in ds.GridFrameOffsetVector] == [0.0, 3.0, 6.0, 9.0]
    assert int(ds.NumberOfFrames) == 4
    again = write_rt_dose(tmp_path / "eqd2b.dcm", grid, content="eqd2", source=plan, label="x")
    assert again.sop_instance_uid != written.sop_instance_uid
    assert again.series_instance_uid != written.series_instance_uid
    back = read_eqd2_dose(tmp_path / "eqd2.dcm", alpha_beta_gy=3.0)
    assert back.quantity == "eqd2"
    with pytest.raises(InputError, match="EFFECTIVE"):
        read_rt_dose(tmp_path / "eqd2.dcm")


def test_source_dose_gives_identity_and_plan_but_new_uids(tmp_path: Path) -> None:
    """From a source RT Dose: patient/study copied, its plan referenced, its SOP and series UIDs not
    reused."""
    source = read_rt_dose_info(factory.rt_dose(tmp_path / "rd.dcm", factory.counts_ramp((2, 2, 2))))
    grid = make_grid(np.eye(3), quantity="eqd2", alpha_beta_gy=None)
    written = write_rt_dose(tmp_path / "map.dcm", grid, content="effective-prior-eqd2", source=source)
    info = read_rt_dose_info(tmp_path / "map.dcm")
    assert info.comment == "reirrad effective prior EQD2 after recovery (mixed alpha/beta)"
    assert info.referenced_plan_uids == (factory.PLAN_UID,)
    assert info.patient_study.study_instance_uid == factory.STUDY_UID
    assert written.sop_instance_uid != source.sop_instance_uid
    assert written.series_instance_uid != source.series_instance_uid


def test_remaining_tolerance_maps(tmp_path: Path, plan: RtPlanInfo) -> None:
    """The physical remaining-tolerance map is PHYSICAL and names the new fractionation; the EQD2 one is
    EFFECTIVE."""
    physical = write_rt_dose(tmp_path / "phys.dcm", make_grid(np.eye(3)), content="remaining-physical",
                             source=plan, n_fractions=5, label="small_bowel")
    assert physical.dose_type == "PHYSICAL"
    assert physical.dose_comment == "reirrad remaining tolerance small_bowel, physical Gy in 5 fx"
    eqd2 = write_rt_dose(tmp_path / "eqd2.dcm", make_grid(np.eye(3), quantity="eqd2", alpha_beta_gy=3.0),
                         content="remaining-eqd2", source=plan, label="small_bowel")
    assert (eqd2.dose_type, eqd2.summation_type) == ("EFFECTIVE", "PLAN")
    assert eqd2.dose_comment == "reirrad remaining tolerance small_bowel, EQD2 (alpha/beta 3 Gy)"


def test_long_label_is_shortened_in_the_comment_and_kept_in_image_comments(tmp_path: Path,
                                                                          plan: RtPlanInfo) -> None:
    """DoseComment is LO (≤ 64 characters, PS3.5 §6.2): a long label is cut there ("..."), and kept whole
    in ImageComments."""
    label = "Bowel_Bag_minus_PTV_expanded_by_five_millimetres"
    written = write_rt_dose(tmp_path / "m.dcm", make_grid(np.eye(3)), content="remaining-physical",
                            source=plan, n_fractions=5, label=label)
    assert written.dose_comment == "reirrad remaining tolerance Bowel_Bag_mi..., physical Gy in 5 fx"
    assert len(written.dose_comment) == 64
    assert label in str(pydicom.dcmread(str(tmp_path / "m.dcm")).ImageComments)


def test_several_plans_make_a_multi_plan_dose(tmp_path: Path, plan: RtPlanInfo) -> None:
    grid = make_grid(np.eye(3), quantity="eqd2", alpha_beta_gy=3.0)
    written = write_rt_dose(tmp_path / "map.dcm", grid, content="effective-prior-eqd2", source=plan,
                            referenced_plan_uids=[factory.PLAN_UID, "1.2.826.0.1.3680043.8.498.2002"])
    assert written.summation_type == "MULTI_PLAN"
    assert len(read_rt_dose_info(tmp_path / "map.dcm").referenced_plan_uids) == 2


def test_zero_grid_is_written_with_unit_scaling(tmp_path: Path, plan: RtPlanInfo) -> None:
    """All zero (tolerance exhausted everywhere): DoseGridScaling 1, counts 0, read back as 0 Gy."""
    grid = DoseGrid(np.zeros((2, 3, 4)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                    frame_of_reference_uid=factory.FRAME_A)
    written = write_rt_dose(tmp_path / "zero.dcm", grid, content="remaining-physical", source=plan,
                            n_fractions=5)
    assert written.dose_grid_scaling == 1.0
    assert float(read_rt_dose(tmp_path / "zero.dcm").values_gy.max()) == 0.0


def test_frame_given_for_a_grid_without_one(tmp_path: Path, plan: RtPlanInfo) -> None:
    """The engine's biological maps carry no frame: the caller names it; a contradiction is refused."""
    grid = dataclasses.replace(make_grid(np.eye(3)), frame_of_reference_uid=None)
    with pytest.raises(InputError, match="pass frame_of_reference_uid"):
        write_rt_dose(tmp_path / "a.dcm", grid, content="remaining-physical", source=plan, n_fractions=5)
    write_rt_dose(tmp_path / "a.dcm", grid, content="remaining-physical", source=plan, n_fractions=5,
                  frame_of_reference_uid=factory.FRAME_B)
    assert read_rt_dose(tmp_path / "a.dcm").frame_of_reference_uid == factory.FRAME_B
    with pytest.raises(InputError, match="differs from the grid's"):
        write_rt_dose(tmp_path / "b.dcm", make_grid(np.eye(3)), content="remaining-physical", source=plan,
                      n_fractions=5, frame_of_reference_uid=factory.FRAME_B)


def test_non_ascii_names_declare_utf8(tmp_path: Path, plan: RtPlanInfo) -> None:
    """A patient name outside ASCII is written in UTF-8 (SpecificCharacterSet ISO_IR 192) and read back."""
    who = dataclasses.replace(plan.patient_study, patient_name="Müller^Jürgen")
    source = dataclasses.replace(plan, patient_study=who)
    write_rt_dose(tmp_path / "u.dcm", make_grid(np.eye(3)), content="remaining-physical", source=source,
                  n_fractions=5)
    ds = pydicom.dcmread(str(tmp_path / "u.dcm"))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Müller^Jürgen"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"content": "remaining-physical"}, "needs n_fractions"),
    ({"content": "eqd2"}, "needs a grid of quantity 'eqd2'"),
    ({"content": "tolerance"}, "content must be one of"),
])
def test_invalid_requests_are_refused(tmp_path: Path, plan: RtPlanInfo, kwargs: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        write_rt_dose(tmp_path / "x.dcm", make_grid(np.eye(3)), source=plan, **kwargs)
    assert not (tmp_path / "x.dcm").exists()


def test_source_without_a_plan_or_identity_is_refused(tmp_path: Path, plan: RtPlanInfo) -> None:
    path = factory.rt_dose(tmp_path / "rd.dcm", factory.counts_ramp((2, 2, 2)), plan_uid=None)
    source = read_rt_dose_info(path)
    with pytest.raises(InputError, match="must reference its RT Plan"):
        write_rt_dose(tmp_path / "x.dcm", make_grid(np.eye(3)), content="remaining-physical", source=source,
                      n_fractions=5)
    nobody = dataclasses.replace(plan.patient_study, patient_id="")
    anonymous = dataclasses.replace(plan, patient_study=nobody)
    with pytest.raises(InputError, match="gives no PatientID"):
        write_rt_dose(tmp_path / "x.dcm", make_grid(np.eye(3)), content="remaining-physical",
                      source=anonymous, n_fractions=5)


def test_missing_folder_is_refused(tmp_path: Path, plan: RtPlanInfo) -> None:
    with pytest.raises(InputError, match="does not exist; create it first"):
        write_rt_dose(tmp_path / "nowhere" / "x.dcm", make_grid(np.eye(3)), content="remaining-physical",
                      source=plan, n_fractions=5)
    assert not (tmp_path / "nowhere").exists()


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path, plan: RtPlanInfo,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Atomic write: a failure while saving keeps the old file intact and removes the partial one."""
    target = tmp_path / "map.dcm"
    target.write_bytes(b"previous")

    def half_written(ds: Any, filename: str) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(dicom_files, "_save_as", half_written)
    with pytest.raises(InputError, match=r"cannot write .*disk full"):
        write_rt_dose(target, make_grid(np.eye(3)), content="remaining-physical", source=plan, n_fractions=5)
    assert target.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["map.dcm", "rp.dcm"]
