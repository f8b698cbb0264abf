"""Architecture rules of docs/design.md §2 and §6 that can be checked mechanically."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TPS_SOURCES = sorted((ROOT / "engine").rglob("*.py")) + sorted((ROOT / "plugin").rglob("*.py"))


def test_engine_imports_no_tps_or_dicom_module():
    """Importing every engine module in a fresh interpreter pulls in no clr/connect/pydicom/adapters."""
    code = (
        "import sys, pkgutil, importlib, reirrad\n"
        "for m in pkgutil.walk_packages(reirrad.__path__, 'reirrad.'):\n"
        "    if m.name != 'reirrad.__main__': importlib.import_module(m.name)\n"
        "bad = [n for n in ('clr', 'connect', 'raystation', 'pydicom', 'reirrad_tps', 'tps_stubs', "
        "'System') if n in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("path", TPS_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sources_parse_as_python_3_8(path):
    """Code that runs inside a TPS must be Python 3.8 syntax (RayStation 11B embeds CPython 3.8).

    ``ast.parse(feature_version=(3, 8))`` rejects newer syntax (match, except*, parenthesised
    context managers…). Runtime-evaluated annotations are avoided by requiring the
    ``from __future__ import annotations`` import in every module with code.
    """
    text = path.read_text(encoding="utf-8")
    ast.parse(text, filename=str(path), feature_version=(3, 8))
    tree = ast.parse(text)
    has_code = any(not isinstance(node, ast.Expr) for node in tree.body)
    if has_code:
        assert "from __future__ import annotations" in text, f"{path} lacks the __future__ import"
