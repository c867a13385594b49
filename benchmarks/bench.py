"""redis-ckpt against the official langgraph-checkpoint-redis and InMemorySaver, side by side.

    python -m benchmarks.bench --quick      # about a minute
    python -m benchmarks.bench              # the full run quoted in docs/performance.md

All savers share one Redis server (embedded Redis 8.2 with Search+JSON unless --url/REDIS_URL).
Each workload is measured in rounds; in every round each saver runs for the same wall time, in a
rotating order, so machine drift hits all savers alike. Reported: median ops/s over rounds, the
ratio to the official saver, round trips per op (counted, not timed) and bytes per checkpoint.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis

from benchmarks import workloads
from benchmarks.savers import MEMORY, OFFICIAL, OFFICIAL_ASYNC, OURS, OURS_ASYNC, Contender, build
from tests.helpers import checkpoint, config
from tests.roundtrips import counting

SYNC = [OURS, OFFICIAL, MEMORY]
ASYNC = [OURS_ASYNC, OFFICIAL_ASYNC]
TARGETS = {  # workload -> (saver compared, minimum ratio to the official saver of the same face)
    "get_tuple latest": (OURS, 3.0),
    "get_tuple by id": (OURS, 3.0),
    "put (20 messages)": (OURS, 1.5),
    "3-node graph invoke": (OURS, 1.5),
    "64 concurrent ainvoke": (OURS_ASYNC, 1.0),
}


def sample(op: Callable[[], Any], seconds: float) -> float:
    """ops/s of `op` over about `seconds` (at least 3 calls)."""
    n, start = 0, time.perf_counter()
    while True:
        op()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 3:
            return n / elapsed


def round_trips(name: str, op: Callable[[], Any]) -> tuple[str, str]:
    """(round trips, KB sent) of one op, counted on the redis-py connections."""
    if name in (MEMORY, OFFICIAL_ASYNC):  # no redis-py sync connection to count on
        return "-", "-"
    with counting() as counted:
        op()
    return str(counted.count), f"{counted.bytes_sent / 1000:.1f}"


def run_workload(
    title: str, make: Callable[[Contender], Callable[[], Any]], names: list[str], url: str, rounds: int, seconds: float
) -> dict[str, tuple[float, tuple[str, str]]]:
    contenders = {name: build(name, url) for name in names}
    ops = {name: make(c) for name, c in contenders.items()}
    for op in ops.values():
        op()  # warm-up: connections, scripts, caches
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            samples[name].append(sample(ops[name], seconds))
    result = {name: (statistics.median(samples[name]), round_trips(name, ops[name])) for name in names}
    for c in contenders.values():
        if hasattr(c.saver, "close") and c.name in (OURS, OURS_ASYNC):
            c.saver.close()
    return result


def put_floor(url: str, rounds: int, seconds: float) -> tuple[float, float, float, int]:
    """(our put ops/s, raw one-round-trip ops/s carrying the same bytes, ops/s of the serializer
    calls alone that one put makes, bytes per put), interleaved in rounds."""
    ours = build(OURS, url)
    op = workloads.put(ours)
    op()
    with counting() as counted:
        op()
    payload = b"x" * counted.bytes_sent
    client = redis.Redis.from_url(url)
    key = f"floor{uuid.uuid4().hex}"

    def raw() -> None:
        client.set(key, payload)

    serialize = workloads.put_serialization(ours)
    ours_s, raw_s, serde_s = [], [], []
    for _ in range(rounds):
        ours_s.append(sample(op, seconds))
        raw_s.append(sample(raw, seconds))
        serde_s.append(sample(serialize, seconds / 2))
    client.delete(key)
    ours.saver.close()
    return statistics.median(ours_s), statistics.median(raw_s), statistics.median(serde_s), counted.bytes_sent


def memory_per_thread(url: str) -> dict[str, int]:
    """Redis memory (sum of MEMORY USAGE) of a 50-checkpoint thread with a static 10 KB channel."""
    client = redis.Redis.from_url(url)
    static = "s" * 10_000
    out = {}
    for name in (OURS, OFFICIAL):
        c = build(name, url)
        thread_id = f"mem{uuid.uuid4().hex}"
        parent = None
        for step in range(50):
            versions = {"static": 1, "counter": step + 1}
            cp = checkpoint({"static": static, "counter": step}, versions, step=step)
            new = {"counter": step + 1, **({"static": 1} if step == 0 else {})}
            c.saver.put(config(thread_id, "", parent), cp, {"source": "loop", "step": step}, new)
            parent = cp["id"]
        keys = list(client.scan_iter(match=f"*{thread_id}*", count=1000))
        out[name] = sum(client.memory_usage(k, samples=0) or 0 for k in keys)
    return out


def plot(table: dict[str, dict[str, float]], path: str) -> None:
    """A horizontal bar chart of ops/s (log scale): one group per workload, one bar per saver."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    savers = [OURS, OFFICIAL, OURS_ASYNC, OFFICIAL_ASYNC, MEMORY]
    colors = ["#d62728", "#7f7f7f", "#ff9896", "#c7c7c7", "#1f77b4"]
    workload_names = list(table)
    height = 0.8 / len(savers)
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.6 * len(workload_names)))
    for i, (saver, color) in enumerate(zip(savers, colors)):
        ys = [w + i * height for w, name in enumerate(workload_names) if saver in table[name]]
        xs = [table[name][saver] for name in workload_names if saver in table[name]]
        ax.barh(ys, xs, height=height, color=color, label=saver)
    ax.set_yticks([w + 0.4 - height / 2 for w in range(len(workload_names))], workload_names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ops/s (median over rounds, log scale; higher is better)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(savers), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (about a minute)")
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--plot", metavar="PNG", help="also draw ops/s per saver and workload (needs matplotlib)")
    args = parser.parse_args(argv)
    rounds, seconds = (3, 0.15) if args.quick else (7, 0.5)
    server = None
    if not args.url:
        from redis_ckpt.integrations.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis(modules=True).start()
        args.url = server.url
    try:
        info = redis.Redis.from_url(args.url).info("server")
        print(
            f"# redis-ckpt benchmark: Redis {info['redis_version']} on loopback, python {platform.python_version()}, "
            f"{os.cpu_count()} cores, rounds={rounds} x {seconds}s per saver"
        )
        print(f"{'workload':<26}{'saver':<18}{'ops/s':>10}{'vs official':>13}{'RT/op':>7}{'KB sent/op':>12}")
        failures = []
        table: dict[str, dict[str, float]] = {}
        # The floor first, on a server not yet filled by the other workloads (its raw SET rewrites
        # one key, so a put should not pay for memory the others grew); printed at the end.
        ours, floor, serde, size = put_floor(args.url, rounds, seconds)
        plan = [(t, m, SYNC + ASYNC) for t, m in workloads.SYNC_AND_ASYNC.items()]
        plan += [(t, m, [*ASYNC, MEMORY]) for t, m in workloads.ASYNC_ONLY.items()]
        plan += [(t, m, SYNC) for t, m in workloads.SYNC_ONLY.items()]
        for title, make, names in plan:
            result = run_workload(title, make, names, args.url, rounds, seconds)
            table[title] = {name: result[name][0] for name in names}
            for name in names:
                ops, (rts, sent) = result[name]
                base = OFFICIAL_ASYNC if name in ASYNC else OFFICIAL
                ratio = ops / result[base][0] if base in result else float("nan")
                shown = f"{ops:.0f}" if ops >= 100 else f"{ops:.1f}"
                print(f"{title:<26}{name:<18}{shown:>10}{ratio:>12.2f}x{rts:>7}{sent:>12}")
            if title in TARGETS:
                who, minimum = TARGETS[title]
                base = OFFICIAL_ASYNC if who in ASYNC else OFFICIAL
                ratio = result[who][0] / result[base][0]
                if ratio < minimum:
                    failures.append(f"{title}: {who} {ratio:.2f}x < {minimum}x")
        put_us, floor_us, serde_us = 1e6 / ours, 1e6 / floor, 1e6 / serde
        print(
            f"\nput floor: redis-ckpt put {put_us:.0f} us vs one raw round trip of the same {size} bytes "
            f"{floor_us:.0f} us -> {put_us / floor_us:.2f}x the floor (target <= 2x); of the put, "
            f"{serde_us:.0f} us is LangGraph's serializer, without it {(put_us - serde_us) / floor_us:.2f}x"
        )
        if put_us / floor_us > 2:
            failures.append(f"put is {put_us / floor_us:.2f}x the physical floor")
        memory = memory_per_thread(args.url)
        print(
            "memory, 50 checkpoints with a static 10 KB channel: "
            + ", ".join(f"{k} {v / 1000:.1f} KB ({v / 50:.0f} bytes per checkpoint)" for k, v in memory.items())
            + " (target <= 60 KB)"
        )
        if memory[OURS] > 60_000:
            failures.append(f"memory {memory[OURS]} bytes > 60 KB")
        if args.plot:
            plot(table, args.plot)
        print("\nall targets met" if not failures else "\nshort of target: " + "; ".join(failures))
        return 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
