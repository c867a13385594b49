"""Outages ridden out with the DEFAULT retry policy (no patient config): a restarted server, a
killed one, a lost reply; what is logged about them; and the deadline past which it gives up."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from redis_ckpt import AsyncRedisSaver, RedisSaver, RetryConfig, StoreUnavailableError
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis, free_port
from redis_ckpt.store import RedisStore
from tests.conftest import purge_prefix, saver_kwargs
from tests.graphs import counter_graph, loop_graph
from tests.helpers import checkpoint, config
from tests.proxy import FaultProxy
from tests.test_faults import Writer

STEPS = 600


def outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """(WARNINGs, INFOs) the retry policy logged (the redis_ckpt logger and its children)."""
    records = [r for r in caplog.records if r.name.startswith("redis_ckpt")]
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    back = [r.getMessage() for r in records if r.levelno == logging.INFO and "reachable again" in r.getMessage()]
    return warnings, back


def terminate(server: EmbeddedRedis) -> None:
    """SIGTERM: Redis writes its AOF out and exits; the data directory stays for start()."""
    assert server.process is not None
    server.process.terminate()
    server.process.wait(30)
    server.process = None


def run_graph(saver: RedisSaver, face: str, thread_id: str) -> dict[str, Any]:
    graph = loop_graph(saver, STEPS)
    cfg = {"configurable": {"thread_id": thread_id}, "recursion_limit": STEPS + 10}
    if face == "async":
        return dict(asyncio.run(graph.ainvoke({"count": 0, "log": []}, cfg)))
    return dict(graph.invoke({"count": 0, "log": []}, cfg))


def check_history(saver: RedisSaver, thread_id: str) -> None:
    """The run finished, each step once, and its history has every step's checkpoint, once."""
    cfg = {"configurable": {"thread_id": thread_id}}
    history = list(saver.list(cfg))
    assert len(history) == STEPS + 2  # the input, START, one per step: as without faults
    counts = sorted(t.checkpoint["channel_values"].get("count", 0) for t in history)
    assert counts == [0, 0, *range(1, STEPS + 1)]


@pytest.mark.slow
@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("fault", ["sigterm-1.3s", "sigkill-3s"])
def test_a_restart_mid_run_is_ridden_out_with_the_default_policy(
    aof_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture, face: str, fault: str
) -> None:
    """Before: a 1.3 s restart failed the run after 0.16-0.29 s of backoff, and each retry logged
    a WARNING (549-876 lines in 3 s). Now: the run finishes, nothing acknowledged is lost, no step
    runs twice, and the outage is two log lines."""
    saver = (AsyncRedisSaver if face == "async" else RedisSaver)(aof_server.url)
    writer = Writer(saver, "writer", seconds=4.0)
    outcome: dict[str, Any] = {}

    def graph_run() -> None:
        try:
            outcome["result"] = run_graph(saver, face, "graph")
        except BaseException as exc:
            outcome["error"] = exc

    runner = threading.Thread(target=graph_run, daemon=True)
    with caplog.at_level(logging.INFO, logger="redis_ckpt"):
        writer.start()
        runner.start()
        time.sleep(0.4)
        assert runner.is_alive(), "the graph finished before the fault"
        if fault == "sigterm-1.3s":
            terminate(aof_server)
            time.sleep(1.3)
        else:
            aof_server.kill()
            time.sleep(3.0)
        aof_server.start()
        runner.join(60)
        writer.join(60)
    try:
        assert "error" not in outcome, outcome.get("error")
        assert outcome["result"]["count"] == STEPS
        assert outcome["result"]["log"] == [f"s{n}" for n in range(STEPS)]  # no step twice or lost
        check_history(saver, "graph")
        writer.verify()  # every acknowledged put and put_writes is there, whole
        warnings, back = outage_lines(caplog)
        assert len(warnings) == 1 and "unavailable" in warnings[0], warnings
        assert len(back) == 1, back
    finally:
        saver.close()


def test_a_write_whose_reply_was_lost_is_applied_once(proxy: FaultProxy, redis_url: str, prefix: str) -> None:
    """The connection is cut after Redis ran the write and before its reply: the saver retries it
    (default policy) and the retry changes nothing."""
    saver = RedisSaver(proxy.url, **saver_kwargs(prefix))
    try:
        cp = checkpoint({"x": 1, "log": ["a"]}, {"x": 1, "log": 1})
        proxy.cut_after_request()
        saver.put(config("t"), cp, {"step": 0}, {"x": 1, "log": 1})
        proxy.cut_after_request()
        saver.put_writes(config("t", "", cp["id"]), [("log", "b"), ("x", 2)], "task")
        history = list(saver.list(config("t")))
        assert [t.checkpoint["id"] for t in history] == [cp["id"]]
        assert history[0].checkpoint["channel_values"] == {"x": 1, "log": ["a"]}
        assert history[0].pending_writes == [("task", "log", "b"), ("task", "x", 2)]
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


def test_a_graph_whose_replies_keep_getting_lost_runs_each_step_once(
    proxy: FaultProxy, redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    saver = RedisSaver(proxy.url, **saver_kwargs(prefix))
    stop = threading.Event()

    def cut_repeatedly() -> None:
        # Arm a cut, wait for it to happen, then leave the retry 0.2 s to get through: 6 cuts.
        for _ in range(6):
            proxy.cut_after_request()
            while proxy.cut_next and not stop.wait(0.005):
                pass
            if stop.wait(0.2):
                return

    cutter = threading.Thread(target=cut_repeatedly, daemon=True)
    try:
        cutter.start()
        graph = counter_graph(saver, nodes=60)
        with caplog.at_level(logging.INFO, logger="redis_ckpt"):
            result = graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": "t"}})
        stop.set()
        assert outage_lines(caplog)[0], "no reply was cut"
        assert result["log"] == [f"n{i}" for i in range(60)] and result["count"] == 60
        assert len(list(saver.list(config("t")))) == 62  # the input, START and one per node
    finally:
        stop.set()
        saver.close()
        purge_prefix(redis_url, prefix)


def test_an_outage_past_the_deadline_raises_once_logged_across_threads(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens: every call of 8 threads retries for the deadline, then raises the typed
    error naming how long it tried. One WARNING in all (the outage), not one per attempt."""
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}"
    saver = RedisSaver(url, retry=RetryConfig(deadline=1.0))
    store = RedisStore(url, retry=RetryConfig(deadline=1.0))
    errors: list[BaseException] = []

    def call(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    calls = [lambda: saver.get_tuple(config("t"))] * 6 + [lambda: store.get(("ns",), "k")] * 2
    threads = [threading.Thread(target=call, args=(fn,)) for fn in calls]
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="redis_ckpt"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert 1.0 <= time.monotonic() - start < 6
    assert len(errors) == 8 and all(isinstance(e, StoreUnavailableError) for e in errors)
    assert "over 1." in str(errors[0]) and "retry deadline 1 s" in str(errors[0])
    assert "hunter2" not in str(errors[0])
    warnings, _ = outage_lines(caplog)
    assert len(warnings) == 2, warnings  # the saver's outage and the store's: one each
    saver.close()
    store.close()


def test_the_first_success_after_an_outage_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = EmbeddedRedis(modules=False)
    server.port = free_port()
    saver = RedisSaver(server.url)
    try:
        threading.Timer(0.5, server.start).start()
        with caplog.at_level(logging.INFO, logger="redis_ckpt"):
            saver.put(config("t"), checkpoint({"x": 1}), {}, {"x": 1})
            assert saver.get_tuple(config("t")) is not None
        warnings, back = outage_lines(caplog)
        assert len(warnings) == 1 and len(back) == 1
    finally:
        saver.close()
        server.stop()


def test_retry_none_fails_at_the_first_error() -> None:
    saver = RedisSaver(f"redis://127.0.0.1:{free_port()}", retry=None)
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"1 attempt.*retry=None"):
        saver.get_tuple(config("t"))
    assert time.monotonic() - start < 1


@pytest.mark.slow
def test_the_store_rides_out_a_restart_with_the_default_policy(
    aof_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(aof_server.url)
    acked: list[int] = []
    errors: list[BaseException] = []

    def put_loop() -> None:
        deadline = time.monotonic() + 3.0
        n = 0
        while time.monotonic() < deadline:
            try:
                store.put(("docs",), f"k{n}", {"n": n})
            except BaseException as exc:
                errors.append(exc)
                return
            acked.append(n)
            n += 1

    writer = threading.Thread(target=put_loop, daemon=True)
    with caplog.at_level(logging.INFO, logger="redis_ckpt"):
        writer.start()
        time.sleep(0.4)
        terminate(aof_server)
        time.sleep(1.3)
        aof_server.start()
        writer.join(60)
    try:
        assert errors == []
        assert len(acked) > 10
        for n in acked:
            item = store.get(("docs",), f"k{n}")
            assert item is not None and item.value == {"n": n}, n
        warnings, back = outage_lines(caplog)
        assert len(warnings) == 1 and len(back) == 1, (warnings, back)
    finally:
        store.close()
