"""A RayStation stand-in: a ``connect`` module with RaySearch's scripting semantics over a stub patient.

Authority: ``docs/reference/raystation.md`` (call forms, units, keyword-only calls, version renames);
where it is silent the stand-in behaves like the most restrictive plausible real system and says so
in the docstring concerned. Members exposed beyond the reference are listed, with reasons, in
``DEVIATIONS.md`` beside this file (enforced by ``tests/stubs/test_raystation_fidelity.py``).

Usage::

    import tps_stubs.raystation as rs
    connect = rs.load("LRRC-01", version="2024B")   # installs sys.modules["connect"]
    from connect import get_current, CompositeAction
    plan = get_current("Plan")
    ...
    rs.journal()                                     # every write made, in order

Versions: ``"11A"`` (an 11A-style prescription API), ``"11B"``, ``"12A"``, ``"2024B"``
(:mod:`.versions` holds every difference). Each :func:`load` builds a fresh patient: nothing written
in one session is visible in the next.

``CompositeAction`` has two modes (:mod:`.session`): with rollback (default) a failed block undoes
its writes; without (``load(..., rollback=False)``, :func:`set_rollback`, or
``TPS_STUBS_RAYSTATION_ROLLBACK=0``) the writes stay, as the real class may keep them. An unmatched
keyword raises ``TypeError`` by default or, with ``load(..., keyword_error="ArgumentException")`` or
``TPS_STUBS_RAYSTATION_KEYWORD_ERROR=ArgumentException``, a .NET-like ``ArgumentException`` (the real
type is not documented: :mod:`.session`). ``GetTransformForExaminations(FromExamination=A,
ToExamination=B)`` maps points of A to B by default or, with ``load(..., transform_direction="to-from")``
or ``TPS_STUBS_RAYSTATION_TRANSFORM_DIRECTION=to-from``, of B to A (the direction is not confirmed:
:mod:`.session`).
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Union

from ..patients import load_patient
from .builder import build_patient
from .connect_module import make_module
from .errors import InvalidOperationException, ScriptException, ScriptSystemError
from .session import (
    KEYWORD_ERROR_ENV,
    KEYWORD_ERRORS,
    ROLLBACK_ENV,
    TRANSFORM_DIRECTION_ENV,
    TRANSFORM_DIRECTIONS,
    JournalEntry,
    Session,
    UndoStep,
)
from .versions import DEFAULT_VERSION, VERSIONS

__all__ = [
    "TRANSFORM_DIRECTIONS",
    "TRANSFORM_DIRECTION_ENV",
    "VERSIONS",
    "InvalidOperationException",
    "JournalEntry",
    "ScriptException",
    "ScriptSystemError",
    "Session",
    "UndoStep",
    "current_session",
    "journal",
    "load",
    "set_rollback",
    "unload",
]

_STATE: Dict[str, Optional[Session]] = {"session": None}


def load(
    patient: Union[str, Path, None],
    version: str = DEFAULT_VERSION,
    *,
    gui: bool = True,
    open_plan: bool = True,
    rollback: Optional[bool] = None,
    mesh_rois: Iterable[str] = (),
    helper_mesh_rois: Optional[Mapping[str, str]] = None,
    keyword_error: Optional[str] = None,
    transform_direction: Optional[str] = None,
    gui_probe: bool = True,
) -> types.ModuleType:
    """Open a stub patient in a fresh stand-in and install it as the module ``connect``.

    Parameters
    ----------
    patient : str, pathlib.Path or None
        A shipped stub-patient id (e.g. ``"LRRC-01"``) or a YAML path; None opens no patient (every
        ``get_current`` then raises ``SystemError``).
    version : str
        RayStation version to model: one of :data:`VERSIONS` (default ``"2024B"``).
    gui : bool
        False models a headless run (RaaS): ``is_gui_disabled()`` is True and GUI calls raise.
    open_plan : bool
        False leaves no plan or beam set current (the patient, case and examination still are).
    rollback : bool, optional
        ``CompositeAction`` mode: True undoes the writes of a failed block, False keeps them; None
        reads ``TPS_STUBS_RAYSTATION_ROLLBACK`` (``0`` = False; default True).
    mesh_rois : iterable of str
        ROIs whose geometries are triangle meshes (``PrimaryShape`` without ``Contours``).
    helper_mesh_rois : mapping of str to str, optional
        Extra mesh ROIs to add, name → RayStation ROI ``Type`` (e.g. ``{"Couch": "Support"}``): a
        slab under the external contour on every planning plane.
    keyword_error : str, optional
        What an unmatched or missing keyword raises: ``"TypeError"`` or ``"ArgumentException"``; None
        reads ``TPS_STUBS_RAYSTATION_KEYWORD_ERROR`` (default ``"TypeError"``).
    transform_direction : str, optional
        What ``GetTransformForExaminations(FromExamination=A, ToExamination=B)`` returns: ``"from-to"``
        the matrix mapping points of A to B, ``"to-from"`` its inverse; None reads
        ``TPS_STUBS_RAYSTATION_TRANSFORM_DIRECTION`` (default ``"from-to"``).
    gui_probe : bool
        False leaves ``is_gui_disabled`` out of the module: the reference shows it in 11B-SP2's module
        alone (§1.4), so 11A's and 2025's may lack it (DEVIATIONS.md). The GUI (``gui``) is unchanged.

    Returns
    -------
    types.ModuleType
        The ``connect`` module (also in ``sys.modules["connect"]``); ``connect._journal`` is the
        session's journal.
    """
    model = None if patient is None else load_patient(patient)
    if rollback is None:
        rollback = os.environ.get(ROLLBACK_ENV, "1").strip() != "0"
    if keyword_error is None:
        keyword_error = os.environ.get(KEYWORD_ERROR_ENV, "").strip() or KEYWORD_ERRORS[0]
    if transform_direction is None:
        transform_direction = os.environ.get(TRANSFORM_DIRECTION_ENV, "").strip() or TRANSFORM_DIRECTIONS[0]
    helpers = dict(helper_mesh_rois or {})
    session = Session(version, model, gui_disabled=not gui, rollback=rollback,
                      mesh_rois=frozenset(mesh_rois) | frozenset(helpers), keyword_error=keyword_error,
                      transform_direction=transform_direction, gui_probe=gui_probe)
    if model is not None:
        build_patient(session, model, helper_rois=helpers)
        if not open_plan:
            for key in ("Plan", "BeamSet"):
                session.state[key] = None
    module = make_module(session)
    sys.modules["connect"] = module
    _STATE["session"] = session
    return module


def set_rollback(enabled: bool) -> None:
    """Switch the current session's ``CompositeAction`` mode (True: undo a failed block's writes)."""
    current_session().rollback = bool(enabled)


def unload() -> None:
    """Remove the stand-in ``connect`` module (a later ``import connect`` fails as outside RayStation)."""
    sys.modules.pop("connect", None)
    _STATE["session"] = None


def current_session() -> Session:
    """The session of the last :func:`load` (journal, undo history, progress, prompts, saves)."""
    session = _STATE["session"]
    if session is None:
        raise RuntimeError("no RayStation stand-in is loaded; call tps_stubs.raystation.load(...) first")
    return session


def journal() -> List[JournalEntry]:
    """Every write made in the current session, in order (see :class:`JournalEntry`)."""
    return current_session().journal
