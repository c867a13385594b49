"""FastAPI + AsyncRedisSaver: one saver for the app's lifetime, opened and closed by the lifespan.

    REDIS_URL=redis://127.0.0.1:6379 uvicorn app:app --workers 4

The graph is redis-ckpt's demo graph (draft a refund, wait for a human's approval, settle), so a
run stops at an interrupt and is resumed by a later request, in any worker.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from langgraph.types import Command
from pydantic import BaseModel

from redis_ckpt import AsyncRedisSaver
from redis_ckpt.demo import build_graph


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The saver binds to no event loop: its own thread pool runs the Redis I/O, so it is safe to
    # create here and to use from every request handler.
    async with AsyncRedisSaver.from_conn_string(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        checkpoint_prefix=os.environ.get("REDIS_CKPT_PREFIX", "checkpoint"),
        checkpoint_write_prefix=os.environ.get("REDIS_CKPT_PREFIX", "checkpoint") + "_write",
    ) as saver:
        await saver.asetup()
        app.state.graph = build_graph(saver)
        yield


app = FastAPI(lifespan=lifespan)


class Refund(BaseModel):
    customer: str
    amount: float


class Answer(BaseModel):
    answer: str


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def _reply(result: dict[str, Any]) -> dict[str, Any]:
    interrupts = result.get("__interrupt__") or []
    return {"waiting_for": interrupts[0].value if interrupts else None, "outcome": result.get("outcome")}


@app.post("/refunds/{thread_id}")
async def start(thread_id: str, refund: Refund) -> dict[str, Any]:
    result = await app.state.graph.ainvoke(refund.model_dump(), _config(thread_id))
    return _reply(result)


@app.post("/refunds/{thread_id}/answer")
async def answer(thread_id: str, body: Answer) -> dict[str, Any]:
    state = await app.state.graph.aget_state(_config(thread_id))
    if not state.next:
        raise HTTPException(409, f"thread {thread_id} is not waiting for an answer")
    result = await app.state.graph.ainvoke(Command(resume=body.answer), _config(thread_id))
    return _reply(result)


@app.get("/refunds/{thread_id}")
async def read(thread_id: str) -> dict[str, Any]:
    state = await app.state.graph.aget_state(_config(thread_id))
    if not state.values:
        raise HTTPException(404, f"no thread {thread_id}")
    history = [s async for s in app.state.graph.aget_state_history(_config(thread_id))]
    return {"values": state.values, "next": list(state.next), "checkpoints": len(history)}
