"""Fixtures for the ESAPI stand-in tests: build the assemblies when missing, load them through pythonnet.

None of these fixtures is autouse, so other stub tests in this folder are unaffected. When Mono's
``mcs`` or pythonnet is missing the ESAPI tests skip with the reason locally, and fail under CI
(``CI`` set), where ``.ci/run`` installs Mono.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.esapi_support import unavailable
from tps_stubs import esapi as stub
from tps_stubs.esapi import ASSEMBLIES, BuildError, build_assemblies

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The ESAPI signatures by version (a copy of the project's reference, with its sources; docs/reference/).
ESAPI_MEMBERS_MD = REPO_ROOT / "docs" / "reference" / "esapi-members.md"
ESAPI_DEVIATIONS_MD = REPO_ROOT / "tps_stubs" / "esapi" / "DEVIATIONS.md"





@pytest.fixture(scope="session")
def esapi_assemblies() -> Any:
    """Paths of the built assemblies, building them (``mcs``) when missing or stale."""
    if shutil.which("mcs") is None and not all(p.is_file() for p in ASSEMBLIES.values()):
        unavailable("Mono's 'mcs' is not installed (apt-get install -y mono-devel; .ci/run does this)")
    try:
        return build_assemblies(quiet=True) if shutil.which("mcs") else dict(ASSEMBLIES)
    except BuildError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def esapi(esapi_assemblies: Any) -> Any:
    """The loaded runtime (``tps_stubs.esapi.runtime()``: ``API``, ``Types``, ``Model``, ``Builder``)."""
    if importlib.util.find_spec("pythonnet") is None:
        unavailable("pythonnet is not installed (pip install pythonnet; it is in the 'test' extra)")
    return stub.runtime()


@pytest.fixture()
def fresh_session(esapi: Any) -> Iterator[Any]:
    """Forget any Application and the journal before and after the test (the one-per-process rule)."""
    stub.reset()
    yield esapi
    stub.reset()
