"""OTLP ``AnyValue``/``KeyValue`` → plain Python values, and resources and scopes as the SDK's."""

from __future__ import annotations

from typing import Any, Iterable

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["attributes", "resource", "scope", "value"]


def value(any_value: Any) -> Any:
    """The Python value of an ``AnyValue`` (None when it is empty)."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind)


def attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in pairs}


def resource(proto: Any) -> Resource:
    return Resource(attributes(proto.attributes))


def scope(proto: Any) -> InstrumentationScope:
    return InstrumentationScope(proto.name or "", proto.version or None)
