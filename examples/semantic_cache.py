"""Legacy vs new semantic cache, side by side, exported to PostgreSQL.

    python examples/semantic_cache.py          # embedded PostgreSQL unless OTEL_EXPORTER_SUPABASE_DSN is set
"""

import random

from otel_supabase_exporter import configure, instrument_cache


@instrument_cache(name="semantic", implementation="legacy")
class LegacySemanticCache:
    def __init__(self):
        self._data = {}

    def get(self, prompt):  # None is a miss
        return self._data.get(prompt)

    def set(self, prompt, answer):
        if len(self._data) >= 100:
            self._data.pop(next(iter(self._data)))
        self._data[prompt] = answer


@instrument_cache(name="semantic", implementation="new")
class NewSemanticCache(LegacySemanticCache):
    def set(self, prompt, answer):
        if len(self._data) >= 400:
            self._data.pop(next(iter(self._data)))
        self._data[prompt] = answer


def main() -> None:
    telemetry = configure(service_name="semantic-cache-example")
    rng = random.Random(42)
    for cache in (LegacySemanticCache(), NewSemanticCache()):
        for _ in range(5_000):
            prompt = f"prompt-{int(rng.paretovariate(1.2)) % 1000}"
            if cache.get(prompt) is None:
                cache.set(prompt, f"answer to {prompt}")
    telemetry.shutdown()  # writes the raw rows and the 1-minute aggregates
    print("exported: see `otel-supabase-exporter summary`")


if __name__ == "__main__":
    main()
