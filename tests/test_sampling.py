"""Sampling decided before a span is built (``instrument/sampling.py``), with the in-memory span
exporter and metric reader of ``opentelemetry-test-utils``' ``TestBase`` (as the contrib
instrumentors' tests use them): the SDK's own samplers keep exactly the spans they keep without the
pre-decision, and a span they drop is never built."""

from __future__ import annotations

import collections

import pytest

pytest.importorskip("opentelemetry.test.test_base")

from opentelemetry.sdk.trace.sampling import (  # noqa: E402
    ALWAYS_OFF, ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased,
)
from opentelemetry.test.test_base import TestBase  # noqa: E402

from otel_supabase_exporter import instrument_cache  # noqa: E402

_LIMIT = (1 << 64) - 1


class _CountingSampler(Sampler):
    """An application's own sampler: never decided for it, asked by the SDK for every span."""

    def __init__(self) -> None:
        self.asked = 0

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None):
        self.asked += 1
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.asked % 2 else Decision.DROP)

    def get_description(self) -> str:
        return "counting"


class SamplingTest(TestBase):
    def _cache(self, sampler, name="sampled"):
        provider, exporter = self.create_tracer_provider(sampler=sampler)
        cache = instrument_cache({}, name=name, tracer_provider=provider, meter_provider=self.meter_provider)
        tracer = cache._self_series.current_tracer
        built = collections.Counter()
        start_span = tracer.start_span

        def counting_start_span(*args, **kwargs):
            built["spans"] += 1
            return start_span(*args, **kwargs)

        tracer.start_span = counting_start_span
        return cache, exporter, built

    def _operations(self, cache, n: int) -> None:
        for i in range(n):
            cache[i % 50] = i
            cache.get(i % 100)

    def test_dropped_spans_are_never_built(self) -> None:
        for sampler in (ALWAYS_OFF, ParentBased(ALWAYS_OFF), TraceIdRatioBased(0.0)):
            cache, exporter, built = self._cache(sampler)
            self._operations(cache, 200)
            assert built["spans"] == 0 and exporter.get_finished_spans() == ()
        points = self.get_sorted_metrics()  # the metrics still count every operation
        assert sum(p.value for m in points if m.name == "cache.operations" for p in m.data.data_points
                   if p.attributes["cache.name"] == "sampled") == 3 * 400

    def test_a_ratio_keeps_the_ratio_and_builds_only_what_it_keeps(self) -> None:
        sampler = ParentBased(TraceIdRatioBased(0.25))
        cache, exporter, built = self._cache(sampler)
        self._operations(cache, 4000)
        spans = exporter.get_finished_spans()
        # 8,000 operations at 25 %: 2,000 expected, sd 39; drawing twice (rate²) would give 500
        assert 1800 < len(spans) < 2200
        assert built["spans"] == len(spans)
        bound = TraceIdRatioBased.get_bound_for_rate(0.25)
        assert all((s.context.trace_id & _LIMIT) < bound for s in spans)  # the SDK's own rule holds for each
        assert len({s.context.trace_id for s in spans}) == len(spans)

    def test_parent_based_follows_the_parent(self) -> None:
        cache, exporter, built = self._cache(ParentBased(ALWAYS_OFF))
        outer_provider, outer_exporter = self.create_tracer_provider(sampler=ALWAYS_ON)
        with outer_provider.get_tracer("app").start_as_current_span("request") as request:
            cache["k"] = 1
            cache.get("k")
        spans = exporter.get_finished_spans()
        assert [s.name for s in spans] == ["cache.set", "cache.get"]
        assert all(s.parent.span_id == request.get_span_context().span_id for s in spans)
        assert all(s.context.trace_id == request.get_span_context().trace_id for s in spans)
        cache.get("k")  # no parent: the root sampler (off) drops it, unbuilt
        assert built["spans"] == 2

    def test_a_ratio_child_follows_the_trace_id(self) -> None:
        cache, exporter, _ = self._cache(TraceIdRatioBased(0.5))  # not parent-based: decides on the trace id
        outer_provider, _ = self.create_tracer_provider(sampler=ALWAYS_ON)
        bound = TraceIdRatioBased.get_bound_for_rate(0.5)
        expected = 0
        for _ in range(200):
            with outer_provider.get_tracer("app").start_as_current_span("request") as request:
                cache.get("k")
                expected += (request.get_span_context().trace_id & _LIMIT) < bound
        assert len(exporter.get_finished_spans()) == expected

    def test_an_unknown_sampler_is_asked_by_the_sdk_for_every_span(self) -> None:
        sampler = _CountingSampler()
        cache, exporter, built = self._cache(sampler)
        assert cache._self_series.decide is None
        self._operations(cache, 100)
        assert sampler.asked == built["spans"] == 200 and len(exporter.get_finished_spans()) == 100

    def test_a_ratio_root_id_is_the_one_the_sdk_would_draw_itself(self) -> None:
        # Under the SDK's RandomIdGenerator the decision draws the low 64 bits, then the high 64 only
        # when kept: the same words of the generator in the same order as getrandbits(128).
        import random

        class _KeepAll(_CountingSampler):  # unknown here: the SDK draws every id itself
            def should_sample(self, *args, **kwargs):
                return SamplingResult(Decision.RECORD_AND_SAMPLE)

        ids = {}
        for label, sampler in (("decided here", TraceIdRatioBased(1.0)), ("by the sdk", _KeepAll())):
            cache, exporter, _ = self._cache(sampler, name=f"ids-{len(ids)}")
            random.seed(1234)
            self._operations(cache, 50)
            ids[label] = [(s.context.trace_id, s.context.span_id) for s in exporter.get_finished_spans()]
        assert cache._self_series.decide is None  # the second really was the SDK's own path
        assert len(ids["decided here"]) == 100 and ids["decided here"] == ids["by the sdk"]

    def test_another_id_generator_is_asked_for_whole_ids(self) -> None:
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        class _Alternating(IdGenerator):  # low bits 0, then all ones: a 50 % ratio keeps every other
            def __init__(self) -> None:
                self.spans = self.traces = 0

            def generate_span_id(self) -> int:
                self.spans += 1
                return self.spans

            def generate_trace_id(self) -> int:
                self.traces += 1
                return (self.traces << 64) | (0 if self.traces % 2 else _LIMIT)

        provider, exporter = self.create_tracer_provider(sampler=ParentBased(TraceIdRatioBased(0.5)),
                                                         id_generator=_Alternating())
        cache = instrument_cache({}, name="alternating", tracer_provider=provider, meter_provider=self.meter_provider)
        for i in range(100):
            cache[i] = i
        spans = exporter.get_finished_spans()
        assert len(spans) == 50 and all(s.context.trace_id & _LIMIT == 0 for s in spans)

    def test_a_runtime_context_set_later_is_the_one_read(self) -> None:
        # The hot path reads the default runtime context's ContextVar directly; a runtime context
        # installed afterwards must be the one decisions read (a stale read would see no parent here).
        from opentelemetry import context as otel_context
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

        class _Own(ContextVarsRuntimeContext):
            pass

        cache, exporter, _ = self._cache(ParentBased(ALWAYS_OFF), name="own-runtime")
        outer_provider, _ = self.create_tracer_provider(sampler=ALWAYS_ON)
        saved = otel_context._RUNTIME_CONTEXT
        otel_context._RUNTIME_CONTEXT = _Own()
        try:
            with outer_provider.get_tracer("app").start_as_current_span("request") as request:
                cache["k"] = 1
                assert cache.get("k") == 1
            cache.get("k")  # no parent: dropped
        finally:
            otel_context._RUNTIME_CONTEXT = saved
        spans = exporter.get_finished_spans()
        assert [s.name for s in spans] == ["cache.set", "cache.get"]
        assert all(s.parent.span_id == request.get_span_context().span_id for s in spans)


class SpanContentTest(TestBase):
    def test_a_sampled_span_is_current_during_the_call_and_says_hit_or_miss_by_cache_result(self) -> None:
        from opentelemetry import context, trace

        from otel_supabase_exporter.rows import Rejected
        from otel_supabase_exporter.rows.spans import cache_span_row

        seen = []

        class Recording(dict):
            def get(self, key, default=None):  # the cache's own code sees our span as the current one
                seen.append((trace.get_current_span(), dict(context.get_current())))
                return super().get(key, default)

        provider, exporter = self.create_tracer_provider(sampler=ParentBased(ALWAYS_ON))
        cache = instrument_cache(Recording(), name="content", tracer_provider=provider,
                                 meter_provider=self.meter_provider)
        before = dict(context.get_current())
        cache["k"] = "value"
        cache.get("k")
        cache.get("missing")
        assert dict(context.get_current()) == before  # detached after each call
        spans = exporter.get_finished_spans()
        assert [(s.name, s.attributes["cache.result"]) for s in spans] == [
            ("cache.set", "ok"), ("cache.get", "hit"), ("cache.get", "miss")]
        assert [current.get_span_context().span_id for current, _ in seen] == [
            s.get_span_context().span_id for s in spans[1:]]
        assert all(len(ctx) == len(before) + 1 for _, ctx in seen)  # the call's context: ours plus its span
        assert not any("cache.hit" in s.attributes for s in spans)  # cache.result says it (telemetry.md)
        assert spans[0].attributes["cache.item_size"] == 5 and "cache.size" in spans[0].attributes
        rejected = Rejected()
        rows = [cache_span_row(s, rejected) for s in spans]
        assert rejected.total == 0 and [row[4] for row in rows] == ["set", "hit", "miss"]  # operation_type
