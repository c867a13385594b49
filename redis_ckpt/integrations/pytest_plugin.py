"""The pytest plugin: the Redis the tests run against and the ready savers and stores. pytest
registers it through `redis_ckpt.testing` (entry point `pytest11: redis_ckpt`), whose docstring is
the guide.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import redis

from redis_ckpt import AsyncRedisSaver, AsyncRedisStore, RedisSaver, RedisStore
from redis_ckpt.format.key_layout import glob_escape
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis, module_paths

DOCKER_IMAGE = "redis:8"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "redis_ckpt_modules",
        "redis-ckpt plugin: load the JSON and Search modules into the embedded Redis when installed",
        type="bool",
        default=True,
    )


def docker_requested_and_working() -> bool:
    """True when REDIS_CKPT_DOCKER=1 and a Docker engine answers."""
    if os.environ.get("REDIS_CKPT_DOCKER") != "1" or not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def redis_server(modules: bool = True) -> Iterator[str]:
    """The URL of a Redis server for as long as the block runs (see the module docstring)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if docker_requested_and_working():
        from testcontainers.redis import RedisContainer

        container = RedisContainer(DOCKER_IMAGE).start()
        try:
            yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}"
        finally:
            container.stop()
        return
    server = EmbeddedRedis(modules=modules and bool(module_paths())).start()
    try:
        yield server.url
    finally:
        server.stop()


def purge(url: str, saver: RedisSaver) -> None:
    """Delete every key of the saver's deployment (both prefixes) and its search index."""
    _delete(url, saver.layout.scan_patterns, [saver.layout.search_index])


def purge_store(url: str, store: RedisStore) -> None:
    """Delete every key of the store's prefix and its search indexes."""
    _delete(url, [glob_escape(store.layout.prefix + ":") + "*"], [store.layout.item_index, store.layout.vector_index])


def _delete(url: str, patterns: Iterable[str], indexes: Iterable[str]) -> None:
    client = redis.Redis.from_url(url)
    try:
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        for index in indexes:
            with contextlib.suppress(redis.ResponseError):  # no index, or no Search module
                client.execute_command("FT.DROPINDEX", index)  # type: ignore[no-untyped-call]
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_ckpt_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """A Redis server for the whole session (REDIS_URL, Docker, or embedded)."""
    with redis_server(modules=bool(pytestconfig.getini("redis_ckpt_modules"))) as url:
        yield url


@pytest.fixture
def redis_ckpt_prefix() -> str:
    """A key prefix no other test uses."""
    return f"rc{uuid.uuid4().hex[:12]}"


def _saver_fixture(factory: Callable[..., Any], url: str, prefix: str) -> Iterator[Any]:
    saver = factory(url, checkpoint_prefix=prefix, checkpoint_write_prefix=f"{prefix}_write")
    try:
        saver.setup()
        yield saver
    finally:
        saver.close()
        purge(url, saver)


@pytest.fixture
def redis_saver(redis_ckpt_url: str, redis_ckpt_prefix: str) -> Iterator[RedisSaver]:
    """A set-up RedisSaver on a unique prefix; its keys are deleted after the test."""
    yield from _saver_fixture(RedisSaver, redis_ckpt_url, redis_ckpt_prefix)


def _store_fixture(factory: Callable[..., Any], url: str, prefix: str) -> Iterator[Any]:
    store = factory(url, prefix=f"{prefix}_store")
    try:
        store.setup()
        yield store
    finally:
        store.close()
        purge_store(url, store)


@pytest.fixture
def redis_store(redis_ckpt_url: str, redis_ckpt_prefix: str) -> Iterator[RedisStore]:
    """A set-up RedisStore (long-term memory) on a unique prefix; its keys are deleted after."""
    yield from _store_fixture(RedisStore, redis_ckpt_url, redis_ckpt_prefix)


@pytest.fixture
def async_redis_store(redis_ckpt_url: str, redis_ckpt_prefix: str) -> Iterator[AsyncRedisStore]:
    """A set-up AsyncRedisStore on a unique prefix (usable from any event loop); keys deleted after."""
    yield from _store_fixture(AsyncRedisStore, redis_ckpt_url, redis_ckpt_prefix)


@pytest.fixture
def async_redis_saver(redis_ckpt_url: str, redis_ckpt_prefix: str) -> Iterator[AsyncRedisSaver]:
    """A set-up AsyncRedisSaver on a unique prefix (usable from any event loop); keys deleted after."""
    yield from _saver_fixture(AsyncRedisSaver, redis_ckpt_url, redis_ckpt_prefix)
