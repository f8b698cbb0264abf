"""A TPS-less stand-in: the engine's ports implemented straight over the neutral stub model.

No TPS API is involved, so this is the fastest way to exercise the workflow (tests of the engine's
search logic, the optimisation-count benchmark). A brachytherapy plan of the stub patient is a prior
course like any other, with its own fractions and last fraction, its modality recorded. The TPS
stand-ins (``tps_stubs.esapi``, ``tps_stubs.raystation``) with the real adapters are what check the
TPS integration.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from reirrad.dose import DoseGrid
from reirrad.errors import OptimisationError
from reirrad.priors import PriorPlanCandidate, select_prior_plans
from reirrad.roi_algebra import Lattice, Mask, evaluate, mask_occupancy
from reirrad.snapshot import CaseSnapshot, PlanInfo, PriorCourse, StructureData
from reirrad.structures import Occupancy, structure_occupancy
from reirrad_tps.eclipse.source import TREATMENT_APPROVED

from .patients import load_patient
from .patients.model import StubPatient
from .planner import Optimiser, OptimiserError, PlannerObjective, dose_grid_for

__all__ = ["DirectCase", "DirectPlanner"]

LOCKED = ("PlanningApproved", "TreatmentApproved", "Completed", "CompletedEarly", "Retired")


class DirectCase:
    """``CaseSource`` over a stub patient (ids or YAML path)."""

    def __init__(self, patient: Any, dose_spacing_mm: float = 2.5) -> None:
        self.patient: StubPatient = patient if isinstance(patient, StubPatient) else load_patient(patient)
        self.dose_spacing_mm = dose_spacing_mm

    def read(self) -> CaseSnapshot:
        """The snapshot of the stub patient's current plan."""
        p = self.patient
        plan = p.current_plan
        image = p.image(plan.image_id)
        sset = p.structure_set(plan.structure_set_id)
        origin, spacing, size = dose_grid_for(image, self.dose_spacing_mm)
        grid = DoseGrid(np.zeros((size[2], size[1], size[0])), origin, spacing, image.direction,
                        frame_of_reference_uid=image.frame_of_reference_uid)
        structures = tuple(StructureData(s.id, s.dicom_type, s.all_contours(), image.frame_of_reference_uid)
                           for s in sset.structures)
        selection = select_prior_plans(self._candidates())
        chosen = {(c.course_id, c.plan_id) for c in selection.selected}
        priors = []
        for prior in (q for c in p.courses for q in c.plans if (c.id, q.id) in chosen):
            assert prior.dose is not None and prior.n_fractions is not None
            prior_image = p.image(prior.image_id)
            matrix = None
            reg_id = None
            if prior_image.frame_of_reference_uid != image.frame_of_reference_uid:
                reg = next(r for r in p.registrations if r.source_for == prior_image.frame_of_reference_uid)
                matrix, reg_id = np.linalg.inv(reg.matrix), reg.id  # planning -> prior frame
            d = prior.dose
            priors.append(PriorCourse(
                prior.course_id, prior.id,
                DoseGrid(d.values_gy, d.origin_mm, d.spacing_mm, d.direction,
                         frame_of_reference_uid=prior_image.frame_of_reference_uid),
                prior.n_fractions, prior.last_fraction, matrix, reg_id, prior.approval_status,
                prior.prescription_gy,
                last_fraction_source="unknown" if prior.last_fraction is None else "treatment-record",
                modality=prior.modality))
        info = PlanInfo(plan.id, plan.course_id, plan.n_fractions, plan.prescription_gy, plan.target_id,
                        bool(plan.beams), plan.approval_status, plan.approval_status not in LOCKED)
        return CaseSnapshot(p.id, image.frame_of_reference_uid, structures, info, grid, tuple(priors),
                            p.planned_start, "direct-stub", "n/a", source_findings=selection.findings,
                            prior_plan_selection=selection.record)

    def _candidates(self) -> List[PriorPlanCandidate]:
        """Every plan but the current one, for the engine's prior-plan rule (the stub patients use
        Eclipse's approval vocabulary; a delivered plan has its first-fraction date)."""
        p = self.patient
        out = []
        for course in p.courses:
            for plan in course.plans:
                if (course.id, plan.id) == (p.current_course_id, p.current_plan_id):
                    continue
                out.append(PriorPlanCandidate(
                    course_id=course.id, plan_id=plan.id, same_course_as_new=course.id == p.current_course_id,
                    approval_status=plan.approval_status,
                    approved=plan.approval_status in TREATMENT_APPROVED,
                    treated=plan.first_fraction is not None, has_dose=plan.dose is not None,
                    last_fraction=plan.last_fraction,
                    last_fraction_source="unknown" if plan.last_fraction is None else "treatment-record"))
        return out


class DirectPlanner:
    """``Planner`` over the stand-in optimiser (:class:`tps_stubs.planner.Optimiser`); records every call
    in ``journal``.

    Like both TPS adapters (RayStation's ``ResetOptimization`` before each new set of objectives, ESAPI's
    ``RestartOptimization``), every optimisation starts cold unless ``warm_start`` is set. A failure of
    the stand-in optimiser (the patient's ``optimiser.fail_on``) is raised as the engine's
    :class:`reirrad.errors.OptimisationError`, as the adapters raise it.

    With ``make_structures`` it is also a :class:`reirrad.ports.StructureMaker` (off by default, so the
    engine's search tests keep their plain objectives). Having no TPS, it computes each structure with
    **the engine's own model** (:mod:`reirrad.roi_algebra` on the engine's occupancies of the stub
    contours), so its volumes equal the engine's expected volumes: it exercises the workflow, it is not an
    independent check of them (the TPS stand-ins with the real adapters are). The optimiser gets each
    structure as the dose voxels at least half inside it. It also writes outlined (low-tolerance)
    structures (:class:`reirrad.ports.OutlineMaker`): the engine's occupancy of their contours. Calls
    go to ``structure_journal`` (not ``journal``, whose length ``fail_on_call`` counts).
    """

    def __init__(self, case: DirectCase, *, fail_on_call: Optional[int] = None,
                 warm_start: bool = False, make_structures: bool = False) -> None:
        self.case = case
        self.journal: List[Dict[str, Any]] = []
        self._rx: Optional[float] = None
        self._objectives: List[PlannerObjective] = []
        self._dose: Optional[DoseGrid] = None
        self._fail_on_call = fail_on_call
        self._optimiser = Optimiser(case.patient)
        self._warm = bool(warm_start)
        self.structure_journal: List[Dict[str, Any]] = []
        self.made: Dict[str, np.ndarray] = {}  # created structure -> its dose voxels (flat boolean)
        self._occupancies: Dict[str, Occupancy] = {}
        self._masks: Dict[str, Mask] = {}
        self.structures_locked: Optional[str] = None  # set by tests: why the structure set is locked
        if make_structures:
            self.structures_not_writable = self._structures_not_writable  # type: ignore[method-assign]
            self.owned_structure_ids = self._owned_structure_ids  # type: ignore[method-assign]
            self.make_structures = self._make_structures  # type: ignore[method-assign]
            self.make_outlined_structures = self._make_outlined_structures  # type: ignore[attr-defined]

    def _record(self, member: str, **args: Any) -> None:
        self.journal.append({"member": member, **args})
        if self._fail_on_call is not None and len(self.journal) >= self._fail_on_call:
            raise RuntimeError(f"injected optimiser failure at call {len(self.journal)} ({member})")

    def set_prescription(self, dose_gy: float, n_fractions: int) -> None:
        """Record the TOTAL prescription."""
        self._record("set_prescription", dose_gy=dose_gy, n_fractions=n_fractions)
        self._rx = dose_gy

    def write_objectives(self, objectives: Sequence[Any]) -> None:
        """Keep the objectives (TOTAL Gy) for the next optimisation."""
        self._record("write_objectives", count=len(objectives))
        self._objectives = [PlannerObjective(o.structure_id, o.kind, o.dose_gy, o.volume_pct, o.priority)
                            for o in objectives]

    def optimise(self) -> None:
        """Run the stand-in planner."""
        self._record("optimise")
        p = self.case.patient
        plan = p.current_plan
        image = p.image(plan.image_id)
        if self._rx is None or plan.target_id is None:
            raise RuntimeError("no prescription set")
        try:
            dose = self._optimiser.run(structure_set_id=plan.structure_set_id, target_id=plan.target_id,
                                       prescription_gy=self._rx, objectives=self._objectives,
                                       grid=dose_grid_for(image, self.case.dose_spacing_mm),
                                       direction=image.direction, warm=self._warm,
                                       masks=self.made)
        except OptimiserError as exc:
            raise OptimisationError(f"the optimiser failed: {exc}") from None
        self._dose = DoseGrid(dose.values_gy, dose.origin_mm, dose.spacing_mm, dose.direction,
                              frame_of_reference_uid=image.frame_of_reference_uid)

    def compute_dose(self) -> DoseGrid:
        """The dose of the last optimisation."""
        self._record("compute_dose")
        if self._dose is None:
            raise RuntimeError("optimise first")
        return self._dose

    def normalise(self, target_id: str, dose_gy: float, volume_pct: float) -> None:
        """Record the normalisation (no scaling: the evaluated dose is the plan's dose)."""
        self._record("normalise", target_id=target_id, dose_gy=dose_gy, volume_pct=volume_pct)

    # --------------------------------------------------------------------------------------
    # StructureMaker (only with make_structures=True; see the class docstring)

    def _structures_not_writable(self) -> Optional[str]:
        return self.structures_locked

    def _owned_structure_ids(self, prefix: str) -> List[str]:
        return [name for name in self.made if name.startswith(prefix)]

    def _make_structures(self, structures: Sequence[Any], prefix: str) -> Dict[str, float]:
        if self.structures_locked:
            raise RuntimeError(f"the structure set is locked: {self.structures_locked}")
        snapshot = self.case.read()
        grid = snapshot.dose_grid
        clinician = {s.id.lower(): s for s in snapshot.structures}
        lattice = Lattice.of(grid)
        volumes: Dict[str, float] = {}
        for s in structures:
            if s.name.lower() in clinician or not s.name.startswith(prefix):
                raise ValueError(f"{s.name!r} is a clinician's structure; the direct stand-in never edits it")
            sources = [n for e in (s.operation.a, s.operation.b) if e is not None for n in e.sources]
            for name in sources:
                if name not in self._occupancies and name not in self._masks:
                    data = clinician[name.lower()]
                    self._occupancies[name] = structure_occupancy(data.contours_mm, grid, name=name)
            mask = evaluate(s.operation, self._occupancies, self._masks, lattice)
            self._masks[s.name] = mask
            occupancy = mask_occupancy(mask, lattice)
            self.structure_journal.append({"member": "make_structure", "name": s.name,
                                           "update": s.name in self.made})
            self.made[s.name] = (occupancy.fraction >= 0.5).ravel()
            volumes[s.name] = mask.volume_cc(lattice)
        return volumes

    def _make_outlined_structures(self, structures: Sequence[Any], prefix: str) -> Dict[str, float]:
        if self.structures_locked:
            raise RuntimeError(f"the structure set is locked: {self.structures_locked}")
        snapshot = self.case.read()
        clinician = {s.id.lower() for s in snapshot.structures}
        volumes: Dict[str, float] = {}
        for s in structures:
            if s.name.lower() in clinician or not s.name.startswith(prefix):
                raise ValueError(f"{s.name!r} is a clinician's structure; the direct stand-in never edits it")
            occupancy = structure_occupancy(s.contours_mm, snapshot.dose_grid, name=s.name,
                                            plane_spacing_mm=s.plane_spacing_mm)
            self.structure_journal.append({"member": "make_outlined_structure", "name": s.name,
                                           "update": s.name in self.made})
            self.made[s.name] = (np.asarray(occupancy.fraction) >= 0.5).ravel()
            volumes[s.name] = occupancy.volume_cc
        return volumes
