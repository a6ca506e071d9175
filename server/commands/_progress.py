"""A progress bar on stderr for long commands: drawn only on a terminal, silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


class ProgressBar:
    """``bar(message, done, total)``: one redrawn line per stage, ended when the stage ends.

    Silent when *quiet* or when *stream* is not a terminal (logs and pipes stay clean).
    """

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = not quiet and bool(isatty and isatty())
        self.start = time.perf_counter()
        self._open = False

    def __call__(self, message: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        filled = WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (WIDTH - filled)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r\x1b[2K[{bar}] {done}/{total} {message} ({elapsed:.0f} s)")
        self._open = done < total
        if not self._open:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        """End an unfinished line (an error or an interrupt mid-stage)."""
        if self.enabled and self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
