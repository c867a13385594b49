"""What write ownership costs, and how long the longest server call of delete_for_runs is.

    python -m benchmarks.ownership_bench            # 100,000 checkpoints, a few minutes
    python -m benchmarks.ownership_bench --quick    # 10,000 checkpoints

1. put, put_writes, a 3-node graph invoke and get_tuple, unowned and owned, in alternating
   rounds (same wall time each): median µs per op, the ratio, and round trips (counted).
2. delete_for_runs of every 10th checkpoint of a thread of N (with message-list values, so the
   garbage collection has records and chunks to trace), unowned and owned (both: batched deletes,
   incremental collection; owned calls fenced): wall time, how many server calls took over 5 ms,
   and the longest (SLOWLOG with a 0 µs threshold, every command logged; on a shared machine
   the longest is noisy: a descheduled server inflates one call).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis

from redis_ckpt import RedisSaver
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis
from redis_ckpt.redis_io import scripts
from tests.graphs import counter_graph
from tests.helpers import checkpoint, config
from tests.roundtrips import counting

ROUNDS = 7


def per_op_us(op: Callable[[], Any], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n < 3:
        op()
        n += 1
    return elapsed / n * 1e6


def ops(saver: RedisSaver, cfg: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    thread_id = cfg["configurable"]["thread_id"]
    state = {"parent": None, "step": 0}
    graph = counter_graph(saver, nodes=3)

    def put() -> None:
        step = state["step"] = state["step"] + 1
        configurable = {**cfg["configurable"], "checkpoint_ns": ""}
        if state["parent"]:
            configurable["checkpoint_id"] = state["parent"]
        cp = checkpoint({"messages": [f"message {i} " * 8 for i in range(20)], "n": step}, step=step)
        saver.put({"configurable": configurable}, cp, {"step": step}, {"messages": 1, "n": 1})
        state["parent"] = cp["id"]

    def put_writes() -> None:
        configurable = {**cfg["configurable"], "checkpoint_ns": "", "checkpoint_id": state["parent"]}
        saver.put_writes({"configurable": configurable}, [("n", state["step"])], "task")

    def invoke() -> None:
        graph_cfg = {"configurable": {**cfg["configurable"], "thread_id": thread_id + "-graph"}}
        graph.invoke({"count": 0, "log": []}, graph_cfg)

    return {
        "put (20 messages)": put,
        "put_writes": put_writes,
        "3-node graph invoke": invoke,
        "get_tuple latest": lambda: saver.get_tuple(config(thread_id)),
    }


def cost(saver: RedisSaver, seconds: float) -> None:
    plain = ops(saver, config("plain"))
    owned_handle = saver.acquire("owned", lease=600)
    graph_owned = saver.acquire("owned-graph", lease=600)
    owned = ops(saver, owned_handle.config)
    # the graph runs on its own thread id: give it that thread's ownership
    owned["3-node graph invoke"] = lambda: counter_graph_invoke(saver, graph_owned)
    for f in (*plain.values(), *owned.values()):  # warm up, and a parent for put_writes
        f()
    print(f"{'operation':<22} {'unowned µs':>11} {'owned µs':>9} {'ratio':>6} {'round trips':>12}")
    for name in plain:
        a, b = [], []
        for _ in range(ROUNDS):
            a.append(per_op_us(plain[name], seconds))
            b.append(per_op_us(owned[name], seconds))
        with counting() as ca:
            plain[name]()
        with counting() as cb:
            owned[name]()
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{name:<22} {ma:>11.0f} {mb:>9.0f} {mb / ma:>6.2f} {ca.count:>5} / {cb.count:<5}")
    saver.release(owned_handle)
    saver.release(graph_owned)


_GRAPHS: dict[int, Any] = {}


def counter_graph_invoke(saver: RedisSaver, held: Any) -> None:
    graph = _GRAPHS.setdefault(id(saver), counter_graph(saver, nodes=3))
    graph.invoke({"count": 0, "log": []}, held.config)


def build_thread(saver: RedisSaver, thread_id: str, n: int, run_id: str) -> None:
    parent = None
    messages: list[str] = []
    for step in range(n):
        messages = [*messages[-30:], f"turn {step} " * 20]  # a sliding chat window: records and chunks
        cp = checkpoint({"messages": messages, "n": step}, step=step)
        meta = {"step": step, "run_id": run_id if step % 10 == 5 else f"keep-{step // 1000}"}
        cfg = config(thread_id, "", parent)
        saver.put(cfg, cp, meta, {"messages": step + 1, "n": step + 1})  # type: ignore[arg-type]
        parent = cp["id"]


def longest_call(client: redis.Redis, run: Callable[[], None]) -> tuple[float, float, int, str]:
    client.config_set("slowlog-max-len", 1_000_000)
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    entries = client.slowlog_get(1_000_000)
    client.config_set("slowlog-log-slower-than", 10_000)
    ours = [e for e in entries if not e["command"].upper().startswith((b"SLOWLOG", b"CONFIG"))]
    worst = max(ours, key=lambda e: e["duration"])
    words = worst["command"].split() if isinstance(worst["command"], bytes) else [b"?"]
    names = {sha.encode(): name for name, sha in scripts.SHAS.items()}
    command = " ".join(names.get(w, w[:40].decode(errors="replace")) for w in words[:2])
    if b"EVAL" in words[0] and len(words) > 2:
        command += f" ({len(words)} args)"
    over_5ms = sum(1 for e in ours if e["duration"] > 5000)
    return wall, worst["duration"] / 1000, over_5ms, command


def gc(url: str, n: int) -> None:
    client = redis.Redis.from_url(url)
    print(f"\ndelete_for_runs of every 10th checkpoint of a thread of {n:,} (message-list values)")
    print(f"{'mode':<10} {'wall s':>7} {'calls > 5 ms':>13} {'longest ms':>11}  longest command")
    for mode in ("unowned", "owned"):
        prefix = f"ob{uuid.uuid4().hex[:6]}"
        with RedisSaver(url, checkpoint_prefix=prefix, checkpoint_write_prefix=prefix + "_w") as saver:
            saver.setup()
            build_thread(saver, "big", n, "doomed")

            def run(saver: RedisSaver = saver, mode: str = mode) -> None:
                if mode == "owned":
                    with saver.own("big"):
                        saver.delete_for_runs(["doomed"])
                else:
                    saver.delete_for_runs(["doomed"])

            wall, longest, over_5ms, command = longest_call(client, run)
            left = sum(1 for _ in saver._ids("big", ""))
            assert left == n - n // 10, left
            print(f"{mode:<10} {wall:>7.2f} {over_5ms:>13} {longest:>11.2f}  {command}")
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.unlink(key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args()
    server = None if args.url else EmbeddedRedis(modules=True).start()
    url = args.url or server.url  # type: ignore[union-attr]
    try:
        with RedisSaver(url, checkpoint_prefix=f"ob{uuid.uuid4().hex[:6]}") as saver:
            saver.setup()
            cost(saver, 0.2 if args.quick else 0.5)
        gc(url, 10_000 if args.quick else 100_000)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
