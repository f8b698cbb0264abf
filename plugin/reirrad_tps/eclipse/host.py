"""The Python side of the Eclipse launch chain (``install/eclipse/``).

``ReirradHost.exe`` is a C# stand-alone executable with ``[assembly: ESAPIScript(IsWriteable = true)]``
that embeds CPython (pythonnet's ``Python.Runtime``). It owns the ESAPI session and calls this module
with the live objects, in this order::

    request = host.begin(args, ini_answers)       # parse; the stand-in registers its patients here
    if request.stop_code is not None: exit(request.stop_code)      # --help, usage error
    app = Application.CreateApplication()        # C#: one per process, STA thread
    patient = app.OpenPatientById(request.patient_id)
    if request.writes: patient.BeginModifications()
    outcome = host.run(request, app, patient)     # never raises; stages JSON, report, audit row
    saved = outcome.ok and request.writes and app.SaveModifications() succeeded
    exit(host.finish(request, outcome, saved, save_error))   # commits the outputs, summary, exit code
    app.ClosePatient(); app.Dispose()

``outcome.ok`` (save or not) is True only when the run left a plan to keep — its status is in
:data:`reirrad.statuses.PLAN_KEPT`: ``planned`` (exit 0) or ``coverage-compromised``,
``final-check-failed``, ``infeasible`` (exit 3, "NEEDS REVIEW": the plan is saved so that it can be
reviewed, and the console, the result and the report say why) — **and** its outputs (result JSON, HTML
report, audit row) were rendered and staged. Output paths are checked when the request is parsed
(:func:`reirrad.outputs.check_outputs`: a missing folder, a directory, a device, an input named as an
output end the run before the patient is read); :func:`run` stages every output before it returns, i.e.
before ``SaveModifications``, and an output that cannot be staged turns the run into an ``error`` with
nothing saved. :func:`finish` commits them after the save, or discards them when the save failed
(:mod:`reirrad.outputs`), and writes the JSON of a run that has no record. A stop (bad input, or any
``stop`` finding the engine raises as :class:`~reirrad.errors.EligibilityError`, whose ``findings`` go
into the result as ``stop_findings``), a TPS or internal failure, a cancel and ``--dry-run`` never save;
the writes already made in the session are discarded when the Application is disposed
(docs/reference/esapi.md §2.2).
``--dry-run`` never calls ``BeginModifications``.

:mod:`.standalone` runs the same three functions from ``python`` through
``CustomScriptExecutable.CreateApplication`` (read-only on a clinical system).

Command line (``ReirradHost.exe`` passes its arguments unchanged)::

    --patient ID --course ID --plan ID          the NEW plan (an unapproved ExternalPlanSetup)
    --intent {limit-toxicity,isotoxic} --search {predictive,ladder} --protocol NAME_OR_YAML
    --planned-start YYYY-MM-DD                   first fraction of the new course
    --prior-date PLAN=YYYY-MM-DD                 last fraction of a prior plan whose course has no
                                                 CompletedDateTime (repeatable)
    --answers FILE                               the same choices from a file (reirrad_tps.answers);
                                                 command-line values win. Read over the file
                                                 ReirradHost.ini's ``answers`` names (ini_answers), if any:
                                                 the department's choices for every run, e.g. a
                                                 ``report_dir`` (each run's own report) and an ``audit_csv``
    --override-eligibility REASON  --dry-run  --technique {VMAT,IMRT}  --mlc-id ID
    --dose-unit {Gy,cGy}                         the clinic's unit when no plan shows it
    --report HTML  --audit-csv CSV               the HTML report; the run's audit row (appended)
    --no-dialog                                  unattended: nothing is asked
    --json PATH                                  the result (also written after a failure)

An option given twice is refused (exit 2): which value was meant is not known.

Without ``--no-dialog`` the run is confirmed before anything is written: with a display (always on
a Windows workstation) in the confirmation dialog (:mod:`reirrad_tps.dialog`: prior dates, structure
matching, intent, risk factors); without one, on the console, which shows what was found and computed
(prior courses, intervals, recovery credited, structure matching, allowed doses, findings), asks for any
missing date and waits for ``y``. Cancel (or anything but ``y``) ends with nothing written.

Exit codes (:func:`reirrad.statuses.exit_code_for`, the same for every launcher): 0 planned or dry run;
3 a plan was kept but needs review (coverage-compromised, final-check-failed, infeasible); 2 a stop
(bad input, including a prior, approved or treated plan named as the new plan; an eligibility,
matching or OAR-tolerance stop) or cancelled; 1 the TPS failed (optimiser, dose calculation, a
refused write), an internal error, an output that could not be written, or ``SaveModifications``
refused; 4 (C# host only) Python could not be started.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, NoReturn, Optional, Sequence, Tuple

from reirrad.cli import StrictParser
from reirrad.errors import EligibilityError, InputError, OutputError, ReirradError
from reirrad.findings import Finding
from reirrad.outputs import (
    StagedRecord,
    check_outputs,
    stage_record,
    write_result_json,
)
from reirrad.progress import TextProgress
from reirrad.protocol import Protocol, load_protocol
from reirrad.result import stopped_result
from reirrad.review import CaseReview, review_case
from reirrad.runner import RunOutcome, execute
from reirrad.snapshot import CaseSnapshot
from reirrad.statuses import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REVIEW,
    EXIT_STOP,
    exit_code_for,
    status_meaning,
)
from reirrad.workflow import INTENTS, SEARCHES, PreparedCase, WorkflowRun, prepare

from ..answers import RunAnswers, parse_date, read_layered_answers
from ..dialog import confirm, display_available, unresolved
from ..summary import summary
from .planner import TECHNIQUES, EclipsePlanner
from .source import TPS_NAME, EclipseCaseSource

__all__ = ["EXIT_CANCELLED", "EXIT_FAILED", "EXIT_INPUT", "EXIT_OK", "EXIT_REVIEW", "HostOutcome",
           "HostRequest", "begin", "build_parser", "esapi_version", "failed", "finish", "refused",
           "request_from_args", "run"]

logger = logging.getLogger(__name__)

#: Bad input and stops; cancelled at the confirmation (reirrad.statuses).
EXIT_INPUT = EXIT_CANCELLED = EXIT_STOP
#: Text the stand-in's API assembly carries in its AssemblyInformationalVersion.
STAND_IN_MARK = "reirrad ESAPI stand-in"

Ask = Callable[[str], str]


@dataclass(frozen=True)
class HostRequest:
    """One run asked for on the command line.

    ``stop_code`` is set (and nothing else is meaningful) when the host must exit at once: after
    ``--help`` (0) or a usage error (2), which has been printed.
    """

    patient_id: str = ""
    course_id: str = ""
    plan_id: str = ""
    answers: RunAnswers = field(default_factory=RunAnswers)
    dialog: bool = True
    json_path: Optional[str] = None
    technique: str = "VMAT"
    mlc_id: Optional[str] = None
    dose_unit: Optional[str] = None
    stop_code: Optional[int] = None

    @property
    def writes(self) -> bool:
        """Whether the run may write (the host then calls ``BeginModifications``)."""
        return self.stop_code is None and not self.answers.dry_run


@dataclass(frozen=True, eq=False)
class HostOutcome:
    """What :func:`run` did. ``ok`` is the only thing the C# host needs: save or not (a plan to keep,
    its outputs written)."""

    ok: bool
    result: Mapping[str, Any]
    code: int
    run: Optional[WorkflowRun] = None
    staged: Optional[StagedRecord] = None


class _Parser(StrictParser):
    """The host's command line: an option given twice is refused (:class:`reirrad.cli.StrictParser`;
    ``--patient A --patient B`` kept B until 2026-12-07), a usage error is an InputError (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{self.prog}: {message} (see --help)")


def build_parser(prog: str = "ReirradHost.exe") -> argparse.ArgumentParser:
    """The command line shared by the C# host and :mod:`.standalone`."""
    p = _Parser(prog=prog, description="reirrad: pelvic SABR re-irradiation planning on the open Eclipse "
                                       "patient (UK SABR Consortium guidance).")
    p.add_argument("--patient", required=True, help="patient ID")
    p.add_argument("--course", required=True, help="course ID of the new plan")
    p.add_argument("--plan", required=True, help="ID of the new, unapproved external-beam plan")
    p.add_argument("--intent", choices=INTENTS, default=None)
    p.add_argument("--search", choices=SEARCHES, default=None)
    p.add_argument("--protocol", default=None, help="shipped protocol name or YAML path")
    p.add_argument("--planned-start", metavar="YYYY-MM-DD", default=None)
    p.add_argument("--prior-date", metavar="PLAN=YYYY-MM-DD", action="append", default=[])
    p.add_argument("--answers", metavar="FILE", default=None, help="answers file (YAML/JSON)")
    p.add_argument("--override-eligibility", metavar="REASON", default=None)
    p.add_argument("--dry-run", action="store_true", default=None, help="compute; write nothing")
    p.add_argument("--technique", choices=TECHNIQUES, default="VMAT")
    p.add_argument("--mlc-id", default=None)
    p.add_argument("--dose-unit", choices=("Gy", "cGy"), default=None)
    p.add_argument("--no-dialog", action="store_true", help="unattended: ask nothing")
    p.add_argument("--json", metavar="PATH", default=None)
    p.add_argument("--report", metavar="HTML", default=None, help="write the HTML report")
    p.add_argument("--audit-csv", metavar="CSV", default=None, help="append the run's audit row")
    return p


def request_from_args(ns: argparse.Namespace, deployment_answers: Optional[str] = None) -> HostRequest:
    """A :class:`HostRequest` from parsed arguments (answers file first, command line over it).

    The answers are ``deployment_answers`` (ReirradHost.ini's ``answers``: the department's file for
    every run, e.g. its ``report_dir`` and ``audit_csv``; one patient's answers are refused there,
    ``reirrad_tps.answers.ONE_PATIENT_KEYS``) with ``--answers`` over it key by key
    (:func:`reirrad_tps.answers.read_layered_answers`), and the command line over both. A ``report_dir``
    gives this run a report file of its own (:meth:`RunAnswers.for_run`).
    """
    answers = read_layered_answers(deployment_answers, ns.answers)
    dates = dict(answers.prior_dates)
    for item in ns.prior_date:
        plan, sep, value = str(item).partition("=")
        if not sep or not plan:
            raise InputError(f"--prior-date {item!r}: write PLAN_ID=YYYY-MM-DD (COURSE/PLAN_ID=YYYY-MM-DD "
                             "when two courses have a plan of that id)")
        dates[plan] = parse_date(value, f"--prior-date {plan}")
    answers = answers.updated(
        intent=ns.intent, search=ns.search, protocol=ns.protocol, dry_run=ns.dry_run,
        override_eligibility=ns.override_eligibility, prior_dates=dates, report=ns.report,
        audit_csv=ns.audit_csv,
        planned_start=None if ns.planned_start is None else parse_date(ns.planned_start, "--planned-start"))
    answers = answers.for_run(ns.patient, ns.plan)  # report_dir: this run's own report file
    if ns.no_dialog and answers.planned_start is None:
        raise InputError("--planned-start YYYY-MM-DD (the new course's first fraction) is needed with "
                         "--no-dialog: the interval since each prior course is never guessed")
    check_outputs(answers.outputs(json=ns.json),
                  inputs=[p for p in (deployment_answers, ns.answers, answers.protocol) if p])
    return HostRequest(patient_id=ns.patient, course_id=ns.course, plan_id=ns.plan, answers=answers,
                       dialog=not ns.no_dialog, json_path=ns.json, technique=ns.technique, mlc_id=ns.mlc_id,
                       dose_unit=ns.dose_unit)


def _api_assembly() -> Any:
    from System import AppDomain  # noqa: PLC0415 - the .NET runtime is loaded by the caller

    for assembly in AppDomain.CurrentDomain.GetAssemblies():
        if str(assembly.GetName().Name) == "VMS.TPS.Common.Model.API":
            return assembly
    raise InputError("the ESAPI assembly VMS.TPS.Common.Model.API is not loaded in this process: start "
                     "reirrad through ReirradHost.exe or reirrad_tps.eclipse.standalone")


def esapi_version() -> str:
    """The loaded ESAPI API assembly's informational version (else its assembly version)."""
    import clr  # noqa: PLC0415
    from System.Reflection import AssemblyInformationalVersionAttribute  # noqa: PLC0415

    assembly = _api_assembly()
    attrs = list(assembly.GetCustomAttributes(clr.GetClrType(AssemblyInformationalVersionAttribute), False))
    if attrs:
        return str(attrs[0].InformationalVersion)
    return str(assembly.GetName().Version)


def _stand_in() -> Any:
    """``tps_stubs.esapi`` when the loaded ESAPI is the reirrad stand-in, else None."""
    if STAND_IN_MARK not in esapi_version():
        return None
    import tps_stubs.esapi as stand_in  # noqa: PLC0415 - only on the stand-in

    return stand_in


def begin(argv: Sequence[str], deployment_answers: Optional[str] = None) -> HostRequest:
    """Parse the host's arguments; on the stand-in, register its patient database.

    ``deployment_answers``: the answers file ReirradHost.ini names (``answers``), the department's for
    every run, with ``--answers`` read over it (:func:`request_from_args`). Never raises: ``--help`` and
    usage errors return a request with ``stop_code`` (after printing).
    """
    try:
        ns = build_parser().parse_args(list(argv))
        request = request_from_args(ns, deployment_answers)
    except SystemExit as exc:  # --help
        return HostRequest(stop_code=int(exc.code or 0))
    except ReirradError as exc:
        print(f"reirrad: {exc}", file=sys.stderr)
        return HostRequest(stop_code=EXIT_INPUT)
    stand_in = _stand_in()
    if stand_in is not None:
        stand_in.configure_from_environment()
    return request


def _find(items: Any, wanted: str, what: str, where: str) -> Any:
    found = [x for x in list(items) if str(x.Id) == wanted]
    if not found:
        ids = sorted(str(x.Id) for x in list(items))
        raise InputError(f"{what} {wanted!r} is not in {where} ({ids}); check --{what}")
    return found[0]


def _new_plan(request: HostRequest, patient: Any) -> Any:
    if patient is None:
        raise InputError(f"no patient with ID {request.patient_id!r} in this Eclipse database; "
                         "check --patient")
    course = _find(patient.Courses, request.course_id, "course", f"patient {request.patient_id}")
    plan = _find(course.PlanSetups, request.plan_id, "plan", f"course {request.course_id}")
    kind = str(plan.GetType().Name)  # a BrachyPlanSetup has OptimizationSetup and Beams too (PlanSetup's)
    if kind != "ExternalPlanSetup":
        raise InputError(f"plan {request.plan_id!r} is a {kind}, not an external-beam plan "
                         "(ExternalPlanSetup); reirrad plans external-beam SABR: choose the new "
                         "external-beam plan")
    return plan


def _console_dates(review: CaseReview, answers: RunAnswers, ask: Ask) -> RunAnswers:
    """Ask on the console for the dates the case and the answers leave open."""
    start = answers.planned_start or review.planned_start
    if start is None:
        start = parse_date(ask("First fraction of the new course (YYYY-MM-DD): ").strip(), "planned start")
    dates = dict(answers.prior_dates)
    for row in review.priors:
        if row.last_fraction is None and row.key not in dates:
            dates[row.key] = parse_date(
                ask(f"Last fraction of prior plan {row.plan_id} (course {row.course_id}) "
                    "(YYYY-MM-DD): ").strip(),
                f"last fraction of {row.key}")
    return answers.updated(planned_start=start, prior_dates=dates)


def _confirm_inputs(protocol: Protocol, snapshot: CaseSnapshot, answers: RunAnswers,
                    ask: Ask) -> Optional[RunAnswers]:
    """The confirmation dialog when a display is available, else the console's questions."""
    if display_available():  # the dialog previews the allowed doses and their ranges
        review = review_case(protocol, snapshot, answers.structures, objectives=answers.objectives,
                             allowed_doses=True)
        return confirm(review, answers, interactive=True)
    review = review_case(protocol, snapshot, answers.structures, objectives=answers.objectives)
    answers = _console_dates(review, answers, ask)
    missing = unresolved(review, answers)
    if missing:  # an ambiguous structure: the console cannot offer the drop-down
        raise InputError("decide in an answers file (--answers): " + "; ".join(missing))
    return answers


def _confirmation_text(prepared: PreparedCase) -> str:
    snap = prepared.snapshot
    lines = [f"reirrad - patient {snap.patient_id}, new plan {snap.plan.id} "
             f"({prepared.n_fractions} fractions, target {prepared.target_id}), "
             f"protocol {prepared.protocol.name}",
             f"intent {prepared.options.intent}, planned start {snap.planned_start}", "Prior courses:"]
    for course in snap.prior_courses:
        days = course.interval_days(snap.planned_start)
        lines.append(f"  {course.label}: {course.n_fractions} fractions, last fraction "
                     f"{course.last_fraction}, interval {days} days, registration "
                     f"{course.registration_id or 'same frame'}")
    lines.append("OAR            structure      prior EQD2  recovered  remaining  allowed (Gy physical)"
                 "  range")
    sensitivity = prepared.sensitivity
    for key, tol in prepared.tolerances.items():
        rec = "-" if tol.recovered_fraction is None else f"{100 * tol.recovered_fraction:.0f} %"
        rem = "-" if tol.remaining_eqd2_gy is None else f"{tol.remaining_eqd2_gy:.1f}"
        span = "" if sensitivity is None else "{:.1f}-{:.1f}".format(*sensitivity.range_gy(key))
        lines.append(f"  {key:13s} {prepared.oar_structures[key]:14s} {tol.prior_eqd2_gy:10.1f} {rec:>10s} "
                     f"{rem:>10s} {tol.allowed_physical_gy:8.2f}  {span:>20s}")
    if sensitivity is not None:
        lines.append("  range: the allowed dose with one assumption changed at a time (alpha/beta, recovery, "
                     "interval, registration margin)")
    for finding in prepared.findings:
        lines.append(f"  [{finding.severity}] {finding.message}")
    return "\n".join(lines)


def _error_result(request: HostRequest, status: str, message: str, error_type: str,
                  findings: Sequence[Finding] = ()) -> Dict[str, Any]:
    where = {"error_type": error_type, "course_id": request.course_id, "plan_id": request.plan_id,
             "tps": TPS_NAME}
    if status == "stopped":
        return stopped_result(message, patient_id=request.patient_id, findings=findings, **where)
    return {"status": status, "status_meaning": status_meaning(status), "reason": message,
            "patient_id": request.patient_id, **where}


def _stop_findings(exc: BaseException) -> Tuple[Finding, ...]:
    """The ``findings`` a stop carries (the engine's gate raises EligibilityError with them), else ()."""
    found = getattr(exc, "findings", None) or ()
    return tuple(f for f in found if isinstance(f, Finding))


def _input(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        return ""


class _CancelledError(Exception):
    """The user cancelled at the confirmation (nothing written)."""


def _workflow(request: HostRequest, patient: Any, ask: Ask) -> RunOutcome:
    plan = _new_plan(request, patient)
    answers = request.answers
    protocol = load_protocol(answers.protocol)
    snapshot = EclipseCaseSource(patient, plan, planned_start=answers.planned_start,
                                 prior_dates=answers.prior_dates, tps_version=esapi_version()).read()
    on_console = request.dialog and not display_available()
    if request.dialog:
        confirmed = _confirm_inputs(protocol, snapshot, answers, ask)
        if confirmed is None:
            raise _CancelledError
        answers = confirmed
        snapshot = snapshot.with_dates(answers.planned_start, answers.prior_dates)
        if not request.writes and not answers.dry_run:  # the session was opened for a dry run
            raise InputError("this run was started as a dry run (--dry-run, or dry_run in an answers file: "
                             "the one ReirradHost.ini names sets it for every run), so Eclipse was not asked "
                             "to allow changes; clearing 'dry run' in the confirmation cannot write: start "
                             "reirrad again without dry run")
    options = answers.workflow_options()
    if not answers.dry_run and not snapshot.plan.writable:
        raise InputError(f"plan {snapshot.plan.id!r} in course {request.course_id!r} is "
                         f"{snapshot.plan.approval_status}, treated, in a completed course or read-only; "
                         "reirrad never writes to it: choose the new, unapproved plan with --course/--plan")
    prepared = prepare(protocol, snapshot, options)
    if on_console:
        print(_confirmation_text(prepared), flush=True)
        verb = "Compute (dry run, nothing written)" if answers.dry_run else "Write objectives and plan"
        if ask(f"{verb}? [y/N] ").strip().lower() not in ("y", "yes"):
            raise _CancelledError
    planner = None
    if not answers.dry_run:
        planner = EclipsePlanner(plan, patient=patient, technique=request.technique, mlc_id=request.mlc_id,
                                 dose_unit=request.dose_unit, modifications_begun=True)
    return execute(protocol, snapshot, options, planner=planner, progress=TextProgress(sys.stdout),
                   prepared=prepared)


def run(request: HostRequest, application: Any, patient: Any, ask: Optional[Ask] = None) -> HostOutcome:
    """Run the workflow on the open patient; never raises for a failed run (``ok`` is False then).

    Parameters
    ----------
    request : HostRequest
    application : ESAPI ``Application``
        The session (kept for symmetry with the C# host; the run reads through ``patient``).
    patient : ESAPI ``Patient``
        ``application.OpenPatientById(request.patient_id)``, with ``BeginModifications()`` already called
        when ``request.writes``.
    ask : callable, optional
        How the console confirmation asks a question (default: ``input``).
    """
    del application  # the session belongs to the caller; nothing here opens or saves
    done = _guarded_workflow(request, patient, ask or _input)
    if isinstance(done, HostOutcome):
        return done
    if done.run is None:  # a stop of the decision gate inside the run (nothing written)
        return _failed_outcome(request, "stopped", str(done.result.get("reason")), "EligibilityError",
                               done.stop_findings)
    keep = request.writes and done.plan_kept
    answers = request.answers
    outputs = answers.outputs(json=request.json_path)
    try:  # every output rendered and staged before any save; committed by finish() after it
        session = _session(request, keep, None)
        done, staged = stage_record(done, outputs, json_extra={"eclipse_session": session})
    except InputError as exc:  # the outputs refuse this run: a stop, nothing saved, nothing written
        return _failed_outcome(request, "stopped", f"{exc}; nothing was saved", "InputError")
    except OutputError as exc:  # an output not writable: no save, so nothing is kept without its record
        return _failed_outcome(request, "error", f"{exc}; nothing was saved", "OutputError")
    return HostOutcome(keep, dict(done.result), done.exit_code, done.run, staged)


def _guarded_workflow(request: HostRequest, patient: Any, ask: Ask) -> Any:
    """The workflow's run, or the outcome of how it failed (the host's boundary: never raises)."""
    try:
        return _workflow(request, patient, ask)
    except _CancelledError:
        return _failed_outcome(request, "cancelled", "cancelled by the user; nothing was written",
                               "Cancelled")
    except EligibilityError as exc:
        return _failed_outcome(request, "stopped", str(exc), type(exc).__name__, _stop_findings(exc))
    except InputError as exc:  # bad input, refused before or by a write guard: a stop (exit 2)
        return _failed_outcome(request, "stopped", str(exc), type(exc).__name__)
    except ReirradError as exc:  # the TPS failed (optimiser, dose calculation, a refused write) or the
        # report / audit row could not be written (OutputError): either way nothing is saved
        suffix = "; nothing was saved" if isinstance(exc, OutputError) else ""
        return _failed_outcome(request, "error", f"{exc}{suffix}", type(exc).__name__)
    except Exception as exc:  # any failure means "do not save"
        traceback.print_exc()
        return _failed_outcome(request, "error", f"internal error: {exc}", type(exc).__name__)


def _failed_outcome(request: HostRequest, status: str, message: str, error_type: str,
                    findings: Sequence[Finding] = ()) -> HostOutcome:
    result = _error_result(request, status, message, error_type, findings)
    return HostOutcome(False, result, exit_code_for(result))


def _session(request: HostRequest, saved: bool, save_error: Optional[str]) -> Dict[str, Any]:
    return {"writes": request.writes, "saved": bool(saved), "save_error": save_error}


def refused(request: HostRequest, message: str, error_type: str, code: int = EXIT_INPUT) -> HostOutcome:
    """The outcome of a session refused before :func:`run` (nothing written, nothing saved)."""
    status = "error" if code == EXIT_FAILED else "stopped"
    result = _error_result(request, status, message, error_type)
    return HostOutcome(False, result, code)


def failed(request: HostRequest, message: str) -> HostOutcome:
    """The outcome of a session that failed around :func:`run` (ESAPI refused to open the patient or to
    begin modifications): nothing is saved."""
    return refused(request, f"Eclipse refused: {message}", "EsapiError", EXIT_FAILED)


def _print_stop(result: Mapping[str, Any]) -> None:
    print(f"reirrad {str(result.get('status')).upper()}: Nothing was saved.", flush=True)
    print(summary(result), flush=True)


def _commit(staged: Optional[StagedRecord], *, discard: bool) -> Tuple[Tuple[Path, ...], Optional[str]]:
    """Commit (or, after a failed save, discard) the staged outputs: (files written, error text)."""
    if staged is None:
        return (), None
    if discard:
        staged.abort()
        return (), None
    try:
        return staged.commit(), None
    except OutputError as exc:
        print(f"reirrad: {exc}", file=sys.stderr, flush=True)
        return (), str(exc)


def _print_outcome(result: Mapping[str, Any], code: int, saved: bool) -> None:
    status = str(result.get("status"))
    if status in ("stopped", "error", "cancelled"):
        _print_stop(result)
        return
    print(summary(result), flush=True)
    if code == EXIT_REVIEW:
        print(f"NEEDS REVIEW ({status}): {status_meaning(status)}.", flush=True)
    if saved:
        print("Saved to the Eclipse database" + (" for review." if code == EXIT_REVIEW else "."), flush=True)
    elif status == "dry-run":
        print("Nothing was saved (dry run).", flush=True)
    else:
        print("Nothing was saved.", flush=True)


def finish(request: HostRequest, outcome: HostOutcome, saved: bool, save_error: Optional[str] = None) -> int:
    """Commit or discard the run's staged outputs, print the summary; return the process exit code.

    :func:`run` staged every output (report, JSON, audit row) before the save
    (:func:`reirrad.outputs.stage_record`); they are committed here, after ``SaveModifications``
    returned, or discarded when it failed, and then only the JSON is written, saying why. A run that
    ended without a staged record (stop, cancel, failure) writes its JSON only.

    Parameters
    ----------
    saved : bool
        Whether ``Application.SaveModifications()`` was called and returned.
    save_error : str, optional
        Why saving failed (the run's writes were then discarded).
    """
    result = dict(outcome.result)
    result["eclipse_session"] = _session(request, saved, save_error)
    code = outcome.code
    if save_error is not None:
        result["status"], result["status_meaning"] = "error", status_meaning("error")
        result["reason"] = (f"SaveModifications failed: {save_error}; nothing was saved, and no report or "
                            "audit row was written")
        code = EXIT_FAILED
    written, output_error = _commit(outcome.staged, discard=save_error is not None)
    if output_error is not None:  # after the save: report it, never undo what Eclipse holds
        result["output_error"] = output_error
        code = EXIT_FAILED if code == EXIT_OK else code
    _print_outcome(result, code, saved)
    for path in written:
        print(f"Wrote {path}", flush=True)
    json_committed = request.json_path is not None and Path(request.json_path) in written
    if not json_committed or bool(saved) != outcome.ok or output_error is not None:
        try:  # the result of a run that has no committed record, or whose save went otherwise
            write_result_json(request.json_path, result)
        except Exception as exc:
            print(f"reirrad: the result JSON could not be written to {request.json_path}: {exc}",
                  file=sys.stderr, flush=True)
            if code == EXIT_OK:
                code = EXIT_FAILED
    stand_in = _stand_in()
    if stand_in is not None:
        stand_in.export_journal_from_environment()
    return code
