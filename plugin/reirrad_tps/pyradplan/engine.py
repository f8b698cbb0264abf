"""The only module that imports pyRadPlan (and SimpleITK), lazily: a case's dose-influence matrix, fluence
optimisations on it, and dose.

:class:`EngineSession` builds pyRadPlan's CT and structure set from a :class:`.phantom.PlanningVolume`,
generates the beams' steering information and computes the dose-influence matrix **once**; every
optimisation afterwards only rebuilds the structure set's objectives (a new prescription level changes
nothing else). Doses here are pyRadPlan's, Gy **per fraction** (:mod:`.objectives` converts).

pyRadPlan reports progress bars (tqdm), log warnings and Python warnings of its own (e.g. "GPU not
available, CPU used", "no dose engine specified: SVDPB"); they are silenced while it runs so that the
command line prints only reirrad's lines.

Structures reirrad makes (:meth:`EngineSession.put_structure`; the optimisation structures of
``docs/optimisation-structures.md``) are masks on the planning volume's grid added to pyRadPlan's structure
set next to the planning structures, which are never replaced.

Overlapping structures
----------------------
pyRadPlan, like matRad, resolves overlapping VOIs by an **overlap priority** before it optimises (pyRadPlan
0.5.0): every VOI has ``overlap_priority`` (``cst/_voi.py`` lines 22 and 81-83: default ``TARGET`` 0,
``OAR`` 5, ``HELPER`` 10, ``EXTERNAL`` 15; a lower number wins), and
``StructureSet.apply_overlap_priorities`` (``cst/_cst.py`` lines 577-618) removes from each VOI, in
increasing priority, every voxel of the VOIs of a *strictly lower* number (VOIs of equal number keep their
shared voxels). The optimisation problem calls it in ``_initialize`` when its ``apply_overlap`` is set,
the default (``optimization/problems/_optiprob.py`` lines 120 and 292-294), and each objective then acts
on its VOI's remaining voxels (``_collect_objectives``, lines 240 and 267, ``voi.indices_numpy``). With
that resolution an OAR VOI loses every voxel inside the target VOI (its maximum objective never sees a hot
voxel there, which reirrad's evaluation of the organ counts), and a structure made inside the PTV as an OAR
VOI (``zRR_PTV_opt``) would lose all of them: its coverage objective would count nothing.

This backend switches that resolution off (``prop_opt["apply_overlap"] = False``): every objective acts on
its structure's **whole mask** (the clinician's OARs too, inside the PTV), as reirrad evaluates each
structure on its own occupancy and as the TPS optimisers apply an objective to its whole ROI. The
optimisation target (role ``target-opt``) is also a ``Target`` VOI. The voxels each objective acted on in
the last optimisation, read back from pyRadPlan's problem, are :attr:`EngineSession.objective_voxels`. The
dose-influence matrix is computed once, for the voxels of the structures present then (the union of the
VOIs, ``dose/engines/_base.py`` lines 511-514): the body is one of them, so a structure made later inside
the body has its dose; outside the body it has none.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from reirrad.errors import InputError

from .objectives import EngineObjective
from .phantom import MadeStructures, PlanningVolume

__all__ = ["EXTRA_MISSING", "EngineSession", "EngineSettings", "engine_version", "load_pyradplan"]

#: One line when the extra is not installed (never a traceback).
EXTRA_MISSING = ("the pyradplan backend needs pyRadPlan, which is not installed: pip install "
                 "'reirrad[pyradplan]' (it pins pydantic<2.12; from a clone, 'make pytest-pyradplan' builds "
                 ".venv-pyradplan)")
#: pydantic releases with which pyRadPlan 0.5.0's calc_dose_influence fails (serialiser TypeError).
_PYDANTIC_BAD = (2, 12)


def _equidistant(n: int) -> Tuple[float, ...]:
    return tuple(round(360.0 * k / n, 2) for k in range(n))


#: Default beams (equidistant, coplanar) and beamlet width (mm) of ``--tps pyradplan``.
DEFAULT_BEAMS = 7
DEFAULT_BIXEL_MM = 10.0


@dataclass(frozen=True)
class EngineSettings:
    """The plan pyRadPlan optimises.

    Attributes
    ----------
    gantry_angles_deg : tuple of float
        Coplanar photon beams (couch 0°); default 7 equidistant beams from 0°.
    bixel_width_mm : float
        Fluence element (beamlet) width, mm.
    max_iter : int
        Iteration cap of the optimiser (scipy L-BFGS-B).
    machine : str
        pyRadPlan's photon machine (its shipped ``Generic`` 6 MV machine).
    """

    gantry_angles_deg: Tuple[float, ...] = field(default_factory=lambda: _equidistant(DEFAULT_BEAMS))
    bixel_width_mm: float = DEFAULT_BIXEL_MM
    max_iter: int = 300
    machine: str = "Generic"

    def __post_init__(self) -> None:
        if not self.gantry_angles_deg or any(not 0.0 <= a < 360.0 for a in self.gantry_angles_deg):
            raise InputError(f"gantry angles must be in [0, 360) degrees (got {self.gantry_angles_deg})")
        if not 2.0 <= self.bixel_width_mm <= 20.0:
            raise InputError(f"bixel width must be 2 to 20 mm (got {self.bixel_width_mm:g})")

    @classmethod
    def with_beams(cls, n_beams: int, **kwargs: Any) -> EngineSettings:
        """``n_beams`` equidistant coplanar beams (3 to 15)."""
        if not 3 <= n_beams <= 15:
            raise InputError(f"--beams must be 3 to 15 (got {n_beams})")
        return cls(gantry_angles_deg=_equidistant(n_beams), **kwargs)

    def as_record(self) -> Dict[str, Any]:
        """For the result JSON."""
        return {"machine": self.machine, "gantry_angles_deg": list(self.gantry_angles_deg),
                "couch_angles_deg": [0.0] * len(self.gantry_angles_deg),
                "bixel_width_mm": self.bixel_width_mm,
                "optimiser": "scipy L-BFGS-B", "max_iter": self.max_iter}


def engine_version() -> str:
    """The installed pyRadPlan's version (``"not installed"`` when absent)."""
    try:
        return importlib.metadata.version("pyradplan")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyRadPlan's own warnings and progress bars off while it runs."""
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    log = logging.getLogger("pyRadPlan")  # "no engine specified, using SVDPB" and the like
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore",
                                    module=r"(pyRadPlan|pydantic|numpydantic|SimpleITK|scipy)(\.|$)")
            warnings.filterwarnings("ignore", message=r".*GPU.*")
            # numpy's "invalid value encountered" from pyRadPlan's Siddon ray tracer (rays parallel to a
            # grid axis give NaN steps, which it discards); scoped to pyRadPlan's calls
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            yield
    finally:
        log.setLevel(level)
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before


def load_pyradplan() -> SimpleNamespace:
    """pyRadPlan's entry points and SimpleITK, imported now.

    Raises
    ------
    reirrad.errors.InputError
        pyRadPlan is not installed (:data:`EXTRA_MISSING`), or pydantic is 2.12 or newer (pyRadPlan 0.5.0
        then fails in calc_dose_influence).
    """
    if importlib.util.find_spec("pyRadPlan") is None:
        raise InputError(EXTRA_MISSING)
    try:
        pydantic_version = importlib.metadata.version("pydantic")
    except importlib.metadata.PackageNotFoundError:
        pydantic_version = "0"
    if tuple(int(p) for p in pydantic_version.split(".")[:2] if p.isdigit()) >= _PYDANTIC_BAD:
        raise InputError(f"pydantic {pydantic_version} is installed; pyRadPlan 0.5.0 fails with pydantic "
                         ">= 2.12 (calc_dose_influence): pip install 'pydantic<2.12' (the pyradplan extra "
                         "pins it)")
    try:
        with _quiet():
            prp = importlib.import_module("pyRadPlan")
            ct_mod = importlib.import_module("pyRadPlan.ct")
            cst_mod = importlib.import_module("pyRadPlan.cst")
            voi_mod = importlib.import_module("pyRadPlan.cst._voi")
            problems_mod = importlib.import_module("pyRadPlan.optimization.problems")
            sitk = importlib.import_module("SimpleITK")
    except ImportError:
        raise InputError(EXTRA_MISSING) from None
    return SimpleNamespace(PhotonPlan=prp.PhotonPlan, generate_stf=prp.generate_stf,
                           calc_dose_influence=prp.calc_dose_influence,
                           fluence_optimization=prp.fluence_optimization,
                           get_problem_from_pln=problems_mod.get_problem_from_pln, create_ct=ct_mod.create_ct,
                           StructureSet=cst_mod.StructureSet, Target=voi_mod.Target, OAR=voi_mod.OAR,
                           sitk=sitk)


class EngineSession:
    """One case in pyRadPlan: CT, beams and dose-influence matrix (computed at construction).

    Parameters
    ----------
    volume : PlanningVolume
    settings : EngineSettings
    n_fractions : int
        Recorded in pyRadPlan's plan (its optimisation does not use it: :mod:`.objectives`).

    Attributes
    ----------
    dose_influence_s : float
        Wall time of the steering information and dose-influence matrix, s.
    optimisation_s : list of float
        Wall time of each optimisation, s.
    n_bixels : int
    """

    def __init__(self, volume: PlanningVolume, settings: EngineSettings, n_fractions: int) -> None:
        self.volume = volume
        self.settings = settings
        self.optimisation_s: List[float] = []
        #: Structure id -> voxels pyRadPlan's objectives acted on in the last optimisation.
        self.objective_voxels: Dict[str, int] = {}
        #: reirrad's structures (:meth:`put_structure`), apart from the planning structures.
        self.made = MadeStructures(volume)
        self._m = load_pyradplan()
        sitk = self._m.sitk
        grid = volume.grid
        with _quiet():
            image = sitk.GetImageFromArray(np.asarray(volume.hu, dtype=np.int16))
            image.SetSpacing(tuple(float(s) for s in grid.spacing_mm))
            image.SetOrigin(tuple(float(o) for o in grid.origin_mm))
            self._image = image
            self._ct = self._m.create_ct(cube_hu=image)
            self._mask_images = {k: self._mask_image(m) for k, m in volume.masks.items()}
            pln = self._m.PhotonPlan(machine=settings.machine)
            pln.num_of_fractions = int(n_fractions)
            n = len(settings.gantry_angles_deg)
            pln.prop_stf = {"gantry_angles": list(settings.gantry_angles_deg), "couch_angles": [0.0] * n,
                            "bixel_width": float(settings.bixel_width_mm)}
            sx, sy, sz = grid.spacing_mm
            pln.prop_dose_calc = {"dose_grid": {"resolution": {"x": sx, "y": sy, "z": sz}}}
            # every objective on its structure's whole mask (module docstring, "Overlapping structures")
            pln.prop_opt = {"solver": "scipy", "max_iter": int(settings.max_iter), "display": False,
                            "apply_overlap": False}
            self._pln = pln
            start = time.perf_counter()
            cst = self._structure_set({})
            self._stf = self._m.generate_stf(self._ct, cst, pln)
            self._dij = self._m.calc_dose_influence(self._ct, cst, self._stf, pln)
            self.dose_influence_s = time.perf_counter() - start
        self.n_bixels = int(self._dij.total_num_of_bixels)

    def _mask_image(self, mask: NDArray[np.bool_]) -> Any:
        image = self._m.sitk.GetImageFromArray(np.asarray(mask, dtype=np.uint8))
        image.CopyInformation(self._image)
        return image

    @property
    def made_structure_ids(self) -> List[str]:
        """The structures added by :meth:`put_structure`, in the order first added."""
        return self.made.ids

    def put_structure(self, structure_id: str, mask: NDArray[np.bool_], *, prefix: str,
                      target: bool = False) -> int:
        """Add reirrad's structure ``structure_id`` to pyRadPlan's structure set, or replace its mask when
        this session added it (:meth:`.phantom.MadeStructures.put`: a planning structure's name, or one
        without ``prefix``, is refused and nothing changes). ``target``: a ``Target`` VOI (the optimisation
        target) rather than an ``OAR`` VOI; with the overlap resolution off (module docstring) the type
        decides no voxel. An empty mask keeps the name reirrad's but puts no VOI in pyRadPlan's structure
        set; an objective on it is refused by :meth:`optimise`. Returns the voxels in the mask."""
        count = self.made.put(structure_id, mask, prefix=prefix, target=target)
        if count:
            with _quiet():
                self._mask_images[structure_id] = self._mask_image(self.made.mask(structure_id))
        else:
            self._mask_images.pop(structure_id, None)
        return count

    def structure_mask(self, structure_id: str) -> NDArray[np.bool_]:
        """The mask of a planning structure or of one reirrad added, [z, y, x] on ``volume.grid``."""
        if structure_id in self.made.ids:
            return self.made.mask(structure_id)
        return np.asarray(self.volume.masks[structure_id])

    def _structure_set(self, objectives: Mapping[str, Sequence[EngineObjective]]) -> Any:
        vois = []
        for sid, image in self._mask_images.items():
            target = sid == self.volume.target_id or self.made.is_target(sid)
            kind = self._m.Target if target else self._m.OAR
            vois.append(kind(name=sid, mask=image, ct_image=self._ct,
                             objectives=[dict(o) for o in objectives.get(sid, ())]))
        return self._m.StructureSet(vois=vois, ct_image=self._ct)

    def optimise(self, objectives: Mapping[str, Sequence[EngineObjective]]) -> NDArray[np.float64]:
        """Optimal fluence weights (one per bixel) for ``objectives`` (per structure id, per fraction Gy).

        Raises
        ------
        reirrad.errors.InputError
            An objective on a structure that has no mask in the planning volume.
        """
        unknown = sorted(set(objectives) - set(self._mask_images))
        if unknown:
            raise InputError(f"objectives on structures without voxels on the dose grid: {unknown}")
        start = time.perf_counter()
        with _quiet():
            cst = self._structure_set(objectives)
            # pyRadPlan's fluence_optimization without its wrapper, to read back the VOIs it optimised
            problem = self._m.get_problem_from_pln(self._pln)
            weights, _ = problem.solve(self._ct, cst, self._stf, self._dij)
        self.optimisation_s.append(time.perf_counter() - start)
        optimised = getattr(problem, "_cst", None)  # after its overlap step and resampling
        self.objective_voxels = {
            str(v.name): int(np.size(v.indices_numpy)) for v in getattr(optimised, "vois", ())
            if v.objectives}
        return np.asarray(weights, dtype=np.float64)

    def dose_per_fraction(self, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        """pyRadPlan's dose of ``weights`` on the planning volume's grid, [z, y, x], Gy per fraction."""
        with _quiet():
            result = self._dij.compute_result_ct_grid(np.asarray(weights, dtype=np.float64))
            values = self._m.sitk.GetArrayFromImage(result["physical_dose"])
        out = np.asarray(values, dtype=np.float64)
        if out.shape != self.volume.grid.shape:
            raise RuntimeError(f"pyRadPlan returned a dose of shape {out.shape} for a CT of "
                               f"{self.volume.grid.shape}")
        return np.maximum(out, 0.0)

    def record(self) -> Dict[str, Any]:
        """Timings and sizes, for the result JSON and the benchmark."""
        return {"engine": "pyRadPlan", "version": engine_version(), **self.settings.as_record(),
                "dose_grid_mm": list(self.volume.grid.spacing_mm), "bixels": self.n_bixels,
                "ct": self.volume.ct_source, "body_structure": self.volume.body_id,
                "bone_structures": list(self.volume.bone_ids),
                "dose_influence_s": round(self.dose_influence_s, 2),
                "optimisation_s": [round(t, 2) for t in self.optimisation_s]}


def describe_missing() -> Optional[str]:
    """Why the backend cannot run here (one line), or None when pyRadPlan can be imported."""
    try:
        load_pyradplan()
    except InputError as exc:
        return str(exc)
    return None
