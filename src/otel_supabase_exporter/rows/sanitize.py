"""Sanitising for PostgreSQL, and what every mapping shares (documented in docs/schema.md).

Text loses NUL characters and unencodable surrogates (replaced by U+FFFD) and is cut to a
column limit; non-finite floats become strings in JSON; attributes beyond a count limit are
dropped and counted; attribute keys the :class:`AttributeFilter` denies are left out and counted.
"""

from __future__ import annotations

import fnmatch
import json
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..settings import DEFAULT_DENY

MAX_NAME = 200
MAX_IMPLEMENTATION = 100
MAX_TEXT = 4096
MAX_ERROR_MESSAGE = 1024
MAX_SOURCE = 100
MAX_ATTRIBUTES = 128
MAX_JSON_DEPTH = 8

_NS_EVENTS = uuid.UUID("6f1e0c3a-5b0e-4c59-9a55-3f8f0f0c7a11")


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A string Postgres accepts: no NUL, no lone surrogates, at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and "\x00" not in text:  # the common case: nothing to replace
        return text if len(text) <= limit else text[: limit - 1] + "\u2026"
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def clean_json(value: Any, depth: int = 0) -> Any:
    """A JSON-serialisable copy of an attribute value (see module docstring)."""
    if value is None or isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bytes):
        return clean_text(value.decode("utf-8", "replace"))
    if depth >= MAX_JSON_DEPTH:
        return clean_text(repr(value))
    if isinstance(value, Mapping):
        return {clean_text(k, 256): clean_json(v, depth + 1) for k, v in list(value.items())[:MAX_ATTRIBUTES]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean_json(v, depth + 1) for v in list(value)[:MAX_ATTRIBUTES]]
    return clean_text(repr(value))


def to_json(value: Any) -> str:
    return json.dumps(clean_json(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class AttributeFilter:
    """Which span, event and log attributes are exported: keys matching an ``allow`` pattern (all
    when there is none) and no ``deny`` pattern (shell-style, case-insensitive). The defaults
    deny keys that look like credentials (``settings.attribute_patterns`` reads the environment's)."""

    def __init__(self, allow: Sequence[str] = (), deny: Sequence[str] = DEFAULT_DENY) -> None:
        self.allow = tuple(p.strip().lower() for p in allow if p.strip())
        self.deny = tuple(p.strip().lower() for p in deny if p.strip())
        self._memo: dict[str, bool] = {}

    def keeps(self, key: str) -> bool:
        kept = self._memo.get(key)
        if kept is None:
            low = key.lower()
            kept = (not self.allow or any(fnmatch.fnmatchcase(low, p) for p in self.allow)) and not any(
                fnmatch.fnmatchcase(low, p) for p in self.deny)
            if len(self._memo) < 4096:
                self._memo[key] = kept
        return kept


_filter = AttributeFilter()


def set_attribute_filter(attribute_filter: AttributeFilter | None = None) -> None:
    """Replace the process's attribute filter (None: the defaults)."""
    global _filter
    _filter = attribute_filter or AttributeFilter()


def attributes_json(attributes: Mapping[str, Any] | None, skip: frozenset = frozenset()) -> tuple[str, int]:
    """JSON object of the attributes not in ``skip`` that the filter keeps; also returns how many
    were dropped by the count limit (filtered ones are counted in ``otel.filtered_attributes``)."""
    if not attributes:
        return "{}", 0
    out: dict[str, Any] = {}
    dropped = 0
    filtered = 0
    keeps = _filter.keeps
    for k, v in attributes.items():
        if k in skip:
            continue
        if not keeps(k):
            filtered += 1
            continue
        if len(out) >= MAX_ATTRIBUTES:
            dropped += 1
            continue
        out[clean_text(k, 256)] = clean_json(v)
    if dropped:
        out["otel.dropped_attributes"] = dropped
    if filtered:
        out["otel.filtered_attributes"] = filtered
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), allow_nan=False), dropped


def row_us(ns: int | None) -> int:
    """A row timestamp: microseconds since the Unix epoch (now if unknown)."""
    if not ns:
        return time.time_ns() // 1000
    return ns // 1000


_last_service: tuple[Any, str, str | None] = (None, "", None)


def _names_of(resource: Any) -> tuple[Any, str, str | None]:
    global _last_service
    found = _last_service
    if resource is found[0] and resource is not None:  # resources are shared by every span of a provider
        return found
    attrs = getattr(resource, "attributes", None) or {}
    instance = attrs.get("service.instance.id")
    found = _last_service = (resource, clean_text(attrs.get("service.name") or "unknown_service", MAX_NAME),
                             clean_text(str(instance), MAX_NAME) if instance not in (None, "") else None)
    return found


def service_of(resource: Any) -> str:
    """The resource's ``service.name`` (``unknown_service`` when it has none)."""
    return _names_of(resource)[1]


def instance_of(resource: Any) -> str | None:
    """The resource's ``service.instance.id``, or None."""
    return _names_of(resource)[2]


_short_texts: dict[tuple[str, int], str] = {}


def clean_short(value: Any, limit: int) -> str:
    """:func:`clean_text`, stripped, remembered: cache and implementation names repeat on every row."""
    if type(value) is not str:
        return clean_text(value, limit).strip()
    found = _short_texts.get((value, limit))
    if found is None:
        found = clean_text(value, limit).strip()
        if len(value) <= 256:
            if len(_short_texts) >= 4096:
                _short_texts.clear()
            _short_texts[(value, limit)] = found
    return found


def resource_json(resource: Any) -> dict[str, Any]:
    attrs = getattr(resource, "attributes", None) or {}
    return {clean_text(k, 256): clean_json(v) for k, v in list(attrs.items())[:MAX_ATTRIBUTES]}


def int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


@dataclass
class Rejected:
    """Rows that were not produced, by reason."""

    reasons: Counter = field(default_factory=Counter)

    def add(self, reason: str) -> None:
        self.reasons[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


def event_id(*parts: Any) -> int:
    return uuid.uuid5(_NS_EVENTS, "/".join(str(p) for p in parts)).int
