"""Feature detection for every RayStation call whose spelling differs between versions.

The adapter never looks a spelling up in a version table: it tries the known forms of a call in a
documented order (newest first) and uses the first that RayStation accepts. A member the version lacks
raises ``AttributeError`` ("Object has no member …", docs/reference/raystation.md §2); which exception a
keyword the method does not take raises is **not documented** (keyword names "pass through as strings
and are matched by RayStation", §2; errors surface as .NET exceptions, §4, §10: "catch ``Exception``
and match on the message"), so any exception moves on to the next form, not only ``TypeError``
(the stand-in raises either, ``tps_stubs.raystation`` ``keyword_error``). A form used after an earlier
one raised something other than ``AttributeError`` or ``TypeError`` is recorded with that error, so the
provenance shows it. Each form used is recorded under a stable key in a
:class:`CallForms` (provenance: the case source puts it in its snapshot's ``source_findings``, the
planner exposes it as ``call_forms``); when no form works the call is refused with
:class:`reirrad.errors.InputError` naming every form tried and what each raised.

The forms, in the order tried, and their sources:

``MapDose`` (§7.3; public-scripts E2, E3)
    ``FractionEvaluationIndex=0`` (NYU Oct-2025), then ``FractionNumber=0,
    SetTotalDoseEstimateReference=True`` (JuliaOri, dgranvil); always with the fraction dose and
    ``ReferenceDoseGrid=None``, as every public script maps.
Scaling to a dose target (§12.2; P9–P11)
    ``ScaleToDoseGoal`` (23B/2025), then ``NormalizeToPrescription`` (≤ ~12A).
Adding a prescription (§12.1; P4–P6)
    ``AddRoiPrescriptionDoseReference`` (12A+, and the 11A-era KaleyWhite ``copy_beam_set.py``), then
    ``AddDosePrescriptionToRoi(..., AutoScaleDose=False)`` (before 12A).
Reading the primary prescription (§12.1; P1–P3)
    ``PrimaryPrescriptionDoseReference``, ``PrimaryDosePrescription``, then the first of
    ``PrescriptionDoseReferences`` (11A-era KaleyWhite) or ``DosePrescriptions`` (Tsuzuki61).
``ComputeDose`` (§11.3; C1, C3)
    ``ComputeBeamDoses=True, DoseAlgorithm=<AccurateDoseAlgorithm.DoseAlgorithm>,
    ForceRecompute=False`` (≤ 2024B), then ``RunEntryValidation=True`` only (2025, unconfirmed).
Final-dose flag (§5.1)
    ``DoseValues.IsAccurate`` (2024B), then ``IsClinical`` (≤ 12A).
Automatic scaling off (§11.2; P14, O19)
    ``SetAutoScaleToPrimaryPrescription(AutoScale=False)``, then ``AutoScaleToPrescription = False``
    on the plan optimisation (11A/11B).
Plan copy (§10)
    ``CopyPlan(PlanName, NewPlanName, KeepBeamSetNames=True)``, then without ``KeepBeamSetNames``.

An exception raised inside RayStation for another reason than a spelling (a locked object, a
missing registration) also moves on to the next form, which then fails too (its spelling is wrong for
this version); when every form fails, RayStation's own exception is raised again if it is the only
one of its kind (or the same message from several forms), so the caller handles it as before, and
otherwise the refusal lists each form's error, so nothing is hidden. The forms of one call differ
only in spelling, so trying the next after a failed one repeats no completed action - if a failed
action changes nothing. The reference does not say whether it does (§4 gives the errors only; the
stand-in's actions are all-or-nothing, its own reading): a caller whose action creates something
checks for it after a failure (the plan copy, :func:`reirrad_tps.raystation.planner.copy_plan_for_run`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from reirrad.errors import InputError

from ._common import tps_message

__all__ = ["CallForms", "call_first", "member_first"]

#: A candidate form: its label (recorded) and a thunk performing it.
Form = Tuple[str, Callable[[], Any]]


class CallForms:
    """Which form of each version-dependent call the adapter used (key → form label)."""

    def __init__(self) -> None:
        self._used: Dict[str, str] = {}

    def record(self, key: str, form: str) -> None:
        """Record that ``key`` was done with ``form`` (the latest use wins)."""
        self._used[str(key)] = str(form)

    def as_mapping(self) -> Mapping[str, str]:
        """A copy of the record, sorted by key."""
        return dict(sorted(self._used.items()))

    def describe(self) -> str:
        """One line: ``key: form; …``."""
        return "; ".join(f"{k}: {v}" for k, v in self.as_mapping().items())


def call_first(key: str, forms: Sequence[Form], forms_used: CallForms, what: str) -> Any:
    """Perform the first form RayStation accepts and record it.

    Parameters
    ----------
    key : str
        Provenance key, e.g. ``"map_dose"``.
    forms : sequence of (label, thunk)
        In the order to try; a thunk raising any exception (``AttributeError``: no such member; a
        keyword RayStation does not match: ``TypeError`` or a .NET exception) moves on to the next.
    forms_used : CallForms
        Where the form used is recorded.
    what : str
        What the call does, for the refusal.

    Returns
    -------
    object
        What the working form returned.

    Raises
    ------
    Exception
        Every form failed and all the errors other than ``AttributeError`` / ``TypeError`` carry one
        message: that exception of RayStation's itself (an action that failed, whatever its spelling:
        the caller handles it as it would a single call's).
    reirrad.errors.InputError
        No form works otherwise (every form and its error are named).
    """
    tried: List[str] = []
    unusual: List[Tuple[str, Exception]] = []  # errors other than a missing member or a TypeError
    for label, thunk in forms:
        try:
            value = thunk()
        except Exception as exc:  # the real type of a keyword mismatch is not documented
            error = f"{label}: {type(exc).__name__}: {tps_message(exc)}"
            tried.append(error)
            if not isinstance(exc, (AttributeError, TypeError)):
                unusual.append((error, exc))
            continue
        forms_used.record(key, label + (f" (after {'; '.join(e for e, _ in unusual)})" if unusual else ""))
        return value
    if unusual and len({tps_message(exc) for _, exc in unusual}) == 1:
        # one action failure (seen through one form, or the same through several): RayStation's own
        # exception, for the caller to handle as it would a single call's
        raise unusual[0][1]
    if unusual:
        raise InputError(f"RayStation refused every known form to {what}; tried {' | '.join(tried)}. "
                         "Either this RayStation version spells the call differently or the action "
                         "failed for one of the reasons given: check them, and report the RayStation version")
    raise InputError(f"RayStation accepts none of the known forms to {what}; tried "
                     f"{' | '.join(tried)}. This RayStation version spells the call differently: "
                     "report it with the RayStation version")


def member_first(key: str, obj: Any, members: Sequence[str], forms_used: CallForms,
                 default: Optional[Tuple[str, Any]] = None) -> Any:
    """The first member of ``obj`` that exists in this version (recorded), else ``default``.

    ``default`` is (label, value) recorded and returned when none exists; without it the absence
    is refused with :class:`reirrad.errors.InputError`.
    """
    for name in members:
        try:
            value = getattr(obj, name)
        except AttributeError:
            continue
        forms_used.record(key, name)
        return value
    if default is not None:
        forms_used.record(key, default[0])
        return default[1]
    raise InputError(f"RayStation object {obj!r} has none of the members {list(members)}; this RayStation "
                     "version spells it differently: report it with the RayStation version")
