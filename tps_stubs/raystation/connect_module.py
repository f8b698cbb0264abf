"""The ``connect`` module the stand-in installs (docs/reference/raystation.md §2, §1.4, §14.13).

Exposes ``get_current``, ``CompositeAction``, ``set_progress``, ``await_user_input`` and
``is_gui_disabled`` with RaySearch's semantics. Unlike the real module it does not leak ``len``,
``np``, ``System``, ``sys`` … through ``from connect import *`` (§2 "len", §14.12): it defines
``__all__``, so adapters tested against it cannot come to rely on star-import side effects.
"""

from __future__ import annotations

import types
from typing import Any, Optional

from .errors import ScriptSystemError
from .session import Session

__all__ = ["CURRENT_TYPES", "ConnectFunctions", "make_module"]

#: Object types ``get_current`` returns in the stand-in (§2, §3).
CURRENT_TYPES = ("Patient", "Case", "Plan", "BeamSet", "Examination")
GUI_TYPES = ("ui", "ui-recording", "ui:Clinical")
EXPORTED = ("CompositeAction", "await_user_input", "get_current", "is_gui_disabled", "set_progress")


class ConnectFunctions:
    """The module-level functions of ``connect``, bound to one session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _stop_if_no_gui(self, what: str) -> None:
        if self._session.gui_disabled:
            raise Exception(f"{what} has been disabled because the script is running with no GUI.")

    def get_current(self, objectType: str) -> Any:  # noqa: N803 - RaySearch's parameter name
        """The current ``"Patient"``, ``"Case"``, ``"Plan"``, ``"BeamSet"`` or ``"Examination"``.

        Raises ``SystemError`` when nothing of that type is current (§4), and for types the stand-in
        does not model (``"PatientDB"``, ``"MachineDB"``, ``"ui"`` …).
        """
        if objectType in GUI_TYPES:
            self._stop_if_no_gui(f"get_current({objectType})")
            raise ScriptSystemError(
                f"get_current({objectType!r}): the stand-in does not model the user interface."
            )
        if objectType not in CURRENT_TYPES:
            raise ScriptSystemError(
                f"get_current({objectType!r}): unknown or unmodelled object type; the "
                f"stand-in supports {CURRENT_TYPES}."
            )
        current = self._session.state.get(objectType)
        if current is None:
            raise ScriptSystemError(f"Invalid ObjectHandle: there is no current {objectType}.")
        return current

    def set_progress(
        self, message: Optional[str], percentage: int = -1, operation: Optional[str] = None
    ) -> None:
        """Show progress; ``percentage`` must be an int in −1…100 (a float raises ``TypeError``, §2)."""
        if type(percentage) is not int:
            raise TypeError(
                "No method matches given arguments for SetProgress: percentage must be an int "
                f"(got {type(percentage).__name__} {percentage!r})"
            )
        if not -1 <= percentage <= 100:
            raise ValueError(f"percentage must be between -1 and 100 (got {percentage})")
        for label, value in (("message", message), ("operation", operation)):
            if value is not None and not isinstance(value, str):
                raise TypeError(
                    f"No method matches given arguments for SetProgress: {label} must be a str "
                    f"(got {type(value).__name__})"
                )
        self._session.progress.append((message, percentage, operation))

    def await_user_input(self, message: str) -> None:
        """Wait for the user to press continue (returns at once in the stand-in; raises when headless)."""
        self._stop_if_no_gui("await_user_input")
        self._session.prompts.append(message)

    def is_gui_disabled(self) -> bool:
        """True when the script runs without a GUI (``load(..., gui=False)``)."""
        return bool(self._session.gui_disabled)


def _composite_action_class(session: Session) -> type:
    class CompositeAction:
        """Group the writes inside the ``with`` block as one undo step (§2).

        On an exception the stand-in undoes every write made inside the block when the session's
        ``rollback`` mode is on (the default), so the patient is as before it; with it off the writes
        are kept, as the real class may keep them (unconfirmed, :mod:`.session`). Either way the
        exception propagates (the real class does not swallow exceptions).
        """

        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            session.begin_composite(str(self.name))

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            session.end_composite(failed=exc_type is not None)

    return CompositeAction


def make_module(session: Session, name: str = "connect") -> types.ModuleType:
    """A fresh ``connect`` module bound to ``session`` (``module._journal`` is its journal)."""
    module = types.ModuleType(name, "RayStation scripting stand-in (tps_stubs.raystation).")
    functions = ConnectFunctions(session)
    exported = [e for e in EXPORTED if session.gui_probe or e != "is_gui_disabled"]
    for export in exported:
        if export != "CompositeAction":
            setattr(module, export, getattr(functions, export))
    composite = _composite_action_class(session)
    composite.__module__ = name
    module.CompositeAction = composite  # type: ignore[attr-defined]
    module.__all__ = exported  # type: ignore[attr-defined]
    module._session = session  # type: ignore[attr-defined]
    module._journal = session.journal  # type: ignore[attr-defined]
    return module
