"""The engine's ports (``reirrad.ports``): the checker in tests/ports_support.py, the direct stand-in and
the DICOM case source.

Sources of truth: the Protocols' own signatures (a renamed method or parameter must be caught, shown
here on deliberately wrong classes), and the direct stand-in's documented behaviour (tps_stubs/direct.py:
``normalise`` records the call and does not scale).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import pytest

from reirrad.dose import DoseGrid
from reirrad.objectives import OptimizationObjective
from reirrad.ports import CaseSource, Planner
from reirrad_tps.dicom.case import DicomCaseSource
from reirrad_tps.eclipse import EclipseCaseSource, EclipsePlanner
from reirrad_tps.raystation import RayStationCaseSource, RayStationPlanner
from tests.ports_support import (
    assert_signatures_match,
    engine_d95,
    exercise_planner,
    protocol_methods,
    read_through_port,
    signature_mismatches,
)
from tps_stubs.direct import DirectCase, DirectPlanner

PLANNER_METHODS = ["set_prescription", "write_objectives", "optimise", "compute_dose", "normalise"]


class _Conforming:
    def set_prescription(self, dose_gy: float, n_fractions: int) -> None: ...
    def write_objectives(self, objectives: Sequence[Any]) -> None: ...
    def optimise(self) -> None: ...
    def compute_dose(self) -> DoseGrid: ...  # type: ignore[empty-body]
    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> Optional[float]: ...


class _RenamedMethod(_Conforming):
    optimise = None  # type: ignore[assignment]

    def optimize(self) -> None: ...


class _RenamedParameter(_Conforming):
    def set_prescription(self, total_gy: float, n_fractions: int) -> None: ...  # type: ignore[override]


class _ExtraRequiredParameter(_Conforming):
    def normalise(self, target_id: str, dose_gy: float, volume_pct: float,  # type: ignore[override]
                  tps: str) -> Optional[float]: ...


class _KeywordOnly(_Conforming):
    def set_prescription(self, *, dose_gy: float, n_fractions: int) -> None: ...  # type: ignore[override]


class _DroppedParameter(_Conforming):
    def set_prescription(self, dose_gy: float) -> None: ...  # type: ignore[override]


def test_the_protocols_declare_what_the_engine_calls() -> None:
    """ports.py: CaseSource has read(); Planner the five calls the workflow makes (hand list)."""
    assert list(protocol_methods(CaseSource)) == ["read"]
    assert sorted(protocol_methods(Planner)) == sorted(PLANNER_METHODS)
    assert list(protocol_methods(Planner)["normalise"].parameters) == ["target_id", "dose_gy", "volume_pct"]


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (_RenamedMethod, ["optimise: missing"]),
        (_RenamedParameter, ["set_prescription"]),
        (_ExtraRequiredParameter, ["normalise"]),
        (_KeywordOnly, ["set_prescription"]),
        (_DroppedParameter, ["set_prescription"]),
    ],
)
def test_the_checker_catches_a_renamed_method_or_a_changed_parameter(cls: type, expected: List[str]) -> None:
    """Each deliberately wrong class differs from Planner in one place, and exactly that method is named;
    the conforming class passes (as a class and as an instance)."""
    assert signature_mismatches(_Conforming, Planner) == []
    assert signature_mismatches(_Conforming(), Planner) == []
    problems = signature_mismatches(cls(), Planner)
    assert [p.split("(")[0] if "missing" not in p else p for p in problems] == expected
    with pytest.raises(AssertionError, match=expected[0].split(":")[0]):
        assert_signatures_match(cls(), Planner)


@pytest.mark.parametrize("cls", [DirectCase, EclipseCaseSource, RayStationCaseSource, DicomCaseSource])
def test_every_case_source_matches_the_port(cls: type) -> None:
    """CaseSource.read() with no parameters, on each implementation (checked on the class)."""
    assert_signatures_match(cls, CaseSource)


@pytest.mark.parametrize("cls", [DirectPlanner, EclipsePlanner, RayStationPlanner])
def test_every_planner_matches_the_port(cls: type) -> None:
    """The Planner's five methods with the Protocol's parameters, on each implementation (the TPS ones are
    driven through the port in tests/plugin/test_eclipse_adapter.py and test_raystation_adapter.py)."""
    assert_signatures_match(cls, Planner)


def test_the_direct_stand_in_satisfies_the_ports_by_behaviour() -> None:
    """Driven only through the ports: DirectCase reads LRRC-01; DirectPlanner optimises and computes; as
    documented, ``normalise`` records the call (with the Protocol's keyword values) and does not scale,
    so the dose after it is the same array and the record None; the journal holds the six calls in
    order, with normalise's keyword values (1.1 × the engine-measured D95 at 95 %)."""
    case = DirectCase("LRRC-01")
    snapshot = read_through_port(case)
    planner = DirectPlanner(case)
    objectives = [OptimizationObjective("PTV", "lower", 30.0, 95.0, 80.0, "target"),
                  OptimizationObjective("Rectum", "upper", 20.0, 1.0, 100.0, "oar")]
    before, _, _ = exercise_planner(planner, snapshot, "PTV", objectives, scales=False)
    assert [e["member"] for e in planner.journal] == ["set_prescription", "write_objectives", "optimise",
                                                      "compute_dose", "normalise", "compute_dose"]
    normalise = planner.journal[4]
    assert (normalise["target_id"], normalise["volume_pct"]) == ("PTV", 95.0)
    assert normalise["dose_gy"] == 1.1 * engine_d95(before, snapshot, "PTV")
    assert before.frame_of_reference_uid == snapshot.planning_frame_of_reference_uid
