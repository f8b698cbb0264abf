"""The RayStation entry module: the ONLY place that touches the scripting module's globals.

Only this module imports RayStation's scripting module and calls ``get_current``,
``CompositeAction``, ``set_progress`` and ``is_gui_disabled`` (docs/reference/style.md §3 practices 1 and
13); every
other adapter module receives RayStation objects as arguments. The module is imported inside each
function, never at import time, so ``import reirrad_tps.raystation`` works outside RayStation.

docs/reference/raystation.md: ``get_current`` raises ``SystemError`` (or an exception mentioning an
"invalid objecthandle") when nothing of that type is open (§3, §4); ``CompositeAction(name)`` groups
the writes inside it as one undo step and does not swallow exceptions (§2; whether it rolls them back
on an error is unconfirmed); ``set_progress`` needs an
int percentage in −1…100 (a float raises ``TypeError`` in 2024B, §2, §14.4); GUI functions must never
be called when ``is_gui_disabled()`` (§1.4, §14.13), which the reference shows in 11B-SP2's module
alone: without it the GUI call is tried and a failure logged (:func:`_gui_state`). The module is
``connect`` up to 2024B and may be ``raystation`` from 2025 (§1.1; :mod:`.versions`).
"""

from __future__ import annotations

import importlib
import logging
import math
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Iterator, Optional, Tuple

from reirrad.errors import InputError

from ._common import tps_message
from .versions import profile

__all__ = ["CURRENT_TYPES", "current_objects", "notify", "progress", "scripting_module", "undoable"]

logger = logging.getLogger(__name__)

#: The objects a run works on, in the order :func:`current_objects` returns them.
CURRENT_TYPES = ("Patient", "Case", "Plan", "BeamSet", "Examination")
_ANY_VERSION_MODULES = ("connect", "raystation")


def scripting_module(version: Optional[str] = None) -> ModuleType:
    """RayStation's scripting module for ``version`` (any version when None).

    Raises
    ------
    reirrad.errors.InputError
        Not running inside RayStation (no module importable), or an unknown version.
    """
    candidates = _ANY_VERSION_MODULES if version is None else profile(version).module_names
    for name in candidates:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise InputError(f"RayStation's scripting module ({' or '.join(candidates)}) cannot be imported: run "
                     "this from RayStation's Scripting menu (or load tps_stubs.raystation for offline tests)")


def _is_nothing_open(exc: BaseException) -> bool:
    return isinstance(exc, SystemError) or "objecthandle" in tps_message(exc).lower()


def current_objects(version: Optional[str] = None) -> Tuple[Any, Any, Any, Any, Any]:
    """The current (patient, case, plan, beam_set, examination).

    The examination is the beam set's planning examination when the current one differs (the
    planning CT is where the new plan's structures and dose live).

    Raises
    ------
    reirrad.errors.InputError
        "No patient/plan loaded…" naming the first missing object, when RayStation has none open.
    """
    module = scripting_module(version)
    found = []
    for object_type in CURRENT_TYPES:
        try:
            found.append(module.get_current(object_type))
        except Exception as exc:
            if not _is_nothing_open(exc):
                raise
            raise InputError(f"No patient/plan loaded: RayStation has no current {object_type} "
                             f"({tps_message(exc)}); open the patient, the case and the new (unapproved) "
                             "plan with its beam set, then run the script again") from exc
    patient, case, plan, beam_set, examination = found
    planning = beam_set.GetPlanningExamination()
    if not bool(planning.Equals(examination)):
        logger.info("current examination %s is not the planning CT %s; using the planning CT",
                    examination.Name, planning.Name)
        examination = planning
    return patient, case, plan, beam_set, examination


@contextmanager
def undoable(name: str, version: Optional[str] = None) -> Iterator[None]:
    """Group every RayStation write inside the block as one undo step (``CompositeAction``).

    On an exception the exception propagates. Whether RayStation then undoes the step's writes is
    **not confirmed** (the class's ``__exit__`` only reports ``has_error``; public scripts undo by hand,
    docs/reference/raystation-public-scripts.md U2): callers must not rely on it. The menu writes only
    into a plan copy it makes for the run and names what may be left (:mod:`.menu`).

    Parameters
    ----------
    name : str
        Label of the step in RayStation's undo history.
    version : str, optional
        RayStation release (chooses the scripting module).
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"an undo step needs a non-empty name (got {name!r})")
    module = scripting_module(version)
    with module.CompositeAction(name):
        yield


def progress(percent: float, message: str, version: Optional[str] = None) -> None:
    """Show progress in RayStation; nothing when the GUI is disabled (RaaS / headless).

    Parameters
    ----------
    percent : float
        Progress, %. Rounded to an int and clamped to 0–100 (RayStation refuses floats); a
        non-finite value shows an indeterminate progress (−1).
    message : str
        Text shown with it.
    version : str, optional
        RayStation release (chooses the scripting module).
    """
    try:
        value = float(percent)
    except (TypeError, ValueError):
        raise InputError(f"percent must be a number (got {percent!r})") from None
    percentage = -1 if not math.isfinite(value) else int(min(100.0, max(0.0, round(value))))
    module = scripting_module(version)
    gui = _gui_state(module)
    if gui is False:
        logger.info("progress %d %%: %s", percentage, message)
        return
    try:
        module.set_progress(str(message), percentage)
    except Exception as exc:  # only when the GUI state is unknown (see _gui_state)
        if gui is True:
            raise
        logger.info("progress %d %%: %s (not shown: %s)", percentage, message, tps_message(exc))


def notify(message: str, version: Optional[str] = None) -> None:
    """Show a message and wait for the user to continue (``await_user_input``); log it when headless."""
    module = scripting_module(version)
    gui = _gui_state(module)
    if gui is False:
        logger.warning("%s", message)
        return
    try:
        module.await_user_input(message=str(message))
    except Exception as exc:  # only when the GUI state is unknown (see _gui_state)
        if gui is True:
            raise
        logger.warning("%s (not shown in RayStation: %s)", message, tps_message(exc))


def gui_disabled(version: Optional[str] = None) -> bool:
    """True when RayStation says its GUI is disabled (``is_gui_disabled()``: RaaS, a script console
    without GUI): then no dialog may open, whatever the platform, since nobody can answer it (found by a
    deployment review: the menu opened its confirmation dialog under RaaS on Windows, where a window can
    always be made, and the run would wait for ever). False with a GUI, and when the module cannot say
    (no ``is_gui_disabled``, :func:`_gui_state`)."""
    return _gui_state(scripting_module(version)) is False


def _gui_state(module: ModuleType) -> Optional[bool]:
    """True with a GUI, False without one (``is_gui_disabled()``), None when the module has no
    ``is_gui_disabled``: the reference shows it in 11B-SP2's module alone (§1.4), not in 11A's or in
    2025's. Then the GUI call is made and, should it fail, the message is logged instead, so that
    neither a progress bar nor a message can end a run or hide the error being reported."""
    probe = getattr(module, "is_gui_disabled", None)
    if probe is None:
        return None
    return not bool(probe())
