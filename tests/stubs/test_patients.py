"""Stub patients (tps_stubs.patients): the shipped scenarios, their geometry and prior doses.

Sources of truth: the scenario list of issue 4 item 3, calendar arithmetic of the definition dates,
closed-form volumes of the primitives (4/3·π·a·b·c), and the conformal-dose formula of
tps_stubs.planner.conformal_dose evaluated through the stored registration.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from reirrad.dose import DoseGrid
from reirrad.structures import structure_occupancy
from tps_stubs.patients import DEFAULT_PATIENT, DEFINITIONS, DefinitionError, list_patients, load_patient
from tps_stubs.planner import conformal_dose, dose_grid_points

SCENARIOS = {"LRRC-01", "LRRC-02", "PROS-01", "GYN-01", "TWO-01", "EARLY-01", "REG-01", "CGY-01",
             "GYN-BT-01", "EDGE-01"}


def test_the_shipped_scenarios_exist():
    """The seven scenarios of the stub-patient list (plus the cGy clinic and prior HDR brachytherapy,
    GYN-BT-01); ids are unique; the default exists."""
    ids = [p.id for p in list_patients()]
    assert set(ids) >= SCENARIOS
    assert len(ids) == len(set(ids))
    assert DEFAULT_PATIENT in ids


@pytest.mark.parametrize("patient_id", sorted(SCENARIOS))
def test_intervals_and_courses_match_the_scenario(patient_id):
    """Days from each prior plan's last fraction to the planned start equal the stated interval;
    prior plans are treated (Completed), the current plan is unapproved, 5 fractions, with a target."""
    patient = load_patient(patient_id)
    priors = patient.prior_plans()
    expected = patient.expectations["interval_days"]
    expected = expected if isinstance(expected, list) else [expected]
    assert [(patient.planned_start - p.last_fraction).days for p in priors] == expected
    assert len(priors) == patient.expectations["prior_courses"]
    assert all(p.approval_status == "Completed" for p in priors)
    current = patient.current_plan
    assert current.approval_status == "UnApproved"
    assert current.n_fractions == 5 and current.target_id == "PTV" and current.dose is None
    assert current.beams


def test_interval_under_six_months_scenario():
    """EARLY-01: 122 days (4.0 months) — under the guidance's 6 months."""
    assert load_patient("EARLY-01").expectations["interval_days"] < 6 * 30.4375


def test_cgy_clinic_and_default_unit():
    """CGY-01 is configured in cGy; the others in Gy."""
    assert load_patient("CGY-01").dose_unit == "cGy"
    assert load_patient("LRRC-01").dose_unit == "Gy"


@pytest.mark.parametrize(("structure", "volume_mm3"), [
    ("Bladder", 4.0 / 3.0 * math.pi * 38 * 30 * 28),
    ("Femur_Head_L", 4.0 / 3.0 * math.pi * 24**3),
    ("PTV", 4.0 / 3.0 * math.pi * 22 * 14 * 20),
])
def test_contoured_volumes_match_the_primitives(structure, volume_mm3):
    """Contours from marching squares, rasterised by the engine on a 2 mm grid, give the closed-form
    volume of the primitive within 2 % (2.5 mm planes, slab model)."""
    patient = load_patient("LRRC-01")
    image = patient.image("CT_PLAN")
    contours = patient.structure_set("CT_PLAN").structure(structure).all_contours()
    grid = DoseGrid(np.zeros((image.size[2], image.size[1], image.size[0])), image.origin_mm,
                    image.spacing_mm, image.direction)
    occ = structure_occupancy(contours, grid)
    assert occ.volume_cc == pytest.approx(volume_mm3 / 1000.0, rel=0.02)


def test_contours_lie_on_image_planes():
    """Every contour is closed-planar on its image plane's z."""
    patient = load_patient("LRRC-01")
    planes = patient.image("CT_PLAN").plane_z_mm()
    for s in patient.structure_set("CT_PLAN").structures:
        for k, contours in s.contours_by_plane.items():
            for c in contours:
                assert c.shape[1] == 3 and len(c) >= 3
                np.testing.assert_allclose(c[:, 2], planes[k])


@pytest.mark.parametrize("patient_id", sorted(SCENARIOS))
def test_prior_dose_reaches_the_prescription(patient_id):
    """conformal_dose: (1 − b)·σ(3) + b at the surface, ≈ Rx deep inside, so the maximum is the
    highest prescription of the plan within 1 % (a simultaneous boost's, when the dose has components)."""
    source = next(p.path for p in list_patients() if p.id == patient_id)
    raw = yaml.safe_load(Path(source).read_text())
    boosts = {p["id"]: max(float(c["prescription_gy"]) for c in p["dose"]["components"])
              for c_ in raw["courses"] for p in c_["plans"] if "components" in (p.get("dose") or {})}
    for plan in load_patient(patient_id).prior_plans():
        assert plan.dose is not None and plan.prescription_gy is not None
        highest = max(plan.prescription_gy, boosts.get(plan.id, 0.0))
        assert float(plan.dose.values_gy.max()) == pytest.approx(highest, rel=0.01)


def test_prior_dose_in_another_frame_follows_the_registration():
    """REG-01: the prior dose lives in the prior CT's frame; sampling it at M⁻¹·p (M maps prior →
    planning) gives the conformal dose evaluated at planning point p, within interpolation error."""
    patient = load_patient("REG-01")
    plan = patient.prior_plans()[0]
    reg = patient.registrations[0]
    prior_image = patient.image(plan.image_id)
    assert reg.source_for == prior_image.frame_of_reference_uid
    assert reg.target_for == patient.image("CT_PLAN").frame_of_reference_uid
    dose = plan.dose
    assert dose is not None
    grid = DoseGrid(dose.values_gy, dose.origin_mm, dose.spacing_mm, dose.direction)
    planning_pts = dose_grid_points((-40.0, 0.0, -60.0), (20.0, 20.0, 20.0), (5, 5, 7), np.eye(3))
    q = (planning_pts - reg.matrix[:3, 3]) @ np.linalg.inv(reg.matrix[:3, :3]).T
    sampled, inside = grid.sample(q)
    assert inside.all()
    target = {"box": {"centre": [0, 30, -20], "half_size": [60, 55, 70]}}
    expected = conformal_dose(target, planning_pts, 50.4, falloff_mm=10.0)
    np.testing.assert_allclose(sampled, expected, atol=0.02 * 50.4)


def test_unknown_patient_and_bad_definition(tmp_path):
    """An unknown id lists the shipped ids; a definition without images is a DefinitionError."""
    with pytest.raises(KeyError, match="LRRC-01"):
        load_patient("NOBODY")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: BAD\nplanned_start: 2026-01-01\nstructure_sets: []\ncourses: []\n"
                   "current: {course: X, plan: Y}\n")
    with pytest.raises(DefinitionError, match="images"):
        load_patient(bad)


def test_load_by_path_equals_load_by_id():
    """A definition path loads the same patient as its id."""
    by_id = load_patient("LRRC-02")
    by_path = load_patient(next(p.path for p in list_patients() if p.id == "LRRC-02"))
    assert by_path is by_id


@pytest.mark.parametrize(("optimiser", "needle"), [("{noise: 1}", "unknown optimiser key"),
                                                   ("{fail_on: 2}", "must be a list"),
                                                   ("{sequencing_pct: 50}", r"\[0, 10\]")])
def test_bad_optimiser_settings_are_refused_when_the_definition_is_read(tmp_path, optimiser, needle):
    """A definition whose ``optimiser`` mapping is malformed is a DefinitionError when it is loaded (one
    line naming the file and the key), not an error at the stand-in's first optimisation."""
    text = (DEFINITIONS / "LRRC-02.yaml").read_text(encoding="utf-8") + f"optimiser: {optimiser}\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError, match=needle):
        load_patient(bad)


@pytest.mark.parametrize(("old", "new", "needle"), [
    ("n_fractions: 5\n", "n_fractions: 5.7\n", r"n_fractions: expected a whole number >= 1, got 5\.7"),
    ("n_fractions: 5\n", "n_fractions: 0\n", "n_fractions: expected a whole number >= 1, got 0"),
    ("n_fractions: 5\n", "n_fractions: true\n", "got True"),
    ("prescription_gy: 25.0\n", "prescription_gy: -25.0\n", r"prescription_gy: expected a number > 0"),
    ("prescription_gy: 25.0\n", "prescription_gy: '25 Gy'\n", "got '25 Gy'"),
    ("size: [180, 120, 97]", "size: [180, 120.5, 97]", r"size\[1\]: expected a whole number"),
    ("size: [180, 120, 97]", "size: [180, 120]", "need three values each"),
    ("spacing_mm: [2.0, 2.0, 2.5]", "spacing_mm: [2.0, .nan, 2.5]",
     r"spacing_mm\[1\]: expected a number > 0"),
])
def test_numbers_of_a_definition_are_checked_never_cut(tmp_path, old, new, needle):
    """A definition's fractions and image size are whole numbers (5.7 fractions were cut to 5), its
    prescription and spacing finite numbers > 0 (text was a traceback): a DefinitionError naming the key."""
    text = (DEFINITIONS / "LRRC-02.yaml").read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DefinitionError, match=needle):
        load_patient(bad)


@pytest.mark.parametrize("bad_id", ["", "A" * 65, "LRRC\nStatus: planned", "=HYPERLINK(1)", "12", "x y"])
def test_a_stub_patient_id_is_a_short_plain_identifier(tmp_path, bad_id):
    """A definition's id is 1-64 letters, digits, '.', '_' or '-' (a 2 MB id went whole into every
    output; a newline split console lines); the shipped ids pass, a number is not an id."""
    text = (DEFINITIONS / "LRRC-02.yaml").read_text(encoding="utf-8")
    assert text.startswith("id: LRRC-02\n")
    bad = tmp_path / "bad.yaml"
    value = 12 if bad_id == "12" else json.dumps(bad_id)
    bad.write_text(text.replace("id: LRRC-02\n", f"id: {value}\n", 1), encoding="utf-8")
    with pytest.raises(DefinitionError, match="id must be 1-64 letters"):
        load_patient(bad)


def test_edge_patient_prior_dose_is_hottest_away_from_the_new_target():
    """EDGE-01 (issue 20): the prior course's 60 Gy boost covers the small-bowel loop far from the new PTV,
    while the loop next to the PTV lies at the edge of the 45 Gy field. Sampled at the loops' centres
    (definition: boost sphere centred 10 mm from the far loop's centre, radius 28 mm → inside; near loop
    centre 10 mm inside the box's top face, where a 10 mm fall-off leaves less than the 45 Gy plateau)."""
    patient = load_patient("EDGE-01")
    (prior,) = patient.prior_plans()
    d = prior.dose
    grid = DoseGrid(d.values_gy, d.origin_mm, d.spacing_mm, d.direction)
    values, inside = grid.sample([[-35.0, -15.0, -5.0], [45.0, -5.0, 40.0]])
    assert inside.all()
    far, near = (float(v) for v in values)
    assert far > 57.0 and near < 45.0
