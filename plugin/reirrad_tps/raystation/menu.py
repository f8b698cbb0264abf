"""The RayStation Scripting-menu entry: run the workflow on the open patient and plan.

The one-line menu script (``install/raystation/reirrad_menu.py``) calls :func:`main`. The run's
choices start from an answers file (YAML/JSON, keys in :mod:`reirrad_tps.answers`) named by the
environment variable ``REIRRAD_ANSWERS`` when it is set, and are confirmed in the dialog
(:mod:`reirrad_tps.dialog`: prior dates, structure matching, intent, risk factors). The RayStation
release (``version`` in the answers, or ``REIRRAD_RAYSTATION_VERSION``) is required, never guessed.
A dry run is rolled back at the end, so it keeps nothing even if reading the case mapped a dose.

Everything the run writes is inside one ``CompositeAction`` (one undo step); on any error it is
rolled back and the message is shown (or logged when the GUI is disabled). ``patient.Save()`` is
never called: the dosimetrist reviews and saves.

Statuses (:mod:`reirrad.statuses`): the undo step is kept only when the run leaves a plan
(:data:`~reirrad.statuses.PLAN_KEPT`): ``planned``, or — notified as "reirrad: <status> — needs
review" — ``coverage-compromised``, ``final-check-failed`` and ``infeasible``. The report and the audit
row are written inside the undo step, so a plan is never kept without them (a failure to write rolls
the step back). A run whose status keeps no plan is rolled back. A stop of the decision gate
(:class:`~reirrad.errors.EligibilityError`) is rolled back, notified, and returned as the stopped
result (``reirrad.result.stopped_result``, with the exception's ``findings`` as ``stop_findings``);
other errors are notified and raised.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any, Mapping, Optional

from reirrad.errors import EligibilityError, InputError, ReirradError
from reirrad.outputs import OutputRequest, check_outputs
from reirrad.protocol import load_protocol
from reirrad.review import review_case
from reirrad.runner import RunOutcome, Status, execute, stopped
from reirrad.snapshot import CaseSnapshot
from reirrad.statuses import EXIT_REVIEW, PLAN_KEPT, exit_code_for, status_meaning

from ..answers import RunAnswers, read_answers
from ..dialog import confirm
from . import entry
from .planner import RayStationPlanner
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
    """The answers file (``path`` or ``$REIRRAD_ANSWERS``), else defaults with the version from
    ``$REIRRAD_RAYSTATION_VERSION``; a missing version is refused (never guessed)."""
    target = path or os.environ.get("REIRRAD_ANSWERS")
    answers = read_answers(target) if target else RunAnswers(
        version=os.environ.get("REIRRAD_RAYSTATION_VERSION") or None)
    if answers.version is None:
        raise InputError("the RayStation version is not known: give 'version' in the answers file named by "
                         "REIRRAD_ANSWERS, or set REIRRAD_RAYSTATION_VERSION (e.g. 2024B); see "
                         "reirrad_tps.answers")
    return answers


def _read(version: str, objects: Any, answers: RunAnswers) -> CaseSnapshot:
    patient, case, plan, beam_set, exam = objects
    return RayStationCaseSource(case, plan, beam_set, exam, patient=patient, tps_version=version,
                                prior_dates=dict(answers.prior_dates), planned_start=answers.planned_start,
                                deformable=not answers.dry_run).read()


def main(answers_path: Optional[str] = None, *, interactive: Optional[bool] = None) -> Mapping[str, Any]:
    """Run the workflow on the current patient/plan.

    The choices start from the answers file (if any) and are confirmed in the dialog when a display
    is available (``interactive`` None) or asked for (True); without it (False, or no display) the
    answers must settle every question (:func:`reirrad_tps.dialog.unresolved`). Every failure is shown
    to the user (``await_user_input``, or the log when the GUI is disabled) before it is raised: a bad
    answers file or output path before anything is read, anything later after the undo step rolled
    back.
    """
    try:
        return _menu_run(answers_path, interactive)
    except ReirradError as exc:
        _notify_failure(f"reirrad stopped, nothing was changed: {exc}")
        raise


def _notify_failure(message: str) -> None:
    """Show a failure where the user sees it; outside RayStation (no scripting module) only log it."""
    try:
        entry.notify(message, os.environ.get("REIRRAD_RAYSTATION_VERSION") or None)
    except ReirradError:
        logger.warning("%s", message)


def _menu_run(answers_path: Optional[str], interactive: Optional[bool]) -> Mapping[str, Any]:
    answers = load_answers(answers_path)
    inputs = [p for p in (answers_path or os.environ.get("REIRRAD_ANSWERS"), answers.protocol) if p]
    check_outputs(OutputRequest(report=answers.report, audit_csv=answers.audit_csv), inputs=inputs)
    version = str(answers.version)
    protocol = load_protocol(answers.protocol)
    objects = entry.current_objects(version)
    patient, case, plan, beam_set, _ = objects
    try:
        with entry.undoable("reirrad re-irradiation plan", version):
            snapshot = _read(version, objects, answers)
            confirmed = confirm(review_case(protocol, snapshot, answers.structures), answers,
                                interactive=interactive)
            if confirmed is None:
                raise _CancelledError
            if confirmed.dry_run != answers.dry_run:  # read again with the dose mapping that fits
                snapshot = _read(version, objects, confirmed)
            snapshot = snapshot.with_dates(confirmed.planned_start, confirmed.prior_dates)
            options = confirmed.workflow_options()
            planner = None if options.dry_run else RayStationPlanner(case, plan, beam_set, version=version)
            # the record (report, audit row) is one transaction, committed inside the undo step it
            # describes as its last action: a record that cannot be written rolls the step back
            outcome = execute(protocol, snapshot, options, planner=planner,
                              progress=partial(entry.progress, version=version),
                              outputs=OutputRequest(report=answers.report, audit_csv=answers.audit_csv))
            if outcome.status is Status.STOPPED:
                raise _StoppedError(outcome)
            if not outcome.plan_kept:
                raise _DryRunDoneError(outcome)
    except _CancelledError:
        entry.notify("reirrad cancelled, nothing was changed", version)
        return {"status": "cancelled", "status_meaning": status_meaning("cancelled"),
                "patient_id": snapshot.patient_id}
    except _StoppedError as stop:
        entry.notify(f"reirrad stopped, nothing was changed: {stop.outcome.result.get('reason')}", version)
        return stop.outcome.result
    except _DryRunDoneError as done:
        outcome = done.outcome
    except EligibilityError as exc:  # a stop while reading or confirming, before the run
        entry.notify(f"reirrad stopped, nothing was changed: {exc}", version)
        return stopped(exc, patient_id=str(patient.PatientID),
                       extra={"tps": "RayStation", "tps_version": version}).result
    entry.notify(_message(outcome.result), version)
    return outcome.result


def _message(result: Mapping[str, Any]) -> str:
    """The notification at the end of a run (every status that is not a stop)."""
    status = str(result["status"])
    limiting = ", ".join(result.get("limiting_oars") or ()) or "none"
    text = f"prescription {result.get('prescription_gy')} Gy, limiting {limiting}"
    if status == "dry-run":
        return f"reirrad: dry-run, nothing was changed; {text}"
    if status not in PLAN_KEPT:
        return f"reirrad: {status}, nothing was kept — {status_meaning(status)}"
    if exit_code_for(result) == EXIT_REVIEW:
        return f"reirrad: {status} — needs review: {status_meaning(status)}; {text}"
    return f"reirrad: {status}, {text}"
