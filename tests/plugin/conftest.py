"""Fixtures shared by the Eclipse adapter tests (a module may define its own ``fresh`` instead)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.esapi_support import require_esapi_stand_in
from tps_stubs import esapi as stub


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
