"""The ESAPI stand-in's public surface matches docs/reference/esapi-members.md, or DEVIATIONS.md says why.

Every public type and member of the two built ESAPI assemblies is listed by reflection (through
pythonnet), rendered as a signature in the reference's notation and looked up in the reference's table
for its declaring type. What is not there must be declared in ``tps_stubs/esapi/DEVIATIONS.md``; so must
every 15.6 member the stand-in leaves out, and every member taken from a later version (16.1/18.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest

from .conftest import ESAPI_DEVIATIONS_MD, ESAPI_MEMBERS_MD

VERSIONS = ("13.6", "13.7", "15.0", "15.1", "15.5", "15.6", "16.1", "18.1")
MODELLED = "15.6"
API_ASSEMBLIES = ("VMS.TPS.Common.Model.API", "VMS.TPS.Common.Model.Types")
REAL_NAMESPACES = ("VMS.TPS.Common.Model.API", "VMS.TPS.Common.Model.Types", "VMS.TPS.Common.Model")
#: docs/reference/esapi.md §12 and §16: value types, enums and option classes live in the Types assembly.
TYPES_ASSEMBLY_CLASSES = {"OptimizationOptionsBase", "OptimizationOptionsVMAT", "OptimizationOptionsIMRT",
                          "ExternalBeamMachineParameters", "LMCVOptions", "SmartLMCOptions", "LineProfile",
                          "DoseProfile", "SegmentProfile"}
ALIASES = {"String": "string", "Int32": "int", "Double": "double", "Boolean": "bool", "Object": "object",
           "Void": "void", "Single": "float", "Int64": "long", "Int16": "short", "Byte": "byte",
           "Char": "char"}
MODIFIERS = ("virtual ", "override ", "abstract ", "sealed ", "new ")


# -- the reference -------------------------------------------------------------------------------
def _normalise(signature: str, modifiers: bool = False) -> str:
    """A signature in canonical notation: no attributes, namespaces or (unless ``modifiers``) modifiers
    such as ``virtual``; ``T?`` for Nullable."""
    text = re.sub(r"\s*\[Obsolete.*\]\s*$", "", signature.strip())
    for word in () if modifiers else MODIFIERS:
        text = text.replace(word, "")
    text = re.sub(r"\b(?:System|VMS)(?:\.\w+)*\.(\w+)", r"\1", text)
    while "Nullable<" in text:
        text = re.sub(r"Nullable<([^<>]*)>", r"\1?", text)
    return re.sub(r"\s+", " ", text)


def _member_name(signature: str) -> str:
    """``ctor``, a property / method / field name, or an enum member name."""
    if signature.startswith("method ctor("):
        return "ctor"
    if signature.startswith("enum "):
        return signature.split()[1]
    if signature.startswith("method "):
        return signature.split("(", maxsplit=1)[0].rsplit(maxsplit=1)[-1]
    head = signature.split("{", maxsplit=1)[0].strip()
    return re.sub(r"\[[^\]]*\]$", "", head).split()[-1]  # an indexer: "prop double Item[int i]"


@dataclass
class RefType:
    name: str
    kind: str
    since: str
    members: Dict[str, Tuple[str, Tuple[str, ...]]] = field(default_factory=dict)  # sig -> (since, absent)

    def in_modelled(self, sig: str) -> bool:
        since, absent = self.members[sig]
        return VERSIONS.index(since) <= VERSIONS.index(MODELLED) and MODELLED not in absent


def _reference() -> Dict[str, RefType]:
    types: Dict[str, RefType] = {}
    current: Optional[RefType] = None
    for line in ESAPI_MEMBERS_MD.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\S+)\s*$", line)
        if heading:
            current = RefType(heading.group(1), "", "")
            types[current.name] = current
            continue
        if current is None:
            continue
        kind = re.match(r"^`([^`]+)` — type since (\S+)", line)
        if kind:
            current.kind, current.since = _normalise(kind.group(1), modifiers=True), kind.group(2)
            continue
        row = re.match(r"^\| `(.+)` \| (\S+) \|\s*([^|]*)\|\s*$", line)
        if row:
            absent = tuple(v.strip() for v in row.group(3).split(",") if v.strip())
            current.members[_normalise(row.group(1))] = (row.group(2), absent)
    return types


# -- the built assemblies --------------------------------------------------------------------------
def _type_name(t: Any) -> str:
    if t.IsByRef:
        return _type_name(t.GetElementType())
    if t.IsArray:
        return _type_name(t.GetElementType()) + "[" + "," * (t.GetArrayRank() - 1) + "]"
    if t.IsGenericType:
        args = [_type_name(a) for a in t.GetGenericArguments()]
        base = str(t.Name).split("`")[0]
        return f"{args[0]}?" if base == "Nullable" else f"{base}<{', '.join(args)}>"
    if t.IsNested and not t.IsGenericParameter:
        return _type_name(t.DeclaringType) + "." + str(t.Name)
    return ALIASES.get(str(t.Name), str(t.Name))


def _parameters(method: Any) -> str:
    parts = []
    for p in method.GetParameters():
        prefix = ("out " if p.IsOut else "ref ") if p.ParameterType.IsByRef else ""
        default = ""
        if p.HasDefaultValue:
            value = p.DefaultValue
            text = "null" if value is None else str(value)
            default = " = " + (text.lower() if isinstance(value, bool) else text)
        parts.append(f"{prefix}{_type_name(p.ParameterType)} {p.Name}{default}")
    return ", ".join(parts)


def _signatures(t: Any, flags: Any) -> List[str]:
    """Every public member declared by ``t``, in the reference's notation."""
    out: List[str] = []
    if t.IsEnum:
        for f in t.GetFields(flags):
            if f.IsLiteral:
                out.append(f"enum {f.Name} = {int(f.GetRawConstantValue())}")
        return out
    for ctor in t.GetConstructors(flags):
        if not ctor.IsStatic:
            out.append(f"method ctor({_parameters(ctor)})")
    for prop in t.GetProperties(flags):
        getter, setter = prop.GetGetMethod(False), prop.GetSetMethod(False)
        accessor = getter or setter
        index = list(prop.GetIndexParameters())
        idx = "[" + ", ".join(f"{_type_name(p.ParameterType)} {p.Name}" for p in index) + "]" if index else ""
        acc = " ".join(a for a, m in (("get;", getter), ("set;", setter)) if m is not None)
        static = "static " if accessor.IsStatic else ""
        out.append(f"prop {static}{_type_name(prop.PropertyType)} {prop.Name}{idx} {{ {acc} }}")
    for m in t.GetMethods(flags):
        if m.IsSpecialName and not str(m.Name).startswith("op_"):
            continue  # property accessors
        static = "static " if m.IsStatic else ""
        out.append(f"method {static}{_type_name(m.ReturnType)} {m.Name}({_parameters(m)})")
    for f in t.GetFields(flags):
        constness = "const " if f.IsLiteral else "readonly " if f.IsInitOnly else ""
        mods = ("static " if f.IsStatic else "") + constness
        out.append(f"field {mods}{_type_name(f.FieldType)} {f.Name}")
    return [_normalise(s) for s in out]


def _kind(t: Any) -> str:
    if t.IsEnum:
        return "enum"
    if t.IsValueType:
        return "struct"
    if t.IsAbstract and t.IsSealed:
        kind = "static class"
    elif t.IsAbstract:
        kind = "abstract class"
    elif t.IsSealed:
        kind = "sealed class"
    else:
        kind = "class"
    return _normalise(f"{kind} : {_type_name(t.BaseType)}", modifiers=True)


@dataclass
class StubType:
    name: str
    namespace: str
    assembly: str
    kind: str
    members: List[str]


def _stub_types(esapi: Any) -> Dict[str, StubType]:
    binding = esapi.System.Reflection.BindingFlags
    flags = binding.Public | binding.Instance | binding.Static | binding.DeclaredOnly
    out: Dict[str, StubType] = {}
    for assembly_name in API_ASSEMBLIES:
        for t in esapi.assemblies[assembly_name].GetExportedTypes():
            name = _type_name(t)
            out[name] = StubType(name, str(t.Namespace), assembly_name, _kind(t), _signatures(t, flags))
    return out


# -- DEVIATIONS.md -----------------------------------------------------------------------------------
def _deviation_table(heading: str) -> List[List[str]]:
    """Rows of the markdown table under ``## heading``, cells stripped."""
    text = ESAPI_DEVIATIONS_MD.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"DEVIATIONS.md has no section '## {heading}'"
    rows = []
    for line in match.group(1).splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header row


def _names(cell: str) -> Set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def _declared(heading: str) -> Dict[str, Set[str]]:
    """type -> member names declared in a ``| `Type` | `a`, `b` | reason |`` table."""
    out: Dict[str, Set[str]] = {}
    for row in _deviation_table(heading):
        for type_name in _names(row[0]):
            out.setdefault(type_name, set()).update(_names(row[1]) if len(row) > 2 else set())
    return out


@pytest.fixture(scope="module")
def reference() -> Dict[str, RefType]:
    return _reference()


@pytest.fixture(scope="module")
def stub(esapi: Any) -> Dict[str, StubType]:
    return _stub_types(esapi)


# -- the tests ---------------------------------------------------------------------------------------
def test_reference_parses(reference: Dict[str, RefType]) -> None:
    """docs/reference/esapi-members.md (the authority on signatures) parses into types with kinds and
    members."""
    assert len(reference) > 50
    assert reference["DoseValue"].kind == "struct"
    assert "prop int? NumberOfFractions { get; }" in reference["PlanSetup"].members
    assert reference["ScriptContext"].kind == "sealed class : object"


def test_every_stub_member_is_in_reference_or_declared(reference: Dict[str, RefType],
                                                      stub: Dict[str, StubType]) -> None:
    """docs/reference/esapi-members.md: each public member of a referenced type has the reference's exact
    signature."""
    declared = _declared("Members not in esapi-members.md")
    problems = []
    for t in stub.values():
        ref = reference.get(t.name)
        if ref is None:
            continue
        for sig in t.members:
            if sig in ref.members:
                since, absent = ref.members[sig]
                if VERSIONS.index(since) <= VERSIONS.index(MODELLED) and MODELLED in absent:
                    problems.append(f"{t.name}: `{sig}` is not in {MODELLED} (absent in {', '.join(absent)})")
            elif _member_name(sig) not in declared.get(t.name, set()):
                same_name = [s for s in ref.members if _member_name(s) == _member_name(sig)]
                problems.append(f"{t.name}: `{sig}` not in the reference" +
                                (f" (reference has: {same_name})" if same_name else ""))
    assert not problems, "\n".join(problems)


def test_type_kinds_match_reference(reference: Dict[str, RefType], stub: Dict[str, StubType]) -> None:
    """docs/reference/esapi-members.md / docs/reference/esapi.md §16: structs stay structs, enums enums;
    bases and sealing as real."""
    problems = [f"{t.name}: stub `{t.kind}`, reference `{reference[t.name].kind}`"
                for t in stub.values() if t.name in reference and t.kind != reference[t.name].kind]
    assert not problems, "\n".join(problems)


def test_types_not_in_reference_are_declared(reference: Dict[str, RefType],
                                             stub: Dict[str, StubType]) -> None:
    """DEVIATIONS.md lists every stub type that docs/reference/esapi-members.md does not tabulate, with all
    its members."""
    declared = _declared("Types not in esapi-members.md")
    problems = []
    for t in stub.values():
        if t.name in reference:
            continue
        if t.name not in declared:
            problems.append(f"type {t.name} ({t.kind}) is not declared")
            continue
        for sig in t.members:
            if _member_name(sig) not in declared[t.name]:
                problems.append(f"{t.name}: member `{sig}` is not listed")
    assert not problems, "\n".join(problems)


def test_omitted_members_are_declared(reference: Dict[str, RefType], stub: Dict[str, StubType]) -> None:
    """Every public 15.6 member of a modelled type is implemented or listed as omitted in DEVIATIONS.md."""
    declared = _declared("Omitted 15.6 members")
    problems = []
    for t in stub.values():
        ref = reference.get(t.name)
        if ref is None:
            continue
        for sig in ref.members:
            if not ref.in_modelled(sig) or " protected " in f" {sig} " or sig in t.members:
                continue
            if _member_name(sig) not in declared.get(t.name, set()):
                problems.append(f"{t.name}: `{sig}` is neither implemented nor declared omitted")
    stale = [f"{name}.{m}" for name, members in declared.items() for m in members
             if name in stub and any(_member_name(s) == m for s in stub[name].members)
             and all(_member_name(s) != m or s in stub[name].members
                     for s in reference.get(name, RefType(name, "", "")).members
                     if reference[name].in_modelled(s))]
    assert not problems, "\n".join(problems)
    assert not stale, f"declared omitted but fully implemented: {stale}"


def test_omitted_types_are_declared(reference: Dict[str, RefType], stub: Dict[str, StubType]) -> None:
    """Every type of docs/reference/esapi-members.md that exists in 15.6 is in the stand-in or listed as
    omitted."""
    declared = _declared("Omitted types")
    missing = [name for name, ref in reference.items()
               if name not in stub and ref.since and VERSIONS.index(ref.since) <= VERSIONS.index(MODELLED)
               and name not in declared]
    assert not missing, f"types neither implemented nor declared omitted: {missing}"
    present = sorted(set(declared) & set(stub))
    assert not present, f"declared omitted but present: {present}"


def test_later_version_members_are_declared(reference: Dict[str, RefType], stub: Dict[str, StubType]) -> None:
    """Members the stand-in takes from 16.1/18.1 (not in 15.6) are listed, so an adapter knows."""
    declared = _declared("Later-version members")
    later = {(t.name, _member_name(sig)) for t in stub.values() if t.name in reference
             for sig in t.members if sig in reference[t.name].members
             and VERSIONS.index(reference[t.name].members[sig][0]) > VERSIONS.index(MODELLED)}
    undeclared = sorted(f"{n}.{m}" for n, m in later if m not in declared.get(n, set()))
    stale = sorted(f"{n}.{m}" for n, ms in declared.items() for m in ms if (n, m) not in later)
    assert not undeclared, f"later-version members not declared: {undeclared}"
    assert not stale, f"declared later-version members that are not in the stand-in: {stale}"


def test_enum_values_exact(reference: Dict[str, RefType], stub: Dict[str, StubType]) -> None:
    """docs/reference/esapi.md §12/§16: enum numeric values are exact (every stub enum value is a reference
    row); an enum the reference does not tabulate is declared in DEVIATIONS.md with all its values."""
    enums = [t for t in stub.values() if t.kind == "enum"]
    assert {"DoseValue.DoseUnit", "PlanSetupApprovalStatus", "OptimizationObjectiveOperator"} <= {
        t.name for t in enums}
    assert set(stub["DoseValue.DoseUnit"].members) == {
        "enum Unknown = 0", "enum Gy = 1", "enum cGy = 2", "enum Percent = 3"}
    declared = _declared("Types not in esapi-members.md")
    for t in enums:
        if t.name not in reference:  # named only by public scripts: every value listed in DEVIATIONS.md
            assert t.name in declared, t.name
            assert {_member_name(m) for m in t.members} == declared[t.name], t.name
            continue
        wrong = [m for m in t.members if m not in reference[t.name].members]
        assert not wrong, f"{t.name}: {wrong}"


def test_assembly_and_namespace_layout(stub: Dict[str, StubType]) -> None:
    """docs/reference/esapi.md §12/§16: structs, enums and option classes in Types; the object model in
    API."""
    problems = []
    for t in stub.values():
        in_types = t.kind in ("struct", "enum") or t.name.split(".")[0] in TYPES_ASSEMBLY_CLASSES
        want_ns = "VMS.TPS.Common.Model.Types" if in_types else "VMS.TPS.Common.Model.API"
        if t.namespace == "VMS.TPS.Common.Model":  # exceptions (Interface assembly in Eclipse; DEVIATIONS.md)
            continue
        if t.namespace != want_ns or t.assembly != want_ns:
            problems.append(f"{t.name}: {t.assembly} / {t.namespace}, expected {want_ns}")
        if t.namespace not in REAL_NAMESPACES:
            problems.append(f"{t.name}: namespace {t.namespace} is not an ESAPI namespace")
    assert not problems, "\n".join(problems)
    assert stub["DoseValue.DoseUnit"].namespace == "VMS.TPS.Common.Model.Types"
    assert stub["UnauthorizedScriptingAPIAccessException"].namespace == "VMS.TPS.Common.Model"


def test_builder_is_a_separate_assembly(esapi: Any) -> None:
    """The construction API lives outside the ESAPI assemblies, which open their internals to it only."""
    builder = esapi.assemblies["Reirrad.EsapiStubBuilder"]
    assert {str(t.Namespace) for t in builder.GetExportedTypes()} == {"Reirrad.EsapiStubBuilder"}
    ivt = esapi.System.Runtime.CompilerServices.InternalsVisibleToAttribute
    for name in API_ASSEMBLIES:
        granted = {str(a.AssemblyName) for a in esapi.assemblies[name].GetCustomAttributes(ivt, False)}
        assert "Reirrad.EsapiStubBuilder" in granted
        assert granted <= {"Reirrad.EsapiStubBuilder", "VMS.TPS.Common.Model.API"}


#: Members the adapters and public planning scripts rely on, in the reference's notation: structure algebra,
#: structure-set edits, brachytherapy plans, plan copies and the current user.
REQUIRED = {
    "SegmentVolume": ["method SegmentVolume And(SegmentVolume other)",
                      "method SegmentVolume AsymmetricMargin(AxisAlignedMargins margins)",
                      "method SegmentVolume Margin(double marginInMM)", "method SegmentVolume Not()",
                      "method SegmentVolume Or(SegmentVolume other)",
                      "method SegmentVolume Sub(SegmentVolume other)",
                      "method SegmentVolume Xor(SegmentVolume other)"],
    "Structure": ["prop SegmentVolume SegmentVolume { get; set; }",
                  "method SegmentVolume Margin(double marginInMM)",
                  "method SegmentVolume Sub(SegmentVolume other)",
                  "method SegmentVolume Or(SegmentVolume other)",
                  "method SegmentVolume And(SegmentVolume other)",
                  "method SegmentVolume AsymmetricMargin(AxisAlignedMargins margins)",
                  "method static SegmentVolume op_Implicit(Structure structure)"],
    "StructureSet": ["method Structure AddStructure(string dicomType, string id)",
                     "method bool CanAddStructure(string dicomType, string id)",
                     "method void RemoveStructure(Structure structure)",
                     "method bool CanRemoveStructure(Structure structure)", "method StructureSet Copy()"],
    "Image": ["method StructureSet CreateNewStructureSet()"],
    "Course": ["prop IEnumerable<BrachyPlanSetup> BrachyPlanSetups { get; }",
               "method PlanSetup CopyPlanSetup(PlanSetup sourcePlan)"],
    "ScriptContext": ["prop BrachyPlanSetup BrachyPlanSetup { get; }",
                      "prop IEnumerable<BrachyPlanSetup> BrachyPlansInScope { get; }",
                      "prop User CurrentUser { get; }"],
    "Application": ["prop User CurrentUser { get; }"],
}


def test_required_members_have_reference_signatures(reference: Dict[str, RefType],
                                                    stub: Dict[str, StubType]) -> None:
    """The structure-algebra, brachytherapy, plan-copy and user members exist with the reference's exact
    signatures (and are 15.6 members); BrachyPlanSetup derives from PlanSetup, SegmentVolume from
    SerializableObject as in the reference."""
    problems = []
    for type_name, signatures in REQUIRED.items():
        for sig in signatures:
            if sig not in reference[type_name].members or not reference[type_name].in_modelled(sig):
                problems.append(f"{type_name}: `{sig}` is not a {MODELLED} reference row")
            if sig not in stub[type_name].members:
                problems.append(f"{type_name}: `{sig}` is missing from the stand-in")
    assert not problems, "\n".join(problems)
    assert stub["BrachyPlanSetup"].kind == "class : PlanSetup"
    assert stub["SegmentVolume"].kind == reference["SegmentVolume"].kind == "class : SerializableObject"
    assert stub["AxisAlignedMargins"].kind == "struct"
    assert stub["AxisAlignedMargins"].namespace == "VMS.TPS.Common.Model.Types"
