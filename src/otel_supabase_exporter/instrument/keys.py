"""Keyed hashing of cache keys, so rows correlate by key without storing it."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

import platformdirs

from .. import settings

_log = logging.getLogger(__name__)


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


class KeyHasher:
    """HMAC-SHA256 of a cache key, truncated to 16 hex characters.

    Recently hashed keys are remembered (at most ``MEMO_SIZE``): hot keys are
    hashed once, not once per span.
    """

    __slots__ = ("_secret", "_memo")
    MEMO_SIZE = 4096

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret
        self._memo: dict[tuple[type, object], str] = {}

    def __repr__(self) -> str:
        return "KeyHasher(<secret>)"

    def __call__(self, key: object) -> str:
        try:
            memo_key = (type(key), key)
            found = self._memo.get(memo_key)
        except TypeError:  # unhashable key
            return self._digest(key)
        if found is None:
            found = self._digest(key)
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[memo_key] = found
        return found

    def _digest(self, key: object) -> str:
        if self._secret is None:
            self._secret = load_secret()
        if isinstance(key, bytes):
            data = key
        elif isinstance(key, str):
            data = key.encode("utf-8", "surrogatepass")
        else:
            data = repr(key).encode("utf-8", "surrogatepass")
        return hmac.digest(self._secret, data, "sha256").hex()[:16]


default_hasher = KeyHasher()
