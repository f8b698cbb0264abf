"""Run statuses and exit codes: one table for every launcher (command line, Eclipse host, RayStation
menu, offline DICOM evaluation).

=========================  ====  =====================================================================
status                     exit  meaning
=========================  ====  =====================================================================
``planned``                0     every OAR limit and the coverage rule met on the dose re-read from
                                 the TPS after the normalisation
``dry-run``                0     objectives computed; nothing written to the TPS
``evaluated``              0/3   an existing dose checked offline: 0 when every OAR limit is met
``coverage-compromised``   3     plan kept: every OAR limit met, the coverage rule not
``final-check-failed``     3     plan kept as the TPS holds it; its re-read final dose breaks a limit
``infeasible``             3     even the floor level breaks an OAR limit; that plan is left for review
``stopped``                2     a ``stop`` finding without a recorded override, or bad input
``cancelled``              2     the user cancelled at the confirmation; nothing written
``error``                  1     internal failure; nothing kept
=========================  ====  =====================================================================

Exit 3 means "a plan exists but needs review": never a silent success.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REVIEW", "EXIT_STOP", "PLAN_KEPT", "STATUS_MEANINGS",
           "exit_code_for", "status_meaning"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_STOP = 2
EXIT_REVIEW = 3

STATUS_MEANINGS: Dict[str, str] = {
    "planned": "every OAR limit and the coverage rule are met on the final dose re-read from the TPS",
    "dry-run": "objectives computed; nothing was written to the TPS",
    "evaluated": "an existing new-course dose was evaluated offline",
    "coverage-compromised": ("the plan is kept: every OAR limit is met but the target coverage rule is not; "
                             "review before use"),
    "final-check-failed": ("the plan is kept as the TPS holds it, but its final dose (re-read after the last "
                           "optimisation and the normalisation) breaks an OAR limit; review before use"),
    "infeasible": ("even the lowest prescription level breaks an OAR limit; that plan is left in the TPS "
                   "for review"),
    "stopped": "a stop finding or bad input ended the run before anything was written",
    "cancelled": "cancelled by the user; nothing was written",
    "error": "internal failure; nothing was kept",
}

#: Statuses whose plan stays in the TPS (the Eclipse host saves it, the RayStation undo step keeps it).
PLAN_KEPT = ("planned", "coverage-compromised", "final-check-failed", "infeasible")

_EXIT: Dict[str, int] = {
    "planned": EXIT_OK, "dry-run": EXIT_OK,
    "coverage-compromised": EXIT_REVIEW, "final-check-failed": EXIT_REVIEW, "infeasible": EXIT_REVIEW,
    "stopped": EXIT_STOP, "cancelled": EXIT_STOP, "error": EXIT_FAILED,
}


def status_meaning(status: str) -> str:
    """The one-sentence meaning of ``status`` (the table in the module docstring)."""
    return STATUS_MEANINGS.get(status, f"unknown status {status!r}")


def exit_code_for(result: Mapping[str, Any]) -> int:
    """The process exit code of a result mapping (module docstring).

    ``evaluated`` exits 0 only when ``oar_limits_met`` is exactly True; an unknown status is an
    internal failure (1), never a success.
    """
    status = str(result.get("status"))
    if status == "evaluated":
        return EXIT_OK if result.get("oar_limits_met") is True else EXIT_REVIEW
    return _EXIT.get(status, EXIT_FAILED)
