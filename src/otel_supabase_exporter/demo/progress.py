"""A one-line progress bar for the terminal; silent when its stream is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``update(done)`` redraws ``label [#####-----] 42 %  done / total unit`` at most ten times a
    second; ``close()`` ends the line. Nothing is written unless ``stream.isatty()``."""

    WIDTH = 30

    def __init__(self, label: str, total: int, unit: str, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.label, self.total, self.unit = label, max(total, 0), unit
        self.enabled = _isatty(self.stream)
        self._done = 0
        self._drawn_at = 0.0
        self._open = False

    def update(self, done: int) -> None:
        self._done = min(done, self.total)
        if self.enabled and (time.monotonic() - self._drawn_at >= 0.1 or self._done >= self.total):
            self._draw()

    def close(self) -> None:
        if self.enabled and self._open:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def _draw(self) -> None:
        share = self._done / self.total if self.total else 1.0
        filled = round(share * self.WIDTH)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'-' * (self.WIDTH - filled)}] {share:4.0%}"
                          f"  {self._done:,} / {self.total:,} {self.unit}")
        self.stream.flush()
        self._drawn_at = time.monotonic()
        self._open = True

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
