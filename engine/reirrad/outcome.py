"""The typed outcome of a run (:func:`reirrad.runner.execute`): what every view reads.

The JSON result (``result``, built once by :func:`reirrad.result.build_result`), the console summary,
the HTML report (:mod:`reirrad.report`) and the audit row (:mod:`reirrad.audit`) are views of a
:class:`RunOutcome`; none recomputes a clinical number (``docs/result.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

from .evaluation import PlanEvaluation
from .findings import Finding
from .statuses import PLAN_KEPT
from .workflow import FinalCheck, WorkflowRun

__all__ = ["RunOutcome", "Status"]


class Status(str, Enum):
    """The statuses of :mod:`reirrad.statuses` (their values are the result's ``status`` text)."""

    PLANNED = "planned"
    DRY_RUN = "dry-run"
    EVALUATED = "evaluated"
    COVERAGE_COMPROMISED = "coverage-compromised"
    FINAL_CHECK_FAILED = "final-check-failed"
    INFEASIBLE = "infeasible"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    ERROR = "error"


@dataclass(frozen=True, eq=False)
class RunOutcome:
    """What a run decided and left behind (frozen; the views read it).

    Attributes
    ----------
    status : Status
    exit_code : int
        :func:`reirrad.statuses.exit_code_for` of the result.
    result : mapping
        The JSON view (:func:`reirrad.result.build_result`, or :func:`reirrad.result.stopped_result`).
    run : WorkflowRun or None
        None for a stop before a run.
    stop_findings : tuple of Finding
        The ``stop`` findings of a stopped run (empty otherwise).
    paths_written : tuple of pathlib.Path
        The report and audit CSV written for this run.
    """

    status: Status
    exit_code: int
    result: Mapping[str, Any]
    run: Optional[WorkflowRun]
    stop_findings: Tuple[Finding, ...] = ()
    paths_written: Tuple[Path, ...] = field(default_factory=tuple)

    @property
    def evaluation(self) -> Optional[PlanEvaluation]:
        """The evaluation the status comes from (the final check's for a planned run)."""
        return None if self.run is None else self.run.final

    @property
    def final_check(self) -> Optional[FinalCheck]:
        """The final check on the dose re-read from the TPS (None for dry runs, evaluations, stops)."""
        return None if self.run is None else self.run.final_check

    @property
    def findings(self) -> Tuple[Finding, ...]:
        """Every finding of the run (the stop findings of a stopped one)."""
        return self.stop_findings if self.run is None else (*self.run.prepared.findings, *self.run.findings)

    @property
    def plan_kept(self) -> bool:
        """Whether the run leaves a plan in the TPS (planned, or kept for review)."""
        return self.status.value in PLAN_KEPT

    def with_result(self, **extra: Any) -> RunOutcome:
        """A copy whose result mapping has ``extra`` keys added (launcher facts: TPS journal, files)."""
        return replace(self, result={**self.result, **extra})

    def with_paths(self, paths: Tuple[Path, ...]) -> RunOutcome:
        """A copy that records the files written for the run."""
        return replace(self, paths_written=tuple(paths))
