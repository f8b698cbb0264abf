"""Plans, beam sets, prescriptions, dose computation and scaling (docs/reference/raystation.md §3, §10–§12).

Doses: ``beam_set.FractionDose`` is ONE fraction; ``plan.TreatmentCourse.TotalDose`` the plan total
(§5.1). Prescriptions (12A+: ``AddRoiPrescriptionDoseReference``; 11B: ``AddDosePrescriptionToRoi``)
hold ``DoseValue`` = TOTAL for the beam set in cGy and ``DoseVolume`` in percent (§12.1).

``ComputeDose(ForceRecompute=False)`` raises "Dose has already been computed with the current
parameters" when the dose is up to date (§4, §11.3); a beam set never optimised has no segments and
cannot be computed (stand-in rule: the reference is silent, so the strict reading). An approved plan
(``plan.Review.ApprovalStatus == 'Approved'``) refuses every write with ``InvalidOperationException``;
so does a beam set whose own ``Review`` is approved (``beam_set.Review.ApprovalStatus``,
docs/reference/raystation-public-scripts.md N9).

A primary prescription on a site or a dose specification point (no ROI) is a
:class:`SitePrescriptionDoseReference`: it has no ``OnStructure`` member, so reading it raises
``AttributeError`` as in the real wrapper. ``beam_set.AccurateDoseAlgorithm.DoseAlgorithm`` gives the
beam set's final-dose algorithm (§11.3; ``'CCDose'`` in the stand-in). ``case.CopyPlan`` is
implemented here (:func:`copy_plan`, §10).
"""

# ruff: noqa: N802, N803 - member and keyword names are RayStation's

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np

from . import grids
from .dose_calculation import prescription_metric_gy
from .doses import CompositeDose, DoseGrid, FractionDose
from .errors import ScriptException
from .goals import EvaluationSetup
from .grids import RsGrid
from .parts import PlanPart
from .review import Review
from .scripting import ScriptCollection, ScriptObject, number, script_method, state_property

if TYPE_CHECKING:  # pragma: no cover
    from .patient_objects import Case, Examination
    from .rois import RegionOfInterest, StructureSet
    from .session import Session

__all__ = ["PRESCRIPTION_TYPES", "BeamSet", "Prescription", "PrescriptionDoseReference",
           "SitePrescriptionDoseReference", "TreatmentPlan", "copy_plan"]

PRESCRIPTION_TYPES = (
    "AverageDose",
    "DoseAtVolume",
    "DoseAtAbsoluteVolume",
    "DoseAtPoint",
    "NearMinimumDose",
    "NearMaximumDose",
    "MedianDose",
)
PHOTON_ALGORITHMS = ("CCDose", "PhotonMonteCarlo")
ALREADY_COMPUTED = "Dose has already been computed with the current parameters"
NOMINAL_BEAM_MU = 150.0  # stand-in figure: MU of each beam at scale 1


_SERIAL = itertools.count(1)


@dataclass(frozen=True, eq=False)
class Segments:
    """An optimised (or delivered) beam set: its TOTAL dose in Gy at MU scale 1."""

    base_gy: np.ndarray
    source: str
    serial: int = field(default_factory=lambda: next(_SERIAL))


class PrescriptionDoseReference(PlanPart):
    """A prescription on an ROI (12A+ ``PrescriptionDoseReference``; 11B ``DosePrescription``)."""

    def __init__(
        self,
        session: Session,
        path: str,
        plan: TreatmentPlan,
        *,
        roi: RegionOfInterest,
        dose_value: float,
        dose_volume: float,
        prescription_type: str,
        relative_level: float,
    ) -> None:
        super().__init__(session, path, plan)
        self._s.update(
            roi=roi,
            dose_value=float(dose_value),
            dose_volume=float(dose_volume),
            type=prescription_type,
            level=float(relative_level),
            description="",
        )

    def _key(self) -> str:
        return str(self._s["roi"].Name)

    DoseValue = state_property(
        "dose_value",
        "Prescribed TOTAL dose of the beam set, cGy (settable: see DEVIATIONS.md).",
        setter=number("DoseValue"),
    )
    DoseVolume = state_property("dose_volume", "Volume of a DoseAtVolume prescription, percent.")
    PrescriptionType = state_property("type", "E.g. 'DoseAtVolume', 'MedianDose'.")
    OnStructure = state_property("roi", "The prescription ROI.")
    Description = state_property("description", "Free-text description.")
    RelativePrescriptionLevel = state_property("level", "Relative prescription level (1 = 100 %).")


class SitePrescriptionDoseReference(PlanPart):
    """A prescription on a site / dose specification point: no ``OnStructure`` (module docstring)."""

    _tps_name = "PrescriptionDoseReference"

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, *, dose_value: float,
                 prescription_type: str = "DoseAtPoint") -> None:
        super().__init__(session, path, plan)
        self._s.update(dose_value=float(dose_value), type=prescription_type, level=1.0, description="site")

    def _key(self) -> str:
        return "site"

    DoseValue = state_property(
        "dose_value",
        "Prescribed TOTAL dose of the beam set, cGy (settable: see DEVIATIONS.md).",
        setter=number("DoseValue"),
    )
    PrescriptionType = state_property("type", "E.g. 'DoseAtPoint'.")
    Description = state_property("description", "Free-text description.")
    RelativePrescriptionLevel = state_property("level", "Relative prescription level (1 = 100 %).")


class Prescription(PlanPart):
    """``beam_set.Prescription``."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan) -> None:
        super().__init__(session, path, plan)
        self._s["refs"] = ScriptCollection(session, f"{path}.DosePrescriptions")

    def _primary(self) -> Any:
        refs = self._s["refs"]
        return refs[0] if len(refs) else None

    @property
    def PrimaryPrescriptionDoseReference(self) -> Optional[PrescriptionDoseReference]:
        """The primary prescription (12A+), or None."""
        return self._primary()

    @property
    def PrimaryDosePrescription(self) -> Optional[PrescriptionDoseReference]:
        """The primary prescription (11B), or None."""
        return self._primary()

    @property
    def DosePrescriptions(self) -> ScriptCollection:
        """All prescriptions (11B); the first is primary."""
        return self._s["refs"]  # type: ignore[no-any-return]

    @property
    def PrescriptionDoseReferences(self) -> ScriptCollection:
        """All prescriptions (the 11A-style profile); the first is primary."""
        return self._s["refs"]  # type: ignore[no-any-return]


class FractionationPattern(PlanPart):
    """``beam_set.FractionationPattern``."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, fractions: int) -> None:
        super().__init__(session, path, plan)
        self._s["fractions"] = int(fractions)

    NumberOfFractions = state_property("fractions", "Number of fractions (read-only, §12.1).")


class MachineReference(ScriptObject):
    """``beam_set.MachineReference``."""

    def __init__(self, session: Session, path: str, name: str) -> None:
        super().__init__(session, path)
        self._s["name"] = name

    MachineName = state_property("name", "Treatment machine name.")


class Beam(PlanPart):
    """``beam_set.Beams[name]``."""

    def __init__(
        self, session: Session, path: str, plan: TreatmentPlan, beam_set: BeamSet, name: str
    ) -> None:
        super().__init__(session, path, plan)
        object.__setattr__(self, "_beam_set", beam_set)
        self._s["name"] = name

    def _key(self) -> str:
        return str(self._s["name"])

    Name = state_property("name", "Beam name.")

    @property
    def BeamMU(self) -> float:
        """Monitor units: 0 before optimisation, else a stand-in figure × the MU scale (read-only)."""
        bs = self._beam_set
        return 0.0 if bs._s["segments"] is None else round(NOMINAL_BEAM_MU * bs._s["mu_scale"], 4)


class DoseAlgorithmSettings(ScriptObject):
    """``beam_set.AccurateDoseAlgorithm`` (§11.3)."""

    def __init__(self, session: Session, path: str, algorithm: str) -> None:
        super().__init__(session, path)
        self._s["algorithm"] = algorithm

    DoseAlgorithm = state_property("algorithm", "Final-dose algorithm, e.g. 'CCDose'.")


class BeamSet(PlanPart):
    """``plan.BeamSets[label]``."""

    def __init__(
        self,
        session: Session,
        path: str,
        plan: TreatmentPlan,
        *,
        case: Case,
        label: str,
        fractions: int,
        examination: Examination,
        structure_set: StructureSet,
        grid: RsGrid,
        beam_names: Tuple[str, ...],
    ) -> None:
        super().__init__(session, path, plan)
        object.__setattr__(self, "_case", case)
        self._s.update(
            label=label,
            examination=examination,
            structure_set=structure_set,
            grid=grid,
            segments=None,
            mu_scale=1.0,
            dose=None,
            accurate=False,
            computed_key=None,
            auto_scale=False,
        )
        self._s["pattern"] = FractionationPattern(session, f"{path}.FractionationPattern", plan, fractions)
        self._s["prescription"] = Prescription(session, f"{path}.Prescription", plan)
        self._s["machine"] = MachineReference(session, f"{path}.MachineReference", "StubLinac")
        self._s["algorithm"] = DoseAlgorithmSettings(session, f"{path}.AccurateDoseAlgorithm", "CCDose")
        self._s["review"] = None
        self._s["beams"] = ScriptCollection(
            session,
            f"{path}.Beams",
            [Beam(session, f"{path}.Beams[{b!r}]", plan, self, b) for b in beam_names],
        )
        object.__setattr__(self, "_fraction_dose", FractionDose(session, f"{path}.FractionDose", case, self))

    # -- internals ---------------------------------------------------------------------------
    def _key(self) -> str:
        return str(self._s["label"])

    def _lock_reason(self) -> Optional[str]:
        review = self._s["review"]
        if review is not None and review.ApprovalStatus == "Approved":
            return f"The beam set '{self._s['label']}' is approved"
        return self._plan._lock_reason()

    def _set_review(self, status: Optional[str]) -> None:
        """Stand-in set-up: the beam set's own approval (None: never reviewed)."""
        self._s["review"] = None if status is None else Review(self._session, f"{self._path}.Review", status)

    def _add_site_prescription(self, dose_value_cgy: float) -> None:
        """Stand-in set-up: a primary prescription on a site / dose specification point (no ROI)."""
        refs = self._s["prescription"]._s["refs"]
        path = f"{self._path}.Prescription.DosePrescriptions[{len(refs)}]"
        refs._append(
            SitePrescriptionDoseReference(self._session, path, self._plan, dose_value=dose_value_cgy)
        )

    def _fractions(self) -> int:
        return int(self._s["pattern"]._s["fractions"])

    def _dose_total_gy(self) -> Optional[np.ndarray]:
        return self._s["dose"]  # type: ignore[no-any-return]

    def _set_delivered(self, total_gy: np.ndarray) -> None:
        """A prior plan: its dose as delivered (computed, accurate)."""
        self._s.update(segments=Segments(total_gy, "delivered"), mu_scale=1.0, dose=total_gy, accurate=True)
        self._s["computed_key"] = self._dose_key("CCDose")

    def _set_optimised(self, base_gy: np.ndarray, accurate: bool) -> None:
        base_gy.flags.writeable = False
        self._s.update(segments=Segments(base_gy, "optimised"), mu_scale=1.0, dose=base_gy, accurate=accurate)
        self._s["computed_key"] = self._dose_key("CCDose") if accurate else None
        self._auto_scale()

    def _reset(self) -> None:
        self._s.update(segments=None, mu_scale=1.0, dose=None, accurate=False, computed_key=None, carves={})

    def _dose_key(self, algorithm: str) -> Any:
        return (self._s["segments"].serial, self._s["mu_scale"], algorithm)

    def _primary_prescription(self) -> Any:
        """The primary prescription (on an ROI, or a :class:`SitePrescriptionDoseReference`), or None."""
        return self._s["prescription"]._primary()

    def _roi_dvh(self, roi_name: Any) -> Any:
        dose = self._s["dose"]
        if dose is None:
            raise ScriptException(f"Beam set '{self._key()}' has no dose; compute the dose before scaling.")
        structure_set_id, structure = self._case._roi_structure(roi_name, self._s["examination"])
        return grids.dvh(self._session.model, structure_set_id, structure, self._s["grid"], dose)

    def _scale_to(
        self, roi_name: Any, dose_value_cgy: Any, dose_volume: Any, prescription_type: Any, locked_beams: Any
    ) -> None:
        if locked_beams:
            raise ScriptException("LockedBeamNames is not supported by the stand-in (one dose per beam set).")
        if prescription_type not in PRESCRIPTION_TYPES:
            raise ScriptException(
                f"PrescriptionType must be one of {PRESCRIPTION_TYPES} (got {prescription_type!r})."
            )
        target_gy = float(number("DoseValue")(self, dose_value_cgy)) / 100.0
        current_gy = prescription_metric_gy(self._roi_dvh(roi_name), str(prescription_type), dose_volume)
        if current_gy <= 0.0:
            raise ScriptException(f"The dose in ROI '{roi_name}' is zero; it cannot be scaled.")
        computed = self._s["computed_key"]  # set only while the dose is up to date
        self._s["mu_scale"] = self._s["mu_scale"] * target_gy / current_gy
        dose = self._s["segments"].base_gy * self._s["mu_scale"]
        dose.flags.writeable = False
        self._s["dose"] = dose
        self._s["computed_key"] = None if computed is None else self._dose_key(computed[2])

    def _auto_scale(self) -> None:
        ref = self._primary_prescription()
        on_roi = isinstance(ref, PrescriptionDoseReference)
        if self._s["auto_scale"] and on_roi and self._s["dose"] is not None:
            self._scale_to(ref.OnStructure.Name, ref.DoseValue, ref.DoseVolume, ref.PrescriptionType, None)

    def _add_prescription(
        self, roi_name: Any, dose_volume: Any, prescription_type: Any, dose_value: Any, level: Any
    ) -> None:
        roi = self._case.PatientModel._s["rois"]._find(roi_name) if isinstance(roi_name, str) else None
        if roi is None:
            raise ScriptException(f"There exists no ROI with the name {roi_name!r}.")
        if prescription_type not in PRESCRIPTION_TYPES:
            raise ScriptException(
                f"PrescriptionType must be one of {PRESCRIPTION_TYPES} (got {prescription_type!r})."
            )
        value = number("DoseValue")(self, dose_value)
        if value <= 0.0:
            raise ScriptException(f"DoseValue must be > 0 cGy (got {dose_value!r}).")
        refs = self._s["prescription"]._s["refs"]
        path = f"{self._path}.Prescription.DosePrescriptions[{len(refs)}]"
        refs._append(
            PrescriptionDoseReference(
                self._session,
                path,
                self._plan,
                roi=roi,
                dose_value=value,
                dose_volume=number("DoseVolume")(self, dose_volume),
                prescription_type=str(prescription_type),
                relative_level=number("RelativePrescriptionLevel")(self, level),
            )
        )

    # -- properties ----------------------------------------------------------------------------
    DicomPlanLabel = state_property("label", "Beam set label.")
    FractionationPattern = state_property("pattern", "Fractionation (``NumberOfFractions``).")
    Prescription = state_property("prescription", "Prescriptions of the beam set.")
    Beams = state_property("beams", "Treatment beams, by name.")
    MachineReference = state_property("machine", "Treatment machine (``MachineName``).")
    AccurateDoseAlgorithm = state_property("algorithm", "Final-dose algorithm settings (``DoseAlgorithm``).")
    Review = state_property("review", "The beam set's approval record, or None when never reviewed.")

    @property
    def FractionDose(self) -> FractionDose:
        """Dose of ONE fraction, cGy."""
        return self._fraction_dose  # type: ignore[no-any-return]

    @property
    def Modality(self) -> str:
        """``'Photons'``."""
        return "Photons"

    @property
    def FrameOfReference(self) -> str:
        """Frame of reference UID of the planning examination."""
        return str(self._s["grid"].frame_of_reference)

    # -- methods -----------------------------------------------------------------------------
    @script_method(write=False)
    def GetPlanningExamination(self) -> Examination:
        """The planning CT."""
        return self._s["examination"]  # type: ignore[no-any-return]

    @script_method(write=False)
    def GetStructureSet(self) -> StructureSet:
        """The structure set of the planning CT."""
        return self._s["structure_set"]  # type: ignore[no-any-return]

    @script_method(write=False)
    def GetDoseGrid(self) -> DoseGrid:
        """The beam set's dose grid (cm)."""
        return self._fraction_dose.InDoseGrid  # type: ignore[no-any-return]

    @script_method(write=True, lock=False)
    def SetCurrent(self) -> None:
        """Make this beam set (and its plan) current."""
        self._session.state.update(Plan=self._plan, BeamSet=self, Examination=self._s["examination"])

    @script_method(write=True)
    def ComputeDose(
        self,
        *,
        ComputeBeamDoses: bool = True,
        DoseAlgorithm: str = "CCDose",
        ForceRecompute: bool = False,
        RunEntryValidation: bool = True,
    ) -> None:
        """Compute the final dose from the optimised segments and the current MU scale.

        Raises ``ScriptException("Dose has already been computed with the current parameters")``
        when nothing changed since the last computation and ``ForceRecompute`` is False.
        """
        if DoseAlgorithm not in PHOTON_ALGORITHMS:
            raise ScriptException(
                f"DoseAlgorithm {DoseAlgorithm!r} is not valid for a photon beam set; use one "
                f"of {PHOTON_ALGORITHMS}."
            )
        if self._s["segments"] is None:
            raise ScriptException(
                f"Beam set '{self._key()}' has no segments; run the plan optimization first."
            )
        key = self._dose_key(DoseAlgorithm)
        if not ForceRecompute and self._s["computed_key"] == key and self._s["dose"] is not None:
            raise ScriptException(ALREADY_COMPUTED)
        dose = self._s["segments"].base_gy * self._s["mu_scale"]
        dose.flags.writeable = False
        self._s.update(dose=dose, accurate=True, computed_key=key)
        self._auto_scale()

    @script_method(write=True)
    def AddRoiPrescriptionDoseReference(
        self,
        *,
        RoiName: str,
        DoseVolume: float,
        PrescriptionType: str,
        DoseValue: float,
        RelativePrescriptionLevel: float = 1.0,
    ) -> None:
        """Add a prescription (12A+): ``DoseValue`` TOTAL cGy, ``DoseVolume`` %. The first is primary."""
        self._add_prescription(RoiName, DoseVolume, PrescriptionType, DoseValue, RelativePrescriptionLevel)

    @script_method(write=True)
    def AddDosePrescriptionToRoi(
        self,
        *,
        RoiName: str,
        DoseVolume: float,
        PrescriptionType: str,
        DoseValue: float,
        RelativePrescriptionLevel: float = 1.0,
        AutoScaleDose: bool = False,
    ) -> None:
        """Add a prescription (before 12A); ``AutoScaleDose`` switches auto-scaling on or off."""
        self._add_prescription(RoiName, DoseVolume, PrescriptionType, DoseValue, RelativePrescriptionLevel)
        self._s["auto_scale"] = bool(AutoScaleDose)

    @script_method(write=True)
    def NormalizeToPrescription(
        self,
        *,
        RoiName: str,
        DoseValue: float,
        DoseVolume: float,
        PrescriptionType: str,
        LockedBeamNames: Any = None,
        EvaluateAfterScaling: bool = True,
    ) -> None:
        """Scale the MU (and the dose) so the ROI's prescription metric equals ``DoseValue`` (TOTAL cGy)."""
        self._scale_to(RoiName, DoseValue, DoseVolume, PrescriptionType, LockedBeamNames)

    @script_method(write=True)
    def ScaleToPrimaryPrescriptionDoseReference(
        self, *, LockedBeamNames: Any = None, EvaluateOptimizationFunctionsAfterScaling: bool = True
    ) -> None:
        """Scale the MU (and the dose) to meet the primary prescription."""
        ref = self._primary_prescription()
        if not isinstance(ref, PrescriptionDoseReference):
            raise ScriptException(f"Beam set '{self._key()}' has no primary prescription on an ROI.")
        self._scale_to(
            ref.OnStructure.Name, ref.DoseValue, ref.DoseVolume, ref.PrescriptionType, LockedBeamNames
        )

    @script_method(write=True)
    def ScaleToDoseGoal(
        self,
        *,
        RoiName: str,
        DoseValue: float,
        DoseVolume: float,
        PrescriptionType: str,
        DspName: Any = None,
        LockedBeamNames: Any = None,
        EvaluateOptimizationFunctionsAfterScaling: bool = False,
        IncludeBackgroundDose: bool = False,
    ) -> None:
        """Scale the MU (and the dose) so the ROI's metric equals ``DoseValue`` (TOTAL cGy)."""
        if DspName is not None or IncludeBackgroundDose:
            raise ScriptException("DspName and IncludeBackgroundDose are not supported by the stand-in.")
        self._scale_to(RoiName, DoseValue, DoseVolume, PrescriptionType, LockedBeamNames)

    @script_method(write=True)
    def SetAutoScaleToPrimaryPrescription(self, *, AutoScale: bool) -> None:
        """Switch automatic scaling to the primary prescription after optimisation / dose computation."""
        if not isinstance(AutoScale, bool):
            raise ScriptException(f"AutoScale must be True or False (got {AutoScale!r}).")
        self._s["auto_scale"] = AutoScale


class TreatmentCourse(PlanPart):
    """``plan.TreatmentCourse``: the plan's total dose and clinical goals."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, case: Case) -> None:
        super().__init__(session, path, plan)
        self._s["total"] = CompositeDose(session, f"{path}.TotalDose", case, plan)
        self._s["evaluation"] = EvaluationSetup(session, f"{path}.EvaluationSetup", plan, case)

    @property
    def TotalDose(self) -> CompositeDose:
        """Plan TOTAL dose over all beam sets and fractions, cGy."""
        return self._s["total"]  # type: ignore[no-any-return]

    @property
    def EvaluationSetup(self) -> EvaluationSetup:
        """Clinical goals."""
        return self._s["evaluation"]  # type: ignore[no-any-return]


class TreatmentPlan(ScriptObject):
    """``case.TreatmentPlans[name]``."""

    def __init__(self, session: Session, path: str, case: Case, name: str, approval: Optional[str]) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_case", case)
        self._s.update(
            name=name,
            beam_sets=ScriptCollection(session, f"{path}.BeamSets"),
            optimizations=ScriptCollection(session, f"{path}.PlanOptimizations"),
            review=None if approval is None else Review(session, f"{path}.Review", approval),
        )
        self._s["course"] = TreatmentCourse(session, f"{path}.TreatmentCourse", self, case)

    def _key(self) -> str:
        return str(self._s["name"])

    def _lock_reason(self) -> Optional[str]:
        review = self._s["review"]
        if review is not None and review.ApprovalStatus == "Approved":
            return f"The plan '{self._s['name']}' is approved"
        return None

    Name = state_property("name", "Plan name.")
    BeamSets = state_property("beam_sets", "Beam sets, by label.")
    PlanOptimizations = state_property("optimizations", "One optimisation per beam set, in beam-set order.")
    TreatmentCourse = state_property("course", "Total dose and evaluation setup.")
    Review = state_property("review", "Approval record, or None when never reviewed.")

    @script_method(write=True, lock=False)
    def SetCurrent(self) -> None:
        """Make this plan (and its first beam set) current."""
        first = self._s["beam_sets"][0] if len(self._s["beam_sets"]) else None
        self._session.state.update(Plan=self, BeamSet=first)
        if first is not None:
            self._session.state["Examination"] = first._s["examination"]

    @script_method(write=False)
    def GetTotalDoseGrid(self) -> DoseGrid:
        """The dose grid of the plan's total dose (cm)."""
        return self._s["course"].TotalDose.InDoseGrid  # type: ignore[no-any-return]


def copy_plan(case: Case, source: TreatmentPlan, new_name: str, keep_beam_set_names: bool) -> TreatmentPlan:
    """Implementation of ``case.CopyPlan`` (§10): an unapproved copy of ``source`` named ``new_name``.

    Copied: every beam set (fractions, beams, prescriptions, the optimised segments, MU scale and dose
    state), each plan optimisation's functions and constraints with their parameters. Not copied:
    approval (the copy is never reviewed), evaluation doses. Beam-set labels are kept with
    ``KeepBeamSetNames=True``, else suffixed ``_1`` (the real renaming rule is not documented).
    """
    from .optimization import PlanOptimization  # noqa: PLC0415 - optimization imports this module

    session = case._session
    path = f"{case._path}.TreatmentPlans[{new_name!r}]"
    copy = TreatmentPlan(session, path, case, new_name, None)
    for n, bs in enumerate(source._s["beam_sets"]):
        label = bs._s["label"] if keep_beam_set_names else f"{bs._s['label']}_1"
        new = BeamSet(
            session, f"{path}.BeamSets[{label!r}]", copy, case=case, label=label,
            fractions=bs._fractions(), examination=bs._s["examination"],
            structure_set=bs._s["structure_set"], grid=bs._s["grid"],
            beam_names=tuple(b.Name for b in bs._s["beams"]),
        )
        for key in ("segments", "mu_scale", "dose", "accurate", "computed_key", "auto_scale"):
            new._s[key] = bs._s[key]
        for ref in bs._s["prescription"]._s["refs"]:
            if isinstance(ref, PrescriptionDoseReference):
                new._add_prescription(ref._s["roi"].Name, ref._s["dose_volume"], ref._s["type"],
                                      ref._s["dose_value"], ref._s["level"])
            else:
                new._add_site_prescription(ref._s["dose_value"])
        copy._s["beam_sets"]._append(new)
        po = PlanOptimization(session, f"{path}.PlanOptimizations[{n}]", copy, new)
        po._copy_functions_from(source._s["optimizations"][n])
        copy._s["optimizations"]._append(po)
    case._s["plans"]._append(copy)
    return copy
