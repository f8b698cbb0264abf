"""The RayStation Scripting-menu entry: run the workflow on the open patient and plan.

The one-line menu script (``install/raystation/reirrad_menu.py``) calls :func:`main`. Until the
confirmation dialog exists (issue 8), the run's choices come from an answers file (YAML/JSON, keys in
:mod:`reirrad_tps.answers`) named by the environment variable ``REIRRAD_ANSWERS``; ``version`` (the
RayStation release) is required there, never guessed.

Everything the run writes is inside one ``CompositeAction`` (one undo step); on any error it is
rolled back and the message is shown (or logged when the GUI is disabled). ``patient.Save()`` is
never called: the dosimetrist reviews and saves.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Mapping, Optional

from reirrad.errors import InputError, ReirradError
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.workflow import run

from ..answers import RunAnswers, read_answers
from . import entry
from .planner import RayStationPlanner
from .source import RayStationCaseSource

__all__ = ["load_answers", "main"]


def load_answers(path: Optional[str] = None) -> RunAnswers:
    """Read the answers file (``path`` or ``$REIRRAD_ANSWERS``); refuse a missing version or file."""
    target = path or os.environ.get("REIRRAD_ANSWERS")
    if not target:
        raise InputError("no answers file: set REIRRAD_ANSWERS to a YAML file with intent, version, "
                         "planned_start and prior_dates (see reirrad_tps.answers)")
    answers = read_answers(target)
    if answers.version is None:
        raise InputError(f"answers file {target}: 'version' (the RayStation release) is required")
    return answers


def main(answers_path: Optional[str] = None) -> Mapping[str, Any]:
    """Run the workflow on the current patient/plan with the answers file's choices."""
    answers = load_answers(answers_path)
    version = str(answers.version)
    options = answers.workflow_options()
    protocol = load_protocol(answers.protocol)
    dates, start = dict(answers.prior_dates), answers.planned_start
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
