"""The RayStation Scripting-menu entry: run the workflow on the open patient and plan.

The one-line menu script (``install/raystation/reirrad_menu.py``) calls :func:`main`. The run's
choices start from an answers file (YAML/JSON, keys in :mod:`reirrad_tps.answers`) named by the
environment variable ``REIRRAD_ANSWERS`` when it is set (read for every run: one patient's answers, such
as dates or an override reason, are refused there; a file passed to :func:`main` is read over it), and
are confirmed in the dialog
(:mod:`reirrad_tps.dialog`: prior dates, structure matching, intent, risk factors). The RayStation
release (``version`` in the answers, or ``REIRRAD_RAYSTATION_VERSION``) is required, never guessed. A
``report_dir`` in the answers gives each run a report file of its own, named by the open patient's ID
and plan (:meth:`reirrad_tps.answers.RunAnswers.for_run`), so the current patient and plan are asked for
before the output paths are checked; nothing else is read before.

**What is written, and what a failure leaves.** Whether RayStation's ``CompositeAction`` undoes
anything when the block fails is not confirmed (docs/reference/raystation-public-scripts.md U2), so
the menu does not rely on it:

* the case is read for the confirmation without writing anything (no ``MapDose``); cancel, a dry
  run and a stop before the run therefore write nothing at all;
* after the confirmation (not a dry run) the case is read again with deformable dose mapping, which
  adds one evaluation dose per mapped prior beam set to the case (listed by name);
* the planner never writes into the clinician's plan: it writes into a copy made for the run at its
  first write, ``"<plan> reirrad"`` (:class:`.planner.CopyOnFirstWritePlanner`; a number is appended
  when the name is taken), so a stop of the decision gate writes no copy;
* everything runs inside one ``CompositeAction`` (one undo step). After a failure, a stop inside the
  run, or a status that keeps no plan, the notification names exactly what may be left — the plan
  copy, the evaluation doses and the optimisation structures (case-level ROIs ``zRR_…``: created, or
  reirrad's own with their geometry replaced) — and that undoing the step ``reirrad re-irradiation plan`` in
  RayStation (its menu path is not confirmed) or deleting them removes them. The clinician's plan
  is never changed. ``patient.Save()`` is never called: the dosimetrist reviews and saves.

The returned result carries ``tps_plan_written`` (the copy's name, when one was made),
``tps_left_on_failure`` (what may be left; empty when the plan is kept) and ``tps_call_forms`` (the
form of each version-dependent call used, :mod:`.call_forms`); the report written for the run holds them
too (they are added before the record is committed).

Statuses (:mod:`reirrad.statuses`): the undo step is kept only when the run leaves a plan
(:data:`~reirrad.statuses.PLAN_KEPT`): ``planned``, or — notified as "reirrad: <status> — needs
review" — ``coverage-compromised``, ``final-check-failed`` and ``infeasible``. The report and the audit
row are written inside the undo step, so a plan is never kept without them (a failure to write ends
the step with an error). A run whose status keeps no plan ends the step with an error (rolled back
where RayStation rolls back; otherwise the notification lists what is left). A stop of the decision gate
(:class:`~reirrad.errors.EligibilityError`) is rolled back, notified, and returned as the stopped
result (``reirrad.result.stopped_result``, with the exception's ``findings`` as ``stop_findings``);
other errors are notified and raised.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any, Dict, List, Mapping, Optional

from reirrad.errors import EligibilityError, InputError, ReirradError
from reirrad.outputs import check_outputs
from reirrad.protocol import load_protocol
from reirrad.review import review_case
from reirrad.runner import RunOutcome, Status, commit_record, execute, stopped
from reirrad.snapshot import CaseSnapshot
from reirrad.statuses import EXIT_REVIEW, PLAN_KEPT, exit_code_for, status_meaning

from ..answers import RunAnswers, read_layered_answers
from ..dialog import confirm, display_available
from . import entry
from ._common import tps_message
from .planner import CopyOnFirstWritePlanner, RayStationPlanner
from .source import RayStationCaseSource

__all__ = ["load_answers", "main"]

logger = logging.getLogger(__name__)


class _CancelledError(Exception):
    """Cancel in the confirmation dialog: the composite action is rolled back."""


class _DryRunDoneError(Exception):
    """End of a dry run, or of a run whose status keeps no plan: roll back whatever the run wrote
    (reading the case may have mapped a dose)."""

    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__(f"run done, nothing kept ({outcome.status.value})")
        self.outcome = outcome


class _StoppedError(_DryRunDoneError):
    """A stop of the decision gate inside the run: roll back, return the stopped result."""


def load_answers(path: Optional[str] = None) -> RunAnswers:
    """The answers: ``$REIRRAD_ANSWERS`` (the department's file, read for every run on this RayStation, so
    one patient's answers are refused there: :data:`reirrad_tps.answers.ONE_PATIENT_KEYS`) with ``path``
    (one run's file, e.g. a batch's) over it key by key (:func:`reirrad_tps.answers.read_layered_answers`);
    the version from them, else from ``$REIRRAD_RAYSTATION_VERSION``; a missing version is refused
    (never guessed)."""
    answers = read_layered_answers(os.environ.get("REIRRAD_ANSWERS") or None, path or None)
    if answers.version is None:
        answers = answers.updated(version=os.environ.get("REIRRAD_RAYSTATION_VERSION") or None)
    if answers.version is None:
        raise InputError("the RayStation version is not known: give 'version' in the answers file named by "
                         "REIRRAD_ANSWERS, or set REIRRAD_RAYSTATION_VERSION (e.g. 2024B); see "
                         "reirrad_tps.answers")
    return answers


class _Run:
    """What the run wrote outside the clinician's plan, and the call forms used."""

    def __init__(self) -> None:
        self.left: List[str] = []
        self.forms: Dict[str, str] = {}
        self.plan_written: Optional[str] = None

    def record_planner(self, planner: Any, plan_name: str) -> None:
        """Note the planner's call forms, the plan copy it made (if any) and the case's ROIs it created or
        changed (optimisation structures: case-level, outside the copy)."""
        self.forms.update(planner.call_forms)
        written = getattr(planner, "plan_name", None)
        if isinstance(planner, CopyOnFirstWritePlanner) and written is not None:
            self.plan_written = written
            self.left.append(f"plan {written!r} (the run's copy of {plan_name!r})")
        elif isinstance(planner, CopyOnFirstWritePlanner) and planner.left_plan_name is not None:
            self.left.append(f"plan {planner.left_plan_name!r} (left by a failed copy of {plan_name!r})")
        self.left.extend(getattr(planner, "structures_written", ()))

    def leftovers(self, case_name: str) -> str:
        """The sentence naming what may be left, or '' when nothing was written."""
        if not self.left:
            return ""
        return (f"; left in case {case_name!r} unless RayStation undid the step 'reirrad re-irradiation "
                f"plan' (undo it in RayStation, or delete them): {'; '.join(self.left)}. The clinician's "
                "plan was not changed")

    def stopped(self, reason: str, case_name: str) -> str:
        """The notification of a stop: what is left, or that nothing was changed."""
        left = self.leftovers(case_name)
        if left:
            return f"reirrad stopped: {reason}{left}"
        return f"reirrad stopped, nothing was changed: {reason}"

    def extra(self, kept: bool) -> Dict[str, Any]:
        """The result keys of the run (module docstring)."""
        return {"tps_plan_written": self.plan_written, "tps_left_on_failure": [] if kept else list(self.left),
                "tps_call_forms": dict(sorted(self.forms.items()))}


def _read(version: str, objects: Any, answers: RunAnswers, run: _Run, *, deformable: bool) -> CaseSnapshot:
    patient, case, plan, beam_set, exam = objects
    source = RayStationCaseSource(case, plan, beam_set, exam, patient=patient, tps_version=version,
                                  prior_dates=dict(answers.prior_dates), planned_start=answers.planned_start,
                                  deformable=deformable)
    try:
        return source.read()
    finally:
        run.left.extend(source.created_evaluation_doses)
        run.forms.update(source.call_forms)


def main(answers_path: Optional[str] = None, *, interactive: Optional[bool] = None) -> Mapping[str, Any]:
    """Run the workflow on the current patient/plan.

    The choices start from the answers file (if any) and are confirmed in the dialog when a display
    is available (``interactive`` None) or asked for (True); without it (False, or no display) the
    answers must settle every question (:func:`reirrad_tps.dialog.unresolved`). Every failure is shown
    to the user (``await_user_input``, or the log when the GUI is disabled) before it is raised: a bad
    answers file or output path before the case is read (only the current patient and plan are asked
    for before, to name a ``report_dir`` report), anything later after the undo step ended
    (rolled back where RayStation rolls back; otherwise the message names what may be left).
    """
    try:
        return _menu_run(answers_path, interactive)
    except ReirradError as exc:
        left = getattr(exc, "reirrad_left", "")
        _notify_failure(f"reirrad stopped: {exc}{left}" if left
                        else f"reirrad stopped, nothing was changed: {exc}")
        raise
    except Exception as exc:  # RayStation failed
        left = getattr(exc, "reirrad_left", "")
        _notify_failure(f"reirrad failed: {tps_message(exc)}{left or ', nothing was changed'}")
        raise


def _notify_failure(message: str) -> None:
    """Show a failure where the user sees it; outside RayStation (no scripting module) only log it."""
    try:
        entry.notify(message, os.environ.get("REIRRAD_RAYSTATION_VERSION") or None)
    except ReirradError:
        logger.warning("%s", message)


def _in_undo_step(version: str, protocol: Any, objects: Any, answers: RunAnswers, *,
                  interactive: Optional[bool], run: _Run) -> RunOutcome:
    """Read, confirm and run inside one ``CompositeAction``; control exceptions end the step."""
    _, case, plan, beam_set, _ = objects
    with entry.undoable("reirrad re-irradiation plan", version):
        # read for the confirmation without writing (no MapDose): cancel leaves nothing
        snapshot = _read(version, objects, answers, run, deformable=False)
        # a window needs a display and a RayStation whose GUI is not disabled (RaaS: nobody to answer)
        shown = interactive if interactive is not None else (
            display_available() and not entry.gui_disabled(version))
        review = review_case(protocol, snapshot, answers.structures, objectives=answers.objectives,
                             allowed_doses=shown)  # the dialog previews the allowed doses
        confirmed = confirm(review, answers, interactive=shown)
        if confirmed is None:
            raise _CancelledError
        if not confirmed.dry_run:  # read again with deformable dose mapping (adds evaluation doses)
            snapshot = _read(version, objects, confirmed, run, deformable=True)
        snapshot = snapshot.with_dates(confirmed.planned_start, confirmed.prior_dates)
        options = confirmed.workflow_options()
        planner = None if options.dry_run else _planner(version, case, plan, beam_set, snapshot)
        try:
            outcome = execute(protocol, snapshot, options, planner=planner,
                              progress=partial(entry.progress, version=version))
        finally:
            if planner is not None:
                run.record_planner(planner, str(plan.Name))
        if outcome.status is Status.STOPPED:
            raise _StoppedError(outcome)
        # the record (report, audit row) holds what the run wrote into the TPS and the call forms it
        # used; it is one transaction, committed inside the undo step it describes as its last action:
        # a record that cannot be written ends the step with an error
        outcome = commit_record(outcome.with_result(**run.extra(kept=outcome.plan_kept)),
                                answers.outputs())
        if not outcome.plan_kept:
            raise _DryRunDoneError(outcome)
    return outcome


def _menu_run(answers_path: Optional[str], interactive: Optional[bool]) -> Mapping[str, Any]:
    answers = load_answers(answers_path)
    version = str(answers.version)
    objects = entry.current_objects(version)
    patient, case, plan, _, _ = objects
    answers = answers.for_run(str(patient.PatientID), str(plan.Name))  # report_dir: this run's own file
    inputs = [p for p in (answers_path, os.environ.get("REIRRAD_ANSWERS"), answers.protocol) if p]
    check_outputs(answers.outputs(), inputs=inputs)
    protocol = load_protocol(answers.protocol)
    run = _Run()
    case_name = str(case.CaseName)
    try:
        outcome = _in_undo_step(version, protocol, objects, answers, interactive=interactive, run=run)
    except _CancelledError:
        entry.notify("reirrad cancelled, nothing was changed", version)
        return {"status": "cancelled", "status_meaning": status_meaning("cancelled"),
                "patient_id": str(patient.PatientID), **run.extra(kept=False)}
    except _StoppedError as stop:
        entry.notify(run.stopped(str(stop.outcome.result.get("reason")), case_name), version)
        return {**stop.outcome.result, **run.extra(kept=False)}
    except _DryRunDoneError as done:
        outcome = done.outcome
        entry.notify(_message(outcome.result) + run.leftovers(case_name), version)
        return dict(outcome.result)  # holds run.extra(kept=False), added before the record
    except EligibilityError as exc:  # a stop while reading or confirming, before the run
        entry.notify(run.stopped(str(exc), case_name), version)
        result = stopped(exc, patient_id=str(patient.PatientID),
                         extra={"tps": "RayStation", "tps_version": version}).result
        return {**result, **run.extra(kept=False)}
    except Exception as exc:
        exc.reirrad_left = run.leftovers(case_name)  # type: ignore[attr-defined]
        raise
    text = _message(outcome.result)
    if run.plan_written is not None:
        text += f"; written into plan {run.plan_written!r} (the clinician's plan {plan.Name!r} is unchanged)"
    entry.notify(text, version)
    return dict(outcome.result)  # holds run.extra(kept=True), added before the record


def _planner(version: str, case: Any, plan: Any, beam_set: Any, snapshot: CaseSnapshot) -> Any:
    """The planner on a copy of the clinician's plan made at its first write (module docstring); on the
    plan itself when it is not writable (the workflow then refuses it before any write)."""
    if not snapshot.plan.writable:
        return RayStationPlanner(case, plan, beam_set, version=version)
    return CopyOnFirstWritePlanner(case, plan, beam_set, version=version)


def _message(result: Mapping[str, Any]) -> str:
    """The notification at the end of a run (every status that is not a stop)."""
    status = str(result["status"])
    limiting = ", ".join(result.get("limiting_oars") or ()) or "none"
    text = f"prescription {result.get('prescription_gy')} Gy, limiting {limiting}"
    if status == "dry-run":
        return f"reirrad: dry-run, nothing was written; {text}"
    if status not in PLAN_KEPT:
        return f"reirrad: {status}, nothing was kept — {status_meaning(status)}"
    if exit_code_for(result) == EXIT_REVIEW:
        return f"reirrad: {status} — needs review: {status_meaning(status)}; {text}"
    return f"reirrad: {status}, {text}"
