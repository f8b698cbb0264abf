"""One decision gate, the final check on the dose the TPS holds, statuses and exit codes.

Sources of truth: the gate's rules (reirrad.gate: every `stop` finding ends the run unless overridden
with a recorded reason; some need an action), Nieder 2006 as the protocol encodes it (98 Gy₂ BED per
course = 49 Gy EQD2₂), the statuses table (reirrad.statuses), and stand-in planners whose
normalisation or re-optimisation is made to differ from what was evaluated, as a real TPS's can.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import yaml

import tps_stubs.esapi as esapi_stand_in
from reirrad import cli
from reirrad.dose import DoseGrid
from reirrad.errors import EligibilityError
from reirrad.protocol import load_protocol
from reirrad.result import build_result
from reirrad.statuses import exit_code_for
from reirrad.workflow import WorkflowOptions, prepare, run
from reirrad_tps.eclipse import EclipseCaseSource
from tests.esapi_support import require_esapi_stand_in
from tps_stubs.direct import DirectCase, DirectPlanner
from tps_stubs.patients import list_patients

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


def _cord_patient(tmp_path: Path, prior_gy: float, prior_fractions: int) -> Path:
    """LRRC-01 with a spinal cord inside the prior course's field and that course at ``prior_gy``."""
    source = next(p.path for p in list_patients() if p.id == "LRRC-01")
    raw: Dict[str, Any] = yaml.safe_load(Path(source).read_text())
    raw["id"] = "CORD-TEST"
    raw["structure_sets"][0]["structures"]["SpinalCord"] = {
        "type": "ORGAN", "color": "green",
        "shape": {"cylinder": {"centre": [0, 75], "radii": [5, 5], "z": [30, 55]}}}
    prior = raw["courses"][0]["plans"][0]
    prior["prescription_gy"], prior["n_fractions"] = prior_gy, prior_fractions
    path = tmp_path / "CORD-TEST.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_prior_cord_course_above_nieders_per_course_bed_stops_plan(tmp_path):
    """A prior course of 60 Gy/30 (EQD2₂ 60 Gy > 49 Gy = 98 Gy₂ BED) over the cord stops `reirrad plan`
    with exit 2 and the finding; with an override the run proceeds and the override is recorded in the
    result (eligibility.overridden, provenance.override_reason)."""
    patient = str(_cord_patient(tmp_path, 60.0, 30))
    out = tmp_path / "stop.json"
    code = cli.main(["plan", "--tps", "raystation-stub", "--patient", patient, "--intent", "limit-toxicity",
                     "--json", str(out)])
    stopped = json.loads(out.read_text())
    assert code == 2 and stopped["status"] == "stopped"
    codes = {f["code"] for f in stopped["stop_findings"]}
    assert "course-above-limit-condition" in codes
    assert any(f["subject"] == "spinal_cord" for f in stopped["stop_findings"])
    assert stopped["journal_entries_kept"] == 0

    out = tmp_path / "override.json"
    code = cli.main(["plan", "--tps", "raystation-stub", "--patient", patient, "--intent", "limit-toxicity",
                     "--override-eligibility", "MDT 2026-12-01: cord dose accepted", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["status"] != "stopped" and code == exit_code_for(result)
    assert result["eligibility"]["override_reason"] == "MDT 2026-12-01: cord dose accepted"
    assert "course-above-limit-condition" in {f["code"] for f in result["eligibility"]["overridden"]}
    assert result["provenance"]["override_reason"] == "MDT 2026-12-01: cord dose accepted"
    cord = next(o for o in result["oars"] if o["name"] == "spinal_cord")
    assert cord["recovery_credited"] is False and cord["recovered_fraction"] == 0.0


def test_cord_allowed_dose_has_no_recovery_on_nieders_limit(tmp_path):
    """45 Gy/25 over the cord (EQD2₂ ≤ 42.75 Gy: no stop): the allowed cord dose is computed with no
    recovery credited, whatever the interval (30 months here), and the record says so."""
    case = DirectCase(str(_cord_patient(tmp_path, 45.0, 25)))
    prepared = prepare(PROTOCOL, case.read(), WorkflowOptions())
    cord = prepared.tolerances["spinal_cord"]
    assert cord.recovery_credited is False
    assert cord.effective_prior_eqd2_gy == pytest.approx(cord.prior_eqd2_gy)
    assert "limit-includes-recovery" in {f.code for f in prepared.findings}


class _ScalingNormaliser(DirectPlanner):
    """A TPS whose normalisation scales the dose by ``factor`` (its DVH disagrees with reirrad's), at
    prescriptions above ``above_gy`` only (default: at every level)."""

    def __init__(self, case: DirectCase, factor: float, above_gy: float = 0.0) -> None:
        super().__init__(case)
        self.factor = factor
        self.above_gy = above_gy
        self._scaled = False
        self._level = 0.0

    def set_prescription(self, dose_gy: float, n_fractions: int) -> None:
        super().set_prescription(dose_gy, n_fractions)
        self._level = dose_gy

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> float:
        super().normalise(target_id, dose_gy, volume_pct)
        self._scaled = self._level > self.above_gy
        return 100.0 / self.factor if self._scaled else 100.0

    def compute_dose(self) -> DoseGrid:
        dose = super().compute_dose()
        if not self._scaled:
            return dose
        return DoseGrid(dose.values_gy * self.factor, dose.origin_mm, dose.spacing_mm, dose.direction,
                        frame_of_reference_uid=dose.frame_of_reference_uid)

    def optimise(self) -> None:
        self._scaled = False  # a new optimisation resets the normalisation, as in Eclipse
        super().optimise()


def test_a_normalisation_that_breaks_a_limit_at_the_top_steps_down():
    """PROS-01 plans the top of the ladder, 45 Gy, with its small bowel close to the allowed dose. A
    TPS whose normalisation scales the dose up by 15 % at 45 Gy only breaks that limit there: the final
    check catches it and the run steps down to 42.5 Gy, whose re-optimised plan passes its own final
    check unscaled. So: 'planned' at 42.5 Gy with one optimisation more than the honest run, the 45 Gy
    check kept in the result, a 'final-check-stepped-down' flag, and 'level_limited_by' the 45 Gy
    check (after the normalisation)."""
    case = DirectCase("PROS-01")
    honest = run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions())
    assert honest.status == "planned" and honest.final is not None and honest.final.prescription_gy == 45.0
    outcome = run(PROTOCOL, case.read(), _ScalingNormaliser(case, 1.15, above_gy=44.0), WorkflowOptions())
    result = build_result(outcome)
    assert result["status"] == "planned" and result["prescription_gy"] == 42.5 and exit_code_for(result) == 0
    assert outcome.optimisations == honest.optimisations + 1
    steps = [(s.level_gy, s.action, s.feasible, s.note.split(":")[0]) for s in outcome.log]
    assert steps[-3:] == [(45.0, "final-check", False, "dose recomputed and re-read from the TPS after the "
                           "normalisation"), (42.5, "optimise", True, "stepped down"),
                          (42.5, "final-check", True, "dose recomputed and re-read from the TPS after the "
                           "normalisation")]
    check = result["final_check"]
    assert check["oar_limits_met"] is True and check["normalisation_value"] == 1.0
    (failed,) = check["failed_at_higher_levels"]
    assert failed["prescription_gy"] == 45.0 and failed["oar_limits_met"] is False
    assert failed["normalisation_value"] == pytest.approx(1.15) and failed["failing_oars"]
    flag = [w for w in result["warnings"] if w["code"] == "final-check-stepped-down"]
    assert len(flag) == 1 and flag[0]["severity"] == "flag" and "45 Gy" in flag[0]["message"]
    limited = result["level_limited_by"]
    assert (limited["level_gy"], limited["failing_oars"], limited["after_normalisation"]) == (
        45.0, failed["failing_oars"], True)


class _HotAtOneLevel(_ScalingNormaliser):
    """The scaling normaliser, and an optimiser that leaves 12 % more dose at ``hot_gy`` (as optimised)
    once the first normalisation has been made (the search itself is not changed)."""

    def __init__(self, case: DirectCase, factor: float, above_gy: float, hot_gy: float) -> None:
        super().__init__(case, factor, above_gy)
        self.hot_gy = hot_gy
        self._normalised_once = False

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> float:
        self._normalised_once = True
        return super().normalise(target_id, dose_gy, volume_pct)

    def compute_dose(self) -> DoseGrid:
        dose = super().compute_dose()
        if self._level != self.hot_gy or not self._normalised_once:
            return dose
        return DoseGrid(dose.values_gy * 1.12, dose.origin_mm, dose.spacing_mm, dose.direction,
                        frame_of_reference_uid=dose.frame_of_reference_uid)


def test_stepping_down_passes_over_a_level_that_fails_as_optimised():
    """As above, but the plans optimised at 42.5 Gy come out 12 % hot: the level stepped to fails as
    optimised, twice (the re-check), so it is not normalised and the run goes on down to 40 Gy."""
    case = DirectCase("PROS-01")
    outcome = run(PROTOCOL, case.read(), _HotAtOneLevel(case, 1.15, above_gy=44.0, hot_gy=42.5),
                  WorkflowOptions())
    result = build_result(outcome)
    assert result["status"] == "planned" and result["prescription_gy"] == 40.0
    steps = [(s.level_gy, s.action, s.feasible, s.note.split(":")[0]) for s in outcome.log]
    assert steps[-5:] == [(45.0, "final-check", False, "dose recomputed and re-read from the TPS after the "
                           "normalisation"), (42.5, "optimise", False, "stepped down"),
                          (42.5, "optimise", False, "re-check"), (40.0, "optimise", True, "stepped down"),
                          (40.0, "final-check", True, "dose recomputed and re-read from the TPS after the "
                           "normalisation")]
    assert [c["prescription_gy"] for c in result["final_check"]["failed_at_higher_levels"]] == [45.0]


def test_a_normalisation_that_breaks_a_limit_at_every_level_is_final_check_failed():
    """A TPS scaling GYN-01's dose by 40 % at every level: each normalised plan breaks the small bowel,
    down to the floor. The floor's final check is the result: 'final-check-failed' (exit 3) at 30 Gy, the
    measured normalisation value 1.4 beside the TPS's own figure, the reported OAR doses the scaled ones,
    and the failed checks of the levels above kept, from the level the search chose downwards."""
    case = DirectCase("GYN-01")
    honest = run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions())
    assert honest.final is not None and honest.final.prescription_gy > 30.0
    outcome = run(PROTOCOL, case.read(), _ScalingNormaliser(case, 1.4), WorkflowOptions())
    result = build_result(outcome)
    assert result["status"] == "final-check-failed" and exit_code_for(result) == 3
    check = result["final_check"]
    assert check["dose_rechecked_after_normalisation"] is True and check["prescription_gy"] == 30.0
    assert check["normalisation_value"] == pytest.approx(1.4)
    assert check["tps_normalisation"] == pytest.approx(100.0 / 1.4)
    assert check["oar_limits_met"] is False and check["failing_oars"]
    assert result["oar_limits_met"] is False
    levels = [c["prescription_gy"] for c in check["failed_at_higher_levels"]]
    assert levels[0] == honest.final.prescription_gy and levels == sorted(levels, reverse=True)
    assert levels[-1] > 30.0 and all(c["oar_limits_met"] is False for c in check["failed_at_higher_levels"])
    failing = {o["name"] for o in result["oars"] if o["passed"] is False}
    assert failing == set(check["failing_oars"])
    # the reported planned doses are the scaled ones: 1.4 x the floor plan as optimised
    floor = run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions(intent="limit-toxicity"))
    before = {o["name"]: o["planned_physical_gy"] for o in build_result(floor)["oars"]}
    for o in result["oars"]:
        assert o["planned_physical_gy"] == pytest.approx(1.4 * before[o["name"]], rel=1e-9)


def test_limit_toxicity_never_steps_down():
    """One level (30 Gy): a final check that breaks a limit is the result, with nothing below to try."""
    case = DirectCase("GYN-01")
    outcome = run(PROTOCOL, case.read(), _ScalingNormaliser(case, 1.4),
                  WorkflowOptions(intent="limit-toxicity"))
    result = build_result(outcome)
    assert result["status"] == "final-check-failed" and outcome.optimisations == 1
    assert result["final_check"]["failed_at_higher_levels"] == []
    assert "final-check-stepped-down" not in {w["code"] for w in result["warnings"]}


class _DriftingOptimiser(DirectPlanner):
    """An optimiser whose result depends on history: from the ``drift_from``-th optimisation on, it
    leaves 12 % more dose everywhere (a real optimiser is not reproducible run to run)."""

    def __init__(self, case: DirectCase, drift_from: int) -> None:
        super().__init__(case)
        self.drift_from = drift_from
        self.optimisations = 0

    def optimise(self) -> None:
        self.optimisations += 1
        super().optimise()

    def compute_dose(self) -> DoseGrid:
        dose = super().compute_dose()
        if self.optimisations < self.drift_from:
            return dose
        return DoseGrid(dose.values_gy * 1.12, dose.origin_mm, dose.spacing_mm, dose.direction,
                        frame_of_reference_uid=dose.frame_of_reference_uid)


def test_a_final_reoptimisation_that_breaks_a_limit_is_not_planned():
    """LRRC-01's search steps above its best level and comes back, so the plan is re-optimised at that
    level at the end. If that optimisation comes out hotter than the one the search judged, the
    workflow optimises once more (run-to-run variation); when that one is hot too, the final check
    reports it: never 'planned' on a dose that was not checked. Every later optimisation is hot as well,
    so stepping down (when the best level is above the floor) cannot help: the floor's final check is
    the result, 'final-check-failed' at 30 Gy, with the failed check of any level above it kept."""
    case = DirectCase("LRRC-01")
    reference = run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions())
    assert reference.final_check is not None and reference.final_check.reoptimised
    assert reference.final is not None and reference.status == "planned"
    best, floor = reference.final.prescription_gy, PROTOCOL.prescriptions.isotoxic_ladder_gy[0]
    last = reference.optimisations
    outcome = run(PROTOCOL, case.read(), _DriftingOptimiser(case, drift_from=last), WorkflowOptions())
    result = build_result(outcome)
    assert result["final_check"]["reoptimised_at_chosen_level"] is True
    assert result["status"] == "final-check-failed" and result["prescription_gy"] == floor
    above = [best] if best > floor else []
    assert [c["prescription_gy"] for c in result["final_check"]["failed_at_higher_levels"]] == above
    normalised = "dose recomputed and re-read from the TPS after the normalisation"
    expected = [(best, "optimise", False, "plan left at the chosen level"),
                (best, "optimise", False, "re-check"), (best, "final-check", False, normalised)]
    if above:
        expected += [(floor, "optimise", False, "stepped down"), (floor, "optimise", False, "re-check"),
                     (floor, "final-check", False, normalised)]
    steps = [(s.level_gy, s.action, s.feasible, s.note.split(":")[0]) for s in outcome.log]
    assert steps[-len(expected):] == expected
    assert outcome.optimisations == last + (3 if above else 1)


def test_a_final_check_that_only_misses_coverage_is_coverage_compromised():
    """A normalisation that scales the dose down (factor 0.8) keeps every OAR limit but loses the
    coverage rule on LRRC-02: 'coverage-compromised', exit 3, plan kept."""
    case = DirectCase("LRRC-02")
    result = build_result(run(PROTOCOL, case.read(), _ScalingNormaliser(case, 0.8), WorkflowOptions()))
    assert result["status"] == "coverage-compromised" and exit_code_for(result) == 3
    assert result["final_check"]["oar_limits_met"] is True
    assert result["final_check"]["coverage_met"] is False


def test_zero_oars_matched_is_a_stop_that_an_override_cannot_lift():
    """Issue 14 item 4: a structure set in which no protocol OAR matches cannot be 'every limit met'."""
    case = DirectCase("LRRC-01")
    snapshot = case.read()
    renamed = tuple(dataclasses.replace(s, id=f"X_{s.id}") if s.id != "PTV" else s
                    for s in snapshot.structures)
    bare = dataclasses.replace(snapshot, structures=renamed)
    with pytest.raises(EligibilityError, match="no-oar-matched") as stop:
        run(PROTOCOL, bare, None, WorkflowOptions(dry_run=True, override_reason="try anyway"))
    assert "no-oar-matched" in {f.code for f in stop.value.findings}


def test_a_missing_required_oar_stops_unless_overridden_and_an_optional_one_does_not():
    """The sacral plexus (required) missing: a stop naming it; with an override the run proceeds and
    records it. The rectum (optional in the protocol: absent after an abdominoperineal resection)
    missing: an info finding only."""
    case = DirectCase("LRRC-01")
    snapshot = case.read()
    no_plexus = dataclasses.replace(snapshot, structures=tuple(
        s for s in snapshot.structures if s.id != "SacralPlex"))
    with pytest.raises(EligibilityError, match="Sacral plexus") as stop:
        prepare(PROTOCOL, no_plexus, WorkflowOptions())
    assert [(f.code, f.subject) for f in stop.value.findings] == [("oar-not-contoured", "sacral_plexus")]
    prepared = prepare(PROTOCOL, no_plexus, WorkflowOptions(override_reason="plexus outside the field"))
    assert [f["code"] for f in prepared.eligibility["overridden"]] == ["oar-not-contoured"]
    no_rectum = dataclasses.replace(snapshot, structures=tuple(
        s for s in snapshot.structures if s.id != "Rectum"))
    found = {f.code: f.severity for f in prepare(PROTOCOL, no_rectum, WorkflowOptions()).findings
             if f.subject == "rectum"}
    assert found == {"oar-not-contoured": "info"}


def test_an_override_giving_one_structure_to_two_oars_stops_unless_overridden():
    """Found by a hostile-input review: ``{small_bowel: Bladder, bladder: Bladder}`` evaluated the small
    bowel on the bladder and left the matched Bowel_Small out, with no finding. Two OARs on one structure
    (by two overrides, or an override onto another OAR's matched structure) is a stop naming both; with a
    recorded reason (a deliberate choice: cord limits on the cauda equina) the run proceeds and records it."""
    snapshot = DirectCase("LRRC-01").read()
    for overrides, keys in (({"small_bowel": "Bladder", "bladder": "Bladder"}, "small_bowel and as bladder"),
                            ({"spinal_cord": "CaudaEquina"}, "cauda_equina and as spinal_cord")):
        with pytest.raises(EligibilityError) as stop:
            prepare(PROTOCOL, snapshot, WorkflowOptions(structure_overrides=overrides))
        (shared,) = [f for f in stop.value.findings if f.code == "structure-shared-by-oars"]
        assert shared.severity == "stop" and keys in shared.message
    prepared = prepare(PROTOCOL, snapshot, WorkflowOptions(structure_overrides={"spinal_cord": "CaudaEquina"},
                                                           override_reason="cord limits on the cauda"))
    assert "structure-shared-by-oars" in [f["code"] for f in prepared.eligibility["overridden"]]
    assert not [f for f in prepare(PROTOCOL, snapshot, WorkflowOptions()).findings
                if f.code == "structure-shared-by-oars"]


def test_deformable_registration_and_unadjusted_risk_factors_are_flagged():
    """Issue 14 items 9 and 10: a prior dose mapped deformably is recorded as 'deformable' and flagged
    (cumulative-dose inaccuracy); risk factors with the conservation factor left at 1 are flagged,
    and not once it is below 1."""
    case = DirectCase("LRRC-01")
    snapshot = case.read()
    deformed = dataclasses.replace(snapshot, prior_courses=tuple(
        dataclasses.replace(c, registration_kind="deformable", registration_id="DIR CT1->CT2")
        for c in snapshot.prior_courses))
    options = WorkflowOptions(dry_run=True, risk_factors=("diabetes",))
    result = build_result(run(PROTOCOL, deformed, None, options))
    flags = {w["code"] for w in result["warnings"] if w["severity"] == "flag"}
    assert {"deformable-registration", "risk-factors-without-conservation"} <= flags
    assert [c["registration"] for c in result["provenance"]["prior_courses"]] == ["deformable"]
    careful = build_result(run(PROTOCOL, deformed, None,
                               dataclasses.replace(options, conservation_factor=0.8)))
    assert "risk-factors-without-conservation" not in {w["code"] for w in careful["warnings"]}
    plain = build_result(run(PROTOCOL, snapshot, None, WorkflowOptions(dry_run=True)))
    assert [c["registration"] for c in plain["provenance"]["prior_courses"]] == ["same-frame"]


def test_plan_command_takes_recovery_model_and_conservation_factor(tmp_path):
    """`reirrad plan` gains --recovery-model and --conservation-factor (recorded in provenance), and
    refuses a factor outside (0, 1] with a clear error, exit 2."""
    out = tmp_path / "r.json"
    code = cli.main(["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
                     "--dry-run", "--recovery-model", "jones-grant-2014", "--conservation-factor", "0.8",
                     "--risk-factor", "diabetes", "--json", str(out)])
    result = json.loads(out.read_text())
    assert code == 0
    assert result["provenance"]["recovery"]["model"] == "jones-grant-2014"
    assert result["provenance"]["recovery"]["conservation_factor"] == 0.8
    assert result["provenance"]["recovery"]["risk_factors"] == ["diabetes"]
    bowel = next(o for o in result["oars"] if o["name"] == "small_bowel")
    assert bowel["recovery_model"] == "jones-grant-2014"
    assert cli.main(["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
                     "--dry-run", "--conservation-factor", "1.5"]) == 2


def test_tumour_dose_in_the_result_follows_the_closed_forms():
    """target.tumour_dose at α/β 5 and 10 of the final plan: BED = D(1 + D/(5·α/β)), EQD2 = BED/(1 + 2/α/β)
    of the prescription, of D95 and D80; the statement names the level and the coverage rule."""
    case = DirectCase("LRRC-02")
    result = build_result(run(PROTOCOL, case.read(), DirectPlanner(case), WorkflowOptions()))
    target = result["target"]
    rx = result["prescription_gy"]
    assert [t["alpha_beta_gy"] for t in target["tumour_dose"]] == [5.0, 10.0]
    for t in target["tumour_dose"]:
        ab = t["alpha_beta_gy"]

        def eqd2(dose: float, ab: float = ab) -> float:
            return dose * (1 + dose / (5 * ab)) / (1 + 2 / ab)

        assert t["prescription_bed_gy"] == pytest.approx(rx * (1 + rx / (5 * ab)))
        assert t["prescription_eqd2_gy"] == pytest.approx(eqd2(rx))
        assert t["d95_eqd2_gy"] == pytest.approx(eqd2(target["d95_gy"]))
        assert t["d80_eqd2_gy"] == pytest.approx(eqd2(target["d80_gy"]))
        reference_bed = 30 * (1 + 30 / (5 * ab))
        assert t["bed_ratio_to_reference"] == pytest.approx(rx * (1 + rx / (5 * ab)) / reference_bed)
    statement = f"{rx:g} Gy in 5 fractions to >= 80 % of the PTV at 95 %"
    assert target["prescription_statement"].startswith(statement)
    assert np.isfinite(target["d80_gy"]) and target["d80_gy"] >= target["d95_gy"]


def _patient_with_an_alternative(tmp_path: Path) -> Path:
    """LRRC-01 whose prior course also holds an unapproved alternative plan with a computed dose."""
    source = next(p.path for p in list_patients() if p.id == "LRRC-01")
    raw: Dict[str, Any] = yaml.safe_load(Path(source).read_text())
    raw["id"] = "ALT-TEST"
    delivered = raw["courses"][0]["plans"][0]
    # a deep copy: shared objects would be written as YAML anchors, which the strict reader refuses
    alternative = copy.deepcopy({k: v for k, v in delivered.items()
                                 if k not in ("first_fraction", "last_fraction")})
    alternative.update(id="PELVIS_ALT", approval="UnApproved", prescription_gy=50.4, n_fractions=28)
    raw["courses"][0]["plans"].append(alternative)
    path = tmp_path / "ALT-TEST.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("tps", ["raystation-stub", "eclipse-stub"])
def test_an_unapproved_alternative_plan_is_not_prior_dose_in_either_tps(tmp_path, tps):
    """One engine rule for both TPSs (reirrad.priors): the prior course's unapproved alternative plan,
    although it has a dose, is not counted as prior dose; it is flagged, and the selection with its
    reasons is in the provenance. The delivered plan is the only prior course."""
    out = tmp_path / "r.json"
    code = cli.main(["plan", "--tps", tps, "--patient", str(_patient_with_an_alternative(tmp_path)),
                     "--intent", "isotoxic", "--dry-run", "--json", str(out)])
    result = json.loads(out.read_text())
    assert code == 0, result.get("reason")
    assert [c["course"].split("/")[-1] for c in result["provenance"]["prior_courses"]] == ["PELVIS_45"]
    selection = {r["plan"]: r for r in result["provenance"]["prior_plan_selection"]}
    assert selection["PELVIS_45"]["selected"] is True
    assert selection["PELVIS_ALT"]["selected"] is False and selection["PELVIS_ALT"]["has_dose"] is True
    flags = [w for w in result["warnings"] if w["code"] == "plan-not-counted-as-prior"]
    assert len(flags) == 1 and "PELVIS_ALT" in flags[0]["subject"] and flags[0]["severity"] == "flag"


def test_a_course_completion_date_is_flagged_until_the_user_confirms_the_last_fraction():
    """Eclipse keeps no treatment date here: Course.CompletedDateTime (the day the course was closed) is
    used but marked 'course-completed' and flagged; once the user gives the date (answers, dialog:
    CaseSnapshot.with_dates) it is 'user' and the flag is gone."""
    require_esapi_stand_in()
    esapi_stand_in.reset()
    context = esapi_stand_in.load_context("LRRC-01")
    snapshot = EclipseCaseSource(context.Patient, context.ExternalPlanSetup,
                                 planned_start=dt.date(2026, 12, 7)).read()
    (course,) = snapshot.prior_courses
    assert course.last_fraction_source == "course-completed"
    flags = {f.code for f in prepare(PROTOCOL, snapshot, WorkflowOptions(dry_run=True)).findings}
    assert "last-fraction-from-course-completion" in flags
    confirmed = snapshot.with_dates(None, {course.plan_id: dt.date(2024, 6, 7)})
    assert confirmed.prior_courses[0].last_fraction_source == "user"
    flags = {f.code for f in prepare(PROTOCOL, confirmed, WorkflowOptions(dry_run=True)).findings}
    assert "last-fraction-from-course-completion" not in flags
