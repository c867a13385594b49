"""OpenTelemetry tracing of the saver's operations: an observer (redis_ckpt/redis_io/observe.py) that
the saver's public operations hand themselves to, which runs each in a span; it counts round trips
and bytes on the saver's connections, and retries through the same observer hook. No method is
patched. Users import it as `redis_ckpt.tracing`, whose docstring is the guide (options, attributes,
cost).
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable, Generator, Iterator, Sized
from dataclasses import dataclass
from typing import Any, TypeVar

from redis_ckpt import __version__
from redis_ckpt.errors import ConfigurationError
from redis_ckpt.redis_io import observe
from redis_ckpt.sync.redis_saver import RedisSaver

T = TypeVar("T")
INSTRUMENTATION_NAME = "redis_ckpt"
THREAD_ID_MODES = ("hash", "omit")


@dataclass
class _Counters:
    round_trips: int = 0
    bytes_sent: int = 0
    retries: int = 0


_current: contextvars.ContextVar[_Counters | None] = contextvars.ContextVar("redis_ckpt_counters", default=None)
_counting_classes: dict[type, type] = {}


def record_retry() -> None:
    """Run before each retry of a saver call once instrumented (through the observer hook): counts
    a retry on the current operation's span, if any."""
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


class _Spans:
    """The observer `instrument()` sets: one CLIENT span per operation (redis_ckpt/redis_io/observe.py
    says how an operation hands itself over)."""

    def __init__(self, tracer: Any, mode: str) -> None:
        self.tracer = tracer
        self.mode = mode

    def call(
        self, saver: Any, operation: str, method: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        from opentelemetry.trace import SpanKind

        with self.tracer.start_as_current_span(f"{operation} {saver.layout.prefix}", kind=SpanKind.CLIENT) as span:
            if not span.is_recording():  # a no-op tracer or a sampled-out span: skip the bookkeeping
                return observe.run(method, saver, args, kwargs)
            _count_on(saver)
            span.set_attributes(_attributes(saver, operation, args, kwargs, self.mode))
            counters = _Counters()
            token = _current.set(counters)
            try:
                return observe.run(method, saver, args, kwargs)
            finally:
                _current.reset(token)
                _finish(span, counters)

    def iterate(
        self,
        saver: Any,
        operation: str,
        method: Callable[..., Iterator[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Iterator[T]:
        """For `list`: the span lives from the first step until the iterator is exhausted or
        closed. Each step is attached and detached within itself, because the async facade
        advances the iterator from different threads (and contexts)."""
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        _count_on(saver)
        span = self.tracer.start_span(
            f"{operation} {saver.layout.prefix}",
            kind=SpanKind.CLIENT,
            attributes=_attributes(saver, operation, args, kwargs, self.mode),
        )
        counters = _Counters()
        inner = method(saver, *args, **kwargs)
        step: Callable[[Iterator[T]], T] = observe.first_step
        try:
            while True:
                with trace.use_span(span, end_on_exit=False):
                    token = _current.set(counters)
                    try:
                        item = step(inner)
                    except StopIteration:
                        return
                    except BaseException as exc:
                        span.record_exception(exc)
                        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                        raise
                    finally:
                        _current.reset(token)
                step = next
                yield item
        finally:
            if isinstance(inner, Generator):  # list is one: close it where it stopped
                inner.close()
            _finish(span, counters)
            span.end()

    def retrying(self) -> None:
        record_retry()


def instrument(*, thread_id: str = "hash", tracer_provider: Any = None) -> None:
    """Trace every saver operation from now on (idempotent; call `uninstrument()` to stop)."""
    if thread_id not in THREAD_ID_MODES:
        raise ConfigurationError(f"thread_id must be one of {THREAD_ID_MODES}, not {thread_id!r}")
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ConfigurationError("tracing needs OpenTelemetry: pip install 'redis-ckpt[otel]'") from exc
    tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider)
    observe.set_observer(_Spans(tracer, thread_id))


def uninstrument() -> None:
    """Stop tracing: the saver's operations have no observer again."""
    if is_instrumented():
        observe.set_observer(None)


def is_instrumented() -> bool:
    return isinstance(observe.current(), _Spans)
