"""Build a :class:`~tps_stubs.patients.model.StubPatient` from its YAML definition.

The definition format is documented in ``tps_stubs/patients/README.md``. The file is read by the
product's strict reader (:mod:`reirrad.inputfiles`); errors in a definition raise
:class:`DefinitionError` (a :class:`reirrad.errors.InputError`, so a ``ValueError``) naming the file and
the key.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from reirrad.bounds import check_date
from reirrad.errors import InputError, echo
from reirrad.inputfiles import read_yaml_file

# The planner module itself (not its names): importing tps_stubs.planner first imports this package
# through planner's own geometry import, and a `from ..planner import name` would then meet a
# half-initialised planner.
from .. import planner
from .geometry import contours_on_plane, signed_distance, transform_points
from .model import (
    APPROVAL_STATUSES,
    PLAN_MODALITIES,
    Beam,
    CourseModel,
    DoseModel,
    ImageModel,
    PlanModel,
    RegistrationModel,
    StructureModel,
    StructureSetModel,
    StubPatient,
)

ANATOMY_DIR = Path(__file__).resolve().parent / "anatomy"
PATIENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A stub patient's id: shown in every view, the result, the report and the audit row (at most 64
characters, as a DICOM Patient ID)."""
MAX_VOXELS = 50_000_000
"""Most voxels of a stub image (the shipped ones have about 2 million)."""
ORIENTATIONS = {"HeadFirstSupine": np.eye(3), "FeetFirstSupine": np.diag([-1.0, 1.0, -1.0])}


class DefinitionError(InputError):
    """A stub-patient definition is malformed."""


def _date(value: Any, where: str) -> Optional[dt.date]:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value)[:40])
        except ValueError:
            raise DefinitionError(f"{where}: expected a date YYYY-MM-DD, got {str(value)[:80]!r}") from None
    try:
        return check_date(where, value)
    except InputError as exc:
        raise DefinitionError(str(exc)) from None


def _whole(value: Any, where: str, *, minimum: int) -> int:
    """A whole number >= ``minimum`` (5 or 5.0; never 5.7 cut to 5, a flag or text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or value < minimum:
        raise DefinitionError(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    return int(value)


def _positive(value: Any, where: str) -> float:
    """A finite number > 0 (never a flag or text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise DefinitionError(f"{where}: expected a number > 0, got {value!r}")
    return float(value)


def _image(raw: Mapping[str, Any], where: str) -> Tuple[ImageModel, Mapping[str, Any]]:
    orientation = raw.get("orientation", "HeadFirstSupine")
    if orientation not in ORIENTATIONS:
        raise DefinitionError(f"{where}.orientation: expected one of {list(ORIENTATIONS)}, "
                              f"got {orientation!r}")
    direction = ORIENTATIONS[orientation]
    if not all(isinstance(raw.get(key), list) and len(raw[key]) == 3 for key in ("spacing_mm", "size")):
        raise DefinitionError(f"{where}: spacing_mm and size need three values each (lists), got "
                              f"{raw.get('spacing_mm')!r} and {raw.get('size')!r}")
    spacing = tuple(_positive(v, f"{where}.spacing_mm[{n}]") for n, v in enumerate(raw["spacing_mm"]))
    size = tuple(_whole(v, f"{where}.size[{n}]", minimum=1) for n, v in enumerate(raw["size"]))
    if math.prod(size) > MAX_VOXELS:
        raise DefinitionError(f"{where}.size: {list(size)} must be >= 1 each and at most {MAX_VOXELS} voxels "
                              "in all")
    centre = np.asarray(raw.get("centre_mm", [0.0, 0.0, 0.0]), float)
    half_extent = np.asarray(spacing) * (np.asarray(size) - 1) / 2.0
    origin = centre - direction @ half_extent
    hu = np.full((size[2], size[1], size[0]), -1000, dtype=np.int16)
    image = ImageModel(id=str(raw["id"]), frame_of_reference_uid=str(raw["frame_of_reference_uid"]),
                       origin_mm=tuple(float(v) for v in origin), spacing_mm=spacing,  # type: ignore[arg-type]
                       size=size, direction=direction, patient_orientation=orientation, hu=hu)  # type: ignore[arg-type]
    return image, raw


def _with_body_hu(image: ImageModel, external: Optional[Mapping[str, Any]],
                  to_shape_frame: Optional[np.ndarray]) -> ImageModel:
    if external is None:
        return image
    pts = planner.dose_grid_points(image.origin_mm, image.spacing_mm, image.size, image.direction)
    if to_shape_frame is not None:
        pts = transform_points(to_shape_frame, pts)
    inside = (signed_distance(external, pts) < 0).reshape(image.hu.shape)
    hu = np.where(inside, 0, -1000).astype(np.int16)
    hu.flags.writeable = False
    return ImageModel(image.id, image.frame_of_reference_uid, image.origin_mm, image.spacing_mm, image.size,
                      image.direction, image.patient_orientation, hu)


def _structures(raw: Mapping[str, Any], anatomy: Mapping[str, Any], image: ImageModel,
                to_shape_frame: Optional[np.ndarray], where: str) -> Tuple[StructureModel, ...]:
    definitions: Dict[str, Any] = {k: v for k, v in anatomy.items() if k not in raw.get("remove", [])}
    definitions.update(raw.get("structures") or {})
    planes = image.plane_z_mm()
    out: List[StructureModel] = []
    for name, spec in definitions.items():
        if "shape" not in spec:
            raise DefinitionError(f"{where}.structures.{name}: needs a 'shape'")
        shape = spec["shape"]
        by_plane: Dict[int, Tuple[np.ndarray, ...]] = {}
        for k, z in enumerate(planes):
            found = contours_on_plane(shape, float(z), to_shape_frame=to_shape_frame)
            if found:
                by_plane[k] = tuple(found)
        out.append(StructureModel(id=str(name), dicom_type=str(spec.get("type", "ORGAN")),
                                  contours_by_plane=by_plane, primitives=(shape,),
                                  color=str(spec.get("color", "yellow"))))
    return tuple(out)


def _matrix(raw: Mapping[str, Any]) -> np.ndarray:
    if "matrix" in raw:
        m = np.asarray(raw["matrix"], float)
        if m.shape != (4, 4):
            raise DefinitionError(f"registration {raw.get('id')}: matrix must be 4x4")
        return m
    angle = math.radians(float(raw.get("rotation_deg_z", 0.0)))
    m = np.eye(4)
    m[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    m[:3, 3] = np.asarray(raw.get("translation_mm", [0.0, 0.0, 0.0]), float)
    return m


def _distance_to_polyline(points_mm: np.ndarray, path_mm: np.ndarray) -> np.ndarray:
    """Distance (mm) of each point (N, 3) to the polyline through ``path_mm`` (M, 3); one vertex: a point."""
    best = np.linalg.norm(points_mm - path_mm[0], axis=1)
    for a, b in zip(path_mm[:-1], path_mm[1:]):
        ab = b - a
        length2 = float(ab @ ab)
        t = np.zeros(len(points_mm)) if length2 == 0.0 else np.clip((points_mm - a) @ ab / length2, 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(points_mm - (a + t[:, None] * ab), axis=1))
    return best


def brachy_dose(dwell_path_mm: Any, points_mm: np.ndarray, prescription_gy: float, *,
                reference_mm: float) -> np.ndarray:
    """A stand-in brachytherapy TOTAL dose in Gy around an applicator.

    D = Rx · min(1, (r_ref / r)²), r the distance (mm) to the polyline through the dwell positions
    ``dwell_path_mm`` (one position: a point source), r_ref = ``reference_mm`` (the prescription
    surface, e.g. point A at 20 mm). Inverse-square fall-off outside the prescription surface; the dose
    inside it is held at Rx (the stand-in does not model the hot region around the dwell positions), so
    an OAR that reaches inside that surface by more than its metric volume has exactly Rx at the metric:
    the numbers of a test can be checked by hand.
    """
    path = np.asarray(dwell_path_mm, dtype=float).reshape(-1, 3)
    if not (math.isfinite(reference_mm) and reference_mm > 0.0) or not np.all(np.isfinite(path)):
        raise DefinitionError(f"brachytherapy dose: reference_mm must be > 0 and the dwell path finite "
                              f"(got {reference_mm!r}, {path.tolist()})")
    r = _distance_to_polyline(np.asarray(points_mm, dtype=float), path)
    return prescription_gy * np.minimum(1.0, (reference_mm / np.maximum(r, 1e-6)) ** 2)


def _modality(raw: Mapping[str, Any], where: str) -> str:
    modality = str(raw.get("modality", "external"))
    if modality not in PLAN_MODALITIES:
        raise DefinitionError(f"{where}.modality: expected one of {PLAN_MODALITIES}, got {modality[:80]!r}")
    if modality == "brachytherapy" and raw.get("beams"):
        raise DefinitionError(f"{where}: a brachytherapy plan has no beams")
    return modality


def _dose_values(d: Mapping[str, Any], raw: Mapping[str, Any], pts: np.ndarray, modality: str,
                 where: str) -> np.ndarray:
    if modality == "brachytherapy":
        if "applicator" not in d:
            raise DefinitionError(f"{where}.dose: a brachytherapy plan's dose needs 'applicator' "
                                  "({dwell_path: [[x, y, z], ...], reference_mm: r})")
        applicator = d["applicator"]
        return brachy_dose(applicator["dwell_path"], pts, float(raw["prescription_gy"]),
                           reference_mm=float(applicator["reference_mm"]))
    components = d.get("components") or [{"target": d["target"], "prescription_gy": raw["prescription_gy"]}]
    return np.max([planner.conformal_dose(c["target"], pts, float(c["prescription_gy"]),
                                          falloff_mm=float(c.get("falloff_mm", d.get("falloff_mm", 8.0))),
                                          bath_fraction=float(d.get("bath_fraction", 0.1)),
                                          bath_mm=float(d.get("bath_mm", 40.0)))
                   for c in components], axis=0)


def _plan(raw: Mapping[str, Any], course_id: str, images: Mapping[str, ImageModel],
          to_planning: Mapping[str, Optional[np.ndarray]], where: str) -> PlanModel:
    approval = raw.get("approval", "UnApproved")
    if approval not in APPROVAL_STATUSES:
        raise DefinitionError(f"{where}.approval: expected one of {APPROVAL_STATUSES}, got {approval!r}")
    modality = _modality(raw, where)
    n_fx, rx = raw.get("n_fractions"), raw.get("prescription_gy")  # checked before the dose uses them
    n_fractions = None if n_fx is None else _whole(n_fx, f"{where}.n_fractions", minimum=1)
    prescription_gy = None if rx is None else _positive(rx, f"{where}.prescription_gy")
    image = images[str(raw["image"])]
    dose = None
    if raw.get("dose"):
        d = raw["dose"]
        origin, spacing, size = planner.dose_grid_for(image, float(d.get("spacing_mm", 2.5)))
        pts = planner.dose_grid_points(origin, spacing, size, image.direction)
        m = to_planning.get(image.id)
        if m is not None:
            pts = transform_points(m, pts)
        values = _dose_values(d, raw, pts, modality, where).reshape(size[2], size[1], size[0])
        values.flags.writeable = False
        dose = DoseModel(origin, spacing, size, image.direction, values)
    return PlanModel(
        id=str(raw["id"]), course_id=course_id, image_id=image.id,
        structure_set_id=str(raw.get("structure_set", image.id)), target_id=raw.get("target"),
        n_fractions=n_fractions, prescription_gy=prescription_gy,
        approval_status=approval,
        beams=tuple(Beam(id=str(b)) if not isinstance(b, Mapping) else
                    Beam(id=str(b["id"]), gantry_angle_deg=float(b.get("gantry_deg", 0.0)),
                         technique=str(b.get("technique", "ARC")),
                         mlc_id=None if b.get("mlc", Beam.mlc_id) is None else str(b.get("mlc", Beam.mlc_id)))
                    for b in raw.get("beams", [])),
        dose=dose, first_fraction=_date(raw.get("first_fraction"), f"{where}.first_fraction"),
        last_fraction=_date(raw.get("last_fraction"), f"{where}.last_fraction"),
        modality=modality,
    )


def read_definition(path: Path) -> Mapping[str, Any]:
    """The mapping of a definition file, read by the strict reader.

    Raises
    ------
    reirrad.errors.InputError
        The file cannot be read or breaks a rule of the reader (:class:`DefinitionError` when it is not a
        mapping with an ``id``).
    """
    raw = read_yaml_file(path, "stub patient file")
    if not isinstance(raw, Mapping) or "id" not in raw:
        raise DefinitionError(f"stub patient file {path}: expected a mapping with 'id', 'images', "
                              "'structure_sets', 'courses', 'current' (see tps_stubs/patients/README.md)")
    if not isinstance(raw["id"], str) or not PATIENT_ID_RE.match(raw["id"]):
        raise DefinitionError(f"stub patient file {path}: id must be 1-64 letters, digits, '.', '_' or '-' "
                              f"starting with a letter or digit (it is the patient id every view shows), got "
                              f"{echo(raw['id'])}")
    return raw


def build_patient(path: Path) -> StubPatient:
    """Read and build one definition file.

    Raises
    ------
    DefinitionError
        The definition is malformed (a missing key, a value of the wrong type or shape).
    reirrad.errors.InputError
        The file (or its anatomy file) cannot be read, or breaks a rule of the strict reader.
    """
    raw = read_definition(path)
    where = str(path)
    try:
        return _build(raw, where)
    except InputError:
        raise
    except KeyError as exc:
        raise DefinitionError(f"{where}: missing key {exc}") from None
    except (TypeError, AttributeError, IndexError, ValueError) as exc:
        raise DefinitionError(f"{where}: malformed definition ({type(exc).__name__}: {str(exc)[:200]}); "
                              "see tps_stubs/patients/README.md") from None


def _build(raw: Mapping[str, Any], where: str) -> StubPatient:
    try:
        anatomy: Mapping[str, Any] = {}
        if raw.get("anatomy"):
            name = str(raw["anatomy"])
            if not name.replace("-", "").replace("_", "").isalnum():
                raise DefinitionError(f"{where}: anatomy {name[:80]!r} must name a file of {ANATOMY_DIR}")
            anatomy = read_yaml_file(ANATOMY_DIR / f"{name}.yaml", "stub anatomy file")
        built = [_image(i, f"{where}: images[{n}]") for n, i in enumerate(raw["images"])]
        planning_for = built[0][0].frame_of_reference_uid
        registrations = tuple(
            RegistrationModel(id=str(r["id"]), source_for=str(r["source_for"]),
                              target_for=str(r["target_for"]), matrix=_matrix(r))
            for r in raw.get("registrations", []))
        # image id -> matrix mapping its frame to the planning frame (None: same frame)
        to_planning: Dict[str, Optional[np.ndarray]] = {}
        for image, _ in built:
            if image.frame_of_reference_uid == planning_for:
                to_planning[image.id] = None
                continue
            reg = next((r for r in registrations if r.source_for == image.frame_of_reference_uid
                        and r.target_for == planning_for), None)
            if reg is None:
                raise DefinitionError(f"{where}: image {image.id} is in another frame of reference and no "
                                      "registration maps it to the planning frame")
            to_planning[image.id] = reg.matrix
        external = anatomy.get("External", {}).get("shape")
        images = {img.id: _with_body_hu(img, external, to_planning[img.id]) for img, _ in built}
        structure_sets = tuple(
            StructureSetModel(
                id=str(ss["id"]), image_id=str(ss["image"]), approved=bool(ss.get("approved", False)),
                structures=_structures(ss, anatomy, images[str(ss["image"])], to_planning[str(ss["image"])],
                                       f"{where}: structure_sets[{n}]"))
            for n, ss in enumerate(raw["structure_sets"]))
        courses = tuple(
            CourseModel(id=str(c["id"]),
                        plans=tuple(_plan(p, str(c["id"]), images, to_planning,
                                          f"{where}: courses[{n}].plans[{m}]")
                                    for m, p in enumerate(c["plans"])),
                        start=_date(c.get("start"), f"{where}: courses[{n}].start"),
                        end=_date(c.get("end"), f"{where}: courses[{n}].end"))
            for n, c in enumerate(raw["courses"]))
        patient = StubPatient(
            id=str(raw["id"]), name=str(raw.get("name", raw["id"])),
            description=str(raw.get("description", "")),
            dose_unit=str(raw.get("dose_unit", "Gy")), images=tuple(images.values()),
            structure_sets=structure_sets, courses=courses, registrations=registrations,
            current_course_id=str(raw["current"]["course"]), current_plan_id=str(raw["current"]["plan"]),
            planned_start=_date(raw["planned_start"], f"{where}: planned_start") or dt.date.today(),
            expectations=dict(raw.get("expectations") or {}),
            optimiser=dict(raw.get("optimiser") or {}),
        )
    except KeyError as exc:
        raise DefinitionError(f"{where}: missing key {exc}") from None
    if patient.dose_unit not in ("Gy", "cGy"):
        raise DefinitionError(f"{where}: dose_unit must be Gy or cGy, got {patient.dose_unit!r}")
    try:  # the stand-in optimiser's settings, checked when the definition is read (not at the first run)
        planner.OptimiserSettings.of(patient)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{where}: optimiser: {exc}") from None
    patient.current_plan  # noqa: B018 - raises KeyError if the current plan is missing
    return patient
