"""Rows made while they are consumed, so mapping overlaps the database's work on a COPY."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

__all__ = ["RowStream", "all_rows"]


class RowStream:
    """Rows made while they are consumed; every row made is kept (:meth:`all`) for retries,
    fallbacks and the spool."""

    def __init__(self, source: Iterable[tuple]) -> None:
        self._source = iter(source)
        self.rows: list[tuple] = []

    def stream(self) -> Iterator[tuple]:
        """The rows — those made already, then the rest, made as they are taken."""
        rows = self.rows
        yield from rows[:]
        for row in self._source:
            rows.append(row)
            yield row

    def all(self) -> list[tuple]:
        """Every row (making the ones not taken yet)."""
        self.rows.extend(self._source)
        return self.rows


def all_rows(rows: Sequence | RowStream) -> Sequence:
    """Every row of ``rows``, a stream completed if need be."""
    return rows.all() if isinstance(rows, RowStream) else rows
