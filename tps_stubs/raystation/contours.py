"""Contours written point by point, and box geometries, in the RayStation stand-in (DEVIATIONS.md).

``geometry.PrimaryShape.Contours = [[{'x': …, 'y': …, 'z': …}, …], …]`` (cm) replaces an ROI geometry's
contours, as public scripts use it (a slice-thinning script sets a subset of the contours it read; a
structure-set restore script writes saved contours over a placeholder box). The value is checked here
with the stand-in's strict reading, since RaySearch documents none of it:

* a list (or tuple) of contours, each a list of at least three points; each point a mapping with exactly
  the keys ``x``, ``y``, ``z``, each a finite real number (not a bool) — otherwise ``TypeError``, as a
  .NET binding refuses a value it cannot convert;
* every contour planar (all its z within :data:`PLANE_TOLERANCE_CM`) and on an image plane of the
  examination (within the same tolerance) — otherwise :class:`.errors.ArgumentException`; at least one
  contour (an empty list is refused the same way).

The contours of a plane combine by the **even–odd rule** (the engine's
:func:`reirrad.structures.structure_occupancy`, which every stand-in volume, voxelisation, statistic and
optimiser mask uses): a contour inside another is a hole, one inside a hole an island. Values are cm;
a value given in mm by mistake is ten times too large and is **not** detectable here unless it moves a
contour off the image planes.

``roi.CreateBoxGeometry(Size, Examination, Center, Representation, VoxelSize)`` (cm) makes the ROI's
geometry on the examination a box: one rectangle on every image plane whose z lies within the box
(lower face included, upper excluded, so a 1 cm box covers four 2.5 mm planes), replacing any geometry it
had. ``Representation`` (``'Voxels'``,
``'TriangleMesh'`` or ``'Contours'``, [stub-2025]) sets the primary shape: a voxel or mesh shape has no
``Contours`` until ``SetRepresentation(Representation='Contours')``. ``VoxelSize`` (None or cm) is
accepted and not used. A box that reaches no image plane is refused (``ScriptException``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from .errors import ArgumentException, ScriptException

__all__ = ["PLANE_TOLERANCE_CM", "REPRESENTATIONS", "box_contours", "parse_contours", "parse_vector"]

#: Primary-shape representations ([stub-2025] ``CreateBoxGeometry`` ``Representation`` literals).
REPRESENTATIONS = ("Voxels", "TriangleMesh", "Contours")
#: How far a contour's points may lie from its plane, and the plane from an image plane, cm (0.01 mm).
PLANE_TOLERANCE_CM = 0.001
_KEYS = ("x", "y", "z")
_SHAPE = "a list of contours, each a list of points {'x', 'y', 'z'} in cm"


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, Mapping))


def _coordinate(point: Any, where: str) -> Tuple[float, float, float]:
    if not isinstance(point, Mapping) or set(point) != set(_KEYS):
        keys = sorted(point) if isinstance(point, Mapping) else type(point).__name__
        raise TypeError(f"{where} must be a point {{'x', 'y', 'z'}} with exactly those keys (got {keys}).")
    out = []
    for key in _KEYS:
        value = point[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise TypeError(f"{where}[{key!r}] must be a finite number of cm (got {value!r}).")
        out.append(float(value))
    return out[0], out[1], out[2]


def parse_vector(value: Any, where: str, *, positive: bool = False) -> Tuple[float, float, float]:
    """A ``{'x', 'y', 'z'}`` keyword (``Size``, ``Center``), cm."""
    vector = _coordinate(value, where)
    if positive and min(vector) <= 0.0:
        raise ScriptException(f"{where} must be > 0 cm in x, y and z (got {value!r}).")
    return vector


def parse_contours(value: Any, image: Any) -> Dict[int, Tuple[np.ndarray, ...]]:
    """Check a ``Contours`` value (module docstring) and return it by image plane index, in mm."""
    if not _is_list(value):
        raise TypeError(f"Contours must be {_SHAPE} (got {type(value).__name__}).")
    if not value:
        raise ArgumentException("Contours must hold at least one contour (got an empty list).")
    planes_cm = np.asarray(image.plane_z_mm(), float) / 10.0
    by_plane: Dict[int, List[np.ndarray]] = {}
    for n, contour in enumerate(value):
        if not _is_list(contour):
            raise TypeError(f"Contours[{n}] must be a list of points {{'x', 'y', 'z'}} in cm (got "
                            f"{type(contour).__name__}).")
        if len(contour) < 3:
            raise ArgumentException(f"Contours[{n}] has {len(contour)} points; a closed contour needs 3 or "
                                    "more.")
        points = np.array([_coordinate(p, f"Contours[{n}][{i}]") for i, p in enumerate(contour)])
        z_lo, z_hi = float(points[:, 2].min()), float(points[:, 2].max())
        if z_hi - z_lo > PLANE_TOLERANCE_CM:
            raise ArgumentException(f"Contours[{n}] is not planar: its z runs from {z_lo:g} to {z_hi:g} cm; "
                                    "every contour lies on one axial image plane.")
        k = int(np.argmin(np.abs(planes_cm - z_lo)))
        if abs(planes_cm[k] - z_lo) > PLANE_TOLERANCE_CM:
            raise ArgumentException(f"Contours[{n}] lies at z = {z_lo:g} cm, not on an image plane of the "
                                    f"examination (nearest {planes_cm[k]:g} cm).")
        by_plane.setdefault(k, []).append(points * 10.0)
    return {k: tuple(loops) for k, loops in sorted(by_plane.items())}


def box_contours(image: Any, centre_cm: Sequence[float], size_cm: Sequence[float]
                 ) -> Dict[int, Tuple[np.ndarray, ...]]:
    """A box as one counter-clockwise rectangle (mm) on every image plane whose z lies within it (its upper
    face excluded)."""
    cx, cy, cz = (10.0 * float(v) for v in centre_cm)
    hx, hy, hz = (5.0 * float(v) for v in size_cm)
    out: Dict[int, Tuple[np.ndarray, ...]] = {}
    for k, z in enumerate(np.asarray(image.plane_z_mm(), float)):
        if cz - hz - 1e-9 <= z < cz + hz - 1e-9:  # half-open: a 1 cm box covers four 2.5 mm planes
            rect = np.array([[cx - hx, cy - hy, z], [cx + hx, cy - hy, z], [cx + hx, cy + hy, z],
                             [cx - hx, cy + hy, z]])
            out[k] = (rect,)
    if not out:
        raise ScriptException(f"The box at z = {cz / 10.0:g} cm (height {2.0 * hz / 10.0:g} cm) reaches no "
                              "image plane of the examination.")
    return out
