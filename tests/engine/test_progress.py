"""Progress reporting (reirrad.progress) and the workflow's reports.

Sources of truth: the documented display formats, and properties any progress report must have
(integer percent in 0–100, never decreasing, ending at 100).
"""

from __future__ import annotations

import io

from reirrad.progress import TextProgress, combine
from reirrad.protocol import load_protocol
from reirrad.workflow import WorkflowOptions, run
from tps_stubs.direct import DirectCase, DirectPlanner


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_when_not_a_terminal_and_repeats_dropped():
    out = io.StringIO()
    bar = TextProgress(out)
    bar(5, "reading")
    bar(5, "reading")
    bar(140, "done")
    assert out.getvalue() == "[  5 %] reading\n[100 %] done\n"


def test_a_bar_on_a_terminal():
    out = _Terminal()
    bar = TextProgress(out, width=10)
    bar(50, "optimising")
    bar(100, "done")
    text = out.getvalue()
    assert "\r[#####.....]  50 % optimising" in text
    assert "\r[##########] 100 % done" in text and text.endswith("\n")


def test_combine_reports_to_each():
    seen = []
    report = combine(lambda p, m: seen.append(("a", p, m)), None, lambda p, m: seen.append(("b", p, m)))
    report(20, "x")
    assert seen == [("a", 20, "x"), ("b", 20, "x")]


def test_the_workflow_reports_integers_that_never_decrease_and_end_at_100():
    """A limit-toxicity run (one optimisation) and a dry run on the TPS-less stand-in."""
    protocol = load_protocol("uk-sabr-pelvis-reirradiation")
    case = DirectCase("LRRC-01")
    for planner, options in ((DirectPlanner(case), WorkflowOptions(intent="limit-toxicity")),
                             (None, WorkflowOptions(dry_run=True))):
        seen: list = []
        run(protocol, case.read(), planner, options, progress=lambda p, m, seen=seen: seen.append((p, m)))
        percents = [p for p, _ in seen]
        assert all(isinstance(p, int) and 0 <= p <= 100 for p in percents)
        assert percents == sorted(percents) and percents[-1] == 100
