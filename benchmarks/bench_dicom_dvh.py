"""DICOM DVH speed: reirrad against dicompyler-core on real files, and the readers and resampling.

Datasets (tests/data/dicompyler-example, see its README):

* **Eclipse breast**: the example's RT Structure Set and RT Dose (194 × 129 × 98 voxels of
  2.5 × 2.5 × 3 mm), every structure with contours;
* **small grid**: the same structures on that dose cropped to 40 × 40 pixels × 12 frames around
  the tumour bed (a stereotactic-size grid: most contour planes of the large structures lie outside
  its z-range, which reirrad skips); structures entirely off the grid are left out for both tools.

Printed, never asserted (targets of issue 19):

1. per structure and in total: reirrad's occupancy + DVH + metrics (Dmax, Dmean, D0.5cc, D0.1cc),
   with sub-voxel sampling (4³ sub-voxels in boundary voxels, 2³ in steep full voxels) and
   without it, beside dicompyler-core's ``dvhcalc.get_dvh`` on the same files already read
   (pydicom datasets, so neither side pays for reading the files); target: reirrad ≥ 10× faster
   on each dataset, **judged against dicompyler-core's warm calls**. dicompyler-core is timed on
   its first call per structure (cold) and then as the best of ``DCC_WARM_REPEATS`` more calls
   (warm), as reirrad is the best of ``REPEATS`` after a warm-up: the first call pays pydicom's lazy
   parsing of the ContourData values, which reirrad's timing leaves out (its ``read_rt_struct``
   parses them beforehand), so only the warm calls compare like with like (until 2026-12-06 the warm
   time was one call, a single sample that alone moved the Eclipse ratio by ±7 %). Both
   are printed, each with its ratio, wall clock and CPU time (``time.process_time``, less
   sensitive to other jobs on a shared machine), with the load average. reirrad's DVH sorts its
   samples on first use of the curve; these metrics need no full sort (D_v sorts the hottest
   samples only), so a column ``n=4+curve`` also builds the full curve (what ``get_dvh`` always
   builds, as a histogram), and its ratio against the warm call is printed on the total line.
   The structure's volume off the grid (the area of its contour planes outside the dose grid, which
   no DVH needs and dicompyler-core never computes) is computed on first use of
   ``Occupancy.volume_cc`` or ``.findings``: a column ``n=4+vol`` reads them as well (what
   ``reirrad evaluate`` always does, for the volume and the "partly outside the dose grid"
   finding), and its ratio is printed on the total line too;
2. ``read_rt_struct`` of the 1.9 MB structure set (target ≤ 0.3 s), beside pydicom decoding every
   ContourData value (what the reader did before);
3. ``DoseGrid.resample`` of a 256 × 256 × 150 grid onto 200 × 200 × 100 voxels, through a translation,
   0.1 rad rotations about z, x and y, and a 0.1 rad rotation about an oblique axis (each path of
   the code): best and median M voxels/s of ``RESAMPLE_REPEATS`` runs, with the load average
   (target ≥ 20 M voxels/s, judged on the best run).

Times are the best of ``REPEATS`` runs (``time.perf_counter``), reirrad's after one warm-up run.
**BLAS threads:** ``OPENBLAS_NUM_THREADS`` and ``OMP_NUM_THREADS`` are set to 1 before numpy is
imported, unless already set: OpenBLAS's worker threads spin while they wait and add to the
process's CPU time without speeding this code up (its matrix products are small), which distorts
the CPU-time ratios (measured on the 2-core machine, Eclipse example: wall 0.566 s with one thread
against 0.548 s with the default, but CPU 0.57 s against 1.02 s). Set them to run otherwise.
Needs pydicom; dicompyler-core is optional (the comparison is skipped without it):
``/work/main/.venv/bin/python benchmarks/bench_dicom_dvh.py``.
"""

from __future__ import annotations

import os

# before numpy is imported (see the module docstring); a value set by the user is kept
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import contextlib
import copy
import gzip
import importlib
import io
import logging
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.errors import InputError
from reirrad.structures import structure_occupancy

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "dicompyler-example"
REPEATS = 3
DVH_TARGET_RATIO = 10.0
#: dicompyler-core's warm calls per structure after its cold one; the best of them is its warm time
DCC_WARM_REPEATS = 2
READ_TARGET_S = 0.3
RESAMPLE_TARGET_MVOX = 20.0


def best_of(fn: Callable[[], Any], repeats: int = REPEATS, warm: bool = True) -> float:
    """Best wall time (s) of ``repeats`` calls, after one untimed call when ``warm``."""
    if warm:
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def best_of_cpu(fn: Callable[[], Any], repeats: int = REPEATS, warm: bool = True) -> Tuple[float, float]:
    """(best wall time, best CPU time of this process, all threads) in s of ``repeats`` calls.

    The CPU time is less sensitive than the wall time to other jobs on a shared machine (it still
    counts what they cost this process: caches, memory bandwidth, BLAS threads waiting).
    """
    if warm:
        fn()
    wall = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def small_grid_dose(pydicom: Any, source: Path, target: Path, centre_mm: Tuple[float, float, float]) -> None:
    """Write the RT Dose cropped to 40 × 40 pixels × 12 frames around ``centre_mm`` (no DVHs)."""
    ds = pydicom.dcmread(str(source))
    pixels = ds.pixel_array  # (frames, rows, cols)
    offsets = np.array([float(v) for v in ds.GridFrameOffsetVector])
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
    r0 = round((centre_mm[1] - ipp[1]) / row_mm) - 20
    c0 = round((centre_mm[0] - ipp[0]) / col_mm) - 20
    f0 = int(np.argmin(np.abs(ipp[2] + offsets - centre_mm[2]))) - 6
    crop = np.ascontiguousarray(pixels[f0:f0 + 12, r0:r0 + 40, c0:c0 + 40])
    out = copy.deepcopy(ds)
    if "DVHSequence" in out:
        del out.DVHSequence
    out.Rows, out.Columns, out.NumberOfFrames = 40, 40, 12
    out.ImagePositionPatient = [f"{ipp[0] + c0 * col_mm:.4f}", f"{ipp[1] + r0 * row_mm:.4f}",
                                f"{ipp[2] + offsets[f0]:.4f}"]
    out.GridFrameOffsetVector = [f"{v - offsets[f0]:.4f}" for v in offsets[f0:f0 + 12]]
    out.PixelData = crop.astype(pixels.dtype).tobytes()
    out.save_as(str(target))


def reirrad_dvhs(grid: DoseGrid, structures: Any, names: List[str], sub_samples: int, *,
                 curve: bool = False, volume: bool = False) -> Dict[str, Tuple[float, ...]]:
    """Occupancy, DVH and metrics of each structure: {name: (Dmax, Dmean, D0.5cc, D0.1cc)}.

    With ``curve`` the DVH's full curve is built as well (its sorted samples; the metrics alone
    sort only the hottest samples); with ``volume`` the structure's whole volume (off-grid planes
    included) and its findings are read as well.
    """
    out = {}
    for name in names:
        s = structures.structure(name)
        occupancy = structure_occupancy(s.contours_mm, grid, name=name, sub_samples=sub_samples)
        dvh = DVH.from_dose(grid, occupancy)
        in_grid = dvh.volume_cc
        out[name] = (dvh.max_gy, dvh.mean_gy, dvh.dose_at_volume_cc(min(0.5, in_grid)),
                     dvh.dose_at_volume_cc(min(0.1, in_grid)))
        if curve:
            out[name] += (float(dvh.doses_gy[-1]),)
        if volume:
            out[name] += (occupancy.volume_cc, float(len(occupancy.findings)))
    return out


def on_grid(grid: DoseGrid, structures: Any) -> List[str]:
    """Names of the structures with contours that reach the grid."""
    names = []
    for s in structures.structures:
        if s.is_empty:
            continue
        try:
            structure_occupancy(s.contours_mm, grid, name=s.id, sub_samples=1)
        except InputError:
            continue
        names.append(s.id)
    return names


def compare(label: str, rtss_path: Path, dose_path: Path, dicompyler: Optional[Tuple[Any, Any]]) -> None:
    read_rt_dose, read_rt_struct = dicom_readers()
    grid = read_rt_dose(dose_path)
    structures = read_rt_struct(rtss_path)
    names = on_grid(grid, structures)
    print(f"\n== {label}: dose grid {grid.shape[2]} x {grid.shape[1]} x {grid.shape[0]} voxels "
          f"(x y z), {len(names)} structures on the grid ==")
    print(f"{'structure':16s} {'reirrad n=4 s':>13s} {'n=1 s':>7s} {'n=4+curve':>9s} {'n=4+vol':>8s} "
          f"{'dcc cold s':>10s} {'dcc warm s':>10s} {'ratio cold':>10s} {'ratio warm':>10s} {'CPU warm':>8s}")
    # wall: reirrad n=4, n=1, n=4+curve, dicompyler-core cold, warm, reirrad n=4+vol;
    # CPU: reirrad n=4, dcc cold, warm
    totals = [0.0] * 6
    cpu_totals = [0.0] * 3
    numbers = {}
    dcc: Dict[str, Tuple[float, float]] = {}
    dcc_warm: Dict[str, Tuple[float, float]] = {}  # dicompyler-core's best warm call: (wall, CPU)
    if dicompyler is not None:
        dicomparser, dvhcalc = dicompyler
        pydicom = importlib.import_module("pydicom")
        rtss, rtdose = pydicom.dcmread(str(rtss_path)), pydicom.dcmread(str(dose_path))
        roi = {str(v["name"]): k for k, v in dicomparser.DicomParser(rtss).GetStructures().items()}
        for name in names:
            quiet = io.StringIO()  # it reports every contour plane without a dose plane
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                dcc[name] = best_of_cpu(lambda n=name: dvhcalc.get_dvh(rtss, rtdose, roi[n]), repeats=1,
                                        warm=False)
                dcc_warm[name] = best_of_cpu(lambda n=name: dvhcalc.get_dvh(rtss, rtdose, roi[n]),
                                             repeats=DCC_WARM_REPEATS, warm=False)
    nan = (float("nan"), float("nan"))
    for name in names:
        t4, c4 = best_of_cpu(lambda n=name: numbers.update(reirrad_dvhs(grid, structures, [n], 4)))
        t1 = best_of(lambda n=name: reirrad_dvhs(grid, structures, [n], 1))
        tc = best_of(lambda n=name: reirrad_dvhs(grid, structures, [n], 4, curve=True))
        tv = best_of(lambda n=name: reirrad_dvhs(grid, structures, [n], 4, volume=True))
        (t_dc, c_dc), (t_dw, c_dw) = dcc.get(name, nan), dcc_warm.get(name, nan)
        for k, v in enumerate((t4, t1, tc, t_dc, t_dw, tv)):
            totals[k] += v
        for k, v in enumerate((c4, c_dc, c_dw)):
            cpu_totals[k] += v
        print(f"{name:16s} {t4:13.3f} {t1:7.3f} {tc:9.3f} {tv:8.3f} {t_dc:10.3f} {t_dw:10.3f} "
              f"{t_dc / t4:10.1f} {t_dw / t4:10.1f} {c_dw / c4:8.1f}")
    ratio_warm = totals[4] / totals[0]
    met = "MET" if ratio_warm >= DVH_TARGET_RATIO else "NOT MET"
    print(f"{'total':16s} {totals[0]:13.3f} {totals[1]:7.3f} {totals[2]:9.3f} {totals[5]:8.3f} "
          f"{totals[3]:10.3f} {totals[4]:10.3f} {totals[3] / totals[0]:10.1f} {ratio_warm:10.1f} "
          f"{cpu_totals[2] / cpu_totals[0]:8.1f}")
    print(f"{'':16s} target >= {DVH_TARGET_RATIO:g}x against dicompyler-core's best warm call (wall): "
          f"{met if dcc else 'not measured'}; with the full curve {totals[4] / totals[2]:.1f}x; "
          f"with the whole volume and findings {totals[4] / totals[5]:.1f}x; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':16s} CPU s: reirrad {cpu_totals[0]:.3f}, dicompyler-core cold {cpu_totals[1]:.3f} "
          f"(ratio {cpu_totals[1] / cpu_totals[0]:.1f}), warm {cpu_totals[2]:.3f} "
          f"(ratio {cpu_totals[2] / cpu_totals[0]:.1f})")


def dicom_readers() -> Tuple[Any, Any]:
    """reirrad's ``read_rt_dose`` and ``read_rt_struct`` (imported late: they need pydicom)."""
    module = importlib.import_module("reirrad_tps.dicom")
    return module.read_rt_dose, module.read_rt_struct


def bench_read_rt_struct(pydicom: Any) -> None:
    _, read_rt_struct = dicom_readers()
    path = DATA / "rtss.dcm"
    ours = best_of(lambda: read_rt_struct(path))

    def decoded() -> None:
        ds = pydicom.dcmread(str(path))
        for rc in ds.ROIContourSequence:
            for c in getattr(rc, "ContourSequence", []):
                np.array([float(v) for v in c.ContourData])

    theirs = best_of(decoded)
    met = "MET" if ours <= READ_TARGET_S else "NOT MET"
    print(f"\n== read_rt_struct, {path.stat().st_size / 1e6:.1f} MB structure set ==\n"
          f"reirrad read_rt_struct          {ours:.3f} s   target <= {READ_TARGET_S} s: {met}\n"
          f"pydicom dcmread + decode every ContourData value (the old way) {theirs:.3f} s")


RESAMPLE_REPEATS = 7


def bench_resample() -> None:
    """Print M voxels/s of ``DoseGrid.resample`` per transform: best and median, target, load."""
    rng = np.random.default_rng(0)
    source = DoseGrid(rng.uniform(0.0, 40.0, (150, 256, 256)), (-250.0, -250.0, -150.0), (2.0, 2.0, 2.0))
    target = DoseGrid(np.zeros((100, 200, 200)), (-200.0, -200.0, -100.0), (2.5, 2.5, 2.5))
    c, s = np.cos(0.1), np.sin(0.1)
    axis = np.array([1.0, -2.0, 3.0]) / np.sqrt(14.0)  # oblique: Rodrigues' rotation of 0.1 rad about it
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    oblique = np.eye(4)
    oblique[:3, :3] = np.eye(3) + s * cross + (1.0 - c) * cross @ cross
    oblique[:3, 3] = (3.0, -2.0, 1.5)
    transforms = {
        "translation": np.array([[1.0, 0, 0, 3.3], [0, 1, 0, -2.2], [0, 0, 1, 1.1], [0, 0, 0, 1]]),
        "rotation 0.1 rad about z": np.array([[c, -s, 0, 3.0], [s, c, 0, -2.0], [0, 0, 1, 1.5],
                                              [0, 0, 0, 1]]),
        "rotation 0.1 rad about x": np.array([[1, 0, 0, 3.0], [0, c, -s, -2.0], [0, s, c, 1.5],
                                              [0, 0, 0, 1]]),
        "rotation 0.1 rad about y": np.array([[c, 0, s, 3.0], [0, 1, 0, -2.0], [-s, 0, c, 1.5],
                                              [0, 0, 0, 1]]),
        "rotation 0.1 rad, oblique": oblique,
    }
    voxels = target.values_gy.size
    print(f"\n== DoseGrid.resample: 256 x 256 x 150 onto 200 x 200 x 100 = {voxels / 1e6:.0f} M voxels, "
          f"{RESAMPLE_REPEATS} runs each after a warm-up ==\n"
          f"{'transform':26s} {'best s':>7s} {'M vox/s':>8s} {'median':>7s}   target (best)"
          "      load 1/5 min")
    for name, matrix in transforms.items():
        source.resample(target, matrix)  # warm-up
        seconds = []
        for _ in range(RESAMPLE_REPEATS):
            start = time.perf_counter()
            source.resample(target, matrix)
            seconds.append(time.perf_counter() - start)
        best, median = voxels / min(seconds) / 1e6, voxels / float(np.median(seconds)) / 1e6
        met = "MET" if best >= RESAMPLE_TARGET_MVOX else "NOT MET"
        load = os.getloadavg()
        print(f"{name:26s} {min(seconds):7.3f} {best:8.1f} {median:7.1f}   "
              f">= {RESAMPLE_TARGET_MVOX:g}: {met:8s} {load[0]:4.1f} {load[1]:4.1f}")


def main() -> None:
    logging.getLogger("reirrad").setLevel(logging.ERROR)
    logging.getLogger("dicompylercore").setLevel(logging.ERROR)
    pydicom = importlib.import_module("pydicom")
    try:
        dicompyler: Optional[Tuple[Any, Any]] = (
            importlib.import_module("dicompylercore.dicomparser"),
            importlib.import_module("dicompylercore.dvhcalc"))
        version = importlib.import_module("dicompylercore").__version__
    except ImportError as exc:
        dicompyler, version = None, f"not available ({exc})"
    print(f"Python {platform.python_version()}, numpy {np.__version__}, pydicom {pydicom.__version__}, "
          f"dicompyler-core {version}")
    with tempfile.TemporaryDirectory() as tmp:
        dose = Path(tmp) / "rtdose.dcm"
        with gzip.open(DATA / "rtdose.dcm.gz", "rb") as packed, open(dose, "wb") as out:
            shutil.copyfileobj(packed, out)
        compare("Eclipse breast", DATA / "rtss.dcm", dose, dicompyler)
        small = Path(tmp) / "rtdose-small.dcm"
        small_grid_dose(pydicom, dose, small, (112.0, -312.0, -12.0))
        compare("small grid (40 x 40 x 12 voxels)", DATA / "rtss.dcm", small, dicompyler)
    bench_read_rt_struct(pydicom)
    bench_resample()


if __name__ == "__main__":
    main()
