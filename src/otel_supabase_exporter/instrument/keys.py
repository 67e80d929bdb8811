"""Keyed hashing of cache keys, so rows correlate by key without storing it.

Only keys whose text can be read without running the application's code are hashed: ``str``,
``bytes``, ``int``, ``float``, ``bool``, ``None`` and tuples of them (cachetools' ``hashkey``
tuples included). Their text is the same in every process for equal keys. Any other key gets no
hash: its ``repr`` is the application's code (it may lock, recurse or differ between processes,
as the default ``<object at 0x...>`` does), and so are its ``__eq__`` and ``__hash__``.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

import platformdirs

from .. import settings

_log = logging.getLogger(__name__)
_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})
_MEMOISED = frozenset({str, bytes, int})  # no two of them are ever equal: one memo serves all three


def _secret_file() -> Path:
    return Path(platformdirs.user_data_dir("otel-supabase-exporter")) / "key-hash-secret"


def load_secret() -> bytes:
    """The HMAC secret: ``OTEL_EXPORTER_SUPABASE_KEY_SECRET``, else a random one persisted locally."""
    configured = settings.key_secret()
    if configured:
        return configured
    path = _secret_file()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    except OSError as exc:
        _log.warning("cannot read the key-hash secret file (%s); using a per-process secret", exc.strerror)
        return secrets.token_bytes(32)
    secret = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
    except FileExistsError:
        return path.read_bytes()
    except OSError as exc:
        _log.warning("cannot persist the key-hash secret (%s); using a per-process secret", exc.strerror)
    return secret


def _plain(key: object, depth: int = 0) -> bool:
    """Whether ``repr(key)`` runs only the interpreter's own code."""
    cls = type(key)
    if cls in _SCALARS:
        return True
    if isinstance(key, tuple) and depth < 8 and cls.__repr__ is tuple.__repr__ and cls.__iter__ is tuple.__iter__:
        return all(_plain(item, depth + 1) for item in tuple.__iter__(key))  # type: ignore[arg-type]
    return False


def key_text(key: object) -> str | None:
    """The key as text, or None when only the application's code could tell it."""
    if type(key) is str:
        return key  # type: ignore[return-value]
    return repr(key) if _plain(key) else None


class KeyHasher:
    """HMAC-SHA256 of a cache key, truncated to 16 hex characters; None for a key it cannot read
    without running the application's code (see the module docstring).

    Recently hashed ``str``, ``int`` and ``bytes`` keys are remembered (at most ``MEMO_SIZE``): hot
    keys are hashed once, not once per span. Only keys of exactly these types: their equality is the
    interpreter's, never the application's, and keeping one alive keeps no application object alive.
    """

    __slots__ = ("_secret", "_memo")
    MEMO_SIZE = 4096

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret
        self._memo: dict[object, str] = {}

    def __repr__(self) -> str:
        return "KeyHasher(<secret>)"

    def __call__(self, key: object) -> str | None:
        cls = type(key)
        if cls not in _MEMOISED:
            text = key_text(key)
            return None if text is None else self._digest(text.encode("utf-8", "surrogatepass"))
        found = self._memo.get(key)  # type: ignore[call-overload]
        if found is None:
            found = self._digest(key if cls is bytes else (key if cls is str else repr(key)).encode(  # type: ignore
                "utf-8", "surrogatepass"))
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = found  # type: ignore[index]
        return found

    def _digest(self, data: bytes) -> str:
        if self._secret is None:
            self._secret = load_secret()
        return hmac.digest(self._secret, data, "sha256").hex()[:16]


default_hasher = KeyHasher()
