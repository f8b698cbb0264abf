"""Patient, case, examinations and the treatment-delivery tree (docs/reference/raystation.md §3, §7.1).

Navigation: ``patient.Cases``, ``patient.PatientID``, ``patient.Name``, ``patient.Save()``;
``case.CaseName``, ``case.Examinations[name]``, ``case.TreatmentPlans[name]``, ``case.PatientModel``,
``case.TreatmentDelivery``, ``case.Registrations``, ``case.StructureRegistrations``, ``case.CopyPlan``;
evaluation doses under ``case.TreatmentDelivery.FractionEvaluations[i].DoseOnExaminations[j]
.DoseEvaluations[k]``.

Treatment dates: the reference names no RayStation member holding the delivery dates of a plan, so
the stand-in exposes none (the adapter must ask the user for the interval).
"""

# ruff: noqa: N802, N803 - member and keyword names are RayStation's

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Tuple

import numpy as np

from ..patients.model import ImageModel, StructureModel
from .errors import ScriptException
from .grids import RsGrid
from .plans import copy_plan
from .registrations import default_grid, map_dose, transform_mm
from .rois import PatientModel
from .scripting import ExpandoDictionary, ScriptCollection, ScriptObject, point, script_method

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["Case", "Examination", "Patient", "TreatmentDelivery"]


class EquipmentInfo(ScriptObject):
    """``exam.EquipmentInfo``: the examination's frame of reference."""

    def __init__(self, session: Session, path: str, frame_of_reference: str) -> None:
        super().__init__(session, path)
        self._s["for"] = frame_of_reference

    @property
    def FrameOfReference(self) -> str:
        """Frame of reference UID."""
        return str(self._s["for"])


class ImageStack(ScriptObject):
    """``exam.Series[0].ImageStack``: where the image slices are (DEVIATIONS.md).

    ``SlicePositions`` are cm offsets of the slices from ``Corner.z`` (slice k at ``Corner.z +
    SlicePositions[k]``, as public scripts compute it), in the image's index order (0 first, so negative
    offsets on a feet-first image). ``Corner`` x and y are the outer edge of the first pixel (the
    stand-in's reading), z the first slice; all cm.
    """

    def __init__(self, session: Session, path: str, image: ImageModel) -> None:
        super().__init__(session, path, track=False)
        object.__setattr__(self, "_image", image)

    @property
    def Corner(self) -> ExpandoDictionary:
        """Corner of the image stack, cm (a copy; class docstring)."""
        image = self._image
        z0 = float(image.plane_z_mm()[0])
        origin = np.asarray(image.origin_mm, float)
        half = 0.5 * np.asarray(image.spacing_mm, float)
        signs = np.diag(np.asarray(image.direction, float))
        last = origin + signs * (np.asarray(image.size) - 1) * np.asarray(image.spacing_mm, float)
        lo = [float(min(origin[a], last[a]) - half[a]) for a in (0, 1)]
        return point(lo[0] / 10.0, lo[1] / 10.0, z0 / 10.0)

    @property
    def SlicePositions(self) -> List[float]:
        """Offsets of the slices from ``Corner.z``, cm, in index order (a copy)."""
        planes = np.asarray(self._image.plane_z_mm(), float)
        return [float(v) / 10.0 for v in planes - planes[0]]


class Series(ScriptObject):
    """``exam.Series[i]``: the stand-in's examinations have one series."""

    def __init__(self, session: Session, path: str, image: ImageModel) -> None:
        super().__init__(session, path, track=False)
        object.__setattr__(self, "_stack", ImageStack(session, f"{path}.ImageStack", image))

    def _key(self) -> str:
        return "0"

    @property
    def ImageStack(self) -> ImageStack:
        """The image stack (slice positions)."""
        return self._stack  # type: ignore[no-any-return]


class Examination(ScriptObject):
    """``case.Examinations[name]``: a CT."""

    def __init__(self, session: Session, path: str, image: ImageModel) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_image", image)
        object.__setattr__(self, "_grid_cache", [])
        self._s.update(
            name=image.id,
            equipment=EquipmentInfo(session, f"{path}.EquipmentInfo", image.frame_of_reference_uid),
            series=ScriptCollection(session, f"{path}.Series", [Series(session, f"{path}.Series[0]", image)]),
        )

    @property
    def Series(self) -> ScriptCollection:
        """The image series (one)."""
        return self._s["series"]  # type: ignore[no-any-return]

    def _key(self) -> str:
        return str(self._s["name"])

    def _frame_of_reference(self) -> str:
        return str(self._image.frame_of_reference_uid)

    def _default_grid(self) -> RsGrid:
        if not self._grid_cache:
            self._grid_cache.append(default_grid(self._image))
        return self._grid_cache[0]  # type: ignore[no-any-return]

    @property
    def Name(self) -> str:
        """Examination name."""
        return str(self._s["name"])

    @property
    def EquipmentInfo(self) -> EquipmentInfo:
        """Equipment information (``FrameOfReference``)."""
        return self._s["equipment"]  # type: ignore[no-any-return]


class DoseOnExamination(ScriptObject):
    """``FractionEvaluations[i].DoseOnExaminations[j]``."""

    def __init__(self, session: Session, path: str, examination: Examination) -> None:
        super().__init__(session, path)
        self._s.update(exam=examination, evaluations=ScriptCollection(session, f"{path}.DoseEvaluations"))

    def _key(self) -> str:
        return self._s["exam"]._key()  # type: ignore[no-any-return]

    @property
    def OnExamination(self) -> Examination:
        """The examination the evaluation doses are on."""
        return self._s["exam"]  # type: ignore[no-any-return]

    @property
    def DoseEvaluations(self) -> ScriptCollection:
        """Evaluation doses (e.g. from ``MapDose``)."""
        return self._s["evaluations"]  # type: ignore[no-any-return]


class FractionEvaluation(ScriptObject):
    """``TreatmentDelivery.FractionEvaluations[i]`` (index 0: planning evaluations)."""

    def __init__(self, session: Session, path: str, number: int, examinations: Any) -> None:
        super().__init__(session, path)
        self._s.update(
            number=number,
            on=ScriptCollection(
                session,
                f"{path}.DoseOnExaminations",
                [
                    DoseOnExamination(session, f"{path}.DoseOnExaminations[{n}]", e)
                    for n, e in enumerate(examinations)
                ],
            ),
        )

    def _key(self) -> str:
        return str(self._s["number"])

    def _on_examination(self, exam: Examination) -> DoseOnExamination:
        return next(d for d in self._s["on"] if d._s["exam"] is exam)  # type: ignore[no-any-return]

    @property
    def FractionNumber(self) -> int:
        """0 for planning evaluations."""
        return int(self._s["number"])

    @property
    def DoseOnExaminations(self) -> ScriptCollection:
        """One entry per examination."""
        return self._s["on"]  # type: ignore[no-any-return]


class TreatmentDelivery(ScriptObject):
    """``case.TreatmentDelivery``."""

    def __init__(self, session: Session, path: str, examinations: Any) -> None:
        super().__init__(session, path)
        self._s["evaluations"] = ScriptCollection(
            session,
            f"{path}.FractionEvaluations",
            [FractionEvaluation(session, f"{path}.FractionEvaluations[0]", 0, examinations)],
        )

    def _fraction_evaluation(self, index: Any) -> FractionEvaluation:
        if (
            isinstance(index, bool)
            or not isinstance(index, int)
            or not 0 <= index < len(self._s["evaluations"])
        ):
            raise ScriptException(
                f"There is no fraction evaluation {index!r}; the stand-in has fraction 0 (planning) only."
            )
        return self._s["evaluations"][index]  # type: ignore[no-any-return]

    @property
    def FractionEvaluations(self) -> ScriptCollection:
        """Fraction evaluations; [0] holds planning evaluation doses."""
        return self._s["evaluations"]  # type: ignore[no-any-return]


class Case(ScriptObject):
    """``patient.Cases[name]``."""

    def __init__(self, session: Session, path: str, name: str) -> None:
        super().__init__(session, path)
        self._s.update(
            name=name,
            examinations=ScriptCollection(session, f"{path}.Examinations"),
            plans=ScriptCollection(session, f"{path}.TreatmentPlans"),
            registrations=ScriptCollection(session, f"{path}.Registrations"),
            structure_registrations=ScriptCollection(session, f"{path}.StructureRegistrations"),
        )
        self._s["patient_model"] = PatientModel(session, f"{path}.PatientModel", self)
        self._s["delivery"] = None

    def _key(self) -> str:
        return str(self._s["name"])

    def _examination(self, name: Any) -> Examination:
        found = self._s["examinations"]._find(name) if isinstance(name, str) else None
        if found is None:
            raise ScriptException(
                f"There is no examination named {name!r} in case '{self._key()}'; "
                f"examinations: {self._s['examinations'].Keys}."
            )
        return found  # type: ignore[no-any-return]

    def _roi_structure(self, roi_name: Any, exam: Examination) -> Tuple[str, StructureModel]:
        """(structure-set model id, contours) of an ROI on an examination, as dose statistics need."""
        model = self._s["patient_model"]
        if not isinstance(roi_name, str) or model._s["rois"]._find(roi_name) is None:
            raise ScriptException(f"There exists no ROI with the name {roi_name!r}.")
        structure_set = model._s["structure_sets"]._find(exam._key())
        geometry = None if structure_set is None else structure_set._geometry(roi_name)
        structure = None if geometry is None else geometry._s["structure"]
        if structure is None or structure.is_empty:
            raise ScriptException(
                f"There is no geometry set for ROI '{roi_name}' on examination '{exam._key()}'."
            )
        return structure_set._model_id, structure

    @property
    def CaseName(self) -> str:
        """Case name."""
        return str(self._s["name"])

    @property
    def Examinations(self) -> ScriptCollection:
        """Examinations, by name."""
        return self._s["examinations"]  # type: ignore[no-any-return]

    @property
    def TreatmentPlans(self) -> ScriptCollection:
        """Treatment plans, by name (prior courses included)."""
        return self._s["plans"]  # type: ignore[no-any-return]

    @property
    def PatientModel(self) -> PatientModel:
        """ROIs and structure sets."""
        return self._s["patient_model"]  # type: ignore[no-any-return]

    @property
    def TreatmentDelivery(self) -> TreatmentDelivery:
        """Fraction evaluations (evaluation doses)."""
        return self._s["delivery"]  # type: ignore[no-any-return]

    @property
    def Registrations(self) -> ScriptCollection:
        """Rigid frame-of-reference registrations."""
        return self._s["registrations"]  # type: ignore[no-any-return]

    @property
    def StructureRegistrations(self) -> ScriptCollection:
        """Deformable structure registrations, by name."""
        return self._s["structure_registrations"]  # type: ignore[no-any-return]

    @script_method(write=True, lock=False)
    def SetCurrent(self) -> None:
        """Make this the current case."""
        self._session.state["Case"] = self

    @script_method(write=False)
    def GetTransformForExaminations(
        self, *, FromExamination: str, ToExamination: str
    ) -> Optional[List[float]]:
        """Rigid transform as a FLAT list of 16 numbers (row-major 4×4, translations in cm), or None
        when no registration links the two examinations (docs/reference/raystation-public-scripts.md
        G3, G4). The direction is UNCONFIRMED (§8 gives the call only): ``p_To = T @ p_From`` in the
        session's ``transform_direction`` ``"from-to"`` (the default, as public scripts read it), the
        inverse in ``"to-from"`` (:mod:`.session`)."""
        try:
            matrix = transform_mm(self, self._examination(FromExamination), self._examination(ToExamination))
        except ScriptException:
            self._examination(FromExamination)  # an unknown examination still raises
            self._examination(ToExamination)
            return None
        out = np.array(matrix, dtype=np.float64)
        if self._session.transform_direction == "to-from":
            out = np.linalg.inv(out)
        out[:3, 3] /= 10.0
        return [float(v) for v in out.ravel()]

    @script_method(write=False)
    def TransformPointFromExaminationToExamination(
        self, *, FromExamination: str, ToExamination: str, Point: Any
    ) -> ExpandoDictionary:
        """A point of ``FromExamination`` in ``ToExamination``'s coordinates (cm), whatever the session's
        ``transform_direction`` (the name says From → To; public scripts map an isocentre from the old CT
        to the new one with it). ``Point`` is ``{'x', 'y', 'z'}`` in cm; the result supports ``.x`` and
        ``['x']``. Raises when no registration links the two examinations (the real behaviour then is
        not known; raising is the stricter reading)."""
        matrix = transform_mm(self, self._examination(FromExamination), self._examination(ToExamination))
        try:
            xyz = [float(Point[k]) for k in ("x", "y", "z")]
        except (TypeError, KeyError, ValueError):
            raise ScriptException(
                f"Point must be a dictionary with numbers 'x', 'y' and 'z' (got {Point!r}).") from None
        if not all(np.isfinite(xyz)):
            raise ScriptException(f"Point must be finite (got {Point!r}).")
        moved_mm = matrix @ np.array([10.0 * v for v in xyz] + [1.0])
        return point(*(float(v) / 10.0 for v in moved_mm[:3]))

    @script_method(write=True)
    def CopyPlan(self, *, PlanName: str, NewPlanName: str, KeepBeamSetNames: bool = False) -> None:
        """Copy plan ``PlanName`` as a new, unapproved plan ``NewPlanName`` (§10; returns None)."""
        source = self._s["plans"]._find(PlanName) if isinstance(PlanName, str) else None
        if source is None:
            raise ScriptException(f"There is no plan named {PlanName!r} in case '{self._key()}'.")
        if not isinstance(NewPlanName, str) or not NewPlanName.strip():
            raise ScriptException(f"NewPlanName must be a non-empty string (got {NewPlanName!r}).")
        if self._s["plans"]._find(NewPlanName) is not None:
            raise ScriptException(f"A plan named '{NewPlanName}' already exists in case '{self._key()}'.")
        copy_plan(self, source, NewPlanName, bool(KeepBeamSetNames))

    @script_method(write=True)
    def MapDose(
        self,
        *,
        DoseDistribution: Any,
        StructureRegistration: Any,
        FractionNumber: Optional[int] = None,
        SetTotalDoseEstimateReference: bool = False,
        FractionEvaluationIndex: Optional[int] = None,
        ReferenceDoseGrid: Any = None,
    ) -> None:
        """Map a dose through a deformable registration onto its reference examination; returns None.

        The new ``MappedDose`` is appended to ``TreatmentDelivery.FractionEvaluations[i]
        .DoseOnExaminations[reference].DoseEvaluations`` (§7.1); call ``UpdateDoseGridStructures()``
        on it before statistics.
        """
        index = FractionEvaluationIndex if FractionEvaluationIndex is not None else FractionNumber
        map_dose(
            self, DoseDistribution, StructureRegistration, ReferenceDoseGrid, 0 if index is None else index
        )


class Patient(ScriptObject):
    """``get_current("Patient")``."""

    def __init__(self, session: Session, path: str, patient_id: str, name: str) -> None:
        super().__init__(session, path)
        self._s.update(id=patient_id, name=name, cases=ScriptCollection(session, f"{path}.Cases"))

    @property
    def PatientID(self) -> str:
        """Patient ID."""
        return str(self._s["id"])

    @property
    def Name(self) -> str:
        """Patient name (DICOM ``^`` form)."""
        return str(self._s["name"])

    @property
    def Cases(self) -> ScriptCollection:
        """Cases, by name."""
        return self._s["cases"]  # type: ignore[no-any-return]

    @script_method(write=True, lock=False)
    def Save(self) -> None:
        """Save the patient (recorded: ``tps_stubs.raystation.saves()``)."""
        self._session.saves += 1
