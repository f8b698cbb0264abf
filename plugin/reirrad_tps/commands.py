"""Command-line commands contributed by the TPS side (entry-point group ``reirrad.commands``).

* ``reirrad stub-patients`` — list the stand-in patients;
* ``reirrad plan --tps raystation-stub …`` — the planning workflow on a stand-in patient;
* ``reirrad plan --tps pyradplan (--patient ID | --ct DIR --structures RS …)`` — the workflow planned by
  pyRadPlan, an open-source dose engine (the ``pyradplan`` extra; :mod:`.pyradplan`);
* ``reirrad demo`` — the workflow on the default stub patient (replaces the engine's interim demo);
* ``reirrad evaluate`` — a case checked offline from DICOM exports (:mod:`.evaluate`).

Exit codes: :mod:`reirrad.statuses` (0 planned or dry run; 2 a stop or bad input; 3 a plan that exists
but needs review: coverage-compromised, final-check-failed, infeasible; 1 internal failure).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from reirrad.audit import AUDIT_SCHEMA
from reirrad.cli import DEFAULT_PROTOCOL, add_recovery_arguments
from reirrad.errors import InputError, echo
from reirrad.files import write_text_atomic
from reirrad.outputs import OutputRequest, check_outputs, free_name, write_result_json
from reirrad.progress import TextProgress
from reirrad.protocol import load_protocol
from reirrad.review import RISK_FACTORS
from reirrad.workflow import INTENTS, OBJECTIVE_MODES, SEARCHES, WorkflowOptions

from .batch.command import register as register_batch
from .evaluate import add_prior_course_arguments
from .evaluate import register as register_evaluate
from .planrun import TPS_CHOICES, eclipse_stand_in_unavailable, plan_on_stub, stand_in_patients
from .summary import exit_code, summary

__all__ = ["ECLIPSE_MAJOR_VERSIONS", "ECLIPSE_MIN_VERSION", "RAYSTATION_VERSIONS", "check_tps_version",
           "register"]

#: The RayStation releases the stand-in models (``tps_stubs.raystation.versions.VERSIONS``, checked equal
#: by the tests; not imported here: the product never imports the stand-ins).
RAYSTATION_VERSIONS = ("11A", "11B", "12A", "2024B")
#: The Eclipse major versions an ESAPI version label may name (the ESAPI reference covers 15.x-18.x).
ECLIPSE_MAJOR_VERSIONS = (15, 16, 17, 18)
#: The oldest Eclipse version the adapter runs on: it calls ``DoseValue.IsUndefined()`` and
#: ``Structure.CanEditSegmentVolume(out string)``, both new in ESAPI 15.5 (docs/reference/esapi-members.md).
ECLIPSE_MIN_VERSION = (15, 5)
_ECLIPSE_VERSION = re.compile(r"^(?P<major>\d{1,3})\.(?P<minor>\d{1,2})(?:\.\d{1,5}){0,2}$")
DEFAULT_VERSIONS = {"raystation-stub": "2024B", "eclipse-stub": "15.6"}
#: ``--tps`` of the open-source planning backend (:mod:`.pyradplan`).
PYRADPLAN = "pyradplan"


def check_tps_version(tps: str, version: str) -> str:
    """``version`` if it is a release of ``tps``, else an InputError naming the versions it accepts.

    Parameters
    ----------
    tps : str
        ``"raystation-stub"`` or ``"eclipse-stub"``.
    version : str
        RayStation: a release name of :data:`RAYSTATION_VERSIONS` (``11B``, ``2024B``); Eclipse: a version
        ``MAJOR.MINOR`` (optionally ``.PATCH``) with a major version of :data:`ECLIPSE_MAJOR_VERSIONS`,
        at least :data:`ECLIPSE_MIN_VERSION` (``15.6``, ``18.0``). A RayStation release name is refused for
        Eclipse and the other way round.

    Raises
    ------
    reirrad.errors.InputError
        A version that is not one of ``tps``.
    """
    if tps == "raystation-stub":
        if version not in RAYSTATION_VERSIONS:
            raise InputError(f"--tps-version {echo(version)}: the RayStation stand-in models RayStation "
                             f"{', '.join(RAYSTATION_VERSIONS)}; give one of them")
        return version
    match = _ECLIPSE_VERSION.match(version)
    if (match is None or int(match.group("major")) not in ECLIPSE_MAJOR_VERSIONS
            or (int(match.group("major")), int(match.group("minor"))) < ECLIPSE_MIN_VERSION):
        other = " (a RayStation release, not an Eclipse version)" if version in RAYSTATION_VERSIONS else ""
        raise InputError(f"--tps-version {echo(version)}{other}: --tps {tps} takes an Eclipse version "
                         f"{_eclipse_range()} such as 15.6 or 18.0 (the adapter needs ESAPI 15.5 or later)")
    return version


def _eclipse_range() -> str:
    """The Eclipse versions accepted, as text: ``15.5 to 18.x``."""
    return f"{ECLIPSE_MIN_VERSION[0]}.{ECLIPSE_MIN_VERSION[1]} to {ECLIPSE_MAJOR_VERSIONS[-1]}.x"


def register(sub: Any) -> None:
    """Add this package's sub-commands to the ``reirrad`` parser."""
    p = sub.add_parser("stub-patients", help="list the stub patients of the TPS stand-ins")
    p.add_argument("--json", metavar="PATH", help="write the list as JSON")
    p.set_defaults(handler=_stub_patients)

    plan = sub.add_parser("plan", help="run the re-irradiation workflow on a TPS stand-in patient, or plan "
                                       "with pyRadPlan on a stub patient or a DICOM case")
    plan.add_argument("--tps", choices=(*TPS_CHOICES, PYRADPLAN), required=True,
                      help="TPS stand-in, or pyradplan (the open-source engine; the 'pyradplan' extra)")
    plan.add_argument("--tps-version", default=None,
                      help=f"RayStation {'/'.join(RAYSTATION_VERSIONS)} (default 2024B); Eclipse "
                           f"{_eclipse_range()} (default 15.6)")
    plan.add_argument("--patient", default=None, help="stub patient id or YAML path")
    plan.add_argument("--intent", choices=INTENTS, required=True)
    plan.add_argument("--search", choices=SEARCHES, default="predictive")
    plan.add_argument("--protocol", default=DEFAULT_PROTOCOL)
    plan.add_argument("--out", default=None, help="folder for result.json (created if its parent exists; "
                                                  "a copy of --json, committed with it)")
    plan.add_argument("--dry-run", action="store_true", help="compute objectives, write nothing to the TPS")
    plan.add_argument("--override-eligibility", metavar="REASON", default=None,
                      help="proceed despite stop findings (eligibility, matching, an OAR's tolerance); "
                           "the reason is recorded")
    add_recovery_arguments(plan)
    plan.add_argument("--objectives", choices=OBJECTIVE_MODES, default=None,
                      help="spatial: also make the low-tolerance part of each OAR (where the prior dose "
                           "exceeded its metric dose) a structure with a stricter maximum objective "
                           "(default: the protocol's optimisation_structures.spatial_objectives)")
    plan.add_argument("--risk-factor", action="append", default=[], metavar="KEY",
                      choices=[key for key, _ in RISK_FACTORS],
                      help="a confirmed risk factor of poor recovery (recorded; repeat for each)")
    plan.add_argument("--json", metavar="PATH")
    plan.add_argument("--report", metavar="HTML", help="write the HTML report (plots: the 'report' extra)")
    plan.add_argument("--audit-csv", metavar="CSV", help="append the run's audit row (ESTRO-EORTC items)")
    _add_pyradplan_arguments(plan)
    plan.set_defaults(handler=_plan)

    demo = sub.add_parser("demo", help="the workflow on the default stub patient; writes reirrad-demo/")
    demo.add_argument("--out", default="reirrad-demo")
    demo.add_argument("--json", metavar="PATH")
    demo.set_defaults(handler=_demo)

    register_evaluate(sub)
    register_batch(sub)


def _stub_patients(args: argparse.Namespace) -> int:
    check_outputs(OutputRequest(json=args.json))
    patients = stand_in_patients()
    default = patients.DEFAULT_PATIENT
    rows = []
    for stub in patients.list_patients():
        marker = " (default)" if stub.id == default else ""
        rows.append({"id": stub.id, "description": stub.description, "path": str(stub.path),
                     "default": stub.id == default, "line": f"{stub.id:10s} {stub.description}{marker}"})
    write_result_json(args.json, {"patients": [{k: v for k, v in r.items() if k != "line"} for r in rows]})
    for row in rows:
        print(row["line"])
    return 0


@contextmanager
def out_folder(value: Optional[str]) -> Iterator[Optional[Path]]:
    """The ``--out`` folder for the run inside the block (None without ``--out``).

    An existing folder is used. A missing one is created when its parent exists (only the folder the
    user named: a mistyped path must not create a tree of folders), and removed again when the run
    leaves it empty: a run refused or failed after the folder was made leaves nothing behind. A file,
    ``''`` or blanks are refused.
    """
    if value is None:
        yield None
        return
    folder = Path(value)
    if not value.strip() or (folder.exists() and not folder.is_dir()):
        raise InputError(f"--out {value!r} is not a folder: give a folder for the outputs")
    created = not folder.exists()
    if created:
        if not folder.parent.is_dir():
            raise InputError(f"--out {value}: folder {folder.parent} does not exist; create it first "
                             "(reirrad creates only the folder --out names: a mistyped path must not create "
                             "a tree)")
        try:
            folder.mkdir()
        except OSError as exc:
            raise InputError(f"--out {value}: the folder cannot be created ({exc.strerror or exc}); give "
                             "another folder") from None
    try:
        yield folder
    finally:
        if created:
            with suppress(OSError):  # an empty folder only: rmdir refuses one with files in it
                folder.rmdir()


def _add_pyradplan_arguments(plan: Any) -> None:
    """``--tps pyradplan`` only: the DICOM case (as ``reirrad evaluate`` takes it) and the engine's plan."""
    group = plan.add_argument_group("--tps pyradplan", "a DICOM case instead of --patient, and the plan")
    group.add_argument("--ct", metavar="DIR", help="planning CT series (its geometry is the dose grid's)")
    group.add_argument("--structures", metavar="RS", help="the planning RT Structure Set (with the External)")
    add_prior_course_arguments(group, required=False)
    group.add_argument("--fraction-dose", choices=("total", "per-fraction"), default=None,
                       help="how to read prior RT Doses with DoseSummationType FRACTION "
                            "(refused when no dose is)")
    group.add_argument("--dose-grid-mm", type=float, default=None,
                       help="dose grid spacing, mm (default 5)")
    group.add_argument("--beams", type=int, default=None,
                       help="equidistant coplanar photon beams (default 7)")
    group.add_argument("--bixel-mm", type=float, default=None, help="beamlet width, mm (default 10)")
    group.add_argument("--bulk-density", action="store_true",
                       help="a DICOM case: water in the External, bone in bone structures, instead of the "
                            "CT's own numbers")


_DICOM_OPTIONS = ("ct", "structures", "prior_dose", "prior_plan", "prior_structures", "registration",
                  "interval_days", "prior_last_fraction", "planned_start", "target", "fraction_dose",
                  "dose_grid_mm", "beams", "bixel_mm", "bulk_density")


def _plan(args: argparse.Namespace) -> int:
    if args.tps == PYRADPLAN:
        from .pyradplan.cli import plan_with_pyradplan  # noqa: PLC0415 - the backend only when asked for

        return plan_with_pyradplan(args)
    given = [f"--{o.replace('_', '-')}" for o in _DICOM_OPTIONS if getattr(args, o) not in (None, [], False)]
    if given:
        raise InputError(f"{', '.join(given)}: only with --tps pyradplan; --tps {args.tps} plans a stub "
                         "patient (--patient)")
    if args.patient is None:
        raise InputError(f"--tps {args.tps} needs --patient ID (a stub patient; 'reirrad stub-patients' "
                         "lists them)")
    options = WorkflowOptions(intent=args.intent, search=args.search, dry_run=args.dry_run,
                              override_reason=args.override_eligibility, recovery_model=args.recovery_model,
                              conservation_factor=args.conservation_factor,
                              risk_factors=tuple(args.risk_factor), objectives=args.objectives)
    version = check_tps_version(args.tps, DEFAULT_VERSIONS[args.tps] if args.tps_version is None
                                else args.tps_version)
    inputs = [p for p in (args.patient, args.protocol) if Path(p).is_file()]
    with out_folder(args.out) as out:
        outputs = check_outputs(result_outputs(args, out), inputs=inputs)
        result = plan_on_stub(args.tps, version, args.patient, load_protocol(args.protocol), options,
                              progress=TextProgress(), outputs=outputs)
    print(summary(result))
    return exit_code(result)


def result_outputs(args: argparse.Namespace, out: Optional[Path]) -> OutputRequest:
    """A plan run's outputs: ``--report``, ``--audit-csv``, ``--json``, and ``out/result.json`` (the JSON
    itself without ``--json``, its copy with it; one transaction either way)."""
    copy = None if out is None else str(out / "result.json")
    return OutputRequest(report=args.report, audit_csv=args.audit_csv,
                         json=args.json if args.json is not None else copy,
                         json_copy=copy if args.json is not None else None)


def _levels_differ(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Why the two stand-ins' levels differ, from their results: each one's last level that failed."""
    why = []
    for tps, result in results.items():
        failed = (result.get("final_check") or {}).get("failed_at_higher_levels") or []
        if failed:
            broke = ", ".join(failed[-1]["failing_oars"]) or "the coverage rule"
            why.append(f"{tps.split('-')[0]}'s final check at {failed[-1]['prescription_gy']} Gy broke "
                       f"{broke} on the dose it held, and it stepped down")
    return ("The levels differ: each TPS's DVH of the target is its own, the normalisation makes the TPS "
            "state reirrad's D95 (scaling the dose by their ratio), and the optimisers' plans differ"
            + (f" ({'; '.join(why)})" if why else "") + ".")


def _demo(args: argparse.Namespace) -> int:
    """The isotoxic workflow on the default stub patient in both stand-ins (the Eclipse half is skipped,
    saying why, when Mono or pythonnet cannot be had on this machine)."""
    check_outputs(OutputRequest(json=args.json))
    with out_folder(args.out) as out:
        if out is None:
            raise InputError("reirrad demo needs --out (a folder for its outputs; default reirrad-demo)")
        return _demo_in(args, out)


def _demo_audit_aside(out: Path) -> Optional[str]:
    """Move the demo's ``audit.csv`` aside when an earlier release wrote it in another record layout.

    The demo appends its two runs to ``out/audit.csv``, and an audit CSV takes only rows of its own layout
    (:data:`reirrad.audit.AUDIT_SCHEMA`): after an upgrade that changed the layout, ``make demo`` failed on
    the file an earlier ``make demo`` left (found on this machine after ``reirrad-audit/4``). The file is
    renamed, never deleted or overwritten, to ``audit-<its schema>.csv`` (``-2``, ``-3``, ... when taken),
    and the line returned says so. Nothing is moved when the file holds this layout's rows, is empty, or
    is not a file.
    """
    path = out / "audit.csv"
    if not path.is_file():
        return None
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle)
            header, first = next(rows, []), next(rows, [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return None  # not an audit CSV at all: left as it is; the record's own check refuses it clearly
    column = header.index("schema") if "schema" in header else None
    schema = first[column] if column is not None and column < len(first) else None
    if not first or schema == AUDIT_SCHEMA:
        return None
    stem = "audit-" + re.sub(r"[^A-Za-z0-9.-]+", "-", schema or "unknown-layout")
    aside = free_name(out / f"{stem}.csv")
    if aside is None:
        raise InputError(f"{path} holds rows of another record layout ({schema}) and {stem}.csv and its "
                         f"numbered names in {out} are all taken: remove old {stem}*.csv files, then run the "
                         "demo again")
    os.replace(path, aside)
    return (f"{path} holds rows of another record layout ({schema or 'no schema column'}; this release "
            f"writes {AUDIT_SCHEMA}): moved to {aside.name}, and a new audit.csv started")


def _demo_in(args: argparse.Namespace, out: Path) -> int:
    patient = stand_in_patients().DEFAULT_PATIENT
    protocol = load_protocol(DEFAULT_PROTOCOL)
    texts, codes, results, written = [], [], {}, []
    moved = _demo_audit_aside(out)
    if moved is not None:
        texts.append(moved)
    for tps, version in (("raystation-stub", "2024B"), ("eclipse-stub", "15.6")):
        name = tps.split("-")[0]
        skipped = eclipse_stand_in_unavailable() if tps == "eclipse-stub" else None
        if skipped is not None:
            texts.append(f"== {name} stand-in ({version}): SKIPPED ==\n{skipped}")
            continue
        outputs = check_outputs(OutputRequest(report=str(out / f"report-{name}.html"),
                                              audit_csv=str(out / "audit.csv"),
                                              json=str(out / f"result-{name}.json")))
        result = plan_on_stub(tps, version, patient, protocol, WorkflowOptions(intent="isotoxic"),
                              outputs=outputs)
        results[tps] = result
        written.extend([f"result-{name}.json", f"report-{name}.html"])
        texts.append(f"== {name} stand-in ({version}) ==\n{summary(result)}")
        codes.append(exit_code(result))
    levels = {t: r.get("prescription_gy") for t, r in results.items()}
    if len(levels) == 2:
        texts.append(f"Both stand-ins chose {levels['raystation-stub']} / {levels['eclipse-stub']} Gy "
                     f"(RayStation / Eclipse) for stub patient {patient}.")
        if levels["raystation-stub"] != levels["eclipse-stub"]:
            texts.append(_levels_differ(results))
    text = "\n\n".join(texts)
    write_text_atomic(out / "summary.txt", text + "\n")
    write_result_json(args.json, {"results": results})
    print(text)
    print(f"\nWrote {out}/: {', '.join(written)} (open the reports in a browser), audit.csv and summary.txt")
    return max(codes)
