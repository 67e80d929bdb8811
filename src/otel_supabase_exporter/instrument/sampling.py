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

What a decision costs (it runs on every cache call, sampled or not):

- the parent: the API's ``get_current_span()`` is ``_RUNTIME_CONTEXT.get_current().get(_SPAN_KEY)``
  through three Python calls; the current context is read as :mod:`._context` reads it (its
  ``ContextVar`` directly, where that is exactly what ``get_current()`` returns) and handed to the
  SDK's ``start_span(context=...)`` when the span is kept, so neither the SDK's ``start_span`` nor its
  samplers (three ``get_current_span()`` calls between them) read it again;
- a root trace id under a ratio: where the id generator is the SDK's ``RandomIdGenerator`` (whose
  trace id is ``random.getrandbits(128)``, redrawn if 0), the ratio's rule reads only the low 64
  bits, so those are drawn first (``getrandbits(64)``: the same words of the generator, in the same
  order) and the high 64 bits only when the span is kept. Kept ids have exactly the SDK's
  distribution (uniform over non-zero ids whose low bits are under the bound); a dropped call costs
  one 64-bit draw instead of a 128-bit one. Any other id generator is asked for a full id.
"""

from __future__ import annotations

import random
import threading
from typing import Any, Callable

from opentelemetry import trace

from . import _context

try:  # the context key the API keeps the current span under: read directly, one lookup
    from opentelemetry.trace.propagation import _SPAN_KEY
except ImportError:  # pragma: no cover - an API without it: the public way
    _SPAN_KEY = None

__all__ = ["presampler"]

_SDK_SAMPLING = "opentelemetry.sdk.trace.sampling"
_SDK_IDS = "opentelemetry.sdk.trace.id_generator"
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
        # what the SDK asks besides the trace id, bound here: a lookup that falls through to
        # __getattr__ costs a caught AttributeError per span
        for name in ("generate_span_id", "is_trace_id_random"):
            method = getattr(inner, name, None)
            if method is not None:
                setattr(self, name, method)
        cls = type(inner)
        # the SDK's RandomIdGenerator, its generate_trace_id not replaced: its ids are known here
        method = getattr(cls, "generate_trace_id", None)
        self.random = (cls.__module__ == _SDK_IDS and cls.__name__ == "RandomIdGenerator"
                       and getattr(method, "__qualname__", "") == "RandomIdGenerator.generate_trace_id"
                       and getattr(method, "__module__", "") == _SDK_IDS
                       and "generate_trace_id" not in getattr(inner, "__dict__", {}))

    def generate_trace_id(self) -> int:
        drawn = getattr(self.local, "drawn", 0)
        if drawn:
            self.local.drawn = 0
            return drawn
        return self.inner.generate_trace_id()

    def keep_if(self, bound: int) -> bool:
        """Draw a root trace id; if the ratio keeps it, it is the next one the SDK gets here."""
        if self.random:
            low = random.getrandbits(64)
            return low < bound and self.keep_drawn(low, bound)
        drawn = self.inner.generate_trace_id()
        if (drawn & _LIMIT) >= bound:
            return False
        self.local.drawn = drawn
        return True

    def keep_drawn(self, low: int, bound: int) -> bool:
        """(RandomIdGenerator) ``low``, drawn first, is under ``bound``: draw the high bits; the id
        is the next one the SDK gets here."""
        drawn = random.getrandbits(64) << 64 | low
        if not drawn:  # RandomIdGenerator redraws a zero id whole: so does this
            return self.keep_if(bound)
        self.local.drawn = drawn
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def presampler(tracer: Any) -> Callable[[], Any] | None:
    """For an SDK tracer whose sampler is known here: a function telling, before a span is built,
    whether the SDK would keep it — the current context if it would (for the span to be started
    in), None if it would drop it. None: no decision here (unknown sampler, or nothing to decide).
    The function never raises (a failure is logged once and reads as "drop")."""
    rule = _rule(getattr(tracer, "sampler", None))
    ids = getattr(tracer, "id_generator", None)
    if rule is None or rule is True or ids is None or not callable(getattr(ids, "generate_trace_id", None)):
        return None
    root, remote_on, remote_off, local_on, local_off = rule if isinstance(rule, tuple) else (rule,) * 5
    handoff = None
    if root is not True and root is not False:
        handoff = tracer.id_generator = ids if isinstance(ids, _Handoff) else _Handoff(ids)
    fast_random = handoff is not None and handoff.random
    module, runtime, var = _context._module, _context.RUNTIME, _context.VAR
    current, span_type, key = _context.current, trace.Span, _SPAN_KEY

    def decide() -> Any:
        try:
            ctx = var.get() if var is not None and module._RUNTIME_CONTEXT is runtime else current()
            parent = ctx.get(key) if key is not None else trace.get_current_span(ctx)
            if parent is not None:  # a span in the context: its own, if valid, decides
                span_ctx = parent.get_span_context() if isinstance(parent, span_type) else None
                if span_ctx is not None and span_ctx.is_valid:
                    sampled = span_ctx.trace_flags.sampled
                    if span_ctx.is_remote:
                        r = remote_on if sampled else remote_off
                    else:
                        r = local_on if sampled else local_off
                    keep = r if r is True or r is False else (span_ctx.trace_id & _LIMIT) < r
                    return ctx if keep else None
            # a root: the root sampler decides
            if fast_random:  # keep_if, its first draw inlined: most calls end here
                low = random.getrandbits(64)
                return ctx if low < root and handoff.keep_drawn(low, root) else None  # type: ignore[union-attr]
            if root is True or root is False:
                return ctx if root else None
            return ctx if handoff.keep_if(root) else None  # type: ignore[union-attr]
        except Exception as exc:  # never into the cache call: no span, as when the SDK fails
            _failed(exc)
            return None

    return decide


def _failed(exc: BaseException) -> None:
    from .series import telemetry_failed  # series imports this module

    telemetry_failed("sampling decision", exc)
