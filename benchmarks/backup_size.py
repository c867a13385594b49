"""`redis-ckpt export` / `import` (issue 22): file sizes, bytes in Redis after a restore, and
process memory as the number of threads grows.

    python -m benchmarks.backup_size                      # 50-turn chat; 200 and 2,000 small threads
    python -m benchmarks.backup_size --turns 200 --threads 200,20000

1. The chat of benchmarks/chat_agent.py (5 checkpoints a turn): its bytes in Redis (sum of `MEMORY
   USAGE key SAMPLES 0`, no Search module), the export's size, deduplicated (the default) and
   `--plain`, each as a multiple of those bytes, then the bytes in Redis after importing each file
   into an empty server, and whether `get_state_history` reads back identical.
2. Many small threads (one chat turn each): export of all of them, then import into an empty
   server, each in a fresh process, and its peak RSS during the command: the kernel's high-water
   mark (VmHWM), reset once the modules are imported. `resource.getrusage`'s ru_maxrss cannot be
   reset and, on Linux, a child starts with its parent's (here the benchmark's, 200+ MB); it is
   printed too. Both commands stream, holding one namespace at a time, so the peak should not
   follow the count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_FILE = 1.5  # export <= 1.5x the bytes in Redis (issue 22)
TARGET_RESTORE = 0.10  # after import: within 10% of the original's bytes


def cli(url: str, prefix: str, *args: str) -> str:
    from click.testing import CliRunner

    from redis_ckpt.cli import cli as group

    result = CliRunner().invoke(group, ["--url", url, "--prefix", prefix, "--write-prefix", prefix + "_w", *args])
    if result.exit_code != 0:
        raise SystemExit(f"redis-ckpt {' '.join(args)} failed: {result.output}")
    return str(result.output)


def redis_bytes(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sum(client.memory_usage(k, samples=0) or 0 for k in client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()


def chat(url: str, restore_url: str, turns: int, workdir: str) -> list[str]:
    """Part 1; returns the targets missed."""
    from benchmarks.chat_agent import build_graph, run_turns
    from redis_ckpt import RedisSaver

    saver = RedisSaver(url, checkpoint_prefix="chat", checkpoint_write_prefix="chat_w")
    saver.setup()
    graph = build_graph(saver)
    run_turns(graph, "thread", turns)
    stored = redis_bytes(url, "chat")
    config = {"configurable": {"thread_id": "thread"}}
    history = list(graph.get_state_history(config))
    print(f"\n{turns}-turn chat: {len(history)} checkpoints, {stored:,} bytes in Redis (MEMORY USAGE, no module)")
    print(f"{'export':<16}{'file bytes':>14}{'x Redis':>9}{'export s':>10}{'after import':>14}{'x':>7}{'import s':>10}")
    missed = []
    for label, extra in (("deduplicated", ()), ("--plain", ("--plain",))):
        path = os.path.join(workdir, f"chat-{label.strip('-')}.jsonl")
        start = time.perf_counter()
        cli(url, "chat", "export", *extra, "-o", path)
        exported = time.perf_counter() - start
        size = os.path.getsize(path)
        prefix = f"restored{label.strip('-')}"
        start = time.perf_counter()
        cli(restore_url, prefix, "import", path)
        imported = time.perf_counter() - start
        after = redis_bytes(restore_url, prefix)
        copy = RedisSaver(restore_url, checkpoint_prefix=prefix, checkpoint_write_prefix=prefix + "_w")
        same = list(build_graph(copy).get_state_history(config)) == history
        copy.close()
        print(
            f"{label:<16}{size:>14,}{size / stored:>8.2f}x{exported:>10.2f}{after:>14,}{after / stored:>6.2f}x"
            f"{imported:>10.2f}   history {'identical' if same else 'DIFFERS'}"
        )
        if not same:
            missed.append(f"{label}: history differs after import")
        if abs(after - stored) > TARGET_RESTORE * stored:
            missed.append(f"{label}: {after / stored:.2f}x after import")
        if label == "deduplicated" and size > TARGET_FILE * stored:
            missed.append(f"export {size / stored:.2f}x > {TARGET_FILE}x")
    saver.close()
    return missed


def fill(url: str, prefix: str, threads: int) -> None:
    """`threads` threads of one chat turn each (5 checkpoints, their own text)."""
    from benchmarks.chat_agent import build_graph, run_turns
    from redis_ckpt import RedisSaver

    with RedisSaver.from_conn_string(url, checkpoint_prefix=prefix, checkpoint_write_prefix=prefix + "_w") as saver:
        saver.setup()
        graph = build_graph(saver)
        for i in range(threads):
            run_turns(graph, f"user-{i:06d}", 1, seed=i)


def child(mode: str, url: str, prefix: str, path: str) -> None:
    """One export or import in this fresh process; prints JSON: seconds, the RSS once the modules
    it needs are imported, the peak RSS of the command (VmHWM) and getrusage's ru_maxrss."""
    import resource

    import redis  # noqa: F401  (imports are not what is measured)
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer  # noqa: F401

    from redis_ckpt.cli import cli as group

    def status_kib(field: str) -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    base = status_kib("VmRSS")
    try:  # start the peak from here: what the modules' import took is not what is measured (Linux)
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    start = time.perf_counter()
    args = ["--url", url, "--prefix", prefix, "--write-prefix", prefix + "_w", "--json"]
    args += ["export", "-o", path] if mode == "export" else ["import", path]
    group.main(args, standalone_mode=False)
    elapsed = time.perf_counter() - start
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "seconds": elapsed,
        "rss_after_imports_kib": base,
        "peak_rss_kib": status_kib("VmHWM"),
        "maxrss_kib": maxrss,
    }
    print(json.dumps(result))


def measure(mode: str, url: str, prefix: str, path: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.backup_size", "--child", mode, "--url", url, "--prefix", prefix, path],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def many(url: str, restore_url: str, counts: list[int], workdir: str) -> None:
    """Part 2."""
    print("\nsmall threads (1 chat turn each): export, then import into an empty server; a fresh process each")
    head = f"{'threads':>8}{'file bytes':>14}{'export s':>10}{'peak RSS':>11}{'import s':>10}{'peak RSS':>11}"
    print(head + "   (RSS after imports; ru_maxrss)")
    for count in counts:
        prefix = f"many{count}"
        fill(url, prefix, count)
        path = os.path.join(workdir, f"many-{count}.jsonl")
        exported = measure("export", url, prefix, path)
        imported = measure("import", restore_url, f"back{count}", path)
        print(
            f"{count:>8,}{os.path.getsize(path):>14,}{exported['seconds']:>10.2f}"
            f"{exported['peak_rss_kib'] / 1024:>8.1f} MB{imported['seconds']:>10.2f}"
            f"{imported['peak_rss_kib'] / 1024:>8.1f} MB   ({exported['rss_after_imports_kib'] / 1024:.1f}, "
            f"{imported['rss_after_imports_kib'] / 1024:.1f} MB; {exported['maxrss_kib'] / 1024:.1f}, "
            f"{imported['maxrss_kib'] / 1024:.1f} MB)"
        )
    print("(peak RSS: VmHWM, reset once the modules are imported)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--threads", default="200,2000", help="comma-separated thread counts (0: skip)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.prefix, args.path)
        return 0
    from redis_ckpt.integrations.embedded_redis import EmbeddedRedis

    # The original and the restore on two servers without modules: the restore starts empty.
    source, restore = EmbeddedRedis(modules=False).start(), EmbeddedRedis(modules=False).start()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            missed = chat(source.url, restore.url, args.turns, workdir)
            counts = [int(c) for c in args.threads.split(",") if int(c)]
            if counts:
                many(source.url, restore.url, counts, workdir)
        print("\nall backup targets met" if not missed else "\nshort of target: " + "; ".join(missed))
        return 1 if missed else 0
    finally:
        source.stop()
        restore.stop()


if __name__ == "__main__":
    raise SystemExit(main())
