"""Graphs served by `langgraph dev` with redis-ckpt as the checkpointer (see langgraph.json).

    REDIS_CKPT_URL=redis://127.0.0.1:6379 langgraph dev --no-browser

- `refund`: redis-ckpt's demo graph: drafts a refund and waits at an interrupt for approval.
- `slow`: counts up with a pause between steps (SLOW_STEP_SECONDS), long enough to be interrupted
  by a second run with multitask_strategy="rollback" or "interrupt".
"""

from __future__ import annotations

import asyncio
import operator
import os
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from redis_ckpt.demo import build_graph

refund = build_graph(None)  # the server supplies the checkpointer


class Counter(TypedDict):
    label: str
    steps: Annotated[list[str], operator.add]


async def first(state: Counter) -> Counter:
    return {"label": state["label"], "steps": [f"{state['label']}:first"]}


async def pause(state: Counter) -> Counter:
    await asyncio.sleep(float(os.environ.get("SLOW_STEP_SECONDS", "1")))
    return {"label": state["label"], "steps": [f"{state['label']}:paused"]}


async def last(state: Counter) -> Counter:
    return {"label": state["label"], "steps": [f"{state['label']}:last"]}


_builder = StateGraph(Counter)
_builder.add_node("first", first)
_builder.add_node("pause", pause)
_builder.add_node("last", last)
_builder.add_edge(START, "first")
_builder.add_edge("first", "pause")
_builder.add_edge("pause", "last")
_builder.add_edge("last", END)
slow = _builder.compile()
