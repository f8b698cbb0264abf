"""``RayStationPlanner``: the engine's :class:`reirrad.ports.Planner` on a RayStation beam set.

Translation only (docs/reference/style.md §3 practice 3): engine doses are TOTAL Gy and become TOTAL cGy
through
:mod:`.units`; version spellings come from :mod:`.versions`. Calls and units (docs/reference/raystation.md):

* **Prescription** (§12.1): ``DoseValue`` is the TOTAL for the beam set in cGy, ``DoseVolume`` in
  percent. An existing primary prescription gets its ``DoseValue`` set (its ROI, type and volume are
  kept); otherwise one is added on ``target_roi`` as ``DoseAtVolume`` at ``prescription_volume_pct``
  (11B ``AddDosePrescriptionToRoi`` with ``AutoScaleDose=False``; 12A+ ``AddRoiPrescriptionDoseReference``).
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
* **Optimisation** (§11.2): ``PlanOptimization.RunOptimization()`` on the beam set's optimisation.
* **Dose** (§11.3): ``beam_set.ComputeDose(...)`` with the version's keywords; "Dose has already been
  computed with the current parameters" means the dose is current and is not a failure. The plan's
  ``TreatmentCourse.TotalDose`` is returned as TOTAL Gy.
* **Normalisation** (§12.2): 11B/12A ``NormalizeToPrescription``, 2024B+ ``ScaleToDoseGoal``, both as
  ``DoseAtVolume`` on the target ROI. RayStation scales the beam set's monitor units and exposes no
  normalisation figure of its own through the scripting API (no ``PlanNormalizationValue``
  counterpart in the reference), so :meth:`RayStationPlanner.normalise` returns None; the engine
  measures the scaling on the re-read dose.

Every write first checks ``plan.Review.ApprovalStatus`` (§14.6) and refuses an approved plan with
:class:`ApprovedPlanError` before any RayStation call. Writes should run inside
:func:`reirrad_tps.raystation.entry.undoable` so that a failure leaves nothing behind.
"""

from __future__ import annotations

import logging
from typing import Any, List, Mapping, NamedTuple, Optional, Sequence

from reirrad.dose import DoseGrid
from reirrad.errors import ApprovedPlanError, InputError
from reirrad.objectives import OBJECTIVE_KINDS
from reirrad.ports import Objective

from .._checks import number
from ._common import approval_status, has_member, is_approved, names, same, tps_message
from .grids import read_dose_grid
from .units import cgy_from_gy
from .versions import VersionProfile, profile

__all__ = ["ALREADY_COMPUTED", "CONSTRAINT_FUNCTION_TYPES", "FUNCTION_TYPES", "ApprovedPlanError",
           "RayStationPlanner"]

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

    # -- checks -----------------------------------------------------------------------------------
    def _require_writable(self, what: str) -> None:
        if is_approved(self._plan):
            raise ApprovedPlanError(
                f"plan {self._plan.Name!r} is approved (Review.ApprovalStatus = "
                f"{approval_status(self._plan)!r}); refusing to {what}. Nothing was written: copy the plan "
                "or select the new, unapproved plan and run again"
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
        return getattr(self._beam_set.Prescription, self._version.primary_prescription)

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
            roi = str(reference.OnStructure.Name)
            if self._target_roi is not None and self._target_roi != roi:
                raise InputError(f"the beam set's primary prescription is on ROI {roi!r}, not on target_roi "
                                 f"{self._target_roi!r}; fix the prescription in RayStation or pass "
                                 f"target_roi={roi!r}")
            reference.DoseValue = dose_cgy
            return
        if self._target_roi is None or self._prescription_volume_pct is None:
            raise InputError(f"beam set {self._beam_set.DicomPlanLabel!r} has no prescription; pass "
                             "target_roi and prescription_volume_pct to RayStationPlanner so one can be "
                             "added, or add it in RayStation")
        self._require_rois([self._target_roi])
        add = getattr(self._beam_set, self._version.add_prescription)
        add(RoiName=self._target_roi, DoseVolume=self._prescription_volume_pct,
            PrescriptionType=DOSE_AT_VOLUME, DoseValue=dose_cgy, RelativePrescriptionLevel=1.0,
            **dict(self._version.add_prescription_keywords))

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

    def optimise(self) -> None:
        """Run the RayStation optimiser (``PlanOptimization.RunOptimization()``) on the current functions.

        Raises
        ------
        ApprovedPlanError
            The plan is approved (nothing run).
        """
        self._require_writable("optimise")
        self._optimization().RunOptimization()

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
                             "adapter computes dose with the photon algorithm (CCDose) only")
        try:
            self._beam_set.ComputeDose(**dict(self._version.compute_dose_keywords))
        except Exception as exc:
            if ALREADY_COMPUTED not in tps_message(exc):
                raise
            logger.info("beam set %s: the dose is already current", self._beam_set.DicomPlanLabel)
        total = self._plan.TreatmentCourse.TotalDose
        values = total.DoseValues
        accuracy = self._version.dose_accuracy
        if values is not None and has_member(values, accuracy) and not bool(getattr(values, accuracy)):
            raise InputError(f"the dose of plan {self._plan.Name!r} is not from the final dose engine "
                             f"({accuracy} is False); compute the final dose")
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
        scale = getattr(self._beam_set, self._version.scaling)
        scale(RoiName=str(target_id), DoseValue=dose_cgy, DoseVolume=volume, PrescriptionType=DOSE_AT_VOLUME)
        return None
