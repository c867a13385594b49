"""redis_ckpt.agent_server: settings from the environment, and one shared saver per process."""

from __future__ import annotations

import asyncio
import threading

import pytest

from redis_ckpt import AsyncRedisSaver, ConfigurationError
from redis_ckpt.integrations.langgraph_server import checkpointer_factory, settings_from_env
from tests.conftest import purge_prefix, saver_kwargs


def test_settings_from_env() -> None:
    got = settings_from_env({"REDIS_URL": "redis://h:1", "REDIS_CKPT_PREFIX": "p", "REDIS_CKPT_TTL_MINUTES": "90"})
    assert got == {
        "redis_url": "redis://h:1",
        "checkpoint_prefix": "p",
        "checkpoint_write_prefix": "p_write",
        "ttl": {"default_ttl": 90.0},
    }
    assert (
        settings_from_env({"REDIS_CKPT_URL": "redis://a:1", "REDIS_URL": "redis://b:2"})["redis_url"] == "redis://a:1"
    )
    with pytest.raises(ConfigurationError, match="REDIS_CKPT_URL"):
        settings_from_env({"REDIS_URI": "redis://server-internal:1"})
    with pytest.raises(ConfigurationError, match="minutes"):
        settings_from_env({"REDIS_URL": "redis://h:1", "REDIS_CKPT_TTL_MINUTES": "soon"})


def test_every_event_loop_shares_one_saver_closed_by_the_last_exit(redis_url: str, prefix: str) -> None:
    factory = checkpointer_factory(redis_url=redis_url, **saver_kwargs(prefix))
    entered = threading.Event()
    release = threading.Event()
    seen: list[AsyncRedisSaver] = []

    async def hold() -> None:
        async with factory() as saver:
            seen.append(saver)
            entered.set()
            await asyncio.to_thread(release.wait, 10)
            await saver.aget_tuple({"configurable": {"thread_id": "x"}})

    other = threading.Thread(target=asyncio.run, args=(hold(),))
    other.start()
    try:
        assert entered.wait(10)

        async def use() -> None:
            async with factory() as saver:
                seen.append(saver)
                assert await saver.aget_tuple({"configurable": {"thread_id": "x"}}) is None

        asyncio.run(use())
        # The first user (another thread, another loop) still holds it: not closed yet.
        assert not seen[0]._executor._shutdown
    finally:
        release.set()
        other.join(10)
    assert seen[0] is seen[1]
    assert seen[0]._executor._shutdown  # closed by the last exit

    async def again() -> AsyncRedisSaver:
        async with factory() as saver:
            return saver

    assert asyncio.run(again()) is not seen[0]  # a later entry gets a fresh saver
    purge_prefix(redis_url, prefix)
