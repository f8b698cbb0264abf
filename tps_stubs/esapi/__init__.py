"""ESAPI stand-in: C# assemblies shaped like Eclipse 15.6's, built with Mono and loaded through pythonnet.

``make stubs`` (or :func:`build_assemblies`) compiles ``src/`` into ``build/``:
``VMS.TPS.Common.Model.Types.dll`` and ``VMS.TPS.Common.Model.API.dll`` expose only real ESAPI public
members (see ``DEVIATIONS.md``); ``Reirrad.EsapiStubBuilder.dll`` holds the construction and
configuration API that populates them (the real ESAPI has no public builders).

Entry points
------------
- :func:`load_context` — a plug-in ``ScriptContext`` with a stub patient open and its current plan set.
- :func:`create_application` — ``CustomScriptExecutable.CreateApplication(name)`` for stand-alone runs,
  with the stub patients as its database (``OpenPatientById``); :func:`configure` registers that database
  alone (for an Application created elsewhere, e.g. by a C# host executable).
- :func:`journal` — every write made through modifying members; :func:`reset` — forget the
  process's Application (one per process, as in Eclipse) and the journal.
- Fault injection: ``configure(dose_engine_fails=True)`` (every optimisation and dose calculation fails)
  and :func:`fail_dose_calculations` (the next n ``CalculateDose`` calls fail, then it works again).

Units and conventions (what an Eclipse adapter meets; see ``README.md``): the system dose unit is the
stub patient's ``dose_unit`` (Gy or cGy) unless overridden; dose voxels are raw ints scaled linearly by
``Dose.VoxelToDoseValue``; course dates are ``Course.StartDateTime`` / ``CompletedDateTime``;
``Registration.TransformationMatrix`` maps ``SourceFOR`` points to ``RegisteredFOR`` (column vectors).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from ..patients import list_patients, load_patient
from ..patients.model import StubPatient
from ._build import ASSEMBLIES, BUILD_DIR, BuildError, build_assemblies
from ._populate import (
    BRACHY_MODALITIES,
    DEFAULT_START,
    START_OPTIONS,
    build_patient,
    is_brachy,
    planner_callback,
    planner_objective,
)
from ._runtime import net_array, runtime

__all__ = ["ASSEMBLIES", "BRACHY_MODALITIES", "BUILD_DIR", "CONTOUR_ADDITIONS", "ENVIRONMENT", "MODES",
           "SET_LOCKS", "BuildError", "JournalEntry", "build_assemblies", "configure",
           "configure_from_environment",
           "create_application", "export_journal_from_environment", "fail_dose_calculations", "is_brachy",
           "journal", "load_context", "net_array", "planner_objective", "read_exported_journal", "reset",
           "runtime"]

#: System modes: "clinical" (CustomScriptExecutable read-only; plug-ins write when approved) and
#: "research" (a non-clinical system: every session may write after BeginModifications).
MODES = ("clinical", "research")
_UNITS = ("Gy", "cGy")
#: How ``Structure.AddContourOnImagePlane`` combines a contour with the plane's segment: exclusive-or (the
#: even-odd rule, default) or union. Eclipse's behaviour is unconfirmed, so the stand-in models both
#: (DEVIATIONS.md); ``SubtractContourOnImagePlane`` always removes the polygon's area.
CONTOUR_ADDITIONS = ("xor", "union")
#: What locks a structure set (writes to it and its structures refused): "plans" (default) its own
#: approval or an approved or treated plan that uses it; "approval" its own approval only. Whether Eclipse
#: locks a treated plan's structure set is not in the reference, so the stand-in models both (DEVIATIONS.md).
SET_LOCKS = ("plans", "approval")


@dataclass(frozen=True)
class JournalEntry:
    """One write made through a modifying ESAPI member of the stand-in.

    Attributes
    ----------
    sequence : int
        Order of the write since the session started (1-based).
    object_type, object_id : str
        The modified object's ESAPI type name and Id (``"OptimizationSetup"`` entries carry the plan Id;
        ``"Application"`` entries the script name).
    member : str
        ``"SetPrescription"``, ``"set_PlanNormalizationValue"``, ``"AddPointObjective"``, ...
    arguments : tuple of str
        The arguments as text (data objects as ``"Type 'Id'"``, numbers round-trippable).
    """

    sequence: int
    object_type: str
    object_id: str
    member: str
    arguments: Tuple[str, ...]


def _configure(mode: str, dose_unit: Optional[str], writeable: bool = True, contour_add: str = "xor",
               set_lock: str = "plans") -> Any:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if contour_add not in CONTOUR_ADDITIONS:
        raise ValueError(f"contour_add must be one of {CONTOUR_ADDITIONS}, got {contour_add!r}")
    if set_lock not in SET_LOCKS:
        raise ValueError(f"set_lock must be one of {SET_LOCKS}, got {set_lock!r}")
    if dose_unit is not None and dose_unit not in _UNITS:
        raise ValueError(f"dose_unit must be one of {_UNITS} (the clinic's configured unit), "
                         f"got {dose_unit!r}")
    rt = runtime()
    system = rt.Builder.StubSystem
    system.ResearchMode = mode == "research"
    system.PluginWriteable = bool(writeable)
    system.ContourAddition = contour_add
    system.StructureSetLock = set_lock
    system.Planner = rt.Builder.PlannerCallback(planner_callback)
    return rt


def _set_unit(rt: Any, unit: str) -> None:
    rt.Builder.StubSystem.DoseUnit = getattr(rt.Types.DoseValue.DoseUnit, unit)


def _model(patient: Union[str, Path, StubPatient]) -> StubPatient:
    return patient if isinstance(patient, StubPatient) else load_patient(patient)


def load_context(patient: Union[str, Path, StubPatient], dose_unit: Optional[str] = None, *,
                 mode: str = "clinical", writeable: bool = True, contour_add: str = "xor",
                 set_lock: str = "plans") -> Any:
    """A plug-in ``ScriptContext`` (the built assembly's type) with ``patient`` open.

    Parameters
    ----------
    patient : str, pathlib.Path or StubPatient
        A shipped stub-patient id (e.g. ``"LRRC-01"``), a YAML path, or a built model.
    dose_unit : {"Gy", "cGy"}, optional
        The clinic's configured dose unit; default: the stub patient's ``dose_unit``.
    mode : {"clinical", "research"}
        The system's configuration.
    writeable : bool
        Whether the plug-in is an approved write-enabled script. Writes still need
        ``Patient.BeginModifications()`` and an unapproved, untreated plan.
    contour_add : {"xor", "union"}
        How ``AddContourOnImagePlane`` combines a contour with the plane's segment
        (:data:`CONTOUR_ADDITIONS`).
    set_lock : {"plans", "approval"}
        What locks a structure set (:data:`SET_LOCKS`).

    Returns
    -------
    VMS.TPS.Common.Model.API.ScriptContext
        ``Patient``, ``Course`` and ``PlanSetup`` / ``ExternalPlanSetup`` are the patient's current course
        and plan; ``PlansInScope`` are the plans of that course. A new object model is built on each
        call, and the journal starts empty.

    Raises
    ------
    System.InvalidOperationException
        An Application exists in this process (call :func:`reset` first).
    """
    model = _model(patient)
    rt = _configure(mode, dose_unit, writeable, contour_add, set_lock)
    _set_unit(rt, dose_unit or model.dose_unit)
    net_patient, plans = build_patient(model)
    key = (model.current_course_id, model.current_plan_id)
    plan = plans[key]
    course = next(c for c in net_patient.Courses if c.Id == model.current_course_id)
    return rt.Builder.StubSystem.CreatePluginContext(net_patient, course, plan, "reirrad-stub")


def configure(*, mode: str = "clinical", dose_unit: Optional[str] = None,
              dose_engine_fails: bool = False, default_start_option: str = "RestartOptimization",
              contour_add: str = "xor", set_lock: str = "plans") -> Any:
    """Configure the system and register the shipped stub patients as the Application's database.

    What :func:`create_application` does before creating the Application; call it alone when the
    Application is created elsewhere (e.g. ``Application.CreateApplication()`` in a C# host executable
    that embeds Python, which is writable when its assembly has ``[assembly: ESAPIScript(IsWriteable =
    true)]``).

    Parameters
    ----------
    mode : {"clinical", "research"}
        The system's configuration (see :data:`MODES`).
    dose_unit : {"Gy", "cGy"}, optional
        The clinic's configured dose unit; default: each opened patient's own ``dose_unit``.
    dose_engine_fails : bool
        Fault injection: every optimisation and dose calculation fails (``CalculateDose().Success`` is
        False), as a TPS whose dose engine is down. Off again at the next ``configure`` call.
    default_start_option : str
        What an ``Optimize``/``OptimizeVMAT`` call that gives no ``OptimizationOption`` does: one of
        :data:`START_OPTIONS`. The ESAPI documentation does not say, so the stand-in models both
        readings ("RestartOptimization": a cold start; "ContinueOptimization": from the plan's previous
        optimisation). Kept until the next ``configure`` call.
    contour_add : {"xor", "union"}
        How ``AddContourOnImagePlane`` combines a contour with the plane's segment
        (:data:`CONTOUR_ADDITIONS`); kept until the next ``configure`` or :func:`load_context` call.
    set_lock : {"plans", "approval"}
        What locks a structure set (:data:`SET_LOCKS`); kept as ``contour_add``.

    Returns
    -------
    types.SimpleNamespace
        :func:`runtime`.

    Raises
    ------
    ValueError
        ``default_start_option`` not one of :data:`START_OPTIONS`, ``contour_add`` not one of
        :data:`CONTOUR_ADDITIONS`.
    """
    if default_start_option not in START_OPTIONS:
        raise ValueError(f"default_start_option must be one of {', '.join(START_OPTIONS)}, "
                         f"got {default_start_option!r}")
    DEFAULT_START["option"] = default_start_option
    rt = _configure(mode, dose_unit, contour_add=contour_add, set_lock=set_lock)
    if dose_engine_fails:
        rt.Builder.StubSystem.Planner = rt.Builder.PlannerCallback(_failing_dose_engine)
    if dose_unit is not None:
        _set_unit(rt, dose_unit)
    known = {p.id: p.path for p in list_patients()}

    def provide(patient_id: str) -> Any:
        path = known.get(str(patient_id))
        if path is None:
            return None
        model = load_patient(path)
        if dose_unit is None:
            _set_unit(rt, model.dose_unit)
        return build_patient(model)[0]

    rt.Builder.StubSystem.PatientProvider = rt.Builder.PatientProvider(provide)
    rt.Builder.StubSystem.SetPatientIds(sorted(known))
    return rt


def create_application(script_name: str = "reirrad-stub", *, mode: str = "clinical",
                       dose_unit: Optional[str] = None) -> Any:
    """``CustomScriptExecutable.CreateApplication(script_name)`` over the shipped stub patients.

    Parameters
    ----------
    script_name : str
        The script name ESAPI logs in with.
    mode : {"clinical", "research"}
        ``"clinical"``: the application is read-only (every modifying member throws
        ``UnauthorizedScriptingAPIAccessException``, docs/reference/esapi.md §2.2); ``"research"``: it may
        write after
        ``Patient.BeginModifications()``.
    dose_unit : {"Gy", "cGy"}, optional
        The clinic's configured dose unit; default: each opened patient's own ``dose_unit``.

    Returns
    -------
    VMS.TPS.Common.Model.API.Application
        ``OpenPatientById(id)`` builds a shipped stub patient (``None`` for an unknown id). Dispose it
        when done. Only one Application may be created per process: a second call raises
        ``FatalTpsNetException`` until :func:`reset`.
    """
    rt = configure(mode=mode, dose_unit=dose_unit)
    return rt.API.CustomScriptExecutable.CreateApplication(script_name)


def journal() -> List[JournalEntry]:
    """Every write recorded since the session started (:func:`load_context` or :func:`reset`).

    Returns
    -------
    list of JournalEntry
        In call order; writes refused by a guard are not recorded.
    """
    rt = runtime()
    return [JournalEntry(int(e.Sequence), str(e.ObjectType), str(e.ObjectId), str(e.Member),
                         tuple(str(a) for a in e.Arguments))
            for e in rt.Builder.StubSystem.GetJournal()]


def reset() -> None:
    """Dispose and forget the process's Application, end the session and clear the journal.

    Test support: Eclipse allows one Application per process for the program's whole run; this lets a
    test suite create another. The system configuration (mode, unit, hooks) is kept.
    """
    runtime().Builder.StubSystem.Reset()


def fail_dose_calculations(count: int = 1) -> None:
    """Fault injection: the next ``count`` ``CalculateDose()`` calls of this session return ``Success``
    False, journalled and leaving the plan as it was; later calls calculate normally.

    A transient dose-calculation failure, such as the Eclipse 16.1 one that a single retry works
    around (what ``EclipsePlanner.compute_dose`` does). Unlike ``configure(dose_engine_fails=True)``
    (the engine down for good, optimisation included), this is session state: call it after
    :func:`load_context` or :func:`create_application`; :func:`reset` and a new plug-in context clear it.

    Raises
    ------
    ValueError
        ``count`` below 0.
    """
    if int(count) != count or count < 0:
        raise ValueError(f"count must be a whole number >= 0, got {count!r}")
    runtime().Builder.StubSystem.DoseCalculationFailures = int(count)


def _failing_dose_engine(request: Any) -> bool:
    return False


#: Environment variables read by :func:`configure_from_environment` (for processes started by tests:
#: the Eclipse host executable, the stand-alone script).
ENVIRONMENT = {
    "REIRRAD_STUB_MODE": "clinical | research (default clinical)",
    "REIRRAD_STUB_DOSE_UNIT": "Gy | cGy (default: each patient's own unit)",
    "REIRRAD_STUB_FAULT": "dose-engine: every optimisation / dose calculation fails",
    "REIRRAD_STUB_DEFAULT_START": "RestartOptimization | ContinueOptimization | ...: what an optimisation "
                                  "without a start option does (default RestartOptimization)",
    "REIRRAD_STUB_CONTOUR_ADD": "xor | union: how AddContourOnImagePlane combines a contour with the plane's "
                                "segment (default xor)",
    "REIRRAD_STUB_SET_LOCK": "plans | approval: what locks a structure set - its own approval or an "
                             "approved or treated plan using it (default plans), or its approval only",
    "REIRRAD_STUB_JOURNAL": "path: export_journal_from_environment() writes the journal there as JSON",
}


def configure_from_environment() -> Any:
    """:func:`configure` with the settings of :data:`ENVIRONMENT` (unset: the defaults).

    Raises
    ------
    ValueError
        An unknown mode, unit or fault.
    """
    fault = os.environ.get("REIRRAD_STUB_FAULT", "")
    if fault not in ("", "dose-engine"):
        raise ValueError(f"REIRRAD_STUB_FAULT must be 'dose-engine' or unset, got {fault!r}")
    return configure(mode=os.environ.get("REIRRAD_STUB_MODE", "clinical"),
                     dose_unit=os.environ.get("REIRRAD_STUB_DOSE_UNIT") or None,
                     dose_engine_fails=fault == "dose-engine",
                     default_start_option=os.environ.get("REIRRAD_STUB_DEFAULT_START")
                     or "RestartOptimization",
                     contour_add=os.environ.get("REIRRAD_STUB_CONTOUR_ADD") or "xor",
                     set_lock=os.environ.get("REIRRAD_STUB_SET_LOCK") or "plans")


def export_journal_from_environment() -> Optional[Path]:
    """Write :func:`journal` as JSON to ``$REIRRAD_STUB_JOURNAL`` when it is set; return the path."""
    target = os.environ.get("REIRRAD_STUB_JOURNAL")
    if not target:
        return None
    path = Path(target)
    rows = [{"sequence": e.sequence, "object_type": e.object_type, "object_id": e.object_id,
             "member": e.member, "arguments": list(e.arguments)} for e in journal()]
    path.write_text(json.dumps({"journal": rows}, indent=2) + "\n", encoding="utf-8")
    return path


def read_exported_journal(path: Union[str, Path]) -> List[JournalEntry]:
    """The entries :func:`export_journal_from_environment` wrote to ``path``."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))["journal"]
    return [JournalEntry(int(r["sequence"]), r["object_type"], r["object_id"], r["member"],
                         tuple(r["arguments"])) for r in rows]
