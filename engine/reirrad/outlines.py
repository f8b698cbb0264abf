"""Outlines of a voxel mask: the closed planar contours an adapter writes into a TPS.

A region the engine computes voxel by voxel (the low-tolerance part of an OAR, :mod:`reirrad.spatial`)
has no ROI-algebra recipe a TPS could execute: it exists only on the engine's dose grid. Both TPSs accept
contours written point by point (Eclipse ``Structure.AddContourOnImagePlane(VVector[], int z)``, 13.6+;
RayStation ``RoiGeometry.PrimaryShape.Contours = [[{'x', 'y', 'z'}, …], …]`` in cm, public scripts), so
the engine hands the adapter the region as contours on the planning image's planes.

Model
-----
* On one dose-grid slice the mask's **outline** is traced along voxel edges: every edge between a voxel
  inside and one outside (or the grid's border) is a boundary edge, oriented with the inside on its left;
  the edges are linked into closed loops. Where two inside voxels touch only at a corner the loop turns
  left, so they stay separate loops. Collinear points are dropped. Outer boundaries and holes are both
  loops: the contours of a plane are meant to be combined by the **even–odd rule**, the rule
  :mod:`reirrad.structures` and DICOM RT Structure Sets use.
* The plane that carries a slice's outline is chosen by the caller (:func:`outline_planes`): each given
  plane z (mm, e.g. the organ's own contour planes, which lie on the planning image's slices) gets the
  outline of the dose-grid slice whose centre is nearest, inside the grid's z range.
* Exactness: with contour planes one per dose slice at the slice centres, the engine's occupancy of the
  written contours (:func:`reirrad.structures.structure_occupancy`) is 1 in every mask voxel and 0 outside
  it (tests/engine/test_outlines.py). When the image planes and dose slices differ the written structure
  differs from the mask by the slab geometry; the workflow compares the TPS's volume with the engine's
  volume **of the written contours**, so that difference is visible, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from .dose import DoseGrid
from .errors import InputError

__all__ = ["PlaneOutline", "mask_loops", "outline_planes"]

FloatArray = NDArray[np.float64]
_Z_TOL_MM = 0.01

# Directions (dx, dy) on the vertex lattice; a left turn from d is (-dy, dx).
_Vertex = Tuple[int, int]


@dataclass(frozen=True, eq=False)
class PlaneOutline:
    """The closed contours of a region on one axial plane.

    Attributes
    ----------
    z_mm : float
        Patient z of the plane, mm.
    loops_mm : tuple of numpy.ndarray, each (N, 3)
        Closed polygons (closing edge implied), patient coordinates in mm, every point at ``z_mm``;
        combined by the even–odd rule. **Ordered by decreasing area**, so every loop comes after each
        loop that contains it.
    holes : tuple of bool
        Per loop: True for the boundary of a hole (the region is outside it, just inside its edge).
        Writing the loops in order, adding a loop that is not a hole and subtracting one that is, builds
        the region whether the TPS combines an added contour with the existing ones by union or by
        exclusive-or: each added loop falls where nothing is yet, each subtracted loop where everything
        is.
    """

    z_mm: float
    loops_mm: Tuple[FloatArray, ...]
    holes: Tuple[bool, ...]


def mask_loops(mask: NDArray[np.bool_]) -> List[List[Tuple[int, int]]]:
    """Closed loops of vertex-lattice points (x, y) outlining a 2-D mask (module docstring).

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (ny, nx)
        Voxel (i, j) = row y, column x; its corners are the lattice points (x, y) … (x + 1, y + 1).

    Returns
    -------
    list of list of (int, int)
        One list of corner points per loop, in order, inside on the left (counter-clockwise around
        an island with x right and y up), without the repeated first point and without collinear
        points. Empty for an empty mask.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise InputError(f"an outline needs a 2-D mask (got {m.ndim} dimensions)")
    p = np.pad(m, 1)
    inside = p[1:-1, 1:-1]
    edges: Dict[_Vertex, List[_Vertex]] = {}

    def add(cells: NDArray[np.bool_], start: Tuple[int, int], step: Tuple[int, int]) -> None:
        rows, cols = np.nonzero(cells)
        for y, x in zip(rows.tolist(), cols.tolist()):
            a = (x + start[0], y + start[1])
            edges.setdefault(a, []).append((step[0], step[1]))

    # Inside on the left: bottom edges go +x, right edges +y, top edges -x, left edges -y.
    add(inside & ~p[:-2, 1:-1], (0, 0), (1, 0))
    add(inside & ~p[1:-1, 2:], (1, 0), (0, 1))
    add(inside & ~p[2:, 1:-1], (1, 1), (-1, 0))
    add(inside & ~p[1:-1, :-2], (0, 1), (0, -1))
    loops: List[List[Tuple[int, int]]] = []
    while edges:
        # The smallest vertex is the lower-left corner of a voxel whose left and lower neighbours are
        # outside: exactly one edge leaves it (+x), so the loop closes when it comes back to it.
        start = min(edges)
        direction = edges[start][0]
        points = [start]
        vertex = start
        while True:
            outgoing = edges[vertex]
            outgoing.remove(direction)
            if not outgoing:
                del edges[vertex]
            vertex = (vertex[0] + direction[0], vertex[1] + direction[1])
            if vertex == start:
                break
            choices = edges.get(vertex, [])
            left = (-direction[1], direction[0])
            right = (direction[1], -direction[0])
            nxt = next((c for c in (left, direction, right) if c in choices), None)
            if nxt is None:  # pragma: no cover - boundary edges always close into loops
                raise AssertionError(f"outline: open boundary at {vertex}")
            if nxt != direction:
                points.append(vertex)
            direction = nxt
        loops.append(_drop_collinear(points))
    return loops


def _drop_collinear(points: List[_Vertex]) -> List[_Vertex]:
    """The loop's corners only (a point between two collinear edges removed)."""
    n = len(points)
    out = []
    for k in range(n):
        a, b, c = points[k - 1], points[k], points[(k + 1) % n]
        if (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]) != 0:
            out.append(b)
    return out


def outline_planes(mask: NDArray[np.bool_], grid: DoseGrid,
                   planes_z_mm: Sequence[float]) -> List[PlaneOutline]:
    """The outline of a 3-D dose-grid mask on each given axial plane (module docstring).

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape ``grid.shape`` [z, y, x]
    grid : DoseGrid
        Axial (its z index axis along patient z; oblique grids are refused).
    planes_z_mm : sequence of float
        Patient z of the planes that may carry contours, mm (duplicates merged).

    Returns
    -------
    list of PlaneOutline
        One per plane inside the grid's z range whose nearest slice has part of the mask, by z.
    """
    m = np.asarray(mask, dtype=bool)
    if m.shape != tuple(grid.shape):
        raise InputError(f"the mask has shape {m.shape}, the dose grid {tuple(grid.shape)}")
    direction = np.eye(3) if grid.direction is None else np.asarray(grid.direction, float)
    if abs(abs(direction[2, 2]) - 1.0) > 1e-6:
        raise InputError("outlines need an axial dose grid (its third axis along patient z); this grid is "
                         "oblique")
    nz = m.shape[0]
    out: List[PlaneOutline] = []
    for z in sorted({round(float(v), 6) for v in planes_z_mm}):
        k_cont = _k_of(grid, z)
        k = int(np.floor(k_cont + 0.5))
        if k < 0 or k >= nz or abs(k_cont - k) > 0.5 + _Z_TOL_MM or not m[k].any():
            continue
        traced = sorted(mask_loops(m[k]), key=lambda lp: -abs(_lattice_area(lp)))
        loops = []
        for loop in traced:
            idx = np.array([[x - 0.5, y - 0.5, k] for x, y in loop], dtype=np.float64)
            pts = grid.index_to_patient_mm(idx)
            pts[:, 2] = z
            loops.append(pts)
        out.append(PlaneOutline(z, tuple(loops), tuple(_lattice_area(lp) < 0 for lp in traced)))
    return out


def _lattice_area(loop: Sequence[Tuple[int, int]]) -> float:
    """Signed (shoelace) area of a lattice loop: positive counter-clockwise (an island), negative for a
    hole (:func:`mask_loops` keeps the inside on the left)."""
    x = np.array([p[0] for p in loop], dtype=np.float64)
    y = np.array([p[1] for p in loop], dtype=np.float64)
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _k_of(grid: DoseGrid, z_mm: float) -> float:
    """Continuous slice index of patient z (the grid is axial: z depends on k only)."""
    k0 = grid.index_to_patient_mm([[0.0, 0.0, 0.0]])[0][2]
    k1 = grid.index_to_patient_mm([[0.0, 0.0, 1.0]])[0][2]
    return float((z_mm - k0) / (k1 - k0))
