"""The DICOM form of ``reirrad plan --tps pyradplan``: a stub patient exported as a CT series (water in the
body, bone in the femoral heads, air around), an RT Struct and its prior course (RT Dose + RT Plan),
planned by pyRadPlan on a coarse grid on the CT's own numbers (needs pyRadPlan and pydicom:
``make pytest-pyradplan``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from reirrad import cli
from reirrad_tps.pyradplan.phantom import build_volume
from tests.pyradplan.support import require_pyradplan

PRIOR_UID = "1.2.826.0.1.3680043.8.498.7701"
STEP = 7.5


@pytest.fixture(scope="module")
def exported(tmp_path_factory: Any) -> Dict[str, str]:
    """LRRC-02 as DICOM: a CT series on the 7.5 mm grid, the structures, the prior SCRT dose and plan."""
    require_pyradplan()
    pytest.importorskip("pydicom")
    from tests.plugin.dicom import factory  # noqa: PLC0415 - pydicom
    from tps_stubs.direct import DirectCase  # noqa: PLC0415

    out = tmp_path_factory.mktemp("lrrc02-dicom")
    snapshot = DirectCase("LRRC-02", dose_spacing_mm=STEP).read()
    frame = snapshot.planning_frame_of_reference_uid
    grid = snapshot.dose_grid
    assert np.allclose(grid.direction, np.eye(3))
    nz, ny, nx = grid.shape
    ct = out / "ct"
    ct.mkdir()
    ox, oy, oz = grid.origin_mm
    hu = build_volume(grid, snapshot.structures, "PTV").hu  # the synthetic CT, written as the CT's pixels
    for k in range(nz):
        pixels = (hu[k].astype(np.int32) + 1024).astype("<i2").tobytes()  # RescaleIntercept -1024
        factory.ct_slice(ct / f"ct{k:03d}.dcm", ipp=(ox, oy, oz + k * STEP), pixel_spacing=(STEP, STEP),
                         rows=ny, columns=nx, frame_uid=frame, extra={"PixelData": pixels})
    np.save(out / "hu.npy", hu)
    (prior,) = snapshot.prior_courses
    return {
        "ct": str(ct),
        "rs": str(factory.rt_struct(out / "rs.dcm", factory.rois_of_snapshot(snapshot), frame_uid=frame)),
        "rp": str(factory.rt_plan(out / "rp_prior.dcm", n_fractions=5, prescriptions_gy=(25.0,),
                                  sop_uid=PRIOR_UID, frame_uid=frame, label="PELVIS_25")),
        "rd": factory.rt_dose_of_grid(out / "rd_prior.dcm", prior.dose, frame_uid=frame, plan_uid=PRIOR_UID),
        "out": str(out / "plan"),
        "hu": str(out / "hu.npy"),
    }


def test_the_ct_numbers_are_read_onto_the_planning_grid(exported: Dict[str, str]) -> None:
    from reirrad_tps.pyradplan.ctpixels import ct_numbers_on  # noqa: PLC0415
    from reirrad_tps.pyradplan.phantom import canonical_grid  # noqa: PLC0415
    from tps_stubs.direct import DirectCase  # noqa: PLC0415

    grid = canonical_grid(DirectCase("LRRC-02", dose_spacing_mm=STEP).read().dose_grid)
    hu = ct_numbers_on(exported["ct"], grid)
    np.testing.assert_array_equal(hu, np.load(exported["hu"]))
    assert {int(v) for v in np.unique(hu)} == {-1000, 0, 400}


def test_a_dicom_case_is_planned_and_its_rt_dose_written(exported: Dict[str, str], capsys: Any) -> None:
    from reirrad_tps.dicom import read_rt_dose, read_rt_dose_info  # noqa: PLC0415

    code = cli.main(["plan", "--tps", "pyradplan", "--ct", exported["ct"], "--structures", exported["rs"],
                     "--prior-dose", exported["rd"], "--prior-plan", exported["rp"], "--interval-days", "427",
                     "--intent", "isotoxic", "--dose-grid-mm", str(STEP), "--beams", "5",
                     "--out", exported["out"]])
    printed = capsys.readouterr()
    assert code in (0, 3), printed.err
    out = Path(exported["out"])
    result = json.loads((out / "result.json").read_text())
    assert result["status"] in ("planned", "coverage-compromised", "final-check-failed", "infeasible")
    assert result["provenance"]["tps"] == "pyradplan"
    assert result["pyradplan"]["body_structure"] == "External"
    assert result["pyradplan"]["ct"] == "CT numbers" and result["pyradplan"]["bone_structures"] == []
    assert len(result["pyradplan"]["optimisation_s"]) == result["optimisations"]["count"]
    assert "dicom_findings" in result
    rd = out / "RD_reirrad.dcm"
    info = read_rt_dose_info(rd)
    assert info.patient_id == "REIRR-01"
    dose = read_rt_dose(rd)
    assert dose.values_gy.max() >= result["prescription_gy"]  # a SABR plan's maximum is above the Rx
