"""Real graphs on the saver: interrupts, Send fan-outs, DeltaChannel, processes, threads, loops."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from redis_ckpt import AsyncRedisSaver, RedisSaver
from tests.graphs import approval_graph, counter_graph, delta_graph, fan_out_graph


def cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def test_counter_graph_state_and_history_match_in_memory(saver: RedisSaver) -> None:
    ours, reference = counter_graph(saver), counter_graph(InMemorySaver())
    for graph in (ours, reference):
        graph.invoke({"count": 0, "log": []}, cfg("t"))
        graph.invoke({"count": 10, "log": ["again"]}, cfg("t"))
    assert (
        ours.get_state(cfg("t")).values
        == reference.get_state(cfg("t")).values
        == {"count": 13, "log": ["n0", "n1", "n2", "again", "n0", "n1", "n2"]}
    )
    ours_history = [(s.values, s.next, s.metadata["step"]) for s in ours.get_state_history(cfg("t"))]
    reference_history = [(s.values, s.next, s.metadata["step"]) for s in reference.get_state_history(cfg("t"))]
    assert ours_history == reference_history


def test_time_travel_fork_from_an_old_checkpoint(saver: RedisSaver) -> None:
    graph = counter_graph(saver)
    graph.invoke({"count": 0, "log": []}, cfg("t"))
    old = next(s for s in graph.get_state_history(cfg("t")) if s.metadata["step"] == 1)
    forked = graph.update_state(old.config, {"count": 100})
    graph.invoke(None, forked)
    assert graph.get_state(cfg("t")).values["count"] == 102


def test_interrupt_then_resume(saver: RedisSaver) -> None:
    graph = approval_graph(saver)
    first = graph.invoke({"request": "deploy", "answer": ""}, cfg("t"))
    assert first["__interrupt__"][0].value == {"question": "approve deploy?"}
    assert graph.get_state(cfg("t")).next == ("ask",)
    assert graph.invoke(Command(resume="yes"), cfg("t"))["answer"] == "YES"
    assert graph.get_state(cfg("t")).next == ()


def test_interrupted_thread_resumes_in_a_fresh_process(saver: RedisSaver, redis_url: str, prefix: str) -> None:
    graph = approval_graph(saver)
    graph.invoke({"request": "deploy", "answer": ""}, cfg("t"))
    script = textwrap.dedent(f"""
        from langgraph.types import Command
        from redis_ckpt import RedisSaver
        from tests.graphs import approval_graph
        with RedisSaver.from_conn_string({redis_url!r}, checkpoint_prefix={prefix!r},
                                         checkpoint_write_prefix={prefix + "_write"!r}) as saver:
            graph = approval_graph(saver)
            print(graph.invoke(Command(resume="ok from elsewhere"), {{"configurable": {{"thread_id": "t"}}}})["answer"])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK FROM ELSEWHERE"
    assert graph.get_state(cfg("t")).values["answer"] == "OK FROM ELSEWHERE"


def test_parallel_interrupts_resume_exactly_once_each_even_when_pruned_between_resumes(saver: RedisSaver) -> None:
    runs: list[str] = []
    graph = fan_out_graph(saver, runs)
    first = graph.invoke({"items": ["a", "b", "c"], "results": []}, cfg("t"))
    interrupts = {i.value: i.id for i in first["__interrupt__"]}
    assert len(interrupts) == 3
    for item in ("b", "a", "c"):
        saver.prune(["t"], strategy="keep_latest")
        graph.invoke(Command(resume={interrupts[f"question for {item}"]: item.upper()}), cfg("t"))
    assert sorted(runs) == ["a", "b", "c"]
    state = graph.get_state(cfg("t"))
    assert sorted(state.values["results"]) == ["a=A", "b=B", "c=C"]
    assert state.next == ()


def _native_equals_base_walk(saver: RedisSaver, config: dict[str, Any], channels: list[str]) -> None:
    native = saver.get_delta_channel_history(config=config, channels=channels)
    walked = BaseCheckpointSaver.get_delta_channel_history(saver, config=config, channels=channels)
    assert native == walked


def test_delta_channel_graph_history_matches_in_memory_and_the_reference_walk(saver: RedisSaver) -> None:
    ours, reference = delta_graph(saver), delta_graph(InMemorySaver())
    for _ in range(7):
        ours.invoke({"items": []}, cfg("t"))
        reference.invoke({"items": []}, cfg("t"))
    assert ours.get_state(cfg("t")).values == reference.get_state(cfg("t")).values
    assert len(ours.get_state(cfg("t")).values["items"]) == 14
    assert [s.values for s in ours.get_state_history(cfg("t"))] == [
        s.values for s in reference.get_state_history(cfg("t"))
    ]
    for snapshot in ours.get_state_history(cfg("t")):
        _native_equals_base_walk(saver, snapshot.config, ["items", "turns", "absent"])
    assert saver.get_delta_channel_history(config=cfg("t"), channels=[]) == {}


def test_prune_keeps_what_a_delta_channel_needs(saver: RedisSaver) -> None:
    graph = delta_graph(saver)
    for _ in range(7):
        graph.invoke({"items": []}, cfg("t"))
    before = graph.get_state(cfg("t")).values
    total = len(list(saver.list(cfg("t"))))
    saver.prune(["t"], strategy="keep_latest")
    kept = len(list(saver.list(cfg("t"))))
    assert 1 < kept < total  # ancestors back to the last snapshot, no more
    assert graph.get_state(cfg("t")).values == before
    graph.invoke({"items": []}, cfg("t"))
    assert graph.get_state(cfg("t")).values["items"] == before["items"] + ["a7", "b7"]


def test_one_sync_saver_shared_by_16_threads(saver: RedisSaver) -> None:
    graph = counter_graph(saver)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(3):
                graph.invoke({"count": 0, "log": []}, cfg(f"thread-{n}"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for n in range(16):
        state = graph.get_state(cfg(f"thread-{n}"))
        assert state.values["count"] == 3
        assert len(state.values["log"]) == 9
        assert len(list(saver.list(cfg(f"thread-{n}")))) == 15  # 3 runs x (input + 4 steps)


def test_async_saver_works_across_event_loops_and_threads(async_saver: AsyncRedisSaver) -> None:
    graph = counter_graph(async_saver)

    async def run(thread_id: str) -> int:
        await graph.ainvoke({"count": 0, "log": []}, cfg(thread_id))
        return (await graph.aget_state(cfg(thread_id))).values["count"]

    assert asyncio.run(run("a")) == 3
    assert asyncio.run(run("b")) == 3  # a second loop, same saver
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(asyncio.run(run("c"))))
    worker.start()
    worker.join(60)
    assert result == [3]
    assert graph.get_state(cfg("a")).values["count"] == 3  # its sync methods work too
    assert asyncio.run(async_saver.aget_tuple(cfg("b"))) is not None


def test_async_saver_runs_many_graphs_concurrently(async_saver: AsyncRedisSaver) -> None:
    graph = counter_graph(async_saver)

    async def main() -> list[int]:
        await asyncio.gather(*(graph.ainvoke({"count": 0, "log": []}, cfg(f"c{n}")) for n in range(64)))
        return [(await graph.aget_state(cfg(f"c{n}"))).values["count"] for n in range(64)]

    assert asyncio.run(main()) == [3] * 64


def test_async_saver_can_be_built_without_a_loop_and_opened_with_async_with(redis_url: str, prefix: str) -> None:
    async def main() -> int:
        async with AsyncRedisSaver.from_conn_string(
            redis_url, checkpoint_prefix=prefix, checkpoint_write_prefix=prefix + "_w"
        ) as saver:
            await saver.asetup()
            graph = counter_graph(saver)
            await graph.ainvoke({"count": 0, "log": []}, cfg("t"))
            items = [t async for t in saver.alist(cfg("t"), limit=2)]
            assert len(items) == 2
            await saver.adelete_thread("t")
            return len([t async for t in saver.alist(cfg("t"))])

    assert asyncio.run(main()) == 0
