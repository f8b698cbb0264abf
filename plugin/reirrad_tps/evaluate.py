"""``reirrad evaluate``: a case checked offline from DICOM exports (no TPS).

::

    reirrad evaluate --structures RS.dcm (--new-dose RD.dcm [--new-plan RP.dcm] | --ct CT_DIR)
        --prior-dose RD1.dcm --prior-plan RP1.dcm [--prior-structures RS1.dcm] [--registration REG.dcm]
        (--interval-days N | --prior-last-fraction YYYY-MM-DD --planned-start YYYY-MM-DD)
        [--target PTV] [--prescription-gy 30] [--prior-prescription-gy 45]
        [--fraction-dose total|per-fraction]
        [--protocol NAME] [--intent isotoxic] [--override-eligibility REASON]
        [--json result.json] [--report report.html] [--audit-csv audit.csv] [--write-maps DIR]

``--dir PATIENT_FOLDER`` finds these files in a DICOM export by their references instead
(:mod:`reirrad_tps.dicom.discover`; the interval options stay the user's).

``--prior-dose`` / ``--prior-plan`` (and ``--prior-structures``, ``--interval-days``,
``--prior-last-fraction``, ``--prior-prescription-gy``) repeat once per prior course, in the same order.

Every RT Dose is checked against the TOTAL prescription of its plan (a per-fraction dose read as a
total, or a total read as one fraction, is refused): ``TargetPrescriptionDose`` of the plan, else
``--prescription-gy`` (new course) / ``--prior-prescription-gy`` (prior), else the plan's ``BeamDose``
× fractions; with none of them the run is refused (:func:`reirrad_tps.dicom.plausibility_prescription`).

With ``--new-dose`` the new course's dose is evaluated against the cumulative limits by both methods
(:func:`reirrad.workflow.evaluate_dose`; status ``evaluated``, ``oar_limits_met``). Without it the run
is a dry run: remaining tolerances and the objectives a TPS would get, printed as a table (there is no
TPS to write them to). The result JSON, HTML report and audit row are those of the TPS workflow.

``--write-maps DIR`` writes RT Dose files on the planning grid, in the planning frame, referencing the
new plan (``--new-plan``, or the plan the new dose references): the prior EQD2 before recovery
(``prior-eqd2.dcm``) and after (``effective-prior-eqd2.dcm``), both EFFECTIVE at the composite α/β of
:mod:`reirrad.biomaps`, and per OAR with a cumulative limit its remaining tolerance as PHYSICAL dose in
the new course's fractions (``remaining-physical-<oar>.dcm``), meaningful inside that OAR. ``DIR`` must
exist (it is checked with the other outputs before any file is read:
:func:`reirrad.outputs.check_output_folder`), and the maps are committed with the report, JSON and
audit row as one transaction (none is left by a run that fails or is interrupted).

``--prescription-gy`` must be > 0 and at most the absolute ceiling of :mod:`reirrad.bounds` (100 Gy), and
``--interval-days`` 0 to 36525, checked before any file is read; a prescription above the protocol's
isotoxic maximum is the ``dose-above-protocol-maximum`` stop finding (exit 2 unless
``--override-eligibility REASON``).

A new plan whose fractions differ from the protocol's is refused (exit 2) whatever the override: the
protocol's limits hold for its fractionation only (docs/dicom.md, "Fractions and overrides").

Console: the summary shows every ``stop`` and ``flag`` finding, those of the DICOM files included
(skipped contours, non-conformant files, the dose plausibility checks); ``info`` findings of the files
(where each plan's prescription came from) follow it.

Exit codes: 0 evaluated with every limit met, or dry run; 3 evaluated with a limit not met
(``oar_limits_met`` false; :mod:`reirrad.statuses`); 2 bad input or a stop finding (no protocol OAR
matched is a stop no override lifts); 1 internal failure.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from reirrad.bounds import check_interval_days, check_prescription
from reirrad.cli import DEFAULT_PROTOCOL
from reirrad.errors import InputError
from reirrad.files import discard_staged
from reirrad.outputs import OutputRequest, check_output_folder, check_outputs
from reirrad.progress import TextProgress
from reirrad.protocol import Protocol, load_protocol
from reirrad.runmaps import effective_prior_map, prior_eqd2_map, remaining_maps
from reirrad.runner import commit_record, execute
from reirrad.workflow import INTENTS, WorkflowOptions, WorkflowRun

from .answers import parse_date
from .summary import exit_code, summary

__all__ = ["add_prior_course_arguments", "register"]


def add_prior_course_arguments(parser: Any, *, required: bool) -> None:
    """The prior courses of a DICOM case (RT Dose and RT Plan per course, in order, with their optional
    structure sets, registrations, intervals, last-fraction dates and prescriptions), the planned start
    and the target:
    the same options for ``reirrad evaluate`` and ``reirrad plan --tps pyradplan``."""
    parser.add_argument("--prior-dose", metavar="RD", action="append", default=[], required=required)
    parser.add_argument("--prior-plan", metavar="RP", action="append", default=[], required=required)
    parser.add_argument("--prior-structures", metavar="RS", action="append", default=[])
    parser.add_argument("--registration", metavar="REG", action="append", default=[])
    parser.add_argument("--interval-days", type=int, action="append", default=[])
    parser.add_argument("--prior-last-fraction", metavar="YYYY-MM-DD", action="append", default=[])
    parser.add_argument("--prior-prescription-gy", type=float, action="append", default=[],
                        help="TOTAL prescription of each prior plan, Gy, once per --prior-dose in the same "
                             "order; used for the dose plausibility check when the plan has no "
                             "TargetPrescriptionDose (when it has one, the two must agree within 0.01 Gy)")
    parser.add_argument("--planned-start", metavar="YYYY-MM-DD", default=None)
    parser.add_argument("--target", default=None, help="target structure (default: the only PTV)")


def register(sub: Any) -> None:
    """Add ``evaluate`` to the ``reirrad`` parser."""
    p = sub.add_parser("evaluate", help="check a case offline from DICOM exports (no TPS)")
    p.add_argument("--dir", metavar="PATIENT_FOLDER", help="find the files below by their references "
                   "(docs/dicom.md, Folder input); then --new-plan/--prior-plan/--structures/--registration "
                   "take a UID or a unique UID ending")
    p.add_argument("--structures", metavar="RS", help="the new plan's RT Structure Set")
    p.add_argument("--new-dose", metavar="RD", help="the new course's RT Dose (evaluated)")
    p.add_argument("--new-plan", metavar="RP", help="the new course's RT Plan (fractions, prescription)")
    p.add_argument("--ct", metavar="DIR", help="the planning CT (the dose grid when there is no new dose)")
    add_prior_course_arguments(p, required=False)  # required without --dir: dicom.discover.apply_folder
    p.add_argument("--prescription-gy", type=float, default=None, help="TOTAL new prescription, Gy")
    p.add_argument("--fraction-dose", choices=("total", "per-fraction"), default=None,
                   help="how to read RT Dose files with DoseSummationType FRACTION (refused when no dose is)")
    p.add_argument("--protocol", default=DEFAULT_PROTOCOL)
    p.add_argument("--intent", choices=INTENTS, default="isotoxic", help="recorded in the result")
    p.add_argument("--override-eligibility", metavar="REASON", default=None)
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--report", metavar="HTML")
    p.add_argument("--audit-csv", metavar="CSV")
    p.add_argument("--write-maps", metavar="DIR")
    p.set_defaults(handler=_evaluate)


def _paired(values: Sequence[Any], n: int, option: str) -> List[Optional[Any]]:
    if values and len(values) != n:
        raise InputError(f"{option} is given {len(values)} time(s) for {n} prior course(s); give it once per "
                         "--prior-dose, in the same order (or not at all)")
    return list(values) if values else [None] * n


def _priors(args: argparse.Namespace) -> List[Any]:
    from .dicom.case import DicomPrior  # noqa: PLC0415 - pydicom only when the command runs

    n = len(args.prior_dose)
    if len(args.prior_plan) != n:
        raise InputError(f"{n} --prior-dose but {len(args.prior_plan)} --prior-plan: give the RT Plan of "
                         "each prior dose, in the same order (its fractions are needed)")
    structures = _paired(args.prior_structures, n, "--prior-structures")
    days = _paired(args.interval_days, n, "--interval-days")
    prescriptions = _paired(args.prior_prescription_gy, n, "--prior-prescription-gy")
    for rx in args.prior_prescription_gy:
        check_prescription("--prior-prescription-gy", rx, course="prior-course")
    dates = [None if d is None else parse_date(d, "--prior-last-fraction")
             for d in _paired(args.prior_last_fraction, n, "--prior-last-fraction")]
    if args.interval_days and args.prior_last_fraction:
        raise InputError("give --interval-days or --prior-last-fraction (with --planned-start), not both")
    if args.prior_last_fraction and args.planned_start is None:
        raise InputError("--prior-last-fraction needs --planned-start (the new course's first fraction)")
    return [DicomPrior(dose=d, plan=p, structures=s, last_fraction=last, interval_days=gap,
                       prescription_gy=rx)
            for d, p, s, last, gap, rx in zip(args.prior_dose, args.prior_plan, structures, dates, days,
                                              prescriptions)]


def _objectives_table(result: Mapping[str, Any]) -> str:
    lines = [f"{'structure':16s} {'kind':6s} {'dose Gy':>8s} {'volume %':>9s} {'priority':>8s}  reason"]
    for o in result["objectives"]:
        lines.append(f"{o['structure_id']:16s} {o['kind']:6s} {o['dose_gy']:8.2f} {o['volume_pct']:9.2f} "
                     f"{o['priority']:8.0f}  {o['reason']}")
    return "\n".join(lines)


#: The files ``--write-maps`` writes into its folder (``remaining-physical-<oar>.dcm`` for each OAR key).
MAP_NAMES = re.compile(r"(prior-eqd2|effective-prior-eqd2|remaining-physical-[a-z0-9_]+)\.dcm")


def _stage_maps(folder: str, outcome: WorkflowRun, source: Any) -> List[Tuple[str, Path]]:
    """Write each map to a temporary file in ``folder``: [(temporary file, target)], committed with the
    run's record (:meth:`reirrad.outputs.StagedRecord.adopt`); on a failure none is left."""
    from .dicom import write_rt_dose  # noqa: PLC0415

    out = Path(folder)
    prep = outcome.prepared
    frame = prep.snapshot.planning_frame_of_reference_uid
    common: Dict[str, Any] = {"source": source, "frame_of_reference_uid": frame, "stage": True}
    maps: List[Tuple[str, Any, str, str, Optional[int]]] = []
    for name, content, emap, label in (
            ("prior-eqd2.dcm", "eqd2", prior_eqd2_map(prep), "prior courses, no recovery"),
            ("effective-prior-eqd2.dcm", "effective-prior-eqd2", effective_prior_map(prep), "prior courses")):
        if emap is not None:
            maps.append((name, emap.eqd2, content, label, None))
    for key, rmap in remaining_maps(prep).items():
        maps.append((f"remaining-physical-{key}.dcm", rmap.allowed_physical, "remaining-physical",
                     prep.oar_structures[key], prep.n_fractions))
    staged: List[Tuple[str, Path]] = []
    try:
        for name, grid, content, label, n_fractions in maps:
            if not MAP_NAMES.fullmatch(name):  # the folder was checked for these names only (OAR keys are
                # lower_snake_case, protocol._OAR_KEY_RE): a bug, not bad input
                raise RuntimeError(f"map name {name!r} is not one --write-maps checks for")
            written = write_rt_dose(out / name, grid, content=content, label=label, n_fractions=n_fractions,
                                    **common)
            staged.append((str(written.staged), out / name))
    except BaseException:
        discard_staged(tmp for tmp, _ in staged)
        raise
    return staged


def _check_numbers(args: argparse.Namespace) -> None:
    """The numbers given on the command line, against :mod:`reirrad.bounds` (before any file is read)."""
    if args.prescription_gy is not None:
        check_prescription("--prescription-gy", args.prescription_gy)
    for days in args.interval_days:
        check_interval_days("--interval-days", days)


def _check_unused(args: argparse.Namespace) -> None:
    """Refuse an option the run would not use, given with the one that replaces it (found by a
    hostile-input review: each was silently ignored). Checked on the command line as given, before
    ``--dir`` fills in what it finds."""
    if args.ct and args.new_dose:
        raise InputError("--ct is read only without --new-dose (the new dose's grid is the grid of the "
                         "evaluation); leave out one of them")
    if args.interval_days and args.planned_start is not None:
        raise InputError("--planned-start is used with --prior-last-fraction; with --interval-days the "
                         "interval is given: leave out --planned-start, or give the dates instead")


def _check_fractions(n_fractions: Optional[int], protocol: Protocol, *, from_plan: Optional[str]) -> None:
    """Refuse a new course whose fractions are not the protocol's, before anything is evaluated.

    One semantics with the engine (:data:`reirrad.gate.NEEDS_ACTION`): the protocol's limits hold for
    its fractionation only, so ``fractionation-not-in-protocol`` is not lifted by
    ``--override-eligibility`` (an override records a judgement; it cannot supply limits).
    """
    if n_fractions is not None and n_fractions != protocol.n_fractions:
        where = f"the new plan {from_plan}" if from_plan else "the new course"
        raise InputError(
            f"{where} has {n_fractions} fractions, but protocol {protocol.name!r} defines its limits for "
            f"{protocol.n_fractions} fractions; --override-eligibility does not lift this (the limits "
            f"of another fractionation are not known). Use a protocol for {n_fractions} fractions "
            "(--protocol) or a plan in the protocol's fractions")


def _run(args: argparse.Namespace, protocol: Protocol, outputs: OutputRequest) -> Dict[str, Any]:
    from .dicom import read_rt_dose_info  # noqa: PLC0415
    from .dicom.case import DicomCaseSource  # noqa: PLC0415
    from .dicom.discover import folder_record  # noqa: PLC0415

    start = None if args.planned_start is None else parse_date(args.planned_start, "--planned-start")
    source = DicomCaseSource(
        args.structures, _priors(args), n_fractions=protocol.n_fractions, new_dose=args.new_dose,
        new_plan=args.new_plan, ct=args.ct, registrations=args.registration, target=args.target,
        prescription_gy=args.prescription_gy, planned_start=start, fraction_dose=args.fraction_dose)
    snapshot = source.read()
    _check_fractions(snapshot.plan.n_fractions, protocol, from_plan=args.new_plan)
    options = WorkflowOptions(intent=args.intent, dry_run=source.new_dose_grid is None,
                              override_reason=args.override_eligibility)
    if source.new_dose_grid is not None and snapshot.plan.prescription_gy is None:
        raise InputError("the new course's prescription is unknown: give --new-plan (with a "
                         "prescription) or --prescription-gy (TOTAL Gy)")
    done = execute(protocol, snapshot, options, new_dose=source.new_dose_grid,
                   prescription_gy=snapshot.plan.prescription_gy, progress=TextProgress(),
                   extra={"dicom_findings": [f.to_dict() for f in source.findings], **folder_record(args)})
    if done.run is None:
        return dict(commit_record(done, outputs).result)
    outcome = done.run
    maps: List[Tuple[str, Path]] = []
    if args.write_maps:
        map_source: Any
        if source.new_plan_info is not None:
            map_source = source.new_plan_info
        elif args.new_dose is not None:
            map_source = read_rt_dose_info(args.new_dose)
        else:
            raise InputError("--write-maps needs --new-plan or --new-dose: the maps are written in the "
                             "planning frame and reference the new plan")
        maps = _stage_maps(args.write_maps, outcome, map_source)
    # the maps, report, JSON and audit row: one transaction, listing the maps and themselves as written
    listed = [str(target) for _, target in maps] + [path for _, path in outputs.named()]
    return dict(commit_record(done.with_result(files_written=listed), outputs, adopted=maps).result)


def _inputs(args: argparse.Namespace) -> List[str]:
    """Every file ``reirrad evaluate`` reads (no output may be one of them)."""
    files = [args.structures, args.new_dose, args.new_plan, args.protocol, *args.prior_dose,
             *args.prior_plan, *(s for s in args.prior_structures if s), *args.registration]
    if args.ct:
        files.append(args.ct)
    return [str(f) for f in files if f]


def _evaluate(args: argparse.Namespace) -> int:
    from .dicom.discover import apply_folder  # noqa: PLC0415 - pydicom only when the command runs

    _check_numbers(args)
    _check_unused(args)
    apply_folder(args)  # --dir: the files found by their references, as if given explicitly
    outputs = check_outputs(OutputRequest(report=args.report, audit_csv=args.audit_csv, json=args.json),
                            inputs=_inputs(args))
    if args.write_maps is not None:
        check_output_folder("--write-maps", args.write_maps, MAP_NAMES, inputs=_inputs(args), outputs=outputs)
    protocol = load_protocol(args.protocol)
    result = _run(args, protocol, outputs)
    print(summary(result))  # every stop and flag finding, the DICOM files' too
    if result["status"] == "stopped":  # a stop of the decision gate: exit 2, the reason and findings
        return exit_code(result)
    if result["status"] == "dry-run":
        print("\nObjectives for the new plan (no TPS to write them to):\n" + _objectives_table(result))
    for finding in result["dicom_findings"]:
        if finding["severity"] == "info":
            print(f"[info] {finding['message']}")
    for path in result["files_written"]:
        print(f"Wrote {path}")
    return exit_code(result)
