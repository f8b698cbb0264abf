"""HTML and PNG checks shared by the report tests (tests/engine/test_report.py, test_cohort.py).

Sources of truth: the HTML grammar (every element closed in order, checked by :mod:`html.parser`) and the
PNG specification (the signature, then the IHDR chunk with its CRC).
"""

from __future__ import annotations

import struct
import zlib
from html.parser import HTMLParser
from typing import Any, Dict, List, Optional, Tuple

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class HtmlCollector(HTMLParser):
    """Checks that every element is closed in order and collects tags, attributes, text and the body rows of
    each table (by table id: a list of (tr attributes, cell texts))."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: List[str] = []
        self.errors: List[str] = []
        self.elements: List[Tuple[str, Dict[str, Any]]] = []
        self.text: List[str] = []
        self.rows: Dict[Optional[str], List[Tuple[Dict[str, Any], List[str]]]] = {}
        self._cell: List[str] = []
        self._table: List[Optional[str]] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "table":
            self._table.append(a.get("id"))
            self.rows.setdefault(a.get("id"), [])
        elif tag == "tr" and self._table and "tbody" in self.stack:
            self.rows[self._table[-1]].append((a, []))
        elif tag == "td":
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "td" and self._table:
            self.rows[self._table[-1]][-1][1].append("".join(self._cell))
        elif tag == "table":
            self._table.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self._cell.append(data)

    def with_attr(self, tag: str, name: str) -> List[Dict[str, Any]]:
        return [a for t, a in self.elements if t == tag and name in a]

    def ids(self) -> set:
        return {a["id"] for _, a in self.elements if "id" in a}

    def by_id(self, name: str) -> List[str]:
        return [t for t, a in self.elements if a.get("id") == name]


def parse_html(page: str) -> HtmlCollector:
    """The page parsed, asserting that every element is closed in order."""
    parser = HtmlCollector()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    return parser


def png_size(png: bytes) -> Tuple[int, int]:
    """(width, height) from the IHDR chunk, which the PNG specification puts first (its CRC checked)."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    assert zlib.crc32(png[12:29]) & 0xFFFFFFFF == struct.unpack(">I", png[29:33])[0]
    return width, height
