"""Store: everything that touches PostgreSQL or the disk. Connections and their policy
(:mod:`.connect`: TLS, pooler-safe options; :mod:`.embedded`: the embedded server), the
:class:`~.writer.PostgresWriter` (COPY, idempotent merges), :class:`~.delivery.Delivery` (retries,
circuit breaker, spool, replay; with :mod:`.batch`, :mod:`.retry`, :mod:`.stats`), the
:mod:`.spool`, and :mod:`.migrations`. Knows no OpenTelemetry type.

Public here: :func:`~.migrations.migrate` and the writer's errors; the rest is for the SDK side,
the judge and the CLI.
"""

from ..errors import Unavailable, WriteError
from .migrations import migrate

__all__ = ["Unavailable", "WriteError", "migrate"]
