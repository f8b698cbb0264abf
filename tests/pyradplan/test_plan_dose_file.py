"""The RT Dose content kind the backend writes (``plan-dose``): a new plan's physical TOTAL dose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad_tps.dicom import PatientStudy, RtPlanInfo, read_rt_dose, write_rt_dose
from reirrad_tps.dicom.write import dose_comment

FRAME = "1.2.826.0.1.3680043.8.498.7801"


def _plan() -> RtPlanInfo:
    who = PatientStudy(patient_id="LRRC-02", patient_name="STUB^LRRC", study_instance_uid="1.2.3.4")
    return RtPlanInfo(path="the pyRadPlan plan (not written)", sop_instance_uid="1.2.3.4.5",
                      sop_class_uid="1.2.840.10008.5.1.4.1.1.481.5", label="SABR", name="reirrad",
                      patient_id="LRRC-02", frame_of_reference_uid=FRAME, n_fractions_planned=5,
                      n_fraction_groups=1, prescription_gy=None, target_prescriptions_gy=(),
                      referenced_structure_set_uid=None, plan_date=None, approval_status="UNAPPROVED",
                      patient_study=who)


def test_a_plan_dose_round_trips_as_physical_total_gy(tmp_path: Path) -> None:
    values = np.arange(24, dtype=float).reshape(2, 3, 4) * 1.75
    grid = DoseGrid(values, (-10.0, -5.0, 0.0), (5.0, 5.0, 5.0), frame_of_reference_uid=FRAME)
    written = write_rt_dose(tmp_path / "RD.dcm", grid, content="plan-dose", source=_plan(), label="pyRadPlan",
                            n_fractions=5)
    assert written.dose_type == "PHYSICAL"
    assert written.dose_comment == "reirrad plan dose pyRadPlan, physical Gy in 5 fx"
    back = read_rt_dose(written.path)
    assert back.same_geometry(grid)
    np.testing.assert_allclose(back.values_gy, values, atol=1e-6)


def test_a_plan_dose_needs_its_fractions() -> None:
    grid = DoseGrid(np.ones((1, 1, 1)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="'plan-dose' needs n_fractions"):
        dose_comment("plan-dose", grid)
