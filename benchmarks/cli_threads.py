"""Listing threads with `redis-ckpt threads` on a server with many threads: time to first page and
process memory, side by side with collecting every thread first (`SaverCore._all_threads`).

    python -m benchmarks.cli_threads                  # 100,000 threads (about a minute to fill)
    python -m benchmarks.cli_threads --threads 10000  # quicker

Each measurement runs in a fresh process (so peak RSS is its own), in rounds with a rotating
order; medians are printed. "RSS growth" is the peak RSS minus the RSS after imports, so it
shows what the listing itself costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PREFIX = "clibench"
FILL_BATCH = 500


def fill(url: str, threads: int) -> None:
    """`threads` threads, one real checkpoint each, written through the saver's put."""
    from langgraph.checkpoint.base import empty_checkpoint

    from redis_ckpt import RedisSaver

    with RedisSaver.from_conn_string(url, checkpoint_prefix=PREFIX, checkpoint_write_prefix=PREFIX + "_w") as saver:
        saver.setup()
        start = time.perf_counter()
        for i in range(threads):
            checkpoint = empty_checkpoint()
            checkpoint["channel_values"] = {"messages": [f"hello {i}"]}
            checkpoint["channel_versions"] = {"messages": saver.get_next_version(None, None)}
            config = {"configurable": {"thread_id": f"user-{i:06d}", "checkpoint_ns": ""}}
            saver.put(config, checkpoint, {"source": "input", "step": -1}, checkpoint["channel_versions"])  # type: ignore[arg-type]
            if i and i % 20_000 == 0:
                print(f"  {i} threads written ({time.perf_counter() - start:.0f} s)", file=sys.stderr)


def child(mode: str, url: str) -> None:
    """One measurement in this (fresh) process; prints JSON: seconds, threads, RSS growth."""
    import resource

    import redis  # noqa: F401  (imports are not what is measured)

    from redis_ckpt import RedisSaver
    from redis_ckpt.cli import cli
    from redis_ckpt.redis_io import inventory

    def rss_kib() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    base = rss_kib()
    start = time.perf_counter()
    if mode == "cli-first-page":
        args = ["--url", url, "--prefix", PREFIX, "--write-prefix", PREFIX + "_w", "threads", "--limit", "50", "--json"]
        out = _capture(lambda: cli.main(args, standalone_mode=False))
        count = len(json.loads(out)["threads"])
    else:
        saver = RedisSaver(url, checkpoint_prefix=PREFIX, checkpoint_write_prefix=PREFIX + "_w")
        if mode == "stream-all":
            count = sum(1 for _ in inventory.iter_threads(saver.client, saver.layout))
        elif mode == "collect-all":
            count = len(saver._all_threads())
        elif mode == "collect-first":  # what a listing built on _all_threads waits for its first thread
            count = len(saver._all_threads()[:50])
        else:
            raise SystemExit(f"unknown mode {mode}")
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "threads": count, "rss_growth_kib": max(0, peak - base)}))


def _capture(run: Any) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        run()
    return buffer.getvalue()


def measure(mode: str, url: str) -> dict[str, Any]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cli_threads", "--child", mode, "--url", url],
        capture_output=True, text=True, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start  # with interpreter start and imports
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return
    server = None
    if not args.url:
        from redis_ckpt.integrations.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis(modules=False).start()
        args.url = server.url
    try:
        print(f"filling {args.threads} threads on {args.url} ...", file=sys.stderr)
        fill(args.url, args.threads)
        modes = ["cli-first-page", "collect-first", "stream-all", "collect-all"]
        results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for r in range(args.rounds):
            for mode in modes[r % len(modes) :] + modes[: r % len(modes)]:
                results[mode].append(measure(mode, args.url))
        print(f"\n{args.threads} threads, {args.rounds} rounds, medians (fresh process per run)")
        print(f"{'what':<44}{'threads':>8}{'seconds':>9}{'process s':>10}{'RSS growth':>13}")
        labels = {
            "cli-first-page": "redis-ckpt threads --limit 50 (first page)",
            "collect-first": "first 50 of _all_threads() (collects all)",
            "stream-all": "every thread, streamed (iter_threads)",
            "collect-all": "every thread, collected (_all_threads)",
        }
        for mode in modes:
            rows = results[mode]
            seconds = statistics.median(r["seconds"] for r in rows)
            process = statistics.median(r["process_seconds"] for r in rows)
            growth = statistics.median(r["rss_growth_kib"] for r in rows)
            print(f"{labels[mode]:<44}{rows[0]['threads']:>8}{seconds:>9.4f}{process:>10.2f}{growth / 1024:>9.1f} MiB")
        first = statistics.median(r["seconds"] for r in results["cli-first-page"])
        collect = statistics.median(r["seconds"] for r in results["collect-first"])
        print(f"\nfirst page: {collect / first:.0f}x sooner than collecting every thread first")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
