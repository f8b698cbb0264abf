"""The voxel maps of a run, for display (the HTML report) and export (RT Dose files).

All on the planning dose grid, from the run's prior courses (:class:`reirrad.workflow.PreparedCase`):

* :func:`course_recovery` — the recovery credited to each prior course **for one OAR** (its interval and
  model; 0 where nothing is credited);
* :func:`prior_eqd2_map` — the composite prior EQD2, summed over courses, before any recovery;
* :func:`effective_prior_map` — the composite effective prior EQD2 (after recovery, summed over courses,
  α/β per voxel by the overlap rule of :mod:`reirrad.biomaps`). A picture needs one recovery per course,
  but the credit can differ between OARs (e.g. the Jones & Grant model): each course gets the
  **smallest** recovery credited to it for any OAR with a cumulative limit (the cautious choice;
  none when no OAR has a limit);
* :func:`remaining_maps` — per OAR with a cumulative limit, its remaining tolerance over the whole grid
  at that OAR's α/β and recovery: remaining EQD2 and the allowed physical dose in the new course's
  fractions. Meaningful inside that OAR; exported one file per OAR, so no value has to stand for
  "outside".
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from .biomaps import (
    CourseDose,
    EffectivePriorMap,
    RemainingToleranceMap,
    Tissue,
    effective_prior_eqd2_map,
    remaining_tolerance_map,
)
from .workflow import PreparedCase

__all__ = ["course_doses", "course_recovery", "display_recovery", "effective_prior_map", "limited_oars",
           "prior_eqd2_map", "remaining_maps"]


def limited_oars(prep: PreparedCase) -> List[str]:
    """OAR keys with a cumulative limit that were matched to a structure."""
    return [k for k, t in prep.tolerances.items()
            if t.cumulative_limit_eqd2_gy is not None and k in prep.oar_occupancy]


def course_recovery(prep: PreparedCase, oar_key: str) -> List[float]:
    """Recovered fraction credited to each prior course for ``oar_key`` (0 where none is credited)."""
    return [c.recovery.fraction if c.recovery is not None else 0.0 for c in prep.tolerances[oar_key].courses]


def course_doses(prep: PreparedCase, fractions: Sequence[float]) -> List[CourseDose]:
    """The prior courses on the planning grid with the given recovered fractions."""
    return [CourseDose(p.name, p.dose, p.n_fractions, f) for p, f in zip(prep.prior_courses, fractions)]


def display_recovery(prep: PreparedCase) -> List[float]:
    """One recovered fraction per course for whole-grid maps: the smallest over the limited OARs."""
    per_oar = [course_recovery(prep, k) for k in limited_oars(prep)]
    if not per_oar:
        return [0.0] * len(prep.prior_courses)
    return [min(f[i] for f in per_oar) for i in range(len(prep.prior_courses))]


def _composite(prep: PreparedCase, fractions: Sequence[float]) -> Optional[EffectivePriorMap]:
    if not prep.prior_courses:
        return None
    tissues = [Tissue(k, prep.oar_occupancy[k], prep.tolerances[k].alpha_beta_gy)
               for k in prep.tolerances if k in prep.oar_occupancy]
    return effective_prior_eqd2_map(course_doses(prep, fractions), tissues,
                                    prep.protocol.background_alpha_beta.value)


def prior_eqd2_map(prep: PreparedCase) -> Optional[EffectivePriorMap]:
    """The composite prior EQD2 map, summed over courses, with NO recovery (None without prior courses)."""
    return _composite(prep, [0.0] * len(prep.prior_courses))


def effective_prior_map(prep: PreparedCase) -> Optional[EffectivePriorMap]:
    """The composite effective prior EQD2 map (None without prior courses)."""
    return _composite(prep, display_recovery(prep))


def remaining_maps(prep: PreparedCase) -> Dict[str, RemainingToleranceMap]:
    """Remaining-tolerance map of each limited OAR, by OAR key (empty without prior courses)."""
    if not prep.prior_courses:
        return {}
    out: Dict[str, RemainingToleranceMap] = {}
    for key in limited_oars(prep):
        tol = prep.tolerances[key]
        limit = tol.check_limit_eqd2_gy  # min(limit, single-course tolerance) with Jones & Grant
        if limit is None:  # pragma: no cover - limited_oars filters these
            continue
        out[key] = remaining_tolerance_map(course_doses(prep, course_recovery(prep, key)), tol.alpha_beta_gy,
                                           limit, prep.n_fractions)
    return out
