"""Every setting of this package: one documented constant per environment variable, one parser
per type. Nothing else in the package reads ``os.environ``.

Exporter settings (:class:`Settings`) come from arguments first, then these variables, then
defaults. Settings read on the hot path (spans on or off, raw keys) never raise: an invalid
value is logged once and the default applies, so a typo cannot break the application.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from .errors import ConfigurationError
from .redact import mask_dsn

__all__ = ["Settings", "validate_identifier"]

_log = logging.getLogger(__name__)

#: PostgreSQL DSN (URI or key=value); unset: the embedded server.
ENV_DSN = "OTEL_EXPORTER_SUPABASE_DSN"
#: Schema of the tables (default ``monitoring``).
ENV_SCHEMA = "OTEL_EXPORTER_SUPABASE_SCHEMA"
#: Seconds one export may take, connection included (default 10).
ENV_TIMEOUT = "OTEL_EXPORTER_SUPABASE_TIMEOUT"
#: Apply migrations on first use (default: only for the embedded server).
ENV_AUTO_MIGRATE = "OTEL_EXPORTER_SUPABASE_AUTO_MIGRATE"
#: Data directory of the embedded server.
ENV_EMBEDDED_DIR = "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR"
#: Where batches the database cannot take wait (default: the user cache directory).
ENV_SPOOL_DIR = "OTEL_EXPORTER_SUPABASE_SPOOL_DIR"
#: Bytes the spool may hold (default 256 MiB; 0 turns it off).
ENV_SPOOL_MAX_BYTES = "OTEL_EXPORTER_SUPABASE_SPOOL_MAX_BYTES"
#: Oldest plausible row time, in seconds before now (default 7 days, the raw retention); older rows are rejected (counted).
ENV_MAX_AGE = "OTEL_EXPORTER_SUPABASE_MAX_AGE"
#: Latest plausible row time, in seconds after now (default 1 day); later rows are rejected (counted).
ENV_MAX_AHEAD = "OTEL_EXPORTER_SUPABASE_MAX_AHEAD"
#: Spans for cache operations (default true; false: metrics only).
ENV_SPANS = "OTEL_EXPORTER_SUPABASE_SPANS"
#: Raw cache keys on spans (default false: a keyed hash only).
ENV_RECORD_KEYS = "OTEL_EXPORTER_SUPABASE_RECORD_KEYS"
#: HMAC secret of key hashes (default: a random one kept in the user data directory).
ENV_KEY_SECRET = "OTEL_EXPORTER_SUPABASE_KEY_SECRET"
#: Comma-separated shell patterns of attribute keys to keep (default: all).
ENV_ATTRIBUTES_ALLOW = "OTEL_EXPORTER_SUPABASE_ATTRIBUTES_ALLOW"
#: Comma-separated shell patterns of attribute keys to drop (default: credential-like keys).
ENV_ATTRIBUTES_DENY = "OTEL_EXPORTER_SUPABASE_ATTRIBUTES_DENY"
#: Token the dashboard asks for before acknowledging (required off loopback).
ENV_DASHBOARD_TOKEN = "OTEL_EXPORTER_SUPABASE_DASHBOARD_TOKEN"
#: Token OTLP senders must present to the gateway (required off loopback).
ENV_GATEWAY_TOKEN = "OTEL_EXPORTER_SUPABASE_GATEWAY_TOKEN"
#: OpenTelemetry's metric export interval in milliseconds (the minute-aligned reader rounds it).
ENV_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
#: libpq's own defaults, which decide whether a connection needs TLS.
ENV_PGSSLMODE = "PGSSLMODE"
ENV_PGHOST = "PGHOST"

DEFAULT_SCHEMA = "monitoring"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_METRIC_EXPORT_INTERVAL_S = 60.0
DEFAULT_MAX_AGE_S = 7 * 86_400.0
DEFAULT_MAX_AHEAD_S = 86_400.0
DEFAULT_DENY = ("*password*", "*passwd*", "*secret*", "*token*", "*authorization*", "*cookie*", "*api_key*",
                "*apikey*")

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def validate_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain lower-case SQL identifier, else raise ConfigurationError."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(
            f"invalid {what} {name!r}: use 1-63 characters a-z, 0-9 and _, not starting with a digit"
        )
    return name


def is_loopback(host: str) -> bool:
    """Whether a bind address is this machine only (binding anything else needs a token)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- parsers (one per type)


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def env_text(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, None when unset or empty."""
    return _environ(env).get(name) or None


def env_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """A positive number (of seconds); ConfigurationError when it is not one."""
    raw = _environ(env).get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be > 0 seconds, got {raw!r}")
    return value


def env_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """A whole number; ConfigurationError when it is not one."""
    raw = _environ(env).get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def env_bool(name: str, env: Mapping[str, str] | None = None) -> bool | None:
    """True/false (1/0, yes/no, on/off); None when unset; ConfigurationError otherwise."""
    raw = _environ(env).get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean (true/false)")


def env_patterns(name: str, env: Mapping[str, str] | None = None) -> list[str] | None:
    """Comma-separated patterns; None when unset (an empty value is an empty list)."""
    raw = _environ(env).get(name)
    return None if raw is None else [p for p in raw.split(",") if p.strip()]


_warned: set[str] = set()


def hot_flag(name: str, default: bool) -> bool:
    """:func:`env_bool` for settings read where raising would reach the application: an invalid
    value is logged once and ``default`` applies."""
    try:
        value = env_bool(name)
    except ConfigurationError as exc:
        if name not in _warned:
            _warned.add(name)
            _log.warning("%s; using %s", exc, "true" if default else "false")
        return default
    return default if value is None else value


# ---------------------------------------------------------------- named settings


def spans_enabled() -> bool:
    """``OTEL_EXPORTER_SUPABASE_SPANS``: spans for cache operations (default true)."""
    return hot_flag(ENV_SPANS, True)


def record_keys() -> bool:
    """``OTEL_EXPORTER_SUPABASE_RECORD_KEYS``: raw keys on spans (default false)."""
    return hot_flag(ENV_RECORD_KEYS, False)


def key_secret() -> bytes | None:
    """``OTEL_EXPORTER_SUPABASE_KEY_SECRET`` as bytes, if set."""
    secret = env_text(ENV_KEY_SECRET)
    return secret.encode("utf-8") if secret else None


def attribute_patterns(env: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(allow, deny) patterns of exported attribute keys; deny defaults to credential-like keys."""
    allow = env_patterns(ENV_ATTRIBUTES_ALLOW, env) or []
    deny = env_patterns(ENV_ATTRIBUTES_DENY, env)
    return allow, list(DEFAULT_DENY) if deny is None else deny


def dashboard_token() -> str | None:
    """``OTEL_EXPORTER_SUPABASE_DASHBOARD_TOKEN``, if set."""
    return env_text(ENV_DASHBOARD_TOKEN)


def gateway_token() -> str | None:
    """``OTEL_EXPORTER_SUPABASE_GATEWAY_TOKEN``, if set."""
    return env_text(ENV_GATEWAY_TOKEN)


def metric_export_interval_s() -> float:
    """``OTEL_METRIC_EXPORT_INTERVAL`` in seconds (default 60; an invalid value is logged and ignored)."""
    raw = env_text(ENV_METRIC_EXPORT_INTERVAL)
    if not raw:
        return DEFAULT_METRIC_EXPORT_INTERVAL_S
    try:
        return float(raw) / 1000.0
    except ValueError:
        _log.warning("%s=%r is not a number; using 60000", ENV_METRIC_EXPORT_INTERVAL, raw)
        return DEFAULT_METRIC_EXPORT_INTERVAL_S


@dataclass(frozen=True)
class Settings:
    """Where and how the exporters write. ``dsn=None`` means the embedded server."""

    dsn: str | None = field(default=None, repr=False)
    schema: str = DEFAULT_SCHEMA
    timeout_s: float = DEFAULT_TIMEOUT_S
    auto_migrate: bool | None = None
    embedded_dir: str | None = None
    spool_dir: str | None = None
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    max_age_s: float = DEFAULT_MAX_AGE_S
    max_ahead_s: float = DEFAULT_MAX_AHEAD_S

    def __post_init__(self) -> None:
        validate_identifier(self.schema, "schema name")
        if self.schema == "information_schema" or self.schema.startswith("pg_"):
            raise ConfigurationError(f"schema {self.schema!r} is a PostgreSQL system schema: choose another")
        if not self.timeout_s > 0:
            raise ConfigurationError(f"timeout must be > 0 seconds, got {self.timeout_s!r}")
        if self.spool_max_bytes < 0:
            raise ConfigurationError(f"spool size must be >= 0 bytes (0 turns the spool off), got {self.spool_max_bytes!r}")

    def __repr__(self) -> str:
        return (
            f"Settings(dsn={mask_dsn(self.dsn)!r}, schema={self.schema!r}, "
            f"timeout_s={self.timeout_s!r}, auto_migrate={self.auto_migrate!r})"
        )

    @property
    def should_auto_migrate(self) -> bool:
        """Migrations run on first use for the embedded server, or when asked for explicitly."""
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.dsn is None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        dsn: str | None = None,
        schema: str | None = None,
        timeout_s: float | None = None,
        auto_migrate: bool | None = None,
    ) -> "Settings":
        """Explicit arguments win over ``OTEL_EXPORTER_SUPABASE_*`` variables, which win over defaults."""
        return cls(
            dsn=dsn if dsn is not None else env_text(ENV_DSN, env),
            schema=schema if schema is not None else (env_text(ENV_SCHEMA, env) or DEFAULT_SCHEMA),
            timeout_s=timeout_s if timeout_s is not None else env_float(ENV_TIMEOUT, DEFAULT_TIMEOUT_S, env),
            auto_migrate=auto_migrate if auto_migrate is not None else env_bool(ENV_AUTO_MIGRATE, env),
            embedded_dir=env_text(ENV_EMBEDDED_DIR, env),
            spool_dir=env_text(ENV_SPOOL_DIR, env),
            spool_max_bytes=env_int(ENV_SPOOL_MAX_BYTES, DEFAULT_SPOOL_MAX_BYTES, env),
            max_age_s=env_float(ENV_MAX_AGE, DEFAULT_MAX_AGE_S, env),
            max_ahead_s=env_float(ENV_MAX_AHEAD, DEFAULT_MAX_AHEAD_S, env),
        )
