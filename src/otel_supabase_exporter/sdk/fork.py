"""Pre-fork worker pools: what a forked child must do that the OpenTelemetry SDK does not.

The SDK's own after-fork hooks give a child new span/log worker threads (emptying their queues)
and a new periodic-reader thread; ours (registered where the state lives) give it a new
minute-reader thread, a pre-aggregation that starts from zero, and a delivery of its own
(connections, spool segment, replay thread, counters).

One thing is left: a child of ``multiprocessing`` ends with ``os._exit`` and runs no ``atexit``
hook, so the SDK never flushes there and everything the child recorded since its last export was
lost. Every :class:`~.configure.Telemetry` is therefore flushed when such a child finishes.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

__all__ = ["flush_children_at_exit"]

_log = logging.getLogger(__name__)
CHILD_EXIT_FLUSH_MS = 10_000

_flushed: list[weakref.ref] = []
_registered = threading.Event()


class _Token:
    """A weak-referenceable object for ``multiprocessing.util.register_after_fork``."""


_token = _Token()


def flush_children_at_exit(telemetry: Any) -> None:
    """Flush ``telemetry`` (an object with ``force_flush(timeout_millis)``) when a
    ``multiprocessing`` child forked from this process finishes."""
    _flushed.append(weakref.ref(telemetry))
    if _registered.is_set():
        return
    _registered.set()
    from multiprocessing import util

    util.register_after_fork(_token, _in_child)


def _in_child(_: Any) -> None:
    # Runs in a multiprocessing child after it cleared the parent's finalizers.
    from multiprocessing import util

    util.Finalize(_token, _flush_all, exitpriority=100)


def _flush_all() -> None:
    for ref in list(_flushed):
        telemetry = ref()
        if telemetry is None:
            continue
        try:
            telemetry.force_flush(CHILD_EXIT_FLUSH_MS)
        except Exception as exc:  # a child's exit must not fail because of telemetry
            _log.warning("flush at the end of a multiprocessing child failed: %s", type(exc).__name__)
