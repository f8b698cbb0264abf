"""Clinical goals: ``plan.TreatmentCourse.EvaluationSetup`` (docs/reference/raystation.md §13).

``AddClinicalGoal(RoiName, GoalCriteria, GoalType, AcceptanceLevel | PrimaryAcceptanceLevel, ParameterValue,
Priority, …)``; the acceptance keyword is version dependent (:mod:`.versions`). Units (§13 table): dose
levels are plan TOTAL cGy; ``DoseAtVolume`` / ``VolumeAtDose`` volumes are fractions 0–1,
``DoseAtAbsoluteVolume`` / ``AbsoluteVolumeAtDose`` volumes cm³. Goals are evaluated on the plan's
``TotalDose`` (or on a given dose with the ``…ForEvaluationDose`` methods).
"""

# ruff: noqa: N802, N803 - member and keyword names are RayStation's

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .doses import DoseDistribution, FractionDose, MappedDose
from .errors import ScriptException
from .parts import PlanPart
from .scripting import ScriptCollection, number, script_method, state_property

if TYPE_CHECKING:  # pragma: no cover
    from .patient_objects import Case
    from .plans import TreatmentPlan
    from .rois import RegionOfInterest
    from .session import Session

__all__ = ["GOAL_TYPES", "EvaluationFunction", "EvaluationSetup", "PlanningGoal"]

GOAL_TYPES = (
    "PlanningValue",
    "AverageDose",
    "VolumeAtDose",
    "DoseAtVolume",
    "VolumeAtGamma",
    "AverageGamma",
    "VolumeAtDifference",
    "AverageDifference",
    "DoseAtAbsoluteVolume",
    "AbsoluteVolumeAtDose",
    "DoseAtPoint",
    "ConformityIndex",
    "HomogeneityIndex",
)
EVALUATED_TYPES = (
    "AverageDose",
    "VolumeAtDose",
    "DoseAtVolume",
    "DoseAtAbsoluteVolume",
    "AbsoluteVolumeAtDose",
)


class PlanningGoal(PlanPart):
    """``function.PlanningGoal``: what a clinical goal asks."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, **values: Any) -> None:
        super().__init__(session, path, plan)
        self._s.update(values)

    GoalCriteria = state_property("criteria", "'AtLeast' or 'AtMost'.")
    Type = state_property("type", "Goal type, e.g. 'DoseAtAbsoluteVolume'.")
    AcceptanceLevel = state_property("primary", "Acceptance level (≤ 2024A name); unit per goal type.")
    PrimaryAcceptanceLevel = state_property("primary", "Acceptance level (2024B+); unit per goal type.")
    SecondaryAcceptanceLevel = state_property("secondary", "Secondary acceptance level (2024B+), or None.")
    ParameterValue = state_property("parameter", "Volume (fraction or cm³) or dose (cGy) per goal type.")
    Priority = state_property("priority", "Goal priority.")
    IsComparativeGoal = state_property("comparative", "Comparative goal flag.")


class EvaluationFunction(PlanPart):
    """``EvaluationSetup.EvaluationFunctions[i]``: one clinical goal."""

    def __init__(
        self, session: Session, path: str, plan: TreatmentPlan, roi: RegionOfInterest, goal: PlanningGoal
    ) -> None:
        super().__init__(session, path, plan)
        self._s.update(roi=roi, goal=goal)

    def _key(self) -> str:
        return f"{self._s['roi'].Name} {self._s['goal']._s['type']}"

    def _value(self, dose: DoseDistribution, scale: float) -> float:
        g = self._s["goal"]._s
        gtype, parameter = g["type"], g["parameter"]
        if gtype not in EVALUATED_TYPES:
            raise ScriptException(
                f"The stand-in does not evaluate {gtype} goals; supported: {EVALUATED_TYPES}."
            )
        dvh = dose._dvh(self._s["roi"].Name)
        if gtype == "AverageDose":
            return dvh.mean_gy * scale * 100.0
        if gtype == "DoseAtVolume":
            return dvh.dose_at_volume_pct(float(parameter) * 100.0) * scale * 100.0
        if gtype == "DoseAtAbsoluteVolume":
            return dvh.dose_at_volume_cc(float(parameter)) * scale * 100.0
        dose_gy = float(parameter) / 100.0 / scale
        if gtype == "VolumeAtDose":
            return dvh.volume_at_dose_pct(dose_gy) / 100.0
        return dvh.volume_at_dose_cc(dose_gy)

    def _passes(self, value: float) -> bool:
        g = self._s["goal"]._s
        level = float(g["primary"])
        return value <= level if g["criteria"] == "AtMost" else value >= level

    def _plan_dose(self) -> DoseDistribution:
        return self._plan.TreatmentCourse.TotalDose  # type: ignore[no-any-return]

    @property
    def ForRegionOfInterest(self) -> RegionOfInterest:
        """The ROI."""
        return self._s["roi"]  # type: ignore[no-any-return]

    @property
    def PlanningGoal(self) -> PlanningGoal:
        """Criteria, type, levels."""
        return self._s["goal"]  # type: ignore[no-any-return]

    @script_method(write=False)
    def GetClinicalGoalValue(self) -> float:
        """The goal's value on the plan TOTAL dose (unit per goal type)."""
        return self._value(self._plan_dose(), 1.0)

    @script_method(write=False)
    def EvaluateClinicalGoal(self) -> bool:
        """True when the plan TOTAL dose meets the goal."""
        return self._passes(self._value(self._plan_dose(), 1.0))

    @script_method(write=False)
    def GetClinicalGoalValueForEvaluationDose(
        self, *, DoseDistribution: Any, ScaleFractionDoseToBeamSet: bool = False
    ) -> float:
        """The goal's value on a given dose; a fraction dose is multiplied by its beam set's fractions."""
        return self._value(*_evaluation_dose(DoseDistribution, ScaleFractionDoseToBeamSet))

    @script_method(write=False)
    def EvaluateClinicalGoalForEvaluationDose(
        self, *, DoseDistribution: Any, ScaleFractionDoseToBeamSet: bool = False
    ) -> bool:
        """True when the given dose meets the goal."""
        return self._passes(self._value(*_evaluation_dose(DoseDistribution, ScaleFractionDoseToBeamSet)))


def _evaluation_dose(dose: Any, scale_fraction_dose: bool) -> Any:
    if not isinstance(dose, DoseDistribution):
        raise ScriptException(f"DoseDistribution must be a dose distribution (got {dose!r}).")
    source = dose
    while isinstance(source, MappedDose):
        source = source.OfDoseDistribution
    scale = (
        float(source.ForBeamSet._fractions())
        if scale_fraction_dose and isinstance(source, FractionDose)
        else 1.0
    )
    return dose, scale


class EvaluationSetup(PlanPart):
    """``plan.TreatmentCourse.EvaluationSetup``."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, case: Case) -> None:
        super().__init__(session, path, plan)
        object.__setattr__(self, "_case", case)
        self._s["functions"] = ScriptCollection(session, f"{path}.EvaluationFunctions")

    EvaluationFunctions = state_property("functions", "The clinical goals.")

    @script_method(write=True)
    def AddClinicalGoal(
        self,
        *,
        RoiName: str,
        GoalCriteria: str,
        GoalType: str,
        AcceptanceLevel: Optional[float] = None,
        PrimaryAcceptanceLevel: Optional[float] = None,
        SecondaryAcceptanceLevel: Optional[float] = None,
        ParameterValue: float = 0.0,
        Priority: int = 1,
        IsComparativeGoal: bool = False,
        AssociateToPlan: bool = False,
    ) -> None:
        """Add a clinical goal; returns None. Levels are plan TOTAL (cGy for doses)."""
        level = (
            PrimaryAcceptanceLevel
            if self._session.profile.accepts_keyword(
                "EvaluationSetup", "AddClinicalGoal", "PrimaryAcceptanceLevel"
            )
            else AcceptanceLevel
        )
        if level is None:
            keyword = "PrimaryAcceptanceLevel" if self._session.version == "2024B" else "AcceptanceLevel"
            raise TypeError(
                f"EvaluationSetup.AddClinicalGoal() is missing the required parameter '{keyword}'"
            )
        roi = self._case.PatientModel._s["rois"]._find(RoiName) if isinstance(RoiName, str) else None
        if roi is None:
            raise ScriptException(f"There exists no ROI with the name {RoiName!r}.")
        if GoalCriteria not in ("AtLeast", "AtMost"):
            raise ScriptException(f"GoalCriteria must be 'AtLeast' or 'AtMost' (got {GoalCriteria!r}).")
        if GoalType not in GOAL_TYPES:
            raise ScriptException(f"GoalType must be one of {GOAL_TYPES} (got {GoalType!r}).")
        parameter = number("ParameterValue")(self, ParameterValue)
        if GoalType in ("DoseAtVolume", "HomogeneityIndex") and not 0.0 <= parameter <= 1.0:
            raise ScriptException(
                f"ParameterValue of a {GoalType} goal is a volume fraction 0-1 (got {parameter!r})."
            )
        functions = self._s["functions"]
        path = f"{functions._path}[{len(functions)}]"
        goal = PlanningGoal(
            self._session,
            f"{path}.PlanningGoal",
            self._plan,
            criteria=GoalCriteria,
            type=GoalType,
            primary=number("AcceptanceLevel")(self, level),
            secondary=None
            if SecondaryAcceptanceLevel is None
            else number("SecondaryAcceptanceLevel")(self, SecondaryAcceptanceLevel),
            parameter=parameter,
            priority=Priority,
            comparative=bool(IsComparativeGoal),
        )
        functions._append(EvaluationFunction(self._session, path, self._plan, roi, goal))
