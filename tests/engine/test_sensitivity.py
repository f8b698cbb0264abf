"""Sensitivity of the allowed doses to the assumptions (reirrad.sensitivity).

Hand-derived rows (arithmetic in each docstring and in the module docstring), the 18-month step, the
registration margin on an analytic (linear) dose, and properties that must hold for any input.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reirrad.constraints import PriorMetricDose
from reirrad.dose import DoseGrid
from reirrad.errors import InputError, ProtocolError
from reirrad.inputfiles import parse_yaml
from reirrad.protocol import load_protocol, parse_protocol
from reirrad.sensitivity import (
    PARAMETERS,
    registration_increase_gy,
    sensitivity_analysis,
    sensitivity_findings,
)
from reirrad.structures import structure_occupancy

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
BOWEL = {"small_bowel": [PriorMetricDose(45.0, 25, 700)]}


def physical_for(eqd2_remaining: float, alpha_beta: float, n: int = 5) -> float:
    """Closed form: D with D·(1 + D/(n·α/β)) = EQD2·(1 + 2/α/β), positive root (radiobiology.md §1.6)."""
    bed = eqd2_remaining * (1.0 + 2.0 / alpha_beta)
    a = 1.0 / (n * alpha_beta)
    return (-1.0 + math.sqrt(1.0 + 4.0 * a * bed)) / (2.0 * a)


def rows_by_label(analysis, oar: str = "small_bowel") -> Dict[str, float]:
    return {r.label: r.allowed_physical_gy for r in analysis.rows_of(oar)}


def test_small_bowel_alpha_beta_rows_hand_derived():
    """45 Gy/25 at 700 d (> 18 months: 50 % recovered), limit 70 Gy EQD2, the same α/β for both courses.

    α/β 2: EQD2 = 45·(1.8 + 2)/4 = 42.75; remaining 70 − 21.375 = 48.625 → D(1 + D/10) = 97.25 → 26.58 Gy.
    α/β 4: EQD2 = 45·(1.8 + 4)/6 = 43.5; remaining 70 − 21.75 = 48.25 → D(1 + D/20) = 72.375 → 29.34 Gy.
    Baseline α/β 3: 43.2 → remaining 48.4 → 28.08 Gy.
    """
    analysis = sensitivity_analysis(PROTOCOL, BOWEL, 5)
    base = analysis.baseline[0]
    assert base.allowed_physical_gy == pytest.approx(physical_for(70 - 0.5 * 43.2, 3.0))
    assert base.allowed_physical_gy == pytest.approx(28.08, abs=0.005)
    rows = rows_by_label(analysis)
    assert rows["α/β 2 Gy"] == pytest.approx(physical_for(70 - 0.5 * 42.75, 2.0))
    assert rows["α/β 2 Gy"] == pytest.approx(26.58, abs=0.005)
    assert rows["α/β 4 Gy"] == pytest.approx(physical_for(70 - 0.5 * 43.5, 4.0))
    assert rows["α/β 4 Gy"] == pytest.approx(29.34, abs=0.005)
    alpha = [r for r in analysis.rows_of("small_bowel") if r.parameter == "alpha_beta_gy"]
    assert [r.value for r in alpha] == [2.0, 4.0]
    for row in alpha:
        assert row.change_gy == pytest.approx(row.allowed_physical_gy - base.allowed_physical_gy)
        assert row.change_percent == pytest.approx(100 * row.change_gy / base.allowed_physical_gy)


def test_small_bowel_recovery_rows_hand_derived():
    """Recovery 0.3: 70 − 0.7·43.2 = 39.76 → 24.91 Gy; 0 (and 'none'): 70 − 43.2 = 26.8 → 19.45 Gy;
    0.5 = the baseline's 50 % step (change 0)."""
    analysis = sensitivity_analysis(PROTOCOL, BOWEL, 5)
    rows = rows_by_label(analysis)
    assert rows["recovery 30 %"] == pytest.approx(physical_for(70 - 0.7 * 43.2, 3.0))
    assert rows["recovery 30 %"] == pytest.approx(24.91, abs=0.005)
    assert rows["recovery 0 %"] == pytest.approx(physical_for(70 - 43.2, 3.0))
    assert rows["recovery 0 %"] == pytest.approx(19.45, abs=0.005)
    assert rows["no recovery"] == pytest.approx(rows["recovery 0 %"])
    assert rows["recovery 50 %"] == pytest.approx(analysis.baseline[0].allowed_physical_gy)


def test_cautious_conservation_factor_halves_the_credit():
    """Factor 0.5 on the 50 % step credits 25 %: 70 − 0.75·43.2 = 37.6 Gy remaining."""
    analysis = sensitivity_analysis(PROTOCOL, BOWEL, 5)
    row = next(r for r in analysis.rows_of("small_bowel")
               if r.parameter == "conservation_factor" and r.value == 0.5)
    assert row.recovered_fraction == pytest.approx(0.25)
    assert row.allowed_physical_gy == pytest.approx(physical_for(70 - 0.75 * 43.2, 3.0))


def test_interval_step_547_to_548_days_changes_recovery_from_30_to_50_percent():
    """18 months = 547.875 d: 547 d is in the 30 % band, 548 d in the 50 % band (reirrad.recovery)."""
    settings_ = dataclasses.replace(PROTOCOL.sensitivity, interval_tolerance=dataclasses.replace(
        PROTOCOL.sensitivity.interval_tolerance, value=1.0))
    protocol = dataclasses.replace(PROTOCOL, sensitivity=settings_)
    analysis = sensitivity_analysis(protocol, {"small_bowel": [PriorMetricDose(45.0, 25, 547)]}, 5)
    assert analysis.baseline[0].recovered_fraction == pytest.approx(0.3)
    interval = {r.value: r for r in analysis.rows_of("small_bowel") if r.parameter == "interval_days"}
    assert set(interval) == {546.0, 548.0}
    assert interval[546.0].recovered_fraction == pytest.approx(0.3)
    assert interval[548.0].recovered_fraction == pytest.approx(0.5)
    assert interval[548.0].allowed_physical_gy == pytest.approx(physical_for(70 - 0.5 * 43.2, 3.0))
    assert interval[548.0].change_gy > 0
    assert "547 → 548 d" in interval[548.0].label


def test_interval_never_below_zero_and_unknown_interval_noted():
    analysis = sensitivity_analysis(PROTOCOL, {"small_bowel": [PriorMetricDose(45.0, 25, 10)]}, 5)
    row = next(r for r in analysis.rows_of("small_bowel")
               if r.parameter == "interval_days" and r.value == 0.0)
    assert "10 → 0 d" in row.label
    unknown = sensitivity_analysis(PROTOCOL, {"small_bowel": [PriorMetricDose(45.0, 25, None)]}, 5)
    assert not [r for r in unknown.rows if r.parameter == "interval_days"]
    assert any("interval not varied" in n for n in unknown.notes)


def test_model_comparison_matches_the_jones_grant_worked_example():
    """reirrad.constraints' worked example: 45 Gy/25 at 730 d, T = 50 Gy, cautious curve → 23.21 Gy;
    the guidance's 50 % → 28.08 Gy (the same as at 700 d)."""
    analysis = sensitivity_analysis(PROTOCOL, {"small_bowel": [PriorMetricDose(45.0, 25, 730)]}, 5)
    comp = analysis.comparison[0]
    assert comp.jones_grant_cautious_gy == pytest.approx(23.21, abs=0.005)
    assert comp.uk_guidance_gy == pytest.approx(28.08, abs=0.005)
    assert comp.used_model == "uk-guidance"
    assert comp.used_gy == pytest.approx(comp.uk_guidance_gy)
    assert comp.difference_gy == pytest.approx(comp.jones_grant_cautious_gy - comp.uk_guidance_gy)
    assert comp.jones_grant_fitted_gy is not None
    # the fitted curve recovers more than the cautious one (r larger at every t)
    assert comp.jones_grant_fitted_gy > comp.jones_grant_cautious_gy


def test_oar_without_single_course_tolerance_has_no_jones_grant_rows():
    specs = tuple(dataclasses.replace(s, single_course_tolerance_eqd2=None) if s.key == "small_bowel" else s
                  for s in PROTOCOL.oars)
    protocol = dataclasses.replace(PROTOCOL, oars=specs)
    analysis = sensitivity_analysis(protocol, BOWEL, 5)
    assert not [r for r in analysis.rows if r.value == "jones-grant-2014"]
    assert analysis.comparison[0].jones_grant_cautious_gy is None
    assert analysis.comparison[0].difference_gy is None
    assert any("Jones & Grant not evaluated" in n for n in analysis.notes)


def test_alpha_beta_step_never_gives_a_non_positive_alpha_beta():
    step = dataclasses.replace(PROTOCOL.sensitivity.alpha_beta_step, value=2.0)
    protocol = dataclasses.replace(PROTOCOL, sensitivity=dataclasses.replace(PROTOCOL.sensitivity,
                                                                             alpha_beta_step=step))
    analysis = sensitivity_analysis(protocol, {"sacral_plexus": [PriorMetricDose(40.0, 20, 700)]}, 5)
    values = [r.value for r in analysis.rows if r.parameter == "alpha_beta_gy"]
    assert values == [4.0]  # α/β 2 − 2 = 0 is left out
    assert any("not positive" in n for n in analysis.notes)


def test_flag_names_the_sensitive_parameters_and_respects_the_threshold():
    analysis = sensitivity_analysis(PROTOCOL, BOWEL, 5)
    found = sensitivity_findings(analysis, PROTOCOL)
    assert [f.code for f in found] == ["sensitive-decision"]
    assert found[0].severity == "flag" and found[0].subject == "small_bowel"
    assert "recovery" in found[0].message and "α/β" not in found[0].message.split("sensitive to")[1]
    assert sensitivity_findings(analysis, PROTOCOL, limiting=["rectum"]) == []
    loose = dataclasses.replace(PROTOCOL.sensitivity.flag_threshold_percent, value=40.0)
    protocol = dataclasses.replace(PROTOCOL, sensitivity=dataclasses.replace(
        PROTOCOL.sensitivity, flag_threshold_percent=loose))
    assert sensitivity_findings(analysis, protocol) == []  # the largest change is −30.7 %


def test_exhausted_baseline_raised_by_a_row_is_flagged():
    """80 Gy/40 (2 Gy fractions: EQD2 80 Gy at any α/β) at 100 days: under 6 months the guidance credits
    nothing, 80 > 70 Gy, so the baseline allows 0 Gy; the fixed 50 % row leaves 70 − 40 = 30 Gy."""
    limit = PROTOCOL.oar("small_bowel").cumulative_limit.eqd2.value  # 70 Gy
    analysis = sensitivity_analysis(PROTOCOL, {"small_bowel": [PriorMetricDose(80.0, 40, 100)]}, 5)
    assert analysis.baseline[0].allowed_physical_gy == 0.0  # < 6 months: nothing credited, 80 > 70
    rows = rows_by_label(analysis)
    assert rows["recovery 50 %"] == pytest.approx(physical_for(limit - 40.0, 3.0))
    found = sensitivity_findings(analysis, PROTOCOL)
    assert found and "0.00 Gy" in found[0].message


@settings(max_examples=60, deadline=None)
@given(dose=st.floats(0.0, 120.0), n=st.integers(1, 40), days=st.one_of(st.none(), st.floats(0.0, 2000.0)),
       oar=st.sampled_from(PROTOCOL.oar_keys), increase=st.floats(0.0, 10.0))
def test_no_row_is_above_the_de_novo_limit_or_the_per_course_cap(dose, n, days, oar, increase):
    analysis = sensitivity_analysis(PROTOCOL, {oar: [PriorMetricDose(dose, n, days)]}, 5,
                                    registration_increases_gy={oar: [increase]})
    spec = PROTOCOL.oar(oar)
    base = analysis.baseline[0]
    for row in (*analysis.rows, base):
        allowed = row.allowed_physical_gy
        assert 0.0 <= allowed <= spec.de_novo.mandatory.value + 1e-9
        # the per-course cap keeps its EQD2; in Gy it moves with α/β: the other rows share the baseline's
        if base.per_course_limit_physical_gy is not None and getattr(row, "parameter", "") != "alpha_beta_gy":
            assert allowed <= base.per_course_limit_physical_gy + 1e-9
    low, high = analysis.range_gy(oar)
    assert high <= spec.de_novo.mandatory.value + 1e-9 and low >= 0.0
    registration = [r for r in analysis.rows if r.parameter == "registration_margin_mm"]
    assert len(registration) == 1 and registration[0].change_gy <= 1e-9  # more prior dose never allows more


def test_registration_row_adds_the_increase_to_the_metric_dose():
    """+2 Gy on 45 Gy/25: EQD2 = 47·(47/25 + 3)/5 = 45.872 → remaining 70 − 22.936 Gy."""
    analysis = sensitivity_analysis(PROTOCOL, BOWEL, 5, registration_increases_gy={"small_bowel": [2.0]})
    row = next(r for r in analysis.rows if r.parameter == "registration_margin_mm")
    assert row.value == 3.0
    eqd2 = 47.0 * (47.0 / 25 + 3.0) / 5.0
    assert row.allowed_physical_gy == pytest.approx(physical_for(70 - 0.5 * eqd2, 3.0))
    assert "registration margin not evaluated" not in " ".join(analysis.notes)
    with pytest.raises(InputError, match="one finite value"):
        sensitivity_analysis(PROTOCOL, BOWEL, 5, registration_increases_gy={"small_bowel": [1.0, 2.0]})
    with pytest.raises(InputError, match="one finite value"):
        sensitivity_analysis(PROTOCOL, BOWEL, 5, registration_increases_gy={"small_bowel": [-1.0]})


def linear_grid(gradient_gy_per_mm: float, spacing=(1.0, 1.0, 1.0), shape=(20, 30, 40)) -> DoseGrid:
    nx = shape[2]
    x_mm = np.arange(nx) * spacing[0]
    values = np.broadcast_to(10.0 + gradient_gy_per_mm * x_mm, shape).copy()
    return DoseGrid(values, (0.0, 0.0, 0.0), spacing)


def box_contours(x0, x1, y0, y1, zs):
    return [np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float) for z in zs]


@pytest.mark.parametrize("spacing, margin", [((1.0, 1.0, 1.0), 3.0), ((2.0, 1.0, 2.5), 4.0),
                                              ((1.0, 1.0, 1.0), 2.5)])
def test_registration_increase_on_a_linear_gradient_is_the_closed_form(spacing, margin):
    """Dose 10 + g·x (g = 0.5 Gy/mm). The OAR's hottest voxel centre is at its largest x; within r mm the
    hottest centre lies floor(r/sx)·sx further along x, so the increase is g·floor(r/sx)·sx (= g·r when r
    is a multiple of sx)."""
    g = 0.5
    grid = linear_grid(g, spacing)
    zs = [grid.origin_mm[2] + k * spacing[2] for k in range(5, 12)]
    occ = structure_occupancy(box_contours(10.2, 20.3, 8.2, 14.3, zs), grid, name="box",
                              plane_spacing_mm=spacing[2])
    inside_x = np.nonzero((occ.fraction > 0).any(axis=(0, 1)))[0]
    expected = g * math.floor(margin / spacing[0] + 1e-9) * spacing[0]
    assert inside_x.max() + math.floor(margin / spacing[0]) < grid.shape[2]  # not clipped by the grid
    assert registration_increase_gy(grid, occ, margin) == pytest.approx(expected, abs=1e-9)
    assert registration_increase_gy(grid, occ, 0.0) == 0.0


def test_registration_increase_is_clipped_by_the_grid_edge_and_checks_inputs():
    grid = linear_grid(1.0)
    # a box touching the grid's +x edge: nothing hotter within reach
    occ = structure_occupancy(box_contours(35.2, 39.5, 8.2, 14.3, [3.0, 4.0, 5.0]), grid, name="edge",
                              plane_spacing_mm=1.0)
    assert registration_increase_gy(grid, occ, 3.0) == 0.0
    with pytest.raises(InputError, match="registration margin"):
        registration_increase_gy(grid, occ, -1.0)
    other = linear_grid(1.0, shape=(10, 30, 40))
    with pytest.raises(InputError, match="not the dose grid"):
        registration_increase_gy(other, occ, 3.0)


def test_protocol_sensitivity_section_is_read_and_checked():
    assert PROTOCOL.sensitivity.alpha_beta_step.value == 1.0
    assert PROTOCOL.sensitivity.alpha_beta_step.source == "project"
    raw = _raw_protocol()
    del raw["sensitivity"]
    default = parse_protocol(raw)
    assert default.sensitivity.registration_margin.value == 3.0
    assert default.sensitivity.registration_margin.source == "reirrad-default"
    bad = _raw_protocol()
    bad["sensitivity"]["interval_tolerance"]["unit"] = "months"
    with pytest.raises(ProtocolError, match=r"sensitivity\.interval_tolerance\.unit"):
        parse_protocol(bad)
    bad = _raw_protocol()
    bad["sensitivity"]["cautious_conservation_factor"]["value"] = 1.5
    with pytest.raises(ProtocolError, match="cautious_conservation_factor"):
        parse_protocol(bad)
    bad = _raw_protocol()
    bad["sensitivity"]["extra"] = 1
    with pytest.raises(ProtocolError, match="unknown key"):
        parse_protocol(bad)


def _raw_protocol() -> Dict:
    path = PROTOCOL.path
    with open(path, "rb") as handle:
        return parse_yaml(handle.read(), path, "protocol")


def test_every_oar_and_parameter_has_rows():
    priors: Dict[str, List[PriorMetricDose]] = {k: [PriorMetricDose(20.0, 10, 400)]
                                                for k in PROTOCOL.oar_keys}
    analysis = sensitivity_analysis(PROTOCOL, priors, 5,
                                    registration_increases_gy={k: [1.0] for k in PROTOCOL.oar_keys})
    for key in PROTOCOL.oar_keys:
        params = {r.parameter for r in analysis.rows_of(key)}
        assert set(PARAMETERS) == params
    data = analysis.record()
    assert [r["parameter"] for r in data["sensitivity"]] == [r.parameter for r in analysis.rows]
    for row in data["sensitivity"]:  # the fields of docs/design.md §5
        assert {"oar", "parameter", "value", "allowed_physical_gy", "limited_by"} <= set(row)
    assert set(data["sensitivity_summary"]) >= {"baseline", "model_comparison", "notes", "limiting_oars"}
    assert "sensitivity.registration_margin" in {q.key_path for q in analysis.values_used}


def test_fixed_recovery_rows_apply_whatever_the_run_s_model_but_never_to_a_limit_with_recovery():
    """A run with recovery model 'none' still gets the guidance's steps as alternatives: recovery 30 % →
    70 − 0.7·43.2 = 39.76 Gy remaining (module docstring). The spinal cord's limit includes recovery
    (Nieder): no row credits any, so every recovery row equals its baseline."""
    analysis = sensitivity_analysis(PROTOCOL, BOWEL, 5, recovery_model="none")
    rows = rows_by_label(analysis)
    assert analysis.baseline[0].recovered_fraction == 0.0
    assert rows["recovery 30 %"] == pytest.approx(physical_for(70 - 0.7 * 43.2, 3.0))
    assert rows["recovery 50 %"] == pytest.approx(physical_for(70 - 0.5 * 43.2, 3.0))
    cord = sensitivity_analysis(PROTOCOL, {"spinal_cord": [PriorMetricDose(30.0, 15, 900)]}, 5)
    base = cord.baseline[0].allowed_physical_gy
    for row in cord.rows_of("spinal_cord"):
        if row.parameter in ("recovered_fraction", "recovery_model", "conservation_factor"):
            assert row.allowed_physical_gy == pytest.approx(base), row.label
