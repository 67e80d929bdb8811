"""Rows: OpenTelemetry data → the tables' rows. Pure functions: no environment, no I/O, no SDK
import (spans, log records and metric data are read by attribute).

Public here: the row shapes (:mod:`.schema`), :func:`~.spans.stream_spans`/:func:`~.spans.map_spans`,
:func:`~.logs.log_rows`, :func:`~.metrics.map_metrics`, the attribute filter.
"""

from ..histogram import ExpHistogram, merge
from .logs import log_rows
from .metrics import MetricRows, map_metrics
from .sanitize import AttributeFilter, Rejected, clean_text, set_attribute_filter
from .schema import EVENT, MINUTE, RAW, MinuteRow, row_datetime
from .spans import SpanRows, map_spans, span_row_id, stream_spans

__all__ = [
    "EVENT", "MINUTE", "RAW", "AttributeFilter", "ExpHistogram", "MetricRows", "MinuteRow", "Rejected", "SpanRows",
    "clean_text", "log_rows", "map_metrics", "map_spans", "merge", "row_datetime", "set_attribute_filter",
    "span_row_id", "stream_spans",
]
