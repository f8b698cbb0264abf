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

from typing import Optional, Sequence, Tuple

from .errors import EligibilityError
from .findings import Finding

__all__ = ["NEEDS_ACTION", "apply_gate", "stop_findings"]

#: Stop codes that an override reason does not lift.
NEEDS_ACTION = ("ambiguous-structure", "no-oar-matched", "fractionation-not-in-protocol")


def stop_findings(findings: Sequence[Finding]) -> Tuple[Finding, ...]:
    """The findings of severity ``stop``, in order."""
    return tuple(f for f in findings if f.severity == "stop")


def _message(stops: Sequence[Finding], hint: str) -> str:
    listed = "; ".join(f"[{f.code}] {f.message}" for f in stops)
    return f"{len(stops)} stop finding(s): {listed} - {hint}"


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
    if stops and (override_reason is None or not override_reason.strip()):
        raise EligibilityError(_message(stops, "give --override-eligibility REASON (or the dialog's "
                                               "override) to proceed; the reason is recorded"), stops)
    return stops
