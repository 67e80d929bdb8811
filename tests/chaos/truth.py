"""Ground truth that survives SIGKILL: each process counts the cache operations it performed in a
memory-mapped file of its own (the page cache keeps what a killed process wrote)."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_SLOT = struct.Struct("<q")


class Truth:
    """This process's counter under ``directory`` (one file per process id)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._pid = -1
        self._open()

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{os.getpid()}.count"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(fd, _SLOT.size)
        self._map = mmap.mmap(fd, _SLOT.size)
        os.close(fd)
        self._pid = os.getpid()
        self._value = 0

    def add(self, n: int = 1) -> None:
        if os.getpid() != self._pid:  # a forked child counts in a file of its own
            self._open()
        self._value += n
        _SLOT.pack_into(self._map, 0, self._value)


def total(directory: str | os.PathLike[str]) -> int:
    """Operations performed by every process that counted under ``directory``."""
    return sum(_SLOT.unpack(p.read_bytes()[:_SLOT.size])[0] for p in Path(directory).glob("*.count"))
