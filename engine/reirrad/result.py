"""The result mapping of a workflow run (DESIGN.md §5), ready for JSON.

Top level: ``status``, ``prescription_gy``, ``n_fractions``, ``intent``, ``limiting_oars``,
``optimisations`` (count and decision log), ``oars`` (per-OAR records), ``target``, ``objectives``,
``warnings``, ``eligibility``, ``provenance``.

``status`` is ``"planned"`` (a feasible level was found and the plan holds it), ``"infeasible"``
(not even the floor level meets the rules: the last plan is reported with its failures; for
``limit-toxicity`` an OAR failure), ``"dry-run"`` (objectives only, nothing written) or
``"evaluated"`` (an existing new-course dose checked offline, :func:`reirrad.workflow.evaluate_dose`;
``oar_limits_met`` says whether every limit holds and ``prescription_gy`` is the dose evaluated).
"""

from __future__ import annotations

import platform
from dataclasses import asdict
from typing import Any, Dict, List

import numpy as np

from . import __version__
from .workflow import WorkflowRun

__all__ = ["build_result"]


def _registration_types(run: WorkflowRun) -> List[Dict[str, Any]]:
    out = []
    for course in run.prepared.snapshot.prior_courses:
        out.append({"course": course.label,
                    "registration": "none (same frame)" if course.planning_to_dose is None else "rigid",
                    "registration_id": course.registration_id,
                    "last_fraction": (None if course.last_fraction is None
                                      else course.last_fraction.isoformat()),
                    "interval_days": course.interval_days(run.prepared.snapshot.planned_start),
                    "n_fractions": course.n_fractions, "prescription_gy": course.prescription_gy})
    return out


def build_result(run: WorkflowRun) -> Dict[str, Any]:
    """The JSON-ready result of a run."""
    prep = run.prepared
    protocol = prep.protocol
    final = run.final
    if run.search is None:
        status = "dry-run"
    elif run.evaluated_only:
        status = "evaluated"
    elif run.search.best_level_gy is None:
        status = "infeasible"
    else:
        status = "planned"
    if final is not None:
        oars = [o.to_dict() for o in final.oars]
    else:
        oars = []
        for key, tol in prep.tolerances.items():
            record = tol.to_dict()
            record["structure"] = prep.oar_structures[key]
            oars.append(record)
    used: Dict[str, Any] = {}
    run_level = (protocol.n_fractions_quantity, protocol.prescriptions.limit_toxicity,
                 protocol.prescriptions.isotoxic_ladder, protocol.prescriptions.isotoxic_maximum,
                 *vars(protocol.coverage_rule).values(), *vars(protocol.planning).values(),
                 protocol.background_alpha_beta)
    for q in (*(q for tol in prep.tolerances.values() for q in tol.values_used), *run_level):
        used.setdefault(q.key_path, {"value": q.value, "unit": q.unit, "source": q.source,
                                     "status": q.status})
    snapshot = prep.snapshot
    return {
        "status": status,
        "patient_id": snapshot.patient_id,
        "plan_id": snapshot.plan.id,
        "prescription_gy": (final.prescription_gy if status == "evaluated" and final is not None
                            else run.search.best_level_gy if status == "planned" and run.search else None),
        "oar_limits_met": None if final is None else bool(final.oars_ok),
        "n_fractions": prep.n_fractions,
        "planned_start": None if snapshot.planned_start is None else snapshot.planned_start.isoformat(),
        "intent": prep.options.intent,
        "search": prep.options.search,
        "limiting_oars": [] if final is None else final.limiting_oars,
        "optimisations": {"count": run.optimisations, "log": [asdict(s) for s in run.log]},
        "oars": oars,
        "target": None if final is None else {
            "structure": prep.target_id, "alpha_beta_gy": protocol.coverage_rule.tumour_alpha_beta.value,
            **final.target.to_dict()},
        "objectives": [asdict(o) for o in prep.objectives_at(
            protocol.prescriptions.limit_toxicity.value if final is None else final.prescription_gy)],
        "warnings": [f.to_dict() for f in prep.findings if f.severity != "stop"],
        "eligibility": prep.eligibility,
        "provenance": {
            "software_version": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "protocol": protocol.provenance(),
            "values_used": used,
            "recovery": {"model": prep.options.recovery_model or protocol.recovery.model,
                         "conservation_factor": (prep.options.conservation_factor
                                                 if prep.options.conservation_factor is not None
                                                 else protocol.recovery.conservation_factor.value),
                         "risk_factors": list(prep.options.risk_factors),
                         "source": protocol.recovery.model_source.source,
                         "status": protocol.recovery.model_source.status},
            "lq_model": "plain LQ, no time factor",
            "cumulative_methods": ["metric sum (guidance)", "voxel-wise EQD2"],
            "prior_courses": _registration_types(run),
            "tps": snapshot.tps, "tps_version": snapshot.tps_version,
            "override_reason": prep.options.override_reason,
            "dry_run": prep.options.dry_run,
        },
    }
