"""Running the planning workflow on a TPS stand-in from the command line (``reirrad plan``, ``demo``).

Both stand-ins are wired: RayStation (``connect``, one ``CompositeAction``) and Eclipse (the ESAPI
assemblies on Mono, a write-enabled plug-in context; nothing is saved - the stand-in has no
``SaveModifications`` step in this path, which is the launcher's job). Prior-course dates are taken
from the stub patient's definition, standing in for the dosimetrist's answers.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from functools import partial
from typing import Any, Dict, List, Mapping, Optional

from reirrad.errors import EligibilityError, InputError
from reirrad.outputs import OutputRequest
from reirrad.progress import Progress, combine
from reirrad.protocol import Protocol
from reirrad.runner import RunOutcome, Status, commit_record, execute, stopped
from reirrad.workflow import WorkflowOptions

__all__ = ["STAND_INS_MISSING", "TPS_CHOICES", "eclipse_stand_in_unavailable", "plan_on_stub", "run_on_stub",
           "stand_in_patients"]

TPS_CHOICES = ("raystation-stub", "eclipse-stub")


#: Why a stand-in command cannot run in a clinical install (one line, never a traceback).
STAND_INS_MISSING = ("the TPS stand-ins are not installed: they are a separate distribution (reirrad-stubs) "
                     "for testing only; from a clone of reirrad run 'pip install -e tps_stubs' (make does)")


def stand_ins_installed() -> bool:
    """True when the TPS stand-ins (the separate reirrad-stubs distribution) can be imported."""
    return importlib.util.find_spec("tps_stubs") is not None


def stand_in_patients() -> Any:
    """The stand-ins' ``tps_stubs.patients`` module, imported only now that a stand-in is asked for.

    Raises
    ------
    reirrad.errors.InputError
        The stand-ins are not installed (:data:`STAND_INS_MISSING`).
    """
    if not stand_ins_installed():
        raise InputError(STAND_INS_MISSING)
    return importlib.import_module("tps_stubs.patients")


def eclipse_stand_in_unavailable() -> Optional[str]:
    """Why the ESAPI stand-in cannot run on this machine (one line), or None when it can.

    The stand-in needs Mono (to compile and host its assemblies) and pythonnet; ``reirrad demo`` runs
    its RayStation half without them and says why the Eclipse half was skipped.
    """
    esapi = importlib.import_module("tps_stubs.esapi")
    try:
        esapi.runtime()
    except esapi.BuildError as exc:
        return str(exc)
    return None


def _load_patient(patient_ref: str) -> Any:
    """The stub patient ``patient_ref`` (an id or a definition file).

    Raises
    ------
    reirrad.errors.InputError
        No such patient (the message lists the shipped ids), or a malformed or unreadable definition.
    """
    try:
        return stand_in_patients().load_patient(patient_ref)
    except KeyError as exc:
        reason = exc.args[0] if exc.args else str(exc)
        raise InputError(f"{reason}; 'reirrad stub-patients' lists them") from None


def _prior_dates(patient_ref: str) -> Dict[str, dt.date]:
    model = _load_patient(patient_ref)
    return {p.id: p.last_fraction for p in model.prior_plans() if p.last_fraction is not None}


def plan_on_stub(tps: str, version: str, patient_ref: str, protocol: Protocol,
                 options: WorkflowOptions, *, progress: Optional[Progress] = None,
                 outputs: Optional[OutputRequest] = None) -> Mapping[str, Any]:
    """Open ``patient_ref`` in the stand-in, run the workflow, return the result mapping.

    A stop (:mod:`reirrad.gate`) returns ``{"status": "stopped", "stop_findings": [...], ...}`` with
    nothing written to the TPS. ``progress`` gets the workflow's reports (RayStation's ``set_progress``
    gets them too); ``outputs`` are the run's report, JSON and audit row, one transaction
    (:func:`reirrad.runner.commit_record`), committed inside the RayStation undo step.
    """
    return run_on_stub(tps, version, patient_ref, protocol, options, progress=progress,
                       outputs=outputs).result


def run_on_stub(tps: str, version: str, patient_ref: str, protocol: Protocol, options: WorkflowOptions, *,
                progress: Optional[Progress] = None, outputs: Optional[OutputRequest] = None) -> RunOutcome:
    """:func:`plan_on_stub`, returning the whole :class:`reirrad.runner.RunOutcome`."""
    _load_patient(patient_ref)  # one line when the stand-ins are not installed or the patient is unknown
    if tps == "raystation-stub":
        return _plan_raystation(version, patient_ref, protocol, options, progress=progress, outputs=outputs)
    if tps == "eclipse-stub":
        reason = eclipse_stand_in_unavailable()
        if reason is not None:
            raise InputError(f"the ESAPI stand-in cannot run on this machine: {reason}")
        return _plan_eclipse(version, patient_ref, protocol, options, progress=progress, outputs=outputs)
    raise ValueError(f"unsupported TPS {tps!r}; choose one of {TPS_CHOICES}")


class _UndoError(Exception):
    """Leave the RayStation undo step rolled back (a stop: the adapter's reads are undone too)."""

    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__(outcome.status.value)
        self.outcome = outcome


def _plan_raystation(version: str, patient_ref: str, protocol: Protocol, options: WorkflowOptions, *,
                     progress: Optional[Progress], outputs: Optional[OutputRequest]) -> RunOutcome:
    import tps_stubs.raystation as stand_in  # noqa: PLC0415 - installs the `connect` module
    from reirrad_tps.raystation import CopyOnFirstWritePlanner, RayStationCaseSource, entry  # noqa: PLC0415

    stand_in.load(patient_ref, version=version, gui=False)
    model = _load_patient(patient_ref)
    patient, case, plan, beam_set, exam = entry.current_objects(version)
    try:
        with entry.undoable("reirrad re-irradiation plan", version):
            source = RayStationCaseSource(
                case, plan, beam_set, exam, patient=patient, tps_version=version,
                prior_dates=_prior_dates(patient_ref), planned_start=model.planned_start,
                deformable=not options.dry_run)
            snapshot = source.read()
            # writes go only into a copy of the clinician's plan, made at the first write (as the menu)
            planner = (None if options.dry_run
                       else CopyOnFirstWritePlanner(case, plan, beam_set, version=version))
            outcome = execute(protocol, snapshot, options, planner=planner,
                              progress=combine(partial(entry.progress, version=version), progress))
            if outcome.status is Status.STOPPED:
                raise _UndoError(outcome)
            written = None if planner is None else planner.plan_name
            forms = {**source.call_forms, **({} if planner is None else planner.call_forms)}
            # the record is committed inside the undo step it describes: a failure rolls it back
            return commit_record(outcome.with_result(tps_journal_writes=len(_kept_writes(stand_in)),
                                                     tps_plan_written=written,
                                                     tps_call_forms=dict(sorted(forms.items()))), outputs)
    except _UndoError as undone:
        stop = undone.outcome.with_result(journal_entries_kept=len(_kept_writes(stand_in)))
    except EligibilityError as exc:  # a stop while reading the case, before the run
        stop = stopped(exc, patient_id=model.id, extra={"tps": "raystation-stub", "tps_version": version,
                                                         "journal_entries_kept": len(_kept_writes(stand_in))})
    return commit_record(stop, outputs)


def _plan_eclipse(version: str, patient_ref: str, protocol: Protocol, options: WorkflowOptions, *,
                  progress: Optional[Progress], outputs: Optional[OutputRequest]) -> RunOutcome:
    import tps_stubs.esapi as stand_in  # noqa: PLC0415 - loads Mono and the stand-in assemblies
    from reirrad_tps.eclipse import EclipseCaseSource, EclipsePlanner  # noqa: PLC0415

    stand_in.reset()
    context = stand_in.load_context(patient_ref)
    model = _load_patient(patient_ref)
    patient, plan = context.Patient, context.ExternalPlanSetup
    snapshot = EclipseCaseSource(patient, plan, planned_start=model.planned_start,
                                 prior_dates=_prior_dates(patient_ref), tps_version=version).read()
    planner = None
    if not options.dry_run:
        planner = EclipsePlanner(plan, patient=patient)
        planner.begin_modifications()
    outcome = execute(protocol, snapshot, options, planner=planner, progress=progress)
    key = "journal_entries_kept" if outcome.status is Status.STOPPED else "tps_journal_writes"
    return commit_record(outcome.with_result(**{key: len(stand_in.journal())}), outputs)


def _kept_writes(stand_in: Any) -> List[Any]:
    return [e for e in stand_in.journal() if not getattr(e, "rolled_back", False)]
