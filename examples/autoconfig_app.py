"""An application with no exporter code: run it under `opentelemetry-instrument`.

    OTEL_TRACES_EXPORTER=supabase OTEL_METRICS_EXPORTER=supabase OTEL_LOGS_EXPORTER=none \
    OTEL_SERVICE_NAME=autoconfig-demo opentelemetry-instrument python examples/autoconfig_app.py

Swap `supabase` for `console` or `otlp` and nothing here changes.
"""

from otel_supabase_exporter import instrument_cache

sessions = instrument_cache({}, name="sessions", implementation="dict")

for user in range(50):
    sessions[f"user-{user}"] = {"id": user}
for user in range(100):
    sessions.get(f"user-{user}")  # 50 hits, 50 misses
print("done: 50 sets, 50 hits, 50 misses")
