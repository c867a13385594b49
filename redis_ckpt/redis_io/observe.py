"""The hook an observer (the tracing integration) sets on the saver's public operations and on its
retry policy: nothing is patched, and nothing below the integrations imports the observer.

Each observed operation begins with

    if self._observer is not None and observe.outside():
        return self._observer.call(self, "put", RedisSaver.put, (config, ...), {})

With no observer (the default) that is one attribute read: the operation's cost is unchanged.
With one, `Observer.call` does its bookkeeping (a span) around `observe.run(method, ...)`, which
calls the operation once more; `outside()` is false for exactly that call, so it runs the body.
Any other call, from the application or from another operation (get_channel_values calls
get_tuple), is observed on its own. `list` is a generator: `Observer.iterate` steps it, the first
step through `observe.first_step`. The retry policy runs `retrying()` before each retry of a
saver call, which tells the observer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol, TypeVar

T = TypeVar("T")

# True from `run` (or `first_step`) until the operation's check reads it: "this call is the body".
_BODY: contextvars.ContextVar[bool] = contextvars.ContextVar("redis_ckpt_observed_body", default=False)


class Observer(Protocol):
    """What an observer of the saver's operations provides."""

    def call(
        self, saver: Any, operation: str, method: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        """Run operation `operation` of `saver` through `run(method, saver, args, kwargs)`."""
        ...

    def iterate(
        self,
        saver: Any,
        operation: str,
        method: Callable[..., Iterator[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Iterator[T]:
        """The items of a generator operation (`list`): `method(saver, *args, **kwargs)`, its first
        step through `first_step`."""
        ...

    def retrying(self) -> None:
        """Before each retry of a saver call, in the thread (and context) of the operation."""
        ...


class Observed:
    """The saver's side of the hook: `_observer`, None unless an observer is set (for every saver,
    those made before included)."""

    _observer: ClassVar[Observer | None] = None


def set_observer(observer: Observer | None) -> None:
    """Observe every saver's operations from now on with `observer` (None: stop)."""
    Observed._observer = observer


def current() -> Observer | None:
    return Observed._observer


def outside() -> bool:
    """Whether an observed operation should hand itself to the observer: false, once, for the call
    the observer makes through `run` or `first_step`."""
    if _BODY.get():
        _BODY.set(False)
        return False
    return True


def run(method: Callable[..., T], saver: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    """Call the operation `method` so that it runs its body (for `Observer.call`)."""
    token = _BODY.set(True)
    try:
        return method(saver, *args, **kwargs)
    finally:
        _BODY.reset(token)


def first_step(inner: Iterator[T]) -> T:
    """The first item of a generator operation, whose check runs at its first step (for
    `Observer.iterate`); later steps are plain `next(inner)`."""
    token = _BODY.set(True)
    try:
        return next(inner)
    finally:
        _BODY.reset(token)


def retrying() -> None:
    """The saver's retry policy's `on_retry`: tells the observer, if any."""
    observer = Observed._observer
    if observer is not None:
        observer.retrying()
