"""The current OpenTelemetry context, read and set on the hot path in one step where that is exactly
what the API does.

``context.get_current()`` / ``attach()`` / ``detach()`` are ``_RUNTIME_CONTEXT.get_current()`` ...
through two Python calls each. With the API's default runtime context, ``ContextVarsRuntimeContext``
(exactly that class, its methods not replaced on the instance), those are ``ContextVar.get`` /
``set`` / ``reset`` of its one ``ContextVar``; :data:`VAR` is that variable, and :func:`usable`
checks, on every call, that the module's ``_RUNTIME_CONTEXT`` is still the one it came from. Any
other runtime context (``OTEL_PYTHON_CONTEXT``, or one set later): the API's functions, unchanged.
A reset that fails goes to the API's ``detach``, which fails and logs as it always does.

:func:`with_span` is ``trace.set_span_in_context(span, ctx)`` (``set_value``: a copy of the context
with the span under the API's key, as a new ``Context``) in one step, where the API's function is
the one checked at import to do exactly that.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

try:
    from opentelemetry.trace.propagation import _SPAN_KEY
except ImportError:  # pragma: no cover - an API without it: the public way
    _SPAN_KEY = None

__all__ = ["RUNTIME", "VAR", "attach", "current", "detach", "usable", "with_span"]


def _var_of(runtime: Any) -> ContextVar | None:
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    if any(name in vars(runtime) for name in ("get_current", "attach", "detach")):
        return None
    var = getattr(runtime, "_current_context", None)
    return var if type(var) is ContextVar else None


RUNTIME = otel_context._RUNTIME_CONTEXT
VAR = _var_of(RUNTIME)
_module = otel_context


def usable() -> bool:
    """Whether :data:`VAR` is what the API reads and sets now (inline this test on the hot path)."""
    return VAR is not None and _module._RUNTIME_CONTEXT is RUNTIME


def current() -> Any:
    """``context.get_current()``."""
    if VAR is not None and _module._RUNTIME_CONTEXT is RUNTIME:
        return VAR.get()
    return otel_context.get_current()


def attach(ctx: Any) -> Any:
    """``context.attach(ctx)``: a token for :func:`detach`."""
    if VAR is not None and _module._RUNTIME_CONTEXT is RUNTIME:
        return VAR.set(ctx)
    return otel_context.attach(ctx)


def detach(token: Any) -> None:
    """``context.detach(token)``: never raises (the API logs a token it cannot reset)."""
    if VAR is not None and type(token) is Token and _module._RUNTIME_CONTEXT is RUNTIME:
        try:
            VAR.reset(token)
            return
        except Exception:  # the API's own detach says what went wrong, as it would have
            pass
    otel_context.detach(token)


def _copies_with_span(set_span: Any) -> bool:
    """Whether ``set_span(span, ctx)`` returns a new ``Context``: ``ctx``'s entries and the span
    under ``_SPAN_KEY``, ``ctx`` unchanged."""
    if _SPAN_KEY is None:
        return False
    try:
        ctx = Context({"otel-supabase-probe": 1})
        out = set_span(trace.INVALID_SPAN, ctx)
        return (type(out) is Context and out is not ctx and dict(ctx) == {"otel-supabase-probe": 1}
                and dict(out) == {"otel-supabase-probe": 1, _SPAN_KEY: trace.INVALID_SPAN})
    except Exception:
        return False


_SET_SPAN = trace.set_span_in_context
_INLINE_SET_SPAN = _copies_with_span(_SET_SPAN)


def with_span(ctx: Any, span: Any) -> Any:
    """``trace.set_span_in_context(span, ctx)`` for a ``Context`` ``ctx``."""
    if _INLINE_SET_SPAN and type(ctx) is Context and trace.set_span_in_context is _SET_SPAN:
        values = dict.copy(ctx)
        values[_SPAN_KEY] = span
        return Context(values)
    return trace.set_span_in_context(span, ctx)
