"""The confirmation dialog (reirrad_tps.dialog) under Xvfb, and the answers path without a display.

Sources of truth: the review of a stub patient (tps_stubs.direct.DirectCase: the model's dates and
structure names), the guidance's recovery bands (30 % for 6–18 months, 50 % after 18 months,
docs/reference/radiobiology.md §1.2), and what the dialog's documentation promises (Cancel returns
None; OK refuses bad or missing entries and stays open). The test starts its own Xvfb; it skips
locally without one and fails under CI (``CI`` set), where ``make test`` installs xvfb.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from reirrad.errors import InputError
from reirrad.protocol import load_protocol
from reirrad.review import CaseReview, review_case
from reirrad_tps.answers import RunAnswers
from tps_stubs.direct import DirectCase

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "confirmation-dialog.png"


def _review(patient: str = "LRRC-01", **changes: Any) -> CaseReview:
    snapshot = DirectCase(patient).read()
    if changes:
        snapshot = dataclasses.replace(snapshot, **changes)
    return review_case(PROTOCOL, snapshot)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb server for this module; DISPLAY points at it."""
    if shutil.which("Xvfb") is None:
        if os.environ.get("CI"):
            pytest.fail("Xvfb is not installed in CI (.ci/run installs xvfb)")
        pytest.skip("Xvfb is not installed (apt-get install -y xvfb)")
    number = 90 + os.getpid() % 50
    name = f":{number}"
    proc = subprocess.Popen(["Xvfb", name, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 10
    while not socket.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = name
    try:
        yield name
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous


@pytest.fixture()
def tk_root(display: str) -> Iterator[Any]:
    import tkinter as tk  # noqa: PLC0415

    root = tk.Tk()
    yield root
    root.destroy()


def _dialog(root: Any, review: CaseReview, answers: RunAnswers) -> Any:
    from reirrad_tps.dialog import ConfirmationDialog  # noqa: PLC0415

    dialog = ConfirmationDialog(root, review, answers)
    root.update()
    return dialog


def _type(widget: Any, text: str) -> None:
    widget.delete(0, "end")
    widget.insert(0, text)
    widget.update()


def test_ok_returns_the_choices_made_in_the_widgets(tk_root):
    """LRRC-01: the TPS gives the prior date (2024-06-07); the user types the planned start, picks the
    limit-toxicity intent, ticks two risk factors, sets a factor of 0.8 and re-maps the rectum."""
    review = _review(planned_start=None)
    dialog = _dialog(tk_root, review, RunAnswers())
    w = dialog.widgets
    assert w["date:PELVIS_45"].get() == "2024-06-07"
    _type(w["planned_start"], "2026-12-07")
    w["intent:limit-toxicity"].invoke()
    w["risk:diabetes"].invoke()
    w["risk:prior-systemic-therapy"].invoke()
    _type(w["conservation_factor"], "0.8")
    w["match:rectum"].set("Bladder")
    w["ok"].invoke()
    assert dialog.done and dialog.result == RunAnswers(
        intent="limit-toxicity", planned_start=dt.date(2026, 12, 7),
        prior_dates={"PELVIS_45": dt.date(2024, 6, 7)}, structures={"rectum": "Bladder"},
        risk_factors=("diabetes", "prior-systemic-therapy"), conservation_factor=0.8)
    options = dialog.result.workflow_options()
    assert options.structure_overrides == {"rectum": "Bladder"} and options.conservation_factor == 0.8


def test_recovery_credited_follows_the_dates_as_typed(tk_root):
    """The guidance's bands: 913 days (30 months) → 50 %; a start 12 months after → 30 %; < 6 → 0 %;
    the conservation factor scales the credit (0.5 × 50 % = 25 %)."""
    dialog = _dialog(tk_root, _review(), RunAnswers())
    w = dialog.widgets

    def shown() -> str:
        tk_root.update()
        return str(w["recovery:PELVIS_45"].cget("text"))

    _type(w["planned_start"], "2026-12-07")
    assert "913 days" in shown() and "50 % recovery" in shown()
    _type(w["planned_start"], "2025-06-07")
    assert "30 % recovery" in shown()
    _type(w["planned_start"], "2024-09-07")
    assert "0 % recovery" in shown()
    _type(w["planned_start"], "2026-12-07")
    _type(w["conservation_factor"], "0.5")
    assert "25 % recovery" in shown()
    _type(w["date:PELVIS_45"], "")
    assert "interval unknown" in shown()


def test_ok_refuses_missing_or_bad_entries_and_stays_open(tk_root):
    """A missing prior date, a date after the new start, or a factor outside (0, 1] keeps the dialog
    open with the reason shown; nothing is returned."""
    review = _review(prior_courses=tuple(dataclasses.replace(c, last_fraction=None)
                                         for c in DirectCase("LRRC-01").read().prior_courses))
    dialog = _dialog(tk_root, review, RunAnswers(planned_start=dt.date(2026, 12, 7)))
    w = dialog.widgets
    assert str(w["date:PELVIS_45"].cget("background")) != "white"  # highlighted: to be entered
    for date, factor, needle in (("", "1", "last fraction of prior plan PELVIS_45"),
                                 ("2027-01-01", "1", "after the new course"),
                                 ("2024-06-07", "1.5", "(0, 1]"),
                                 ("2024-06-07", "x", "not a number")):
        _type(w["date:PELVIS_45"], date)
        _type(w["conservation_factor"], factor)
        w["ok"].invoke()
        assert not dialog.done and dialog.result is None
        assert needle in str(w["error"].cget("text"))


def test_ambiguous_oar_is_highlighted_and_must_be_chosen(tk_root):
    """Two non-empty structures matching the rectum: the row says 'ambiguous' and OK is refused until
    one is chosen; the choice becomes a structure override."""
    base = DirectCase("LRRC-01").read()
    rectum = base.structure("Rectum")
    copy = dataclasses.replace(rectum, id="RECTUM")  # the protocol's aliases match case-insensitively
    snapshot = dataclasses.replace(base, structures=(*base.structures, copy))
    review = review_case(PROTOCOL, snapshot)
    row = next(m for m in review.matches if m.oar_key == "rectum")
    assert row.status == "ambiguous" and set(row.candidates) == {"Rectum", "RECTUM"}
    dialog = _dialog(tk_root, review, RunAnswers())
    w = dialog.widgets
    w["ok"].invoke()
    assert not dialog.done and "choose one" in str(w["error"].cget("text"))
    w["match:rectum"].set("RECTUM")
    w["ok"].invoke()
    assert dialog.done and dialog.result is not None and dialog.result.structures == {"rectum": "RECTUM"}


def test_unconfirmed_dates_and_plans_not_counted_are_shown(tk_root):
    """A date the TPS keeps for another purpose (course completion) is highlighted for confirmation, and
    a dosed plan the prior-plan rule did not count is named (reirrad.priors): nothing is silent."""
    snapshot = DirectCase("LRRC-01").read()
    (course,) = snapshot.prior_courses
    selection = ({"course": "C1_LCCRT", "plan": "PELVIS_ALT", "selected": False, "has_dose": True,
                  "reason": "not approved for treatment nor recorded as treated (UnApproved)"},)
    snapshot = dataclasses.replace(
        snapshot, prior_plan_selection=selection,
        prior_courses=(dataclasses.replace(course, last_fraction_source="course-completed"),))
    review = review_case(PROTOCOL, snapshot)
    assert review.priors[0].date_needs_confirmation
    dialog = _dialog(tk_root, review, RunAnswers())
    assert dialog.widgets[f"date:{course.plan_id}"].cget("background") == "#fff3b0"
    notes = dialog.widgets["prior_notes"].cget("text")
    assert "C1_LCCRT/PELVIS_ALT: not approved" in notes and "completion date" in notes
    confirmed = _dialog(tk_root, review, RunAnswers(prior_dates={course.plan_id: dt.date(2024, 6, 7)}))
    assert confirmed.widgets[f"date:{course.plan_id}"].cget("background") == "white"


def test_the_optimisation_structures_are_listed_before_anything_is_written(tk_root):
    """The dialog names each structure the run will make (the protocol's prefix and names, a PRV only for a
    matched OAR that has one) and the rule of PTV_opt, before anything is written."""
    review = _review()
    settings = PROTOCOL.optimisation_structures
    text = _dialog(tk_root, review, RunAnswers()).widgets["optimisation_structures"].cget("text")
    matched = {m.oar_key for m in review.matches if m.structure_id}
    for prv in settings.prvs:
        assert (f"{settings.name_prefix}{prv.name}:" in text) == (prv.oar_key in matched)
    assert f"{settings.name_prefix}{settings.target_opt_name}: {review.target_id} minus" in text
    assert f"{settings.name_prefix}{settings.ring_name}: ring 5 to 25 mm" in text
    assert "LT_<organ>" not in text  # the shipped protocol's default: no spatial objectives


def test_spatial_objectives_are_listed_when_the_run_makes_them():
    """The run's choice (answers ``objectives: spatial``) adds the low-tolerance structures' line; the
    protocol's default (off) and ``standard`` do not."""
    snapshot = DirectCase("LRRC-01").read()
    lines = review_case(PROTOCOL, snapshot, objectives="spatial").optimisation_structures
    assert any(line.startswith("zRR_LT_<organ>: spatial objectives") for line in lines)
    for choice in (None, "standard"):
        lines = review_case(PROTOCOL, snapshot, objectives=choice).optimisation_structures
        assert not any("LT_<organ>" in line for line in lines)


def test_cancel_returns_none(tk_root):
    dialog = _dialog(tk_root, _review(), RunAnswers())
    dialog.widgets["cancel"].invoke()
    assert dialog.done and dialog.result is None


def test_screenshot_of_the_dialog(tk_root, display, tmp_path):
    """One screenshot of the dialog as the test drives it (kept in docs/images/; refreshed when
    REIRRAD_UPDATE_SCREENSHOT=1). Structural check: the window's size and more than a few colours."""
    from PIL import ImageGrab  # noqa: PLC0415

    tk_root.title("reirrad - confirm re-irradiation planning")
    review = review_case(PROTOCOL, DirectCase("LRRC-01").read(), allowed_doses=True)  # as the hosts show it
    dialog = _dialog(tk_root, review, RunAnswers())
    _type(dialog.widgets["planned_start"], "2026-12-07")
    dialog.widgets["risk:diabetes"].invoke()
    tk_root.update()
    time.sleep(0.3)
    tk_root.update()
    x, y = tk_root.winfo_rootx(), tk_root.winfo_rooty()
    width, height = tk_root.winfo_width(), tk_root.winfo_height()
    image = ImageGrab.grab(bbox=(x, y, x + width, y + height), xdisplay=display)
    assert image.size == (width, height) and width > 400 and height > 300
    assert len(image.getcolors(maxcolors=1 << 16) or []) > 5
    image.save(tmp_path / "dialog.png")
    if os.environ.get("REIRRAD_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        image.save(SCREENSHOT)


# -- without a display ---------------------------------------------------------------------------------

def test_answers_settle_everything_without_a_display(monkeypatch):
    """No DISPLAY: confirm() does not open a window; the answers are returned when they settle every
    question, and the open ones are named otherwise."""
    from reirrad_tps.dialog import confirm, display_available  # noqa: PLC0415

    monkeypatch.delenv("DISPLAY", raising=False)
    assert os.name == "nt" or not display_available()
    review = _review(planned_start=None)
    answers = RunAnswers(planned_start=dt.date(2026, 12, 7))
    assert confirm(review, answers) is answers
    with pytest.raises(InputError, match=r"planned_start"):
        confirm(review, RunAnswers())
    undated = _review(prior_courses=tuple(dataclasses.replace(c, last_fraction=None)
                                          for c in DirectCase("LRRC-01").read().prior_courses))
    with pytest.raises(InputError, match=r"prior_dates\.PELVIS_45"):
        confirm(undated, answers)
    assert confirm(undated, answers.updated(prior_dates={"PELVIS_45": dt.date(2024, 6, 7)})) is not None


def _one_plan_id_in_two_courses(**changes: Any) -> Any:
    """TWO-01's snapshot with its second prior plan renamed like the first (PELVIS_45): Eclipse plan ids
    are unique only within a course."""
    snapshot = DirectCase("TWO-01").read()
    first, second = snapshot.prior_courses
    courses = (dataclasses.replace(first, **changes),
               dataclasses.replace(second, plan_id=first.plan_id, **changes))
    return dataclasses.replace(snapshot, prior_courses=courses)


def test_two_prior_plans_with_one_id_are_named_course_slash_plan(monkeypatch):
    """reirrad.priors.plan_keys: where two prior plans share an id, the review, the open questions and
    the answers name each COURSE/PLAN (a date for the bare id would have gone to both); the allowed-dose
    preview keys its prior doses the same way."""
    from reirrad_tps.dialog import confirm  # noqa: PLC0415

    monkeypatch.delenv("DISPLAY", raising=False)
    snapshot = _one_plan_id_in_two_courses(last_fraction=None)
    review = review_case(PROTOCOL, snapshot, allowed_doses=True)
    assert [row.key for row in review.priors] == ["C1_LCCRT/PELVIS_45", "C2_PALL/PELVIS_45"]
    assert {key for row in review.allowed for key, _, _ in row.prior_doses} == {
        "C1_LCCRT/PELVIS_45", "C2_PALL/PELVIS_45"}
    answers = RunAnswers(planned_start=dt.date(2026, 12, 7))
    with pytest.raises(InputError, match=r"prior_dates\.C1_LCCRT/PELVIS_45 .*prior_dates\.C2_PALL/PELVIS_45"):
        confirm(review, answers)
    dates = {"C1_LCCRT/PELVIS_45": dt.date(2023, 8, 7), "C2_PALL/PELVIS_45": dt.date(2025, 12, 7)}
    settled = confirm(review, answers.updated(prior_dates=dates))
    assert settled is not None
    dated = snapshot.with_dates(settled.planned_start, settled.prior_dates)
    assert [c.last_fraction for c in dated.prior_courses] == [dt.date(2023, 8, 7), dt.date(2025, 12, 7)]
    unique = review_case(PROTOCOL, DirectCase("TWO-01").read())
    assert [row.key for row in unique.priors] == [row.plan_id for row in unique.priors]


def test_the_dialog_names_each_of_two_plans_with_one_id(tk_root):
    """The dialog's date entries are keyed as the review's rows (COURSE/PLAN for a shared id) and OK
    returns dates the snapshot takes (reirrad.snapshot.CaseSnapshot.with_dates)."""
    snapshot = _one_plan_id_in_two_courses()
    dialog = _dialog(tk_root, review_case(PROTOCOL, snapshot), RunAnswers())
    w = dialog.widgets
    assert {k for k in w if k.startswith("date:")} == {"date:C1_LCCRT/PELVIS_45", "date:C2_PALL/PELVIS_45"}
    _type(w["planned_start"], "2026-12-07")
    _type(w["date:C2_PALL/PELVIS_45"], "2025-12-05")
    dialog.ok()
    assert dialog.result is not None
    dated = snapshot.with_dates(dialog.result.planned_start, dialog.result.prior_dates)
    assert [c.last_fraction for c in dated.prior_courses] == [dt.date(2023, 8, 7), dt.date(2025, 12, 5)]


def test_allowed_doses_and_ranges_follow_the_dates_as_typed(tk_root):
    """With the allowed-dose preview (review_case(allowed_doses=True)) each matched OAR shows the text of
    reirrad.review.allowed_preview at the typed dates — the run's own allowed dose and range
    (tests/engine/test_review.py) — and it changes with the start date and the conservation factor."""
    from reirrad.review import allowed_preview  # noqa: PLC0415

    review = review_case(PROTOCOL, DirectCase("LRRC-01").read(), allowed_doses=True)
    dialog = _dialog(tk_root, review, RunAnswers())
    w = dialog.widgets
    row = next(r for r in review.allowed if r.oar_key == "small_bowel")

    def shown() -> str:
        tk_root.update()
        return str(w["allowed:small_bowel"].cget("text"))

    _type(w["planned_start"], "2026-12-07")
    at_913 = shown()
    assert at_913 == allowed_preview(review, row, {"PELVIS_45": 913})
    assert "range" in at_913
    _type(w["planned_start"], "2025-06-07")
    assert shown() == allowed_preview(review, row, {"PELVIS_45": 365}) != at_913
    _type(w["planned_start"], "2026-12-07")
    _type(w["conservation_factor"], "0.5")
    assert shown() == allowed_preview(review, row, {"PELVIS_45": 913}, conservation_factor=0.5)
    assert {k for k in w if k.startswith("allowed:")} == {f"allowed:{r.oar_key}" for r in review.allowed}
