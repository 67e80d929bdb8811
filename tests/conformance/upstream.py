"""Fetch a library's sdist at the installed version (cached between runs) and run its own test suite
in a subprocess, once per mode, reading each test's outcome from a JUnit XML report."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("OTEL_SUPABASE_UPSTREAM_CACHE", Path.home() / ".cache" / "otel-supabase-upstream"))


def sdist(dist: str) -> Path:
    """The unpacked sdist of ``dist`` at its installed version (downloaded once, with pip)."""
    version = importlib.metadata.version(dist)
    target = CACHE / f"{dist}-{version}"
    done = target / ".unpacked"
    if done.exists():
        return next(p for p in target.iterdir() if p.is_dir())
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                    f"{dist}=={version}", "-d", str(target)], check=True, capture_output=True, timeout=300)
    archive = next(p for p in target.iterdir() if p.name.endswith((".tar.gz", ".zip")))
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    done.touch()
    return next(p for p in target.iterdir() if p.is_dir())


@dataclass
class Run:
    """Outcome per test id (passed, failed, error, skipped) of one mode."""

    mode: str
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    returncode: int = 0
    output: str = ""
    recorded: dict[str, int] = field(default_factory=dict)

    @property
    def bad(self) -> set[str]:
        return {t for t, o in self.outcomes.items() if o in ("failed", "error")}


def run_suite(root: Path, args: list[str], *, mode: str, plugin: str, env: dict[str, str] | None = None,
              timeout: float = 600, per_test: float = 10) -> Run:
    """``pytest args`` in ``root`` with ``-p plugin`` and ``OTEL_CONFORMANCE_MODE=mode``; a test that
    runs longer than ``per_test`` seconds fails (a deadlock fails in seconds, not never)."""
    report = root / f".junit-{plugin}-{mode}.xml"
    recorded = root / f".recorded-{plugin}-{mode}.json"
    for stale in (report, recorded):
        stale.unlink(missing_ok=True)
    full_env = {**os.environ, **(env or {}), "OTEL_CONFORMANCE_MODE": mode, "OTEL_CONFORMANCE_STATS": str(recorded),
                "PYTHONPATH": os.pathsep.join([str(HERE), str(root)]), "PYTHONDONTWRITEBYTECODE": "1"}
    full_env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", plugin, "-p", "no:cacheprovider", "-o", "addopts=",
           "--timeout", str(per_test), "--timeout-method", "signal", "--junitxml", str(report), *args]
    proc = subprocess.run(cmd, cwd=root, env=full_env, capture_output=True, text=True, timeout=timeout)
    run = Run(mode, returncode=proc.returncode, output=(proc.stdout + proc.stderr)[-20000:])
    if not report.exists():
        raise AssertionError(f"{mode}: no report (exit {proc.returncode})\n{run.output[-4000:]}")
    if recorded.exists():
        run.recorded = json.loads(recorded.read_text())
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                run.messages[test_id] = (child.get("message") or "")[:300]
                break
        if run.outcomes.get(test_id) in ("failed", "error"):
            continue  # a teardown error keeps the failure already read
        run.outcomes[test_id] = outcome
    return run


def instrumented_only(plain: Run, instrumented: Run) -> list[str]:
    """Tests that fail or hang instrumented but not plain, or that ran in one mode only."""
    found = [f"{t}: {instrumented.messages.get(t, '')}" for t in sorted(instrumented.bad - plain.bad)]
    missing = sorted(set(plain.outcomes) - set(instrumented.outcomes))
    found += [f"{t}: did not run instrumented" for t in missing]
    return found


def node_id(root: Path, test_id: str) -> str:
    """The pytest node id of a JUnit ``classname::name`` (``tests.cache.test_x.SomeTest::test_y``)."""
    classname, _, name = test_id.partition("::")
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        path = Path(*parts[:i]).with_suffix(".py")
        if (root / path).exists():
            return "::".join([path.as_posix(), *parts[i:], name])
    return test_id


def confirmed_instrumented_only(root: Path, plain: Run, instrumented: Run, *, reruns: int = 5,
                                **run_args) -> list[str]:
    """:func:`instrumented_only`, each such test run again ``reruns`` times in each mode, plain and
    instrumented in turn (``run_args`` as for :func:`run_suite`, without the tests). Counted: a test
    whose instrumented failures exceed its plain ones by more than half the reruns (a deterministic
    difference fails 5 of 5 against 0 of 5). Not counted: a timing test that failed
    once under load, and one that is flaky upstream in both modes alike (aiocache's redis stampede
    test loses its own lock race about 3 times in 4 when run alone, plain or instrumented)."""
    suspects = sorted(instrumented.bad - plain.bad)
    missing = sorted(set(plain.outcomes) - set(instrumented.outcomes))
    found = [f"{t}: did not run instrumented" for t in missing]
    if not suspects:
        return found
    ids = [node_id(root, t) for t in suspects]
    extra = run_args.pop("args", [])
    failures = {mode: dict.fromkeys(suspects, 0) for mode in ("plain", "instrumented")}
    for _ in range(reruns):
        for mode in failures:
            again = run_suite(root, [*ids, *extra], mode=mode if mode == "plain" else instrumented.mode, **run_args)
            for test_id in suspects:
                if again.outcomes.get(test_id, "failed") in ("failed", "error"):
                    failures[mode][test_id] += 1
    for test_id in suspects:
        instrumented_failed, plain_failed = failures["instrumented"][test_id], failures["plain"][test_id]
        if instrumented_failed > plain_failed + reruns // 2:
            found.append(f"{test_id}: failed {instrumented_failed} of {reruns} reruns instrumented, "
                         f"{plain_failed} plain: {instrumented.messages.get(test_id, '')}")
    return found


def start_django(root: Path, *, mode: str, env: dict[str, str], labels: list[str]) -> tuple[subprocess.Popen, Path]:
    """Start Django's own ``tests/runtests.py labels`` under ``django_driver`` (plain or instrumented)."""
    tests = root / "tests"
    results = tests / f".results-django-{mode}.json"
    recorded = tests / f".recorded-django-{mode}.json"
    for stale in (results, recorded):
        stale.unlink(missing_ok=True)
    full_env = {**os.environ, **env, "OTEL_CONFORMANCE_MODE": mode, "OTEL_CONFORMANCE_RESULTS": str(results),
                "OTEL_CONFORMANCE_STATS": str(recorded), "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": os.pathsep.join([str(HERE), str(tests), str(root)])}
    proc = subprocess.Popen([sys.executable, str(HERE / "django_driver.py"), *labels, "--parallel=1",
                             "--settings=django_settings", "-v", "1"], cwd=tests, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, tests


def finish_django(proc: subprocess.Popen, tests: Path, mode: str, timeout: float = 600) -> Run:
    """Wait for a run ``start_django`` started; its outcomes."""
    output, _ = proc.communicate(timeout=timeout)
    results = tests / f".results-django-{mode}.json"
    if not results.exists():
        raise AssertionError(f"{mode}: no results (exit {proc.returncode})\n{output[-4000:]}")
    data = json.loads(results.read_text())
    run = Run(mode, outcomes=data["outcomes"], messages=data["messages"], returncode=proc.returncode,
              output=output[-20000:])
    recorded = tests / f".recorded-django-{mode}.json"
    if recorded.exists():
        run.recorded = json.loads(recorded.read_text())
    return run
