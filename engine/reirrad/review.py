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

from .constraints import PriorMetricDose
from .dvh import DVH
from .errors import ReirradError
from .matching import match_structures
from .priors import plan_keys
from .protocol import Protocol
from .recovery import DAYS_PER_MONTH, assess_recovery
from .sensitivity import sensitivity_analysis
from .snapshot import CaseSnapshot
from .structures import structure_occupancy

__all__ = ["RISK_FACTORS", "AllowedPreview", "CaseReview", "MatchRow", "PriorCourseRow", "RecoveryPreview",
           "allowed_preview", "planned_structures", "recovery_preview", "review_case"]

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
    key : str
        How the user names the plan (``prior_dates``, the dialog): its plan id, or ``COURSE/PLAN`` when
        another prior plan has the same plan id (:func:`reirrad.priors.plan_keys`).
    """

    plan_id: str
    course_id: str
    prescription_gy: Optional[float]
    n_fractions: int
    last_fraction: Optional[dt.date]
    date_known: bool
    registration: str
    date_source: str
    key: str

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
class AllowedPreview:
    """One matched OAR's prior metric doses, from which the dialog previews its allowed dose as the dates
    are edited (:func:`allowed_preview`).

    ``prior_doses``: per prior course (its :attr:`PriorCourseRow.key`, physical dose at the OAR's metric in
    Gy — total over that course — and its fractions), on the planning grid as the case was read (a
    RayStation deformable registration is mapped only after the confirmation: the run recomputes every
    number).
    """

    oar_key: str
    label: str
    structure_id: str
    metric: str
    prior_doses: Tuple[Tuple[str, float, int], ...]


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
    #: per matched OAR, what the allowed-dose preview is computed from (``review_case(allowed_doses=True)``)
    allowed: Tuple[AllowedPreview, ...] = ()
    #: why there is no allowed-dose preview ("" when there is one or none was asked for)
    allowed_note: str = ""
    #: the protocol reviewed (for the previews), None when not kept
    protocol: Optional[Protocol] = None


@dataclass(frozen=True)
class RecoveryPreview:
    """Interval and recovery credited for one prior course at the dates entered."""

    interval_days: Optional[int]
    fraction: Optional[float]
    text: str


def _value_statuses(protocol: Protocol) -> Dict[str, int]:
    """How many of the protocol's numbers are confirmed / secondary-source / unverified."""
    return dict(sorted(Counter(q.status for q in protocol.quantities()).items()))


def _allowed_rows(protocol: Protocol, snapshot: CaseSnapshot,
                  mapping: Mapping[str, str]) -> Tuple[Tuple[AllowedPreview, ...], str]:
    """The matched OARs' prior metric doses on the planning grid (as :func:`reirrad.workflow.prepare`
    computes them), or () and the reason they cannot be."""
    try:
        grid = snapshot.dose_grid
        keys = plan_keys([(c.course_id, c.plan_id) for c in snapshot.prior_courses])
        mapped = [(key, c.on_grid(grid).grid, c.n_fractions) for c, key in zip(snapshot.prior_courses, keys)]
        rows = []
        for spec in protocol.oars:
            if spec.key not in mapping:
                continue
            s = snapshot.structure(mapping[spec.key])
            occ = structure_occupancy(s.contours_mm, grid, name=s.id,
                                      frame_of_reference_uid=s.frame_of_reference_uid)
            doses = tuple((key, float(DVH.from_dose(dose, occ).metric_gy(spec.de_novo.metric)), n_fx)
                          for key, dose, n_fx in mapped)
            rows.append(AllowedPreview(spec.key, spec.label, s.id, spec.de_novo.metric.name, doses))
    except ReirradError as exc:
        return (), f"allowed doses not previewed ({exc}); the run computes them"
    return tuple(rows), ""


def allowed_preview(review: CaseReview, row: AllowedPreview, intervals_days: Mapping[str, Optional[float]], *,
                    recovery_model: Optional[str] = None, conservation_factor: Optional[float] = None) -> str:
    """One OAR's allowed physical dose at these intervals, and its range under the protocol's sensitivity
    ranges (:mod:`reirrad.sensitivity`, no registration margin here), as one line of text.

    ``intervals_days``: per prior plan (its :attr:`PriorCourseRow.key`), the days from its last fraction to
    the new course's first (None: unknown, nothing credited). Text, never an exception: what cannot be
    computed is said.
    """
    protocol = review.protocol
    if protocol is None or review.n_fractions is None:
        return "computed when the run starts"
    priors = [PriorMetricDose(dose, n_fx, intervals_days.get(key), key)
              for key, dose, n_fx in row.prior_doses]
    try:
        analysis = sensitivity_analysis(protocol, {row.oar_key: priors}, review.n_fractions,
                                        recovery_model=recovery_model,
                                        conservation_factor=conservation_factor)
    except ReirradError as exc:
        return f"not available: {exc}"
    base = analysis.baseline[0]
    low, high = analysis.range_gy(row.oar_key)
    unknown = " (interval unknown: no recovery)" if any(p.interval_days is None for p in priors) else ""
    return f"{base.allowed_physical_gy:.2f} Gy ({base.limited_by}){unknown}; range {low:.2f}-{high:.2f} Gy"


def review_case(protocol: Protocol, snapshot: CaseSnapshot,
                structure_overrides: Optional[Mapping[str, str]] = None, *,
                objectives: Optional[str] = None, allowed_doses: bool = False) -> CaseReview:
    """The review of ``snapshot`` under ``protocol`` (no TPS call).

    ``objectives`` is the run's choice (``standard`` / ``spatial``; None: the protocol's default), for the
    list of structures the run will make. With ``allowed_doses`` the review also carries each matched
    OAR's prior metric doses (occupancy and DVH on the planning grid, a few seconds), from which the
    dialog previews the allowed doses and their ranges as the dates are edited (:func:`allowed_preview`);
    without it nothing is computed on doses.

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
    allowed, note = _allowed_rows(protocol, snapshot, mapping) if allowed_doses else ((), "")
    keys = plan_keys([(c.course_id, c.plan_id) for c in snapshot.prior_courses])
    priors = tuple(PriorCourseRow(c.plan_id, c.course_id, c.prescription_gy, c.n_fractions, c.last_fraction,
                                  c.last_fraction is not None or c.interval_days_given is not None,
                                  f"{c.registration_kind} ({c.registration_id})" if c.registration_id
                                  else str(c.registration_kind), c.last_fraction_source, key)
                   for c, key in zip(snapshot.prior_courses, keys))
    return CaseReview(
        patient_id=snapshot.patient_id, plan_id=snapshot.plan.id, n_fractions=snapshot.plan.n_fractions,
        target_id=snapshot.plan.target_id, protocol_name=protocol.name, protocol_version=protocol.version,
        value_statuses=_value_statuses(protocol), recovery_model=protocol.recovery.model, priors=priors,
        matches=tuple(rows), structure_ids=tuple(s.id for s in snapshot.structures),
        planned_start=snapshot.planned_start,
        not_counted=tuple(f"{r['course']}/{r['plan']}: {r['reason']}" for r in snapshot.prior_plan_selection
                          if not r["selected"] and r["has_dose"]),
        optimisation_structures=tuple(planned_structures(protocol, mapping, snapshot.plan.target_id,
                                                         objectives=objectives)),
        protocol=protocol, allowed=allowed, allowed_note=note)


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
