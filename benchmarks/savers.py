"""The savers under comparison, each built on its own key prefix on the same server."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from redis_ckpt import AsyncRedisSaver, RedisSaver

OURS, OURS_ASYNC, OFFICIAL, OFFICIAL_ASYNC, MEMORY = (
    "redis-ckpt",
    "redis-ckpt async",
    "official",
    "official async",
    "InMemorySaver",
)


@dataclass
class Contender:
    name: str
    saver: Any
    is_async: bool
    loop: asyncio.AbstractEventLoop | None = None  # the loop an official async saver is bound to

    def run(self, coro: Any) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(coro)


def build(name: str, url: str) -> Contender:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    kwargs = {"checkpoint_prefix": prefix, "checkpoint_write_prefix": prefix + "_w"}
    if name == OURS:
        saver = RedisSaver(url, **kwargs)
        saver.setup()
        return Contender(name, saver, False)
    if name == OURS_ASYNC:
        saver = AsyncRedisSaver(url, **kwargs)
        saver.setup()
        return Contender(name, saver, True, asyncio.new_event_loop())
    if name == MEMORY:
        return Contender(name, InMemorySaver(), False)
    # The official saver is a benchmark-only dependency, never imported by the package.
    from langgraph.checkpoint.redis import AsyncRedisSaver as OfficialAsync
    from langgraph.checkpoint.redis import RedisSaver as OfficialSync

    if name == OFFICIAL:
        official = OfficialSync(redis_url=url, **kwargs)
        official.setup()
        return Contender(name, official, False)
    loop = asyncio.new_event_loop()

    async def make() -> Any:
        # Its default pool (100 connections) fails 64 concurrent invocations with
        # MaxConnectionsError; a larger pool lets it be measured at all.
        s = OfficialAsync(redis_url=url, connection_args={"max_connections": 1024}, **kwargs)
        await s.asetup()
        return s

    return Contender(name, loop.run_until_complete(make()), True, loop)
