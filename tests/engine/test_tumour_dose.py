"""Tumour dose figures (reirrad.evaluation.tumour_dose).

Source of truth: the closed forms BED = D(1 + D/(n·α/β)) and EQD2 = BED/(1 + 2/α/β), worked by hand:
45 Gy/5 at α/β 5: d = 9 Gy, BED = 45·(1 + 9/5) = 126 Gy, EQD2 = 126/1.4 = 90 Gy;
30 Gy/5 at α/β 5: BED = 30·(1 + 6/5) = 66 Gy, so the BED ratio of 45 Gy/5 to 30 Gy/5 is 126/66;
at α/β 10: 45 Gy/5 → BED 85.5 Gy, EQD2 71.25 Gy; 30 Gy/5 → BED 48 Gy.
"""

from __future__ import annotations

import pytest

from reirrad.evaluation import tumour_dose


def test_45_gy_in_5_at_alpha_beta_5():
    t = tumour_dose(5.0, prescription_gy=45.0, d95_gy=45.0, d80_gy=45.0, n_fractions=5,
                    reference_prescription_gy=30.0)
    assert t.prescription_bed_gy == pytest.approx(126.0)
    assert t.prescription_eqd2_gy == pytest.approx(90.0)
    assert t.bed_ratio_to_reference == pytest.approx(126.0 / 66.0)
    assert t.d95_eqd2_gy == t.d80_eqd2_gy == pytest.approx(90.0)


def test_30_gy_in_5_is_the_reference():
    t5 = tumour_dose(5.0, prescription_gy=30.0, d95_gy=28.5, d80_gy=30.0, n_fractions=5,
                     reference_prescription_gy=30.0)
    assert t5.prescription_bed_gy == pytest.approx(66.0)
    assert t5.bed_ratio_to_reference == pytest.approx(1.0)
    # D95 28.5 Gy/5 at α/β 5: d = 5.7 Gy, BED = 28.5·(1 + 5.7/5) = 60.99 Gy, EQD2 = 60.99/1.4
    assert t5.d95_eqd2_gy == pytest.approx(28.5 * (1 + 5.7 / 5) / 1.4)


def test_alpha_beta_10():
    t = tumour_dose(10.0, prescription_gy=45.0, d95_gy=40.0, d80_gy=44.0, n_fractions=5,
                    reference_prescription_gy=30.0)
    assert t.prescription_bed_gy == pytest.approx(85.5)
    assert t.prescription_eqd2_gy == pytest.approx(71.25)
    assert t.bed_ratio_to_reference == pytest.approx(85.5 / 48.0)
    assert t.d80_eqd2_gy == pytest.approx(44.0 * (1 + 8.8 / 10) / 1.2)
