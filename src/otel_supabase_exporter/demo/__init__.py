"""The demo: a semantic-cache workload with a "legacy" and a "new" implementation through the real
pipeline (:func:`run_demo`), and synthetic history for tests and benchmarks (:mod:`.synthetic`)."""

from .run import run_demo

__all__ = ["run_demo"]
