"""The demo (:func:`run_demo`): a semantic cache in a "legacy" and a "new" implementation — days of
history backfilled through the writer, faults injected on purpose, the real baselines and auditor,
then a live workload through the real pipeline — and synthetic history for tests and benchmarks
(:mod:`.synthetic`)."""

from .run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
