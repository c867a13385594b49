"""Flask under gunicorn with --preload: one saver, created before the fork, used by every worker.

    REDIS_URL=redis://127.0.0.1:6379 gunicorn --preload --workers 4 --bind 127.0.0.1:8000 app:app

With --preload this module runs once in the master, then gunicorn forks the workers. The saver
survives the fork: redis-py's pool opens new connections in a child (it checks the pid), and
AsyncRedisSaver gives a child fresh threads. Sync views use the graph's sync API; the read view
shows the async API from sync code (asyncio.run: the saver binds to no event loop).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from flask import Flask, abort, jsonify, request
from langgraph.types import Command

from redis_ckpt import AsyncRedisSaver
from redis_ckpt.demo import build_graph

PREFIX = os.environ.get("REDIS_CKPT_PREFIX", "checkpoint")

saver = AsyncRedisSaver(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
    checkpoint_prefix=PREFIX,
    checkpoint_write_prefix=f"{PREFIX}_write",
)
# Runs in the master, before the fork: scripts and index are ready before any worker starts.
asyncio.run(saver.asetup())
graph = build_graph(saver)
app = Flask(__name__)


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def _reply(result: dict[str, Any]) -> Any:
    interrupts = result.get("__interrupt__") or []
    return jsonify(
        waiting_for=interrupts[0].value if interrupts else None, outcome=result.get("outcome"), pid=os.getpid()
    )


@app.post("/refunds/<thread_id>")
def start(thread_id: str) -> Any:
    body = request.get_json()
    return _reply(graph.invoke({"customer": body["customer"], "amount": float(body["amount"])}, _config(thread_id)))


@app.post("/refunds/<thread_id>/answer")
def answer(thread_id: str) -> Any:
    if not graph.get_state(_config(thread_id)).next:
        abort(409, f"thread {thread_id} is not waiting for an answer")
    return _reply(graph.invoke(Command(resume=request.get_json()["answer"]), _config(thread_id)))


@app.get("/refunds/<thread_id>")
def read(thread_id: str) -> Any:
    state = asyncio.run(graph.aget_state(_config(thread_id)))
    if not state.values:
        abort(404, f"no thread {thread_id}")
    return jsonify(values=state.values, next=list(state.next), pid=os.getpid())


@app.get("/health")
def health() -> Any:
    return jsonify(pid=os.getpid())
