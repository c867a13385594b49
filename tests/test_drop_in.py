"""The official saver's constructor shapes work here too: a client passed to `from_conn_string`,
and a `redis.asyncio` client given to the async saver. Real servers, standalone and cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from redis_ckpt import AsyncRedisSaver, RedisSaver
from tests.conftest import CLUSTER_KINDS, _Servers, purge_prefix, saver_kwargs
from tests.graphs import counter_graph
from tests.helpers import config

KINDS = ["plain", *CLUSTER_KINDS[:1]]


def _url(servers: _Servers, kind: str) -> str:
    return str(servers.url(kind))


def _plain(url: str) -> str:
    return url.split("?", 1)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_from_conn_string_takes_a_client_and_leaves_it_open(servers: _Servers, kind: str, prefix: str) -> None:
    url = _url(servers, kind)
    client: Any = RedisCluster.from_url(_plain(url)) if "cluster" in url else redis.Redis.from_url(url)
    try:
        with RedisSaver.from_conn_string(redis_client=client, **saver_kwargs(prefix)) as saver:
            assert saver.client is client
            saver.setup()
            counter_graph(saver).invoke({"count": 0, "log": []}, config("t"))
            assert saver.get_tuple(config("t")) is not None
        assert client.ping()  # the caller's client: not closed by the saver
    finally:
        purge_prefix(url, prefix)
        client.close()


@pytest.mark.parametrize("kind", KINDS)
def test_async_saver_takes_an_asyncio_client(servers: _Servers, kind: str, prefix: str) -> None:
    url = _url(servers, kind)

    async def run() -> None:
        aclient: Any = (
            AsyncRedisCluster.from_url(_plain(url)) if "cluster" in url else redis.asyncio.Redis.from_url(url)
        )
        async with AsyncRedisSaver.from_conn_string(redis_client=aclient, **saver_kwargs(prefix)) as saver:
            assert saver.is_cluster == ("cluster" in url)
            await saver.asetup()
            result = await counter_graph(saver).ainvoke({"count": 0, "log": []}, config("t"))
            assert result["count"] == 3
            assert (await saver.aget_tuple(config("t"))) is not None
        # The saver's own pool is closed with it; the caller's asyncio client still works.
        assert await aclient.ping()
        await aclient.aclose()
        direct = (
            AsyncRedisSaver(redis_client=redis.asyncio.Redis.from_url(_plain(url))) if "cluster" not in url else None
        )
        if direct is not None:
            assert isinstance(direct.client, redis.Redis)
            await direct.aclose()

    try:
        asyncio.run(run())
    finally:
        purge_prefix(url, prefix)


def test_a_sync_saver_under_ainvoke_says_to_use_the_async_saver(redis_url: str, prefix: str) -> None:
    from redis_ckpt import AsyncOnSyncSaverError

    with RedisSaver.from_conn_string(redis_url, **saver_kwargs(prefix)) as saver:
        graph = counter_graph(saver)
        with pytest.raises(AsyncOnSyncSaverError, match=r"use redis_ckpt\.AsyncRedisSaver"):
            asyncio.run(graph.ainvoke({"count": 0, "log": []}, config("t")))
        with pytest.raises(NotImplementedError):  # still what LangGraph's base class raises
            asyncio.run(saver.aget_tuple(config("t")))

        async def listing() -> None:
            async for _ in saver.alist(config("t")):
                pass

        with pytest.raises(AsyncOnSyncSaverError, match=r"RedisSaver\.alist"):
            asyncio.run(listing())
        assert saver.get_tuple(config("t")) is None  # nothing was written


def test_an_async_saver_used_after_close_raises_a_typed_error(redis_url: str, prefix: str) -> None:
    from redis_ckpt import SaverClosedError

    async def run() -> None:
        async with AsyncRedisSaver.from_conn_string(redis_url, **saver_kwargs(prefix)) as saver:
            await saver.aget_tuple(config("t"))
        with pytest.raises(SaverClosedError, match="closed"):
            await saver.aget_tuple(config("t"))
        with pytest.raises(SaverClosedError):
            await counter_graph(saver).ainvoke({"count": 0, "log": []}, config("t"))

    asyncio.run(run())
