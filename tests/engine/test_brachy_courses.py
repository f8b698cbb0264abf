"""Prior external-beam and brachytherapy courses: each converted with its own fractions and recovered by
its own interval, then summed (the metric method and the voxel-wise method agree on uniform doses).

Hand computation (α/β 3 Gy for small bowel, rectum and bladder; shipped protocol
``uk-sabr-pelvis-reirradiation``: cumulative limits D0.5cc 70 / 80 / 80 Gy EQD2, de novo 35 / 32 / 38 Gy;
recovery ``uk-guidance``: 30 % for 6–18 months, 50 % above 18 months, month = 30.4375 days):

* cervix EBRT 45 Gy/25 (d = 1.8 Gy): EQD2 = 45·(1.8 + 3)/(2 + 3) = 43.2 Gy;
* HDR brachytherapy 7 Gy × 4 = 28 Gy/4 at the OAR's metric: EQD2 = 28·(7 + 3)/5 = 56 Gy;
* prior EQD2 = 43.2 + 56 = 99.2 Gy. Read wrongly as one course of 73 Gy/29 (d = 2.517 Gy) it would be
  73·(2.517 + 3)/5 = 80.55 Gy: the per-course conversion matters.

At 24 months (EBRT ended 745 days, brachytherapy 732 days before the new course: both > 18 months,
50 %): effective = 0.5·43.2 + 0.5·56 = 21.6 + 28 = 49.6 Gy.

* rectum and bladder (limit 80): remaining R = 80 − 49.6 = 30.4 Gy EQD2. In 5 fractions d² + 3d − R = 0
  (from (5/3)·d² + 5·d = R·(1 + 2/3)), d = (−3 + √(9 + 4·30.4))/2 = (−3 + √130.6)/2 = (−3 + 11.4280)/2
  = 4.2140 Gy, D = 21.07 Gy (below the de novo 32 and 38 Gy: limited by the cumulative limit);
* small bowel (limit 70): R = 70 − 49.6 = 20.4 Gy, d = (−3 + √90.6)/2 = (−3 + 9.5184)/2 = 3.2592 Gy,
  D = 16.30 Gy.

Different intervals (EBRT 730 days: 23.98 months, 50 %; a later brachytherapy 400 days: 13.14 months,
30 %): effective = 0.5·43.2 + 0.7·56 = 21.6 + 39.2 = 60.8 Gy; rectum R = 19.2 Gy, d = (−3 + √85.8)/2 =
3.1314 Gy, D = 15.66 Gy; small bowel R = 9.2 Gy, d = (−3 + √45.8)/2 = 1.8838 Gy, D = 9.42 Gy.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from reirrad.constraints import PriorMetricDose, remaining_tolerance
from reirrad.cumulative import PriorCourseDose, evaluate_cumulative
from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.snapshot import MODALITIES, PriorCourse

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
EBRT_GY, EBRT_FX, EBRT_DAYS = 45.0, 25, 745
HDR_GY, HDR_FX, HDR_DAYS = 28.0, 4, 732


def _courses(ebrt_days: float = EBRT_DAYS, hdr_days: float = HDR_DAYS):
    return [PriorMetricDose(EBRT_GY, EBRT_FX, ebrt_days, "EBRT 45/25"),
            PriorMetricDose(HDR_GY, HDR_FX, hdr_days, "HDR 7x4")]


@pytest.mark.parametrize(("oar", "remaining", "allowed"), [
    ("rectum", 30.4, 21.0701),
    ("bladder", 30.4, 21.0701),
    ("small_bowel", 20.4, 16.2960),
])
def test_ebrt_and_brachy_at_24_months(oar, remaining, allowed):
    """Per course EQD2 43.2 and 56 Gy, 50 % each, effective 49.6 Gy; remaining and allowed dose in 5
    fractions as in the module docstring."""
    tol = remaining_tolerance(PROTOCOL, oar, _courses(), 5)
    ebrt, hdr = tol.courses
    assert ebrt.n_fractions == 25 and hdr.n_fractions == 4
    assert ebrt.eqd2_gy == pytest.approx(43.2, abs=1e-9)
    assert hdr.eqd2_gy == pytest.approx(56.0, abs=1e-9)
    assert ebrt.recovery.fraction == hdr.recovery.fraction == 0.5
    assert ebrt.effective_eqd2_gy == pytest.approx(21.6, abs=1e-9)
    assert hdr.effective_eqd2_gy == pytest.approx(28.0, abs=1e-9)
    assert tol.prior_eqd2_gy == pytest.approx(99.2, abs=1e-9)
    assert tol.effective_prior_eqd2_gy == pytest.approx(49.6, abs=1e-9)
    assert tol.remaining_eqd2_gy == pytest.approx(remaining, abs=1e-9)
    assert tol.allowed_physical_gy == pytest.approx(allowed, abs=1e-4)
    assert tol.limited_by == "cumulative" and not tol.exhausted


@pytest.mark.parametrize(("oar", "remaining", "allowed"), [
    ("rectum", 19.2, 15.6571),
    ("small_bowel", 9.2, 9.4189),
])
def test_each_course_is_recovered_by_its_own_interval(oar, remaining, allowed):
    """EBRT at 730 days (50 %) and brachytherapy at 400 days (30 %): effective 21.6 + 39.2 = 60.8 Gy."""
    tol = remaining_tolerance(PROTOCOL, oar, _courses(730, 400), 5)
    ebrt, hdr = tol.courses
    assert (ebrt.recovery.fraction, hdr.recovery.fraction) == (0.5, 0.3)
    assert hdr.effective_eqd2_gy == pytest.approx(39.2, abs=1e-9)
    assert tol.effective_prior_eqd2_gy == pytest.approx(60.8, abs=1e-9)
    assert tol.remaining_eqd2_gy == pytest.approx(remaining, abs=1e-9)
    assert tol.allowed_physical_gy == pytest.approx(allowed, abs=1e-4)


def test_courses_are_not_merged_into_one_fractionation():
    """45/25 + 28/4 is 99.2 Gy EQD2, not the 80.55 Gy of 73 Gy/29; four single-fraction HDR plans (one
    plan per insertion, as many brachytherapy systems export them) give the same 4 × 14 = 56 Gy as one
    four-fraction plan."""
    merged = remaining_tolerance(PROTOCOL, "rectum", [PriorMetricDose(73.0, 29, EBRT_DAYS)], 5)
    assert merged.prior_eqd2_gy == pytest.approx(80.5517, abs=1e-4)
    per_insertion = [PriorMetricDose(7.0, 1, HDR_DAYS, f"HDR {k}") for k in range(4)]
    tol = remaining_tolerance(PROTOCOL, "rectum",
                              [PriorMetricDose(EBRT_GY, EBRT_FX, EBRT_DAYS), *per_insertion], 5)
    assert [c.eqd2_gy for c in tol.courses[1:]] == pytest.approx([14.0] * 4, abs=1e-9)
    assert tol.prior_eqd2_gy == pytest.approx(99.2, abs=1e-9)
    assert tol.allowed_physical_gy == pytest.approx(21.0701, abs=1e-4)


def _grid(value_gy: float) -> DoseGrid:
    return DoseGrid(np.full((6, 6, 6), value_gy), (0.0, 0.0, 0.0), (5.0, 5.0, 5.0),
                    frame_of_reference_uid="1.2.3")


def test_voxelwise_sum_uses_each_courses_fractions():
    """Uniform doses over a 27 cm³ rectum: EBRT 45 Gy/25, HDR 28 Gy/4, new 10 Gy/5 (EQD2 10·(2 + 3)/5 =
    10 Gy): both methods give 49.6 + 10 = 59.6 Gy EQD2."""
    occupancy = np.zeros((6, 6, 6))
    occupancy[1:4, 1:4, 1:4] = 1.0
    priors = [PriorCourseDose("EBRT", _grid(EBRT_GY), EBRT_FX, EBRT_DAYS),
              PriorCourseDose("HDR", _grid(HDR_GY), HDR_FX, HDR_DAYS)]
    result = evaluate_cumulative(PROTOCOL, "rectum", occupancy, priors, new_dose=_grid(10.0), n_fractions=5)
    assert result.new_eqd2_gy == pytest.approx(10.0, abs=1e-9)
    assert result.cumulative_eqd2_metric_sum_gy == pytest.approx(59.6, abs=1e-9)
    assert result.cumulative_eqd2_voxelwise_gy == pytest.approx(59.6, abs=1e-9)
    assert result.passed is True


def _prior(**kwargs):
    return PriorCourse("C1", "HDR_7x4", _grid(HDR_GY), HDR_FX, dt.date(2024, 12, 19), **kwargs)


def test_prior_course_modality_defaults_to_external_and_is_checked():
    """``modality`` is recorded, defaults to external, and refuses anything but the two kinds."""
    assert MODALITIES == ("external", "brachytherapy")
    assert _prior().modality == "external"
    assert _prior(modality="brachytherapy").modality == "brachytherapy"
    with pytest.raises(InputError, match="modality"):
        _prior(modality="HDR")
