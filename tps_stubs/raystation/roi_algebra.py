"""ROI margins and ROI algebra of the RayStation stand-in (docs/reference/raystation.md §9).

``roi.CreateMarginGeometry(Examination, SourceRoiName, MarginSettings)`` and
``roi.CreateAlgebraGeometry(Examination, Algorithm, ExpressionA, ExpressionB, ResultOperation,
ResultMarginSettings)`` are evaluated here; :mod:`.rois` holds the calls themselves.

Semantics (sources in DEVIATIONS.md)
------------------------------------
* **Units and directions.** Margins are in cm (§9). They are applied in DICOM patient coordinates
  (§5.3: x towards the patient's left, y posterior, z superior): ``Right`` grows towards −x,
  ``Left`` +x, ``Anterior`` −y, ``Posterior`` +y, ``Inferior`` −z, ``Superior`` +z.
* **Margin shape.** A margin with radii r per direction moves each face of a box by its own radius;
  between the axes the kernel is an ellipsoid per octant (the six radii are its semi-axes), so an
  isotropic margin is a ball. ``Expand`` is a dilation by that kernel, ``Contract`` an erosion
  (the set of points whose kernel stays inside the ROI; outside the working volume is outside).
* **Expressions.** ``Operation`` ``'Union'`` / ``'Intersection'`` of the expression's source ROIs,
  then its ``MarginSettings``; ``ResultOperation`` ``'None'`` (A only), ``'Union'``, ``'Intersection'``,
  ``'Subtraction'`` (A − B) of the two expressions, then ``ResultMarginSettings``.

Discretisation (the stand-in's, documented)
-------------------------------------------
The computation runs on a working grid made of the examination's own image planes (z) and an in-plane
lattice of :data:`STEP_MM` (1 mm; x, y), around the source ROIs plus the largest expansion (for
``'Subtraction'`` and ``'Intersection'``, around expression A only, reading B within its kernel's
reach). Each source ROI enters as its fractional in-plane occupancy (the engine's exact coverage,
:func:`reirrad.structures.structure_occupancy`); union / intersection / subtraction are max / min /
min(a, 1 − b) and margins are grey dilation / erosion (max / min over the kernel's lattice offsets).
These operations commute with thresholding at ½, so the result is the ½ level set of the combined
field, contoured on every image plane by marching squares (linear interpolation between lattice
points): the derived ROI is a contour ROI like the others (``PrimaryShape.Contours``,
``GetRoiVolume``, ``GetRoiGeometryAsVoxels`` and dose statistics all use the same code). In-plane,
each kernel extent is rounded to the nearest lattice step (a whole number of mm is exact); in z the
kernel reaches whole planes, the contour planes being samples of the ROI at the plane centres (a
0.3 cm superior margin on 2.5 mm planes reaches one plane, 2.5 mm). The geometry exists only on the
examination's image planes, so nothing grows beyond the first or last plane.

Accuracy against closed forms (``tests/stubs/test_raystation_roi_algebra.py``: 2.5 mm planes, 1 mm
lattice): a 20 mm sphere grown by 3, 5 or 10 mm or shrunk by 5 mm is within 2.5 % of the sphere of
the new radius; a box grown by 3–10 mm (also anisotropically) has its faces where the margin puts
them (± 0.5 mm) and a volume 3–6 % below the box's Minkowski sum with the kernel (its edges and
corners between planes are rounded tighter); sphere − grown cylinder is within 2 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from reirrad.dose import DoseGrid
from reirrad.errors import InputError
from reirrad.structures import structure_occupancy

from ..patients.geometry import contours_of_field
from ..patients.model import StructureModel
from .errors import ScriptException

__all__ = [
    "ALGORITHMS",
    "DIRECTIONS",
    "MAX_MARGIN_CM",
    "RESULT_OPERATIONS",
    "STEP_MM",
    "Expression",
    "Margin",
    "evaluate",
    "parse_expression",
    "parse_margin",
]

#: What :func:`reirrad.structures.structure_occupancy` says of contours that enclose no volume on its grid.
NOTHING_INSIDE = "lies inside the dose grid"
#: In-plane lattice pitch of the working grid, mm (z uses the image planes).
STEP_MM = 1.0
#: Loops of the result smaller than this are dropped (slivers where a field just touches ½), mm².
MIN_LOOP_AREA_MM2 = 0.01
#: Largest margin accepted, cm: "the maximum expansion is 15 cm" (a public couch-model script that
#: repeats 15 cm expansions in a loop for that reason; DEVIATIONS.md).
MAX_MARGIN_CM = 15.0
#: MarginSettings direction → (patient axis index, sign of the growth along it).
DIRECTIONS: Dict[str, Tuple[int, int]] = {
    "Right": (0, -1),
    "Left": (0, 1),
    "Anterior": (1, -1),
    "Posterior": (1, 1),
    "Inferior": (2, -1),
    "Superior": (2, 1),
}
MARGIN_TYPES = ("Expand", "Contract")
OPERATIONS = ("Union", "Intersection")
RESULT_OPERATIONS = ("None", "Union", "Intersection", "Subtraction")
#: [stub-2025] ``Algorithm: 'Voxels'|'Contours'|'Auto'|'LineGrid'`` (§9); the stand-in computes all alike.
ALGORITHMS = ("Auto", "Voxels", "Contours", "LineGrid")
_EXPRESSION_KEYS = ("Operation", "SourceRoiNames", "MarginSettings")


@dataclass(frozen=True)
class Margin:
    """A parsed ``MarginSettings``: ``expand`` and the growth per direction, mm.

    ``negative_mm`` / ``positive_mm`` are (x, y, z): the distance the ROI grows (``Expand``) or
    shrinks (``Contract``) towards −x/−y/−z (Right, Anterior, Inferior) and +x/+y/+z (Left,
    Posterior, Superior).
    """

    expand: bool
    negative_mm: Tuple[float, float, float]
    positive_mm: Tuple[float, float, float]

    @property
    def is_zero(self) -> bool:
        """True when the margin changes nothing."""
        return not any(self.negative_mm) and not any(self.positive_mm)

    @property
    def reach_mm(self) -> float:
        """How far the margin can grow the ROI (0 for a contraction)."""
        return self.extent_mm if self.expand else 0.0

    @property
    def extent_mm(self) -> float:
        """The largest radius of the margin's kernel, mm (how far away a point can matter)."""
        return max(self.negative_mm + self.positive_mm)


ZERO_MARGIN = Margin(True, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))


@dataclass(frozen=True)
class Expression:
    """A parsed ``ExpressionA`` / ``ExpressionB``."""

    operation: str
    source_roi_names: Tuple[str, ...]
    margin: Margin


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ScriptException(f"{where} must be a number of cm (got {value!r}).")
    number = float(value)
    if not math.isfinite(number):
        raise ScriptException(f"{where} must be a finite number of cm (got {value!r}).")
    if number < 0.0:
        raise ScriptException(
            f"{where} must be >= 0 cm (got {value!r}); use Type 'Contract' to shrink, 'Expand' to grow."
        )
    if number > MAX_MARGIN_CM:
        raise ScriptException(f"{where} must be at most {MAX_MARGIN_CM:g} cm (got {value!r}).")
    return number


def _check_keys(given: Mapping[Any, Any], expected: Sequence[str], where: str) -> None:
    """Every expected key present and no other (the stand-in's strict reading, DEVIATIONS.md)."""
    unknown = [k for k in given if k not in expected]
    if unknown:
        raise ScriptException(f"{where} has an unknown key {unknown[0]!r}; its keys are {list(expected)}.")
    missing = [k for k in expected if k not in given]
    if missing:
        raise ScriptException(f"{where} is missing the key {missing[0]!r}; its keys are {list(expected)}.")


def parse_margin(settings: Any, where: str) -> Margin:
    """Check a ``MarginSettings`` dict (every key present, nothing else; cm) and convert it to mm."""
    if not isinstance(settings, Mapping):
        raise ScriptException(f"{where} must be a dictionary (got {type(settings).__name__}).")
    _check_keys(settings, ("Type", *DIRECTIONS), where)
    kind = settings["Type"]
    if kind not in MARGIN_TYPES:
        raise ScriptException(f"{where}['Type'] must be 'Expand' or 'Contract' (got {kind!r}).")
    negative = [0.0, 0.0, 0.0]
    positive = [0.0, 0.0, 0.0]
    for direction, (axis, sign) in DIRECTIONS.items():
        mm = _number(settings[direction], f"{where}[{direction!r}]") * 10.0
        (positive if sign > 0 else negative)[axis] = mm
    return Margin(kind == "Expand", tuple(negative), tuple(positive))  # type: ignore[arg-type]


def parse_expression(expression: Any, where: str, *, may_be_empty: bool) -> Expression:
    """Check an ``ExpressionA`` / ``ExpressionB`` dict."""
    if not isinstance(expression, Mapping):
        raise ScriptException(f"{where} must be a dictionary (got {type(expression).__name__}).")
    _check_keys(expression, _EXPRESSION_KEYS, where)
    operation = expression["Operation"]
    if operation not in OPERATIONS:
        raise ScriptException(f"{where}['Operation'] must be 'Union' or 'Intersection' (got {operation!r}).")
    names = expression["SourceRoiNames"]
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or not all(
        isinstance(n, str) for n in names
    ):
        raise ScriptException(f"{where}['SourceRoiNames'] must be a list of ROI names (got {names!r}).")
    if not names and not may_be_empty:
        raise ScriptException(f"{where}['SourceRoiNames'] names no ROI.")
    return Expression(str(operation), tuple(names), parse_margin(expression["MarginSettings"],
                                                                f"{where}['MarginSettings']"))


# -- evaluation ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Work:
    """The working grid: image planes ``plane_k`` (index in the image) at ``zs`` (ascending), lattice."""

    xs: np.ndarray
    ys: np.ndarray
    zs: np.ndarray
    plane_k: np.ndarray
    step_mm: float
    dz_mm: float

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (len(self.zs), len(self.ys), len(self.xs))


def _work_grid(image: Any, core: Sequence[StructureModel], pad_mm: float) -> Optional[_Work]:
    """The image planes and the lattice around the ``core`` ROIs' contours grown by ``pad_mm``."""
    points = np.concatenate([c for s in core for c in s.all_contours()])
    pad = pad_mm + 3.0 * STEP_MM
    lo = np.floor((points[:, :2].min(axis=0) - pad) / STEP_MM) * STEP_MM
    hi = np.ceil((points[:, :2].max(axis=0) + pad) / STEP_MM) * STEP_MM
    xs = lo[0] + STEP_MM * np.arange(round((hi[0] - lo[0]) / STEP_MM) + 1)
    ys = lo[1] + STEP_MM * np.arange(round((hi[1] - lo[1]) / STEP_MM) + 1)
    plane_z = np.asarray(image.plane_z_mm(), float)
    dz = float(image.spacing_mm[2])
    z_lo, z_hi = points[:, 2].min() - pad_mm - dz, points[:, 2].max() + pad_mm + dz
    order = np.argsort(plane_z)
    keep = order[(plane_z[order] >= z_lo - 1e-6) & (plane_z[order] <= z_hi + 1e-6)]
    if keep.size == 0:  # pragma: no cover - the sources lie on the image planes
        return None
    return _Work(xs, ys, plane_z[keep], keep, STEP_MM, dz)


def _area_mm2(loop: np.ndarray) -> float:
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _clip(polygon: np.ndarray, axis: int, bound: float, keep_above: bool) -> np.ndarray:
    """Sutherland–Hodgman: the part of a closed polygon on one side of the line x_axis = bound."""
    nxt = np.roll(polygon, -1, axis=0)
    inside = polygon[:, axis] >= bound if keep_above else polygon[:, axis] <= bound
    crossing = inside != np.roll(inside, -1)
    delta = nxt[:, axis] - polygon[:, axis]
    t = np.divide(bound - polygon[:, axis], delta, out=np.zeros(len(polygon)), where=crossing)
    cut = polygon + t[:, None] * (nxt - polygon)
    return np.stack([polygon, cut], axis=1)[np.stack([inside, crossing], axis=1)]


def _clipped(contours: Sequence[np.ndarray], work: _Work) -> List[np.ndarray]:
    """The contours on the working planes, cut to the lattice (parts beyond it play no role)."""
    z_lo, z_hi = work.zs[0] - work.dz_mm / 2, work.zs[-1] + work.dz_mm / 2
    bounds = ((0, float(work.xs[0]), True), (0, float(work.xs[-1]), False),
              (1, float(work.ys[0]), True), (1, float(work.ys[-1]), False))
    out = []
    for contour in contours:
        if not z_lo <= contour[0, 2] <= z_hi:
            continue
        cut = contour
        for axis, bound, above in bounds:
            if len(cut) >= 3:
                cut = _clip(cut, axis, bound, above)
        if len(cut) >= 3:  # drop repeated points (a vertex on a cut line comes out twice)
            cut = cut[np.linalg.norm(np.roll(cut, -1, axis=0) - cut, axis=1) > 1e-9]
        if len(cut) >= 3 and _area_mm2(cut) > 1e-6:
            # the shortest edge closes the polygon (a long cut edge is not an "open polyline")
            edges = np.linalg.norm(np.roll(cut, -1, axis=0) - cut, axis=1)
            out.append(np.roll(cut, -(int(np.argmin(edges)) + 1), axis=0))
    return out


def _field(structure: StructureModel, work: _Work) -> np.ndarray:
    """In-plane occupancy of a structure on the working grid, (nz, ny, nx) in [0, 1]."""
    values = np.zeros(work.shape)
    contours = _clipped(structure.all_contours(), work)
    if not contours:
        return values
    grid = DoseGrid(values, (float(work.xs[0]), float(work.ys[0]), float(work.zs[0])),
                    (work.step_mm, work.step_mm, work.dz_mm))
    try:
        occ = structure_occupancy(contours, grid, plane_spacing_mm=work.dz_mm, name=structure.id)
    except InputError as exc:
        # the clipped contours enclose nothing here (a shell such as the skin, cut to a region inside it:
        # its outer contour and its hole both become the region's border): an empty operand, not an error
        if NOTHING_INSIDE not in str(exc):
            raise
        return values
    return np.asarray(occ.fraction, dtype=float)


def _offsets(low_mm: Sequence[float], high_mm: Sequence[float], spacing: Sequence[float]
             ) -> List[Tuple[int, int, int, int]]:
    """The kernel as rows (tk, tj, ti_lo, ti_hi) of lattice offsets t with Σ (e_a / r_a)² ≤ 1,
    r_a = ``low_mm[a]`` for t_a < 0 and ``high_mm[a]`` for t_a > 0 (a zero radius admits no offset
    that way).

    In-plane e_a = t_a·s_a and each extent (the y extent of a plane's ellipse, the x extent of a row)
    is rounded to the nearest lattice step, so a margin is unbiased and exact when it is a whole number
    of steps. In z the offsets are whole planes, e_z = tk·s_z: contour planes are samples of the ROI at
    the plane centres (as the ESAPI stand-in's voxel-centre kernel), so a face parallel to the planes
    moves by whole planes and the edges of a grown box are rounded a little tighter than in the
    engine's slab model (module docstring).
    """
    sx, sy, sz = spacing
    eps = 1e-9
    rows = []

    def reach(r: float) -> int:
        return math.floor(r / sz + eps)

    def nearest(value: float) -> int:
        return math.floor(value + 0.5 + eps)

    for tk in range(-reach(low_mm[2]), reach(high_mm[2]) + 1):
        rz = low_mm[2] if tk < 0 else high_mm[2]
        budget_z = 1.0 - ((tk * sz / rz) ** 2 if tk else 0.0)
        root_z = math.sqrt(max(budget_z, 0.0))
        y_low, y_high = low_mm[1] * root_z / sy, high_mm[1] * root_z / sy
        for tj in range(-nearest(y_low), nearest(y_high) + 1):
            ry = (low_mm[1] if tj < 0 else high_mm[1]) * root_z / sy
            # the row's x extent; the outermost rows (rounded out) keep at least the centre point
            root = math.sqrt(max(1.0 - (tj / ry) ** 2, 0.0)) if tj else 1.0
            rows.append((tk, tj, -nearest(low_mm[0] * root_z * root / sx),
                         nearest(high_mm[0] * root_z * root / sx)))
    return rows


def _morph(field: np.ndarray, margin: Margin, work: _Work) -> np.ndarray:
    """Grey dilation (``Expand``) or erosion (``Contract``) of a field by the margin's kernel.

    Dilation: out(p) = max over kernel displacements d of f(p − d); erosion: out(p) = min over d of
    f(p + d). Both read 0 (outside) beyond the working grid.
    """
    if margin.is_zero:
        return field
    if margin.expand:  # out(p) = max f(p + t), t = −d: the kernel reflected
        low, high = margin.positive_mm, margin.negative_mm
        op = np.maximum
    else:
        low, high = margin.negative_mm, margin.positive_mm
        op = np.minimum
    rows = _offsets(low, high, (work.step_mm, work.step_mm, work.dz_mm))
    pz = max(abs(r[0]) for r in rows)
    py = max(abs(r[1]) for r in rows)
    px = max(max(-r[2], r[3]) for r in rows)
    nz, ny, nx = field.shape
    padded = np.pad(field, ((pz, pz), (py, py), (px, px)))
    # runs[L][..., i] = op of padded[..., i : i + L] (L a power of two), for windows along x
    runs: Dict[int, np.ndarray] = {1: padded}
    length = 1
    longest = max(r[3] - r[2] + 1 for r in rows)
    while 2 * length <= longest:
        prev = runs[length]
        runs[2 * length] = op(prev[..., :-length], prev[..., length:])
        length *= 2
    windows: Dict[Tuple[int, int], np.ndarray] = {}
    out = np.full(field.shape, -np.inf if margin.expand else np.inf)
    for tk, tj, lo, hi in rows:
        window = windows.get((lo, hi))
        if window is None:
            n = hi - lo + 1
            p = 1 << (n.bit_length() - 1)
            run = runs[p]
            start = px + lo
            window = op(run[:, :, start:start + nx], run[:, :, start + n - p:start + n - p + nx])
            windows[(lo, hi)] = window
        op(out, window[pz + tk:pz + tk + nz, py + tj:py + tj + ny, :], out=out)
    return out


def _expression_field(expression: Expression, structures: Mapping[str, StructureModel], work: _Work
                      ) -> np.ndarray:
    if not expression.source_roi_names:
        return np.zeros(work.shape)
    fields = [_field(structures[name], work) for name in expression.source_roi_names]
    combine = np.maximum if expression.operation == "Union" else np.minimum
    combined = fields[0]
    for other in fields[1:]:
        combined = combine(combined, other)
    return _morph(combined, expression.margin, work)


def evaluate(image: Any, structures: Mapping[str, StructureModel], a: Expression, b: Expression, *,
             result_operation: str, result_margin: Margin) -> Dict[int, Tuple[np.ndarray, ...]]:
    """Contours by image plane index of ``result_margin(a <result_operation> b)`` on ``image``.

    ``structures`` holds the contours of every source ROI on that examination (none empty).
    """
    if result_operation in ("Subtraction", "Intersection"):
        # only where A can be matters; B is read within its kernel's extent of that region
        core = [structures[n] for n in a.source_roi_names]
        pad = a.margin.reach_mm + result_margin.reach_mm + b.margin.extent_mm
    else:
        used = [a] if result_operation == "None" else [a, b]
        core = [structures[n] for e in used for n in e.source_roi_names]
        pad = max(e.margin.reach_mm for e in used) + result_margin.reach_mm
    work = _work_grid(image, core, pad)
    if work is None:  # pragma: no cover
        return {}
    field = _expression_field(a, structures, work)
    if result_operation != "None":
        other = _expression_field(b, structures, work)
        if result_operation == "Union":
            field = np.maximum(field, other)
        elif result_operation == "Intersection":
            field = np.minimum(field, other)
        else:
            field = np.minimum(field, 1.0 - other)
    field = _morph(field, result_margin, work)
    by_plane: Dict[int, Tuple[np.ndarray, ...]] = {}
    xs = np.concatenate([[work.xs[0] - work.step_mm], work.xs, [work.xs[-1] + work.step_mm]])
    ys = np.concatenate([[work.ys[0] - work.step_mm], work.ys, [work.ys[-1] + work.step_mm]])
    for n, k in enumerate(work.plane_k):
        plane = np.pad(field[n], 1)
        if not (plane > 0.5).any():
            continue
        found = contours_of_field(0.5 - plane, xs, ys, float(work.zs[n]), step_mm=work.step_mm)
        loops = [loop for loop in found if _area_mm2(loop) > MIN_LOOP_AREA_MM2]
        if loops:
            by_plane[int(k)] = tuple(loops)
    return by_plane
