"""The documented path of the OpenTelemetry tracing integration (redis_ckpt/integrations/otel_tracing.py)."""

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
