"""``RayStationPlanner``: the engine's :class:`reirrad.ports.Planner` on a RayStation beam set.

Translation only (docs/reference/style.md §3 practice 3): engine doses are TOTAL Gy and become TOTAL cGy
through :mod:`.units`; every call whose spelling differs between versions is feature-detected
(:mod:`.call_forms`) and the form used is recorded in :attr:`RayStationPlanner.call_forms`. Calls and
units (docs/reference/raystation.md):

* **Prescription** (§12.1): ``DoseValue`` is the TOTAL for the beam set in cGy, ``DoseVolume`` in
  percent. An existing primary prescription gets its ``DoseValue`` set (its ROI, type and volume are
  kept) and read back: an assignment RayStation refuses (settability in 12A+ is not confirmed) or a
  value it did not take is a clear :class:`~reirrad.errors.InputError` saying what to do; otherwise one
  is added on ``target_roi`` as ``DoseAtVolume`` at ``prescription_volume_pct``
  (``AddRoiPrescriptionDoseReference``, else ``AddDosePrescriptionToRoi`` with ``AutoScaleDose=False``).
  A primary prescription on a site or a dose specification point (no ``OnStructure``) is refused:
  the adapter prescribes and normalises on an ROI only.
  ``FractionationPattern.NumberOfFractions`` is read-only (§12.1): a different fraction number is refused.
* **Objectives** (§11.1): existing objective functions are removed
  (``PlanOptimization.ClearConstituentFunctions()``) and so are constraints
  (``function.DeleteFunction()``), so the optimiser sees exactly the engine's objectives. Kinds map
  to ``FunctionType``: ``upper`` → ``MaxDvh`` (``PercentVolume`` %), ``max`` → ``MaxDose``,
  ``lower`` → ``MinDvh`` (``PercentVolume`` %), ``mean`` → ``MaxEud`` with ``EudParameterA = 1``
  (the EUD with a = 1 is the mean dose; the reference names no mean-dose function type). ``DoseLevel``
  is TOTAL cGy; ``Weight`` is the engine's priority (RayStation weights are relative, like the
  engine's priorities).
* **Hard objectives** (``Objective.hard``, a protocol's ``hard`` OAR) are written as **constraints**:
  ``AddOptimizationFunction(..., IsConstraint=True)``; the function then lives in
  ``PlanOptimization.Constraints``, not in ``Objective.ConstituentFunctions`` (§11.1 "Reading
  functions back"). A constraint gets its ``DoseLevel`` (and ``PercentVolume`` / ``EudParameterA``)
  but **no** ``Weight``: the optimiser must satisfy it, so a weight means nothing. The attribute exists
  on a constraint's parameters (``KaleyWhite/med-phys-scripts: RayStation/copy_opt_stuff.py``, adapted
  from RaySearch's scripting example 19, copies it for every function), but public scripts that add
  constraints leave it unset (``mialar/autoscript_lung: ENLUCA_func_defs.py``, RayStation 2024B: its
  ``maxDose(..., constraint=True)`` sets only ``DoseLevel`` on ``po.Constraints[n]``).
  Function types written as constraints (:data:`CONSTRAINT_FUNCTION_TYPES`): ``MaxDose`` (Tsuzuki61
  ``Plan_Setup/PlanCreateSettingBinding.py`` l.397; ``mialar/autoscript_lung: ENLUCA_main.py``),
  ``MinDose`` and ``MinDvh`` (``ENLUCA_main.py``) are added as constraints by public scripts;
  ``MaxDvh``, ``MinEud`` and ``MaxEud`` only in the constraint branches of ``ENLUCA_func_defs.py``,
  which no public script calls: **unconfirmed**, but one-sided like the others. Two-sided functions
  (``UniformDose``, ``TargetEud``) are never written as constraints. A hard objective whose function
  type is not in the set is written as an objective at the top weight (the highest weight of the
  set); with :data:`FUNCTION_TYPES` as it is, that cannot happen.
* **A fresh start** (§11.2): writing a new set of objectives means a new optimisation problem (the
  workflow writes objectives once per prescription level), so :meth:`RayStationPlanner.write_objectives`
  calls ``PlanOptimization.ResetOptimization()`` (RayBay's loop: reset, optimise, normalise) and, once
  per planner, switches automatic scaling to the primary prescription **off**
  (``SetAutoScaleToPrimaryPrescription(AutoScale=False)``, else ``AutoScaleToPrescription = False``;
  public-scripts P14, O19): the adapter normalises explicitly, and an automatic rescale after each
  optimisation would change the dose the engine evaluates. A version with neither form is recorded as
  ``"not available"``.
* **Optimisation** (§11.2): ``PlanOptimization.RunOptimization()`` on the beam set's optimisation.
* **Dose** (§11.3): ``beam_set.ComputeDose(ComputeBeamDoses=True, DoseAlgorithm=<the beam set's
  AccurateDoseAlgorithm.DoseAlgorithm>, ForceRecompute=False)`` (public-scripts C3; ``'CCDose'`` when
  the member is missing), else ``ComputeDose(RunEntryValidation=True)``; "Dose has already been
  computed with the current parameters" means the dose is current and is not a failure. The plan's
  ``TreatmentCourse.TotalDose`` is returned as TOTAL Gy.
* **Normalisation** (§12.2): ``ScaleToDoseGoal``, else ``NormalizeToPrescription``, both as
  ``DoseAtVolume`` on the target ROI. RayStation scales the beam set's monitor units and exposes no
  normalisation figure of its own through the scripting API (no ``PlanNormalizationValue``
  counterpart in the reference), so :meth:`RayStationPlanner.normalise` returns None; the engine
  measures the scaling on the re-read dose.

Every write first checks ``plan.Review.ApprovalStatus`` and the beam set's own
``Review.ApprovalStatus`` (§14.6; public-scripts N9) and refuses an approved plan or beam set with
:class:`ApprovedPlanError` before any RayStation call.

**Optimisation structures** (:class:`reirrad.ports.StructureMaker`, and :class:`reirrad.ports.OutlineMaker`
for the low-tolerance structures written contour by contour): :mod:`.structures` holds the
RayStation mapping and the ownership rule. Making them is a write (the plan and beam-set approval guards
apply, and :class:`CopyOnFirstWritePlanner` makes its plan copy first); asking whether the structure set
is writable and which ROIs are reirrad's only reads.

**What a failure leaves behind.** The planner writes into the plan and beam set it is given and
keeps no journal of its own. The menu (:mod:`.menu`) therefore gives it a copy of the clinician's
plan made for the run (:func:`copy_plan_for_run`, named with :data:`RUN_PLAN_SUFFIX`), never the
clinician's plan: whatever the planner wrote is in that copy, and an undo step that does not roll
back (unconfirmed, docs/reference/raystation-public-scripts.md U2) leaves only that copy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from reirrad.dose import DoseGrid
from reirrad.errors import ApprovedPlanError, InputError, OptimisationError
from reirrad.objectives import OBJECTIVE_KINDS
from reirrad.ports import Objective

from .._checks import number
from . import structures as _structures
from ._common import APPROVED, approval_status, is_approved, names, same, tps_message
from .call_forms import CallForms, call_first, member_first
from .grids import read_dose_grid
from .source import beam_set_approval, prescription_roi, primary_prescription
from .units import cgy_from_gy
from .versions import VersionProfile, profile

if TYPE_CHECKING:  # the recipe's types, for the signatures only
    from reirrad.optstructures import OptimisationStructure, OutlinedStructure

__all__ = ["ALREADY_COMPUTED", "CONSTRAINT_FUNCTION_TYPES", "DEFAULT_DOSE_ALGORITHM", "FUNCTION_TYPES",
           "PRESCRIPTION_READ_BACK_CGY", "RUN_PLAN_SUFFIX", "ApprovedPlanError", "CopyOnFirstWritePlanner",
           "PlanCopyError", "RayStationPlanner", "copy_plan_for_run"]

logger = logging.getLogger(__name__)

#: Text of the exception ``ComputeDose(ForceRecompute=False)`` raises when the dose is current (§4).
ALREADY_COMPUTED = "Dose has already been computed with the current parameters"
#: Engine objective kind → RayStation ``FunctionType``.
FUNCTION_TYPES: Mapping[str, str] = {"upper": "MaxDvh", "max": "MaxDose", "lower": "MinDvh", "mean": "MaxEud"}
if set(FUNCTION_TYPES) != set(OBJECTIVE_KINDS):  # pragma: no cover - a kind added without its translation
    raise ImportError(f"FUNCTION_TYPES {sorted(FUNCTION_TYPES)} must translate every objective kind "
                      f"{OBJECTIVE_KINDS}")
#: ``FunctionType``s written as constraints for hard objectives (sources in the module docstring).
CONSTRAINT_FUNCTION_TYPES = frozenset({"MaxDose", "MinDose", "MaxDvh", "MinDvh", "MaxEud", "MinEud"})
#: ``PrescriptionType`` of prescriptions and scaling written by the adapter (§12).
DOSE_AT_VOLUME = "DoseAtVolume"
#: Largest difference (cGy) between a prescription dose written and read back for RayStation to have
#: taken it: floating-point rounding only (escalation levels differ by tens of cGy).
PRESCRIPTION_READ_BACK_CGY = 0.01
#: ``DoseAlgorithm`` when the beam set has no ``AccurateDoseAlgorithm`` (photon collapsed cone, §11.3).
DEFAULT_DOSE_ALGORITHM = "CCDose"
#: Suffix of the plan copy a run writes into: ``"<clinician's plan> reirrad"`` (then `` 2``, `` 3`` …).
RUN_PLAN_SUFFIX = " reirrad"


class PlanCopyError(InputError):
    """RayStation refused the run's plan copy; ``left_plan`` names a plan of the copy's name found after
    the failure (a failed action may leave part of its work: the reference does not say), else None."""

    def __init__(self, message: str, left_plan: Optional[str]) -> None:
        super().__init__(message)
        self.left_plan = left_plan


def copy_plan_for_run(case: Any, plan: Any, beam_set: Any, forms: Optional[CallForms] = None
                      ) -> Tuple[Any, Any]:
    """Copy the clinician's plan for the run (``case.CopyPlan``, §10) and return (copy, its beam set).

    The copy is named ``plan.Name + RUN_PLAN_SUFFIX`` (a number appended while that name is taken);
    the beam set returned is the one at ``beam_set``'s index in the copy. ``KeepBeamSetNames=True``
    is tried first, then the call without it (:mod:`.call_forms`, key ``copy_plan``).

    Raises
    ------
    PlanCopyError
        RayStation refuses the copy (the message names the plan, and a plan it may have left).
    """
    forms = CallForms() if forms is None else forms
    taken = set(names(case.TreatmentPlans))
    base = f"{plan.Name}{RUN_PLAN_SUFFIX}"
    new_name, n = base, 2
    while new_name in taken:
        new_name, n = f"{base} {n}", n + 1
    index = next(i for i, b in enumerate(plan.BeamSets) if same(b, beam_set))
    try:
        call_first("copy_plan", (
            ("CopyPlan(PlanName, NewPlanName, KeepBeamSetNames=True)",
             lambda: case.CopyPlan(PlanName=str(plan.Name), NewPlanName=new_name, KeepBeamSetNames=True)),
            ("CopyPlan(PlanName, NewPlanName)",
             lambda: case.CopyPlan(PlanName=str(plan.Name), NewPlanName=new_name)),
        ), forms, f"copy plan {plan.Name!r}")
    except Exception as exc:
        # whether a failed action can leave part of its work is not in the reference: a plan of the new
        # name after the failure is reported, never assumed away
        left_plan = new_name if new_name in names(case.TreatmentPlans) else None
        left = ("; nothing else was written" if left_plan is None else
                f"; a plan {new_name!r} exists after the failure: check it and delete it")
        if isinstance(exc, InputError):
            raise PlanCopyError(f"{exc}{left}", left_plan) from exc
        raise PlanCopyError(f"RayStation could not copy plan {plan.Name!r} as {new_name!r} for the run: "
                            f"{tps_message(exc)}{left}", left_plan) from exc
    copy = case.TreatmentPlans[new_name]
    return copy, copy.BeamSets[index]


def _has_geometry(structure_set: Any, roi_name: str) -> bool:
    """True when ``roi_name`` has a (non-empty) geometry in ``structure_set``."""
    try:
        geometry = structure_set.RoiGeometries[roi_name]
    except Exception:  # the collection raises when the ROI has no geometry entry there
        return False
    return geometry.PrimaryShape is not None


class _Row(NamedTuple):
    """One function to write: ROI, kind, FunctionType, DoseLevel (cGy TOTAL), PercentVolume (%), Weight,
    and whether the objective is hard."""

    roi: str
    kind: str
    function_type: str
    level_cgy: float
    volume_pct: float
    weight: float
    hard: bool


def _function_row(n: int, objective: Objective) -> _Row:
    """The function row of one objective (checked before anything is written)."""
    kind = str(objective.kind)
    function_type = FUNCTION_TYPES.get(kind)
    if function_type is None:
        raise InputError(f"objectives[{n}] has kind {kind!r}; RayStation objectives are written for "
                         f"{sorted(FUNCTION_TYPES)}")
    level_cgy = cgy_from_gy(number(f"objectives[{n}].dose_gy", objective.dose_gy, "Gy", minimum=0.0))
    volume = number(f"objectives[{n}].volume_pct", objective.volume_pct, "%", minimum=0.0, maximum=100.0)
    if kind in ("upper", "lower") and volume <= 0.0:
        raise InputError(f"objectives[{n}] ({kind} on {objective.structure_id!r}) has volume_pct {volume:g}; "
                         "a DVH objective needs a volume > 0 %")
    weight = number(f"objectives[{n}].priority", objective.priority, "(weight)", minimum=0.0)
    hard = objective.hard
    if not isinstance(hard, bool):
        raise InputError(f"objectives[{n}].hard must be True or False (got {hard!r})")
    return _Row(str(objective.structure_id), kind, function_type, level_cgy, volume, weight, hard)


class RayStationPlanner:
    """Drives the RayStation optimiser for the new plan (implements :class:`reirrad.ports.Planner`).

    Parameters
    ----------
    case, plan, beam_set : RayStation objects
        The current case, the NEW plan and the beam set to plan.
    version : str
        RayStation release, one of :data:`reirrad_tps.raystation.versions.VERSIONS`.
    target_roi : str, optional
        ROI of a prescription to add when the beam set has none (ignored when it has one; refused
        when it names a different ROI than the existing prescription).
    prescription_volume_pct : float, optional
        ``DoseVolume`` (%) of a ``DoseAtVolume`` prescription to add when the beam set has none.

    Raises
    ------
    reirrad.errors.InputError
        An unknown version, or a beam set that is not in the plan.
    """

    def __init__(self, case: Any, plan: Any, beam_set: Any, *, version: str,
                 target_roi: Optional[str] = None, prescription_volume_pct: Optional[float] = None) -> None:
        self._version: VersionProfile = profile(version)
        self._forms = CallForms()
        self._auto_scale_done = False
        self._structures_written: List[str] = []  # ROIs created or changed, as each write starts
        self._case = case
        self._plan = plan
        self._beam_set = beam_set
        self._target_roi = target_roi
        self._prescription_volume_pct = (
            None if prescription_volume_pct is None
            else number("prescription_volume_pct", prescription_volume_pct, "%", minimum=0.0,
                         inclusive=False, maximum=100.0)
        )
        if not any(same(b, beam_set) for b in plan.BeamSets):
            raise InputError(f"beam set {beam_set.DicomPlanLabel!r} is not in plan {plan.Name!r}; pass the "
                             "new plan's beam set")

    @property
    def call_forms(self) -> Mapping[str, str]:
        """The form of each version-dependent call used so far (:mod:`.call_forms`)."""
        return self._forms.as_mapping()

    @property
    def plan_name(self) -> str:
        """The name of the plan this planner writes into."""
        return str(self._plan.Name)

    @property
    def structures_written(self) -> Tuple[str, ...]:
        """The case's ROIs this planner created or changed (optimisation and low-tolerance structures,
        case-level: outside the plan), each named as its write started, so that a failure's
        notification names every one (the menu: what may be left)."""
        return tuple(self._structures_written)

    # -- checks -----------------------------------------------------------------------------------
    def _require_writable(self, what: str) -> None:
        if is_approved(self._plan):
            raise ApprovedPlanError(
                f"plan {self._plan.Name!r} is approved (Review.ApprovalStatus = "
                f"{approval_status(self._plan)!r}); refusing to {what}. Nothing was written: copy the plan "
                "or select the new, unapproved plan and run again"
            )
        if beam_set_approval(self._beam_set) == APPROVED:
            raise ApprovedPlanError(
                f"beam set {self._beam_set.DicomPlanLabel!r} of plan {self._plan.Name!r} is approved "
                f"(its Review.ApprovalStatus = {APPROVED!r}); refusing to {what}. Nothing was written: "
                "select an unapproved beam set and run again"
            )

    def _roi_names(self) -> List[str]:
        return names(self._case.PatientModel.RegionsOfInterest)

    def _require_rois(self, wanted: Sequence[str]) -> None:
        """Every ROI exists and has a geometry on the planning examination (before any write)."""
        known = set(self._roi_names())
        missing = sorted({w for w in wanted if w not in known})
        if missing:
            raise InputError(f"there exists no ROI named {missing} in case {self._case.CaseName!r} "
                             f"(No ROI named {missing[0]!r}); rename the structure in RayStation or fix the "
                             "objective's structure_id")
        structure_set = self._beam_set.GetStructureSet()
        empty = sorted({w for w in wanted if not _has_geometry(structure_set, w)})
        if empty:
            raise InputError(f"ROI(s) {empty} have no geometry on the planning examination "
                             f"{self._beam_set.GetPlanningExamination().Name!r}; contour them or drop their "
                             "objectives")

    def _optimization(self) -> Any:
        """The plan optimisation of this beam set (matched through ``OptimizedBeamSets``, §10)."""
        for po in self._plan.PlanOptimizations:
            if any(same(b, self._beam_set) for b in po.OptimizedBeamSets):
                return po
        raise InputError(f"plan {self._plan.Name!r} has no optimisation for beam set "
                         f"{self._beam_set.DicomPlanLabel!r}; check the plan in RayStation")

    def _primary_prescription(self) -> Any:
        return primary_prescription(self._beam_set, self._forms)

    # -- the port ---------------------------------------------------------------------------------
    def set_prescription(self, dose_gy: float, n_fractions: int) -> None:
        """Set the beam set's prescription to ``dose_gy`` TOTAL in ``n_fractions`` fractions.

        Parameters
        ----------
        dose_gy : float
            TOTAL prescribed dose, Gy (> 0); written as TOTAL cGy.
        n_fractions : int
            Must equal the beam set's ``FractionationPattern.NumberOfFractions`` (read-only).

        Raises
        ------
        ApprovedPlanError
            The plan is approved (nothing written).
        reirrad.errors.InputError
            A different number of fractions, no prescription and no ``target_roi`` /
            ``prescription_volume_pct`` to add one, or a ``target_roi`` that differs from the existing
            prescription's ROI.
        """
        self._require_writable("set the prescription")
        dose_cgy = cgy_from_gy(number("dose_gy", dose_gy, "Gy", minimum=0.0, inclusive=False))
        if isinstance(n_fractions, bool) or not isinstance(n_fractions, int):
            raise InputError(f"n_fractions must be an int (got {n_fractions!r})")
        planned = self._beam_set.FractionationPattern.NumberOfFractions
        if n_fractions != planned:
            raise InputError(f"beam set {self._beam_set.DicomPlanLabel!r} has {planned} fractions but "
                             f"{n_fractions} were requested; RayStation cannot change the number of "
                             "fractions of a beam set by script: create the beam set with the protocol's "
                             "fractions")
        reference = self._primary_prescription()
        if reference is not None:
            roi = prescription_roi(reference)
            if roi is None:
                raise InputError(f"the primary prescription of beam set {self._beam_set.DicomPlanLabel!r} is "
                                 "on a site or a dose specification point, not on an ROI; the adapter "
                                 "prescribes and normalises on the target ROI only: replace it with a "
                                 "prescription on the target ROI in RayStation and run again")
            if self._target_roi is not None and self._target_roi != roi:
                raise InputError(f"the beam set's primary prescription is on ROI {roi!r}, not on target_roi "
                                 f"{self._target_roi!r}; fix the prescription in RayStation or pass "
                                 f"target_roi={roi!r}")
            self._set_prescription_dose(reference, dose_cgy)
            return
        if self._target_roi is None or self._prescription_volume_pct is None:
            raise InputError(f"beam set {self._beam_set.DicomPlanLabel!r} has no prescription; pass "
                             "target_roi and prescription_volume_pct to RayStationPlanner so one can be "
                             "added, or add it in RayStation")
        self._require_rois([self._target_roi])
        keywords = {"RoiName": self._target_roi, "DoseVolume": self._prescription_volume_pct,
                    "PrescriptionType": DOSE_AT_VOLUME, "DoseValue": dose_cgy,
                    "RelativePrescriptionLevel": 1.0}
        beam_set = self._beam_set
        call_first("add_prescription", (
            ("AddRoiPrescriptionDoseReference", lambda: beam_set.AddRoiPrescriptionDoseReference(**keywords)),
            ("AddDosePrescriptionToRoi(AutoScaleDose=False)",
             lambda: beam_set.AddDosePrescriptionToRoi(AutoScaleDose=False, **keywords)),
        ), self._forms, f"add a prescription to beam set {beam_set.DicomPlanLabel!r}")

    def _set_prescription_dose(self, reference: Any, dose_cgy: float) -> None:
        """``reference.DoseValue = dose_cgy``, refused clearly if RayStation refuses it, and read back.

        Whether ``PrescriptionDoseReference.DoseValue`` is settable by script in 12A and later is not
        confirmed (tps_stubs/raystation/DEVIATIONS.md); no other call edits a prescription's dose in the
        reference. A refused assignment becomes an :class:`~reirrad.errors.InputError` saying what to do;
        a value that does not read back as written (within 0.01 cGy) is refused too, so a prescription
        RayStation did not take is never scaled or reported as the plan's.
        """
        label = self._beam_set.DicomPlanLabel
        fix = (f"set the primary prescription of beam set {label!r} to {dose_cgy:.2f} cGy in RayStation, or "
               "delete it so that reirrad adds one on the target ROI (pass target_roi and "
               "prescription_volume_pct), and run again")
        try:
            reference.DoseValue = dose_cgy
            held = float(reference.DoseValue)
        except Exception as exc:  # RayStation's refusal, whatever its type, said so
            raise InputError(f"RayStation refused to change the prescription dose of beam set {label!r} to "
                             f"{dose_cgy:.2f} cGy ({type(exc).__name__}: {tps_message(exc)}); this version "
                             f"may not allow it by script: {fix}") from exc
        if not abs(held - dose_cgy) <= PRESCRIPTION_READ_BACK_CGY:
            raise InputError(f"the prescription dose of beam set {label!r} reads {held:.2f} cGy after "
                             f"{dose_cgy:.2f} cGy was written; RayStation did not take it: {fix}")

    def write_objectives(self, objectives: Sequence[Objective]) -> None:
        """Replace the optimisation functions (objectives and constraints) of the beam set.

        A ``hard`` objective becomes a constraint (``IsConstraint=True``, no ``Weight``) when its
        function type is in :data:`CONSTRAINT_FUNCTION_TYPES`; otherwise an objective whose weight is
        the highest weight among ``objectives`` (module docstring).

        Parameters
        ----------
        objectives : sequence of reirrad.ports.Objective
            ``dose_gy`` TOTAL Gy, ``volume_pct`` % of the structure, ``priority`` ≥ 0 (the weight),
            ``hard``.

        Raises
        ------
        ApprovedPlanError
            The plan is approved (nothing written).
        reirrad.errors.InputError
            An unknown kind, a bad number, or an ROI that does not exist or has no geometry on the
            planning examination — all checked before anything is written.
        """
        self._require_writable("write optimisation objectives")
        rows = [_function_row(n, o) for n, o in enumerate(objectives)]
        self._require_rois([r.roi for r in rows])
        top_weight = max((r.weight for r in rows), default=0.0)
        po = self._optimization()
        self._auto_scale_off(po)
        po.ResetOptimization()  # a new set of objectives is a fresh start (module docstring)
        if po.Objective is not None:
            po.ClearConstituentFunctions()
        for constraint in list(po.Constraints):
            constraint.DeleteFunction()
        for row in rows:
            is_constraint = row.hard and row.function_type in CONSTRAINT_FUNCTION_TYPES
            if row.hard and not is_constraint:
                logger.warning("hard objective on %s: %s cannot be a RayStation constraint; written as an "
                               "objective at the top weight %g", row.roi, row.function_type, top_weight)
            try:
                function = po.AddOptimizationFunction(FunctionType=row.function_type, RoiName=row.roi,
                                                      IsConstraint=is_constraint)
            except Exception as exc:
                message = tps_message(exc)
                if "exists no ROI" in message or "No ROI named" in message:
                    raise InputError(f"RayStation has no ROI named {row.roi!r}: {message}") from exc
                raise
            parameters = function.DoseFunctionParameters
            parameters.DoseLevel = row.level_cgy
            if row.kind in ("upper", "lower"):
                parameters.PercentVolume = row.volume_pct
            if row.kind == "mean":
                parameters.EudParameterA = 1.0
            if not is_constraint:  # a constraint has no weight to set (module docstring)
                parameters.Weight = top_weight if row.hard else row.weight

    def _auto_scale_off(self, po: Any) -> None:
        """Switch automatic scaling to the primary prescription off, once (module docstring)."""
        if self._auto_scale_done:
            return
        beam_set = self._beam_set

        def attribute() -> None:
            po.AutoScaleToPrescription = False

        try:
            call_first("auto_scale_off", (
                ("SetAutoScaleToPrimaryPrescription(AutoScale=False)",
                 lambda: beam_set.SetAutoScaleToPrimaryPrescription(AutoScale=False)),
                ("PlanOptimization.AutoScaleToPrescription = False", attribute),
            ), self._forms, "switch automatic scaling off")
        except InputError:
            self._forms.record("auto_scale_off", "not available")
        except Exception as exc:  # a setter refused in this version (e.g. 12A, §11.2)
            logger.info("automatic scaling not switched off: %s", tps_message(exc))
            self._forms.record("auto_scale_off", "not available")
        self._auto_scale_done = True

    def optimise(self) -> None:
        """Run the RayStation optimiser (``PlanOptimization.RunOptimization()``) on the current functions.

        Raises
        ------
        ApprovedPlanError
            The plan is approved (nothing run).
        reirrad.errors.OptimisationError
            RayStation raised from ``RunOptimization``: its message, one line (the workflow retries once).
        """
        self._require_writable("optimise")
        try:
            self._optimization().RunOptimization()
        except Exception as exc:  # RayStation's exception types are not importable outside it
            label = self._beam_set.DicomPlanLabel
            raise OptimisationError(f"RayStation's optimisation of beam set {label!r} failed: "
                                    f"{tps_message(exc)}") from exc

    def compute_dose(self) -> DoseGrid:
        """Compute the final dose and return the plan's TOTAL dose in Gy (engine convention).

        A "Dose has already been computed with the current parameters" exception means the dose is
        already current and is not an error.

        Raises
        ------
        ApprovedPlanError
            The plan is approved (nothing computed).
        reirrad.errors.InputError
            No dose after the computation, or a dose that is not from the final dose engine.
        """
        self._require_writable("compute the dose")
        modality = str(self._beam_set.Modality)
        if modality != "Photons":
            raise InputError(f"beam set {self._beam_set.DicomPlanLabel!r} is a {modality} beam set; the "
                             "adapter computes photon doses only")
        beam_set = self._beam_set
        try:
            algorithm = str(beam_set.AccurateDoseAlgorithm.DoseAlgorithm)
            self._forms.record("dose_algorithm", "AccurateDoseAlgorithm.DoseAlgorithm")
        except AttributeError:
            algorithm = DEFAULT_DOSE_ALGORITHM
            self._forms.record("dose_algorithm", f"default {DEFAULT_DOSE_ALGORITHM}")
        def compute(**keywords: Any) -> None:
            """One spelling of ``ComputeDose``; RayStation's "already computed" is success (the dose is
            current), within the form, so that no other spelling is tried after it."""
            try:
                beam_set.ComputeDose(**keywords)
            except Exception as exc:
                if ALREADY_COMPUTED not in tps_message(exc):
                    raise
                logger.info("beam set %s: the dose is already current", beam_set.DicomPlanLabel)

        call_first("compute_dose", (
            (f"ComputeDose(ComputeBeamDoses=True, DoseAlgorithm={algorithm!r}, ForceRecompute=False)",
             lambda: compute(ComputeBeamDoses=True, DoseAlgorithm=algorithm, ForceRecompute=False)),
            ("ComputeDose(RunEntryValidation=True)", lambda: compute(RunEntryValidation=True)),
        ), self._forms, f"compute the dose of beam set {beam_set.DicomPlanLabel!r}")
        total = self._plan.TreatmentCourse.TotalDose
        values = total.DoseValues
        if values is not None:
            accurate = member_first("dose_accuracy", values, ("IsAccurate", "IsClinical"), self._forms,
                                    default=("not available", True))
            if not bool(accurate):
                raise InputError(f"the dose of plan {self._plan.Name!r} is not from the final dose engine "
                                 f"({self._forms.as_mapping()['dose_accuracy']} is False); compute the final "
                                 "dose")
        return read_dose_grid(total)

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> Optional[float]:
        """Scale the beam set so that ``volume_pct`` % of ``target_id`` receives ``dose_gy`` (TOTAL Gy).

        Returns
        -------
        None
            Always: RayStation's scripting API exposes no normalisation figure of its own (the scaling
            changes the monitor units; there is no ``PlanNormalizationValue`` counterpart in the
            reference). The engine measures the scaling on the dose it re-reads.

        Raises
        ------
        ApprovedPlanError
            The plan is approved (nothing scaled).
        reirrad.errors.InputError
            Bad numbers, or an ROI that does not exist or has no geometry.
        """
        self._require_writable("normalise the plan")
        dose_cgy = cgy_from_gy(number("dose_gy", dose_gy, "Gy", minimum=0.0, inclusive=False))
        volume = number("volume_pct", volume_pct, "%", minimum=0.0, inclusive=False, maximum=100.0)
        self._require_rois([str(target_id)])
        keywords = {"RoiName": str(target_id), "DoseValue": dose_cgy, "DoseVolume": volume,
                    "PrescriptionType": DOSE_AT_VOLUME}
        beam_set = self._beam_set
        call_first("scaling", (
            ("ScaleToDoseGoal", lambda: beam_set.ScaleToDoseGoal(**keywords)),
            ("NormalizeToPrescription", lambda: beam_set.NormalizeToPrescription(**keywords)),
        ), self._forms, f"scale beam set {beam_set.DicomPlanLabel!r} to {dose_gy} Gy")
        return None

    # -- optimisation structures (reirrad.ports.StructureMaker; :mod:`.structures`) ---------------------
    def structures_not_writable(self) -> Optional[str]:
        """Why the planning examination's structure set cannot take geometries (approved), else None."""
        return _structures.structures_not_writable(self._beam_set.GetStructureSet())

    def owned_structure_ids(self, prefix: str) -> List[str]:
        """Names of the case's ROIs that are reirrad's (``prefix``, ``Control``, not approved)."""
        return _structures.owned_structure_ids(self._case, prefix)

    def make_structures(self, structures: Sequence[OptimisationStructure], prefix: str) -> Dict[str, float]:
        """Create or update reirrad's optimisation structures in order (an existing ROI only when it is
        reirrad's by ``prefix``); each one's volume, cm³, by name.

        Raises
        ------
        ApprovedPlanError
            The plan, the beam set or the planning structure set is approved (nothing written).
        reirrad.errors.InputError
            A name taken by an ROI that is not reirrad's or a missing source (nothing written), or
            RayStation refusing part-way (:func:`.structures.make_structures`).
        """
        self._require_writable("make optimisation structures")
        return _structures.make_structures(self._case, self._beam_set, structures, prefix,
                                           changed=self._structures_written)

    def make_outlined_structures(self, structures: Sequence[OutlinedStructure],
                                 prefix: str) -> Dict[str, float]:
        """Create reirrad's outlined (low-tolerance) structures, or replace the contours of its own, from the
        engine's planar contours (:class:`reirrad.ports.OutlineMaker`); each one's volume, cm³, by name.

        Raises
        ------
        ApprovedPlanError
            The plan, the beam set or the planning structure set is approved (nothing written).
        reirrad.errors.InputError
            A name taken by an ROI that is not reirrad's or a contour off the planning examination's slices
            (nothing written), or RayStation refusing part-way (:func:`.structures.make_outlined_structures`).
        """
        self._require_writable("make low-tolerance structures")
        return _structures.make_outlined_structures(self._case, self._beam_set, structures, prefix,
                                                    changed=self._structures_written)


class CopyOnFirstWritePlanner:
    """A :class:`reirrad.ports.Planner` that copies the clinician's plan at its first call and plans the copy.

    Nothing is written until the workflow first calls the planner (a stop of the decision gate or a
    dry run therefore writes nothing); the first call makes the copy with :func:`copy_plan_for_run`
    and every call goes to a :class:`RayStationPlanner` on it.

    Optimisation structures are case-level (one ROI list, geometries per examination; the copy has the
    clinician's planning examination). :meth:`make_structures` and :meth:`make_outlined_structures` count
    as writes: they make the copy first, so the structures of a run always come with its plan copy and the
    copy's guards apply.
    :meth:`structures_not_writable` and :meth:`owned_structure_ids` only read: before the copy exists they
    read through the clinician's beam set (same case, same planning examination) and copy nothing.

    Parameters
    ----------
    case, plan, beam_set : RayStation objects
        The current case and the clinician's plan and beam set (never written).
    version : str
        RayStation release.
    """

    def __init__(self, case: Any, plan: Any, beam_set: Any, *, version: str) -> None:
        profile(version)
        self._args = (case, plan, beam_set, version)
        self._forms = CallForms()
        self._planner: Optional[RayStationPlanner] = None
        self._left_plan: Optional[str] = None

    @property
    def left_plan_name(self) -> Optional[str]:
        """A plan a failed copy left (:class:`PlanCopyError`), else None."""
        return self._left_plan

    @property
    def plan_name(self) -> Optional[str]:
        """The copy's name once made, else None."""
        return None if self._planner is None else self._planner.plan_name

    @property
    def structures_written(self) -> Tuple[str, ...]:
        """:attr:`RayStationPlanner.structures_written` of the copy's planner (none before the copy)."""
        return () if self._planner is None else self._planner.structures_written

    @property
    def call_forms(self) -> Mapping[str, str]:
        """The forms used by the copy and by the planner (:mod:`.call_forms`)."""
        out = dict(self._forms.as_mapping())
        if self._planner is not None:
            out.update(self._planner.call_forms)
        return dict(sorted(out.items()))

    def _target(self) -> RayStationPlanner:
        if self._planner is None:
            case, plan, beam_set, version = self._args
            try:
                copy, copy_beam_set = copy_plan_for_run(case, plan, beam_set, self._forms)
            except PlanCopyError as exc:
                self._left_plan = exc.left_plan
                raise
            self._planner = RayStationPlanner(case, copy, copy_beam_set, version=version)
        return self._planner

    def set_prescription(self, dose_gy: float, n_fractions: int) -> None:
        """:meth:`RayStationPlanner.set_prescription` on the copy."""
        self._target().set_prescription(dose_gy, n_fractions)

    def write_objectives(self, objectives: Sequence[Objective]) -> None:
        """:meth:`RayStationPlanner.write_objectives` on the copy."""
        self._target().write_objectives(objectives)

    def optimise(self) -> None:
        """:meth:`RayStationPlanner.optimise` on the copy."""
        self._target().optimise()

    def compute_dose(self) -> DoseGrid:
        """:meth:`RayStationPlanner.compute_dose` on the copy."""
        return self._target().compute_dose()

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> Optional[float]:
        """:meth:`RayStationPlanner.normalise` on the copy."""
        return self._target().normalise(target_id, dose_gy, volume_pct)

    def _reader(self) -> RayStationPlanner:
        """The copy's planner once made, else a planner on the clinician's plan used for reading only."""
        if self._planner is not None:
            return self._planner
        case, plan, beam_set, version = self._args
        return RayStationPlanner(case, plan, beam_set, version=version)

    def structures_not_writable(self) -> Optional[str]:
        """:meth:`RayStationPlanner.structures_not_writable`; reads only (no copy is made)."""
        return self._reader().structures_not_writable()

    def owned_structure_ids(self, prefix: str) -> List[str]:
        """:meth:`RayStationPlanner.owned_structure_ids`; reads only (no copy is made)."""
        return self._reader().owned_structure_ids(prefix)

    def make_structures(self, structures: Sequence[OptimisationStructure], prefix: str) -> Dict[str, float]:
        """:meth:`RayStationPlanner.make_structures` on the copy (a write: the copy is made first)."""
        return self._target().make_structures(structures, prefix)

    def make_outlined_structures(self, structures: Sequence[OutlinedStructure],
                                 prefix: str) -> Dict[str, float]:
        """:meth:`RayStationPlanner.make_outlined_structures` on the copy (a write: the copy first)."""
        return self._target().make_outlined_structures(structures, prefix)
