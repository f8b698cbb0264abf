"""The workflow's objectives as pyRadPlan objective definitions, and the one dose-unit conversion.

Pure (no pyRadPlan import): :func:`translate_objectives` turns :class:`reirrad.ports.Objective` values
(TOTAL Gy, volume %) into plain dicts that pyRadPlan's objective factory reads (keyed by ``name``).

Units
-----
pyRadPlan applies its objectives to ``dij @ w`` as it stands: the dose-influence matrix of its generic
photon machine gives dose per unit fluence, and the plan's ``num_of_fractions`` scales nothing in its
optimisation (checked in pyRadPlan 0.5.0's ``optimization`` package). This backend takes that dose as the
dose of **one fraction**, the reading of matRad, whose fluence weights are per fraction: objectives are
written per fraction (:func:`per_fraction_gy`) and the dose read back is multiplied by the number of
fractions (:func:`total_gy`). These two functions are the only place where the conversion happens.

Translation (``d`` = the objective's TOTAL dose / n fractions)
--------------------------------------------------------------
=================  =====================================================================================
workflow kind      pyRadPlan objectives
=================  =====================================================================================
``upper``          ``Max DVH`` (at most ``volume_pct`` % above ``d``)
``max``            ``Squared Overdosing`` at ``d_max = d``
``lower``          ``Min DVH`` (at least ``volume_pct`` % at ``d``) and ``Squared Underdosing`` at
                   ``d_min = d`` at half the penalty (the DVH objective alone is not convex and a
                   start from zero fluence stalls on it)
``mean``           ``Mean Dose`` towards 0 (linear): pyRadPlan has no one-sided mean objective, so the
                   mean is pushed down; the limit itself is checked by the workflow's evaluation
=================  =====================================================================================

Penalties: the objective's priority times :data:`PENALTY_PER_PRIORITY`; a ``hard`` objective (the protocol
marks the OAR hard; pyRadPlan's scipy solver has no constraints) gets :data:`HARD_FACTOR` times that.

Normal tissue (:func:`normal_tissue_objective`): the workflow writes no objective outside the target and
its OARs, and an optimiser left alone there puts hot spots in unconstrained tissue (measured: the hottest
voxel of a phantom plan 15 mm outside its target; with this objective hot spots beside the target remain,
at about the target's own maximum). As the Eclipse adapter adds Eclipse's normal tissue
objective, this backend adds ``Squared Overdosing`` at the target's prescription (its ``lower``
objective's dose) on the body outside the target (:data:`NORMAL_TISSUE_ID`), at priority
:data:`NORMAL_TISSUE_PRIORITY`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

from reirrad._validate import finite_float, positive_int
from reirrad.errors import InputError
from reirrad.ports import Objective

__all__ = ["ENGINE_OBJECTIVE_NAMES", "HARD_FACTOR", "NORMAL_TISSUE_ID", "NORMAL_TISSUE_PRIORITY",
           "PENALTY_PER_PRIORITY", "EngineObjective", "normal_tissue_objective", "per_fraction_gy",
           "total_gy", "translate_objectives"]

#: The pyRadPlan objective names this backend writes.
ENGINE_OBJECTIVE_NAMES = ("Max DVH", "Min DVH", "Squared Overdosing", "Squared Underdosing", "Mean Dose")
#: pyRadPlan penalty per unit of protocol priority (only ratios matter to the optimiser).
PENALTY_PER_PRIORITY = 10.0
#: Penalty multiplier of a ``hard`` objective.
HARD_FACTOR = 5.0
#: Penalty fraction of the squared-underdosing companion of a ``lower`` objective.
UNDERDOSE_SHARE = 0.5
#: The body outside the target (a structure the backend makes; no TPS structure has this id).
NORMAL_TISSUE_ID = "reirrad_NormalTissue"
#: Protocol-scale priority of the normal-tissue objective (the shipped protocol's target has 80).
NORMAL_TISSUE_PRIORITY = 40.0

#: One pyRadPlan objective definition: ``{"name": ..., "priority": ..., parameters...}``.
EngineObjective = Dict[str, Union[str, float]]


def per_fraction_gy(total: float, n_fractions: int) -> float:
    """A TOTAL dose (Gy) as pyRadPlan's per-fraction dose (Gy); the inverse of :func:`total_gy`."""
    n = positive_int("n_fractions", n_fractions)
    return finite_float("dose", total, minimum=0.0, unit="Gy") / n


def total_gy(per_fraction: Any, n_fractions: int) -> Any:
    """pyRadPlan's per-fraction dose (a float or a numpy array, Gy) as TOTAL dose over ``n_fractions``."""
    return per_fraction * positive_int("n_fractions", n_fractions)


def translate_objectives(objectives: Sequence[Objective],
                         n_fractions: int) -> Dict[str, List[EngineObjective]]:
    """pyRadPlan objective definitions per structure id (table in the module docstring).

    Parameters
    ----------
    objectives : sequence of reirrad.ports.Objective
        TOTAL dose in Gy, volume in % of the structure.
    n_fractions : int
        Fractions of the new plan (the objectives are written per fraction).

    Returns
    -------
    dict
        Structure id → list of dicts with ``name``, ``priority`` and the objective's parameters (doses in
        Gy per fraction, volumes in %), in the order of ``objectives``.

    Raises
    ------
    reirrad.errors.InputError
        An unknown objective kind, or a DVH objective at 0 % or 100 % of the volume.
    """
    out: Dict[str, List[EngineObjective]] = {}
    for o in objectives:
        d = per_fraction_gy(o.dose_gy, n_fractions)
        penalty = float(o.priority) * PENALTY_PER_PRIORITY * (HARD_FACTOR if o.hard else 1.0)
        rows: List[EngineObjective]
        if o.kind == "upper":
            rows = [{"name": "Max DVH", "priority": penalty, "d": d, "v_max": _pct(o)}]
        elif o.kind == "lower":
            rows = [{"name": "Min DVH", "priority": penalty, "d": d, "v_min": _pct(o)},
                    {"name": "Squared Underdosing", "priority": penalty * UNDERDOSE_SHARE, "d_min": d}]
        elif o.kind == "max":
            rows = [{"name": "Squared Overdosing", "priority": penalty, "d_max": d}]
        elif o.kind == "mean":
            rows = [{"name": "Mean Dose", "priority": penalty, "d_ref": 0.0, "f_diff": "linear"}]
        else:
            raise InputError(f"{o.structure_id}: objective kind {o.kind!r} has no pyRadPlan translation; "
                             "the workflow writes upper, lower, max and mean objectives")
        out.setdefault(o.structure_id, []).extend(rows)
    return out


def normal_tissue_objective(objectives: Sequence[Objective],
                            n_fractions: int) -> Dict[str, List[EngineObjective]]:
    """The normal-tissue objective (module docstring) for the target's prescription in ``objectives``.

    Returns
    -------
    dict
        ``{NORMAL_TISSUE_ID: [{"name": "Squared Overdosing", ...}]}`` at the highest ``lower`` objective's
        dose (per fraction), or an empty dict when there is no ``lower`` objective.
    """
    lower = [float(o.dose_gy) for o in objectives if o.kind == "lower"]
    if not lower:
        return {}
    return {NORMAL_TISSUE_ID: [{"name": "Squared Overdosing",
                                "priority": NORMAL_TISSUE_PRIORITY * PENALTY_PER_PRIORITY,
                                "d_max": per_fraction_gy(max(lower), n_fractions)}]}


def _pct(o: Objective) -> float:
    pct = float(o.volume_pct)
    if not 0.0 < pct < 100.0:
        raise InputError(f"{o.structure_id}: a {o.kind} DVH objective needs a volume between 0 and 100 % "
                         f"(got {pct:g} %)")
    return pct
