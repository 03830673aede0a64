"""A one-line progress bar for long runs: paths done, paths per second, time left.

It writes to a terminal only (``stream.isatty()``), appears once a run has
lasted :data:`SHOW_AFTER_SECONDS`, redraws at most every
:data:`REDRAW_SECONDS` with a carriage return, and erases itself at the end,
so short runs, ``--quiet`` and output piped to a file see nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Seconds of a run before the bar first shows.
SHOW_AFTER_SECONDS = 2.0
#: Least seconds between two redraws.
REDRAW_SECONDS = 0.2
#: Characters of the bar itself.
BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class ProgressBar:
    """Progress of a run in paths.

    Parameters
    ----------
    total : int
        Paths of the run.
    enabled : bool
        False: draw nothing (``--quiet``).
    stream : text stream, optional
        Where to draw (default ``sys.stderr``); nothing is drawn unless it is
        a terminal.
    clock : callable, optional
        Seconds, monotonic (default ``time.monotonic``; tests pass a fake).
    already_done : int
        Paths done before this run started (a resumed run): counted in the
        bar, not in the speed.
    """

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, already_done: int = 0) -> None:
        self.total = int(total)
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled and isatty is not None and isatty())
        self.clock = clock
        self.started = clock()
        self.already_done = int(already_done)
        self.done = self.already_done
        self._last_draw = -float("inf")
        self._width = 0

    def update(self, done: int) -> None:
        """Record ``done`` paths finished in all (resumed ones included) and redraw."""
        self.done = int(done)
        if not self.enabled:
            return
        now = self.clock()
        elapsed = now - self.started
        if elapsed < SHOW_AFTER_SECONDS or now - self._last_draw < REDRAW_SECONDS:
            return
        self._last_draw = now
        self._draw(self.line(elapsed))

    def line(self, elapsed: float) -> str:
        """The bar's text after ``elapsed`` seconds."""
        fraction = self.done / self.total if self.total else 1.0
        filled = min(BAR_WIDTH, round(BAR_WIDTH * fraction))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        new = self.done - self.already_done
        rate = new / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = format_duration(left) if left == left else "?"
        return (f"[{bar}] {self.done:,}/{self.total:,} paths  {rate:,.0f} paths/s  "
                f"{eta} left")

    def _draw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Erase the bar (if it was drawn)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
