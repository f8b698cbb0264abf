"""Errors raised by the reirrad engine.

One small hierarchy, so that callers (the command line, the TPS entry points) can
tell bad input from an internal failure::

    ReirradError                      root of everything the engine raises on purpose
    ├── InputError (ValueError)       a value given by the caller is invalid
    │   ├── InputFileError            an input file (case, answers, protocol, stub patient) cannot be
    │   │                             read: names the file, the key path and the fix
    │   ├── ApprovedPlanError         a TPS write was asked of an approved, treated or locked plan
    │   ├── UnitError                 a dose/length unit that cannot be converted safely
    │   └── IncompatibleDoseError     doses that must not be combined (mixed α/β, EQD2 + physical)
    ├── ProtocolError (ValueError)    a protocol file is malformed; names file, key path, expectation
    ├── OutputError                   the run's record (report, audit row) could not be written
    └── EligibilityError              a run stopped by a ``stop`` finding that was not overridden
                                      (eligibility, structure matching, an OAR's tolerance); carries
                                      the findings

Every message says what was wrong, the value that was given (through :func:`echo`, which shortens
long values), and how to fix it.
"""

from __future__ import annotations

import reprlib
import unicodedata
from typing import Any, Tuple

__all__ = [
    "ApprovedPlanError",
    "EligibilityError",
    "IncompatibleDoseError",
    "InputError",
    "InputFileError",
    "OptimisationError",
    "OutputError",
    "ProtocolError",
    "ReirradError",
    "UnitError",
    "echo",
    "hidden_character",
    "shown",
]

ECHO_CHARS = 80
"""Most characters of a value that a message repeats (a 50 MB field is never echoed whole)."""

_REPR = reprlib.Repr()
_REPR.maxstring = ECHO_CHARS
_REPR.maxother = ECHO_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3


def echo(value: Any) -> str:
    """``repr(value)`` for an error message, at most about :data:`ECHO_CHARS` characters.

    Long text keeps its start and says how long it was; a huge integer gives its number of digits
    (its ``repr`` alone could take seconds, or fail on Python >= 3.11).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    if isinstance(value, str):
        if len(value) <= ECHO_CHARS:
            return repr(value)
        return f"{value[:ECHO_CHARS - 20]!r}... ({len(value)} characters)"
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails is still named by its type
        return f"<a {type(value).__name__}>"
    return text if len(text) <= 2 * ECHO_CHARS else text[:2 * ECHO_CHARS] + "..."


def hidden_character(c: str) -> bool:
    """True for a character no name or label needs and every view would show raw or garbled: a control
    character other than tab and newline (ESC, CR, BEL, NUL …: a terminal escape, a forged console
    line), or a bidirectional control (U+202A-U+202E, U+2066-U+2069) that reorders what is displayed."""
    if c in "\t\n":
        return False
    return unicodedata.category(c) == "Cc" or "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069"


def shown(text: str) -> str:
    """``text`` with each :func:`hidden_character` (and tab and newline) written as a visible escape
    (``\\x1b``, ``\\u202e``): for names and labels that come from files reirrad does not write (DICOM),
    so that the console, the report and the audit row never carry them raw."""
    if text.isprintable():  # the usual case, at once
        return text
    return "".join((f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                   if hidden_character(c) or c in "\t\n" else c for c in text)


class ReirradError(Exception):
    """Root of the exceptions the engine raises deliberately."""


class InputError(ReirradError, ValueError):
    """A caller-supplied value is invalid (wrong range, type or combination)."""


class InputFileError(InputError):
    """An input file cannot be read (:mod:`reirrad.inputfiles`): unreadable, too large, not UTF-8, not
    valid YAML/JSON, or refused by the strict reader (duplicate key, alias, key that is not text).

    Parameters
    ----------
    what : str
        What the file is ("case file", "answers file", "protocol").
    path : str
        The file.
    key_path : str
        Dotted path of the offending key (``courses[0].oar_doses_gy``), ``"<file>"`` for the whole file.
    problem : str
        What is wrong and how to fix it.
    """

    def __init__(self, what: str, path: str, key_path: str, problem: str) -> None:
        self.what = what
        self.path = path
        self.key_path = key_path
        self.problem = problem
        where = "" if key_path == "<file>" else f" at '{key_path}':"
        super().__init__(f"{what} {path}:{where} {problem}")


class ApprovedPlanError(InputError):
    """A TPS write was requested on a plan that must not change (approved, treated, in a completed course,
    locked); nothing was written. Both adapters raise it before any TPS call."""


class UnitError(InputError):
    """A unit that cannot be converted safely (for example Percent or Unknown)."""


class IncompatibleDoseError(InputError):
    """Doses that must not be combined: different α/β, or EQD2 with physical dose."""


class ProtocolError(ReirradError, ValueError):
    """A protocol file is malformed.

    Parameters
    ----------
    path : str
        The file (or ``"<mapping>"`` for an in-memory protocol).
    key_path : str
        Dotted path of the offending key, for example ``oars.small_bowel.alpha_beta.value``.
    problem : str
        What is wrong and what is expected.
    """

    def __init__(self, path: str, key_path: str, problem: str) -> None:
        self.path = path
        self.key_path = key_path
        self.problem = problem
        super().__init__(f"{path}: at '{key_path}': {problem}")


class OptimisationError(ReirradError):
    """The TPS optimiser reported a failure (Eclipse ``OptimizerResult.Success`` False, a RayStation
    ``RunOptimization`` exception): the plan is as the TPS left it. The workflow tries a failed
    optimisation once more before it gives up (:mod:`reirrad.workflow`)."""


class OutputError(ReirradError):
    """The run's record (HTML report, audit row) could not be written; the launcher keeps nothing of
    the run in the TPS (a plan is never saved without its record)."""


class EligibilityError(ReirradError):
    """A run was stopped by a ``stop`` finding (see :mod:`reirrad.gate`).

    Parameters
    ----------
    message : str
        What stopped the run and how to proceed.
    findings : tuple, optional
        The ``stop`` findings (:class:`reirrad.findings.Finding`) behind it, for the result.
    """

    def __init__(self, message: str, findings: Tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.findings = tuple(findings)
