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

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .audit import append_audit_csv, audit_record
from .dose import DoseGrid
from .errors import EligibilityError, InputError, OutputError, ReirradError
from .evaluation import PlanEvaluation
from .findings import Finding
from .ports import Planner
from .progress import Progress
from .protocol import Protocol
from .report import write_report
from .result import build_result, stopped_result
from .snapshot import CaseSnapshot
from .statuses import PLAN_KEPT, exit_code_for
from .workflow import FinalCheck, PreparedCase, WorkflowOptions, WorkflowRun, evaluate_dose, run

__all__ = ["AUDIT_PRIOR_COURSES", "OutputRequest", "RunOutcome", "Status", "execute", "stopped",
           "write_record"]

#: Prior-course column groups in every audit row (a patient with more gets a clear refusal): rows of
#: one protocol share one header (:func:`reirrad.audit.append_audit_csv`).
AUDIT_PRIOR_COURSES = 3


class Status(str, Enum):
    """The statuses of :mod:`reirrad.statuses` (their values are the result's ``status`` text)."""

    PLANNED = "planned"
    DRY_RUN = "dry-run"
    EVALUATED = "evaluated"
    COVERAGE_COMPROMISED = "coverage-compromised"
    FINAL_CHECK_FAILED = "final-check-failed"
    INFEASIBLE = "infeasible"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    ERROR = "error"


@dataclass(frozen=True)
class OutputRequest:
    """Where the run's record goes: the HTML report and the audit CSV (None: not written)."""

    report: Optional[str] = None
    audit_csv: Optional[str] = None


@dataclass(frozen=True, eq=False)
class RunOutcome:
    """What a run decided and left behind (frozen; the views read it).

    Attributes
    ----------
    status : Status
    exit_code : int
        :func:`reirrad.statuses.exit_code_for` of the result.
    result : mapping
        The JSON view (:func:`reirrad.result.build_result`, or :func:`reirrad.result.stopped_result`).
    run : WorkflowRun or None
        None for a stop before a run.
    stop_findings : tuple of Finding
        The ``stop`` findings of a stopped run (empty otherwise).
    paths_written : tuple of pathlib.Path
        The report and audit CSV written for this run.
    """

    status: Status
    exit_code: int
    result: Mapping[str, Any]
    run: Optional[WorkflowRun]
    stop_findings: Tuple[Finding, ...] = ()
    paths_written: Tuple[Path, ...] = field(default_factory=tuple)

    @property
    def evaluation(self) -> Optional[PlanEvaluation]:
        """The evaluation the status comes from (the final check's for a planned run)."""
        return None if self.run is None else self.run.final

    @property
    def final_check(self) -> Optional[FinalCheck]:
        """The final check on the dose re-read from the TPS (None for dry runs, evaluations, stops)."""
        return None if self.run is None else self.run.final_check

    @property
    def findings(self) -> Tuple[Finding, ...]:
        """Every finding of the run (the stop findings of a stopped one)."""
        return self.stop_findings if self.run is None else self.run.prepared.findings

    @property
    def plan_kept(self) -> bool:
        """Whether the run leaves a plan in the TPS (planned, or kept for review)."""
        return self.status.value in PLAN_KEPT

    def with_result(self, **extra: Any) -> RunOutcome:
        """A copy whose result mapping has ``extra`` keys added (launcher facts: TPS journal, files)."""
        return RunOutcome(self.status, self.exit_code, {**self.result, **extra}, self.run, self.stop_findings,
                          self.paths_written)


def write_record(run_: WorkflowRun, result: Mapping[str, Any], outputs: OutputRequest) -> Tuple[Path, ...]:
    """Write the report and append the audit row of ``run_`` (each only when asked); return the paths."""
    written: List[Path] = []
    if outputs.report:
        written.append(write_report(outputs.report, run_, result))
    if outputs.audit_csv:
        n_priors = max(AUDIT_PRIOR_COURSES, len(run_.prepared.snapshot.prior_courses))
        record = audit_record(result, oar_keys=run_.prepared.protocol.oar_keys, n_prior_courses=n_priors)
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
    try:
        paths = write_record(run_, result, outputs or OutputRequest())
    except (OSError, InputError) as exc:
        raise OutputError(f"the run's record could not be written ({exc}); the run had status "
                          f"{result['status']!r}: fix the path (e.g. create the report folder) and run "
                          "again") from exc
    return RunOutcome(Status(run_.status), exit_code_for(result), result, run_, (), paths)
