"""Prior brachytherapy from DICOM: the brachytherapy RT Plan reader (PS3.3 C.8.8.15 RT Brachy Application
Setups, C.8.8.13 Fraction Scheme) and ``reirrad evaluate`` with an external-beam and an HDR prior.

The evaluation runs on the stub patient GYN-BT-01 exported to synthetic DICOM: cervix EBRT 45 Gy/25
(last fraction 745 days before the new course) and HDR 7 Gy × 4 (732 days), both prior courses in the
planning frame, and the new plan the TPS-less workflow optimised (limit-toxicity, 30 Gy/5). The stand-in's
HDR dose is 28 Gy on and inside 30 mm of the tandem, which rectum and bladder reach, and the EBRT dose
45 Gy deep inside the pelvic box, so at their D0.5cc (α/β 3, limit 80 Gy, 50 % recovery each):
EQD2 = 45·(1.8 + 3)/5 = 43.2 Gy and 28·(7 + 3)/5 = 56 Gy, effective 21.6 + 28 = 49.6 Gy, remaining
30.4 Gy, allowed in 5 fractions d = (−3 + √(9 + 4·30.4))/2 = 4.2140 Gy, D = 21.07 Gy; the cumulative EQD2
(metric sum) is 49.6 Gy + D_new·(D_new/5 + 3)/5 for the new plan's physical D0.5cc D_new.
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
from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.workflow import WorkflowOptions, run
from reirrad_tps.dicom import read_rt_dose_info, read_rt_plan
from reirrad_tps.dicom.checks import check_dose_against_plan
from tests.plugin.dicom import factory
from tps_stubs.direct import DirectCase, DirectPlanner

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
SCALE_GY = 1e-4
EBRT_UID = "1.2.826.0.1.3680043.8.498.2201"
HDR_UID = "1.2.826.0.1.3680043.8.498.2202"
NEW_UID = "1.2.826.0.1.3680043.8.498.2203"


def test_hdr_plan_fields(tmp_path: Path) -> None:
    """BrachyTreatmentType HDR, 4 fractions, BrachyApplicationSetupDose 7 Gy per fraction: modality
    brachytherapy, prescription 4 × 7 = 28 Gy from the setup dose."""
    plan = read_rt_plan(factory.brachy_rt_plan(tmp_path / "rp.dcm"))
    assert (plan.modality, plan.brachy_treatment_type) == ("brachytherapy", "HDR")
    assert plan.brachy_setup_doses_gy == (7.0,)
    assert plan.require_n_fractions() == 4
    assert (plan.prescription_gy, plan.prescription_source) == (28.0, "BrachyApplicationSetupDose")


def test_target_prescription_dose_wins_and_setups_are_not_summed(tmp_path: Path) -> None:
    """A TargetPrescriptionDose (a total) is the prescription; two setups at 7 and 6.5 Gy per fraction
    give 4 × 7 = 28 Gy (the highest, not the sum: their specification points may differ)."""
    plan = read_rt_plan(factory.brachy_rt_plan(tmp_path / "a.dcm", target_prescriptions_gy=(27.0,)))
    assert (plan.prescription_gy, plan.prescription_source) == (27.0, "TargetPrescriptionDose")
    plan = read_rt_plan(factory.brachy_rt_plan(tmp_path / "b.dcm", setup_doses_gy=(7.0, 6.5)))
    assert plan.brachy_setup_doses_gy == (7.0, 6.5) and plan.prescription_gy == 28.0


def test_external_plans_are_external(tmp_path: Path) -> None:
    plan = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm"))
    assert (plan.modality, plan.brachy_treatment_type, plan.prescription_source) == (
        "external", None, "TargetPrescriptionDose")


@pytest.mark.parametrize("kind", ["PDR", "LDR", "MDR", "MANUAL", None])
def test_only_hdr_is_converted(tmp_path: Path, kind: Any) -> None:
    """Pulsed, low and medium dose rate (and an unknown type) need a dose-rate model: refused when the
    fractions are asked for, naming the attribute."""
    plan = read_rt_plan(factory.brachy_rt_plan(tmp_path / "rp.dcm", treatment_type=kind))
    assert plan.modality == "brachytherapy"
    with pytest.raises(InputError, match=r"BrachyTreatmentType \(300A,0202\)"):
        plan.require_n_fractions()


def test_a_non_positive_setup_dose_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"BrachyApplicationSetupDose \(300A,00A4\)"):
        read_rt_plan(factory.brachy_rt_plan(tmp_path / "rp.dcm", setup_doses_gy=(0.0,)))


def test_a_hot_spot_is_not_flagged_for_brachytherapy(tmp_path: Path) -> None:
    """A maximum of 10 × the prescription next to the dwell positions is normal for brachytherapy (no
    finding) and a stop for an external-beam plan."""
    counts = np.full((2, 3, 3), 28.0 / SCALE_GY, dtype=np.uint32)
    counts[0, 1, 1] = round(280.0 / SCALE_GY)
    rd_bt = factory.rt_dose(tmp_path / "rd_bt.dcm", counts, scaling=str(SCALE_GY))
    grid = DoseGrid(counts * SCALE_GY, (0.0, 0.0, 0.0), (2.0, 2.0, 2.5))
    hdr = read_rt_plan(factory.brachy_rt_plan(tmp_path / "rp_bt.dcm"))
    assert check_dose_against_plan(read_rt_dose_info(rd_bt), grid, hdr) == ()
    ebrt = read_rt_plan(factory.rt_plan(tmp_path / "rp.dcm", prescriptions_gy=(28.0,), n_fractions=4))
    found = [(f.code, f.severity) for f in check_dose_against_plan(read_rt_dose_info(rd_bt), grid, ebrt)]
    assert found == [("dose-maximum-far-above-prescription", "stop")]


# -- reirrad evaluate on GYN-BT-01 -----------------------------------------------------------------------

def _dose(path: Path, grid: Any, *, frame: str, plan_uid: str) -> str:
    return factory.rt_dose_of_grid(path, grid, frame_uid=frame, plan_uid=plan_uid, scale_gy=SCALE_GY)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: Any) -> Dict[str, Any]:
    """GYN-BT-01 as DICOM: planning structures, the EBRT and HDR priors (dose + plan), the new plan."""
    out = tmp_path_factory.mktemp("gynbt01")
    case = DirectCase("GYN-BT-01")
    snapshot = case.read()
    planned = run(PROTOCOL, snapshot, DirectPlanner(case), WorkflowOptions(intent="limit-toxicity"))
    frame = snapshot.planning_frame_of_reference_uid
    ebrt, hdr = snapshot.prior_courses
    assert (ebrt.modality, hdr.modality) == ("external", "brachytherapy")
    rois = factory.rois_of_snapshot(snapshot)
    files = {
        "rs": str(factory.rt_struct(out / "rs.dcm", rois, frame_uid=frame)),
        "rp_ebrt": str(factory.rt_plan(out / "rp_ebrt.dcm", n_fractions=25, prescriptions_gy=(45.0,),
                                       sop_uid=EBRT_UID, frame_uid=frame)),
        "rd_ebrt": _dose(out / "rd_ebrt.dcm", ebrt.dose, frame=frame, plan_uid=EBRT_UID),
        "rp_hdr": str(factory.brachy_rt_plan(out / "rp_hdr.dcm", n_fractions=4, setup_doses_gy=(7.0,),
                                             sop_uid=HDR_UID, frame_uid=frame)),
        "rd_hdr": _dose(out / "rd_hdr.dcm", hdr.dose, frame=frame, plan_uid=HDR_UID),
        "rp_new": str(factory.rt_plan(out / "rp_new.dcm", n_fractions=5, prescriptions_gy=(30.0,),
                                      sop_uid=NEW_UID, label="SABR_SIDEWALL", frame_uid=frame)),
        "rd_new": _dose(out / "rd_new.dcm", planned.final_dose, frame=frame, plan_uid=NEW_UID),
    }
    return {"files": files, "planned": planned}


def _evaluate(args: List[str], out: Path, capsys: Any) -> Dict[str, Any]:
    path = out / "result.json"
    code = cli.main(["evaluate", *args, "--json", str(path)])
    text = capsys.readouterr()
    assert code == 0, text.out + text.err
    return json.loads(path.read_text())


def test_evaluate_with_an_ebrt_and_an_hdr_prior(exported, tmp_path, capsys):
    """Two priors, each with its own plan, fractions and interval: per-course EQD2, recovery and the
    cumulative EQD2 of rectum and bladder as in the module docstring; the modality is in the provenance."""
    f = exported["files"]
    result = _evaluate(["--structures", f["rs"], "--prior-dose", f["rd_ebrt"], "--prior-plan", f["rp_ebrt"],
                        "--prior-dose", f["rd_hdr"], "--prior-plan", f["rp_hdr"], "--interval-days", "745",
                        "--interval-days", "732", "--new-dose", f["rd_new"], "--new-plan", f["rp_new"]],
                       tmp_path, capsys)
    assert result["status"] == "evaluated" and result["oar_limits_met"] is True
    priors = result["provenance"]["prior_courses"]
    assert [(c["modality"], c["n_fractions"], c["prescription_gy"], c["interval_days"]) for c in priors] == [
        ("external", 25, 45.0, 745), ("brachytherapy", 4, 28.0, 732)]
    assert not [d for d in result["dicom_findings"] if d["severity"] != "info"]
    oars = {o["name"]: o for o in result["oars"]}
    for key in ("rectum", "bladder"):
        o = oars[key]
        ebrt, hdr = o["courses"]
        assert (ebrt["n_fractions"], hdr["n_fractions"]) == (25, 4)
        assert ebrt["eqd2_gy"] == pytest.approx(43.2, abs=1e-3)
        assert hdr["eqd2_gy"] == pytest.approx(56.0, abs=1e-3)
        assert ebrt["recovered_fraction"] == hdr["recovered_fraction"] == 0.5
        assert o["effective_prior_eqd2_gy"] == pytest.approx(49.6, abs=1e-3)
        assert o["allowed_physical_gy"] == pytest.approx(21.07, abs=1e-2)
        new = o["planned_physical_gy"]
        assert o["cumulative_eqd2_metric_sum_gy"] == pytest.approx(49.6 + new * (new / 5 + 3) / 5, abs=1e-3)
    truth = {o.oar: o for o in exported["planned"].final.oars}
    for key, o in oars.items():
        assert o["cumulative_eqd2_gy"] == pytest.approx(truth[key].cumulative_eqd2_gy, abs=0.05), key
