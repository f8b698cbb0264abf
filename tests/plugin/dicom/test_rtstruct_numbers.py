"""ContourData numbers read from the element's raw bytes (reirrad_tps.dicom.rtstruct._contour_numbers).

Sources of truth: pydicom's own parse of the same elements (the DS float of every value) on the real
example structure set of dicompyler-core (441 contours, 88 000 points), and hand-made malformed
values written into a file byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from reirrad.errors import InputError  # noqa: E402
from reirrad_tps.dicom import read_rt_struct  # noqa: E402
from tests.plugin.dicom import factory  # noqa: E402

REAL_RTSS = Path(__file__).resolve().parents[2] / "data" / "dicompyler-example" / "rtss.dcm"


def test_coordinates_equal_pydicoms_parse() -> None:
    """Every contour of the real structure set: the same float64 values, bit for bit, as
    ``float`` of each of pydicom's decoded DS values."""
    ds = pydicom.dcmread(str(REAL_RTSS))
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
    expected = {names[int(rc.ReferencedROINumber)]: [
        np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
        for c in getattr(rc, "ContourSequence", []) if c.ContourGeometricType == "CLOSED_PLANAR"]
        for rc in ds.ROIContourSequence}
    rs = read_rt_struct(REAL_RTSS)
    compared = 0
    for structure in rs.structures:
        assert len(structure.contours_mm) == len(expected[structure.id])
        for got, want in zip(structure.contours_mm, expected[structure.id]):
            np.testing.assert_array_equal(got, want)
            compared += len(got)
    assert compared > 80_000


def _written_with(tmp_path: Path, replace: bytes) -> Path:
    """A structure set whose second contour of ROI 'B' holds 12.125 (x of its first point), then
    those 6 bytes replaced by ``replace`` in the file."""
    square = [(12.125, 0.0, 0.0), (20.0, 0.0, 0.0), (20.0, 8.0, 0.0), (12.5, 8.0, 0.0)]
    first = [(p[0] - 30.0, p[1], p[2]) for p in square]
    path = factory.rt_struct(tmp_path / "rs.dcm", [
        ("A", "ORGAN", [("CLOSED_PLANAR", first)]),
        ("B", "ORGAN", [("CLOSED_PLANAR", first), ("CLOSED_PLANAR", square)]),
    ])
    data = path.read_bytes()
    assert data.count(b"12.125") == 1 and len(replace) == 6
    path.write_bytes(data.replace(b"12.125", replace))
    return path


def test_written_values_read_back(tmp_path: Path) -> None:
    """The file as written: B's second contour starts at (12.125, 0, 0) mm."""
    rs = read_rt_struct(_written_with(tmp_path, b"12.125"))
    np.testing.assert_array_equal(rs.structure("B").contours_mm[1][0], [12.125, 0.0, 0.0])


@pytest.mark.parametrize("replace, match", [
    (b"12x125", r"ROI 'B', contour 1: ContourData \(3006,0050\) holds '12x125', which is not a number"),
    (b"  nan ", r"ROI 'B', contour 1: ContourData \(3006,0050\) holds a non-finite value \(nan\)"),
    (b"12\\\\25", r"ROI 'B', contour 1: ContourData \(3006,0050\) holds '', which is not a number"),
])
def test_malformed_values_name_the_roi_and_contour(tmp_path: Path, replace: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_rt_struct(_written_with(tmp_path, replace))
