"""Django's own ``tests/cache`` (at the installed version, from its sdist), run plain and with the
Django and redis-py integrations on (every span sampled), the redis backend's tests included against
real redis-servers (one per run: the two runs go side by side). The instrumented run may not fail or
hang a test the plain run passes."""

from __future__ import annotations

import pytest

from conformance import upstream
from conftest import redis_servers

pytest.importorskip("django")


def test_django_cache_suite_unchanged_by_instrumentation(tmp_path) -> None:
    root = upstream.sdist("Django")
    with redis_servers(tmp_path, ("plain", "instrumented")) as ports:
        started = {mode: upstream.start_django(root, mode=mode, labels=["cache"],
                                               env={"OTEL_CONFORMANCE_REDIS_URL": f"redis://127.0.0.1:{port}"})
                   for mode, port in ports.items()}
        plain, instrumented = (upstream.finish_django(*started[m], m) for m in ("plain", "instrumented"))
    assert len(plain.outcomes) > 600, plain.output[-2000:]
    assert not plain.bad, f"the plain run fails already: {sorted(plain.bad)[:10]}"
    ran_redis = [t for t, o in plain.outcomes.items() if "RedisCacheTests" in t and o == "passed"]
    assert len(ran_redis) > 50  # the redis backend's tests ran, against the real server
    assert upstream.instrumented_only(plain, instrumented) == []
    recorded = instrumented.recorded
    assert recorded.get("cache.get", 0) > 1000 and recorded.get("cache.delete", 0) > 100, recorded
