"""Small real LangGraph graphs used by the tests and the benchmark."""

from __future__ import annotations

import itertools
import operator
from typing import Annotated, Any

from langgraph.channels.delta import DeltaChannel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from typing_extensions import TypedDict


class CounterState(TypedDict):
    count: int
    log: Annotated[list[str], operator.add]


def counter_graph(checkpointer: Any, nodes: int = 3) -> Any:
    """A chain of `nodes` nodes, each adding 1 to `count` and its name to `log`."""
    builder = StateGraph(CounterState)
    names = [f"n{i}" for i in range(nodes)]
    for name in names:
        builder.add_node(name, lambda s, name=name: {"count": s["count"] + 1, "log": [name]})
    builder.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=checkpointer)


class ApprovalState(TypedDict):
    request: str
    answer: str


def approval_graph(checkpointer: Any) -> Any:
    """One human-in-the-loop interrupt between a draft and a finish step."""

    def ask(state: ApprovalState) -> dict[str, str]:
        return {"answer": interrupt({"question": f"approve {state['request']}?"})}

    builder = StateGraph(ApprovalState)
    builder.add_node("ask", ask)
    builder.add_node("finish", lambda s: {"answer": s["answer"].upper()})
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)


class FanOutState(TypedDict):
    items: list[str]
    results: Annotated[list[str], operator.add]


def fan_out_graph(checkpointer: Any, runs: list[str] | None = None) -> Any:
    """A Send fan-out whose every branch interrupts; `runs` records each completed branch."""

    def branch(arg: dict[str, str]) -> dict[str, list[str]]:
        answer = interrupt(f"question for {arg['item']}")
        if runs is not None:
            runs.append(arg["item"])
        return {"results": [f"{arg['item']}={answer}"]}

    builder = StateGraph(FanOutState)
    builder.add_node("branch", branch)
    builder.add_conditional_edges(START, lambda s: [Send("branch", {"item": i}) for i in s["items"]])
    builder.add_edge("branch", END)
    return builder.compile(checkpointer=checkpointer)


def _extend(state: list[str], writes: Any) -> list[str]:
    out = list(state)
    for write in writes:
        out.extend(write)
    return out


class DeltaState(TypedDict):
    items: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=4)]
    turns: int


class RareSnapshotState(TypedDict):
    items: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=1000)]
    turns: int


def delta_graph(checkpointer: Any, *, rare_snapshots: bool = False) -> Any:
    """Each invocation appends two items to a DeltaChannel list (snapshot every 4 updates, or
    every 1,000 with `rare_snapshots`: then the whole history is rebuilt from writes)."""
    builder = StateGraph(RareSnapshotState if rare_snapshots else DeltaState)
    builder.add_node("first", lambda s: {"items": [f"a{s.get('turns', 0)}"]})
    builder.add_node("second", lambda s: {"items": [f"b{s.get('turns', 0)}"], "turns": s.get("turns", 0) + 1})
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile(checkpointer=checkpointer)


def loop_graph(checkpointer: Any, steps: int) -> Any:
    """One node run `steps` times in a loop (a checkpoint per step), adding 1 to `count` and
    `s<count>` to `log`: a duplicated or lost step shows in `log`. Invoke with
    {"recursion_limit": steps + 10} in the config."""
    builder = StateGraph(CounterState)
    builder.add_node("step", lambda s: {"count": s["count"] + 1, "log": [f"s{s['count']}"]})
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: "step" if s["count"] < steps else END)
    return builder.compile(checkpointer=checkpointer)
