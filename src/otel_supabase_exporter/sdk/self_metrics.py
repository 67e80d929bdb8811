"""The exporters' own counters as OpenTelemetry metrics (``otel_supabase_exporter.items``,
``.items.set_aside``, ``.spool.size``), observed from a :class:`~..store.delivery.Delivery`."""

from __future__ import annotations

import weakref
from typing import Any

from opentelemetry.metrics import Observation

from .. import semconv as sc
from ..store.delivery import Delivery
from ..store.stats import OUTCOMES

__all__ = ["observe_delivery"]

SELF_SCOPE = sc.SCOPE


def observe_delivery(delivery: Delivery, meter_provider: Any) -> None:
    """Report ``delivery``'s counters as metrics of ``meter_provider``."""
    ref = weakref.ref(delivery)  # the callbacks must not keep the delivery alive
    del delivery
    meter = meter_provider.get_meter(SELF_SCOPE)

    def snapshots() -> list[tuple[str, dict[str, Any]]]:
        found = ref()
        return [] if found is None else [(sig, st.snapshot()) for sig, st in found.stats.items()]

    def items(options: Any) -> list[Observation]:
        return [Observation(snap[outcome], {"signal": signal, "outcome": outcome})
                for signal, snap in snapshots() for outcome in OUTCOMES]

    def set_aside(options: Any) -> list[Observation]:
        out = [Observation(n, {"signal": signal, "kind": kind, "reason": reason})
               for signal, snap in snapshots() for kind in ("rejected", "dropped")
               for reason, n in snap[kind].items()]
        found = ref()
        if found is not None and found.torn_records:
            out.append(Observation(found.torn_records,
                                   {"signal": "unknown", "kind": "dropped", "reason": "torn spool record"}))
        return out

    def spool_bytes(options: Any) -> list[Observation]:
        found = ref()
        state = found.spool_state() if found is not None else None
        return [] if state is None else [Observation(state.bytes, {"directory": state.directory})]

    meter.create_observable_counter(f"{SELF_SCOPE}.items", callbacks=[items], unit="{item}",
                                    description="Items the exporters received, wrote, retried, spooled...")
    meter.create_observable_counter(f"{SELF_SCOPE}.items.set_aside", callbacks=[set_aside], unit="{item}",
                                    description="Items rejected (invalid) or dropped (lost), by reason.")
    meter.create_observable_gauge(f"{SELF_SCOPE}.spool.size", callbacks=[spool_bytes], unit="By",
                                  description="Bytes waiting in the spool.")

