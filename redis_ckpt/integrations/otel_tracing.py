"""OpenTelemetry tracing of the saver's operations: wraps RedisSaver's methods in spans, counts round
trips and bytes on its connections, and counts retries through the saver's retry hooks. Users import
it as `redis_ckpt.tracing`, whose docstring is the guide (options, attributes, cost).
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

from redis_ckpt import __version__
from redis_ckpt.errors import ConfigurationError
from redis_ckpt.redis_io.retry import SAVER_RETRY_HOOKS
from redis_ckpt.sync.redis_saver import RedisSaver

INSTRUMENTATION_NAME = "redis_ckpt"
THREAD_ID_MODES = ("hash", "omit")


@dataclass
class _Counters:
    round_trips: int = 0
    bytes_sent: int = 0
    retries: int = 0


_current: contextvars.ContextVar[_Counters | None] = contextvars.ContextVar("redis_ckpt_counters", default=None)
_originals: dict[str, tuple[Callable[..., Any], bool]] = {}  # operation -> (method, defined on RedisSaver)
_counting_classes: dict[type, type] = {}


def record_retry() -> None:
    """Run by the saver's retry loop once instrumented (a SAVER_RETRY_HOOKS hook): counts a retry on
    the current operation's span, if any."""
    counters = _current.get()
    if counters is not None:
        counters.retries += 1


def _counting_class(base: type) -> type:
    """`base` (a redis-py connection class) that counts writes and bytes on the current operation."""
    if base not in _counting_classes:

        def send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
            counters = _current.get()
            if counters is not None:
                counters.round_trips += 1
                parts = [command] if isinstance(command, (bytes, str, memoryview)) else command
                counters.bytes_sent += sum(len(p) for p in parts)
            base.send_packed_command(self, command, check_health)  # type: ignore[attr-defined]

        _counting_classes[base] = type(
            f"Counting{base.__name__}", (base,), {"send_packed_command": send_packed_command}
        )
    return _counting_classes[base]


def _count_on(saver: RedisSaver) -> None:
    """Make the saver's pool count on its connections: new ones are opened as counting ones, and
    those it already holds (e.g. from setup, or the topology probe at construction) become counting
    ones too (a subclass that only wraps `send_packed_command`, so swapping the class is safe)."""
    pool = getattr(saver.client, "connection_pool", None)  # a cluster client has one per node: not counted
    if pool is None or pool.connection_class in _counting_classes.values():
        return
    pool.connection_class = _counting_class(pool.connection_class)
    # BlockingConnectionPool keeps every connection in `_connections`; ConnectionPool splits them.
    held = [*getattr(pool, "_connections", ()), *getattr(pool, "_available_connections", ()),
            *getattr(pool, "_in_use_connections", ())]  # fmt: skip
    for connection in held:
        if connection is not None and type(connection) not in _counting_classes.values():
            connection.__class__ = _counting_class(type(connection))


def _hash(thread_id: Any) -> str:
    return hashlib.sha256(str(thread_id).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _thread_of(args: tuple[Any, ...], kwargs: dict[str, Any], where: str) -> Any:
    if where == "config":
        config = kwargs.get("config", args[0] if args else None)
        return ((config or {}).get("configurable") or {}).get("thread_id")
    return kwargs.get("thread_id", kwargs.get("source_thread_id", args[0] if args else None))


# operation -> where its thread id is: "config" (first argument), "arg" (first argument),
# "many" (a sequence of thread or run ids: only their number is recorded), "" (none).
OPERATIONS = {
    "setup": "",
    "put": "config",
    "put_writes": "config",
    "get_tuple": "config",
    "list": "config",
    "get_delta_channel_history": "config",
    "get_channel_values": "arg",
    "delete_thread": "arg",
    "copy_thread": "arg",
    "delete_for_runs": "many",
    "prune": "many",
}


def _attributes(saver: RedisSaver, operation: str, args: tuple[Any, ...], kwargs: dict[str, Any], mode: str) -> Any:
    pool = getattr(saver.client, "connection_pool", None)
    kw = pool.connection_kwargs if pool is not None else saver.client.get_connection_kwargs()  # type: ignore[union-attr]
    attrs: dict[str, Any] = {
        "db.system.name": "redis",
        "db.operation.name": operation,
        "db.collection.name": saver.layout.prefix,
        "db.namespace": str(kw.get("db", 0)),
    }
    if "host" in kw:
        attrs["server.address"] = str(kw["host"])
        attrs["server.port"] = int(kw.get("port", 6379))
    where = OPERATIONS[operation]
    if where == "many":
        name = "thread_ids" if operation == "prune" else "run_ids"
        ids = args[0] if args else kwargs.get(name)
        if isinstance(ids, Sized):  # never consume an iterator the operation still needs
            attrs[f"redis_ckpt.{name[:-4]}_count"] = len(ids)
    elif where and mode == "hash":
        thread_id = _thread_of(args, kwargs, where)
        if thread_id is not None:
            attrs["redis_ckpt.thread_id.hash"] = _hash(thread_id)
    return attrs


def _finish(span: Any, counters: _Counters) -> None:
    span.set_attribute("redis_ckpt.round_trips", counters.round_trips)
    span.set_attribute("redis_ckpt.bytes_sent", counters.bytes_sent)
    span.set_attribute("redis_ckpt.retries", counters.retries)


def _traced(operation: str, method: Callable[..., Any], tracer: Any, mode: str) -> Callable[..., Any]:
    from opentelemetry.trace import SpanKind

    @functools.wraps(method)
    def traced(self: RedisSaver, *args: Any, **kwargs: Any) -> Any:
        with tracer.start_as_current_span(f"{operation} {self.layout.prefix}", kind=SpanKind.CLIENT) as span:
            if not span.is_recording():  # a no-op tracer or a sampled-out span: skip the bookkeeping
                return method(self, *args, **kwargs)
            _count_on(self)
            span.set_attributes(_attributes(self, operation, args, kwargs, mode))
            counters = _Counters()
            token = _current.set(counters)
            try:
                return method(self, *args, **kwargs)
            finally:
                _current.reset(token)
                _finish(span, counters)

    return traced


def _traced_iterator(operation: str, method: Callable[..., Any], tracer: Any, mode: str) -> Callable[..., Any]:
    """For `list`: the span lives from the call until the iterator is exhausted or closed. Each
    step is attached and detached within itself, because the async facade advances the iterator
    from different threads (and contexts)."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    @functools.wraps(method)
    def traced(self: RedisSaver, *args: Any, **kwargs: Any) -> Iterator[Any]:
        _count_on(self)
        span = tracer.start_span(
            f"{operation} {self.layout.prefix}",
            kind=SpanKind.CLIENT,
            attributes=_attributes(self, operation, args, kwargs, mode),
        )
        counters = _Counters()
        inner = method(self, *args, **kwargs)
        try:
            while True:
                with trace.use_span(span, end_on_exit=False):
                    token = _current.set(counters)
                    try:
                        item = next(inner)
                    except StopIteration:
                        return
                    except BaseException as exc:
                        span.record_exception(exc)
                        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                        raise
                    finally:
                        _current.reset(token)
                yield item
        finally:
            inner.close()
            _finish(span, counters)
            span.end()

    return traced


def instrument(*, thread_id: str = "hash", tracer_provider: Any = None) -> None:
    """Trace every saver operation from now on (idempotent; call `uninstrument()` to stop)."""
    if thread_id not in THREAD_ID_MODES:
        raise ConfigurationError(f"thread_id must be one of {THREAD_ID_MODES}, not {thread_id!r}")
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ConfigurationError("tracing needs OpenTelemetry: pip install 'redis-ckpt[otel]'") from exc
    uninstrument()
    tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider)
    for operation in OPERATIONS:
        original = getattr(RedisSaver, operation)
        _originals[operation] = (original, operation in RedisSaver.__dict__)
        wrap = _traced_iterator if operation == "list" else _traced
        setattr(RedisSaver, operation, wrap(operation, original, tracer, thread_id))
    SAVER_RETRY_HOOKS.add(record_retry)


def uninstrument() -> None:
    """Restore the saver's untraced methods."""
    SAVER_RETRY_HOOKS.remove(record_retry)
    for operation, (original, own) in _originals.items():
        if own:
            setattr(RedisSaver, operation, original)
        else:  # inherited (delete_thread, prune, ...): drop the override
            delattr(RedisSaver, operation)
    _originals.clear()


def is_instrumented() -> bool:
    return bool(_originals)
