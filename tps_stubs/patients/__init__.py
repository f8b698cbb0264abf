"""Stub patients: YAML definitions built into a neutral model that both TPS stand-ins load.

``list_patients()`` lists the shipped definitions; ``load_patient(id_or_path)`` builds one
(cached per file and modification time). See ``README.md`` beside this file for the format.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import List, Union

from .build import DefinitionError, build_patient, read_definition
from .model import StubPatient

__all__ = ["DEFAULT_PATIENT", "DefinitionError", "PatientSummary", "StubPatient", "list_patients",
           "load_patient"]

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
DEFAULT_PATIENT = "LRRC-01"


@dataclass(frozen=True)
class PatientSummary:
    """A shipped stub patient: id, one-line description, definition file."""

    id: str
    description: str
    path: Path


def list_patients() -> List[PatientSummary]:
    """The shipped stub patients, by id."""
    out = []
    for path in sorted(DEFINITIONS.glob("*.yaml")):
        raw = read_definition(path)
        out.append(PatientSummary(str(raw["id"]), str(raw.get("description", "")).strip(), path))
    return out


@functools.lru_cache(maxsize=16)
def _cached(path: str, mtime_ns: int) -> StubPatient:
    return build_patient(Path(path))


def load_patient(id_or_path: Union[str, Path]) -> StubPatient:
    """Build a stub patient from a shipped id (e.g. ``"LRRC-01"``) or a YAML path.

    Raises
    ------
    KeyError
        Neither a shipped id nor an existing file; the message lists the shipped ids.
    DefinitionError
        The definition is malformed.
    reirrad.errors.InputError
        The file cannot be read or breaks a rule of the strict reader (:mod:`reirrad.inputfiles`).
    """
    text = str(id_or_path)
    candidate = Path(text)
    if not candidate.is_file():
        matches = [p for p in list_patients() if p.id == text]
        if not matches:
            raise KeyError(f"no stub patient {text!r}: not a file and not one of "
                           f"{[p.id for p in list_patients()]}")
        candidate = matches[0].path
    resolved = candidate.resolve()
    return _cached(str(resolved), resolved.stat().st_mtime_ns)
