"""HTML building blocks shared by the run report (:mod:`reirrad.report.page`) and the cohort report
(:mod:`reirrad.cohort`): escaping, number formatting, tables, embedded images and the style sheet.

Every text goes through :func:`escape` (``html.escape`` with quotes); a cell's HTML is built from escaped
text only. A missing value (None) reads "—", never the word "None".
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

from .text import plain_value

__all__ = ["CSS", "Cell", "Row", "attrs_html", "escape", "fmt", "img", "kv_table", "num", "short", "table",
           "txt"]

#: The style sheet of both reports (inline in the page; A4 landscape when printed).
CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; font-size: 10pt; color: #111;
       margin: 1.5em; }
h1 { font-size: 16pt; margin: 0 0 0.3em 0; }
h2 { font-size: 13pt; border-bottom: 1px solid #888; margin-top: 1.4em; }
h3 { font-size: 11pt; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em 0; }
th, td { border: 1px solid #bbb; padding: 2px 5px; text-align: left; vertical-align: top; }
thead th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td { background: #fbdada; }
tr.unmatched td { color: #666; font-style: italic; }
.safety { border: 1px solid #b36b00; background: #fff4e0; padding: 0.4em 0.6em; }
.status { font-size: 12pt; padding: 0.3em 0.6em; border-left: 6px solid #888; background: #f4f4f4; }
.status p { margin: 0.15em 0; }
.status-planned { border-left-color: #2e7d32; }
.status-infeasible, .status-stopped, .status-final-check-failed { border-left-color: #b00020; }
.status-coverage-compromised { border-left-color: #b36b00; }
.status-dry-run, .status-evaluated { border-left-color: #1565c0; }
.review-needed { font-weight: bold; color: #b00020; }
.flags { border: 2px solid #b36b00; background: #ffd54f; padding: 0.3em 0.6em; margin: 0.5em 0; }
.flags ul { margin: 0.2em 0; padding-left: 1.2em; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
tr.review td { background: #fff4e0; }
.notassessable { color: #b36b00; font-weight: bold; }
.override { font-weight: bold; color: #b00020; }
.sev-stop { background: #b00020; color: #fff; font-weight: bold; }
.sev-flag { background: #ffd54f; font-weight: bold; }
.sev-info { background: #e3f2fd; }
.val-confirmed { color: #2e7d32; }
.val-secondary-source { color: #b36b00; }
.val-unverified { color: #b00020; font-weight: bold; }
.note { font-style: italic; color: #444; }
.pass { color: #2e7d32; font-weight: bold; }
.failtext { color: #b00020; font-weight: bold; }
figure { display: inline-block; margin: 0.4em; vertical-align: top; max-width: 100%; }
figcaption { font-size: 8.5pt; color: #333; max-width: 640px; }
img { max-width: 100%; height: auto; }
code { font-size: 9pt; word-break: break-all; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 8.5pt; }
  tr, td, th, figure, img, .status, .safety, .flags { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"""


def escape(value: object) -> str:
    """HTML-escaped text of ``value`` (quotes too, so it is safe in attribute values)."""
    return html.escape(str(value), quote=True)


def fmt(value: object, digits: int = 2) -> str:
    """A number, boolean, list or text for a table cell (escaped); None → "—"."""
    return escape(plain_value(value, digits, missing="—"))


def short(value: object) -> str:
    """A number in its shortest form (``80``, ``2.5``; escaped); anything else as :func:`fmt`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return escape(f"{float(value):g}")
    return fmt(value)


def attrs_html(attrs: Optional[Mapping[str, str]]) -> str:
    """`` name="value"`` for each attribute (values escaped); "" for none."""
    if not attrs:
        return ""
    return "".join(f' {name}="{escape(value)}"' for name, value in attrs.items())


@dataclass(frozen=True)
class Cell:
    """One table cell: its HTML (already escaped), whether it is a number (right-aligned), extra CSS class."""

    html: str
    numeric: bool = False
    css: str = ""


#: A table row: its cells and the attributes of its ``<tr>``.
Row = Tuple[Sequence[Cell], Mapping[str, str]]


def num(value: object, digits: int = 2) -> Cell:
    """A numeric cell (:func:`fmt` with ``digits`` decimals)."""
    return Cell(fmt(value, digits), numeric=True)


def txt(value: object) -> Cell:
    """A text cell (escaped); None → "—"."""
    return Cell("—" if value is None else escape(value))


def table(headers: Sequence[str], rows: Sequence[Row], attrs: Optional[Mapping[str, str]] = None) -> str:
    """A table with escaped headers; cells are pre-rendered HTML."""
    out = [f"<table{attrs_html(attrs)}>", "<thead><tr>"]
    out.extend(f"<th>{escape(h)}</th>" for h in headers)
    out.append("</tr></thead>")
    out.append("<tbody>")
    for cells, row_attrs in rows:
        out.append(f"<tr{attrs_html(row_attrs)}>")
        for cell in cells:
            classes = " ".join(c for c in ("num" if cell.numeric else "", cell.css) if c)
            out.append(f'<td class="{classes}">{cell.html}</td>' if classes else f"<td>{cell.html}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def kv_table(pairs: Sequence[Tuple[str, str]], attrs: Optional[Mapping[str, str]] = None) -> str:
    """Two-column table: escaped label, pre-rendered value."""
    out = [f"<table{attrs_html(attrs)}><tbody>"]
    for label, value in pairs:
        out.append(f"<tr><th>{escape(label)}</th><td>{value}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def img(png: bytes, alt: str, attrs: Mapping[str, str], size: Tuple[int, int]) -> str:
    """An ``<img>`` embedding ``png`` as a base64 ``data:`` URI, with its pixel ``size`` (width, height)."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}" width="{size[0]}" '
            f'height="{size[1]}"{attrs_html(attrs)}>')
