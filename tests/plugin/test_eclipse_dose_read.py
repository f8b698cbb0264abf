"""``reirrad_tps.eclipse.read_dose_grid`` on stand-in doses of chosen sizes (Mono + pythonnet).

The reader copies each [x, y] plane into a padded staging plane and transposes it from there (its
docstring). These tests put known raw voxels into the stand-in and check every voxel comes back in
place, for one and several planes, square and non-square planes (a swapped x/y would show) and both
power-of-two and other row lengths (the padding's reason). Source of truth: the
dose is set as ``raw × 2^-18`` Gy with its maximum at 2^24 counts, so the stand-in's scale is exactly
2^-18 Gy per count (esapi stand-in: the maximum maps to 2^24 counts) and the read must equal the
values bit for bit; with a calibration offset, within one count.
"""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import numpy as np
import pytest

from reirrad_tps.eclipse import read_dose_grid
from tests.esapi_support import require_esapi_stand_in
from tps_stubs import esapi as stub
from tps_stubs.esapi._runtime import net_array

SCALE_GY = 2.0 ** -18
RAW_MAX = 1 << 24
SIZES = [(3, 2, 1), (5, 4, 7), (4, 5, 3), (16, 16, 2), (64, 32, 3)]


@pytest.fixture()
def fresh() -> Iterator[Any]:
    rt = require_esapi_stand_in()
    stub.reset()
    yield rt
    stub.reset()


def known_raw(size: Tuple[int, int, int]) -> np.ndarray:
    """Distinct raw counts [z, y, x] in [0, 2^24] with one voxel at 2^24 (fixes the stand-in's scale)."""
    nx, ny, nz = size
    z, y, x = np.ogrid[:nz, :ny, :nx]
    raw = np.asarray((x * 7919 + y * 104729 + z * 1299709) % RAW_MAX, dtype=np.int64)
    raw[nz // 2, ny // 2, nx // 2] = RAW_MAX
    return raw


def build_dose(rt: Any, values_gy: np.ndarray, unit: str = "Gy") -> Any:
    """A stand-in plan dose holding ``values_gy`` [z, y, x] (TOTAL Gy) on a 2.5 mm axial grid."""
    rt.Builder.StubSystem.DoseUnit = getattr(rt.Types.DoseValue.DoseUnit, unit)
    mb = rt.Builder.ModelBuilder
    nz, ny, nx = values_gy.shape

    def doubles(values: Any) -> Any:
        return net_array(np.asarray(values, np.float64), "float64")

    def ints(values: Any) -> Any:
        return net_array(np.asarray(values, np.int32), "int32")

    origin, spacing, eye = doubles([-10.0, -20.0, 5.0]), doubles([2.5, 2.5, 2.5]), doubles(np.eye(3).ravel())
    patient = mb.NewPatient("READ-DOSE", "Read", "Dose", "")
    image = mb.AddImage(patient, "CT", "1.2.3.4", origin, spacing, ints([2, 2, 2]), eye,
                        ints(np.full(8, 1024)))
    structure_set = mb.AddStructureSet(patient, "CT", image, False)
    course = mb.AddCourse(patient, "C1", "", "")
    grid = (origin, spacing, ints([nx, ny, nz]), eye)
    plan = mb.AddExternalPlan(course, "READ", structure_set, "", -1, float("nan"), "UnApproved", False,
                              float("nan"), *grid)
    mb.SetDose(plan, *grid, doubles(values_gy.ravel()))
    return plan.Dose


class FailingDose:
    """A stand-in dose whose ``GetVoxels`` raises on one plane (a TPS failure part-way through a read)."""

    def __init__(self, dose: Any, failing_plane: int) -> None:
        self._dose = dose
        self._failing_plane = failing_plane

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dose, name)

    def GetVoxels(self, plane: int, buffer: Any) -> None:  # noqa: N802 - the ESAPI member's name
        if plane == self._failing_plane:
            raise RuntimeError(f"dose matrix unavailable at plane {plane}")
        self._dose.GetVoxels(plane, buffer)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("unit", ["Gy", "cGy"])
def test_every_voxel_comes_back_in_place(fresh: Any, size: Tuple[int, int, int], unit: str) -> None:
    """Known raw × 2^-18 Gy read back bit for bit ([z, y, x], TOTAL Gy) in a Gy and a cGy clinic."""
    values = known_raw(size) * SCALE_GY
    grid = read_dose_grid(build_dose(fresh, values, unit))
    assert grid.values_gy.shape == values.shape
    if unit == "Gy":
        np.testing.assert_array_equal(grid.values_gy, values)
    else:  # cGy: the calibration goes through ×100 and ÷100, within the double's rounding
        np.testing.assert_allclose(grid.values_gy, values, rtol=1e-13, atol=0)
    assert grid.origin_mm == (-10.0, -20.0, 5.0) and grid.spacing_mm == (2.5, 2.5, 2.5)


@pytest.mark.parametrize("offset_gy", [-0.75, 0.5])
def test_offset_on_every_plane(fresh: Any, offset_gy: float) -> None:
    """V(0) ≠ 0: every plane gets the offset (within one count, (max − offset)/2^24)."""
    size = (6, 3, 5)
    values = known_raw(size) * SCALE_GY
    fresh.Builder.StubSystem.DoseOffsetGy = offset_gy
    try:
        grid = read_dose_grid(build_dose(fresh, values))
    finally:
        fresh.Builder.StubSystem.DoseOffsetGy = 0.0
    count = (float(values.max()) - offset_gy) / 2 ** 24
    np.testing.assert_allclose(grid.values_gy, values, rtol=0, atol=count)


@pytest.mark.parametrize("failing_plane", [0, 3])
def test_a_failing_plane_propagates(fresh: Any, failing_plane: int) -> None:
    """A GetVoxels error on the first or a later plane reaches the caller unchanged and no grid is
    returned; the next read of the same dose is whole."""
    values = known_raw((5, 4, 4)) * SCALE_GY
    dose = FailingDose(build_dose(fresh, values), failing_plane)
    with pytest.raises(RuntimeError, match=f"unavailable at plane {failing_plane}"):
        read_dose_grid(dose)
    np.testing.assert_array_equal(read_dose_grid(dose._dose).values_gy, values)  # the dose itself is fine

