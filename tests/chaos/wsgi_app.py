"""A WSGI application for a real gunicorn worker pool: each request reads an instrumented cache
once and counts it in the ground truth (CHAOS_TRUTH). Imported in the master with ``--preload``
(it then works before the fork, so the workers inherit pending state), in each worker without."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth import Truth  # noqa: E402

from otel_supabase_exporter import configure, instrument_cache  # noqa: E402

telemetry = configure(service_name="gunicorn", export_interval_s=1)
cache = instrument_cache({f"k{i}": i for i in range(100)}, name="gunicorn", implementation="new")
truth = Truth(os.environ["CHAOS_TRUTH"])
for i in range(50):  # work done where the module is imported (the master, with --preload)
    cache.get(f"k{i}")
    truth.add()


def application(environ, start_response):
    cache.get(f"k{len(environ.get('PATH_INFO', ''))}")
    truth.add()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
