"""The RayStation Scripting-menu entry: run the workflow on the open patient and plan.

The one-line menu script (``install/raystation/reirrad_menu.py``) calls :func:`main`. Until the
confirmation dialog exists (issue 8), the run's choices come from an answers file (YAML/JSON) named
by the environment variable ``REIRRAD_ANSWERS``::

    intent: isotoxic            # or limit-toxicity
    search: predictive          # or ladder
    dry_run: false
    planned_start: 2026-12-07   # first fraction of the new course
    prior_dates: {PELVIS_45: 2024-06-07}   # last fraction of each prior plan (RayStation has none)
    override_eligibility: null  # a reason, to proceed despite a stop finding
    protocol: uk-sabr-pelvis-reirradiation
    version: 2024B              # the RayStation release (required: never guessed)

Everything the run writes is inside one ``CompositeAction`` (one undo step); on any error it is
rolled back and the message is shown (or logged when the GUI is disabled). ``patient.Save()`` is
never called: the dosimetrist reviews and saves.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import partial
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import yaml

from reirrad.errors import InputError, ReirradError
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.workflow import WorkflowOptions, run

from . import entry
from .planner import RayStationPlanner
from .source import RayStationCaseSource

__all__ = ["load_answers", "main"]


def _date(value: Any, key: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"answers: {key} must be a date YYYY-MM-DD (got {value!r})") from None


def load_answers(path: Optional[str] = None) -> Dict[str, Any]:
    """Read the answers file (``path`` or ``$REIRRAD_ANSWERS``); refuse a missing version or file."""
    target = path or os.environ.get("REIRRAD_ANSWERS")
    if not target:
        raise InputError("no answers file: set REIRRAD_ANSWERS to a YAML file with intent, version, "
                         "planned_start and prior_dates (see reirrad_tps.raystation.menu)")
    raw = yaml.safe_load(Path(target).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, Mapping) or "version" not in raw:
        raise InputError(f"answers file {target}: 'version' (the RayStation release) is required")
    return dict(raw)


def main(answers_path: Optional[str] = None) -> Mapping[str, Any]:
    """Run the workflow on the current patient/plan with the answers file's choices."""
    answers = load_answers(answers_path)
    version = str(answers["version"])
    options = WorkflowOptions(intent=str(answers.get("intent", "isotoxic")),
                              search=str(answers.get("search", "predictive")),
                              dry_run=bool(answers.get("dry_run", False)),
                              override_reason=answers.get("override_eligibility"))
    protocol = load_protocol(str(answers.get("protocol", "uk-sabr-pelvis-reirradiation")))
    dates = {str(k): _date(v, f"prior_dates.{k}") for k, v in (answers.get("prior_dates") or {}).items()}
    start = None if answers.get("planned_start") is None else _date(answers["planned_start"], "planned_start")
    patient, case, plan, beam_set, exam = entry.current_objects(version)
    try:
        with entry.undoable("reirrad re-irradiation plan", version):
            snapshot = RayStationCaseSource(case, plan, beam_set, exam, patient=patient, tps_version=version,
                                            prior_dates=dates, planned_start=start,
                                            deformable=not options.dry_run).read()
            planner = None if options.dry_run else RayStationPlanner(case, plan, beam_set, version=version)
            outcome = run(protocol, snapshot, planner, options,
                          progress=partial(entry.progress, version=version))
    except ReirradError as exc:
        entry.notify(f"reirrad stopped, nothing was changed: {exc}", version)
        raise
    result = build_result(outcome)
    entry.notify(f"reirrad: {result['status']}, prescription {result['prescription_gy']} Gy, "
                 f"limiting {', '.join(result['limiting_oars']) or 'none'}", version)
    return result
