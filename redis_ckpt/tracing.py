"""Optional OpenTelemetry tracing: one CLIENT span per saver operation (`pip install 'redis-ckpt[otel]'`).

    from redis_ckpt import tracing
    tracing.instrument()                    # thread ids hashed (default)
    tracing.instrument(thread_id="omit")    # no thread id attribute at all

Opt-in, like OpenTelemetry's own instrumentors: until `instrument()` is called each saver operation
only finds it has no observer (one attribute read), so there is no cost, with or without
OpenTelemetry installed. `instrument()` sets the observer the operations hand themselves to; no
method is ever replaced. `uninstrument()` removes it. Both faces are covered: the async methods run
the sync ones, and the caller's context (its current span) crosses into the saver's threads.

Span name `"<operation> <checkpoint prefix>"`; attributes follow the database semantic conventions
(`db.system.name`, `db.operation.name`, `db.collection.name`, `db.namespace`, `server.address`,
`server.port`) plus `redis_ckpt.round_trips` and `redis_ckpt.bytes_sent` (counted on the saver's
connections: one round trip is one write to the socket, a pipeline or transaction included),
`redis_ckpt.retries`, `redis_ckpt.thread_id.hash` (first 16 hex digits of its SHA-256) and, for
operations on several threads, `redis_ckpt.thread_count`. Values, metadata and plain thread ids
never reach a span.

The code is redis_ckpt/integrations/otel_tracing.py; this module only hands its names on.
"""

from redis_ckpt.integrations.otel_tracing import (
    INSTRUMENTATION_NAME,
    OPERATIONS,
    THREAD_ID_MODES,
    instrument,
    is_instrumented,
    record_retry,
    uninstrument,
)

__all__ = [
    "INSTRUMENTATION_NAME",
    "OPERATIONS",
    "THREAD_ID_MODES",
    "instrument",
    "is_instrumented",
    "record_retry",
    "uninstrument",
]
