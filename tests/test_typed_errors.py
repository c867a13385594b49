"""Wrong settings are reported at once, typed, saying what to do; never retried as an outage.

Each case runs with the DEFAULT retry policy (30 s deadline): a retried error would take seconds
and log the outage WARNING, so each test checks the call is fast and the log quiet. Saver and
store alike. (TLS mismatches: tests/test_tls.py.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from redis_ckpt import (
    AsyncRedisSaver,
    AuthenticationFailedError,
    BadDatabaseError,
    PermissionDeniedError,
    RedisSaver,
    RedisStore,
    ServerOutOfMemoryError,
)
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis
from tests.helpers import checkpoint, config


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedRedis]:
    """A server of its own: these tests change its users and its memory limit."""
    embedded = EmbeddedRedis(modules=False, extra_args=["--maxmemory-policy", "noeviction"]).start()
    yield embedded
    embedded.stop()


def saver_put(url: str) -> None:
    with RedisSaver(url) as saver:
        saver.put(config("t"), checkpoint({"x": 1}), {}, {"x": 1})


def saver_get(url: str) -> None:
    with RedisSaver(url) as saver:
        saver.get_tuple(config("t"))


def store_put(url: str) -> None:
    store = RedisStore(url)
    try:
        store.put(("ns",), "k", {"v": 1})
    finally:
        store.close()


def store_get(url: str) -> None:
    store = RedisStore(url)
    try:
        store.get(("ns",), "k")
    finally:
        store.close()


def async_saver_get(url: str) -> None:
    async def get() -> None:
        async with AsyncRedisSaver.from_conn_string(url) as saver:
            await saver.aget_tuple(config("t"))

    asyncio.run(get())


CALLS = [saver_put, saver_get, store_put, store_get, async_saver_get]
WRITES = [saver_put, store_put]


def raises_at_once(
    caplog: pytest.LogCaptureFixture, error: type[Exception], match: str, call: Callable[[], Any]
) -> Exception:
    """`call` raises `error` matching `match` in well under a second, with no outage logged."""
    caplog.clear()
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="redis_ckpt"), pytest.raises(error, match=match) as caught:
        call()
    assert time.monotonic() - start < 2, "retried (the default policy retries for 30 s)"
    assert "unavailable" not in caplog.text and "retrying" not in caplog.text
    return caught.value


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
def test_a_wrong_password_is_an_authentication_error_naming_the_credentials(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture, call: Callable[[str], None]
) -> None:
    redis.Redis(port=server.port).acl_setuser(
        "carol", enabled=True, passwords=["+right"], keys=["*"], commands=["+@all"]
    )
    url = f"redis://carol:hunter2@127.0.0.1:{server.port}"
    error = raises_at_once(caplog, AuthenticationFailedError, r"credentials.*user and password", lambda: call(url))
    assert "hunter2" not in str(error) and "carol:***@" in str(error)
    assert isinstance(error, PermissionError)


@pytest.mark.parametrize("call", WRITES, ids=lambda c: c.__name__)
def test_a_missing_acl_command_is_a_permission_error_naming_it(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture, call: Callable[[str], None]
) -> None:
    raw = redis.Redis(port=server.port)
    raw.acl_setuser("dave", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-hset", "-evalsha"])
    url = f"redis://dave:pw@127.0.0.1:{server.port}"
    error = raises_at_once(caplog, PermissionDeniedError, r"may not run the (HSET|EVALSHA) command", lambda: call(url))
    assert "`redis-ckpt --url <the same URL> doctor`" in str(error) and "docs/security.md" in str(error)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
def test_a_key_outside_the_acl_patterns_is_a_permission_error_naming_the_key(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture, call: Callable[[str], None]
) -> None:
    raw = redis.Redis(port=server.port)
    raw.acl_setuser("erin", enabled=True, passwords=["+pw"], keys=["elsewhere:*"], commands=["+@all"])
    url = f"redis://erin:pw@127.0.0.1:{server.port}"
    raises_at_once(caplog, PermissionDeniedError, r"command on key\(s\) '", lambda: call(url))


@pytest.mark.parametrize("call", WRITES, ids=lambda c: c.__name__)
def test_a_full_server_refuses_the_write_with_a_typed_error_naming_maxmemory(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture, call: Callable[[str], None]
) -> None:
    """The saver's writes are refused whole (MULTI/EXEC queues them with the OOM check), the
    store's by its write script's `#!lua` shebang (Redis then checks maxmemory before running it)."""
    raw = redis.Redis(port=server.port)
    raw.config_set("maxmemory", 1)
    try:
        error = raises_at_once(
            caplog, ServerOutOfMemoryError, r"maxmemory 1 bytes.*maxmemory-policy noeviction", lambda: call(server.url)
        )
        assert "nothing of that write was applied" in str(error)
    finally:
        raw.config_set("maxmemory", 0)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
def test_a_db_number_the_server_lacks_is_a_typed_error_saying_how_many_it_has(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture, call: Callable[[str], None]
) -> None:
    error = raises_at_once(
        caplog, BadDatabaseError, r"has no db 99: it has 16 \(0 to 15\)", lambda: call(f"{server.url}/99")
    )
    assert isinstance(error, ValueError)
