"""Objects that belong to a treatment plan and share its approval lock (docs/reference/raystation.md
§14.6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .scripting import ScriptObject

if TYPE_CHECKING:  # pragma: no cover
    from .plans import TreatmentPlan
    from .session import Session

__all__ = ["PlanPart"]


class PlanPart(ScriptObject):
    """An object inside a plan: locked when the plan is approved."""

    _plan: TreatmentPlan

    def __init__(self, session: Session, path: str, plan: TreatmentPlan) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_plan", plan)

    def _lock_reason(self) -> Optional[str]:
        return self._plan._lock_reason()
