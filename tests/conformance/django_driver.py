"""Runs Django's ``tests/runtests.py`` (argv: its arguments) with ``OTEL_CONFORMANCE_MODE``:
``plain``, or ``instrumented`` (the Django and redis-py integrations switched on right after
``django.setup()``, every span sampled). Each test's outcome goes to ``OTEL_CONFORMANCE_RESULTS``
(JSON); a test running longer than ``OTEL_CONFORMANCE_TIMEOUT`` seconds (default 60: some tests sleep 7 s
and retry up to three times) is interrupted and fails."""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import unittest

MODE = os.environ.get("OTEL_CONFORMANCE_MODE", "plain")
TIMEOUT = int(os.environ.get("OTEL_CONFORMANCE_TIMEOUT", "60"))
outcomes: dict[str, str] = {}
messages: dict[str, str] = {}


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout(f"test ran longer than {TIMEOUT}s")


def _record(outcome: str):
    def hook(original):
        def method(self, test, *args):
            test_id = test.id()
            if outcome == "passed":
                outcomes.setdefault(test_id, "passed")
            else:
                if outcome != "skipped" or test_id not in outcomes:
                    outcomes[test_id] = outcome
                if args and outcome in ("failed", "error"):
                    err = args[0]
                    messages[test_id] = f"{err[0].__name__}: {err[1]}"[:300] if isinstance(err, tuple) else ""
            return original(self, test, *args)
        return method
    return hook


def _sub_test(original):
    def addSubTest(self, test, subtest, err):
        if err is not None:
            outcomes[test.id()] = "failed"
            messages[test.id()] = f"{err[0].__name__}: {err[1]}"[:300]
        return original(self, test, subtest, err)
    return addSubTest


def _timed(original):
    def run(self, result=None):
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(TIMEOUT)
        try:
            return original(self, result)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    return run


def _instrumenting(setup):
    def instrumented_setup(*args, **kwargs):
        setup(*args, **kwargs)
        import _telemetry
        from otel_supabase_exporter.integrations import django as django_integration
        from otel_supabase_exporter.integrations import redis as redis_integration

        _telemetry.start()
        django_integration.instrument()
        redis_integration.instrument()
    return instrumented_setup


def main() -> None:
    R = unittest.TestResult
    R.addSuccess = _record("passed")(R.addSuccess)
    R.addFailure = _record("failed")(R.addFailure)
    R.addError = _record("error")(R.addError)
    R.addSkip = _record("skipped")(R.addSkip)
    R.addUnexpectedSuccess = _record("failed")(R.addUnexpectedSuccess)
    R.addExpectedFailure = _record("passed")(R.addExpectedFailure)
    R.addSubTest = _sub_test(R.addSubTest)
    unittest.TestCase.run = _timed(unittest.TestCase.run)
    if MODE != "plain":
        import django

        django.setup = _instrumenting(django.setup)
    script = os.path.join(os.getcwd(), "runtests.py")
    sys.argv = [script, *sys.argv[1:]]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        with open(os.environ["OTEL_CONFORMANCE_RESULTS"], "w") as fh:
            json.dump({"outcomes": outcomes, "messages": messages}, fh)
        if MODE != "plain":
            import _telemetry

            _telemetry.write_stats()


if __name__ == "__main__":
    main()
