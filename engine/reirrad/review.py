"""What the dosimetrist must see and confirm before anything is written (TPS-agnostic).

:func:`review_case` turns a protocol and a case snapshot into a :class:`CaseReview`: the prior courses
found (prescription, fractions, date of the last fraction and whether the TPS supplied it), the
structure matching (matched, unmatched, ambiguous with the candidates), the protocol and the status of
its values. :func:`recovery_preview` gives the interval and the recovery credited for a date as the
dialog edits it. The confirmation dialog (``reirrad_tps.dialog``) and the console confirmation show
these; the answers come back as ``reirrad_tps.answers.RunAnswers``.

Risk factors (:data:`RISK_FACTORS`) are those the guidance names for a conservation factor
(docs/reference/radiobiology.md §3.3: prior pelvic surgery, diabetes, vasculopathy, advanced age, prior
systemic therapy). No source gives the factor's value: the dialog records the risk factors and the
factor the user enters (default 1, no adjustment); nothing is derived from them automatically.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from .matching import match_structures
from .protocol import Protocol
from .recovery import DAYS_PER_MONTH, assess_recovery
from .snapshot import CaseSnapshot

__all__ = ["RISK_FACTORS", "CaseReview", "MatchRow", "PriorCourseRow", "RecoveryPreview",
           "planned_structures", "recovery_preview", "review_case"]

#: (key, label) of the risk factors recorded for the conservation factor (docs/reference/radiobiology.md
#: §3.3).
RISK_FACTORS: Tuple[Tuple[str, str], ...] = (
    ("prior-pelvic-surgery", "extensive prior pelvic surgery"),
    ("diabetes", "diabetes"),
    ("vasculopathy", "vasculopathy"),
    ("advanced-age", "advanced age"),
    ("prior-systemic-therapy", "prior systemic therapy"),
)


@dataclass(frozen=True)
class PriorCourseRow:
    """One prior course as found in the TPS.

    Attributes
    ----------
    plan_id, course_id : str
    prescription_gy : float or None
        TOTAL prescribed dose, Gy (None when the TPS has none).
    n_fractions : int
    last_fraction : datetime.date or None
        Date of the last fraction: from the TPS, or from the answers, or None (to be entered).
    date_known : bool
        True when the date (or the interval itself) was known when the case was read.
    registration : str
        the registration kind (``same-frame``, ``rigid``, ``deformable``) with the registration's id.
    date_source : str
        Where the date came from (:data:`reirrad.priors.DATE_SOURCES`); ``course-completed`` asks for
        confirmation.
    """

    plan_id: str
    course_id: str
    prescription_gy: Optional[float]
    n_fractions: int
    last_fraction: Optional[dt.date]
    date_known: bool
    registration: str
    date_source: str = "unknown"

    @property
    def date_needs_confirmation(self) -> bool:
        """True when the date is unknown or is a date the TPS keeps for another purpose."""
        return self.last_fraction is None or self.date_source == "course-completed"


@dataclass(frozen=True)
class MatchRow:
    """One protocol OAR and the structure matched to it.

    ``status`` is ``"matched"``, ``"ambiguous"`` (several structures match: the user must choose among
    ``candidates``), ``"unmatched"`` (no structure: not evaluated unless the user picks one) or
    ``"empty"`` (the matching structure has no contours).
    """

    oar_key: str
    label: str
    structure_id: Optional[str]
    candidates: Tuple[str, ...]
    status: str


@dataclass(frozen=True)
class CaseReview:
    """Everything the confirmation shows (see the module docstring)."""

    patient_id: str
    plan_id: str
    n_fractions: Optional[int]
    target_id: Optional[str]
    protocol_name: str
    protocol_version: str
    value_statuses: Mapping[str, int]
    recovery_model: str
    priors: Tuple[PriorCourseRow, ...]
    matches: Tuple[MatchRow, ...]
    structure_ids: Tuple[str, ...]
    planned_start: Optional[dt.date]
    not_counted: Tuple[str, ...] = ()
    #: the optimisation structures the run will create or update in the TPS, one line each (name and
    #: rule); empty when the protocol disables them (:func:`planned_structures`)
    optimisation_structures: Tuple[str, ...] = ()


@dataclass(frozen=True)
class RecoveryPreview:
    """Interval and recovery credited for one prior course at the dates entered."""

    interval_days: Optional[int]
    fraction: Optional[float]
    text: str


def _value_statuses(protocol: Protocol) -> Dict[str, int]:
    """How many of the protocol's numbers are confirmed / secondary-source / unverified."""
    return dict(sorted(Counter(q.status for q in protocol.quantities()).items()))


def review_case(protocol: Protocol, snapshot: CaseSnapshot,
                structure_overrides: Optional[Mapping[str, str]] = None, *,
                objectives: Optional[str] = None) -> CaseReview:
    """The review of ``snapshot`` under ``protocol`` (no TPS call, nothing computed on doses).

    ``objectives`` is the run's choice (``standard`` / ``spatial``; None: the protocol's default), for the
    list of structures the run will make.

    Raises
    ------
    reirrad.errors.InputError
        ``structure_overrides`` names an unknown OAR or structure.
    """
    mapping, findings = match_structures(protocol, snapshot.structures, structure_overrides)
    by_key = {f.subject: f.code for f in findings}
    non_empty = [s for s in snapshot.structures if not s.is_empty]
    rows = []
    for spec in protocol.oars:
        candidates = tuple(s.id for s in non_empty if spec.matches(s.id))
        code = by_key.get(spec.key)
        if spec.key in mapping:
            status = "matched"
        elif code == "ambiguous-structure":
            status = "ambiguous"
        elif code == "empty-structure":
            status = "empty"
        else:
            status = "unmatched"
        rows.append(MatchRow(spec.key, spec.label, mapping.get(spec.key), candidates, status))
    priors = tuple(PriorCourseRow(c.plan_id, c.course_id, c.prescription_gy, c.n_fractions, c.last_fraction,
                                  c.last_fraction is not None or c.interval_days_given is not None,
                                  f"{c.registration_kind} ({c.registration_id})" if c.registration_id
                                  else str(c.registration_kind), c.last_fraction_source)
                   for c in snapshot.prior_courses)
    return CaseReview(
        patient_id=snapshot.patient_id, plan_id=snapshot.plan.id, n_fractions=snapshot.plan.n_fractions,
        target_id=snapshot.plan.target_id, protocol_name=protocol.name, protocol_version=protocol.version,
        value_statuses=_value_statuses(protocol), recovery_model=protocol.recovery.model, priors=priors,
        matches=tuple(rows), structure_ids=tuple(s.id for s in snapshot.structures),
        planned_start=snapshot.planned_start,
        not_counted=tuple(f"{r['course']}/{r['plan']}: {r['reason']}" for r in snapshot.prior_plan_selection
                          if not r["selected"] and r["has_dose"]),
        optimisation_structures=tuple(planned_structures(protocol, mapping, snapshot.plan.target_id,
                                                         objectives=objectives)))


def planned_structures(protocol: Protocol, mapping: Mapping[str, str], target_id: Optional[str], *,
                       objectives: Optional[str] = None) -> List[str]:
    """One line per optimisation structure the run will make (docs/optimisation-structures.md), before
    anything is computed on doses: which OARs ``PTV_opt`` subtracts depends on their allowed doses and on
    the level, so its line states the rule; the low-tolerance structures get one line when the run makes
    them (``objectives`` ``spatial``, or None and the protocol's default on). [] when the protocol has no
    enabled section."""
    settings = protocol.optimisation_structures
    if settings is None or not settings.enabled:
        return []
    prefix, target = settings.name_prefix, target_id or "the target"
    lines = [f"{prefix}{p.name}: PRV of {mapping[p.oar_key]}, grown {p.margin.value:g} mm"
             for p in settings.prvs if p.oar_key in mapping]
    lines.append(f"{prefix}{settings.target_opt_name}: {target} minus the PRV (or organ) of each OAR next to "
                 f"it whose allowed dose is below the level x {settings.subtract_factor.value:g} (decided "
                 "per level; the coverage objective goes on it)")
    gap, width = settings.ring_gap.value, settings.ring_width.value
    lines.append(f"{prefix}{settings.ring_name}: ring {gap:g} to {gap + width:g} mm outside {target}")
    if (objectives == "spatial") if objectives is not None else settings.spatial_objectives:
        lines.append(f"{prefix}LT_<organ>: spatial objectives: the part of each OAR where the prior dose "
                     "exceeded its prior metric dose, written contour by contour, with a stricter maximum "
                     "objective (once per run)")
    lines.append(f"Type control; a name another structure has gets a suffix _1 ... _9. Only structures named "
                 f"{prefix}... of type control are ever updated; no clinician's structure is changed.")
    return lines


def recovery_preview(model: str, last_fraction: Optional[dt.date], planned_start: Optional[dt.date],
                     conservation_factor: float = 1.0) -> RecoveryPreview:
    """Interval (days) and credited recovery for a prior course with these dates.

    Models that need the prior dose (``jones-grant-2014``) are credited per OAR: the preview then
    gives the interval only.
    """
    if last_fraction is None or planned_start is None:
        return RecoveryPreview(None, None, "interval unknown: enter the dates (no recovery credited)")
    days = (planned_start - last_fraction).days
    if days < 0:
        return RecoveryPreview(days, None, "the last fraction is after the planned start: check the dates")
    months = days / DAYS_PER_MONTH
    if model == "jones-grant-2014":
        return RecoveryPreview(days, None, f"{days} days ({months:.1f} months); recovery per OAR ({model})")
    assessment = assess_recovery(model, days, conservation_factor=conservation_factor)
    return RecoveryPreview(days, assessment.fraction,
                           f"{days} days ({months:.1f} months): {100 * assessment.fraction:.0f} % "
                           f"recovery credited ({model})")
