"""Malformed and mismatched DICOM inputs to ``reirrad evaluate``: exit 2, one line naming the file, no
traceback, nothing written (the JSON, report and audit CSV asked for are not created).

Sources of truth: the DICOM reader's documented refusals (docs/dicom.md: modality, dose type and
summation, frames of reference) and docs/outputs.md (nothing written when a run stops on bad input).
The good files are built by the test factory (tests/plugin/dicom/factory.py); each case breaks one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from reirrad import cli

FRAME = "1.2.826.0.1.3680043.8.498.9101"
OTHER_FRAME = "1.2.826.0.1.3680043.8.498.9199"
PRIOR_UID = "1.2.826.0.1.3680043.8.498.9102"
NEW_UID = "1.2.826.0.1.3680043.8.498.9103"


def _state(folder: Path) -> Dict[str, Tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def case(tmp_path_factory: Any) -> Dict[str, Any]:
    pytest.importorskip("pydicom")
    from tests.plugin.dicom import factory  # noqa: PLC0415

    out = tmp_path_factory.mktemp("dicom-hostile")
    files = factory.small_case(out, frame_uid=FRAME, prior_uid=PRIOR_UID, new_uid=NEW_UID, new_gy=30.0,
                               other_frame_uid=OTHER_FRAME)
    good = Path(files["rd_prior"]).read_bytes()
    (out / "empty.dcm").write_bytes(b"")
    (out / "garbage.dcm").write_bytes(b"\x00\x01garbage" * 300)
    (out / "truncated.dcm").write_bytes(good[: len(good) // 2])
    (out / "text.dcm").write_text("this is not DICOM\n", encoding="utf-8")
    (out / "folder.dcm").mkdir()
    for name in ("empty", "garbage", "truncated", "text", "folder"):
        files[name] = str(out / f"{name}.dcm")
    return files


def _args(files: Dict[str, str], **swap: str) -> List[str]:
    chosen = {**files, **swap}
    return ["evaluate", "--structures", chosen["rs"], "--new-dose", chosen["rd_new"], "--prior-dose",
            chosen["rd_prior"], "--prior-plan", chosen["rp_prior"], "--interval-days", "700",
            "--prescription-gy", "30"]


SWAPS: List[Tuple[str, Callable[[Dict[str, str]], Dict[str, str]]]] = [
    ("empty-dose", lambda f: {"rd_prior": f["empty"]}),
    ("garbage-dose", lambda f: {"rd_prior": f["garbage"]}),
    ("truncated-dose", lambda f: {"rd_prior": f["truncated"]}),
    ("text-as-structures", lambda f: {"rs": f["text"]}),
    ("folder-as-plan", lambda f: {"rp_prior": f["folder"]}),
    ("plan-as-dose", lambda f: {"rd_prior": f["rp_prior"]}),
    ("dose-as-structures", lambda f: {"rs": f["rd_new"]}),
    ("structures-as-plan", lambda f: {"rp_prior": f["rs"]}),
    ("missing-new-dose", lambda f: {"rd_new": f["rd_new"] + ".missing"}),
]


@pytest.mark.parametrize(("name", "swap"), SWAPS, ids=[n for n, _ in SWAPS])
def test_a_malformed_or_mismatched_dicom_file_is_one_line_and_writes_nothing(case, tmp_path, capsys, name,
                                                                              swap):
    outs = ["--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html"),
            "--audit-csv", str(tmp_path / "a.csv")]
    before = _state(tmp_path)
    code = cli.main(_args(case, **swap(case)) + outs)
    captured = capsys.readouterr()
    assert code == 2, (name, captured.err[-2000:])
    assert "Traceback" not in captured.out + captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("reirrad: error: ")]
    assert len(errors) == 1, captured.err[-2000:]
    assert _state(tmp_path) == before


def test_a_prior_dose_in_another_frame_without_a_registration_is_refused(case, tmp_path, capsys):
    code = cli.main([*_args(case, rd_prior=case["rd_other_frame"]), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err
    assert "frame" in captured.err.lower()
    assert list(tmp_path.iterdir()) == []


def test_the_good_case_runs(case, tmp_path, capsys):
    """The files the cases above break are good: the unbroken case is evaluated and writes its JSON."""
    code = cli.main([*_args(case), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code in (0, 3), captured.err[-2000:]
    assert (tmp_path / "r.json").is_file()
