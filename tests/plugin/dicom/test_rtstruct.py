"""RT Structure Set reader (PS3.3 C.8.8.5 Structure Set, C.8.8.6 ROI Contour, C.8.8.8 RT ROI Observations).

Sources of truth: a box contour set whose slab-model volume is computed by hand, the module's documented
choices (closed contours kept, POINT/OPEN skipped and recorded, empty ROIs kept), and the real example
structure set of dicompyler-core (tests/data/dicompyler-example) counted independently with pydicom.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from reirrad.dose import DoseGrid  # noqa: E402
from reirrad.errors import IncompatibleDoseError, InputError  # noqa: E402
from reirrad.structures import structure_occupancy  # noqa: E402
from reirrad_tps.dicom import read_rt_struct  # noqa: E402
from tests.plugin.dicom import factory  # noqa: E402

REAL_RTSS = Path(__file__).resolve().parents[2] / "data" / "dicompyler-example" / "rtss.dcm"
BOX_PLANES = [0.0, 2.0, 4.0, 6.0, 8.0]


def box_structure_set(path: Path) -> Path:
    """BOX (ORGAN): x ∈ [−10, 10], y ∈ [−5, 5] mm on planes z = 0, 2, …, 8; MARK: one POINT; LINE: an
    OPEN_PLANAR polyline and one closed contour with 2 points; EMPTY: no contours."""
    return factory.rt_struct(path, [
        ("BOX", "ORGAN", factory.box_contours((-10.0, 10.0), (-5.0, 5.0), BOX_PLANES)),
        ("MARK", "MARKER", [("POINT", [(1.0, 2.0, 3.0)])]),
        ("LINE", "", [("OPEN_PLANAR", [(0.0, 0.0, 0.0), (5.0, 0.0, 0.0), (5.0, 5.0, 0.0)]),
                      ("CLOSED_PLANAR", [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0)])]),
        ("EMPTY", "AVOIDANCE", []),
    ])


def test_structures_and_contours_in_mm(tmp_path: Path) -> None:
    """ROI name → id, RTROIInterpretedType → dicom_type, ContourData → (N, 3) mm arrays."""
    rs = read_rt_struct(box_structure_set(tmp_path / "rs.dcm"))
    assert rs.names == ("BOX", "MARK", "LINE", "EMPTY")
    assert rs.frame_of_reference_uid == factory.FRAME_A
    assert rs.patient_id == "REIRR-01"
    box = rs.structure("BOX")
    assert box.dicom_type == "ORGAN"
    assert box.frame_of_reference_uid == factory.FRAME_A
    assert len(box.contours_mm) == 5
    np.testing.assert_array_equal(box.contours_mm[1], [[-10, -5, 2], [10, -5, 2], [10, 5, 2], [-10, 5, 2]])
    assert not box.contours_mm[0].flags.writeable


def test_point_and_open_contours_are_skipped_and_recorded(tmp_path: Path) -> None:
    """POINT and OPEN_PLANAR enclose no volume, nor does a 2-point 'closed' contour: skipped, never
    silently."""
    rs = read_rt_struct(box_structure_set(tmp_path / "rs.dcm"))
    assert rs.structure("MARK").is_empty
    assert rs.structure("LINE").is_empty
    assert rs.structure("LINE").dicom_type == ""
    skipped = {(s.roi_name, s.geometric_type, s.count) for s in rs.skipped}
    assert skipped == {("MARK", "POINT", 1), ("LINE", "OPEN_PLANAR", 1),
                       ("LINE", "CLOSED_PLANAR with < 3 points", 1)}


def test_roi_without_contours_is_kept_empty(tmp_path: Path) -> None:
    """An empty structure stays in the set (the workflow reports it), with no contours."""
    rs = read_rt_struct(box_structure_set(tmp_path / "rs.dcm"))
    empty = rs.structure("EMPTY")
    assert empty.is_empty
    assert empty.dicom_type == "AVOIDANCE"


def test_box_volume_round_trips_with_the_engine(tmp_path: Path) -> None:
    """Hand computation (reirrad.structures slab model): planes z = 0…8 every 2 mm, end caps of half a
    spacing, so z ∈ [−1, 9]; volume = 20 × 10 × 10 mm³ = 2.000 cm³. On a 1 mm grid centred on integers
    every box face falls mid-voxel, so the occupancy is exact."""
    rs = read_rt_struct(box_structure_set(tmp_path / "rs.dcm"))
    box = rs.structure("BOX")
    grid = DoseGrid(np.zeros((15, 21, 31)), (-15.0, -10.0, -3.0), (1.0, 1.0, 1.0),
                    frame_of_reference_uid=factory.FRAME_A)
    occ = structure_occupancy(box.contours_mm, grid, name=box.id,
                              frame_of_reference_uid=box.frame_of_reference_uid)
    assert occ.volume_cc == pytest.approx(2.0, abs=1e-9)
    assert occ.volume_in_grid_cc == pytest.approx(2.0, abs=1e-9)
    # Voxel (x=0, y=0, z=4) is fully inside; (x=10, y=0, z=4) half (the face x = 10 halves it).
    assert occ.fraction[7, 10, 15] == pytest.approx(1.0)
    assert occ.fraction[7, 10, 25] == pytest.approx(0.5)


def test_contours_in_another_frame_are_refused_by_the_engine(tmp_path: Path) -> None:
    """Structures of frame A on a grid of frame B must not be combined (PS3.3 C.7.4.1)."""
    box = read_rt_struct(box_structure_set(tmp_path / "rs.dcm")).structure("BOX")
    grid = DoseGrid(np.zeros((15, 21, 31)), (-15.0, -10.0, -3.0), (1.0, 1.0, 1.0),
                    frame_of_reference_uid=factory.FRAME_B)
    with pytest.raises(IncompatibleDoseError, match="frame of reference"):
        structure_occupancy(box.contours_mm, grid, frame_of_reference_uid=box.frame_of_reference_uid)


def test_unknown_structure_name_lists_the_names(tmp_path: Path) -> None:
    rs = read_rt_struct(box_structure_set(tmp_path / "rs.dcm"))
    with pytest.raises(InputError, match=r"no structure named 'Rectum' \(found \['BOX'"):
        rs.structure("Rectum")


def test_duplicate_names_are_kept_but_ambiguous(tmp_path: Path) -> None:
    """Two ROIs named alike are both read; asking for the name is refused."""
    contours = factory.box_contours((0.0, 1.0), (0.0, 1.0), [0.0])
    path = factory.rt_struct(tmp_path / "rs.dcm", [("A", "ORGAN", contours), ("A", "ORGAN", contours)])
    rs = read_rt_struct(path)
    assert rs.names == ("A", "A")
    with pytest.raises(InputError, match="2 structures are named 'A'"):
        rs.structure("A")


def _two_organs(tmp_path: Path) -> Path:
    """A (number 1) with a 1 × 1 mm square, B (number 2) with a 10 × 10 mm one, on z = 0."""
    return factory.rt_struct(tmp_path / "rs.dcm", [
        ("A", "ORGAN", factory.box_contours((0.0, 1.0), (0.0, 1.0), [0.0])),
        ("B", "ORGAN", factory.box_contours((0.0, 10.0), (0.0, 10.0), [0.0]))])


def test_two_rois_sharing_a_number_are_refused(tmp_path: Path) -> None:
    """Found on a hostile export: with B's ROINumber set to A's, B was given A's contours and evaluated
    with them (exit 0, no finding). Which contours belong to which ROI is unknown: refused, naming both."""
    path = _two_organs(tmp_path)
    first = read_rt_struct(path)
    assert [len(s.contours_mm) for s in first.structures] == [1, 1]
    ds = pydicom.dcmread(str(path))
    ds.StructureSetROISequence[1].ROINumber = ds.StructureSetROISequence[0].ROINumber
    factory.save(ds, path)
    with pytest.raises(InputError, match=r"ROIs 'A' and 'B' share ROINumber 1 .* export the structure set"):
        read_rt_struct(path)


def test_roi_contour_items_must_reference_each_roi_once(tmp_path: Path) -> None:
    """Two ROI Contour items for one ROI (which holds its contours?) and an item for an undefined ROI number
    (its contours lost, the ROI they were meant for read as empty) are refused, never first-one-wins."""
    path = _two_organs(tmp_path)
    ds = pydicom.dcmread(str(path))
    ds.ROIContourSequence[1].ReferencedROINumber = 1
    factory.save(ds, path)
    with pytest.raises(InputError, match=r"ROIContourSequence has two items for ROI number 1 \('A'\)"):
        read_rt_struct(path)
    ds.ROIContourSequence[1].ReferencedROINumber = 7
    factory.save(ds, path)
    with pytest.raises(InputError, match=r"an item for ROI number 7, which StructureSetROISequence does not "
                                         r"define \(its ROI numbers: \[1, 2\]\)"):
        read_rt_struct(path)


def test_observations_may_repeat_an_roi_but_not_disagree(tmp_path: Path) -> None:
    """DICOM allows several RT ROI Observations of one ROI (PS3.3 C.8.8.8): read when they agree on the
    interpreted type; two types for one ROI refused; an observation of an undefined ROI ignored."""
    path = _two_organs(tmp_path)
    ds = pydicom.dcmread(str(path))
    extra = copy.deepcopy(ds.RTROIObservationsSequence[0])
    extra.ObservationNumber = 9
    ds.RTROIObservationsSequence.append(extra)
    orphan = copy.deepcopy(extra)
    orphan.ObservationNumber, orphan.ReferencedROINumber, orphan.RTROIInterpretedType = 10, 42, "PTV"
    ds.RTROIObservationsSequence.append(orphan)
    factory.save(ds, path)
    assert [s.dicom_type for s in read_rt_struct(path).structures] == ["ORGAN", "ORGAN"]
    ds.RTROIObservationsSequence[2].RTROIInterpretedType = "PTV"
    factory.save(ds, path)
    with pytest.raises(InputError, match=r"gives ROI 'A' \(number 1\) two interpreted types, 'ORGAN' and "
                                         r"'PTV'"):
        read_rt_struct(path)


def test_malformed_contour_data_is_refused(tmp_path: Path) -> None:
    """ContourData must be x, y, z triples (PS3.3 C.8.8.6)."""
    path = factory.rt_struct(tmp_path / "rs.dcm", [("BAD", "ORGAN", [("CLOSED_PLANAR", [(0, 0, 0), (1, 0, 0),
                                                                                         (1, 1, 0)])])])
    ds = pydicom.dcmread(str(path))
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = ["0", "0", "0", "1"]
    factory.save(ds, path)
    with pytest.raises(InputError, match=r"ROI 'BAD': ContourData \(3006,0050\) has 4 numbers"):
        read_rt_struct(path)


def test_a_coordinate_beyond_any_patient_is_refused(tmp_path: Path) -> None:
    """Found on a hostile file: one x of 1e30 mm made the contour "enclose no area (points on a line)",
    skipped with a reason that was not the cause. A coordinate beyond ±10 m (geometry.PATIENT_EXTENT_MM) is a
    malformed file: refused, naming the ROI, the contour and the value; 10 m itself is read."""
    box = factory.box_contours((0.0, 1.0), (0.0, 1.0), [0.0, 2.0])
    path = factory.rt_struct(tmp_path / "rs.dcm", [("BOX", "ORGAN", box)])
    ds = pydicom.dcmread(str(path))
    data = list(ds.ROIContourSequence[0].ContourSequence[1].ContourData)
    data[3] = "1e30"
    ds.ROIContourSequence[0].ContourSequence[1].ContourData = data
    factory.save(ds, path)
    with pytest.raises(InputError, match=r"ROI 'BOX': contour 1 has a coordinate of 1e\+30 mm, beyond "
                                         r"±10000 mm"):
        read_rt_struct(path)
    data[3] = "-10000"
    ds.ROIContourSequence[0].ContourSequence[1].ContourData = data
    factory.save(ds, path)
    assert float(np.abs(read_rt_struct(path).structures[0].contours_mm[1]).max()) == 10000.0


def test_point_count_must_agree(tmp_path: Path) -> None:
    """NumberOfContourPoints must equal the number of triples."""
    contours = factory.box_contours((0.0, 1.0), (0.0, 1.0), [0.0])
    path = factory.rt_struct(tmp_path / "rs.dcm", [("BOX", "ORGAN", contours)])
    ds = pydicom.dcmread(str(path))
    ds.ROIContourSequence[0].ContourSequence[0].NumberOfContourPoints = 5
    factory.save(ds, path)
    with pytest.raises(InputError, match=r"NumberOfContourPoints .* is 5 but ContourData holds 4 points"):
        read_rt_struct(path)


def test_several_frames_without_a_common_roi_frame_are_refused(tmp_path: Path) -> None:
    """A set listing two frames is read only when its ROIs agree on one (here FRAME_A, which wins)."""
    contours = factory.box_contours((0.0, 1.0), (0.0, 1.0), [0.0])
    path = factory.rt_struct(tmp_path / "rs.dcm", [("BOX", "ORGAN", contours)],
                             listed_frames=[factory.FRAME_A, factory.FRAME_B])
    assert read_rt_struct(path).frame_of_reference_uid == factory.FRAME_A
    ds = pydicom.dcmread(str(path))
    del ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID
    factory.save(ds, path)
    with pytest.raises(InputError, match="frame of reference is unclear"):
        read_rt_struct(path)


def test_other_objects_are_refused(tmp_path: Path) -> None:
    path = factory.rt_plan(tmp_path / "rp.dcm")
    with pytest.raises(InputError, match="not RT Structure Set"):
        read_rt_struct(path)


def test_real_structure_set_matches_an_independent_count() -> None:
    """dicompyler-core's example RS: every ROI, with the closed contours pydicom counts directly; the empty
    'Areola' kept empty; interpreted types matched by ReferencedROINumber."""
    ds = pydicom.dcmread(str(REAL_RTSS))
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
    expected_counts = {names[int(rc.ReferencedROINumber)]: sum(
        1 for c in getattr(rc, "ContourSequence", []) if c.ContourGeometricType == "CLOSED_PLANAR")
        for rc in ds.ROIContourSequence}
    expected_types = {names[int(o.ReferencedROINumber)]: str(o.RTROIInterpretedType)
                      for o in ds.RTROIObservationsSequence}
    rs = read_rt_struct(REAL_RTSS)
    assert rs.names == tuple(names[n] for n in names)
    counts = {s.id: len(s.contours_mm) for s in rs.structures}
    assert counts == {n: expected_counts.get(n, 0) for n in rs.names}
    assert {s.id: s.dicom_type for s in rs.structures} == expected_types
    assert rs.structure("Lt Lung").contours_mm[0].shape[1] == 3
    assert rs.structure("Areola").is_empty
    assert rs.skipped == ()
