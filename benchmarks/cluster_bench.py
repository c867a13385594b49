"""redis-ckpt on a Redis Cluster against one standalone server, side by side.

    python -m benchmarks.cluster_bench --quick     # about two minutes
    python -m benchmarks.cluster_bench

Starts an embedded standalone Redis and an embedded cluster (3 primaries + 3 replicas), both
plain (no modules), from the same binary. Per workload, each round samples the standalone and the
cluster saver for the same wall time, in alternating order; reported are the median ops/s over
rounds and the ratio cluster / standalone. Then the aggregate ops/s of several client processes
(graph runs, one saver per process), and the cost of a cross-thread query (list(None,
filter=...)), which fans out to every primary on a cluster.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import workloads
from benchmarks.bench import sample
from benchmarks.savers import OURS, OURS_ASYNC, Contender, build
from redis_ckpt import RedisSaver
from redis_ckpt.integrations.embedded_redis import EmbeddedCluster, EmbeddedRedis
from tests.helpers import put_chain
from tests.roundtrips import counting

WORKLOADS: list[tuple[str, str, Callable[[Contender], Any]]] = [
    ("put (20 messages)", OURS, workloads.put),
    ("get_tuple latest", OURS, workloads.get_latest),
    ("3-node graph invoke", OURS, workloads.graph_invoke),
    ("64 concurrent ainvoke", OURS_ASYNC, workloads.concurrent_64),
]


def side_by_side(urls: dict[str, str], rounds: int, seconds: float) -> None:
    print(f"{'workload':24} {'standalone ops/s':>17} {'cluster ops/s':>14} {'ratio':>6} {'round trips (s/c)':>18}")
    for label, face, make in WORKLOADS:
        contenders = {kind: build(face, url) for kind, url in urls.items()}
        ops = {kind: make(c) for kind, c in contenders.items()}
        trips = {}
        for kind, op in ops.items():
            op()  # warm: connections open, scripts cached
            if face == OURS:
                with counting() as counted:
                    op()
                trips[kind] = str(counted.count)
            else:
                trips[kind] = "-"
        samples: dict[str, list[float]] = {kind: [] for kind in urls}
        for r in range(rounds):
            order = list(urls) if r % 2 == 0 else list(reversed(urls))
            for kind in order:
                samples[kind].append(sample(ops[kind], seconds))
        medians = {kind: statistics.median(v) for kind, v in samples.items()}
        ratio = medians["cluster"] / medians["standalone"]
        trip_text = f"{trips['standalone']}/{trips['cluster']}"
        spread = "  ".join(f"{kind} {min(v):.1f}-{max(v):.1f}" for kind, v in samples.items())
        print(
            f"{label:24} {medians['standalone']:17.1f} {medians['cluster']:14.1f} {ratio:6.2f} {trip_text:>18}"
            f"   (range over rounds: {spread})"
        )
        for c in contenders.values():
            c.saver.close()


def _client_process(url: str, seconds: float, results: Any) -> None:
    saver = RedisSaver(url, checkpoint_prefix=f"agg{uuid.uuid4().hex[:6]}")
    saver.setup()
    graph = workloads.counter_graph(saver)
    graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": uuid.uuid4().hex}})
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": uuid.uuid4().hex}})
        n += 1
    results.put(n / (time.perf_counter() - start))
    saver.close()


def aggregate(urls: dict[str, str], processes: list[int], seconds: float) -> None:
    print(f"\naggregate 3-node graph invokes/s over client processes ({seconds:.0f} s each, {os.cpu_count()} cores)")
    print(f"{'processes':>9} {'standalone':>11} {'cluster':>9} {'ratio':>6}")
    ctx = multiprocessing.get_context("spawn")
    for count in processes:
        totals = {}
        for kind, url in urls.items():
            results = ctx.Queue()
            procs = [ctx.Process(target=_client_process, args=(url, seconds, results)) for _ in range(count)]
            for p in procs:
                p.start()
            totals[kind] = sum(results.get(timeout=seconds + 120) for _ in procs)
            for p in procs:
                p.join()
        ratio = totals["cluster"] / totals["standalone"]
        print(f"{count:9d} {totals['standalone']:11.0f} {totals['cluster']:9.0f} {ratio:6.2f}")


def cross_thread(urls: dict[str, str], threads: int, repeats: int) -> None:
    print(f"\ncross-thread list(None, filter=...) over {threads} threads x 2 checkpoints, 1 in 10 matching (median ms)")
    print(f"{'server':>10} {'ms/query':>9} {'round trips':>12}")
    for kind, url in urls.items():
        saver = RedisSaver(url, checkpoint_prefix=f"x{uuid.uuid4().hex[:6]}")
        saver.setup()
        for i in range(threads):
            put_chain(saver, f"thread-{i}", 2, metadata=lambda s, i=i: {"step": s, "run_id": f"run-{i % 10}"})
        deadline = time.monotonic() + 30
        while not saver._use_search() and time.monotonic() < deadline:  # indexes still building
            time.sleep(0.1)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            found = list(saver.list(None, filter={"run_id": "run-3"}))
            times.append((time.perf_counter() - start) * 1000)
        assert len(found) == 2 * len([i for i in range(threads) if i % 10 == 3])
        with counting() as counted:
            list(saver.list(None, filter={"run_id": "run-3"}))
        print(f"{kind:>10} {statistics.median(times):9.1f} {counted.count:12d}")
        saver.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--no-replicas", action="store_true", help="primaries only, on both sides")
    parser.add_argument("--modules", action="store_true", help="JSON+Search on both sides (cross-thread uses them)")
    parser.add_argument("--cross-thread-only", action="store_true", help="only the cross-thread query")
    args = parser.parse_args(argv)
    rounds, seconds = (3, 1.0) if args.quick else (7, 2.0)
    standalone = EmbeddedRedis(modules=args.modules).start()
    servers = [standalone]
    if not args.no_replicas:  # like each shard of the cluster: replication costs CPU too
        replica_args = ["--replicaof", "127.0.0.1", str(standalone.port)]
        servers.append(EmbeddedRedis(modules=args.modules, extra_args=replica_args).start())
    cluster = EmbeddedCluster(modules=args.modules, replicas=not args.no_replicas).start()
    print(
        f"standalone: 1 primary{'' if args.no_replicas else ' + 1 replica'}; cluster: 3 primaries"
        f"{'' if args.no_replicas else ' + 3 replicas'}; all on one machine ({os.cpu_count()} cores)\n"
    )
    try:
        urls = {"standalone": standalone.url, "cluster": cluster.url}
        if not args.cross_thread_only:
            side_by_side(urls, rounds, seconds)
            aggregate(urls, [1, 2, 4] if not args.quick else [1, 4], 5.0 if args.quick else 10.0)
        cross_thread(urls, 300 if args.quick else 1000, 3 if args.quick else 7)
    finally:
        cluster.stop()
        for server in reversed(servers):
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
