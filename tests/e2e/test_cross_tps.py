"""The same stub patient through the Eclipse and the RayStation stand-ins gives the same engine results
(issue 6): remaining tolerances within 0.1 Gy and the same chosen prescription.

Source of truth: both adapters read the same neutral patient (tps_stubs.patients), in each TPS's own
units and conventions; any unit, per-fraction or grid-convention slip shows up as a difference.
"""

from __future__ import annotations

import pytest

from reirrad.protocol import load_protocol
from reirrad.workflow import WorkflowOptions
from reirrad_tps.planrun import plan_on_stub

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


def _allowed(result):
    return {o["name"]: o["allowed_physical_gy"] for o in result["oars"]}


@pytest.mark.parametrize("patient", ["LRRC-01", "REG-01", "TWO-01", "CGY-01"])
def test_remaining_tolerances_agree(patient):
    """Dry runs: every OAR's allowed dose agrees within 0.1 Gy between the two stand-ins."""
    rs = plan_on_stub("raystation-stub", "2024B", patient, PROTOCOL, WorkflowOptions(dry_run=True))
    ec = plan_on_stub("eclipse-stub", "15.6", patient, PROTOCOL, WorkflowOptions(dry_run=True))
    a, b = _allowed(rs), _allowed(ec)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == pytest.approx(b[name], abs=0.1), name


def test_same_chosen_prescription():
    """LRRC-02 isotoxic: both stand-ins choose the same level; no OAR fails in either, and the same
    OARs (those with prior dose and no cumulative limit) are "not assessable" (passed null) in both."""
    rs = plan_on_stub("raystation-stub", "12A", "LRRC-02", PROTOCOL, WorkflowOptions())
    ec = plan_on_stub("eclipse-stub", "15.6", "LRRC-02", PROTOCOL, WorkflowOptions())
    assert rs["status"] == ec["status"] == "planned"
    assert rs["prescription_gy"] == ec["prescription_gy"]
    assert all(o["passed"] is not False for o in rs["oars"] + ec["oars"])
    assert ({o["name"] for o in rs["oars"] if o["passed"] is None}
            == {o["name"] for o in ec["oars"] if o["passed"] is None})
    assert all(o["passed"] is True for o in rs["oars"] + ec["oars"] if o["cumulative_limit_eqd2_gy"])
