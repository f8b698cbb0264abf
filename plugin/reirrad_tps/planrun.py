"""Running the planning workflow on a TPS stand-in from the command line (``reirrad plan``, ``demo``).

Only the RayStation stand-in is wired here so far; the Eclipse adapter is issue 5. Prior-course
dates are taken from the stub patient's definition, standing in for the dosimetrist's answers
(RayStation holds no delivery dates).
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any, Dict, List, Mapping

from reirrad.errors import EligibilityError
from reirrad.protocol import Protocol
from reirrad.result import build_result
from reirrad.workflow import WorkflowOptions, run
from tps_stubs.patients import load_patient

__all__ = ["TPS_CHOICES", "plan_on_stub"]

TPS_CHOICES = ("raystation-stub",)


def _prior_dates(patient_ref: str) -> Dict[str, dt.date]:
    model = load_patient(patient_ref)
    return {p.id: p.last_fraction for p in model.prior_plans() if p.last_fraction is not None}


def plan_on_stub(tps: str, version: str, patient_ref: str, protocol: Protocol,
                 options: WorkflowOptions) -> Mapping[str, Any]:
    """Open ``patient_ref`` in the stand-in, run the workflow, return the result mapping.

    An eligibility stop returns ``{"status": "stopped", ...}`` with nothing written to the TPS.
    """
    if tps != "raystation-stub":
        raise ValueError(f"unsupported TPS {tps!r}; choose one of {TPS_CHOICES}")
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
                          progress=partial(entry.progress, version=version))
    except EligibilityError as exc:
        return {"status": "stopped", "patient_id": model.id, "reason": str(exc),
                "tps": tps, "tps_version": version, "journal_entries_kept": len(_kept_writes(stand_in))}
    result = dict(build_result(outcome))
    result["tps_journal_writes"] = len(_kept_writes(stand_in))
    return result


def _kept_writes(stand_in: Any) -> List[Any]:
    return [e for e in stand_in.journal() if not getattr(e, "rolled_back", False)]
