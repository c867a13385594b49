"""redis-ckpt's RedisStore against the official langgraph-checkpoint-redis RedisStore and InMemoryStore.

    python -m benchmarks.store_bench            # the run quoted in docs/store.md
    python -m benchmarks.store_bench --quick    # fewer rounds, 2,000 vectors

All stores share one Redis server (embedded Redis 8.2 with Search+JSON unless --url/REDIS_URL), each
on its own prefix. Each workload runs in rounds; in every round each store runs the same number of
operations, in a rotating order, so machine drift hits all alike. Reported: median µs per operation
over rounds and the official store's time divided by ours. Embeddings are a deterministic hash (no
network), the same function for every store; its cost is part of every put and query alike.
Memory per item: MEMORY USAGE key SAMPLES 0 over every key of the store, divided by the items
(the Search module's own index memory is not in it, it is reported apart from FT.INFO).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from redis_ckpt import RedisStore
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis

OURS, OFFICIAL, MEMORY = "redis-ckpt RedisStore", "official RedisStore", "InMemoryStore"
NAMES = [OURS, OFFICIAL, MEMORY]
DIMS = 128
COLORS = ["red", "green", "blue", "black", "white", "grey", "pink", "gold", "teal", "navy"]


def embed(texts: list[str]) -> list[list[float]]:
    """A deterministic 128-d vector per text (SHAKE-256 of the text), cheap and network-free."""
    out = []
    for text in texts:
        raw = hashlib.shake_256(text.encode()).digest(DIMS)
        out.append([b / 255.0 - 0.5 for b in struct.unpack(f"{DIMS}B", raw)])
    return out


@contextlib.contextmanager
def make_store(name: str, url: str, index: bool) -> Iterator[tuple[BaseStore, list[str]]]:
    """A set-up store and the key patterns that hold its data (for memory figures and cleanup)."""
    config: Any = {"dims": DIMS, "embed": embed, "fields": ["text"]} if index else None
    prefix = f"sb{uuid.uuid4().hex[:6]}"
    if name == MEMORY:
        yield InMemoryStore(index=config), []
        return
    if name == OURS:
        ours = RedisStore(url, prefix=prefix, index=config)
        ours.setup()
        try:
            yield ours, [f"{prefix}:*"]
        finally:
            ours.close()
            _purge(url, [f"{prefix}:*"], [ours.layout.item_index, ours.layout.vector_index])
        return
    # The official store is a benchmark-only dependency, never imported by the package.
    from langgraph.store.redis import RedisStore as OfficialStore

    client = redis.Redis.from_url(url)
    official = OfficialStore(client, index=config, store_prefix=prefix, vector_prefix=prefix + "v")
    official.setup()
    try:
        yield official, [f"{prefix}:*", f"{prefix}v:*"]
    finally:
        _purge(url, [f"{prefix}:*", f"{prefix}v:*"], [prefix, prefix + "v"])
        client.close()


def _purge(url: str, patterns: list[str], indexes: list[str]) -> None:
    client = redis.Redis.from_url(url)
    for index in indexes:
        with contextlib.suppress(redis.ResponseError):
            client.execute_command("FT.DROPINDEX", index)
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    client.close()


def memory_per_item(url: str, patterns: list[str], items: int) -> float:
    client = redis.Redis.from_url(url)
    total = 0
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=1000))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
        total += sum(int(size or 0) for size in pipe.execute())
    client.close()
    return total / items


def doc(i: int) -> dict[str, Any]:
    return {"text": f"memory number {i} about topic {i % 97}", "color": COLORS[i % 10], "n": i, "tags": ["a", "b"]}


def load(store: BaseStore, namespace: tuple[str, ...], count: int, batch: int = 200) -> None:
    from langgraph.store.base import PutOp

    for start in range(0, count, batch):
        store.batch([PutOp(namespace, f"k{i}", doc(i)) for i in range(start, min(count, start + batch))])


def measure(ops: dict[str, Callable[[int], Any]], rounds: int, per_round: int) -> dict[str, float]:
    """Median µs per op over rounds, rotating which store goes first."""
    for op in ops.values():
        op(0)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in ops}
    names = list(ops)
    counter = 1
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            for i in range(per_round):
                ops[name](counter + i)
            samples[name].append((time.perf_counter() - start) / per_round * 1e6)
        counter += per_round
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, result: dict[str, float], rows: list[str]) -> None:
    official, ours = result.get(OFFICIAL), result.get(OURS)
    ratio = f"{official / ours:.1f}x" if official and ours else "-"
    cells = " | ".join(f"{result[name]:,.0f}" if name in result else "-" for name in NAMES)
    rows.append(f"| {title} | {cells} | {ratio} |")
    print(rows[-1], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    server = None
    url = args.url
    if not url:
        server = EmbeddedRedis(modules=True).start()
        url = server.url
    rounds, per_round = (3, 50) if args.quick else (7, 200)
    vectors = 2_000 if args.quick else 10_000
    rows = [
        f"| workload (µs per op, median of {rounds} rounds) | {' | '.join(NAMES)} | official / ours |",
        "|---|---|---|---|---|",
    ]
    print(f"Python {platform.python_version()}, redis-py {redis.__version__}, {platform.machine()}", flush=True)
    print("\n".join(rows), flush=True)
    memory: dict[str, float] = {}
    try:
        with contextlib.ExitStack() as stack:
            stores = {name: stack.enter_context(make_store(name, url, index=False)) for name in NAMES}
            for store, _ in stores.values():
                load(store, ("bench", "users"), 1_000)
                for j in range(100):
                    store.put(("bench", "ns", str(j)), "k", {"j": j})
            for name, (_, patterns) in stores.items():
                if patterns:
                    memory[name] = memory_per_item(url, patterns, 1_100)
            plain = {name: store for name, (store, _) in stores.items()}
            report(
                "put (upsert, 4-field value)",
                measure({n: (lambda i, s=s: s.put(("bench", "put"), f"p{i % 500}", doc(i))) for n, s in plain.items()},
                        rounds, per_round),
                rows,
            )  # fmt: skip
            report(
                "get (1 of 1,000 items)",
                measure({n: (lambda i, s=s: s.get(("bench", "users"), f"k{i % 1000}")) for n, s in plain.items()},
                        rounds, per_round),
                rows,
            )  # fmt: skip
            report(
                "search with filter (1,000 items, 10% match, limit 10)",
                measure({n: (lambda i, s=s: s.search(("bench", "users"), filter={"color": COLORS[i % 10]}))
                         for n, s in plain.items()}, rounds, max(5, per_round // 10)),
                rows,
            )  # fmt: skip
            report(
                "list_namespaces (prefix, 100 of 101 namespaces)",
                measure({n: (lambda i, s=s: s.list_namespaces(prefix=("bench", "ns"), limit=100))
                         for n, s in plain.items()}, rounds, max(5, per_round // 10)),
                rows,
            )  # fmt: skip
        with contextlib.ExitStack() as stack:
            indexed = {name: stack.enter_context(make_store(name, url, index=True)) for name in NAMES}
            load_times = {}
            for name, (store, _) in indexed.items():
                start = time.perf_counter()
                load(store, ("bench", "docs"), vectors)
                load_times[name] = (time.perf_counter() - start) / vectors * 1e6
            report(f"put with embedding (batches of 200, {vectors:,} items)", load_times, rows)
            report(
                f"semantic search top-10 over {vectors:,} items",
                measure({n: (lambda i, s=s: s.search(("bench", "docs"), query=f"topic {i % 97}", limit=10))
                         for n, (s, _) in indexed.items()}, rounds, max(5, per_round // 10)),
                rows,
            )  # fmt: skip
            report(
                f"semantic search top-10 with filter over {vectors:,} items",
                measure({n: (lambda i, s=s: s.search(("bench", "docs"), query=f"topic {i % 97}", limit=10,
                                                    filter={"color": "red"}))
                         for n, (s, _) in indexed.items()}, rounds, max(5, per_round // 10)),
                rows,
            )  # fmt: skip
            for name, (_, patterns) in indexed.items():
                if patterns:
                    memory[name + " with vectors"] = memory_per_item(url, patterns, vectors)
    finally:
        if server is not None:
            server.stop()
    print()
    print("| memory per item (bytes, MEMORY USAGE SAMPLES 0 over the store's keys) | bytes |")
    print("|---|---|")
    for name, size in memory.items():
        print(f"| {name} | {size:,.0f} |")


if __name__ == "__main__":
    main()
