"""Sentinel: a primary, a replica and three sentinels on loopback; a failover during a write loop."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redis_ckpt import RedisSaver, StoreUnavailableError
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis, free_port, server_binary
from tests.helpers import checkpoint, config
from tests.test_faults import Writer

SERVICE = "ckpt-primary"


class Sentinels:
    def __init__(self, primary_port: int, count: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="redis-ckpt-sentinel-"))
        self.ports = [free_port() for _ in range(count)]
        self.processes = []
        for port in self.ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            log = open(self.dir / f"sentinel-{port}.log", "wb")  # noqa: SIM115 - lives with the process
            self.processes.append(subprocess.Popen([server_binary(), str(conf), "--sentinel"], stdout=log, stderr=log))

    def client(self, n: int = 0) -> redis.Redis:
        return redis.Redis(port=self.ports[n], socket_timeout=2)

    def primary_port(self) -> int:
        return int(self.client().sentinel_get_master_addr_by_name(SERVICE)[1])

    def wait(self, condition: str, check: object, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"sentinels: {condition} not reached in {timeout}s")

    def stop(self) -> None:
        for p in self.processes:
            p.terminate()
            p.wait(10)


@pytest.fixture
def sentinel_setup() -> Iterator[tuple[EmbeddedRedis, EmbeddedRedis, Sentinels]]:
    primary = EmbeddedRedis(modules=False).start()
    replica = EmbeddedRedis(modules=False, extra_args=["--replicaof", "127.0.0.1", str(primary.port)]).start()
    sentinels = Sentinels(primary.port)
    try:
        sentinels.wait("replica known", lambda: len(sentinels.client().sentinel_slaves(SERVICE)) == 1)
        sentinels.wait("sentinels know each other", lambda: len(sentinels.client().sentinel_sentinels(SERVICE)) == 2)
        yield primary, replica, sentinels
    finally:
        sentinels.stop()
        replica.stop()
        primary.stop()


@pytest.mark.slow
def test_a_sentinel_failover_during_a_write_loop_continues_on_the_new_primary(
    sentinel_setup: tuple[EmbeddedRedis, EmbeddedRedis, Sentinels],
) -> None:
    _, replica, sentinels = sentinel_setup
    hosts = ",".join(f"127.0.0.1:{p}" for p in sentinels.ports)
    saver = RedisSaver(f"redis+sentinel://{hosts}/{SERVICE}/0")
    try:
        saver.setup()
        writer = Writer(saver, "loop", seconds=6.0)
        writer.start()
        time.sleep(1.0)
        sentinels.client().execute_command("SENTINEL", "FAILOVER", SERVICE)
        sentinels.wait("failover", lambda: sentinels.primary_port() == replica.port)
        acked_before = len(writer.acked)
        writer.join(60)
        assert writer.errors == []
        assert len(writer.acked) > acked_before  # the loop went on after the failover
        assert sentinels.primary_port() == replica.port
        # Writes after the failover landed on the new primary; the thread reads back whole.
        last_id, last_step = writer.acked[-1]
        got = saver.get_tuple(config("loop"))
        assert got.config["configurable"]["checkpoint_id"] == last_id
        assert got.checkpoint["channel_values"]["x"] == last_step
        assert redis.Redis(port=replica.port).role()[0] == b"master"
        saver.put(config("after"), checkpoint({"x": 1}), {}, {"x": 1})
        assert saver.get_tuple(config("after")) is not None
    finally:
        saver.close()


@pytest.mark.slow
def test_a_read_that_timed_out_never_hands_its_reply_to_the_next_call() -> None:
    """Sentinel connections keep their socket on a read timeout; the saver must drop it, or the
    late reply of one call is read as the reply of the next (another thread's checkpoint)."""
    primary = EmbeddedRedis(modules=False).start()
    sentinels = Sentinels(primary.port, count=1)  # below the quorum of 2: never a failover
    hosts = ",".join(f"127.0.0.1:{p}" for p in sentinels.ports)
    saver = RedisSaver(f"redis+sentinel://{hosts}/{SERVICE}/0", connection_args={"socket_timeout": 0.1}, retry=None)
    try:
        sentinels.wait("primary known", lambda: sentinels.primary_port() == primary.port)
        saver.put(config("a"), checkpoint({"x": "thread a"}), {}, {"x": 1})
        saver.put(config("b"), checkpoint({"x": "thread b"}), {}, {"x": 1})
        # Hold every client for 0.5 s: past the socket timeout, short of the sentinel's down-after.
        redis.Redis(port=primary.port).client_pause(500, all=True)
        with pytest.raises(StoreUnavailableError, match="Timeout"):
            saver.get_tuple(config("a"))
        time.sleep(0.6)  # the reply to the timed-out call has arrived by now
        got = saver.get_tuple(config("b"))
        assert got.checkpoint["channel_values"] == {"x": "thread b"}
    finally:
        saver.close()
        sentinels.stop()
        primary.stop()
