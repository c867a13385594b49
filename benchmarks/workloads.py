"""Workloads: each prepares its data once per saver, then `op()` does one unit of work."""

from __future__ import annotations

import asyncio
import operator
import random
import threading
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from benchmarks.savers import Contender
from tests.helpers import checkpoint, config

Op = Callable[[], Any]


class Unsupported(Exception):
    """A saver cannot do this workload (it answers wrongly): shown as n/a with this reason."""


def _expect(found: list[Any], count: int, what: str) -> None:
    """Checked once when a workload is prepared, never inside the timed op: a saver that answers
    a query wrongly is not measured on it (a fast wrong answer is not a result)."""
    if len(found) != count:
        raise Unsupported(f"{what} returned {len(found)} checkpoints, expected {count}")


def chat(n: int = 20) -> list[Any]:
    text = "The quick brown fox jumps over the lazy dog. " * 4
    return [(HumanMessage if i % 2 == 0 else AIMessage)(content=f"{i}: {text}", id=str(i)) for i in range(n)]


def _call(c: Contender, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call a saver method, awaiting the async twin on async contenders."""
    if c.is_async:
        return c.run(getattr(c.saver, "a" + name)(*args, **kwargs))
    return getattr(c.saver, name)(*args, **kwargs)


def _invoke(c: Contender, graph: Any, inputs: Any, thread_id: str) -> Any:
    """Run a graph with the face the contender offers (official async savers refuse sync calls)."""
    cfg = {"configurable": {"thread_id": thread_id}}
    return c.run(graph.ainvoke(inputs, cfg)) if c.is_async else graph.invoke(inputs, cfg)


def _list(c: Contender, *args: Any, **kwargs: Any) -> list[Any]:
    if c.is_async:

        async def collect() -> list[Any]:
            return [t async for t in c.saver.alist(*args, **kwargs)]

        return c.run(collect())  # type: ignore[no-any-return]
    return list(c.saver.list(*args, **kwargs))


def _chain(c: Contender, thread_id: str, n: int, writes: int = 3, values: Any = None) -> list[str]:
    ids: list[str] = []
    parent = None
    version = None
    for step in range(n):
        # Versions as LangGraph makes them: from the saver's own get_next_version.
        version = c.saver.get_next_version(version, None)
        versions = {"messages": version, "step": version}
        cp = checkpoint({"messages": values or chat(), "step": step}, versions, step=step)
        _call(c, "put", config(thread_id, "", parent), cp, {"source": "loop", "step": step}, versions)
        cfg = config(thread_id, "", cp["id"])
        for w in range(writes):
            _call(c, "put_writes", cfg, [(f"ch{w}", {"w": w, "text": "x" * 100})], f"task-{w}", f"~path, {w:010d}")
        ids.append(cp["id"])
        parent = cp["id"]
    return ids


def put(c: Contender) -> Op:
    thread_id = uuid.uuid4().hex
    state: dict[str, Any] = {"parent": None, "step": 0}
    messages = chat()

    def op() -> None:
        step = state["step"] = state["step"] + 1
        cp = checkpoint({"messages": messages, "step": step}, {"messages": step, "step": step}, step=step)
        _call(
            c,
            "put",
            config(thread_id, "", state["parent"]),
            cp,
            {"source": "loop", "step": step},
            {"messages": step, "step": step},
        )
        state["parent"] = cp["id"]

    return op


def put_serialization(c: Contender) -> Op:
    """Only the serializer calls one `put` of the put workload makes (its values, the checkpoint
    without values, the metadata): the share of a put no saver can avoid."""
    messages = chat()
    cp = checkpoint({"messages": messages, "step": 1}, {"messages": 1, "step": 1}, step=1)
    bare = {k: v for k, v in cp.items() if k != "channel_values"}
    metadata = {"source": "loop", "step": 1, "parents": {}}
    dumps = c.saver.serde.dumps_typed

    def op() -> None:
        for value in (messages, 1, bare, metadata):
            dumps(value)

    return op


def put_writes(c: Contender) -> Op:
    thread_id = uuid.uuid4().hex
    ids = _chain(c, thread_id, 1, writes=0)
    counter = iter(range(10**9))

    def op() -> None:
        writes = [("a", {"x": 1}), ("b", "text" * 20), ("c", [1, 2, 3])]
        _call(c, "put_writes", config(thread_id, "", ids[0]), writes, f"task-{next(counter)}", "~path, 0000000001")

    return op


def _hundred(c: Contender) -> tuple[str, list[str]]:
    thread_id = uuid.uuid4().hex
    return thread_id, _chain(c, thread_id, 100)


def get_latest(c: Contender) -> Op:
    thread_id, _ = _hundred(c)
    return lambda: _call(c, "get_tuple", config(thread_id))


def get_by_id(c: Contender) -> Op:
    thread_id, ids = _hundred(c)
    rng = random.Random(1)
    return lambda: _call(c, "get_tuple", config(thread_id, "", rng.choice(ids)))


def get_large(c: Contender) -> Op:
    """get_tuple latest on a 10-checkpoint thread whose state holds a 1 MB document (set once)."""
    thread_id = uuid.uuid4().hex
    document = "d" * 1_000_000
    parent = None
    for step in range(10):
        cp = checkpoint({"document": document, "step": step}, {"document": 1, "step": step + 1}, step=step)
        new = {"step": step + 1, **({"document": 1} if step == 0 else {})}
        _call(c, "put", config(thread_id, "", parent), cp, {"source": "loop", "step": step}, new)
        parent = cp["id"]
    return lambda: _call(c, "get_tuple", config(thread_id))


def list_10(c: Contender) -> Op:
    thread_id, _ = _hundred(c)
    return lambda: _list(c, config(thread_id), limit=10)


def list_filtered(c: Contender) -> Op:
    thread_id, _ = _hundred(c)

    def op() -> list[Any]:
        return _list(c, config(thread_id), filter={"source": "loop", "step": 50}, limit=10)

    _expect(op(), 1, "list(config, filter)")
    return op


def list_all_threads(c: Contender) -> Op:
    """list(None, filter, limit=10): a search across every thread on the server, for the one
    checkpoint of a 100-checkpoint thread whose metadata names a fresh run id."""
    thread_id, run = uuid.uuid4().hex, uuid.uuid4().hex
    parent = None
    for step in range(100):
        cp = checkpoint({"messages": chat(), "step": step}, {"messages": step + 1, "step": step + 1}, step=step)
        metadata = {"source": "loop", "step": step, "run": run}
        _call(c, "put", config(thread_id, "", parent), cp, metadata, {"messages": step + 1, "step": step + 1})
        parent = cp["id"]

    def op() -> list[Any]:
        return _list(c, None, filter={"run": run, "step": 50}, limit=10)

    _expect(op(), 1, "list(None, filter)")
    return op


class Counter(TypedDict):
    count: int
    log: Annotated[list[str], operator.add]


def counter_graph(saver: Any) -> Any:
    builder = StateGraph(Counter)
    for name in ("a", "b", "c"):
        builder.add_node(name, lambda s, name=name: {"count": s["count"] + 1, "log": [name]})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder.compile(checkpointer=saver)


def graph_invoke(c: Contender) -> Op:
    graph = counter_graph(c.saver)
    return lambda: _invoke(c, graph, {"count": 0, "log": []}, uuid.uuid4().hex)


def concurrent(n: int) -> Callable[[Contender], Op]:
    """One op = n graph invocations awaited together."""

    def make(c: Contender) -> Op:
        graph = counter_graph(c.saver)

        async def batch() -> None:
            await asyncio.gather(
                *(
                    graph.ainvoke({"count": 0, "log": []}, {"configurable": {"thread_id": uuid.uuid4().hex}})
                    for _ in range(n)
                )
            )

        return lambda: c.run(batch())

    return make


concurrent_64 = concurrent(64)


def threads_8(c: Contender) -> Op:
    """One op = 8 OS threads each invoking the graph twice."""
    graph = counter_graph(c.saver)

    def work() -> None:
        for _ in range(2):
            graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": uuid.uuid4().hex}})

    def op() -> None:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return op


def _extend(state: list[str], writes: Any) -> list[str]:
    return [*state, *(x for w in writes for x in w)]


class DeltaState(TypedDict):
    items: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=1000)]


def delta_walk(c: Contender) -> Op:
    """get_delta_channel_history on a DeltaChannel thread 60 invocations (about 120 ancestors) deep."""
    builder = StateGraph(DeltaState)
    builder.add_node("add", lambda s: {"items": [f"item-{len(s['items'])}"]})
    builder.add_edge(START, "add")
    builder.add_edge("add", END)
    graph = builder.compile(checkpointer=c.saver)
    thread_id = uuid.uuid4().hex
    for _ in range(60):
        _invoke(c, graph, {"items": []}, thread_id)
    cfg = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    return lambda: _call(c, "get_delta_channel_history", config=cfg, channels=["items"])


SYNC_AND_ASYNC = {
    "put (20 messages)": put,
    "put_writes (3 writes)": put_writes,
    "get_tuple latest": get_latest,
    "get_tuple by id": get_by_id,
    "get_tuple, 1 MB state": get_large,
    "list(limit=10)": list_10,
    "list(filter, limit=10)": list_filtered,
    "list(None, filter)": list_all_threads,
    "3-node graph invoke": graph_invoke,
    "delta history walk": delta_walk,
}
ASYNC_ONLY = {"8 concurrent ainvoke": concurrent(8), "64 concurrent ainvoke": concurrent_64}
SYNC_ONLY = {"8 OS threads invoking": threads_8}
