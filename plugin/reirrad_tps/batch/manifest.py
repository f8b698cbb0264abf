"""The manifest of a cohort run (``reirrad batch MANIFEST``): which cases, each with its options.

A manifest is YAML or CSV (by its suffix; docs/batch.md):

* **YAML** — ``cases:`` a list of mappings, each with ``id`` and the options of ``reirrad plan`` or
  ``reirrad evaluate`` by their long names without the dashes (``-`` or ``_`` between words),
  e.g. ``{id: a, tps: raystation-stub, patient: LRRC-01, intent: isotoxic}``; an optional ``command``
  (``plan`` / ``evaluate``; default ``plan`` when the case names a ``tps``, else ``evaluate``); an
  optional top-level ``defaults:`` mapping applied to every case (a case's own value wins);
* **CSV** — a header row with ``id``, optionally ``command``, and one column per option; an empty cell
  is an option not given. A flag (``dry-run``) is ``true``/``false``; a repeated option
  (``risk-factor``) is separated by ``;``.

Every option is checked against the command's own argument parser, so a manifest takes exactly what
the command line takes (a misspelt option is refused with the case and the options allowed). The
outputs (``json``, ``out``, ``report``, ``audit-csv``) are the batch's and may not be given. A path is
relative to the manifest's folder. Case ids are unique (ignoring case: they name folders) and made of
letters, digits, ``.``, ``_`` and ``-``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from reirrad.errors import InputError
from reirrad.inputfiles import parse_yaml, read_input_bytes

__all__ = ["BATCH_OUTPUT_OPTIONS", "COMMANDS", "CaseSpec", "Manifest", "argv_of", "check_cases",
           "load_manifest"]

#: The commands a case can run.
COMMANDS = ("plan", "evaluate")
#: Options the batch sets for every case (each case's result, report and audit row).
BATCH_OUTPUT_OPTIONS = ("json", "out", "report", "audit_csv")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAX_CASES = 10000

OptionValue = Union[str, bool, Tuple[str, ...]]


@dataclass(frozen=True)
class CaseSpec:
    """One case of a cohort run.

    Attributes
    ----------
    case_id : str
        The manifest id (with ``@<policy>`` appended in a policy comparison); names the case's folder.
    command : str
        ``plan`` or ``evaluate``.
    options : tuple of (str, value)
        Option ``dest`` names (``conservation_factor``) and values as text, ``True`` for a flag, or a
        tuple of texts for a repeated option; sorted by name. Paths are absolute.
    policy : str or None
        The policy label in a comparison (``--compare``), else None.
    """

    case_id: str
    command: str
    options: Tuple[Tuple[str, OptionValue], ...]
    policy: Optional[str] = None

    def option(self, name: str) -> Optional[OptionValue]:
        """The value of an option (its ``dest`` name), None when not given."""
        return dict(self.options).get(name)

    def with_option(self, name: str, value: OptionValue, *, case_id: str, policy: str) -> CaseSpec:
        """A copy with one option set (a policy of a comparison)."""
        options = dict(self.options)
        options[name] = value
        return CaseSpec(case_id, self.command, tuple(sorted(options.items())), policy)


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: its path, content hash and cases in file order."""

    path: Path
    sha256: str
    cases: Tuple[CaseSpec, ...]


def _actions(parser: argparse.ArgumentParser) -> Dict[str, argparse.Action]:
    """Option ``dest`` → action of a command's parser (long options only)."""
    out = {}
    for action in parser._actions:
        if any(s.startswith("--") for s in action.option_strings) and action.dest != "help":
            out[action.dest] = action
    return out


def _command_parsers() -> Dict[str, argparse.ArgumentParser]:
    """The ``plan`` and ``evaluate`` parsers, as the command line builds them."""
    from reirrad.cli import _build_parser  # noqa: PLC0415 - the CLI imports the plugin's commands

    top = _build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sub.choices[name] for name in COMMANDS}


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise InputError(f"{where}: expected a single value (text or number), got {value!r}")
    return str(value)


def _value(action: argparse.Action, raw: Any, where: str, base: Path) -> Optional[OptionValue]:
    """A manifest value as the option takes it (None: not given)."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false", ""):
            raw = {"true": True, "false": False, "": None}[raw.strip().lower()]
        if raw is None:
            return None
        if not isinstance(raw, bool):
            raise InputError(f"{where}: a flag takes true or false, got {raw!r}")
        return True if raw else None
    if isinstance(action, argparse._AppendAction):
        items = raw.split(";") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)):
            items = [items]
        values = tuple(_text(v, where).strip() for v in items if str(v).strip())
        return values or None
    if isinstance(raw, str) and not raw.strip():
        return None
    text = _text(raw, where)
    if action.choices is not None and text not in action.choices:
        raise InputError(f"{where}: {text!r} is not one of {sorted(map(str, action.choices))}")
    candidate = base / text
    if action.choices is None and not Path(text).is_absolute() and candidate.exists():
        return str(candidate.resolve())  # a file or folder beside the manifest (else e.g. a shipped name)
    return text


def _spelled_once(mapping: Mapping[Any, Any], where: str) -> Dict[str, Any]:
    """``mapping`` with each key as an option's ``dest`` (``conservation-factor`` → ``conservation_factor``);
    two spellings of one option in it are refused (never last-one-wins)."""
    out: Dict[str, Any] = {}
    spelled: Dict[str, Any] = {}
    for key, value in mapping.items():
        dest = str(key).strip().replace("-", "_")
        if dest in out:
            raise InputError(f"{where}: '{spelled[dest]}' and '{key}' are the same option; give it once")
        out[dest], spelled[dest] = value, key
    return out


def _case(raw: Any, index: int, defaults: Mapping[str, Any], source: str, *, base: Path,
          parsers: Mapping[str, argparse.ArgumentParser]) -> CaseSpec:
    where = f"{source}: case {index + 1}"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping with 'id' and options, got {raw!r}")
    # a case's own value overrides the defaults', whichever way either spells the option
    merged: Dict[str, Any] = {**_spelled_once(defaults, f"{source}: defaults"), **_spelled_once(raw, where)}
    case_id = merged.pop("id", None)
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or not _ID_RE.match(str(case_id)):
        raise InputError(f"{where}: 'id' must be 1-64 letters, digits, '.', '_' or '-' starting with a "
                         f"letter or digit (it names the case's folder), got {case_id!r}")
    case_id = str(case_id)
    where = f"{source}: case {case_id!r}"
    command = merged.pop("command", None)
    if command is None:
        command = "plan" if merged.get("tps") not in (None, "") else "evaluate"
    if command not in COMMANDS:
        raise InputError(f"{where}: command must be one of {list(COMMANDS)}, got {command!r}")
    actions = _actions(parsers[command])
    options: Dict[str, OptionValue] = {}
    for key, raw_value in merged.items():
        dest = str(key).strip().replace("-", "_")
        if dest in BATCH_OUTPUT_OPTIONS:
            raise InputError(f"{where}: '{key}' is set by the batch for every case (its result, report and "
                             "audit row go under --out); remove it from the manifest")
        if dest not in actions:
            allowed = sorted(d.replace("_", "-") for d in actions if d not in BATCH_OUTPUT_OPTIONS)
            raise InputError(f"{where}: '{key}' is not an option of 'reirrad {command}'; its options: "
                             f"{allowed}")
        value = _value(actions[dest], raw_value, f"{where}, {key}", base)
        if value is not None:
            options[dest] = value
    return CaseSpec(case_id, command, tuple(sorted(options.items())))


def _yaml_cases(data: bytes, path: Path) -> Tuple[List[Any], Dict[str, Any]]:
    raw = parse_yaml(data, str(path), "manifest")
    if not isinstance(raw, dict) or "cases" not in raw:
        raise InputError(f"{path}: a manifest is a mapping with 'cases:' (a list of cases; docs/batch.md)")
    unknown = [k for k in raw if k not in ("cases", "defaults")]
    if unknown:
        raise InputError(f"{path}: unknown top-level key(s) {unknown}; a manifest has 'cases' and 'defaults'")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict) or "id" in defaults:
        raise InputError(f"{path}: 'defaults' must be a mapping of options (without 'id')")
    cases = raw["cases"]
    if not isinstance(cases, list):
        raise InputError(f"{path}: 'cases' must be a list, got {type(cases).__name__}")
    return cases, defaults


def _csv_cases(data: bytes, path: Path) -> List[Dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if "id" not in header:
        raise InputError(f"{path}: the header row needs an 'id' column (got {header})")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise InputError(f"{path}: column(s) {duplicated} appear twice in the header")
    rows = []
    for n, row in enumerate(reader, start=2):
        if None in row:
            raise InputError(f"{path}: line {n} has more cells than the header")
        missing = [k for k, v in row.items() if v is None]
        if missing:  # a short row would leave out its last options (a default taken for each), silently
            raise InputError(f"{path}: line {n} has fewer cells than the header (none for {missing}); give "
                             "every column a cell, an empty one for no value")
        rows.append({k: v for k, v in row.items() if v.strip() != ""})
    return rows


def load_manifest(path: Union[str, Path]) -> Manifest:
    """Read and check a manifest (module docstring).

    Raises
    ------
    reirrad.errors.InputError
        Not a file, not YAML/CSV, no cases, a bad or duplicated id, an unknown or batch-owned option, a
        value the option does not take — each naming the file, the case and what is allowed.
    """
    manifest = Path(path)
    suffix = manifest.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        raise InputError(f"{manifest}: a manifest is a .yaml, .yml or .csv file (docs/batch.md)")
    data = read_input_bytes(manifest, "manifest")
    if suffix == ".csv":
        raw_cases: List[Any] = _csv_cases(data, manifest)
        defaults: Dict[str, Any] = {}
    else:
        raw_cases, defaults = _yaml_cases(data, manifest)
    if not raw_cases:
        raise InputError(f"{manifest}: no cases")
    if len(raw_cases) > _MAX_CASES:
        raise InputError(f"{manifest}: {len(raw_cases)} cases, more than {_MAX_CASES}; split the cohort")
    parsers = _command_parsers()
    base = manifest.resolve().parent
    cases = [_case(raw, i, defaults, str(manifest), base=base, parsers=parsers)
             for i, raw in enumerate(raw_cases)]
    seen: Dict[str, str] = {}
    for case in cases:
        key = case.case_id.lower()
        if key in seen:
            raise InputError(f"{manifest}: case id {case.case_id!r} is given twice (ids name folders and are "
                             f"compared without regard to case: {seen[key]!r})")
        seen[key] = case.case_id
    return Manifest(manifest.resolve(), hashlib.sha256(data).hexdigest(), tuple(cases))


def argv_of(case: CaseSpec) -> List[str]:
    """The command line of a case (without the batch's outputs): ``[command, --option value, ...]``."""
    argv = [case.command]
    for dest, value in case.options:
        flag = "--" + dest.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, tuple):
            for item in value:
                argv.extend([flag, item])
        else:
            argv.extend([flag, str(value)])
    return argv


def check_cases(cases: Sequence[CaseSpec]) -> None:
    """Every case's command line parses (the command's own checks of types and combinations)."""
    parsers = _command_parsers()
    for case in cases:
        parser = parsers[case.command]
        said = io.StringIO()
        try:
            with contextlib.redirect_stderr(said):
                parser.parse_args(argv_of(case)[1:])
        except SystemExit:
            reason = said.getvalue().strip().splitlines()[-1:] or ["invalid options"]
            raise InputError(f"case {case.case_id!r}: {reason[0].split(': error: ')[-1]} (as the command "
                             f"line 'reirrad {' '.join(argv_of(case))}')") from None
