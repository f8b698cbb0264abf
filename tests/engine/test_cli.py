"""Command line (reirrad.cli): constraints, protocols, demo; JSON fields and exit codes.

Expected numbers come from the closed forms in test_constraints.py (e.g. small bowel 45/25 two
years ago → 28.08 Gy) and docs/design.md §5 (field names, exit codes 0/1/2).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest

from reirrad import cli

DESIGN_OAR_FIELDS = ("name", "structure", "metric", "alpha_beta_gy", "cumulative_limit_eqd2_gy",
                     "prior_eqd2_gy", "recovered_fraction", "effective_prior_eqd2_gy",
                     "remaining_eqd2_gy", "allowed_physical_gy", "planned_physical_gy",
                     "cumulative_eqd2_gy", "passed")


def run(args, capsys):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_constraints_prior_options_json(tmp_path, capsys):
    """--prior → table on stdout and JSON with the DESIGN fields; small bowel 28.08 Gy (R = 48.4)."""
    out_json = tmp_path / "r.json"
    code, out, _ = run(["constraints", "--prior", "small_bowel=45/25@730", "--prior", "bladder=48/25@730",
                        "--json", str(out_json)], capsys)
    assert code == 0
    assert "small_bowel" in out and "bladder" in out
    result = json.loads(out_json.read_text())
    assert result["n_fractions"] == 5
    oars = {r["name"]: r for r in result["oars"]}
    for field in DESIGN_OAR_FIELDS:
        assert field in oars["small_bowel"]
    assert oars["small_bowel"]["allowed_physical_gy"] == pytest.approx(5 * (-3 + math.sqrt(202.6)) / 2)
    assert result["provenance"]["protocol"]["name"] == "uk-sabr-pelvis-reirradiation"
    assert len(result["provenance"]["protocol"]["sha256"]) == 64
    assert result["provenance"]["recovery"]["model"] == "uk-guidance"
    assert result["eligibility"]["eligible"] is True


def test_constraints_table_states_the_interval_in_the_months_the_bands_use(capsys):
    """DESIGN.md: months = days / 30.4375, so 548 days is 18.004 months, above 18: 50 %. With one decimal
    the table read "18.0 months, recovery credited 50 %", which looks contrary to the rule; three decimals
    and the month's length say what was compared (547 days: 17.971 months, 30 %)."""
    code, out, _ = run(["constraints", "--prior", "small_bowel=45/25@548"], capsys)
    assert code == 0
    assert "interval 548 days (18.004 months of 30.4375 days), recovery credited 50 %" in out
    code, out, _ = run(["constraints", "--prior", "small_bowel=45/25@547"], capsys)
    assert "interval 547 days (17.971 months of 30.4375 days), recovery credited 30 %" in out



def test_constraints_table_shows_the_limit_checked_with_jones_grant(capsys):
    """Jones & Grant checks against min(L, T) (small bowel L = 70, T = 50 Gy; docs of
    reirrad.constraints: 45 Gy/25 at 730 days leaves 50 − 14.52 = 35.48 Gy EQD2 → 23.21 Gy). The table's
    'limit EQD2' column said 70.00 beside 'remaining 35.48', which does not add up (a clinical review):
    it shows 50.00 now, with a line saying it is the single-course tolerance below the limit of 70."""
    code, out, _ = run(["constraints", "--prior", "small_bowel=45/25@730", "--recovery-model",
                        "jones-grant-2014"], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("small_bowel"))
    cells = row.split()
    assert cells[3:4] == ["50.00"] and "35.48" in cells and "23.21" in cells
    assert ("'limit EQD2' of small_bowel is the single-course tolerance (cumulative limit 70.00): the "
            "Jones & Grant model checks against the lower of the two.") in out
    code, out, _ = run(["constraints", "--prior", "small_bowel=45/25@730"], capsys)
    assert next(line for line in out.splitlines() if line.startswith("small_bowel")).split()[3] == "70.00"
    assert "single-course tolerance" not in out

def test_constraints_sensitivity_table_json_and_flag(tmp_path, capsys):
    """--sensitivity: the table on stdout, ``sensitivity`` in the JSON with the module's hand-derived rows
    (small bowel 45 Gy/25 at 700 d: α/β 2 → 26.58 Gy, recovery 30 % → 24.91 Gy; reirrad.sensitivity), and
    a sensitive-decision flag (no recovery: 19.45 Gy, −30.7 %, beyond 10 %); without it, none of them."""
    out_json = tmp_path / "r.json"
    code, out, _ = run(["constraints", "--prior", "small_bowel=45/25@700", "--sensitivity", "--json",
                        str(out_json)], capsys)
    assert code == 0
    assert "Sensitivity:" in out and "α/β 2 Gy" in out and "Guidance steps vs Jones & Grant" in out
    result = json.loads(out_json.read_text())
    rows = {r["label"]: r for r in result["sensitivity"]}
    assert rows["α/β 2 Gy"]["allowed_physical_gy"] == pytest.approx(26.58, abs=0.005)
    assert rows["recovery 30 %"]["allowed_physical_gy"] == pytest.approx(24.91, abs=0.005)
    assert rows["no recovery"]["change_percent"] == pytest.approx(100 * (19.449 / 28.084 - 1), abs=0.1)
    flags = [w for w in result["warnings"] if w["code"] == "sensitive-decision"]
    assert len(flags) == 1 and flags[0]["subject"] == "small_bowel"
    assert "[FLAG] sensitive-decision" in out
    assert "sensitivity.alpha_beta_step" in result["provenance"]["values_used"]
    code, out, _ = run(["constraints", "--prior", "small_bowel=45/25@700", "--json", str(out_json)], capsys)
    assert code == 0 and "Sensitivity:" not in out
    plain = json.loads(out_json.read_text())
    assert "sensitivity" not in plain
    assert not [w for w in plain["warnings"] if w["code"] == "sensitive-decision"]


def test_constraints_case_file_with_dates(tmp_path, capsys):
    """Dates give the interval: 2023-06-30 → 2025-03-03 is 612 days (20.1 months → 50 %)."""
    case = tmp_path / "case.yaml"
    case.write_text(textwrap.dedent("""
        new_course_start: 2025-03-03
        courses:
          - name: LCCRT
            n_fractions: 25
            last_fraction: 2023-06-30
            oar_doses_gy: {small_bowel: 45.0}
    """))
    out_json = tmp_path / "r.json"
    code, _, _ = run(["constraints", "--case", str(case), "--json", str(out_json)], capsys)
    assert code == 0
    course = json.loads(out_json.read_text())["oars"][0]["courses"][0]
    assert course["interval_days"] == 612
    assert course["recovered_fraction"] == 0.5


def test_interval_under_six_months_exits_2_unless_overridden(tmp_path, capsys):
    """Eligibility stop → exit 2; with --override-eligibility REASON → exit 0 and the reason recorded."""
    code, out, _ = run(["constraints", "--prior", "rectum=45/25@120"], capsys)
    assert code == 2
    assert "interval-under-6-months" in out
    out_json = tmp_path / "r.json"
    code, _, _ = run(["constraints", "--prior", "rectum=45/25@120", "--override-eligibility",
                      "MDT approved", "--json", str(out_json)], capsys)
    assert code == 0
    record = json.loads(out_json.read_text())["eligibility"]
    assert record["override_reason"] == "MDT approved"
    assert record["eligible"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["constraints", "--prior", "small_bowel=45Gy/25@730"], "is not OAR=DOSE/FRACTIONS@DAYS"),
        (["constraints", "--prior", "liver=45/25@730"], "has no OAR 'liver'"),
        (["constraints", "--prior", "rectum=45/25@730", "--protocol", "no-such"], "neither a shipped"),
        (["constraints", "--prior", "rectum=45/25@730", "--conservation-factor", "1.5"],
         "conservation_factor"),
        (["constraints", "--prior", "rectum=45/25@730", "--fractions", "0"], "fractions"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, message, capsys):
    """Bad input: exit 2 and a one-line error naming the problem (no traceback)."""
    code, _, err = run(args, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("courses: 3", "'courses' must be a list"),
        ("courses:\n  - {n_fractions: 25, interval_days: 700, oar_doses_gy: {rectum: '45'}}",
         "expected a dose in Gy"),
        ("courses:\n  - {n_fractions: 25, last_fraction: 2024-01-01, oar_doses_gy: {rectum: 45}}",
         "needs new_course_start"),
        # found by a hostile-input review: silently unused before
        ("new_course_start: 2026-12-07\ncourses:\n  - {n_fractions: 25, interval_days: 700, "
         "oar_doses_gy: {rectum: 45}}", "new_course_start is used with the courses' last_fraction dates"),
        ("courses:\n  - {n_fractions: 25, interval_days: 700, oar_doses_gy: {rectum: 45}}\n"
         "  - {n_fractions: 5, interval_days: 300, oar_doses_gy: {bladder: 20}}",
         "a missing dose is never assumed to be zero"),
        ("courses:\n  - {fractions: 25}", "unknown key(s) ['fractions']"),
        ("courses: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_case_file(tmp_path, capsys, text, message):
    """Malformed case files exit 2 with the file and the key named."""
    case = tmp_path / "case.yaml"
    case.write_text(text)
    code, _, err = run(["constraints", "--case", str(case)], capsys)
    assert code == 2
    assert message in err


def test_course_without_dose_is_an_eligibility_stop(tmp_path, capsys):
    """A course listed with no doses at all is 'prior-course-without-dose' (stop, exit 2)."""
    case = tmp_path / "case.yaml"
    case.write_text("courses:\n  - {name: external, n_fractions: 25, interval_days: 700}\n"
                    "  - {name: ours, n_fractions: 5, interval_days: 400, oar_doses_gy: {rectum: 20}}\n")
    out_json = tmp_path / "r.json"
    code, _, _ = run(["constraints", "--case", str(case), "--json", str(out_json)], capsys)
    assert code == 2
    found = [f["code"] for f in json.loads(out_json.read_text())["eligibility"]["findings"]]
    assert "prior-course-without-dose" in found
    assert "multiple-prior-courses" in found


def test_protocols(capsys):
    """`protocols` lists the shipped protocol."""
    code, out, _ = run(["protocols"], capsys)
    assert code == 0 and "uk-sabr-pelvis-reirradiation" in out


def test_python_dash_m_entry_point(tmp_path):
    """`python -m reirrad` runs the same command line in a fresh process."""
    proc = subprocess.run([sys.executable, "-m", "reirrad", "constraints", "--prior",
                           "bladder=48/28@800", "--json", str(tmp_path / "o.json")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "o.json").read_text())["oars"][0]["name"] == "bladder"
