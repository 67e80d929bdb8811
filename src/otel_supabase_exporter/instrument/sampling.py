"""Sampling decided before a span is built.

Building a span the sampler then drops costs microseconds per cache operation. Where the tracer's
sampler is one the OpenTelemetry SDK defines — ``ALWAYS_ON``/``ALWAYS_OFF`` (any ``StaticSampler``),
``TraceIdRatioBased``, ``ParentBased`` over those — its decision is a pure function of the parent
span context and the trace id, so it is made here, at the call site, the same way, and nothing is
built when the answer is "drop". For a root span the trace id is drawn here from the tracer's own id
generator and handed to the SDK when it builds the span (so the SDK's sampler, asked again, sees the
same id and agrees). Any other sampler (the application's own, ``AlwaysRecordSampler``...) or a tracer
that is not the SDK's: no decision here, the SDK decides on a built span, as before.

The SDK is not imported: its samplers are recognised by module and class name and read through the
attributes they are built with; anything unexpected means "no decision here".
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from opentelemetry import context as otel_context
from opentelemetry import trace

try:  # the context key the API keeps the current span under: read directly, one lookup
    from opentelemetry.trace.propagation import _SPAN_KEY
except ImportError:  # pragma: no cover - an API without it: the public way
    _SPAN_KEY = None

__all__ = ["presampler"]

_SDK_SAMPLING = "opentelemetry.sdk.trace.sampling"
_LIMIT = (1 << 64) - 1  # TraceIdRatioBased.TRACE_ID_LIMIT
_PARENT_FIELDS = ("_root", "_remote_parent_sampled", "_remote_parent_not_sampled", "_local_parent_sampled",
                  "_local_parent_not_sampled")


def _rule(sampler: Any, depth: int = 0) -> Any:
    """True (keep), False (drop), an int (trace-id ratio bound), a 5-tuple of rules (ParentBased:
    root, remote sampled / not, local sampled / not), or None (not a sampler known here)."""
    cls = type(sampler)
    if cls.__module__ != _SDK_SAMPLING or depth > 2:
        return None
    names = {klass.__name__ for klass in cls.__mro__}
    try:
        if "ParentBased" in names:
            rules = tuple(_rule(getattr(sampler, field), depth + 1) for field in _PARENT_FIELDS)
            return None if any(r is None or isinstance(r, tuple) for r in rules) else rules
        if "StaticSampler" in names:
            return sampler._decision.name != "DROP"  # RECORD_ONLY spans record: built, as the SDK would
        if "TraceIdRatioBased" in names:
            bound = sampler.bound
            return bound if type(bound) is int else None
    except AttributeError:
        return None
    return None


class _Handoff:
    """The tracer's id generator, except that the next root trace id drawn by :func:`presampler`'s
    decision (on this thread) is the one the SDK gets for the span it then builds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.local = threading.local()

    def generate_trace_id(self) -> int:
        drawn = getattr(self.local, "drawn", 0)
        if drawn:
            self.local.drawn = 0
            return drawn
        return self.inner.generate_trace_id()

    def keep_if(self, bound: int) -> bool:
        """Draw a root trace id; if the ratio keeps it, it is the next one the SDK gets here."""
        drawn = self.inner.generate_trace_id()
        if (drawn & _LIMIT) < bound:
            self.local.drawn = drawn
            return True
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def presampler(tracer: Any) -> Callable[[], bool] | None:
    """For an SDK tracer whose sampler is known here: a function telling, before a span is built,
    whether the SDK would keep it. None: no decision here (unknown sampler, or nothing to decide)."""
    rule = _rule(getattr(tracer, "sampler", None))
    ids = getattr(tracer, "id_generator", None)
    if rule is None or rule is True or ids is None or not callable(getattr(ids, "generate_trace_id", None)):
        return None
    root, remote_on, remote_off, local_on, local_off = rule if isinstance(rule, tuple) else (rule,) * 5
    handoff = None
    if root is not True and root is not False:
        handoff = tracer.id_generator = ids if isinstance(ids, _Handoff) else _Handoff(ids)
    get_current, span_type, key = otel_context.get_current, trace.Span, _SPAN_KEY

    def decide() -> bool:
        parent = get_current().get(key) if key is not None else trace.get_current_span()
        ctx = parent.get_span_context() if isinstance(parent, span_type) else None
        if ctx is None or not ctx.is_valid:
            if root is True or root is False:
                return root
            return handoff.keep_if(root)  # type: ignore[union-attr]
        sampled = ctx.trace_flags.sampled
        r = (remote_on if sampled else remote_off) if ctx.is_remote else (local_on if sampled else local_off)
        return r if r is True or r is False else (ctx.trace_id & _LIMIT) < r

    return decide
