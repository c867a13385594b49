"""Real Redis servers for the tests, started on free loopback ports and stopped afterwards.

- REDIS_URL set: every test runs against that server (its modules decide which paths run).
- Docker available (and REDIS_CKPT_DOCKER=1): testcontainers' `redis:8` (Search built in), plus a
  plain embedded server when the pip packages are there.
- Otherwise: redis-server from pip packages, once with the JSON and Search modules and once plain.

Each test gets its own key prefix, so tests never see each other's data, and its keys are
deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
import redis

from redis_ckpt import AsyncRedisSaver, RedisSaver
from redis_ckpt.embedded import EmbeddedRedis

SERVER_KINDS = ["search", "plain"]
S = TypeVar("S", bound=RedisSaver)


def _docker_works() -> bool:
    if os.environ.get("REDIS_CKPT_DOCKER") != "1" or not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


class _Servers:
    """Starts each kind of server on first use, stops all at session end."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self._stop: list[Any] = []

    def url(self, kind: str) -> str:
        if kind not in self.urls:
            self.urls[kind] = self._start(kind)
        return self.urls[kind]

    def _start(self, kind: str) -> str:
        if kind == "search" and _docker_works():
            from testcontainers.redis import RedisContainer

            container = RedisContainer("redis:8").start()
            self._stop.append(container.stop)
            return f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}"
        server = EmbeddedRedis(modules=(kind == "search")).start()
        self._stop.append(server.stop)
        return server.url

    def stop(self) -> None:
        for stop in reversed(self._stop):
            stop()


@pytest.fixture(scope="session")
def servers() -> Iterator[_Servers]:
    s = _Servers()
    yield s
    s.stop()


def _kinds() -> list[str]:
    return ["env"] if os.environ.get("REDIS_URL") else SERVER_KINDS


@pytest.fixture(scope="session", params=_kinds())
def redis_url(request: pytest.FixtureRequest, servers: _Servers) -> str:
    if request.param == "env":
        return os.environ["REDIS_URL"]
    return servers.url(request.param)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def purge_prefix(url: str, prefix: str) -> None:
    """Delete every key under the prefix, and its search index."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        with contextlib.suppress(redis.ResponseError):  # no index, or no Search module
            client.execute_command("FT.DROPINDEX", f"{prefix}:index")
    finally:
        client.close()


def saver_kwargs(prefix: str) -> dict[str, Any]:
    return {"checkpoint_prefix": prefix, "checkpoint_write_prefix": f"{prefix}_write"}


@contextlib.contextmanager
def fresh_saver(cls: type[S], url: str, prefix: str, **kwargs: Any) -> Iterator[S]:
    """A set-up saver on its own prefix; closed and its keys deleted afterwards."""
    s = cls(url, **saver_kwargs(prefix), **kwargs)
    try:
        s.setup()
        yield s
    finally:
        s.close()
        purge_prefix(url, prefix)


@pytest.fixture
def saver(redis_url: str, prefix: str) -> Iterator[RedisSaver]:
    with fresh_saver(RedisSaver, redis_url, prefix) as s:
        yield s


@pytest.fixture
def async_saver(redis_url: str, prefix: str) -> Iterator[AsyncRedisSaver]:
    with fresh_saver(AsyncRedisSaver, redis_url, prefix) as s:
        yield s


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def keys_under(client: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(client.scan_iter(match=f"{prefix}*", count=1000))
