"""Both TPS adapters use the engine's single definitions: ApprovedPlanError and the objective kinds."""

from __future__ import annotations

from reirrad.errors import ApprovedPlanError, InputError
from reirrad.objectives import OBJECTIVE_KINDS
from reirrad_tps.eclipse import planner as eclipse_planner
from reirrad_tps.raystation import planner as raystation_planner


def test_one_approved_plan_error_and_one_set_of_objective_kinds():
    """Both adapters raise the engine's ApprovedPlanError and translate exactly OBJECTIVE_KINDS."""
    assert eclipse_planner.ApprovedPlanError is raystation_planner.ApprovedPlanError is ApprovedPlanError
    assert issubclass(ApprovedPlanError, InputError)
    assert set(raystation_planner.FUNCTION_TYPES) == set(OBJECTIVE_KINDS)
    assert eclipse_planner.OBJECTIVE_KINDS is OBJECTIVE_KINDS
