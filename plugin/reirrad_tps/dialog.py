"""The confirmation dialog: what reirrad found and assumed, confirmed before anything is written.

Tkinter, because it ships with RayStation's CPython and with the standard CPython on Windows, so one
dialog serves both TPSs (and the Eclipse host, which embeds a standard CPython). It shows a
:class:`reirrad.review.CaseReview` and returns :class:`reirrad_tps.answers.RunAnswers`:

* prior courses: plan, prescription, fractions, the date of the last fraction (editable; empty ones
  highlighted), the interval and the recovery credited, updated as dates are typed;
* the planned first fraction of the new course;
* OAR ↔ structure matching: a drop-down per OAR; unmatched (yellow) and ambiguous (red, must be chosen)
  rows are highlighted;
* the optimisation structures the run will create or update in the TPS (names and rules);
* intent, dry run, the risk factors for the conservation factor and the factor itself (default 1: the
  guidance gives no value, docs/reference/radiobiology.md §3.3);
* the protocol, its version and how many of its values are confirmed / secondary-source / unverified.

**OK** checks every entry (a bad date or factor is shown in red and the dialog stays open); **Cancel**
(or closing the window) returns None and nothing is written. :func:`confirm` is what launchers call:
with a display it shows the dialog, without one (or with ``interactive=False``) it checks that the
answers (e.g. from an answers file) settle everything the dialog would have asked and returns them.
"""

from __future__ import annotations

import datetime as dt
import os
import tkinter as tk
from tkinter import ttk
from typing import Any, Callable, Dict, List, Optional, Tuple

from reirrad.errors import InputError
from reirrad.review import RISK_FACTORS, CaseReview, allowed_preview, recovery_preview

from .answers import RunAnswers, parse_date

__all__ = ["NOT_EVALUATED", "ConfirmationDialog", "confirm", "display_available", "unresolved"]

NOT_EVALUATED = "(not evaluated)"
_HIGHLIGHT = {"unmatched": "#fff3b0", "ambiguous": "#ffc9c9", "empty": "#fff3b0", "matched": ""}


def _grid(widget: tk.Widget, row: int, column: int, **options: Any) -> None:
    widget.grid(row=row, column=column, padx=4, pady=2, **options)


def display_available() -> bool:
    """True when a window can be shown (Windows, or an X display named by ``DISPLAY``)."""
    return os.name == "nt" or bool(os.environ.get("DISPLAY"))


def unresolved(review: CaseReview, answers: RunAnswers) -> List[str]:
    """What ``answers`` leave open that the dialog would have asked (empty when nothing).

    A prior course without a date (from the TPS or ``prior_dates``), no planned start, and an OAR whose
    structure is ambiguous with no choice in ``structures``.
    """
    missing: List[str] = []
    if answers.planned_start is None and review.planned_start is None:
        missing.append("planned_start (first fraction of the new course)")
    for row in review.priors:
        if not row.date_known and row.key not in answers.prior_dates:
            missing.append(f"prior_dates.{row.key} (last fraction of prior plan {row.key})")
    for match in review.matches:
        if match.status == "ambiguous" and match.oar_key not in answers.structures:
            missing.append(f"structures.{match.oar_key} (one of {list(match.candidates)})")
    return missing


class ConfirmationDialog:
    """The dialog's widgets in ``master`` (a ``Tk`` or ``Toplevel``); ``result`` is set on OK / Cancel.

    Parameters
    ----------
    master : tkinter.Misc
    review : reirrad.review.CaseReview
    answers : RunAnswers
        The starting choices (e.g. from the command line or an answers file).
    on_done : callable, optional
        Called with the answers (OK) or None (Cancel) after ``result`` is set.

    Attributes
    ----------
    widgets : dict of str to tkinter.Widget
        By name, for tests and accessibility tools: ``planned_start``, ``date:<plan>``,
        ``recovery:<plan>``, ``allowed:<oar>`` (with an allowed-dose preview),
        ``match:<oar>``, ``intent:<intent>``, ``dry_run``, ``risk:<key>``,
        ``conservation_factor``, ``error``, ``ok``, ``cancel``.
    done : bool
        True once OK succeeded or Cancel was pressed.
    result : RunAnswers or None
    """

    def __init__(self, master: tk.Misc, review: CaseReview, answers: RunAnswers,
                 on_done: Optional[Callable[[Optional[RunAnswers]], None]] = None) -> None:
        self.review = review
        self.answers = answers
        self.widgets: Dict[str, tk.Widget] = {}
        self.done = False
        self.result: Optional[RunAnswers] = None
        self._on_done = on_done
        self._dates: Dict[str, tk.StringVar] = {}
        self._matches: Dict[str, tk.StringVar] = {}
        self._risks: Dict[str, tk.BooleanVar] = {}
        start = answers.planned_start or review.planned_start
        self._start = tk.StringVar(master, "" if start is None else start.isoformat())
        self._intent = tk.StringVar(master, answers.intent)
        self._dry_run = tk.BooleanVar(master, answers.dry_run)
        factor = 1.0 if answers.conservation_factor is None else answers.conservation_factor
        self._factor = tk.StringVar(master, f"{factor:g}")
        self._error = tk.StringVar(master, "")
        self.frame = ttk.Frame(master, padding=8)
        self.frame.grid(row=0, column=0, sticky="nsew")
        self._header()
        self._prior_section()
        self._allowed_section()
        self._match_section()
        self._structures_section()
        self._choices_section()
        self._buttons()
        self._start.trace_add("write", lambda *_: self._refresh_recovery())
        self._factor.trace_add("write", lambda *_: self._refresh_recovery())
        self._refresh_recovery()

    # -- layout ---------------------------------------------------------------------------------------
    def _section(self, title: str) -> ttk.LabelFrame:
        box = ttk.LabelFrame(self.frame, text=title, padding=4)
        box.grid(row=len(self.frame.grid_slaves()), column=0, sticky="ew", pady=4)
        return box

    def _header(self) -> None:
        r = self.review
        statuses = ", ".join(f"{n} {status}" for status, n in r.value_statuses.items())
        text = (f"Patient {r.patient_id} - new plan {r.plan_id} ({r.n_fractions} fractions, target "
                f"{r.target_id})\nProtocol {r.protocol_name} version {r.protocol_version}: values {statuses}")
        ttk.Label(self.frame, text=text, justify="left").grid(row=0, column=0, sticky="w")

    def _prior_section(self) -> None:
        box = self._section("Prior courses (date of the LAST fraction)")
        for col, head in enumerate(("plan", "course", "prescription", "fractions", "last fraction",
                                    "interval and recovery credited")):
            _grid(ttk.Label(box, text=head, font=("TkDefaultFont", 9, "bold")), 0, col)
        for n, row in enumerate(self.review.priors, start=1):
            rx = "-" if row.prescription_gy is None else f"{row.prescription_gy:g} Gy"
            for col, text in enumerate((row.plan_id, row.course_id, rx, str(row.n_fractions))):
                _grid(ttk.Label(box, text=text), n, col, sticky="w")
            date = self.answers.prior_dates.get(row.key, row.last_fraction)
            var = tk.StringVar(box, "" if date is None else date.isoformat())
            confirm = date is None or (row.date_needs_confirmation
                                       and row.key not in self.answers.prior_dates)
            entry = tk.Entry(box, textvariable=var, width=12, background="#fff3b0" if confirm else "white")
            _grid(entry, n, 4)
            label = ttk.Label(box, text="")
            _grid(label, n, 5, sticky="w")
            var.trace_add("write", lambda *_: self._refresh_recovery())
            self._dates[row.key] = var  # the plan id, or COURSE/PLAN when two prior plans share it
            self.widgets[f"date:{row.key}"] = entry
            self.widgets[f"recovery:{row.key}"] = label
        n = len(self.review.priors) + 1
        _grid(ttk.Label(box, text="new course: first fraction"), n, 0, columnspan=4, sticky="e")
        entry = tk.Entry(box, textvariable=self._start, width=12)
        _grid(entry, n, 4)
        self.widgets["planned_start"] = entry
        notes = [f"Not counted as prior dose: {text}" for text in self.review.not_counted]
        if any(row.date_source == "course-completed" for row in self.review.priors):
            notes.append("A yellow date is the course's completion date, not a treatment record: confirm it.")
        if notes:
            note = tk.Label(box, text="\n".join(notes), foreground="#b00000", justify="left", anchor="w")
            _grid(note, n + 1, 0, columnspan=6, sticky="w")
            self.widgets["prior_notes"] = note

    def _allowed_section(self) -> None:
        """Each matched OAR's allowed dose and its sensitivity range at the dates entered (when the review
        carries the prior metric doses); updated with the dates and the conservation factor."""
        if not self.review.allowed and not self.review.allowed_note:
            return
        box = self._section("Allowed dose per OAR at these dates (physical, new course) and its range with "
                            "one assumption changed (alpha/beta, recovery, interval)")
        if not self.review.allowed:
            _grid(ttk.Label(box, text=self.review.allowed_note, wraplength=720), 0, 0, sticky="w")
            return
        for n, row in enumerate(self.review.allowed):  # two OARs per line, as in the matching section
            _grid(ttk.Label(box, text=f"{row.label} ({row.metric})"), n // 2, 2 * (n % 2), sticky="w")
            label = ttk.Label(box, text="")
            _grid(label, n // 2, 2 * (n % 2) + 1, sticky="w")
            self.widgets[f"allowed:{row.oar_key}"] = label
        note = ttk.Label(box, text="A preview: the run recomputes every number after OK (and maps deformable "
                                   "registrations where the TPS needs that first).", foreground="#555555")
        _grid(note, (len(self.review.allowed) + 1) // 2, 0, columnspan=4, sticky="w")

    def _match_section(self) -> None:
        box = self._section("Organs at risk and structures")
        structures = list(self.review.structure_ids)
        for n, match in enumerate(self.review.matches):
            chosen = self.answers.structures.get(match.oar_key, match.structure_id)
            colour = _HIGHLIGHT["matched" if match.oar_key in self.answers.structures else match.status]
            label = tk.Label(box, text=f"{match.label} ({match.status})", anchor="w", width=34)
            if colour:
                label.configure(background=colour)
            _grid(label, n // 2, 2 * (n % 2), sticky="w")
            options = structures if match.status == "matched" else [NOT_EVALUATED, *structures]
            var = tk.StringVar(box, chosen if chosen is not None else NOT_EVALUATED)
            combo = ttk.Combobox(box, textvariable=var, values=options, state="readonly", width=16)
            _grid(combo, n // 2, 2 * (n % 2) + 1)
            self._matches[match.oar_key] = var
            self.widgets[f"match:{match.oar_key}"] = combo

    def _structures_section(self) -> None:
        lines = self.review.optimisation_structures
        if not lines:
            return
        box = self._section("Optimisation structures reirrad will create or update in the TPS")
        label = ttk.Label(box, text="\n".join(lines), justify="left", wraplength=720)
        _grid(label, 0, 0, sticky="w")
        self.widgets["optimisation_structures"] = label

    def _choices_section(self) -> None:
        box = self._section("Intent, risk factors and conservation factor")
        for col, (intent, text) in enumerate((("isotoxic", "maximise local control (isotoxic, up to "
                                                            "45 Gy)"),
                                              ("limit-toxicity", "limit toxicity (30 Gy)"))):
            button = ttk.Radiobutton(box, text=text, value=intent, variable=self._intent)
            _grid(button, 0, col, sticky="w")
            self.widgets[f"intent:{intent}"] = button
        dry = ttk.Checkbutton(box, text="dry run (compute, write nothing)", variable=self._dry_run)
        _grid(dry, 0, 2, sticky="w")
        self.widgets["dry_run"] = dry
        for n, (key, label) in enumerate(RISK_FACTORS):
            var = tk.BooleanVar(box, key in self.answers.risk_factors)
            check = ttk.Checkbutton(box, text=label, variable=var)
            _grid(check, 1 + n // 3, n % 3, sticky="w")
            self._risks[key] = var
            self.widgets[f"risk:{key}"] = check
        _grid(ttk.Label(box, text="conservation factor (0-1] on the recovery credited; no published value, "
                             "1 = none"), 3, 0, columnspan=2, sticky="w")
        entry = tk.Entry(box, textvariable=self._factor, width=6)
        _grid(entry, 3, 2, sticky="w")
        self.widgets["conservation_factor"] = entry

    def _buttons(self) -> None:
        row = len(self.frame.grid_slaves())
        error = tk.Label(self.frame, textvariable=self._error, foreground="#b00000", anchor="w",
                         justify="left", wraplength=720)
        error.grid(row=row, column=0, sticky="ew")
        self.widgets["error"] = error
        bar = ttk.Frame(self.frame)
        bar.grid(row=row + 1, column=0, sticky="e", pady=4)
        cancel = ttk.Button(bar, text="Cancel", command=self.cancel)
        _grid(cancel, 0, 0)
        ok = ttk.Button(bar, text="OK", command=self.ok)
        _grid(ok, 0, 1)
        self.widgets["cancel"], self.widgets["ok"] = cancel, ok

    # -- behaviour ------------------------------------------------------------------------------------
    def _date_or_none(self, text: str, what: str) -> Optional[dt.date]:
        return parse_date(text.strip(), what) if text.strip() else None

    def _refresh_recovery(self) -> None:
        try:
            start = self._date_or_none(self._start.get(), "first fraction")
            factor = float(self._factor.get())
        except (InputError, ValueError):
            start, factor = None, 1.0
        factor = factor if 0.0 < factor <= 1.0 else 1.0
        intervals: Dict[str, Optional[float]] = {}
        for plan_id, var in self._dates.items():
            try:
                last = self._date_or_none(var.get(), plan_id)
            except InputError:
                last = None
            preview = recovery_preview(self.review.recovery_model, last, start, factor)
            label = self.widgets[f"recovery:{plan_id}"]
            assert isinstance(label, ttk.Label)
            label.configure(text=preview.text)
            intervals[plan_id] = preview.interval_days if preview.interval_days is None or \
                preview.interval_days >= 0 else None
        for row in self.review.allowed:
            label = self.widgets[f"allowed:{row.oar_key}"]
            assert isinstance(label, ttk.Label)
            label.configure(text=allowed_preview(self.review, row, intervals, conservation_factor=factor))

    def _collect(self) -> RunAnswers:
        start = self._date_or_none(self._start.get(), "the new course's first fraction")
        if start is None:
            raise InputError("enter the date of the new course's first fraction (YYYY-MM-DD)")
        dates: Dict[str, dt.date] = {}
        for plan_id, var in self._dates.items():
            date = self._date_or_none(var.get(), f"last fraction of {plan_id}")
            if date is None:
                raise InputError(f"enter the date of the last fraction of prior plan {plan_id} (YYYY-MM-DD)")
            if date > start:
                raise InputError(f"prior plan {plan_id}: last fraction {date} is after the new course's "
                                 f"first fraction {start}")
            dates[plan_id] = date
        structures: Dict[str, str] = {}
        for match in self.review.matches:
            chosen = self._matches[match.oar_key].get()
            if match.status == "ambiguous" and chosen == NOT_EVALUATED:
                raise InputError(f"{match.label}: several structures match {list(match.candidates)}; "
                                 "choose one")
            if chosen not in (NOT_EVALUATED, match.structure_id):
                structures[match.oar_key] = chosen
        try:
            factor = float(self._factor.get())
        except ValueError:
            raise InputError(f"conservation factor {self._factor.get()!r} is not a number in (0, 1]"
                             ) from None
        risks: Tuple[str, ...] = tuple(key for key, _ in RISK_FACTORS if self._risks[key].get())
        return self.answers.updated(planned_start=start, prior_dates=dates, structures=structures,
                                    intent=self._intent.get(), dry_run=bool(self._dry_run.get()),
                                    risk_factors=risks, conservation_factor=factor)

    def ok(self) -> None:
        """Check every entry; on success set ``result`` and finish, else show the reason."""
        try:
            answers = self._collect()
        except InputError as exc:
            self._error.set(str(exc))
            return
        self._error.set("")
        self._finish(answers)

    def cancel(self) -> None:
        """Finish with ``result`` None (nothing will be written)."""
        self._finish(None)

    def _finish(self, answers: Optional[RunAnswers]) -> None:
        self.result, self.done = answers, True
        if self._on_done is not None:
            self._on_done(answers)


def confirm(review: CaseReview, answers: RunAnswers, *, interactive: Optional[bool] = None,
            title: str = "reirrad - confirm re-irradiation planning") -> Optional[RunAnswers]:
    """Show the dialog (interactive) or check the answers (not); None means cancelled.

    Parameters
    ----------
    interactive : bool, optional
        Default: whether a display is available (:func:`display_available`).

    Raises
    ------
    reirrad.errors.InputError
        Not interactive, and the answers leave something open (:func:`unresolved` lists it).
    """
    if interactive is None:
        interactive = display_available()
    if not interactive:
        missing = unresolved(review, answers)
        if missing:
            raise InputError("without the dialog these answers are needed: " + "; ".join(missing)
                             + " (answers file keys, or the command-line options)")
        return answers
    root = tk.Tk()
    root.title(title)
    dialog = ConfirmationDialog(root, review, answers, on_done=lambda _: root.quit())
    root.protocol("WM_DELETE_WINDOW", dialog.cancel)
    root.mainloop()
    root.destroy()
    return dialog.result
