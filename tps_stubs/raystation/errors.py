"""Exceptions shaped like the .NET exceptions RayStation raises through pythonnet.

docs/reference/raystation.md §4: errors surface as .NET exceptions with ``e.Message`` and
``str(e)`` / ``e.args[0]``; approved data raises a class named ``InvalidOperationException``
(scripts test ``e.__class__.__name__``); "no current object" raises ``SystemError``.
"""

# ruff: noqa: N802 - member and keyword names are RayStation's

from __future__ import annotations

__all__ = ["ArgumentException", "InvalidOperationException", "ScriptException", "ScriptSystemError",
           "no_member"]


class ScriptException(Exception):  # noqa: N818 - mirrors the .NET name System.Exception
    """A ``System.Exception`` from a RayStation action; ``Message`` holds the text."""

    @property
    def Message(self) -> str:
        """The exception text (the .NET ``Message`` property)."""
        return str(self.args[0]) if self.args else ""


class InvalidOperationException(ScriptException):
    """Raised on any write to approved data (docs/reference/raystation.md §4, §14.6)."""


class ArgumentException(ScriptException):
    """A value RayStation cannot use (``System.ArgumentException``): the stand-in raises it where a value has
    the right type but not an acceptable shape (e.g. a non-planar contour; DEVIATIONS.md)."""


class ScriptSystemError(SystemError):
    """``SystemError`` with a .NET-like ``Message`` (no current object, failed actions; §4)."""

    @property
    def Message(self) -> str:
        """The exception text."""
        return str(self.args[0]) if self.args else ""


def no_member(name: str) -> AttributeError:
    """The ``AttributeError`` the real wrapper raises for a missing member (§2: "Object has no member")."""
    return AttributeError(f"Object has no member '{name}'")
