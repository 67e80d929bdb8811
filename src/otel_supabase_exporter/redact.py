"""Secrets out of every message: DSNs with their password masked, error lines with it removed.

psycopg is imported only when a DSN is actually parsed, so the hot path (which imports
:mod:`.settings`, and so this module) never loads the database driver.
"""

from __future__ import annotations

__all__ = ["error_line", "mask_dsn", "password_of", "scrub"]

MASK = "****"


def mask_dsn(dsn: str | None) -> str:
    """Return the DSN with any password replaced by ****, for logs and messages."""
    if not dsn:
        return "<embedded>"
    from psycopg import conninfo

    try:
        params = conninfo.conninfo_to_dict(dsn)
    except Exception:
        # Unparseable: do not echo it at all, it may hold a secret.
        return "<unparseable DSN>"
    if "password" in params:
        params["password"] = MASK
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def scrub(text: str, *secrets: str | None) -> str:
    """Remove every occurrence of the given secrets from a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def error_line(exc: BaseException, dsn: str | None) -> str:
    """The first line of an error's message (or its type), with the DSN's password removed."""
    message = str(exc).strip()
    return scrub(message.splitlines()[0] if message else type(exc).__name__, password_of(dsn))


def password_of(dsn: str | None) -> str | None:
    """The password inside a DSN, if any (used only to scrub it from messages)."""
    if not dsn:
        return None
    from psycopg import conninfo

    try:
        return conninfo.conninfo_to_dict(dsn).get("password") or None
    except Exception:
        return None
