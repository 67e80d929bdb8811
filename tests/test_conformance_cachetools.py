"""cachetools' own test suite (at the installed version, from its sdist), run plain, then with every
cache it makes instrumented — wrapped (``instrument_cache(cache, ...)``) and decorated
(``@instrument_cache`` on the class) — with every span sampled and the size gauge read from another
thread. The instrumented runs may not fail or hang a test the plain run passes."""

from __future__ import annotations

import pytest

from conformance import upstream


@pytest.fixture(scope="module")
def suite():
    root = upstream.sdist("cachetools")
    return root, upstream.run_suite(root, ["tests"], mode="plain", plugin="cachetools_plugin")


@pytest.mark.parametrize("mode", ["instance", "class"])
def test_cachetools_suite_unchanged_by_instrumentation(suite, mode: str) -> None:
    root, plain = suite
    assert len(plain.outcomes) > 400, plain.output[-2000:]
    assert not plain.bad, f"the plain run fails already: {sorted(plain.bad)[:10]}"
    instrumented = upstream.run_suite(root, ["tests"], mode=mode, plugin="cachetools_plugin")
    assert upstream.instrumented_only(plain, instrumented) == []
    # it really was instrumented: operations and evictions became spans, the gauge was read
    recorded = instrumented.recorded
    assert recorded.get("cache.get", 0) > 1000 and recorded.get("cache.set", 0) > 500, recorded
    assert recorded.get("cache.evict", 0) > 100 and recorded.get("collections", 0) > 10, recorded
