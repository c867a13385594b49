"""Store snapshot/restore (RedisStore.snapshot/restore) against the same copy done through the
public API (search every item, put it into the target store: values re-serialized, texts
re-embedded, new timestamps).

    python -m benchmarks.store_snapshot              # 10,000 items, 3 rounds
    python -m benchmarks.store_snapshot --items 2000 --rounds 2

One embedded Redis 8.2 with Search+JSON (or --url/REDIS_URL, db 0). Items carry a text embedded
into 16 dimensions (a deterministic hash, no network) and a small nested dict. Reported: median
seconds per whole copy over rounds, items per second, and the API copy's time divided by the
snapshot's; file size; peak Python memory of a snapshot and of a restore (tracemalloc) at two
sizes, to show that neither grows with the number of items.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from langgraph.store.base import PutOp

from redis_ckpt import RedisStore
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis
from tests.store_helpers import index_config, purge_store


@contextmanager
def server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    embedded = EmbeddedRedis(modules=True).start()
    try:
        yield embedded.url
    finally:
        embedded.stop()


def fill(store: RedisStore, items: int) -> None:
    """Batches of 500 puts (one script call each)."""
    for start in range(0, items, 500):
        store.batch(
            [
                PutOp(("users", f"u{i % 100}"), f"k{i}", {"text": f"user {i} likes topic {i % 37}", "meta": {"i": i}})
                for i in range(start, min(items, start + 500))
            ]
        )


def store(url: str, prefix: str) -> RedisStore:
    s = RedisStore(url, prefix=prefix, index=index_config(fields=["text"]))
    s.setup()
    return s


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def api_copy(source: RedisStore, target: RedisStore) -> None:
    offset = 0
    while True:
        page = source.search(("users",), limit=500, offset=offset)
        if not page:
            return
        for item in page:
            target.put(item.namespace, item.key, item.value)
        offset += len(page)


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_round(
    source: RedisStore,
    fresh: Callable[[], RedisStore],
    file: str,
    times: dict[str, list[float]],
    url: str,
    prefixes: list[str],
) -> None:
    times["snapshot"].append(timed(lambda: source.snapshot(("users",), file)))
    target = fresh()
    times["restore"].append(timed(lambda: target.restore(file)))
    times["restore again"].append(timed(lambda: target.restore(file)))
    other = fresh()
    times["API copy"].append(timed(lambda: api_copy(source, other)))
    for done in (other, target):
        done.close()
        purge_store(url, prefixes.pop())


def memory_peaks(source: RedisStore, target: RedisStore, file: str) -> tuple[int, int]:
    """Peak traced bytes of a snapshot to a file on disk and of its restore."""
    return peak_bytes(lambda: source.snapshot(("users",), file)), peak_bytes(lambda: target.restore(file))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args()
    with server(args.url) as url, tempfile.TemporaryDirectory() as folder:
        prefixes: list[str] = []

        def fresh() -> RedisStore:
            prefixes.append(f"bench{uuid.uuid4().hex[:8]}")
            return store(url, prefixes[-1])

        try:
            source = fresh()
            fill(source, args.items)
            file = os.path.join(folder, "snap.jsonl")
            times: dict[str, list[float]] = {"snapshot": [], "restore": [], "restore again": [], "API copy": []}
            for _ in range(args.rounds):
                run_round(source, fresh, file, times, url, prefixes)
            print(
                f"{args.items} items, 16-dim vectors, {args.rounds} rounds; file {os.path.getsize(file) / 1e6:.1f} MB"
            )
            for name, values in times.items():
                median = statistics.median(values)
                print(f"  {name:14} {median:7.2f} s   {args.items / median:9,.0f} items/s")
            copy = statistics.median(times["snapshot"]) + statistics.median(times["restore"])
            print(f"  API copy / (snapshot + restore): {statistics.median(times['API copy']) / copy:.1f}x")
            small = max(1, args.items // 5)
            part = fresh()
            part.import_items(item for item, _ in zip(source.export_items([("users",)]), range(small)))
            for measured, count in ((part, small), (source, args.items)):
                snap, back = memory_peaks(measured, fresh(), os.path.join(folder, f"m{count}.jsonl"))
                print(
                    f"  peak Python memory, {count:6} items: "
                    f"snapshot {snap / 1e6:5.2f} MB, restore {back / 1e6:5.2f} MB"
                )
        finally:
            for prefix in prefixes:
                purge_store(url, prefix)


if __name__ == "__main__":
    main()
