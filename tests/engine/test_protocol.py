"""Tests of the protocol loader (:mod:`reirrad.protocol`).

Sources of truth: docs/design.md §4 (the clinical defaults of ``uk-sabr-pelvis-reirradiation``),
the schema version 1 rules as documented in ``docs/protocol-schema.md`` and in the module
docstring of :mod:`reirrad.protocol`, and TG-263 structure names.
"""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
import yaml

from reirrad.errors import InputError, ProtocolError
from reirrad.protocol import PROTOCOL_DIR, STATUSES, list_protocols, load_protocol, parse_protocol

SHIPPED_NAME = "uk-sabr-pelvis-reirradiation"
SHIPPED_PATH = PROTOCOL_DIR / f"{SHIPPED_NAME}.yaml"

OAR_KEYS = (
    "small_bowel", "large_bowel", "rectum", "bladder", "sacral_plexus", "cauda_equina", "spinal_cord",
    "femoral_head_l", "femoral_head_r", "skin", "ureter_l", "ureter_r",
)

# docs/design.md §4: (alpha/beta Gy, de novo metric, de novo mandatory Gy, de novo optimal Gy or None,
# cumulative EQD2 limit Gy or None). The cumulative metric equals the de novo metric.
DESIGN_SECTION_4: Dict[str, Tuple[float, str, float, Any, Any]] = {
    "small_bowel": (3.0, "D0.5cc", 35.0, 30.0, 70.0),
    "large_bowel": (3.0, "D0.5cc", 32.0, None, 80.0),
    "rectum": (3.0, "D0.5cc", 32.0, None, 80.0),
    "bladder": (3.0, "D0.5cc", 38.0, None, 80.0),
    "sacral_plexus": (2.0, "D0.1cc", 32.0, 30.0, 67.0),
    "cauda_equina": (2.0, "D0.1cc", 32.0, 30.0, 67.0),
    "spinal_cord": (2.0, "D0.1cc", 28.0, 25.3, 67.75),
    "femoral_head_l": (3.0, "D10cc", 30.0, None, None),
    "femoral_head_r": (3.0, "D10cc", 30.0, None, None),
    "skin": (3.0, "D0.5cc", 35.0, None, None),
    "ureter_l": (3.0, "D0.5cc", 45.0, None, None),
    "ureter_r": (3.0, "D0.5cc", 45.0, None, None),
}

# docs/design.md §4 TG-263 names (first) and the OAR each must identify.
TG263_NAMES = {
    "Bowel_Small": "small_bowel",
    "Bowel_Large": "large_bowel",
    "Colon_Sigmoid": "large_bowel",
    "Rectum": "rectum",
    "Bladder": "bladder",
    "SacralPlex": "sacral_plexus",
    "CaudaEquina": "cauda_equina",
    "SpinalCord": "spinal_cord",
    "Femur_Head_L": "femoral_head_l",
    "Femur_Head_R": "femoral_head_r",
    "Skin": "skin",
    "Ureter_L": "ureter_l",
    "Ureter_R": "ureter_r",
}


# --------------------------------------------------------------------------------------
# Helpers


def _shipped_raw() -> Dict[str, Any]:
    return yaml.safe_load(SHIPPED_PATH.read_text(encoding="utf-8"))


def _parent(raw: Dict[str, Any], dotted: str) -> Tuple[Any, str]:
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    return node, last


def _set(dotted: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    def mutate(raw: Dict[str, Any]) -> None:
        node, last = _parent(raw, dotted)
        node[last] = value
    return mutate


def _delete(dotted: str) -> Callable[[Dict[str, Any]], None]:
    def mutate(raw: Dict[str, Any]) -> None:
        node, last = _parent(raw, dotted)
        del node[last]
    return mutate


def _both(*mutations: Callable[[Dict[str, Any]], None]) -> Callable[[Dict[str, Any]], None]:
    def mutate(raw: Dict[str, Any]) -> None:
        for m in mutations:
            m(raw)
    return mutate


def _rename_oar(old: str, new: str) -> Callable[[Dict[str, Any]], None]:
    def mutate(raw: Dict[str, Any]) -> None:
        raw["oars"] = {(new if k == old else k): v for k, v in raw["oars"].items()}
    return mutate


def _rename_top(old: str, new: str) -> Callable[[Dict[str, Any]], None]:
    def mutate(raw: Dict[str, Any]) -> None:
        items = list(raw.items())
        raw.clear()
        raw.update({(new if k == old else k): v for k, v in items})
    return mutate


def _add_alias(oar: str, alias: str) -> Callable[[Dict[str, Any]], None]:
    def mutate(raw: Dict[str, Any]) -> None:
        raw["oars"][oar]["aliases"].append(alias)
    return mutate


def _write(tmp_path: Path, raw: Any, name: str = "site-protocol.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


RECTUM_EQD2 = "oars.rectum.cumulative_limit.eqd2"
LADDER = "prescriptions.isotoxic.ladder"

# (id, mutation, expected key path, expected substring of the message)
MUTATIONS: List[Tuple[str, Callable[[Dict[str, Any]], None], str, str]] = [
    ("missing-alpha-beta", _delete("oars.bladder.alpha_beta"),
     "oars.bladder.alpha_beta", "required key is missing"),
    ("alpha-beta-string", _set("oars.bladder.alpha_beta.value", "three"),
     "oars.bladder.alpha_beta.value", "expected a number, got str 'three'"),
    ("alpha-beta-bool", _set("oars.bladder.alpha_beta.value", True),
     "oars.bladder.alpha_beta.value", "expected a number, got bool"),
    ("alpha-beta-negative", _set("oars.bladder.alpha_beta.value", -3.0),
     "oars.bladder.alpha_beta.value", "must be >= 0.5 Gy, got -3"),
    ("alpha-beta-zero", _set("oars.bladder.alpha_beta.value", 0.0),
     "oars.bladder.alpha_beta.value", "must be >= 0.5 Gy, got 0"),
    # found on a hostile protocol: 0.01 Gy was accepted and printed as 0.0 (protocol._MIN_ALPHA_BETA_GY)
    ("alpha-beta-tiny", _set("oars.bladder.alpha_beta.value", 0.01),
     "oars.bladder.alpha_beta.value", "must be >= 0.5 Gy, got 0.01"),
    ("background-alpha-beta-tiny", _set("background_alpha_beta.value", 0.2),
     "background_alpha_beta.value", "must be >= 0.5 Gy, got 0.2"),
    ("tumour-alpha-betas-tiny", _set("coverage_rule.tumour_dose_alpha_betas.values", [0.1, 10.0]),
     "coverage_rule.tumour_dose_alpha_betas.values[0]", "0.1 Gy must be >= 0.5 and <= 50 Gy"),
    # found on a hostile protocol: 0.8 (a fraction written for 80 %) switched the coverage rule off and
    # a plan at 71 % V95 was reported as meeting it (protocol._MIN_COVERAGE_PCT)
    ("coverage-as-a-fraction", _set("coverage_rule.ptv_v95_min_percent.value", 0.8),
     "coverage_rule.ptv_v95_min_percent.value",
     "must be >= 50 %, got 0.8; a fraction written for a percent? write 80 for 80 %"),
    ("coverage-too-low", _set("coverage_rule.ptv_v95_min_percent.value", 30.0),
     "coverage_rule.ptv_v95_min_percent.value", "must be >= 50 %, got 30"),
    ("coverage-objective-as-a-fraction", _set("planning.target_coverage_volume_percent.value", 0.95),
     "planning.target_coverage_volume_percent.value", "got 0.95; a fraction written for a percent?"),
    ("alpha-beta-implausible", _set("oars.bladder.alpha_beta.value", 300.0),
     "oars.bladder.alpha_beta.value", "above the plausible maximum 50 Gy"),
    ("unknown-metric", _set("oars.rectum.cumulative_limit.metric", "D0.5c"),
     "oars.rectum.cumulative_limit.metric",
     "unknown metric 'D0.5c'; expected 'Dmax', 'Dmean' or 'D<volume>cc'"),
    ("relative-volume-metric", _set("oars.rectum.de_novo.metric", "V20Gy"),
     "oars.rectum.de_novo.metric", "unknown metric 'V20Gy'"),
    ("unknown-status", _set(f"{RECTUM_EQD2}.status", "approved"),
     f"{RECTUM_EQD2}.status", "status must be one of ['confirmed', 'secondary-source', 'unverified']"),
    ("undefined-source", _set(f"{RECTUM_EQD2}.source", "smith-2020"),
     f"{RECTUM_EQD2}.source", "source 'smith-2020' is not defined under 'sources'"),
    ("unit-missing", _both(_delete(f"{RECTUM_EQD2}.unit"), _set(f"{RECTUM_EQD2}.value", 7000)),
     f"{RECTUM_EQD2}.unit", "required key is missing (expected keys: ['value', 'unit', 'source', 'status'])"),
    ("unit-cgy", _both(_set(f"{RECTUM_EQD2}.unit", "cGy"), _set(f"{RECTUM_EQD2}.value", 7000)),
     f"{RECTUM_EQD2}.unit", "convert to Gy"),
    ("unit-lowercase", _set(f"{RECTUM_EQD2}.unit", "gy"),
     f"{RECTUM_EQD2}.unit", "unit must be 'Gy', got 'gy'"),
    ("implausible-dose", _set(f"{RECTUM_EQD2}.value", 7000),
     f"{RECTUM_EQD2}.value", "this looks like a value in cGy"),
    ("unknown-top-level-key", _set("oar", {}), "oar", "unknown key; allowed here"),
    ("typo-oars-as-oar", _rename_top("oars", "oar"), "oars", "required key is missing"),
    ("unknown-oar-key", _set("oars.bladder.alfa_beta", 3.0), "oars.bladder.alfa_beta", "unknown key"),
    ("oar-key-not-snake-case", _rename_oar("bladder", "Bladder"), "oars.Bladder", "lower_snake_case"),
    ("cumulative-metric-differs", _set("oars.rectum.cumulative_limit.metric", "D2cc"),
     "oars.rectum.cumulative_limit.metric", "cumulative metric D2cc differs from de novo metric D0.5cc"),
    ("optimal-above-mandatory", _set("oars.small_bowel.de_novo.optimal.value", 36.0),
     "oars.small_bowel.de_novo.optimal.value", "optimal 36 Gy is above mandatory 35 Gy"),
    ("ladder-not-increasing", _set(f"{LADDER}.values", [30.0, 35.0, 32.5, 40.0]),
     f"{LADDER}.values[2]", "the ladder must increase strictly (35 then 32.5 Gy)"),
    ("ladder-repeated-level", _set(f"{LADDER}.values", [30.0, 30.0]),
     f"{LADDER}.values[1]", "the ladder must increase strictly"),
    ("ladder-above-maximum", _set(f"{LADDER}.values", [30.0, 40.0, 47.5]),
     f"{LADDER}.values[2]", "47.5 Gy must be > 0 and <= maximum_dose 45 Gy"),
    ("ladder-empty", _set(f"{LADDER}.values", []), f"{LADDER}.values", "non-empty list of doses"),
    ("ladder-unit-cgy", _set(f"{LADDER}.unit", "cGy"), f"{LADDER}.unit", "convert to Gy"),
    ("limit-toxicity-above-maximum", _set("prescriptions.limit-toxicity.dose.value", 50.0),
     "prescriptions.limit-toxicity.dose.value", "exceeds the isotoxic maximum 45 Gy"),
    ("priority-missing", _delete("oars.small_bowel.priority"), "oars.small_bowel.priority",
     "required key is missing"),
    ("hard-not-bool", _set("oars.small_bowel.hard", "yes"), "oars.small_bowel.hard",
     "expected true or false"),
    ("optional-not-bool", _set("oars.rectum.optional", 1), "oars.rectum.optional", "expected true or false"),
    ("tolerance-in-cgy", _set("oars.bladder.single_course_tolerance_eqd2.unit", "cGy"),
     "oars.bladder.single_course_tolerance_eqd2.unit", "convert to Gy"),
    ("tumour-alpha-betas-empty", _set("coverage_rule.tumour_dose_alpha_betas.values", []),
     "coverage_rule.tumour_dose_alpha_betas.values", "non-empty list"),
    ("tumour-alpha-betas-repeated", _set("coverage_rule.tumour_dose_alpha_betas.values", [5.0, 5.0]),
     "coverage_rule.tumour_dose_alpha_betas.values", "each alpha/beta once"),
    ("limiting-fraction-above-1", _set("planning.limiting_oar_load_fraction.value", 1.5),
     "planning.limiting_oar_load_fraction.value", "above the plausible maximum 1"),
    ("includes-recovery-not-bool", _set("oars.small_bowel.cumulative_limit.includes_recovery", "no"),
     "oars.small_bowel.cumulative_limit.includes_recovery", "expected true or false"),
    ("alias-in-two-oars", _add_alias("bladder", "rectum"),
     "oars.rectum.aliases", "alias 'Rectum' also matches OAR 'bladder'"),
    ("schema-version-2", _set("schema_version", 2), "schema_version", "reads schema_version 1, got 2"),
    ("schema-version-float", _set("schema_version", 1.0), "schema_version", "got 1.0"),
    ("version-null", _set("version", None), "version", "expected non-empty text"),
    ("alias-matches-other-oars-pattern", _add_alias("rectum", "Spinal-Cord"),
     "oars.rectum.aliases", "alias 'Spinal-Cord' also matches OAR 'spinal_cord'"),
    ("zero-volume-metric", _set("oars.rectum.cumulative_limit.metric", "D0cc"),
     "oars.rectum.cumulative_limit.metric", "zero volume"),
    ("unknown-recovery-model", _set("recovery.model", "exponential"),
     "recovery.model", "unknown recovery model 'exponential'"),
    ("unknown-jones-grant-curve", _set("recovery.jones_grant_curve", "bold"),
     "recovery.jones_grant_curve", "expected one of ['fitted', 'cautious']"),
    ("conservation-factor-above-one", _set("recovery.conservation_factor.value", 1.5),
     "recovery.conservation_factor.value", "above the plausible maximum 1"),
    ("bad-regex", _set("oars.skin.patterns", ["("]),
     "oars.skin.patterns[0]", "invalid regular expression '('"),
    ("fractional-fractions", _set("n_fractions.value", 5.5),
     "n_fractions.value", "whole number of fractions"),
    ("empty-sources", _set("sources", {}), "sources", "non-empty mapping"),
    ("source-without-citation", _set("sources.project", {"doi": "10.1/x"}),
     "sources.project.citation", "required key is missing"),
]


# --------------------------------------------------------------------------------------
# The shipped protocol


def test_shipped_protocol_is_listed_and_loads_by_name():
    """The shipped protocol is listed and loads by name and by path (docs/design.md §4, §5 interface)."""
    assert SHIPPED_NAME in list_protocols()
    by_name = load_protocol(SHIPPED_NAME)
    by_path = load_protocol(SHIPPED_PATH)
    assert by_name.name == SHIPPED_NAME
    assert by_name == by_path


def test_shipped_protocol_oar_keys():
    """The shipped OAR keys are exactly those of docs/design.md §4, in that order."""
    assert load_protocol(SHIPPED_NAME).oar_keys == OAR_KEYS


@pytest.mark.parametrize("key", OAR_KEYS)
def test_shipped_oar_values_match_design(key):
    """Each OAR's α/β, metric, de novo and cumulative limits are the values of docs/design.md §4."""
    alpha_beta, metric, mandatory, optimal, cumulative = DESIGN_SECTION_4[key]
    spec = load_protocol(SHIPPED_NAME).oar(key)
    assert spec.alpha_beta.value == alpha_beta
    assert spec.alpha_beta.unit == "Gy"
    assert spec.de_novo.metric.name == metric
    assert spec.de_novo.mandatory.value == mandatory
    assert spec.de_novo.mandatory.unit == "Gy"
    if optimal is None:
        assert spec.de_novo.optimal is None
    else:
        assert spec.de_novo.optimal is not None
        assert spec.de_novo.optimal.value == optimal
    if cumulative is None:
        assert spec.cumulative_limit is None
    else:
        assert spec.cumulative_limit is not None
        assert spec.cumulative_limit.metric.name == metric
        assert spec.cumulative_limit.eqd2.value == cumulative
        assert spec.cumulative_limit.eqd2.unit == "Gy"
        # docs/design.md §4: Delphi limits are "with no recovery assumed"; Nieder's cord limit is a sum of
        # nominal course doses after >= 6 months, recovery already inside it (docs/reference/radiobiology.md
        # §3.4).
        assert spec.cumulative_limit.includes_recovery is (key == "spinal_cord")


def test_shipped_prescriptions_fractions_and_recovery():
    """Prescriptions, fractions and recovery model are those of docs/design.md §4 (30 Gy; 30..45 by 2.5; 5
    fx)."""
    protocol = load_protocol(SHIPPED_NAME)
    rx = protocol.prescriptions
    assert rx.limit_toxicity.value == 30.0
    assert rx.limit_toxicity.unit == "Gy"
    assert rx.coverage_may_be_compromised is True
    assert rx.isotoxic_ladder_gy == (30.0, 32.5, 35.0, 37.5, 40.0, 42.5, 45.0)
    assert rx.isotoxic_maximum.value == 45.0
    assert protocol.n_fractions == 5
    assert protocol.recovery.model == "uk-guidance"
    assert protocol.coverage_rule.ptv_v95_min_percent.value == 80.0
    assert protocol.coverage_rule.tumour_alpha_beta.value == 10.0
    assert protocol.coverage_rule.tumour_dose_alpha_betas_gy == (5.0, 10.0)


def test_shipped_priorities_optional_and_hard_oars():
    """Issue 14 item 7: neural OARs and bowel above the target; the cord is hard; the OARs that may be
    absent (rectum after resection, cord out of range, de novo-only OARs) are optional."""
    protocol = load_protocol(SHIPPED_NAME)
    target = protocol.planning.target_priority.value
    above = {"spinal_cord", "cauda_equina", "sacral_plexus", "small_bowel", "large_bowel", "rectum"}
    for spec in protocol.oars:
        if spec.key in above:
            assert spec.priority.value > target, spec.key
        assert spec.hard == (spec.key == "spinal_cord")
    assert {s.key for s in protocol.oars if not s.optional} == {
        "small_bowel", "large_bowel", "bladder", "sacral_plexus", "cauda_equina"}
    assert protocol.planning.limiting_oar_load_fraction.value == 0.98
    assert protocol.planning.outside_grid_flag_percent.value == 1.0


def test_spinal_cord_course_conditions():
    """The cord carries Nieder 2006 conditions: each course ≤ 98 Gy₂ BED (49 Gy EQD2), interval ≥ 6 months."""
    cc = load_protocol(SHIPPED_NAME).oar("spinal_cord").course_conditions
    assert cc is not None
    assert cc.max_course_eqd2 is not None
    assert cc.max_course_eqd2.value == 49.0
    assert cc.min_interval_months is not None
    assert cc.min_interval_months.value == 6.0
    assert cc.min_interval_months.unit == "months"


def test_every_quantity_has_status_and_defined_source():
    """Every provenanced number has a schema status and a source defined in the file (docs/design.md §4)."""
    protocol = load_protocol(SHIPPED_NAME)
    quantities = protocol.quantities()
    assert len(quantities) > 40
    for q in quantities:
        assert q.status in ("confirmed", "secondary-source", "unverified"), q.key_path
        assert q.source in protocol.sources, q.key_path
    assert set(STATUSES) == {"confirmed", "secondary-source", "unverified"}
    key_paths = [q.key_path for q in quantities]
    assert len(key_paths) == len(set(key_paths))
    assert "oars.rectum.cumulative_limit.eqd2" in key_paths
    assert sum(protocol.provenance()["status_counts"].values()) == len(quantities)


def test_sha256_is_digest_of_file_bytes():
    """The recorded sha256 is hashlib.sha256 of the file's bytes (docs/design.md §5 result provenance)."""
    protocol = load_protocol(SHIPPED_NAME)
    assert re.fullmatch(r"[0-9a-f]{64}", protocol.sha256)
    assert protocol.sha256 == hashlib.sha256(SHIPPED_PATH.read_bytes()).hexdigest()
    assert protocol.path == str(SHIPPED_PATH)


def test_site_copy_loads_by_path(tmp_path):
    """An unchanged site copy written elsewhere loads by path with the same values (module docstring)."""
    path = _write(tmp_path, _shipped_raw())
    protocol = load_protocol(str(path))
    assert protocol.path == str(path)
    assert protocol.oars == load_protocol(SHIPPED_NAME).oars


def test_includes_recovery_allowed_with_any_model(tmp_path):
    """A limit that already includes recovery is accepted with any recovery model: that OAR simply gets
    no recovery credited (reirrad.constraints), so nothing is credited twice."""
    raw = _shipped_raw()
    raw["oars"]["small_bowel"]["cumulative_limit"]["includes_recovery"] = True
    protocol = load_protocol(_write(tmp_path, raw))
    limit = protocol.oar("small_bowel").cumulative_limit
    assert limit is not None
    assert limit.includes_recovery is True


# --------------------------------------------------------------------------------------
# Structure names


@pytest.mark.parametrize(("name", "key"), sorted(TG263_NAMES.items()))
def test_tg263_names_match_their_oar(name, key):
    """Each TG-263 name of docs/design.md §4 matches its OAR and no other OAR of the protocol."""
    protocol = load_protocol(SHIPPED_NAME)
    assert protocol.oar(key).matches(name)
    assert [o.key for o in protocol.oars if o.matches(name)] == [key]


def test_no_alias_matches_two_oars():
    """No alias of the shipped protocol (or its case variants) identifies more than one OAR (docs/design.md
    §4)."""
    protocol = load_protocol(SHIPPED_NAME)
    for spec in protocol.oars:
        for alias in spec.aliases:
            for variant in (alias, alias.upper(), alias.lower(), f" {alias} "):
                assert [o.key for o in protocol.oars if o.matches(variant)] == [spec.key], variant


@pytest.mark.parametrize(("name", "wrong_key"), [
    ("Femur_Head_L", "femoral_head_r"), ("Femur_Head_R", "femoral_head_l"),
    ("Ureter_L", "ureter_r"), ("Rectum", "large_bowel"), ("Colon_Sigmoid", "rectum"),
    ("Bowel_Small", "large_bowel"), ("Bowel_Large", "small_bowel"), ("SpinalCord", "cauda_equina"),
    ("CaudaEquina", "sacral_plexus"),
])
def test_near_names_do_not_cross_match(name, wrong_key):
    """Left/right and neighbouring organs are not confused (e.g. Femur_Head_L is not femoral_head_r)."""
    assert not load_protocol(SHIPPED_NAME).oar(wrong_key).matches(name)


def test_unrelated_name_matches_nothing():
    """A target or unrelated structure is matched by no OAR (absence is reported, never guessed)."""
    protocol = load_protocol(SHIPPED_NAME)
    for name in ("PTV_3000", "GTV", "External", "Bowel", "Femur_Head", "Ureters"):
        assert not any(o.matches(name) for o in protocol.oars), name


# --------------------------------------------------------------------------------------
# Malformed files


@pytest.mark.parametrize(("mutate", "key_path", "expected"),
                         [pytest.param(m, k, e, id=i) for i, m, k, e in MUTATIONS])
def test_malformed_protocol_is_refused(tmp_path, mutate, key_path, expected):
    """A schema violation raises ProtocolError naming the file, the key path and the expectation."""
    raw = copy.deepcopy(_shipped_raw())
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ProtocolError, match=re.escape(expected)) as exc:
        load_protocol(path)
    assert str(path) in str(exc.value)
    assert exc.value.path == str(path)
    assert exc.value.key_path == key_path
    assert f"at '{key_path}'" in str(exc.value)
    assert expected in exc.value.problem


def test_mutation_ids_are_unique():
    """Each malformed-file case has its own id, so a failure names one case."""
    ids = [case[0] for case in MUTATIONS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 14


def test_duplicate_oar_is_refused(tmp_path):
    """An OAR defined twice is refused with both line numbers (PyYAML alone would keep the last)."""
    text = SHIPPED_PATH.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = text.splitlines()
    first = lines.index("  bladder:") + 1
    second = len(lines) + 1
    duplicate = (
        "  bladder:\n"
        "    label: Bladder again\n"
        "    aliases: [Bladder2]\n"
        "    alpha_beta: {value: 3.0, unit: Gy, source: slevin-2021, status: secondary-source}\n"
        "    de_novo:\n"
        "      metric: D0.5cc\n"
        "      mandatory: {value: 99.0, unit: Gy, source: diez-2022, status: unverified}\n"
    )
    path = tmp_path / "duplicate.yaml"
    path.write_text(text + duplicate, encoding="utf-8")
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["oars"]["bladder"]["label"] == "Bladder again"
    with pytest.raises(ProtocolError, match="key defined twice") as exc:
        load_protocol(path)
    message = str(exc.value)
    assert str(path) in message
    assert "bladder" in exc.value.key_path
    assert f"lines {first} and {second}" in message


def test_duplicate_top_level_key_is_refused(tmp_path):
    """A repeated top-level key is refused with both line numbers, not silently overwritten."""
    path = tmp_path / "dup-top.yaml"
    path.write_text("schema_version: 1\nname: a\nschema_version: 1\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"key defined twice \(lines 1 and 3\)") as exc:
        load_protocol(path)
    assert exc.value.key_path == "schema_version"


def test_invalid_yaml_is_refused(tmp_path):
    """A file that is not valid YAML raises ProtocolError naming the file, not a yaml exception."""
    path = tmp_path / "broken.yaml"
    path.write_text("oars: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match="not valid YAML") as exc:
        load_protocol(path)
    assert str(path) in str(exc.value)
    assert exc.value.key_path == "<file>"


def test_non_utf8_file_is_refused(tmp_path):
    """A file that is not UTF-8 text raises ProtocolError naming the file."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ProtocolError, match="not UTF-8 text") as exc:
        load_protocol(path)
    assert str(path) in str(exc.value)


def test_empty_file_is_refused(tmp_path):
    """An empty file (YAML null) raises ProtocolError asking for a mapping."""
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ProtocolError, match="expected a mapping") as exc:
        load_protocol(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("name", ["no-such-protocol", "uk-sabr-pelvis", "/nonexistent/dir/protocol.yaml"])
def test_unknown_name_or_missing_path_lists_shipped_protocols(name):
    """A name that is neither shipped nor a file raises InputError listing the shipped protocols."""
    with pytest.raises(InputError, match=re.escape(SHIPPED_NAME)) as exc:
        load_protocol(name)
    assert not isinstance(exc.value, ProtocolError)
    assert name in str(exc.value)


def test_directory_is_not_a_protocol(tmp_path):
    """An existing directory is not a protocol file: InputError, not an OS error."""
    with pytest.raises(InputError, match="neither a shipped protocol"):
        load_protocol(tmp_path)


# --------------------------------------------------------------------------------------
# parse_protocol


@pytest.mark.parametrize("raw", [[1, 2], "oars", None, 42], ids=["list", "str", "none", "int"])
def test_parse_protocol_refuses_non_mapping(raw):
    """parse_protocol on anything but a mapping raises ProtocolError asking for a mapping."""
    with pytest.raises(ProtocolError, match="expected a mapping") as exc:
        parse_protocol(raw)
    assert exc.value.path == "<mapping>"


def test_parse_protocol_accepts_the_raw_mapping():
    """parse_protocol on the shipped mapping gives the same OARs as load_protocol, with the given path."""
    protocol = parse_protocol(_shipped_raw(), path="in-memory")
    assert protocol.path == "in-memory"
    assert protocol.sha256 == ""
    assert protocol.oars == load_protocol(SHIPPED_NAME).oars


def test_parse_protocol_names_its_path_in_errors():
    """An in-memory error names the given path and the key path."""
    raw = _shipped_raw()
    raw["schema_version"] = 2
    with pytest.raises(ProtocolError, match=r"^memo: at 'schema_version': "):
        parse_protocol(raw, path="memo")


def test_equivalent_metric_spellings_are_the_same_metric(tmp_path):
    """'D0.50cc' and 'D0.5cc' name one metric, so cumulative and de novo limits pair up."""
    raw = copy.deepcopy(_shipped_raw())
    raw["oars"]["rectum"]["cumulative_limit"]["metric"] = "D0.50cc"
    protocol = load_protocol(_write(tmp_path, raw))
    limit = protocol.oar("rectum").cumulative_limit
    assert limit is not None
    assert limit.metric.name == "D0.5cc"


def test_unhashable_mapping_key_is_a_protocol_error(tmp_path):
    """A YAML complex key ('? [a, b]') is refused as ProtocolError, not a TypeError."""
    path = tmp_path / "complex-key.yaml"
    path.write_text("? [a, b]\n: 1\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match="mapping key must be text"):
        load_protocol(path)


def test_the_deciding_method_is_read_checked_and_defaults_to_the_guidance():
    """`cumulative.deciding_method`: one of metric-sum / both / voxel-wise, with its provenance; an unknown
    method names the key and the choices; a protocol without the section decides by the metric sum (the
    guidance's method), source `reirrad-default`, status unverified."""
    shipped = load_protocol(SHIPPED_NAME)
    assert shipped.cumulative.deciding_method == "metric-sum"
    # unverified: reference/radiobiology.md tags the guidance's metric-sum method [M] (its Appendix was
    # not retrieved); only the recovery rule and the prescriptions are [P] (secondary-source)
    assert shipped.cumulative.deciding_source.status == "unverified"
    raw = _shipped_raw()
    raw["cumulative"]["deciding_method"] = "voxel-wise"
    assert parse_protocol(raw).cumulative.deciding_method == "voxel-wise"
    raw["cumulative"]["deciding_method"] = "voxelwise"
    with pytest.raises(ProtocolError, match=r"cumulative\.deciding_method.*metric-sum"):
        parse_protocol(raw)
    del raw["cumulative"]
    default = parse_protocol(raw).cumulative
    assert default.deciding_method == "metric-sum"
    assert (default.deciding_source.source, default.deciding_source.status) == ("reirrad-default",
                                                                                 "unverified")
