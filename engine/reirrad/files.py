"""Writing files so that a reader never sees a half-written one, and one writer at a time changes a
shared file. (Input files are read by :mod:`reirrad.inputfiles`; a run's outputs are committed together
by :mod:`reirrad.outputs`.)

* :func:`stage_file` writes a temporary file ``.<name>.<random>.tmp`` beside its target (same folder,
  so the rename that commits it is atomic) through a writer the caller gives (a DICOM file's, say);
  :func:`stage_text` does so for text; :func:`write_text_atomic` stages and renames at once.
* :func:`exclusive_lock` holds ``<target>.lock`` (created with ``O_CREAT | O_EXCL``) while a shared
  file (the audit CSV) is changed. The lock file records ``pid <pid> on <host> since <time>``. A lock
  whose writer was on this host and is no longer running is **stale**: it is broken (renamed away, then
  removed) and the caller is told, so it can record a ``flag`` finding. A lock from another host, or of a
  process that still runs, is waited for; after the timeout the error names the file and its holder.
* Every temporary file and lock this process holds is remembered until it is renamed or released, and
  :func:`discard_pending` removes what is left: it runs at interpreter exit (``atexit``) and when a
  run is interrupted (:mod:`reirrad.interrupts`), so a stopped run leaves neither.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Set, Union

from .errors import InputError

__all__ = ["LOCK_TIMEOUT_S", "HeldLock", "discard_pending", "discard_staged", "exclusive_lock",
           "forget_pending", "replace_staged", "stage_file", "stage_text", "write_text_atomic"]

LOCK_TIMEOUT_S = 30.0
"""How long :func:`exclusive_lock` waits for another writer by default, s."""

_PENDING: Set[str] = set()
_PENDING_GUARD = threading.Lock()
_HOLDER = re.compile(r"^pid (\d+) on (\S+) since ")


def _remember(path: str) -> None:
    with _PENDING_GUARD:
        _PENDING.add(path)


def forget_pending(path: str) -> None:
    """Stop tracking ``path`` (it was renamed into place, or removed by its owner)."""
    with _PENDING_GUARD:
        _PENDING.discard(path)


def discard_pending() -> None:
    """Remove every temporary file and lock file this process still holds (never raises)."""
    with _PENDING_GUARD:
        paths = list(_PENDING)
        _PENDING.clear()
    for path in paths:
        with suppress(OSError):
            os.unlink(path)


atexit.register(discard_pending)


def _directory_of(target: Path) -> Path:
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write {target}: directory {directory} does not exist; create it first")
    return directory


def stage_file(target: Path, write: Callable[[str], None]) -> str:
    """Write a new temporary file beside ``target`` with ``write(temporary path)``; return its path.

    The file gets the mode of the file it will replace, or 0644 (``mkstemp`` would leave it 0600), and is
    flushed to disk. It is tracked until :func:`forget_pending` (after the rename) or
    :func:`discard_pending`; a ``write`` that raises leaves nothing.

    Raises
    ------
    reirrad.errors.InputError
        The folder does not exist (it is not created: a mistyped path must not create folders).
    OSError
        The folder cannot be written (no space, no permission).
    """
    directory = _directory_of(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(directory))
    os.close(fd)
    _remember(tmp)
    try:
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.is_file() else 0o644)
        write(tmp)
        with open(tmp, "r+b") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        forget_pending(tmp)
        with suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def discard_staged(paths: Iterable[str]) -> None:
    """Remove temporary files staged by :func:`stage_file` and stop tracking them (never raises)."""
    for path in paths:
        forget_pending(path)
        with suppress(OSError):
            os.unlink(path)


def stage_text(target: Path, text: str) -> str:
    """Write ``text`` (UTF-8) to a new temporary file beside ``target``; return its path
    (:func:`stage_file`)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    return stage_file(target, write)


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` through a temporary file in the same folder, then rename.

    Raises
    ------
    reirrad.errors.InputError
        The folder does not exist.
    """
    replace_staged(stage_text(target, text), target)


def replace_staged(tmp: str, target: Union[str, os.PathLike[str]]) -> None:
    """Rename a file staged by :func:`stage_file` onto ``target`` (atomic within its folder).

    Raises
    ------
    OSError
        The rename failed: the staged file is removed (:func:`discard_staged`), ``target`` is untouched.
    """
    try:
        os.replace(tmp, target)
    except BaseException:
        discard_staged([tmp])
        raise
    forget_pending(tmp)


@dataclass(frozen=True)
class HeldLock:
    """A lock held by this process; ``broke_stale`` names the dead writer whose lock was broken."""

    path: Path
    broke_stale: Optional[str] = None


def _holder_text(lock: Path) -> str:
    try:
        return lock.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


class _WindowsProcesses:
    """The Win32 calls :func:`_windows_pid_running` needs (ctypes; Windows only). A stand-in with the
    same three methods replaces it in tests."""

    def __init__(self) -> None:
        import ctypes  # noqa: PLC0415 - Windows only
        from ctypes import wintypes  # noqa: PLC0415

        self._ctypes = ctypes
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        kernel32.OpenProcess.restype = wintypes.HANDLE
        kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
        kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
        kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
        self._kernel32 = kernel32
        self._dword = wintypes.DWORD

    def open(self, pid: int) -> Optional[int]:
        """A handle with PROCESS_QUERY_LIMITED_INFORMATION, or None; then :meth:`last_error` says why."""
        return self._kernel32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid) or None

    def last_error(self) -> int:
        return int(self._ctypes.get_last_error())  # type: ignore[attr-defined]

    def exit_code(self, handle: int) -> Optional[int]:
        """GetExitCodeProcess, or None when it fails."""
        code = self._dword()
        if not self._kernel32.GetExitCodeProcess(handle, self._ctypes.byref(code)):
            return None
        return int(code.value)

    def close(self, handle: int) -> None:
        self._kernel32.CloseHandle(handle)


#: Win32: OpenProcess's access right, GetExitCodeProcess's code while a process runs, OpenProcess's
#: error for a process that exists but may not be opened.
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_STILL_ACTIVE = 259
_ERROR_ACCESS_DENIED = 5


def _windows_pid_running(pid: int, processes: Optional[_WindowsProcesses] = None) -> bool:
    """Whether process ``pid`` runs, on Windows. ``os.kill(pid, 0)`` is no test there: it is
    ``GenerateConsoleCtrlEvent``, which succeeds for any process group number, so a dead writer's lock
    was never recognised as stale (a deployment review; safe, but the lock then had to be removed by
    hand). Running: it can be opened and its exit code is STILL_ACTIVE, or it exists and may not be
    opened (access denied); an exit code that fails to be read, or a number that is no Windows process
    id, counts as running (the lock is kept)."""
    if not 0 < pid <= 0xFFFFFFFF:  # not a Windows process id (a DWORD): keep the lock, never guess
        return True
    api = processes if processes is not None else _WindowsProcesses()
    handle = api.open(pid)
    if handle is None:
        return api.last_error() == _ERROR_ACCESS_DENIED
    try:
        code = api.exit_code(handle)
    finally:
        api.close(handle)
    return code is None or code == _STILL_ACTIVE


def _pid_running(pid: int) -> bool:
    if os.name == "nt":
        return _windows_pid_running(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:  # pragma: no cover - e.g. a platform without signal 0: assume it runs
        return True
    return True


def _is_stale(holder: str) -> bool:
    """True when the lock's writer ran on this host and is no longer running."""
    match = _HOLDER.match(holder)
    if match is None:
        return False
    pid, host = int(match.group(1)), match.group(2)
    return host == socket.gethostname() and pid != os.getpid() and not _pid_running(pid)


def _break_stale(lock: Path, holder: str) -> bool:
    """Remove ``lock`` if it still holds ``holder`` (rename first, so a fresh lock is never removed)."""
    aside = lock.with_name(f"{lock.name}.stale-{os.getpid()}")
    try:
        os.replace(str(lock), str(aside))
    except FileNotFoundError:
        return False  # released meanwhile
    if _holder_text(aside) == holder:
        with suppress(OSError):
            os.unlink(str(aside))
        return True
    # another writer took the lock between the read and the rename: put its lock back
    with suppress(OSError):
        os.link(str(aside), str(lock))
    with suppress(OSError):
        os.unlink(str(aside))
    return False


@contextmanager
def exclusive_lock(target: Path, *, timeout_s: Optional[float] = None,
                   poll_s: float = 0.05) -> Iterator[HeldLock]:
    """Hold the lock file ``<target>.lock`` while the block runs: one writer of ``target`` at a time.

    ``O_CREAT | O_EXCL`` is an atomic exclusive create on local disks, SMB shares and NFS v3 or later
    (``fcntl`` / ``msvcrt`` locks differ between Windows and POSIX and are unreliable on network
    shares). The lock is removed when the block ends, however it ends; a stale lock (module docstring)
    is broken and reported in :attr:`HeldLock.broke_stale`.

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
    HeldLock

    Raises
    ------
    reirrad.errors.InputError
        The lock is still held after ``timeout_s`` (nothing was written), or the folder does not exist.
    """
    lock = target.with_name(target.name + ".lock")
    if timeout_s is None:
        timeout_s = LOCK_TIMEOUT_S
    deadline = time.monotonic() + timeout_s
    broke: Optional[str] = None
    while True:
        try:
            fd = os.open(str(lock), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _holder_text(lock)
            if _is_stale(holder) and _break_stale(lock, holder):
                broke = holder
                continue
            if time.monotonic() >= deadline:
                raise InputError(_held_message(target, lock, timeout_s)) from None
            time.sleep(poll_s)
        except FileNotFoundError:
            raise InputError(f"cannot write {target}: directory {lock.parent} does not exist; create it "
                             "first") from None
    _remember(str(lock))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
        yield HeldLock(lock, broke)
    finally:
        forget_pending(str(lock))
        with suppress(FileNotFoundError):
            os.unlink(str(lock))


def _held_message(target: Path, lock: Path, timeout_s: float) -> str:
    holder = _holder_text(lock) or "an unknown writer"
    return (f"cannot write {target}: {lock} is held by {holder} and was not released within {timeout_s:g} s; "
            f"nothing was written. If no reirrad run is writing this file (a writer on another computer "
            f"cannot be checked from here), delete {lock} and run again")
