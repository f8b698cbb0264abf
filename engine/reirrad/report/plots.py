"""Drawing the report's plots (matplotlib, the ``report`` extra, imported lazily).

Figures are ``matplotlib.figure.Figure`` objects drawn by ``FigureCanvasAgg`` (no pyplot state), at a
fixed size and dpi, written without the "Software" PNG text chunk, so identical input gives
byte-identical PNG files. What each plot shows is documented in :mod:`reirrad.report.data`.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Optional, Tuple

import numpy as np

from .._validate import FloatArray
from ..dvh import DVH
from .data import OUTLINE_LEVEL, DvhData, MapSlice, TornadoData

__all__ = [
    "DVH_FIGURE_PX",
    "FIGURE_DPI",
    "MAP_FIGURE_PX",
    "MAP_TITLES",
    "REPORT_EXTRA_NOTE",
    "TORNADO_FIGURE_PX",
    "draw_dvh",
    "draw_map",
    "draw_tornado",
    "matplotlib_version",
    "mpl_text",
    "plot_choice",
    "png_bytes",
]

logger = logging.getLogger(__name__)

#: Resolution of every plot, dots per inch.
FIGURE_DPI = 100
_DVH_FIGSIZE_IN = (6.4, 3.6)
_MAP_FIGSIZE_IN = (6.4, 4.8)
_TORNADO_FIGSIZE_IN = (6.4, 2.6)
#: Pixel size (width, height) of a tornado plot.
TORNADO_FIGURE_PX = (round(_TORNADO_FIGSIZE_IN[0] * FIGURE_DPI), round(_TORNADO_FIGSIZE_IN[1] * FIGURE_DPI))
#: Pixel size (width, height) of a DVH plot.
DVH_FIGURE_PX = (round(_DVH_FIGSIZE_IN[0] * FIGURE_DPI), round(_DVH_FIGSIZE_IN[1] * FIGURE_DPI))
#: Pixel size (width, height) of a map slice.
MAP_FIGURE_PX = (round(_MAP_FIGSIZE_IN[0] * FIGURE_DPI), round(_MAP_FIGSIZE_IN[1] * FIGURE_DPI))
#: Shown instead of the plots when matplotlib cannot be imported.
REPORT_EXTRA_NOTE = "plots need the 'report' extra: pip install 'reirrad[report]'"
#: Title and colour-bar unit of each map.
MAP_TITLES = {
    "effective-prior": ("Effective prior EQD2 (after recovery)", "EQD2 (Gy)"),
    "remaining-tolerance": ("Remaining tolerance within OARs with a cumulative limit", "remaining EQD2 (Gy)"),
}


def plot_choice(plots: Optional[bool]) -> Tuple[Optional[str], str]:
    """Whether a report draws its plots: (matplotlib's version when it draws them, else None; the note shown
    instead of the plots).

    ``plots``: None draws them when matplotlib imports (else the note names the ``report`` extra); True
    draws them (InputError without matplotlib); False draws none.
    """
    from ..errors import InputError  # noqa: PLC0415 - a leaf module: errors only when asked

    version = matplotlib_version() if plots is not False else None
    if plots is True and version is None:
        raise InputError(f"plots=True but matplotlib cannot be imported; {REPORT_EXTRA_NOTE}")
    return version, (REPORT_EXTRA_NOTE if plots is None else "Plots were not requested for this report.")


def matplotlib_version() -> Optional[str]:
    """matplotlib's version when it and its Agg canvas import, else None.

    An installed matplotlib that fails to start (e.g. no writable configuration or temporary folder) is
    logged as a warning and treated as absent: the report is written with a note instead of plots.
    """
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency (the 'report' extra)
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401, PLC0415
        from matplotlib.figure import Figure  # noqa: F401, PLC0415
    except ImportError:
        return None
    except Exception as exc:  # matplotlib present but unable to start: no plots, never a traceback
        logger.warning("matplotlib cannot be used (%s: %s); the report has no plots", type(exc).__name__, exc)
        return None
    return str(matplotlib.__version__)


def mpl_text(text: str) -> str:
    """Text safe from matplotlib's mathtext (a '$' would start a formula)."""
    return text.replace("$", r"\$")


def png_bytes(figure: Any) -> bytes:
    """PNG bytes of a figure, through the Agg canvas, with no "Software" text chunk (so identical figures
    give identical bytes; also used by the cohort report, :mod:`reirrad.cohort`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - optional dependency

    canvas: Any = FigureCanvasAgg(figure)  # Any: print_png has no annotations
    buffer = io.BytesIO()
    # print_png, not savefig: no rcParams-driven bbox cropping, so the pixel size is the figure's.
    canvas.print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def _curve(dvh: DVH) -> Tuple[FloatArray, FloatArray]:
    """(dose, cumulative volume) points of the documented DVH curve, at most ~2000 of them."""
    cum = np.cumsum(dvh.volumes_cc)
    mids = cum - dvh.volumes_cc / 2.0
    doses = np.asarray(dvh.doses_gy)
    if doses.size > 2000:
        keep = np.unique(np.linspace(0, doses.size - 1, 2000).round().astype(int))
        doses, mids = doses[keep], mids[keep]
    return (np.concatenate([doses, [doses[-1]]]), np.concatenate([mids, [float(cum[-1])]]))


def draw_dvh(data: DvhData) -> bytes:
    """PNG of one OAR's cumulative EQD2 DVH (log volume), its limit and its metric (DVH_FIGURE_PX)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency

    fig = Figure(figsize=_DVH_FIGSIZE_IN, dpi=FIGURE_DPI)
    ax = fig.add_axes((0.1, 0.15, 0.86, 0.74))
    d, v = _curve(data.cumulative)
    ax.plot(d, v, color="#1f77b4", linewidth=1.5, label="cumulative EQD2 (prior after recovery + plan)")
    top = float(data.cumulative.volume_cc)
    if data.prior is not None:
        pd, pv = _curve(data.prior)
        ax.plot(pd, pv, color="#7f7f7f", linewidth=1.0, linestyle="--", label="effective prior EQD2")
    ax.axvline(data.limit_gy, color="#d62728", linewidth=1.2,
               label=f"limit checked {data.limit_gy:g} Gy")
    bottom = min(0.01, (data.metric_volume_cc or 0.01) / 10.0)
    if data.metric_volume_cc is not None:
        marker_v = max(data.metric_volume_cc, bottom)
        ax.axhline(marker_v, color="#999999", linewidth=0.6, linestyle=":")
        ax.plot([data.metric_gy], [marker_v], marker="o", color="#000000", linestyle="none",
                label=mpl_text(f"{data.metric} = {data.metric_gy:.2f} Gy"))
    ax.set_yscale("log")
    ax.set_ylim(bottom, max(top * 1.5, bottom * 10.0))
    ax.set_xlim(0.0, max(data.limit_gy, float(data.cumulative.max_gy)) * 1.08)
    ax.set_xlabel(f"EQD2 (Gy, α/β = {data.alpha_beta_gy:g} Gy)", fontsize=8)
    ax.set_ylabel("volume (cm³, log scale)", fontsize=8)
    ax.set_title(mpl_text(f"{data.label} ({data.structure}): cumulative EQD2 DVH"), fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", linewidth=0.4, color="#dddddd")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    return png_bytes(fig)


def draw_map(data: MapSlice) -> bytes:
    """PNG of one map slice with its colour bar and structure outlines (MAP_FIGURE_PX)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency
    from matplotlib.lines import Line2D  # noqa: PLC0415

    fig = Figure(figsize=_MAP_FIGSIZE_IN, dpi=FIGURE_DPI)
    ax = fig.add_axes((0.09, 0.1, 0.58, 0.8))
    cax = fig.add_axes((0.69, 0.1, 0.025, 0.8))
    dh = float(data.h_mm[1] - data.h_mm[0]) if data.h_mm.size > 1 else 1.0
    dv = float(data.v_mm[1] - data.v_mm[0]) if data.v_mm.size > 1 else 1.0
    left, right = float(data.h_mm[0]) - dh / 2, float(data.h_mm[-1]) + dh / 2
    low, high = float(data.v_mm[0]) - dv / 2, float(data.v_mm[-1]) + dv / 2
    ax.set_facecolor("#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(data.values), cmap="viridis", vmin=0.0, vmax=data.vmax,
                      origin="lower", extent=(left, right, low, high), interpolation="nearest")
    if data.v_down:
        ax.set_ylim(high, low)
    colourbar = fig.colorbar(image, cax=cax)
    title, unit = MAP_TITLES[data.map_name]
    colourbar.set_label(unit, fontsize=8)
    colourbar.ax.tick_params(labelsize=7)
    handles = []
    for outline in data.outlines:
        occ = outline.occupancy
        if occ.size == 0 or not (float(occ.min()) < OUTLINE_LEVEL <= float(occ.max())):
            continue
        ax.contour(data.h_mm, data.v_mm, occ, levels=[OUTLINE_LEVEL], colors=[outline.colour],
                   linewidths=1.0)
        handles.append(Line2D([], [], color=outline.colour, linewidth=1.5, label=mpl_text(outline.name)))
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.78, 0.5), fontsize=7,
                   frameon=False)
    ax.set_xlabel(data.h_label, fontsize=8)
    ax.set_ylabel(data.v_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(mpl_text(f"{title}\n{data.view}, {data.position}"), fontsize=8)
    return png_bytes(fig)


def draw_tornado(data: TornadoData) -> bytes:
    """PNG of one OAR's allowed dose across each assumption's range (TORNADO_FIGURE_PX).

    One horizontal bar per parameter from its lowest to its highest allowed dose (widest first, at the
    top), the baseline as a vertical line, each end labelled with the change that gives it.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency

    fig = Figure(figsize=_TORNADO_FIGSIZE_IN, dpi=FIGURE_DPI)
    ax = fig.add_axes((0.2, 0.18, 0.76, 0.66))
    bars = list(data.bars)
    positions = np.arange(len(bars))[::-1]
    lows = np.array([b.low_gy for b in bars])
    widths = np.array([b.high_gy - b.low_gy for b in bars])
    ax.barh(positions, np.maximum(widths, 0.02), left=lows, height=0.55, color="#9ecae1", edgecolor="#3182bd")
    ax.axvline(data.baseline_gy, color="#d62728", linewidth=1.2)
    for y, bar in zip(positions, bars):
        if bar.low_gy < data.baseline_gy:
            ax.text(bar.low_gy, y, mpl_text(f"{bar.low_label} "), ha="right", va="center", fontsize=6)
        if bar.high_gy > data.baseline_gy:
            ax.text(bar.high_gy, y, mpl_text(f" {bar.high_label}"), ha="left", va="center", fontsize=6)
    ax.set_yticks(positions)
    ax.set_yticklabels([mpl_text(b.parameter) for b in bars], fontsize=7)
    span = [min([data.baseline_gy, *lows]) if bars else data.baseline_gy,
            max([data.baseline_gy, *(lows + widths)]) if bars else data.baseline_gy]
    pad = max(span[1] - span[0], 1.0) * 0.45
    ax.set_xlim(max(span[0] - pad, 0.0), span[1] + pad)
    ax.set_xlabel("allowed physical dose in the new course (Gy)", fontsize=8)
    ax.set_title(mpl_text(f"{data.label}: allowed {data.baseline_gy:.2f} Gy (red) with one assumption "
                           "changed at a time"), fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="x", linewidth=0.4, color="#dddddd")
    return png_bytes(fig)
