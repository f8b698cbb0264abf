"""One run path for every launcher: the stand-in command line, the Eclipse host and stand-alone, the
RayStation menu and ``reirrad evaluate``.

Each launcher does what only it can — open the TPS objects, read the case through its adapter
(:class:`reirrad.ports.CaseSource`), ask for confirmation, keep or undo the TPS's changes — and hands
the rest to :func:`execute`: run the workflow (:func:`reirrad.workflow.run`) or evaluate an existing
dose (:func:`reirrad.workflow.evaluate_dose`), build the result (:func:`reirrad.result.build_result`),
write the run's record (HTML report, audit row) and return a typed :class:`RunOutcome`. A ``stop`` of
the decision gate (:class:`reirrad.errors.EligibilityError`) becomes a ``stopped`` outcome with its
findings (:func:`stopped`), never an exception the launcher has to interpret.

The result mapping (JSON), the console summary, the report and the audit row are views of the outcome;
none recomputes a clinical number (``docs/result.md``). Other failures (a TPS error, a bug) propagate:
the launcher's boundary decides what is rolled back and prints the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .audit import append_audit_csv, audit_record
from .dose import DoseGrid
from .errors import EligibilityError, InputError, OutputError, ReirradError
from .findings import Finding
from .outcome import OutputRequest, RunOutcome, Status
from .ports import Planner
from .progress import Progress
from .protocol import Protocol
from .report import write_report
from .result import build_result, stopped_result
from .snapshot import CaseSnapshot
from .statuses import exit_code_for
from .workflow import PreparedCase, WorkflowOptions, evaluate_dose, run

__all__ = ["AUDIT_PRIOR_COURSES", "OutputRequest", "RunOutcome", "Status", "execute", "stopped",
           "write_record"]

#: Prior-course column groups in every audit row (a patient with more gets a clear refusal): rows of
#: one protocol share one header (:func:`reirrad.audit.append_audit_csv`).
AUDIT_PRIOR_COURSES = 3


def write_record(outcome: RunOutcome, outputs: OutputRequest) -> Tuple[Path, ...]:
    """Write the report and append the audit row of a run's outcome (each only when asked); return the
    paths. A stopped outcome (no run) has no record."""
    run_ = outcome.run
    if run_ is None:
        return ()
    written: List[Path] = []
    if outputs.report:
        written.append(write_report(outputs.report, outcome))
    if outputs.audit_csv:
        n_priors = max(AUDIT_PRIOR_COURSES, len(run_.prepared.snapshot.prior_courses))
        record = audit_record(outcome.result, oar_keys=run_.prepared.protocol.oar_keys,
                              n_prior_courses=n_priors)
        written.append(append_audit_csv(outputs.audit_csv, record))
    return tuple(written)


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
        Where the report and the audit row go (none written by default).
    extra : mapping, optional
        Keys the launcher adds to the result (e.g. what the TPS kept); they never replace a key of the
        result.

    Raises
    ------
    reirrad.errors.OutputError
        The report or the audit row could not be written (the launcher then keeps nothing).
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
        return stopped(exc, patient_id=snapshot.patient_id,
                       extra={"tps": snapshot.tps, "tps_version": snapshot.tps_version, **dict(extra or {})})
    result: Dict[str, Any] = dict(build_result(run_))
    clash = sorted(set(extra or {}) & set(result))
    if clash:
        raise InputError(f"launcher keys {clash} would replace keys of the result; rename them")
    result.update(extra or {})
    outcome = RunOutcome(Status(run_.status), exit_code_for(result), result, run_)
    try:
        paths = write_record(outcome, outputs or OutputRequest())
    except (OSError, InputError) as exc:
        raise OutputError(f"the run's record could not be written ({exc}); the run had status "
                          f"{result['status']!r}: fix the path (e.g. create the report folder) and run "
                          "again") from exc
    return outcome.with_paths(paths)
