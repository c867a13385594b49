"""Cost of OpenTelemetry tracing per saver operation, side by side.

    python -m benchmarks.tracing [--url redis://...] [--rounds 7] [--seconds 0.5]

Three modes on one saver and one server, each run for the same wall time per round in a rotating
order: not instrumented (the default), instrumented with no SDK configured (OpenTelemetry's no-op
tracer), and instrumented with the SDK exporting to memory. Prints, for put and get_tuple (sync)
and aget_tuple (async), the median over rounds of the client process's CPU time per operation (all
its threads; the Redis server is another process), which a busy shared machine disturbs far less
than wall time, and its ratio to "off"; then the median ops/s (wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from redis_ckpt import AsyncRedisSaver
from redis_ckpt.integrations import otel_tracing
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis
from tests.conftest import purge_prefix
from tests.helpers import checkpoint, config

MODES = ("off", "no-op tracer", "SDK, in-memory export")


def _set_mode(mode: str, exporter: InMemorySpanExporter) -> None:
    otel_tracing.uninstrument()
    if mode == "no-op tracer":
        otel_tracing.instrument(tracer_provider=NoOpTracerProvider())
    elif mode == "SDK, in-memory export":
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        otel_tracing.instrument(tracer_provider=provider)


def _measure(op: Callable[[], Any], seconds: float) -> tuple[float, float]:
    """(CPU microseconds per op, ops per wall second)."""
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        op()
        count += 1
    return (time.process_time() - cpu_start) / count * 1e6, count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args(argv)
    server = None if args.url else EmbeddedRedis(modules=False).start()
    url = args.url or server.url  # type: ignore[union-attr]
    prefix = f"bench_tracing_{uuid.uuid4().hex[:8]}"
    saver = AsyncRedisSaver(url, checkpoint_prefix=prefix, checkpoint_write_prefix=f"{prefix}_write")
    exporter = InMemorySpanExporter()
    loop = asyncio.new_event_loop()
    try:
        saver.setup()
        cfg = config("t1")
        stored = saver.put(cfg, checkpoint({"a": "x" * 200}, {"a": 1}), {"source": "loop", "step": 0}, {"a": 1})
        workloads: dict[str, Callable[[], Any]] = {
            "put": lambda: saver.put(cfg, checkpoint({"a": "y"}, {"a": 2}), {"source": "loop", "step": 1}, {"a": 2}),
            "get_tuple": lambda: saver.get_tuple(stored),
            "aget_tuple": lambda: loop.run_until_complete(saver.aget_tuple(stored)),
        }
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            order = MODES[round_ % 3 :] + MODES[: round_ % 3]
            for name, op in workloads.items():
                for mode in order:
                    _set_mode(mode, exporter)
                    results.setdefault((name, mode), []).append(_measure(op, args.seconds))
                    exporter.clear()
        otel_tracing.uninstrument()
        print(f"{'operation':<12} " + " ".join(f"{m:>36}" for m in MODES))
        for name in workloads:
            cpu_base = statistics.median(r[0] for r in results[(name, "off")])
            cells = []
            for mode in MODES:
                cpu = statistics.median(r[0] for r in results[(name, mode)])
                ops = statistics.median(r[1] for r in results[(name, mode)])
                cells.append(f"{cpu:>6.1f} us CPU {cpu / cpu_base:>5.2f}x {ops:>8,.0f} ops/s")
            print(f"{name:<12} " + " ".join(f"{c:>36}" for c in cells))
    finally:
        otel_tracing.uninstrument()
        loop.close()
        saver.close()
        purge_prefix(url, prefix)
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
