"""Reading YAML/JSON input files with clear errors; writing files so that a reader never sees a
half-written report or audit file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

__all__ = ["read_yaml_file", "write_text_atomic"]


def read_yaml_file(path: Path, what: str) -> Any:
    """The parsed content of a YAML (or JSON) file; ``what`` names it in messages ("case file").

    Raises
    ------
    reirrad.errors.InputError
        The file cannot be read, or is not valid YAML/JSON.
    """
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot be read ({exc.strerror or exc}); check the path") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{what} {path}: not valid YAML/JSON ({exc})") from None


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` through a temporary file in the same folder, then rename.

    The new file gets the mode of the file it replaces, or 0644 (``mkstemp`` would leave it 0600).

    Raises
    ------
    reirrad.errors.InputError
        The folder does not exist (it is not created: a mistyped path must not create folders).
    """
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write {target}: directory {directory} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(directory))
    try:
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
