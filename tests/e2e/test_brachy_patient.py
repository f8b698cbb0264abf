"""The brachytherapy stub patient GYN-BT-01 planned end to end: cervix EBRT 45 Gy/25 and HDR 7 Gy × 4 as two
prior plans of one course, right side-wall recurrence 24 months later.

Hand computation (docs/reference/radiobiology.md §1.6; α/β 3 Gy, cumulative limit D0.5cc 80 Gy EQD2 for
rectum and bladder, ``uk-guidance`` recovery): the EBRT plan ended 745 days (24.5 months) and the HDR plan
732 days (24.0 months) before the planned start 2026-12-21, both above 18 months: 50 % each. At D0.5cc
both organs are deep inside the EBRT box (45 Gy) and reach inside the HDR prescription surface (28 Gy):

* EQD2 EBRT = 45·(1.8 + 3)/(2 + 3) = 43.2 Gy; EQD2 HDR = 28·(7 + 3)/(2 + 3) = 56 Gy; prior 99.2 Gy;
* effective = 0.5·43.2 + 0.5·56 = 49.6 Gy; remaining = 80 − 49.6 = 30.4 Gy;
* allowed in 5 fractions: d² + 3d − 30.4 = 0 → d = (−3 + √130.6)/2 = 4.2140 Gy, D = 21.07 Gy (de novo
  rectum 32 Gy, bladder 38 Gy: the cumulative limit binds);
* cumulative EQD2 by the metric sum = 49.6 Gy + D_new·(D_new/5 + 3)/5, D_new the new plan's D0.5cc.

The TPS-less direct stand-in and the Eclipse adapter (a ``BrachyPlanSetup`` in the ESAPI stand-in)
record the HDR plan's modality; through the RayStation stand-in the same numbers must come out whatever
the adapter calls the plan (the HDR plan must be read as a prior course with its own 4 fractions).
"""

from __future__ import annotations

from typing import Any, Dict

import pytest

from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.workflow import WorkflowOptions, run
from tps_stubs.direct import DirectCase, DirectPlanner
from tps_stubs.patients import load_patient

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
PATIENT = "GYN-BT-01"


def _check_hand_numbers(result: Dict[str, Any]) -> None:
    courses = result["provenance"]["prior_courses"]
    assert [(c["course"].split("/")[-1], c["n_fractions"], c["interval_days"]) for c in courses] == [
        ("PELVIS_45", 25, 745), ("HDR_7x4", 4, 732)]
    oars = {o["name"]: o for o in result["oars"]}
    for key in ("rectum", "bladder"):
        o = oars[key]
        ebrt, hdr = o["courses"]
        assert ebrt["eqd2_gy"] == pytest.approx(43.2, abs=1e-4), key
        assert hdr["eqd2_gy"] == pytest.approx(56.0, abs=1e-4), key
        assert ebrt["recovered_fraction"] == hdr["recovered_fraction"] == 0.5
        assert o["prior_eqd2_gy"] == pytest.approx(99.2, abs=1e-4)
        assert o["effective_prior_eqd2_gy"] == pytest.approx(49.6, abs=1e-4)
        assert o["remaining_eqd2_gy"] == pytest.approx(30.4, abs=1e-4)
        assert o["allowed_physical_gy"] == pytest.approx(21.07, abs=1e-2)
        assert o["limited_by"] == "cumulative"
        new = o["planned_physical_gy"]
        assert o["new_eqd2_gy"] == pytest.approx(new * (new / 5 + 3) / 5, abs=1e-9)
        assert o["cumulative_eqd2_metric_sum_gy"] == pytest.approx(49.6 + new * (new / 5 + 3) / 5, abs=1e-4)
        assert o["passed"] is True


def test_the_patient_definition():
    """Two prior plans of one course, the HDR one marked brachytherapy, 4 fractions of 7 Gy, no beams."""
    patient = load_patient(PATIENT)
    ebrt, hdr = patient.prior_plans()
    assert (ebrt.modality, ebrt.n_fractions, ebrt.prescription_gy) == ("external", 25, 45.0)
    assert (hdr.modality, hdr.n_fractions, hdr.prescription_gy, hdr.beams) == ("brachytherapy", 4, 28.0, ())
    assert ebrt.course_id == hdr.course_id == "C1_CERVIX"
    assert float(hdr.dose.values_gy.max()) == 28.0


def test_direct_stand_in_plans_with_hand_checked_cumulative_eqd2():
    """The TPS-less stand-in: planned, the hand numbers of the module docstring, modality recorded."""
    case = DirectCase(PATIENT)
    snapshot = case.read()
    assert [c.modality for c in snapshot.prior_courses] == ["external", "brachytherapy"]
    result = build_result(run(PROTOCOL, snapshot, DirectPlanner(case), WorkflowOptions()))
    assert result["status"] == "planned"
    assert [c["modality"] for c in result["provenance"]["prior_courses"]] == ["external", "brachytherapy"]
    _check_hand_numbers(result)


@pytest.mark.parametrize(("tps", "version"), [("raystation-stub", "2024B"), ("eclipse-stub", "15.6")])
def test_tps_stand_ins_give_the_same_hand_checked_numbers(tps, version):
    """Through each TPS stand-in and its adapter: the HDR plan is a prior course with its own fractions
    and interval, and rectum and bladder have the hand-computed tolerances."""
    from reirrad_tps.planrun import run_on_stub  # noqa: PLC0415 - loads a stand-in

    outcome = run_on_stub(tps, version, PATIENT, PROTOCOL, WorkflowOptions())
    assert outcome.result["status"] == "planned"
    _check_hand_numbers(outcome.result)
    if tps == "eclipse-stub":  # a BrachyPlanSetup in the ESAPI stand-in, recorded as such by the adapter
        modalities = [c["modality"] for c in outcome.result["provenance"]["prior_courses"]]
        assert modalities == ["external", "brachytherapy"]
