"""Memory of a chat thread's whole history (issue 8): the tool-calling agent of
`benchmarks/chat_agent.py`, run for 50 and 200 turns under each saver, side by side.

    python -m benchmarks.chat_memory            # 50 and 200 turns (a few minutes)
    python -m benchmarks.chat_memory --turns 50 # one size only

Printed per saver: bytes in Redis for the thread (sum of `MEMORY USAGE key SAMPLES 0` over its
keys; InMemorySaver: the bytes it keeps), that as a multiple of the final state's serialized size,
bytes sent per put (median over the last turn), and put / get_tuple time at the last turn
(medians). The Search module's own index memory is not included for any saver.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from benchmarks.chat_agent import build_graph, run_turns
from redis_ckpt import RedisSaver
from tests.roundtrips import counting

TARGET = 1.5  # x the final state, compression on (issue 8)
TARGET_UNCOMPRESSED = 3.0
SAVERS = ("redis-ckpt", "redis-ckpt uncompressed", "official", "InMemorySaver")


class Timed:
    """Wraps a saver's put to record time and bytes sent of each call while `on`."""

    def __init__(self, saver: Any) -> None:
        self.saver, self.on = saver, False
        self.times: list[float] = []
        self.sent: list[int] = []
        original = saver.put

        def put(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return original(*args, **kwargs)
            with counting(this_thread_only=True) as counted:
                start = time.perf_counter()
                result = original(*args, **kwargs)
                self.times.append(time.perf_counter() - start)
            self.sent.append(counted.bytes_sent)
            return result

        saver.put = put


def redis_bytes(client: redis.Redis, prefix: str) -> int:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    return sum(client.memory_usage(k, samples=0) or 0 for k in keys)


def memory_saver_bytes(saver: InMemorySaver) -> int:
    """The serialized bytes InMemorySaver keeps: checkpoints, metadata, values and writes."""
    total = sum(len(v[1]) for v in saver.blobs.values())
    for namespaces in saver.storage.values():
        for checkpoints in namespaces.values():
            for (_, cp), (_, md), _ in checkpoints.values():
                total += len(cp) + len(md)
    for writes in saver.writes.values():
        total += sum(len(w[2][1]) for w in writes.values())
    return total


def make(name: str, url: str, prefix: str) -> Any:
    kwargs: dict[str, Any] = {"checkpoint_prefix": prefix, "checkpoint_write_prefix": prefix + "_w"}
    saver: Any
    if name == "redis-ckpt":
        saver = RedisSaver(url, **kwargs)
    elif name == "redis-ckpt uncompressed":
        saver = RedisSaver(url, compress=False, **kwargs)
    elif name == "InMemorySaver":
        return InMemorySaver()
    else:  # benchmark-only dependency, never imported by the package
        from langgraph.checkpoint.redis import RedisSaver as Official

        saver = Official(redis_url=url, **kwargs)
    saver.setup()
    return saver


def measure(name: str, url: str, turns: int) -> dict[str, float]:
    prefix = f"chat{uuid.uuid4().hex[:6]}"
    saver = make(name, url, prefix)
    timed = Timed(saver)
    graph = build_graph(saver)
    run_turns(graph, "thread", turns - 1)
    timed.on = True
    run_turns(graph, "thread", 1, start=turns - 1)
    timed.on = False
    config = {"configurable": {"thread_id": "thread"}}
    gets = []
    for _ in range(15):
        start = time.perf_counter()
        latest = saver.get_tuple(config)
        gets.append(time.perf_counter() - start)
    serde = JsonPlusSerializer()
    state = sum(len(serde.dumps_typed(v)[1]) for v in latest.checkpoint["channel_values"].values())
    client = redis.Redis.from_url(url)
    stored = memory_saver_bytes(saver) if name == "InMemorySaver" else redis_bytes(client, prefix)
    client.close()
    resends = getattr(saver, "resends", 0)
    if hasattr(saver, "close"):
        saver.close()
    return {
        "resends": resends,
        "bytes": stored,
        "state": state,
        "ratio": stored / state,
        "sent": statistics.median(timed.sent) if timed.sent else float("nan"),
        "put_ms": statistics.median(timed.times) * 1e3,
        "get_ms": statistics.median(gets) * 1e3,
    }


def plot(table: dict[int, dict[str, float]], path: str) -> None:
    """Grouped bars, log scale: bytes each saver holds for the thread, per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [t + (i - len(names) / 2 + 0.5) * width for t in range(len(table))]
        ax.bar(xs, [table[turns][name] / 1e6 for turns in table], width, label=name)
    ax.set_xticks(range(len(table)), [f"{turns} turns" for turns in table])
    ax.set_yscale("log")
    ax.set_ylabel("MB in Redis for the thread (log)")
    ax.set_title("A chat thread's whole history (tool-calling agent, 5 checkpoints per turn)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, action="append", help="turns (repeatable; default 50 and 200)")
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--savers", default=",".join(SAVERS), help=f"comma-separated, from {', '.join(SAVERS)}")
    parser.add_argument("--plot", metavar="PNG", help="also draw bytes per saver and size (needs matplotlib)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.savers.split(",") if n.strip()]
    server = None
    if not args.url:
        from redis_ckpt.integrations.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis(modules=True).start()
        args.url = server.url
    failures: list[str] = []
    table: dict[int, dict[str, float]] = {}
    try:
        header = f"{'turns':>5}  {'saver':<28}{'bytes in Redis':>15}{'x final':>9}{'KB sent/put':>12}"
        print(header + f"{'put ms':>8}{'get ms':>8}")
        for turns in args.turns or [50, 200]:
            for name in names:
                r = measure(name, args.url, turns)
                table.setdefault(turns, {})[name] = r["bytes"]
                print(
                    f"{turns:>5}  {name:<28}{r['bytes']:>15,.0f}{r['ratio']:>8.2f}x{r['sent'] / 1000:>12.1f}"
                    f"{r['put_ms']:>8.2f}{r['get_ms']:>8.2f}"
                    f"   (final state {r['state']:,} bytes; {r['resends']} puts resent)"
                )
                limit = {"redis-ckpt": TARGET, "redis-ckpt uncompressed": TARGET_UNCOMPRESSED}.get(name)
                if limit and r["ratio"] > limit:
                    failures.append(f"{turns} turns, {name}: {r['ratio']:.2f}x > {limit}x")
        print("\nall memory targets met" if not failures else "\nshort of target: " + "; ".join(failures))
        if args.plot:
            plot(table, args.plot)
        return 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
