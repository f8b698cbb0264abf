"""Checks that an adapter satisfies the engine's ports (``reirrad.ports``) by signature and by behaviour.

Source of truth: the Protocols themselves. ``assert_signatures_match`` compares every public method a
Protocol declares with the adapter's (same name, same parameter names, kinds and defaults), so a
renamed method or a changed parameter fails; ``exercise_planner`` drives a ``Planner`` only through
the Protocol's methods with the Protocol's keyword names and checks what each documents it returns,
including the normalisation contract (one global scale that puts ``dose_gy`` at ``volume_pct`` % of the
target, checked on the re-computed dose with the engine's own DVH, as the engine's final check does).
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.ports import CaseSource, Objective, Planner
from reirrad.snapshot import CaseSnapshot
from reirrad.structures import structure_occupancy


def protocol_methods(protocol: type) -> Dict[str, inspect.Signature]:
    """The public methods a Protocol declares, with their signatures (``self`` dropped)."""
    methods = {}
    for name, member in vars(protocol).items():
        if inspect.isfunction(member) and not name.startswith("_"):
            signature = inspect.signature(member)
            methods[name] = signature.replace(parameters=list(signature.parameters.values())[1:])
    assert methods, f"{protocol.__name__} declares no methods"
    return methods


def _shape(signature: inspect.Signature) -> List[Tuple[str, Any, bool]]:
    return [(p.name, p.kind, p.default is inspect.Parameter.empty) for p in signature.parameters.values()]


def signature_mismatches(obj: Any, protocol: type) -> List[str]:
    """What in ``obj`` (an instance, or a class) does not match ``protocol``'s methods (empty: all match)."""
    problems = []
    for name, wanted in protocol_methods(protocol).items():
        method = getattr(obj, name, None)
        if method is None or not callable(method):
            problems.append(f"{name}: missing")
            continue
        got = inspect.signature(method)  # bound: self already dropped
        if isinstance(obj, type):  # a class: drop self
            got = got.replace(parameters=list(got.parameters.values())[1:])
        if _shape(got) != _shape(wanted):
            problems.append(f"{name}{got} != {name}{wanted}")
    return problems


def assert_signatures_match(obj: Any, protocol: type) -> None:
    """Every method of ``protocol`` exists on ``obj`` with the same parameters (names, kinds, defaults)."""
    problems = signature_mismatches(obj, protocol)
    assert problems == [], f"{type(obj).__name__} does not satisfy {protocol.__name__}: {problems}"


def read_through_port(source: CaseSource) -> CaseSnapshot:
    """``CaseSource.read()``: a CaseSnapshot."""
    assert_signatures_match(source, CaseSource)
    snapshot = source.read()
    assert isinstance(snapshot, CaseSnapshot)
    return snapshot


def engine_d95(dose: DoseGrid, snapshot: CaseSnapshot, target_id: str) -> float:
    """D95 % of the snapshot's ``target_id`` on ``dose``, by the engine's DVH (as the final check)."""
    target = snapshot.structure(target_id)
    occupancy = structure_occupancy(target.contours_mm, dose, name=target.id,
                                    frame_of_reference_uid=target.frame_of_reference_uid)
    return DVH.from_dose(dose, occupancy).dose_at_volume_pct(95.0)


def exercise_planner(planner: Planner, snapshot: CaseSnapshot, target_id: str,
                     objectives: Sequence[Objective], *, scales: bool = True, prescription_gy: float = 30.0,
                     n_fractions: int = 5, factor: float = 1.1,
                     rel_tol: float = 0.01) -> Tuple[DoseGrid, DoseGrid, Optional[float]]:
    """Drive ``planner`` only through the Planner Protocol, with its keyword names; return the dose
    before and after normalisation and what ``normalise`` returned.

    Checks: ``compute_dose`` gives a DoseGrid before and after ``normalise``; ``normalise`` returns None
    or a float. Normalising to ``factor`` × the D95 % the engine measures (a TPS normalisation is one
    global scale, the Planner docstring's "scale the plan"): with ``scales``, the re-computed dose is
    the previous one × one factor, that factor and the new engine-measured D95 are ``factor`` × the old
    within ``rel_tol`` (the TPS measures D95 on its own structure model); without (the direct stand-in,
    which documents that it records the call and does not scale), the dose is unchanged.
    """
    assert_signatures_match(planner, Planner)
    planner.set_prescription(dose_gy=prescription_gy, n_fractions=n_fractions)
    planner.write_objectives(objectives=objectives)
    planner.optimise()
    before = planner.compute_dose()
    assert isinstance(before, DoseGrid)
    d95 = engine_d95(before, snapshot, target_id)
    assert 0.0 < d95 <= prescription_gy * 1.5
    record = planner.normalise(target_id=target_id, dose_gy=factor * d95, volume_pct=95.0)
    assert record is None or isinstance(record, float)
    after = planner.compute_dose()
    assert isinstance(after, DoseGrid)
    assert after.shape == before.shape
    if not scales:
        assert np.array_equal(after.values_gy, before.values_gy) and record is None
        return before, after, record
    dosed = before.values_gy > 0.01 * float(before.values_gy.max())
    ratio = after.values_gy[dosed] / before.values_gy[dosed]
    assert float(ratio.max() - ratio.min()) <= 1e-5 * float(ratio.mean())  # one global scale
    assert abs(float(ratio.mean()) / factor - 1.0) <= rel_tol
    assert abs(engine_d95(after, snapshot, target_id) / (factor * d95) - 1.0) <= rel_tol
    return before, after, record
