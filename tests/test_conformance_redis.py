"""redis-py's own tests for the commands the integration wraps (GET, MGET, SET and its variants,
DEL; sync and asyncio clients), at the installed version, from its sdist, against real redis-servers
(one per run: the plain and the instrumented run go side by side). The instrumented run may not fail
or hang a test the plain run passes. A few tests fail plain on this server (ACL users, cluster-only
commands); they must fail the same way, no more."""

from __future__ import annotations

import concurrent.futures

import pytest

from conformance import upstream
from conftest import redis_servers

pytest.importorskip("pytest_asyncio")

_COMMANDS = "get or mget or set or setex or psetex or setnx or delete or delitem or getitem"


def test_redis_command_suite_unchanged_by_instrumentation(tmp_path) -> None:
    root = upstream.sdist("redis")
    with redis_servers(tmp_path, ("plain", "instrumented")) as ports, concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {mode: pool.submit(upstream.run_suite, root, [
            "tests/test_commands.py", "tests/test_asyncio/test_commands.py", "-k", _COMMANDS,
            f"--redis-url=redis://127.0.0.1:{port}/9"], mode=mode, plugin="redis_plugin", per_test=30)
            for mode, port in ports.items()}
        plain, instrumented = futures["plain"].result(), futures["instrumented"].result()
    passed = [t for t, o in plain.outcomes.items() if o == "passed"]
    assert len(passed) > 150 and any("test_asyncio" in t for t in passed), plain.output[-2000:]
    assert len(plain.bad) < 10, sorted(plain.bad)
    assert upstream.instrumented_only(plain, instrumented) == []
    recorded = instrumented.recorded
    assert recorded.get("cache.get", 0) > 50 and recorded.get("cache.set", 0) > 100, recorded
