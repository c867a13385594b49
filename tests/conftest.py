"""Real Redis servers for the tests, started on free loopback ports and stopped afterwards.

- REDIS_URL set: every test runs against that server (its modules decide which paths run).
- Docker available (and REDIS_CKPT_DOCKER=1): testcontainers' `redis:8` (Search built in), plus a
  plain embedded server when the pip packages are there.
- Otherwise: redis-server from pip packages, once with the JSON and Search modules and once plain.
- The files in CLUSTER_TEST_FILES also run on an embedded Redis Cluster (3 primaries + 3 replicas),
  plain and with the modules (REDIS_CLUSTER_URL, a `?cluster=true` URL, replaces both when set;
  with only REDIS_URL set they run on that server alone).

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
from redis.cluster import RedisCluster

from redis_ckpt import AsyncRedisSaver, RedisSaver
from redis_ckpt.integrations.embedded_redis import EmbeddedCluster, EmbeddedRedis
from redis_ckpt.redis_io.connection import server_is_cluster
from tests.proxy import FaultProxy

SERVER_KINDS = ["search", "plain"]
CLUSTER_KINDS = ["cluster", "cluster-search"]
# The test files that also run on a cluster: the contract and its round trips, not the whole suite twice.
CLUSTER_TEST_FILES = {
    "test_conformance.py",
    "test_delete_threads.py",
    "test_contract.py",
    "test_round_trips.py",
    "test_differential.py",
    "test_graphs.py",
    "test_maintenance.py",
    "test_format_version.py",
}
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
        if kind in CLUSTER_KINDS:
            cluster = EmbeddedCluster(modules=(kind == "cluster-search")).start()
            self._stop.append(cluster.stop)
            return cluster.url
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


def _kinds(module_file: str) -> list[str]:
    kinds = ["env"] if os.environ.get("REDIS_URL") else list(SERVER_KINDS)
    if os.path.basename(module_file) in CLUSTER_TEST_FILES:
        if os.environ.get("REDIS_CLUSTER_URL"):
            kinds.append("env-cluster")
        elif not os.environ.get("REDIS_URL"):  # a given server is what the run is about
            kinds += CLUSTER_KINDS
    return kinds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_url" in metafunc.fixturenames:
        metafunc.parametrize("redis_url", _kinds(str(metafunc.definition.fspath)), indirect=True, scope="session")


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest, servers: _Servers) -> str:
    if request.param == "env":
        return os.environ["REDIS_URL"]
    if request.param == "env-cluster":
        return os.environ["REDIS_CLUSTER_URL"]
    return str(servers.url(request.param))


def client_for(url: str) -> Any:
    """A raw client for a test URL: a RedisCluster for a `?cluster=true` URL or a cluster node's."""
    if "cluster=true" in url:
        return RedisCluster.from_url(url.split("?", 1)[0])
    client = redis.Redis.from_url(url)
    if url.startswith("redis://") and server_is_cluster(client):
        client.close()
        return RedisCluster.from_url(url)
    return client


def is_cluster_url(url: str) -> bool:
    return "cluster=true" in url


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def purge_prefix(url: str, prefix: str) -> None:
    """Delete every key under the prefix, and its search index."""
    client = client_for(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])  # a cluster client splits it by slot
        if isinstance(client, RedisCluster):  # one index per primary
            for node in client.get_primaries():
                node_client = client.get_redis_connection(node)
                with contextlib.suppress(redis.ResponseError):  # no Search module
                    for name in node_client.execute_command("FT._LIST"):
                        if (name.decode() if isinstance(name, bytes) else name).startswith(f"{prefix}:index"):
                            node_client.execute_command("FT.DROPINDEX", name)
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
    client = client_for(redis_url)
    yield client
    client.close()


def keys_under(client: redis.Redis, prefix: str) -> list[bytes]:
    """The keys under a prefix, but the deployment's storage format marker (setup writes it, and
    no thread operation deletes it)."""
    marker = f"{prefix}:format".encode()
    return sorted(k for k in client.scan_iter(match=f"{prefix}*", count=1000) if k != marker)


@pytest.fixture
def proxy(redis_url: str) -> Iterator[FaultProxy]:
    """A TCP proxy in front of the test server that can cut or stall connections (tests/proxy.py)."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    p = FaultProxy(port)
    yield p
    p.close()


@pytest.fixture
def aof_server() -> Iterator[EmbeddedRedis]:
    """A plain server that fsyncs its AOF on every write: what it acknowledged survives a kill."""
    server = EmbeddedRedis(modules=False, extra_args=["--appendonly", "yes", "--appendfsync", "always"]).start()
    yield server
    server.stop()
