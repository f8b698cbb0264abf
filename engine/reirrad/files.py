"""Writing files so that a reader never sees a half-written report or audit file, and one writer at a
time appends to a shared file. (Input files are read by :mod:`reirrad.inputfiles`.)"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator, Optional

from .errors import InputError

__all__ = ["exclusive_lock", "write_text_atomic"]

LOCK_TIMEOUT_S = 30.0
"""How long :func:`exclusive_lock` waits for another writer by default, s."""


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


@contextmanager
def exclusive_lock(target: Path, *, timeout_s: Optional[float] = None,
                   poll_s: float = 0.05) -> Iterator[Path]:
    """Hold the lock file ``<target>.lock`` while the block runs: one writer of ``target`` at a time.

    The lock file is created with ``O_CREAT | O_EXCL``, an atomic exclusive create on local disks, SMB
    shares and NFS v3 or later (``fcntl`` / ``msvcrt`` locks differ between Windows and POSIX and are
    unreliable on network shares). It
    holds the process id, host and time of its writer, and is removed when the block ends, however it
    ends. A lock left behind by a process that was killed is never broken automatically: after
    ``timeout_s`` the error names the file to delete.

    Parameters
    ----------
    target : pathlib.Path
        The file about to be written.
    timeout_s : float, optional
        How long to wait for another writer, s; default :data:`LOCK_TIMEOUT_S` (read at each call).
    poll_s : float
        Interval between attempts, s.

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    reirrad.errors.InputError
        The lock is still held after ``timeout_s`` (nothing was written), or the folder does not exist.
    """
    lock = target.with_name(target.name + ".lock")
    if timeout_s is None:
        timeout_s = LOCK_TIMEOUT_S
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fd = os.open(str(lock), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise InputError(_held_message(target, lock, timeout_s)) from None
            time.sleep(poll_s)
        except FileNotFoundError:
            raise InputError(f"cannot write {target}: directory {lock.parent} does not exist; create it "
                             "first") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
        yield lock
    finally:
        with suppress(FileNotFoundError):
            os.unlink(str(lock))


def _held_message(target: Path, lock: Path, timeout_s: float) -> str:
    try:
        holder = lock.read_text(encoding="utf-8").strip() or "an unknown writer"
    except OSError:
        holder = "an unknown writer"
    return (f"cannot write {target}: {lock} is held by {holder} and was not released within {timeout_s:g} s; "
            f"nothing was written. If no reirrad run is writing this file, delete {lock} and run again")
