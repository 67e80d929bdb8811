"""Key hashes run none of the application's code and are the same in every process for equal keys."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import cachetools

from otel_supabase_exporter.instrument.keys import KeyHasher
from otel_supabase_exporter.instrument.series import entry_count

_KEYS = ["user:1", b"raw", 42, 2.5, None, True, ("a", 1, (2.0, b"x")), cachetools.keys.hashkey("q", 3)]


class _Hostile:
    """A key whose every hook fails the test if anything of ours calls it."""

    def __eq__(self, other):
        raise AssertionError("__eq__ called")

    def __hash__(self):
        return 7

    def __repr__(self):
        raise AssertionError("__repr__ called")


def test_equal_keys_hash_the_same_in_another_process() -> None:
    here = [KeyHasher(b"secret")(k) for k in _KEYS]
    code = ("import cachetools; from otel_supabase_exporter.instrument.keys import KeyHasher; h = KeyHasher(b'secret');"
            "print([h(k) for k in " + repr(_KEYS[:-1]) + " + [cachetools.keys.hashkey('q', 3)]])")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345"}).stdout.strip()
    assert there == repr(here) and all(h and len(h) == 16 for h in here)


def test_application_keys_run_no_application_code_and_are_not_kept() -> None:
    hasher = KeyHasher(b"secret")
    key = _Hostile()
    assert hasher(key) is None and hasher((1, key)) is None
    ref = weakref.ref(key)
    del key
    gc.collect()
    assert ref() is None  # nothing of ours holds it


def test_size_is_read_without_the_cache_s_own_len() -> None:
    calls = []

    def timer():
        calls.append(1)
        return 0

    ttl = cachetools.TTLCache(maxsize=10, ttl=5, timer=timer)
    ttl["a"] = 1
    calls.clear()
    assert entry_count(ttl) == 1 and calls == []  # its own len() would call the timer
    assert entry_count({"a": 1, "b": 2}) == 2

    class Own:
        def __len__(self):
            raise AssertionError("__len__ called")

    assert entry_count(Own()) is None
