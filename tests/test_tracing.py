"""Optional OpenTelemetry tracing (redis_ckpt.tracing), checked with the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from redis_ckpt import AsyncRedisSaver, ConfigurationError, RedisSaver, RetryConfig, StoreUnavailableError
from redis_ckpt.integrations import otel_tracing
from redis_ckpt.integrations.embedded_redis import free_port
from tests.conftest import fresh_saver

THREAD = "customer-42:secret"


@pytest.fixture
def exporter() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield spans, provider
    otel_tracing.uninstrument()


def _config(checkpoint_id: str | None = None) -> Any:
    configurable = {"thread_id": THREAD, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _by_operation(spans: InMemorySpanExporter) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for span in spans.get_finished_spans():
        if "db.operation.name" in span.attributes:  # not the test's own spans
            out.setdefault(span.attributes["db.operation.name"], []).append(span)
    return out


def test_not_instrumented_leaves_the_saver_untouched() -> None:
    assert not otel_tracing.is_instrumented()
    assert RedisSaver.put.__qualname__ == "RedisSaver.put"
    assert "delete_thread" not in RedisSaver.__dict__  # inherited, not overridden


def test_a_span_per_operation_with_db_attributes_round_trips_and_a_hashed_thread_id(
    exporter: Any, redis_url: str, prefix: str
) -> None:
    spans, provider = exporter
    otel_tracing.instrument(tracer_provider=provider)
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        stored = saver.put(_config(), empty_checkpoint(), {"source": "input", "step": -1}, {})
        saver.put_writes(stored, [("a", 1)], "task-1")
        assert saver.get_tuple(_config()) is not None
        assert len(list(saver.list(_config()))) == 1
        saver.prune([THREAD], keep_last=1)
        saver.delete_for_runs(run_ids=["run-1", "run-2"])
        saver.delete_thread(THREAD)
    got = _by_operation(spans)
    assert got["prune"][0].attributes["redis_ckpt.thread_count"] == 1
    assert got["delete_for_runs"][0].attributes["redis_ckpt.run_count"] == 2
    assert {"setup", "put", "put_writes", "get_tuple", "list", "delete_thread"} <= set(got)
    put = got["put"][0]
    assert put.name == f"put {prefix}" and put.kind == SpanKind.CLIENT
    attrs = dict(put.attributes)
    assert attrs["db.system.name"] == "redis" and attrs["db.collection.name"] == prefix
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == int(redis_url.rsplit(":", 1)[1])
    assert attrs["redis_ckpt.thread_id.hash"] == hashlib.sha256(THREAD.encode()).hexdigest()[:16]
    # The documented round trips: one for put, put_writes and get_tuple.
    for operation in ("put", "put_writes", "get_tuple"):
        assert got[operation][0].attributes["redis_ckpt.round_trips"] == 1, operation
        assert got[operation][0].attributes["redis_ckpt.bytes_sent"] > 0
        assert got[operation][0].attributes["redis_ckpt.retries"] == 0
    assert got["list"][0].attributes["redis_ckpt.round_trips"] >= 1
    for span in spans.get_finished_spans():  # the plain thread id never reaches a span
        assert all(THREAD not in str(v) for v in span.attributes.values())


def test_async_spans_are_children_of_the_callers_span(exporter: Any, redis_url: str, prefix: str) -> None:
    spans, provider = exporter
    otel_tracing.instrument(tracer_provider=provider, thread_id="omit")
    tracer = provider.get_tracer("test")

    async def run(saver: AsyncRedisSaver) -> None:
        with tracer.start_as_current_span("graph step"):
            await saver.aput(_config(), empty_checkpoint(), {"source": "input", "step": -1}, {})
            assert await saver.aget_tuple(_config()) is not None
            assert len([c async for c in saver.alist(_config())]) == 1

    with fresh_saver(AsyncRedisSaver, redis_url, prefix) as saver:
        asyncio.run(run(saver))
        asyncio.run(saver.adelete_thread(THREAD))
    got = _by_operation(spans)
    (parent,) = (s for s in spans.get_finished_spans() if s.name == "graph step")
    for operation in ("put", "get_tuple", "list"):
        (span,) = got[operation]
        assert span.parent is not None and span.parent.span_id == parent.context.span_id, operation
        assert "redis_ckpt.thread_id.hash" not in span.attributes  # thread_id="omit"
    assert got["delete_thread"][0].parent is None


def test_retries_and_errors_are_recorded(exporter: Any) -> None:
    spans, provider = exporter
    otel_tracing.instrument(tracer_provider=provider)
    nobody = f"redis://127.0.0.1:{free_port()}"
    saver = RedisSaver(nobody, retry=RetryConfig(attempts=3, initial_wait=0.01, max_wait=0.02))
    with pytest.raises(StoreUnavailableError):
        saver.get_tuple(_config())
    saver.close()
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["redis_ckpt.retries"] == 2
    assert any(e.name == "exception" for e in span.events)


def test_uninstrument_restores_the_methods_and_bad_settings_are_refused(
    exporter: Any, redis_url: str, prefix: str
) -> None:
    spans, provider = exporter
    original_put = RedisSaver.put
    otel_tracing.instrument(tracer_provider=provider)
    otel_tracing.instrument(tracer_provider=provider)  # idempotent: one observer
    assert RedisSaver.put is original_put and otel_tracing.is_instrumented()  # a hook, not a patch
    otel_tracing.uninstrument()
    assert RedisSaver.put is original_put and "delete_thread" not in RedisSaver.__dict__
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        saver.put(_config(), empty_checkpoint(), {"source": "input", "step": -1}, {})
    assert spans.get_finished_spans() == ()
    with pytest.raises(ConfigurationError, match="thread_id"):
        otel_tracing.instrument(thread_id="plain")


def test_an_operation_run_by_another_has_its_own_child_span(exporter: Any, redis_url: str, prefix: str) -> None:
    spans, provider = exporter
    otel_tracing.instrument(tracer_provider=provider)
    otel_tracing.instrument(tracer_provider=provider)  # idempotent: one span per call
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        saver.put(_config(), empty_checkpoint(), {"source": "input", "step": -1}, {})
        assert saver.get_channel_values(THREAD) == {}
    got = _by_operation(spans)
    assert len(got["put"]) == 1
    (outer,) = got["get_channel_values"]
    (inner,) = got["get_tuple"]  # get_channel_values reads through get_tuple
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert inner.attributes["redis_ckpt.round_trips"] == 1 and outer.attributes["redis_ckpt.round_trips"] == 0
