"""The decision gate: every ``stop`` finding ends a run unless overridden with a recorded reason.

One rule for every launcher (``reirrad plan``, ``reirrad evaluate``, the Eclipse host, the RayStation
menu): :func:`reirrad.workflow.prepare` collects the findings of eligibility, structure matching,
occupancy, prior-dose coverage and each OAR's remaining tolerance (Nieder's per-course and interval
conditions, unknown intervals), then calls :func:`apply_gate`.

* No ``stop`` finding: the run proceeds.
* ``stop`` findings and no override reason: :class:`reirrad.errors.EligibilityError` with every stop
  finding (exit 2, nothing written to the TPS).
* ``stop`` findings and an override reason (``--override-eligibility REASON`` or the dialog's): the
  run proceeds and the overridden findings are recorded with the reason (result ``eligibility``,
  report, audit row).
* Some stops cannot be overridden by a reason because they need an action, not a judgement
  (:data:`NEEDS_ACTION`): two structures match one OAR (choose one), no protocol OAR matched at
  all (nothing could be checked, so "every limit met" would be empty), or the new course's fractions
  are not the protocol's (its limits are defined for its fractionation only: use a protocol for those
  fractions).
"""

from __future__ import annotations

import unicodedata
from typing import Optional, Sequence, Tuple

from .errors import EligibilityError, InputError
from .findings import Finding

__all__ = ["MAX_REASON_CHARS", "NEEDS_ACTION", "apply_gate", "check_override_reason", "overridable",
           "stop_findings"]

#: Stop codes that an override reason does not lift.
NEEDS_ACTION = ("ambiguous-structure", "no-oar-matched", "fractionation-not-in-protocol")


def stop_findings(findings: Sequence[Finding]) -> Tuple[Finding, ...]:
    """The findings of severity ``stop``, in order."""
    return tuple(f for f in findings if f.severity == "stop")


def _message(stops: Sequence[Finding], hint: str) -> str:
    listed = "; ".join(f"[{f.code}] {f.message}" for f in stops)
    return f"{len(stops)} stop finding(s): {listed} - {hint}"


#: Longest override reason (characters): a sentence or two naming the decision and where it is recorded.
#: A 5 MB reason was written whole to the console, the report and one audit cell (beyond a spreadsheet's
#: 32,767).
MAX_REASON_CHARS = 1000


def check_override_reason(reason: Optional[str]) -> Optional[str]:
    """An override reason as recorded: None (no override), or text a reader can see and trust.

    Refused: text with no visible character (empty, blanks, a zero-width space: an override whose
    reason displays as nothing), more than :data:`MAX_REASON_CHARS` characters, and control or format
    characters (a terminal escape, a carriage
    return or newline that forges console lines, a right-to-left override that reorders them), which
    every view (console, report, audit row) would show raw or garbled.

    Raises
    ------
    reirrad.errors.InputError
        Naming what is wrong and giving an example.
    """
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise InputError(f"an eligibility override reason must be text (got {type(reason).__name__})")
    hidden = sorted({f"U+{ord(c):04X}" for c in reason if unicodedata.category(c) in ("Cc", "Cf")})
    if hidden:
        raise InputError(f"an eligibility override reason may not hold control or format characters "
                         f"(found {', '.join(hidden[:5])}): write it as one line of plain text, e.g. "
                         "'MDT 2026-11-20 approved interval of 5 months'")
    if not any(not c.isspace() for c in reason):
        raise InputError("an eligibility override needs a reason (got empty text); say why, "
                         "e.g. 'MDT 2026-11-20 approved interval of 5 months'")
    if len(reason) > MAX_REASON_CHARS:
        raise InputError(f"an eligibility override reason of {len(reason)} characters is longer than "
                         f"{MAX_REASON_CHARS}: record the decision in a sentence or two and refer to the "
                         "MDT record for the rest")
    return reason


def overridable(stops: Sequence[Finding]) -> bool:
    """True when an override reason may let these stop findings through (none :data:`NEEDS_ACTION`)."""
    return not any(f.code in NEEDS_ACTION for f in stops)


def apply_gate(findings: Sequence[Finding], override_reason: Optional[str]) -> Tuple[Finding, ...]:
    """Apply the gate (module docstring); return the stop findings that the override lets through.

    Raises
    ------
    reirrad.errors.EligibilityError
        With ``findings`` set to the stop findings, when a stop is not overridden or cannot be.
    """
    stops = stop_findings(findings)
    blocking = tuple(f for f in stops if f.code in NEEDS_ACTION)
    if blocking:
        raise EligibilityError(_message(blocking, "an override reason cannot lift these: choose the "
                                                  "structure (answers file or dialog), contour the OARs, or "
                                                  "use a protocol for the plan's fractions"),
                               stops)
    if stops and check_override_reason(override_reason) is None:
        raise EligibilityError(_message(stops, "give --override-eligibility REASON (or the dialog's "
                                               "override) to proceed; the reason is recorded"), stops)
    return stops
