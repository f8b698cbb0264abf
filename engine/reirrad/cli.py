"""Command line: ``reirrad <command>`` (also ``python -m reirrad``).

Exit codes (:mod:`reirrad.statuses`): 0 success; 2 bad input (an output path included, checked before
any work), malformed protocol, or a stop finding without an override; 3 a plan that needs review; 1 the
run's outputs could not be written (none was), or an internal failure (a bug: please report it with the
traceback); 130 / 143 interrupted by SIGINT / SIGTERM; 141 standard output closed early
(``docs/outputs.md``).

The engine's commands are ``constraints`` (point calculator) and ``protocols`` (the shipped
protocols). The adapters' package adds ``evaluate``, ``plan``, ``demo`` and ``stub-patients`` through
the ``reirrad.commands`` entry points (``plan --tps *-stub``, ``demo`` and ``stub-patients`` need the
TPS stand-ins, a separate distribution). ``EXAMPLE_CASE`` is a packaged constraint case file
(``reirrad constraints --case``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import __version__
from ._validate import positive_int
from .bounds import check_fractions
from .errors import OutputError, ReirradError
from .files import discard_pending
from .interrupts import Interrupted, interruptible
from .outputs import OutputRequest, check_outputs, write_result_json
from .pointcase import (
    ConstraintCase,
    evaluate_case,
    format_table,
    load_case,
    parse_prior_options,
)
from .protocol import list_protocols, load_protocol
from .recovery import RECOVERY_MODELS

logger = logging.getLogger(__name__)

DEFAULT_PROTOCOL = "uk-sabr-pelvis-reirradiation"
EXAMPLE_CASE = Path(__file__).resolve().parent / "examples" / "demo-case.yaml"

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
#: 128 + SIGPIPE: standard output was closed before everything was printed (docs/outputs.md §4).
EXIT_BROKEN_PIPE = 141

MAX_MESSAGE_CHARS = 4000
"""Longest error message printed; the engine's messages shorten the values they echo, this is the net."""


def error_line(exc: BaseException) -> str:
    """The one line printed for a deliberate error: ``reirrad: error: <message>``, at most
    :data:`MAX_MESSAGE_CHARS` characters of message (a longer one says how much was left out)."""
    message = str(exc)
    if len(message) > MAX_MESSAGE_CHARS:
        message = (f"{message[:MAX_MESSAGE_CHARS]}... ({len(message) - MAX_MESSAGE_CHARS} more characters "
                   "not shown)")
    return f"reirrad: error: {message}"


#: The namespace attribute in which :class:`_StoreOnce` records the options given (removed after parsing).
_GIVEN = "_reirrad_options_given"


class _StoreOnce(argparse._StoreAction):
    """argparse's ``store`` action for an option that may be given once: given twice (``--patient A
    --patient B``, or two spellings of one option), the command is refused with exit 2, where argparse
    would keep the last value silently. Options that take several values use ``append``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        if option_string is not None:
            given: Dict[str, str] = namespace.__dict__.setdefault(_GIVEN, {})
            if self.dest in given:
                parser.error(f"{given[self.dest]} is given twice (then as {option_string} {values!r}); give "
                             "it once: which value was meant is not known")
            given[self.dest] = option_string
        super().__call__(parser, namespace, values, option_string)


class StrictParser(argparse.ArgumentParser):
    """The command line's parser (and, by argparse's ``parser_class``, its sub-commands'): every
    single-valued option is :class:`_StoreOnce` (given twice: refused, never the last value kept
    silently). The TPS hosts' command lines use it too (``reirrad_tps.eclipse.host``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def parse_known_args(self, args: Optional[Sequence[str]] = None,  # type: ignore[override]
                         namespace: Optional[argparse.Namespace] = None) -> Any:
        parsed, extra = super().parse_known_args(args, namespace)
        if namespace is None:  # a call of its own (not one filling a caller's namespace): not an option
            parsed.__dict__.pop(_GIVEN, None)
        return parsed, extra


def _build_parser() -> argparse.ArgumentParser:
    parser = StrictParser(
        prog="reirrad",
        description="Pelvic SABR re-irradiation planning support (decision support only; "
                    "commission locally before clinical use).",
    )
    parser.add_argument("--version", action="version", version=f"reirrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("constraints", help="remaining OAR tolerance from prior metric doses")
    c.add_argument("--protocol", default=DEFAULT_PROTOCOL, help="shipped protocol name or YAML path")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--case", help="case file (YAML/JSON) with the prior courses; see docs/constraints.md")
    src.add_argument("--prior", action="append", metavar="OAR=DOSE/FX@DAYS",
                     help="prior metric dose, physical Gy total over that course, e.g. "
                          "small_bowel=45/25@730; repeat for each OAR and course")
    c.add_argument("--fractions", type=int, default=None, help="fractions of the new course "
                   "(default: the protocol's)")
    add_recovery_arguments(c)
    c.add_argument("--override-eligibility", metavar="REASON", default=None,
                   help="proceed despite a stop finding; the reason is recorded")
    add_sensitivity_argument(c)
    c.add_argument("--json", metavar="PATH", help="write the result as JSON")

    p = sub.add_parser("protocols", help="list the shipped protocols")
    p.add_argument("--json", metavar="PATH", help="write the list as JSON")

    for register in _plugin_commands():
        register(sub)
    return parser


def add_recovery_arguments(parser: argparse.ArgumentParser) -> None:
    """``--recovery-model`` and ``--conservation-factor``, the same for every command that takes them."""
    parser.add_argument("--recovery-model", choices=RECOVERY_MODELS, default=None,
                        help="override the protocol's recovery model (recorded in the result)")
    parser.add_argument("--conservation-factor", type=float, default=None,
                        help="scale credited recovery by a factor in (0, 1] (project parameterisation)")


def add_sensitivity_argument(parser: argparse.ArgumentParser) -> None:
    """``--sensitivity``, the same for every command that takes it."""
    parser.add_argument("--sensitivity", action="store_true",
                        help="also show how each allowed dose changes with one assumption changed at a time "
                             "(α/β, recovery model, interval, registration; the protocol's 'sensitivity' "
                             "ranges; docs/clinical-decisions.md 39)")


def _plugin_commands() -> List[Callable[[Any], None]]:
    """Command registrars contributed by installed packages (entry-point group ``reirrad.commands``).

    The TPS adapters (``reirrad_tps``) add ``plan``, ``stub-patients`` … this way, so the engine never
    imports them by name. Each registrar receives the sub-parser collection and sets a ``handler``
    (``Namespace -> int``) as the default of the parsers it adds.
    """
    found: Any = entry_points()  # a dict of groups before Python 3.10, EntryPoints after
    group = (found.select(group="reirrad.commands") if hasattr(found, "select")
             else found.get("reirrad.commands", []))
    return [ep.load() for ep in sorted(group, key=lambda e: e.name)]


def _constraints(protocol_ref: str, case: ConstraintCase, args: argparse.Namespace,
                 override: Optional[str]) -> Dict[str, Any]:
    protocol = load_protocol(protocol_ref)
    return evaluate_case(protocol, case,
                         recovery_model=getattr(args, "recovery_model", None),
                         conservation_factor=getattr(args, "conservation_factor", None),
                         override_reason=override, sensitivity=bool(getattr(args, "sensitivity", False)))


def _run(args: argparse.Namespace) -> int:
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    if args.command == "protocols":
        check_outputs(OutputRequest(json=args.json))
        rows = []
        for name in list_protocols():
            proto = load_protocol(name)
            rows.append({"name": name, "title": proto.title, "version": proto.version,
                         "sha256": proto.sha256, "status_counts": proto.provenance()["status_counts"]})
        write_result_json(args.json, {"protocols": rows})
        for row in rows:
            print(f"{row['name']}  {row['version']}  {row['title']}")
        return EXIT_OK

    if args.command == "constraints":
        check_outputs(OutputRequest(json=args.json), inputs=[p for p in (args.case, args.protocol) if p])
        case = load_case(args.case) if args.case is not None else parse_prior_options(args.prior)
        if args.fractions is not None:
            case = ConstraintCase(case.courses,
                                  check_fractions("--fractions", positive_int("--fractions", args.fractions)))
        result = _constraints(args.protocol, case, args, args.override_eligibility)
        write_result_json(args.json, result)
        print(format_table(result))
        return EXIT_OK if result["eligibility"]["may_proceed"] else EXIT_BAD_INPUT

    raise AssertionError(f"unhandled command {args.command!r}")  # argparse restricts the choices


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with interruptible():
            return _run(args)
    except (Interrupted, KeyboardInterrupt) as exc:
        discard_pending()
        stopped = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
        print(f"reirrad: {stopped}; the run stopped and nothing of it was kept (outputs not yet "
              "committed were removed)", file=sys.stderr)
        return stopped.exit_code
    except BrokenPipeError:  # stdout closed early (``| head``): end quietly, as a shell reports it
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OutputError as exc:  # the run's outputs could not be written: none was
        print(error_line(exc), file=sys.stderr)
        return EXIT_FAILURE
    except ReirradError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # an internal failure: keep the traceback for the bug report
        traceback.print_exc()
        print("reirrad: internal error (exit 1); please report the traceback above", file=sys.stderr)
        return EXIT_FAILURE


def _silence_stdout() -> None:
    """Point stdout at the null device so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a replaced stdout without a file descriptor
        pass


