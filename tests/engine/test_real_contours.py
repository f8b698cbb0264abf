"""Occupancy and DVHs on real clinical contours (dicompyler-core's anonymised example RT Structure Set).

`tests/data/dicompyler-example/rtss.dcm` (BSD-style licence, see the folder) holds a breast case:
BODY (141 contours on 98 planes, islands), Lt Lung (165 contours on 80 planes), small structures
(Nodes on 4 planes, Scar), all CLOSED_PLANAR on contiguous 3 mm planes.

Independent oracle: the exact even–odd area of each plane by the shoelace formula (each polygon
signed + or − by the parity of the number of other polygons of the plane that contain it), times
the 3 mm slab thickness, gives the volume; the area centroids give the mean of a linear dose field
D = a + g·x, which is a + g·x̄ for the volume centroid x̄. pydicom is used here only to read the
file (the engine itself never imports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.structures import structure_occupancy

pydicom = pytest.importorskip("pydicom")

RTSS = Path(__file__).resolve().parents[1] / "data" / "dicompyler-example" / "rtss.dcm"
PLANE_MM = 3.0
A_GY, G_GY_PER_MM = 30.0, 0.05


def _contours() -> Dict[str, List[np.ndarray]]:
    ds = pydicom.dcmread(str(RTSS))
    names = {roi.ROINumber: roi.ROIName for roi in ds.StructureSetROISequence}
    out: Dict[str, List[np.ndarray]] = {}
    for roi in ds.ROIContourSequence:
        contours = [np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
                    for c in getattr(roi, "ContourSequence", [])]
        if contours:
            out[names[roi.ReferencedROINumber]] = contours
    return out


CONTOURS = _contours()


def _inside(point: np.ndarray, poly: np.ndarray) -> bool:
    """Ray casting (even–odd) point-in-polygon test."""
    x, y = point
    px, py = poly[:, 0], poly[:, 1]
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    crosses = (py > y) != (qy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = px + (y - py) * (qx - px) / (qy - py)
    return bool(np.count_nonzero(crosses & (x_at > x)) % 2)


def _exact_volume_and_centroid_x(contours: List[np.ndarray]) -> tuple:
    """Σ over planes of signed shoelace areas × 3 mm (mm³), and the volume centroid's x (mm)."""
    volume = 0.0
    moment_x = 0.0
    by_plane: Dict[float, List[np.ndarray]] = {}
    for c in contours:
        by_plane.setdefault(round(float(c[0, 2]), 3), []).append(c[:, :2])
    for polys in by_plane.values():
        for n, poly in enumerate(polys):
            x, y = poly[:, 0], poly[:, 1]
            x1, y1 = np.roll(x, -1), np.roll(y, -1)
            cross = x * y1 - x1 * y
            area = 0.5 * cross.sum()
            cx = ((x + x1) * cross).sum() / (6.0 * area)
            depth = sum(_inside(poly[0], other) for m, other in enumerate(polys) if m != n)
            sign = -1.0 if depth % 2 else 1.0
            volume += sign * abs(area) * PLANE_MM
            moment_x += sign * abs(area) * PLANE_MM * cx
    return volume, moment_x / volume


def _grid_for(contours: List[np.ndarray], spacing: float) -> DoseGrid:
    pts = np.concatenate(contours)
    lo, hi = pts.min(axis=0) - 6.0, pts.max(axis=0) + 6.0
    shape = tuple(int(np.ceil((hi[i] - lo[i]) / spacing)) + 1 for i in (2, 1, 0))
    geometry = DoseGrid(np.zeros(shape), tuple(lo), (spacing,) * 3)
    values = np.stack([(A_GY + G_GY_PER_MM * geometry.voxel_centres_mm(k)[:, 0]).reshape(shape[1:])
                       for k in range(shape[0])])
    return DoseGrid(np.clip(values, 0.0, None), tuple(lo), (spacing,) * 3)


@pytest.mark.parametrize("name", ["Lt Lung", "Heart", "Breast", "Tumor Bed", "Nodes", "Scar", "BODY"])
def test_volume_and_mean_dose_match_the_exact_polygon_integrals(name):
    """Occupancy volume within 0.5 % of the exact even–odd polygon volume; the mean of a linear dose
    within 1 % (or 0.1 Gy) of a + g·x̄; no finding except possibly self-intersections in BODY."""
    contours = CONTOURS[name]
    expected_volume_mm3, centroid_x = _exact_volume_and_centroid_x(contours)
    grid = _grid_for(contours, 2.5)
    occ = structure_occupancy(contours, grid, name=name)
    assert occ.volume_cc == pytest.approx(expected_volume_mm3 / 1000.0, rel=5e-3)
    assert occ.volume_in_grid_cc == pytest.approx(occ.volume_cc, rel=1e-6)
    dvh = DVH.from_dose(grid, occ)
    expected_mean = A_GY + G_GY_PER_MM * centroid_x
    assert abs(dvh.mean_gy - expected_mean) <= max(0.01 * expected_mean, 0.1)
    assert dvh.volume_cc == pytest.approx(occ.volume_in_grid_cc)
    assert {f.code for f in occ.findings} <= {"self-intersecting-contour"}
