"""Reading an ESAPI dose through pythonnet (performance target: >= 100x per-voxel reads).

A 256×256×200 dose (XSize × YSize × ZSize, 13.1 M voxels) is built in the ESAPI stand-in (C# assemblies
run by Mono, loaded through pythonnet; ``tps_stubs.esapi``) with known raw voxels, then read three ways
in one run, side by side:

1. the adapter's reader, ``reirrad_tps.eclipse.read_dose_grid(dose, frame_of_reference_uid)``: one
   ``Dose.GetVoxels(z, int[,] buffer)`` per plane, scaled through numpy's buffer protocol straight
   into the float64 result (calibrated with ``VoxelToDoseValue``), handed to a ``DoseGrid`` of Gy.
   First (cold) call, which pays for the fresh memory pages of its 105 MB result, and best of the
   repeats;
2. the per-voxel baseline, the naive way: ``GetVoxels`` per plane, then ``buf[i, j]`` indexed from
   Python for every voxel and calibrated in Python. Timed on ``PER_VOXEL_PLANES`` planes only and
   extrapolated linearly to all planes (the loop is O(voxels); the whole dose takes ~15 s);
3. ``numpy.copy`` of an int32 array of the same shape: the memory-bandwidth floor (best of repeats).

Targets (printed, never asserted): the reader ≥ 100× faster than the per-voxel baseline and within
10× of the raw copy, both for the best calls; the ratio of the medians of the warm calls, and the cold
first call against the best copy, are printed beside it. A breakdown of the reader's time (the
stand-in's ``GetVoxels`` calls alone, and the adapter's own work) is printed as well, with a copy of
the float64 result for scale. Before any figure is printed, the reader's values are checked
(``RuntimeError`` on mismatch) against the per-voxel values of the measured planes times the
calibration, and against the known raw voxels everywhere.

Run: ``.venv/bin/python benchmarks/bench_eclipse_dose.py`` (needs Mono and pythonnet; the stand-in
assemblies are built on first use). No numpy view of a .NET array outlives its use (a view alive at
interpreter exit crashes Mono 6.8).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from importlib import metadata
from typing import Any, Callable, List, Sequence, Tuple

import numpy as np

from reirrad_tps.eclipse import read_dose_grid
from reirrad_tps.eclipse.grids import calibration_gy
from tps_stubs import esapi as stub
from tps_stubs.esapi._runtime import net_array

NX, NY, NZ = 256, 256, 200
SPACING_MM = (2.5, 2.5, 2.5)
ORIGIN_MM = (-318.75, -318.75, -248.75)
FRAME_UID = "1.2.826.0.1.3680043.2.1125.9.5"
RAW_MAX = 1 << 24  # the stand-in maps the dose maximum to 2^24 raw counts
SCALE_GY = 2.0 ** -18  # Gy per raw count (exact in binary): maximum 64 Gy
PER_VOXEL_PLANES = (0, 67, 133, 199)
READER_REPEATS = 7  # the first is the cold call; as many as COPY_REPEATS
COPY_REPEATS = 7
SPEEDUP_TARGET = 100.0
COPY_RATIO_TARGET = 10.0


def known_raw() -> np.ndarray:
    """Raw voxels [z, y, x] in [0, 2^24], a scrambled but reproducible pattern with one voxel at 2^24."""
    z, y, x = np.ogrid[:NZ, :NY, :NX]
    raw = np.asarray((x * 7919 + y * 104729 + z * 1299709) % RAW_MAX, dtype=np.int64)
    raw[NZ // 2, NY // 2, NX // 2] = RAW_MAX
    return raw


def build_dose(raw: np.ndarray) -> Any:
    """A stand-in ``PlanningItemDose`` of NX×NY×NZ voxels whose raw counts are ``raw`` (Gy/count SCALE_GY).

    Built with the stand-in's ``ModelBuilder`` (as ``tps_stubs.esapi._populate`` does): a patient with
    a tiny image and structure set, one course and one plan without normalisation, and the dose set in
    TOTAL Gy. Values are ``raw × 2^-18`` Gy with maximum 2^24 × 2^-18 Gy, so the stand-in's scale is
    exactly 2^-18 Gy and its raw voxels are exactly ``raw``.
    """
    rt = stub.runtime()
    rt.Builder.StubSystem.DoseUnit = rt.Types.DoseValue.DoseUnit.Gy
    mb = rt.Builder.ModelBuilder

    def doubles(values: Any) -> Any:
        return net_array(np.asarray(values, np.float64), "float64")

    def ints(values: Any) -> Any:
        return net_array(np.asarray(values, np.int32), "int32")

    eye = np.eye(3).ravel()
    patient = mb.NewPatient("BENCH-DOSE", "Bench", "Dose", "")
    image = mb.AddImage(patient, "CT", FRAME_UID, doubles(ORIGIN_MM), doubles(SPACING_MM), ints([2, 2, 2]),
                        doubles(eye), ints(np.full(8, 1024)))
    structure_set = mb.AddStructureSet(patient, "CT", image, False)
    course = mb.AddCourse(patient, "C1", "", "")
    grid = (doubles(ORIGIN_MM), doubles(SPACING_MM), ints([NX, NY, NZ]), doubles(eye))
    plan = mb.AddExternalPlan(course, "BENCH", structure_set, "", -1, float("nan"), "UnApproved", False,
                              float("nan"), *grid)
    mb.SetDose(plan, *grid, doubles(raw.ravel() * SCALE_GY))
    return plan.Dose


def best_of(fn: Callable[[], Any], repeats: int) -> Tuple[List[float], Any]:
    """Wall times (time.perf_counter) of ``repeats`` calls of ``fn``, and the last result."""
    times: List[float] = []
    result = None
    for _ in range(repeats):
        result = None  # free the previous result before the next call allocates its own
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def net_buffer(nx: int, ny: int) -> Any:
    """A new .NET ``int[nx, ny]``, the buffer ``GetVoxels`` fills."""
    system = stub.runtime().System
    return system.Array.CreateInstance(system.Int32, nx, ny)


def getvoxels_only(dose: Any) -> None:
    """The .NET side of a whole read: ``GetVoxels`` for every plane, nothing copied to Python."""
    buf = net_buffer(NX, NY)
    for k in range(NZ):
        dose.GetVoxels(k, buf)


def per_voxel(dose: Any, planes: Sequence[int], offset: float, scale: float) -> Tuple[float, np.ndarray]:
    """The naive read of ``planes``: ``buf[i, j]`` indexed from Python and calibrated, voxel by voxel.

    Returns the wall time and the values in Gy, shape (len(planes), NY, NX).
    """
    buf = net_buffer(NX, NY)
    rows_x, rows_y = range(NX), range(NY)
    out: List[List[List[float]]] = []
    t0 = time.perf_counter()
    for k in planes:
        dose.GetVoxels(k, buf)
        out.append([[offset + scale * buf[i, j] for i in rows_x] for j in rows_y])
    elapsed = time.perf_counter() - t0
    return elapsed, np.array(out, dtype=np.float64)


def verify(values_gy: np.ndarray, slow_gy: np.ndarray, planes: Sequence[int], *, raw: np.ndarray,
           offset: float, scale: float) -> None:
    """Raise RuntimeError unless the reader's values are the per-voxel ones and the known raw × scale."""
    if values_gy.shape != (NZ, NY, NX):
        raise RuntimeError(f"reader returned shape {values_gy.shape}, expected {(NZ, NY, NX)}")
    if offset != 0.0 or scale != SCALE_GY:
        raise RuntimeError(f"calibration ({offset!r}, {scale!r}) Gy, expected (0.0, {SCALE_GY!r}) Gy")
    fast = values_gy[list(planes)]
    if not np.array_equal(fast, slow_gy):
        bad = int(np.count_nonzero(fast != slow_gy))
        raise RuntimeError(f"reader and per-voxel values differ on {bad} voxels of planes {list(planes)}")
    if not np.array_equal(values_gy, raw * SCALE_GY):
        bad = int(np.count_nonzero(values_gy != raw * SCALE_GY))
        raise RuntimeError(f"reader values differ from the known raw voxels × scale on {bad} voxels")


def mono_version() -> str:
    """First line of ``mono --version``, or why it is unavailable."""
    mono = shutil.which("mono")
    if mono is None:
        return "mono not on PATH"
    try:
        done = subprocess.run([mono, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"mono --version failed ({exc})"
    lines = done.stdout.splitlines()
    return lines[0].strip() if lines else "mono --version printed nothing"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> None:
    raw = known_raw()
    t0 = time.perf_counter()
    dose = build_dose(raw)
    t_build = time.perf_counter() - t0
    size = (int(dose.XSize), int(dose.YSize), int(dose.ZSize))
    if size != (NX, NY, NZ):
        raise RuntimeError(f"stand-in dose has size {size}, expected {(NX, NY, NZ)}")
    offset, scale = calibration_gy(dose)
    n_voxels = NX * NY * NZ

    print(f"dose {NX}x{NY}x{NZ} (XSize x YSize x ZSize) = {n_voxels:,} voxels, raw int32 "
          f"{n_voxels * 4 / 2**20:.0f} MiB; built in the ESAPI stand-in in {t_build:.2f} s")
    print(f"{mono_version()}; pythonnet {package_version('pythonnet')}; numpy {np.__version__}; "
          f"python {platform.python_version()}; {os.cpu_count()} CPU(s)")
    print("wall time (time.perf_counter); targets are printed, not asserted")

    # Per-voxel baseline first: it also yields the reference values for the check.
    t_slow, slow_gy = per_voxel(dose, PER_VOXEL_PLANES, offset, scale)
    n_slow = len(PER_VOXEL_PLANES) * NX * NY
    t_slow_all = t_slow * NZ / len(PER_VOXEL_PLANES)

    reader_times, grid = best_of(lambda: read_dose_grid(dose, FRAME_UID), READER_REPEATS)
    verify(grid.values_gy, slow_gy, PER_VOXEL_PLANES, raw=raw, offset=offset, scale=scale)
    del grid, slow_gy
    t_cold, t_reader = reader_times[0], min(reader_times)

    t_getvoxels = min(best_of(lambda: getvoxels_only(dose), 3)[0])

    raw32 = raw.astype(np.int32)
    values64 = raw.astype(np.float64)
    del raw
    copy_times = best_of(lambda: np.copy(raw32), COPY_REPEATS)[0]
    t_copy = min(copy_times)
    t_copy64 = min(best_of(lambda: np.copy(values64), COPY_REPEATS)[0])

    print("\nvalues checked: reader == per-voxel values of the measured planes (bit for bit) and "
          "== known raw x calibration everywhere")
    print(f"calibration from VoxelToDoseValue: offset {offset:g} Gy, scale {scale:.6g} Gy/count")
    print(f"\n[1] adapter read_dose_grid(dose, frame_of_reference_uid), {NZ} x GetVoxels + buffer copy")
    print(f"    first call (cold)                  {t_cold:9.3f} s   (pays for the fresh memory pages of "
          "its 105 MB result)")
    print(f"    best of {READER_REPEATS} calls                     {t_reader:9.3f} s   "
          f"{n_voxels / t_reader / 1e6:7.1f} M voxel/s")
    print("[2] per-voxel baseline: GetVoxels + buf[i, j] from Python, calibrated in Python")
    print(f"    measured on {len(PER_VOXEL_PLANES)} planes {list(PER_VOXEL_PLANES)} ({n_slow:,} voxels) "
          f"{t_slow:9.3f} s   {t_slow / n_slow * 1e6:6.2f} us/voxel")
    print(f"    extrapolated linearly to {NZ} planes   {t_slow_all:9.3f} s   (NOT measured)")
    print(f"[3] numpy.copy of int32 {NZ}x{NY}x{NX}, best of {COPY_REPEATS} "
          f"{t_copy:9.4f} s   {n_voxels * 4 / t_copy / 1e9:6.1f} GB/s")

    speedup, copy_ratio = t_slow_all / t_reader, t_reader / t_copy
    print(f"\nside by side (best reader call; with the cold first call: {t_slow_all / t_cold:.1f}x and "
          f"{t_cold / t_copy:.1f}x)")
    print(f"    per-voxel (extrapolated) / reader   {speedup:8.1f}x   "
          f"target >= {SPEEDUP_TARGET:.0f}x   {verdict(speedup >= SPEEDUP_TARGET)}")
    print(f"    reader / numpy.copy                 {copy_ratio:8.1f}x   "
          f"target <= {COPY_RATIO_TARGET:.0f}x    {verdict(copy_ratio <= COPY_RATIO_TARGET)}")
    median_ratio = statistics.median(reader_times[1:]) / statistics.median(copy_times)
    print(f"    (medians of the warm calls: reader / numpy.copy {median_ratio:.1f}x)")

    own = t_reader - t_getvoxels
    print("\nbreakdown of the reader (best calls)")
    print(f"    GetVoxels alone, {NZ} calls (the stand-in's .NET side)   {t_getvoxels:8.3f} s   "
          f"{t_getvoxels / t_copy:6.1f}x numpy.copy")
    print(f"    the adapter's own work (reader - GetVoxels)            {own:8.3f} s   "
          f"{own / t_copy:6.1f}x numpy.copy   (buffer transfer, transpose, Gy calibration, "
          "DoseGrid validation)")
    print(f"    for scale: numpy.copy of the float64 result             {t_copy64:8.3f} s   "
          f"{t_copy64 / t_copy:6.1f}x numpy.copy (the result has twice the bytes of the raw voxels)")


if __name__ == "__main__":
    main()
