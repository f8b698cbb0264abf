"""Protocol files: the clinical numbers of a re-irradiation protocol, with their provenance.

A protocol is a YAML file (schema version 1, see ``docs/protocol-schema.md``) parsed into
frozen dataclasses. Every numeric value is a mapping ``{value, unit, source, status}``:

* ``unit`` is required for doses and must be ``Gy`` (a cGy value is refused, not converted:
  a protocol file is not a TPS boundary and a silently converted limit is a hazard);
* ``source`` names an entry of the file's ``sources:`` section;
* ``status`` is ``confirmed``, ``secondary-source`` or ``unverified``.

Loading is strict: the file is read by :mod:`reirrad.inputfiles` (duplicate keys, also duplicate
OARs, aliases and keys that are not text are refused there); unknown keys, wrong types,
implausible magnitudes (a dose limit above 200 Gy is taken to be cGy written as Gy) and
inconsistent combinations are refused with a :class:`reirrad.errors.ProtocolError` naming the
file, the key path and what was expected.

The shipped protocols live in ``reirrad/protocols/*.yaml``; :func:`list_protocols` lists them
and :func:`load_protocol` accepts a name or a path.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Pattern, Tuple, Union

from .bounds import MAX_PRESCRIPTION_GY
from .errors import InputError, InputFileError, ProtocolError
from .inputfiles import parse_yaml, read_input_bytes
from .metrics import Metric, parse_metric
from .recovery import RECOVERY_MODELS

__all__ = [
    "DECIDING_METHODS",
    "STATUSES",
    "CoverageRule",
    "CumulativeLimit",
    "CumulativeSpec",
    "DeNovoLimit",
    "OarSpec",
    "OptimisationStructureSettings",
    "PlanningRule",
    "Prescriptions",
    "Protocol",
    "PrvSetting",
    "Quantity",
    "RecoverySpec",
    "SensitivitySettings",
    "default_sensitivity",
    "list_protocols",
    "load_protocol",
    "parse_protocol",
]

STATUSES = ("confirmed", "secondary-source", "unverified")
SCHEMA_VERSION = 1
PROTOCOL_DIR = Path(__file__).resolve().parent / "protocols"

#: Largest dose (Gy) accepted anywhere in a protocol; larger values are almost surely cGy.
_MAX_PLAUSIBLE_GY = 200.0
_MAX_ALPHA_BETA_GY = 50.0
#: Smallest α/β (Gy) accepted: the lowest in clinical use are about 1 Gy (prostate 1.5, range 1.2-3;
#: docs/reference radiobiology.md); below 0.5 Gy a value is a typo or a slip of units (0.01 Gy was accepted
#: and printed as 0.0).
_MIN_ALPHA_BETA_GY = 0.5
#: Smallest PTV V95 % a coverage rule (and the target's coverage objective) may ask for: below half the PTV
#: it is no coverage rule, and a value of at most 1 is a fraction written for a percent (0.8 for 80 %
#: switched the rule off).
_MIN_COVERAGE_PCT = 50.0
_MAX_PRIORITY = 1000.0
_OAR_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_JG_CURVES = ("fitted", "cautious")
#: Longest structure name both TPSs take: Eclipse ``Structure.Id`` is at most 16 characters (the ESAPI
#: stand-in's ``CanAddStructure`` checks it; RayStation allows longer ROI names).
MAX_STRUCTURE_NAME_CHARS = 16
#: Characters kept free at the end of a created name for a disambiguating suffix ``_1`` … ``_9``.
NAME_SUFFIX_CHARS = 2
_NAME_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,5}_$")
_STRUCTURE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Largest margin (mm) any optimisation-structure operation may use: Eclipse's margin limit (50 mm, taken
#: as an assumption by the ESAPI stand-in) is the smaller of the two TPSs' (RayStation: 15 cm).
MAX_MARGIN_MM = 50.0


@dataclass(frozen=True)
class Quantity:
    """A protocol number with its unit and provenance.

    Attributes
    ----------
    value : float
        The number, in ``unit``.
    unit : str
        ``"Gy"``, ``"%"``, ``"months"``, ``"days"``, ``"mm"``, ``"cm3"`` or ``""`` (dimensionless).
    source : str
        Key of the protocol's ``sources`` section.
    status : str
        ``confirmed``, ``secondary-source`` or ``unverified``.
    key_path : str
        Where the value sits in the file, e.g. ``oars.rectum.cumulative_limit.eqd2``.
    """

    value: float
    unit: str
    source: str
    status: str
    key_path: str


@dataclass(frozen=True)
class CumulativeLimit:
    """Cumulative (all courses) EQD2 limit of an OAR at its α/β.

    ``includes_recovery`` True says the limit is a sum of the courses' *nominal* doses with the
    recovery between courses already inside it (Nieder 2006 for the spinal cord): no recovery is
    credited on top of it for this OAR, whatever the recovery model, and the result records that.
    """

    metric: Metric
    eqd2: Quantity
    includes_recovery: bool


@dataclass(frozen=True)
class DeNovoLimit:
    """Physical dose limits for the new course alone (n fractions of the protocol)."""

    metric: Metric
    mandatory: Quantity
    optimal: Optional[Quantity] = None


@dataclass(frozen=True)
class CourseConditions:
    """Conditions under which an OAR's cumulative limit is valid (e.g. Nieder 2006 cord).

    ``max_course_eqd2`` applies to every course: a prior course above it is a ``stop`` finding, and
    it caps the new course's allowed dose (``limited_by == "per-course"``). ``min_interval_months``
    applies to each prior course (a ``stop`` finding when shorter).
    """

    max_course_eqd2: Optional[Quantity] = None
    min_interval_months: Optional[Quantity] = None


@dataclass(frozen=True)
class OarSpec:
    """One organ at risk of a protocol.

    ``priority`` orders the optimisation objectives (higher first; the target's is
    ``planning.target_priority``); ``hard`` asks for a constraint where the TPS has them;
    ``optional`` OARs may be absent from the structure set (an absent non-optional OAR is a ``stop``);
    ``single_course_tolerance_eqd2`` is the organ's tolerance to one conventional course (EQD2 at
    its α/β), used by the Jones & Grant 2014 recovery model.
    """

    key: str
    label: str
    aliases: Tuple[str, ...]
    patterns: Tuple[Pattern[str], ...]
    alpha_beta: Quantity
    de_novo: DeNovoLimit
    priority: Quantity
    cumulative_limit: Optional[CumulativeLimit] = None
    course_conditions: Optional[CourseConditions] = None
    hard: bool = False
    optional: bool = False
    single_course_tolerance_eqd2: Optional[Quantity] = None

    def matches(self, structure_name: str) -> bool:
        """True when a structure name is one of the aliases (case-insensitive) or matches a pattern."""
        lowered = structure_name.strip().lower()
        if any(lowered == alias.lower() for alias in self.aliases):
            return True
        return any(p.search(structure_name.strip()) for p in self.patterns)


@dataclass(frozen=True)
class Prescriptions:
    """Prescription levels per intent (total physical dose in the protocol's fractions)."""

    limit_toxicity: Quantity
    isotoxic_ladder_gy: Tuple[float, ...]
    isotoxic_ladder: Quantity  # provenance of the ladder; value = its first level
    isotoxic_maximum: Quantity
    coverage_may_be_compromised: bool


@dataclass(frozen=True)
class CoverageRule:
    """Target coverage rule for escalation and BED reporting.

    ``tumour_dose_alpha_betas`` are the tumour α/β values (Gy) at which the result reports the
    prescription's BED and EQD2 and the achieved D95/D80 as EQD2 (``target.tumour_dose``);
    ``tumour_dose_alpha_beta`` carries their provenance (value = the first).
    """

    ptv_v95_min_percent: Quantity
    report_bed_threshold: Quantity
    tumour_alpha_beta: Quantity
    tumour_dose_alpha_betas_gy: Tuple[float, ...]
    tumour_dose_alpha_beta: Quantity


@dataclass(frozen=True)
class PlanningRule:
    """How allowed doses become optimisation objectives (see :mod:`reirrad.objectives`), and the
    thresholds of the workflow's reporting.

    ``target_priority`` is the target objectives' priority (OAR priorities are per OAR);
    ``limiting_oar_load_fraction`` (dimensionless) names an OAR "limiting" when its cumulative EQD2
    reaches this fraction of its limit; ``outside_grid_flag_percent`` flags a prior course whose dose
    grid misses more than this % of an OAR.
    """

    oar_objective_margin: Quantity
    target_coverage_volume_percent: Quantity
    target_max_dose_factor: Quantity
    target_priority: Quantity
    limiting_oar_load_fraction: Quantity
    outside_grid_flag_percent: Quantity


@dataclass(frozen=True)
class RecoverySpec:
    """Recovery model choice of a protocol."""

    model: str
    model_source: Quantity  # value unused (0); carries source and status of the model choice
    conservation_factor: Quantity
    jones_grant_curve: str


@dataclass(frozen=True)
class PrvSetting:
    """A planning-risk volume (PRV) for one OAR: the OAR grown isotropically by ``margin`` (mm).

    ``name`` is the created structure's name without the protocol's prefix (e.g. ``PRV_Cord``).
    """

    oar_key: str
    name: str
    margin: Quantity


@dataclass(frozen=True)
class OptimisationStructureSettings:
    """The protocol's ``optimisation_structures`` section (docs/optimisation-structures.md).

    Attributes
    ----------
    enabled : bool
        Whether the workflow creates optimisation structures at all.
    choice : Quantity
        Provenance (value unused, 0) of the choices without a number: ``enabled``, ``name_prefix``, the
        names, and which OARs get a PRV.
    name_prefix : str
        Prefix of every created structure's name (a letter, up to 5 letters or digits, ``_``).
    target_opt_name, ring_name : str
        Names (without prefix) of the optimisation target and the ring.
    prvs : tuple of PrvSetting
        One per OAR that gets a PRV, in file order.
    subtract_factor : Quantity
        Dimensionless: an OAR whose allowed dose is below prescription × this factor is subtracted
        (as its PRV when it has one) from the PTV to make the optimisation target.
    ring_gap : Quantity
        mm between the PTV surface and the ring's inner surface (0 allowed).
    ring_width : Quantity
        mm from the ring's inner to its outer surface.
    volume_tolerance_percent : Quantity
        % of the expected volume; with ``volume_tolerance_cc`` the agreement asked of the TPS's volumes.
    volume_tolerance_cc : Quantity
        cm³; a TPS volume differing from the engine's by more than both tolerances is flagged.
    spatial_objectives : bool
        Whether a planning run makes the **low-tolerance** structures of spatial objectives
        (:mod:`reirrad.spatial`) by default (``reirrad plan --objectives`` overrides; the optional
        ``spatial_objectives`` entry, absent = off).
    spatial_choice : Quantity or None
        Provenance of that choice (None when the entry is absent).
    """

    enabled: bool
    choice: Quantity
    name_prefix: str
    target_opt_name: str
    ring_name: str
    prvs: Tuple[PrvSetting, ...]
    subtract_factor: Quantity
    ring_gap: Quantity
    ring_width: Quantity
    volume_tolerance_percent: Quantity
    volume_tolerance_cc: Quantity
    spatial_objectives: bool = False
    spatial_choice: Optional[Quantity] = None

    def prv(self, oar_key: str) -> Optional[PrvSetting]:
        """The PRV setting of an OAR, None when the OAR gets no PRV."""
        for setting in self.prvs:
            if setting.oar_key == oar_key:
                return setting
        return None

    def names(self) -> Tuple[str, ...]:
        """Every name (with prefix, without suffix) the recipe may create."""
        bases = (self.target_opt_name, *(p.name for p in self.prvs), self.ring_name)
        return tuple(self.name_prefix + b for b in bases)


#: Which cumulative method decides whether an OAR passes (docs/clinical-decisions.md 37): the guidance's
#: metric sum, the voxel-wise cumulative EQD2 (a documented local choice), or both (each must pass).
DECIDING_METHODS = ("metric-sum", "both", "voxel-wise")


@dataclass(frozen=True)
class CumulativeSpec:
    """The protocol's ``cumulative`` section: which method decides (:data:`DECIDING_METHODS`).

    ``deciding_source`` carries the source and status of that choice (value unused, 0). A protocol without
    the section decides by ``metric-sum``, the guidance's method, with source ``reirrad-default``.
    """

    deciding_method: str
    deciding_source: Quantity


@dataclass(frozen=True)
class SensitivitySettings:
    """The protocol's ``sensitivity`` section: the ranges of :mod:`reirrad.sensitivity`.

    Attributes
    ----------
    alpha_beta_step : Quantity
        Gy: each OAR's α/β is varied by ± this step (the same α/β for the prior and the new course).
    interval_tolerance : Quantity
        days: every prior course's interval is varied by ± this many days.
    registration_margin : Quantity
        mm: the prior metric dose is raised by how much the prior dose's maximum grows within this
        distance of the OAR (where a prior dose grid exists).
    cautious_conservation_factor : Quantity
        Dimensionless in (0, 1]: the cautious alternative to the current conservation factor.
    flag_threshold_percent : Quantity
        %: a limiting OAR whose allowed dose changes by more than this within the ranges gets the
        ``sensitive-decision`` flag.

    A protocol without the section gets :func:`default_sensitivity` (source ``reirrad-default``).
    """

    alpha_beta_step: Quantity
    interval_tolerance: Quantity
    registration_margin: Quantity
    cautious_conservation_factor: Quantity
    flag_threshold_percent: Quantity


#: (key, unit, default value) of the ``sensitivity`` section, in file order.
SENSITIVITY_DEFAULTS: Tuple[Tuple[str, str, float], ...] = (
    ("alpha_beta_step", "Gy", 1.0),
    ("interval_tolerance", "days", 30.0),
    ("registration_margin", "mm", 3.0),
    ("cautious_conservation_factor", "", 0.5),
    ("flag_threshold_percent", "%", 10.0),
)


def default_sensitivity() -> SensitivitySettings:
    """The ranges used when a protocol has no ``sensitivity`` section (docs/clinical-decisions.md 39)."""
    return SensitivitySettings(**{
        key: Quantity(value, unit, "reirrad-default", "unverified", f"sensitivity.{key}")
        for key, unit, value in SENSITIVITY_DEFAULTS})


@dataclass(frozen=True)
class Protocol:
    """A parsed, validated protocol file.

    ``optimisation_structures`` is optional in the file (schema version 1): without it the protocol
    loads as before and no optimisation structures are made (there are no built-in defaults).
    """

    name: str
    title: str
    version: str
    path: str
    sha256: str
    sources: Mapping[str, Mapping[str, str]]
    n_fractions: int
    n_fractions_quantity: Quantity
    prescriptions: Prescriptions
    coverage_rule: CoverageRule
    planning: PlanningRule
    recovery: RecoverySpec
    background_alpha_beta: Quantity
    oars: Tuple[OarSpec, ...]
    #: None when the file has no ``optimisation_structures`` section: no optimisation structures are made.
    optimisation_structures: Optional[OptimisationStructureSettings] = None
    #: which cumulative method decides; the guidance's metric sum when the file has no ``cumulative``
    cumulative: CumulativeSpec = field(default_factory=lambda: CumulativeSpec(
        "metric-sum", Quantity(0.0, "", "reirrad-default", "unverified", "cumulative.deciding_source")))
    #: the ranges of the sensitivity analysis; :func:`default_sensitivity` when the file has none
    sensitivity: SensitivitySettings = field(default_factory=default_sensitivity)

    def oar(self, key: str) -> OarSpec:
        """The OAR with protocol key ``key``.

        Raises
        ------
        reirrad.errors.InputError
            For an unknown key, listing the protocol's keys.
        """
        for spec in self.oars:
            if spec.key == key:
                return spec
        raise InputError(
            f"protocol {self.name!r} has no OAR {key!r}; its OARs are {[o.key for o in self.oars]}"
        )

    @property
    def oar_keys(self) -> Tuple[str, ...]:
        """Protocol OAR keys in file order."""
        return tuple(o.key for o in self.oars)

    def quantities(self) -> List[Quantity]:
        """Every provenanced number of the protocol, in file order."""
        found: List[Quantity] = []
        _collect_quantities(self, found)
        return found

    def value_statuses(self) -> Dict[str, str]:
        """Mapping of key path → status for every provenanced value."""
        return {q.key_path: q.status for q in self.quantities()}

    def provenance(self) -> Dict[str, Any]:
        """Summary for a result's provenance block."""
        counts = {s: 0 for s in STATUSES}
        for q in self.quantities():
            counts[q.status] += 1
        return {"name": self.name, "version": self.version, "path": self.path,
                "sha256": self.sha256, "status_counts": counts}


def _collect_quantities(obj: Any, out: List[Quantity]) -> None:
    if isinstance(obj, Quantity):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _collect_quantities(item, out)
    elif hasattr(obj, "__dataclass_fields__") and not isinstance(obj, Metric):
        for name in obj.__dataclass_fields__:
            _collect_quantities(getattr(obj, name), out)


# --------------------------------------------------------------------------------------
# Parsing


class _Reader:
    """Walks the raw mapping, raising ProtocolError with the file and key path."""

    def __init__(self, path: str, sources: Optional[Mapping[str, Any]] = None) -> None:
        self.path = path
        self.sources: Mapping[str, Any] = sources or {}

    def fail(self, key_path: str, problem: str) -> ProtocolError:
        return ProtocolError(self.path, key_path, problem)

    def mapping(self, raw: Any, key_path: str, required: Tuple[str, ...],
                optional: Tuple[str, ...] = ()) -> Dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(key_path, f"expected a mapping, got {type(raw).__name__} {raw!r}")
        missing = [k for k in required if k not in raw]
        unknown = [k for k in raw if k not in required and k not in optional]
        if missing:
            also = f"; unknown key(s) here: {unknown} - a misspelling?" if unknown else ""
            raise self.fail(f"{key_path}.{missing[0]}" if key_path else missing[0],
                            f"required key is missing (expected keys: {list(required)}){also}")
        if unknown:
            where = f"{key_path}.{unknown[0]}" if key_path else str(unknown[0])
            raise self.fail(where, f"unknown key; allowed here: {sorted(required + optional)}")
        return raw

    def text(self, raw: Any, key_path: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(key_path, f"expected non-empty text, got {raw!r}")
        return raw.strip()

    def boolean(self, raw: Any, key_path: str) -> bool:
        if not isinstance(raw, bool):
            raise self.fail(key_path, f"expected true or false, got {raw!r}")
        return raw

    def number(self, raw: Any, key_path: str) -> float:
        if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
            raise self.fail(key_path, f"expected a number, got {type(raw).__name__} {raw!r}")
        value = float(raw)
        if not math.isfinite(value):
            raise self.fail(key_path, f"expected a finite number, got {raw!r}")
        return value

    def provenance(self, raw: Dict[str, Any], key_path: str) -> Tuple[str, str]:
        source = self.text(raw["source"], f"{key_path}.source")
        if source not in self.sources:
            raise self.fail(f"{key_path}.source",
                            f"source {source!r} is not defined under 'sources' "
                            f"(defined: {sorted(self.sources)})")
        status = raw["status"]
        if status not in STATUSES:
            raise self.fail(f"{key_path}.status",
                            f"status must be one of {list(STATUSES)}, got {status!r}")
        return source, status

    def choice_source(self, raw: Any, key_path: str) -> Quantity:
        """The provenance ``{source, status}`` of a choice without a number, as a Quantity of value 0."""
        source, status = self.provenance(self.mapping(raw, key_path, ("source", "status")), key_path)
        return Quantity(0.0, "", source, status, key_path)

    def quantity(self, raw: Any, key_path: str, unit: str, *, minimum: float = 0.0,
                 strictly_positive: bool = True, maximum: Optional[float] = None) -> Quantity:
        required = ("value", "unit", "source", "status") if unit else ("value", "source", "status")
        fields = self.mapping(raw, key_path, required)
        if unit:
            given = raw["unit"]
            if given != unit:
                hint = " (convert to Gy: 1 Gy = 100 cGy)" if str(given).lower() == "cgy" else ""
                raise self.fail(f"{key_path}.unit", f"unit must be {unit!r}, got {given!r}{hint}")
        value = self.number(fields["value"], f"{key_path}.value")
        fraction = unit == "%" and 0 < value <= 1
        hint = "; a fraction written for a percent? write 80 for 80 %" if fraction else ""
        if strictly_positive and not value > minimum:
            raise self.fail(f"{key_path}.value", f"must be > {minimum:g} {unit}, got {value:g}{hint}")
        if not strictly_positive and value < minimum:
            raise self.fail(f"{key_path}.value", f"must be >= {minimum:g} {unit}, got {value:g}{hint}")
        if maximum is not None and value > maximum:
            hint = ""
            if unit == "Gy" and maximum == _MAX_PLAUSIBLE_GY:
                hint = "; this looks like a value in cGy - write it in Gy"
            raise self.fail(f"{key_path}.value",
                            f"{value:g} {unit} is above the plausible maximum {maximum:g} {unit}{hint}")
        source, status = self.provenance(fields, key_path)
        return Quantity(value=value, unit=unit, source=source, status=status, key_path=key_path)

    def alpha_beta(self, raw: Any, key_path: str) -> Quantity:
        """An α/β in Gy, within [:data:`_MIN_ALPHA_BETA_GY`, :data:`_MAX_ALPHA_BETA_GY`]."""
        return self.quantity(raw, key_path, "Gy", minimum=_MIN_ALPHA_BETA_GY, strictly_positive=False,
                             maximum=_MAX_ALPHA_BETA_GY)

    def dose(self, raw: Any, key_path: str) -> Quantity:
        return self.quantity(raw, key_path, "Gy", maximum=_MAX_PLAUSIBLE_GY)

    def metric(self, raw: Any, key_path: str) -> Metric:
        try:
            return parse_metric(raw)
        except InputError as exc:
            raise self.fail(key_path, str(exc)) from None


def _parse_sources(reader: _Reader, raw: Any) -> Dict[str, Dict[str, str]]:
    if not isinstance(raw, dict) or not raw:
        raise reader.fail("sources", "expected a non-empty mapping of source id -> {citation, doi}")
    out: Dict[str, Dict[str, str]] = {}
    for key, entry in raw.items():
        path = f"sources.{key}"
        fields = reader.mapping(entry, path, ("citation",), ("doi", "url"))
        out[str(key)] = {k: reader.text(v, f"{path}.{k}") for k, v in fields.items()}
    return out


def _parse_prescriptions(reader: _Reader, raw: Any) -> Prescriptions:
    top = reader.mapping(raw, "prescriptions", ("limit-toxicity", "isotoxic"))
    lt = reader.mapping(top["limit-toxicity"], "prescriptions.limit-toxicity", ("dose",),
                        ("coverage_may_be_compromised",))
    lt_dose = reader.dose(lt["dose"], "prescriptions.limit-toxicity.dose")
    compromise = reader.boolean(lt.get("coverage_may_be_compromised", False),
                                "prescriptions.limit-toxicity.coverage_may_be_compromised")
    iso = reader.mapping(top["isotoxic"], "prescriptions.isotoxic", ("ladder", "maximum_dose"))
    maximum = reader.dose(iso["maximum_dose"], "prescriptions.isotoxic.maximum_dose")
    if maximum.value > MAX_PRESCRIPTION_GY:
        raise reader.fail("prescriptions.isotoxic.maximum_dose.value",
                          f"{maximum.value:g} Gy is above the absolute prescription ceiling of "
                          f"{MAX_PRESCRIPTION_GY:g} Gy (reirrad.bounds); no protocol may prescribe more")
    lpath = "prescriptions.isotoxic.ladder"
    ladder = reader.mapping(iso["ladder"], lpath, ("values", "unit", "source", "status"))
    if ladder["unit"] != "Gy":
        hint = " (convert to Gy: 1 Gy = 100 cGy)" if str(ladder["unit"]).lower() == "cgy" else ""
        raise reader.fail(f"{lpath}.unit", f"unit must be 'Gy', got {ladder['unit']!r}{hint}")
    values_raw = ladder["values"]
    if not isinstance(values_raw, list) or not values_raw:
        raise reader.fail(f"{lpath}.values", f"expected a non-empty list of doses, got {values_raw!r}")
    values = tuple(reader.number(v, f"{lpath}.values[{i}]") for i, v in enumerate(values_raw))
    for i, v in enumerate(values):
        if not 0.0 < v <= maximum.value:
            raise reader.fail(f"{lpath}.values[{i}]",
                              f"{v:g} Gy must be > 0 and <= maximum_dose {maximum.value:g} Gy")
        if i and v <= values[i - 1]:
            raise reader.fail(f"{lpath}.values[{i}]",
                              f"the ladder must increase strictly ({values[i - 1]:g} then {v:g} Gy)")
    source, status = reader.provenance(ladder, lpath)
    if lt_dose.value > maximum.value:
        raise reader.fail("prescriptions.limit-toxicity.dose.value",
                          f"{lt_dose.value:g} Gy exceeds the isotoxic maximum {maximum.value:g} Gy")
    return Prescriptions(
        limit_toxicity=lt_dose,
        isotoxic_ladder_gy=values,
        isotoxic_ladder=Quantity(values[0], "Gy", source, status, lpath),
        isotoxic_maximum=maximum,
        coverage_may_be_compromised=compromise,
    )


def _parse_coverage(reader: _Reader, raw: Any) -> CoverageRule:
    cov = reader.mapping(raw, "coverage_rule",
                         ("ptv_v95_min_percent", "report_bed_threshold", "tumour_alpha_beta",
                          "tumour_dose_alpha_betas"))
    tpath = "coverage_rule.tumour_dose_alpha_betas"
    tumour = reader.mapping(cov["tumour_dose_alpha_betas"], tpath, ("values", "unit", "source", "status"))
    if tumour["unit"] != "Gy":
        raise reader.fail(f"{tpath}.unit", f"unit must be 'Gy', got {tumour['unit']!r}")
    raw_values = tumour["values"]
    if not isinstance(raw_values, list) or not raw_values:
        raise reader.fail(f"{tpath}.values",
                          f"expected a non-empty list of alpha/beta values, got {raw_values!r}")
    abs_gy = tuple(reader.number(v, f"{tpath}.values[{i}]") for i, v in enumerate(raw_values))
    for i, v in enumerate(abs_gy):
        if not _MIN_ALPHA_BETA_GY <= v <= _MAX_ALPHA_BETA_GY:
            raise reader.fail(f"{tpath}.values[{i}]",
                              f"{v:g} Gy must be >= {_MIN_ALPHA_BETA_GY:g} and <= {_MAX_ALPHA_BETA_GY:g} Gy")
    if len(set(abs_gy)) != len(abs_gy):
        raise reader.fail(f"{tpath}.values", f"each alpha/beta once, got {list(abs_gy)}")
    t_source, t_status = reader.provenance(tumour, tpath)
    return CoverageRule(
        tumour_dose_alpha_betas_gy=abs_gy,
        tumour_dose_alpha_beta=Quantity(abs_gy[0], "Gy", t_source, t_status, tpath),
        ptv_v95_min_percent=reader.quantity(cov["ptv_v95_min_percent"],
                                            "coverage_rule.ptv_v95_min_percent", "%", maximum=100.0,
                                            minimum=_MIN_COVERAGE_PCT, strictly_positive=False),
        report_bed_threshold=reader.dose(cov["report_bed_threshold"],
                                         "coverage_rule.report_bed_threshold"),
        tumour_alpha_beta=reader.alpha_beta(cov["tumour_alpha_beta"], "coverage_rule.tumour_alpha_beta"),
    )


def _parse_planning(reader: _Reader, raw: Any) -> PlanningRule:
    plan = reader.mapping(raw, "planning", ("oar_objective_margin", "target_coverage_volume_percent",
                                            "target_max_dose_factor", "target_priority",
                                            "limiting_oar_load_fraction", "outside_grid_flag_percent"))
    factor = reader.quantity(plan["target_max_dose_factor"], "planning.target_max_dose_factor", "",
                             maximum=3.0)
    if factor.value < 1.0:
        raise reader.fail("planning.target_max_dose_factor.value",
                          f"must be >= 1 (a maximum below the prescription), got {factor.value:g}")
    return PlanningRule(
        oar_objective_margin=reader.quantity(plan["oar_objective_margin"], "planning.oar_objective_margin",
                                             "Gy", strictly_positive=False, maximum=10.0),
        target_coverage_volume_percent=reader.quantity(
            plan["target_coverage_volume_percent"], "planning.target_coverage_volume_percent", "%",
            maximum=100.0, minimum=_MIN_COVERAGE_PCT, strictly_positive=False),
        target_max_dose_factor=factor,
        target_priority=reader.quantity(plan["target_priority"], "planning.target_priority", "",
                                        maximum=_MAX_PRIORITY),
        limiting_oar_load_fraction=reader.quantity(plan["limiting_oar_load_fraction"],
                                                   "planning.limiting_oar_load_fraction", "", maximum=1.0),
        outside_grid_flag_percent=reader.quantity(plan["outside_grid_flag_percent"],
                                                  "planning.outside_grid_flag_percent", "%",
                                                  strictly_positive=False, maximum=100.0),
    )


def _parse_recovery(reader: _Reader, raw: Any) -> RecoverySpec:
    rec = reader.mapping(raw, "recovery", ("model", "model_source", "conservation_factor"),
                         ("jones_grant_curve",))
    model = rec["model"]
    if model not in RECOVERY_MODELS:
        raise reader.fail("recovery.model",
                          f"unknown recovery model {model!r}; expected one of {list(RECOVERY_MODELS)}")
    model_source = reader.choice_source(rec["model_source"], "recovery.model_source")
    factor = reader.quantity(rec["conservation_factor"], "recovery.conservation_factor", "",
                             maximum=1.0)
    curve = rec.get("jones_grant_curve", "cautious")
    if curve not in _JG_CURVES:
        raise reader.fail("recovery.jones_grant_curve",
                          f"expected one of {list(_JG_CURVES)}, got {curve!r}")
    return RecoverySpec(model=model,
                        model_source=model_source,
                        conservation_factor=factor, jones_grant_curve=curve)


def _parse_cumulative(reader: _Reader, raw: Any) -> CumulativeSpec:
    section = reader.mapping(raw, "cumulative", ("deciding_method", "deciding_source"), ())
    method = section["deciding_method"]
    if method not in DECIDING_METHODS:
        raise reader.fail("cumulative.deciding_method",
                          f"expected one of {list(DECIDING_METHODS)}, got {method!r}")
    source = reader.choice_source(section["deciding_source"], "cumulative.deciding_source")
    return CumulativeSpec(method, source)


def _parse_sensitivity(reader: _Reader, raw: Any) -> SensitivitySettings:
    keys = tuple(key for key, _, _ in SENSITIVITY_DEFAULTS)
    section = reader.mapping(raw, "sensitivity", keys)
    step = reader.quantity(section["alpha_beta_step"], "sensitivity.alpha_beta_step", "Gy", maximum=10.0)
    days = reader.quantity(section["interval_tolerance"], "sensitivity.interval_tolerance", "days",
                           maximum=365.0)
    margin = reader.quantity(section["registration_margin"], "sensitivity.registration_margin", "mm",
                             maximum=20.0)
    factor = reader.quantity(section["cautious_conservation_factor"],
                             "sensitivity.cautious_conservation_factor", "", maximum=1.0)
    threshold = reader.quantity(section["flag_threshold_percent"], "sensitivity.flag_threshold_percent", "%",
                                maximum=100.0)
    return SensitivitySettings(step, days, margin, factor, threshold)


def _parse_conditions(reader: _Reader, raw: Any, cc_path: str) -> CourseConditions:
    cc = reader.mapping(raw, cc_path, (), ("max_course_eqd2", "min_interval_months"))
    return CourseConditions(
        max_course_eqd2=(reader.dose(cc["max_course_eqd2"], f"{cc_path}.max_course_eqd2")
                         if "max_course_eqd2" in cc else None),
        min_interval_months=(reader.quantity(cc["min_interval_months"], f"{cc_path}.min_interval_months",
                                             "months", maximum=120.0)
                             if "min_interval_months" in cc else None),
    )


def _parse_oar(reader: _Reader, key: Any, raw: Any) -> OarSpec:
    path = f"oars.{key}"
    if not isinstance(key, str) or not _OAR_KEY_RE.match(key):
        raise reader.fail(path, f"OAR key must be lower_snake_case text such as 'small_bowel', got {key!r}")
    fields = reader.mapping(raw, path, ("label", "aliases", "alpha_beta", "de_novo", "priority"),
                            ("patterns", "cumulative_limit", "course_conditions", "hard", "optional",
                             "single_course_tolerance_eqd2"))
    label = reader.text(fields["label"], f"{path}.label")
    aliases_raw = fields["aliases"]
    if not isinstance(aliases_raw, list) or not aliases_raw:
        raise reader.fail(f"{path}.aliases",
                          f"expected a non-empty list of structure names, got {aliases_raw!r}")
    aliases = tuple(reader.text(a, f"{path}.aliases[{i}]") for i, a in enumerate(aliases_raw))
    patterns_raw = fields.get("patterns", [])
    if not isinstance(patterns_raw, list):
        raise reader.fail(f"{path}.patterns",
                          f"expected a list of regular expressions, got {patterns_raw!r}")
    patterns = []
    for i, p in enumerate(patterns_raw):
        text = reader.text(p, f"{path}.patterns[{i}]")
        try:
            patterns.append(re.compile(text))
        except re.error as exc:
            raise reader.fail(f"{path}.patterns[{i}]",
                              f"invalid regular expression {text!r}: {exc}") from None
    alpha_beta = reader.alpha_beta(fields["alpha_beta"], f"{path}.alpha_beta")

    dn_path = f"{path}.de_novo"
    dn = reader.mapping(fields["de_novo"], dn_path, ("metric", "mandatory"), ("optimal",))
    dn_metric = reader.metric(dn["metric"], f"{dn_path}.metric")
    mandatory = reader.dose(dn["mandatory"], f"{dn_path}.mandatory")
    optimal = reader.dose(dn["optimal"], f"{dn_path}.optimal") if "optimal" in dn else None
    if optimal is not None and optimal.value > mandatory.value:
        raise reader.fail(f"{dn_path}.optimal.value",
                          f"optimal {optimal.value:g} Gy is above mandatory {mandatory.value:g} Gy; "
                          "the optimal limit must be the stricter one")
    de_novo = DeNovoLimit(metric=dn_metric, mandatory=mandatory, optimal=optimal)

    cumulative = None
    if "cumulative_limit" in fields:
        cl_path = f"{path}.cumulative_limit"
        cl = reader.mapping(fields["cumulative_limit"], cl_path, ("metric", "eqd2", "includes_recovery"))
        cl_metric = reader.metric(cl["metric"], f"{cl_path}.metric")
        if cl_metric != dn_metric:
            raise reader.fail(f"{cl_path}.metric",
                              f"cumulative metric {cl_metric.name} differs from de novo metric "
                              f"{dn_metric.name}; the planning limit is min(remaining, de novo) and "
                              "needs one metric")
        cumulative = CumulativeLimit(
            metric=cl_metric,
            eqd2=reader.dose(cl["eqd2"], f"{cl_path}.eqd2"),
            includes_recovery=reader.boolean(cl["includes_recovery"], f"{cl_path}.includes_recovery"),
        )

    conditions = (_parse_conditions(reader, fields["course_conditions"], f"{path}.course_conditions")
                  if "course_conditions" in fields else None)
    tolerance = (reader.dose(fields["single_course_tolerance_eqd2"], f"{path}.single_course_tolerance_eqd2")
                 if "single_course_tolerance_eqd2" in fields else None)
    return OarSpec(key=key, label=label, aliases=aliases, patterns=tuple(patterns),
                   alpha_beta=alpha_beta, de_novo=de_novo, cumulative_limit=cumulative,
                   course_conditions=conditions,
                   priority=reader.quantity(fields["priority"], f"{path}.priority", "",
                                            maximum=_MAX_PRIORITY),
                   hard=reader.boolean(fields.get("hard", False), f"{path}.hard"),
                   optional=reader.boolean(fields.get("optional", False), f"{path}.optional"),
                   single_course_tolerance_eqd2=tolerance)


def _structure_name(reader: _Reader, raw: Any, key_path: str, prefix: str) -> str:
    name = reader.text(raw, key_path)
    if not _STRUCTURE_NAME_RE.match(name):
        raise reader.fail(key_path, "a structure name must start with a letter and hold only letters, "
                                    f"digits and '_' (got {name!r})")
    room = MAX_STRUCTURE_NAME_CHARS - NAME_SUFFIX_CHARS - len(prefix)
    if len(name) > room:
        raise reader.fail(key_path, f"{name!r} is {len(name)} characters; with the prefix {prefix!r} at most "
                                    f"{room} fit (Eclipse takes {MAX_STRUCTURE_NAME_CHARS}-character ids and "
                                    f"{NAME_SUFFIX_CHARS} are kept for a suffix such as '_1'); shorten it")
    return name


def _parse_optimisation_structures(reader: _Reader, raw: Any,
                                   oars: Tuple[OarSpec, ...]) -> OptimisationStructureSettings:
    path = "optimisation_structures"
    top = reader.mapping(raw, path, ("enabled", "choice_source", "name_prefix", "target_opt_name", "prv",
                                     "subtract_factor", "ring", "volume_tolerance"), ("spatial_objectives",))
    enabled = reader.boolean(top["enabled"], f"{path}.enabled")
    choice = reader.choice_source(top["choice_source"], f"{path}.choice_source")
    prefix = top["name_prefix"]
    if not isinstance(prefix, str) or not _NAME_PREFIX_RE.match(prefix):
        raise reader.fail(f"{path}.name_prefix",
                          f"expected a letter, up to 5 more letters or digits, then '_' (e.g. 'zRR_'), got "
                          f"{prefix!r}")
    target_name = _structure_name(reader, top["target_opt_name"], f"{path}.target_opt_name", prefix)
    factor = reader.quantity(top["subtract_factor"], f"{path}.subtract_factor", "", maximum=1.5)
    if factor.value < 0.5:
        raise reader.fail(f"{path}.subtract_factor.value",
                          f"must be in [0.5, 1.5] (got {factor.value:g}): the optimisation target keeps the "
                          "PTV only where an OAR allows about the prescription")
    prv_raw = top["prv"]
    if not isinstance(prv_raw, dict):
        raise reader.fail(f"{path}.prv", f"expected a mapping OAR key -> {{name, margin}}, got {prv_raw!r}")
    keys = [o.key for o in oars]
    prvs = []
    for key, entry in prv_raw.items():
        ppath = f"{path}.prv.{key}"
        if key not in keys:
            raise reader.fail(ppath, f"{key!r} is not an OAR of this protocol (its OARs: {keys})")
        fields = reader.mapping(entry, ppath, ("name", "margin"))
        margin = reader.quantity(fields["margin"], f"{ppath}.margin", "mm", maximum=20.0)
        if margin.value < 1.0:
            raise reader.fail(f"{ppath}.margin.value",
                              f"{margin.value:g} mm is below 1 mm, smaller than any dose grid resolves; the "
                              "margin is in mm (not cm), and an OAR without a PRV is left out of 'prv'")
        prvs.append(PrvSetting(key, _structure_name(reader, fields["name"], f"{ppath}.name", prefix), margin))
    ring = reader.mapping(top["ring"], f"{path}.ring", ("name", "gap", "width"))
    ring_name = _structure_name(reader, ring["name"], f"{path}.ring.name", prefix)
    gap = reader.quantity(ring["gap"], f"{path}.ring.gap", "mm", strictly_positive=False, maximum=30.0)
    width = reader.quantity(ring["width"], f"{path}.ring.width", "mm", minimum=2.0, strictly_positive=False,
                            maximum=40.0)
    if gap.value + width.value > MAX_MARGIN_MM:
        raise reader.fail(f"{path}.ring.width.value",
                          f"gap {gap.value:g} mm + width {width.value:g} mm exceeds {MAX_MARGIN_MM:g} mm, "
                          "the largest margin Eclipse takes; make the ring narrower or closer")
    tol = reader.mapping(top["volume_tolerance"], f"{path}.volume_tolerance", ("percent", "cc"))
    spatial, spatial_choice = False, None
    if "spatial_objectives" in top:
        spath = f"{path}.spatial_objectives"
        entry = reader.mapping(top["spatial_objectives"], spath, ("enabled", "source", "status"))
        spatial = reader.boolean(entry["enabled"], f"{spath}.enabled")
        spatial_choice = reader.choice_source({"source": entry["source"], "status": entry["status"]}, spath)
    settings = OptimisationStructureSettings(
        enabled=enabled, choice=choice,
        name_prefix=prefix, target_opt_name=target_name, ring_name=ring_name, prvs=tuple(prvs),
        subtract_factor=factor, ring_gap=gap, ring_width=width,
        volume_tolerance_percent=reader.quantity(tol["percent"], f"{path}.volume_tolerance.percent", "%",
                                                 maximum=50.0),
        volume_tolerance_cc=reader.quantity(tol["cc"], f"{path}.volume_tolerance.cc", "cm3", maximum=50.0),
        spatial_objectives=spatial, spatial_choice=spatial_choice)
    _check_created_names(reader, settings, oars)
    return settings


def _check_created_names(reader: _Reader, settings: OptimisationStructureSettings,
                         oars: Tuple[OarSpec, ...]) -> None:
    """Created names are distinct (case-insensitively) and, with any suffix, never taken for an OAR (the next
    run would otherwise match reirrad's own PRV as the clinician's organ)."""
    path = "optimisation_structures"
    seen: Dict[str, str] = {}
    for name in settings.names():
        if name.lower() in seen:
            raise reader.fail(path, f"two created structures would both be named {name!r} (names are "
                                    "compared without regard to case); give them different names")
        seen[name.lower()] = name
        for candidate in (name, *(f"{name}_{i}" for i in range(1, 10))):
            hit = [o.key for o in oars if o.matches(candidate)]
            if hit:
                raise reader.fail(path, f"the created structure name {candidate!r} would be matched as "
                                        f"OAR {hit[0]!r} (its aliases or patterns); change the name or the "
                                        "prefix")


def parse_protocol(raw: Any, *, path: str = "<mapping>", sha256: str = "") -> Protocol:
    """Validate a raw protocol mapping (as loaded from YAML) into a :class:`Protocol`.

    Raises
    ------
    reirrad.errors.ProtocolError
        Naming ``path``, the key path and what was expected.
    """
    reader = _Reader(path)
    top = reader.mapping(raw, "", ("schema_version", "name", "title", "version", "sources",
                                   "n_fractions", "prescriptions", "coverage_rule", "planning", "recovery",
                                   "background_alpha_beta", "oars"),
                         ("optimisation_structures", "cumulative", "sensitivity"))
    if type(top["schema_version"]) is not int or top["schema_version"] != SCHEMA_VERSION:
        raise reader.fail("schema_version", f"this reirrad reads schema_version {SCHEMA_VERSION}, "
                                            f"got {top['schema_version']!r}")
    reader.sources = _parse_sources(reader, top["sources"])
    n_fx = reader.quantity(top["n_fractions"], "n_fractions", "", maximum=40.0)
    if n_fx.value != int(n_fx.value):
        raise reader.fail("n_fractions.value", f"expected a whole number of fractions, got {n_fx.value:g}")
    recovery = _parse_recovery(reader, top["recovery"])
    oars_raw = top["oars"]
    if not isinstance(oars_raw, dict) or not oars_raw:
        raise reader.fail("oars", "expected a non-empty mapping of OAR key -> definition")
    oars = tuple(_parse_oar(reader, k, v) for k, v in oars_raw.items())
    for spec in oars:
        for alias in spec.aliases:
            others = [o.key for o in oars if o.key != spec.key and o.matches(alias)]
            if others:
                raise reader.fail(f"oars.{spec.key}.aliases",
                                  f"alias {alias!r} also matches OAR {others[0]!r} (alias or pattern); "
                                  "a structure name must identify one OAR")
    optional: Dict[str, Any] = {}  # sections with defaults: absent from the file, the dataclass's default
    if "cumulative" in top:
        optional["cumulative"] = _parse_cumulative(reader, top["cumulative"])
    if "sensitivity" in top:
        optional["sensitivity"] = _parse_sensitivity(reader, top["sensitivity"])
    return Protocol(
        name=reader.text(top["name"], "name"),
        title=reader.text(top["title"], "title"),
        version=reader.text(top["version"] if isinstance(top["version"], str)
                            else (str(top["version"]) if isinstance(top["version"], (int, float))
                                  and not isinstance(top["version"], bool) else None), "version"),
        path=path,
        sha256=sha256,
        sources=reader.sources,
        n_fractions=int(n_fx.value),
        n_fractions_quantity=n_fx,
        prescriptions=_parse_prescriptions(reader, top["prescriptions"]),
        coverage_rule=_parse_coverage(reader, top["coverage_rule"]),
        planning=_parse_planning(reader, top["planning"]),
        recovery=recovery,
        background_alpha_beta=reader.alpha_beta(top["background_alpha_beta"], "background_alpha_beta"),
        oars=oars,
        optimisation_structures=(
            _parse_optimisation_structures(reader, top["optimisation_structures"], oars)
            if "optimisation_structures" in top else None),
        **optional,
    )


def list_protocols() -> List[str]:
    """Names of the protocols shipped with the package."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def load_protocol(name_or_path: Union[str, Path]) -> Protocol:
    """Load and validate a protocol by shipped name or by file path.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A name from :func:`list_protocols` (e.g. ``"uk-sabr-pelvis-reirradiation"``) or the
        path of a YAML file.

    Raises
    ------
    reirrad.errors.InputError
        Neither a shipped name nor a regular file (a directory, a device or a FIFO is refused here).
    reirrad.errors.ProtocolError
        The file is not a regular file, is too large, is not UTF-8 or not valid YAML, breaks a rule of
        the strict reader (:mod:`reirrad.inputfiles`: duplicate keys, aliases, keys that are not text)
        or does not follow the schema.
    """
    text = str(name_or_path)
    if text in list_protocols() and not Path(text).exists():
        path = PROTOCOL_DIR / f"{text}.yaml"
    else:
        path = Path(text)
        if not text.strip() or not path.is_file():
            raise InputError(
                f"protocol {text!r} is neither a shipped protocol {list_protocols()} nor a file; "
                "give a name from 'reirrad protocols' or the path of a YAML file"
            )
    try:
        data = read_input_bytes(path, "protocol")
        digest = hashlib.sha256(data).hexdigest()
        raw = parse_yaml(data, str(path), "protocol")
    except InputFileError as exc:
        raise ProtocolError(str(path), exc.key_path, exc.problem) from None
    return parse_protocol(raw, path=str(path), sha256=digest)
