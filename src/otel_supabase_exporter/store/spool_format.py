"""The spool's record format: reading and writing records of a segment file.

A record is a 20-byte header — magic ``OSZ1``, a tag byte, 3 zero bytes, item count, payload
length, CRC-32 of the payload (big-endian) — and a zlib-compressed JSON payload. A reader that
meets a record cut short or corrupt (a crash, a short write on a full disk, a bad sector) counts
it and resynchronises on the framing: it looks for the next header whose payload has a valid
CRC, so intact records after a damaged one still replay.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["HEADER", "MAGIC", "TornRecord", "encode", "headers", "records"]

_log = logging.getLogger("otel_supabase_exporter.store.spool")

MAGIC = b"OSZ1"
HEADER = struct.Struct("!4sB3xIII")  # magic, tag, padding, item count, payload length, CRC-32
_COMPRESSION = 1  # zlib level: spooled rows are repetitive JSON, ~8x smaller at little CPU
MAX_PAYLOAD = 64 * 1024 * 1024  # a larger length field is damage, not a record

#: Called with (segment name, byte offset, what was wrong) for each damaged stretch skipped.
TornRecord = Callable[[str, int, str], None]


def encode(payload: dict[str, Any], items: int, tag: int) -> bytes:
    """One record (header and compressed payload). ValueError/TypeError if it is not JSON."""
    data = zlib.compress(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(), _COMPRESSION)
    return HEADER.pack(MAGIC, tag, items, len(data), zlib.crc32(data)) + data


def _valid_at(data: bytes, pos: int) -> tuple[int, int, int, int] | None:
    """(tag, count, length, crc) of a complete, intact record starting at ``pos``, else None."""
    if len(data) - pos < HEADER.size:
        return None
    magic, tag, count, length, crc = HEADER.unpack_from(data, pos)
    end = pos + HEADER.size + length
    if magic != MAGIC or length > MAX_PAYLOAD or end > len(data):
        return None
    if zlib.crc32(data[pos + HEADER.size:end]) != crc:
        return None
    return tag, count, length, crc


def _scan(data: bytes, start: int) -> int:
    """The offset of the next intact record at or after ``start``, or len(data)."""
    pos = data.find(MAGIC, start)
    while pos != -1:
        if _valid_at(data, pos) is not None:
            return pos
        pos = data.find(MAGIC, pos + 1)
    return len(data)


def records(fd: int, path: Path, on_torn: TornRecord | None = None) -> Iterator[tuple[int, dict[str, Any], int]]:
    """(tag, payload, item count) of every intact record of a segment, in order; each damaged
    stretch is reported to ``on_torn`` and skipped."""
    with os.fdopen(os.dup(fd), "rb") as fh:
        fh.seek(0)
        data = fh.read()  # a segment is at most a few MiB
    pos = 0
    while pos < len(data):
        found = _valid_at(data, pos)
        payload = None
        if found is not None:
            tag, count, length, _ = found
            try:
                payload = json.loads(zlib.decompress(data[pos + HEADER.size:pos + HEADER.size + length]))
            except (ValueError, zlib.error):
                payload = None
        if payload is None:
            what = "short header" if len(data) - pos < HEADER.size else "incomplete or corrupt record"
            if on_torn is not None:
                on_torn(path.name, pos, what)
            pos = _scan(data, pos + 1)
            continue
        pos += HEADER.size + length
        yield tag, payload, count


def headers(path: Path) -> Iterator[tuple[int, int]]:
    """(tag, item count) of each intact record of a segment."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return
    pos = 0
    while pos < len(data):
        found = _valid_at(data, pos)
        if found is None:
            pos = _scan(data, pos + 1)
            continue
        tag, count, length, _ = found
        pos += HEADER.size + length
        yield tag, count
