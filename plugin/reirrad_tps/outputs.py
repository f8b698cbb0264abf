"""The files a run leaves behind, the same for every launcher: the HTML report and the audit row.

``reirrad plan`` / ``demo`` (``--report``, ``--audit-csv``), the Eclipse host (same options) and the
RayStation menu (answers keys ``report`` and ``audit_csv``) all call :func:`write_outputs`.

Audit rows share one CSV across patients: every row has a column group for each OAR of the protocol
and for :data:`AUDIT_PRIOR_COURSES` prior courses (empty where a patient has fewer), so the header
is the same for every run with the same protocol (``reirrad.audit.append_audit_csv`` refuses a row
that does not fit the file's header, writing nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional

from reirrad.audit import append_audit_csv, audit_record
from reirrad.report import write_report
from reirrad.workflow import WorkflowRun

__all__ = ["AUDIT_PRIOR_COURSES", "write_outputs"]

#: Prior-course column groups in every audit row (a patient with more gets a clear refusal).
AUDIT_PRIOR_COURSES = 3


def write_outputs(run: Optional[WorkflowRun], result: Mapping[str, Any], *, report: Optional[str] = None,
                  audit_csv: Optional[str] = None) -> List[Path]:
    """Write the report (when ``report`` is a path and the run got as far as a result) and append the
    audit row (when ``audit_csv`` is a path); return the paths written.

    Parameters
    ----------
    run : reirrad.workflow.WorkflowRun or None
        None when the run stopped before a result (eligibility stop, error, cancel): nothing written.
    result : mapping
        ``reirrad.result.build_result(run)`` (launchers may add keys).
    """
    if run is None:
        return []
    written: List[Path] = []
    if report:
        written.append(write_report(report, run, result))
    if audit_csv:
        n_priors = max(AUDIT_PRIOR_COURSES, len(run.prepared.snapshot.prior_courses))
        record = audit_record(result, oar_keys=run.prepared.protocol.oar_keys, n_prior_courses=n_priors)
        written.append(append_audit_csv(audit_csv, record))
    return written
