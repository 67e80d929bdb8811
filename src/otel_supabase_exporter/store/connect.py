"""How every connection of the package is made: the DSN (or the embedded server's), TLS for
remote hosts, transaction-pooler-safe options."""

from __future__ import annotations

import math
from typing import Any

import psycopg
from psycopg import conninfo

from .. import settings as env
from ..settings import Settings
from .embedded import embedded_dsn

__all__ = ["APPLICATION_NAME", "connect", "connection_kwargs", "needs_tls", "resolve_dsn"]

APPLICATION_NAME = "otel-supabase-exporter"


def resolve_dsn(settings: Settings) -> str:
    """The configured DSN, or the embedded server's when none is configured."""
    return settings.dsn or embedded_dsn(settings.embedded_dir)


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of every connection the package opens.

    autocommit: every transaction is explicit. prepare_threshold=None: transaction-mode
    poolers (Supabase :6543, PgBouncer) cannot keep prepared statements, so none are made.
    """
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None,
                              "connect_timeout": max(1, math.ceil(settings.timeout_s))}
    try:
        params = conninfo.conninfo_to_dict(settings.dsn) if settings.dsn else {}
    except psycopg.ProgrammingError:
        params = {}
    if not params.get("application_name"):  # visible in pg_stat_activity; the DSN's own name wins
        kwargs["application_name"] = APPLICATION_NAME
    if settings.dsn and needs_tls(params):
        kwargs["sslmode"] = "require"
    return kwargs


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


def needs_tls(params: dict[str, Any]) -> bool:
    """True when a DSN names a host that is not this machine and says nothing of TLS itself
    (no ``sslmode`` in the DSN or in PGSSLMODE): then the connection requires TLS."""
    if params.get("sslmode") or env.env_text(env.ENV_PGSSLMODE):
        return False
    host = params.get("hostaddr") or params.get("host") or env.env_text(env.ENV_PGHOST) or ""
    hosts = [h.strip() for h in str(host).split(",")]
    return any(h not in _LOCAL_HOSTS and not h.startswith("/") and not h.startswith("127.") for h in hosts)


def connect(settings: Settings) -> psycopg.Connection:
    """A connection to the configured server (the embedded one when no DSN is set)."""
    return psycopg.connect(resolve_dsn(settings), **connection_kwargs(settings))
