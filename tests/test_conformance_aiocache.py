"""aiocache's own tests (``tests/ut`` and ``tests/acceptance``, at the installed version, from its
sdist), run plain and with ``CachePlugin(...).attach(cache)`` on every cache a test builds (every span
sampled), the redis caches against real redis-servers (one per run: the two runs go side by side).
The instrumented run may not fail or hang a test the plain run passes, except where a test counts
the cache's plugins (the attached plugin is one more: :data:`_PLUGIN_COUNTED`), and nothing may log
``Failed to detach context`` (nor any other OpenTelemetry or package warning). Not run: memcached
(no server here: ``-m "not memcached"`` and its unit tests), the serializer tests (they import
marshmallow, not installed)."""

from __future__ import annotations

import concurrent.futures

import pytest

from conformance import upstream
from conftest import redis_servers

pytest.importorskip("aiocache")
pytest.importorskip("pytest_mock")

_OPTIONS = [
    "tests/ut", "tests/acceptance", "-m", "not memcached", "--ignore=tests/ut/backends/test_memcached.py",
    "--ignore=tests/ut/test_serializers.py", "--ignore=tests/acceptance/test_serializers.py",
    "-o", "asyncio_default_fixture_loop_scope=function",
    # its filterwarnings=error, less what redis-py 8 and pytest-asyncio 1 warn about in both runs
    "-W", "ignore::ResourceWarning", "-W", "ignore::pytest.PytestUnraisableExceptionWarning",
    "-W", "ignore:Call to deprecated:DeprecationWarning",
]
# tests asserting len(cache.plugins): attach() adds the recording plugin after the cache's own
_PLUGIN_COUNTED = {
    "tests.ut.test_factory.TestCacheHandler::test_retrieve_cache",
    "tests.ut.test_factory.TestCacheHandler::test_retrieve_cache_new_instance",
    "tests.ut.test_factory.TestCacheHandler::test_multiple_caches",
}


def test_aiocache_suite_unchanged_by_instrumentation(tmp_path) -> None:
    root = upstream.sdist("aiocache")
    with redis_servers(tmp_path, ("plain", "instrumented")) as ports, concurrent.futures.ThreadPoolExecutor(2) as pool:
        env = {mode: {"OTEL_CONFORMANCE_REDIS_PORT": str(port)} for mode, port in ports.items()}
        futures = {mode: pool.submit(upstream.run_suite, root, _OPTIONS, mode=mode, plugin="aiocache_plugin",
                                     per_test=30, env=env[mode]) for mode in ports}
        plain, instrumented = futures["plain"].result(), futures["instrumented"].result()
        for test_id in _PLUGIN_COUNTED:  # known, explained: not counted below
            instrumented.outcomes.pop(test_id, None)
            plain.outcomes.pop(test_id, None)
        again = upstream.confirmed_instrumented_only(root, plain, instrumented, plugin="aiocache_plugin",
                                                     per_test=30, args=_OPTIONS[2:], env=env["instrumented"])
    passed = [t for t, o in plain.outcomes.items() if o == "passed"]
    assert len(passed) > 350, plain.output[-2000:]
    assert any("redis_cache" in t for t in passed) and any("test_plugins" in t for t in passed)
    assert len(plain.bad) < 5, sorted(plain.bad)
    assert again == []
    recorded = instrumented.recorded
    assert recorded.get("cache.get", 0) > 100 and recorded.get("cache.set", 0) > 100, recorded
    assert not [k for k in recorded if "Failed to detach context" in k], recorded
    assert not [k for k in recorded if k.startswith("logged")], recorded
