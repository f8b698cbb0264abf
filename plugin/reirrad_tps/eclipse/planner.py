"""``EclipsePlanner``: the engine's :class:`reirrad.ports.Planner` on an ESAPI ``ExternalPlanSetup``.

Translation only (docs/reference/style.md §3 practice 3). Engine doses are TOTAL Gy; ESAPI wants every dose
in the
**system's configured unit** (Gy or cGy, docs/reference/esapi.md §10.2), converted by :mod:`.units`. Calls
(docs/reference/esapi.md):

* **Prescription** (§4.4): ``SetPrescription(n, DoseValue(dose per fraction, unit), 1.0)``
  (treatment percentage as a decimal, 100 % = 1.0).
* **Objectives** (§10.2): every existing objective is removed (``RemoveObjective``), then ``upper`` →
  ``AddPointObjective(Upper, dose, volume %)``, ``lower`` → ``AddPointObjective(Lower, …)``, ``max`` →
  ``AddPointObjective(Upper, dose, 0 %)``, ``mean`` → ``AddMeanDoseObjective``, and the automatic
  normal tissue objective (``AddAutomaticNormalTissueObjective(priority)``, which replaces any NTO).
  Objective doses are TOTAL doses; the priority is the engine's priority (both only order the
  objectives).
* **Hard objectives** (``Objective.hard``): the Eclipse optimiser has no constraints (docs/reference/esapi.md
§10.2
  lists only weighted objectives), so a hard objective gets the **top priority of the set**: the
  highest priority among all objectives written in the same call and the normal tissue objective's
  priority when one is written — never a number above every priority asked for (the reference
  documents no maximum priority; Eclipse's own scale is a clinic's class solution, not the adapter's
  to invent). Hard objectives therefore rank at least level with the target's, and above every soft
  OAR objective of lower priority. The result is still only a weighted objective: the engine's final
  check on the re-read dose decides whether the limit holds.
* **Optimisation** (§10.3): ``technique="VMAT"`` → ``OptimizeVMAT(OptimizationOptionsVMAT(
  OptimizationOption.RestartOptimization, mlc_id))``; ``"IMRT"`` → ``Optimize(max_iterations,
  OptimizationOption.RestartOptimization, mlc_id)`` then ``CalculateLeafMotions()``. Always an explicit
  start option (ESAPI's default for a call without one is not documented) and an MLC id: the one given,
  else the only ``Beam.MLC.Id`` of the plan's beams (none or several: a clear error asking for
  ``--mlc-id``). Enums by name (pythonnet 3, §14.3). The treatment beams (``Beam.IsSetupField`` False)
  must suit the technique — arcs (``Beam.GantryDirection`` not ``None``) for VMAT, static fields for
  IMRT — checked before every write, so a mismatch is refused before anything is written (what
  Eclipse's optimisers do with the other kind is not in the reference; ``Beam`` members as public
  scripts use them, tps_stubs/esapi/DEVIATIONS.md).
* **Dose** (§10.3): ``CalculateDose()``, retried once when ``Success`` is False (the "16.1 related
  Eclipse bug" retry of the public nm_planner code); the plan's TOTAL dose is returned in Gy.
* **Normalisation** (§10.3 / §4.4): ``PlanNormalizationValue = 100``, read ``GetDoseAtVolume(target,
  v %, Relative, Absolute)``, then ``PlanNormalizationValue = 100 · D_current / D_wanted``;
  :meth:`EclipsePlanner.normalise` returns the ``PlanNormalizationValue`` the plan then holds (%, read
  back from ESAPI), Eclipse's own record of the normalisation.

Write guards, checked **before** any ESAPI write (nothing is written when one fails): the plan must be
``UnApproved`` and not ``IsTreated``, its course not completed (:class:`ApprovedPlanError`); the session
must allow writing (``Patient.CanModifyData()``, :class:`ReadOnlySessionError`); and
:meth:`EclipsePlanner.begin_modifications` must have been called (or ``modifications_begun=True`` passed
when the host called ``Patient.BeginModifications()`` itself) — ESAPI cannot be asked whether it was
(:class:`ModificationsNotBegunError`). A write ESAPI still refuses
(``UnauthorizedScriptingAPIAccessException``) becomes :class:`WriteRefusedError`.

Optimisation structures (:class:`reirrad.ports.StructureMaker` and :class:`reirrad.ports.OutlineMaker`):
``structures_not_writable``, ``owned_structure_ids``, ``make_structures`` and ``make_outlined_structures``
delegate to :mod:`.structures` (its docstring gives the ESAPI mapping and the ownership rule); writes go
through the same guards.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from reirrad.dose import DoseGrid
from reirrad.errors import ApprovedPlanError, InputError, OptimisationError, ReirradError
from reirrad.objectives import OBJECTIVE_KINDS
from reirrad.optstructures import OptimisationStructure, OutlinedStructure
from reirrad.ports import Objective

from .._checks import number
from . import structures as _optstructs
from .grids import esapi_types as _types
from .grids import read_dose_grid
from .source import UNAPPROVED
from .units import ABSOLUTE_UNITS, dose_value_gy, from_gy, unit_name

__all__ = [
    "TECHNIQUES",
    "ApprovedPlanError",
    "DoseCalculationError",
    "EclipsePlanner",
    "ModificationsNotBegunError",
    "OptimisationError",
    "ReadOnlySessionError",
    "StructureSetNotWritableError",
    "WriteRefusedError",
]

StructureSetNotWritableError = _optstructs.StructureSetNotWritableError

logger = logging.getLogger(__name__)

TECHNIQUES = ("VMAT", "IMRT")
_T = TypeVar("_T")


class ReadOnlySessionError(InputError):
    """The ESAPI session cannot modify data (``Patient.CanModifyData()`` is False); nothing was written."""


class ModificationsNotBegunError(InputError):
    """A write was requested before ``Patient.BeginModifications()``; nothing was written."""


class WriteRefusedError(InputError):
    """ESAPI refused a write (``UnauthorizedScriptingAPIAccessException``)."""


class DoseCalculationError(ReirradError):
    """``CalculateDose`` failed twice (``CalculationResult.Success`` False)."""


def _is_unauthorized(exc: BaseException) -> bool:
    return type(exc).__name__ == "UnauthorizedScriptingAPIAccessException"


def _message(exc: BaseException) -> str:
    message = getattr(exc, "Message", None)
    return str(message) if message is not None else str(exc)


class EclipsePlanner:
    """Drives Eclipse for the new plan (implements :class:`reirrad.ports.Planner`).

    Parameters
    ----------
    plan : ESAPI ``ExternalPlanSetup``
        The NEW plan.
    patient : ESAPI ``Patient``
        Its patient (``BeginModifications``, ``CanModifyData``, the system unit).
    technique : {"VMAT", "IMRT"}
        Which optimiser to run.
    mlc_id : str, optional
        MLC id for the optimiser options (needed by Eclipse when the machine has several MLCs).
    max_iterations : int
        IMRT iterations.
    dose_unit : {"Gy", "cGy"}, optional
        The system's configured dose unit; by default read from a defined absolute ``DoseValue`` of the
        patient's plans (prescriptions, then doses).
    modifications_begun : bool
        True when the host already called ``Patient.BeginModifications()``.
    normal_tissue_priority : float or None
        Priority of the automatic normal tissue objective (NTO) written with the objectives
        (``AddAutomaticNormalTissueObjective``, docs/reference/esapi.md §10.2), which keeps the dose fall-off
        outside the
        target; None writes none. The default 100 is a common starting value, not a published one: set
        it to the centre's class solution.

    Raises
    ------
    reirrad.errors.InputError
        Missing plan/patient, an unknown technique or unit.
    """

    def __init__(self, plan: Any, *, patient: Any, technique: str = "VMAT", mlc_id: Optional[str] = None,
                 max_iterations: int = 1000, dose_unit: Optional[str] = None,
                 modifications_begun: bool = False, normal_tissue_priority: Optional[float] = 100.0) -> None:
        if plan is None or patient is None:
            raise InputError("EclipsePlanner needs the new plan and its patient (context.ExternalPlanSetup, "
                             "context.Patient)")
        if technique not in TECHNIQUES:
            raise InputError(f"technique must be one of {TECHNIQUES} (got {technique!r})")
        if dose_unit is not None and dose_unit not in ABSOLUTE_UNITS:
            raise InputError(f"dose_unit must be one of {list(ABSOLUTE_UNITS)}, the clinic's configured unit "
                             f"(got {dose_unit!r})")
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
            raise InputError(f"max_iterations must be an int >= 1 (got {max_iterations!r})")
        self._plan = plan
        self._patient = patient
        self._technique = technique
        self._mlc_id = mlc_id
        self._max_iterations = max_iterations
        self._unit: Optional[str] = dose_unit
        self._begun = bool(modifications_begun)
        self._nto_priority = (None if normal_tissue_priority is None else number(
            "normal_tissue_priority", normal_tissue_priority, "(priority)", minimum=0.0))

    # -- session --------------------------------------------------------------------------------------
    def begin_modifications(self) -> None:
        """``Patient.BeginModifications()`` after checking ``CanModifyData()`` (idempotent).

        Raises
        ------
        ReadOnlySessionError
            The session may not write (read-only script or clinical stand-alone executable, §3.3).
        """
        self._require_session("begin modifications")
        if not self._begun:
            self._patient.BeginModifications()
            self._begun = True

    def _require_session(self, what: str) -> None:
        if not bool(self._patient.CanModifyData()):
            raise ReadOnlySessionError(
                "this ESAPI session cannot modify data (Patient.CanModifyData() is False); refusing to "
                f"{what}. Nothing was written: run reirrad as an approved write-enabled plug-in "
                "([assembly: ESAPIScript(IsWriteable = true)]) or on a non-clinical system")

    def _require_writable(self, what: str) -> None:
        plan = self._plan
        status = str(plan.ApprovalStatus)
        if status != UNAPPROVED or bool(plan.IsTreated):
            raise ApprovedPlanError(
                f"plan {plan.Id!r} is {status}{' and treated' if bool(plan.IsTreated) else ''}; refusing to "
                f"{what}. Nothing was written: create a new, unapproved plan and run again")
        if plan.Course.CompletedDateTime is not None:
            raise ApprovedPlanError(f"course {plan.Course.Id!r} of plan {plan.Id!r} is completed; "
                                    f"refusing to {what}. Nothing was written: plan in a new course")
        self._require_technique(what)  # after the plan's own state: an approved plan is refused as such
        self._require_session(what)
        if not self._begun:
            raise ModificationsNotBegunError(
                f"Patient.BeginModifications() has not been called; refusing to {what}. Nothing was written: "
                "call EclipsePlanner.begin_modifications() first (or pass modifications_begun=True if the "
                "host called Patient.BeginModifications())")

    def _require_technique(self, what: str) -> None:
        """The treatment beams (``IsSetupField`` False) suit the optimiser: arcs (``GantryDirection`` not
        ``None``) for VMAT, static fields for IMRT.

        Checked before every write, so that a technique that does not suit the plan is refused before
        the first one (the optimiser, run after the prescription and the objectives are written, would
        otherwise be the first to fail). A plan without treatment beams passes (the optimiser refuses it
        on its own).
        """
        beams = [beam for beam in self._plan.Beams if not bool(beam.IsSetupField)]
        arcs = [str(beam.Id) for beam in beams if str(beam.GantryDirection) != "None"]
        fields = [str(beam.Id) for beam in beams if str(beam.GantryDirection) == "None"]
        wrong, needed, other = ((fields, "arcs", "IMRT") if self._technique == "VMAT" else
                                (arcs, "static fields", "VMAT"))
        if not wrong:
            return
        if arcs and fields:
            fix = (f"neither optimiser takes both (arcs {', '.join(arcs)}; static fields "
                   f"{', '.join(fields)}): make the beams all arcs (VMAT) or all static fields (IMRT) in "
                   "Eclipse")
        else:
            fix = (f"choose --technique {other} (EclipsePlanner technique={other!r}) or change the beams in "
                   "Eclipse")
        kind = "static fields (GantryDirection None)" if self._technique == "VMAT" else "arcs"
        raise InputError(f"plan {self._plan.Id!r}: technique {self._technique} optimises {needed}, and "
                         f"beam(s) {', '.join(wrong)} are {kind}; refusing to {what}. Nothing was written: "
                         f"{fix}")

    def _write(self, what: str, call: Callable[..., _T], *args: Any) -> _T:
        try:
            return call(*args)
        except Exception as exc:
            if _is_unauthorized(exc):
                raise WriteRefusedError(f"Eclipse refused to {what}: {_message(exc)}") from exc
            raise

    # -- units and structures -------------------------------------------------------------------------
    def system_unit(self) -> str:
        """The system's configured dose unit (``"Gy"`` or ``"cGy"``).

        Raises
        ------
        reirrad.errors.InputError
            No plan of the patient carries a defined absolute dose: pass ``dose_unit``.
        """
        if self._unit is not None:
            return self._unit
        candidates: List[Any] = [self._plan]
        candidates += [p for c in list(self._patient.Courses) for p in list(c.PlanSetups)]
        for plan in candidates:
            total = plan.TotalDose
            if not bool(total.IsUndefined()) and unit_name(total.Unit) in ABSOLUTE_UNITS:
                self._unit = unit_name(total.Unit)
                return self._unit
        raise InputError("cannot tell the clinic's configured dose unit: no plan of the patient has a "
                         "defined absolute prescription; pass dose_unit='Gy' or 'cGy' to EclipsePlanner")

    def _dose_value(self, value_gy: float) -> Any:
        unit = self.system_unit()
        types = _types()
        return types.DoseValue(from_gy(value_gy, unit), getattr(types.DoseValue.DoseUnit, unit))

    def _structures(self) -> Any:
        structure_set = self._plan.StructureSet
        if structure_set is None:
            raise InputError(f"plan {self._plan.Id!r} has no structure set; attach one in Eclipse")
        return {str(s.Id): s for s in list(structure_set.Structures)}

    def _structure(self, structures: Any, structure_id: str) -> Any:
        found = structures.get(str(structure_id))
        if found is None:
            raise InputError(f"structure {structure_id!r} is not in the structure set of plan "
                             f"{self._plan.Id!r} ({sorted(structures)}); rename the structure in Eclipse or "
                             "fix the objective")
        if bool(found.IsEmpty):
            raise InputError(f"structure {structure_id!r} has no contours; contour it or drop its objectives")
        return found

    # -- optimisation structures (reirrad.ports.StructureMaker) ----------------------------------------
    def structures_not_writable(self) -> Optional[str]:
        """Why the plan's structure set cannot take reirrad's structures, or None when it can.

        The plan's write guards (approved/treated plan, completed course, read-only session,
        ``BeginModifications`` not called; their messages), no structure set, a structure set that an
        approved or treated plan also uses (:func:`.structures.set_used_by_other_plans`), then
        ``StructureSet.CanAddStructure("CONTROL", <free probe id>)`` False (approved or locked set).
        """
        try:
            self._require_writable("create optimisation structures")
        except InputError as exc:
            return str(exc)
        structure_set = self._plan.StructureSet
        if structure_set is None:
            return f"plan {self._plan.Id!r} has no structure set; attach one in Eclipse"
        return (_optstructs.set_used_by_other_plans(structure_set, self._plan, self._patient)
                or _optstructs.set_not_writable(structure_set))

    def owned_structure_ids(self, prefix: str) -> Sequence[str]:
        """Ids of the plan's structures that are reirrad's: id starting with ``prefix``, DICOM type CONTROL,
        ``CanEditSegmentVolume`` True (:mod:`.structures`)."""
        return _optstructs.owned_ids(self._plan.StructureSet, prefix)

    def make_structures(self, structures: Sequence[OptimisationStructure],
                        prefix: str) -> Mapping[str, float]:
        """Create, or update when reirrad's by ``prefix`` (the protocol's reserved prefix), each structure in
        order; ``Structure.Volume`` (cm³) by name.

        Raises
        ------
        ApprovedPlanError, ReadOnlySessionError, ModificationsNotBegunError, StructureSetNotWritableError
            Nothing written.
        reirrad.errors.InputError
            An empty prefix, a name over 16 characters or without the prefix, a structure of that name that
            is not reirrad's, an unknown source, an anisotropic or over-50-mm margin: nothing written.
        WriteRefusedError
            Eclipse refused a write part-way (the structures made so far stay; all are reirrad's).
        """
        structure_set = self._structure_set_to_write("make_structures", prefix)
        return _optstructs.make_structures(structure_set, structures, prefix, self._write)

    def make_outlined_structures(self, structures: Sequence[OutlinedStructure],
                                 prefix: str) -> Mapping[str, float]:
        """Create, or replace the contours of when reirrad's by ``prefix``, each outlined structure
        (:class:`reirrad.ports.OutlineMaker`): ``AddStructure("CONTROL", name)`` when absent, else every
        image plane cleared; then each plane's contours with ``AddContourOnImagePlane`` and its holes with
        ``SubtractContourOnImagePlane``, in the given order; ``Structure.Volume`` (cm³) by name
        (:mod:`.structures`).

        Raises
        ------
        ApprovedPlanError, ReadOnlySessionError, ModificationsNotBegunError, StructureSetNotWritableError
            Nothing written.
        reirrad.errors.InputError
            An empty prefix, a name as :meth:`make_structures` refuses it, a plane more than 0.01 mm from
            every plane of the planning image: nothing written.
        WriteRefusedError
            Eclipse refused a write part-way (the structures written so far stay; all are reirrad's).
        """
        structure_set = self._structure_set_to_write("make_outlined_structures", prefix)
        return _optstructs.make_outlined_structures(structure_set, structures, prefix, self._write)

    def _structure_set_to_write(self, method: str, prefix: str) -> Any:
        """The plan's structure set after the checks every structure write starts with: the prefix, the
        plan's write guards, a structure set present."""
        if not isinstance(prefix, str) or not prefix:
            raise InputError(f"{method} needs the protocol's structure prefix (got {prefix!r})")
        self._require_writable("create optimisation structures")
        structure_set = self._plan.StructureSet
        if structure_set is None:
            raise InputError(f"plan {self._plan.Id!r} has no structure set; attach one in Eclipse")
        shared = _optstructs.set_used_by_other_plans(structure_set, self._plan, self._patient)
        if shared is not None:
            raise StructureSetNotWritableError(f"{shared}. Nothing was written")
        return structure_set

    # -- the port -------------------------------------------------------------------------------------
    def set_prescription(self, dose_gy: float, n_fractions: int) -> None:
        """``SetPrescription(n_fractions, dose_gy / n_fractions in the system unit, 1.0)``.

        Raises
        ------
        ApprovedPlanError, ReadOnlySessionError, ModificationsNotBegunError
            Nothing written.
        reirrad.errors.InputError
            A non-positive dose or fraction number.
        """
        total = number("dose_gy", dose_gy, "Gy", minimum=0.0, inclusive=False)
        if isinstance(n_fractions, bool) or not isinstance(n_fractions, int) or n_fractions < 1:
            raise InputError(f"n_fractions must be an int >= 1 (got {n_fractions!r})")
        self._require_writable("set the prescription")
        per_fraction = self._dose_value(total / n_fractions)
        self._write("set the prescription", self._plan.SetPrescription, n_fractions, per_fraction, 1.0)

    def write_objectives(self, objectives: Sequence[Objective]) -> None:
        """Replace the plan's optimisation objectives (mapping in the module docstring).

        A ``hard`` objective is written at the top priority of the set (module docstring).

        Raises
        ------
        ApprovedPlanError, ReadOnlySessionError, ModificationsNotBegunError
            Nothing written.
        reirrad.errors.InputError
            An unknown kind, a bad number, or a missing / empty structure — checked before any write.
        """
        self._require_writable("write optimisation objectives")
        structures = self._structures()
        rows: List[Tuple[Any, str, float, float, float]] = []
        hard: List[bool] = []
        for n, o in enumerate(objectives):
            kind = str(o.kind)
            if kind not in OBJECTIVE_KINDS:
                raise InputError(f"objectives[{n}] has kind {kind!r}; Eclipse objectives are written for "
                                 f"{OBJECTIVE_KINDS}")
            dose = number(f"objectives[{n}].dose_gy", o.dose_gy, "Gy", minimum=0.0)
            volume = number(f"objectives[{n}].volume_pct", o.volume_pct, "%", minimum=0.0, maximum=100.0)
            priority = number(f"objectives[{n}].priority", o.priority, "(priority)", minimum=0.0)
            if not isinstance(o.hard, bool):
                raise InputError(f"objectives[{n}].hard must be True or False (got {o.hard!r})")
            rows.append((self._structure(structures, o.structure_id), kind, dose, volume, priority))
            hard.append(o.hard)
        top = self.top_priority([r[4] for r in rows])
        rows = [(st, kind, dose, volume, top if h else priority)
                for (st, kind, dose, volume, priority), h in zip(rows, hard)]
        types = _types()
        op = types.OptimizationObjectiveOperator
        values = [self._dose_value(dose) for _, _, dose, _, _ in rows]
        setup = self._plan.OptimizationSetup
        for existing in list(setup.Objectives):
            self._write("remove an optimisation objective", setup.RemoveObjective, existing)
        for (structure, kind, _, volume, priority), value in zip(rows, values):
            if kind == "mean":
                self._write("add a mean-dose objective", setup.AddMeanDoseObjective, structure, value,
                            priority)
                continue
            operator = op.Lower if kind == "lower" else op.Upper
            pct = 0.0 if kind == "max" else volume
            self._write("add a point objective", setup.AddPointObjective, structure, operator, value, pct,
                        priority)
        if self._nto_priority is not None:
            self._write("add the normal tissue objective", setup.AddAutomaticNormalTissueObjective,
                        self._nto_priority)

    def top_priority(self, priorities: Sequence[float]) -> float:
        """The priority a hard objective gets: the highest of ``priorities`` and of the normal tissue
        objective's priority when one is written (0 when there is none)."""
        candidates = list(priorities)
        if self._nto_priority is not None:
            candidates.append(self._nto_priority)
        return max(candidates, default=0.0)

    def _plan_mlc_id(self) -> str:
        """The one MLC id the plan's beams carry (``Beam.MLC.Id``; beams without an MLC, such as setup
        fields, are passed over)."""
        ids = sorted({str(beam.MLC.Id) for beam in self._plan.Beams if beam.MLC is not None})
        if len(ids) != 1:
            found = "no beam has an MLC" if not ids else f"its beams carry several MLCs ({', '.join(ids)})"
            raise InputError(f"plan {self._plan.Id!r}: {found}; the optimiser needs one MLC - give it with "
                             "--mlc-id (EclipsePlanner mlc_id)")
        return ids[0]

    def optimise(self) -> None:
        """Run the Eclipse optimiser (VMAT or IMRT + leaf motions) on the current objectives.

        Every call gives ``OptimizationOption.RestartOptimization`` and an MLC id (the configured one,
        else the one the plan's beams carry): what ESAPI does with a call that gives no start option is
        not documented, and a continued optimisation would make each level's plan depend on the levels
        optimised before it.

        Raises
        ------
        InputError
            No MLC id configured and the plan's beams carry none or several; nothing run.
        ApprovedPlanError, ReadOnlySessionError, ModificationsNotBegunError
            Nothing run.
        OptimisationError
            ``Success`` False.
        """
        self._require_writable("optimise")
        types = _types()
        restart = types.OptimizationOption.RestartOptimization
        plan = self._plan
        mlc_id = self._mlc_id if self._mlc_id is not None else self._plan_mlc_id()
        if self._technique == "VMAT":
            options = types.OptimizationOptionsVMAT(restart, mlc_id)
            result = self._write("optimise", plan.OptimizeVMAT, options)
        else:
            result = self._write("optimise", plan.Optimize, self._max_iterations, restart, mlc_id)
        if not bool(result.Success):
            raise OptimisationError(f"the Eclipse {self._technique} optimiser failed on plan {plan.Id!r} "
                                    "(OptimizerResult.Success is False); check beams, objectives and the "
                                    "calculation models")
        if self._technique == "IMRT":
            leaves = self._write("calculate leaf motions", plan.CalculateLeafMotions)
            if not bool(leaves.Success):
                raise OptimisationError(f"CalculateLeafMotions failed on plan {plan.Id!r}; set the leaf "
                                        "motion calculation model")

    def compute_dose(self) -> DoseGrid:
        """``CalculateDose()`` (retried once) and the plan's TOTAL dose in Gy.

        Raises
        ------
        ApprovedPlanError, ReadOnlySessionError, ModificationsNotBegunError
            Nothing computed.
        DoseCalculationError
            ``Success`` False twice.
        reirrad.errors.InputError
            The plan's dose is not presented as Absolute.
        """
        self._require_writable("compute the dose")
        plan = self._plan
        result = self._write("calculate the dose", plan.CalculateDose)
        if not bool(result.Success):
            logger.warning("plan %s: CalculateDose returned Success False; retrying once", plan.Id)
            result = self._write("calculate the dose", plan.CalculateDose)
        if not bool(result.Success):
            raise DoseCalculationError(f"CalculateDose failed twice on plan {plan.Id!r} (Success is False); "
                                       "check the prescription, beams and calculation model in Eclipse")
        presentation = str(plan.DoseValuePresentation)
        if presentation != "Absolute":
            raise InputError(f"plan {plan.Id!r} presents its dose as {presentation!r}; set "
                             "DoseValuePresentation to Absolute")
        return read_dose_grid(plan.Dose, str(plan.StructureSet.Image.FOR))

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> Optional[float]:
        """Scale the plan so that ``volume_pct`` % of ``target_id`` receives ``dose_gy`` (TOTAL Gy).

        Returns
        -------
        float
            The plan's ``PlanNormalizationValue`` after the scaling (%, read back from ESAPI: 100 means
            unscaled; e.g. 101.13 when the dose was 1.13 % above the wanted one at ``volume_pct``).

        Raises
        ------
        ApprovedPlanError, ReadOnlySessionError, ModificationsNotBegunError
            Nothing written.
        reirrad.errors.InputError
            Bad numbers, a missing structure, or no dose to normalise.
        """
        wanted = number("dose_gy", dose_gy, "Gy", minimum=0.0, inclusive=False)
        volume = number("volume_pct", volume_pct, "%", minimum=0.0, inclusive=False, maximum=100.0)
        self._require_writable("normalise the plan")
        target = self._structure(self._structures(), target_id)
        plan = self._plan
        if not bool(plan.IsDoseValid):
            raise InputError(f"plan {plan.Id!r} has no valid dose to normalise; compute the dose first")
        types = _types()

        def set_value(value: float) -> None:
            plan.PlanNormalizationValue = value

        self._write("set the plan normalisation", set_value, 100.0)
        current = dose_value_gy(plan.GetDoseAtVolume(target, volume, types.VolumePresentation.Relative,
                                                     types.DoseValuePresentation.Absolute))
        if not current > 0.0:
            raise InputError(f"{target_id!r} receives {current!r} Gy at {volume:g} %; the plan cannot be "
                             "normalised to it")
        self._write("set the plan normalisation", set_value, 100.0 * current / wanted)
        value = float(plan.PlanNormalizationValue)
        # NaN is "not defined" (docs/reference/esapi.md §4.4), which cannot follow a successful set
        if math.isnan(value):
            raise InputError(f"plan {plan.Id!r} reports no PlanNormalizationValue after it was set; check "
                             "the plan's normalisation in Eclipse")
        return value
