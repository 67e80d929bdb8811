"""Django's own test settings (``tests/test_sqlite.py`` of its sdist), plus a redis cache on the real
redis-server when ``OTEL_CONFORMANCE_REDIS_URL`` is set, so the suite's redis backend tests run."""

import os

from test_sqlite import *  # noqa: F401,F403

_redis = os.environ.get("OTEL_CONFORMANCE_REDIS_URL")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if _redis:
    CACHES["redis"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis}
