"""Settings from arguments and the environment, identifier validation, secret masking."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from psycopg import conninfo

ENV_DSN = "OTEL_EXPORTER_SUPABASE_DSN"
ENV_SCHEMA = "OTEL_EXPORTER_SUPABASE_SCHEMA"
ENV_TIMEOUT = "OTEL_EXPORTER_SUPABASE_TIMEOUT"
ENV_AUTO_MIGRATE = "OTEL_EXPORTER_SUPABASE_AUTO_MIGRATE"
ENV_EMBEDDED_DIR = "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR"
ENV_RECORD_KEYS = "OTEL_EXPORTER_SUPABASE_RECORD_KEYS"
ENV_SPOOL_DIR = "OTEL_EXPORTER_SUPABASE_SPOOL_DIR"
ENV_SPOOL_MAX_BYTES = "OTEL_EXPORTER_SUPABASE_SPOOL_MAX_BYTES"

DEFAULT_SCHEMA = "monitoring"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MASK = "****"


class ConfigurationError(ValueError):
    """A setting is missing or invalid."""


def validate_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain lower-case SQL identifier, else raise ConfigurationError."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(
            f"invalid {what} {name!r}: use 1-63 characters a-z, 0-9 and _, not starting with a digit"
        )
    return name


def mask_dsn(dsn: str | None) -> str:
    """Return the DSN with any password replaced by ****, for logs and messages."""
    if not dsn:
        return "<embedded>"
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except Exception:
        # Unparseable: do not echo it at all, it may hold a secret.
        return "<unparseable DSN>"
    if "password" in params:
        params["password"] = _MASK
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def scrub(text: str, *secrets: str | None) -> str:
    """Remove every occurrence of the given secrets from a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text


def error_line(exc: BaseException, dsn: str | None) -> str:
    """The first line of an error's message (or its type), with the DSN's password removed."""
    message = str(exc).strip()
    return scrub(message.splitlines()[0] if message else type(exc).__name__, password_of(dsn))


def password_of(dsn: str | None) -> str | None:
    """The password inside a DSN, if any (used only to scrub it from messages)."""
    if not dsn:
        return None
    try:
        return conninfo.conninfo_to_dict(dsn).get("password") or None
    except Exception:
        return None


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be > 0 seconds, got {raw!r}")
    return value


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def _env_bool(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean (true/false)")


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

    def __post_init__(self) -> None:
        validate_identifier(self.schema, "schema name")
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
        env = os.environ if env is None else env
        return cls(
            dsn=dsn if dsn is not None else (env.get(ENV_DSN) or None),
            schema=schema if schema is not None else (env.get(ENV_SCHEMA) or DEFAULT_SCHEMA),
            timeout_s=timeout_s if timeout_s is not None else _env_float(env, ENV_TIMEOUT, DEFAULT_TIMEOUT_S),
            auto_migrate=auto_migrate if auto_migrate is not None else _env_bool(env, ENV_AUTO_MIGRATE),
            embedded_dir=env.get(ENV_EMBEDDED_DIR) or None,
            spool_dir=env.get(ENV_SPOOL_DIR) or None,
            spool_max_bytes=_env_int(env, ENV_SPOOL_MAX_BYTES, DEFAULT_SPOOL_MAX_BYTES),
        )
