"""Fixtures shared by the adapter tests: the Eclipse stand-in session (a module may define its own
``fresh`` instead), and LRRC-01's definition with its planning structure set approved or not (RayStation
tests that load a patient file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.esapi_support import require_esapi_stand_in
from tps_stubs import esapi as stub
from tps_stubs import patients as stub_patients

DEFINITIONS = Path(stub_patients.__file__).resolve().parent / "definitions"


@pytest.fixture(scope="module")
def esapi() -> Any:
    """The loaded stand-in runtime (skips locally without Mono / pythonnet; fails under CI)."""
    return require_esapi_stand_in()


@pytest.fixture()
def fresh(esapi: Any) -> Iterator[Any]:
    """A reset stand-in session before and after the test."""
    stub.reset()
    yield esapi
    stub.reset()


def _lrrc(tmp_path_factory: Any, approved: bool) -> Path:
    raw = yaml.safe_load((DEFINITIONS / "LRRC-01.yaml").read_text(encoding="utf-8"))
    raw["structure_sets"][0]["approved"] = approved
    path = Path(tmp_path_factory.mktemp("patients")) / "LRRC-01.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def unapproved(tmp_path_factory: Any) -> Path:
    """LRRC-01's definition file with its planning structure set not approved (as the stub patient
    defines it)."""
    return _lrrc(tmp_path_factory, False)


@pytest.fixture(scope="module")
def approved(tmp_path_factory: Any) -> Path:
    """LRRC-01's definition file with its planning structure set approved."""
    return _lrrc(tmp_path_factory, True)
