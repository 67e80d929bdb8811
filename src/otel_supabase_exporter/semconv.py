"""Names of the instruments, spans and attributes this package emits (see docs/telemetry.md)."""

from __future__ import annotations

SCOPE = "otel_supabase_exporter"
VERSION = "0.1.0"

# Metrics
METRIC_OPERATIONS = "cache.operations"
METRIC_DURATION = "cache.operation.duration"
METRIC_SIZE = "cache.size"
CACHE_METRICS = frozenset({METRIC_OPERATIONS, METRIC_DURATION, METRIC_SIZE})

# Attributes on metrics and spans (low cardinality)
ATTR_NAME = "cache.name"
ATTR_IMPLEMENTATION = "cache.implementation"
ATTR_OPERATION = "cache.operation"  # get | set | delete | evict
ATTR_RESULT = "cache.result"  # hit | miss | ok | error
METRIC_ATTRIBUTES = frozenset({ATTR_NAME, ATTR_IMPLEMENTATION, ATTR_OPERATION, ATTR_RESULT})

# Attributes on spans only
ATTR_HIT = "cache.hit"
ATTR_KEY = "cache.key"  # raw key: only when the user opts in
ATTR_KEY_HASH = "cache.key.hash"
ATTR_ITEM_SIZE = "cache.item_size"
ATTR_SIZE = "cache.size"
ATTR_ERROR_TYPE = "error.type"
ATTR_ERROR_MESSAGE = "cache.error.message"
SPAN_ONLY_ATTRIBUTES = frozenset(
    {ATTR_HIT, ATTR_KEY, ATTR_KEY_HASH, ATTR_ITEM_SIZE, ATTR_SIZE, ATTR_ERROR_TYPE, ATTR_ERROR_MESSAGE}
)

SPAN_PREFIX = "cache."

GET, SET, DELETE, EVICT = "get", "set", "delete", "evict"
HIT, MISS, OK, ERROR = "hit", "miss", "ok", "error"


def operation_type(operation: str, result: str) -> str | None:
    """The ``cache_metrics.operation_type`` of an (operation, result) pair, or None if unknown."""
    if result == ERROR:
        return "error"
    if operation == GET:
        return result if result in (HIT, MISS) else None
    if operation in (SET, DELETE, EVICT):
        return operation
    return None
