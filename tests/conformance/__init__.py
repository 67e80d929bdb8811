"""Conformance: the upstream test suites of the cache libraries we instrument, run plain and
instrumented (the ``*_plugin`` modules here switch instrumentation on inside the upstream run)."""
