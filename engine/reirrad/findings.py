"""Findings: eligibility and safety observations carried as data in every result.

A finding never changes a number by itself; it tells the user (and the audit trail) what
was noticed. Severity ``stop`` means the workflow must not continue without an explicit,
recorded override; ``flag`` must be shown prominently; ``info`` is context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List

from .errors import InputError

__all__ = ["SEVERITIES", "Finding", "unique_findings"]

SEVERITIES = ("stop", "flag", "info")


@dataclass(frozen=True)
class Finding:
    """One eligibility or safety observation.

    Parameters
    ----------
    code : str
        Stable machine-readable identifier, e.g. ``"interval-under-6-months"``.
    severity : str
        One of ``"stop"``, ``"flag"``, ``"info"``.
    message : str
        Human-readable text naming the values involved.
    subject : str
        What it is about (a course name, an OAR key, ``"prescription"``); may be empty.
    """

    code: str
    severity: str
    message: str
    subject: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise InputError(
                f"Finding severity must be one of {SEVERITIES} (got {self.severity!r})"
            )

    def to_dict(self) -> Dict[str, str]:
        """Plain mapping for JSON output."""
        return {"code": self.code, "severity": self.severity, "subject": self.subject,
                "message": self.message}


def unique_findings(findings: Iterable[Finding], *, by_subject: bool = True) -> List[Finding]:
    """``findings`` without exact repeats, in order.

    Two findings repeat each other when code, severity and message are equal (and the subject too,
    unless ``by_subject`` is False: one unknown interval reported by every OAR is then listed once).
    """
    seen = set()
    out = []
    for f in findings:
        key = (f.code, f.severity, f.message, f.subject if by_subject else "")
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
