"""``reirrad evaluate`` end to end on a stub patient exported to synthetic DICOM.

LRRC-01 (one prior course 45 Gy/25, 913 days before the new course) is written as DICOM with the test
factory: the planning RT Structure Set (the model's contours), the prior RT Dose + RT Plan, the new
RT Dose (the plan the TPS-less workflow optimised, limit-toxicity 30 Gy/5) + RT Plan, and a CT series
on the planning grid. Source of truth: the same case run through the engine without DICOM
(``tps_stubs.direct.DirectCase``): per-OAR cumulative EQD2 by both methods and the remaining
tolerances must agree within what the DICOM encoding changes (dose counts of 1e-4 Gy; contour
coordinates written as DS text).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from reirrad import cli
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.runmaps import remaining_maps
from reirrad.workflow import WorkflowOptions, prepare, run
from reirrad_tps.dicom import read_eqd2_dose, read_rt_dose, read_rt_dose_info
from tests.plugin.dicom import factory
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
SCALE_GY = 1e-4
PRIOR_PLAN_UID = "1.2.826.0.1.3680043.8.498.2101"
NEW_PLAN_UID = "1.2.826.0.1.3680043.8.498.2102"
TOL_GY = 0.05


def _dose(path: Path, grid: Any, *, frame: str, plan_uid: str, shift_x_mm: float = 0.0) -> str:
    return factory.rt_dose_of_grid(path, grid, frame_uid=frame, plan_uid=plan_uid, scale_gy=SCALE_GY,
                                   shift_x_mm=shift_x_mm)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: Any) -> Dict[str, Any]:
    """The case as DICOM files, and the engine's own evaluation of it."""
    out = tmp_path_factory.mktemp("lrrc01")
    case = DirectCase("LRRC-01")
    snapshot = case.read()
    planned = run(PROTOCOL, snapshot, DirectPlanner(case), WorkflowOptions(intent="limit-toxicity"))
    frame = snapshot.planning_frame_of_reference_uid
    prior = snapshot.prior_courses[0]
    rois = factory.rois_of_snapshot(snapshot)
    grid = snapshot.dose_grid
    ct = out / "ct"
    ct.mkdir()
    for k in range(grid.shape[0]):
        ox, oy, oz = grid.origin_mm
        factory.ct_slice(ct / f"ct{k:03d}.dcm", ipp=(ox, oy, oz + k * grid.spacing_mm[2]),
                         pixel_spacing=(grid.spacing_mm[1], grid.spacing_mm[0]), rows=grid.shape[1],
                         columns=grid.shape[2], frame_uid=frame)
    files = {
        "rs": str(factory.rt_struct(out / "rs.dcm", rois, frame_uid=frame)),
        "rp_prior": str(factory.rt_plan(out / "rp_prior.dcm", n_fractions=25, prescriptions_gy=(45.0,),
                                        sop_uid=PRIOR_PLAN_UID, frame_uid=frame)),
        "rd_prior": _dose(out / "rd_prior.dcm", prior.dose, frame=frame, plan_uid=PRIOR_PLAN_UID),
        "rp_new": str(factory.rt_plan(out / "rp_new.dcm", n_fractions=5, prescriptions_gy=(30.0,),
                                      sop_uid=NEW_PLAN_UID, label="SABR_REIRR", frame_uid=frame)),
        "rd_new": _dose(out / "rd_new.dcm", planned.final_dose, frame=frame, plan_uid=NEW_PLAN_UID),
        "ct": str(ct),
    }
    return {"dir": out, "files": files, "planned": planned, "snapshot": snapshot}


def _evaluate(args: List[str], out: Path, capsys: Any) -> Dict[str, Any]:
    path = out / "result.json"
    code = cli.main(["evaluate", *args, "--json", str(path)])
    text = capsys.readouterr()
    assert code == 0, text.out + text.err
    return json.loads(path.read_text())


def _base(f: Dict[str, str]) -> List[str]:
    return ["--structures", f["rs"], "--prior-dose", f["rd_prior"], "--prior-plan", f["rp_prior"],
            "--interval-days", "913"]


def test_evaluate_reproduces_the_engine_evaluation(exported, tmp_path, capsys):
    """The new dose evaluated from DICOM: the same cumulative EQD2 per OAR (both methods), pass/fail
    and coverage as the engine's own evaluation of that plan; report, maps and JSON are written."""
    f = exported["files"]
    maps = tmp_path / "maps"
    maps.mkdir()
    report = tmp_path / "report.html"
    result = _evaluate([*_base(f), "--new-dose", f["rd_new"], "--new-plan", f["rp_new"], "--report",
                        str(report), "--write-maps", str(maps)], tmp_path, capsys)
    truth = build_result(exported["planned"])
    assert result["status"] == "evaluated" and result["prescription_gy"] == 30.0
    assert result["oar_limits_met"] is True and result["n_fractions"] == 5
    got = {o["name"]: o for o in result["oars"]}
    for o in truth["oars"]:
        g = got[o["name"]]
        assert g["passed"] == o["passed"]
        for key in ("prior_eqd2_gy", "allowed_physical_gy", "planned_physical_gy", "cumulative_eqd2_gy"):
            if o.get(key) is not None:
                assert g[key] == pytest.approx(o[key], abs=TOL_GY), (o["name"], key)
    assert result["target"]["v95_pct"] == pytest.approx(truth["target"]["v95_pct"], abs=0.5)
    assert result["provenance"]["tps"] == "DICOM"
    html = report.read_text()
    assert result["patient_id"] in html and 'id="oar-limits-met"' in html
    # the sensitivity analysis of the same case (reirrad.sensitivity): the same rows as the engine's, with
    # the registration margin evaluated on the prior dose grid read from DICOM
    assert [r["parameter"] for r in result["sensitivity"]] == [r["parameter"] for r in truth["sensitivity"]]
    for r, t in zip(result["sensitivity"], truth["sensitivity"]):
        assert r["allowed_physical_gy"] == pytest.approx(t["allowed_physical_gy"], abs=TOL_GY), r["label"]
    assert any(r["parameter"] == "registration_margin_mm" for r in result["sensitivity"])
    assert 'id="sensitivity"' in html
    written = sorted(p.name for p in maps.iterdir())
    assert "prior-eqd2.dcm" in written and "effective-prior-eqd2.dcm" in written
    assert any(n.startswith("remaining-physical-") for n in written)


def test_written_maps_read_back_as_the_engine_maps(exported, tmp_path, capsys):
    """--write-maps: each remaining-tolerance file read back equals the engine's map of the same case
    within the DICOM scaling step; the EQD2 file is EFFECTIVE, references the new plan, and its
    maximum matches the prior dose's EQD2 maximum within the encoding tolerance."""
    f = exported["files"]
    maps = tmp_path / "maps"
    maps.mkdir()
    _evaluate([*_base(f), "--new-dose", f["rd_new"], "--new-plan", f["rp_new"], "--write-maps", str(maps)],
              tmp_path, capsys)
    prep = prepare(PROTOCOL, exported["snapshot"], WorkflowOptions())
    for key, rmap in remaining_maps(prep).items():
        path = maps / f"remaining-physical-{key}.dcm"
        grid = read_rt_dose(path)
        step = float(rmap.allowed_physical.values_gy.max()) / (2**32 - 1)
        # The DICOM case's prior dose went through counts of SCALE_GY, hence the wider tolerance.
        np.testing.assert_allclose(grid.values_gy, rmap.allowed_physical.values_gy, atol=max(step, 0.02))
        assert grid.frame_of_reference_uid == exported["snapshot"].planning_frame_of_reference_uid
    info = read_rt_dose_info(maps / "prior-eqd2.dcm")
    assert info.dose_type == "EFFECTIVE" and info.referenced_plan_uids == (NEW_PLAN_UID,)
    eqd2 = read_eqd2_dose(maps / "prior-eqd2.dcm", alpha_beta_gy=None)
    assert float(eqd2.values_gy.max()) > 0.0


def _run_cli(args: List[str], capsys: Any) -> Tuple[int, str]:
    code = cli.main(["evaluate", *args])
    text = capsys.readouterr()
    return code, text.out + text.err


def _left_in(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


def test_maps_are_committed_with_the_record_or_not_at_all(exported, tmp_path, capsys):
    """The maps are one transaction with the report, JSON and audit row (reirrad.outputs). Found on a
    hostile run: an audit CSV that refused the run (another header) left four maps on disk with no JSON
    or audit row. Now the refusal leaves the maps folder, and the JSON's folder, as they were."""
    f = exported["files"]
    maps = tmp_path / "maps"
    maps.mkdir()
    csv = tmp_path / "audit.csv"
    csv.write_text("some,other,header\n1,2,3\n")
    code, text = _run_cli([*_base(f), "--new-dose", f["rd_new"], "--new-plan", f["rp_new"], "--write-maps",
                           str(maps), "--audit-csv", str(csv), "--json", str(tmp_path / "r.json")], capsys)
    assert code == 2 and "nothing was written" in text, text
    assert _left_in(maps) == []
    assert _left_in(tmp_path) == ["audit.csv", "maps"]
    assert csv.read_text() == "some,other,header\n1,2,3\n"


def test_the_maps_folder_is_checked_before_any_work(exported, tmp_path, capsys):
    """--write-maps, as every output: found on hostile runs, it replaced an input named like a map (the
    prior dose, now an EQD2 map), ended in a traceback on a file, and created a mistyped folder with its
    parents. Each is refused (exit 2) before anything is read, with nothing created or changed."""
    f = exported["files"]
    run_args = [*_base(f), "--new-dose", f["rd_new"], "--new-plan", f["rp_new"]]
    folder = tmp_path / "maps"
    folder.mkdir()
    prior = folder / "prior-eqd2.dcm"
    prior.write_bytes(Path(f["rd_prior"]).read_bytes())
    swapped = [prior.as_posix() if a == f["rd_prior"] else a for a in run_args]
    code, text = _run_cli([*swapped, "--write-maps", str(folder)], capsys)
    assert code == 2 and f"prior-eqd2.dcm is {prior}, a file of this run; it would be replaced" in text, text
    assert prior.read_bytes() == Path(f["rd_prior"]).read_bytes()
    a_file = tmp_path / "afile"
    a_file.write_text("")
    code, text = _run_cli([*run_args, "--write-maps", str(a_file)], capsys)
    assert code == 2 and "is a file, not a folder" in text, text
    code, text = _run_cli([*run_args, "--write-maps", str(tmp_path / "typo" / "deep")], capsys)
    assert code == 2 and "folder does not exist; create it first" in text, text
    assert not (tmp_path / "typo").exists()
    (folder / "remaining-physical-rectum.dcm").mkdir()
    code, text = _run_cli([*run_args, "--write-maps", str(folder)], capsys)
    assert code == 2 and "remaining-physical-rectum.dcm is in the way (not a regular file)" in text, text
    code, text = _run_cli([*run_args, "--write-maps", str(tmp_path), "--json",
                           str(tmp_path / "effective-prior-eqd2.dcm")], capsys)
    assert code == 2 and "has the name of a file --write-maps writes" in text, text
    assert _left_in(folder) == ["prior-eqd2.dcm", "remaining-physical-rectum.dcm"]


def test_dry_run_from_the_ct_gives_the_engine_tolerances(exported, tmp_path, capsys):
    """No new dose: a dry run on the CT's grid; remaining tolerances and objectives as the engine's
    dry run of the same case."""
    f = exported["files"]
    result = _evaluate([*_base(f), "--ct", f["ct"], "--target", "PTV"], tmp_path, capsys)
    truth = build_result(run(PROTOCOL, exported["snapshot"], None, WorkflowOptions(dry_run=True)))
    assert result["status"] == "dry-run" and result["objectives"]
    assert [f["code"] for f in result["dicom_findings"]] == ["new-fractions-from-protocol",
                                                             "prescription-source"]
    got = {o["name"]: o for o in result["oars"]}
    for o in truth["oars"]:
        assert got[o["name"]]["allowed_physical_gy"] == pytest.approx(o["allowed_physical_gy"], abs=TOL_GY)


def test_a_prior_dose_in_another_frame_needs_a_registration(exported, tmp_path, capsys):
    """The prior dose exported in frame B, shifted +10 mm in x: refused without a registration (exit 2,
    naming --registration); with a REG that maps B → planning by −10 mm the result is the same as in
    the planning frame (PS3.3 C.20.2: the matrix maps the item's frame into the REG's frame)."""
    f = exported["files"]
    prior = exported["snapshot"].prior_courses[0]
    shifted = _dose(tmp_path / "rd_b.dcm", prior.dose, frame=factory.FRAME_B, plan_uid=PRIOR_PLAN_UID,
                    shift_x_mm=10.0)
    plan_b = str(factory.rt_plan(tmp_path / "rp_b.dcm", n_fractions=25, prescriptions_gy=(45.0,),
                                 sop_uid=PRIOR_PLAN_UID, frame_uid=factory.FRAME_B))
    args = ["--structures", f["rs"], "--prior-dose", shifted, "--prior-plan", plan_b,
            "--interval-days", "913", "--ct", f["ct"], "--target", "PTV"]
    assert cli.main(["evaluate", *args]) == 2
    assert "--registration" in capsys.readouterr().err
    move = np.eye(4)
    move[0, 3] = -10.0
    frame = exported["snapshot"].planning_frame_of_reference_uid
    items = [(factory.FRAME_B, move, "RIGID"), (frame, np.eye(4), "RIGID")]
    reg = factory.registration(tmp_path / "reg.dcm", items, frame_uid=frame)
    result = _evaluate([*args, "--registration", str(reg)], tmp_path, capsys)
    same = _evaluate([*_base(f), "--ct", f["ct"], "--target", "PTV"], tmp_path, capsys)
    for a, b in zip(result["oars"], same["oars"]):
        assert a["prior_eqd2_gy"] == pytest.approx(b["prior_eqd2_gy"], abs=TOL_GY), a["name"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--interval-days", "913", "--interval-days", "10"], "--interval-days is given 2 time(s)"),
    (["--prior-last-fraction", "2024-06-07"], "--planned-start"),
    # each was silently ignored (a hostile-input review)
    (["--interval-days", "913", "--planned-start", "2026-12-07"], "the interval is given"),
    (["--interval-days", "913", "--new-dose", "rd.dcm"], "--ct is read only without --new-dose"),
])
def test_bad_options_are_refused(exported, capsys, args, needle):
    f = exported["files"]
    code = cli.main(["evaluate", "--structures", f["rs"], "--prior-dose", f["rd_prior"], "--prior-plan",
                     f["rp_prior"], "--ct", f["ct"], *args])
    assert code == 2 and needle in capsys.readouterr().err


def test_without_a_grid_source_it_is_refused(exported, capsys):
    f = exported["files"]
    assert cli.main(["evaluate", *_base(f)]) == 2
    assert "--new-dose RD) or the planning CT" in capsys.readouterr().err


def test_the_case_source_records_the_registration_kind(exported, tmp_path):
    """Issue 14 item 9 + snapshot.REGISTRATION_KINDS: a prior dose in the planning frame is read as
    ``same-frame`` (no matrix); the same dose in frame B brought in by a rigid REG (PS3.3 C.20.2) is read
    as ``rigid`` with its matrix. Deformable registrations: test_deformable.py."""
    from reirrad_tps.dicom.case import DicomCaseSource, DicomPrior  # noqa: PLC0415

    f = exported["files"]
    same = DicomCaseSource(f["rs"], [DicomPrior(f["rd_prior"], f["rp_prior"], interval_days=913)],
                           n_fractions=5, ct=f["ct"], target="PTV").read()
    (prior,) = same.prior_courses
    assert (prior.registration_kind, prior.planning_to_dose) == ("same-frame", None)
    dose_b = _dose(tmp_path / "rd_b.dcm", exported["snapshot"].prior_courses[0].dose, frame=factory.FRAME_B,
                   plan_uid=PRIOR_PLAN_UID, shift_x_mm=10.0)
    plan_b = str(factory.rt_plan(tmp_path / "rp_b.dcm", n_fractions=25, prescriptions_gy=(45.0,),
                                 sop_uid=PRIOR_PLAN_UID, frame_uid=factory.FRAME_B))
    move = np.eye(4)
    move[0, 3] = -10.0
    frame = exported["snapshot"].planning_frame_of_reference_uid
    reg = factory.registration(tmp_path / "reg.dcm", [(factory.FRAME_B, move, "RIGID"),
                                                       (frame, np.eye(4), "RIGID")], frame_uid=frame)
    moved = DicomCaseSource(f["rs"], [DicomPrior(dose_b, plan_b, interval_days=913)], n_fractions=5,
                            ct=f["ct"], target="PTV", registrations=[str(reg)]).read()
    (prior,) = moved.prior_courses
    assert prior.registration_kind == "rigid" and prior.planning_to_dose is not None
