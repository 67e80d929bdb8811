"""The retry policy: which errors are worth retrying at once, which later, which not at all,
and how long to wait (exponential backoff with full jitter)."""

from __future__ import annotations

import random

import psycopg

from ..errors import Unavailable, WriteError

__all__ = ["BREAKER_CAP_S", "MAX_ATTEMPTS", "PERMANENT_BACKOFF_S", "RETRY_CAP_S", "backoff", "is_poison",
           "is_transient", "retry_now"]

RETRY_BASE_S = 0.1
MAX_ATTEMPTS = 3
RETRY_CAP_S = 5.0
BREAKER_CAP_S = 30.0
PERMANENT_BACKOFF_S = 60.0


def retry_now(exc: BaseException) -> bool:
    """Worth an immediate retry within the export: the connection broke in use (a fresh one may
    work) or the server asked us to (serialization failure, deadlock). Not when no connection
    could be made, nor when the server is too slow: those go to the spool at once."""
    cause = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    if isinstance(exc, Unavailable) or isinstance(cause, psycopg.errors.QueryCanceled):
        return False
    return is_transient(exc)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying soon: the connection or the server's state, not our request, was the problem."""
    cause = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    if isinstance(cause, psycopg.errors.InvalidAuthorizationSpecification) or (
        getattr(cause, "sqlstate", None) or "").startswith("28"):
        return False  # wrong password or role: retrying will not help
    return isinstance(cause, (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError))


def is_poison(exc: BaseException) -> bool:
    """The batch's data, not the database's state, made the write fail: an invalid value the
    server refused, or one the driver could not even send. Such a batch is bisected, never retried."""
    cause = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    return isinstance(cause, (psycopg.errors.DataError, psycopg.errors.IntegrityError, TypeError, ValueError,
                              ArithmeticError, UnicodeError)) and not isinstance(cause, psycopg.errors.QueryCanceled)


def backoff(attempt: int, cap: float) -> float:
    return random.uniform(0, min(cap, RETRY_BASE_S * (2 ** attempt)))  # full jitter
