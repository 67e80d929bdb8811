"""A durable local spool for batches the database could not take: append-only segment files,
replayed oldest-first by this process or by the next one that starts on the same directory.

Format (docs/reliability.md): a segment is a sequence of records, each a 20-byte header —
magic ``OSZ1``, a tag byte, 3 zero bytes, item count, payload length, CRC-32 of the payload
(big-endian) — and a zlib-compressed JSON payload. A record cut short by a crash (short header, short payload, bad CRC) ends
its segment: it is skipped, counted and logged, and everything before it replays.

Processes share a directory safely: a process holds an exclusive ``flock`` on the segment
it appends to, and a replayer locks a segment before reading it, so no segment is read
while written or replayed twice at once. A crashed process's locks vanish with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from ..errors import SpoolUnavailable
from ..redact import mask_dsn
from ..settings import Settings

try:
    import fcntl
except ImportError:  # not POSIX (Windows): no spool, see Spool.__init__
    fcntl = None  # type: ignore[assignment]

__all__ = ["Spool", "SpoolState", "SpoolUnavailable", "directory_for"]

_log = logging.getLogger(__name__)

MAGIC = b"OSZ1"
_HEADER = struct.Struct("!4sB3xIII")  # magic, tag, padding, item count, payload length, CRC-32
_COMPRESSION = 1  # zlib level: spooled rows are repetitive JSON, ~8x smaller at little CPU
SEGMENT_BYTES = 4 * 1024 * 1024
_SUFFIX = ".spool"
_DROP_LOG_INTERVAL_S = 60.0


@dataclass
class SpoolState:
    """What the spool holds now (``doctor`` prints it)."""

    directory: str
    segments: int
    bytes: int
    max_bytes: int
    records: int = 0
    items: int = 0


def directory_for(settings: Settings) -> Path:
    """The spool directory of a destination (server, database, user and schema), the same however
    the DSN is spelled: URI or key=value, defaults written out or not, host in any case, and the
    embedded server's own socket DSN (what the demo passes) the same as no DSN at all."""
    from psycopg import conninfo

    from .embedded import data_path

    base = Path(settings.spool_dir).expanduser() if settings.spool_dir else \
        Path(platformdirs.user_cache_dir("otel-supabase-exporter")) / "spool"
    embedded = f"embedded:{settings.embedded_dir or ''}"
    where = embedded
    if settings.dsn:
        try:
            p = conninfo.conninfo_to_dict(settings.dsn)
        except Exception:
            p = None
        if p is None:
            where = mask_dsn(settings.dsn)
        else:
            host = str(p.get("host") or p.get("hostaddr") or "").lower()
            user = str(p.get("user") or "")
            where = f"{host}:{p.get('port') or 5432}/{p.get('dbname') or user}/{user}"
            data = data_path(settings.embedded_dir)
            pid_file = data / "postmaster.pid"
            sockets = {str(data)}
            if pid_file.exists():  # line 5 is the server's socket directory
                lines = pid_file.read_text(errors="replace").splitlines()
                sockets.add(lines[4].strip() if len(lines) > 4 else str(data))
            if host.startswith("/") and str(Path(host).resolve()) in {str(Path(s).resolve()) for s in sockets}:
                where = embedded
    key = hashlib.sha256(f"{where}/{settings.schema}".encode()).hexdigest()[:16]
    return base / f"{settings.schema}-{key}"


class Spool:
    """Segments under ``directory``, at most ``max_bytes`` in all (the oldest are dropped first)."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int,
                 on_drop: Callable[[str, int, int], None] | None = None) -> None:
        if fcntl is None:
            raise SpoolUnavailable("no fcntl file locks on this platform: the spool is off")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._dropped_since_log = 0
        self._last_drop_log = 0.0

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r}, max_bytes={self.max_bytes})"

    # -- writing

    def append(self, payload: dict[str, Any], items: int, tag: int = 0) -> bool:
        """Store one batch durably (written and fsync'd); False if it could not be kept.
        ``tag`` (0-255) is kept in the record's header, for counting what is dropped."""
        data = zlib.compress(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(), _COMPRESSION)
        record = _HEADER.pack(MAGIC, tag, items, len(data), zlib.crc32(data)) + data
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                if len(record) > self.max_bytes:
                    self._dropped(items, "batch larger than the spool", tag)
                    return False
                self._make_room(len(record))
                if self._fd is None or self._size + len(record) > SEGMENT_BYTES:
                    self._rotate()
                assert self._fd is not None
                os.write(self._fd, record)
                os.fsync(self._fd)
                self._size += len(record)
                return True
            except OSError as exc:
                self._dropped(items, f"spool not writable ({exc.strerror or type(exc).__name__})", tag)
                return False

    def _rotate(self) -> None:
        self._close_segment()
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd, self._path, self._size = fd, path, 0

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock: the segment can be replayed
            self._fd, self._path = None, None

    def seal(self) -> None:
        """Close the segment being written, so that it can be replayed."""
        with self._lock:
            self._close_segment()

    def _make_room(self, needed: int) -> None:
        total = self.bytes()
        for path in self._segments():
            if total + needed <= self.max_bytes:
                return
            if path == self._path:
                continue
            size = _size(path)
            dropped = _drop_segment(path)
            if dropped is not None:
                total -= size
                for tag, items in dropped.items():
                    self._dropped(items, "spool full", tag)

    def _dropped(self, items: int, reason: str, tag: int) -> None:
        if self._on_drop is not None:
            self._on_drop(reason, items, tag)
        self._dropped_since_log += items
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:
            _log.warning("spool %s: dropped %d item(s) (%s) since the last report; the oldest data goes first",
                         self.directory, self._dropped_since_log, reason)
            self._dropped_since_log, self._last_drop_log = 0, now

    # -- reading

    def _segments(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        except FileNotFoundError:
            return []

    def empty(self) -> bool:
        """No segment waits (a directory listing; :meth:`state` also reads every header)."""
        return not self._segments()

    def bytes(self) -> int:
        return sum(_size(p) for p in self._segments())

    def state(self) -> SpoolState:
        segments = self._segments()
        records = items = 0
        for path in segments:
            r, i = _count(path)
            records += r
            items += i
        return SpoolState(str(self.directory), len(segments), sum(_size(p) for p in segments), self.max_bytes,
                          records, items)

    def replay(self, deliver: Callable[[dict[str, Any], int, int], bool],
               on_torn: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Hand every stored batch to ``deliver``, oldest first; a segment whose batches were all
        delivered is deleted. Stops at the first batch ``deliver`` refuses (returns False).
        Returns (batches, items) delivered."""
        self.seal()
        batches = items = 0
        for path in self._segments():
            if path == self._path:
                continue
            fd = _claim(path)
            if fd is None:
                continue  # being written or replayed elsewhere, or already gone
            try:
                complete = True
                for tag, payload, count in _records(fd, path, on_torn):
                    if not deliver(payload, count, tag):
                        complete = False
                        break
                    batches += 1
                    items += count
                if not complete:
                    return batches, items
                os.unlink(path)
            finally:
                os.close(fd)
        return batches, items

    def close(self) -> None:
        self.seal()


def _headers(path: Path) -> Iterator[tuple[int, int]]:
    """(tag, item count) of each complete record of a segment, skipping the payloads."""
    try:
        with open(path, "rb") as fh:
            while True:
                header = fh.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return
                magic, tag, count, length, _ = _HEADER.unpack(header)
                if magic != MAGIC:
                    return
                fh.seek(length, os.SEEK_CUR)
                if fh.tell() > os.fstat(fh.fileno()).st_size:
                    return
                yield tag, count
    except OSError:
        return


def _count(path: Path) -> tuple[int, int]:
    """(complete records, items) in a segment, from the headers alone."""
    records = items = 0
    for _, count in _headers(path):
        records += 1
        items += count
    return records, items


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _records(fd: int, path: Path, on_torn: Callable[[int], None] | None
             ) -> Iterator[tuple[int, dict[str, Any], int]]:
    """The complete records of a segment, read one at a time (memory stays at one record)."""
    with os.fdopen(os.dup(fd), "rb") as fh:
        fh.seek(0)
        pos = 0
        while True:
            header = fh.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                _torn(path, pos, "short header", on_torn)
                return
            magic, tag, count, length, crc = _HEADER.unpack(header)
            body = fh.read(length) if magic == MAGIC else b""
            if magic != MAGIC or len(body) < length or zlib.crc32(body) != crc:
                _torn(path, pos, "incomplete or corrupt record", on_torn)
                return
            try:
                payload = json.loads(zlib.decompress(body))
            except (ValueError, zlib.error):
                _torn(path, pos, "unreadable record", on_torn)
                return
            del body
            pos += _HEADER.size + length
            yield tag, payload, count


def _torn(path: Path, offset: int, what: str, on_torn: Callable[[int], None] | None) -> None:
    _log.warning("spool segment %s: %s at byte %d (a crash while writing); the rest of it is skipped",
                 path.name, what, offset)
    if on_torn is not None:
        on_torn(1)


def _claim(path: Path) -> int | None:
    """An open descriptor of a segment, exclusively locked; None if another process holds it
    (written or replayed there) or it was deleted meanwhile."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink > 0:
            return fd
    except BlockingIOError:
        pass
    os.close(fd)
    return None


def _drop_segment(path: Path) -> dict[int, int] | None:
    """Delete a segment nobody holds; returns the items it held per tag (read from the headers
    alone), or None if it is in use."""
    fd = _claim(path)
    if fd is None:
        return None
    try:
        items: dict[int, int] = {}
        for tag, count in _headers(path):
            items[tag] = items.get(tag, 0) + count
        os.unlink(path)
        return items
    finally:
        os.close(fd)
