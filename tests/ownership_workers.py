"""Worker processes for the write-ownership tests (started with multiprocessing spawn): each runs
a small real graph against Redis, with or without ownership, on commands sent through a pipe."""

from __future__ import annotations

import itertools
import random
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata

from redis_ckpt import OwnershipLostError, RedisSaver, ThreadBusyError
from tests.conftest import saver_kwargs
from tests.graphs import CounterState

NODES = 5


class RecordingSaver(RedisSaver):
    """Remembers every checkpoint whose put was acknowledged (returned without error)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acked: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        result = super().put(config, checkpoint, metadata, new_versions)
        with self._lock:
            self.acked.append((str(config["configurable"]["thread_id"]), checkpoint["id"]))
        return result


def slow_graph(saver: Any, pause: float, stall: tuple[float, float] = (0.0, 0.0)) -> Any:
    """A chain of NODES nodes, each adding 1 to `count` and its name to `log` after `pause` s;
    with probability stall[0], a node stalls stall[1] s more (a GC pause, a slow call)."""
    from langgraph.graph import END, START, StateGraph

    def node(state: CounterState, name: str) -> dict[str, Any]:
        time.sleep(pause)
        if stall[0] and random.random() < stall[0]:
            time.sleep(random.uniform(0, stall[1]))
        return {"count": state["count"] + 1, "log": [name]}

    builder = StateGraph(CounterState)
    names = [f"n{i}" for i in range(NODES)]
    for name in names:
        builder.add_node(name, lambda s, name=name: node(s, name))
    builder.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=saver)


def run(graph: Any, saver: RedisSaver, thread_id: str, resume: bool, lease: float | None) -> str:
    """One invoke: resume (input None) or a new run; "done", "lost" (refused) or "busy"."""
    payload = None if resume else {"count": 0, "log": []}
    try:
        if lease is None:
            graph.invoke(payload, {"configurable": {"thread_id": thread_id}})
        else:
            with saver.own(thread_id, lease=lease, wait=5 * lease) as owned:
                graph.invoke(payload, owned.config)
    except OwnershipLostError:
        return "lost"
    except ThreadBusyError:
        return "busy"
    return "done"


def serve(url: str, prefix: str, pause: float, conn: Connection) -> None:
    """Run (thread_id, resume, lease) commands until None; answer each with its outcome."""
    with RedisSaver(url, **saver_kwargs(prefix)) as saver:
        graph = slow_graph(saver, pause)
        conn.send("ready")
        while (command := conn.recv()) is not None:
            thread_id, resume, lease = command
            try:
                conn.send(run(graph, saver, thread_id, resume, lease))
            except Exception as exc:  # reported to the test, which fails on it
                conn.send(f"error: {exc!r}")


def fight(
    url: str, prefix: str, threads: int, ids: list[str], seconds: float, lease: float | None, conn: Connection
) -> None:
    """`threads` Python threads that, for `seconds`, pick random thread ids and run the graph on
    them (owned when `lease` is set), with random stalls; sends back the acknowledged puts and
    the outcomes."""
    with RecordingSaver(url, **saver_kwargs(prefix)) as saver:
        graph = slow_graph(saver, 0.002, stall=(0.1, 3 * (lease or 0.1)))
        outcomes: dict[str, int] = {}
        errors: list[str] = []
        deadline = time.monotonic() + seconds

        def loop() -> None:
            while time.monotonic() < deadline:
                thread_id = random.choice(ids)
                try:
                    outcome = run(graph, saver, thread_id, False, lease)
                except Exception as exc:  # only ownership outcomes are expected
                    errors.append(repr(exc))
                    continue
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

        workers = [threading.Thread(target=loop) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        conn.send((saver.acked, outcomes, errors))


def cancelled_request(url: str, prefix: str, thread_id: str, conn: Connection) -> None:
    """An async request that waits for a busy thread and is timed out (asyncio.wait_for); then
    the process lives on, its saver's worker threads with it, until told to stop."""
    import asyncio

    from redis_ckpt import AsyncRedisSaver

    async def request(saver: AsyncRedisSaver) -> None:
        async with saver.aown(thread_id, lease=30, wait=10):
            pass

    async def timed_out(saver: AsyncRedisSaver) -> str:
        try:
            await asyncio.wait_for(request(saver), 0.3)
        except asyncio.TimeoutError:
            return "timed out"
        return "acquired"

    with AsyncRedisSaver(url, **saver_kwargs(prefix)) as saver:
        conn.send(asyncio.run(timed_out(saver)))
        conn.recv()
