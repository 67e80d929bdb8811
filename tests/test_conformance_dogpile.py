"""dogpile.cache's own cache tests (``tests/cache``, at the installed version, from its sdist; its lock
tests never reach a cache), run plain and with every region configured through the integration's
``CacheProxy`` (every span sampled), its redis backend's tests against real redis-servers (one per
run: the two runs go side by side). The instrumented run may not fail or hang a test the plain run
passes. Not run, for want of their servers or client libraries: memcached (pylibmc, pymemcache,
bmemcached: skipped alike in both runs), redis sentinel, valkey and the mako plugin (left out). The
threaded tests that sleep (``get_multi`` ten seconds, ``dogpile`` three) run for the memory backend
only, to keep the suite short."""

from __future__ import annotations

import concurrent.futures

import pytest

from conformance import upstream
from conftest import redis_servers

pytest.importorskip("dogpile.cache")

# no server or client library here (sentinel tests fail plain without one; the others skip)
_SKIP = [f"--ignore=tests/cache/{name}" for name in (
    "plugins/test_mako_cache.py", "test_redis_sentinel_backend.py", "test_valkey_backend.py",
    "test_valkey_sentinel_backend.py")]
# the threaded tests that sleep run once (memory backend), not once per backend class
_SLOW = "not (threaded_get_multi or threaded_dogpile) or MemoryBackendTest"
_OPTIONS = ["-p", "no:warnings", "-p", "no:logging", "-p", "no:asyncio"]  # as its own addopts, less coverage


def test_dogpile_suite_unchanged_by_instrumentation(tmp_path) -> None:
    root = upstream.sdist("dogpile.cache")
    with redis_servers(tmp_path, ("plain", "instrumented")) as ports, concurrent.futures.ThreadPoolExecutor(2) as pool:
        def run(mode: str, tests: list[str]) -> upstream.Run:
            return upstream.run_suite(root, [*tests, *_OPTIONS], mode=mode, plugin="dogpile_plugin", per_test=30,
                                      env={"DOGPILE_REDIS_PORT": str(ports[mode])})

        futures = {mode: pool.submit(run, mode, ["tests/cache", *_SKIP, "-k", _SLOW]) for mode in ports}
        plain, instrumented = futures["plain"].result(), futures["instrumented"].result()
        # a timing test failing instrumented only is run again, alone, in both modes
        again = upstream.confirmed_instrumented_only(
            root, plain, instrumented, plugin="dogpile_plugin", per_test=30, args=_OPTIONS,
            env={"DOGPILE_REDIS_PORT": str(ports["instrumented"])})
    passed = [t for t, o in plain.outcomes.items() if o == "passed"]
    assert len(passed) > 400, plain.output[-2000:]
    assert any("RedisTest" in t for t in passed) and any("test_region" in t for t in passed)
    assert len(plain.bad) < 5, sorted(plain.bad)  # timing tests a loaded machine can fail
    assert again == []
    recorded = instrumented.recorded
    assert recorded.get("cache.get", 0) > 500 and recorded.get("cache.set", 0) > 200, recorded
    assert not [k for k in recorded if k.startswith("logged")], recorded
