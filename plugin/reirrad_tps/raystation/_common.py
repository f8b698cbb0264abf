"""Small helpers shared by the RayStation adapter modules (private).

RayStation objects reach Python as pythonnet wrappers (docs/reference/raystation.md §2): a missing member
raises ``AttributeError`` (so :func:`has_member` is ``hasattr``), identity must be tested with
``a.Equals(b)`` (never ``==``), and errors are .NET exceptions whose text is in ``e.Message`` or
``str(e)`` (§4).
"""

from __future__ import annotations

from typing import Any, List

__all__ = [
    "APPROVED", "NOT_REVIEWED", "approval_status", "has_member", "is_approved", "names", "same",
    "tps_message",
]

#: ``approval_status`` of an object whose ``Review`` is None (never reviewed, §3).
NOT_REVIEWED = "NotReviewed"
APPROVED = "Approved"


def has_member(obj: Any, name: str) -> bool:
    """True when the RayStation object has the member ``name`` (in this version)."""
    return hasattr(obj, name)


def same(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same RayStation object (``a.Equals(b)``, §2)."""
    if a is None or b is None:
        return False
    return bool(a.Equals(b))


def tps_message(exc: BaseException) -> str:
    """The text of an exception raised by RayStation (``Message`` of a .NET exception, else ``str``)."""
    message = getattr(exc, "Message", None)
    return str(message) if message is not None else str(exc)


def approval_status(obj: Any) -> str:
    """``obj.Review.ApprovalStatus`` (e.g. ``'Approved'``), or :data:`NOT_REVIEWED` when never reviewed."""
    review = obj.Review
    if review is None:
        return NOT_REVIEWED
    return str(review.ApprovalStatus)


def is_approved(obj: Any) -> bool:
    """True when a plan (or sub-structure set) is approved and therefore locked (§14.6)."""
    return approval_status(obj) == APPROVED


def names(collection: Any, attribute: str = "Name") -> List[str]:
    """The names of the elements of a RayStation collection."""
    return [str(getattr(item, attribute)) for item in collection]
