"""What a case's result depends on, as one hash: a case is reused when it has not changed.

The fingerprint of a case (:func:`case_fingerprint`) is the SHA-256 of a canonical JSON record of:

* the command and every option, as the case's command line has them;
* the **content** of every input file the options name (a folder: every file below it, by relative
  path and content) — a file edited in place changes the fingerprint, a file touched or copied does not;
* the protocol's SHA-256 (the shipped protocol's when the case names none);
* for a stub patient given by id, its definition file's content;
* the software: reirrad's version and the SHA-256 of the code of ``reirrad`` and ``reirrad_tps`` (and of
  the TPS stand-ins for a case on a stand-in), so a changed engine recomputes every case even without a
  new version number.

A case whose fingerprint equals the one recorded by its last **finished** run is not run again
(docs/batch.md); ``reirrad batch --force`` runs every case.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from reirrad import __version__
from reirrad.cli import DEFAULT_PROTOCOL
from reirrad.protocol import list_protocols, load_protocol

from .manifest import CaseSpec

__all__ = ["case_fingerprint", "code_sha256", "file_sha256"]

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's content (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder).as_posix()).encode("utf-8") + b"\0")
        digest.update(file_sha256(path).encode("ascii"))
    return digest.hexdigest()


def _package_dir(name: str) -> Optional[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=None)
def code_sha256(package: str) -> Optional[str]:
    """SHA-256 over a package's Python and data files (paths and contents); None when not installed."""
    folder = _package_dir(package)
    if folder is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
            digest.update(file_sha256(path).encode("ascii"))
    return digest.hexdigest()


def _input(value: str) -> Optional[Dict[str, str]]:
    path = Path(value)
    if path.is_file():
        return {"file": value, "sha256": file_sha256(path)}
    if path.is_dir():
        return {"folder": value, "sha256": _folder_sha256(path)}
    return None


def _stub_patient(value: str) -> Optional[str]:
    """The content hash of a stub patient's definition given by id (None when not a shipped id)."""
    folder = _package_dir("tps_stubs")
    if folder is None:
        return None
    definition = folder / "patients" / "definitions" / f"{value}.yaml"
    return file_sha256(definition) if definition.is_file() else None


def case_fingerprint(case: CaseSpec) -> str:
    """The case's fingerprint (module docstring), 64 hex characters."""
    inputs: Dict[str, Any] = {}
    for dest, value in case.options:
        values: List[str] = (list(value) if isinstance(value, tuple)
                             else [value] if isinstance(value, str) else [])
        found = [entry for entry in (_input(v) for v in values) if entry is not None]
        if found:
            inputs[dest] = found
    protocol = case.option("protocol")
    protocol_ref = protocol if isinstance(protocol, str) else DEFAULT_PROTOCOL
    known = protocol_ref in list_protocols() or Path(protocol_ref).is_file()
    protocol_sha = load_protocol(protocol_ref).sha256 if known else None  # else the case itself refuses it
    patient = case.option("patient")
    stub = isinstance(case.option("tps"), str) and str(case.option("tps")).endswith("-stub")
    record = {
        "command": case.command,
        "options": [[dest, list(value) if isinstance(value, tuple) else value]
                    for dest, value in case.options],
        "inputs": inputs,
        "protocol_sha256": protocol_sha,
        "stub_patient_sha256": _stub_patient(patient) if isinstance(patient, str) and stub else None,
        "software": {"reirrad": __version__, "reirrad_code": code_sha256("reirrad"),
                     "reirrad_tps_code": code_sha256("reirrad_tps"),
                     "tps_stubs_code": code_sha256("tps_stubs") if stub else None},
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
