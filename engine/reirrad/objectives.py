"""Optimisation objectives from the remaining OAR tolerance and the prescription.

Objectives are plain engine data: TOTAL dose in Gy and volume in % of the structure (the unit
both TPSs' DVH objectives take); adapters translate them into their TPS's calls and units.

Rules (the numbers come from the protocol's ``planning`` section, with their provenance):

* **OAR, D_v metric** (e.g. D0.5cc): an upper-DVH objective "at most v cm³ above D", expressed as
  ``volume_pct = 100·v / structure volume``, with D = allowed − ``oar_objective_margin``
  (floored at 0); plus a **max-dose** objective at the allowed dose itself.
* **OAR, Dmax**: a max-dose objective at allowed − margin. **Dmean**: a mean-dose objective.
* **Target**: a lower-DVH objective "at least ``target_coverage_volume_percent`` % receives the
  prescription" and a max-dose objective at ``target_max_dose_factor`` × prescription.
* **Priorities** come from the protocol, with their provenance: each OAR's ``priority`` and the
  target's ``planning.target_priority``. The shipped protocol ranks the serial/neural OARs (cord,
  cauda equina, sacral plexus) and the bowel above the target, so that the optimiser gives up
  coverage rather than an OAR limit. An OAR marked ``hard`` gets objectives with ``hard=True``:
  RayStation writes them as constraints where the function type allows, Eclipse at the top priority.
  The numbers only order the objectives; each adapter maps them onto its optimiser's scale.
* An OAR whose allowed dose is 0 (budget exhausted) still gets its objectives (at 0 Gy) so the
  optimiser spares it as far as it can; the workflow reports the infeasibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from ._validate import finite_float
from .constraints import RemainingTolerance
from .errors import InputError
from .metrics import parse_metric
from .protocol import Protocol

__all__ = ["OBJECTIVE_KINDS", "OptimizationObjective", "oar_objectives", "target_objectives"]

#: The objective kinds every adapter translates (the one definition; see :class:`OptimizationObjective`).
OBJECTIVE_KINDS = ("upper", "lower", "max", "mean")


@dataclass(frozen=True)
class OptimizationObjective:
    """One objective (satisfies :class:`reirrad.ports.Objective`).

    Attributes
    ----------
    structure_id : str
        TPS structure the objective applies to.
    kind : str
        ``"upper"`` (at most ``volume_pct`` % above ``dose_gy``), ``"lower"`` (at least
        ``volume_pct`` % at ``dose_gy``), ``"max"`` (no point above) or ``"mean"``.
    dose_gy : float
        TOTAL dose over the plan, Gy.
    volume_pct : float
        % of the structure (0 for max and mean objectives).
    priority : float
    role : str
        ``"oar"`` or ``"target"``.
    oar_key : str or None
        Protocol OAR key for OAR objectives.
    reason : str
        Where the number comes from, for the report.
    hard : bool
        The protocol marks this OAR ``hard``: RayStation writes the objective as a constraint
        (``IsConstraint=True``) where the function type allows it; Eclipse gives it the top priority.
    """

    structure_id: str
    kind: str
    dose_gy: float
    volume_pct: float
    priority: float
    role: str
    oar_key: Optional[str] = None
    reason: str = ""
    hard: bool = False

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVE_KINDS:
            raise InputError(f"objective kind must be one of {OBJECTIVE_KINDS} (got {self.kind!r})")
        finite_float("dose_gy", self.dose_gy, minimum=0.0, unit="Gy")
        pct = finite_float("volume_pct", self.volume_pct, minimum=0.0, unit="%")
        if pct > 100.0:
            raise InputError(f"volume_pct must be <= 100 % (got {pct:g})")


def oar_objectives(protocol: Protocol, tolerance: RemainingTolerance, structure_id: str,
                   structure_volume_cc: float) -> List[OptimizationObjective]:
    """Objectives for one OAR from its remaining tolerance (rules in the module docstring).

    Parameters
    ----------
    protocol : Protocol
    tolerance : RemainingTolerance
        From :func:`reirrad.constraints.remaining_tolerance` for this OAR.
    structure_id : str
        The matched TPS structure.
    structure_volume_cc : float
        Its volume, cm³ (to turn the metric volume into %).

    Raises
    ------
    reirrad.errors.InputError
        A D_v metric larger than the structure (the objective cannot be expressed).
    """
    volume = finite_float("structure_volume_cc", structure_volume_cc, strictly_positive=True, unit="cm³")
    spec = protocol.oar(tolerance.oar)
    priority = spec.priority.value
    margin = protocol.planning.oar_objective_margin.value
    allowed = tolerance.allowed_physical_gy
    target_dose = max(allowed - margin, 0.0)
    metric = parse_metric(tolerance.metric)
    why = (f"{tolerance.metric} allowed {allowed:.2f} Gy ({tolerance.limited_by}) minus margin "
           f"{margin:g} Gy")

    def objective(kind: str, dose: float, pct: float, reason: str) -> OptimizationObjective:
        return OptimizationObjective(structure_id, kind, dose, pct, priority, "oar", tolerance.oar, reason,
                                     hard=spec.hard)

    if metric.kind == "mean":
        return [objective("mean", target_dose, 0.0, why)]
    if metric.kind == "max":
        return [objective("max", target_dose, 0.0, why)]
    metric_cc = float(metric.volume_cc or 0.0)  # set for every "volume" metric
    pct = 100.0 * metric_cc / volume
    if pct > 100.0:
        raise InputError(
            f"{structure_id}: the {metric.name} objective needs {metric_cc:g} cm³ but the structure "
            f"is {volume:.3g} cm³; check the contour or use a protocol with a smaller metric volume"
        )
    return [objective("upper", target_dose, pct, why),
            objective("max", allowed, 0.0, f"{tolerance.metric} allowed {allowed:.2f} Gy as a maximum")]


def target_objectives(protocol: Protocol, target_id: str,
                      prescription_gy: float) -> List[OptimizationObjective]:
    """Lower coverage and upper near-max objectives for the target at ``prescription_gy`` (TOTAL Gy)."""
    rx = finite_float("prescription_gy", prescription_gy, strictly_positive=True, unit="Gy")
    cover = protocol.planning.target_coverage_volume_percent.value
    factor = protocol.planning.target_max_dose_factor.value
    priority = protocol.planning.target_priority.value
    return [
        OptimizationObjective(target_id, "lower", rx, cover, priority, "target",
                              reason=f"{cover:g} % of the target at the prescription {rx:g} Gy"),
        OptimizationObjective(target_id, "max", factor * rx, 0.0, priority, "target",
                              reason=f"maximum {factor:g} x prescription"),
    ]
