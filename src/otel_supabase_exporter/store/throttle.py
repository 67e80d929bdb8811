"""Warnings at most once a minute per kind, with how many occurrences each line stands for: a
flood of bad rows or failing writes must not flood the application's logs."""

from __future__ import annotations

import logging
import threading
import time

from ..forks import start_over_in_children

__all__ = ["Throttle"]

INTERVAL_S = 60.0


class Throttle:
    """Logs a warning of a given kind at most once per ``interval_s``, counting the rest."""

    def __init__(self, logger: logging.Logger, interval_s: float = INTERVAL_S) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}
        start_over_in_children(self, "after_fork")

    def warn(self, kind: str, message: str, *args: object, count: int = 1) -> None:
        """Count ``count`` occurrences of ``kind``; log ``message % args`` (with the count since
        the last line) if none was logged for ``interval_s``."""
        now = time.monotonic()
        with self._lock:
            pending = self._pending.get(kind, 0) + count
            if now - self._last.get(kind, -self._interval_s) < self._interval_s:
                self._pending[kind] = pending
                return
            self._last[kind], self._pending[kind] = now, 0
        self._logger.warning(message + " (%d time(s) since the last such line)", *args, pending)

    def after_fork(self) -> None:
        """In a forked child: a new lock (a parent's thread may have held this one at the fork)."""
        self._lock = threading.Lock()

