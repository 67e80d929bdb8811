"""The command line's argument types (each refuses nonsense with a one-line message) and the
options every command takes, before or after its name."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

# PostgreSQL's bigint: the largest id an observation can have
MAX_ID = 2**63 - 1


def duration(text: str) -> timedelta:
    """A positive duration: 30s, 15m, 1h, 7d, or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        value = timedelta(seconds=float(text[:-1]) * units[text[-1]]) if text and text[-1] in units \
            else timedelta(seconds=float(text))
    except (ValueError, IndexError, OverflowError):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 30s, 15m, 1h, 7d") from None
    if not value > timedelta(0) or value > timedelta(days=36500):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be more than 0 and at most 100 years")
    return value


def _bounded(text: str, convert: type, *, low: float, high: float, what: str) -> Any:
    """``text`` converted, if it is a number from ``low`` to ``high`` (NaN is not)."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: must be from {low} to {high}")
    return value


def positive_int(text: str) -> int:
    """An integer from 1 to PostgreSQL's largest bigint."""
    return _bounded(text, int, low=1, high=MAX_ID, what="number")


def positive_seconds(text: str) -> float:
    """A number of seconds above 0, at most a year."""
    return _bounded(text, float, low=1e-3, high=365 * 86400, what="number of seconds")


def history_days(text: str) -> float:
    """A number of days from 0 (none) to 60."""
    return _bounded(text, float, low=0, high=60, what="number of days")


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    return _bounded(text, int, low=0, high=65535, what="port")


def common_options(top_level: bool) -> argparse.ArgumentParser:
    """--dsn, --schema and --verbose. After a command's name they default to SUPPRESS, so they
    override what was given before it only when given again."""
    parent = argparse.ArgumentParser(add_help=False)
    default = {} if top_level else {"default": argparse.SUPPRESS}
    parent.add_argument("--dsn", help="PostgreSQL DSN (default: $OTEL_EXPORTER_SUPABASE_DSN, else embedded)",
                        **default)
    parent.add_argument("--schema", help="schema name (default: $OTEL_EXPORTER_SUPABASE_SCHEMA or monitoring)",
                        **default)
    parent.add_argument("-v", "--verbose", action="store_true", help="log progress details", **default)
    return parent
