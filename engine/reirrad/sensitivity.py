"""How much each OAR's allowed dose depends on the assumptions behind it (one at a time).

A re-irradiation constraint rests on uncertain numbers: each organ's α/β, the recovered fraction
(the guidance's 30/50 % steps against Jones & Grant's continuous curve), the interval (often a date
read from another centre's letter) and the registration of the prior dose. For each OAR this module
recomputes the planning limit of :func:`reirrad.constraints.remaining_tolerance` — the allowed
physical dose in the new fractionation and which rule limits it — with **one assumption changed at a
time**, everything else at the run's values (the *baseline*):

``alpha_beta_gy``
    The OAR's α/β ± ``sensitivity.alpha_beta_step`` (default 1 Gy), the same α/β for every prior
    course and the new one. The limits keep their EQD2 values: an EQD2 limit is a dose in 2 Gy
    fractions, where it does not depend on α/β (docs/clinical-decisions.md 39). A value ≤ 0 is left
    out (a note says so).
``recovered_fraction`` and ``recovery_model``
    The recovered fraction by each alternative: the guidance's steps taken as fixed fractions 0,
    0.3 and 0.5 (whatever the interval); the models ``uk-guidance``, Jones & Grant 2014 with the
    ``fitted`` and the ``cautious`` curve (where the protocol gives the OAR's single-course tolerance),
    and ``none``; each with the run's conservation factor.
``conservation_factor``
    The run's factor and ``sensitivity.cautious_conservation_factor`` (default 0.5), with the run's
    recovery model.
``interval_days``
    Every prior course's interval ± ``sensitivity.interval_tolerance`` (default 30 days; not below 0),
    with the run's model: crossing the guidance's 6- or 18-month step shows as a jump.
``registration_margin_mm``
    Each course's prior metric dose raised by how much that course's prior dose maximum grows when the
    OAR is grown by ``sensitivity.registration_margin`` (default 3 mm; :func:`registration_increase_gy`),
    where the prior dose grid exists (planning and evaluation runs, not the point calculator).

Every row is a planning limit, so it is never above the de novo limit (nor the per-course cap):
:func:`reirrad.constraints.remaining_tolerance` takes the minimum. A limiting OAR whose allowed dose
changes by more than ``sensitivity.flag_threshold_percent`` (default 10 %) of its baseline within these
ranges gets a ``sensitive-decision`` flag (:func:`sensitivity_findings`).

The **model comparison** (the full guidance's Appendix 3 compares the two): for each OAR the allowed
dose by the guidance's steps and by Jones & Grant (both curves), with the run's conservation factor,
beside the model the run used.

Worked example (tests/engine/test_sensitivity.py): small bowel 45 Gy/25 at 700 days, limit 70 Gy
EQD2, de novo 35 Gy in 5 fractions, UK guidance (50 % after 18 months). At α/β 3 the prior EQD2 is
45·(1.8 + 3)/5 = 43.2 Gy, 21.6 Gy after recovery, 48.4 Gy remain: D·(1 + D/15) = 48.4·(1 + 2/3) →
D = 28.08 Gy. At α/β 2: 45·3.8/4 = 42.75 → 21.375, remaining 48.625 Gy: D·(1 + D/10) = 97.25 →
D = 26.58 Gy. At α/β 4: 45·5.8/6 = 43.5 → 21.75, remaining 48.25 Gy: D·(1 + D/20) = 72.375 →
D = 29.34 Gy. With recovery 0.3: 70 − 0.7·43.2 = 39.76 Gy → D·(1 + D/15) = 66.27 → D = 24.91 Gy; with
0: 26.8 Gy → D·(1 + D/15) = 44.67 → D = 19.45 Gy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .constraints import PriorMetricDose, RemainingTolerance, remaining_tolerance
from .dose import DoseGrid
from .errors import InputError
from .findings import Finding
from .protocol import Protocol, Quantity
from .structures import Occupancy

__all__ = [
    "FIXED_RECOVERED_FRACTIONS",
    "PARAMETERS",
    "ModelComparison",
    "SensitivityAnalysis",
    "SensitivityRow",
    "format_sensitivity",
    "registration_increase_gy",
    "sensitivity_analysis",
    "sensitivity_findings",
    "sensitivity_ranges",
]

#: The guidance's recovery steps, taken as fixed alternatives (interval < 6, 6-18, > 18 months).
FIXED_RECOVERED_FRACTIONS = (0.0, 0.3, 0.5)
_JG = "jones-grant-2014"

RowValue = Union[float, str, List[float]]

#: The row parameters (docs/design.md §5), in table order, with their names in words.
PARAMETERS: Dict[str, str] = {
    "alpha_beta_gy": "α/β",
    "recovered_fraction": "recovered fraction",
    "recovery_model": "recovery model",
    "conservation_factor": "conservation factor",
    "interval_days": "interval",
    "registration_margin_mm": "registration margin",
}


@dataclass(frozen=True)
class SensitivityRow:
    """One OAR's planning limit with one assumption changed.

    Attributes
    ----------
    oar : str
        Protocol OAR key.
    parameter : str
        One of :data:`PARAMETERS` (the names of docs/design.md §5).
    value : float, str or list of float
        The changed value: ``alpha_beta_gy`` the α/β (Gy); ``recovered_fraction`` the fixed fraction;
        ``recovery_model`` the model's name (``uk-guidance``, ``jones-grant-2014``, ``none``; ``curve``
        tells the two Jones & Grant rows apart); ``conservation_factor`` the factor; ``interval_days``
        the changed interval (days; a list with one per course when there are several);
        ``registration_margin_mm`` the margin (mm).
    label : str
        The change in words, e.g. ``"α/β 2 Gy"``, ``"interval -30 d (700 → 670 d)"``.
    allowed_physical_gy : float
        Planning limit in the new fractionation, Gy (physical, total).
    limited_by : str
        ``cumulative``, ``de-novo`` or ``per-course``.
    recovered_fraction : float or None
        The overall credited recovery with this change (None without a cumulative limit).
    change_gy : float
        allowed − baseline allowed, Gy.
    change_percent : float or None
        100 × change / baseline allowed; None when the baseline allows 0 Gy.
    curve : str or None
        The Jones & Grant curve of a ``recovery_model`` row (``fitted`` / ``cautious``), else None.
    """

    oar: str
    parameter: str
    value: RowValue
    label: str
    allowed_physical_gy: float
    limited_by: str
    recovered_fraction: Optional[float]
    change_gy: float
    change_percent: Optional[float]
    curve: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"oar": self.oar, "parameter": self.parameter, "value": self.value, "label": self.label,
                "allowed_physical_gy": self.allowed_physical_gy, "limited_by": self.limited_by,
                "recovered_fraction": self.recovered_fraction, "change_gy": self.change_gy,
                "change_percent": self.change_percent, "curve": self.curve}


@dataclass(frozen=True)
class ModelComparison:
    """One OAR's allowed dose by the guidance's steps and by Jones & Grant 2014 (both curves).

    ``jones_grant_fitted_gy`` / ``jones_grant_cautious_gy`` are None when the protocol gives the OAR
    no single-course tolerance (the model needs it). ``used_model`` is the run's model and
    ``used_gy`` its allowed dose; ``difference_gy`` = Jones & Grant (the protocol's curve) − guidance.
    """

    oar: str
    label: str
    uk_guidance_gy: float
    jones_grant_fitted_gy: Optional[float]
    jones_grant_cautious_gy: Optional[float]
    jones_grant_curve: str
    used_model: str
    used_gy: float
    difference_gy: Optional[float]

    def to_dict(self) -> Dict[str, Any]:
        return {"oar": self.oar, "label": self.label, "uk_guidance_gy": self.uk_guidance_gy,
                "jones_grant_fitted_gy": self.jones_grant_fitted_gy,
                "jones_grant_cautious_gy": self.jones_grant_cautious_gy,
                "jones_grant_curve": self.jones_grant_curve, "used_model": self.used_model,
                "used_gy": self.used_gy, "difference_gy": self.difference_gy}


@dataclass(frozen=True)
class SensitivityAnalysis:
    """Result of :func:`sensitivity_analysis`.

    Attributes
    ----------
    baseline : tuple of RemainingTolerance
        Each OAR's planning limit with the run's values, protocol order.
    rows : tuple of SensitivityRow
        One per (OAR, parameter, value).
    comparison : tuple of ModelComparison
        Guidance steps vs Jones & Grant per OAR.
    notes : tuple of str
        What was not evaluated and why (e.g. no prior dose grid for the registration margin).
    values_used : tuple of Quantity
        The ``sensitivity`` settings the ranges came from.
    recovery_model : str
    conservation_factor : float
    """

    baseline: Tuple[RemainingTolerance, ...]
    rows: Tuple[SensitivityRow, ...]
    comparison: Tuple[ModelComparison, ...]
    notes: Tuple[str, ...]
    values_used: Tuple[Quantity, ...]
    recovery_model: str
    conservation_factor: float

    def rows_of(self, oar: str) -> Tuple[SensitivityRow, ...]:
        """The rows of one OAR, in table order."""
        return tuple(r for r in self.rows if r.oar == oar)

    def range_gy(self, oar: str) -> Tuple[float, float]:
        """(lowest, highest) allowed dose of one OAR over its baseline and rows, Gy."""
        base = next(b for b in self.baseline if b.oar == oar)
        values = [base.allowed_physical_gy] + [r.allowed_physical_gy for r in self.rows_of(oar)]
        return min(values), max(values)

    def rows_record(self) -> List[Dict[str, Any]]:
        """The result's ``sensitivity``: one mapping per row (docs/design.md §5)."""
        return [r.to_dict() for r in self.rows]

    def summary_record(self, limiting: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """The result's ``sensitivity_summary``: the run's model and factor, each OAR's baseline and range,
        the guidance-vs-Jones & Grant comparison, the notes and the OARs the flags considered."""
        return {
            "recovery_model": self.recovery_model,
            "conservation_factor": self.conservation_factor,
            "baseline": [{"oar": b.oar, "label": b.label, "allowed_physical_gy": b.allowed_physical_gy,
                          "limited_by": b.limited_by, "recovered_fraction": b.recovered_fraction,
                          "range_gy": list(self.range_gy(b.oar))} for b in self.baseline],
            "model_comparison": [c.to_dict() for c in self.comparison],
            "notes": list(self.notes),
            "limiting_oars": [b.oar for b in self.baseline] if limiting is None else list(limiting),
        }

    def record(self, limiting: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """``{"sensitivity": rows, "sensitivity_summary": summary}``, the two keys every result carries."""
        return {"sensitivity": self.rows_record(), "sensitivity_summary": self.summary_record(limiting)}


def _with_alpha_beta(protocol: Protocol, oar: str, alpha_beta_gy: float) -> Protocol:
    """The protocol with one OAR's α/β replaced (its limits keep their EQD2 values)."""
    oars = tuple(replace(s, alpha_beta=replace(s.alpha_beta, value=alpha_beta_gy)) if s.key == oar else s
                 for s in protocol.oars)
    return replace(protocol, oars=oars)


def _with_curve(protocol: Protocol, curve: str) -> Protocol:
    return replace(protocol, recovery=replace(protocol.recovery, jones_grant_curve=curve))


def _shifted(priors: Sequence[PriorMetricDose], days: float) -> List[PriorMetricDose]:
    return [replace(p, interval_days=None if p.interval_days is None else max(p.interval_days + days, 0.0))
            for p in priors]


def _raised(priors: Sequence[PriorMetricDose], increases_gy: Sequence[float]) -> List[PriorMetricDose]:
    return [replace(p, dose_gy=p.dose_gy + inc) for p, inc in zip(priors, increases_gy)]


def _row(base: RemainingTolerance, parameter: str, value: RowValue, label: str,
         result: RemainingTolerance, *, curve: Optional[str] = None) -> SensitivityRow:
    change = result.allowed_physical_gy - base.allowed_physical_gy
    percent = None if base.allowed_physical_gy <= 0.0 else 100.0 * change / base.allowed_physical_gy
    return SensitivityRow(base.oar, parameter, value, label, result.allowed_physical_gy, result.limited_by,
                          result.recovered_fraction, change, percent, curve)


def _gy(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class _Case:
    """One OAR's inputs and the run's recovery settings: what every row recomputes from."""

    protocol: Protocol
    oar: str
    courses: Tuple[PriorMetricDose, ...]
    n_fractions: int
    recovery_model: Optional[str]
    conservation_factor: Optional[float]

    def limit(self, *, protocol: Optional[Protocol] = None,
              courses: Optional[Sequence[PriorMetricDose]] = None, model: Optional[str] = None,
              factor: Optional[float] = None, fixed: Optional[float] = None) -> RemainingTolerance:
        """The planning limit with the given changes (None: the run's value)."""
        return remaining_tolerance(
            self.protocol if protocol is None else protocol, self.oar,
            self.courses if courses is None else courses, self.n_fractions,
            recovery_model=self.recovery_model if model is None else model,
            conservation_factor=self.conservation_factor if factor is None else factor,
            fixed_recovered_fraction=fixed)


def _alpha_beta_rows(case: _Case, base: RemainingTolerance, notes: List[str]) -> List[SensitivityRow]:
    spec = case.protocol.oar(case.oar)
    step = case.protocol.sensitivity.alpha_beta_step.value
    ab = spec.alpha_beta.value
    rows = []
    for value in (ab - step, ab + step):
        if value <= 0.0:
            notes.append(f"{spec.label}: α/β {ab:g} − {step:g} Gy is not positive; left out")
            continue
        rows.append(_row(base, "alpha_beta_gy", value, f"α/β {_gy(value)} Gy",
                         case.limit(protocol=_with_alpha_beta(case.protocol, case.oar, value))))
    return rows


def _recovery_rows(case: _Case, base: RemainingTolerance, notes: List[str]) -> Tuple[List[SensitivityRow],
                                                                                      Dict[str, float]]:
    """Fixed guidance steps, Jones & Grant (both curves), none, and the two conservation factors; with the
    Jones & Grant allowed doses by curve (for the model comparison)."""
    spec = case.protocol.oar(case.oar)
    rows = [_row(base, "recovered_fraction", fraction, f"recovery {100 * fraction:g} %",
                 case.limit(fixed=fraction)) for fraction in FIXED_RECOVERED_FRACTIONS]
    rows.append(_row(base, "recovery_model", "uk-guidance", "UK guidance steps",
                     case.limit(model="uk-guidance")))
    jones_grant: Dict[str, float] = {}
    if spec.single_course_tolerance_eqd2 is None:
        notes.append(f"{spec.label}: Jones & Grant not evaluated (the protocol gives no single-course "
                     "tolerance)")
    else:
        for curve in ("fitted", "cautious"):
            result = case.limit(protocol=_with_curve(case.protocol, curve), model=_JG)
            jones_grant[curve] = result.allowed_physical_gy
            rows.append(_row(base, "recovery_model", _JG, f"Jones & Grant, {curve} curve", result,
                             curve=curve))
    rows.append(_row(base, "recovery_model", "none", "no recovery", case.limit(model="none")))
    cautious = case.protocol.sensitivity.cautious_conservation_factor.value
    for factor in sorted({base.conservation_factor, cautious}, reverse=True):
        label = f"conservation factor {factor:g}" + (" (the run's)" if factor == base.conservation_factor
                                                      else " (cautious)")
        rows.append(_row(base, "conservation_factor", factor, label, case.limit(factor=factor)))
    return rows, jones_grant


def _interval_rows(case: _Case, base: RemainingTolerance, notes: List[str]) -> List[SensitivityRow]:
    days = case.protocol.sensitivity.interval_tolerance.value
    known = [p.interval_days for p in case.courses if p.interval_days is not None]
    if not known:
        if case.courses:
            notes.append(f"{base.label}: interval not varied (unknown for every prior course)")
        return []
    rows = []
    for shift in (-days, days):
        shown = ", ".join(f"{d:g} → {max(d + shift, 0.0):g} d" for d in known)
        shifted = _shifted(case.courses, shift)
        changed = [p.interval_days for p in shifted if p.interval_days is not None]
        value: RowValue = changed[0] if len(changed) == 1 else [float(d) for d in changed]
        rows.append(_row(base, "interval_days", value, f"interval {shift:+g} d ({shown})",
                         case.limit(courses=shifted)))
    return rows


def _registration_rows(case: _Case, base: RemainingTolerance,
                       increases: Optional[Mapping[str, Sequence[float]]]) -> List[SensitivityRow]:
    if increases is None or not case.courses:
        return []
    values = [float(v) for v in increases.get(case.oar, ())]
    if len(values) != len(case.courses) or any(not math.isfinite(v) or v < 0.0 for v in values):
        raise InputError(f"registration increases of {case.oar} must be one finite value >= 0 Gy per "
                         f"prior course ({len(case.courses)}), got {values}")
    margin = case.protocol.sensitivity.registration_margin.value
    shown = ", +".join(f"{v:.2f}" for v in values)
    return [_row(base, "registration_margin_mm", margin, f"registration {margin:g} mm (+{shown} Gy)",
                 case.limit(courses=_raised(case.courses, values)))]


def sensitivity_analysis(
    protocol: Protocol,
    priors: Mapping[str, Sequence[PriorMetricDose]],
    n_fractions: int,
    *,
    recovery_model: Optional[str] = None,
    conservation_factor: Optional[float] = None,
    registration_increases_gy: Optional[Mapping[str, Sequence[float]]] = None,
) -> SensitivityAnalysis:
    """Each OAR's planning limit with one assumption changed at a time (module docstring).

    Parameters
    ----------
    protocol : Protocol
        Its ``sensitivity`` section gives the ranges.
    priors : mapping of str to sequence of PriorMetricDose
        Per OAR key (protocol order is used), the prior courses' metric doses, as for
        :func:`reirrad.constraints.remaining_tolerance`.
    n_fractions : int
        Fractions of the new course.
    recovery_model, conservation_factor : optional
        The run's overrides (the baseline uses them, as the run did).
    registration_increases_gy : mapping of str to sequence of float, optional
        Per OAR, one increase (Gy, physical, total over that course, ≥ 0) per prior course in the
        order of ``priors``: :func:`registration_increase_gy` at ``sensitivity.registration_margin``.
        Without it (no prior dose grid) there are no registration rows and a note says so.

    Returns
    -------
    SensitivityAnalysis

    Raises
    ------
    reirrad.errors.InputError
        As :func:`reirrad.constraints.remaining_tolerance`; increases that do not match the courses.
    """
    settings = protocol.sensitivity
    used: List[Quantity] = [settings.alpha_beta_step, settings.interval_tolerance,
                            settings.cautious_conservation_factor, settings.flag_threshold_percent]
    notes: List[str] = []
    for key in priors:
        protocol.oar(key)  # an unknown key raises, listing the protocol's OARs
    if registration_increases_gy is not None:
        used.append(settings.registration_margin)
    else:
        notes.append("registration margin not evaluated: no prior dose grid (the point calculator has "
                     "metric doses only)")
    baseline: List[RemainingTolerance] = []
    rows: List[SensitivityRow] = []
    comparison: List[ModelComparison] = []
    for key in (k for k in protocol.oar_keys if k in priors):
        case = _Case(protocol, key, tuple(priors[key]), n_fractions, recovery_model, conservation_factor)
        base = case.limit()
        baseline.append(base)
        rows.extend(_alpha_beta_rows(case, base, notes))
        recovery, jones_grant = _recovery_rows(case, base, notes)
        rows.extend(recovery)
        rows.extend(_interval_rows(case, base, notes))
        rows.extend(_registration_rows(case, base, registration_increases_gy))
        guidance = case.limit(model="uk-guidance").allowed_physical_gy
        curve = protocol.recovery.jones_grant_curve
        comparison.append(ModelComparison(
            key, base.label, guidance, jones_grant.get("fitted"), jones_grant.get("cautious"), curve,
            base.recovery_model, base.allowed_physical_gy,
            None if curve not in jones_grant else jones_grant[curve] - guidance))
    model = recovery_model or protocol.recovery.model
    factor = (protocol.recovery.conservation_factor.value if conservation_factor is None
              else conservation_factor)
    return SensitivityAnalysis(tuple(baseline), tuple(rows), tuple(comparison), tuple(notes), tuple(used),
                               model, float(factor))


def sensitivity_findings(analysis: SensitivityAnalysis, protocol: Protocol,
                         limiting: Optional[Sequence[str]] = None) -> List[Finding]:
    """A ``sensitive-decision`` flag per limiting OAR whose allowed dose moves by more than the threshold.

    Parameters
    ----------
    analysis : SensitivityAnalysis
    protocol : Protocol
        Gives ``sensitivity.flag_threshold_percent``.
    limiting : sequence of str, optional
        The OARs that limit the decision (e.g. those that limited the prescription level). None: every
        OAR of the analysis (the point calculator has no plan to say which binds).

    Returns
    -------
    list of Finding
        One flag per OAR whose largest |change| exceeds the threshold (a baseline of 0 Gy that any row
        raises counts as exceeding it), naming the parameters that do.
    """
    threshold = protocol.sensitivity.flag_threshold_percent.value
    keys = [b.oar for b in analysis.baseline] if limiting is None else list(limiting)
    found = []
    for base in analysis.baseline:
        if base.oar not in keys:
            continue
        moving = []
        for row in analysis.rows_of(base.oar):
            beyond = (row.change_gy > 0.0 if row.change_percent is None
                      else abs(row.change_percent) > threshold)
            if beyond:
                moving.append(row)
        if not moving:
            continue
        worst = min(moving, key=lambda r: r.allowed_physical_gy)
        low, high = analysis.range_gy(base.oar)
        parameters = ", ".join(dict.fromkeys(PARAMETERS[r.parameter] for r in moving))
        found.append(Finding(
            "sensitive-decision", "flag",
            f"{base.label}: allowed {base.allowed_physical_gy:.2f} Gy, but {low:.2f}-{high:.2f} Gy within "
            f"the sensitivity ranges (more than {threshold:g} % change; lowest with {worst.label}): this "
            f"decision is sensitive to {parameters} - review those assumptions before accepting it",
            subject=base.oar))
    return found


def registration_increase_gy(dose: DoseGrid, occupancy: Occupancy, margin_mm: float) -> float:
    """How much the dose maximum grows when an OAR is grown by ``margin_mm`` (a registration error).

    The OAR's voxels are those with occupancy > 0; the grown region is every voxel whose centre lies
    within ``margin_mm`` of an OAR voxel's centre (an ellipsoid of voxel offsets on an anisotropic grid).
    Returns max(dose over the grown region) − max(dose over the OAR), Gy, ≥ 0.

    For a linear dose gradient g (Gy/mm) along an axis with spacing s and a margin that is a multiple of
    s, the increase is exactly g × margin (tests/engine/test_sensitivity.py); for a linear field it is
    also exactly what a rigid shift of the prior dose by ``margin_mm`` along the gradient adds to every
    metric, which is why it is added to the metric dose.

    Parameters
    ----------
    dose : DoseGrid
        The prior course's physical dose, on the grid of ``occupancy``.
    occupancy : Occupancy
        The OAR on that grid.
    margin_mm : float
        ≥ 0, mm.
    """
    if not math.isfinite(margin_mm) or margin_mm < 0.0:
        raise InputError(f"registration margin must be a finite number of mm >= 0 (got {margin_mm!r})")
    if tuple(occupancy.grid_shape) != tuple(dose.shape):
        raise InputError(f"the occupancy's grid {occupancy.grid_shape} is not the dose grid {dose.shape}")
    values = np.asarray(dose.values_gy, dtype=float)
    sx, sy, sz = dose.spacing_mm
    reach = [math.floor(margin_mm / s + 1e-9) for s in (sz, sy, sx)]
    # work on the OAR's bounding box grown by the reach (clipped to the grid)
    window = tuple(slice(max(b.start - r, 0), min(b.stop + r, n))
                   for b, r, n in zip(occupancy.box, reach, dose.shape))
    inside = np.zeros([w.stop - w.start for w in window], dtype=bool)
    inside[tuple(slice(b.start - w.start, b.stop - w.start) for b, w in zip(occupancy.box, window))] = (
        np.asarray(occupancy.box_fraction) > 0.0)
    if not inside.any():
        return 0.0
    local = values[window]
    grown = inside.copy()
    nz, ny, nx = inside.shape
    for dk in range(-reach[0], reach[0] + 1):
        for dj in range(-reach[1], reach[1] + 1):
            for di in range(-reach[2], reach[2] + 1):
                if (dk * sz) ** 2 + (dj * sy) ** 2 + (di * sx) ** 2 > margin_mm ** 2 + 1e-9:
                    continue
                src = inside[max(-dk, 0):nz - max(dk, 0), max(-dj, 0):ny - max(dj, 0),
                             max(-di, 0):nx - max(di, 0)]
                grown[max(dk, 0):nz - max(-dk, 0), max(dj, 0):ny - max(-dj, 0),
                      max(di, 0):nx - max(-di, 0)] |= src
    return float(max(local[grown].max() - local[inside].max(), 0.0))


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def format_sensitivity(result: Mapping[str, Any]) -> str:
    """Plain-text table of a result's ``sensitivity`` rows and ``sensitivity_summary`` (every command).

    Per OAR: its baseline and range, then one line per changed assumption (allowed physical dose, the
    change from the baseline, the limiting rule); then the guidance-vs-Jones & Grant comparison and the
    notes. "" when the result has no sensitivity analysis.
    """
    summary = result.get("sensitivity_summary")
    if not summary:
        return ""
    lines = [f"Sensitivity: each OAR's allowed dose (physical, Gy) with one assumption changed at a time "
             f"(recovery model {summary['recovery_model']}, conservation factor "
             f"{summary['conservation_factor']:g})"]
    for base in summary["baseline"]:
        low, high = base["range_gy"]
        lines.append(f"  {base['label']}: {base['allowed_physical_gy']:.2f} Gy ({base['limited_by']}); "
                     f"range {low:.2f}-{high:.2f} Gy")
        rows = [r for r in result.get("sensitivity") or [] if r["oar"] == base["oar"]]
        width = max([len(r["label"]) for r in rows] + [10])
        for r in rows:
            percent = "" if r["change_percent"] is None else f" ({r['change_percent']:+.1f} %)"
            lines.append(f"    {r['label'].ljust(width)}  {r['allowed_physical_gy']:6.2f}  "
                         f"{_signed(r['change_gy'])}{percent}  {r['limited_by']}")
    if summary["model_comparison"]:
        lines.append("  Guidance steps vs Jones & Grant 2014 (allowed Gy, the run's conservation factor):")
        for c in summary["model_comparison"]:
            jg = ("not evaluated (no single-course tolerance)" if c["jones_grant_cautious_gy"] is None
                  else f"Jones & Grant fitted {c['jones_grant_fitted_gy']:.2f}, cautious "
                       f"{c['jones_grant_cautious_gy']:.2f}")
            diff = ("" if c["difference_gy"] is None else
                    f"; {c['jones_grant_curve']} - guidance {_signed(c['difference_gy'])} Gy")
            lines.append(f"    {c['label']}: guidance {c['uk_guidance_gy']:.2f}, {jg}; used "
                         f"{c['used_model']} {c['used_gy']:.2f}{diff}")
    lines.extend(f"  Note: {n}" for n in summary["notes"])
    return "\n".join(lines)


def sensitivity_ranges(result: Mapping[str, Any]) -> Dict[str, Tuple[float, float]]:
    """{OAR key: (lowest, highest) allowed Gy} of a result's ``sensitivity_summary`` ({} without one)."""
    summary = result.get("sensitivity_summary") or {}
    return {str(b["oar"]): (float(b["range_gy"][0]), float(b["range_gy"][1]))
            for b in summary.get("baseline", ())}
