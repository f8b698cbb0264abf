"""Issue 19: defects of ``reirrad evaluate`` found on real vendor exports, each reproduced by a synthetic
file built with the test factory.

Sources of truth: hand counts (points on a line enclose no area; a series of one slice), PS3.3 C.8.8.13
(``BeamDose`` is Gy per fraction at the beam's specification point: 1.8 + 1.8 + 1.9 Gy × 5 fractions
= 27.5 Gy), the plausibility thresholds of :mod:`reirrad_tps.dicom.checks` (0.9 × and 3 × the TOTAL
prescription), PS3.10 §7.1 (a DICOM file has a 128-byte preamble and ``DICM``), and the decision gate's
rule that ``no-oar-matched`` and ``fractionation-not-in-protocol`` are not lifted by an override.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence as DicomSequence  # noqa: E402

from reirrad import cli  # noqa: E402
from reirrad.errors import EligibilityError, InputError  # noqa: E402
from reirrad.findings import Finding  # noqa: E402
from reirrad.gate import apply_gate  # noqa: E402
from reirrad_tps.dicom import (  # noqa: E402
    check_dose_against_plan,
    read_ct_geometry,
    read_rt_dose,
    read_rt_dose_info,
    read_rt_plan,
    read_rt_struct,
)
from reirrad_tps.dicom.checks import plausibility_prescription  # noqa: E402
from reirrad_tps.dicom.files import lacks_file_meta  # noqa: E402
from reirrad_tps.summary import summary  # noqa: E402
from tests.plugin.dicom import factory  # noqa: E402

PRIOR_UID = "1.2.826.0.1.3680043.8.498.2201"
NEW_UID = "1.2.826.0.1.3680043.8.498.2202"
ZS = [-20.0 + 5.0 * k for k in range(9)]


def _cli(args: List[str], capsys: Any) -> Tuple[int, str]:
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


def _case(out: Path) -> Dict[str, str]:
    """:func:`factory.small_case` with a new dose of 30 Gy everywhere (prior 20 Gy / 25 fractions)."""
    return factory.small_case(out, frame_uid=factory.FRAME_A, prior_uid=PRIOR_UID, new_uid=NEW_UID,
                              new_gy=30.0)


def _evaluate_args(f: Dict[str, str], rs: str, out: Path, new_dose: str = "") -> List[str]:
    return ["evaluate", "--structures", rs, "--prior-dose", f["rd_prior"], "--prior-plan", f["rp_prior"],
            "--interval-days", "913", "--new-dose", new_dose or f["rd_new"],
            "--json", str(out / "result.json")]


def _small_rois(rename: bool = False) -> List[Any]:
    return [(name if name == "PTV" or not rename else f"X_{name}", kind, factory.box_contours(x, y, ZS))
            for name, (x, y, kind) in factory.SMALL_CASE_BOXES.items()]


# -- defects 1 and 4: degenerate and skipped contours ------------------------------------------------


def test_collinear_and_point_contours_are_skipped_with_roi_plane_and_file(tmp_path: Path) -> None:
    """Pinnacle: a 'closed' contour whose 4 points lie on the line y = 20 mm at z = 12.5 mm encloses no
    area; a 3-point contour that repeats its first point has 2 distinct points; a POINT marker. Each is
    skipped, with its plane; the Bladder keeps its 2 real boxes."""
    bladder = [*factory.box_contours((-10, 10), (15, 30), [0.0, 5.0]),
               ("CLOSED_PLANAR", [(-10, 20, 12.5), (0, 20, 12.5), (5, 20, 12.5), (10, 20, 12.5)]),
               ("CLOSED_PLANAR", [(-10, 20, 15.0), (10, 20, 15.0), (-10, 20, 15.0)]),
               ("POINT", [(1.0, 2.0, 7.5)])]
    rs = read_rt_struct(factory.rt_struct(tmp_path / "rs.dcm", [("Bladder", "ORGAN", bladder)]))
    assert len(rs.structure("Bladder").contours_mm) == 2
    skipped = {(s.geometric_type, s.count, s.planes_z_mm) for s in rs.skipped}
    assert skipped == {("CLOSED_PLANAR enclosing no area (points on a line)", 1, (12.5,)),
                       ("CLOSED_PLANAR with < 3 points", 1, (15.0,)), ("POINT", 1, (7.5,))}


def test_evaluate_reports_skipped_contours_instead_of_refusing_the_case(tmp_path: Path, capsys: Any) -> None:
    """Before: "Bladder: contour 9 encloses no area" refused the case naming neither file nor plane.
    Now: evaluated; the JSON, the report and the console list the skipped contour with ROI, z and file."""
    f = _case(tmp_path)
    rois = _small_rois()
    rois[3] = ("Bladder", "ORGAN", [*rois[3][2], ("CLOSED_PLANAR", [(-10, 20, 22.5), (0, 20, 22.5),
                                                                    (10, 20, 22.5)]),
                                    ("OPEN_PLANAR", [(-10, 15, 0.0), (10, 15, 0.0), (10, 30, 0.0)])])
    rs = str(factory.rt_struct(tmp_path / "rs_line.dcm", rois))
    report = tmp_path / "report.html"
    code, text = _cli([*_evaluate_args(f, rs, tmp_path), "--prescription-gy", "30", "--report", str(report)],
                      capsys)
    assert code in (0, 3), text
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "evaluated"
    skipped = [d for d in result["dicom_findings"] if d["code"] == "contour-skipped"]
    assert {d["subject"] for d in skipped} == {"Bladder"} and len(skipped) == 2
    line = next(d["message"] for d in skipped if "no area" in d["message"])
    assert "z = 22.5 mm" in line and rs in line
    assert "OPEN_PLANAR" in " ".join(d["message"] for d in skipped)
    assert "contour-skipped" in text and "z = 22.5 mm" in text
    assert "contour-skipped" in report.read_text()
    sources = {d["message"] for d in result["dicom_findings"] if d["code"] == "prescription-source"}
    assert any("prior course 1" in m and "20.00 Gy from TargetPrescriptionDose" in m for m in sources)


def test_a_contour_exported_twice_is_read_once_and_flagged(tmp_path: Path) -> None:
    """Found by a hostile-input review: a contour item repeated in ContourSequence cancelled itself under
    the even-odd rule, so that plane's area left the organ (its DVH metric fell, FAIL became pass) with no
    finding. A repeat (the same points to 0.001 mm, from another first point or in the other direction)
    is skipped and recorded; a contour with other points on the same plane (a hole) is kept; the same
    points on another plane are another contour."""
    box = factory.box_contours((-10, 10), (15, 30), [0.0, 5.0])
    (kind, first), second = box[0], box[1]
    turned = [first[2], first[3], first[0], first[1]]  # another first point
    hole = ("CLOSED_PLANAR", [(-2, 20, 0.0), (2, 20, 0.0), (2, 25, 0.0), (-2, 25, 0.0)])
    rois = [("Bladder", "ORGAN", [box[0], second, (kind, list(first)), (kind, turned[::-1]), hole]),
            ("Rectum", "ORGAN", [box[0], (kind, [(x, y, 10.0) for x, y, _ in first])])]
    rs = read_rt_struct(factory.rt_struct(tmp_path / "rs.dcm", rois))
    assert len(rs.structure("Bladder").contours_mm) == 3 and len(rs.structure("Rectum").contours_mm) == 2
    assert {(s.roi_name, s.geometric_type, s.count, s.planes_z_mm) for s in rs.skipped} == {
        ("Bladder", "CLOSED_PLANAR repeating an earlier contour", 2, (0.0, 0.0))}


def test_evaluate_of_a_repeated_contour_keeps_the_organs_dose(tmp_path: Path, capsys: Any) -> None:
    """The review's case: the new dose is 34 Gy on the bowel's lowest planes; with its z = -20 mm contour
    exported twice, the bowel's D0.5cc is still that of the file without the repeat, and a contour-skipped
    flag names the ROI, the plane and the file."""
    f = _case(tmp_path)
    ds = pydicom.dcmread(f["rd_new"])
    counts = ds.pixel_array.astype(np.uint32)
    counts[0:3] = 340000  # 34 Gy (scaling 1e-4 Gy)
    ds.PixelData = np.ascontiguousarray(counts, dtype="<u4").tobytes()
    ds.save_as(f["rd_new"])
    rois = _small_rois()
    with_repeat = [(name, kind, [*contours, contours[0]] if name == "SmallBowel" else contours)
                   for name, kind, contours in rois]
    results = {}
    for label, structures in (("once", rois), ("twice", with_repeat)):
        rs = str(factory.rt_struct(tmp_path / f"rs_{label}.dcm", structures))
        code, text = _cli([*_evaluate_args(f, rs, tmp_path), "--prescription-gy", "30"], capsys)
        assert code in (0, 3), text
        results[label] = (json.loads((tmp_path / "result.json").read_text()), text, rs)
    bowel = {label: next(o for o in r["oars"] if o["name"] == "small_bowel")
             for label, (r, _, _) in results.items()}
    planned = [bowel[label]["planned_physical_gy"] for label in ("twice", "once")]
    assert planned[0] == planned[1] == pytest.approx(34.0)
    assert bowel["twice"]["passed"] is bowel["once"]["passed"] is False
    result, text, rs = results["twice"]
    (flag,) = [d for d in result["dicom_findings"] if d["code"] == "contour-skipped"]
    assert flag["subject"] == "SmallBowel" and "z = -20 mm" in flag["message"] and rs in flag["message"]
    assert "repeating an earlier contour" in flag["message"] and "contour-skipped" in text


def test_a_target_that_is_an_oar_is_refused_and_an_odd_type_flagged(tmp_path: Path, capsys: Any) -> None:
    """Found by a hostile-input review: --target SmallBowel (type ORGAN, matched as the small bowel) was
    reported as "the PTV", V95% 100 %, coverage rule met. A target that is a matched OAR's structure is
    refused (exit 2, one line); one whose DICOM type is not PTV/CTV/GTV gets a flag."""
    f = _case(tmp_path)
    code, text = _cli([*_evaluate_args(f, f["rs"], tmp_path), "--prescription-gy", "30", "--target",
                       "SmallBowel"], capsys)
    assert code == 2 and "the target 'SmallBowel' is the structure of OAR small_bowel" in text
    assert "Traceback" not in text
    rois = [*_small_rois(), ("Boost", "AVOIDANCE", factory.box_contours((-5, 5), (-5, 5), ZS))]
    rs = str(factory.rt_struct(tmp_path / "rs_boost.dcm", rois))
    code, text = _cli([*_evaluate_args(f, rs, tmp_path), "--prescription-gy", "30", "--target", "Boost"],
                      capsys)
    assert code in (0, 3), text
    flags = [w for w in json.loads((tmp_path / "result.json").read_text())["warnings"]
             if w["code"] == "target-type-not-a-target"]
    assert len(flags) == 1 and "of type AVOIDANCE" in flags[0]["message"]
    code, _ = _cli([*_evaluate_args(f, f["rs"], tmp_path), "--prescription-gy", "30", "--target", "PTV"],
                   capsys)
    assert code in (0, 3)
    assert not [w for w in json.loads((tmp_path / "result.json").read_text())["warnings"]
                if w["code"] == "target-type-not-a-target"]


def test_a_course_given_twice_is_refused(tmp_path: Path, capsys: Any) -> None:
    """Found by a hostile-input review: the prior course given twice (the same files, or a byte copy) was
    summed twice (cumulative EQD2 61.60 -> 69.20 Gy, two OARs turned FAIL) with only the multiple-prior-
    courses flag, and the new dose was accepted as its own prior. A DICOM object given twice (by its SOP
    Instance UID) is refused, naming both roles."""
    f = _case(tmp_path)
    copy = tmp_path / "rd_prior_copy.dcm"
    copy.write_bytes(Path(f["rd_prior"]).read_bytes())
    twice = [*_evaluate_args(f, f["rs"], tmp_path), "--prior-dose", str(copy), "--prior-plan", f["rp_prior"],
             "--interval-days", "913"]
    code, text = _cli(twice, capsys)
    assert code == 2 and "is the same DICOM object as prior plan 1" in text and "Traceback" not in text
    as_prior = [*_evaluate_args({**f, "rd_prior": f["rd_new"]}, f["rs"], tmp_path)]
    code, text = _cli(as_prior, capsys)
    assert code == 2 and "is the same DICOM object as the new dose" in text


def test_a_new_dose_of_another_patient_id_is_not_excused_as_a_prior_given_elsewhere(tmp_path: Path,
                                                                                   capsys: Any) -> None:
    """A hostile-input review found the new dose's patient-id-differs flag saying "expected when the prior
    course was given elsewhere"; for the new dose it names two exports of one patient instead."""
    f = _case(tmp_path)
    ds = pydicom.dcmread(f["rd_new"])
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(f["rd_new"])
    code, text = _cli([*_evaluate_args(f, f["rs"], tmp_path), "--prescription-gy", "30"], capsys)
    assert code in (0, 3), text
    (flag,) = [d for d in json.loads((tmp_path / "result.json").read_text())["dicom_findings"]
               if d["code"] == "patient-id-differs"]
    assert "'SOMEONE-ELSE'" in flag["message"] and "one export of one patient" in flag["message"]
    assert "given elsewhere" not in flag["message"]


# -- defect 2: the dose / prescription plausibility check always runs ---------------------------------


def _beam_plan(path: Path, beam_doses_gy: Tuple[float, ...] = (1.8, 1.8, 1.9), *,
              sop_uid: str = factory.PLAN_UID) -> Path:
    """A RayStation 6 / Pinnacle 9 style plan: no TargetPrescriptionDose, BeamDose per beam, 5 fractions."""
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = 5
    group.NumberOfBeams = len(beam_doses_gy)
    beams = []
    for number, dose in enumerate(beam_doses_gy, start=1):
        beam = Dataset()
        beam.ReferencedBeamNumber = number
        beam.BeamDose = factory.ds_text(dose)
        beam.BeamMeterset = "100"
        beams.append(beam)
    group.ReferencedBeamSequence = DicomSequence(beams)
    return factory.rt_plan(path, prescriptions_gy=(), omit=("DoseReferenceSequence",), sop_uid=sop_uid,
                           extra={"FractionGroupSequence": DicomSequence([group])})


def _uniform_dose(path: Path, gy: float, summation: str) -> Path:
    counts = np.full((3, 4, 5), round(gy / 0.001), dtype=np.uint32)
    return factory.rt_dose(path, counts, summation=summation)


def test_the_prescription_comes_from_the_beam_doses_when_the_plan_states_none(tmp_path: Path) -> None:
    """(1.8 + 1.8 + 1.9) Gy × 5 = 27.5 Gy, recorded as coming from BeamDose; a given prescription wins
    over it; a TargetPrescriptionDose (45 Gy) is used as it stands, and a given prescription that
    contradicts it (30 Gy) is refused rather than silently overridden."""
    plan = read_rt_plan(_beam_plan(tmp_path / "rp.dcm"))
    assert plan.prescription_gy == pytest.approx(27.5) and plan.prescription_source == "BeamDose"
    assert plan.prescribed_gy is None
    rx, source = plausibility_prescription(plan)
    assert rx == pytest.approx(27.5) and source.startswith("BeamDose (300A,0084)")
    assert plausibility_prescription(plan, 30.0) == (30.0, "--prescription-gy")
    stated = read_rt_plan(factory.rt_plan(tmp_path / "rp45.dcm"))
    assert plausibility_prescription(stated) == (45.0, "TargetPrescriptionDose (300A,0026)")
    assert plausibility_prescription(stated, 45.0) == (45.0, "TargetPrescriptionDose (300A,0026)")
    with pytest.raises(InputError, match=r"45 Gy .* but --prescription-gy gives 30 Gy"):
        plausibility_prescription(stated, 30.0)


def test_a_plan_without_any_prescription_is_refused_asking_for_it(tmp_path: Path) -> None:
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm", prescriptions_gy=()))
    with pytest.raises(InputError, match="--prescription-gy"):
        plausibility_prescription(plan)


@pytest.mark.parametrize("stored_gy, summation, reading, code", [
    # Pinnacle FRACTION file holding the plan total (max 30.25 Gy) read per-fraction: × 5 = 151.25 Gy
    # > 3 × 27.5 = 82.5 Gy (the reported D95 132 Gy case).
    (30.25, "FRACTION", "per-fraction", "dose-maximum-far-above-prescription"),
    # one fraction (6.05 Gy) read as the total: 6.05 < 0.9 × 27.5 = 24.75 Gy (the unsafe direction).
    (6.05, "FRACTION", "total", "dose-maximum-below-prescription"),
])
def test_an_implausible_fraction_reading_is_refused_both_ways(tmp_path: Path, stored_gy: float,
                                                              summation: str, reading: str,
                                                              code: str) -> None:
    plan = read_rt_plan(_beam_plan(tmp_path / "rp.dcm"))
    path = _uniform_dose(tmp_path / "rd.dcm", stored_gy, summation)
    grid = read_rt_dose(path, n_fractions=5, fraction_summation=reading)
    findings = check_dose_against_plan(read_rt_dose_info(path), grid, plan)
    assert [(f.code, f.severity) for f in findings] == [(code, "stop")]
    assert "BeamDose" in findings[0].message


def test_the_correct_reading_passes(tmp_path: Path) -> None:
    """The total (30.25 Gy = 1.1 × 27.5) read as a total: within 0.9 × … 3 ×, no finding."""
    plan = read_rt_plan(_beam_plan(tmp_path / "rp.dcm"))
    path = _uniform_dose(tmp_path / "rd.dcm", 30.25, "FRACTION")
    grid = read_rt_dose(path, n_fractions=5, fraction_summation="total")
    assert check_dose_against_plan(read_rt_dose_info(path), grid, plan) == ()


def test_evaluate_refuses_the_reported_pinnacle_reading(tmp_path: Path, capsys: Any) -> None:
    """The reported case end to end: a FRACTION dose holding the plan total (30 Gy everywhere) of a
    plan without TargetPrescriptionDose (BeamDose 2 + 2 + 2 Gy × 5 = 30 Gy), read with
    --fraction-dose per-fraction: 150 Gy > 3 × 30 Gy, refused (exit 2). Read as a total it is evaluated
    and the source of the check is recorded."""
    f = _case(tmp_path)
    plan = str(_beam_plan(tmp_path / "rp_new.dcm", (2.0, 2.0, 2.0), sop_uid=NEW_UID))
    counts = np.full((12, 24, 24), round(30.0 / 1e-4), dtype=np.uint32)
    dose = str(factory.rt_dose(tmp_path / "rd_fraction.dcm", counts, scaling="0.0001",
                               ipp=(-57.5, -57.5, -27.5), pixel_spacing=(5.0, 5.0),
                               offsets=[5.0 * k for k in range(12)], summation="FRACTION", plan_uid=NEW_UID))
    args = [*_evaluate_args(f, f["rs"], tmp_path, new_dose=dose), "--new-plan", plan]
    code, text = _cli([*args, "--fraction-dose", "per-fraction"], capsys)
    assert code == 2 and "150.00 Gy is above 3 x" in text and "BeamDose" in text
    code, text = _cli([*args, "--fraction-dose", "total", "--prescription-gy", "30"], capsys)
    assert code in (0, 3), text
    sources = [d["message"] for d in json.loads((tmp_path / "result.json").read_text())["dicom_findings"]
               if d["code"] == "prescription-source" and d["message"].startswith("new plan")]
    assert len(sources) == 1 and "30.00 Gy from --prescription-gy" in sources[0]



@pytest.mark.parametrize("reading", ["total", "per-fraction"])
def test_fraction_reading_with_no_fraction_dose_is_refused(tmp_path: Path, capsys: Any, reading: str) -> None:
    """--fraction-dose reads FRACTION doses alone. Given with the prior and new doses both PLAN (the
    factory's), it was unused without a word (a hostile-input review's item): whoever gave it took a
    dose for a fraction's that its file says is a plan total. Refused (exit 2), naming each dose's
    DoseSummationType and the fix; no result is written. Without the option the same case is evaluated."""
    f = _case(tmp_path)
    args = [*_evaluate_args(f, f["rs"], tmp_path), "--prescription-gy", "30"]
    code, text = _cli([*args, "--fraction-dose", reading], capsys)
    assert code == 2, text
    assert f"--fraction-dose {reading} reads RT Doses whose DoseSummationType is FRACTION" in text
    assert "the new dose rd_new.dcm: PLAN; prior dose 1 rd_prior.dcm: PLAN" in text
    assert "Remove --fraction-dose" in text and "Traceback" not in text
    assert not (tmp_path / "result.json").exists()
    code, text = _cli(args, capsys)
    assert code in (0, 3), text

# -- defect 3: stop and flag findings on the console; no OAR matched ---------------------------------


def test_the_console_summary_shows_every_flag_and_stop() -> None:
    """A prior-dose-does-not-cover-oar flag (per OAR) and a DICOM flag are printed for an evaluated
    run; a stopped run prints its stop findings and the flags too."""
    flag = {"code": "prior-dose-does-not-cover-oar", "severity": "flag", "subject": "bladder",
            "message": "prior-1: 12.0 % of Bladder lies outside the prior dose grid"}
    dicom = {"code": "contour-skipped", "severity": "flag", "subject": "Bladder",
             "message": "skipped z = 9 mm"}
    evaluated = {"status": "evaluated", "oar_limits_met": True,
                 "oars": [{"name": "bladder", "findings": [flag]}], "dicom_findings": [dicom]}
    text = summary(evaluated)
    assert "prior-dose-does-not-cover-oar" in text and "contour-skipped" in text
    stop = {"code": "no-oar-matched", "severity": "stop", "subject": "structures", "message": "nothing"}
    stopped = {"status": "stopped", "reason": "stop", "stop_findings": [stop], "dicom_findings": [dicom]}
    text = summary(stopped)
    assert "no-oar-matched" in text and "contour-skipped" in text


def test_no_protocol_oar_matched_is_a_stop_no_override_lifts(tmp_path: Path, capsys: Any) -> None:
    """Only the PTV matches nothing of the protocol: not "evaluated" with an empty table, but exit 2 with
    the no-oar-matched stop, with or without --override-eligibility."""
    f = _case(tmp_path)
    rs = str(factory.rt_struct(tmp_path / "rs_renamed.dcm", _small_rois(rename=True)))
    for extra in ([], ["--override-eligibility", "test: structures named locally"]):
        code, text = _cli([*_evaluate_args(f, rs, tmp_path), "--prescription-gy", "30", *extra], capsys)
        assert code == 2 and "no-oar-matched" in text and text.startswith("STOPPED")
        result = json.loads((tmp_path / "result.json").read_text())
        assert result["status"] == "stopped" and "oar_limits_met" not in result
    with pytest.raises(EligibilityError, match="cannot lift"):
        apply_gate([Finding("no-oar-matched", "stop", "nothing matched")], "a reason")


# -- defect 6: files without preamble / File Meta -----------------------------------------------------


def _strip_file_meta(path: Path) -> Path:
    """Rewrite ``path`` as a bare data set, implicit VR little endian, no preamble, no File Meta."""
    ds = pydicom.dcmread(str(path))
    del ds.file_meta
    ds.preamble = None
    if int(pydicom.__version__.split(".")[0]) >= 3:
        ds.save_as(str(path), implicit_vr=True, little_endian=True)
    else:
        ds.is_little_endian, ds.is_implicit_VR = True, True
        ds.save_as(str(path), write_like_original=True)
    assert path.read_bytes()[128:132] != b"DICM"
    return path


def test_a_plan_without_file_meta_is_read_and_flagged(tmp_path: Path) -> None:
    """CMS Monaco: an RT Plan data set without preamble/File Meta is read (45 Gy / 25 as written)."""
    path = _strip_file_meta(factory.rt_plan(tmp_path / "rp.dcm"))
    plan = read_rt_plan(path)
    assert plan.prescription_gy == 45.0 and plan.n_fractions_planned == 25
    assert lacks_file_meta(path) and not lacks_file_meta(factory.rt_plan(tmp_path / "rp_ok.dcm"))


def test_evaluate_flags_a_structure_set_without_file_meta(tmp_path: Path, capsys: Any) -> None:
    f = _case(tmp_path)
    rs = str(_strip_file_meta(Path(f["rs"])))
    code, text = _cli([*_evaluate_args(f, rs, tmp_path), "--prescription-gy", "30"], capsys)
    assert code in (0, 3), text
    codes = [d["code"] for d in json.loads((tmp_path / "result.json").read_text())["dicom_findings"]]
    assert "dicom-file-nonconformant" in codes and "dicom-file-nonconformant" in text


def test_a_bare_data_set_of_another_kind_or_a_text_file_is_refused_clearly(tmp_path: Path) -> None:
    ct = _strip_file_meta(factory.ct_slice(tmp_path / "ct.dcm", ipp=(0.0, 0.0, 0.0)))
    with pytest.raises(InputError, match="not a DICOM file") as refused:
        read_rt_plan(ct)
    assert "force" not in str(refused.value)
    text = tmp_path / "notes.txt"
    text.write_text("dose 45 Gy in 25 fractions\n" * 20)
    with pytest.raises(InputError, match="not a DICOM file") as refused:
        read_rt_plan(text)
    assert "force" not in str(refused.value)
    no_label = _strip_file_meta(factory.rt_plan(tmp_path / "rp.dcm", omit=("RTPlanLabel",)))
    with pytest.raises(InputError, match="RTPlanLabel"):
        read_rt_plan(no_label)


# -- defect 7: one override semantics for fractions ---------------------------------------------------


def test_a_plan_in_other_fractions_is_refused_whatever_the_override(tmp_path: Path, capsys: Any) -> None:
    """A 7-fraction new plan with the 5-fraction protocol: refused (exit 2) before evaluation, with the
    override as without it; the engine's gate agrees (not lifted by a reason)."""
    f = _case(tmp_path)
    rp = str(factory.rt_plan(tmp_path / "rp_new.dcm", n_fractions=7, prescriptions_gy=(30.0,),
                             sop_uid=NEW_UID))
    args = [*_evaluate_args(f, f["rs"], tmp_path), "--new-plan", rp]
    for extra in ([], ["--override-eligibility", "clinical decision"]):
        code, text = _cli(args + extra, capsys)
        assert code == 2 and "7 fractions" in text and "does not lift" in text
    with pytest.raises(EligibilityError, match="cannot lift"):
        apply_gate([Finding("fractionation-not-in-protocol", "stop", "7 fractions")], "a reason")


# -- defect 8: a CT needs two slices -------------------------------------------------------------------


def test_a_single_ct_slice_is_refused_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    folder.mkdir()
    factory.ct_slice(folder / "ct0.dcm", ipp=(0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="at least 2 slices"):
        read_ct_geometry(str(folder))
    factory.ct_slice(folder / "ct1.dcm", ipp=(0.0, 0.0, 2.0))
    assert read_ct_geometry(str(folder)).size == (10, 8, 2)
