"""Running the planning workflow on a TPS stand-in from the command line (``reirrad plan``, ``demo``).

Both stand-ins are wired: RayStation (``connect``, one ``CompositeAction``) and Eclipse (the ESAPI
assemblies on Mono, a write-enabled plug-in context; nothing is saved - the stand-in has no
``SaveModifications`` step in this path, which is the launcher's job). Prior-course dates are taken
from the stub patient's definition, standing in for the dosimetrist's answers.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any, Dict, List, Mapping, Optional, Tuple

from reirrad.errors import EligibilityError
from reirrad.progress import Progress, combine
from reirrad.protocol import Protocol
from reirrad.result import build_result, stopped_result
from reirrad.workflow import WorkflowOptions, WorkflowRun, run
from tps_stubs.patients import load_patient

from .outputs import write_outputs

__all__ = ["TPS_CHOICES", "plan_on_stub", "run_on_stub"]

TPS_CHOICES = ("raystation-stub", "eclipse-stub")


def _prior_dates(patient_ref: str) -> Dict[str, dt.date]:
    model = load_patient(patient_ref)
    return {p.id: p.last_fraction for p in model.prior_plans() if p.last_fraction is not None}


def plan_on_stub(tps: str, version: str, patient_ref: str, protocol: Protocol,
                 options: WorkflowOptions, *, progress: Optional[Progress] = None,
                 report: Optional[str] = None, audit_csv: Optional[str] = None) -> Mapping[str, Any]:
    """Open ``patient_ref`` in the stand-in, run the workflow, return the result mapping.

    A stop (:mod:`reirrad.gate`) returns ``{"status": "stopped", "stop_findings": [...], ...}`` with
    nothing written to the TPS. ``progress`` gets the workflow's reports (RayStation's ``set_progress``
    gets them too); ``report`` / ``audit_csv`` are written by :func:`reirrad_tps.outputs.write_outputs`.
    """
    result, outcome = run_on_stub(tps, version, patient_ref, protocol, options, progress=progress)
    write_outputs(outcome, result, report=report, audit_csv=audit_csv)
    return result


def run_on_stub(tps: str, version: str, patient_ref: str, protocol: Protocol, options: WorkflowOptions, *,
                progress: Optional[Progress] = None) -> Tuple[Dict[str, Any], Optional[WorkflowRun]]:
    """:func:`plan_on_stub` without the output files, also returning the run (None after a stop)."""
    if tps == "raystation-stub":
        return _plan_raystation(version, patient_ref, protocol, options, progress=progress)
    if tps == "eclipse-stub":
        return _plan_eclipse(version, patient_ref, protocol, options, progress=progress)
    raise ValueError(f"unsupported TPS {tps!r}; choose one of {TPS_CHOICES}")


_Planned = Tuple[Dict[str, Any], Optional[WorkflowRun]]


def _stopped(exc: EligibilityError, patient_id: str, tps: str, version: str, kept: int) -> Dict[str, Any]:
    return stopped_result(str(exc), patient_id=patient_id, findings=exc.findings, tps=tps,
                          tps_version=version, journal_entries_kept=kept)


def _plan_raystation(version: str, patient_ref: str, protocol: Protocol,
                     options: WorkflowOptions, *, progress: Optional[Progress]) -> _Planned:
    import tps_stubs.raystation as stand_in  # noqa: PLC0415 - installs the `connect` module
    from reirrad_tps.raystation import RayStationCaseSource, RayStationPlanner, entry  # noqa: PLC0415

    stand_in.load(patient_ref, version=version, gui=False)
    model = load_patient(patient_ref)
    patient, case, plan, beam_set, exam = entry.current_objects(version)
    try:
        with entry.undoable("reirrad re-irradiation plan", version):
            snapshot = RayStationCaseSource(
                case, plan, beam_set, exam, patient=patient, tps_version=version,
                prior_dates=_prior_dates(patient_ref), planned_start=model.planned_start,
                deformable=not options.dry_run).read()
            planner = None if options.dry_run else RayStationPlanner(case, plan, beam_set, version=version)
            outcome = run(protocol, snapshot, planner, options,
                          progress=combine(partial(entry.progress, version=version), progress))
    except EligibilityError as exc:
        return _stopped(exc, model.id, "raystation-stub", version, len(_kept_writes(stand_in))), None
    result = dict(build_result(outcome))
    result["tps_journal_writes"] = len(_kept_writes(stand_in))
    return result, outcome


def _plan_eclipse(version: str, patient_ref: str, protocol: Protocol,
                  options: WorkflowOptions, *, progress: Optional[Progress]) -> _Planned:
    import tps_stubs.esapi as stand_in  # noqa: PLC0415 - loads Mono and the stand-in assemblies
    from reirrad_tps.eclipse import EclipseCaseSource, EclipsePlanner  # noqa: PLC0415

    stand_in.reset()
    context = stand_in.load_context(patient_ref)
    model = load_patient(patient_ref)
    patient, plan = context.Patient, context.ExternalPlanSetup
    try:
        snapshot = EclipseCaseSource(patient, plan, planned_start=model.planned_start,
                                     prior_dates=_prior_dates(patient_ref), tps_version=version).read()
        planner = None
        if not options.dry_run:
            planner = EclipsePlanner(plan, patient=patient)
            planner.begin_modifications()
        outcome = run(protocol, snapshot, planner, options, progress)
    except EligibilityError as exc:
        return _stopped(exc, model.id, "eclipse-stub", version, len(stand_in.journal())), None
    result = dict(build_result(outcome))
    result["tps_journal_writes"] = len(stand_in.journal())
    return result, outcome


def _kept_writes(stand_in: Any) -> List[Any]:
    return [e for e in stand_in.journal() if not getattr(e, "rolled_back", False)]
