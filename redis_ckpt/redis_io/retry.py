"""The one retry policy of the saver and the store: retry transient errors until a deadline.

`Retried._io`, the one I/O primitive of the saver and the store, runs an operation's first attempt
itself, with no bookkeeping (the hot path), and hands a failure to `RetryPolicy.recover`, which:
- raises a typed error at once for what no retry can fix (redis_ckpt/redis_io/failures.py words it;
  `explain`, supplied by the caller, may look at the server first: failure path only);
- else retries, through tenacity, with capped, jittered exponential backoff until the operation
  succeeds or the deadline (RetryConfig.deadline, 30 s by default) has passed, then raises
  StoreUnavailableError.

Logging is per outage, not per attempt: one WARNING when the first failure of an outage is met
(whichever thread meets it), one INFO at the first success after it. The state is shared by every
thread using the saver or store, so 64 threads retrying through a restart log two lines.

`Retried` is what the saver and the store share around the policy: `_io`, the `retry` setting and
the explanation of a failure (which the saver extends for a cluster's MOVED). `on_retry` lets an
observer count retries without the caller importing it: the saver passes `observe.retrying`
(redis_ckpt/redis_io/observe.py).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from redis_ckpt.config import RetryConfig
from redis_ckpt.errors import StoreUnavailableError
from redis_ckpt.redis_io import diagnose
from redis_ckpt.redis_io.failures import CAUGHT, TRANSIENT_ERRORS

T = TypeVar("T")
# explain(error, never_reached) -> the typed error to raise instead, or None (retry if transient).
# `never_reached`: no call has succeeded yet, so the settings themselves may be wrong.
Explain = Callable[[BaseException, bool], "Exception | None"]


def backoff(config: RetryConfig, retry_number: int) -> float:
    """Seconds to wait before retry `retry_number` (1, 2, ...): doubling from initial_wait up to
    max_wait, with jitter over the upper half so that many clients do not retry in step."""
    ceiling = min(config.max_wait, config.initial_wait * 2 ** min(retry_number - 1, 32))
    return random.uniform(ceiling / 2, ceiling)


class RetryPolicy:
    """Retries for one saver or store; `down` is read on the hot path to end an outage."""

    def __init__(
        self,
        config: RetryConfig | None,
        where: str,
        logger: logging.Logger,
        *,
        explain: Explain,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.where = where
        self.logger = logger
        self.explain = explain
        self.on_retry = on_retry  # the saver's: observe.retrying (an observer counts retries)
        # Read on the hot path after each success: True until the first success, and during an
        # outage (some call failed, none has succeeded since).
        self.down = True
        self.outages = 0  # outages begun so far: read on the hot path before each first attempt
        self._outage = False
        self._reached = False  # some call has succeeded
        self._since = 0.0
        self._lock = threading.Lock()

    def recover(self, error: BaseException, operation: Callable[..., T], args: Any, kwargs: Any) -> T:
        """After the first attempt of `operation` failed with `error`: raise the typed error, or
        retry (tenacity runs the retries) until success or the deadline. Called inside the
        caller's `except` block."""
        typed = self.explain(error, not self._reached)
        if typed is not None:
            raise typed from error
        if not isinstance(error, TRANSIENT_ERRORS):
            raise error
        config = self.config
        if config is None:
            raise self.unavailable(error, 1, 0.0) from error
        start = time.monotonic()
        self._outage_started(error)
        explained: dict[int, Exception | None] = {}  # explain once per error: it may ask the server

        def worth_retrying(exc: BaseException) -> bool:
            explained[id(exc)] = self.explain(exc, not self._reached)
            return explained[id(exc)] is None and isinstance(exc, TRANSIENT_ERRORS)

        def wait(state: RetryCallState) -> float:  # never past the deadline
            return max(0.0, min(backoff(config, state.attempt_number + 1), start + config.deadline - time.monotonic()))

        def attempt() -> T:
            if self.on_retry is not None:
                self.on_retry()
            return operation(*args, **kwargs)

        stop: Any = stop_after_delay(config.deadline)
        if config.attempts is not None:  # the hot path's attempt counts
            stop = stop | stop_after_attempt(max(1, config.attempts - 1))
        time.sleep(min(backoff(config, 1), config.deadline))  # the first retry waits too
        retrying = Retrying(stop=stop, wait=wait, retry=retry_if_exception(worth_retrying), reraise=True)
        try:
            result = retrying(attempt)
        except CAUGHT as exc:
            if (typed := explained.get(id(exc))) is not None:
                raise typed from exc
            if not isinstance(exc, TRANSIENT_ERRORS):
                raise
            attempts = 1 + int(retrying.statistics.get("attempt_number", 1))
            raise self.unavailable(exc, attempts, time.monotonic() - start) from exc
        self.recovered()
        return result

    def _outage_started(self, error: BaseException) -> None:
        with self._lock:
            if self._outage:
                return
            self.down = self._outage = True
            self.outages += 1
            self._since = time.monotonic()
        deadline = self.config.deadline if self.config is not None else 0
        self.logger.warning(
            "redis-ckpt: Redis at %s is unavailable (%s: %s); retrying each call for up to %g s",
            self.where,
            type(error).__name__,
            error,
            deadline,
        )

    def recovered(self, sent_in: int | None = None) -> None:
        """A call succeeded: if an outage was under way, it is over (one INFO). `sent_in`: the
        outage count when a first attempt was sent. A call sent before the current outage began
        (another thread's, answered while the server was going down) ends nothing: it said
        nothing of the server since, and ending the outage there would log it twice."""
        with self._lock:
            self._reached = True
            if self._outage and sent_in is not None and sent_in != self.outages:
                return
            outage, self._outage, self.down = self._outage, False, False
            lasted = time.monotonic() - self._since
        if not outage:
            return
        self.logger.info("redis-ckpt: Redis at %s is reachable again after %.1f s", self.where, lasted)

    def unavailable(self, error: BaseException, attempts: int, elapsed: float) -> StoreUnavailableError:
        if self.config is None:
            tried = "failed after 1 attempt(s) (retries are off: retry=None)"
        else:
            tried = f"failed after {attempts} attempt(s) over {elapsed:.1f} s"
            tried += f" (retry deadline {self.config.deadline:g} s"
            tried += f", at most {self.config.attempts} attempts)" if self.config.attempts is not None else ")"
        cause = str(error).rstrip(". ")  # redis-py's messages often end in a period: no ".." here
        return StoreUnavailableError(
            f"Redis at {self.where} {tried}: {type(error).__name__}: {cause}. "
            "Check that the server is up and reachable, then retry the call."
        )


class Retried:
    """What the saver and the store share around their retry policy: `_io`, the one I/O primitive
    (a method of the class, so a call stays one method deep), `retry` (the policy's settings) and
    the explanation of a failure, asked of their server. Each sets `_client` and `_where`, then
    calls `_start_retrying`."""

    _client: Any
    _where: str
    _retrying: RetryPolicy

    def _start_retrying(
        self, config: RetryConfig | None, logger: logging.Logger, on_retry: Callable[[], None] | None = None
    ) -> None:
        self._retrying = RetryPolicy(config, self._where, logger, explain=self._explain, on_retry=on_retry)

    @property
    def retry(self) -> RetryConfig | None:
        """The retry policy's settings (None: retries off); may be replaced on a live saver or store."""
        return self._retrying.config

    @retry.setter
    def retry(self, config: RetryConfig | None) -> None:
        self._retrying.config = config

    def _io(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one idempotent Redis operation, retrying transient errors."""
        sent_in = self._retrying.outages  # one attribute read: see RetryPolicy.recovered
        try:  # the first attempt runs without the policy's bookkeeping: this is the hot path
            result = operation(*args, **kwargs)
        except CAUGHT as exc:
            return self._retrying.recover(exc, operation, args, kwargs)
        if self._retrying.down:  # the first success ever, or after an outage (which it ends: one INFO)
            self._retrying.recovered(sent_in)
        return result

    def _explain(self, error: BaseException, never_reached: bool) -> Exception | None:
        """The typed error to raise instead of `error`, or None (retried if transient)."""
        return diagnose.explain(self._client, self._where, error, never_reached)
