"""One loaded stand-in session: version, patient, current objects, journal, undo history.

Every stand-in object keeps its mutable state in a dict ``_s`` and registers with its session, so
the session can snapshot and restore the whole patient. That gives RayStation's all-or-nothing
actions (a failed action changes nothing) and :class:`~tps_stubs.raystation.connect_module`'s
``CompositeAction`` rollback on an exception.

Whether the real ``CompositeAction`` undoes anything on an exception is **not confirmed** (its
``__exit__`` only reports ``has_error``; public scripts undo by hand,
docs/reference/raystation-public-scripts.md U2). The session therefore has two modes: ``rollback``
True (the default) undoes every write of a failed ``CompositeAction``; False keeps them (the failed
step stays in the undo history, marked ``failed``), as the real class may. Choose with
``load(..., rollback=…)``, :func:`tps_stubs.raystation.set_rollback`, or the environment variable
:data:`ROLLBACK_ENV` (``0`` for no rollback) read at ``load``.

Which exception a keyword RayStation does not match raises is **not documented** either (§2: keyword
names "pass through as strings and are matched by RayStation"; errors surface as .NET exceptions, §4).
The session models both readings: ``keyword_error`` ``"TypeError"`` (the default, as Python would) or
``"ArgumentException"`` (a .NET ``System.ArgumentException`` through pythonnet, not a ``TypeError``),
chosen with ``load(..., keyword_error=…)`` or :data:`KEYWORD_ERROR_ENV`. An adapter that tries a
call's spellings one after another must work under either.

Nor is the direction of the matrix ``case.GetTransformForExaminations(FromExamination=A,
ToExamination=B)`` confirmed (§8 gives the call only): public scripts read it as mapping points of A to
B, which is ``transform_direction`` ``"from-to"`` (the default); ``"to-from"`` returns the inverse.
``case.TransformPointFromExaminationToExamination(FromExamination=A, ToExamination=B, Point=p)`` maps a
point of A to B under either (its name says so, and public scripts use it so). Chosen with
``load(..., transform_direction=…)`` or :data:`TRANSFORM_DIRECTION_ENV`; an adapter must place a prior
dose correctly under either.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterator, List, Optional, Tuple

from .versions import VersionProfile

if TYPE_CHECKING:  # pragma: no cover
    from ..patients.model import StubPatient
    from .scripting import ScriptObject

__all__ = ["KEYWORD_ERRORS", "KEYWORD_ERROR_ENV", "ROLLBACK_ENV", "TRANSFORM_DIRECTIONS",
           "TRANSFORM_DIRECTION_ENV", "JournalEntry", "Session", "UndoStep"]

#: Environment variable choosing the ``CompositeAction`` mode at ``load``: ``0`` = no rollback.
ROLLBACK_ENV = "TPS_STUBS_RAYSTATION_ROLLBACK"

#: The exceptions an unmatched or missing keyword may raise (module docstring); the first is the default.
KEYWORD_ERRORS = ("TypeError", "ArgumentException")

#: Environment variable choosing ``keyword_error`` at ``load`` (one of :data:`KEYWORD_ERRORS`).
KEYWORD_ERROR_ENV = "TPS_STUBS_RAYSTATION_KEYWORD_ERROR"

#: The readings of ``GetTransformForExaminations``' matrix (module docstring); the first is the default.
TRANSFORM_DIRECTIONS = ("from-to", "to-from")

#: Environment variable choosing ``transform_direction`` at ``load`` (one of :data:`TRANSFORM_DIRECTIONS`).
TRANSFORM_DIRECTION_ENV = "TPS_STUBS_RAYSTATION_TRANSFORM_DIRECTION"


@dataclass
class JournalEntry:
    """One write made through the stand-in.

    Attributes
    ----------
    path : str
        Object path from the patient, e.g. ``Patient.Cases['Case 1'].TreatmentPlans['SABR']``.
    member : str
        Method or property name.
    kind : str
        ``"call"`` (method) or ``"set"`` (property).
    arguments : dict
        Keyword arguments of a call, or ``{"value": …}`` for a property set.
    composite : str or None
        Name of the innermost open ``CompositeAction``.
    outcome : str
        ``"ok"``, or ``"<ExceptionType>: <message>"`` when the write failed (nothing changed).
    rolled_back : bool
        True when an enclosing ``CompositeAction`` failed and undid this write.
    """

    path: str
    member: str
    kind: str
    arguments: Dict[str, Any]
    composite: Optional[str]
    outcome: str = "pending"
    rolled_back: bool = False


@dataclass
class UndoStep:
    """One entry of the undo history: a single write, or a whole ``CompositeAction``."""

    name: str
    entries: List[JournalEntry] = field(default_factory=list)
    failed: bool = False


@dataclass
class _Composite:
    name: str
    snapshot: Any
    entries: List[JournalEntry] = field(default_factory=list)


def _copy_state(state: Dict[str, Any]) -> Dict[str, Any]:
    return {
        k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
        for k, v in state.items()
    }


class Session:
    """State shared by every object of one :func:`tps_stubs.raystation.load`.

    Attributes
    ----------
    profile : VersionProfile
    model : StubPatient or None
    journal : list of JournalEntry
    undo_history : list of UndoStep
    progress : list of (message, percentage, operation)
    prompts : list of str
        Messages passed to ``await_user_input``.
    saves : int
        Number of ``patient.Save()`` calls that succeeded.
    gui_disabled : bool
    gui_probe : bool
        False: the module has no ``is_gui_disabled`` (as 11A's and 2025's may not: the reference shows
        it in 11B-SP2's alone).
    state : dict
        Current objects (``"Patient"``, ``"Case"``, ``"Plan"``, ``"BeamSet"``, ``"Examination"``).
    rollback : bool
        True: a failed ``CompositeAction`` undoes its writes; False: they are kept (module docstring).
    mesh_rois : frozenset of str
        ROIs whose geometries are triangle meshes (no ``Contours``).
    keyword_error : str
        What an unmatched or missing keyword raises, one of :data:`KEYWORD_ERRORS` (module docstring).
    """

    def __init__(self, version: str, model: Optional[StubPatient], *, gui_disabled: bool = False,
                 rollback: bool = True, mesh_rois: FrozenSet[str] = frozenset(),
                 keyword_error: str = KEYWORD_ERRORS[0],
                 transform_direction: str = TRANSFORM_DIRECTIONS[0], gui_probe: bool = True) -> None:
        if keyword_error not in KEYWORD_ERRORS:
            raise ValueError(f"keyword_error must be one of {KEYWORD_ERRORS} (got {keyword_error!r})")
        if transform_direction not in TRANSFORM_DIRECTIONS:
            raise ValueError(f"transform_direction must be one of {TRANSFORM_DIRECTIONS} "
                             f"(got {transform_direction!r})")
        self.keyword_error = keyword_error
        self.transform_direction = transform_direction
        self.profile = VersionProfile(version)
        self.model = model
        self.journal: List[JournalEntry] = []
        self.undo_history: List[UndoStep] = []
        self.progress: List[Tuple[Optional[str], int, Optional[str]]] = []
        self.prompts: List[Optional[str]] = []
        self.saves = 0
        self.gui_disabled = gui_disabled
        self.gui_probe = bool(gui_probe)
        self.rollback = bool(rollback)
        self.mesh_rois: FrozenSet[str] = frozenset(mesh_rois)
        self.state: Dict[str, Any] = {}
        self._objects: List[ScriptObject] = []
        self._composites: List[_Composite] = []
        self._depth = 0

    @property
    def version(self) -> str:
        """The modelled RayStation version."""
        return self.profile.version

    # -- registry and snapshots -----------------------------------------------------------
    def register(self, obj: ScriptObject) -> None:
        """Track ``obj`` so snapshots include its state."""
        self._objects.append(obj)

    def snapshot(self) -> Any:
        """The state of every object and of the session's current objects."""
        return (len(self._objects), [(o, _copy_state(o._s)) for o in self._objects], _copy_state(self.state))

    def restore(self, snapshot: Any) -> None:
        """Put every object back as it was at ``snapshot``; objects created since are dropped."""
        count, states, current = snapshot
        for obj, state in states:
            object.__setattr__(obj, "_s", _copy_state(state))
        del self._objects[count:]
        self.state = _copy_state(current)

    # -- writes -------------------------------------------------------------------------
    @contextmanager
    def write(self, obj: ScriptObject, member: str, kind: str, arguments: Dict[str, Any]) -> Iterator[None]:
        """Journal a write and make it atomic (a failure restores the state before it).

        Writes made by another write (the stand-in's own internals) are not journaled again.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        entry = JournalEntry(
            obj._path, member, kind, dict(arguments), self._composites[-1].name if self._composites else None
        )
        self.journal.append(entry)
        snap = self.snapshot()
        self._depth = 1
        try:
            yield
        except BaseException as exc:
            self.restore(snap)
            entry.outcome = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._depth = 0
        entry.outcome = "ok"
        if self._composites:
            self._composites[-1].entries.append(entry)
        else:
            self.undo_history.append(UndoStep(member, [entry]))

    # -- composite actions ------------------------------------------------------------------
    def begin_composite(self, name: str) -> None:
        """Open a ``CompositeAction`` (nested ones belong to the outermost undo step)."""
        self._composites.append(_Composite(name, self.snapshot()))

    def end_composite(self, failed: bool) -> None:
        """Close the innermost ``CompositeAction``; on failure undo every write made inside it when
        :attr:`rollback` is True, else keep them (a failed step in the undo history)."""
        composite = self._composites.pop()
        if failed and self.rollback:
            self.restore(composite.snapshot)
            for entry in composite.entries:
                entry.rolled_back = True
            return
        if self._composites:
            self._composites[-1].entries.extend(composite.entries)
        elif composite.entries:
            self.undo_history.append(UndoStep(composite.name, composite.entries, failed=failed))

    @property
    def composite_depth(self) -> int:
        """Number of open ``CompositeAction`` scopes."""
        return len(self._composites)
