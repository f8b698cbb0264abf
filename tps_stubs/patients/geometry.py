"""Geometric primitives of stub patients: signed distances and contours on image planes.

A primitive is a mapping with one key naming its kind (all lengths mm, patient coordinates):

* ``sphere: {centre: [x, y, z], radius: r}``
* ``ellipsoid: {centre: [x, y, z], radii: [rx, ry, rz]}``
* ``cylinder: {centre: [x, y], radii: [rx, ry], z: [z0, z1]}`` (elliptic, along patient z)
* ``box: {centre: [x, y, z], half_size: [hx, hy, hz]}``
* ``tube: {path: [[x, y, z], ...], radius: r}`` (a capsule swept along a polyline)
* ``union: [primitive, ...]``
* ``shell: {of: primitive, thickness: t}`` (the outer ``t`` mm of a primitive, e.g. skin)

``signed_distance`` is negative inside. It is exact for spheres, boxes, tubes and the z-caps of
cylinders and a first-order approximation for ellipses and ellipsoids (the correct sign, and
distances accurate near the surface), which is all the stand-in planner and contouring need.
Contours are extracted from the signed distance on each image plane by marching squares on a
0.5 mm grid, so unions, islands and holes come out as separate closed polygons.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

__all__ = ["bounding_box", "contours_of_field", "contours_on_plane", "signed_distance", "transform_points"]

Primitive = Mapping[str, Any]
KINDS = ("sphere", "ellipsoid", "cylinder", "box", "tube", "union", "shell")


def _kind(primitive: Primitive) -> Tuple[str, Any]:
    if not isinstance(primitive, Mapping) or len(primitive) != 1:
        raise ValueError(f"a primitive is a mapping with one of {KINDS} as its only key (got {primitive!r})")
    (kind, params), = primitive.items()
    if kind not in KINDS:
        raise ValueError(f"unknown primitive {kind!r}; expected one of {KINDS}")
    return kind, params


def _ellipse_sdf(dx: np.ndarray, dy: np.ndarray, rx: float, ry: float) -> np.ndarray:
    k = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
    return (k - 1.0) * min(rx, ry)


def _sd_union(p: Any, pts: np.ndarray) -> np.ndarray:
    return np.min([signed_distance(q, pts) for q in p], axis=0)


def _sd_shell(p: Any, pts: np.ndarray) -> np.ndarray:
    inner = signed_distance(p["of"], pts)
    return np.maximum(inner, -inner - float(p["thickness"]))


def _sd_sphere(p: Any, pts: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pts - np.asarray(p["centre"], float), axis=1) - float(p["radius"])


def _sd_ellipsoid(p: Any, pts: np.ndarray) -> np.ndarray:
    r = np.asarray(p["radii"], float)
    k = np.linalg.norm((pts - np.asarray(p["centre"], float)) / r, axis=1)
    return (k - 1.0) * float(r.min())


def _sd_cylinder(p: Any, pts: np.ndarray) -> np.ndarray:
    cx, cy = (float(v) for v in p["centre"])
    rx, ry = (float(v) for v in p["radii"])
    z0, z1 = sorted(float(v) for v in p["z"])
    radial = _ellipse_sdf(pts[:, 0] - cx, pts[:, 1] - cy, rx, ry)
    axial = np.maximum(z0 - pts[:, 2], pts[:, 2] - z1)
    outside = np.sqrt(np.maximum(radial, 0.0) ** 2 + np.maximum(axial, 0.0) ** 2)
    return np.where((radial > 0) | (axial > 0), outside, np.maximum(radial, axial))


def _sd_box(p: Any, pts: np.ndarray) -> np.ndarray:
    q = np.abs(pts - np.asarray(p["centre"], float)) - np.asarray(p["half_size"], float)
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def _sd_tube(p: Any, pts: np.ndarray) -> np.ndarray:
    path = np.asarray(p["path"], float)
    best = np.full(len(pts), np.inf)
    for a, b in zip(path[:-1], path[1:]):
        ab = b - a
        t = np.clip(((pts - a) @ ab) / float(ab @ ab), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(pts - (a + t[:, None] * ab), axis=1))
    return best - float(p["radius"])


_SIGNED_DISTANCE = {"union": _sd_union, "shell": _sd_shell, "sphere": _sd_sphere, "ellipsoid": _sd_ellipsoid,
                    "cylinder": _sd_cylinder, "box": _sd_box, "tube": _sd_tube}


def signed_distance(primitive: Primitive, points: np.ndarray) -> np.ndarray:
    """Signed distance (mm, negative inside) of (N, 3) points to a primitive."""
    kind, p = _kind(primitive)
    return np.asarray(_SIGNED_DISTANCE[kind](p, np.asarray(points, dtype=float)))


def _bb_union(p: Any) -> Tuple[np.ndarray, np.ndarray]:
    boxes = [bounding_box(q) for q in p]
    return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def _bb_centred(p: Any) -> Tuple[np.ndarray, np.ndarray]:
    c = np.asarray(p["centre"], float)
    r = np.asarray(p.get("radii", p.get("half_size", p.get("radius"))), float)
    return c - r, c + r


def _bb_cylinder(p: Any) -> Tuple[np.ndarray, np.ndarray]:
    z0, z1 = sorted(float(v) for v in p["z"])
    c, r = np.asarray(p["centre"], float), np.asarray(p["radii"], float)
    return np.array([c[0] - r[0], c[1] - r[1], z0]), np.array([c[0] + r[0], c[1] + r[1], z1])


def _bb_tube(p: Any) -> Tuple[np.ndarray, np.ndarray]:
    path, r = np.asarray(p["path"], float), float(p["radius"])
    return path.min(axis=0) - r, path.max(axis=0) + r


_BOUNDING_BOX = {"union": _bb_union, "shell": lambda p: bounding_box(p["of"]), "sphere": _bb_centred,
                 "ellipsoid": _bb_centred, "box": _bb_centred, "cylinder": _bb_cylinder, "tube": _bb_tube}


def bounding_box(primitive: Primitive) -> Tuple[np.ndarray, np.ndarray]:
    """(low, high) corners enclosing the primitive, mm."""
    kind, p = _kind(primitive)
    return _BOUNDING_BOX[kind](p)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4×4 homogeneous matrix to (N, 3) points."""
    return np.asarray(points) @ matrix[:3, :3].T + matrix[:3, 3]


# --- marching squares -------------------------------------------------------------------
# Corner order of a cell: 0 = (i, j), 1 = (i+1, j), 2 = (i+1, j+1), 3 = (i, j+1).
# Edges: 0 = bottom (0-1), 1 = right (1-2), 2 = top (3-2), 3 = left (0-3).
_SEGMENTS: Dict[int, List[Tuple[int, int]]] = {
    1: [(3, 0)], 2: [(0, 1)], 3: [(3, 1)], 4: [(1, 2)], 5: [(3, 2), (1, 0)], 6: [(0, 2)], 7: [(3, 2)],
    8: [(2, 3)], 9: [(2, 0)], 10: [(0, 3), (2, 1)], 11: [(2, 1)], 12: [(1, 3)], 13: [(1, 0)],
    14: [(0, 3)],
}


def _edge_key(j: int, i: int, edge: int) -> Tuple[str, int, int]:
    """A key shared by the two cells that meet at an edge."""
    if edge == 0:
        return ("h", j, i)
    if edge == 2:
        return ("h", j + 1, i)
    if edge == 3:
        return ("v", j, i)
    return ("v", j, i + 1)


def contours_on_plane(primitive: Primitive, z_mm: float, step_mm: float = 0.0,
                      to_shape_frame: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """Closed contours (N, 3) of the primitive's section by the plane z = ``z_mm``.

    ``step_mm`` is the marching-squares grid; by default 1/200 of the larger in-plane extent,
    between 0.5 and 2 mm. ``to_shape_frame`` (4×4) maps this plane's frame of reference to the
    frame the primitive is defined in (for an image in another frame of reference).
    """
    low, high = bounding_box(primitive)
    if to_shape_frame is not None:
        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                            for z in (low[2], high[2])])
        mapped = transform_points(np.linalg.inv(to_shape_frame), corners)
        low, high = mapped.min(axis=0), mapped.max(axis=0)
    if step_mm <= 0.0:
        step_mm = float(np.clip(max(high[0] - low[0], high[1] - low[1]) / 200.0, 0.5, 2.0))
    if not low[2] <= z_mm <= high[2]:
        return []
    xs = np.arange(low[0] - 2 * step_mm, high[0] + 2 * step_mm + step_mm / 2, step_mm)
    ys = np.arange(low[1] - 2 * step_mm, high[1] + 2 * step_mm + step_mm / 2, step_mm)
    gx, gy = np.meshgrid(xs, ys)  # [j, i]
    pts = np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, z_mm)])
    if to_shape_frame is not None:
        pts = transform_points(to_shape_frame, pts)
    v = signed_distance(primitive, pts).reshape(gx.shape)
    return contours_of_field(v, xs, ys, z_mm, step_mm=step_mm)


def contours_of_field(values: np.ndarray, xs: np.ndarray, ys: np.ndarray, z_mm: float, *,
                      step_mm: Optional[float] = None) -> List[np.ndarray]:
    """Closed contours (N, 3) where a field sampled on a regular grid of a plane crosses 0.

    ``values`` is indexed ``[j, i]`` at ``(xs[i], ys[j])`` and is negative inside (a signed distance,
    or a level minus a threshold); crossings are interpolated linearly along the grid edges
    (marching squares). A field that is not positive on the outer rows and columns gives open
    chains there: pad it first. ``step_mm`` is the grid step (the same in x and y; by default
    ``xs[1] - xs[0]``).
    """
    if step_mm is None:
        step_mm = float(xs[1] - xs[0])
    v = np.where(values == 0.0, 1e-9, values)
    inside = v < 0
    if not inside.any():
        return []
    case = (inside[:-1, :-1] * 1 + inside[:-1, 1:] * 2 + inside[1:, 1:] * 4 + inside[1:, :-1] * 8)
    centre_inside = (v[:-1, :-1] + v[:-1, 1:] + v[1:, 1:] + v[1:, :-1]) < 0

    # crossing positions on every horizontal edge (j, i)-(j, i+1) and vertical edge (j, i)-(j+1, i)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_on_h = xs[:-1][None, :] + v[:, :-1] / (v[:, :-1] - v[:, 1:]) * step_mm
        y_on_v = ys[:-1][:, None] + v[:-1, :] / (v[:-1, :] - v[1:, :]) * step_mm
    return _chain(case, centre_inside, xs=xs, ys=ys, x_on_h=x_on_h, y_on_v=y_on_v, z_mm=z_mm)


def _chain(case: np.ndarray, centre_inside: np.ndarray, *, xs: np.ndarray, ys: np.ndarray,
           x_on_h: np.ndarray, y_on_v: np.ndarray, z_mm: float) -> List[np.ndarray]:
    """Join the marching-squares segments into closed loops."""
    nxt: Dict[Tuple[str, int, int], Tuple[str, int, int]] = {}
    for j, i in zip(*np.nonzero((case > 0) & (case < 15))):
        c = int(case[j, i])
        segments = _SEGMENTS[c]
        if c in (5, 10) and centre_inside[j, i]:  # saddle: connect the other way
            segments = [(3, 0), (1, 2)] if c == 5 else [(0, 1), (2, 3)]
        for a, b in segments:
            nxt[_edge_key(j, i, a)] = _edge_key(j, i, b)

    def where(key: Tuple[str, int, int]) -> Tuple[float, float]:
        kind, j, i = key
        if kind == "h":
            return (float(x_on_h[j, i]), float(ys[j]))
        return (float(xs[i]), float(y_on_v[j, i]))

    loops: List[np.ndarray] = []
    seen = set()
    for start in nxt:
        if start in seen:
            continue
        loop, key = [], start
        while key not in seen and key in nxt:
            seen.add(key)
            loop.append(where(key))
            key = nxt[key]
        if len(loop) >= 3:
            xy = np.asarray(loop)
            loops.append(np.column_stack([xy, np.full(len(xy), z_mm)]))
    return loops


