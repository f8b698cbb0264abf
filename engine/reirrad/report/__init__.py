"""Self-contained HTML report of a run's outcome (:class:`reirrad.outcome.RunOutcome`).

Split by what each part holds:

* :mod:`reirrad.report.text` — wording shared with the console summary (plain text);
* :mod:`reirrad.report.data` — the numbers the plots show, read from the outcome (numpy only);
* :mod:`reirrad.report.plots` — drawing them (matplotlib, the ``report`` extra, imported lazily);
* :mod:`reirrad.report.page` — the HTML page: every table from the outcome's result mapping.

None of them computes a clinical number: the result mapping (:func:`reirrad.result.build_result`) and
the run's own maps are the only sources (``docs/result.md``).
"""

from __future__ import annotations

from .page import render_report, write_report
from .plots import DVH_FIGURE_PX, FIGURE_DPI, MAP_FIGURE_PX, REPORT_EXTRA_NOTE, TORNADO_FIGURE_PX
from .text import (
    FINAL_CHECK_ITEMS,
    PASSED_NOT_ASSESSABLE,
    REGION_COLUMNS,
    TUMOUR_DOSE_COLUMNS,
    checked_limit,
    checked_limit_lines,
    checked_limit_note,
    deciding_text,
    exit_text,
    final_check_rows,
    limited_by_text,
    passed_text,
    plain_value,
    region_rows,
    registration_text,
    status_lines,
    structure_rows,
)

__all__ = [
    "DVH_FIGURE_PX",
    "FIGURE_DPI",
    "FINAL_CHECK_ITEMS",
    "MAP_FIGURE_PX",
    "PASSED_NOT_ASSESSABLE",
    "REGION_COLUMNS",
    "REPORT_EXTRA_NOTE",
    "TORNADO_FIGURE_PX",
    "TUMOUR_DOSE_COLUMNS",
    "checked_limit",
    "checked_limit_lines",
    "checked_limit_note",
    "deciding_text",
    "exit_text",
    "final_check_rows",
    "limited_by_text",
    "passed_text",
    "plain_value",
    "region_rows",
    "registration_text",
    "render_report",
    "status_lines",
    "structure_rows",
    "write_report",
]
