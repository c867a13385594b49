"""redis-ckpt against the official langgraph-checkpoint-redis, langgraph-checkpoint-aws's
ValkeySaver and InMemorySaver, side by side.

    python -m benchmarks.bench --quick      # a few minutes
    python -m benchmarks.bench              # the full run quoted in docs/performance.md

All savers share one Redis server (embedded Redis 8.2 with Search+JSON unless --url/REDIS_URL).
Each workload is measured in rounds; in every round each saver runs for the same wall time, in a
rotating order, so machine drift hits all savers alike. Reported: median ops/s over rounds, median
server µs per op (INFO commandstats around each sample, see benchmarks/servertime.py), the ratios
to the official and the aws saver of the same face, round trips per op (counted, not timed) and
bytes sent per op. A saver that raises on a workload, or answers it wrongly, shows n/a and why.
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
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis

from benchmarks import workloads
from benchmarks.savers import (
    AWS,
    AWS_ASYNC,
    MEMORY,
    OFFICIAL,
    OFFICIAL_ASYNC,
    OURS,
    OURS_ASYNC,
    Contender,
    build,
)
from benchmarks.servertime import ServerClock, nesting
from tests.helpers import checkpoint, config
from tests.roundtrips import counting

SYNC = [OURS, OFFICIAL, AWS, MEMORY]
ASYNC = [OURS_ASYNC, OFFICIAL_ASYNC, AWS_ASYNC]
# Issue 21's targets: (workload, saver, compared with, minimum ratio of ops/s).
TARGETS = [
    *((w, OURS, AWS, 1.2) for w in ("put (20 messages)", "get_tuple latest", "get_tuple by id")),
    *((w, OURS, AWS, 1.2) for w in ("3-node graph invoke", "list(limit=10)")),
    ("put (20 messages)", OURS, OFFICIAL, 3.0),
    ("get_tuple latest", OURS, OFFICIAL, 5.0),
    ("get_tuple by id", OURS, OFFICIAL, 5.0),
    ("3-node graph invoke", OURS, OFFICIAL, 1.7),
    ("8 concurrent ainvoke", OURS_ASYNC, OFFICIAL_ASYNC, 1.2),
]
MUST_RUN = [("64 concurrent ainvoke", OURS_ASYNC)]  # "64 concurrent async runs without errors"


@dataclass
class Measured:
    ops: float = float("nan")  # median ops/s over rounds
    server_us: float = float("nan")  # median server µs per op over rounds (nan: no server)
    round_trips: str = "-"
    sent: str = "-"
    skipped: str = ""  # why the saver could not run this workload


def sample(op: Callable[[], Any], seconds: float, clock: ServerClock | None) -> tuple[float, float]:
    """(ops/s, server µs per op) of `op` over about `seconds` (at least 3 calls)."""
    if clock:
        clock.start()
    n, start = 0, time.perf_counter()
    while True:
        op()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 3:
            break
    server = clock.stop() / n if clock else float("nan")
    return n / elapsed, server


def round_trips(name: str, op: Callable[[], Any]) -> tuple[str, str]:
    """(round trips, KB sent) of one op, counted on the redis-py connections."""
    if name in (MEMORY, OFFICIAL_ASYNC, AWS, AWS_ASYNC):  # no redis-py sync connection to count on
        return "-", "-"
    with counting() as counted:
        op()
    return str(counted.count), f"{counted.bytes_sent / 1000:.1f}"


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:90] if not isinstance(error, workloads.Unsupported) else text


def run_workload(
    make: Callable[[Contender], Callable[[], Any]], names: list[str], url: str, rounds: int, seconds: float
) -> dict[str, Measured]:
    result = {name: Measured() for name in names}
    ops: dict[str, Callable[[], Any]] = {}
    clocks: dict[str, ServerClock | None] = {}
    contenders: dict[str, Contender] = {}
    for name in names:
        # A saver that cannot do the workload (or is not installed) is reported and left out;
        # the run goes on.
        try:
            c = contenders[name] = build(name, url)
            op = make(c)
            op()  # warm-up: connections, scripts, caches
            # Which commands run nested, for the server clock (InMemorySaver has no server).
            clocks[name] = None if name == MEMORY else ServerClock(url, nesting(url, op))
            ops[name] = op
        except Exception as error:  # any failure of a peer is a result to print
            result[name].skipped = _reason(error)
    running = [name for name in names if name in ops]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in running}
    for r in range(rounds):
        order = running[r % max(len(running), 1) :] + running[: r % max(len(running), 1)]
        for name in order:
            try:
                if name in ops:
                    samples[name].append(sample(ops[name], seconds, clocks[name]))
            except Exception as error:  # as above, during the timed rounds
                result[name].skipped = _reason(error)
                del ops[name]
    for name in ops:
        measured = result[name]
        measured.ops = statistics.median(s[0] for s in samples[name])
        measured.server_us = statistics.median(s[1] for s in samples[name])
        measured.round_trips, measured.sent = round_trips(name, ops[name])
    for clock in clocks.values():
        if clock:
            clock.close()
    for c in contenders.values():
        if hasattr(c.saver, "close") and c.name in (OURS, OURS_ASYNC):
            c.saver.close()
    return result


def _same_face(name: str, sync: str, asynchronous: str) -> str:
    return asynchronous if name in ASYNC else sync


def row(title: str, name: str, result: dict[str, Measured]) -> str:
    """One printed line: a saver's numbers on a workload, or n/a and why."""
    m = result[name]
    if m.skipped:
        return f"{title:<26}{name:<18}{'n/a':>10}   ({m.skipped})"
    ratios = ""
    for base in (_same_face(name, OFFICIAL, OFFICIAL_ASYNC), _same_face(name, AWS, AWS_ASYNC)):
        ok = base in result and not result[base].skipped
        shown = f"{m.ops / result[base].ops:.2f}x" if ok else "-"
        ratios += f"{shown:>13}" if base.startswith("official") else f"{shown:>9}"
    ops = f"{m.ops:.0f}" if m.ops >= 100 else f"{m.ops:.1f}"
    server = "-" if m.server_us != m.server_us else f"{m.server_us:.0f}"  # nan: no server
    return f"{title:<26}{name:<18}{ops:>10}{server:>11}{ratios}{m.round_trips:>7}{m.sent:>12}"


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
        ours_s.append(sample(op, seconds, None)[0])
        raw_s.append(sample(raw, seconds, None)[0])
        serde_s.append(sample(serialize, seconds / 2, None)[0])
    client.delete(key)
    ours.saver.close()
    return statistics.median(ours_s), statistics.median(raw_s), statistics.median(serde_s), counted.bytes_sent


def memory_per_thread(url: str) -> dict[str, int]:
    """Redis memory (sum of MEMORY USAGE) of a 50-checkpoint thread with a static 10 KB channel."""
    client = redis.Redis.from_url(url)
    static = "s" * 10_000
    out = {}
    for name in (OURS, OFFICIAL, AWS):
        try:
            c = build(name, url)
        except ImportError:  # a peer not installed: the workloads above already said n/a
            continue
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

    savers = [OURS, OFFICIAL, AWS, OURS_ASYNC, OFFICIAL_ASYNC, AWS_ASYNC, MEMORY]
    colors = ["#d62728", "#7f7f7f", "#ff7f0e", "#ff9896", "#c7c7c7", "#ffbb78", "#1f77b4"]
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
    # Seven savers do not fit on one legend row under the axis: the legend goes to the right.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"plot written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a few minutes)")
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--plot", metavar="PNG", help="also draw ops/s per saver and workload (needs matplotlib)")
    parser.add_argument("--only", metavar="TEXT", help="only workloads whose title has TEXT")
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
        print(
            f"{'workload':<26}{'saver':<18}{'ops/s':>10}{'srv us/op':>11}{'vs official':>13}{'vs aws':>9}"
            f"{'RT/op':>7}{'KB sent/op':>12}"
        )
        failures = []
        table: dict[str, dict[str, float]] = {}
        # The floor first, on a server not yet filled by the other workloads (its raw SET rewrites
        # one key, so a put should not pay for memory the others grew); printed at the end.
        if not args.only:
            ours, floor, serde, size = put_floor(args.url, rounds, seconds)
        plan = [(t, m, SYNC + ASYNC) for t, m in workloads.SYNC_AND_ASYNC.items()]
        plan += [(t, m, [*ASYNC, MEMORY]) for t, m in workloads.ASYNC_ONLY.items()]
        plan += [(t, m, SYNC) for t, m in workloads.SYNC_ONLY.items()]
        if args.only:
            plan = [p for p in plan if args.only in p[0]]
        for title, make, names in plan:
            result = run_workload(make, names, args.url, rounds, seconds)
            table[title] = {name: m.ops for name, m in result.items() if not m.skipped}
            for name in names:
                print(row(title, name, result))
            for workload, who, base, minimum in TARGETS:
                if workload == title:
                    ratio = result[who].ops / result[base].ops
                    if not ratio >= minimum:  # nan (a saver skipped) fails too
                        failures.append(f"{title}: {who} {ratio:.2f}x {base} < {minimum}x")
            for workload, who in MUST_RUN:
                if workload == title and result[who].skipped:
                    failures.append(f"{title}: {who} failed ({result[who].skipped})")
        if args.only:
            print("\nall targets met" if not failures else "\nshort of target: " + "; ".join(failures))
            return 0
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
