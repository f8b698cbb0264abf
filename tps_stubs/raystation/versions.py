"""Every difference between the RayStation versions the stand-in models, in one place.

Source: ``docs/reference/raystation.md`` §14.2 (renames), §12 (prescriptions and scaling), §13 (clinical
goals), §11 (optimisation), §5.1 (``IsClinical`` → ``IsAccurate``), §7.3 (``MapDose``), §9
(structure-set approval). A member or keyword listed here exists only in the versions named; anything
not listed exists in every modelled version.

Where the reference gives no exact boundary, the stand-in takes the most restrictive reading and
says so below (a name is offered in one version only, never both):

* ``NormalizeToPrescription`` (≤ ~12A) versus ``ScaleToPrimaryPrescriptionDoseReference`` /
  ``ScaleToDoseGoal`` (23B / 2025): the boundary is unconfirmed (§15); 2024B gets only the newer
  pair, 11B and 12A only the older method.
* ``MapDose(FractionNumber, SetTotalDoseEstimateReference)`` versus
  ``MapDose(FractionEvaluationIndex)``: boundary unconfirmed "between 12A and 2025" (§7.3); 2024B
  gets only ``FractionEvaluationIndex``. Adapters should try both forms.
* ``11A`` is an **11A-style prescription profile**: the prescription API of the 11A-era public script
  ``KaleyWhite/med-phys-scripts: RayStation/copy_beam_set.py`` (``AddRoiPrescriptionDoseReference``
  to add, ``Prescription.PrescriptionDoseReferences`` to read; no ``Primary…`` member), which conflicts
  with the 11B row (``AddDosePrescriptionToRoi`` / ``PrimaryDosePrescription``, dicom commit 54edf09).
  Which release really had which spelling is unconfirmed; the profile exists so that an adapter meets
  both spellings. Everything else in 11A is as in 11B.
* RayStation 2025 (``raystation`` module, §1.1) is not modelled: its names come only from
  unofficial, incomplete stubs.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Mapping, Tuple

__all__ = ["DEFAULT_VERSION", "KEYWORDS", "MEMBERS", "SETTABLE", "VERSIONS", "VersionProfile"]

VERSIONS: Tuple[str, ...] = ("11A", "11B", "12A", "2024B")
DEFAULT_VERSION = "2024B"

_OLD = frozenset({"11A", "11B"})  # before the 12A renames
_OLD_RX = frozenset({"11B"})  # the 11B prescription spelling (dicom commit 54edf09)
_RX_11A = frozenset({"11A"})  # the 11A-style prescription spelling (KaleyWhite copy_beam_set.py)
_FROM_12A = frozenset({"12A", "2024B"})
_ADD_ROI_RX = frozenset({"11A", "12A", "2024B"})
_UP_TO_12A = frozenset({"11A", "11B", "12A"})
_FROM_2024B = frozenset({"2024B"})

#: (class, member) → versions in which the member exists.
MEMBERS: Dict[Tuple[str, str], FrozenSet[str]] = {
    # §12.1: prescriptions renamed in 12A (dicom commit 54edf09)
    ("BeamSet", "AddDosePrescriptionToRoi"): _OLD_RX,
    ("BeamSet", "AddRoiPrescriptionDoseReference"): _ADD_ROI_RX,
    ("Prescription", "PrimaryDosePrescription"): _OLD_RX,
    ("Prescription", "DosePrescriptions"): _OLD_RX,
    ("Prescription", "PrescriptionDoseReferences"): _RX_11A,
    ("Prescription", "PrimaryPrescriptionDoseReference"): _FROM_12A,
    # §12.2: scaling to a dose target
    ("BeamSet", "NormalizeToPrescription"): _UP_TO_12A,
    ("BeamSet", "ScaleToPrimaryPrescriptionDoseReference"): _FROM_2024B,
    ("BeamSet", "ScaleToDoseGoal"): _FROM_2024B,
    # §7.6 / §14.2: BackgroundDose property → GetBackgroundDose() in 2024B (dicom commit 008abf5)
    ("PlanOptimization", "BackgroundDose"): _UP_TO_12A,
    ("PlanOptimization", "GetBackgroundDose"): _FROM_2024B,
    # §5.1: IsClinical → IsAccurate in 2024B
    ("DoseValues", "IsClinical"): _UP_TO_12A,
    ("DoseValues", "IsAccurate"): _FROM_2024B,
    # §9: structure-set approval through SubStructureSets.Review from 12A
    ("StructureSet", "ApprovedStructureSets"): _OLD,
    ("StructureSet", "SubStructureSets"): _FROM_12A,
    # §13: AcceptanceLevel → PrimaryAcceptanceLevel / SecondaryAcceptanceLevel in 2024B
    ("PlanningGoal", "AcceptanceLevel"): _UP_TO_12A,
    ("PlanningGoal", "PrimaryAcceptanceLevel"): _FROM_2024B,
    ("PlanningGoal", "SecondaryAcceptanceLevel"): _FROM_2024B,
    # §11.1: function.OfDoseDistribution → OfDoseDistributions (a list) in 12A (dicom commit 326e09c)
    ("OptimizationFunction", "OfDoseDistribution"): _OLD,
    ("OptimizationFunction", "OfDoseDistributions"): _FROM_12A,
}

#: (class, method) → {keyword: versions in which the keyword is accepted}.
KEYWORDS: Dict[Tuple[str, str], Dict[str, FrozenSet[str]]] = {
    # §13 (dicom commits 008abf5, 813d185)
    ("EvaluationSetup", "AddClinicalGoal"): {
        "AcceptanceLevel": _UP_TO_12A,
        "PrimaryAcceptanceLevel": _FROM_2024B,
        "SecondaryAcceptanceLevel": _FROM_2024B,
        "AssociateToPlan": _FROM_2024B,
    },
    # §7.3 / §14.2 (boundary unconfirmed, see the module docstring)
    ("Case", "MapDose"): {
        "FractionNumber": _UP_TO_12A,
        "SetTotalDoseEstimateReference": _UP_TO_12A,
        "FractionEvaluationIndex": _FROM_2024B,
    },
}

#: (class, property) → versions in which a script may set it (it is readable in every version).
SETTABLE: Dict[Tuple[str, str], FrozenSet[str]] = {
    # §11.2: "In 12A it seems we cannot set the auto scale to prescription parameter" (dicom 54edf09)
    ("PlanOptimization", "AutoScaleToPrescription"): _OLD,
}


class VersionProfile:
    """The members, keywords and settable properties of one RayStation version.

    Parameters
    ----------
    version : str
        One of :data:`VERSIONS`.
    """

    def __init__(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"RayStation version {version!r} is not modelled; choose one of {VERSIONS}")
        self.version = version

    def has_member(self, cls: str, member: str) -> bool:
        """True when ``cls.member`` exists in this version."""
        versions = MEMBERS.get((cls, member))
        return versions is None or self.version in versions

    def accepts_keyword(self, cls: str, method: str, keyword: str) -> bool:
        """True when ``cls.method(keyword=…)`` is accepted in this version (for a known keyword)."""
        versions = KEYWORDS.get((cls, method), {}).get(keyword)
        return versions is None or self.version in versions

    def can_set(self, cls: str, member: str) -> bool:
        """False when a version-restricted property may not be set in this version."""
        versions = SETTABLE.get((cls, member))
        return versions is None or self.version in versions

    def versioned_keywords(self, cls: str, method: str) -> Mapping[str, FrozenSet[str]]:
        """The version-restricted keywords of ``cls.method`` (empty when none)."""
        return KEYWORDS.get((cls, method), {})
