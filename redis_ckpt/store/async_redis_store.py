"""AsyncRedisStore: RedisStore's methods run on a store-owned thread pool.

Like AsyncRedisSaver it binds to no event loop (LangGraph's AsyncBatchedBaseStore binds to the
loop that built it), so one instance works across `asyncio.run` calls, in Jupyter and next to sync
code. Each async method is one line of delegation, so the two faces cannot drift apart.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from langgraph.store.base import Op, Result
from typing_extensions import Self

from redis_ckpt.redis_io.connection import DEFAULT_MAX_CONNECTIONS
from redis_ckpt.store.redis_store import RedisStore
from redis_ckpt.store.snapshot import Target

T = TypeVar("T")


class AsyncRedisStore(RedisStore):
    """RedisStore with native async methods (`aget`, `aput`, `asearch`, ... all go through `abatch`)."""

    def __init__(self, *args: Any, max_workers: int = DEFAULT_MAX_CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As many workers as pooled connections: the pool, not the executor, bounds the load on Redis.
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="redis-ckpt-store")

    @classmethod
    @asynccontextmanager
    async def from_conn_string(cls, redis_url: str, **kwargs: Any) -> AsyncIterator[Self]:  # type: ignore[override]
        """A set-up store on its own connection pool and threads, closed when the block exits."""
        store = cls(redis_url, **kwargs)
        try:
            await store.asetup()
            yield store
        finally:
            await store.aclose()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        super().close()

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def asetup(self) -> None:
        return await self._run(self.setup)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self._run(self.batch, list(ops))

    async def akeys(self, namespace: tuple[str, ...]) -> list[str]:
        return await self._run(self.keys, namespace)

    async def anamespaces(self, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        return await self._run(self.namespaces, prefix)

    async def aclear(self, namespace_prefix: tuple[str, ...]) -> int:
        return await self._run(self.clear, namespace_prefix)

    async def asnapshot(
        self, namespace_prefix: tuple[str, ...] | Sequence[tuple[str, ...]], file: Target
    ) -> dict[str, int]:
        return await self._run(self.snapshot, namespace_prefix, file)

    async def arestore(self, file: Target) -> dict[str, int]:
        return await self._run(self.restore, file)

    async def asweep(self) -> None:
        return await self._run(self.sweep)

    async def asweep_ttl(self) -> int:
        return await self._run(self.sweep_ttl)
