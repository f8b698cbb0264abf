"""The RayStation stand-in exposes only what docs/reference/raystation.md documents, or says why.

Every member, call form and keyword the stand-in exposes is extracted by walking its classes and its
``connect`` module, then looked up in the code of the reference (fenced blocks and inline code):
a property must appear there used as a property, a method as a call, and each keyword of a method in
one of that method's call forms. Anything else must be listed in ``tps_stubs/raystation/DEVIATIONS.md``
with a reason, and every listed deviation must still be exposed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

import tps_stubs.raystation as rs
from tps_stubs.raystation import connect_module, versions
from tps_stubs.raystation.scripting import ScriptObject, public_members

#: The RayStation call forms (a copy of the project's reference, with its sources; docs/reference/).
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "raystation.md"
DEVIATIONS = Path(rs.__file__).resolve().parent / "DEVIATIONS.md"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"



# -- the reference -------------------------------------------------------------------------------
def _strip_strings(code: str) -> str:
    """Code without its string literals ('MinDose', "PTV" …: values, not members)."""
    return re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", code)


def _sections() -> List[str]:
    """The code of each ``##``/``###`` section of the reference (fenced blocks and inline spans)."""
    text = REFERENCE.read_text(encoding="utf-8")
    out = []
    for section in re.split(r"^#{2,3} ", text, flags=re.M):
        fenced = re.findall(r"```[^\n]*\n(.*?)```", section, re.S)
        prose = re.sub(r"```[^\n]*\n.*?```", "", section, flags=re.S)
        # prose such as "set `f.DoseFunctionParameters.{DoseLevel, Weight}`" documents assignments
        sets = [
            f".{name} = value"
            for span in re.findall(r"\bset `([^`\n]+)`", prose)
            for group in re.findall(r"\{([^}]*)\}", span)
            for name in re.findall(IDENT, group)
        ]
        out.append(_strip_strings("\n".join(fenced + re.findall(r"`([^`\n]+)`", prose) + sets)))
    return out


def _balanced(text: str, start: int) -> str:
    depth = 0
    for n in range(start, len(text)):
        if text[n] == "(":
            depth += 1
        elif text[n] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : n]
    return text[start + 1 :]


class ReferenceForms:
    """Names used as calls, as attributes and as assignment targets, and the keywords of each method.

    A method's keywords are the names inside its call forms (``M(A=1, B)``, ``M(A, B→C)``), plus
    keyword spans standing alone (``A=`` or ``A``) in a section that shows a call form of ``M``
    (e.g. §13: "the keyword is ``PrimaryAcceptanceLevel``").
    """

    def __init__(self, sections: List[str]) -> None:
        self.called: Set[str] = set()
        self.accessed: Set[str] = set()
        self.assigned: Set[str] = set()
        self.keywords: Dict[str, Set[str]] = {}
        for code in sections:
            called_here = set()
            for m in re.finditer(rf"({IDENT})\s*\(", code):
                called_here.add(m.group(1))
                inner = _balanced(code, m.end() - 1)
                found = re.findall(rf"({IDENT})\s*(?=[=,):\]→|]|$)", inner)
                self.keywords.setdefault(m.group(1), set()).update(found)
            standalone = set(re.findall(rf"^({IDENT})=?[^(),.\s]*$", code, re.M))
            for method in called_here:
                self.keywords[method].update(standalone)
            self.called |= called_here
            self.assigned |= set(re.findall(rf"(?:^|\.)({IDENT})\s*=(?!=)", code, re.M))
            self.accessed |= {m.group(1) for m in re.finditer(rf"({IDENT})(?![A-Za-z0-9_]|\s*\()", code)}


@pytest.fixture(scope="module")
def forms() -> ReferenceForms:
    return ReferenceForms(_sections())


# -- the stand-in ----------------------------------------------------------------------------------
def _stand_in_classes() -> List[type]:
    for info in pkgutil.iter_modules(rs.__path__):
        importlib.import_module(f"tps_stubs.raystation.{info.name}")
    seen: List[type] = []
    todo = [ScriptObject]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen and sub.__module__.startswith("tps_stubs.raystation"):
                seen.append(sub)
                todo.append(sub)
    return seen


def exposed() -> List[Tuple[str, str, str, Tuple[str, ...]]]:
    """(class, member, kind, keywords) for every exposed member and connect function.

    kind is ``'property'`` (read-only), ``'settable'`` (a property a script may set) or ``'method'``.
    """
    out = []
    for cls in _stand_in_classes():
        for name in public_members(cls):
            attr = inspect.getattr_static(cls, name)
            if isinstance(attr, property):
                out.append((cls._class_name(), name, "settable" if attr.fset else "property", ()))
            else:
                keywords = getattr(attr, "_keywords", None)
                if keywords is None:  # a Python-side wrapper method (Equals, IndexOf …): positional
                    keywords = ()
                out.append((cls._class_name(), name, "method", tuple(keywords)))
    module = connect_module.make_module(rs.Session("2024B", None))
    for name in module.__all__:
        fn = getattr(module, name)
        target = fn.__init__ if inspect.isclass(fn) else fn
        params = tuple(p for p in inspect.signature(target).parameters if p != "self")
        out.append(("connect", name, "method", params))
    return out


def deviations() -> Set[str]:
    """The entries (first table cell, in backticks) of DEVIATIONS.md."""
    rows = re.findall(r"^\|\s*`([^`]+)`\s*\|", DEVIATIONS.read_text(encoding="utf-8"), re.M)
    return set(rows)


def gaps(forms: ReferenceForms) -> Set[str]:
    """Exposed items the reference does not show in that form."""
    out = set()
    for cls, name, kind, keywords in exposed():
        if kind in ("property", "settable") and name not in forms.accessed:
            out.add(f"{cls}.{name}")
        if kind == "settable" and name not in forms.assigned:
            out.add(f"{cls}.{name} =")
        if kind == "method" and name not in forms.called:
            out.add(f"{cls}.{name}()")
        for kw in keywords:
            if kw not in forms.keywords.get(name, set()):
                out.add(f"{cls}.{name}({kw}=)")
    return out


# -- tests ---------------------------------------------------------------------------------------------
def test_every_exposed_member_is_in_the_reference_or_listed_as_a_deviation(forms: ReferenceForms) -> None:
    """Source: docs/reference/raystation.md (call forms parsed from its code) plus DEVIATIONS.md."""
    missing = sorted(gaps(forms) - deviations())
    assert not missing, (
        "exposed by the stand-in but not in docs/reference/raystation.md; fix the name or list it "
        f"in tps_stubs/raystation/DEVIATIONS.md with a reason: {missing}"
    )


def test_every_deviation_is_still_exposed(forms: ReferenceForms) -> None:
    """Source: DEVIATIONS.md must describe the stand-in as it is (no stale entries)."""
    stale = sorted(deviations() - gaps(forms))
    assert not stale, (
        f"DEVIATIONS.md lists items that are no longer exposed or are now in the reference: {stale}"
    )


def test_the_walk_sees_the_core_members() -> None:
    """Source: docs/reference/raystation.md §2, §5, §6, §11 — the extraction itself must find the core API."""
    names = {(c, n) for c, n, _, _ in exposed()}
    for item in [
        ("connect", "get_current"),
        ("connect", "CompositeAction"),
        ("BeamSet", "ComputeDose"),
        ("FractionDose", "GetDoseStatistic"),
        ("DoseValues", "DoseData"),
        ("PlanOptimization", "AddOptimizationFunction"),
        ("ScriptObjectCollection", "Keys"),
    ]:
        assert item in names


def test_versioned_names_are_all_in_the_reference(forms: ReferenceForms) -> None:
    """Source: docs/reference/raystation.md §14.2 — every name in the version table is a documented name,
    or a deviation listed with its public-script source (DEVIATIONS.md; e.g. the 11A-style
    ``PrescriptionDoseReferences``, docs/reference/raystation-public-scripts.md P2)."""
    listed = deviations()
    for cls, member in versions.MEMBERS:
        assert member in forms.called | forms.accessed or f"{cls}.{member}" in listed, member
    for (_, method), keywords in versions.KEYWORDS.items():
        for kw in keywords:
            assert kw in forms.keywords.get(method, set()), f"{method}({kw}=)"
