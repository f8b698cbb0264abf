"""RT Plan reader: fractions (PS3.3 C.8.8.13 Fraction Scheme), TOTAL prescription (C.8.8.10
TargetPrescriptionDose, Gy), references and dates; values set in the synthetic plan are read back."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path

import pytest

pytest.importorskip("pydicom")

from reirrad.errors import InputError
from reirrad_tps.dicom import read_rt_plan
from tests.plugin.dicom import factory


def test_plan_fields(tmp_path: Path) -> None:
    """45 Gy in 25 fractions, label PELVIS_45, planned 2022-03-01 (the factory's values)."""
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm"))
    assert plan.sop_instance_uid == factory.PLAN_UID
    assert (plan.label, plan.patient_id) == ("PELVIS_45", "REIRR-01")
    assert plan.frame_of_reference_uid == factory.FRAME_A
    assert plan.require_n_fractions() == 25
    assert plan.prescription_gy == 45.0
    assert plan.referenced_structure_set_uid == "1.2.826.0.1.3680043.8.498.4001"
    assert plan.plan_date == dt.date(2022, 3, 1)
    assert plan.approval_status == "APPROVED"
    assert plan.patient_study.study_instance_uid == factory.STUDY_UID


def test_highest_target_prescription_is_the_prescription(tmp_path: Path) -> None:
    """Two dose references (boost 50.4 Gy, elective 45 Gy): both kept, the highest is the prescription."""
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm", prescriptions_gy=(45.0, 50.4)))
    assert plan.target_prescriptions_gy == (45.0, 50.4)
    assert plan.prescription_gy == 50.4


def test_optional_fields_absent(tmp_path: Path) -> None:
    """No prescription, frame or date: None, not invented."""
    path = factory.rt_plan(tmp_path / "rp.dcm", prescriptions_gy=(), frame_uid=None, plan_date=None)
    plan = read_rt_plan(path)
    assert (plan.prescription_gy, plan.frame_of_reference_uid, plan.plan_date) == (None, None, None)


def test_missing_fractions_are_refused_when_asked_for(tmp_path: Path) -> None:
    """NumberOfFractionsPlanned absent: reading works, asking for the fractions names the attribute."""
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm", n_fractions=None))
    assert plan.n_fractions_planned is None
    with pytest.raises(InputError, match=r"NumberOfFractionsPlanned \(300A,0078\)"):
        plan.require_n_fractions()


@pytest.mark.parametrize("written, read", [("5.9", None), ("24.5", None), ("5.0", 5), (" 5 ", 5)])
def test_fractions_with_a_fraction_are_refused_not_truncated(tmp_path: Path, written: str, read) -> None:
    """Found on a hostile export: NumberOfFractionsPlanned "5.9" (an invalid IS that pydicom reads as a
    float with a warning) was read as 5 fractions and the case evaluated; "24.5" prior fractions as 24
    changed the cumulative EQD2. Refused, naming the value; a whole value written with ".0" is whole."""
    import pydicom  # noqa: PLC0415
    from pydicom.dataelem import DataElement  # noqa: PLC0415

    path = factory.rt_plan(tmp_path / "rp.dcm")
    ds = pydicom.dcmread(str(path))
    group = ds.FractionGroupSequence[0]
    del group.NumberOfFractionsPlanned
    with warnings.catch_warnings():  # pydicom's own warnings about the invalid IS value
        warnings.simplefilter("ignore", UserWarning)
        group.add(DataElement(0x300A0078, "IS", written))
        factory.save(ds, path)
        if read is None:
            with pytest.raises(InputError, match=rf"NumberOfFractionsPlanned .* = '{written}' is not a whole "
                                                 rf"number \(it would be read as {int(float(written))}\)"):
                read_rt_plan(path)
        else:
            assert read_rt_plan(path).require_n_fractions() == read


def test_several_fraction_groups_are_refused_when_asked_for(tmp_path: Path) -> None:
    """Two fraction groups have no single dose per fraction for a per-voxel EQD2."""
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm", fraction_groups=2))
    with pytest.raises(InputError, match="2 fraction groups"):
        plan.require_n_fractions()


def test_malformed_date_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"RTPlanDate .* is not a DICOM date"):
        read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm", extra={"RTPlanDate": "20220230"}))


def test_non_positive_prescription_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="TargetPrescriptionDose"):
        read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm", prescriptions_gy=(0.0,)))


@pytest.mark.parametrize("rx, shown", [(1e308, "1e+308"), (150.0, "150.0")])
def test_a_prescription_above_the_plausible_ceiling_is_refused_naming_the_file(tmp_path: Path, rx: float,
                                                                                shown: str) -> None:
    """Found by a hostile-input review: TargetPrescriptionDose 1e308 reached a message as a 309-digit number,
    150 Gy as "prescription_gy = 150.0 Gy", naming neither the file nor the attribute. The reader applies
    the 100 Gy ceiling (reirrad.bounds.MAX_PRESCRIPTION_GY) naming both; the ceiling itself is read."""
    path = factory.rt_plan(tmp_path / "rp.dcm", prescriptions_gy=(rx,))
    with pytest.raises(InputError, match=rf"rp\.dcm: the plan's TOTAL prescription from "
                                         rf"TargetPrescriptionDose = {re.escape(shown)} Gy is above the "
                                         r"plausible maximum of 100 Gy"):
        read_rt_plan(path)
    edge = factory.rt_plan(tmp_path / "edge.dcm", prescriptions_gy=(100.0,))
    assert read_rt_plan(edge).prescription_gy == 100.0


def test_other_objects_are_refused(tmp_path: Path) -> None:
    path = factory.rt_dose(tmp_path / "rd.dcm", factory.counts_ramp((1, 2, 2)))
    with pytest.raises(InputError, match="not RT Ion Plan / RT Plan"):
        read_rt_plan(path)


def test_control_characters_in_dicom_text_are_shown_escaped(tmp_path: Path) -> None:
    """Found on hostile files: a PatientID and an RTPlanLabel with terminal escapes, BEL and U+202E reached
    the console (clearing it), the HTML report and the audit CSV raw. Text read from DICOM shows them as
    visible escapes (reirrad.errors.shown); ordinary non-ASCII text is kept as it is."""
    import pydicom  # noqa: PLC0415

    path = factory.rt_plan(tmp_path / "rp.dcm")
    ds = pydicom.dcmread(str(path))
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientID = "ID\x1b[2J\x07"
    ds.RTPlanLabel = "SABR\u202eX"
    ds.RTPlanName = "Ärztin"
    factory.save(ds, path)
    with warnings.catch_warnings():  # pydicom takes the ESC for an ISO 2022 code extension, and warns
        warnings.simplefilter("ignore", UserWarning)
        plan = read_rt_plan(path)
    assert plan.patient_id == "ID\\x1b[2J\\x07"
    assert plan.label == "SABR\\u202eX"
    assert plan.name == "Ärztin"
