"""RT Plan (and RT Ion Plan) headers: fractions, prescription, references (PS3.3 C.8.8.9–C.8.8.15).

* **Fractions**: ``FractionGroupSequence[0].NumberOfFractionsPlanned``. A plan with several fraction
  groups has no single fractionation (per-voxel EQD2 needs one d per course):
  :meth:`RtPlanInfo.require_n_fractions` refuses it, as it refuses a plan without the attribute.
* **Prescription**: ``DoseReferenceSequence`` items' ``TargetPrescriptionDose`` (300A,0026), which
  PS3.3 C.8.8.10 defines as the prescribed dose in Gy to the dose reference — the **total** over
  the plan's fractions (it is not per fraction). When several dose references carry one (e.g. a
  simultaneous boost), ``prescription_gy`` is the highest; all are kept in
  ``target_prescriptions_gy``. None when no item has one.
* **Frame of reference**: ``FrameOfReferenceUID`` when the plan carries the (optional) Frame of
  Reference module, else None.
* ``RTPlanDate`` is the date the plan was *created*, not a treatment date; it must not be used as
  the date of the last fraction.
* **Brachytherapy** (RT Plan with the RT Brachy Application Setups module, PS3.3 C.8.8.15): a plan
  with ``BrachyTreatmentType`` (300A,0202) (or ``ApplicationSetupSequence`` / fraction groups with
  ``NumberOfBrachyApplicationSetups`` > 0) has ``modality`` ``"brachytherapy"``, else ``"external"``.
  Its fractions are the fraction group's ``NumberOfFractionsPlanned`` like any plan. Only **HDR** is
  accepted as a prior course: :meth:`RtPlanInfo.require_n_fractions` refuses LDR, MDR, PDR and MANUAL,
  whose EQD2 needs a dose-rate (incomplete-repair) model that d = D/n per fraction does not give.
  The prescription: ``TargetPrescriptionDose`` when a dose reference has it (a total, as above); else
  the fraction group's ``ReferencedBrachyApplicationSetupSequence`` items' ``BrachyApplicationSetupDose``
  (300A,00A4), read as the dose in Gy **per fraction** at the setup's dose specification point (the way
  public readers of HDR plans take it, like ``BeamDose`` for beams) × ``NumberOfFractionsPlanned``;
  with several setups the highest (their specification points may differ, so they are not summed).
* **Beam doses** (external beam): many exports (RayStation 6, Pinnacle 9, GammaPlan) carry no
  ``TargetPrescriptionDose``. The Fraction Scheme module (PS3.3 C.8.8.13) gives, per fraction group,
  ``ReferencedBeamSequence`` (300C,0004) items with ``BeamDose`` (300A,0084): the dose in Gy at the
  beam's dose specification point from that beam in **one fraction**. Their sum over the beams ×
  ``NumberOfFractionsPlanned`` is the plan's total at the specification point(s)
  (``beam_dose_total_gy``). When there is no ``TargetPrescriptionDose`` (and no brachytherapy setup
  dose), ``prescription_gy`` is that total and ``prescription_source`` ``"BeamDose"``. It is a
  plausibility figure (beams may specify their dose at different points), used to check a dose's
  maximum (:func:`reirrad_tps.dicom.check_dose_against_plan`), never as the prescription evaluated.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from pydicom.dataset import Dataset

from reirrad.bounds import check_prescription
from reirrad.errors import InputError

from .attributes import optional_int, optional_text, required_text, sequence_items, text
from .files import RT_ION_PLAN_STORAGE, RT_PLAN_STORAGE, PathLike, read_dataset
from .identifiers import PatientStudy, patient_study

__all__ = ["FRACTIONATED_BRACHY_TYPES", "RtPlanInfo", "read_rt_plan"]

#: ``BrachyTreatmentType`` values whose dose is delivered in acute fractions (LQ with d = D/n applies).
FRACTIONATED_BRACHY_TYPES = ("HDR",)


@dataclass(frozen=True)
class RtPlanInfo:
    """What reirrad needs from an RT Plan.

    Attributes
    ----------
    path, sop_instance_uid, sop_class_uid : str
    label, name : str
        ``RTPlanLabel`` and ``RTPlanName`` (``""`` when absent).
    patient_id : str
    frame_of_reference_uid : str or None
    n_fractions_planned : int or None
        ``NumberOfFractionsPlanned`` of the first fraction group.
    n_fraction_groups : int
        Items in ``FractionGroupSequence``.
    prescription_gy : float or None
        TOTAL prescribed dose, Gy (the highest ``TargetPrescriptionDose``).
    target_prescriptions_gy : tuple of float
        Every ``TargetPrescriptionDose`` of ``DoseReferenceSequence``, Gy, in the file's order.
    referenced_structure_set_uid : str or None
        ``ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID``.
    plan_date : datetime.date or None
        ``RTPlanDate`` (creation date of the plan).
    approval_status : str
        ``ApprovalStatus`` (``APPROVED``, ``UNAPPROVED``, ``REJECTED``; ``""`` when absent).
    patient_study : PatientStudy
    modality : str
        ``"brachytherapy"`` or ``"external"`` (module docstring).
    brachy_treatment_type : str or None
        ``BrachyTreatmentType`` (``HDR``, ``PDR``, ``LDR``, ``MDR``, ``MANUAL``); None when absent.
    brachy_setup_doses_gy : tuple of float
        ``BrachyApplicationSetupDose`` of the first fraction group's referenced application setups, Gy
        per fraction, in the file's order.
    prescription_source : str or None
        ``"TargetPrescriptionDose"``, ``"BrachyApplicationSetupDose"``, ``"BeamDose"`` or None (no
        prescription).
    beam_doses_gy : tuple of float
        ``BeamDose`` (300A,0084) of the first fraction group's ``ReferencedBeamSequence`` items, Gy per
        fraction, in the file's order (module docstring).
    """

    path: str
    sop_instance_uid: str
    sop_class_uid: str
    label: str
    name: str
    patient_id: str
    frame_of_reference_uid: Optional[str]
    n_fractions_planned: Optional[int]
    n_fraction_groups: int
    prescription_gy: Optional[float]
    target_prescriptions_gy: Tuple[float, ...]
    referenced_structure_set_uid: Optional[str]
    plan_date: Optional[dt.date]
    approval_status: str
    patient_study: PatientStudy
    modality: str = "external"
    brachy_treatment_type: Optional[str] = None
    brachy_setup_doses_gy: Tuple[float, ...] = ()
    prescription_source: Optional[str] = None
    beam_doses_gy: Tuple[float, ...] = ()

    @property
    def prescribed_gy(self) -> Optional[float]:
        """The TOTAL prescription the plan states (``TargetPrescriptionDose``), None otherwise."""
        return self.prescription_gy if self.prescription_source == "TargetPrescriptionDose" else None

    def require_n_fractions(self) -> int:
        """The plan's number of fractions.

        Raises
        ------
        reirrad.errors.InputError
            The plan gives no NumberOfFractionsPlanned, has several fraction groups, or is a
            brachytherapy plan that is not HDR (module docstring).
        """
        if self.modality == "brachytherapy" and self.brachy_treatment_type not in FRACTIONATED_BRACHY_TYPES:
            raise InputError(
                f"{self.path}: plan {self.label!r} is a brachytherapy plan with BrachyTreatmentType "
                f"(300A,0202) {self.brachy_treatment_type or '(absent)'}; only HDR is converted to EQD2 per "
                "fraction (LDR, MDR and PDR need a dose-rate model). Convert its dose to EQD2 outside "
                "reirrad and document it, or give an HDR plan"
            )
        if self.n_fraction_groups > 1:
            raise InputError(
                f"{self.path}: plan {self.label!r} has {self.n_fraction_groups} fraction groups; a per-voxel "
                "EQD2 needs one fractionation per course. Export each fraction group's dose and plan "
                "separately"
            )
        if self.n_fractions_planned is None:
            raise InputError(
                f"{self.path}: plan {self.label!r} gives no NumberOfFractionsPlanned (300A,0078) in "
                "FractionGroupSequence; the dose cannot be converted to EQD2 without it. Give the number of "
                "fractions explicitly"
            )
        return self.n_fractions_planned


def _plan_date(ds: Dataset, where: str) -> Optional[dt.date]:
    raw = optional_text(ds, "RTPlanDate")
    if raw is None:
        return None
    try:
        return dt.datetime.strptime(raw[:8], "%Y%m%d").date()
    except ValueError as exc:
        raise InputError(f"{where}: RTPlanDate (300A,0006) = {raw!r} is not a DICOM date (YYYYMMDD); the "
                         "file is malformed") from exc


def _positive_doses(items: Sequence[Dataset], keyword: str, tag: str, where: str) -> Tuple[float, ...]:
    """The ``keyword`` dose (Gy) of every item that has one; each must be a number > 0."""
    doses: List[float] = []
    for item in items:
        raw = item.get(keyword)
        if raw is None or raw == "":
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value > 0.0):
            raise InputError(f"{where}: {keyword} {tag} = {raw!r} Gy must be a number > 0; correct the "
                             "plan's prescription in the TPS")
        doses.append(value)
    return tuple(doses)


def _prescriptions(ds: Dataset, where: str) -> Tuple[float, ...]:
    return _positive_doses(sequence_items(ds, "DoseReferenceSequence"), "TargetPrescriptionDose",
                           "(300A,0026)", where)


def _setup_doses(group: Optional[Dataset], where: str) -> Tuple[float, ...]:
    if group is None:
        return ()
    return _positive_doses(sequence_items(group, "ReferencedBrachyApplicationSetupSequence"),
                           "BrachyApplicationSetupDose", "(300A,00A4)", where)


def _beam_doses(group: Optional[Dataset], where: str) -> Tuple[float, ...]:
    if group is None:
        return ()
    return _positive_doses(sequence_items(group, "ReferencedBeamSequence"), "BeamDose", "(300A,0084)", where)


def _is_brachy(ds: Dataset, groups: Sequence[Dataset], where: str) -> bool:
    if optional_text(ds, "BrachyTreatmentType") is not None or sequence_items(ds, "ApplicationSetupSequence"):
        return True
    return any((optional_int(g, "NumberOfBrachyApplicationSetups", where, minimum=0) or 0) > 0
               or sequence_items(g, "ReferencedBrachyApplicationSetupSequence") for g in groups)


def _prescription(prescriptions: Tuple[float, ...], setup_doses: Tuple[float, ...],
                  beam_doses: Tuple[float, ...],
                  fractions: Optional[int]) -> Tuple[Optional[float], Optional[str]]:
    if prescriptions:
        return max(prescriptions), "TargetPrescriptionDose"
    if setup_doses and fractions is not None:
        return max(setup_doses) * fractions, "BrachyApplicationSetupDose"
    if beam_doses and fractions is not None:
        return sum(beam_doses) * fractions, "BeamDose"
    return None, None


def read_rt_plan(path: PathLike) -> RtPlanInfo:
    """Read an RT Plan or RT Ion Plan (RP) file's header.

    Raises
    ------
    reirrad.errors.InputError
        Not DICOM / not an RT (Ion) Plan, no SOPInstanceUID, a malformed RTPlanDate, a non-positive
        prescription or fraction count.
    """
    where = str(path)
    ds = read_dataset(path, expected={RT_PLAN_STORAGE: "RT Plan", RT_ION_PLAN_STORAGE: "RT Ion Plan"},
                      what="RT Plan (RP)", stop_before_pixels=True)
    groups = sequence_items(ds, "FractionGroupSequence")
    fractions = optional_int(groups[0], "NumberOfFractionsPlanned", where, minimum=1) if groups else None
    prescriptions = _prescriptions(ds, where)
    brachy = _is_brachy(ds, groups, where)
    setup_doses = _setup_doses(groups[0] if groups else None, where) if brachy else ()
    beam_doses = () if brachy else _beam_doses(groups[0] if groups else None, where)
    prescription, prescription_source = _prescription(prescriptions, setup_doses, beam_doses, fractions)
    if prescription is not None:  # a hostile-input review: 1e308 Gy reached a message as 309 digits
        check_prescription(f"{where}: the plan's TOTAL prescription from {prescription_source}", prescription,
                           course="plan")
    brachy_type = optional_text(ds, "BrachyTreatmentType")
    structure_sets = sequence_items(ds, "ReferencedStructureSetSequence")
    return RtPlanInfo(
        path=where,
        sop_instance_uid=required_text(ds, "SOPInstanceUID", where, fix="the file is malformed"),
        sop_class_uid=text(ds, "SOPClassUID"),
        label=text(ds, "RTPlanLabel"),
        name=text(ds, "RTPlanName"),
        patient_id=text(ds, "PatientID"),
        frame_of_reference_uid=optional_text(ds, "FrameOfReferenceUID"),
        n_fractions_planned=fractions,
        n_fraction_groups=len(groups),
        prescription_gy=prescription,
        target_prescriptions_gy=prescriptions,
        referenced_structure_set_uid=(optional_text(structure_sets[0], "ReferencedSOPInstanceUID")
                                      if structure_sets else None),
        plan_date=_plan_date(ds, where),
        approval_status=text(ds, "ApprovalStatus").upper(),
        patient_study=patient_study(ds),
        modality="brachytherapy" if brachy else "external",
        brachy_treatment_type=None if brachy_type is None else brachy_type.upper(),
        brachy_setup_doses_gy=setup_doses,
        prescription_source=prescription_source,
        beam_doses_gy=beam_doses,
    )
