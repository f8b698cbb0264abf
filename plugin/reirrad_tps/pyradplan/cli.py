"""``reirrad plan --tps pyradplan``: argument checks and the two forms (stub patient, DICOM case).

::

    reirrad plan --tps pyradplan --patient LRRC-02 --intent isotoxic [--out DIR] [--dose-grid-mm 5]
        [--beams 7] [--bixel-mm 10] [--json result.json] [--report report.html] [--audit-csv audit.csv]
    reirrad plan --tps pyradplan --ct CT_DIR --structures RS.dcm --prior-dose RD1.dcm --prior-plan RP1.dcm
        (--interval-days N | --prior-last-fraction YYYY-MM-DD --planned-start YYYY-MM-DD)
        [--prior-structures RS1.dcm] [--registration REG.dcm] [--target PTV] --intent isotoxic [--out DIR]

Bad input ends with one line (exit 2) naming what and how to fix it, before any planning.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, List, Mapping, Optional

from reirrad.bounds import check_interval_days
from reirrad.errors import InputError
from reirrad.outputs import check_outputs
from reirrad.progress import TextProgress
from reirrad.protocol import load_protocol
from reirrad.workflow import WorkflowOptions

from ..summary import exit_code, summary
from .engine import DEFAULT_BEAMS, DEFAULT_BIXEL_MM, EngineSettings, load_pyradplan
from .run import DEFAULT_DOSE_GRID_MM, BackendOptions, run_on_dicom, run_on_stub_patient

__all__ = ["plan_with_pyradplan"]

_FORMS = ("--tps pyradplan needs --patient ID (a stub patient) or --ct DIR --structures RS.dcm "
          "--prior-dose RD.dcm --prior-plan RP.dcm --interval-days N (a DICOM case)")


def _dicom_inputs(args: argparse.Namespace) -> List[str]:
    files = [args.structures, *args.prior_dose, *args.prior_plan, *(s for s in args.prior_structures if s),
             *args.registration, args.ct]
    return [str(f) for f in files if f]


def _check_form(args: argparse.Namespace) -> None:
    if args.tps_version is not None:
        raise InputError("--tps-version is not used with --tps pyradplan (the installed pyRadPlan's version "
                         "is recorded in the result); leave it out")
    dicom = args.ct is not None or args.structures is not None or bool(args.prior_dose)
    if args.patient is None and not dicom:
        raise InputError(_FORMS)
    if args.patient is not None and dicom:
        raise InputError("give --patient (a stub patient) or the DICOM case (--ct, --structures, "
                         "--prior-dose ...), not both")
    if args.bulk_density and not dicom:
        raise InputError("--bulk-density is for a DICOM case (--ct ...); a stub patient's CT is always the "
                         "bulk-density one")
    if dicom:
        missing = [name for name, value in (("--ct DIR", args.ct), ("--structures RS.dcm", args.structures),
                                            ("--prior-dose RD.dcm", args.prior_dose),
                                            ("--prior-plan RP.dcm", args.prior_plan)) if not value]
        if missing:
            raise InputError(f"the DICOM form of --tps pyradplan also needs {', '.join(missing)}")
        for days in args.interval_days:
            check_interval_days("--interval-days", days)


def plan_with_pyradplan(args: argparse.Namespace) -> int:
    """The ``plan`` sub-command for ``--tps pyradplan`` (exit codes: :mod:`reirrad.statuses`)."""
    from ..commands import out_folder  # noqa: PLC0415 - one rule for --out

    _check_form(args)
    if not args.dry_run:
        load_pyradplan()  # one line now when the extra is missing, before any file is read
    with out_folder(args.out) as out:
        result = _plan_into(args, out)
    print(summary(result))
    for path in result.get("files_written", ()):
        print(f"Wrote {path}")
    return exit_code(result)


def _plan_into(args: argparse.Namespace, out: Optional[Path]) -> Mapping[str, Any]:
    """The run, its outputs written (``out``: the ``--out`` folder, or None); its result."""
    from ..commands import result_outputs  # noqa: PLC0415 - one rule for --json and --out

    backend = BackendOptions(
        dose_grid_mm=DEFAULT_DOSE_GRID_MM if args.dose_grid_mm is None else args.dose_grid_mm,
        settings=EngineSettings.with_beams(
            DEFAULT_BEAMS if args.beams is None else args.beams,
            bixel_width_mm=DEFAULT_BIXEL_MM if args.bixel_mm is None else args.bixel_mm),
        out_dir=None if out is None else str(out), bulk_density=args.bulk_density)
    options = WorkflowOptions(intent=args.intent, search=args.search, dry_run=args.dry_run,
                              override_reason=args.override_eligibility, recovery_model=args.recovery_model,
                              conservation_factor=args.conservation_factor,
                              risk_factors=tuple(args.risk_factor), objectives=args.objectives)
    inputs = [p for p in (args.patient, args.protocol) if p and Path(p).is_file()] + _dicom_inputs(args)
    outputs = check_outputs(result_outputs(args, out), inputs=inputs)
    protocol = load_protocol(args.protocol)
    if args.patient is not None:
        outcome = run_on_stub_patient(args.patient, protocol, options, backend, outputs=outputs,
                                      progress=TextProgress())
    else:
        from ..dicom.case import DicomCaseSource  # noqa: PLC0415 - pydicom only now
        from ..evaluate import _priors  # noqa: PLC0415 - one reading of the prior-course options

        start = None
        if args.planned_start is not None:
            from ..answers import parse_date  # noqa: PLC0415

            start = parse_date(args.planned_start, "--planned-start")
        source = DicomCaseSource(args.structures, _priors(args), n_fractions=protocol.n_fractions, ct=args.ct,
                                 registrations=args.registration, target=args.target, planned_start=start,
                                 fraction_dose=args.fraction_dose, dose_spacing_mm=backend.dose_grid_mm)
        outcome = run_on_dicom(source, protocol, options, backend, ct_folder=str(args.ct), outputs=outputs,
                               progress=TextProgress())
    return outcome.result
