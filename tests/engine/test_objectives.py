"""Objectives from remaining tolerance (reirrad.objectives).

Sources of truth: the rules in the module docstring with the shipped protocol's planning values
(margin 1 Gy, 95 % coverage, maximum 1.3 × Rx), and the closed forms of test_constraints.py.
"""

from __future__ import annotations

import math

import pytest
import yaml

from reirrad.constraints import PriorMetricDose, remaining_tolerance
from reirrad.errors import InputError
from reirrad.objectives import OptimizationObjective, oar_objectives, target_objectives
from reirrad.protocol import PROTOCOL_DIR, load_protocol

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


def test_dv_metric_gives_upper_dvh_in_percent_and_a_max():
    """Small bowel D0.5cc on a 250 cm³ structure: 0.2 %; allowed 28.08 Gy (R = 48.4 Gy₃) → upper at
    27.08 Gy, max at 28.08 Gy; small bowel is the protocol's first OAR → priority 100."""
    tol = remaining_tolerance(PROTOCOL, "small_bowel", [PriorMetricDose(45.0, 25, 730)], 5)
    upper, maximum = oar_objectives(PROTOCOL, tol, "Bowel_Small", 250.0)
    allowed = 5 * (-3 + math.sqrt(202.6)) / 2
    assert (upper.kind, upper.volume_pct) == ("upper", pytest.approx(0.2))
    assert upper.dose_gy == pytest.approx(allowed - 1.0)
    assert (maximum.kind, maximum.dose_gy) == ("max", pytest.approx(allowed))
    assert upper.priority == PROTOCOL.oar("small_bowel").priority.value and upper.oar_key == "small_bowel"


def test_exhausted_oar_gets_zero_dose_objectives():
    """An exhausted OAR (allowed 0 Gy) keeps objectives at 0 Gy (margin floored)."""
    tol = remaining_tolerance(PROTOCOL, "rectum", [PriorMetricDose(90.0, 45, 730)], 5, recovery_model="none")
    assert tol.exhausted
    assert [o.dose_gy for o in oar_objectives(PROTOCOL, tol, "Rectum", 60.0)] == [0.0, 0.0]


def test_priorities_come_from_the_protocol():
    """Issue 14 item 7: the shipped protocol ranks the neural OARs and the bowel above the target
    (its planning.target_priority), and the cord is `hard`; each objective carries its OAR's values."""
    target = target_objectives(PROTOCOL, "PTV", 30.0)[0].priority
    assert target == PROTOCOL.planning.target_priority.value
    for key in ("spinal_cord", "cauda_equina", "sacral_plexus", "small_bowel", "large_bowel", "rectum"):
        tol = remaining_tolerance(PROTOCOL, key, [], 5)
        objectives = oar_objectives(PROTOCOL, tol, key, 200.0)
        assert {o.priority for o in objectives} == {PROTOCOL.oar(key).priority.value}
        assert objectives[0].priority > target, key
        assert all(o.hard == (key == "spinal_cord") for o in objectives)


def test_priority_and_hard_follow_an_edited_protocol(tmp_path):
    """A site's copy that lowers the bladder below the target and marks it hard is followed."""
    raw = yaml.safe_load((PROTOCOL_DIR / "uk-sabr-pelvis-reirradiation.yaml").read_text())
    raw["oars"]["bladder"]["priority"]["value"] = 42.0
    raw["oars"]["bladder"]["hard"] = True
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw))
    site = load_protocol(path)
    tol = remaining_tolerance(site, "bladder", [], 5)
    assert [(o.priority, o.hard) for o in oar_objectives(site, tol, "Bladder", 200.0)] == [(42.0, True)] * 2


def test_target_objectives():
    """Rx 40 Gy: lower 95 % at 40 Gy and max 1.3 × 40 = 52 Gy."""
    lower, maximum = target_objectives(PROTOCOL, "PTV", 40.0)
    assert (lower.kind, lower.dose_gy, lower.volume_pct) == ("lower", 40.0, 95.0)
    assert (maximum.kind, maximum.dose_gy) == ("max", pytest.approx(52.0))


def test_metric_volume_larger_than_structure_is_refused():
    """D0.5cc cannot be expressed on a 0.3 cm³ structure: clear error."""
    tol = remaining_tolerance(PROTOCOL, "rectum", [], 5)
    with pytest.raises(InputError, match=r"needs 0\.5 cm³"):
        oar_objectives(PROTOCOL, tol, "Rectum", 0.3)


def test_objective_validation():
    """Unknown kinds, negative doses and volumes above 100 % are refused."""
    with pytest.raises(InputError, match="kind"):
        OptimizationObjective("PTV", "min", 1.0, 0.0, 1.0, "target")
    with pytest.raises(InputError, match=">= 0"):
        OptimizationObjective("PTV", "max", -1.0, 0.0, 1.0, "target")
    with pytest.raises(InputError, match="<= 100"):
        OptimizationObjective("PTV", "lower", 1.0, 101.0, 1.0, "target")
