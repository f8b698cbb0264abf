"""Hostile and careless inputs: every bad input file, number, date or option ends the run with exit 2 and
one line naming the problem (the file, the key and the fix), never a traceback, and leaves every file as
it was.

Sources of truth: the rules of ``reirrad.inputfiles`` and the bounds of ``reirrad.bounds`` (both
documented in docs/input-files.md), the exit codes of ``reirrad.statuses`` (2 = bad input or a stop), and
the cases reported against the command line (a duplicate key read last-one-wins, ``1e23`` fractions
accepted, an alias bomb running out of memory, ``--patient NOPE`` and ``--tps-version 11B`` with the
Eclipse stand-in). Most cases run the command line in-process (``reirrad.cli.main``); a few run it as a
subprocess, the way a user does, to check the process's exit code and stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from reirrad import cli
from reirrad.bounds import (
    MAX_COURSE_DOSE_GY,
    MAX_DAYS_TO_PLANNED_START,
    MAX_DOSE_PER_FRACTION_GY,
    MAX_FRACTIONS_PER_COURSE,
    MAX_INTERVAL_DAYS,
    MAX_PRESCRIPTION_GY,
    check_course_dates,
    check_course_dose,
    check_date,
    check_fractions,
    check_interval_days,
    check_prescription,
)
from reirrad.errors import InputError, InputFileError, ProtocolError, echo
from reirrad.inputfiles import MAX_INPUT_BYTES, parse_yaml, read_yaml_file
from reirrad.pointcase import parse_prior_options
from reirrad.protocol import PROTOCOL_DIR, load_protocol
from reirrad.recovery import interval_days_between
from reirrad_tps.answers import read_answers
from reirrad_tps.commands import check_tps_version

SHIPPED = PROTOCOL_DIR / "uk-sabr-pelvis-reirradiation.yaml"
GOOD_COURSE = "  - {name: A, n_fractions: 25, interval_days: 730, oar_doses_gy: {small_bowel: 45}}\n"


def _state(folder: Path) -> Dict[str, Tuple[int, int]]:
    """Every entry under ``folder`` with its size and modification time (a FIFO is not opened)."""
    return {p.relative_to(folder).as_posix(): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def _refused(args: List[str], folder: Path, capsys: Any, needle: str) -> str:
    """Run the command line in-process; assert exit 2, one ``reirrad: error:`` line containing
    ``needle``, no traceback, a short message, and nothing created or changed under ``folder``."""
    before = _state(folder)
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("reirrad: error: "), lines[0]
    assert needle in lines[0], lines[0]
    assert len(lines[0]) < 1500
    assert _state(folder) == before
    return lines[0]


def _case(folder: Path, content: Any, name: str = "case.yaml") -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _constraints(case: Path, folder: Path) -> List[str]:
    return ["constraints", "--case", str(case), "--json", str(folder / "result.json")]


def _billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    lines.append("courses: []")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Case files: the strict reader


@pytest.mark.parametrize(("content", "needle"), [
    pytest.param("courses:\n  - name: A\n    n_fractions: 25\n    interval_days: 730\n    oar_doses_gy:\n"
                 "      small_bowel: 45\n      small_bowel: 4.5\n",
                 "at 'courses[0].oar_doses_gy.small_bowel': key defined twice (lines 6 and 7)",
                 id="duplicate-dose"),
    pytest.param("courses:\n  - name: A\n    n_fractions: 25\n    interval_days: 100\n"
                 "    interval_days: 730\n    oar_doses_gy: {small_bowel: 45}\n",
                 "at 'courses[0].interval_days': key defined twice (lines 4 and 5)", id="duplicate-interval"),
    pytest.param('{"courses": [], "courses": []}', "at 'courses': key defined twice (lines 1 and 1)",
                 id="duplicate-json"),
    pytest.param("courses: []\nn_fractions: 5\nn_fractions: 5\n", "key defined twice (lines 2 and 3)",
                 id="duplicate-equal-values"),
    pytest.param("x: &anchor 1\ncourses: []\n", "the YAML anchor '&anchor' is not accepted", id="anchor"),
    pytest.param("base: {n_fractions: 25}\ncourses:\n  - <<: {n_fractions: 25}\n",
                 "YAML merge keys (<<) are not accepted", id="merge-key"),
    pytest.param("courses: []\n1: x\n", "a mapping key must be text, but '1' is read as a number",
                 id="mixed-key-types"),
    pytest.param("courses: []\nyes: 1\n", "is read as a boolean", id="bool-key"),
    pytest.param("? [a, b]\n: 1\n", "a mapping key must be text, got a list", id="complex-key"),
    pytest.param("courses: []\n2024-01-01: x\n", "is read as a date", id="date-key"),
    pytest.param("courses: !!python/object/apply:os.system ['echo pwned']\n",
                 "the YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not accepted",
                 id="python-tag"),
    pytest.param("courses: !!binary aGVsbG8=\n", "tag:yaml.org,2002:binary' is not accepted",
                 id="binary-tag"),
    pytest.param("courses: !!set {a, b}\n", "tag:yaml.org,2002:set' is not accepted", id="set-tag"),
    pytest.param("courses: !local [1]\n", "the YAML tag '!local' is not accepted", id="local-tag"),
    pytest.param("courses: []\n---\ncourses: []\n", "expected a single document", id="two-documents"),
    pytest.param("courses: [unclosed\n", "not valid YAML/JSON at line 2", id="syntax"),
    pytest.param("courses:\n\t- a\n", "not valid YAML/JSON at line 2", id="tab-indent"),
    pytest.param("courses: [" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep",
                 id="deep-nesting"),
    pytest.param("courses: []\nn_fractions: " + "9" * 200 + "\n", "a number written with 200 characters",
                 id="200-digit-number"),
    pytest.param("new_course_start: 2025-02-30\ncourses: []\n",
                 "at 'new_course_start': line 1: '2025-02-30' is not a valid date", id="impossible-date"),
    pytest.param("new_course_start: 2025-13-01\ncourses: []\n", "is not a valid date", id="month-13"),
    pytest.param("new_course_start: 0202-02-03\ncourses: []\n", "the year 202 is outside 1900..2200",
                 id="year-202"),
    pytest.param("new_course_start: 2999-01-01\ncourses: []\n", "the year 2999 is outside 1900..2200",
                 id="year-2999"),
    pytest.param("new_course_start: 20224-01-01\ncourses: []\n", "new_course_start must be a date YYYY-MM-DD",
                 id="five-digit-year"),
    pytest.param("new_course_start: 99999999999999999999\ncourses: []\n",
                 "new_course_start must be a date YYYY-MM-DD (got 99999999999999999999 of type int)",
                 id="huge-int-as-date"),
    pytest.param(b"courses:\n  - name: caf\xe9\n",
                 "not UTF-8 text: the byte 0xe9 at byte offset 22 (line 2)", id="latin-1"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8\xff",
                 "not UTF-8 text: the byte 0x89 at byte offset 0", id="binary-garbage"),
    pytest.param(b"courses: []\n\x00\x01\x02", "the character #x0000 at character 12 is not allowed",
                 id="nul-bytes"),
    pytest.param("", "a case must be a mapping with 'courses' (got NoneType)", id="empty"),
    pytest.param("- just\n- a list\n", "a case must be a mapping with 'courses' (got list)", id="a-list"),
], )
def test_a_malformed_case_file_is_refused(tmp_path, capsys, content, needle):
    case = _case(tmp_path, content)
    line = _refused(_constraints(case, tmp_path), tmp_path, capsys, needle)
    assert f"case file {case}" in line


@pytest.mark.parametrize(("course", "needle"), [
    ("{n_fractions: 99999999, interval_days: 730, oar_doses_gy: {small_bowel: 45}}",
     "n_fractions = 99999999 fractions is above the plausible maximum of 60 fractions"),
    ("{n_fractions: 0, interval_days: 730, oar_doses_gy: {small_bowel: 45}}",
     "expected a whole number of fractions >= 1 (got 0)"),
    ("{n_fractions: 25.0, interval_days: 730, oar_doses_gy: {small_bowel: 45}}",
     "expected a whole number of fractions >= 1 (got 25.0)"),
    ("{n_fractions: '25', interval_days: 730, oar_doses_gy: {small_bowel: 45}}",
     "expected a whole number of fractions >= 1 (got '25')"),
    ("{n_fractions: true, interval_days: 730, oar_doses_gy: {small_bowel: 45}}",
     "expected a whole number of fractions >= 1 (got True)"),
    ("{n_fractions: 25, interval_days: 730, oar_doses_gy: {small_bowel: -1}}",
     "small_bowel = -1 Gy: a dose cannot be negative"),
    ("{n_fractions: 25, interval_days: 730, oar_doses_gy: {small_bowel: .nan}}",
     "small_bowel must be a finite number in Gy (got nan)"),
    ("{n_fractions: 25, interval_days: 730, oar_doses_gy: {small_bowel: .inf}}",
     "small_bowel must be a finite number in Gy (got inf)"),
    ("{n_fractions: 25, interval_days: 730, oar_doses_gy: {small_bowel: 4500}}",
     "small_bowel = 4500 Gy is above the plausible maximum of 150 Gy"),
    ("{n_fractions: 25, interval_days: 730, oar_doses_gy: {small_bowel: 1.0e+400}}",
     "small_bowel must be a finite number in Gy (got inf)"),
    ("{n_fractions: 1, interval_days: 730, oar_doses_gy: {small_bowel: 45}}",
     "is 45 Gy per fraction, above the plausible maximum of 35 Gy per fraction"),
    ("{n_fractions: 25, interval_days: -1, oar_doses_gy: {small_bowel: 45}}",
     "interval_days = -1 days: an interval cannot be negative"),
    ("{n_fractions: 25, interval_days: .inf, oar_doses_gy: {small_bowel: 45}}",
     "interval_days must be a finite number in days (got inf)"),
    ("{n_fractions: 25, interval_days: 99999999999999999999, oar_doses_gy: {small_bowel: 45}}",
     "interval_days = 99999999999999999999 days is above the plausible maximum of 36525 days"),
    ("{n_fractions: 25, last_fraction: 1899-12-31, oar_doses_gy: {small_bowel: 45}}",
     "the year 1899 is outside 1900..2200"),
    ("{n_fractions: 25, last_fraction: 2026-01-01, oar_doses_gy: {small_bowel: 45}}",
     "before the prior course ended 2026-01-01"),
])
def test_an_implausible_number_in_a_case_file_is_refused(tmp_path, capsys, course, needle):
    case = _case(tmp_path, f"new_course_start: 2025-03-03\ncourses:\n  - {course}\n")
    _refused(_constraints(case, tmp_path), tmp_path, capsys, needle)


def test_the_duplicate_dose_of_the_report_is_refused_not_read_as_4_5_gy(tmp_path, capsys):
    """The reported case: 45 then 4.5 Gy was evaluated at 4.5 Gy (allowed 34.58 Gy instead of 28.08)."""
    case = _case(tmp_path, "courses:\n  - name: A\n    n_fractions: 25\n    interval_days: 730\n"
                           "    oar_doses_gy:\n      small_bowel: 45\n      small_bowel: 4.5\n")
    with pytest.raises(InputFileError) as info:
        read_yaml_file(case, "case file")
    assert info.value.key_path == "courses[0].oar_doses_gy.small_bowel"
    assert "lines 6 and 7" in info.value.problem
    line = _refused(_constraints(case, tmp_path), tmp_path, capsys, "remove or rename one")
    assert "34.58" not in line


def test_an_alias_bomb_fails_at_once(tmp_path, capsys):
    """Billion laughs (9^9 strings after expansion) is refused at its first anchor, in well under a second."""
    case = _case(tmp_path, _billion_laughs())
    start = time.perf_counter()
    _refused(_constraints(case, tmp_path), tmp_path, capsys,
             "line 1: the YAML anchor '&a' is not accepted (aliases and anchors are refused, never expanded)")
    assert time.perf_counter() - start < 2.0


def test_an_alias_without_its_anchor_is_refused_too():
    """An alias is refused as an alias (not as a syntax error), with its line."""
    with pytest.raises(InputFileError, match=r"line 1: the YAML alias '\*nowhere' is not accepted"):
        parse_yaml(b"courses: *nowhere\n", "mem.yaml", "case file")


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused_before_it_is_read(tmp_path, capsys, special):
    if not Path(special).exists():
        pytest.skip(f"{special} does not exist on this system")
    _refused(["constraints", "--case", special], tmp_path, capsys,
             f"case file {special}: is a character device, not a regular file")


def test_a_directory_is_refused(tmp_path, capsys):
    folder = tmp_path / "cases"
    folder.mkdir()
    _refused(_constraints(folder, tmp_path), tmp_path, capsys,
             f"case file {folder}: is a directory, not a file")


def test_a_missing_file_and_an_empty_name_are_refused(tmp_path, capsys):
    _refused(_constraints(tmp_path / "nope.yaml", tmp_path), tmp_path, capsys,
             "cannot be read (No such file or directory); check the path")
    _refused(["constraints", "--case", ""], tmp_path, capsys, "no file name was given")


def test_a_file_above_the_size_limit_is_refused_without_reading_it(tmp_path, capsys):
    """A sparse file of 11 MiB: refused from its size alone (the message gives the limit)."""
    case = tmp_path / "huge.yaml"
    with case.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 1024 * 1024)
    _refused(_constraints(case, tmp_path), tmp_path, capsys,
             f"is {MAX_INPUT_BYTES + 1024 * 1024} bytes or more, above the limit of {MAX_INPUT_BYTES} bytes")


def test_a_long_value_is_not_echoed_whole(tmp_path, capsys):
    """A 5 MB field (under the size limit) is named by its start and its length, never repeated whole;
    a 50 MB one is refused by the size limit with a short message."""
    case = _case(tmp_path, "courses: '" + "x" * 5_000_000 + "'\n")
    line = _refused(_constraints(case, tmp_path), tmp_path, capsys,
                    "'courses' must be a list of prior courses")
    assert "(5000000 characters)" in line
    assert len(line) < 400
    big = tmp_path / "big.yaml"
    big.write_bytes(b"courses: '" + b"x" * 50_000_000 + b"'\n")
    line = _refused(_constraints(big, tmp_path), tmp_path, capsys, "above the limit of")
    assert len(line) < 400


def test_a_long_key_and_a_long_option_are_shortened(tmp_path, capsys):
    case = _case(tmp_path, "courses: []\n? " + "k" * 100_000 + "\n: 1\n")
    line = _refused(_constraints(case, tmp_path), tmp_path, capsys, "unknown key(s)")
    assert len(line) < 600
    _refused(["constraints", "--prior", "small_bowel=" + "4" * 100_000], tmp_path, capsys,
             "is not OAR=DOSE/FRACTIONS@DAYS")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path, capsys):
    """Not everything is hostile: Windows editors write a BOM, and the file is read as usual."""
    case = _case(tmp_path, b"\xef\xbb\xbfcourses:\n" + GOOD_COURSE.encode())
    assert cli.main(["constraints", "--case", str(case)]) == 0
    assert "small_bowel" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# --prior and --fractions


@pytest.mark.parametrize(("option", "needle"), [
    ("small_bowel=45/99999999999999999999999@730",
     "--prior small_bowel: fractions = 99999999999999999999999 fractions is above the plausible maximum "
     "of 60"),
    ("small_bowel=45/25@99999999999999999999",
     "--prior small_bowel: interval = 1e+20 days is above the plausible maximum of 36525 days"),
    ("small_bowel=4500/25@730",
     "--prior small_bowel: dose = 4500.0 Gy is above the plausible maximum of 150 Gy"),
    ("small_bowel=45/1@730", "is 45 Gy per fraction, above the plausible maximum of 35 Gy per fraction"),
    ("small_bowel=45/0@730", "expected a whole number of fractions >= 1 (got 0)"),
    ("small_bowel=-45/25@730", "is not OAR=DOSE/FRACTIONS@DAYS"),
    ("small_bowel=nan/25@730", "is not OAR=DOSE/FRACTIONS@DAYS"),
    ("small_bowel=45/25@36526", "interval = 36526.0 days is above the plausible maximum of 36525 days"),
])
def test_an_implausible_prior_option_is_refused(tmp_path, capsys, option, needle):
    _refused(["constraints", "--prior", option, "--json", str(tmp_path / "r.json")], tmp_path, capsys, needle)


@pytest.mark.parametrize(("fractions", "needle"), [
    ("61", "--fractions = 61 fractions is above the plausible maximum of 60 fractions"),
    ("0", "--fractions must be >= 1 (got 0)"),
    ("99999999999999999999999", "is above the plausible maximum of 60 fractions"),
])
def test_an_implausible_fractions_option_is_refused(tmp_path, capsys, fractions, needle):
    _refused(["constraints", "--prior", "small_bowel=45/25@730", "--fractions", fractions], tmp_path, capsys,
             needle)


def test_the_bounds_themselves_are_accepted(tmp_path, capsys):
    """60 fractions, 150 Gy, 36525 days: on the bound is accepted (the protocol then has its say)."""
    code = cli.main(["constraints", "--prior", f"small_bowel={MAX_COURSE_DOSE_GY:g}/"
                     f"{MAX_FRACTIONS_PER_COURSE}@{MAX_INTERVAL_DAYS:g}"])
    captured = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in captured.err
    assert "plausible maximum" not in captured.err


# --------------------------------------------------------------------------------------------------
# Protocol files


def _protocol_refused(path: Path, tmp_path: Path, capsys: Any, needle: str) -> str:
    return _refused(["constraints", "--protocol", str(path), "--prior", "small_bowel=45/25@730"], tmp_path,
                    capsys, needle)


def test_a_protocol_with_a_duplicate_key_is_refused(tmp_path, capsys):
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("schema_version: 1\n", "schema_version: 1\nname: x\n", 1)
    path = _case(tmp_path, text, "protocol.yaml")
    line = _protocol_refused(path, tmp_path, capsys, "at 'name': key defined twice (lines")
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert info.value.key_path == "name"
    assert str(path) in line


def test_a_protocol_alias_bomb_is_refused_at_once(tmp_path, capsys):
    path = _case(tmp_path, _billion_laughs(), "bomb.yaml")
    start = time.perf_counter()
    _protocol_refused(path, tmp_path, capsys, "at '<file>': line 1: the YAML anchor '&a' is not accepted")
    assert time.perf_counter() - start < 2.0


def test_a_protocol_that_is_not_utf8_names_the_offset(tmp_path, capsys):
    data = SHIPPED.read_bytes()
    offset = data.index(b"title:")
    path = _case(tmp_path, data[:offset] + b"\xff" + data[offset:], "latin.yaml")
    _protocol_refused(path, tmp_path, capsys, f"not UTF-8 text: the byte 0xff at byte offset {offset}")


def test_a_protocol_device_is_not_a_protocol(tmp_path, capsys):
    _protocol_refused(Path("/dev/zero"), tmp_path, capsys, "is neither a shipped protocol")


def test_a_protocol_maximum_above_the_absolute_ceiling_is_refused(tmp_path, capsys):
    text = SHIPPED.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("maximum_dose:"))
    old = lines[index]
    lines[index] = old[:old.index("value:")] + "value: 150.0" + old[old.index(","):]
    path = _case(tmp_path, "".join(lines), "ceiling.yaml")
    _protocol_refused(path, tmp_path, capsys, "is above the absolute prescription ceiling of 100 Gy")


# --------------------------------------------------------------------------------------------------
# Answers files (Eclipse host, RayStation menu)


@pytest.mark.parametrize(("content", "needle"), [
    ("planned_start: 2026-12-07\nplanned_start: 2026-12-14\n",
     "at 'planned_start': key defined twice (lines 1 and 2)"),
    ("planned_start: 2026-13-07\n", "'2026-13-07' is not a valid date"),
    ("planned_start: 1800-01-01\n", "the year 1800 is outside 1900..2200"),
    ("prior_dates: {PELVIS_45: 99999999999999999999}\n",
     "prior_dates.PELVIS_45 must be a date YYYY-MM-DD (got 99999999999999999999 of type int)"),
    ("prior_dates: {1: 2024-06-07}\n", "a mapping key must be text, but '1' is read as a number; quote it"),
    ("intent: &i isotoxic\nsearch: *i\n", "the YAML anchor '&i' is not accepted"),
    ("intent: '" + "x" * 1_000_000 + "'\n", "(1000000 characters)"),
    (b"intent: isotoxic\nreport: r\xe9port.html\n",
     "not UTF-8 text: the byte 0xe9 at byte offset 26 (line 2)"),
])
def test_a_malformed_answers_file_is_refused(tmp_path, content, needle):
    path = _case(tmp_path, content, "answers.yaml")
    before = _state(tmp_path)
    with pytest.raises(InputError) as info:
        read_answers(str(path))
    message = str(info.value)
    assert f"answers file {path}" in message
    assert needle in message
    assert len(message) < 600
    assert _state(tmp_path) == before


def test_the_eclipse_host_refuses_a_bad_answers_file_before_opening_eclipse(tmp_path):
    """The host reads the answers file while it parses its arguments, before any ESAPI call."""
    from reirrad_tps.eclipse.host import build_parser, request_from_args  # noqa: PLC0415

    path = _case(tmp_path, "dry_run: true\ndry_run: false\n", "answers.yaml")
    args = build_parser().parse_args(["--patient", "P", "--course", "C", "--plan", "X",
                                      "--answers", str(path)])
    with pytest.raises(InputError, match=r"at 'dry_run': key defined twice \(lines 1 and 2\)"):
        request_from_args(args)


# --------------------------------------------------------------------------------------------------
# Stub patients and the TPS options of `reirrad plan`


def _plan_args(tmp_path: Path, patient: str, *extra: str) -> List[str]:
    return ["plan", "--tps", "raystation-stub", "--patient", patient, "--intent", "isotoxic", "--dry-run",
            "--json", str(tmp_path / "r.json"), *extra]


def test_an_unknown_stub_patient_is_refused(tmp_path, capsys):
    _refused(_plan_args(tmp_path, "NOPE"), tmp_path, capsys,
             "no stub patient 'NOPE': not a file and not one of ['CGY-01'")


@pytest.mark.parametrize(("content", "needle"), [
    ("- a\n- list\n", "expected a mapping with 'id', 'images'"),
    ("id: BAD-01\n", "missing key 'images'"),
    ("id: BAD-01\nid: BAD-02\nimages: []\n", "at 'id': key defined twice (lines 1 and 2)"),
    ("id: BAD-01\nimages: 3\nstructure_sets: []\ncourses: []\ncurrent: {}\nplanned_start: 2026-01-01\n",
     "malformed definition (TypeError"),
    ("id: BAD-01\nanatomy: ../../../etc/passwd\nimages: []\n", "must name a file of"),
    ("id: BAD-01\nimages:\n  - {id: CT, frame_of_reference_uid: '1.2', spacing_mm: [2, 2, 2], "
     "size: [100000, 100000, 100000]}\n", "at most 50000000 voxels"),
    ("id: BAD-01\nplanned_start: 2026-02-30\n", "'2026-02-30' is not a valid date"),
    (b"id: BAD-\xff\n", "not UTF-8 text: the byte 0xff at byte offset 8"),
])
def test_a_malformed_stub_patient_file_is_refused(tmp_path, capsys, content, needle):
    path = _case(tmp_path, content, "patient.yaml")
    _refused(_plan_args(tmp_path, str(path)), tmp_path, capsys, needle)


@pytest.mark.parametrize(("tps", "version", "needle"), [
    ("eclipse-stub", "11B", "--tps-version '11B' (a RayStation release, not an Eclipse version)"),
    ("eclipse-stub", "2024B", "(a RayStation release, not an Eclipse version)"),
    ("eclipse-stub", "19.0", "takes an Eclipse version 15.5 to 18.x"),
    ("eclipse-stub", "13.6", "takes an Eclipse version 15.5 to 18.x"),
    # the adapter calls DoseValue.IsUndefined() and Structure.CanEditSegmentVolume, new in ESAPI 15.5
    ("eclipse-stub", "15.1", "takes an Eclipse version 15.5 to 18.x such as 15.6 or 18.0 (the adapter needs "
                             "ESAPI 15.5 or later)"),
    ("eclipse-stub", "", "takes an Eclipse version"),
    ("raystation-stub", "15.6", "the RayStation stand-in models RayStation 11A, 11B, 12A, 2024B"),
    ("raystation-stub", "2024b", "the RayStation stand-in models RayStation"),
])
def test_a_tps_version_of_another_tps_is_refused(tmp_path, capsys, tps, version, needle):
    args = ["plan", "--tps", tps, "--tps-version", version, "--patient", "LRRC-01", "--intent", "isotoxic",
            "--json", str(tmp_path / "r.json")]
    _refused(args, tmp_path, capsys, needle)


@pytest.mark.parametrize(("tps", "version"), [("eclipse-stub", "15.6"), ("eclipse-stub", "18.0"),
                                              ("eclipse-stub", "16.1.2"), ("raystation-stub", "11B"),
                                              ("raystation-stub", "2024B")])
def test_a_version_of_the_tps_is_accepted(tps, version):
    assert check_tps_version(tps, version) == version


# --------------------------------------------------------------------------------------------------
# reirrad evaluate: prescriptions


@pytest.mark.parametrize(("value", "needle"), [
    ("3000", "--prescription-gy = 3000.0 Gy is above the plausible maximum of 100 Gy"),
    ("100.5", "is above the plausible maximum of 100 Gy"),
    ("0", "--prescription-gy must be > 0 Gy (got 0.0)"),
    ("-30", "--prescription-gy must be > 0 Gy (got -30.0)"),
    ("nan", "--prescription-gy must be a finite number in Gy (got nan)"),
    ("inf", "--prescription-gy must be a finite number in Gy (got inf)"),
])
def test_an_implausible_prescription_is_refused_before_any_file_is_read(tmp_path, capsys, value, needle):
    """The files named do not even exist: the number is checked first."""
    args = ["evaluate", "--structures", str(tmp_path / "rs.dcm"), "--new-dose", str(tmp_path / "rd.dcm"),
            "--prior-dose", str(tmp_path / "rd1.dcm"), "--prior-plan", str(tmp_path / "rp1.dcm"),
            "--interval-days", "700", f"--prescription-gy={value}", "--json", str(tmp_path / "r.json")]
    _refused(args, tmp_path, capsys, needle)


def test_an_implausible_interval_is_refused_by_evaluate(tmp_path, capsys):
    args = ["evaluate", "--structures", "rs.dcm", "--prior-dose", "rd1.dcm", "--prior-plan", "rp1.dcm",
            "--interval-days", "99999999"]
    _refused(args, tmp_path, capsys,
             "--interval-days = 99999999 days is above the plausible maximum of 36525")


FRAME = "1.2.826.0.1.3680043.8.498.9001"
PRIOR_UID = "1.2.826.0.1.3680043.8.498.9002"
NEW_UID = "1.2.826.0.1.3680043.8.498.9003"


@pytest.fixture(scope="module")
def small_dicom_case(tmp_path_factory: Any) -> Dict[str, str]:
    """A 24×24×12 grid (5 mm) with a PTV and every non-optional OAR of the shipped protocol as boxes;
    a prior course of 20 Gy everywhere (25 fractions, 20 Gy prescribed) and a new dose of 60 Gy everywhere."""
    pytest.importorskip("pydicom")
    from tests.plugin.dicom import factory  # noqa: PLC0415

    out = tmp_path_factory.mktemp("small-dicom")
    return factory.small_case(out, frame_uid=FRAME, prior_uid=PRIOR_UID, new_uid=NEW_UID)


def _evaluate_args(case: Dict[str, str], prescription: str, *extra: str) -> List[str]:
    return ["evaluate", "--structures", case["rs"], "--new-dose", case["rd_new"], "--prior-dose",
            case["rd_prior"], "--prior-plan", case["rp_prior"], "--interval-days", "700",
            "--prescription-gy", prescription, *extra]


def test_a_prescription_above_the_protocol_maximum_is_a_stop(small_dicom_case, tmp_path, capsys):
    """60 Gy with the protocol's 45 Gy maximum: stopped (exit 2) with both numbers, nothing written; with
    a recorded override the evaluation runs and the result records the overridden finding."""
    before = _state(tmp_path)
    code = cli.main(_evaluate_args(small_dicom_case, "60"))
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    printed = " ".join(captured.out.split())
    assert "dose-above-protocol-maximum" in printed
    assert "requested 60 Gy exceeds the protocol maximum of 45 Gy in 5 fractions" in printed
    assert _state(tmp_path) == before

    out = tmp_path / "r.json"
    code = cli.main(_evaluate_args(small_dicom_case, "60", "--override-eligibility", "test: MDT approved",
                                   "--json", str(out)))
    captured = capsys.readouterr()
    assert code in (0, 3), captured.err
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["status"] == "evaluated"
    assert "dose-above-protocol-maximum" in [f["code"] for f in result["eligibility"]["overridden"]]


def test_a_prescription_at_the_protocol_maximum_is_no_finding(small_dicom_case, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = cli.main(_evaluate_args(small_dicom_case, "45", "--json", str(out)))
    captured = capsys.readouterr()
    assert code in (0, 3), captured.err
    result = json.loads(out.read_text(encoding="utf-8"))
    assert "dose-above-protocol-maximum" not in [f["code"] for f in result["eligibility"]["findings"]]


# --------------------------------------------------------------------------------------------------
# As a user runs it: a subprocess, its exit code and stderr


def _subprocess(args: List[str], cwd: Path) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([sys.executable, "-m", "reirrad", *args], cwd=str(cwd), capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    """A named pipe with no writer would block a plain open(); the reader refuses it from its type."""
    fifo = tmp_path / "case.yaml"
    os.mkfifo(fifo)
    before = _state(tmp_path)
    done = _subprocess(["constraints", "--case", str(fifo)], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith(f"reirrad: error: case file {fifo}: is a FIFO (named pipe)")
    assert "Traceback" not in done.stderr
    assert _state(tmp_path) == before


@pytest.mark.parametrize(("args", "needle"), [
    (["constraints", "--case", "bomb.yaml"], "the YAML anchor '&a' is not accepted"),
    (["constraints", "--case", "/dev/zero"], "is a character device, not a regular file"),
    (["constraints", "--prior", "small_bowel=45/99999999999999999999999@730"], "plausible maximum of 60"),
    (["plan", "--tps", "eclipse-stub", "--tps-version", "11B", "--patient", "LRRC-01",
      "--intent", "isotoxic"], "not an Eclipse version"),
    (["plan", "--tps", "raystation-stub", "--patient", "NOPE", "--intent", "isotoxic"],
     "no stub patient 'NOPE'"),
])
def test_as_a_subprocess_bad_input_is_exit_2_and_one_line(tmp_path, args, needle):
    (tmp_path / "bomb.yaml").write_text(_billion_laughs(), encoding="utf-8")
    before = _state(tmp_path)
    done = _subprocess(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("reirrad: error: ")
    assert needle in lines[0]
    assert _state(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# The bounds and the message helper on their own


@pytest.mark.parametrize(("check", "args", "needle"), [
    (check_fractions, ("n", 61), "above the plausible maximum of 60 fractions"),
    (check_fractions, ("n", 10 ** 400), "<an integer of about 401 digits>"),
    (check_fractions, ("n", 5.0), "must be a whole number of fractions"),
    (check_course_dose, ("d", 10 ** 400, 5), "<an integer of about 401 digits> Gy is above"),
    (check_course_dose, ("d", float("nan"), 5), "must be a finite number in Gy"),
    (check_course_dose, ("d", "45", 5), "must be a number in Gy (got '45' of type str)"),
    (check_interval_days, ("i", 10 ** 30), "is above the plausible maximum of 36525 days"),
    (check_interval_days, ("i", -0.5), "an interval cannot be negative"),
    (check_prescription, ("p", True), "must be a number in Gy (got True of type bool)"),
    (check_date, ("when", dt.date(2201, 1, 1)), "the year 2201 is outside 1900..2200"),
])
def test_each_bound_names_the_value_and_the_bound(check, args, needle):
    with pytest.raises(InputError) as info:
        check(*args)
    assert needle in str(info.value)
    assert str(info.value).startswith(args[0])


def test_values_on_the_bounds_are_accepted():
    assert math.copysign(1.0, check_interval_days("i", -0.0)) == 1.0  # was printed as "-0 days"
    assert check_fractions("n", MAX_FRACTIONS_PER_COURSE) == MAX_FRACTIONS_PER_COURSE
    assert check_course_dose("d", MAX_COURSE_DOSE_GY, 5) == MAX_COURSE_DOSE_GY
    assert check_course_dose("d", MAX_DOSE_PER_FRACTION_GY, 1) == MAX_DOSE_PER_FRACTION_GY
    assert check_course_dose("d", 0, 1) == 0.0
    assert check_interval_days("i", MAX_INTERVAL_DAYS) == MAX_INTERVAL_DAYS
    assert check_prescription("p", MAX_PRESCRIPTION_GY) == MAX_PRESCRIPTION_GY
    assert check_date("when", dt.date(1900, 1, 1)) == dt.date(1900, 1, 1)


TODAY = dt.date(2026, 12, 6)


@pytest.mark.parametrize(("last", "start", "needle"), [
    (dt.date(2026, 12, 7), dt.date(2027, 1, 1), "prior course A is 2026-12-07, after today (2026-12-06)"),
    (dt.date(2031, 6, 1), dt.date(2031, 12, 7), "after today"),
    (dt.date(2026, 6, 1), dt.date(2036, 12, 7), "2036-12-07 is 3654 days after today (2026-12-06), more "
                                                "than 366"),
])
def test_course_dates_that_cannot_be_meant_are_refused(last, start, needle):
    """Found by a hostile-input review: a new course start of 2036-12-07 (for 2026) gave a 3842-day interval
    and 50 % recovery instead of 30 %; a prior course ending in 2031 was accepted. A prior course ends by
    today; a new course starts within MAX_DAYS_TO_PLANNED_START days of it."""
    with pytest.raises(InputError, match=re.escape(needle)):
        check_course_dates(last, start, course="A", today=TODAY)
    with pytest.raises(InputError, match=re.escape(needle.replace("prior course A", "prior course B"))):
        interval_days_between(last, start, course="B", today=TODAY)


def test_course_dates_on_the_bounds_are_accepted():
    check_course_dates(TODAY, TODAY, course="A", today=TODAY)
    check_course_dates(dt.date(2020, 1, 1), TODAY + dt.timedelta(days=MAX_DAYS_TO_PLANNED_START), course="A",
                       today=TODAY)
    assert interval_days_between(dt.date(2026, 6, 1), dt.date(2027, 1, 1), today=TODAY) == 214


def test_a_case_file_starting_years_ahead_is_refused(tmp_path, capsys):
    """The review's case file, with dates relative to the day the test runs: refused, exit 2, one line."""
    today = dt.date.today()
    case = tmp_path / "case.yaml"
    case.write_text(f"new_course_start: {today.replace(year=today.year + 10, day=1).isoformat()}\n"
                    f"courses:\n  - {{name: LCCRT, n_fractions: 25, last_fraction: "
                    f"{today.replace(day=1).isoformat()}, oar_doses_gy: {{small_bowel: 45}}}}\n")
    code = cli.main(["constraints", "--case", str(case)])
    err = capsys.readouterr().err
    assert code == 2 and "days after today" in err and "Traceback" not in err


def test_a_prior_prescription_above_the_ceiling_is_named_as_the_prior_course(capsys):
    """Found on a hostile run: --prior-prescription-gy 1e9 was refused as a "TOTAL new-course
    prescription", the wrong course; each course is named as itself."""
    with pytest.raises(InputError, match="TOTAL prior-course prescription") as info:
        check_prescription("--prior-prescription-gy", 1e9, course="prior-course")
    assert "new-course" not in str(info.value)
    code = cli.main(["evaluate", "--structures", "rs.dcm", "--prior-dose", "rd.dcm", "--prior-plan", "rp.dcm",
                     "--interval-days", "900", "--prior-prescription-gy", "1e9"])
    assert code == 2 and "TOTAL prior-course prescription" in capsys.readouterr().err


def test_echo_shortens_what_it_repeats():
    assert echo("x" * 10) == "'xxxxxxxxxx'"
    assert echo("x" * 50_000_000).endswith("... (50000000 characters)")
    assert len(echo("x" * 50_000_000)) < 100
    assert len(echo(list(range(10 ** 6)))) < 200
    assert echo(10 ** 5000) == "<an integer of about 5001 digits>"
    assert echo(math.inf) == "inf"


def test_every_shipped_input_reads_under_the_strict_rules():
    """The shipped protocol, example case and stub patients break none of the rules."""
    from tps_stubs.patients import DEFINITIONS  # noqa: PLC0415
    from tps_stubs.patients.build import ANATOMY_DIR  # noqa: PLC0415

    files = [SHIPPED, cli.EXAMPLE_CASE, *sorted(DEFINITIONS.glob("*.yaml")),
             *sorted(ANATOMY_DIR.glob("*.yaml"))]
    for path in files:
        assert isinstance(read_yaml_file(path, "input"), dict), path


@pytest.mark.parametrize("argv, needle", [
    (["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--patient", "LRRC-02", "--intent",
      "isotoxic", "--dry-run"], "--patient is given twice (then as --patient 'LRRC-02')"),
    (["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic", "--intent",
      "limit-toxicity", "--dry-run"], "--intent is given twice"),
    (["constraints", "--prior", "small_bowel=45/25@730", "--conservation-factor", "0.5",
      "--conservation-factor", "1"],
     "--conservation-factor is given twice (then as --conservation-factor 1.0)"),
])
def test_an_option_given_twice_is_refused_not_last_one_wins(capsys, argv, needle):
    """Found on hostile command lines: argparse kept the last value silently (LRRC-02 was planned with
    limit-toxicity; the conservation factor 1 was used). Every single-valued option is taken once
    (reirrad.cli._StoreOnce): exit 2 naming the option; options that repeat (--prior) still do."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    assert needle in capsys.readouterr().err
    assert cli.main(["constraints", "--prior", "small_bowel=45/25@730", "--prior", "rectum=45/25@730"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("option", [["--beams", "-5"], ["--bixel-mm", "nan"]])
def test_pyradplan_options_on_a_stand_in_plan_are_refused_not_ignored(capsys, option):
    """--beams and --bixel-mm had defaults, so on a stand-in (where they mean nothing) any value, even -5 or
    nan, was silently ignored (exit 0). They are refused there like the other pyRadPlan options."""
    code = cli.main(["plan", "--tps", "raystation-stub", "--patient", "LRRC-01", "--intent", "isotoxic",
                     "--dry-run", *option])
    assert code == 2
    assert f"{option[0]}: only with --tps pyradplan" in capsys.readouterr().err


def test_numbers_in_exponent_form_are_numbers_as_in_json():
    """Found on hostile inputs: a protocol written by json.dumps (0.00001 → ``1e-05``) and a case file with
    ``4.5e1`` were refused, "expected a number, got str '1e-05'": YAML 1.1 reads an exponent without a
    decimal point and a signed exponent as text. JSON and YAML 1.2 read numbers, and so does reirrad now;
    a quoted one stays text, and what is not a number (``12e``) too."""
    data = json.dumps({"a": 0.00001, "b": 45.0, "c": 1e300}).replace("45.0", "4.5e1").encode()
    assert parse_yaml(data, "x.json", "case file") == {"a": 1e-05, "b": 45.0, "c": 1e300}
    assert parse_yaml(b"{d: .5E+2, e: '1e5', f: 12e, g: -2E3}", "x.yaml", "case file") == {
        "d": 50.0, "e": "1e5", "f": "12e", "g": -2000.0}


@pytest.mark.parametrize("value, reason", [
    ("Small_Bowel=45/25@730", "the OAR 'Small_Bowel' must be a protocol key in lower case"),
    ("small_bowel=-45/25@730", "the dose (Gy) cannot be negative (got '-45')"),
    ("small_bowel=45/2.5@730", "the fractions must be a whole number (got '2.5')"),
    ("small_bowel=45/25@-3 months", "the interval (days) cannot be negative (got '-3 months')"),
    ("small_bowel=45/25@nan", "the interval (days) must be a number written with digits (got 'nan')"),
])
def test_a_malformed_prior_option_names_the_part_at_fault(value, reason):
    """Found on hostile command lines: each of these got the same generic line, though the form was right
    and only one part wrong. The message names that part (and keeps the example)."""
    with pytest.raises(InputError) as info:
        parse_prior_options([value])
    assert f"is not OAR=DOSE/FRACTIONS@DAYS: {reason}" in str(info.value)
    assert "e.g. small_bowel=45/25@730" in str(info.value)


@pytest.mark.parametrize("text, code", [
    (b'{patient_id: "P1\\e[2J\\e[31mRED"}', "U+001B"),  # clear screen, colour
    (b'{"name": "A\\rStatus: planned"}', "U+000D"),  # a forged console line
    (b'{name: "x\\u202ey"}', "U+202E"),  # right-to-left override
    (b'{name: "bell\\a and nul\\0"}', "U+0000, U+0007"),
])
def test_control_characters_written_as_escapes_are_refused(text, code):
    """Found on a hostile stub patient and case file: YAML/JSON escapes (\\e, \\u001b, \\r, \\0) put terminal
    escapes, carriage returns and bidirectional controls into ids and names, and the console summary, the
    report and the audit row showed them raw (a cleared screen, a fake "Status: planned" line). The reader
    refuses them; tab and newline stay allowed (multi-line notes)."""
    with pytest.raises(InputFileError, match=re.escape(f"the text holds control characters ({code})")):
        parse_yaml(text, "x.yaml", "case file")
    note = parse_yaml(b'{note: "line 1\\nline 2\\tend"}', "x.yaml", "case file")
    assert note == {"note": "line 1\nline 2\tend"}
