"""Write ownership on the sync saver: `own()` takes a thread's lease, and every write of an owned
thread goes out fenced (redis_ckpt/redis_io/ownership.py). Without ownership, writes are sent exactly as
before: the same commands, the same round trips."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from redis_ckpt.errors import ThreadBusyError
from redis_ckpt.redis_io import ownership, scripts, wire
from redis_ckpt.redis_io.ownership import Ownership
from redis_ckpt.sync.saver_core import SaverCore, key_text

POLL_MAX = 0.2  # seconds between attempts to take a busy lease, at most


class Owning(SaverCore):
    @contextmanager
    def own(self, thread_id: str, *, lease: float = 30.0, wait: float = 0.0) -> Iterator[Ownership]:
        """Own the thread's writes for the block: take its lease (waiting up to `wait` seconds for
        another holder's lease to end or expire, else ThreadBusyError), fence every write of the
        thread made with the yielded ownership's config or inside the block, give the lease back
        on exit. Each fenced write renews the lease; a write after another worker took over raises
        OwnershipLostError and changes nothing."""
        held = self.acquire(thread_id, lease=lease, wait=wait)
        try:
            with ownership.holding(held):
                yield held
        finally:
            self.release(held)

    def acquire(self, thread_id: str, *, lease: float = 30.0, wait: float = 0.0) -> Ownership:
        """Take the thread's lease (one round trip per attempt); see `own`."""
        return self._acquire(thread_id, lease, wait, None)

    def _acquire(self, thread_id: str, lease: float, wait: float, cancelled: threading.Event | None) -> Ownership:
        """`acquire`, giving up (ThreadBusyError) between attempts once `cancelled` is set: the
        async face sets it when the awaiting task is cancelled (see AsyncRedisSaver._acquire)."""
        thread_id = key_text("thread_id", thread_id)
        ms = ownership.lease_ms(lease)
        take = ownership.acquire(self.layout, thread_id, ms, self._ttl_ms)
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            if cancelled is not None and cancelled.is_set():
                raise ThreadBusyError(f"taking thread {thread_id!r} was cancelled")
            token, left_ms = self._io(wire.execute, self._client, [take])[0]
            if token:
                return Ownership(thread_id, token.decode(), ms, self.store_id)
            now = time.monotonic()
            if now >= deadline:
                raise ThreadBusyError(
                    f"thread {thread_id!r} is owned by another worker (lease ends in {int(left_ms)} ms); "
                    "retry later or pass a longer wait"
                )
            pause = min(POLL_MAX, max(0.001, int(left_ms) / 1000), deadline - now)
            if cancelled is None:
                time.sleep(pause)
            else:
                cancelled.wait(pause)  # wakes up as soon as it is cancelled

    @functools.cached_property
    def store_id(self) -> str:
        """The store this saver's ownerships belong to (server, database, key prefix): an
        ownership fences the writes of savers on its store only. Fixed at first use."""
        return ownership.store_of(self._client, self.layout)

    @property
    def _ttl_ms(self) -> int:
        return (self.ttl.seconds or 0) * 1000

    def release(self, held: Ownership) -> bool:
        """Give the lease back, if still held (True then). Never ends a successor's lease."""
        return bool(self._io(wire.execute, self._client, [ownership.release(self.layout, held)])[0])

    def renew(self, held: Ownership) -> None:
        """Extend the lease by its length now (one round trip), for a step that writes nothing for
        longer than the lease; writes renew it anyway. OwnershipLostError if it was taken over."""
        self._fenced(held, [])

    # -- the write path -------------------------------------------------------------------------
    def _write(self, thread_id: str, commands: list[Any], config: Mapping[str, Any] | None = None) -> list[Any]:
        """A write's commands in one MULTI/EXEC: fenced when the thread is owned here."""
        held = ownership.of(self.store_id, thread_id, config)
        if held is None:
            return self._transaction(commands)
        return self._fenced(held, commands)

    def _fenced(self, held: Ownership, commands: list[Any]) -> list[Any]:
        return self._io(self._send_fenced, held, commands)

    def _send_fenced(self, held: Ownership, commands: list[Any]) -> list[Any]:
        wait = self._wait if commands else None  # a bare renewal writes nothing to replicate
        ttl_ms = self._ttl_ms
        round_trip = ownership.fenced(self.layout, held, commands, wait, ttl_ms)
        try:
            return _exec_results(ownership.results(held, wire.execute(self._client, round_trip), wait, ttl_ms))
        except NoScriptError:  # a script call inside the write: load them, send it again
            scripts.load_all(self._client)
            return _exec_results(ownership.results(held, wire.execute(self._client, round_trip), wait, ttl_ms))

    def _owner_of(self, thread_id: str) -> Ownership | None:
        return ownership.of(self.store_id, thread_id)


def _exec_results(results: list[Any]) -> list[Any]:
    for result in results:
        if isinstance(result, ResponseError):
            raise wire.reply_error(result)  # e.g. a namespace in a newer storage format: typed
    return results
