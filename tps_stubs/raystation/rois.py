"""Patient model: ROIs, structure sets and ROI geometries (docs/reference/raystation.md §9).

``case.PatientModel.RegionsOfInterest[name]`` has ``Name``, ``Type``, ``OrganData.OrganType``;
``case.PatientModel.StructureSets[exam.Name].RoiGeometries[name]`` has ``HasContours()``,
``PrimaryShape`` (None when empty), ``GetRoiVolume()`` (cm³), ``GetBoundingBox()``,
``GetCenterOfRoi()``, ``OfRoi`` and ``GetRoiGeometryAsVoxels(Corner, VoxelSize, NrVoxels)`` (values
0–255). Approved structure sets lock their ROI geometries and the ROIs themselves (§4, §14.6):
12A+ report approval through ``SubStructureSets[i].Review``, 11B through ``ApprovedStructureSets``.

ROI margins and algebra (§9): ``roi.CreateMarginGeometry(Examination, SourceRoiName, MarginSettings)`` and
``roi.CreateAlgebraGeometry(Examination, Algorithm, ExpressionA, ExpressionB, ResultOperation,
ResultMarginSettings)`` set the ROI's geometry on one examination from its sources' current geometries
(margins in cm, computed once, re-contoured on the image planes: :mod:`.roi_algebra`); refused on an
approved ROI.

Contours written point by point (:mod:`.contours`): ``geometry.PrimaryShape.Contours = [[{'x','y','z'},
…], …]`` (cm) replaces a contour geometry's contours (even–odd rule per plane), after
``roi.CreateBoxGeometry(Size, Examination, Center, Representation, VoxelSize)`` has given an empty ROI a
geometry and ``geometry.SetRepresentation(Representation='Contours')`` has turned a voxel or mesh shape
into contours. The written contours are the geometry every volume, voxelisation, statistic and stand-in
optimiser mask uses. Refused on approved data like every other write.

Mesh geometries: real structure sets hold triangle meshes (model-based and deep-learning
segmentation, couch and helper ROIs) whose ``PrimaryShape`` has no ``Contours``; public scripts test
``hasattr(PrimaryShape, 'Contours')`` (docs/reference/raystation-public-scripts.md R11). ROIs named in
``load(..., mesh_rois=…)`` (and helper ROIs added with ``helper_mesh_rois``) get a
:class:`MeshShape` instead: ``Vertices`` (points, cm) and ``Triangles`` (vertex index triples), no
``Contours``; ``HasContours()`` is False. ``GetRoiVolume``, ``GetBoundingBox``, ``GetCenterOfRoi``
and ``GetRoiGeometryAsVoxels`` work on a mesh as on contours (the stand-in voxelises the contours it
built the mesh from). The mesh members' names are the stand-in's guess (DEVIATIONS.md).
"""

# ruff: noqa: N802, N803 - member and keyword names are RayStation's

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np

from ..patients.model import StructureModel
from . import contours, grids, roi_algebra
from .errors import ScriptException, no_member
from .grids import RsGrid
from .registrations import create_deformable_group
from .review import Review
from .scripting import ExpandoDictionary, ScriptCollection, ScriptObject, point, script_method

if TYPE_CHECKING:  # pragma: no cover
    from .patient_objects import Case, Examination

__all__ = ["ORGAN_TYPES", "ROI_TYPES", "MeshShape", "PatientModel", "RegionOfInterest", "RoiGeometry",
           "StructureSet", "VoxelShape"]

#: Stub-patient DICOM type → RayStation ROI ``Type``.
ROI_TYPES: Dict[str, str] = {
    "PTV": "Ptv",
    "CTV": "Ctv",
    "GTV": "Gtv",
    "ORGAN": "Organ",
    "EXTERNAL": "External",
}
#: RayStation ROI ``Type`` → ``OrganData.OrganType``.
ORGAN_TYPES: Dict[str, str] = {"Ptv": "Target", "Ctv": "Target", "Gtv": "Target", "External": "Other"}
CREATE_ROI_TYPES = (
    "Ptv",
    "Ctv",
    "Gtv",
    "Organ",
    "External",
    "Control",
    "Undefined",
    "Avoidance",
    "Bolus",
    "Support",
    "Fixation",
    "Marker",
    "Cavity",
    "Registration",
    "FieldOfView",
)


def _dicom_type(roi: RegionOfInterest) -> str:
    """The stub-patient DICOM type of a stand-in ROI (for the geometry it is given)."""
    return {v: k for k, v in ROI_TYPES.items()}.get(roi.Type, roi.Type.upper())


class OrganData(ScriptObject):
    """``roi.OrganData``."""

    _roi: RegionOfInterest

    def __init__(self, session: Any, path: str, roi: RegionOfInterest, organ_type: str) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_roi", roi)
        self._s["organ_type"] = organ_type

    def _lock_reason(self) -> Optional[str]:
        return self._roi._lock_reason()

    def _set_organ_type(self, value: Any) -> str:
        if value not in ("Target", "OrganAtRisk", "Other", "Unknown"):
            raise ScriptException(f"OrganType must be Target, OrganAtRisk, Other or Unknown (got {value!r}).")
        return str(value)

    OrganType = property(
        lambda self: self._s["organ_type"],
        lambda self, v: self._s.__setitem__("organ_type", self._set_organ_type(v)),
        doc="'Target', 'OrganAtRisk', 'Other' or 'Unknown'.",
    )


class RegionOfInterest(ScriptObject):
    """``case.PatientModel.RegionsOfInterest[name]``."""

    _model: PatientModel

    def __init__(self, session: Any, path: str, model: PatientModel, name: str, roi_type: str) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_model", model)
        self._s.update(name=name, type=roi_type)
        self._s["organ"] = OrganData(
            session,
            f"{path}.OrganData",
            self,
            ORGAN_TYPES.get(roi_type, "OrganAtRisk" if roi_type == "Organ" else "Other"),
        )

    def _key(self) -> str:
        return str(self._s["name"])

    def _lock_reason(self) -> Optional[str]:
        for structure_set in self._model._s["structure_sets"]:
            geometry = structure_set._geometry(self._s["name"])
            if geometry is not None and geometry._s["approved"]:
                exam = structure_set._key()
                return f"The ROI '{self._s['name']}' is approved in the structure set of '{exam}'"
        return None

    @property
    def Name(self) -> str:
        """ROI name."""
        return str(self._s["name"])

    @property
    def Type(self) -> str:
        """ROI type, e.g. ``'Ptv'``, ``'Organ'``, ``'External'``."""
        return str(self._s["type"])

    @property
    def OrganData(self) -> OrganData:
        """Organ data (``OrganType``)."""
        return self._s["organ"]  # type: ignore[no-any-return]

    @script_method(write=True)
    def DeleteRoi(self) -> None:
        """Delete the ROI and its geometries (refused when approved)."""
        self._model._delete_roi(self)

    @script_method(write=True)
    def CreateMarginGeometry(self, *, Examination: Any, SourceRoiName: str, MarginSettings: Any) -> None:
        """Set this ROI's geometry on ``Examination`` to ``SourceRoiName`` grown or shrunk by a margin (cm).

        ``MarginSettings = {'Type': 'Expand'|'Contract', 'Superior', 'Inferior', 'Anterior', 'Posterior',
        'Right', 'Left'}`` (§9; semantics and discretisation in :mod:`.roi_algebra`). The source may
        be this ROI itself. The geometry is computed once: it does not follow later changes of the
        source. Refused (``InvalidOperationException``) when this ROI is approved.
        """
        margin = roi_algebra.parse_margin(MarginSettings, "MarginSettings")
        if not isinstance(SourceRoiName, str):
            raise ScriptException(f"SourceRoiName must be an ROI name (got {SourceRoiName!r}).")
        expression = roi_algebra.Expression("Union", (SourceRoiName,), margin)
        nothing = roi_algebra.Expression("Union", (), roi_algebra.ZERO_MARGIN)
        self._model._set_algebra_geometry(self, Examination, expression, nothing, result_operation="None",
                                          result_margin=roi_algebra.ZERO_MARGIN)

    @script_method(write=True)
    def CreateAlgebraGeometry(
        self,
        *,
        Examination: Any,
        ExpressionA: Any,
        Algorithm: str = "Auto",
        ExpressionB: Any = None,
        ResultOperation: str = "None",
        ResultMarginSettings: Any = None,
    ) -> None:
        """Set this ROI's geometry on ``Examination`` to ``(A <ResultOperation> B)`` with a result margin.

        ``ExpressionA`` / ``ExpressionB`` are ``{'Operation': 'Union'|'Intersection', 'SourceRoiNames':
        [...], 'MarginSettings': {...}}`` (§9); ``ResultOperation`` is ``'None'`` (A only),
        ``'Union'``, ``'Intersection'`` or ``'Subtraction'`` (A − B). A public script passes only
        ``ExpressionA``: ``ExpressionB`` then names no ROI, ``ResultOperation`` is ``'None'`` and the
        result margin zero. ``Algorithm`` is one of ``'Auto'``, ``'Voxels'``, ``'Contours'``,
        ``'LineGrid'`` ([stub-2025]); the stand-in computes them all alike (:mod:`.roi_algebra`).
        Computed once (not a derived ROI that follows its sources). Refused
        (``InvalidOperationException``) when this ROI is approved.
        """
        if Algorithm not in roi_algebra.ALGORITHMS:
            raise ScriptException(f"Algorithm must be one of {roi_algebra.ALGORITHMS} (got {Algorithm!r}).")
        if ResultOperation not in roi_algebra.RESULT_OPERATIONS:
            raise ScriptException(
                f"ResultOperation must be one of {roi_algebra.RESULT_OPERATIONS} (got {ResultOperation!r})."
            )
        a = roi_algebra.parse_expression(ExpressionA, "ExpressionA", may_be_empty=False)
        if ExpressionB is None:
            b = roi_algebra.Expression("Union", (), roi_algebra.ZERO_MARGIN)
        else:
            b = roi_algebra.parse_expression(ExpressionB, "ExpressionB", may_be_empty=True)
        if ResultOperation != "None" and not b.source_roi_names:
            raise ScriptException(
                f"ResultOperation {ResultOperation!r} needs source ROIs in ExpressionB (it names none); "
                "use ResultOperation 'None' for ExpressionA alone."
            )
        result_margin = (
            roi_algebra.ZERO_MARGIN
            if ResultMarginSettings is None
            else roi_algebra.parse_margin(ResultMarginSettings, "ResultMarginSettings")
        )
        self._model._set_algebra_geometry(self, Examination, a, b, result_operation=str(ResultOperation),
                                          result_margin=result_margin)

    @script_method(write=True)
    def CreateBoxGeometry(
        self, *, Size: Any, Examination: Any, Center: Any, Representation: str, VoxelSize: Any = None
    ) -> None:
        """Set this ROI's geometry on ``Examination`` to a box (``Size``, ``Center``: ``{'x','y','z'}`` cm).

        ``Representation`` ``'Voxels'``, ``'TriangleMesh'`` or ``'Contours'`` is the primary shape it gets;
        ``VoxelSize`` (None or cm) is not used (:mod:`.contours`). Replaces any geometry the ROI had there;
        refused (``InvalidOperationException``) when this ROI is approved.
        """
        size = contours.parse_vector(Size, "Size", positive=True)
        centre = contours.parse_vector(Center, "Center")
        if Representation not in contours.REPRESENTATIONS:
            raise ScriptException(
                f"Representation must be one of {contours.REPRESENTATIONS} (got {Representation!r})."
            )
        if VoxelSize is not None and (
            isinstance(VoxelSize, bool) or not isinstance(VoxelSize, (int, float)) or VoxelSize <= 0
        ):
            raise ScriptException(f"VoxelSize must be None or a voxel size > 0 cm (got {VoxelSize!r}).")
        _, target = self._model._target_geometry(self, Examination)
        by_plane = contours.box_contours(target._image(), centre, size)
        target._s["structure"] = StructureModel(id=self.Name, dicom_type=_dicom_type(self),
                                                contours_by_plane=by_plane, primitives=())
        target._s["representation"] = str(Representation)


class PrimaryShape(ScriptObject):
    """``geometry.PrimaryShape`` of a contour ROI (RayStation's ``RoiContourSet``).

    ``Contours`` reads the geometry's closed planar contours (points ``{'x','y','z'}``, cm) and, set, replaces
    all of them (:func:`.contours.parse_contours` says what is accepted; module docstring).
    """

    _geometry: RoiGeometry

    def __init__(self, session: Any, path: str, geometry: RoiGeometry) -> None:
        super().__init__(session, path, track=False)
        object.__setattr__(self, "_geometry", geometry)

    def _lock_reason(self) -> Optional[str]:
        return self._geometry._lock_reason()

    def _set_contours(self, value: Any) -> None:
        geometry = self._geometry
        if geometry._representation() != "Contours":  # a shape read before SetRepresentation changed it
            raise no_member("Contours")
        geometry._set_contours(value)

    def _get_contours(self) -> List[List[ExpandoDictionary]]:
        structure = self._geometry._s["structure"]
        loops = () if structure is None else structure.all_contours()
        return [[point(float(x) / 10.0, float(y) / 10.0, float(z) / 10.0) for x, y, z in c] for c in loops]

    Contours = property(
        _get_contours,
        _set_contours,
        doc="Closed planar contours, each a list of points ``{'x','y','z'}`` in cm (a copy); setting "
        "replaces them all (class docstring).",
    )


class VoxelShape(ScriptObject):
    """``geometry.PrimaryShape`` of a voxel ROI (RayStation's ``BinaryRoi``): no ``Contours`` (DEVIATIONS.md).

    What ``roi.CreateBoxGeometry(..., Representation='Voxels')`` leaves; ``SetRepresentation(Representation=
    'Contours')`` turns it into contours.
    """

    _tps_name = "BinaryRoi"

    def __init__(self, session: Any, path: str) -> None:
        super().__init__(session, path, track=False)


class MeshShape(ScriptObject):
    """``geometry.PrimaryShape`` of a mesh ROI: triangles, no ``Contours`` (DEVIATIONS.md)."""

    _tps_name = "TriangleMesh"

    def __init__(self, session: Any, path: str, structure: StructureModel) -> None:
        super().__init__(session, path, track=False)
        object.__setattr__(self, "_structure", structure)

    @property
    def Vertices(self) -> List[ExpandoDictionary]:
        """Mesh vertices ``{'x','y','z'}`` in cm (the stand-in's mesh: its contour points, a copy)."""
        return [
            point(float(x) / 10.0, float(y) / 10.0, float(z) / 10.0)
            for contour in self._structure.all_contours()
            for x, y, z in contour
        ]

    @property
    def Triangles(self) -> List[List[int]]:
        """Vertex index triples (the stand-in's mesh: a fan over each planar contour)."""
        out: List[List[int]] = []
        start = 0
        for contour in self._structure.all_contours():
            n = len(contour)
            out.extend([start, start + i, start + i + 1] for i in range(1, n - 1))
            start += n
        return out


class RoiGeometry(ScriptObject):
    """``StructureSets[exam].RoiGeometries[roi]``."""

    _structure_set: StructureSet

    def __init__(
        self,
        session: Any,
        path: str,
        structure_set: StructureSet,
        *,
        roi: RegionOfInterest,
        structure: Optional[StructureModel],
        approved: bool,
    ) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_structure_set", structure_set)
        # representation None: as loaded (a mesh when the ROI is in the session's mesh ROIs, else contours)
        self._s.update(roi=roi, structure=structure, approved=approved, representation=None)

    def _key(self) -> str:
        return str(self._s["roi"]._key())

    def _lock_reason(self) -> Optional[str]:
        if self._s["approved"]:
            return f"The geometry of ROI '{self._key()}' is approved"
        return self._s["roi"]._lock_reason()  # type: ignore[no-any-return]

    def _representation(self) -> str:
        """``'Contours'``, ``'Voxels'`` or ``'TriangleMesh'``."""
        chosen = self._s["representation"]
        if chosen is not None:
            return str(chosen)
        return "TriangleMesh" if self._key() in self._session.mesh_rois else "Contours"

    def _image(self) -> Any:
        model_id = self._structure_set._model_id
        if model_id is None:  # pragma: no cover - every stand-in examination has a model structure set
            raise ScriptException(f"Examination '{self._structure_set._key()}' has no structure set.")
        model = self._session.model
        return model.image(model.structure_set(model_id).image_id)

    def _set_contours(self, value: Any) -> None:
        """Replace the contours (``PrimaryShape.Contours = value``, cm; checked by :mod:`.contours`)."""
        by_plane = contours.parse_contours(value, self._image())
        roi = self._s["roi"]
        self._s["structure"] = StructureModel(id=roi.Name, dicom_type=_dicom_type(roi),
                                              contours_by_plane=by_plane, primitives=())

    def _contoured(self) -> StructureModel:
        structure = self._s["structure"]
        if structure is None or structure.is_empty:
            raise ScriptException(
                f"There is no geometry set for ROI '{self._key()}' on examination "
                f"'{self._structure_set._key()}' (no geometry set for ROI)."
            )
        return structure  # type: ignore[no-any-return]

    def _occupancy(self, grid: Optional[RsGrid] = None) -> Any:
        structure = self._contoured()
        exam = self._structure_set._examination
        model_id = self._structure_set._model_id
        if model_id is None:  # pragma: no cover - contours come only from a model structure set
            raise ScriptException(f"ROI '{self._key()}' has contours but no structure set")
        return grids.occupancy(self._session.model, model_id, structure, grid or exam._default_grid())

    @property
    def OfRoi(self) -> RegionOfInterest:
        """The ROI."""
        return self._s["roi"]  # type: ignore[no-any-return]

    @property
    def PrimaryShape(self) -> Any:
        """The contours (or a :class:`MeshShape` / :class:`VoxelShape`), or None when the ROI has no geometry
        here."""
        structure = self._s["structure"]
        if structure is None or structure.is_empty:
            return None
        representation = self._representation()
        if representation == "TriangleMesh":
            return MeshShape(self._session, f"{self._path}.PrimaryShape", structure)
        if representation == "Voxels":
            return VoxelShape(self._session, f"{self._path}.PrimaryShape")
        return PrimaryShape(self._session, f"{self._path}.PrimaryShape", self)

    @script_method(write=False)
    def HasContours(self) -> bool:
        """True when the ROI has contours on this examination (False for a mesh or voxels)."""
        structure = self._s["structure"]
        return structure is not None and not structure.is_empty and self._representation() == "Contours"

    @script_method(write=True)
    def SetRepresentation(self, *, Representation: str) -> None:
        """Change the primary shape to ``'Contours'``, ``'Voxels'`` or ``'TriangleMesh'`` (a no-op when it is
        that already). The stand-in keeps the geometry as contours underneath, so nothing is resampled.
        Refused on an empty geometry (the §4 "no geometry set for ROI" text) and on approved data."""
        if Representation not in contours.REPRESENTATIONS:
            raise ScriptException(
                f"Representation must be one of {contours.REPRESENTATIONS} (got {Representation!r})."
            )
        self._contoured()
        self._s["representation"] = str(Representation)

    @script_method(write=False)
    def GetRoiVolume(self) -> float:
        """ROI volume from its contours, cm³ (independent of any dose grid)."""
        return float(self._occupancy().volume_cc)

    @script_method(write=False)
    def GetBoundingBox(self) -> List[ExpandoDictionary]:
        """[lowest corner, highest corner] of the contour points, cm."""
        pts = np.concatenate(list(self._contoured().all_contours())) / 10.0
        return [point(*(float(v) for v in pts.min(axis=0))), point(*(float(v) for v in pts.max(axis=0)))]

    @script_method(write=False)
    def GetCenterOfRoi(self) -> ExpandoDictionary:
        """Volume centroid of the ROI, cm."""
        exam_grid = self._structure_set._examination._default_grid()
        occ = np.asarray(self._occupancy(exam_grid).fraction).ravel()
        centre = (exam_grid.centres_mm() * occ[:, None]).sum(axis=0) / occ.sum() / 10.0
        return point(*(float(v) for v in centre))

    @script_method(write=False)
    def GetRoiGeometryAsVoxels(self, *, Corner: Any, VoxelSize: Any, NrVoxels: Any) -> np.ndarray:
        """Partial-volume voxelisation, 0–255 per voxel, flat in ``DoseData`` order (x fastest).

        ``Corner`` is the outer edge of the first voxel and ``VoxelSize`` the voxel size, both cm;
        reshape the result to ``(NrVoxels.z, NrVoxels.y, NrVoxels.x)``.
        """
        size = tuple(int(NrVoxels[a]) for a in "xyz")
        spacing = tuple(float(VoxelSize[a]) * 10.0 for a in "xyz")
        origin = tuple(float(Corner[a]) * 10.0 + s / 2.0 for a, s in zip("xyz", spacing))
        exam = self._structure_set._examination
        grid = RsGrid(origin, spacing, size, exam._frame_of_reference())  # type: ignore[arg-type]
        fraction = np.asarray(self._occupancy(grid).fraction).ravel()
        return np.rint(fraction * 255.0).astype(np.uint8)


class SubStructureSet(ScriptObject):
    """``StructureSet.SubStructureSets[i]`` (12A+): carries the approval ``Review``."""

    def __init__(self, session: Any, path: str, approved: bool) -> None:
        super().__init__(session, path)
        self._s["review"] = Review(session, f"{path}.Review", "Approved") if approved else None

    def _key(self) -> str:
        return "0"

    @property
    def Review(self) -> Optional[Review]:
        """The approval, or None when never reviewed."""
        return self._s["review"]  # type: ignore[no-any-return]


class ApprovedStructureSet(ScriptObject):
    """``StructureSet.ApprovedStructureSets[i]`` (11B): the approved ROI geometries."""

    def __init__(self, session: Any, path: str, geometries: List[RoiGeometry]) -> None:
        super().__init__(session, path)
        self._s["rois"] = ScriptCollection(session, f"{path}.ApprovedRoiStructures", geometries)

    def _key(self) -> str:
        return "0"

    @property
    def ApprovedRoiStructures(self) -> ScriptCollection:
        """The approved ROI geometries."""
        return self._s["rois"]  # type: ignore[no-any-return]


class StructureSet(ScriptObject):
    """``case.PatientModel.StructureSets[exam_name]``."""

    _examination: Examination
    _model_id: Optional[str]

    def __init__(
        self, session: Any, path: str, examination: Examination, model_id: Optional[str], approved: bool
    ) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_examination", examination)
        object.__setattr__(self, "_model_id", model_id)
        self._s["geometries"] = ScriptCollection(session, f"{path}.RoiGeometries")
        self._s["sub"] = ScriptCollection(
            session,
            f"{path}.SubStructureSets",
            [SubStructureSet(session, f"{path}.SubStructureSets[0]", approved)],
        )
        self._s["approved_sets"] = ScriptCollection(session, f"{path}.ApprovedStructureSets")
        self._s["approved"] = approved

    def _key(self) -> str:
        return self._examination._key()

    def _geometry(self, roi_name: str) -> Optional[RoiGeometry]:
        return self._s["geometries"]._find(roi_name)  # type: ignore[no-any-return]

    def _add_geometry(self, roi: RegionOfInterest, structure: Optional[StructureModel]) -> None:
        approved = bool(self._s["approved"] and structure is not None and not structure.is_empty)
        path = f"{self._path}.RoiGeometries[{roi.Name!r}]"
        self._s["geometries"]._append(
            RoiGeometry(self._session, path, self, roi=roi, structure=structure, approved=approved)
        )

    def _finish_approval(self) -> None:
        if self._s["approved"]:
            approved = [g for g in self._s["geometries"]._items() if g._s["approved"]]
            self._s["approved_sets"]._append(
                ApprovedStructureSet(self._session, f"{self._path}.ApprovedStructureSets[0]", approved)
            )

    @property
    def RoiGeometries(self) -> ScriptCollection:
        """ROI geometries on this examination, by ROI name."""
        return self._s["geometries"]  # type: ignore[no-any-return]

    @property
    def OnExamination(self) -> Examination:
        """The examination."""
        return self._examination

    @property
    def SubStructureSets(self) -> ScriptCollection:
        """Sub-structure sets with their approval ``Review`` (12A+)."""
        return self._s["sub"]  # type: ignore[no-any-return]

    @property
    def ApprovedStructureSets(self) -> ScriptCollection:
        """Approved structure sets (11B)."""
        return self._s["approved_sets"]  # type: ignore[no-any-return]


class PatientModel(ScriptObject):
    """``case.PatientModel``."""

    def __init__(self, session: Any, path: str, case: Case) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_case", case)
        self._s["rois"] = ScriptCollection(session, f"{path}.RegionsOfInterest")
        self._s["structure_sets"] = ScriptCollection(session, f"{path}.StructureSets")
        self._s["groups"] = ScriptCollection(session, f"{path}.StructureRegistrationGroups")

    def _new_roi(self, name: str, roi_type: str) -> RegionOfInterest:
        roi = RegionOfInterest(
            self._session, f"{self._path}.RegionsOfInterest[{name!r}]", self, name, roi_type
        )
        self._s["rois"]._append(roi)
        return roi

    def _target_geometry(self, roi: RegionOfInterest, examination: Any) -> Any:
        """(structure set, ``roi``'s geometry) on ``examination``, an examination object of the case."""
        exams = self._case._s["examinations"]
        if not isinstance(examination, ScriptObject) or not any(e is examination for e in exams):
            raise ScriptException(
                f"Examination must be an examination of the case (got {examination!r}); use "
                f"case.Examinations[name], one of {exams.Keys}."
            )
        structure_set = self._s["structure_sets"]._find(examination._key())
        target = None if structure_set is None else structure_set._geometry(roi.Name)
        if target is None or structure_set._model_id is None:
            raise ScriptException(
                f"Examination '{examination._key()}' has no structure set for ROI '{roi.Name}'."
            )
        return structure_set, target

    def _set_algebra_geometry(
        self,
        roi: RegionOfInterest,
        examination: Any,
        a: roi_algebra.Expression,
        b: roi_algebra.Expression,
        *,
        result_operation: str,
        result_margin: roi_algebra.Margin,
    ) -> None:
        """Compute ``roi``'s geometry on ``examination`` from its sources' current geometries."""
        structure_set, target = self._target_geometry(roi, examination)
        used = [a] if result_operation == "None" else [a, b]
        sources: Dict[str, StructureModel] = {}
        for name in (n for e in used for n in e.source_roi_names):
            if self._s["rois"]._find(name) is None:
                raise ScriptException(f"There exists no ROI with the name {name!r}.")
            geometry = structure_set._geometry(name)
            structure = None if geometry is None else geometry._s["structure"]
            if structure is None or structure.is_empty:
                raise ScriptException(
                    f"There is no geometry set for ROI '{name}' on examination '{examination._key()}' "
                    "(no geometry set for ROI); it cannot be a source of ROI algebra."
                )
            sources[name] = structure
        image = self._session.model.image(self._session.model.structure_set(structure_set._model_id).image_id)
        by_plane = roi_algebra.evaluate(image, sources, a, b, result_operation=result_operation,
                                        result_margin=result_margin)
        target._s["structure"] = StructureModel(
            id=roi.Name, dicom_type=_dicom_type(roi), contours_by_plane=by_plane, primitives=()
        )
        target._s["representation"] = "Contours"  # the stand-in's algebra result is a contour ROI

    def _delete_roi(self, roi: RegionOfInterest) -> None:
        self._s["rois"]._remove(roi)
        for structure_set in self._s["structure_sets"]:
            geometry = structure_set._geometry(roi.Name)
            if geometry is not None:
                structure_set._s["geometries"]._remove(geometry)

    @property
    def RegionsOfInterest(self) -> ScriptCollection:
        """ROIs of the case, by name."""
        return self._s["rois"]  # type: ignore[no-any-return]

    @property
    def StructureSets(self) -> ScriptCollection:
        """Structure sets, by examination name."""
        return self._s["structure_sets"]  # type: ignore[no-any-return]

    @property
    def StructureRegistrationGroups(self) -> ScriptCollection:
        """Deformable registration groups, by name."""
        return self._s["groups"]  # type: ignore[no-any-return]

    @script_method(write=True)
    def CreateRoi(
        self,
        *,
        Name: str,
        Color: str,
        Type: str,
        TissueName: Any = None,
        RbeCellTypeName: Any = None,
        RoiMaterial: Any = None,
    ) -> RegionOfInterest:
        """Create an empty ROI (no geometry on any examination) and return it."""
        if not isinstance(Name, str) or not Name:
            raise ScriptException(f"Name must be a non-empty string (got {Name!r}).")
        if self._s["rois"]._find(Name) is not None:
            raise ScriptException(f"An ROI named '{Name}' already exists; use GetUniqueRoiName.")
        if Type not in CREATE_ROI_TYPES:
            raise ScriptException(f"Type must be one of {CREATE_ROI_TYPES} (got {Type!r}).")
        roi = self._new_roi(Name, Type)
        for structure_set in self._s["structure_sets"]:
            structure_set._add_geometry(roi, None)
        return roi

    @script_method(write=False)
    def GetUniqueRoiName(self, *, DesiredName: str) -> str:
        """``DesiredName``, or it with a number appended when an ROI already has that name."""
        name, n = DesiredName, 1
        while self._s["rois"]._find(name) is not None:
            name, n = f"{DesiredName} ({n})", n + 1
        return name

    @script_method(write=True)
    def CreateHybridDeformableRegistrationGroup(
        self,
        *,
        RegistrationGroupName: str,
        ReferenceExaminationName: str,
        TargetExaminationNames: List[str],
        ControllingRoiNames: Any = None,
        ControllingPoiNames: Any = None,
        FocusRoiNames: Any = None,
        AlgorithmSettings: Any = None,
    ) -> None:
        """Create a deformable registration group (§8); see ``registrations`` for the stand-in's model."""
        create_deformable_group(
            self._case, RegistrationGroupName, ReferenceExaminationName, list(TargetExaminationNames)
        )
