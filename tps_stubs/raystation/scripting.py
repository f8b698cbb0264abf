"""The ``connect`` wrapper semantics every stand-in object follows (docs/reference/raystation.md §2).

* Methods take keyword arguments only: positional arguments raise
  ``TypeError("Method must be called with named arguments.")``.
* A missing member raises ``AttributeError("Object has no member …")`` (so ``hasattr`` works);
  ``dir(obj)`` lists the members of the modelled version.
* Collections are indexed by int or by key, support ``len``, ``.Count``, ``.Keys`` (a property),
  iteration, ``in`` (a script object, not a name), ``IndexOf``, ``KeyOf``, ``Contains`` and dot access
  ``coll._KEY_WITH_SPACES``; ``keys()`` fails as in RaySearch's wrapper (it calls the ``Keys``
  property).
* Points (``Corner``, ``VoxelSize``, contour points) are dicts usable as ``p.x`` and ``p['x']``
  (``ExpandoDictionary``); they are copies, so editing one changes nothing in the patient.
* ``obj.Equals(other)`` compares the underlying objects.

Where the reference is silent the stand-in is strict: unknown keywords and missing required
keywords raise ``TypeError``, or ``ArgumentException`` in the session's other mode (the real type is not
documented: :mod:`.session`); setting a read-only property raises ``ScriptException``.
"""

# ruff: noqa: N802 - member and keyword names are RayStation's

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, ClassVar, Dict, FrozenSet, Iterator, List, Optional, TypeVar, Union

from .errors import ArgumentException, InvalidOperationException, ScriptException, no_member
from .session import Session

__all__ = ["ExpandoDictionary", "ScriptCollection", "ScriptObject", "point", "script_method"]

F = TypeVar("F", bound=Callable[..., Any])

POSITIONAL_MESSAGE = "Method must be called with named arguments."


class ExpandoDictionary(dict):  # type: ignore[type-arg]
    """A dict whose keys are also attributes (RayStation's converted ``ExpandoObject``, §2)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def point(x: float, y: float, z: float) -> ExpandoDictionary:
    """A point / vector ``{'x', 'y', 'z'}`` (cm for positions and sizes, counts for NrVoxels)."""
    return ExpandoDictionary(x=x, y=y, z=z)


def script_method(*, write: bool, lock: bool = True) -> Callable[[F], F]:
    """Declare a RayStation method of a stand-in class.

    Parameters
    ----------
    write : bool
        The method changes the patient: it is journaled, atomic, and refused on approved data.
    lock : bool
        With ``write``, whether approval locks apply (False for e.g. ``SetCurrent``).

    The decorated function must take only keyword-only parameters; those without a default are
    required. Version-restricted keywords are looked up in :mod:`tps_stubs.raystation.versions`.
    """

    def decorate(fn: F) -> F:
        parameters = inspect.signature(fn).parameters
        keywords = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        required = [n for n in keywords if parameters[n].default is inspect.Parameter.empty]

        @functools.wraps(fn)
        def method(self: ScriptObject, *args: Any, **kwargs: Any) -> Any:
            if args:
                raise TypeError(POSITIONAL_MESSAGE)
            session = self._session
            cls = self._class_name()
            accepted = [k for k in keywords if session.profile.accepts_keyword(cls, fn.__name__, k)]
            unknown = [k for k in kwargs if k not in accepted]
            if unknown:
                raise _keyword_error(session, (
                    f"{cls}.{fn.__name__}() has no parameter named {unknown[0]!r} in RayStation "
                    f"{session.version}; its parameters are {accepted}"))
            missing = [k for k in required if k not in kwargs]
            if missing:
                raise _keyword_error(session, f"{cls}.{fn.__name__}() is missing the required parameter "
                                              f"{missing[0]!r}")
            if not write:
                return fn(self, **kwargs)
            with session.write(self, fn.__name__, "call", kwargs):
                if lock:
                    self._check_writable(fn.__name__)
                return fn(self, **kwargs)

        method._script_method = True  # type: ignore[attr-defined]
        method._keywords = tuple(keywords)  # type: ignore[attr-defined]
        method._write = write  # type: ignore[attr-defined]
        return method  # type: ignore[return-value]

    return decorate


def _keyword_error(session: Session, message: str) -> Exception:
    """The exception of an unmatched or missing keyword in the session's mode (``Session.keyword_error``)."""
    if session.keyword_error == "ArgumentException":
        return ArgumentException(message)
    return TypeError(message)


class ScriptObject:
    """Base of every stand-in RayStation object.

    Subclasses hold their mutable state in ``self._s`` (restored by snapshots), expose RayStation
    properties as Python properties (read-only unless they have a setter) and RayStation methods
    through :func:`script_method`. ``_path`` names the object for the journal.
    """

    _tps_name: ClassVar[Optional[str]] = None  # RayStation class name when it differs from the Python one

    def __init__(self, session: Session, path: str, *, track: bool = True) -> None:
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_s", {})
        if track:  # immutable results (e.g. a DoseGridRoi) need no snapshots
            session.register(self)

    # -- RayStation wrapper semantics ----------------------------------------------------
    @classmethod
    def _class_name(cls) -> str:
        return cls._tps_name or cls.__name__

    def __getattribute__(self, name: str) -> Any:
        if name[:1] != "_" and name != "Equals":
            session = object.__getattribute__(self, "_session")
            cls = type(self)
            if name not in _member_names(cls) or not session.profile.has_member(cls._class_name(), name):
                raise no_member(name)
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        raise no_member(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        cls = type(self)
        attr = inspect.getattr_static(cls, name, None)
        if not isinstance(attr, property) or not self._session.profile.has_member(cls._class_name(), name):
            raise no_member(name)
        if attr.fset is None or not self._session.profile.can_set(cls._class_name(), name):
            raise ScriptException(f"The property '{name}' of {cls._class_name()} cannot be set.")
        with self._session.write(self, name, "set", {"value": value}):
            self._check_writable(name)
            attr.fset(self, value)

    def __dir__(self) -> List[str]:
        cls = type(self)
        return sorted(n for n in _member_names(cls) if self._session.profile.has_member(cls._class_name(), n))

    def _key(self) -> str:
        """The key of this object in a collection (its name)."""
        raise NotImplementedError(f"{self._class_name()} is not kept in a named collection")

    def __repr__(self) -> str:
        return f"<{self._class_name()} {self._path}>"

    def Equals(self, obj: Any) -> bool:
        """True when ``obj`` is the same RayStation object (§2 "Identity"; called positionally)."""
        return obj is self

    # -- approval locks ---------------------------------------------------------------------
    def _lock_reason(self) -> Optional[str]:
        """Why this object cannot be changed (an approved plan or ROI), or None."""
        return None

    def _check_writable(self, member: str) -> None:
        reason = self._lock_reason()
        if reason is not None:
            raise InvalidOperationException(
                f"Operation is not valid due to the current state of the object. {reason}; "
                f"'{member}' is not allowed on approved data."
            )


# Python-side members of RaySearch's wrapper classes (not RayStation actions).
_PY_MEMBERS = frozenset({"Equals", "Count", "Keys", "keys", "IndexOf", "KeyOf", "Contains"})


_MEMBER_NAMES: Dict[type, FrozenSet[str]] = {}


def _member_names(cls: type) -> FrozenSet[str]:
    """The RayStation members of a class (properties, script methods, wrapper members), cached."""
    names = _MEMBER_NAMES.get(cls)
    if names is None:
        found = set()
        for name in dir(cls):
            attr = inspect.getattr_static(cls, name, None) if not name.startswith("_") else None
            if isinstance(attr, property) or getattr(attr, "_script_method", False) or name in _PY_MEMBERS:
                found.add(name)
        names = _MEMBER_NAMES[cls] = frozenset(found)
    return names


def public_members(cls: type) -> List[str]:
    """Every RayStation member a stand-in class exposes in some version (for the fidelity test)."""
    return sorted(_member_names(cls))


class ScriptCollection(ScriptObject):
    """A RayStation object collection (``PyScriptObjectCollection``, §2)."""

    _tps_name = "ScriptObjectCollection"

    def __init__(self, session: Session, path: str, items: Optional[List[Any]] = None) -> None:
        super().__init__(session, path)
        self._s["items"] = list(items or [])

    # internal helpers
    def _items(self) -> List[Any]:
        return list(self._s["items"])

    def _append(self, item: Any) -> None:
        self._s["items"] = [*self._s["items"], item]

    def _remove(self, item: Any) -> None:
        self._s["items"] = [i for i in self._s["items"] if i is not item]

    def _find(self, key: str) -> Optional[Any]:
        return next((i for i in self._s["items"] if i._key() == key), None)

    # Python protocol
    def __len__(self) -> int:
        return len(self._s["items"])

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items())

    def __getitem__(self, key: Union[int, str]) -> Any:
        items = self._s["items"]
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise TypeError(f"a collection is indexed by an int or a name, not {type(key).__name__}")
        if isinstance(key, int):
            if not -len(items) <= key < len(items):
                raise IndexError(f"Index {key} is out of range (the collection has {len(items)} elements).")
            return items[key]
        found = self._find(key)
        if found is None:
            raise KeyError(f"The collection has no element named '{key}'; its keys are {self.Keys}.")
        return found

    def __contains__(self, obj: Any) -> bool:
        if not isinstance(obj, ScriptObject):
            # RaySearch's wrapper reads obj._scriptObject: a name is not accepted (§2).
            raise AttributeError(f"'{type(obj).__name__}' object has no attribute '_scriptObject'")
        return any(i is obj for i in self._s["items"])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") and not name.startswith("__"):
            for item in self._s["items"]:
                if item._key().replace(" ", "_") == name[1:]:
                    return item
        raise no_member(name)

    def __repr__(self) -> str:
        return f"CPythonScriptObjectCollection with {len(self)} elements"

    # RayStation / wrapper members
    @property
    def Count(self) -> int:
        """Number of elements."""
        return len(self._s["items"])

    @property
    def Keys(self) -> List[str]:
        """The element keys (names), in collection order."""
        return [i._key() for i in self._s["items"]]

    def keys(self) -> List[str]:
        """Fails like RaySearch's wrapper, which calls the ``Keys`` property (§2); use ``.Keys``."""
        return self.Keys()  # type: ignore[operator,no-any-return]

    def IndexOf(self, obj: Any) -> int:
        """Index of a script object in the collection (−1 when absent)."""
        return next((n for n, i in enumerate(self._s["items"]) if i is obj), -1)

    def KeyOf(self, obj: Any) -> Optional[str]:
        """Key of a script object in the collection (None when absent)."""
        return next((i._key() for i in self._s["items"] if i is obj), None)

    def Contains(self, obj: Any) -> bool:
        """Same as ``obj in collection``."""
        return self.__contains__(obj)


def state_property(key: str, doc: str, *, setter: Optional[Callable[[Any, Any], Any]] = None) -> property:
    """A property reading ``self._s[key]``; settable (through ``setter(self, value)``) when given."""

    def fget(self: ScriptObject) -> Any:
        return self._s[key]

    fset = None
    if setter is not None:

        def fset(self: ScriptObject, value: Any) -> None:
            self._s[key] = setter(self, value)

    return property(fget, fset, doc=doc)


def number(name: str) -> Callable[[Any, Any], float]:
    """A setter validator accepting a real number (not bool, not None)."""

    def check(_self: Any, value: Any) -> float:
        if isinstance(value, bool) or value is None:
            raise ScriptException(f"{name} must be a number (got {value!r})")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ScriptException(f"{name} must be a number (got {value!r})") from None

    return check
