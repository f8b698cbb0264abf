"""The ESAPI stand-in for tests: loaded when Mono and pythonnet are here; otherwise the test is skipped
with the reason on a developer's machine and **fails under CI** (``CI`` set), where ``make test``
installs Mono, so a missing stand-in can never pass CI silently."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
from typing import Any, NoReturn

import pytest

from tps_stubs import esapi as stub
from tps_stubs.patients import load_patient
from tps_stubs.patients.model import StubPatient


def unavailable(reason: str) -> NoReturn:
    """Skip (locally) or fail (under CI) because the stand-in cannot run: ``reason`` says why."""
    if os.environ.get("CI"):
        pytest.fail(f"ESAPI stand-in unavailable in CI: {reason}")
    pytest.skip(f"ESAPI stand-in unavailable: {reason}")


def require_esapi_stand_in() -> Any:
    """The loaded stand-in runtime (``tps_stubs.esapi.runtime()``), or skip/fail (module docstring)."""
    if shutil.which("mcs") is None and not all(p.is_file() for p in stub.ASSEMBLIES.values()):
        unavailable("Mono's 'mcs' is not installed (apt-get install -y mono-devel; make test does this)")
    if importlib.util.find_spec("pythonnet") is None:
        unavailable("pythonnet is not installed (pip install pythonnet; it is in the 'test' extra)")
    return stub.runtime()


def with_current_plan(patient_id: str, **changes: Any) -> StubPatient:
    """The stub patient with ``changes`` made to its current plan (e.g. ``beams=(…)``)."""
    model = load_patient(patient_id)
    current = model.current_plan
    plan = dataclasses.replace(current, **changes)
    courses = tuple(dataclasses.replace(c, plans=tuple(plan if p is current else p for p in c.plans))
                    for c in model.courses)
    return dataclasses.replace(model, courses=courses)


def with_current_beams(patient_id: str, **changes: Any) -> StubPatient:
    """The stub patient with ``changes`` made to every beam of its current plan (e.g. ``mlc_id=None``)."""
    beams = load_patient(patient_id).current_plan.beams
    return with_current_plan(patient_id, beams=tuple(dataclasses.replace(b, **changes) for b in beams))


def without_mlc(patient_id: str) -> StubPatient:
    """The stub patient with the beams of its current plan carrying no MLC (``Beam.MLC`` null)."""
    return with_current_beams(patient_id, mlc_id=None)


def with_static_beams(patient_id: str) -> StubPatient:
    """The stub patient with the beams of its current plan static (``GantryDirection.None``): IMRT's."""
    return with_current_beams(patient_id, technique="STATIC")
