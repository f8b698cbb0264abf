"""The dosimetrist's answers for one run, whichever TPS asks: from a file, a command line or the
confirmation dialog (:mod:`reirrad_tps.dialog`).

An answers file is YAML (or JSON, which YAML reads) with these keys, all optional except where a
launcher says otherwise::

    intent: isotoxic            # or limit-toxicity
    search: predictive          # or ladder
    objectives: standard        # or spatial (low-tolerance structures; default: the protocol's)
    dry_run: false
    planned_start: 2026-12-07   # first fraction of the new course (no TPS stores it)
    prior_dates: {PELVIS_45: 2024-06-07}   # last fraction of prior plans (COURSE/PLAN for a shared id)
    override_eligibility: null  # a reason (text), to proceed despite a stop finding; null or false: none
    protocol: uk-sabr-pelvis-reirradiation
    version: 2024B              # the TPS release (RayStation: required; never guessed)
    structures: {rectum: Rectum_new}        # OAR key -> structure id, over the automatic matching
    risk_factors: [diabetes]    # recorded (reirrad.review.RISK_FACTORS)
    conservation_factor: 1.0    # in (0, 1], scales the recovery credited (default: the protocol's)
    report: C:/reirrad/reports/LRRC-01.html     # write the HTML report there
    report_dir: C:/reirrad/reports              # or: each run's report, a new file in that folder
    audit_csv: C:/reirrad/audit.csv              # append the run's audit row there

``report_dir`` is for a deployment-wide answers file (the Eclipse host's INI key ``answers``, RayStation's
``REIRRAD_ANSWERS``): every run writes a report of its own there, named by patient, plan and time
(:func:`reirrad.outputs.report_in_folder`), where one ``report`` path would be replaced by the next run.
A file gives ``report`` or ``report_dir``, not both; a report path given on the command line is used
instead of ``report_dir``. A file read for every run (``read_answers(..., every_run=True)``: the Eclipse
host's INI ``answers``, RayStation's ``REIRRAD_ANSWERS``) may not hold one patient's answers
(:data:`ONE_PATIENT_KEYS`: dates, structures, risk factors, the conservation factor, an override reason,
one report file): they would apply to every patient. A run's own file is read over the department's,
key by key (:func:`read_layered_answers`), so it keeps the department's record unless it names its own.

Unknown keys are refused (a misspelt ``prior_date`` must not silently drop the dates). The file is read
by :mod:`reirrad.inputfiles` (a key given twice, aliases, keys that are not text and impossible dates
are refused, naming the key and its lines); dates must lie in 1900 … 2200 (:mod:`reirrad.bounds`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from reirrad._validate import as_date
from reirrad.cli import DEFAULT_PROTOCOL
from reirrad.errors import InputError, echo
from reirrad.inputfiles import read_yaml_file
from reirrad.outputs import OutputRequest, report_in_folder
from reirrad.workflow import WorkflowOptions

__all__ = ["ANSWER_KEYS", "ONE_PATIENT_KEYS", "RunAnswers", "parse_date", "read_answers",
           "read_layered_answers"]

ANSWER_KEYS = ("intent", "search", "objectives", "dry_run", "planned_start", "prior_dates",
               "override_eligibility", "protocol", "version", "structures", "risk_factors",
               "conservation_factor", "report", "report_dir", "audit_csv")


#: Keys that answer for one patient's run, refused in a file read for every run (``read_answers``'s
#: ``every_run``): an override reason there would override every patient's stop, a report path would be
#: replaced by each run, dates and structures belong to one patient.
ONE_PATIENT_KEYS = ("planned_start", "prior_dates", "structures", "risk_factors", "conservation_factor",
                    "override_eligibility", "report")


def parse_date(value: Any, what: str) -> dt.date:
    """``value`` (a date, or text ``YYYY-MM-DD``) as a date; InputError naming ``what`` otherwise."""
    return as_date(what, value, text=True)


@dataclass(frozen=True)
class RunAnswers:
    """What the dosimetrist decided for this run.

    Attributes
    ----------
    intent, search : str
        As :class:`reirrad.workflow.WorkflowOptions` (checked there).
    objectives : str, optional
        ``standard`` or ``spatial`` (:class:`reirrad.workflow.WorkflowOptions`); None: the protocol's.
    dry_run : bool
        Compute and report; write nothing to the TPS.
    planned_start : datetime.date, optional
        First fraction of the new course.
    prior_dates : mapping of str to datetime.date
        Last fraction of prior plans, by plan id, or ``COURSE/PLAN`` where two courses have a plan of that
        id (Eclipse; :func:`reirrad.priors.resolve_plan_keys`).
    override_eligibility : str, optional
        The recorded reason to proceed despite an eligibility stop.
    protocol : str
        Shipped protocol name or YAML path.
    version : str, optional
        The TPS release.
    structures : mapping of str to str
        OAR key → structure id chosen by the user (over the protocol's automatic matching).
    risk_factors : tuple of str
        Risk factors recorded for the conservation factor (keys of ``reirrad.review.RISK_FACTORS``).
    conservation_factor : float, optional
        In (0, 1]; None: the protocol's value.
    report, audit_csv : str, optional
        Where to write the HTML report and append the audit row (:func:`reirrad.runner.execute`).
    report_dir : str, optional
        A folder for each run's report, a new file there (:meth:`for_run`); used when ``report`` is None.
    report_new : bool
        ``report`` was named in ``report_dir`` by :meth:`for_run`: it never replaces a file
        (:attr:`reirrad.outputs.OutputRequest.report_new`). Not an answers-file key.
    """

    intent: str = "isotoxic"
    search: str = "predictive"
    objectives: Optional[str] = None
    dry_run: bool = False
    planned_start: Optional[dt.date] = None
    prior_dates: Mapping[str, dt.date] = field(default_factory=dict)
    override_eligibility: Optional[str] = None
    protocol: str = DEFAULT_PROTOCOL
    version: Optional[str] = None
    structures: Mapping[str, str] = field(default_factory=dict)
    risk_factors: Tuple[str, ...] = ()
    conservation_factor: Optional[float] = None
    report: Optional[str] = None
    audit_csv: Optional[str] = None
    report_dir: Optional[str] = None
    report_new: bool = False

    def __post_init__(self) -> None:
        factor = self.conservation_factor
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, float))
                                   or not 0.0 < factor <= 1.0):
            raise InputError(f"conservation_factor must be a number in (0, 1] (got {echo(factor)})")
        self.workflow_options()  # refuses an unknown intent, search, objectives or risk factor first

    def workflow_options(self) -> WorkflowOptions:
        """The engine's options for these answers."""
        return WorkflowOptions(intent=self.intent, search=self.search, dry_run=self.dry_run,
                               override_reason=self.override_eligibility,
                               conservation_factor=self.conservation_factor,
                               structure_overrides=dict(self.structures),
                               risk_factors=tuple(self.risk_factors), objectives=self.objectives)

    def updated(self, **changes: Any) -> RunAnswers:
        """A copy with ``changes`` (None values are ignored: "not given on the command line")."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def for_run(self, patient_id: str, plan_id: str, when: Optional[dt.datetime] = None) -> RunAnswers:
        """These answers with ``report`` set for one run: unchanged when ``report`` is given or no
        ``report_dir``; else a new file in ``report_dir`` named by the patient, the plan the user opened
        (on RayStation the clinician's plan, not the copy the run writes) and ``when`` (default: now;
        :func:`reirrad.outputs.report_in_folder`), committed without replacing any file (``report_new``).

        Raises
        ------
        reirrad.errors.InputError
            ``report_dir`` is not an existing folder, or its names for this run are all taken.
        """
        if self.report is not None or self.report_dir is None:
            return self
        start = when if when is not None else dt.datetime.now(dt.timezone.utc)
        report = report_in_folder("report_dir", self.report_dir, patient_id, plan_id, start)
        return replace(self, report=report, report_new=True)

    def outputs(self, json: Optional[str] = None) -> OutputRequest:
        """The run's outputs: the report and the audit CSV of these answers, and ``json``."""
        return OutputRequest(report=self.report, audit_csv=self.audit_csv, json=json,
                             report_new=self.report_new)


def _risk_and_structures(raw: Mapping[str, Any], source: str) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    structures = {} if raw.get("structures") is None else raw["structures"]
    if not isinstance(structures, Mapping):
        raise InputError(f"{source}: structures must map OAR keys to structure ids (got {echo(structures)})")
    values["structures"] = {str(k): _text(v, f"{source}: structures.{_short(k)}", "a structure id")
                            for k, v in structures.items()}
    factors = [] if raw.get("risk_factors") is None else raw["risk_factors"]
    if not isinstance(factors, (list, tuple)):
        raise InputError(f"{source}: risk_factors must be a list (got {echo(factors)})")
    values["risk_factors"] = tuple(_text(f, f"{source}: risk_factors", "a risk factor") for f in factors)
    if raw.get("conservation_factor") is not None:
        values["conservation_factor"] = raw["conservation_factor"]
    return values


#: What each text answer is, for messages.
_TEXT_KINDS = {"intent": "an intent", "search": "a search", "objectives": "an objectives mode",
               "protocol": "a protocol name or path", "override_eligibility": "a reason (text), or false",
               "report": "a file path", "audit_csv": "a file path", "report_dir": "a folder path"}


def _text(value: Any, where: str, kind: str) -> str:
    """``value`` when it is text; otherwise InputError (``false`` is not the reason "False", ``0`` not the
    path "0", ``{}`` not the structure "{}")."""
    if not isinstance(value, str):
        raise InputError(f"{where} must be {kind}, written as text (got {echo(value)} of type "
                         f"{type(value).__name__})")
    return value


def _version(version: Any, source: str) -> str:
    """The TPS release: 2024B is text, 15.6 a number in YAML; both name a release (a boolean or a list
    does not)."""
    if isinstance(version, bool) or not isinstance(version, (str, int, float)):
        raise InputError(f"{source}: version must name the TPS release, e.g. 2024B or 15.6 (got "
                         f"{echo(version)})")
    return str(version)


def _short(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 40 else text[:30] + "..."


def _texts(raw: Mapping[str, Any], source: str) -> Dict[str, Any]:
    """The text answers given (``override_eligibility: false`` is none); report and report_dir not both."""
    values: Dict[str, Any] = {}
    for key, kind in _TEXT_KINDS.items():
        if raw.get(key) is not None and not (key == "override_eligibility" and raw[key] is False):
            values[key] = _text(raw[key], f"{source}: {key}", kind)
    if "report" in values and "report_dir" in values:
        raise InputError(f"{source}: report ({values['report']}) and report_dir ({values['report_dir']}) are "
                         "both given; give report for one file, or report_dir for a new file per run")
    return values


def _mapping(raw: Mapping[str, Any], source: str) -> RunAnswers:
    unknown = sorted(set(map(str, raw)) - set(ANSWER_KEYS))
    if unknown:
        raise InputError(f"{source}: unknown key(s) {echo(unknown)}; the keys are {list(ANSWER_KEYS)}")
    values = _texts(raw, source)
    if raw.get("version") is not None:
        values["version"] = _version(raw["version"], source)
    if "dry_run" in raw:
        if not isinstance(raw["dry_run"], bool):
            raise InputError(f"{source}: dry_run must be true or false (got {echo(raw['dry_run'])})")
        values["dry_run"] = raw["dry_run"]
    if raw.get("planned_start") is not None:
        values["planned_start"] = parse_date(raw["planned_start"], f"{source}: planned_start")
    dates = raw.get("prior_dates") or {}
    if not isinstance(dates, Mapping):
        raise InputError(f"{source}: prior_dates must map plan ids to dates (got {echo(dates)})")
    values["prior_dates"] = {str(k): parse_date(v, f"{source}: prior_dates.{_short(k)}")
                             for k, v in dates.items()}
    values.update(_risk_and_structures(raw, source))
    try:
        return RunAnswers(**values)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _raw(path: str) -> Mapping[str, Any]:
    """An answers file's mapping (the strict reader's; an empty file is {})."""
    raw = read_yaml_file(Path(path), "answers file")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InputError(f"answers file {path}: must be a mapping of keys to values "
                         f"(got {type(raw).__name__})")
    return raw


def _refuse_one_patients(raw: Mapping[str, Any], path: str) -> None:
    """Refuse a file read for every run that holds one patient's answers (:data:`ONE_PATIENT_KEYS`)."""
    one_patient = [key for key in ONE_PATIENT_KEYS if raw.get(key) not in (None, False, {}, [])]
    if one_patient:
        raise InputError(f"answers file {path} is read for every run (a department's file: ReirradHost.ini's "
                         f"answers, or REIRRAD_ANSWERS) and holds one patient's answers {one_patient}: they "
                         "would apply to every patient; remove them (give them on the command line, in the "
                         "dialog or in a run's own answers file; report_dir instead of report)")


def read_answers(path: str, *, every_run: bool = False) -> RunAnswers:
    """Read an answers file (YAML or JSON).

    Parameters
    ----------
    path : str
        The file.
    every_run : bool
        The file is a department's, read for every run (the Eclipse host's INI ``answers``, RayStation's
        ``REIRRAD_ANSWERS``): keys that answer for one patient (:data:`ONE_PATIENT_KEYS`) are refused.

    Raises
    ------
    reirrad.errors.InputError
        The file is missing or unreadable, breaks a rule of the strict reader (:mod:`reirrad.inputfiles`),
        is not a mapping, has unknown keys or bad values, or (``every_run``) one patient's answers.
    """
    raw = _raw(path)
    if every_run:
        _refuse_one_patients(raw, path)
    return _mapping(raw, f"answers file {path}")


def read_layered_answers(department: Optional[str], run: Optional[str]) -> RunAnswers:
    """A department's file (read for every run, :func:`read_answers` ``every_run``) with a run's own
    file over it, key by key; either may be None.

    A run's own file therefore keeps the department's ``audit_csv`` and ``report_dir`` unless it gives
    its own (its ``report`` is used instead of the department's ``report_dir``): a run with its own
    answers is recorded like any other.

    Raises
    ------
    reirrad.errors.InputError
        As :func:`read_answers`, naming the file at fault (each is checked on its own first).
    """
    if department is None:
        return read_answers(run) if run is not None else RunAnswers()
    if run is None:
        return read_answers(department, every_run=True)
    base, own = _raw(department), _raw(run)
    _refuse_one_patients(base, department)
    _mapping(base, f"answers file {department}")
    _mapping(own, f"answers file {run}")
    merged = {**base, **own}
    if own.get("report") is not None:
        merged.pop("report_dir", None)
    return _mapping(merged, f"answers files {department} (the department's) and {run}")
