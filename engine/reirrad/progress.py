"""Progress reporting: one callback type for every long step, shown however the caller likes.

The engine calls ``progress(percent, message)`` (``percent`` an int in 0–100) at each step of the
workflow (reading, tolerances, each optimisation, done). Each front end turns that into its own
display: RayStation's ``set_progress`` (integer percent, ``reirrad_tps.raystation.entry.progress``),
the Eclipse host's console, and :class:`TextProgress` on a terminal. :func:`combine` sends one report
to several displays.
"""

from __future__ import annotations

import sys
from typing import Callable, Optional, TextIO

__all__ = ["Progress", "TextProgress", "combine"]

#: ``progress(percent, message)``: percent an int in 0–100.
Progress = Callable[[int, str], None]


def combine(*callbacks: Optional[Progress]) -> Progress:
    """One callback that reports to each non-None callback in turn."""
    chosen = [c for c in callbacks if c is not None]

    def report(percent: int, message: str) -> None:
        for callback in chosen:
            callback(percent, message)

    return report


class TextProgress:
    """A progress bar on a terminal, or one line per step when the stream is not a terminal.

    Parameters
    ----------
    stream : file-like, optional
        Default ``sys.stderr`` (keeps standard output for results).
    width : int
        Bar width in characters.
    """

    def __init__(self, stream: Optional[TextIO] = None, width: int = 30) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._last = ""

    def __call__(self, percent: int, message: str) -> None:
        """Show ``percent`` (clamped to 0–100) and ``message``."""
        percent = max(0, min(100, int(percent)))
        stream = self._stream
        if stream.isatty():
            filled = round(self._width * percent / 100)
            stream.write(f"\r[{'#' * filled}{'.' * (self._width - filled)}] {percent:3d} % {message:<40.40s}")
            if percent >= 100:
                stream.write("\n")
        else:
            line = f"[{percent:3d} %] {message}"
            if line == self._last:
                return
            self._last = line
            stream.write(line + "\n")
        stream.flush()
