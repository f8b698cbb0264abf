"""The result mapping of a workflow run (docs/design.md §5), ready for JSON.

Top level: ``status``, ``prescription_gy``, ``n_fractions``, ``intent``, ``limiting_oars``,
``optimisations`` (count and decision log), ``oars`` (per-OAR records), ``unmatched_oars`` (the
protocol's OARs no structure matched: not evaluated), ``target``, ``objectives``,
``warnings``, ``eligibility``, ``sensitivity`` (rows: each OAR's allowed dose with one assumption
changed, :mod:`reirrad.sensitivity`) and ``sensitivity_summary`` (baselines, ranges, the guidance vs
Jones & Grant comparison), ``provenance``.

``status`` comes from the run (:mod:`reirrad.statuses` lists them with their exit codes); for a
planned run every per-OAR number, ``target`` and ``oar_limits_met`` come from the **final check**
(the dose re-read from the TPS after the normalisation, ``final_check``). ``prescription_gy`` is the
level the plan is left at (``planned``, ``coverage-compromised``, ``final-check-failed``), None for
``infeasible`` and ``dry-run``, and the dose evaluated for ``evaluated``.
"""

from __future__ import annotations

import platform
from dataclasses import asdict
from typing import Any, Dict, List, Optional

import numpy as np

from . import __version__
from .evaluation import TargetFigures
from .findings import Finding
from .planstructures import spatial_requested
from .protocol import Protocol, Quantity
from .sensitivity import sensitivity_findings
from .statuses import status_meaning
from .workflow import WorkflowRun

__all__ = ["build_result", "prescription_statement", "stopped_result"]


def prescription_statement(figures: TargetFigures, n_fractions: int, coverage_min_pct: float) -> str:
    """What the prescription level means, with what the plan achieves.

    >>> from reirrad.evaluation import TargetFigures
    >>> f = TargetFigures(32.5, 86.1, 31.2, 30.0, 0, 0, 0, 80.0, 43.0, 32.0, ())
    >>> prescription_statement(f, 5, 80.0)
    '32.5 Gy in 5 fractions to >= 80 % of the PTV at 95 % (V95% achieved 86.1 %); D95 achieved 31.20 Gy'
    """
    return (f"{figures.prescription_gy:g} Gy in {n_fractions} fractions to >= {coverage_min_pct:g} % of "
            f"the PTV at 95 % (V95% achieved {figures.v95_pct:.1f} %); D95 achieved {figures.d95_gy:.2f} Gy")


def stopped_result(reason: str, *, patient_id: str, findings: Any = (), **extra: Any) -> Dict[str, Any]:
    """The result of a run that a stop finding or bad input ended before anything was written."""
    stops = [f.to_dict() if isinstance(f, Finding) else dict(f) for f in findings]
    return {"status": "stopped", "status_meaning": status_meaning("stopped"), "patient_id": patient_id,
            "reason": reason, "stop_findings": stops, **extra}


def _structure_values(protocol: Protocol, run: WorkflowRun) -> List[Quantity]:
    """The ``optimisation_structures`` values a run used: the section's (choices, factor, ring, PRV margins,
    tolerances) when it made or previewed structures, and the spatial-objectives choice when it made or
    previewed a low-tolerance structure."""
    settings = protocol.optimisation_structures
    entries = run.optimisation_structures
    if settings is None or not entries:
        return []
    used = [settings.choice, settings.subtract_factor, settings.ring_gap, settings.ring_width,
            *(p.margin for p in settings.prvs), settings.volume_tolerance_percent,
            settings.volume_tolerance_cc]
    if settings.spatial_choice is not None and any(e.get("role") == "low-tolerance" for e in entries):
        used.append(settings.spatial_choice)
    return used


def _registration_types(run: WorkflowRun) -> List[Dict[str, Any]]:
    out = []
    for course in run.prepared.snapshot.prior_courses:
        out.append({"course": course.label,
                    "registration": course.registration_kind,
                    "registration_id": course.registration_id,
                    "last_fraction": (None if course.last_fraction is None
                                      else course.last_fraction.isoformat()),
                    "last_fraction_source": course.last_fraction_source,
                    "interval_days": course.interval_days(run.prepared.snapshot.planned_start),
                    "n_fractions": course.n_fractions, "prescription_gy": course.prescription_gy,
                    "modality": course.modality})
    return out


def _limiting_for_sensitivity(run: WorkflowRun) -> Optional[List[str]]:
    """The OARs whose sensitivity can change the decision: those limiting the final plan and those that
    failed the level above it; every OAR (None) when there is no final plan (a dry run)."""
    if run.final is None:
        return None
    limiting = list(run.final.limiting_oars)
    failing = (run.level_limited_by or {}).get("failing_oars")
    if isinstance(failing, (list, tuple)):
        limiting.extend(k for k in failing if isinstance(k, str) and k not in limiting)
    return limiting


def build_result(run: WorkflowRun) -> Dict[str, Any]:
    """The JSON-ready result of a run."""
    prep = run.prepared
    protocol = prep.protocol
    final = run.final
    status = run.status
    if final is not None:
        oars = [o.to_dict() for o in final.oars]
    else:
        oars = []
        for key, tol in prep.tolerances.items():
            record = tol.to_dict()
            record["structure"] = prep.oar_structures[key]
            oars.append(record)
    for record in oars:
        spec = protocol.oar(record["name"])
        record.update(priority=spec.priority.value, hard=spec.hard)
    matched = {record["name"] for record in oars}
    unmatched = []
    for key in protocol.oar_keys:
        if key in matched:
            continue
        spec = protocol.oar(key)
        limit = spec.cumulative_limit
        unmatched.append({"name": key, "label": spec.label,
                          "metric": limit.metric.name if limit else spec.de_novo.metric.name,
                          "alpha_beta_gy": spec.alpha_beta.value,
                          "cumulative_limit_eqd2_gy": limit.eqd2.value if limit else None})
    used: Dict[str, Any] = {}
    run_level = [protocol.n_fractions_quantity, protocol.prescriptions.limit_toxicity,
                 protocol.prescriptions.isotoxic_ladder, protocol.prescriptions.isotoxic_maximum,
                 *(q for q in vars(protocol.coverage_rule).values() if isinstance(q, Quantity)),
                 *vars(protocol.planning).values(), protocol.background_alpha_beta,
                 protocol.recovery.model_source, protocol.recovery.conservation_factor,
                 protocol.cumulative.deciding_source,
                 *(protocol.oar(key).priority for key in prep.tolerances),
                 *_structure_values(protocol, run)]
    sensitivity = prep.sensitivity
    sensitive: List[Finding] = []
    limiting = _limiting_for_sensitivity(run)
    if sensitivity is not None:
        run_level.extend(sensitivity.values_used)
        sensitive = sensitivity_findings(sensitivity, protocol, limiting=limiting)
    for q in (*(q for tol in prep.tolerances.values() for q in tol.values_used), *run_level):
        used.setdefault(q.key_path, {"value": q.value, "unit": q.unit, "source": q.source,
                                     "status": q.status})
    snapshot = prep.snapshot
    return {
        "status": status,
        "status_meaning": status_meaning(status),
        "patient_id": snapshot.patient_id,
        "plan_id": snapshot.plan.id,
        "prescription_gy": (None if final is None or status == "infeasible" else final.prescription_gy),
        "oar_limits_met": None if final is None else bool(final.oars_ok),
        "final_check": None if run.final_check is None else {
            **run.final_check.to_dict(),
            "failed_at_higher_levels": [c.to_dict() for c in run.failed_final_checks]},
        "n_fractions": prep.n_fractions,
        "planned_start": None if snapshot.planned_start is None else snapshot.planned_start.isoformat(),
        "intent": prep.options.intent,
        "search": prep.options.search,
        "objective_mode": "spatial" if spatial_requested(prep) else "standard",
        "limiting_oars": [] if final is None else final.limiting_oars,
        "level_limited_by": run.level_limited_by,
        "optimisations": {"count": run.optimisations, "log": [asdict(s) for s in run.log]},
        "oars": oars,
        "unmatched_oars": unmatched,
        "target": None if final is None else {
            "structure": prep.target_id, "alpha_beta_gy": protocol.coverage_rule.tumour_alpha_beta.value,
            **final.target.to_dict(),
            "coverage_met": bool(final.coverage_ok),
            "coverage_min_pct": protocol.coverage_rule.ptv_v95_min_percent.value,
            "prescription_statement": prescription_statement(
                final.target, prep.n_fractions, protocol.coverage_rule.ptv_v95_min_percent.value)},
        "target_regions": run.target_regions,
        "optimisation_structures": [dict(e) for e in run.optimisation_structures],
        "objectives": ([asdict(o) for o in run.objectives] if run.objectives is not None else
                       [asdict(o) for o in prep.objectives_at(
                           protocol.prescriptions.limit_toxicity.value if final is None
                           else final.prescription_gy)]),
        "warnings": [f.to_dict() for f in (*prep.findings, *run.findings, *sensitive)
                     if f.severity != "stop"],
        **(sensitivity.record(limiting) if sensitivity is not None
           else {"sensitivity": None, "sensitivity_summary": None}),
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
            "deciding_method": protocol.cumulative.deciding_method,
            "prior_courses": _registration_types(run),
            "prior_plan_selection": [dict(r) for r in snapshot.prior_plan_selection],
            "tps": snapshot.tps, "tps_version": snapshot.tps_version,
            "override_reason": prep.options.override_reason,
            "dry_run": prep.options.dry_run,
        },
    }
