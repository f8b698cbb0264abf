"""``Review``: the approval of a plan or a sub-structure set (docs/reference/raystation.md §3, §9, §14.6)."""

# ruff: noqa: N802 - member and keyword names are RayStation's

from __future__ import annotations

from typing import Any, Dict, Optional

from .scripting import ScriptObject

__all__ = ["APPROVAL_FROM_MODEL", "Review"]

#: Stub-patient (Eclipse) approval status → RayStation ``Review.ApprovalStatus``; None means the plan
#: was never reviewed (``plan.Review`` is None, §3). Delivered or locked Eclipse states become
#: "Approved", the only state the reference names as locking.
APPROVAL_FROM_MODEL: Dict[str, Optional[str]] = {
    "UnApproved": None,
    "Reviewed": "Unapproved",
    "Rejected": "Rejected",
    "PlanningApproved": "Approved",
    "TreatmentApproved": "Approved",
    "Completed": "Approved",
    "CompletedEarly": "Approved",
    "Retired": "Approved",
    "UnPlannedTreatment": "Approved",
    "ExternallyApproved": "Approved",
}


class Review(ScriptObject):
    """An approval record (read-only)."""

    def __init__(self, session: Any, path: str, status: str) -> None:
        super().__init__(session, path)
        self._s["status"] = status

    @property
    def ApprovalStatus(self) -> str:
        """``'Approved'`` when the object is locked."""
        return str(self._s["status"])
