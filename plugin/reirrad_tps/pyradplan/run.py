"""``reirrad plan --tps pyradplan``: the planning workflow on pyRadPlan, for a stub patient or a DICOM case.

Both forms read the case into a :class:`reirrad.snapshot.CaseSnapshot` (a stub patient through the
stand-ins' ``tps_stubs.direct.DirectCase``, imported only then; a DICOM case through
:class:`reirrad_tps.dicom.case.DicomCaseSource` with ``--ct`` as the dose grid), build the planning volume
on the snapshot's dose grid (:mod:`.phantom`), compute the dose-influence matrix once
(:class:`.engine.EngineSession`) and hand the :class:`.planner.PyRadPlanPlanner` to the one run path
(:func:`reirrad.runner.execute`): same result, report and audit as every other launcher. The final plan's
dose is written as an RT Dose (``RD_reirrad.dcm``) in ``--out``; no RT Plan is written
(``docs/opensource-backend.md`` says why).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from reirrad.errors import InputError
from reirrad.outputs import OutputRequest
from reirrad.progress import Progress
from reirrad.protocol import Protocol
from reirrad.runner import RunOutcome, Status, commit_record, execute
from reirrad.snapshot import CaseSnapshot
from reirrad.workflow import WorkflowOptions

from .engine import EngineSession, EngineSettings, engine_version
from .phantom import build_volume, canonical_grid
from .planner import PyRadPlanPlanner

__all__ = ["DEFAULT_DOSE_GRID_MM", "RT_DOSE_NAME", "BackendOptions", "plan_snapshot", "run_on_dicom",
           "run_on_stub_patient"]

#: Default dose-grid spacing of the backend, mm (a pencil-beam plan of a pelvis in minutes on 2 cores).
DEFAULT_DOSE_GRID_MM = 5.0
#: The RT Dose of the final plan, in ``--out``.
RT_DOSE_NAME = "RD_reirrad.dcm"
TPS_NAME = "pyradplan"


@dataclass(frozen=True)
class BackendOptions:
    """How the backend plans.

    Attributes
    ----------
    dose_grid_mm : float
        Dose (and synthetic CT) grid spacing, mm, 2 to 10.
    settings : EngineSettings
        Beams, bixel width, optimiser iterations.
    out_dir : str or None
        Folder for the final plan's RT Dose (none written when None).
    bulk_density : bool
        A DICOM case: plan on the synthetic CT of :mod:`.phantom` instead of the CT's own numbers.
    """

    dose_grid_mm: float = DEFAULT_DOSE_GRID_MM
    settings: EngineSettings = field(default_factory=EngineSettings)
    out_dir: Optional[str] = None
    bulk_density: bool = False

    def __post_init__(self) -> None:
        if not 2.0 <= self.dose_grid_mm <= 10.0:
            raise InputError(f"--dose-grid-mm must be 2 to 10 mm (got {self.dose_grid_mm:g})")


def plan_snapshot(snapshot: CaseSnapshot, protocol: Protocol, options: WorkflowOptions,
                  backend: BackendOptions, *, identity: Optional[Any] = None,
                  outputs: Optional[OutputRequest] = None, progress: Optional[Progress] = None,
                  ct_folder: Optional[str] = None) -> RunOutcome:
    """Run the workflow on ``snapshot`` with pyRadPlan as the planner; write the RT Dose; commit the record.

    Parameters
    ----------
    snapshot : CaseSnapshot
        Its dose grid is the planning grid.
    identity : reirrad_tps.dicom.PatientStudy, optional
        Patient and study written into the RT Dose (a stub patient's are made up from its id and name).
    ct_folder : str, optional
        A DICOM case's planning CT, whose CT numbers are planned on (:mod:`.ctpixels`); None: the
        synthetic CT of :mod:`.phantom`.
    """
    snapshot = dataclasses.replace(
        snapshot, tps=TPS_NAME, tps_version=f"pyRadPlan {engine_version()}",
        plan=dataclasses.replace(snapshot.plan, writable=True))  # the new plan is pyRadPlan's own
    extra: Dict[str, Any] = {}
    planner = None
    if not options.dry_run:
        target = snapshot.plan.target_id
        if target is None:
            raise InputError("the case names no target structure: give --target (the PTV)")
        n_fx = snapshot.plan.n_fractions or protocol.n_fractions
        hu = None
        if ct_folder is not None:
            from .ctpixels import ct_numbers_on  # noqa: PLC0415 - pydicom

            hu = ct_numbers_on(ct_folder, canonical_grid(snapshot.dose_grid))
        volume = build_volume(snapshot.dose_grid, snapshot.structures, target, hu=hu)
        session = EngineSession(volume, backend.settings, n_fx)
        planner = PyRadPlanPlanner(session, snapshot.structures, n_fx)
    outcome = execute(protocol, snapshot, options, planner=planner, progress=progress)
    if planner is not None:
        extra["pyradplan"] = planner.session.record()
    adopted: List[Tuple[str, Path]] = []
    run = outcome.run
    if (backend.out_dir is not None and run is not None and run.final_dose is not None
            and outcome.status is not Status.STOPPED):
        dose_path = Path(backend.out_dir) / RT_DOSE_NAME
        adopted.append((_stage_dose(dose_path, run.final_dose, snapshot, identity), dose_path))
        extra["files_written"] = [str(dose_path)]
    # the RT Dose committed with the report, JSON and audit row (one transaction: none without the others)
    return commit_record(outcome.with_result(**extra), outputs, adopted=adopted)


def _stage_dose(path: Path, dose: Any, snapshot: CaseSnapshot, identity: Optional[Any]) -> str:
    """The final plan's dose as an RT Dose referencing a plan UID made for it (no RT Plan is written),
    staged beside ``path``: returns the temporary file, which the run's record commits."""
    try:
        from pydicom.uid import generate_uid  # noqa: PLC0415

        from reirrad_tps.dicom import PatientStudy, RtPlanInfo, write_rt_dose  # noqa: PLC0415
    except ImportError:
        raise InputError("writing the RT Dose needs pydicom: pip install 'reirrad[pyradplan]'") from None
    who = identity if identity is not None else PatientStudy(
        patient_id=snapshot.patient_id, patient_name=snapshot.patient_id.replace("-", "^"),
        study_instance_uid=str(generate_uid()))
    plan = RtPlanInfo(
        path="the pyRadPlan plan (not written)", sop_instance_uid=str(generate_uid()),
        sop_class_uid="1.2.840.10008.5.1.4.1.1.481.5", label=snapshot.plan.id[:16], name="reirrad pyRadPlan",
        patient_id=who.patient_id, frame_of_reference_uid=snapshot.planning_frame_of_reference_uid,
        n_fractions_planned=snapshot.plan.n_fractions, n_fraction_groups=1, prescription_gy=None,
        target_prescriptions_gy=(), referenced_structure_set_uid=None, plan_date=dt.date.today(),
        approval_status="UNAPPROVED", patient_study=who)
    return str(write_rt_dose(path, dose, content="plan-dose", source=plan, label="pyRadPlan",
                         n_fractions=snapshot.plan.n_fractions or 1,
                         frame_of_reference_uid=snapshot.planning_frame_of_reference_uid,
                         comment="Photon IMRT pencil-beam dose of pyRadPlan's generic machine; the "
                                 "referenced RT Plan was not written.", stage=True).staged)


def run_on_stub_patient(patient_ref: str, protocol: Protocol, options: WorkflowOptions,
                        backend: BackendOptions, *, outputs: Optional[OutputRequest] = None,
                        progress: Optional[Progress] = None) -> RunOutcome:
    """The workflow on stub patient ``patient_ref`` (an id or a YAML path) with pyRadPlan.

    Raises
    ------
    reirrad.errors.InputError
        The stand-ins are not installed, no such patient, or the backend cannot run (pyRadPlan missing).
    """
    from ..planrun import _load_patient  # noqa: PLC0415 - the stand-ins only now

    model = _load_patient(patient_ref)
    from tps_stubs.direct import DirectCase  # noqa: PLC0415

    snapshot = DirectCase(model, dose_spacing_mm=backend.dose_grid_mm).read()
    return plan_snapshot(snapshot, protocol, options, backend, outputs=outputs, progress=progress)


def run_on_dicom(source: Any, protocol: Protocol, options: WorkflowOptions, backend: BackendOptions, *,
                 ct_folder: str, outputs: Optional[OutputRequest] = None,
                 progress: Optional[Progress] = None) -> RunOutcome:
    """The workflow on a DICOM case read by ``source`` (a :class:`reirrad_tps.dicom.case.DicomCaseSource`
    built with ``ct=ct_folder`` and ``dose_spacing_mm=backend.dose_grid_mm``), on the CT's own numbers
    unless ``backend.bulk_density``."""
    snapshot = source.read()
    # the planning study's identifiers (the structure set's), else those of the first prior plan
    rs = getattr(source, "structure_set", None)
    identity = rs.patient_study if rs is not None else None
    if (identity is None or not identity.study_instance_uid) and source.prior_plan_infos:
        identity = source.prior_plan_infos[0].patient_study
    outcome = plan_snapshot(snapshot, protocol, options, backend, identity=identity, progress=progress,
                            ct_folder=None if backend.bulk_density else ct_folder)
    findings = [f.to_dict() for f in source.findings]
    return commit_record(outcome.with_result(dicom_findings=findings), outputs)
