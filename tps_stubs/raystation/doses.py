"""Dose distributions: ``FractionDose``, ``TotalDose`` (CompositeDose), mapped evaluation doses.

docs/reference/raystation.md §5–§6: doses in cGy; ``DoseValues`` is None when no dose has been computed;
``DoseValues.DoseData`` a numpy array ``(nz, ny, nx)``, x fastest; ``InDoseGrid`` with ``Corner`` (voxel
edge), ``VoxelSize`` and ``NrVoxels``; statistics by ROI name with DVH volumes as fractions 0–1;
``GetDoseGridRoi(...).RoiVolumeDistribution`` with flat ``VoxelIndices``; evaluation doses need
``UpdateDoseGridStructures()`` before statistics (§6, §14.8).

``FractionDose`` is the dose of ONE fraction of its beam set; ``TotalDose`` is the plan total over all
beam sets and fractions (§5.1).
"""

# ruff: noqa: N802, N803 - member and keyword names are RayStation's

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence

import numpy as np

from reirrad.dvh import DVH

from . import grids
from .errors import ScriptException
from .grids import RsGrid
from .scripting import ExpandoDictionary, ScriptObject, point, script_method

if TYPE_CHECKING:  # pragma: no cover
    from .patient_objects import Case, Examination
    from .plans import BeamSet, TreatmentPlan

__all__ = ["CompositeDose", "DoseDistribution", "DoseGrid", "DoseValues", "FractionDose", "MappedDose"]

DOSE_TYPES = ("Min", "Max", "Average")  # §6: the values seen; others (e.g. 'Median') are unconfirmed


class DoseGrid(ScriptObject):
    """``InDoseGrid`` / ``GetDoseGrid()``: geometry of a dose, cm (§5.3)."""

    def __init__(self, session: Any, path: str, grid: Callable[[], RsGrid]) -> None:
        super().__init__(session, path, track=False)
        object.__setattr__(self, "_grid", grid)

    @property
    def Corner(self) -> ExpandoDictionary:
        """Outer corner of the first voxel (not its centre), cm."""
        return point(*self._grid().corner_cm)

    @property
    def VoxelSize(self) -> ExpandoDictionary:
        """Voxel size, cm."""
        return point(*self._grid().voxel_size_cm)

    @property
    def NrVoxels(self) -> ExpandoDictionary:
        """Number of voxels along x, y, z."""
        return point(*self._grid().size)

    @property
    def FrameOfReference(self) -> str:
        """Frame of reference UID of the grid."""
        return str(self._grid().frame_of_reference)


class DoseValues(ScriptObject):
    """``dose.DoseValues``: the voxel values of a computed dose."""

    def __init__(self, session: Any, path: str, owner: DoseDistribution) -> None:
        super().__init__(session, path, track=False)
        object.__setattr__(self, "_owner", owner)

    @property
    def DoseData(self) -> np.ndarray:
        """Dose in cGy, shape (nz, ny, nx), x fastest; a new copy on each read (§2 numpyify)."""
        values = self._owner._values_gy()
        if values is None:
            raise ScriptException("The dose has no values.")
        return np.array(values * 100.0, dtype=np.float64)

    @property
    def IsClinical(self) -> bool:
        """True when computed by the final (clinical) dose engine (≤ 12A name)."""
        return bool(self._owner._accurate())

    @property
    def IsAccurate(self) -> bool:
        """True when computed by the final (accurate) dose engine (2024B name, §5.1)."""
        return bool(self._owner._accurate())


class RoiVolumeDistribution(ScriptObject):
    """Where an ROI lies in a dose grid (§6): flat voxel indices and relative volumes."""

    def __init__(
        self, session: Any, path: str, indices: np.ndarray, relative: np.ndarray, total_cc: float
    ) -> None:
        super().__init__(session, path, track=False)
        self._s.update(indices=indices, relative=relative, total=total_cc)

    @property
    def VoxelIndices(self) -> np.ndarray:
        """Indices into ``DoseData.ravel()`` (C order, x fastest) of the voxels the ROI touches."""
        return np.array(self._s["indices"])

    @property
    def RelativeVolumes(self) -> np.ndarray:
        """Share of the ROI volume in each of those voxels (sums to 1)."""
        return np.array(self._s["relative"])

    @property
    def TotalVolume(self) -> float:
        """ROI volume inside the dose grid, cm³."""
        return float(self._s["total"])


class DoseGridRoi(ScriptObject):
    """``dose.GetDoseGridRoi(RoiName=…)``."""

    def __init__(self, session: Any, path: str, distribution: RoiVolumeDistribution) -> None:
        super().__init__(session, path, track=False)
        self._s["distribution"] = distribution

    @property
    def RoiVolumeDistribution(self) -> RoiVolumeDistribution:
        """Voxel indices and relative volumes of the ROI."""
        return self._s["distribution"]  # type: ignore[no-any-return]


class DoseDistribution(ScriptObject):
    """Members every dose type shares (§6). Subclasses provide the values and the grid."""

    def __init__(self, session: Any, path: str, case: Case) -> None:
        super().__init__(session, path)
        object.__setattr__(self, "_case", case)
        object.__setattr__(self, "_values_object", DoseValues(session, f"{path}.DoseValues", self))
        object.__setattr__(self, "_grid_object", DoseGrid(session, f"{path}.InDoseGrid", self._grid))

    # -- provided by subclasses ----------------------------------------------------------
    def _values_gy(self) -> Optional[np.ndarray]:
        """The dose this object represents, Gy, RayStation orientation, or None (not computed)."""
        raise NotImplementedError

    def _grid(self) -> RsGrid:
        raise NotImplementedError

    def _examination(self) -> Examination:
        raise NotImplementedError

    def _accurate(self) -> bool:
        return True

    def _structures_ready(self, roi_name: str) -> bool:
        return True

    # -- helpers -------------------------------------------------------------------------
    def _dvh(self, roi_name: Any) -> DVH:
        values = self._values_gy()
        if values is None:
            raise ScriptException("The dose distribution has no dose values; compute the dose first.")
        structure_set_id, structure = self._case._roi_structure(roi_name, self._examination())
        if not self._structures_ready(str(roi_name)):
            raise ScriptException(
                f"The dose grid structure for ROI '{roi_name}' is not computed; call "
                "UpdateDoseGridStructures() first."
            )
        return grids.dvh(self._session.model, structure_set_id, structure, self._grid(), values)

    # -- RayStation members ----------------------------------------------------------------
    @property
    def DoseValues(self) -> Optional[DoseValues]:
        """The computed values, or None when there is no dose."""
        return None if self._values_gy() is None else self._values_object

    @property
    def InDoseGrid(self) -> DoseGrid:
        """The dose grid (cm)."""
        return self._grid_object  # type: ignore[no-any-return]

    @script_method(write=False)
    def GetDoseStatistic(self, *, RoiName: str, DoseType: str) -> float:
        """Min, Max or Average dose in the ROI, cGy."""
        if DoseType not in DOSE_TYPES:
            raise ScriptException(f"DoseType must be one of {DOSE_TYPES} (got {DoseType!r}).")
        d = self._dvh(RoiName)
        value = {"Min": d.min_gy, "Max": d.max_gy, "Average": d.mean_gy}[DoseType]
        return float(value * 100.0)

    @script_method(write=False)
    def GetDoseAtRelativeVolumes(self, *, RoiName: str, RelativeVolumes: Sequence[float]) -> np.ndarray:
        """Dose (cGy) received by at least each relative volume (fractions 0–1) of the ROI."""
        volumes = _fractions(RelativeVolumes, "RelativeVolumes")
        d = self._dvh(RoiName)
        return np.array([d.dose_at_volume_pct(v * 100.0) * 100.0 for v in volumes])

    @script_method(write=False)
    def GetRelativeVolumeAtDoseValues(self, *, RoiName: str, DoseValues: Sequence[float]) -> np.ndarray:
        """Relative volume (fraction 0–1) of the ROI receiving at least each dose (cGy)."""
        doses = _numbers(DoseValues, "DoseValues")
        d = self._dvh(RoiName)
        return np.array([d.volume_at_dose_pct(v / 100.0) / 100.0 for v in doses])

    @script_method(write=False)
    def GetDoseGridRoi(self, *, RoiName: str) -> DoseGridRoi:
        """The ROI's voxels in this dose grid (§6)."""
        structure_set_id, structure = self._case._roi_structure(RoiName, self._examination())
        if not self._structures_ready(str(RoiName)):
            raise ScriptException(
                f"The dose grid structure for ROI '{RoiName}' is not computed; call "
                "UpdateDoseGridStructures() first."
            )
        occ = grids.occupancy(self._session.model, structure_set_id, structure, self._grid())
        full = np.asarray(occ.fraction).ravel()
        indices = np.flatnonzero(full > 0.0)
        weights = full[indices]
        total = float(weights.sum())
        path = f"{self._path}.GetDoseGridRoi(RoiName={RoiName!r})"
        dist = RoiVolumeDistribution(
            self._session,
            f"{path}.RoiVolumeDistribution",
            indices.astype(np.int32),
            weights / total,
            total * self._grid().voxel_volume_cc,
        )
        return DoseGridRoi(self._session, path, dist)

    @script_method(write=False)
    def InterpolateDoseInPoint(self, *, Point: Any, PointFrameOfReference: str) -> float:
        """Trilinear dose (cGy) at a point ``{'x','y','z'}`` in cm in the given frame of reference."""
        values = self._values_gy()
        if values is None:
            raise ScriptException("The dose distribution has no dose values; compute the dose first.")
        grid = self._grid()
        if PointFrameOfReference != grid.frame_of_reference:
            raise ScriptException(
                f"The point's frame of reference {PointFrameOfReference} is not the dose's "
                f"({grid.frame_of_reference})."
            )
        xyz = np.array([[float(Point["x"]), float(Point["y"]), float(Point["z"])]]) * 10.0
        sampled, _ = grid.engine_grid(values).sample(xyz)
        return float(sampled[0] * 100.0)

    @script_method(write=True, lock=False)
    def UpdateDoseGridStructures(self) -> None:
        """Compute the ROI voxelisations of this dose's grid (needed on evaluation doses)."""
        self._s["structures_ready"] = True


class FractionDose(DoseDistribution):
    """``beam_set.FractionDose``: the dose of ONE fraction of the beam set, cGy (§5.1)."""

    _beam_set: BeamSet

    def __init__(self, session: Any, path: str, case: Case, beam_set: BeamSet) -> None:
        super().__init__(session, path, case)
        object.__setattr__(self, "_beam_set", beam_set)

    def _values_gy(self) -> Optional[np.ndarray]:
        total = self._beam_set._dose_total_gy()
        return None if total is None else total / self._beam_set._fractions()

    def _grid(self) -> RsGrid:
        return self._beam_set._s["grid"]  # type: ignore[no-any-return]

    def _examination(self) -> Examination:
        return self._beam_set._s["examination"]  # type: ignore[no-any-return]

    def _accurate(self) -> bool:
        return bool(self._beam_set._s["accurate"])

    def _lock_reason(self) -> Optional[str]:
        return self._beam_set._lock_reason()

    @property
    def ForBeamSet(self) -> BeamSet:
        """The beam set this is the fraction dose of."""
        return self._beam_set


class CompositeDose(DoseDistribution):
    """``plan.TreatmentCourse.TotalDose``: the plan total over all beam sets and fractions, cGy."""

    _plan: TreatmentPlan

    def __init__(self, session: Any, path: str, case: Case, plan: TreatmentPlan) -> None:
        super().__init__(session, path, case)
        object.__setattr__(self, "_plan", plan)

    def _beam_sets(self) -> List[BeamSet]:
        return list(self._plan._s["beam_sets"])

    def _values_gy(self) -> Optional[np.ndarray]:
        totals = [b._dose_total_gy() for b in self._beam_sets()]
        present = [t for t in totals if t is not None]
        if not totals or len(present) < len(totals):
            return None
        return np.asarray(np.sum(present, axis=0))

    def _grid(self) -> RsGrid:
        return self._beam_sets()[0]._s["grid"]  # type: ignore[no-any-return]

    def _examination(self) -> Examination:
        return self._beam_sets()[0]._s["examination"]  # type: ignore[no-any-return]

    def _accurate(self) -> bool:
        return all(b._s["accurate"] for b in self._beam_sets())

    def _lock_reason(self) -> Optional[str]:
        return self._plan._lock_reason()


class MappedDose(DoseDistribution):
    """An evaluation dose created by ``case.MapDose`` on the reference examination (§7.1, §7.3)."""

    def __init__(
        self,
        session: Any,
        path: str,
        case: Case,
        *,
        name: str,
        values_gy: np.ndarray,
        grid: RsGrid,
        examination: Examination,
        source: DoseDistribution,
        registration: Any,
    ) -> None:
        super().__init__(session, path, case)
        values_gy.flags.writeable = False
        self._s.update(
            name=name,
            values=values_gy,
            grid=grid,
            examination=examination,
            source=source,
            registration=registration,
            structures_ready=False,
        )

    def _key(self) -> str:
        return str(self._s["name"])

    def _values_gy(self) -> Optional[np.ndarray]:
        return self._s["values"]  # type: ignore[no-any-return]

    def _grid(self) -> RsGrid:
        return self._s["grid"]  # type: ignore[no-any-return]

    def _examination(self) -> Examination:
        return self._s["examination"]  # type: ignore[no-any-return]

    def _structures_ready(self, roi_name: str) -> bool:
        return bool(self._s["structures_ready"])

    @property
    def Name(self) -> str:
        """The evaluation dose's name (``'Mapped dose <n>'`` in the stand-in; public-scripts E14)."""
        return str(self._s["name"])

    @property
    def OfDoseDistribution(self) -> DoseDistribution:
        """The dose that was mapped."""
        return self._s["source"]  # type: ignore[no-any-return]

    @property
    def ByStructureRegistration(self) -> Any:
        """The deformable registration used."""
        return self._s["registration"]


def _numbers(values: Any, name: str) -> List[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ScriptException(f"{name} must be a list of numbers (got {values!r}).")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ScriptException(f"{name} must be a list of numbers (got {v!r}).")
        out.append(float(v))
    return out


def _fractions(values: Any, name: str) -> List[float]:
    out = _numbers(values, name)
    bad = [v for v in out if not 0.0 <= v <= 1.0]
    if bad:
        raise ScriptException(f"{name} are fractions between 0 and 1 (got {bad[0]!r}); 95 % is 0.95.")
    return out
