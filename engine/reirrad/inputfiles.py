"""The one reader of every YAML/JSON input file: case files, answers files, protocols, stub patients.

YAML is a large language and PyYAML's defaults are lenient: a repeated key silently keeps the last
value, aliases expand without bound ("billion laughs"), ``yes``/``on`` and ``2024-13-45`` are read as
something else than text. Every input goes through :func:`read_yaml_file` (or
:func:`read_input_bytes` and :func:`parse_yaml` when the caller needs the bytes, as a protocol does for
its sha256), which refuses, with an :class:`reirrad.errors.InputFileError` naming the file, the key
path and the fix:

* a path that is not a regular file (a directory, a FIFO, a device such as ``/dev/zero``) or that is
  larger than :data:`MAX_INPUT_BYTES`, checked before anything is read;
* bytes that are not UTF-8 (the message gives the byte offset and line of the first bad byte; a
  leading UTF-8 byte-order mark is accepted);
* text that is not valid YAML (JSON is YAML), or holds more than one document;
* a mapping key given twice (both line numbers are named);
* a mapping key that is not text (a number, a date, ``yes``, ``null``, a list; quote it);
* YAML anchors and aliases (``&name``, ``*name``), refused when first met, before any expansion, and
  merge keys (``<<``);
* tags other than the plain types (text, numbers, booleans, null, dates, mappings, lists):
  ``!!binary``, ``!!set``, ``!!python/...`` and local tags;
* a date that is not a calendar date (``2024-02-30``) or lies outside
  :data:`reirrad.bounds.MIN_YEAR` … :data:`reirrad.bounds.MAX_YEAR`;
* a number written with more than :data:`MAX_NUMBER_CHARS` characters, and nesting deeper than
  :data:`MAX_DEPTH` levels;
* text holding control characters other than tab and newline, or bidirectional controls, written as
  YAML/JSON escapes (``"\\e"``, ``"\\u001b"``, ``"\\r"``): a patient id with a terminal escape reached
  the console raw.

Values echoed in messages are shortened (:func:`reirrad.errors.echo`). What the values mean (doses,
fractions, intervals) is checked by the caller, with :mod:`reirrad.bounds`. ``docs/input-files.md``
describes the rules for users.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .bounds import check_date
from .errors import InputError, InputFileError, echo, hidden_character

__all__ = ["MAX_DEPTH", "MAX_INPUT_BYTES", "MAX_NUMBER_CHARS", "parse_yaml", "read_input_bytes",
           "read_yaml_file"]

MAX_INPUT_BYTES = 10 * 1024 * 1024
"""Largest input file, bytes (10 MiB; the shipped inputs are a few kilobytes)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted."""
MAX_NUMBER_CHARS = 100
"""Longest number, in characters (a longer one is not a plausible input and is slow to convert)."""

_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_KINDS = {_TAG + "int": "a number", _TAG + "float": "a number", _TAG + "bool": "a boolean (yes/no/on/off/"
          "true/false)", _TAG + "null": "null", _TAG + "timestamp": "a date"}
_FILE = "<file>"


class _RuleError(Exception):
    """Raised inside the loader; turned into an InputFileError with the file's name."""

    def __init__(self, key_path: str, problem: str) -> None:
        super().__init__(problem)
        self.key_path = key_path
        self.problem = problem


def _line(node_or_event: Any) -> int:
    mark = getattr(node_or_event, "start_mark", None)
    return 0 if mark is None else int(mark.line) + 1


def _key_text(text: str) -> str:
    return text if len(text) <= 40 else text[:30] + "..."


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses what the module docstring lists while it composes the node tree, and
    tracks the key path of the node being composed for the messages."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: List[str] = []
        self._depth = 0

    def _where(self, extra: Optional[str] = None) -> str:
        parts = self._path + ([] if extra is None else [extra])
        text = ""
        for part in parts:
            text += part if part.startswith("[") or not text else "." + part
        return text or _FILE

    def compose_node(self, parent: Optional[Node], index: Any) -> Optional[Node]:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            alias = _key_text(str(event.anchor))
            raise _RuleError(self._where(), f"line {_line(event)}: the YAML alias '*{alias}' "
                             "is not accepted (aliases and anchors are refused, never expanded); write the "
                             "value out in full")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            name = _key_text(str(anchor))
            raise _RuleError(self._where(), f"line {_line(event)}: the YAML anchor '&{name}' "
                             "is not accepted (aliases and anchors are refused, never expanded); remove it "
                             "and write each value out in full")
        segment: Optional[str] = None
        if isinstance(parent, SequenceNode) and isinstance(index, int):
            segment = f"[{index}]"
        elif isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
            segment = _key_text(str(index.value))
        if self._depth >= MAX_DEPTH:
            raise _RuleError(self._where(), f"line {_line(event)}: nested more than {MAX_DEPTH} levels deep; "
                             "an input file of reirrad is never that deep - check the file")
        if segment is not None:
            self._path.append(segment)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
            if node is not None:
                self._check_node(node)
        finally:
            self._depth -= 1
            if segment is not None:
                self._path.pop()
        return node

    def _check_node(self, node: Node) -> None:
        where = self._where()
        if isinstance(node, ScalarNode):
            if node.tag == _TAG + "merge":
                raise _RuleError(where, f"line {_line(node)}: YAML merge keys (<<) are not accepted; write "
                                 "each key out in full")
            if node.tag not in _PLAIN_SCALAR_TAGS:
                raise _RuleError(where, f"line {_line(node)}: the YAML tag {echo(node.tag)} is not "
                                 "accepted; give plain text, numbers, true/false, dates, mappings and lists")
            if node.tag in (_TAG + "int", _TAG + "float") and len(node.value) > MAX_NUMBER_CHARS:
                raise _RuleError(where, f"line {_line(node)}: a number written with {len(node.value)} "
                                 f"characters (at most {MAX_NUMBER_CHARS}) is not a plausible value; "
                                 "check it")
            if node.tag == _TAG + "timestamp":
                self._check_timestamp(node, where)
            hidden = sorted({f"U+{ord(c):04X}" for c in str(node.value) if hidden_character(c)})
            if hidden:
                raise _RuleError(where, f"line {_line(node)}: the text holds control characters "
                                 f"({', '.join(hidden[:5])}), written as escapes such as \\e or \\u001b; "
                                 "they would reach the console, the report and the audit row raw (a "
                                 "terminal escape, a forged line): remove them")
        elif isinstance(node, (MappingNode, SequenceNode)):
            expected = _TAG + ("map" if isinstance(node, MappingNode) else "seq")
            if node.tag != expected:
                raise _RuleError(where, f"line {_line(node)}: the YAML tag {echo(node.tag)} is not "
                                 "accepted; give plain mappings and lists")

    def _check_timestamp(self, node: ScalarNode, where: str) -> None:
        try:
            value = self.construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise _RuleError(where, f"line {_line(node)}: {echo(node.value)} is not a valid date ({exc}); "
                             "write a calendar date YYYY-MM-DD") from None
        try:
            check_date(where, value)
        except InputError as exc:
            raise _RuleError(where, f"line {_line(node)}: {exc}") from None

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        seen: Dict[str, int] = {}
        for key_node, _ in node.value:
            line = _line(key_node)
            if not isinstance(key_node, ScalarNode):
                kind = "a list" if isinstance(key_node, SequenceNode) else "a mapping"
                raise _RuleError(self._where(), f"line {line}: a mapping key must be text, got {kind}; "
                                 "write each key as plain text")
            if key_node.tag != _TAG + "str":
                kind = _KINDS.get(key_node.tag, f"tag {echo(key_node.tag)}")
                raise _RuleError(self._where(), f"line {line}: a mapping key must be text, but "
                                 f"{echo(key_node.value)} is read as {kind}; quote it "
                                 f"(\"{_key_text(str(key_node.value))}\")")
            key = str(key_node.value)
            if key in seen:
                raise _RuleError(self._where(_key_text(key)),
                                 f"key defined twice (lines {seen[key]} and {line}); "
                                 "each key must appear once in a mapping - remove or rename one")
            seen[key] = line
        return node


def read_input_bytes(path: Union[str, Path], what: str, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of an input file, after checking that it is a regular file of at most ``limit`` bytes.

    The checks come before any read: a FIFO, a device (``/dev/zero``), a directory or a file larger than
    ``limit`` is refused without reading it (a FIFO is not even opened).

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    what : str
        What it is, for messages ("case file").
    limit : int
        Largest size accepted, bytes.

    Raises
    ------
    reirrad.errors.InputFileError
        Missing, unreadable, not a regular file, or too large.
    """
    text = str(path)
    if not text.strip():
        raise InputFileError(what, repr(text), _FILE, "no file name was given; give the path of the file")
    try:
        info = os.stat(text)
    except OSError as exc:
        raise InputFileError(what, text, _FILE, f"cannot be read ({exc.strerror or exc}); check the path") \
            from None
    _check_regular(info, what, text, limit)
    try:
        fd = os.open(text, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InputFileError(what, text, _FILE, f"cannot be read ({exc.strerror or exc}); check the path "
                             "and its permissions") from None
    try:
        _check_regular(os.fstat(fd), what, text, limit)  # the file may have been replaced since the stat
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise InputFileError(what, text, _FILE, f"cannot be read ({exc.strerror or exc}); check the file") \
            from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(what, text, len(data), limit)
    return data


def _check_regular(info: os.stat_result, what: str, path: str, limit: int) -> None:
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise InputFileError(what, path, _FILE, "is a directory, not a file; give the path of the YAML/JSON "
                             "file")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise InputFileError(what, path, _FILE, f"is {kind}, not a regular file; give the path of a "
                             "YAML/JSON file saved on disk")
    if info.st_size > limit:
        raise _too_large(what, path, info.st_size, limit)


def _too_large(what: str, path: str, size: int, limit: int) -> InputFileError:
    return InputFileError(what, path, _FILE, f"is {size} bytes or more, above the limit of {limit} bytes "
                          f"({limit / 1048576:g} MiB) for an input file; the inputs of reirrad are a few "
                          "kilobytes - check that this is the right file")


#: Numbers in exponent form that YAML 1.1 (PyYAML) reads as text but JSON and YAML 1.2 read as numbers:
#: ``1e-05`` (as ``json.dumps`` writes 0.00001), ``4.5e1``, ``.5E+2``. Resolved as floats, so a JSON file
#: means what JSON says (they were refused as "expected a number, got str '1e-05'").
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_StrictLoader.add_implicit_resolver(_TAG + "float", _EXPONENT_FLOAT, list("-+0123456789."))


def parse_yaml(data: bytes, path: str, what: str) -> Any:
    """The content of a YAML/JSON document given as bytes, by the strict rules of the module docstring.

    Parameters
    ----------
    data : bytes
        The file's bytes (UTF-8).
    path : str
        The file, for messages.
    what : str
        What it is, for messages.

    Returns
    -------
    object
        Mappings (``dict`` with ``str`` keys), lists, text, numbers, booleans, None, dates; None for an
        empty document.

    Raises
    ------
    reirrad.errors.InputFileError
        The bytes are not UTF-8, not valid YAML/JSON, or break a rule of the strict reader.
    """
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        line = data.count(b"\n", 0, offset) + 1
        raise InputFileError(what, path, _FILE, f"not UTF-8 text: the byte 0x{data[offset]:02x} at byte "
                             f"offset {offset} (line {line}) is not valid UTF-8; save the file as UTF-8 "
                             "text") from None
    loader: Optional[_StrictLoader] = None
    try:
        loader = _StrictLoader(text)  # checks that every character may appear in YAML
        return loader.get_single_data()
    except _RuleError as broken:
        raise InputFileError(what, path, broken.key_path, broken.problem) from None
    except yaml.YAMLError as exc:
        raise InputFileError(what, path, _FILE, _syntax_problem(exc)) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # a value PyYAML cannot construct
        raise InputFileError(what, path, _FILE, f"not valid YAML/JSON ({type(exc).__name__}: "
                             f"{echo(str(exc))}); check the file") from None
    finally:
        if loader is not None:
            loader.dispose()


def _syntax_problem(exc: yaml.YAMLError) -> str:
    fix = "fix the syntax (YAML, or JSON)"
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return (f"not valid YAML/JSON: the character #x{char:04x} at character {exc.position} is not allowed "
                f"in a text file ({exc.reason}); {fix}")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        detail = " ".join(str(exc.problem or exc.context or "syntax error").split())
        context = ""
        if exc.context and exc.problem:
            context = f" ({' '.join(str(exc.context).split())}"
            if exc.context_mark is not None:
                context += f" at line {exc.context_mark.line + 1}"
            context += ")"
        message = f"{detail}{context}"
        if len(message) > 200:
            message = message[:200] + "..."
        return f"not valid YAML/JSON{where}: {message}; {fix}"
    return f"not valid YAML/JSON ({echo(str(exc))}); {fix}"


def read_yaml_file(path: Union[str, Path], what: str) -> Any:
    """The content of a YAML (or JSON) input file, read by the strict rules of the module docstring.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    what : str
        What it is, named in messages ("case file", "answers file").

    Returns
    -------
    object
        As :func:`parse_yaml`.

    Raises
    ------
    reirrad.errors.InputFileError
        The file cannot be read or breaks a rule; the message names the file, the key path and the fix.
    """
    return parse_yaml(read_input_bytes(path, what), str(path), what)
