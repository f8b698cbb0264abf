"""``reirrad evaluate --dir``: the case found in a folder by its references (``reirrad_tps.dicom.discover``).

Source of truth: the synthetic folders built here with the test factory — which object references which
(UIDs chosen below) is known by construction, so every role asserted comes from the files written. The
end-to-end test compares the ``--dir`` result with the result of the same files given explicitly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from reirrad import cli
from reirrad.errors import InputError
from reirrad_tps.dicom.discover import DicomObject, discover, group_case, scan_folder
from tests.plugin.dicom import factory

FRAME_A = factory.FRAME_A  # planning
FRAME_B = factory.FRAME_B  # prior course 1
FRAME_C = "1.2.826.0.1.3680043.8.498.1003"  # prior course 2
ROOT = "1.2.826.0.1.3680043.8.498."
NEW = ROOT + "7001"
PRIOR1 = ROOT + "7002"
PRIOR2 = ROOT + "7003"
OTHER = ROOT + "7004"
RS_NEW = ROOT + "7101"
RS_PRIOR1 = ROOT + "7102"
RS_PRIOR2 = ROOT + "7103"
ABSENT_PLAN = ROOT + "7999"


def _prior_rs(path: Path, frame: str, uid: str) -> str:
    box = factory.box_contours((-10, 10), (-10, 10), [-20.0 + 5.0 * k for k in range(9)])
    return str(factory.rt_struct(path, [("PTV", "PTV", box)], frame_uid=frame, sop_uid=uid))


def _registration(path: Path, prior_frame: str) -> str:
    items = [(prior_frame, np.eye(4), "RIGID"), (FRAME_A, np.eye(4), "RIGID")]
    return str(factory.registration(path, items, frame_uid=FRAME_A))


def _case(root: Path, *, two_priors: bool = False, nested: bool = False, junk: bool = False,
          new_dose: bool = True) -> Dict[str, str]:
    """A patient folder: the new course in frame A (structure set RS_NEW, plan NEW 30 Gy/5 referencing it,
    its dose), prior course 1 in frame B (plan PRIOR1 20 Gy/25 referencing RS_PRIOR1, its dose, RS_PRIOR1)
    with a rigid REG A <- B; optionally prior course 2 in frame C (PRIOR2, RS_PRIOR2, REG A <- C). Returns
    the paths by role. ``nested``: one sub-folder per kind; ``junk``: a DICOMDIR, a text file, an empty
    file; ``new_dose`` False: no new dose but the planning CT (and a prior CT in frame B)."""
    stage = root.parent / f"{root.name}-stage"
    stage.mkdir()
    root.mkdir()
    made = factory.small_case(stage, frame_uid=FRAME_A, prior_uid=PRIOR1, new_uid=NEW, new_gy=30.0,
                              other_frame_uid=FRAME_B, rs_uid=RS_NEW)

    def place(name: str, sub: str) -> Path:
        folder = root / sub if nested else root
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    files = {"rs": str(shutil.move(made["rs"], place("a.dcm", "RTSTRUCT")))}
    if new_dose:
        files["rd_new"] = str(shutil.move(made["rd_new"], place("b.dcm", "RTDOSE")))
    files["rd_prior"] = str(shutil.move(made["rd_other_frame"], place("c.dcm", "RTDOSE")))
    files["rp_new"] = str(factory.rt_plan(place("d.dcm", "RTPLAN"), n_fractions=5, prescriptions_gy=(30.0,),
                                          sop_uid=NEW, frame_uid=FRAME_A, label="SABR_REIRR",
                                          plan_date="20261120", structure_set_uid=RS_NEW))
    files["rp_prior"] = str(factory.rt_plan(place("e.dcm", "RTPLAN"), n_fractions=25,
                                            prescriptions_gy=(20.0,),
                                            sop_uid=PRIOR1, frame_uid=FRAME_B, plan_date="20220301",
                                            structure_set_uid=RS_PRIOR1))
    files["rs_prior"] = _prior_rs(place("f.dcm", "RTSTRUCT"), FRAME_B, RS_PRIOR1)
    files["reg"] = _registration(place("g.dcm", "REG"), FRAME_B)
    if two_priors:
        (stage / "second").mkdir()
        second = factory.small_case(stage / "second", frame_uid=FRAME_A, prior_uid=PRIOR2, new_uid=NEW,
                                    prior_gy=10.0,
                                    other_frame_uid=FRAME_C)
        files["rd_prior2"] = str(shutil.move(second["rd_other_frame"], place("h.dcm", "RTDOSE")))
        files["rp_prior2"] = str(factory.rt_plan(place("i.dcm", "RTPLAN"), n_fractions=25,
                                                 prescriptions_gy=(10.0,), sop_uid=PRIOR2, frame_uid=FRAME_C,
                                                 plan_date="20240105", structure_set_uid=RS_PRIOR2))
        files["rs_prior2"] = _prior_rs(place("j.dcm", "RTSTRUCT"), FRAME_C, RS_PRIOR2)
        files["reg2"] = _registration(place("k.dcm", "REG"), FRAME_C)
    if not new_dose:
        for frame, sub, series in ((FRAME_A, "CT", ROOT + "7201"), (FRAME_B, "CT_prior", ROOT + "7202")):
            (root / sub).mkdir()
            for k in range(12):
                factory.ct_slice(root / sub / f"{k}.dcm", ipp=(-57.5, -57.5, -27.5 + 5.0 * k),
                                 pixel_spacing=(5.0, 5.0), rows=24, columns=24, frame_uid=frame,
                                 series_uid=series)
        files["ct"] = str(root / "CT")
    if junk:
        dicomdir = factory.base("1.2.840.10008.1.3.10", "", frame_uid=None)
        dicomdir.DirectoryRecordSequence = []
        factory.save(dicomdir, root / "DICOMDIR")
        (root / "notes.txt").write_text("exported from the TPS\n")
        (root / "empty").write_bytes(b"")
    return files


def _roles(case: Any) -> Dict[str, str]:
    return {role: path for path, role in case.roles}


def test_clean_case_one_prior_with_a_registration(tmp_path):
    """Each object in the role its references give it (plan -> structure set, dose -> plan, REG -> frames)."""
    f = _case(tmp_path / "p")
    case = discover(tmp_path / "p")
    assert _roles(case) == {"planning structure set": f["rs"], "new plan": f["rp_new"],
                            "new dose": f["rd_new"],
                            "prior-1 plan": f["rp_prior"], "prior-1 dose": f["rd_prior"],
                            "prior-1 structure set": f["rs_prior"], "registration": f["reg"]}
    assert case.planning_frame_uid == FRAME_A and case.ct_folder is None
    assert "the only plan in the frame the registrations register to" in case.notes[0]
    assert sorted(case.files_used()) == sorted(f.values())


def test_two_prior_courses_in_plan_date_order(tmp_path):
    f = _case(tmp_path / "p", two_priors=True)
    case = discover(tmp_path / "p")
    assert [(p.plan.path, p.dose.path, p.structures.path if p.structures else None) for p in case.priors] == [
        (f["rp_prior"], f["rd_prior"], f["rs_prior"]), (f["rp_prior2"], f["rd_prior2"], f["rs_prior2"])]
    assert sorted(r.path for r in case.registrations) == sorted([f["reg"], f["reg2"]])
    assert case.new_plan is not None and case.new_plan.path == f["rp_new"]


def test_nested_folders_with_junk_and_a_dry_run_ct(tmp_path):
    """Sub-folders per kind, a DICOMDIR, a text and an empty file; no new dose, so the planning CT (frame A,
    in CT/) is chosen over the prior CT (frame B, in CT_prior/)."""
    f = _case(tmp_path / "p", nested=True, junk=True, new_dose=False)
    objects, skipped = scan_folder(tmp_path / "p")
    assert skipped == 2  # notes.txt, empty
    assert "OTHER" in {o.kind for o in objects}  # the DICOMDIR
    case = discover(tmp_path / "p")
    assert case.ct_folder == f["ct"] and len(case.ct_files) == 12
    assert case.new_dose is None and case.new_plan is not None and case.new_plan.path == f["rp_new"]
    not_used = dict(case.not_used)
    assert not_used[str(tmp_path / "p" / "DICOMDIR")].endswith("not an object of a case")
    prior_ct = [str(tmp_path / "p" / "CT_prior" / f"{k}.dcm") for k in range(12)]
    assert all(path in not_used for path in prior_ct)


def _same_frame_case(root: Path) -> Dict[str, str]:
    """New and prior plans in one frame, no registration: the folder cannot tell which plan is new."""
    root.mkdir()
    made = factory.small_case(root, frame_uid=FRAME_A, prior_uid=PRIOR1, new_uid=NEW, new_gy=30.0,
                              rs_uid=RS_NEW)
    made["rp_new"] = str(factory.rt_plan(root / "rp_new.dcm", n_fractions=5, prescriptions_gy=(30.0,),
                                         sop_uid=NEW, frame_uid=FRAME_A, plan_date="20261120",
                                         structure_set_uid=RS_NEW))
    return made


def _run(args: List[str], capsys: Any) -> Any:
    code = cli.main(["evaluate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_several_candidate_new_plans_stop_then_a_uid_ending_resolves(tmp_path, capsys):
    f = _same_frame_case(tmp_path / "p")
    code, out, err = _run(["--dir", str(tmp_path / "p"), "--interval-days", "913"], capsys)
    assert code == 2 and "2 candidate new plans" in err and "--new-plan UID" in err
    assert "498.7001" in err and "498.7002" in err and "Traceback" not in err
    assert "498.7001" in out  # the table was shown before the stop
    case = discover(tmp_path / "p", new_plan="7001")
    assert case.new_plan is not None and case.new_plan.path == f["rp_new"]
    assert [p.plan.path for p in case.priors] == [f["rp_prior"]]
    assert _roles(case)["planning structure set"] == f["rs"]
    out_json = tmp_path / "r.json"
    code, out, err = _run(["--dir", str(tmp_path / "p"), "--new-plan", "498.7001", "--interval-days", "913",
                           "--json", str(out_json)], capsys)
    assert code in (0, 3), err
    used = {e["role"]: e["path"] for e in _json(out_json)["dicom_folder"]["files_used"]}
    assert used == {"planning structure set": f["rs"], "new plan": f["rp_new"], "new dose": f["rd_new"],
                    "prior-1 plan": f["rp_prior"], "prior-1 dose": f["rd_prior"]}


def test_a_dose_of_an_absent_plan_stops_unless_the_plans_are_named(tmp_path, capsys):
    f = _case(tmp_path / "p")
    stray = factory.rt_dose(tmp_path / "p" / "stray.dcm", np.ones((2, 3, 3)), frame_uid=FRAME_A,
                            plan_uid=ABSENT_PLAN)
    code, _, err = _run(["--dir", str(tmp_path / "p"), "--interval-days", "913"], capsys)
    assert code == 2 and "reference no RT Plan of the folder" in err
    assert str(stray) in err and ABSENT_PLAN in err
    case = discover(tmp_path / "p", new_plan="7001", prior_plans=["7002"])
    assert dict(case.not_used)[str(stray)] == "references no plan of the folder"
    assert _roles(case)["prior-1 dose"] == f["rd_prior"]


def test_two_doses_for_one_plan_stop_and_naming_the_priors_resolves(tmp_path):
    """An older plan OTHER with two doses: taken as a prior (every plan but the new one), it stops; with
    --prior-plan naming PRIOR1 only, OTHER and its doses are left unused."""
    f = _case(tmp_path / "p")
    factory.rt_plan(tmp_path / "p" / "old.dcm", sop_uid=OTHER, frame_uid=FRAME_B, plan_date="20200101")
    doses = [str(factory.rt_dose(tmp_path / "p" / f"old{n}.dcm", np.ones((2, 3, 3)), frame_uid=FRAME_B,
                                 plan_uid=OTHER)) for n in (1, 2)]
    with pytest.raises(InputError) as err:
        discover(tmp_path / "p")
    assert "has 2 plan doses" in str(err.value) and all(d in str(err.value) for d in doses)
    case = discover(tmp_path / "p", prior_plans=["498.7002"])
    assert [p.dose.path for p in case.priors] == [f["rd_prior"]]
    assert {d for d in doses} <= set(dict(case.not_used))


def test_several_structure_sets_stop_then_structures_uid_resolves(tmp_path):
    """The new plan references a structure set that is not in the folder, and two are in its frame."""
    f = _same_frame_case(tmp_path / "p")
    (tmp_path / "p" / "rp_new.dcm").unlink()
    factory.rt_plan(tmp_path / "p" / "rp_new.dcm", n_fractions=5, prescriptions_gy=(30.0,), sop_uid=NEW,
                    frame_uid=FRAME_A, structure_set_uid=ROOT + "7555")
    other = _prior_rs(tmp_path / "p" / "rs2.dcm", FRAME_A, ROOT + "7104")
    with pytest.raises(InputError) as err:
        discover(tmp_path / "p", new_plan="7001")
    message = str(err.value)
    assert "2 RT Structure Sets" in message and f["rs"] in message and other in message
    assert "--structures UID" in message
    case = discover(tmp_path / "p", new_plan="7001", structures="7101")
    assert case.structures.path == f["rs"]


def test_a_registration_made_the_other_way_round_is_not_trusted_against_the_plan_dates(tmp_path):
    """The REG registers A (planning) into B (its own frame): B's only plan, PRIOR1 (2022), would be taken as
    new while NEW (2026) is younger: the dates contradict it, so the run stops; --new-plan resolves it."""
    f = _case(tmp_path / "p")
    Path(f["reg"]).unlink()
    items = [(FRAME_A, np.eye(4), "RIGID"), (FRAME_B, np.eye(4), "RIGID")]
    factory.registration(Path(f["reg"]), items, frame_uid=FRAME_B)
    with pytest.raises(InputError) as err:
        discover(tmp_path / "p")
    assert "was created (RTPlanDate) before" in str(err.value) and f["rp_prior"] in str(err.value)
    assert f["rp_new"] in str(err.value)
    case = discover(tmp_path / "p", new_plan="7001")
    assert _roles(case)["registration"] == f["reg"] and _roles(case)["prior-1 plan"] == f["rp_prior"]


def test_two_registrations_of_one_prior_frame_stop_then_registration_uid_resolves(tmp_path):
    f = _case(tmp_path / "p")
    second = _registration(tmp_path / "p" / "reg2.dcm", FRAME_B)
    with pytest.raises(InputError) as err:
        discover(tmp_path / "p")
    assert "2 registrations relate the planning frame" in str(err.value)
    assert f["reg"] in str(err.value) and second in str(err.value) and "--registration UID" in str(err.value)
    objects, _ = scan_folder(tmp_path / "p")
    uid = next(o.sop_instance_uid for o in objects if o.path == second)
    case = discover(tmp_path / "p", registrations=[uid[-12:]])
    assert [r.path for r in case.registrations] == [second]
    assert dict(case.not_used)[f["reg"]] == "not part of the case found"


def test_a_copy_of_an_object_or_two_files_under_one_uid_are_refused(tmp_path):
    """Found on hostile folders: an exact copy of the prior plan (exported twice, in a sub-folder) made the
    one prior dose count as two courses (rectum cumulative EQD2 77.5 -> 99.1 Gy); two different structure
    sets under one SOP Instance UID were resolved by the later path. A folder whose files repeat a UID is
    refused, naming the UID and the files."""
    f = _case(tmp_path / "p")
    (tmp_path / "p" / "export2").mkdir()
    copy = tmp_path / "p" / "export2" / "e.dcm"
    shutil.copy(f["rp_prior"], copy)
    with pytest.raises(InputError, match=rf"2 files hold one DICOM object \(SOP Instance UID {PRIOR1}\): "
                                         rf".*e\.dcm, .*e\.dcm\. An object must appear once"):
        discover(tmp_path / "p")
    copy.unlink()
    _prior_rs(tmp_path / "p" / "export2" / "z.dcm", FRAME_B, RS_NEW)  # another structure set, RS_NEW's UID
    with pytest.raises(InputError, match=rf"SOP Instance UID {RS_NEW}\): .*a\.dcm, .*z\.dcm"):
        discover(tmp_path / "p")


def test_a_prior_plan_without_dose_stops(tmp_path):
    _case(tmp_path / "p")
    factory.rt_plan(tmp_path / "p" / "old.dcm", sop_uid=OTHER, frame_uid=FRAME_B, plan_date="20200101")
    with pytest.raises(InputError, match="has no RT Dose in the folder"):
        discover(tmp_path / "p")


@pytest.mark.parametrize(("wanted", "needle"), [("7999", "no object"), ("700", "2 object")])
def test_a_uid_ending_must_select_exactly_one_plan(tmp_path, wanted, needle):
    """``7999`` ends no plan UID of the folder; ``700`` ends two (…8700 and …9700): both refused."""
    _case(tmp_path / "p")
    factory.rt_plan(tmp_path / "p" / "x.dcm", sop_uid=ROOT + "8700", frame_uid=FRAME_B)
    factory.rt_plan(tmp_path / "p" / "y.dcm", sop_uid=ROOT + "9700", frame_uid=FRAME_B)
    with pytest.raises(InputError, match=needle):
        discover(tmp_path / "p", new_plan=wanted)


def test_an_empty_folder_and_a_missing_folder_are_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(["--dir", str(tmp_path / "empty"), "--interval-days", "1"], capsys)
    assert code == 2 and "no RT Plan in" in err and "Traceback" not in err
    code, _, err = _run(["--dir", str(tmp_path / "missing"), "--interval-days", "1"], capsys)
    assert code == 2 and "no such folder" in err


def test_file_options_with_dir_are_refused_and_without_dir_required(tmp_path, capsys):
    f = _case(tmp_path / "p")
    code, _, err = _run(["--dir", str(tmp_path / "p"), "--new-dose", f["rd_new"]], capsys)
    assert code == 2 and "--new-dose cannot be given with it" in err
    code, _, err = _run(["--prior-dose", f["rd_prior"], "--prior-plan", f["rp_prior"]], capsys)
    assert code == 2 and "give --structures RS" in err


def test_pure_grouping_without_files():
    """group_case on headers alone: the registration's own frame marks the planning frame."""
    objects = [
        DicomObject("rs", "RTSTRUCT", factory.RT_STRUCT, RS_NEW, frame_of_reference_uid=FRAME_A),
        DicomObject("new", "RTPLAN", factory.RT_PLAN, NEW, frame_of_reference_uid=FRAME_A,
                    referenced_structure_set_uid=RS_NEW),
        DicomObject("old", "RTPLAN", factory.RT_PLAN, PRIOR1, frame_of_reference_uid=FRAME_B),
        DicomObject("rd-old", "RTDOSE", factory.RT_DOSE, ROOT + "1", frame_of_reference_uid=FRAME_B,
                    referenced_plan_uids=(PRIOR1,), dose_type="PHYSICAL", summation_type="PLAN"),
        DicomObject("rd-beam", "RTDOSE", factory.RT_DOSE, ROOT + "2", frame_of_reference_uid=FRAME_B,
                    referenced_plan_uids=(PRIOR1,), dose_type="PHYSICAL", summation_type="BEAM"),
        DicomObject("rd-new", "RTDOSE", factory.RT_DOSE, ROOT + "3", frame_of_reference_uid=FRAME_A,
                    referenced_plan_uids=(NEW,), dose_type="PHYSICAL", summation_type="PLAN"),
        DicomObject("reg", "REG", factory.REG, ROOT + "4", frame_of_reference_uid=FRAME_A,
                    related_frame_uids=(FRAME_B, FRAME_A)),
    ]
    case = group_case(objects)
    assert _roles(case) == {"planning structure set": "rs", "new plan": "new", "new dose": "rd-new",
                            "prior-1 plan": "old", "prior-1 dose": "rd-old", "registration": "reg"}
    assert dict(case.not_used)["rd-beam"].startswith("DoseSummationType BEAM")


def _json(path: Path) -> Dict[str, Any]:
    return json.loads(path.read_text())


def test_dir_gives_the_result_of_the_explicit_options(tmp_path, capsys):
    """End to end: ``--dir`` and the same files given explicitly give the same result JSON (apart from the
    ``dicom_folder`` record, which lists the files used); the table names every object's role."""
    f = _case(tmp_path / "p", two_priors=True, nested=True, junk=True)
    common = ["--interval-days", "913", "--interval-days", "700"]
    code, out, err = _run(["--dir", str(tmp_path / "p"), *common, "--json", str(tmp_path / "dir.json")],
                          capsys)
    assert code in (0, 3), err
    for role in ("new plan", "new dose", "prior-1 dose", "prior-2 plan", "registration"):
        assert role in out
    explicit = ["--structures", f["rs"], "--new-dose", f["rd_new"], "--new-plan", f["rp_new"],
                "--prior-dose", f["rd_prior"], "--prior-plan", f["rp_prior"],
                "--prior-structures", f["rs_prior"],
                "--prior-dose", f["rd_prior2"], "--prior-plan", f["rp_prior2"], "--prior-structures",
                f["rs_prior2"], "--registration", f["reg"], "--registration", f["reg2"]]
    code2, _, err2 = _run([*explicit, *common, "--json", str(tmp_path / "explicit.json")], capsys)
    assert code2 == code, err2
    by_dir, by_files = _json(tmp_path / "dir.json"), _json(tmp_path / "explicit.json")
    record = by_dir.pop("dicom_folder")
    assert {e["path"] for e in record["files_used"]} == set(f.values())
    assert record["non_dicom_files_skipped"] == 2
    assert by_dir.pop("files_written") == [str(tmp_path / "dir.json")]  # the only path that differs
    assert by_files.pop("files_written") == [str(tmp_path / "explicit.json")]
    assert by_dir == by_files
