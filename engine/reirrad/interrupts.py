"""Ending a run cleanly on SIGINT (Ctrl-C) and SIGTERM.

Inside :func:`interruptible`, either signal raises :class:`Interrupted` in the main thread, so every
``finally`` block runs: temporary output files are removed, the audit lock is released
(:mod:`reirrad.files`), and a TPS adapter's own clean-up (an undo step, a discarded modification) runs
as for any other failure. The command line then prints one line and exits with the shell's convention,
128 + the signal number: **130** for SIGINT, **143** for SIGTERM (``docs/result.md``). A signal that
arrives while the interpreter is outside Python code (inside a long numpy call or a .NET call) is
handled as soon as control returns to Python.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Dict, Iterator, Optional

__all__ = ["Interrupted", "interruptible"]

_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
                 if s is not None)


class Interrupted(BaseException):
    """A run ended by a signal (a BaseException, like KeyboardInterrupt: ``except Exception`` lets it
    through so that the outermost boundary reports it)."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        try:
            self.signal_name = signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover - every signal we install has a name
            self.signal_name = f"signal {self.signum}"
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def _raise(signum: int, frame: Optional[FrameType]) -> None:
    del frame
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` while the block runs (main thread only;
    elsewhere the block runs unchanged); the previous handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: Dict[int, Any] = {}
    for signum in _SIGNALS:
        previous[signum] = signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
