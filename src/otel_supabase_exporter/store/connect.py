"""How every connection of the package is made: the DSN (or the embedded server's), TLS for
remote hosts, transaction-pooler-safe options."""

from __future__ import annotations

import math
import re
from typing import Any

import psycopg
from psycopg import conninfo

from .. import settings as env
from ..errors import ConfigurationError
from ..settings import Settings
from .embedded import embedded_dsn

__all__ = ["APPLICATION_NAME", "check_dsn", "connect", "connect_bounded", "connection_kwargs", "needs_tls",
           "network_bounds", "resolve_dsn"]

APPLICATION_NAME = "otel-supabase-exporter"


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://(?P<authority>[^/?#]*)(?P<rest>.*)$", re.S)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def check_dsn(dsn: str) -> str:
    """``dsn``, if libpq will read its user and password as written; else a ConfigurationError
    that names what to change and quotes none of it (libpq's own messages quote the offending
    token, and with an unencoded ``@`` the password's tail becomes the host it names)."""
    uri = _URI.match(dsn.strip())
    if uri is None:
        return dsn  # key=value form: libpq's messages about it quote no value
    if uri["authority"].count("@") > 1:
        raise ConfigurationError("the DSN's user or password holds an '@': write it as %40")
    if _BAD_PERCENT.search(uri["authority"]) or _BAD_PERCENT.search(uri["rest"]):
        raise ConfigurationError("the DSN holds a '%' that is not percent-encoding (two hex digits): "
                                 "write a literal % as %25")
    return dsn


def resolve_dsn(settings: Settings) -> str:
    """The configured DSN (checked: :func:`check_dsn`), or the embedded server's when none is configured."""
    return check_dsn(settings.dsn) if settings.dsn else embedded_dsn(settings.embedded_dir)


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of every connection the package opens.

    autocommit: every transaction is explicit. prepare_threshold=None: transaction-mode
    poolers (Supabase :6543, PgBouncer) cannot keep prepared statements, so none are made.
    TCP keepalives and ``tcp_user_timeout`` bound every read and write on a network that drops
    packets without a reset (a NAT or pooler that forgot the flow): the server-side
    ``statement_timeout`` cannot, since a dead socket never answers. The DSN's own values win.
    """
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None,
                              "connect_timeout": max(1, math.ceil(settings.timeout_s))}
    try:
        params = conninfo.conninfo_to_dict(settings.dsn) if settings.dsn else {}
    except psycopg.ProgrammingError:
        params = {}
    for name, value in network_bounds(settings.timeout_s).items():
        if name not in params:
            kwargs[name] = value
    if not params.get("application_name"):  # visible in pg_stat_activity; the DSN's own name wins
        kwargs["application_name"] = APPLICATION_NAME
    if settings.dsn and needs_tls(params):
        kwargs["sslmode"] = "require"
    return kwargs


def network_bounds(timeout_s: float) -> dict[str, int]:
    """libpq options that make the kernel end a connection whose peer went silent within about
    ``timeout_s``: unacknowledged data for longer than that (``tcp_user_timeout``), or an idle
    wait whose keepalive probes go unanswered (idle + 3 probes ≈ ``timeout_s``)."""
    idle = max(1, math.floor(timeout_s / 2))
    interval = max(1, math.floor((timeout_s - idle) / 3))
    return {"keepalives": 1, "keepalives_idle": idle, "keepalives_interval": interval, "keepalives_count": 3,
            "tcp_user_timeout": max(1000, int(timeout_s * 1000))}


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


# DSNs whose server (a transaction-mode pooler) refused startup options: asked once per process
_REFUSE_OPTIONS: set[str] = set()


def connect_bounded(settings: Settings) -> psycopg.Connection:
    """:func:`connect`, with ``statement_timeout`` and ``lock_timeout`` of ``settings.timeout_s`` as
    startup options: a client setting outranks the role's and the database's (``ALTER ROLE … SET
    statement_timeout = '1ms'`` would otherwise cancel the first statement of every export, even the
    one that sets the transaction's own bound). Options the DSN sets come after ours and win. A
    pooler that refuses startup options (PgBouncer: "unsupported startup parameter") gets the
    plain connection; then only the writer's transaction-local bounds apply."""
    dsn = resolve_dsn(settings)
    kwargs = connection_kwargs(settings)
    if dsn in _REFUSE_OPTIONS:
        return psycopg.connect(dsn, **kwargs)
    ms = int(settings.timeout_s * 1000)
    try:
        own = conninfo.conninfo_to_dict(dsn).get("options") or ""
    except psycopg.ProgrammingError:
        own = ""
    options = f"-c statement_timeout={ms} -c lock_timeout={ms} {own}".strip()
    try:
        return psycopg.connect(dsn, **kwargs, options=options)
    except psycopg.OperationalError as exc:
        if "startup parameter" not in str(exc):
            raise
    _REFUSE_OPTIONS.add(dsn)
    return psycopg.connect(dsn, **kwargs)
