"""What the confirmation shows (reirrad.review) and dates applied to a snapshot (CaseSnapshot.with_dates).

Sources of truth: the stub patient LRRC-01's model (one prior course PELVIS_45, 45 Gy/25, last fraction
2024-06-07; structure names), the protocol file (its numbers and their statuses), and the guidance's
recovery bands (docs/reference/radiobiology.md §1.2: none under 6 months, 30 % for 6–18 months, 50 % after
18).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.review import RISK_FACTORS, allowed_preview, recovery_preview, review_case
from reirrad.workflow import WorkflowOptions, prepare
from tps_stubs.direct import DirectCase

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


def test_review_of_lrrc01():
    snapshot = DirectCase("LRRC-01").read()
    review = review_case(PROTOCOL, snapshot)
    (prior,) = review.priors
    assert (prior.plan_id, prior.prescription_gy, prior.n_fractions, prior.last_fraction, prior.date_known,
            prior.registration) == ("PELVIS_45", 45.0, 25, dt.date(2024, 6, 7), True, "same-frame")
    status = {m.oar_key: (m.status, m.structure_id) for m in review.matches}
    assert status["rectum"] == ("matched", "Rectum") and status["spinal_cord"] == ("unmatched", None)
    assert [m.oar_key for m in review.matches] == list(PROTOCOL.oar_keys)
    assert sum(review.value_statuses.values()) == len(PROTOCOL.quantities())
    assert set(review.value_statuses) <= {"confirmed", "secondary-source", "unverified"}


def test_overrides_show_as_matched():
    review = review_case(PROTOCOL, DirectCase("LRRC-01").read(), {"spinal_cord": "CaudaEquina"})
    row = next(m for m in review.matches if m.oar_key == "spinal_cord")
    assert (row.status, row.structure_id) == ("matched", "CaudaEquina")


@pytest.mark.parametrize(("start", "factor", "days", "fraction"), [
    (dt.date(2026, 12, 7), 1.0, 913, 0.5),
    (dt.date(2025, 6, 7), 1.0, 365, 0.3),
    (dt.date(2024, 9, 7), 1.0, 92, 0.0),
    (dt.date(2026, 12, 7), 0.5, 913, 0.25),
])
def test_recovery_preview_follows_the_bands(start, factor, days, fraction):
    preview = recovery_preview("uk-guidance", dt.date(2024, 6, 7), start, factor)
    assert preview.interval_days == days and preview.fraction == pytest.approx(fraction)


def test_recovery_preview_without_dates_or_with_reversed_ones():
    assert recovery_preview("uk-guidance", None, dt.date(2026, 1, 1)).fraction is None
    reversed_dates = recovery_preview("uk-guidance", dt.date(2026, 2, 1), dt.date(2026, 1, 1))
    assert reversed_dates.fraction is None and "after the planned start" in reversed_dates.text


def test_with_dates_sets_the_dates_and_refuses_unknown_plans():
    snapshot = DirectCase("LRRC-01").read()
    undated = dataclasses.replace(snapshot, planned_start=None, prior_courses=tuple(
        dataclasses.replace(c, last_fraction=None) for c in snapshot.prior_courses))
    dated = undated.with_dates(dt.date(2026, 12, 7), {"PELVIS_45": dt.date(2024, 6, 7)})
    assert dated.planned_start == dt.date(2026, 12, 7)
    assert dated.prior_courses[0].interval_days(dated.planned_start) == 913
    assert undated.prior_courses[0].last_fraction is None  # the original is unchanged
    with pytest.raises(InputError, match="NOPE"):
        undated.with_dates(None, {"NOPE": dt.date(2024, 1, 1)})


def test_risk_factors_are_the_guidance_list():
    """docs/reference/radiobiology.md §3.3 names five risk factors; unknown keys are refused by the
    options."""
    from reirrad.workflow import WorkflowOptions  # noqa: PLC0415

    assert len(RISK_FACTORS) == 5
    assert WorkflowOptions(risk_factors=("diabetes",)).risk_factors == ("diabetes",)
    with pytest.raises(InputError, match="smoking"):
        WorkflowOptions(risk_factors=("smoking",))


def test_allowed_preview_is_the_run_s_allowed_dose_at_the_same_dates():
    """Source of truth: reirrad.workflow.prepare on the same snapshot and dates (the run's own tolerances
    and sensitivity ranges without the registration margin, which needs nothing more than the preview
    has). LRRC-01's prior course ended 2024-06-07: a start on 2026-12-07 is 913 days (50 %), on
    2025-06-07 365 days (30 %); a conservation factor of 0.5 halves the credit."""
    snapshot = DirectCase("LRRC-01").read()
    review = review_case(PROTOCOL, snapshot, allowed_doses=True)
    assert review.allowed and review.allowed_note == ""
    assert [r.oar_key for r in review.allowed] == [m.oar_key for m in review.matches if m.status == "matched"]
    plan_id = review.priors[0].plan_id
    for start, days, factor in ((dt.date(2026, 12, 7), 913, None), (dt.date(2025, 6, 7), 365, None),
                                (dt.date(2026, 12, 7), 913, 0.5)):
        prepared = prepare(PROTOCOL, snapshot.with_dates(start, {}),
                           WorkflowOptions(conservation_factor=factor))
        for row in review.allowed:
            text = allowed_preview(review, row, {plan_id: days}, conservation_factor=factor)
            tol = prepared.tolerances[row.oar_key]
            assert text.startswith(f"{tol.allowed_physical_gy:.2f} Gy ({tol.limited_by})"), text
            assert prepared.sensitivity is not None
            rows = [r for r in prepared.sensitivity.rows_of(row.oar_key)
                    if r.parameter != "registration_margin_mm"]
            low = min([tol.allowed_physical_gy] + [r.allowed_physical_gy for r in rows])
            high = max([tol.allowed_physical_gy] + [r.allowed_physical_gy for r in rows])
            assert f"range {low:.2f}-{high:.2f} Gy" in text
    unknown = allowed_preview(review, review.allowed[0], {plan_id: None})
    assert "interval unknown: no recovery" in unknown
    assert review_case(PROTOCOL, snapshot).allowed == ()  # nothing computed on doses unless asked
