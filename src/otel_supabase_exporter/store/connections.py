"""A small cache of PostgreSQL connections, shared by the writer and the dashboard.

Connections are made on demand in the calling thread and at most ``max_idle`` are kept between
uses, none older than ``max_age_s``. (psycopg_pool reconnects in a background thread and makes
callers wait for it: when the server is down that stalls a caller for a whole timeout and logs
every attempt, while an exporter needs to learn at once that it must spool, and a dashboard
that it must answer 503.)
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from typing import Callable

import psycopg
from psycopg import pq

__all__ = ["ConnectionCache"]

# Connections a forked child inherited: never used, never finalised (see after_fork).
_orphans: list[psycopg.Connection] = []


class ConnectionCache:
    """Connections from ``connect``, reused while they are idle, healthy and young enough."""

    def __init__(self, connect: Callable[[], psycopg.Connection], max_idle: int = 4,
                 max_age_s: float = 600.0) -> None:
        self._connect = connect
        self._max_idle = max_idle
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._idle: list[tuple[float, psycopg.Connection]] = []
        self._born: dict[int, float] = {}
        self._made: "weakref.WeakSet[psycopg.Connection]" = weakref.WeakSet()

    def take(self) -> psycopg.Connection:
        """An idle connection, or a new one (whatever ``connect`` raises comes out)."""
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                born, conn = self._idle.pop()
            if not conn.closed and now - born < self._max_age_s:
                with self._lock:
                    self._born[id(conn)] = born
                return conn
            conn.close()
        conn = self._connect()
        with self._lock:
            self._born[id(conn)] = now
            self._made.add(conn)
        return conn

    def give_back(self, conn: psycopg.Connection) -> None:
        """Keep ``conn`` for reuse if it is healthy and idle, else close it."""
        with self._lock:
            born = self._born.pop(id(conn), time.monotonic())
        if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.close()
            return
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append((born, conn))
                return
        conn.close()

    def discard(self, conn: psycopg.Connection) -> None:
        """Close ``conn`` instead of giving it back (it saw an error)."""
        with self._lock:
            self._born.pop(id(conn), None)
        conn.close()

    def after_fork(self) -> None:
        """In a forked child: forget every connection made before the fork without touching it.

        The child shares their sockets with the parent: a query from here would interleave with
        the parent's, and closing one would send the server a Terminate for the parent's session.
        Each socket descriptor is pointed at a fresh, unconnected socket (so that nothing this
        process does can reach the parent's session) and the connection is kept forever."""
        self._lock = threading.Lock()
        inherited = [c for c in list(self._made) if not c.closed] + [c for _, c in self._idle if not c.closed]
        self._idle, self._born, self._made = [], {}, weakref.WeakSet()
        for conn in inherited:
            try:
                fd = conn.pgconn.socket
                with socket.socket() as dead:
                    os.dup2(dead.fileno(), fd)
            except Exception:  # noqa: S110 - already closed: nothing shared
                pass
            _orphans.append(conn)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            conn.close()
