"""Registrations between examinations and deformable dose mapping (docs/reference/raystation.md §7.3, §8).

Rigid (frame-of-reference) registrations come from the stub patient: ``case.Registrations[i]`` with
``FromFrameOfReference`` / ``ToFrameOfReference``, ``RegistrationSource.FromExamination`` /
``.ToExamination`` and ``StructureRegistrations['Source registration']`` (the rigid one). The
transform is read with ``case.GetTransformForExaminations(FromExamination=name, ToExamination=name)``:
16 numbers (a row-major 4×4 T, translations in cm) such that ``p_To = T @ p_From`` (homogeneous, cm).
The reference gives the call but not the direction of the matrix; the stand-in's default (the natural
reading of From/To, as public scripts read it) is **UNCONFIRMED**, and the session's
``transform_direction="to-from"`` models the other reading (:mod:`.session`).
``case.TransformPointFromExaminationToExamination`` maps a point From → To under either.

Deformable registrations: ``PatientModel.CreateHybridDeformableRegistrationGroup`` creates one
``DeformableStructureRegistration`` per target examination with ``FromExamination`` = reference and
``ToExamination`` = target (§8), also listed in ``case.StructureRegistrations`` with a non-None
``InStructureRegistrationGroup``. The stand-in does **no image-based deformation**: its deformable
registration is the rigid frame-of-reference registration between the two examinations (identity
when they share a frame), which it requires to exist (as NYU's tool does, §8). ``case.MapDose`` needs
such a deformable registration; given anything else it raises.
"""

# ruff: noqa: N802 - member and keyword names are RayStation's

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional

import numpy as np

from ..planner import dose_grid_for
from .doses import DoseDistribution, MappedDose
from .errors import ScriptException
from .grids import RsGrid, to_rs_orientation
from .scripting import ScriptCollection, ScriptObject

if TYPE_CHECKING:  # pragma: no cover
    from .patient_objects import Case, Examination

__all__ = ["Registration", "StructureRegistration", "create_deformable_group", "transform_mm"]


class StructureRegistration(ScriptObject):
    """A structure registration: rigid ('Source registration') or deformable."""

    def __init__(
        self,
        session: Any,
        path: str,
        name: str,
        *,
        from_exam: Examination,
        to_exam: Examination,
        group: Optional[StructureRegistrationGroup],
    ) -> None:
        super().__init__(session, path)
        self._s.update(name=name, from_exam=from_exam, to_exam=to_exam, group=group)

    def _key(self) -> str:
        return str(self._s["name"])

    @property
    def Name(self) -> str:
        """Registration name."""
        return str(self._s["name"])

    @property
    def FromExamination(self) -> Examination:
        """For a deformable registration: the reference examination (§8)."""
        return self._s["from_exam"]  # type: ignore[no-any-return]

    @property
    def ToExamination(self) -> Examination:
        """For a deformable registration: the target examination (§8)."""
        return self._s["to_exam"]  # type: ignore[no-any-return]

    @property
    def InStructureRegistrationGroup(self) -> Optional[StructureRegistrationGroup]:
        """The deformable group, or None for a rigid registration."""
        return self._s["group"]  # type: ignore[no-any-return]


class StructureRegistrationGroup(ScriptObject):
    """``PatientModel.StructureRegistrationGroups[name]``."""

    def __init__(self, session: Any, path: str, name: str) -> None:
        super().__init__(session, path)
        self._s.update(
            name=name, registrations=ScriptCollection(session, f"{path}.DeformableStructureRegistrations")
        )

    def _key(self) -> str:
        return str(self._s["name"])

    @property
    def Name(self) -> str:
        """Group name."""
        return str(self._s["name"])

    @property
    def DeformableStructureRegistrations(self) -> ScriptCollection:
        """One registration per target examination."""
        return self._s["registrations"]  # type: ignore[no-any-return]


class RegistrationSource(ScriptObject):
    """``registration.RegistrationSource``."""

    def __init__(self, session: Any, path: str, from_exam: Examination, to_exam: Examination) -> None:
        super().__init__(session, path)
        self._s.update(from_exam=from_exam, to_exam=to_exam)

    @property
    def FromExamination(self) -> Examination:
        """Examination in the registration's ``FromFrameOfReference``."""
        return self._s["from_exam"]  # type: ignore[no-any-return]

    @property
    def ToExamination(self) -> Examination:
        """Examination in the registration's ``ToFrameOfReference``."""
        return self._s["to_exam"]  # type: ignore[no-any-return]


class Registration(ScriptObject):
    """``case.Registrations[i]``: a rigid frame-of-reference registration (matrix in mm kept internal)."""

    def __init__(
        self,
        session: Any,
        path: str,
        *,
        from_for: str,
        to_for: str,
        matrix_mm: np.ndarray,
        from_exam: Examination,
        to_exam: Examination,
    ) -> None:
        super().__init__(session, path)
        source = RegistrationSource(session, f"{path}.RegistrationSource", from_exam, to_exam)
        rigid = StructureRegistration(
            session,
            f"{path}.StructureRegistrations['Source registration']",
            "Source registration",
            from_exam=from_exam,
            to_exam=to_exam,
            group=None,
        )
        self._s.update(
            from_for=from_for,
            to_for=to_for,
            matrix=np.array(matrix_mm, float),
            source=source,
            structure=ScriptCollection(session, f"{path}.StructureRegistrations", [rigid]),
        )

    def _key(self) -> str:
        return f"{self._s['from_for']} -> {self._s['to_for']}"

    @property
    def FromFrameOfReference(self) -> str:
        """Frame of reference UID the registration maps from."""
        return str(self._s["from_for"])

    @property
    def ToFrameOfReference(self) -> str:
        """Frame of reference UID the registration maps to."""
        return str(self._s["to_for"])

    @property
    def RegistrationSource(self) -> RegistrationSource:
        """The examinations registered."""
        return self._s["source"]  # type: ignore[no-any-return]

    @property
    def StructureRegistrations(self) -> ScriptCollection:
        """``['Source registration']``: the rigid structure registration."""
        return self._s["structure"]  # type: ignore[no-any-return]


def transform_mm(case: Case, from_exam: Examination, to_exam: Examination) -> np.ndarray:
    """4×4 matrix (mm) with ``p_to = T @ p_from`` between two examinations' frames.

    Raises
    ------
    ScriptException
        When no registration links the two frames of reference.
    """
    a, b = from_exam._frame_of_reference(), to_exam._frame_of_reference()
    if a == b:
        return np.eye(4)
    for reg in case._s["registrations"]:
        if (reg._s["from_for"], reg._s["to_for"]) == (a, b):
            return np.array(reg._s["matrix"])
        if (reg._s["from_for"], reg._s["to_for"]) == (b, a):
            return np.asarray(np.linalg.inv(reg._s["matrix"]))
    raise ScriptException(
        f"There is no registration between the frames of reference of '{from_exam._key()}' "
        f"and '{to_exam._key()}'; create a frame-of-reference registration first."
    )


def create_deformable_group(case: Case, name: str, reference_name: str, target_names: List[str]) -> None:
    """Implementation of ``CreateHybridDeformableRegistrationGroup`` (see the module docstring)."""
    session = case._session
    model = case.PatientModel
    if not isinstance(name, str) or not name or model._s["groups"]._find(name) is not None:
        raise ScriptException(f"RegistrationGroupName must be a new, non-empty name (got {name!r}).")
    reference = case._examination(reference_name)
    targets = [case._examination(t) for t in target_names]
    if not targets:
        raise ScriptException("TargetExaminationNames must name at least one examination.")
    group = StructureRegistrationGroup(session, f"{model._path}.StructureRegistrationGroups[{name!r}]", name)
    for target in targets:
        transform_mm(case, reference, target)  # a frame-of-reference registration must exist
        reg_name = f"{name} {target._key()}"
        reg = StructureRegistration(
            session,
            f"{case._path}.StructureRegistrations[{reg_name!r}]",
            reg_name,
            from_exam=reference,
            to_exam=target,
            group=group,
        )
        group._s["registrations"]._append(reg)
        case._s["structure_registrations"]._append(reg)
    model._s["groups"]._append(group)


def map_dose(case: Case, dose: Any, registration: Any, reference_grid: Any, fraction_index: int) -> None:
    """Implementation of ``case.MapDose``: a ``MappedDose`` on the reference examination."""
    if not isinstance(registration, StructureRegistration) or registration._s["group"] is None:
        raise ScriptException(
            "MapDose needs a deformable structure registration (from a structure "
            "registration group); a rigid registration cannot be used."
        )
    if not isinstance(dose, DoseDistribution):
        raise ScriptException(f"DoseDistribution must be a dose distribution (got {dose!r}).")
    values = dose._values_gy()
    if values is None:
        raise ScriptException("The dose distribution to map has no dose values.")
    reference, target = registration._s["from_exam"], registration._s["to_exam"]
    if dose._examination() is not target:
        raise ScriptException(
            f"The dose is on examination '{dose._examination()._key()}', not on the "
            f"registration's target examination '{target._key()}'."
        )
    grid: RsGrid = reference._default_grid() if reference_grid is None else reference_grid._grid()
    # p_source(dose frame) = T @ p_reference
    matrix = transform_mm(case, reference, target)
    src = dose._grid()
    resampled = src.engine_grid(values).resample(grid.engine_grid(), matrix)
    evaluations = case.TreatmentDelivery._fraction_evaluation(fraction_index)
    on_exam = evaluations._on_examination(reference)
    count = len(on_exam._s["evaluations"])
    label = f"Mapped dose {count + 1}"
    mapped = MappedDose(
        case._session,
        f"{on_exam._path}.DoseEvaluations[{count}]",
        case,
        name=label,
        values_gy=np.array(resampled.grid.values_gy),
        grid=grid,
        examination=reference,
        source=dose,
        registration=registration,
    )
    on_exam._s["evaluations"]._append(mapped)


def default_grid(image: Any) -> RsGrid:
    """The stand-in's default dose grid of an examination: 2.5 mm, centred on the image."""
    origin, spacing, size = dose_grid_for(image, 2.5)
    grid, _ = to_rs_orientation(
        origin, spacing, size, image.direction, frame_of_reference=image.frame_of_reference_uid
    )
    return grid
