"""One worker of the rolling-upgrade test (tests/test_rolling_upgrade.py): run by the previous
release's interpreter (its own venv) or by this one's, it reads one JSON request a line on stdin
and answers one JSON line on stdout. It uses only the public API both releases share, and imports
nothing from the tests: the previous release's venv has only its own package and langgraph.

    python tests/rolling_worker.py REDIS_URL PREFIX
"""

from __future__ import annotations

import json
import operator
import sys
import traceback
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from redis_ckpt import RedisSaver


class State(TypedDict):
    items: Annotated[list[str], operator.add]
    approved: str


def graph(saver: RedisSaver) -> Any:
    """Work, then wait for approval (an interrupt), then work again."""

    def work(state: State) -> dict[str, Any]:
        return {"items": [f"work-{len(state['items'])}"]}

    def ask(state: State) -> dict[str, Any]:
        answer = interrupt({"question": "approve?", "seen": len(state["items"])})
        return {"approved": str(answer), "items": [f"approved-{answer}"]}

    def finish(state: State) -> dict[str, Any]:
        return {"items": ["done"]}

    builder = StateGraph(State)
    builder.add_node("work", work)
    builder.add_node("ask", ask)
    builder.add_node("finish", finish)
    builder.add_edge(START, "work")
    builder.add_edge("work", "ask")
    builder.add_edge("ask", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=saver)


def shown(value: Any) -> Any:
    """A value as JSON both releases produce alike (objects by their repr)."""
    return json.loads(json.dumps(value, default=repr, sort_keys=True))


def thread_config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def history(saver: RedisSaver, thread_id: str) -> list[Any]:
    """Everything a reader sees of a thread: each snapshot of the graph's state history, and each
    checkpoint tuple with its pending writes."""
    states = [
        {
            "id": s.config["configurable"]["checkpoint_id"],
            "values": s.values,
            "next": list(s.next),
            "step": s.metadata.get("step") if s.metadata else None,
            "interrupts": [repr(i.value) for task in s.tasks for i in task.interrupts],
        }
        for s in graph(saver).get_state_history(thread_config(thread_id))
    ]
    tuples = [
        {
            "id": t.checkpoint["id"],
            "values": t.checkpoint["channel_values"],
            "versions": t.checkpoint["channel_versions"],
            "parent": (t.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
            "writes": sorted(repr(w) for w in t.pending_writes or []),
        }
        for t in saver.list(thread_config(thread_id))
    ]
    return shown({"states": states, "tuples": tuples})


def handle(saver: RedisSaver, request: dict[str, Any]) -> Any:
    op, thread_id = request["op"], request.get("thread")
    if op == "where":  # which package this worker runs
        import redis_ckpt

        return redis_ckpt.__file__
    if op == "setup":
        saver.setup()
        return None
    if op == "start":
        return shown(graph(saver).invoke({"items": [request["input"]], "approved": ""}, thread_config(thread_id)))
    if op == "resume":
        return shown(graph(saver).invoke(Command(resume=request["answer"]), thread_config(thread_id)))
    if op == "update_state":
        return shown(graph(saver).update_state(thread_config(thread_id), {"items": [request["item"]]}))
    if op == "put_writes":
        latest = saver.get_tuple(thread_config(thread_id))
        assert latest is not None
        saver.put_writes(latest.config, [("items", [request["item"]])], request["task"])
        return None
    if op == "history":
        return history(saver, thread_id)
    if op == "threads":
        return sorted({t.config["configurable"]["thread_id"] for t in saver.list(None)})
    if op == "prune":
        saver.prune([thread_id], keep_last=request["keep_last"])
        return None
    if op == "delete_thread":
        saver.delete_thread(thread_id)
        return None
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    url, prefix = sys.argv[1], sys.argv[2]
    saver = RedisSaver(url, checkpoint_prefix=prefix, checkpoint_write_prefix=f"{prefix}_write")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply: dict[str, Any] = {"ok": handle(saver, request)}
        except Exception as exc:  # the test checks the type and message
            reply = {"error": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    saver.close()


if __name__ == "__main__":
    main()
