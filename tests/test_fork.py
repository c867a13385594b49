"""A saver created and used before fork works in every forked child (gunicorn --preload, Celery
prefork): redis-py's pool reconnects in the child, and the async facade gets fresh threads."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from typing import Any

import pytest

from redis_ckpt import AsyncRedisSaver, RedisSaver
from tests.conftest import fresh_saver

CHILDREN = 3
CHILD_TIMEOUT = 30


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


def _write_and_read(saver: RedisSaver, thread_id: str) -> str:
    from langgraph.checkpoint.base import empty_checkpoint

    checkpoint = empty_checkpoint()
    saver.put(_config(thread_id), checkpoint, {"source": "input", "step": -1}, {})
    got = saver.get_tuple(_config(thread_id))
    assert got is not None
    return str(got.checkpoint["id"])


async def _write_and_read_async(saver: AsyncRedisSaver, thread_id: str) -> str:
    from langgraph.checkpoint.base import empty_checkpoint

    checkpoint = empty_checkpoint()
    await saver.aput(_config(thread_id), checkpoint, {"source": "input", "step": -1}, {})
    got = await saver.aget_tuple(_config(thread_id))
    assert got is not None
    return str(got.checkpoint["id"])


def _child(saver: RedisSaver, index: int, results: Any) -> None:
    thread_id = f"child-{index}-{os.getpid()}"
    if isinstance(saver, AsyncRedisSaver):
        # Two event loops in the child, and concurrent calls on the executor.
        first = asyncio.run(_write_and_read_async(saver, thread_id))

        async def concurrent() -> list[str]:
            return list(await asyncio.gather(*(_write_and_read_async(saver, f"{thread_id}-{i}") for i in range(8))))

        rest = asyncio.run(concurrent())
        results.put((index, os.getpid(), [first, *rest]))
    else:
        results.put((index, os.getpid(), [_write_and_read(saver, thread_id)]))


@pytest.mark.parametrize("cls", [RedisSaver, AsyncRedisSaver])
def test_saver_used_before_fork_works_in_every_child(cls: type[RedisSaver], redis_url: str, prefix: str) -> None:
    with fresh_saver(cls, redis_url, prefix) as saver:
        # Use it in the parent first: the pool holds connections, the executor has live threads.
        if isinstance(saver, AsyncRedisSaver):
            asyncio.run(_write_and_read_async(saver, "parent"))
            asyncio.run(_write_and_read_async(saver, "parent2"))
        else:
            _write_and_read(saver, "parent")
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        children = [context.Process(target=_child, args=(saver, i, results)) for i in range(CHILDREN)]
        for child in children:
            child.start()
        got = [results.get(timeout=CHILD_TIMEOUT) for _ in children]
        for child in children:
            child.join(CHILD_TIMEOUT)
            assert child.exitcode == 0
        assert sorted(index for index, _, _ in got) == list(range(CHILDREN))
        assert len({pid for _, pid, _ in got} | {os.getpid()}) == CHILDREN + 1
        expected_ids = 9 if cls is AsyncRedisSaver else 1
        assert all(len(ids) == expected_ids and all(ids) for _, _, ids in got)
        # The parent's saver still works after its children used their copies.
        if isinstance(saver, AsyncRedisSaver):
            assert asyncio.run(_write_and_read_async(saver, "parent-after"))
        else:
            assert _write_and_read(saver, "parent-after")
        # What each child wrote is in Redis, seen from the parent.
        for index, pid, ids in got:
            stored = saver.get_tuple(_config(f"child-{index}-{pid}"))
            assert stored is not None and stored.checkpoint["id"] == ids[0]
