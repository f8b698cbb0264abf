"""Structure occupancy: closed planar contours → fractional occupancy of each dose voxel.

Model (documented choices)
--------------------------
* **Contours** are closed planar polygons on axial planes (constant patient z), given in mm as
  (N, 3) arrays; the closing edge from the last point back to the first is implied (a repeated
  first point is dropped). All contours on one plane are combined by the **even–odd rule**, so
  holes and several islands need no flags.
* **Slabs.** Each contour plane stands for a slab of the structure. The nominal plane spacing Δ is
  the smallest gap between consecutive contour planes. A plane's slab reaches to the midpoint with
  a neighbouring plane when that neighbour is at most 1.5·Δ away, otherwise (a gap, or the first
  or last plane) it reaches Δ/2 beyond the plane. **End caps:** the outermost contour planes thus
  extend half a plane spacing outwards, the convention used for TPS structure volumes. A structure
  on a single plane needs ``plane_spacing_mm``.
* **In-plane coverage** is computed on the dose grid's own pixels by scanlines: ``subrows`` scan
  lines per pixel row (mid-point rule in y), each with the **exact** covered length per pixel in x.
  The error of a pixel's area fraction is second order in 1/subrows.
* **Occupancy** of a voxel = Σ over slabs of (z-overlap of slab and voxel / voxel z-size) ×
  in-plane area fraction. Volume and every dose tally use this one occupancy field.
* The dose grid's z index axis must be along patient z (head-first or feet-first); its x and y
  axes may be flipped or rotated within the axial plane. Oblique grids are refused.

Everything off the dose grid is counted: :class:`Occupancy` reports the contour volume, the part
inside the grid, and findings (structure partly off the grid, self-intersecting contour, a contour
whose implied closing edge is much longer than its other edges — possibly an open polyline; readers
must refuse DICOM OPEN_PLANAR contours before they get here).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validate import FloatArray, finite_float
from .dose import DoseGrid
from .errors import InputError
from .findings import Finding

__all__ = ["Occupancy", "encloses_no_area", "mask_from_contours", "structure_occupancy"]

logger = logging.getLogger(__name__)

PLANE_TOLERANCE_MM = 0.01
_AXIS_TOL = 1e-6


Box = Tuple[slice, slice, slice]
IntArray = NDArray[np.int64]

#: Sub-samples per voxel axis in boundary voxels (docs/geometry.md, "Sub-voxel sampling"): 4, which
#: agrees with Eclipse's own DVHs better than centre scoring (tests/plugin/dicom/test_eclipse_dvh.py);
#: 1 scores each voxel at its centre dose.
SUB_SAMPLES = 4
# A voxel with occupancy >= 1 − _FULL_TOL is full (no boundary inside it).
_FULL_TOL = 1e-9
_NO_VOXELS: IntArray = np.zeros(0, dtype=np.int64)
_NO_VOXELS.flags.writeable = False
#: Cells (pixels and one more per row) per group of planes in :func:`_planes_coverage`.
_GROUP_CELLS = 1 << 17
#: Voxel slices per pass when :func:`_assemble` clips the box and finds its boundary voxels.
_SLICES_PER_PASS = 4


def _expand(counts: IntArray) -> Tuple[IntArray, IntArray]:
    """Ranges laid end to end: for ``counts[g]`` items of each group g, each item's group and its
    rank within the group (0, 1, …), groups in order."""
    group = np.repeat(np.arange(len(counts)), counts)
    return group, np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)


@dataclass(frozen=True, eq=False)
class Occupancy:
    """Fractional occupancy of a structure on a dose grid, stored on its bounding box.

    Only the bounding box of the occupied voxels is kept (a pelvic OAR fills a small part of a
    dose grid, and full-grid arrays for every structure cost memory and time); :attr:`fraction`
    builds the full-grid array on demand.

    Attributes
    ----------
    grid_shape : tuple of int
        (nz, ny, nx) of the dose grid.
    box : tuple of slice
        The (z, y, x) index ranges of the bounding box within the grid.
    box_fraction : numpy.ndarray
        Occupancy in [0, 1] inside the box, read-only.
    volume_cc : float
        Structure volume from its contours (slab model), cm³, including any part off the grid.
        From :func:`structure_occupancy`, the area of the contour planes whose slab misses the
        grid or that reach past its pixels is computed on first use (and kept): a DVH, which needs
        the grid's voxels alone, does not pay for it (docs/geometry.md, "What is computed when").
    volume_in_grid_cc : float
        The part of that volume inside the dose grid, cm³ (= Σ fraction × voxel volume).
    findings : tuple of Finding
        Observations such as ``structure-partly-outside-dose-grid`` or ``self-intersecting-contour``.
        The first needs :attr:`volume_cc`, so it is decided (and logged) on first use as well.
    sub_samples : int
        n: each boundary voxel is split into n × n × n equal sub-voxels (1: no sub-voxel data).
    sub_voxels : numpy.ndarray of int
        Flat indices (C order, within the box) of the **boundary** voxels (0 < occupancy < 1),
        ascending, read-only.
    sub_fraction : numpy.ndarray, shape (len(sub_voxels), n, n, n)
        Occupancy in [0, 1] of each sub-voxel of those voxels, indexed [z, y, x] like the grid;
        the mean over a voxel's sub-voxels is its ``box_fraction``. Computed on request (a new
        array each access) from the contour planes kept with the occupancy; use
        :meth:`sub_fraction_of` for some boundary voxels only (what the DVH does: it needs the
        sub-voxels of boundary voxels in a dose gradient alone).
    """

    grid_shape: Tuple[int, int, int]
    box: Box
    box_fraction: FloatArray
    #: the volume (cm³), or the contour planes it is computed from on first use (:attr:`volume_cc`)
    _volume: Union[float, _SlabVolume]
    volume_in_grid_cc: float
    #: the findings known on construction (:attr:`findings` adds the one that needs the volume)
    _findings: Tuple[Finding, ...] = ()
    sub_samples: int = 1
    sub_voxels: IntArray = field(default_factory=lambda: _NO_VOXELS)
    _sub_source: Optional[_SubSource] = field(default=None, repr=False)

    @cached_property
    def volume_cc(self) -> float:
        """Structure volume from its contours (slab model), cm³, including any part off the grid."""
        if isinstance(self._volume, _SlabVolume):
            return self._volume.mm3() / 1000.0
        return float(self._volume)

    @cached_property
    def findings(self) -> Tuple[Finding, ...]:
        """Observations: those found on construction, then ``structure-partly-outside-dose-grid``
        (from :func:`structure_occupancy` only; decided and logged on first use)."""
        if not isinstance(self._volume, _SlabVolume):
            return self._findings
        outside = _outside_grid_findings(self._volume.name, self.volume_cc, self.volume_in_grid_cc)
        for f in outside:
            logger.warning("%s", f.message)
        return self._findings + outside

    @property
    def fraction(self) -> FloatArray:
        """Occupancy in [0, 1] for every voxel of the grid (a new read-only array each call)."""
        full = np.zeros(self.grid_shape)
        full[self.box] = self.box_fraction
        full.flags.writeable = False
        return full

    @property
    def sub_fraction(self) -> FloatArray:
        """Sub-voxel occupancy of every boundary voxel, shape (len(sub_voxels), n, n, n)."""
        return self.sub_fraction_of(np.arange(len(self.sub_voxels)))

    def sub_fraction_of(self, positions: ArrayLike) -> FloatArray:
        """Occupancy in [0, 1] of the n³ sub-voxels of some boundary voxels.

        Parameters
        ----------
        positions : array_like of int
            Positions in :attr:`sub_voxels` (not voxel indices) of the boundary voxels wanted.

        Returns
        -------
        numpy.ndarray, shape (len(positions), n, n, n)
            Indexed [z, y, x] like the grid; for n = 1 each voxel's own occupancy. A new array.
        """
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        voxels = self.sub_voxels[pos]
        if self.sub_samples == 1 or self._sub_source is None:
            return np.asarray(self.box_fraction.ravel()[voxels], dtype=np.float64).reshape(-1, 1, 1, 1)
        if np.all(voxels[1:] > voxels[:-1]):  # ascending already (as the DVH asks): no reordering
            return _boundary_sub_fraction(self._sub_source, self.box_fraction.shape, voxels)
        order = np.argsort(voxels, kind="stable")
        out = np.empty((len(pos),) + (self.sub_samples,) * 3)
        out[order] = _boundary_sub_fraction(self._sub_source, self.box_fraction.shape, voxels[order])
        return out

    def sub_projection_of(self, positions: ArrayLike, weights: ArrayLike) -> FloatArray:
        """Σ over the n³ sub-voxels (c, b, a) of some boundary voxels of occupancy × W[c, z]·W[b, y]·W[a, x].

        Equal, up to rounding, to ``np.einsum("vcba,cz,by,ax->vzyx", sub_fraction_of(positions), W, W,
        W)`` without building the sub-voxel occupancy: each contour plane's contribution to a voxel
        is separable, (z-weights · W) ⊗ (Wᵀ · sub-pixel coverage · W), k³ values where the occupancy
        has n³. The sub-voxel occupancies are not clipped to [0, 1] first (a sum of planes'
        contributions leaves that range by rounding alone). The DVH uses it with W the trilinear
        weights of the sub-voxel centres: the occupancy-weighted sum of a voxel's sub-voxel doses is
        then the (3, 3, 3) projection · the voxel's dose neighbourhood.

        Parameters
        ----------
        positions : array_like of int
            Positions in :attr:`sub_voxels` of the boundary voxels wanted.
        weights : array_like, shape (n, k)
            W: a weight per sub-voxel position along an axis (the same for z, y and x).

        Returns
        -------
        numpy.ndarray, shape (len(positions), k, k, k)
            Indexed [z, y, x]. A new array.
        """
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        w = np.asarray(weights, dtype=np.float64)
        n = self.sub_samples
        if w.ndim != 2 or w.shape[0] != n:
            raise InputError(f"weights must have shape (sub_samples = {n}, k) (got {w.shape})")
        if not bool(np.all(np.isfinite(w))):
            raise InputError("weights must be finite numbers (got NaN or infinity)")
        voxels = self.sub_voxels[pos]
        if n == 1 or self._sub_source is None:
            column_sums = w.sum(axis=0)
            uniform = np.einsum("z,y,x->zyx", column_sums, column_sums, column_sums)
            return np.asarray(self.box_fraction.ravel()[voxels][:, None, None, None] * uniform)
        if np.all(voxels[1:] > voxels[:-1]):
            return _boundary_projection(self._sub_source, self.box_fraction.shape, voxels, w)
        order = np.argsort(voxels, kind="stable")
        out = np.empty((len(pos),) + (w.shape[1],) * 3)
        out[order] = _boundary_projection(self._sub_source, self.box_fraction.shape, voxels[order], w)
        return out


class _Raster(NamedTuple):
    """What :func:`_rasterise` returns (see :class:`Occupancy` for the arrays)."""

    box: Optional[Box]
    box_fraction: FloatArray
    sub_voxels: IntArray
    sub_source: Optional[_SubSource]
    volume: _SlabVolume


class _SlabVolume(NamedTuple):
    """A structure's slab-model volume (:func:`_rasterise`): Σ over its contour planes of the plane's
    area × its slab's thickness, the areas that need no per-pixel coverage computed on first use.

    ``known_mm3``: each plane's volume (mm³), in plane order, ``None`` where it is still to be
    computed. The planes marked ``pending`` (those whose slab misses the dose grid and those that
    reach past its pixels) have their area from the scan lines alone (:func:`_off_grid_areas_px`, on
    the polygons ``polygons_mm`` of all planes, ``per_plane`` of each) × the pixel's area × the slab's
    thickness (``thickness_mm``). ``name``: the structure's, for the finding that needs the volume.
    """

    name: str
    known_mm3: List[Optional[float]]
    thickness_mm: List[float]
    geometry: DoseGrid  # the dose grid's geometry on one zero voxel (:func:`_geometry_of`): the pending
    # planes' points to grid indices (an overhanging plane's were converted for its coverage too: a few
    # planes, kept simple), without keeping the grid's doses alive as long as the occupancy
    polygons_mm: List[FloatArray]
    per_plane: IntArray
    pending: NDArray[np.bool_]
    subrows: int
    n: int

    def mm3(self) -> float:
        """The volume, mm³: Σ over the planes, in order, of each plane's volume."""
        sx, sy, _ = self.geometry.spacing_mm
        areas = iter(_off_grid_areas_px(self.geometry, self.polygons_mm, self.per_plane, self.pending,
                                        subrows=self.subrows, n=self.n).tolist())
        total = 0.0
        for known, thickness in zip(self.known_mm3, self.thickness_mm):
            total += known if known is not None else next(areas) * sx * sy * thickness
        return total


def _check_grid_axes(grid: DoseGrid) -> None:
    d = np.asarray(grid.direction)
    if abs(abs(d[2, 2]) - 1.0) > _AXIS_TOL or abs(d[2, 0]) > _AXIS_TOL or abs(d[2, 1]) > _AXIS_TOL:
        raise InputError(
            "the dose grid's z index axis must be along patient z (axial slices) to rasterise axial "
            f"contours; its direction is {d.tolist()} - resample the dose onto an axial grid first"
        )


def _clean_polygon(points: ArrayLike, index: int) -> FloatArray:
    try:
        pts = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"contour {index} must be an (N, 3) array of points in mm") from None
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"contour {index} must be an (N, 3) array of (x, y, z) mm (got shape {pts.shape})")
    if not np.all(np.isfinite(pts)):
        raise InputError(f"contour {index} has non-finite coordinates")
    # np.allclose's test (rtol 1e-5, atol 1e-8 mm), written out: the points are finite
    if len(pts) > 1 and bool(np.all(np.abs(pts[0] - pts[-1]) <= 1e-8 + 1e-5 * np.abs(pts[-1]))):
        pts = pts[:-1]  # explicitly closed: drop the repeated first point
    if len(pts) < 3:
        raise InputError(f"contour {index} has {len(pts)} distinct point(s); a closed polygon needs >= 3")
    z = pts[:, 2]
    if float(z.max() - z.min()) > PLANE_TOLERANCE_MM:
        raise InputError(
            f"contour {index} is not on one axial plane (z from {z.min():.3f} to {z.max():.3f} mm); "
            "only axial closed planar contours are supported"
        )
    return pts


def encloses_no_area(xy: FloatArray) -> bool:
    """True when all points of a polygon lie on one line, so that it encloses no area.

    The test every reader of contours shares (the DICOM RT Structure Set reader skips such a contour
    with a finding): the smallest singular value of the centred (N, 2) points (mm) is at most 1e-9 of
    the largest.
    """
    centred = xy - xy.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return bool(singular[-1] <= 1e-9 * max(float(singular[0]), 1e-12))


def _looking_open(xys: Sequence[FloatArray]) -> NDArray[np.bool_]:
    """For each polygon (of at least 2 points), True when its implied closing edge is > 2 mm and > 5×
    its median edge (an open polyline?), with at least 3 other edges.

    All polygons at once: each edge's length by ``np.linalg.norm``; a polygon's median edge as
    ``np.median`` takes it, the mean of its sorted edges' middle two (the middle one twice when their
    number is odd, which is exact)."""
    sizes = np.array([len(xy) for xy in xys], dtype=np.int64)
    if len(sizes) == 0:
        return np.zeros(0, dtype=bool)
    points = np.concatenate(list(xys))
    first = np.cumsum(sizes) - sizes
    last = first + sizes - 1
    within = np.ones(len(points) - 1, dtype=bool)
    within[last[:-1]] = False  # the step from one polygon's last point to the next one's first
    edges = np.linalg.norm(np.diff(points, axis=0)[within], axis=1)
    counts = sizes - 1
    ordered = edges[np.lexsort((edges, np.repeat(np.arange(len(sizes)), counts)))]
    start = np.cumsum(counts) - counts
    median = (ordered[start + (counts - 1) // 2] + ordered[start + counts // 2]) / 2.0
    closing = np.linalg.norm(points[first] - points[last], axis=1)
    return np.asarray((counts >= 3) & (closing > 2.0) & (closing > 5.0 * median))


def _self_intersects(xy: FloatArray) -> bool:
    """True when two non-adjacent edges of the closed polygon cross (proper intersection)."""
    return bool(_self_intersecting([xy])[0])


def _self_intersecting(xys: Sequence[FloatArray]) -> NDArray[np.bool_]:
    """For each closed polygon, True when two of its non-adjacent edges cross (proper intersection).

    Edges i and j cross properly when each one's endpoints lie strictly on opposite sides of the
    other's line (all four orientation products negative). Only pairs whose y-ranges overlap can
    cross (and of those only pairs whose x-ranges overlap), so the test runs on those pairs alone:
    each polygon's edges sorted by their lowest y,
    each paired with the later ones that start at or below its highest y. For a contour that is
    about O(n) pairs instead of all n² (a 500-point contour: ~1 ms instead of ~17 ms). All polygons
    are done at once: the sort key puts each polygon's edges in its own band of y (the bands' float
    rounding is covered by a margin: it can only add candidate pairs, which the exact test decides).
    """
    sizes = np.array([len(xy) for xy in xys], dtype=np.int64)
    out = np.zeros(len(xys), dtype=bool)
    if len(xys) == 0:
        return out
    p = np.concatenate(list(xys))
    first_vertex = np.cumsum(sizes) - sizes
    poly = np.repeat(np.arange(len(xys)), sizes)
    local = np.arange(len(p)) - first_vertex[poly]
    nxt = np.where(local + 1 < sizes[poly], np.arange(len(p)) + 1, first_vertex[poly])
    q = p[nxt]
    y_lo, y_hi = np.minimum(p[:, 1], q[:, 1]), np.maximum(p[:, 1], q[:, 1])
    band = 2.0 * (float(p[:, 1].max() - p[:, 1].min()) + 1.0)
    base = float(p[:, 1].min())
    key_lo = poly * band + (y_lo - base)
    key_hi = poly * band + (y_hi - base)
    margin = 4.0 * float(np.spacing(max(float(key_hi.max()), 1.0)))
    # by polygon, then lowest y: the key's order (rounding is monotone, so an edge whose lowest y is at
    # most another's highest y keeps a key at most that one's; ties in either order)
    order = np.argsort(key_lo, kind="stable")
    m = len(p)
    # for sorted position a, the candidates are sorted positions a+1 .. last[a]-1 (same polygon,
    # y_lo <= y_hi[a])
    last = np.searchsorted(key_lo[order], key_hi[order] + margin, side="right")
    poly_end = (first_vertex + sizes)[poly[order]]  # polygon bands are contiguous in sorted order
    last = np.minimum(last, poly_end)
    counts = np.maximum(last - np.arange(m) - 1, 0)
    if counts.sum() == 0:
        return out
    # the candidate pairs (a, b) as sorted positions, filtered on the edges' values laid out in sorted
    # order (a rises monotonically and b nearly so: gathers that run through memory in order)
    a, offsets = _expand(counts)
    b = a + 1 + offsets
    local_s = local[order]
    gap = np.abs(local_s[a] - local_s[b])
    keep = (gap > 1) & (gap != sizes[poly[order]][a] - 1)  # adjacent edges share a vertex: never proper
    # edges whose x-ranges do not overlap cannot cross (the two sides of a contour, mostly)
    x_lo, x_hi = np.minimum(p[:, 0], q[:, 0])[order], np.maximum(p[:, 0], q[:, 0])[order]
    keep &= (x_lo[a] <= x_hi[b]) & (x_lo[b] <= x_hi[a])
    i, j = order[a[keep]], order[b[keep]]
    d = q - p

    def side(e: np.ndarray, pts: FloatArray) -> FloatArray:
        """Orientation of ``pts`` relative to edges ``e`` (cross product, mm²)."""
        return np.asarray(d[e, 0] * (pts[:, 1] - p[e, 1]) - d[e, 1] * (pts[:, 0] - p[e, 0]))

    proper = ((side(i, p[j]) * side(i, q[j]) < 0) & (side(j, p[i]) * side(j, q[i]) < 0))
    out[np.unique(poly[i[proper]])] = True
    return out


class _Intervals(NamedTuple):
    """The even–odd intervals on the scan lines of several planes, laid end to end (:func:`_intervals`)."""

    j0: IntArray  # first pixel row of each plane's box
    rows: IntArray  # pixel rows of each plane's box
    line_start: IntArray  # first scan line of each plane
    lines: int  # scan lines per sub-row
    per_row: int  # scan lines per pixel row (lines × sub-rows)
    on_line: IntArray  # intervals on each scan line
    line: IntArray  # scan line of each interval (ascending)
    rank: IntArray  # the interval's rank on its line (0, 1, …)
    x_in: FloatArray  # entry x of each interval, continuous index
    x_out: FloatArray  # exit x


class _ScanLines(NamedTuple):
    """Every plane's scan lines and each edge's range of them (:func:`_scan_lines`)."""

    j0: IntArray  # first pixel row of each plane's box
    rows: IntArray  # pixel rows of each plane's box
    line_start: IntArray  # first scan line of each plane
    lines: int  # scan lines per sub-row
    per_row: int  # scan lines per pixel row (lines × sub-rows)
    ys: FloatArray  # y of every scan line (continuous index), planes laid end to end
    starts: FloatArray  # (E, 2) first point of every edge of every polygon, polygons laid end to end
    ends: FloatArray  # (E, 2) its last point (the closing edge of a polygon ends at its first point)
    first: IntArray  # first scan line each edge crosses
    stop: IntArray  # one past the last


def _scan_lines(planes: Sequence[Sequence[FloatArray]], subrows: int, sub_samples: int,
                grid_rows: Optional[int] = None) -> _ScanLines:
    """The scan lines through each plane's pixel box, and the lines each edge crosses.

    A plane's box covers the pixel rows its polygons reach; pixel (j, i) spans
    [i − ½, i + ½] × [j − ½, j + ½] in continuous index coordinates. Each of the box's rows is
    split into ``sub_samples`` sub-rows, each crossed by ``lines`` = ⌈subrows / sub_samples⌉
    equally spaced scan lines at the mid-points of equal strips (so for ``sub_samples`` = 1 or a
    divisor of ``subrows`` the pixel row is crossed by exactly ``subrows`` lines). Every plane's
    scan lines are laid end to end; an edge is matched to the lines of its own plane (one
    ``searchsorted`` per plane) and crosses a line at y when ``min(y_e) <= y < max(y_e)``
    (half-open, so a vertex is met once and every line of a closed polygon has an even count).
    With ``grid_rows`` the boxes keep the rows 0 … grid_rows − 1 alone (every edge is still matched
    to them, so each line's crossings are all there).
    """
    lines = -(-subrows // sub_samples)
    per_row = lines * sub_samples
    polys = [p for plane in planes for p in plane]
    plane_of_poly = np.repeat(np.arange(len(planes)), [len(plane) for plane in planes])
    sizes = np.array([len(p) for p in polys], dtype=np.int64)
    starts = np.concatenate(polys)
    first_vertex = np.cumsum(sizes) - sizes
    nxt = np.arange(len(starts)) + 1
    nxt[first_vertex + sizes - 1] = first_vertex  # the closing edge of each polygon
    ends = starts[nxt]
    plane_first = np.cumsum([0] + [len(pl) for pl in planes])[:-1]
    j0, j1, line_start, _, ys = _plane_lines(starts[:, 1], first_vertex[plane_first], per_row, grid_rows)
    n_lines = (j1 - j0 + 1) * per_row
    y_a, y_b = starts[:, 1], ends[:, 1]
    y_lo, y_hi = np.minimum(y_a, y_b), np.maximum(y_a, y_b)
    # each plane's edges against its own lines (first line with y >= min, first with y >= max)
    edge_plane = np.repeat(plane_of_poly, sizes)
    l0, count, j0_e = line_start[edge_plane], n_lines[edge_plane], j0[edge_plane]
    first = _first_line_at(ys, y_lo, l0=l0, count=count, j0=j0_e, per_row=per_row)
    stop = _first_line_at(ys, y_hi, l0=l0, count=count, j0=j0_e, per_row=per_row)
    return _ScanLines(j0, j1 - j0 + 1, line_start, lines, per_row, ys, starts, ends, first, stop)


def _plane_lines(y: FloatArray, plane_first: IntArray, per_row: int, grid_rows: Optional[int] = None
                 ) -> Tuple[IntArray, IntArray, IntArray, IntArray, FloatArray]:
    """Each plane's pixel box rows and scan lines (:func:`_scan_lines`): ``y`` of every vertex, planes
    laid end to end, each starting at ``plane_first``. Returns (j0, j1, line_start, line_plane, ys):
    first and last pixel row of each plane's box, its first scan line, the plane of each line and the
    y of each line, j0 − ½ + (l + ½)/per_row for the plane's l-th line. With ``grid_rows`` the
    rows are kept within 0 … grid_rows − 1 (each plane must reach them)."""
    j0 = np.floor(np.minimum.reduceat(y, plane_first) + 0.5).astype(np.int64)
    j1 = np.floor(np.maximum.reduceat(y, plane_first) + 0.5).astype(np.int64)
    if grid_rows is not None:
        j0, j1 = np.maximum(j0, 0), np.minimum(j1, grid_rows - 1)
    n_lines = (j1 - j0 + 1) * per_row
    line_start = np.cumsum(n_lines) - n_lines
    line_plane = np.repeat(np.arange(len(j0)), n_lines)
    local = np.arange(int(n_lines.sum())) - line_start[line_plane]
    ys = (j0[line_plane] - 0.5) + (local + 0.5) / per_row
    return j0, j1, line_start, line_plane, ys


def _first_line_at(ys: FloatArray, y: FloatArray, *, l0: IntArray, count: IntArray, j0: IntArray,
                   per_row: int) -> IntArray:
    """For each y, l0 + the first of the ``count`` lines ``ys[l0:l0 + count]`` (ascending, those of
    a plane whose box starts at pixel row j0) at or above y, or l0 + count: what ``np.searchsorted``
    (side "left") gives on those lines, for all planes at once. The lines are
    y_l = j0 − ½ + (l + ½)/per_row, so the index is ⌈t⌉, t = (y − j0 + ½)·per_row − ½, clipped to
    [0, count]. Rounding (of t and of the lines' y) can only matter when t is within rounding of a
    whole number (a vertex on or next to a line): both are off by a few ε·per_row·(1 + |y| + |j0|)
    at most (ε ≈ 2.2e-16), so where t is within 1e-9·per_row·(1 + max |y| + max |j0 − ½|) of a whole
    number the index is corrected by comparing with ``ys`` itself until it is the searchsorted index
    (:func:`_settle_on_lines`); elsewhere ⌈t⌉ is that index.
    """
    base = j0 - 0.5
    t = (y - base) * per_row - 0.5
    g = np.minimum(np.maximum(np.ceil(t), 0.0), count).astype(np.int64)
    scale = 1.0 + float(np.abs(y).max(initial=0.0)) + float(np.abs(base).max(initial=0.0))
    near = np.flatnonzero(np.abs(t - np.round(t)) <= 1e-9 * per_row * scale)
    if len(near):
        g[near] = _settle_on_lines(ys, y[near], g[near], l0=l0[near], count=count[near])
    return np.asarray(l0 + g, dtype=np.int64)


def _settle_on_lines(ys: FloatArray, y: FloatArray, g: IntArray, *, l0: IntArray,
                     count: IntArray) -> IntArray:
    """The searchsorted ("left") index of each y among the lines ``ys[l0:l0 + count]``, from a
    guess ``g`` close to it: lowered while the line below is still at or above y, raised while the
    line at g is below y."""
    g = g.copy()
    while True:
        lower = g > 0
        lower[lower] = ys[(l0 + g - 1)[lower]] >= y[lower]
        if not bool(lower.any()):
            break
        g -= lower
    while True:
        raise_ = g < count
        raise_[raise_] = ys[(l0 + g)[raise_]] < y[raise_]
        if not bool(raise_.any()):
            break
        g += raise_
    return g


def _intervals(planes: Sequence[Sequence[FloatArray]], subrows: int, sub_samples: int,
               grid_rows: Optional[int] = None) -> _Intervals:
    """Scan lines through each plane's pixel box (:func:`_scan_lines`) and their even–odd (entry,
    exit) intervals: a line with c crossings holds ⌊c/2⌋ intervals, crossings (0, 1), (2, 3), … in
    ascending x.

    Most lines cross a plane's polygons twice: those lines' crossings are not sorted. With the
    half-open rule each crossing flips whether the polygon's boundary lies above the line, so on
    every line a closed polygon is crossed upwards as often as downwards: a line with two crossings
    has one upward and one downward, and its one interval runs from the smaller x to the larger. Only
    the crossings on lines with four or more are sorted by (line, x). The intervals are the same, in
    the same order (by line, then rank), as from sorting every crossing.
    """
    sl = _scan_lines(planes, subrows, sub_samples, grid_rows)
    ys = sl.ys
    n_lines = len(ys)
    row, x, up = _edge_crossings(ys, sl.starts, sl.ends, sl.first, sl.stop)
    per_line = np.bincount(row, minlength=n_lines)
    on_line = per_line // 2
    before = np.cumsum(on_line) - on_line  # intervals on the lines before each line
    total = int(on_line.sum())
    line = np.empty(total, dtype=np.int64)
    rank = np.empty(total, dtype=np.int64)
    x_in = np.empty(total)
    x_out = np.empty(total)
    # lines with two crossings: one upward, one downward
    two = per_line == 2
    on_two = two[row]
    lines_two = np.flatnonzero(two)
    up_x = np.empty(n_lines)
    down_x = np.empty(n_lines)
    crossing_up, crossing_down = on_two & up, on_two & ~up
    up_x[row[crossing_up]] = x[crossing_up]
    down_x[row[crossing_down]] = x[crossing_down]
    at = before[lines_two]
    line[at] = lines_two
    rank[at] = 0
    x_in[at] = np.minimum(up_x[lines_two], down_x[lines_two])
    x_out[at] = np.maximum(up_x[lines_two], down_x[lines_two])
    # lines with four or more crossings: sorted by (line, x), paired (0, 1), (2, 3), …
    many = ~on_two
    if bool(many.any()):
        row_m, x_m = _by_line_then_x(row[many], x[many])
        counts = np.where(two, 0, per_line)
        r = np.arange(len(row_m)) - (np.cumsum(counts) - counts)[row_m]  # rank of the crossing on its line
        opens = np.flatnonzero((r % 2 == 0) & (r + 1 < per_line[row_m]))  # x_in; x_out follows
        at = before[row_m[opens]] + r[opens] // 2
        line[at] = row_m[opens]
        rank[at] = r[opens] // 2
        x_in[at] = x_m[opens]
        x_out[at] = x_m[opens + 1]
    return _Intervals(sl.j0, sl.rows, sl.line_start, sl.lines, sl.per_row, on_line, line, rank, x_in, x_out)


def _areas_px(xy: FloatArray, sizes: IntArray, per_plane: IntArray, subrows: int,
              sub_samples: int) -> FloatArray:
    """Even–odd area of each plane's polygons in pixel units, from the scan lines alone.

    ``xy``: every polygon's points (continuous index), laid end to end, ``sizes`` their counts,
    ``per_plane`` the number of polygons of each plane (planes in order, each with at least one).
    The scan-line area of :func:`_planes_coverage` (the same scan lines, :func:`_scan_lines`): Σ over
    the lines of the even–odd covered length, ÷ lines per pixel row; equal to the sum of the plane's
    coverage up to rounding, without building the per-pixel coverage. Used for planes whose slab
    misses the dose grid, whose volume is still counted.

    **Lines crossed twice** (nearly all): with the half-open crossing rule a closed polygon is crossed
    upwards as often as downwards on every line, so the two crossings are one upward (x_u) and one
    downward (x_d), and the covered length is |x_u − x_d|, whatever the polygons' shape, orientation
    or self-intersections. Every line's Σ of ±x over its crossings (+ upward, − downward) and its
    number of crossings come from running sums over the lines (:func:`_line_sums`), O(vertices +
    lines), without computing each crossing. **Lines crossed four or more times** have their
    crossings computed, sorted by x and paired (0, 1), (2, 3), … as in :func:`_intervals`
    (:func:`_sorted_line_lengths`). Not the polygons' shoelace area, which differs from the scan
    lines' (the on-grid planes' coverage uses the scan lines).
    """
    ol = _outline(xy, sizes, per_plane, subrows, sub_samples)
    signed, crossings = _line_sums(ol)
    length = np.where(crossings == 2.0, np.abs(signed), 0.0) + _sorted_line_lengths(ol, crossings > 2.5)
    return np.asarray(np.add.reduceat(length, ol.line_start) / ol.per_row)


class _Outline(NamedTuple):
    """Every vertex of several planes' polygons, and the scan lines of :func:`_scan_lines`
    (:func:`_outline`)."""

    x: FloatArray  # x of every vertex, polygons laid end to end, planes in order
    y: FloatArray  # y of every vertex
    nxt: IntArray  # the next vertex of the same polygon (cyclically): edge v runs from vertex v to nxt[v]
    prv: IntArray  # the previous vertex: edge prv[v] ends at v
    line: IntArray  # first scan line (index into ys) at or above each vertex, of its plane's lines
    x_ref: FloatArray  # x of each vertex's plane's first vertex
    y_ref: FloatArray  # bottom of each vertex's plane box (its lines are at y_ref + (l + ½)/per_row)
    ys: FloatArray  # y of every scan line, planes laid end to end
    line_y: FloatArray  # y of every line − the bottom of its plane's box
    line_start: IntArray  # first scan line of each plane
    per_row: int  # scan lines per pixel row


def _outline(xy: FloatArray, sizes: IntArray, per_plane: IntArray, subrows: int,
             sub_samples: int) -> _Outline:
    """The planes' vertices and scan lines (arguments as :func:`_areas_px`), and the first line at or
    above each vertex: the lines of :func:`_scan_lines` (same boxes, same y, same searchsorted index),
    so that an edge from vertex a to b crosses the lines [min(line[a], line[b]), max(line[a],
    line[b])) as there."""
    per_row = -(-subrows // sub_samples) * sub_samples
    x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    first_vertex = np.cumsum(sizes) - sizes
    last_vertex = first_vertex + sizes - 1
    nxt = np.arange(1, len(x) + 1)
    nxt[last_vertex] = first_vertex
    prv = np.arange(-1, len(x) - 1)
    prv[first_vertex] = last_vertex
    plane_first = first_vertex[np.cumsum(per_plane) - per_plane]
    j0, j1, line_start, line_plane, ys = _plane_lines(y, plane_first, per_row)
    vertex_plane = np.repeat(np.arange(len(per_plane)), np.diff(np.append(plane_first, len(x))))
    count = (j1 - j0 + 1) * per_row
    line = _first_line_at(ys, y, l0=line_start[vertex_plane], count=count[vertex_plane], j0=j0[vertex_plane],
                          per_row=per_row)
    y_ref = np.asarray(j0 - 0.5, dtype=np.float64)
    return _Outline(x, y, nxt, prv, line, x[plane_first][vertex_plane], y_ref[vertex_plane], ys,
                    np.asarray(ys - y_ref[line_plane], dtype=np.float64), line_start, per_row)


#: Edges with |dx| <= this × |dy| enter the running sums of :func:`_line_sums` as lines in y;
#: flatter ones (few lines each) have their crossings computed one by one.
_STEEP = 4.0


def _line_sums(ol: _Outline) -> Tuple[FloatArray, FloatArray]:
    """For every scan line, Σ over its crossings of ±(x − x_p) (+ upward, − downward; x_p the first
    vertex of the line's plane) and the number of crossings.

    Edge e (vertex a → b) meets the lines [min(L_a, L_b), max(L_a, L_b)) (L: :attr:`_Outline.line`),
    at x = x_p + c_e + s_e·y', s_e = dx/dy, y' the line's y above its plane's box bottom; upward it
    adds +(x − x_p), downward −(x − x_p). In both cases that is +(c_e, s_e) from line L_a on and
    −(c_e, s_e) from L_b on (a downward edge's lines start at L_b). So each vertex v adds (c, s) of
    its outgoing edge minus those of its incoming edge at line L_v, and likewise sgn(dy_out) −
    sgn(dy_in) crossings; running sums (``cumsum``) over the lines give each line's (C, S), and its
    sum is C + S·y'. Edges crossing no line add nothing. Flat edges (|dx| > :data:`_STEEP`·|dy|),
    which cross few lines, add their crossings' ±(x − x_p) directly instead: that keeps every c_e of
    the plane's size, and so the rounding carried along the running sums (≈ 1e-16 of the plane's
    size per edge, not a bias of the area).
    """
    n_lines = len(ol.ys)
    x_b, y_b, line_b = ol.x[ol.nxt], ol.y[ol.nxt], ol.line[ol.nxt]
    dx, dy = x_b - ol.x, y_b - ol.y
    crosses = line_b != ol.line
    steep = np.abs(dx) <= _STEEP * np.abs(dy)
    tame = crosses & steep
    s = np.zeros(len(dx))
    np.divide(dx, dy, out=s, where=tame)
    c = np.where(tame, (ol.x - ol.x_ref) - (ol.y - ol.y_ref) * s, 0.0)
    sums = [np.cumsum(np.bincount(ol.line, weights=w - w[ol.prv], minlength=n_lines + 1)[:n_lines])
            for w in (c, s, np.sign(dy))]
    signed = sums[0] + sums[1] * ol.line_y
    flat = np.flatnonzero(crosses & ~steep)
    if len(flat):
        first, stop = np.minimum(ol.line[flat], line_b[flat]), np.maximum(ol.line[flat], line_b[flat])
        row, x, up = _edge_crossings(ol.ys, np.column_stack([ol.x[flat], ol.y[flat]]),
                                     np.column_stack([x_b[flat], y_b[flat]]), first, stop)
        x = x - np.repeat(ol.x_ref[flat], stop - first)
        signed += np.bincount(row, weights=np.where(up, x, -x), minlength=n_lines)
    return signed, np.asarray(sums[2], dtype=np.float64)


def _sorted_line_lengths(ol: _Outline, lines: NDArray[np.bool_]) -> FloatArray:
    """Even–odd covered length of the scan lines marked in ``lines`` (0 on the others): their
    crossings, computed as in :func:`_edge_crossings`, sorted by (line, x) and paired (0, 1), (2, 3),
    … on each line. Every line has an even number of crossings, so a crossing's rank on its line is
    even exactly when its position in the sorted crossings is."""
    before = np.concatenate([[0], np.cumsum(lines)])  # marked lines below each line
    if before[-1] == 0:
        return np.zeros(len(lines))
    line_b = ol.line[ol.nxt]
    first = before[np.minimum(ol.line, line_b)]
    counts = before[np.maximum(ol.line, line_b)] - first  # marked lines each edge crosses
    edge, nth = _expand(counts)
    row = np.flatnonzero(lines)[first[edge] + nth]
    x_a, y_a, b = ol.x[edge], ol.y[edge], ol.nxt[edge]
    x = x_a + (ol.ys[row] - y_a) / (ol.y[b] - y_a) * (ol.x[b] - x_a)
    row_s, x_s = _by_line_then_x(row, x)
    x_s[::2] *= -1.0  # Σ x_odd − x_even on each line
    return np.asarray(np.bincount(row_s, weights=x_s, minlength=len(lines)))


class _Lines(NamedTuple):
    """Every plane's scan lines (laid end to end) and partly covered pixels, kept to compute
    sub-pixel coverage later (:func:`_fine_coverage`)."""

    lines: int  # scan lines per sub-row
    x_in: FloatArray  # (pairs, scan lines) even–odd entry x of the line's p-th interval, continuous index
    length: FloatArray  # (pairs, scan lines) its covered length from x_in (0: no such interval)
    row_pairs: IntArray  # (pixel rows,) intervals on the busiest scan line of each pixel row
    part_left: FloatArray  # left edge (continuous x index) of each partly covered pixel
    part_line: IntArray  # the first scan line of each partly covered pixel's row


class _Plane(NamedTuple):
    """In-plane coverage of one contour plane (see :func:`_planes_coverage`)."""

    j0: int  # pixel row of coverage[0, 0]
    i0: int  # pixel column of coverage[0, 0]
    coverage: FloatArray  # (rows, cols) covered fraction of each pixel
    cell: int  # position of pixel (j0, i0) in the planes' flat coverage (:class:`_Coverage`)
    stride: int  # cells per row there


class _Coverage(NamedTuple):
    """What :func:`_planes_coverage` returns: each plane's coverage, and all planes' together."""

    planes: List[_Plane]
    flat: FloatArray  # every plane's rows laid end to end, one cell more than its columns per row
    part_cells: IntArray  # the partly covered cells (0 < coverage < 1), ascending: scan.part_left's order
    scan: _Lines


def _planes_coverage(planes: Sequence[Sequence[FloatArray]], subrows: int, sub_samples: int = 1,
                     grid_pixels: Optional[Tuple[int, int]] = None) -> _Coverage:
    """Even–odd in-plane coverage of the pixels of each plane; what the sub-pixel coverage needs is kept.

    Coordinates are continuous pixel indices: pixel (j, i) covers [i − ½, i + ½] × [j − ½, j + ½];
    each plane's box spans the pixels its polygons reach. The scan lines are :func:`_intervals`'.
    **Pixels.** Along a scan line the covered length of every pixel is exact: an interval
    [u_in, u_out] (in pixel widths from the box's left edge) adds 1 − frac(u_in) to pixel
    ⌊u_in⌋ and 1 to every pixel right of it, and removes the same at u_out. The partial parts and
    the steps of all planes are tallied with ``bincount`` (every plane's rows laid end to end, one
    cell more than its columns per row; the steps as whole numbers) and the steps summed by one
    ``cumsum``: they sum to 0 over each row, so the running sum restarts at 0 (exactly) on every
    row. O(crossings + pixels), whatever the number of intervals. In y the area is the mean over the
    row's scan lines (mid-point rule).
    **Sub-pixels** of partly covered pixels (0 < coverage < 1) are computed on request by
    :func:`_fine_coverage` from the scan lines kept in ``scan``, for the pixels of all planes at once.
    **Grid.** With ``grid_pixels`` (rows, columns) each plane's box keeps the grid's pixels alone: the
    scan lines of the grid's rows, each interval clamped to the grid's columns (a part beyond them
    adds nothing to a pixel kept), so a pixel kept gets its coverage as from the whole box (to
    rounding: a clamped interval's parts are summed in another order).
    """
    iv = _intervals(planes, subrows, sub_samples, None if grid_pixels is None else grid_pixels[0])
    n = len(planes)
    x_min = np.array([min(float(p[:, 0].min()) for p in plane) for plane in planes])
    x_max = np.array([max(float(p[:, 0].max()) for p in plane) for plane in planes])
    i0 = np.floor(x_min + 0.5).astype(np.int64)
    i1 = np.floor(x_max + 0.5).astype(np.int64)
    if grid_pixels is not None:  # the grid's columns alone (intervals are clamped to the box below)
        i0, i1 = np.maximum(i0, 0), np.minimum(i1, grid_pixels[1] - 1)
    cols = i1 - i0 + 1
    cells = iv.rows * (cols + 1)
    cell_start = np.cumsum(cells) - cells
    n_lines = iv.rows * iv.per_row
    plane = np.repeat(np.arange(n), n_lines)[iv.line]  # plane of each interval
    row_cell = cell_start[plane] + (iv.line - iv.line_start[plane]) // iv.per_row * (cols[plane] + 1)
    left = i0[plane] - 0.5
    width = cols[plane]

    def tally(x: FloatArray, sign: float) -> Tuple[FloatArray, IntArray]:
        """The partial part of the pixel where each interval starts (sign +1) or ends (−1), and that
        pixel's cell."""
        u = np.minimum(np.maximum(x - left, 0.0), width.astype(np.float64))
        p = np.minimum(np.floor(u), width - 1).astype(np.int64)
        return sign * (1.0 - (u - p)), np.asarray(row_cell + p, dtype=np.int64)

    part_in, cell_in = tally(iv.x_in, 1.0)
    part_out, cell_out = tally(iv.x_out, -1.0)
    coverage_all, part_cells = _tally_groups(iv, cell_start, cells, (part_in, cell_in), (part_out, cell_out))
    part_plane = np.searchsorted(cell_start, part_cells, side="right") - 1
    part_row, part_col = np.divmod(part_cells - cell_start[part_plane], cols[part_plane] + 1)
    # the scan lines' intervals as one padded (pairs, lines) array
    x_in = np.zeros((int(iv.on_line.max()) if n else 0, int(n_lines.sum())))
    length = np.zeros_like(x_in)
    x_in[iv.rank, iv.line] = iv.x_in
    length[iv.rank, iv.line] = iv.x_out - iv.x_in
    part_left = np.asarray(i0[part_plane] - 0.5 + part_col, dtype=np.float64)
    part_line = iv.line_start[part_plane] + part_row * iv.per_row
    # the lines of a pixel row are consecutive, per_row of them from a multiple of per_row
    by_row = iv.on_line.reshape(-1, iv.per_row)
    row_pairs = by_row[:, 0].copy()
    for column in range(1, iv.per_row):  # element-wise (a reduction along short rows is slow)
        np.maximum(row_pairs, by_row[:, column], out=row_pairs)
    scan = _Lines(iv.lines, x_in, length, row_pairs, part_left, part_line)
    out = []
    for k in range(n):
        rows, width_k, c0 = int(iv.rows[k]), int(cols[k]), int(cell_start[k])
        grid_cells = coverage_all[c0:c0 + int(cells[k])].reshape(rows, width_k + 1)
        out.append(_Plane(int(iv.j0[k]), int(i0[k]), np.ascontiguousarray(grid_cells[:, :width_k]), c0,
                          width_k + 1))
    return _Coverage(out, coverage_all, part_cells, scan)


def _tally_groups(iv: _Intervals, cell_start: IntArray, cells: IntArray, entries: Tuple[FloatArray, IntArray],
                  exits: Tuple[FloatArray, IntArray]) -> Tuple[FloatArray, IntArray]:
    """Every cell's coverage (:func:`_planes_coverage`) from the partial parts and cells of the
    intervals' entries and exits, and the partly covered cells (ascending).

    A group of planes at a time (their cells and intervals are contiguous), about
    :data:`_GROUP_CELLS` cells each, so that the group's arrays stay in the processor's cache: each
    row's steps sum to 0, so a group's running sum starts at 0 as the whole's does there.
    """
    n = len(cell_start)
    total = int(cells.sum())
    coverage_all = np.empty(total)
    found: List[IntArray] = []
    group_end = np.searchsorted(cell_start, np.arange(_GROUP_CELLS, total + _GROUP_CELLS, _GROUP_CELLS))
    bounds = np.unique(np.concatenate([[0], np.minimum(np.maximum(group_end, 1), n)]))
    first_interval = np.searchsorted(iv.line, iv.line_start[bounds[:-1]])
    last_interval = np.append(first_interval[1:], len(iv.line))
    for g, (p0, p1) in enumerate(zip(bounds[:-1], bounds[1:])):
        c0 = int(cell_start[p0])
        size = int(cell_start[p1 - 1] + cells[p1 - 1]) - c0
        q = slice(int(first_interval[g]), int(last_interval[g]))
        local_in, local_out = entries[1][q] - c0, exits[1][q] - c0
        coverage = coverage_all[c0:c0 + size]
        # partial parts, then the steps: +1 right of each entry, −1 right of each exit (whole numbers:
        # their sums and running sums are exact)
        np.add(np.bincount(local_in, weights=entries[0][q], minlength=size),
               np.bincount(local_out, weights=exits[0][q], minlength=size), out=coverage)
        ends = np.concatenate([local_in, local_out]) + 1
        signs = np.concatenate([np.ones(len(local_in)), np.full(len(local_out), -1.0)])
        coverage += np.cumsum(np.bincount(ends, weights=signs, minlength=size))
        coverage /= iv.per_row
        found.append(c0 + np.flatnonzero((coverage > 0.0) & (coverage < 1.0 - _FULL_TOL)))
    return coverage_all, (np.concatenate(found) if found else _NO_VOXELS)


def _fine_coverage(scan: _Lines, ids: IntArray, n: int) -> FloatArray:
    """Covered fraction of the n × n sub-pixels [y, x] of partly covered pixels ``ids`` (into
    ``scan.part_left``), shape (len(ids), n, n).

    Each sub-pixel is crossed by the scan lines of its sub-row, each with its exact covered length;
    the mean over a pixel's sub-pixels is the pixel's coverage. :data:`_FINE_PIXELS` pixels at a
    time (arrays that stay in the processor's cache), taken in order of the intervals on their
    busiest scan line, most first, so that the pixels that need a line's p-th interval are the
    first ones of their chunk (a slice, not a gather and a scatter).
    """
    per_row = scan.lines * n
    pairs = scan.row_pairs[scan.part_line[ids] // per_row]
    order = np.argsort(-pairs, kind="stable")
    out = np.empty((len(ids), n, n))
    for start in range(0, len(ids), _FINE_PIXELS):
        chunk = order[start:start + _FINE_PIXELS]
        out[chunk] = _fine_coverage_of(scan, ids[chunk], pairs[chunk], n)
    return out


#: Pixels per chunk of :func:`_fine_coverage`.
_FINE_PIXELS = 2048


def _fine_coverage_of(scan: _Lines, ids: IntArray, pairs: IntArray, n: int) -> FloatArray:
    """:func:`_fine_coverage` of some pixels at once, ``pairs`` the intervals on each pixel's busiest
    line, in descending order."""
    per_row = scan.lines * n
    edges = scan.part_left[ids][:, None, None] + np.arange(n + 1) / n  # (B, 1, n + 1)
    line = scan.part_line[ids][:, None] + np.arange(per_row)  # (B, per_row)
    # covered length left of each sub-pixel edge, summed over the line's intervals one at a time;
    # interval p for the pixels with a line that has it, the first ones (elsewhere it has zero length
    # and would add 0.0, exactly)
    covered = edges - scan.x_in[0][line][:, :, None]  # (B, per_row, n + 1)
    np.minimum(np.maximum(covered, 0.0, out=covered), scan.length[0][line][:, :, None], out=covered)
    for p in range(1, int(pairs[0]) if len(ids) else 0):
        has = int(np.searchsorted(-pairs, -p, side="left"))  # pixels with pairs > p
        more = edges[:has] - scan.x_in[p][line[:has]][:, :, None]
        covered[:has] += np.minimum(np.maximum(more, 0.0, out=more), scan.length[p][line[:has]][:, :, None])
    # each sub-pixel's covered length (× n: a fraction of its width) on every line, then the mean of
    # its sub-row's lines, added line after line
    per_line = ((covered[:, :, 1:] - covered[:, :, :-1]) * n).reshape(len(ids), n, scan.lines, n)
    total = per_line[:, :, 0, :]
    for line_in_sub_row in range(1, scan.lines):
        total = total + per_line[:, :, line_in_sub_row, :]
    return np.asarray(total / scan.lines)


def _by_line_then_x(row: IntArray, x: FloatArray) -> Tuple[IntArray, FloatArray]:
    """``row`` and ``x`` sorted by row, then x: the values of ``np.lexsort((x, row))``, faster.

    One ``argsort`` of the key row·K + (x − min x), K the x-range rounded up plus 2: rounding is
    monotone, so the key orders the rows exactly and, within a row, puts x in order except among
    values whose keys round to the same float. That is checked; if any two are out of order,
    ``np.lexsort`` decides. Equal x values may come in either order: only the values are returned.
    """
    if len(row) == 0:
        return row, x
    low = float(x.min())
    scale = float(np.ceil(float(x.max()) - low)) + 2.0
    order = np.argsort(row * scale + (x - low))
    row_s, x_s = row[order], x[order]
    same_row = row_s[1:] == row_s[:-1]
    if not (bool(np.all(row_s[1:] >= row_s[:-1])) and bool(np.all(~same_row | (x_s[1:] >= x_s[:-1])))):
        order = np.lexsort((x, row))
        row_s, x_s = row[order], x[order]
    return row_s, x_s


def _edge_crossings(ys: FloatArray, starts: FloatArray, ends: FloatArray, first: IntArray,
                    stop: IntArray) -> Tuple[IntArray, FloatArray, NDArray[np.bool_]]:
    """Every crossing of edge e (``starts[e]`` → ``ends[e]``) with the rows ``first[e]`` to ``stop[e]``
    − 1 of ``ys``: (row index, x, upward), edge by edge (not sorted)."""
    y_a, y_b = starts[:, 1], ends[:, 1]
    edge, nth = _expand(np.maximum(stop - first, 0))
    row = first[edge] + nth
    dy = np.where(y_b != y_a, y_b - y_a, 1.0)
    t = (ys[row] - y_a[edge]) / dy[edge]
    x = starts[edge, 0] + t * (ends[edge, 0] - starts[edge, 0])
    return row, x, (y_b > y_a)[edge]


def _slabs(plane_z: FloatArray, plane_spacing_mm: Optional[float]) -> List[Tuple[float, float]]:
    """(z_low, z_high) of each plane's slab (see the module docstring)."""
    if len(plane_z) == 1:
        if plane_spacing_mm is None:
            raise InputError(
                "the structure has contours on one plane only, so its thickness is unknown; pass "
                "plane_spacing_mm (the CT slice thickness)"
            )
        spacing = plane_spacing_mm
    else:
        gaps = np.diff(plane_z)
        spacing = float(gaps.min()) if plane_spacing_mm is None else plane_spacing_mm
    slabs = []
    for n, z in enumerate(plane_z):
        below = z - spacing / 2.0
        above = z + spacing / 2.0
        if n > 0 and z - plane_z[n - 1] <= 1.5 * spacing:
            below = (z + plane_z[n - 1]) / 2.0
        if n + 1 < len(plane_z) and plane_z[n + 1] - z <= 1.5 * spacing:
            above = (z + plane_z[n + 1]) / 2.0
        slabs.append((float(below), float(above)))
    return slabs


def structure_occupancy(contours_mm: Sequence[ArrayLike], grid: DoseGrid, *, subrows: int = 8,
                        sub_samples: int = SUB_SAMPLES,
                        plane_spacing_mm: Optional[float] = None, name: str = "structure",
                        frame_of_reference_uid: Optional[str] = None) -> Occupancy:
    """Fractional occupancy of a structure given by closed planar contours, with findings.

    Parameters
    ----------
    contours_mm : sequence of array_like, each (N, 3)
        Closed planar polygons on axial planes, patient coordinates in mm.
    grid : DoseGrid
        The dose grid whose voxels receive the occupancy (its values are not used).
    subrows : int, optional
        Scan lines per pixel row (default 8); in-plane area fractions are exact in x.
    sub_samples : int, optional
        n (default :data:`SUB_SAMPLES`, 4): with n > 1 boundary voxels also get the occupancy
        of each of their n × n × n sub-voxels (computed on request, :meth:`Occupancy.sub_fraction_of`),
        which :class:`reirrad.dvh.DVH` scores at the sub-voxel dose (docs/geometry.md). 1 turns this
        off. With ``subrows`` a multiple of n the voxel occupancies do not depend on n (the same scan
        lines).
    plane_spacing_mm : float, optional
        Nominal spacing of the contour planes; by default the smallest gap between planes.
        Required for a structure contoured on a single plane.
    name : str, optional
        Used in messages and findings.
    frame_of_reference_uid : str, optional
        Frame of the contours; refused when the grid names a different frame.

    Returns
    -------
    Occupancy

    Raises
    ------
    reirrad.errors.InputError
        No contours, a contour with fewer than 3 points, non-planar or non-axial contours, a
        degenerate (zero-area) contour, an oblique dose grid, or a structure entirely off the grid.
    reirrad.errors.IncompatibleDoseError
        Contours and grid in different frames of reference.
    """
    if not isinstance(grid, DoseGrid):
        raise InputError(f"grid must be a DoseGrid (got {type(grid).__name__})")
    grid.check_same_frame(frame_of_reference_uid, f"{name} (contours)")
    _check_grid_axes(grid)
    for label, count in (("subrows", subrows), ("sub_samples", sub_samples)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(f"{label} must be a whole number >= 1 (got {count!r})")
    if plane_spacing_mm is not None:
        plane_spacing_mm = finite_float("plane_spacing_mm", plane_spacing_mm, strictly_positive=True,
                                        unit="mm")
    polys = _validated_polygons(contours_mm, name)
    planes = _group_by_plane(polys)
    slabs = _slabs(np.array([z for z, _ in planes]), plane_spacing_mm)
    findings = _shape_findings(polys, _slabs_on_grid(slabs, grid), name)
    raster = _rasterise(planes, slabs, grid, subrows, sub_samples, name=name)
    return _finish(raster, grid, sub_samples, findings=findings, name=name)


def _validated_polygons(contours_mm: Sequence[ArrayLike], name: str) -> List[FloatArray]:
    if len(contours_mm) == 0:
        raise InputError(f"{name}: no contours; an empty structure has no occupancy")
    try:
        polys = _clean_polygons(contours_mm)
    except InputError as exc:  # the contour's message, with the structure it belongs to
        raise InputError(f"{name}: {exc}") from None
    flat = np.flatnonzero(_collinear_each([poly[:, :2] for poly in polys]))
    if len(flat):
        raise InputError(f"{name}: contour {flat[0]} encloses no area (all points on a line)")
    return polys


def _clean_polygons(contours_mm: Sequence[ArrayLike]) -> List[FloatArray]:
    """:func:`_clean_polygon` of every contour: the checks done on all contours' points at once.

    When any contour fails a check, :func:`_clean_polygon` runs contour by contour, so that the
    error raised is the one of the first contour that fails, as it always was.
    """
    def one_by_one() -> List[FloatArray]:
        return [_clean_polygon(c, n) for n, c in enumerate(contours_mm)]

    try:
        arrays = [np.asarray(c, dtype=np.float64) for c in contours_mm]
    except (TypeError, ValueError):
        return one_by_one()
    if any(a.ndim != 2 or a.shape[1] != 3 or len(a) < 3 for a in arrays):
        return one_by_one()
    sizes = np.array([len(a) for a in arrays], dtype=np.int64)
    pts = np.concatenate(arrays)
    if not bool(np.all(np.isfinite(pts))):
        return one_by_one()
    first = np.cumsum(sizes) - sizes
    last = first + sizes - 1
    # np.allclose's test (rtol 1e-5, atol 1e-8 mm), as in _clean_polygon
    closed = np.all(np.abs(pts[first] - pts[last]) <= 1e-8 + 1e-5 * np.abs(pts[last]), axis=1)
    if bool(np.any(sizes - closed < 3)):
        return one_by_one()
    z = pts[:, 2].copy()
    z[last[closed]] = z[first[closed]]  # a dropped closing point does not count (the first one stays)
    if bool(np.any(np.maximum.reduceat(z, first) - np.minimum.reduceat(z, first) > PLANE_TOLERANCE_MM)):
        return one_by_one()
    return [a[:-1] if c else a for a, c in zip(arrays, closed.tolist())]


def _collinear_each(xys: Sequence[FloatArray]) -> NDArray[np.bool_]:
    """:func:`encloses_no_area` of every polygon: a 2 × 2 Gram matrix first, a batched SVD if needed.

    The smallest singular value s₂ of a polygon's centred (N, 2) points is at most 1e-9 of the
    largest s₁ when it encloses no area. The eigenvalues λ₂ ≤ λ₁ of their Gram matrix are s₂², s₁²;
    computed in floating point, λ₂ is off by at most ≈ 2(N + 2)·ε·λ₁, so a computed λ₂ > 1e-6·λ₁
    proves s₂ > 1e-3·s₁: such polygons (all but the thinnest) are decided without an SVD. The others
    get one batched SVD, their centred points padded with zero rows to the longest of them (zero rows
    do not change a matrix's singular values).
    """
    sizes = np.array([len(xy) for xy in xys], dtype=np.int64)
    points = np.concatenate(list(xys))
    owner = np.repeat(np.arange(len(xys)), sizes)
    first = np.cumsum(sizes) - sizes
    centre = np.add.reduceat(points, first, axis=0) / sizes[:, None]
    centred = points - np.repeat(centre, sizes, axis=0)  # each point's polygon's centre
    cx, cy = centred[:, 0], centred[:, 1]
    gxx = np.add.reduceat(cx * cx, first)
    gyy = np.add.reduceat(cy * cy, first)
    gxy = np.add.reduceat(cx * cy, first)
    lam_1 = (gxx + gyy) / 2.0 + np.sqrt(((gxx - gyy) / 2.0) ** 2 + gxy * gxy)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_2 = (gxx * gyy - gxy * gxy) / lam_1
    out = np.zeros(len(xys), dtype=bool)
    unsure = np.flatnonzero(~((lam_1 > 0.0) & (lam_2 > 1e-6 * lam_1)))
    if len(unsure):
        taken = np.isin(owner, unsure)
        rank = np.full(len(xys), -1, dtype=np.int64)
        rank[unsure] = np.arange(len(unsure))
        padded = np.zeros((len(unsure), int(sizes[unsure].max()), 2))
        padded[rank[owner[taken]], (np.arange(len(points)) - first[owner])[taken]] = centred[taken]
        singular = np.linalg.svd(padded, compute_uv=False)  # (polygons, 2), descending
        out[unsure] = singular[:, -1] <= 1e-9 * np.maximum(singular[:, 0], 1e-12)
    return out


def _slabs_on_grid(slabs: List[Tuple[float, float]], grid: DoseGrid) -> FloatArray:
    """The (z_low, z_high) rows of the slabs that overlap the dose grid's z extent (outer faces)."""
    nz = grid.shape[0]
    sz = grid.spacing_mm[2]
    z_sign = float(np.asarray(grid.direction)[2, 2])
    ends = sorted((grid.origin_mm[2] - z_sign * sz / 2.0, grid.origin_mm[2] + z_sign * (nz - 0.5) * sz))
    return np.array([(a, b) for a, b in slabs if b > ends[0] and a < ends[1]]).reshape(-1, 2)


def _shape_findings(polys: List[FloatArray], slabs_on_grid: FloatArray, name: str) -> List[Finding]:
    """Possibly-open and self-intersecting contours, among those whose slab reaches the grid.

    A contour whose slab misses the dose grid adds nothing to any dose statistic, so its shape is
    not examined (the costliest checks, skipped on a small stereotactic grid).
    """
    findings: List[Finding] = []
    z = np.array([float(poly[0, 2]) for poly in polys])
    low, high = slabs_on_grid[:, 0][None, :], slabs_on_grid[:, 1][None, :]
    examined = np.any((low <= z[:, None]) & (z[:, None] <= high), axis=1)
    crossing = np.zeros(len(polys), dtype=bool)
    crossing[examined] = _self_intersecting([polys[n][:, :2] for n in np.flatnonzero(examined)])
    # _looking_open needs a closing edge > 2 mm and >= 4 points: a looser test of that first
    heads = np.array([p[0, :2] for p in polys])
    tails = np.array([p[-1, :2] for p in polys])
    closing = np.hypot(heads[:, 0] - tails[:, 0], heads[:, 1] - tails[:, 1])
    maybe_open = examined & (closing > 2.0 * (1.0 - 1e-9)) & (np.array([len(p) for p in polys]) >= 4)
    looks_open = np.zeros(len(polys), dtype=bool)
    looks_open[maybe_open] = _looking_open([polys[n][:, :2] for n in np.flatnonzero(maybe_open)])
    for n in np.flatnonzero(looks_open | crossing).tolist():
        poly = polys[n]
        if looks_open[n]:
            findings.append(Finding(
                "possibly-open-contour", "flag",
                f"{name}: contour {n} at z = {poly[0, 2]:.2f} mm has a closing edge much longer than its "
                "other edges; it may be an open polyline (DICOM OPEN_PLANAR) - check the contour",
                subject=name))
        if crossing[n]:
            findings.append(Finding(
                "self-intersecting-contour", "flag",
                f"{name}: contour {n} at z = {poly[0, 2]:.2f} mm crosses itself; it was filled by the "
                "even-odd rule - check the contour", subject=name))
    return findings


def _group_by_plane(polys: List[FloatArray]) -> List[Tuple[float, List[FloatArray]]]:
    # each contour's mean z: the sum np.mean takes (np.add.reduce), without its per-call overhead
    zs = np.array([float(np.add.reduce(p[:, 2])) / len(p) for p in polys])
    planes: List[Tuple[float, List[FloatArray]]] = []
    for n in np.argsort(zs, kind="stable"):
        if planes and zs[n] - planes[-1][0] <= PLANE_TOLERANCE_MM:
            planes[-1][1].append(polys[n])
        else:
            planes.append((float(zs[n]), [polys[n]]))
    return planes


class _Slice(NamedTuple):
    """A voxel slice a contour plane's slab reaches (:func:`_slices_reached`)."""

    k: int  # the voxel slice (grid index)
    weights: FloatArray  # (n,) the slab's z-weight in each of its n sub-slices
    share: float  # their mean: the slab's share of the voxel slice


class _SubSource(NamedTuple):
    """What the sub-voxel occupancy of boundary voxels is computed from (on request).

    ``planes``: each on-grid contour plane's coverage clipped to the grid (its ``j0``, ``i0`` are
    grid row and column of its first pixel) with the (k, z-weights of the n sub-slices, share) of every
    voxel slice its slab reaches; ``corner``: the box's first (k, j, i); ``n``: sub-samples per axis;
    ``coverage``: every plane's coverage, partly covered pixels and scan lines (:func:`_planes_coverage`).
    """

    planes: Tuple[Tuple[_Plane, Tuple[_Slice, ...]], ...]
    corner: Tuple[int, int, int]
    n: int
    coverage: _Coverage


class _SlabIndex(NamedTuple):
    """Each plane's slab in continuous z-index coordinates and the voxel slices it may reach."""

    k_a: FloatArray  # lower end (continuous z index)
    k_b: FloatArray  # upper end
    k_first: IntArray  # first voxel slice (clipped to the grid)
    k_last: IntArray  # last voxel slice (clipped); < k_first when the slab misses the grid


def _slab_index(slabs: List[Tuple[float, float]], grid: DoseGrid) -> _SlabIndex:
    """The slabs (z_low, z_high) mm in the grid's continuous z index, all planes at once."""
    nz = grid.shape[0]
    sz = grid.spacing_mm[2]
    z_sign = float(np.asarray(grid.direction)[2, 2])
    z = np.array(slabs, dtype=np.float64).reshape(-1, 2)
    ends = (z - grid.origin_mm[2]) / (sz * z_sign)
    k_a, k_b = np.minimum(ends[:, 0], ends[:, 1]), np.maximum(ends[:, 0], ends[:, 1])
    k_first = np.maximum(np.floor(k_a + 0.5), 0.0).astype(np.int64)
    k_last = np.minimum(np.floor(k_b + 0.5), nz - 1).astype(np.int64)
    return _SlabIndex(k_a, k_b, k_first, k_last)


def _rasterise(planes: List[Tuple[float, List[FloatArray]]], slabs: List[Tuple[float, float]],
               grid: DoseGrid, subrows: int, sub_samples: int, *, name: str) -> _Raster:
    """Occupancy on the grid's bounding box of the structure, its boundary voxels (and what their
    sub-voxel occupancy is computed from), and its slab-model volume (including off-grid parts; what
    needs no per-pixel coverage is computed on first use, :class:`_SlabVolume`)."""
    _, ny, nx = grid.shape
    sx, sy, _ = grid.spacing_mm
    n = sub_samples
    members_all = [p for _, members in planes for p in members]
    per_plane = np.array([len(members) for _, members in planes], dtype=np.int64)
    sk = _slab_index(slabs, grid)
    # the contour points of the planes whose slab reaches the grid's z-range to continuous indices,
    # all at once (the on-grid planes' polygons are views of them); the other planes miss the grid,
    # their points are needed for their area alone (on first use of the volume)
    in_z = sk.k_first <= sk.k_last
    members = [p for p, keep in zip(members_all, np.repeat(in_z, per_plane).tolist()) if keep]
    sizes = np.array([len(p) for p in members], dtype=np.int64)
    idx = grid.patient_mm_to_index(np.concatenate(members))[:, :2] if members else np.zeros((0, 2))
    plane_first = np.cumsum(per_plane[in_z]) - per_plane[in_z]  # first polygon of each plane in z
    lo, hi = _plane_boxes(idx, sizes, plane_first) if members else (np.zeros((0, 2)), np.zeros((0, 2)))
    reach = (hi[:, 0] > -0.5) & (lo[:, 0] < nx - 0.5) & (hi[:, 1] > -0.5) & (lo[:, 1] < ny - 0.5)
    # planes reaching past the grid's pixels in-plane: their coverage is computed on the grid's
    # pixels alone, their area (for the volume) as the off-grid planes'
    past = ((np.floor(lo + 0.5) < 0).any(axis=1) | (np.floor(hi[:, 0] + 0.5) > nx - 1)
            | (np.floor(hi[:, 1] + 0.5) > ny - 1))
    miss, overhang = ~in_z, np.zeros(len(planes), dtype=bool)
    miss[in_z] = ~reach
    overhang[in_z] = reach & past
    # the areas (for the volume) of the planes whose slab misses the grid and of the overhanging ones
    # are computed on first use of the volume, all at once, without per-pixel coverage (_SlabVolume)
    need_area = miss | overhang
    # the others' per-pixel coverage on the grid's pixels, all at once
    point_first = (np.cumsum(sizes) - sizes).tolist()
    hit = [[idx[point_first[q]:point_first[q] + int(sizes[q])] for q in range(f, f + m)]
           for f, m in zip(plane_first[reach].tolist(), per_plane[in_z][reach].tolist())]
    coverage = _planes_coverage(hit, subrows, n, (ny, nx)) if hit else None
    coverages = iter(coverage.planes if coverage is not None else [])
    reached = iter(_slices_reached(sk, ~miss, n))
    on_grid: List[Tuple[_Plane, Tuple[_Slice, ...]]] = []
    known_mm3: List[Optional[float]] = []
    for (z_low, z_high), off, beyond in zip(slabs, miss.tolist(), overhang.tolist()):
        if off:
            known_mm3.append(None)
            continue
        plane = next(coverages)
        known_mm3.append(None if beyond else float(plane.coverage.sum()) * sx * sy * (z_high - z_low))
        slices = next(reached)
        if slices:
            on_grid.append((plane, slices))
    thickness_mm = [z_high - z_low for z_low, z_high in slabs]
    geometry = _geometry_of(grid) if bool(need_area.any()) else grid  # kept only when planes are pending
    volume = _SlabVolume(name, known_mm3, thickness_mm, geometry, members_all, per_plane, need_area, subrows,
                         n)
    return _assemble(on_grid, n, volume, coverage)


def _geometry_of(grid: DoseGrid) -> DoseGrid:
    """``grid``'s origin, spacing and direction on a single voxel of dose 0 (its geometry alone, for
    :meth:`DoseGrid.patient_mm_to_index`, which does not depend on the grid's shape)."""
    return DoseGrid(np.zeros((1, 1, 1)), grid.origin_mm, grid.spacing_mm, direction=grid.direction)


def _off_grid_areas_px(grid: DoseGrid, polygons_mm: List[FloatArray], per_plane: IntArray,
                       wanted: NDArray[np.bool_], *, subrows: int, n: int) -> FloatArray:
    """:func:`_areas_px` on ``grid``'s pixels of the planes marked ``wanted``, in order (``polygons_mm``:
    every plane's polygons, ``per_plane`` of each, planes in order)."""
    if not bool(wanted.any()):
        return np.zeros(0)
    chosen = [p for p, keep in zip(polygons_mm, np.repeat(wanted, per_plane).tolist()) if keep]
    idx = grid.patient_mm_to_index(np.concatenate(chosen))[:, :2]
    return _areas_px(idx, np.array([len(p) for p in chosen], dtype=np.int64), per_plane[wanted], subrows, n)


def _slices_reached(sk: _SlabIndex, planes: NDArray[np.bool_], n: int) -> List[Tuple[_Slice, ...]]:
    """For each plane flagged in ``planes`` (in order), each voxel slice k its slab [k_a, k_b]
    reaches: the z-weights (n,) of its n sub-slices (the overlap of the slab with each sub-slice,
    × n) and their mean; all planes' slices k_first … k_last at once."""
    k_a, k_b = sk.k_a[planes], sk.k_b[planes]
    k_first = sk.k_first[planes]
    counts = np.maximum(sk.k_last[planes] - k_first + 1, 0)
    plane, nth = _expand(counts)
    k = k_first[plane] + nth
    edges = (k - 0.5)[:, None] + np.arange(n + 1) / n  # sub-slice boundaries of each voxel slice
    below, above = k_a[plane][:, None], k_b[plane][:, None]
    weights = np.maximum(np.minimum(above, edges[:, 1:]) - np.maximum(below, edges[:, :-1]), 0.0) * n
    sums = weights.sum(axis=1)
    shares = (sums / n).tolist()
    slices = [_Slice(int(k[r]), weights[r], shares[r]) for r in range(len(k))]
    keep = (sums > 0.0).tolist()
    bounds = np.cumsum(counts).tolist()
    return [tuple(sl for sl, kept in zip(slices[b - c:b], keep[b - c:b]) if kept)
            for b, c in zip(bounds, counts.tolist())]


def _assemble(on_grid: List[Tuple[_Plane, Tuple[_Slice, ...]]], n: int,
              volume: _SlabVolume, coverage: Optional[_Coverage]) -> _Raster:
    """The box, its occupancy and boundary voxels from the on-grid planes' coverage and z-weights."""
    if not on_grid or coverage is None:
        return _Raster(None, np.zeros((0, 0, 0)), _NO_VOXELS, None, volume)
    k_lo = min(sl[0].k for _, sl in on_grid)
    k_hi = max(sl[-1].k for _, sl in on_grid) + 1
    r_lo = min(pl.j0 for pl, _ in on_grid)
    r_hi = max(pl.j0 + pl.coverage.shape[0] for pl, _ in on_grid)
    c_lo = min(pl.i0 for pl, _ in on_grid)
    c_hi = max(pl.i0 + pl.coverage.shape[1] for pl, _ in on_grid)
    box_fraction = np.zeros((k_hi - k_lo, r_hi - r_lo, c_hi - c_lo))
    for plane, slices in on_grid:
        rows, cols = plane.coverage.shape
        rr, cc = plane.j0 - r_lo, plane.i0 - c_lo
        for k, _, share in slices:
            target = box_fraction[k - k_lo, rr:rr + rows, cc:cc + cols]
            # a whole voxel slice adds the coverage itself (1.0 × c is c: the same sum, no product)
            target += plane.coverage if share == 1.0 else share * plane.coverage
    # clipped, and the boundary voxels found, a few voxel slices at a time (small temporaries)
    per_slice = box_fraction.shape[1] * box_fraction.shape[2]
    found = []
    for k0 in range(0, box_fraction.shape[0], _SLICES_PER_PASS):
        chunk = box_fraction[k0:k0 + _SLICES_PER_PASS]
        np.clip(chunk, 0.0, 1.0, out=chunk)
        boundary = chunk > 0.0
        boundary &= chunk < 1.0 - _FULL_TOL
        found.append(np.flatnonzero(boundary) + k0 * per_slice)
    sub_voxels = np.concatenate(found)
    source = _SubSource(tuple(on_grid), (k_lo, r_lo, c_lo), n, coverage) if n > 1 else None
    box = (slice(k_lo, k_hi), slice(r_lo, r_hi), slice(c_lo, c_hi))
    return _Raster(box, box_fraction, sub_voxels, source, volume)


class _PlaneSlices(NamedTuple):
    """Every (on-grid plane, voxel slice its slab reaches) pair of a :class:`_SubSource`, in order."""

    k: IntArray  # voxel slice (grid index)
    weights: FloatArray  # (pairs, n) the plane's z-weight in each sub-slice of that slice
    r0: IntArray  # the plane's pixel rows [r0, r1) and columns [c0, c1) on the grid
    r1: IntArray
    c0: IntArray
    c1: IntArray
    cell: IntArray  # position of pixel (r0, c0) in the planes' flat coverage
    stride: IntArray  # cells per row there


def _plane_slices(source: _SubSource) -> _PlaneSlices:
    """The (plane, voxel slice) pairs of ``source`` as arrays (planes in order, then slices)."""
    per_plane = [(plane, len(slices)) for plane, slices in source.planes]
    counts = [count for _, count in per_plane]

    def each(values: List[int]) -> IntArray:
        return np.repeat(np.array(values, dtype=np.int64), counts)

    return _PlaneSlices(
        np.array([sl.k for _, slices in source.planes for sl in slices], dtype=np.int64),
        np.array([sl.weights for _, slices in source.planes for sl in slices]).reshape(-1, source.n),
        each([p.j0 for p, _ in per_plane]), each([p.j0 + p.coverage.shape[0] for p, _ in per_plane]),
        each([p.i0 for p, _ in per_plane]), each([p.i0 + p.coverage.shape[1] for p, _ in per_plane]),
        each([p.cell for p, _ in per_plane]), each([p.stride for p, _ in per_plane]))


class _Entries(NamedTuple):
    """One entry per (on-grid plane, voxel slice, boundary voxel its slab and pixels reach)."""

    where: IntArray  # position of the entry's voxel among the voxels asked for
    z_weights: FloatArray  # (E, n) the plane's z-weight in each sub-slice of the voxel
    coverage: FloatArray  # (E,) the in-plane coverage of the voxel's pixel in that plane
    partial: IntArray  # (E,) the pixel's index into ``scan.part_left`` when partly covered, else −1


def _entries(source: _SubSource, box_shape: Tuple[int, ...], voxels: IntArray) -> _Entries:
    """The entries of boundary ``voxels`` (flat box indices, ascending): planes in order, then voxel
    slices, then voxels, all gathered at once."""
    k_lo, r_lo, c_lo = source.corner
    kk, rr, cc = np.unravel_index(voxels, box_shape)
    slice_start = np.searchsorted(kk, np.arange(box_shape[0] + 1))
    pairs = _plane_slices(source)
    # every voxel of each pair's slice, then those inside the pair's plane
    lo, hi = slice_start[pairs.k - k_lo], slice_start[pairs.k - k_lo + 1]
    pair, nth = _expand(hi - lo)
    where = lo[pair] + nth  # into voxels
    r, c = rr[where] + r_lo, cc[where] + c_lo
    inside = (r >= pairs.r0[pair]) & (r < pairs.r1[pair]) & (c >= pairs.c0[pair]) & (c < pairs.c1[pair])
    pair, where, r, c = pair[inside], where[inside], r[inside], c[inside]
    cell = pairs.cell[pair] + (r - pairs.r0[pair]) * pairs.stride[pair] + (c - pairs.c0[pair])
    coverage = source.coverage.flat[cell]
    partial = np.full(len(cell), -1, dtype=np.int64)
    is_part = (coverage > 0.0) & (coverage < 1.0 - _FULL_TOL)
    partial[is_part] = np.searchsorted(source.coverage.part_cells, cell[is_part])
    return _Entries(where, pairs.weights[pair], coverage, partial)


def _in_plane(source: _SubSource, entries: _Entries, weights: Optional[FloatArray]) -> FloatArray:
    """Each entry's in-plane coverage of its pixel's n × n sub-pixels [b, a] (``weights`` None), or
    its projection Wᵀ·C·W (k × k) through per-axis ``weights`` W (n, k).

    The sub-pixel coverage C of a partly covered pixel comes from :func:`_fine_coverage` (once per
    pixel, for all planes' pixels at once); another pixel is covered uniformly by its own coverage c
    (0 or 1), so its projection is c · (1ᵀW)ᵀ(1ᵀW).
    """
    n = source.n
    is_part = entries.partial >= 0
    if bool(is_part.any()):
        ids, inverse = np.unique(entries.partial[is_part], return_inverse=True)
        fine = _fine_coverage(source.coverage.scan, ids, n)
    if weights is None:
        block = np.empty((len(entries.where), n, n))
        block[...] = entries.coverage[:, None, None]
        if bool(is_part.any()):
            block[is_part] = fine[inverse.reshape(-1)]
        return block
    column_sums = weights.sum(axis=0)
    projected = entries.coverage[:, None, None] * np.outer(column_sums, column_sums)
    if bool(is_part.any()):
        # Wᵀ·C·W of every pixel in one matrix product: (Wᵀ·C·W)[a, b] = Σ over (i, j) of C[i, j] ·
        # W[i, a]·W[j, b], the (i·n + j, a·k + b) entry of the Kronecker product W ⊗ W
        k = weights.shape[1]
        w_by_w = (weights[:, None, :, None] * weights[None, :, None, :]).reshape(n * n, k * k)  # W ⊗ W
        each = fine.reshape(len(ids), n * n) @ w_by_w
        projected[is_part] = each.reshape(-1, k, k)[inverse.reshape(-1)]
    return np.asarray(projected)


def _sum_by_voxel(where: IntArray, z: FloatArray, plane: FloatArray, n_voxels: int) -> FloatArray:
    """Σ over each voxel's entries of the outer product z ⊗ plane, shape (n_voxels, kz · kxy).

    ``z`` (E, kz) and ``plane`` (E, kxy) per entry. A voxel's entries are added in their order: its
    r-th entry in round r (a voxel meets few planes, so there are few rounds). In a round most voxels
    take part in, the others add the product of an all-zero entry: adding 0.0 changes no sum, and
    the round adds to all voxels without indexing. A voxel without entries sums to 0. The voxels are
    done :data:`_SUM_VOXELS` at a time, the products in one reused buffer (small arrays that stay in
    the processor's cache).
    """
    kz, kxy = z.shape[1], plane.shape[1]
    if len(where) == 0:
        return np.zeros((n_voxels, kz * kxy))
    z = np.concatenate([z, np.zeros((1, kz))])
    plane = np.concatenate([plane, np.zeros((1, kxy))])
    order = np.argsort(where, kind="stable")
    sorted_where = where[order]
    first = np.flatnonzero(np.concatenate([[True], sorted_where[1:] != sorted_where[:-1]]))
    entries = np.diff(np.append(first, len(order)))  # entries of each voxel reached
    sums = np.empty((len(first), kz, kxy))
    buffer = np.empty((min(_SUM_VOXELS, len(first)), kz, kxy))
    for start in range(0, len(first), _SUM_VOXELS):
        chunk = slice(start, start + _SUM_VOXELS)
        firsts, counts, out = first[chunk], entries[chunk], sums[chunk]
        e = order[firsts]
        np.einsum("ec,ex->ecx", z[e], plane[e], out=out)  # the outer products (einsum: faster here)
        for rank in range(1, int(counts.max())):
            more = np.flatnonzero(counts > rank)
            if 2 * len(more) > len(firsts):
                every = np.full(len(firsts), len(where))
                every[more] = order[firsts[more] + rank]
                out += np.einsum("ec,ex->ecx", z[every], plane[every], out=buffer[:len(firsts)])
            else:
                e = order[firsts[more] + rank]
                out[more] += z[e][:, :, None] * plane[e][:, None, :]
    flat_sums = sums.reshape(len(first), kz * kxy)
    if len(first) == n_voxels:  # every voxel reached (the usual case)
        return flat_sums
    result = np.zeros((n_voxels, kz * kxy))
    result[sorted_where[first]] = flat_sums
    return result


#: Voxels per chunk of :func:`_sum_by_voxel`.
_SUM_VOXELS = 2048


def _boundary_sub_fraction(source: _SubSource, box_shape: Tuple[int, ...], voxels: IntArray) -> FloatArray:
    """Occupancy of the n³ sub-voxels of boundary ``voxels`` (flat box indices, ascending).

    Each plane's slab within one voxel slice adds, to sub-voxel (c, b, a), its z-weight in
    sub-slice c times the in-plane coverage of sub-pixel (b, a) (:func:`_entries`,
    :func:`_in_plane`, :func:`_sum_by_voxel`: the planes' contributions added in the planes' order).
    """
    n = source.n
    entries = _entries(source, box_shape, voxels)
    block = _in_plane(source, entries, None).reshape(-1, n * n)
    out = _sum_by_voxel(entries.where, entries.z_weights, block, len(voxels)).reshape(len(voxels), n, n, n)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _boundary_projection(source: _SubSource, box_shape: Tuple[int, ...], voxels: IntArray,
                         weights: FloatArray) -> FloatArray:
    """Σ over the sub-voxels (c, b, a) of boundary ``voxels`` of occupancy × W[c, z]·W[b, y]·W[a, x],
    shape (len(voxels), k, k, k) for per-axis ``weights`` W (n, k); not clipped to [0, 1].

    A plane's contribution is separable: (its z-weights · W) ⊗ (Wᵀ · sub-pixel coverage · W), so
    it costs k³ values per entry where the sub-voxel occupancy costs n³.
    """
    k = weights.shape[1]
    entries = _entries(source, box_shape, voxels)
    plane = _in_plane(source, entries, weights).reshape(-1, k * k)
    out = _sum_by_voxel(entries.where, entries.z_weights @ weights, plane, len(voxels))
    return out.reshape(len(voxels), k, k, k)


def _plane_boxes(idx: FloatArray, sizes: IntArray, plane_first: IntArray) -> Tuple[FloatArray, FloatArray]:
    """Each plane's polygons' bounding box (index coordinates): (lowest (x, y), highest (x, y)) per plane.
    ``idx``: every polygon's points (x, y) laid end to end, ``sizes`` their counts, ``plane_first``
    each plane's first polygon (planes in order, each with at least one polygon)."""
    point_first = (np.cumsum(sizes) - sizes)[plane_first]
    return np.minimum.reduceat(idx, point_first, axis=0), np.maximum.reduceat(idx, point_first, axis=0)


def _finish(raster: _Raster, grid: DoseGrid, sub_samples: int, *, findings: List[Finding],
            name: str) -> Occupancy:
    box, box_fraction = raster.box, raster.box_fraction
    for array in (box_fraction, raster.sub_voxels):
        array.flags.writeable = False
    in_grid_cc = float(box_fraction.sum()) * grid.voxel_volume_cc
    if box is None or in_grid_cc <= 0.0:
        raise InputError(
            f"{name}: none of its {raster.volume.mm3() / 1000.0:.3f} cm³ lies inside the dose grid; check "
            "the frame of reference and the registration, or enlarge the dose grid"
        )
    volume: Union[float, _SlabVolume] = raster.volume
    if not bool(raster.volume.pending.any()):  # every plane's area is known: so are the volume and findings
        volume = raster.volume.mm3() / 1000.0
        findings.extend(_outside_grid_findings(name, volume, in_grid_cc))
    for f in findings:
        logger.warning("%s", f.message)
    return Occupancy(grid_shape=grid.shape, box=box, box_fraction=box_fraction, _volume=volume,
                     volume_in_grid_cc=in_grid_cc, _findings=tuple(findings), sub_samples=sub_samples,
                     sub_voxels=raster.sub_voxels, _sub_source=raster.sub_source)


def _outside_grid_findings(name: str, volume_cc: float, in_grid_cc: float) -> Tuple[Finding, ...]:
    """``structure-partly-outside-dose-grid`` when more than 0.1 % of the volume lies off the grid."""
    outside = 1.0 - in_grid_cc / volume_cc if volume_cc > 0 else 0.0
    if outside <= 1e-3:
        return ()
    return (Finding(
        "structure-partly-outside-dose-grid", "flag",
        f"{name}: {100 * outside:.1f} % of its {volume_cc:.2f} cm³ lies outside the dose grid; "
        "doses there are unknown (not zero)", subject=name),)


def mask_from_contours(contours_mm: Sequence[ArrayLike], grid: DoseGrid) -> NDArray[np.float64]:
    """Fractional occupancy in [0, 1] per voxel (docs/design.md §5); see :func:`structure_occupancy`.

    Findings (structure partly off the grid, self-intersections) are logged as warnings; use
    :func:`structure_occupancy` to receive them as data.
    """
    occupancy = structure_occupancy(contours_mm, grid)
    occupancy.findings  # noqa: B018 - decides (and logs) the findings that need the volume
    return occupancy.fraction
