"""Plan optimisation: functions, parameters, ``RunOptimization`` (docs/reference/raystation.md §11).

``po.AddOptimizationFunction(FunctionType=…, RoiName=…, IsConstraint=…, …)`` returns the function;
its ``DoseFunctionParameters`` hold ``DoseLevel`` (cGy, plan TOTAL), ``PercentVolume`` (%),
``Weight`` (and ``EudParameterA``); a ``DoseFallOff`` function's parameters have ``HighDoseLevel``,
``LowDoseLevel``, ``LowDoseDistance`` (cm), ``AdaptToTargetDoseLevels`` and **no** ``FunctionType``.
``po.Objective`` is None when there is no objective function. ``RunOptimization()`` takes no
arguments; the stand-in calls the deterministic planner (see :mod:`.dose_calculation`).

Constraints (``IsConstraint=True``) go to ``po.Constraints`` only (never to
``Objective.ConstituentFunctions``; ``ClearConstituentFunctions`` leaves them, §11.1). Their parameters
carry a ``Weight`` attribute, as every function's do in public scripts, but a constraint must hold: the
stand-in planner treats it as a hard cap and its ``Weight`` changes nothing. ``IsConstraint`` must be a
bool, and the two-sided ``UniformDose`` / ``TargetEud`` are refused as constraints (the stand-in's
strict reading, DEVIATIONS.md).
"""

# ruff: noqa: N802, N803 - member and keyword names are RayStation's

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, List, MutableMapping, Optional, Tuple

import numpy as np

from ..planner import Optimiser, OptimiserError
from .dose_calculation import planner_objectives, structure_masks
from .errors import ScriptException, ScriptSystemError
from .parts import PlanPart
from .scripting import ScriptCollection, ScriptObject, number, script_method, state_property

if TYPE_CHECKING:  # pragma: no cover
    from .doses import FractionDose
    from .plans import BeamSet, TreatmentPlan
    from .rois import RegionOfInterest
    from .session import Session

__all__ = ["FUNCTION_TYPES", "OptimizationFunction", "PlanOptimization"]

FUNCTION_TYPES = (
    "MinDose",
    "MaxDose",
    "MinDvh",
    "MaxDvh",
    "UniformDose",
    "MinEud",
    "MaxEud",
    "TargetEud",
    "DoseFallOff",
    "UniformityConstraint",
)

#: Function types the stand-in refuses as constraints: two-sided (an equality, not a bound).
NOT_CONSTRAINTS = ("UniformDose", "TargetEud")

# beam set → its optimiser (run count, noise); the warm-start solution is beam-set state ("carves"), so
# an undo restores it with the rest
_OPTIMISERS: MutableMapping[Any, Optimiser] = weakref.WeakKeyDictionary()


def _non_negative(name: str) -> Any:
    check = number(name)

    def validate(self: Any, value: Any) -> float:
        v = check(self, value)
        if v < 0.0:
            raise ScriptException(f"{name} must be >= 0 (got {value!r}).")
        return v

    return validate


def _percent(self: Any, value: Any) -> float:
    v = number("PercentVolume")(self, value)
    if not 0.0 <= v <= 100.0:
        raise ScriptException(f"PercentVolume is a percentage 0-100 (got {value!r}).")
    return v


def _flag(name: str) -> Any:
    def validate(_self: Any, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ScriptException(f"{name} must be True or False (got {value!r}).")
        return value

    return validate


def _count(name: str) -> Any:
    def validate(_self: Any, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ScriptException(f"{name} must be a whole number >= 0 (got {value!r}).")
        return value

    return validate


class DoseFunctionParameters(PlanPart):
    """Parameters of a dose, DVH, EUD or uniformity function."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, function_type: str) -> None:
        super().__init__(session, path, plan)
        self._s.update(function_type=function_type, dose_level=0.0, percent_volume=0.0, eud_a=1.0, weight=1.0)

    FunctionType = state_property("function_type", "E.g. 'MaxDvh' (read-only).")
    DoseLevel = state_property(
        "dose_level", "Dose level, cGy, plan TOTAL.", setter=_non_negative("DoseLevel")
    )
    PercentVolume = state_property(
        "percent_volume", "Volume of a DVH function, percent 0-100.", setter=_percent
    )
    EudParameterA = state_property("eud_a", "EUD parameter a.", setter=number("EudParameterA"))
    Weight = state_property("weight", "Function weight.", setter=_non_negative("Weight"))


class DoseFallOffParameters(PlanPart):
    """Parameters of a ``DoseFallOff`` function (no ``FunctionType`` attribute, §11.1)."""

    _tps_name = "DoseFallOffFunctionParameters"

    def __init__(self, session: Session, path: str, plan: TreatmentPlan) -> None:
        super().__init__(session, path, plan)
        self._s.update(high=0.0, low=0.0, distance=1.0, adapt=False, weight=1.0)

    HighDoseLevel = state_property(
        "high", "High dose level, cGy TOTAL.", setter=_non_negative("HighDoseLevel")
    )
    LowDoseLevel = state_property("low", "Low dose level, cGy TOTAL.", setter=_non_negative("LowDoseLevel"))
    LowDoseDistance = state_property(
        "distance", "Fall-off distance, cm.", setter=_non_negative("LowDoseDistance")
    )
    AdaptToTargetDoseLevels = state_property(
        "adapt", "Adapt the levels to target doses.", setter=_flag("AdaptToTargetDoseLevels")
    )
    Weight = state_property("weight", "Function weight.", setter=_non_negative("Weight"))


class UniformityParameters(PlanPart):
    """Parameters of a ``UniformityConstraint``."""

    _tps_name = "UniformityConstraintParameters"

    def __init__(self, session: Session, path: str, plan: TreatmentPlan) -> None:
        super().__init__(session, path, plan)
        self._s.update(function_type="UniformityConstraint", std=5.0)

    FunctionType = state_property("function_type", "'UniformityConstraint' (read-only).")
    PercentStdDeviation = state_property(
        "std", "Allowed standard deviation, percent.", setter=_non_negative("PercentStdDeviation")
    )


class FunctionValue(ScriptObject):
    """``function.FunctionValue``: the function's value on the current dose."""

    def __init__(self, session: Session, path: str, value: Optional[float]) -> None:
        super().__init__(session, path, track=False)
        self._s["value"] = value

    FunctionValue = state_property(
        "value",
        "Weighted quadratic penalty (stand-in formula), or None for "
        "function types the stand-in does not evaluate.",
    )


class OptimizationFunction(PlanPart):
    """A constituent function or constraint of a plan optimisation."""

    def __init__(
        self,
        session: Session,
        path: str,
        plan: TreatmentPlan,
        optimization: PlanOptimization,
        *,
        function_type: str,
        roi: RegionOfInterest,
        is_constraint: bool,
        robust: bool,
    ) -> None:
        super().__init__(session, path, plan)
        object.__setattr__(self, "_optimization", optimization)
        if function_type == "DoseFallOff":
            params: Any = DoseFallOffParameters(session, f"{path}.DoseFunctionParameters", plan)
        elif function_type == "UniformityConstraint":
            params = UniformityParameters(session, f"{path}.DoseFunctionParameters", plan)
        else:
            params = DoseFunctionParameters(session, f"{path}.DoseFunctionParameters", plan, function_type)
        self._s.update(
            function_type=function_type, roi=roi, constraint=is_constraint, robust=robust, parameters=params
        )

    def _key(self) -> str:
        return f"{self._s['function_type']} {self._s['roi'].Name}"

    def _value(self) -> Optional[float]:
        beam_set = self._optimization._beam_set
        ftype, p = self._s["function_type"], self._s["parameters"]._s
        if ftype not in ("MaxDose", "MinDose", "MaxDvh", "MinDvh") or beam_set._s["dose"] is None:
            return None
        level = p["dose_level"] / 100.0
        dvh = beam_set._roi_dvh(self._s["roi"].Name)
        if level <= 0.0:
            return None
        if ftype in ("MaxDose", "MinDose"):
            excess = dvh.doses_gy - level if ftype == "MaxDose" else level - dvh.doses_gy
            penalty = float(np.dot(np.maximum(excess, 0.0) ** 2, dvh.volumes_cc) / dvh.volume_cc) / level**2
        else:
            d = dvh.dose_at_volume_pct(p["percent_volume"])
            excess_v = d - level if ftype == "MaxDvh" else level - d
            penalty = (max(excess_v, 0.0) / level) ** 2
        return float(p["weight"] * penalty)

    @property
    def ForRegionOfInterest(self) -> RegionOfInterest:
        """The ROI."""
        return self._s["roi"]  # type: ignore[no-any-return]

    @property
    def DoseFunctionParameters(self) -> Any:
        """Levels, volume and weight (cGy TOTAL, percent)."""
        return self._s["parameters"]

    @property
    def FunctionValue(self) -> Optional[FunctionValue]:
        """The value on the beam set's current dose, or None when there is no dose."""
        if self._optimization._beam_set._s["dose"] is None:
            return None
        return FunctionValue(self._session, f"{self._path}.FunctionValue", self._value())

    @property
    def UseRobustness(self) -> bool:
        """``IsRobust`` of the call that created it."""
        return bool(self._s["robust"])

    @property
    def OfDoseDistribution(self) -> FractionDose:
        """The dose the function acts on (11B)."""
        return self._optimization._beam_set.FractionDose  # type: ignore[no-any-return]

    @property
    def OfDoseDistributions(self) -> List[FractionDose]:
        """The doses the function acts on (12A+: a list)."""
        return [self._optimization._beam_set.FractionDose]

    @script_method(write=True)
    def DeleteFunction(self) -> None:
        """Remove the function from its optimisation."""
        opt = self._optimization
        opt._s["constraints" if self._s["constraint"] else "functions"]._remove(self)


class Objective(PlanPart):
    """``po.Objective``: the objective functions."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, functions: ScriptCollection) -> None:
        super().__init__(session, path, plan)
        self._s["functions"] = functions

    ConstituentFunctions = state_property("functions", "Objective functions.")


class AlgorithmSettings(PlanPart):
    """``OptimizationParameters.Algorithm``."""

    _tps_name = "OptimizationAlgorithmSettings"

    def __init__(self, session: Session, path: str, plan: TreatmentPlan) -> None:
        super().__init__(session, path, plan)
        self._s.update(iterations=40, tolerance=1e-5)

    MaxNumberOfIterations = state_property(
        "iterations",
        "Iteration limit (the stand-in converges at once).",
        setter=_count("MaxNumberOfIterations"),
    )
    OptimalityTolerance = state_property(
        "tolerance", "Convergence tolerance.", setter=_non_negative("OptimalityTolerance")
    )


class DoseCalculationSettings(PlanPart):
    """``OptimizationParameters.DoseCalculation``."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan) -> None:
        super().__init__(session, path, plan)
        self._s.update(final=False, intermediate=False, preparation=20)

    ComputeFinalDose = state_property(
        "final",
        "Compute the final (accurate) dose at the end of the optimisation (default False in the stand-in).",
        setter=_flag("ComputeFinalDose"),
    )
    ComputeIntermediateDose = state_property(
        "intermediate", "Compute intermediate doses.", setter=_flag("ComputeIntermediateDose")
    )
    IterationsInPreparationsPhase = state_property(
        "preparation", "Iterations before segment conversion.", setter=_count("IterationsInPreparationsPhase")
    )


class OptimizationParameters(PlanPart):
    """``po.OptimizationParameters``."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan) -> None:
        super().__init__(session, path, plan)
        self._s.update(
            algorithm=AlgorithmSettings(session, f"{path}.Algorithm", plan),
            dose=DoseCalculationSettings(session, f"{path}.DoseCalculation", plan),
        )

    Algorithm = state_property("algorithm", "Iteration settings.")
    DoseCalculation = state_property("dose", "Dose-calculation settings.")


class PlanOptimization(PlanPart):
    """``plan.PlanOptimizations[i]``: the optimisation of beam set i."""

    def __init__(self, session: Session, path: str, plan: TreatmentPlan, beam_set: BeamSet) -> None:
        super().__init__(session, path, plan)
        object.__setattr__(self, "_beam_set", beam_set)
        functions = ScriptCollection(session, f"{path}.Objective.ConstituentFunctions")
        self._s.update(
            functions=functions,
            constraints=ScriptCollection(session, f"{path}.Constraints"),
            objective=Objective(session, f"{path}.Objective", plan, functions),
            parameters=OptimizationParameters(session, f"{path}.OptimizationParameters", plan),
            beam_sets=ScriptCollection(session, f"{path}.OptimizedBeamSets", [beam_set]),
        )

    def _key(self) -> str:
        return self._beam_set._key()  # type: ignore[no-any-return]

    def _copy_functions_from(self, other: PlanOptimization) -> None:
        """Stand-in internal (``case.CopyPlan``): copies of ``other``'s functions and constraints."""
        for key in ("functions", "constraints"):
            target = self._s[key]
            for function in other._s[key]:
                copy = OptimizationFunction(
                    self._session, f"{target._path}[{len(target)}]", self._plan, self,
                    function_type=function._s["function_type"], roi=function._s["roi"],
                    is_constraint=function._s["constraint"], robust=function._s["robust"],
                )
                copy._s["parameters"]._s.update(dict(function._s["parameters"]._s))
                target._append(copy)

    def _planner_inputs(self) -> Tuple[str, str, float]:
        ref = self._beam_set._primary_prescription()
        if ref is None or not hasattr(ref, "OnStructure"):
            raise ScriptException(
                "The stand-in planner optimises towards the beam set's primary prescription; "
                "add a prescription on the target ROI first."
            )
        structure_set = self._beam_set._s["structure_set"]
        return structure_set._model_id, ref.OnStructure.Name, float(ref.DoseValue) / 100.0

    @property
    def Objective(self) -> Optional[Objective]:
        """The objective functions, or None when there are none (§11.1)."""
        objective: Optional[Objective] = self._s["objective"] if len(self._s["functions"]) else None
        return objective

    Constraints = state_property("constraints", "Constraint functions.")
    OptimizationParameters = state_property("parameters", "Algorithm and dose-calculation settings.")
    OptimizedBeamSets = state_property("beam_sets", "The beam set optimised.")

    @property
    def AutoScaleToPrescription(self) -> bool:
        """Whether the dose is scaled to the primary prescription after optimisation (settable in 11B)."""
        return bool(self._beam_set._s["auto_scale"])

    @AutoScaleToPrescription.setter
    def AutoScaleToPrescription(self, value: Any) -> None:
        self._beam_set._s["auto_scale"] = _flag("AutoScaleToPrescription")(self, value)

    @property
    def BackgroundDose(self) -> None:
        """Background dose (≤ 12A): None, the stand-in has no beam-set dependencies."""
        return None

    @script_method(write=False)
    def GetBackgroundDose(self) -> None:
        """Background dose (2024B): None, the stand-in has no beam-set dependencies."""
        return None

    @script_method(write=True)
    def AddOptimizationFunction(
        self,
        *,
        FunctionType: str,
        RoiName: str,
        IsConstraint: bool = False,
        RestrictAllBeamsIndividually: bool = False,
        RestrictToBeam: Any = None,
        IsRobust: bool = False,
        RestrictToBeamSet: Any = None,
        UseRbeDose: bool = False,
    ) -> OptimizationFunction:
        """Add an objective (or, with ``IsConstraint=True``, a constraint) and return it."""
        if FunctionType not in FUNCTION_TYPES:
            raise ScriptException(f"FunctionType must be one of {FUNCTION_TYPES} (got {FunctionType!r}).")
        if not isinstance(IsConstraint, bool):
            raise ScriptException(f"IsConstraint must be True or False (got {IsConstraint!r}).")
        if IsConstraint and FunctionType in NOT_CONSTRAINTS:
            raise ScriptException(f"A {FunctionType} function cannot be a constraint.")
        roi = (
            self._beam_set._case.PatientModel._s["rois"]._find(RoiName) if isinstance(RoiName, str) else None
        )
        if roi is None:
            raise ScriptSystemError(f"No ROI named {RoiName!r}.")
        if (
            RestrictAllBeamsIndividually
            or RestrictToBeam is not None
            or RestrictToBeamSet is not None
            or UseRbeDose
        ):
            raise ScriptException("Beam restrictions and RBE dose are not supported by the stand-in.")
        target = self._s["constraints" if IsConstraint else "functions"]
        path = f"{target._path}[{len(target)}]"
        function = OptimizationFunction(
            self._session,
            path,
            self._plan,
            self,
            function_type=FunctionType,
            roi=roi,
            is_constraint=bool(IsConstraint),
            robust=bool(IsRobust),
        )
        target._append(function)
        return function

    @script_method(write=True)
    def ClearConstituentFunctions(self) -> None:
        """Remove every objective function."""
        self._s["functions"]._s["items"] = []

    @script_method(write=True)
    def ResetOptimization(self) -> None:
        """Discard the optimised segments and the dose; the next optimisation starts cold."""
        self._beam_set._reset()

    @script_method(write=True)
    def RunOptimization(self) -> None:
        """Optimise: the stand-in optimiser (:mod:`tps_stubs.planner`) for the prescription and the
        functions, warm-started from the beam set's previous optimisation unless it was reset.

        A failure of the optimiser (the patient's ``optimiser.fail_on``) raises ``ScriptException`` and
        leaves the beam set as it was. RayStation's own wording for a failed optimisation is not known
        here; the message says what failed.
        """
        structure_set_id, target, prescription_gy = self._planner_inputs()
        functions = list(self._s["functions"]) + list(self._s["constraints"])
        objectives = planner_objectives(functions)
        model = self._session.model
        grid = self._beam_set._s["grid"]
        optimiser = _OPTIMISERS.get(self._beam_set)
        if optimiser is None:
            optimiser = _OPTIMISERS[self._beam_set] = Optimiser(model)
        optimiser.carves = dict(self._beam_set._s.get("carves") or {})
        masks = structure_masks(self._beam_set, objectives)  # ROIs made in the stand-in (dose_calculation)
        try:
            result = optimiser.run(structure_set_id=structure_set_id, target_id=target,
                                   prescription_gy=prescription_gy, objectives=objectives,
                                   grid=(grid.origin_mm, grid.spacing_mm, grid.size), direction=np.eye(3),
                                   masks=masks)
        except ValueError as exc:  # an upper or max function on an ROI made in the stand-in
            raise ScriptException(f"The stand-in optimiser cannot use this function: {exc}") from None
        except KeyError as exc:
            raise ScriptException(
                f"An ROI used by the optimization has no geometry on the planning examination: {exc}"
            ) from None
        except OptimiserError as exc:
            raise ScriptException(f"Optimization failed: {exc}") from None
        self._beam_set._s["carves"] = dict(optimiser.carves)
        self._beam_set._set_optimised(
            result.values_gy, accurate=bool(self._s["parameters"].DoseCalculation.ComputeFinalDose)
        )
