"""One run path for every launcher: the stand-in command line, the Eclipse host and stand-alone, the
RayStation menu and ``reirrad evaluate``.

Each launcher does what only it can — open the TPS objects, read the case through its adapter
(:class:`reirrad.ports.CaseSource`), ask for confirmation, keep or undo the TPS's changes — and hands
the rest to :func:`execute`: run the workflow (:func:`reirrad.workflow.run`) or evaluate an existing
dose (:func:`reirrad.workflow.evaluate_dose`), build the result (:func:`reirrad.result.build_result`),
write the run's outputs (HTML report, result JSON, audit row) as one transaction
(:func:`commit_record`, :mod:`reirrad.outputs`) and return a typed :class:`RunOutcome`. A ``stop`` of
the decision gate (:class:`reirrad.errors.EligibilityError`) becomes a ``stopped`` outcome with its
findings (:func:`stopped`), never an exception the launcher has to interpret; its JSON is its only
output. A launcher that must keep the outputs until the TPS has saved (the Eclipse host) runs
:func:`execute` without outputs and stages them itself (:func:`reirrad.outputs.stage_record`).

The result mapping (JSON), the console summary, the report and the audit row are views of the outcome;
none recomputes a clinical number (``docs/result.md``). Other failures (a TPS error, a bug) propagate:
the launcher's boundary decides what is rolled back and prints the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .dose import DoseGrid
from .errors import EligibilityError, InputError, ReirradError
from .files import discard_staged
from .findings import Finding
from .outcome import RunOutcome, Status
from .outputs import AUDIT_PRIOR_COURSES, OutputRequest, stage_record
from .ports import Planner
from .progress import Progress
from .protocol import Protocol
from .result import build_result, stopped_result
from .snapshot import CaseSnapshot
from .statuses import exit_code_for
from .workflow import PreparedCase, WorkflowOptions, evaluate_dose, run

__all__ = ["AUDIT_PRIOR_COURSES", "OutputRequest", "RunOutcome", "Status", "commit_record", "execute",
           "stopped"]


def commit_record(outcome: RunOutcome, outputs: Optional[OutputRequest], *,
                  adopted: Sequence[Tuple[str, Path]] = ()) -> RunOutcome:
    """Write the requested outputs of ``outcome`` as one transaction; return it with the paths written.

    Parameters
    ----------
    outcome : RunOutcome
    outputs : OutputRequest or None
    adopted : sequence of (str, pathlib.Path)
        Files the caller staged (:func:`reirrad.files.stage_file`: the temporary file, its target),
        e.g. dose maps: committed first, with the record; removed when the record cannot be written.

    Raises
    ------
    reirrad.errors.InputError
        The outputs refuse this run (e.g. an audit CSV of other runs): none was written.
    reirrad.errors.OutputError
        An output could not be written: none was (no report, no JSON, no audit row, no adopted file).
    """
    if (outputs is None or not outputs.named()) and not adopted:
        return outcome
    try:
        outcome, staged = stage_record(outcome, outputs or OutputRequest())
    except BaseException:
        discard_staged(tmp for tmp, _ in adopted)
        raise
    with staged:
        for tmp, target in adopted:
            staged.adopt(tmp, target)
        paths = staged.commit()
    return outcome.with_paths(paths)


def stopped(exc: ReirradError, *, patient_id: str, extra: Optional[Mapping[str, Any]] = None) -> RunOutcome:
    """The outcome of a run ended by a stop (an :class:`EligibilityError` with its findings, or bad
    input) before anything was written: status ``stopped``, exit 2; no report, no audit row."""
    findings: Tuple[Finding, ...] = tuple(getattr(exc, "findings", ()) or ())
    result = stopped_result(str(exc), patient_id=patient_id, findings=findings, **dict(extra or {}))
    return RunOutcome(Status.STOPPED, exit_code_for(result), result, None, findings)


def execute(protocol: Protocol, snapshot: CaseSnapshot, options: WorkflowOptions, *,
            planner: Optional[Planner] = None, new_dose: Optional[DoseGrid] = None,
            prescription_gy: Optional[float] = None, progress: Optional[Progress] = None,
            prepared: Optional[PreparedCase] = None, outputs: Optional[OutputRequest] = None,
            extra: Optional[Mapping[str, Any]] = None) -> RunOutcome:
    """Run (or evaluate), build the result, write the record; return the outcome (module docstring).

    Parameters
    ----------
    planner : Planner, optional
        The TPS planner; None for a dry run or an evaluation.
    new_dose : DoseGrid, optional
        An existing new-course dose (TOTAL Gy) to evaluate instead of planning, with
        ``prescription_gy`` (TOTAL Gy).
    prepared : PreparedCase, optional
        :func:`reirrad.workflow.prepare` of the same arguments, when the launcher showed it first.
    outputs : OutputRequest, optional
        Where the report, the result JSON and the audit row go (none written by default; checked by
        :func:`reirrad.outputs.check_outputs` when the launcher started).
    extra : mapping, optional
        Keys the launcher adds to the result (e.g. what the TPS kept); they never replace a key of the
        result.

    Raises
    ------
    reirrad.errors.OutputError
        An output could not be written: none was (the launcher then keeps nothing in the TPS).
    reirrad.errors.ReirradError
        Other than a stop: bad input found while running, a TPS failure; anything else is a bug.
    """
    try:
        if new_dose is not None:
            if prescription_gy is None:
                raise InputError("the new course's prescription is unknown: give it (TOTAL Gy) to evaluate "
                                 "an existing dose")
            run_ = evaluate_dose(protocol, snapshot, new_dose, options, prescription_gy=prescription_gy,
                                 prepared=prepared)
        else:
            run_ = run(protocol, snapshot, planner, options, progress, prepared=prepared)
    except EligibilityError as exc:
        return commit_record(stopped(exc, patient_id=snapshot.patient_id,
                                     extra={"tps": snapshot.tps, "tps_version": snapshot.tps_version,
                                            **dict(extra or {})}), outputs)
    result: Dict[str, Any] = dict(build_result(run_))
    clash = sorted(set(extra or {}) & set(result))
    if clash:
        raise InputError(f"launcher keys {clash} would replace keys of the result; rename them")
    result.update(extra or {})
    return commit_record(RunOutcome(Status(run_.status), exit_code_for(result), result, run_), outputs)
