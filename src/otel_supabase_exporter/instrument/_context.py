"""The current OpenTelemetry context, read and set on the hot path in one step where that is exactly
what the API does.

``context.get_current()`` / ``attach()`` / ``detach()`` are ``_RUNTIME_CONTEXT.get_current()`` ...
through two Python calls each. With the API's default runtime context, ``ContextVarsRuntimeContext``
(exactly that class, its methods not replaced on the instance), those are ``ContextVar.get`` /
``set`` / ``reset`` of its one ``ContextVar``; :data:`VAR` is that variable, and :func:`usable`
checks, on every call, that the module's ``_RUNTIME_CONTEXT`` is still the one it came from. Any
other runtime context (``OTEL_PYTHON_CONTEXT``, or one set later): the API's functions, unchanged.
A reset that fails goes to the API's ``detach``, which fails and logs as it always does.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

__all__ = ["RUNTIME", "VAR", "attach", "current", "detach", "usable"]


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
