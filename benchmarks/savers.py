"""The savers under comparison on the same server, each on its own key prefix where it has one."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from redis_ckpt import AsyncRedisSaver, RedisSaver

OURS, OURS_ASYNC, OFFICIAL, OFFICIAL_ASYNC, AWS, AWS_ASYNC, MEMORY = (
    "redis-ckpt",
    "redis-ckpt async",
    "official",
    "official async",
    "aws",
    "aws async",
    "InMemorySaver",
)
# langgraph-checkpoint-aws's ValkeySaver / AsyncValkeySaver: one string key per checkpoint. Its
# default pool (10 connections) fails 8 concurrent graph runs, so every aws saver gets this many.
AWS_POOL = 1024


@dataclass
class Contender:
    name: str
    saver: Any
    is_async: bool
    loop: asyncio.AbstractEventLoop | None = None  # the loop an official async saver is bound to
    prefix: str = ""  # its keys' prefix, where the saver has one

    def run(self, coro: Any) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(coro)


def build(name: str, url: str) -> Contender:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    kwargs: dict[str, Any] = {"checkpoint_prefix": prefix, "checkpoint_write_prefix": prefix + "_w"}
    if name == OURS:
        saver = RedisSaver(url, **kwargs)
        saver.setup()
        return Contender(name, saver, False, prefix=prefix)
    if name == OURS_ASYNC:
        saver = AsyncRedisSaver(url, **kwargs)
        saver.setup()
        return Contender(name, saver, True, asyncio.new_event_loop(), prefix=prefix)
    if name == MEMORY:
        return Contender(name, InMemorySaver(), False)
    if name in (AWS, AWS_ASYNC):
        return build_aws(name, url)
    # The official saver is a benchmark-only dependency, never imported by the package.
    from langgraph.checkpoint.redis import AsyncRedisSaver as OfficialAsync
    from langgraph.checkpoint.redis import RedisSaver as OfficialSync

    if name == OFFICIAL:
        official = OfficialSync(redis_url=url, **kwargs)
        official.setup()
        return Contender(name, official, False, prefix=prefix)
    loop = asyncio.new_event_loop()

    async def make() -> Any:
        # Its default pool (100 connections) fails 64 concurrent invocations with
        # MaxConnectionsError; a larger pool lets it be measured at all.
        s = OfficialAsync(redis_url=url, connection_args={"max_connections": 1024}, **kwargs)
        await s.asetup()
        return s

    return Contender(name, loop.run_until_complete(make()), True, loop, prefix=prefix)


def build_aws(name: str, url: str) -> Contender:
    """The aws saver on its own client. It has no key prefix option: its keys are
    `checkpoint:{thread}:...`, `writes:{thread}:...` and `thread:{thread}:...`, so the workloads'
    fresh thread ids keep savers apart."""
    # A benchmark-only dependency, never imported by the package.
    import valkey
    import valkey.asyncio
    from langgraph_checkpoint_aws import AsyncValkeySaver, ValkeySaver

    if name == AWS:
        pool = valkey.ConnectionPool.from_url(url, max_connections=AWS_POOL)  # type: ignore[no-untyped-call]
        client = valkey.Valkey(connection_pool=pool)
        return Contender(name, ValkeySaver(client), False)
    loop = asyncio.new_event_loop()

    async def make() -> Any:
        # Built inside the contender's loop: an asyncio client belongs to the loop that uses it.
        pool = valkey.asyncio.ConnectionPool.from_url(url, max_connections=AWS_POOL)
        return AsyncValkeySaver(valkey.asyncio.Valkey(connection_pool=pool))

    return Contender(name, loop.run_until_complete(make()), True, loop)
