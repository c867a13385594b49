"""AsyncRedisSaver: the sync saver's methods, run on a saver-owned thread pool.

It binds to no event loop: the pool is plain threads, so one instance works across
`asyncio.run` calls, in Jupyter, and next to sync code (its sync methods are RedisSaver's).
Each async method is one line of delegation, so the two faces cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from typing_extensions import Self

from redis_ckpt.errors import SaverClosedError
from redis_ckpt.redis_io import inventory, ownership
from redis_ckpt.redis_io.connection import DEFAULT_MAX_CONNECTIONS, close_client, sync_twin
from redis_ckpt.redis_io.ownership import Ownership
from redis_ckpt.sync.redis_saver import RedisSaver
from redis_ckpt.sync.reencrypt import ReencryptReport

T = TypeVar("T")
LIST_BATCH = 10  # checkpoints per thread hop in alist (decoded eagerly: small, for early exits)


def _take(items: Iterator[T], n: int) -> list[T]:
    return list(itertools.islice(items, n))


# Savers alive in this process. A forked child (gunicorn --preload, Celery prefork) inherits each
# saver's executor object but none of its threads, so work sent to it would wait forever: the
# child gets fresh executors right after fork. (redis-py's pools already reset themselves in a
# child: they compare the pid on every checkout.)
_LIVE_SAVERS: weakref.WeakSet[AsyncRedisSaver] = weakref.WeakSet()


def _new_executors_after_fork() -> None:
    for saver in list(_LIVE_SAVERS):
        saver._executor = saver._new_executor()


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_new_executors_after_fork)


class AsyncRedisSaver(RedisSaver):
    """RedisSaver with native async methods for async graphs (`ainvoke`, `astream`)."""

    def __init__(self, *args: Any, max_workers: int = DEFAULT_MAX_CONNECTIONS, **kwargs: Any) -> None:
        # A `redis.asyncio` client (what the official async saver takes) is replaced by a sync client
        # with its settings, on a pool of the saver's own, closed with the saver: the worker threads
        # cannot use an asyncio pool. The caller's asyncio client is left alone.
        self._twin = sync_twin(kwargs.get("redis_client"))
        if self._twin is not None:
            kwargs["redis_client"] = self._twin
        super().__init__(*args, **kwargs)
        # As many workers as pooled connections: a worker never waits for a connection, and the
        # pool, not the executor, bounds the load on Redis.
        self._max_workers = max_workers
        self._executor = self._new_executor()
        _LIVE_SAVERS.add(self)

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="redis-ckpt")

    @classmethod
    @asynccontextmanager
    async def from_conn_string(  # type: ignore[override]
        cls, redis_url: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Self]:
        """A saver on its own threads, closed when the block exits, with its own connection pool for
        `redis_url`, or on `redis_client=` (a sync client, or a `redis.asyncio` one whose settings
        it copies: see the constructor); a client passed in is not closed."""
        saver = cls(redis_url, **kwargs)
        try:
            yield saver
        finally:
            await saver.aclose()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        super().close()
        if self._twin is not None:
            close_client(self._twin)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._executor._shutdown:  # else: "RuntimeError: cannot schedule new futures after shutdown"
            raise SaverClosedError(
                "this AsyncRedisSaver is closed (its `async with` block ended, or aclose() was called): "
                "open a new one for further calls"
            )
        loop = asyncio.get_running_loop()
        # In the caller's context (contextvars): its current tracing span, and the ownership an
        # `aown` block holds, so writes inside it are fenced.
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    @asynccontextmanager
    async def aown(self, thread_id: str, *, lease: float = 30.0, wait: float = 0.0) -> AsyncIterator[Ownership]:
        """`RedisSaver.own` for async code: the ownership holds for the block's task. Cancelled
        while waiting for the lease, it leaves none behind (see `_acquire_cancellably`)."""
        held = await self._acquire_cancellably(thread_id, lease, wait)
        try:
            with ownership.holding(held):
                yield held
        finally:
            await self._run(self.release, held)

    async def aacquire(self, thread_id: str, *, lease: float = 30.0, wait: float = 0.0) -> Ownership:
        return await self._acquire_cancellably(thread_id, lease, wait)

    async def _acquire_cancellably(self, thread_id: str, lease: float, wait: float) -> Ownership:
        """`acquire` on a worker thread, which a cancelled caller (asyncio.wait_for timing a request
        out) stops: the worker gives up at its next attempt, and a lease it took meanwhile, which
        nobody would hold, is given back at once instead of blocking the thread for its length."""
        cancelled = threading.Event()
        call = functools.partial(contextvars.copy_context().run, self._acquire, thread_id, lease, wait, cancelled)
        taking = self._executor.submit(call)
        try:
            return await asyncio.wrap_future(taking)
        except asyncio.CancelledError:
            cancelled.set()
            taking.add_done_callback(self._release_abandoned)
            raise

    def _release_abandoned(self, taking: Future[Ownership]) -> None:
        """Give back the lease of an acquisition whose caller was cancelled (on the worker thread
        that finished it, or on another worker if it had finished already)."""
        if taking.cancelled() or taking.exception() is not None:
            return
        try:
            self._executor.submit(self.release, taking.result())
        except RuntimeError:  # the executor is shut down: release here
            self.release(taking.result())

    async def arelease(self, held: Ownership) -> bool:
        return await self._run(self.release, held)

    async def arenew(self, held: Ownership) -> None:
        return await self._run(self.renew, held)

    async def asetup(self) -> None:
        return await self._run(self.setup)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items: Iterator[CheckpointTuple] = self.list(config, filter=filter, before=before, limit=limit)
        # Checkpoints cross from the worker thread in batches: each hop costs ~0.1 ms, per batch.
        size = LIST_BATCH if limit is None else max(1, min(limit, LIST_BATCH))
        left = limit
        while batch := await self._run(_take, items, size):
            for item in batch:
                yield item
            if left is not None:
                left -= len(batch)
            if len(batch) < size or (left is not None and left <= 0):
                return

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._run(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        return await self._run(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        return await self._run(self.delete_thread, thread_id)

    async def adelete_threads(self, filter: Mapping[str, Any], *, dry_run: bool = False) -> list[str]:
        return await self._run(self.delete_threads, filter, dry_run=dry_run)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        return await self._run(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        return await self._run(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep_last: int = 1) -> None:
        return await self._run(self.prune, thread_ids, strategy=strategy, keep_last=keep_last)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await self._run(self.get_delta_channel_history, config=config, channels=channels)

    async def aget_channel_values(
        self, thread_id: str, checkpoint_ns: str = "", checkpoint_id: str | None = None
    ) -> dict[str, Any]:
        return await self._run(self.get_channel_values, thread_id, checkpoint_ns, checkpoint_id)

    async def athread_page(self, cursor: str = "0", limit: int = 100) -> inventory.ThreadPage:
        return await self._run(self.thread_page, cursor, limit)

    async def anamespaces(self, thread_id: str) -> list[str]:
        return await self._run(self.namespaces, thread_id)

    async def anamespace_counts(self, thread_id: str) -> dict[str, int]:
        return await self._run(self.namespace_counts, thread_id)

    async def areencrypt_thread(self, thread_id: str) -> ReencryptReport:
        return await self._run(self.reencrypt_thread, thread_id)

    async def athread_footprint(self, thread_id: str) -> inventory.Footprint:
        return await self._run(self.thread_footprint, thread_id)
