"""A durable local spool for batches the database could not take: append-only segment files,
replayed oldest-first by this process or by the next one that starts on the same directory.

Format (docs/reliability.md, :mod:`.spool_format`): a segment is a sequence of records, each a
header with a CRC-32 and a compressed JSON payload. A damaged record (a crash, a short write) is
skipped, counted and logged; the records after it replay.

Processes share a directory safely: a process holds an exclusive ``flock`` on the segment it
appends to — taken before the segment gets its visible name — and a replayer locks a segment
before reading it, so no segment is read while written or replayed twice at once. A crashed
process's locks vanish with it.

A write lands whole or not at all: a short or failed write is cut back off the segment, counted
as dropped, and the next record goes to a new segment. A segment deleted under the writer (or
its directory deleted or replaced) is noticed before the next append: what it held is counted as
dropped and a new segment is made. The byte bound is never exceeded: a record that does not
fit once the oldest segments are dropped is dropped itself (counted).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from ..errors import SpoolUnavailable
from ..redact import mask_dsn
from ..settings import Settings
from . import spool_format
from .throttle import Throttle

try:
    import fcntl
except ImportError:  # not POSIX (Windows): no spool, see Spool.__init__
    fcntl = None  # type: ignore[assignment]

__all__ = ["Spool", "SpoolState", "SpoolUnavailable", "directory_for"]

_log = logging.getLogger(__name__)

_throttle = Throttle(_log)
SEGMENT_BYTES = 4 * 1024 * 1024
_SUFFIX = ".spool"


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
        self._held: dict[int, int] = {}  # items per tag in the segment being written
        self._dir_id: tuple[int, int] | None = None
        self._claimed: set[int] = set()  # descriptors of segments locked for replay or dropping
        self._done: set[tuple[int, int]] = set()  # replayed segments that could not be deleted

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r}, max_bytes={self.max_bytes})"

    # -- writing

    def append(self, payload: dict[str, Any], items: int, tag: int = 0) -> bool:
        """Store one batch durably (written and fsync'd); False if it could not be kept (counted).
        ``tag`` (0-255) is kept in the record's header, for counting what is dropped.
        ValueError/TypeError if ``payload`` is not JSON (nothing is written then)."""
        record = spool_format.encode(payload, items, tag)
        with self._lock:
            try:
                self._check_segment()
                if len(record) > self.max_bytes:
                    self._dropped(items, "batch larger than the spool", tag)
                    return False
                if not self._make_room(len(record)):
                    self._dropped(items, "spool full", tag)
                    return False
                if self._fd is None or self._size + len(record) > SEGMENT_BYTES:
                    self._rotate()
                self._write(record)
                self._held[tag] = self._held.get(tag, 0) + items
                return True
            except OSError as exc:
                self._dropped(items, f"spool not writable ({exc.strerror or type(exc).__name__})", tag)
                return False

    def _write(self, record: bytes) -> None:
        """Append ``record`` whole, or cut the segment back and close it (OSError)."""
        assert self._fd is not None
        try:
            written = os.write(self._fd, record)
            if written != len(record):
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(record)} bytes)")
            os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:  # the reader skips what is left of it (CRC)
                pass
            self._close_segment()
            raise
        self._size += len(record)

    def _check_segment(self) -> None:
        """Notice a segment or directory deleted or replaced under us: count what the segment
        held as dropped and start a new one."""
        try:
            st = os.stat(self.directory)
            here = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            here = None
        if self._fd is not None:
            gone = here != self._dir_id or os.fstat(self._fd).st_nlink == 0
            if gone:
                for tag, n in self._held.items():
                    self._dropped(n, "spool segment deleted", tag)
                self._close_segment()
        if here is None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def _rotate(self) -> None:
        self._close_segment()
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        hidden = self.directory / f".{name}.tmp"  # not a segment until it is locked
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = self.directory / f"{name}{_SUFFIX}"
            os.rename(hidden, path)
        except OSError:
            os.close(fd)
            _unlink_quietly(hidden)
            raise
        st = os.stat(self.directory)
        self._fd, self._path, self._size, self._held = fd, path, 0, {}
        self._dir_id = (st.st_dev, st.st_ino)

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock: the segment can be replayed
            self._fd, self._path, self._held = None, None, {}

    def seal(self) -> None:
        """Close the segment being written, so that it can be replayed."""
        with self._lock:
            self._close_segment()

    def _make_room(self, needed: int) -> bool:
        """Drop the oldest whole segments until ``needed`` more bytes fit; False if they do not."""
        total = self.bytes()
        for path in self._segments():
            if total + needed <= self.max_bytes:
                return True
            if path == self._path:
                continue
            size = _size(path)
            dropped = self._drop_segment(path)
            if dropped is not None:
                total -= size
                for tag, items in dropped.items():
                    self._dropped(items, "spool full", tag)
        return total + needed <= self.max_bytes

    def _dropped(self, items: int, reason: str, tag: int) -> None:
        if self._on_drop is not None:
            self._on_drop(reason, items, tag)
        _throttle.warn(reason, "spool %s: dropped %d item(s) (%s); the oldest data goes first",
                       self.directory, items, reason)

    # -- reading

    def _segments(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        except FileNotFoundError:
            return []

    def empty(self) -> bool:
        """No segment waits (a directory listing; :meth:`state` also reads every header)."""
        return not any(_identity(p) not in self._done for p in self._segments())

    def bytes(self) -> int:
        return sum(_size(p) for p in self._segments())

    def state(self) -> SpoolState:
        segments = self._segments()
        records = items = 0
        for path in segments:
            for _, count in spool_format.headers(path):
                records += 1
                items += count
        return SpoolState(str(self.directory), len(segments), sum(_size(p) for p in segments), self.max_bytes,
                          records, items)

    def replay(self, deliver: Callable[[dict[str, Any], int, int], bool],
               on_torn: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Hand every stored batch to ``deliver``, oldest first; a segment whose batches were all
        delivered is deleted (emptied if it cannot be, and never handed out again). Stops at
        the first batch ``deliver`` refuses (returns False). Returns (batches, items) delivered."""
        self.seal()

        def torn(name: str, offset: int, what: str) -> None:
            _throttle.warn("torn", "spool segment %s: %s at byte %d skipped (a crash or a failed write)",
                           name, what, offset)
            if on_torn is not None:
                on_torn(1)

        batches = items = 0
        for path in self._segments():
            if path == self._path or _identity(path) in self._done:
                continue
            fd = self._claim(path)
            if fd is None:
                continue  # being written or replayed elsewhere, or already gone
            try:
                for tag, payload, count in spool_format.records(fd, path, torn):
                    if not deliver(payload, count, tag):
                        return batches, items
                    batches += 1
                    items += count
                self._retire(path, fd)
            finally:
                self._release(fd)
        return batches, items

    def _retire(self, path: Path, fd: int) -> None:
        """Delete a replayed segment; if the directory refuses, empty it; if that fails too,
        remember it so that it is not replayed again by this process."""
        try:
            os.unlink(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            _throttle.warn("unlink", "spool segment %s replayed but not deletable (%s)", path.name,
                           exc.strerror or type(exc).__name__)
        try:
            os.ftruncate(fd, 0)
        except OSError:
            self._done.add(_identity(path))

    def _claim(self, path: Path) -> int | None:
        fd = _claim(path)
        if fd is not None:
            self._claimed.add(fd)
        return fd

    def _release(self, fd: int) -> None:
        self._claimed.discard(fd)
        os.close(fd)

    def _drop_segment(self, path: Path) -> dict[int, int] | None:
        """Delete a segment nobody holds; returns the items it held per tag, or None if it is in use."""
        fd = self._claim(path)
        if fd is None:
            return None
        try:
            items: dict[int, int] = {}
            for tag, count in spool_format.headers(path):
                items[tag] = items.get(tag, 0) + count
            os.unlink(path)
            return items
        finally:
            self._release(fd)

    def after_fork(self) -> None:
        """In a forked child: let go of the parent's segment and of the segments it was replaying
        (closing our copies keeps the parent's locks; the next append makes our own segment)."""
        self._lock = threading.Lock()
        for fd in [self._fd, *self._claimed]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd, self._path, self._size, self._held, self._claimed = None, None, 0, {}, set()

    def close(self) -> None:
        self.seal()


def _identity(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
        return st.st_ino, st.st_size
    except OSError:
        return (0, 0)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _claim(path: Path) -> int | None:
    """An open descriptor of a segment, exclusively locked; None if another process holds it
    (written or replayed there) or it was deleted meanwhile."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError:  # a read-only file system: replay reads, retiring empties nothing
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink > 0:
            return fd
    except BlockingIOError:
        pass
    os.close(fd)
    return None
