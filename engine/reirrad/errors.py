"""Errors raised by the reirrad engine.

One small hierarchy, so that callers (the command line, the TPS entry points) can
tell bad input from an internal failure::

    ReirradError                      root of everything the engine raises on purpose
    ├── InputError (ValueError)       a value given by the caller is invalid
    │   ├── ApprovedPlanError         a TPS write was asked of an approved, treated or locked plan
    │   ├── UnitError                 a dose/length unit that cannot be converted safely
    │   └── IncompatibleDoseError     doses that must not be combined (mixed α/β, EQD2 + physical)
    ├── ProtocolError (ValueError)    a protocol file is malformed; names file, key path, expectation
    ├── OutputError                   the run's record (report, audit row) could not be written
    └── EligibilityError              a run stopped by a ``stop`` finding that was not overridden
                                      (eligibility, structure matching, an OAR's tolerance); carries
                                      the findings

Every message says what was wrong, the value that was given, and how to fix it.
"""

from __future__ import annotations

from typing import Any, Tuple

__all__ = [
    "ApprovedPlanError",
    "EligibilityError",
    "IncompatibleDoseError",
    "InputError",
    "OutputError",
    "ProtocolError",
    "ReirradError",
    "UnitError",
]


class ReirradError(Exception):
    """Root of the exceptions the engine raises deliberately."""


class InputError(ReirradError, ValueError):
    """A caller-supplied value is invalid (wrong range, type or combination)."""


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
