"""Every error this package raises on purpose derives from :class:`Error`, so a caller (the CLI
among them) catches one class. Each also keeps the standard base it had before, so code that
catches ``ValueError`` or ``RuntimeError`` goes on working::

    Error
     ├── ConfigurationError (ValueError)    a setting is missing or invalid
     ├── MigrationError (RuntimeError)      migrations cannot be applied as they are
     ├── WriteError (RuntimeError)          writing a batch failed (the message has no secret)
     │    └── Unavailable                   no connection could be made
     ├── SpoolUnavailable (RuntimeError)    no file locks here: the spool is off
     ├── ObservationNotFound (LookupError)  no auditor observation has that id
     └── ApiError                           a dashboard answer other than 200 (status, message)

Errors of the database driver (``psycopg.Error``) are not wrapped where they reach a caller
directly (a connection it asked for); messages built from them go through :mod:`.redact`.
"""

from __future__ import annotations

from http import HTTPStatus

__all__ = [
    "ApiError", "ConfigurationError", "Error", "MigrationError", "ObservationNotFound", "SpoolUnavailable",
    "Unavailable", "WriteError",
]


class Error(Exception):
    """The base of every error this package raises on purpose."""


class ConfigurationError(Error, ValueError):
    """A setting is missing or invalid."""


class MigrationError(Error, RuntimeError):
    """Migrations cannot be applied as they are (e.g. an applied file was edited)."""


class WriteError(Error, RuntimeError):
    """Writing a batch failed; the message names the cause with secrets removed."""


class Unavailable(WriteError):
    """No connection could be made: the server is down, unreachable or refusing us."""


class SpoolUnavailable(Error, RuntimeError):
    """This platform has no file locks (``fcntl``) to share a spool safely."""


class ObservationNotFound(Error, LookupError):
    """No auditor observation has the given id."""


class ApiError(Error):
    """A dashboard answer other than 200: the status and a message for the client."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
