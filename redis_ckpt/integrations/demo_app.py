"""The demo: a human-in-the-loop graph persisted in Redis and resumed in a fresh process. Run as
`python -m redis_ckpt.demo` or `redis-ckpt-demo`; that module's docstring is the guide.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from typing import Any

from typing_extensions import TypedDict

PREFIX = "redis_ckpt_demo"


class RefundState(TypedDict, total=False):
    customer: str
    amount: float
    draft: str
    decision: str
    outcome: str


def build_graph(checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def draft(state: RefundState) -> RefundState:
        return {"draft": f"Refund {state['amount']:.2f} EUR to {state['customer']}"}

    def approve(state: RefundState) -> RefundState:
        # Execution stops here; the state is in Redis until a human answers, from any process.
        return {"decision": interrupt({"question": f"Approve? {state['draft']}"})}

    def settle(state: RefundState) -> RefundState:
        done = "paid" if state["decision"] == "yes" else "declined"
        return {"outcome": f"{state['draft']}: {done}"}

    builder = StateGraph(RefundState)
    for name, node in (("draft", draft), ("approve", approve), ("settle", settle)):
        builder.add_node(name, node)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "approve")
    builder.add_edge("approve", "settle")
    builder.add_edge("settle", END)
    return builder.compile(checkpointer=checkpointer)


def start(url: str, thread_id: str) -> None:
    from redis_ckpt import RedisSaver

    with RedisSaver.from_conn_string(url, checkpoint_prefix=PREFIX) as saver:
        saver.setup()
        graph = build_graph(saver)
        result = graph.invoke({"customer": "Ada", "amount": 42.0}, {"configurable": {"thread_id": thread_id}})
        print(f"[process {os.getpid()}] interrupted: {result['__interrupt__'][0].value['question']}")


def clean_up(url: str, thread_id: str) -> None:
    """Leave the user's server as it was: the demo's thread goes, and the demo's search index once
    no demo thread is left (another run may still be using it)."""
    import contextlib

    import redis

    from redis_ckpt import RedisSaver
    from redis_ckpt.format.key_layout import glob_escape

    with RedisSaver.from_conn_string(url, checkpoint_prefix=PREFIX) as saver:
        saver.delete_thread(thread_id)
        client = saver.client
        if next(iter(client.scan_iter(match=glob_escape(PREFIX + ":") + "*", count=1000)), None) is None:
            with contextlib.suppress(redis.RedisError):  # no Search module, or no index
                client.execute_command("FT.DROPINDEX", saver.layout.search_index)  # type: ignore[no-untyped-call]
    print(f"deleted the demo's thread {thread_id} (pass --keep to leave it, e.g. for `redis-ckpt show`)")


def resume(url: str, thread_id: str, answer: str) -> None:
    from langgraph.types import Command

    from redis_ckpt import RedisSaver

    config = {"configurable": {"thread_id": thread_id}}
    with RedisSaver.from_conn_string(url, checkpoint_prefix=PREFIX) as saver:
        graph = build_graph(saver)
        print(f"[process {os.getpid()}] found thread {thread_id} waiting at {graph.get_state(config).next}")
        result = graph.invoke(Command(resume=answer), config)
        print(f"[process {os.getpid()}] resumed with {answer!r}: {result['outcome']}")
        print("history, newest first:")
        for snapshot in graph.get_state_history(config):
            step, source = snapshot.metadata.get("step"), snapshot.metadata.get("source")
            print(
                f"  step {step:>2} {source:<6} next={list(snapshot.next)!s:<12} "
                f"keys={sorted(snapshot.values)} id={snapshot.config['configurable']['checkpoint_id']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"), help="Redis URL (default: embedded server)")
    parser.add_argument("--resume", metavar="THREAD_ID", help=argparse.SUPPRESS)
    parser.add_argument("--answer", default="yes")
    parser.add_argument("--keep", action="store_true", help="leave the demo's thread in a server given by --url")
    args = parser.parse_args(argv)
    if args.resume:
        resume(args.url, args.resume, args.answer)
        return 0
    server = None
    if not args.url:
        from redis_ckpt.integrations.embedded_redis import EmbeddedRedis, module_paths

        server = EmbeddedRedis(modules=bool(module_paths())).start()
        args.url = server.url
        print(f"started an embedded Redis at {server.url}")
    try:
        thread_id = f"refund-{uuid.uuid4().hex[:8]}"
        start(args.url, thread_id)
        # A fresh interpreter: nothing survives but what is in Redis.
        cmd = [
            sys.executable,
            "-m",
            "redis_ckpt.demo",
            "--url",
            args.url,
            "--resume",
            thread_id,
            "--answer",
            args.answer,
        ]
        code = subprocess.run(cmd, check=False).returncode
        if server is None and not args.keep:
            clean_up(args.url, thread_id)
        elif server is None:
            print(f"kept thread {thread_id} under prefix {PREFIX!r}: redis-ckpt --prefix {PREFIX} show {thread_id}")
        return code
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
