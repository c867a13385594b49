"""Celery prefork workers running a LangGraph graph on Redis checkpoints; Redis is the broker too.

    REDIS_URL=redis://127.0.0.1:6379 celery -A tasks worker --pool=prefork --concurrency=4

A run started anywhere (a web request, a script, another worker) stops at its interrupt; any
worker can resume it later, because the state lives in Redis under the thread id. The saver is
created when the worker master imports this module, before it forks its pool: each child gets
its own connections (redis-py) and threads (AsyncRedisSaver), and `asyncio.run` in a task is
fine because the saver binds to no event loop.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from celery import Celery
from langgraph.types import Command

from redis_ckpt import AsyncRedisSaver
from redis_ckpt.demo import build_graph

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
PREFIX = os.environ.get("REDIS_CKPT_PREFIX", "checkpoint")

app = Celery("refunds", broker=os.environ.get("CELERY_BROKER_URL", REDIS_URL), backend=REDIS_URL)
app.conf.update(task_serializer="json", result_serializer="json", worker_prefetch_multiplier=1)

saver = AsyncRedisSaver(REDIS_URL, checkpoint_prefix=PREFIX, checkpoint_write_prefix=f"{PREFIX}_write")
saver.setup()  # idempotent: every process may call it
graph = build_graph(saver)


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


@app.task(name="refunds.start_refund")
def start_refund(thread_id: str, customer: str, amount: float) -> dict[str, Any]:
    """Run until the approval interrupt; the question is returned, the state stays in Redis."""
    result = graph.invoke({"customer": customer, "amount": amount}, _config(thread_id))
    return {"waiting_for": result["__interrupt__"][0].value, "pid": os.getpid()}


@app.task(name="refunds.answer_refund")
def answer_refund(thread_id: str, answer: str) -> dict[str, Any]:
    """Resume a run that any process started (async API, a fresh event loop per task)."""
    result = asyncio.run(graph.ainvoke(Command(resume=answer), _config(thread_id)))
    return {"outcome": result["outcome"], "pid": os.getpid()}


@app.task(name="refunds.history")
def history(thread_id: str) -> dict[str, Any]:
    snapshots = list(graph.get_state_history(_config(thread_id)))
    return {"checkpoints": len(snapshots), "next": list(snapshots[0].next) if snapshots else None, "pid": os.getpid()}
