"""URLs, clients, retries and typed errors when Redis is unreachable."""

from __future__ import annotations

import asyncio
import decimal
import os
import re
import time
from collections.abc import Iterator

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from redis_ckpt import AsyncRedisSaver, IncompatibleClientError, RedisSaver, RetryConfig, StoreUnavailableError
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis, free_port
from redis_ckpt.redis_io.connection import client_from_url, redact_url
from tests.conftest import purge_prefix, saver_kwargs
from tests.helpers import checkpoint, config, put_chain


@pytest.fixture
def unix_server() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(modules=False)
    server.data_dir = __import__("tempfile").mkdtemp(prefix="redis-ckpt-unix-")
    server.extra_args = ["--unixsocket", os.path.join(server.data_dir, "redis.sock"), "--unixsocketperm", "700"]
    server.start()
    yield server
    server.stop()


def test_unix_socket_urls_work(unix_server: EmbeddedRedis) -> None:
    url = f"unix://{os.path.join(unix_server.data_dir, 'redis.sock')}"
    with RedisSaver.from_conn_string(url) as saver:
        saver.setup()
        saver.put(config("t"), checkpoint({"x": 1}), {}, {"x": 1})
        assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"x": 1}


def test_sentinel_urls_are_parsed_into_a_sentinel_managed_client() -> None:
    client = client_from_url("redis+sentinel://user:secret@127.0.0.1:26379,127.0.0.2:26380/mymaster/2")
    pool = client.connection_pool
    assert type(pool).__name__ == "SentinelConnectionPool"
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "secret"
    assert [
        tuple(s.connection_pool.connection_kwargs[k] for k in ("host", "port")) for s in pool.sentinel_manager.sentinels
    ] == [("127.0.0.1", 26379), ("127.0.0.2", 26380)]


def test_urls_are_redacted_in_messages() -> None:
    assert redact_url("redis://user:pa55word@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("rediss://:pa55word@host") == "rediss://:***@host"
    assert redact_url("redis://host:6379") == "redis://host:6379"


def test_an_unreachable_server_raises_a_typed_error_after_bounded_retries() -> None:
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}"
    saver = RedisSaver(url, retry=RetryConfig(attempts=3, initial_wait=0.01, max_wait=0.05))
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        saver.get_tuple(config("t"))
    assert time.monotonic() - start < 10
    assert "3 attempt" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)
    no_retry = RedisSaver(url, retry=None)
    with pytest.raises(StoreUnavailableError, match="1 attempt"):
        no_retry.put(config("t"), checkpoint({"x": 1}), {}, {"x": 1})


def test_with_allowlist_clones_share_the_connection_and_keep_working(redis_url: str, prefix: str) -> None:
    strict = JsonPlusSerializer(allowed_msgpack_modules=[("datetime", "date")])
    saver = AsyncRedisSaver(redis_url, serde=strict, **saver_kwargs(prefix))
    try:
        clone = saver.with_allowlist([("decimal", "Decimal")])
        assert clone is not saver and clone.serde is not saver.serde
        assert type(clone) is AsyncRedisSaver and clone.client is saver.client
        clone.put(config("t"), checkpoint({"d": decimal.Decimal("1.5")}), {}, {"d": 1})
        got = asyncio.run(clone.aget_tuple(config("t"))).checkpoint["channel_values"]["d"]
        assert got == decimal.Decimal("1.5") and isinstance(got, decimal.Decimal)
        assert saver.get_tuple(config("t")) is not None
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


def test_setup_is_idempotent(saver: RedisSaver) -> None:
    saver.setup()
    saver.setup()
    saver.put(config("t"), checkpoint({"x": 1}), {}, {"x": 1})
    assert len(list(saver.list(None, filter={"step": None}))) == 1


def test_clients_the_saver_cannot_send_on_are_refused_with_a_typed_error(redis_url: str) -> None:
    import redis.asyncio

    async_client = redis.asyncio.Redis.from_url(redis_url)
    with pytest.raises(IncompatibleClientError, match=r"asyncio client.*AsyncRedisSaver takes"):
        RedisSaver(redis_client=async_client)
    from redis.cache import CacheConfig

    cached = redis.Redis.from_url(redis_url, protocol=3, cache_config=CacheConfig())
    with pytest.raises(IncompatibleClientError, match="client-side caching"):
        RedisSaver(redis_client=cached)
    sync_client = redis.Redis.from_url(redis_url)
    assert RedisSaver(redis_client=sync_client).client is sync_client
    sync_client.close()


def test_setup_on_a_db_other_than_0_works_without_the_index(redis_url: str, prefix: str) -> None:
    """RediSearch refuses FT.CREATE outside db 0: the saver works without it (scan fallback)."""
    with RedisSaver(re.sub(r"(/\d*)?$", "/3", redis_url, count=1), **saver_kwargs(prefix)) as saver:
        try:
            saver.setup()
            put_chain(saver, "t", 2, metadata=lambda s: {"source": "loop", "step": s})
            assert [t.metadata["step"] for t in saver.list(None, filter={"step": 1})] == [1]
        finally:
            saver.delete_thread("t")
