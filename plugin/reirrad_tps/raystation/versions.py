"""Every RayStation version difference the adapter depends on, in one table.

Sources: docs/reference/raystation.md §1.1 (``connect`` → ``raystation`` module in 2025), §5.1
(``IsClinical`` → ``IsAccurate``, 2024B), §7.3 / §14.2 (``MapDose`` keywords), §9 (structure-set
approval through ``SubStructureSets[i].Review`` from 12A), §11.3 (``ComputeDose`` keywords; 2025
takes only ``RunEntryValidation``), §12.1 (prescriptions renamed in 12A), §12.2 (scaling:
``NormalizeToPrescription`` ≤ ~12A, ``ScaleToDoseGoal`` later).

Boundaries the reference marks **UNCONFIRMED** (§15) are placed as the RayStation stand-in
(``tps_stubs.raystation.versions``) places them, so the adapter and the stand-in agree:

* ``MapDose(FractionNumber=0, SetTotalDoseEstimateReference=True)`` for 11B and 12A,
  ``MapDose(FractionEvaluationIndex=0)`` from 2024B;
* ``NormalizeToPrescription`` for 11B and 12A, ``ScaleToDoseGoal`` from 2024B.

The 2025 row comes from unofficial, incomplete stubs and NYU's Oct-2025 code (§0, §1.1): it is not
modelled by the stand-in and is marked ``confirmed=False``. Whether ``connect`` still imports in 2025
is unconfirmed, so 2025 tries ``raystation`` first and then ``connect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Tuple

from reirrad.errors import InputError

__all__ = ["DEFAULT_VERSION", "PROFILES", "VERSIONS", "VersionProfile", "profile"]


@dataclass(frozen=True)
class VersionProfile:
    """How one RayStation version spells what the adapter calls.

    Attributes
    ----------
    version : str
        RayStation release, e.g. ``"12A"``.
    python : str
        Python the release embeds (informational; §1.1).
    module_names : tuple of str
        Scripting modules to try, in order (``connect`` ≤ 2024B; ``raystation`` from 2025).
    add_prescription : str
        ``BeamSet`` method adding a prescription on an ROI.
    add_prescription_keywords : mapping
        Extra keywords of that call (11B: ``AutoScaleDose=False``, the adapter never switches
        automatic scaling on).
    primary_prescription : str
        ``Prescription`` member holding the primary prescription.
    scaling : str
        ``BeamSet`` method scaling the MU so that an ROI's dose metric meets a value.
    compute_dose_keywords : mapping
        Keywords of ``BeamSet.ComputeDose`` (``ForceRecompute=False`` raises "Dose has already been
        computed with the current parameters" when the dose is current).
    map_dose_keywords : mapping
        Fraction keywords of ``Case.MapDose`` (the dose and registration are added by the caller).
    dose_accuracy : str
        ``DoseValues`` member telling that the dose comes from the final dose engine.
    structure_set_approval : str
        ``StructureSet`` member through which approval is read (informational: the adapter writes
        no ROI, so it does not read structure-set approval).
    confirmed : bool
        False when the row rests on unofficial sources only.
    """

    version: str
    python: str
    module_names: Tuple[str, ...]
    add_prescription: str
    add_prescription_keywords: Mapping[str, object]
    primary_prescription: str
    scaling: str
    compute_dose_keywords: Mapping[str, object]
    map_dose_keywords: Mapping[str, object]
    dose_accuracy: str
    structure_set_approval: str
    confirmed: bool = True


def _kw(**keywords: object) -> Mapping[str, object]:
    """Read-only keyword arguments of a RayStation call."""
    return MappingProxyType(dict(keywords))


_CLASSIC_COMPUTE = _kw(ComputeBeamDoses=True, DoseAlgorithm="CCDose", ForceRecompute=False)
_OLD_MAP = _kw(FractionNumber=0, SetTotalDoseEstimateReference=True)
_NEW_MAP = _kw(FractionEvaluationIndex=0)

#: The table: one row per supported version.
PROFILES: Mapping[str, VersionProfile] = {
    p.version: p
    for p in (
        VersionProfile(
            version="11B", python="3.8", module_names=("connect",),
            add_prescription="AddDosePrescriptionToRoi", add_prescription_keywords=_kw(AutoScaleDose=False),
            primary_prescription="PrimaryDosePrescription", scaling="NormalizeToPrescription",
            compute_dose_keywords=_CLASSIC_COMPUTE, map_dose_keywords=_OLD_MAP,
            dose_accuracy="IsClinical", structure_set_approval="ApprovedStructureSets",
        ),
        VersionProfile(
            version="12A", python="3.8", module_names=("connect",),
            add_prescription="AddRoiPrescriptionDoseReference", add_prescription_keywords=_kw(),
            primary_prescription="PrimaryPrescriptionDoseReference", scaling="NormalizeToPrescription",
            compute_dose_keywords=_CLASSIC_COMPUTE, map_dose_keywords=_OLD_MAP,
            dose_accuracy="IsClinical", structure_set_approval="SubStructureSets",
        ),
        VersionProfile(
            version="2024B", python="3.11", module_names=("connect",),
            add_prescription="AddRoiPrescriptionDoseReference", add_prescription_keywords=_kw(),
            primary_prescription="PrimaryPrescriptionDoseReference", scaling="ScaleToDoseGoal",
            compute_dose_keywords=_CLASSIC_COMPUTE, map_dose_keywords=_NEW_MAP,
            dose_accuracy="IsAccurate", structure_set_approval="SubStructureSets",
        ),
        VersionProfile(
            version="2025", python="3.11", module_names=("raystation", "connect"),
            add_prescription="AddRoiPrescriptionDoseReference", add_prescription_keywords=_kw(),
            primary_prescription="PrimaryPrescriptionDoseReference", scaling="ScaleToDoseGoal",
            compute_dose_keywords=_kw(RunEntryValidation=True), map_dose_keywords=_NEW_MAP,
            dose_accuracy="IsAccurate", structure_set_approval="SubStructureSets", confirmed=False,
        ),
    )
}

VERSIONS: Tuple[str, ...] = tuple(PROFILES)
#: The version the stand-in models by default (the newest confirmed one).
DEFAULT_VERSION = "2024B"


def profile(version: str) -> VersionProfile:
    """The table row of ``version``.

    Raises
    ------
    reirrad.errors.InputError
        An unknown version (the message lists the supported ones).
    """
    found = PROFILES.get(version) if isinstance(version, str) else None
    if found is None:
        raise InputError(f"RayStation version {version!r} is not supported; choose one of {list(VERSIONS)} "
                         "(the release name shown in RayStation's About box, e.g. '2024B')")
    return found
