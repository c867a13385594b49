"""Faults on real servers: restarts, dropped and stalled connections, cancellation, load, size."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time

import pytest
import redis

from redis_ckpt import AsyncRedisSaver, RedisSaver, RetryConfig, ServerOutOfMemoryError, StoreUnavailableError
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis
from tests.conftest import fresh_saver, purge_prefix, saver_kwargs
from tests.graphs import counter_graph
from tests.helpers import checkpoint, config
from tests.proxy import FaultProxy


class Writer(threading.Thread):
    """Puts checkpoints with writes in a loop and records those acknowledged."""

    def __init__(self, saver: RedisSaver, thread_id: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.saver, self.thread_id, self.seconds = saver, thread_id, seconds
        self.acked: list[tuple[str, int]] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        deadline, parent, step = time.monotonic() + self.seconds, None, 0
        while time.monotonic() < deadline:
            try:
                cp = checkpoint({"x": step, "big": "v" * 2000}, {"x": step + 1, "big": 1}, step=step)
                self.saver.put(config(self.thread_id, "", parent), cp, {"step": step}, {"x": step + 1, "big": 1})
                self.saver.put_writes(config(self.thread_id, "", cp["id"]), [("w", step)], "task")
                self.acked.append((cp["id"], step))
                parent, step = cp["id"], step + 1
            except BaseException as exc:
                self.errors.append(exc)
                return

    def verify(self) -> None:
        assert self.errors == []
        assert len(self.acked) > 5
        for cid, step in self.acked:
            got = self.saver.get_tuple(config(self.thread_id, "", cid))
            assert got is not None, f"acknowledged checkpoint {step} lost"
            assert got.checkpoint["channel_values"] == {"x": step, "big": "v" * 2000}
            assert got.pending_writes == [("task", "w", step)]


@pytest.mark.slow
def test_sigkill_and_restart_with_aof_loses_no_acknowledged_checkpoint(aof_server: EmbeddedRedis) -> None:
    saver = RedisSaver(aof_server.url)
    graph = counter_graph(saver)
    writer = Writer(saver, "loop", seconds=3.0)
    writer.start()
    graph_errors: list[BaseException] = []

    def graph_loop() -> None:
        try:
            for n in range(40):
                graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": f"g{n}"}})
        except BaseException as exc:
            graph_errors.append(exc)

    runner = threading.Thread(target=graph_loop, daemon=True)
    runner.start()
    time.sleep(0.8)
    aof_server.kill()
    time.sleep(0.5)
    aof_server.start()
    writer.join(60)
    runner.join(120)
    assert graph_errors == []
    writer.verify()
    assert all(graph.get_state({"configurable": {"thread_id": f"g{n}"}}).values["count"] == 3 for n in range(40))
    saver.close()


def test_killed_client_connections_are_retried(saver: RedisSaver, raw: redis.Redis) -> None:
    writer = Writer(saver, "loop", seconds=1.5)
    writer.start()
    for _ in range(5):
        time.sleep(0.2)
        raw.client_kill_filter(_type="normal", skipme=True)
    writer.join(30)
    writer.verify()


def test_a_stall_shorter_than_the_retry_budget_is_ridden_out(proxy: FaultProxy, redis_url: str, prefix: str) -> None:
    saver = RedisSaver(proxy.url, connection_args={"socket_timeout": 0.2}, **saver_kwargs(prefix))
    try:
        saver.put(config("t"), checkpoint({"x": 1}), {}, {"x": 1})
        proxy.stall(0.6)
        assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"x": 1}
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


def test_an_outage_longer_than_the_retry_budget_raises_a_typed_error_naming_the_cause(
    proxy: FaultProxy, redis_url: str, prefix: str
) -> None:
    retry = RetryConfig(attempts=3, initial_wait=0.01, max_wait=0.05)
    saver = RedisSaver(proxy.url, connection_args={"socket_timeout": 0.2}, retry=retry, **saver_kwargs(prefix))
    try:
        saver.put(config("t"), checkpoint({"x": 1}), {}, {"x": 1})
        proxy.stall(5)
        start = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="Timeout"):
            saver.get_tuple(config("t"))
        assert time.monotonic() - start < 3
    finally:
        proxy.stall(0)
        saver.close()
        purge_prefix(redis_url, prefix)


def test_a_put_writes_retried_after_a_lost_reply_neither_duplicates_nor_replaces(
    proxy: FaultProxy, redis_url: str, prefix: str
) -> None:
    saver = RedisSaver(proxy.url, **saver_kwargs(prefix))
    try:
        cp = checkpoint({"x": 1})
        saver.put(config("t"), cp, {}, {"x": 1})
        proxy.cut_after_request()  # Redis stores the writes; the client never sees the reply
        saver.put_writes(config("t", "", cp["id"]), [("a", "first"), ("b", "first")], "task")
        saver.put_writes(config("t", "", cp["id"]), [("a", "second"), ("b", "second")], "task")
        assert saver.get_tuple(config("t")).pending_writes == [("task", "a", "first"), ("task", "b", "first")]
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


def test_cancelled_async_calls_leave_the_whole_operation_or_none(redis_url: str, prefix: str) -> None:
    async_saver = AsyncRedisSaver(redis_url, **saver_kwargs(prefix))
    cps = [checkpoint({"x": n, "y": "z" * 5000}, {"x": n + 1, "y": 1}, step=n) for n in range(60)]

    async def main() -> None:
        tasks = [
            asyncio.create_task(async_saver.aput(config(f"c{n}"), cp, {"n": n}, {"x": n + 1, "y": 1}))
            for n, cp in enumerate(cps)
        ]
        await asyncio.sleep(0)
        for task in random.Random(7).sample(tasks, 30):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    async_saver.close()  # waits for the worker threads: every started put has finished
    reader = RedisSaver(redis_url, **saver_kwargs(prefix))
    try:
        stored = 0
        for n, cp in enumerate(cps):
            got = reader.get_tuple(config(f"c{n}"))
            if got is not None:
                stored += 1
                assert got.checkpoint["channel_values"] == {"x": n, "y": "z" * 5000}
                assert got.config["configurable"]["checkpoint_id"] == cp["id"]
        assert stored >= 30  # at least every uncancelled one
    finally:
        reader.close()
        purge_prefix(redis_url, prefix)


@pytest.mark.slow
def test_32_threads_and_256_concurrent_async_runs_share_bounded_pools(redis_url: str, prefix: str) -> None:
    kwargs = saver_kwargs(prefix)
    sync_saver = RedisSaver(redis_url, connection_args={"max_connections": 16}, **kwargs)
    async_saver = AsyncRedisSaver(redis_url, connection_args={"max_connections": 32}, max_workers=32, **kwargs)
    errors: list[BaseException] = []
    try:
        sync_graph, async_graph = counter_graph(sync_saver), counter_graph(async_saver)

        def work(n: int) -> None:
            try:
                for i in range(3):
                    sync_graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": f"s{n}-{i}"}})
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()

        async def runs() -> None:
            await asyncio.gather(
                *(
                    async_graph.ainvoke({"count": 0, "log": []}, {"configurable": {"thread_id": f"a{n}"}})
                    for n in range(256)
                )
            )

        asyncio.run(asyncio.wait_for(runs(), 240))
        for t in threads:
            t.join(240)
        assert errors == []
        for n in range(256):
            assert async_graph.get_state({"configurable": {"thread_id": f"a{n}"}}).values["count"] == 3
        for n in range(32):
            for i in range(3):
                assert sync_graph.get_state({"configurable": {"thread_id": f"s{n}-{i}"}}).values["count"] == 3
    finally:
        sync_saver.close()
        async_saver.close()
        purge_prefix(redis_url, prefix)


def test_a_20_mb_state_is_stored_and_read_back_whole(saver: RedisSaver) -> None:
    big = "x" * (20 * 1024 * 1024)
    saver.put(config("t"), checkpoint({"big": big, "small": 1}), {}, {"big": 1, "small": 1})
    assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"big": big, "small": 1}


def test_setup_warns_about_an_evicting_server(caplog: pytest.LogCaptureFixture) -> None:
    server = EmbeddedRedis(
        modules=False, extra_args=["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]
    ).start()
    try:
        with caplog.at_level(logging.INFO, logger="redis_ckpt"), RedisSaver.from_conn_string(server.url) as saver:
            saver.setup()
        text = caplog.text
        assert "allkeys-lru" in text and "noeviction" in text
        assert "no Search module" in text
    finally:
        server.stop()


def test_setup_is_quiet_about_a_noeviction_server(saver: RedisSaver, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="redis_ckpt"):
        saver.setup()
    assert "maxmemory-policy" not in caplog.text


def test_a_server_that_lost_its_scripts_gets_them_again(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    """After a restart or failover the script cache is empty: every operation reloads what it needs,
    the put inside a transaction (the DeltaChannel TTL walk) included."""
    from tests.graphs import delta_graph

    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 10}) as saver:
        cfg = {"configurable": {"thread_id": "t"}}
        delta_graph(saver, rare_snapshots=True).invoke({"items": []}, cfg)
        first = saver.get_tuple(cfg)
        raw.script_flush()
        delta_graph(saver, rare_snapshots=True).invoke({"items": []}, cfg)  # put runs touch_chain
        assert len(delta_graph(saver, rare_snapshots=True).get_state(cfg).values["items"]) == 4
        # The walk gave the first checkpoint (an ancestor the delta channel needs) the TTL again.
        assert 0 < raw.ttl(saver.layout.checkpoint("t", "", first.config["configurable"]["checkpoint_id"])) <= 600
        listed = [t.checkpoint["id"] for t in saver.list(cfg)]
        raw.script_flush()
        assert [t.checkpoint["id"] for t in saver.list(cfg)] == listed and len(listed) > 2
        raw.script_flush()
        saver.delete_thread("t")
        assert saver.get_tuple(cfg) is None


def test_a_write_refused_for_lack_of_memory_leaves_nothing_behind() -> None:
    server = EmbeddedRedis(modules=False, extra_args=["--maxmemory-policy", "noeviction"]).start()
    try:
        client = redis.Redis.from_url(server.url)
        with RedisSaver.from_conn_string(server.url) as saver:
            saver.setup()
            first = checkpoint({"x": 1}, {"x": 1})
            saver.put(config("t"), first, {}, {"x": 1})
            saver.put_writes(config("t", "", first["id"]), [("w", 1)], "task")
            before = {k: client.dump(k) for k in client.scan_iter(count=1000)}
            client.config_set("maxmemory", 1)  # now every write command is refused
            second = checkpoint({"x": 2, "big": "y" * 10_000}, {"x": 2, "big": 1}, step=1)
            with pytest.raises(ServerOutOfMemoryError, match="noeviction"):
                saver.put(config("t", "", first["id"]), second, {}, {"x": 2, "big": 1})
            with pytest.raises(ServerOutOfMemoryError, match="nothing of that write was applied"):
                saver.put_writes(config("t", "", first["id"]), [("w", 2), ("v", 3)], "task2")
            client.config_set("maxmemory", 0)
            assert {k: client.dump(k) for k in client.scan_iter(count=1000)} == before
            latest = saver.get_tuple(config("t"))
            assert latest.checkpoint["id"] == first["id"]
            assert latest.pending_writes == [("task", "w", 1)]
    finally:
        server.stop()
