"""Memory of a chat thread's whole history (issues 8 and 22): the tool-calling agent of
`benchmarks/chat_agent.py`, run for 50 and 200 turns under each saver, side by side.

    python -m benchmarks.chat_memory            # 50 and 200 turns (a few minutes)
    python -m benchmarks.chat_memory --turns 50 # one size only
    python -m benchmarks.chat_memory --plain-binary /usr/bin/redis-server  # e.g. Redis 7.0, no modules

Each Redis row runs on a fresh embedded server of its own (Redis 8.2: `Search+JSON` loads the
Search and JSON modules, `no modules` does not), so nothing else moves its memory. redis-ckpt runs
on both; the official saver needs the modules. Every figure says how it was counted:

- `keys`: `MEMORY USAGE key SAMPLES 0` (exact) summed over every key the saver wrote.
- `keys+index`: on a server with the Search module redis-ckpt also keeps a search index of its
  checkpoint documents. FT.INFO `total_index_memory_sz_mb` of that index (the module's own total:
  doc table, key table, inverted indexes, tag tries, offsets, sortables), read once the index has
  collected its garbage (FT.DEBUG GC_FORCEINVOKE), is added. Each row has its own key prefix, so
  the index covers that one thread alone and pays by itself what an index shares between its
  threads (its fixed part, one entry per distinct tag value: here one per `step`). The module's
  total leaves part of its allocations out, so the row also prints what FT.DROPINDEX of the index
  frees (`used_memory`). The `shared index` lines run one thread under a new prefix and N (default
  4, `--shared-threads`) identical threads under another, and report per thread beyond the first
  what the second index holds more than the first, by FT.INFO and by what FT.DROPINDEX frees: a
  thread's share of an index that many threads share (redis-ckpt compressed only: the uncompressed
  saver's documents and tags are the same).
- `used_memory`: growth of INFO `used_memory` on the fresh server, from before `setup()` to after
  the run (both after `MEMORY PURGE`): everything the saver made Redis allocate, including its
  indexes, RedisJSON's shared strings and fixed costs (Lua scripts and VM, buffers). The official
  saver is counted this way, because RedisJSON keeps identical strings once, so the sum of MEMORY
  USAGE over its JSON keys counts them again and again (also printed, as the overstated figure).
  Every Redis row also prints its growth and what FLUSHALL and FT.DROPINDEX then free: the rest is
  fixed costs, and what they free cross-checks the row's count.
- InMemorySaver: the serialized bytes it keeps (no Redis).

Also printed: that as a multiple of the final state's serialized size, bytes sent per put (median
over the last turn), and put / get_tuple time at the last turn (medians).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from benchmarks.chat_agent import build_graph, run_turns
from redis_ckpt import RedisSaver
from tests.roundtrips import counting

SAVERS = ("redis-ckpt", "redis-ckpt uncompressed", "official", "InMemorySaver")
PLAIN, MODULES = "no modules", "Search+JSON"
# Issue 22's targets, x the final state: compression on, on a server without modules (keys) and
# with the Search index counted (keys+index); issue 8's for compression off (keys).
TARGETS = {("redis-ckpt", PLAIN): 1.5, ("redis-ckpt", MODULES): 1.8, ("redis-ckpt uncompressed", PLAIN): 3.0}
# FT.INFO fields printed with the index (sizes in MB, converted to bytes; the last is a count).
INDEX_PARTS = (
    ("doc_table_size_mb", "doc table"),
    ("key_table_size_mb", "key table"),
    ("inverted_sz_mb", "inverted"),
    ("tag_overhead_sz_mb", "tag tries"),
    ("offset_vectors_sz_mb", "offsets"),
    ("sortable_values_size_mb", "sortables"),
    ("text_overhead_sz_mb", "text tries"),
)


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


def redis_bytes(client: redis.Redis, prefix: str | None) -> int:
    """`MEMORY USAGE key SAMPLES 0` summed over the keys of `prefix` (None: every key)."""
    pipe = client.pipeline(transaction=False)
    for key in client.scan_iter(match=f"{prefix}*" if prefix else None, count=1000):
        pipe.memory_usage(key, samples=0)
    return sum(size or 0 for size in pipe.execute())


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


def index_info(client: redis.Redis, name: str) -> dict[str, float] | None:
    """FT.INFO of an index as {field: number} (MB fields in bytes), or None without module or index."""
    try:
        info = client.execute_command("FT.INFO", name)  # type: ignore[no-untyped-call]
    except redis.ResponseError:
        return None
    if isinstance(info, list):  # RESP2 answers a flat list
        info = dict(zip(info[::2], info[1::2]))
    out: dict[str, float] = {}
    for key, value in info.items():
        key = key.decode() if isinstance(key, bytes) else str(key)
        try:
            number = float(value.decode() if isinstance(value, bytes) else value)
        except (TypeError, ValueError):
            continue
        out[key] = number * 2**20 if key.endswith("_mb") else number
    return out


def wait_indexed(client: redis.Redis, name: str) -> dict[str, float] | None:
    """FT.INFO once the index has caught up with every document (`indexing` 0) and collected its
    garbage."""
    for _ in range(200):
        info = index_info(client, name)
        if info is None or not info.get("indexing"):
            break
        time.sleep(0.05)
    collect_garbage(client, name)
    return index_info(client, name)


def used_memory(client: redis.Redis) -> int:
    """INFO used_memory after MEMORY PURGE (where the allocator has it)."""
    with contextlib.suppress(redis.ResponseError):
        client.execute_command("MEMORY PURGE")  # type: ignore[no-untyped-call]
    return int(client.info("memory")["used_memory"])


def settled_memory(client: redis.Redis) -> int:
    """used_memory once two reads 0.2 s apart agree (the module frees some things in the background)."""
    last = used_memory(client)
    for _ in range(25):
        time.sleep(0.2)
        now = used_memory(client)
        if now == last:
            break
        last = now
    return last


def collect_garbage(client: redis.Redis, index: str) -> None:
    """Run the index's garbage collection now (FT.DEBUG GC_FORCEINVOKE), as it would within its
    interval: a re-indexed document (each put_writes re-indexes its checkpoint) leaves entries the
    collection removes."""
    with contextlib.suppress(redis.ResponseError):
        client.execute_command("FT.DEBUG", "GC_FORCEINVOKE", index)  # type: ignore[no-untyped-call]


def dropped(client: redis.Redis, index: str) -> int:
    """used_memory freed by FT.DROPINDEX of `index` (its documents stay)."""
    loaded = settled_memory(client)
    client.execute_command("FT.DROPINDEX", index)  # type: ignore[no-untyped-call]
    return loaded - settled_memory(client)


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


def close(saver: Any) -> None:
    if hasattr(saver, "close"):
        saver.close()
    elif hasattr(saver, "_redis"):  # the official saver's own client
        saver._redis.close()


@dataclass
class Row:
    turns: int
    name: str
    server: str  # PLAIN, MODULES, a URL, or "" for InMemorySaver
    state: int = 0
    keys: int = 0  # MEMORY USAGE sum (InMemorySaver: bytes kept)
    index: dict[str, float] | None = None  # FT.INFO of redis-ckpt's index
    index_freed: int | None = None  # used_memory freed by FT.DROPINDEX of that index
    shared_index: float | None = None  # what a second thread adds to a shared index (FT.INFO)
    shared_index_freed: int | None = None  # the same by used_memory (what FT.DROPINDEX frees)
    shared_threads: int = 0
    growth: int | None = None  # used_memory growth on the server
    freed: int | None = None  # what FLUSHALL and FT.DROPINDEX then give back
    fresh: bool = True
    sent: float = float("nan")
    put_ms: float = float("nan")
    get_ms: float = float("nan")
    resends: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def index_bytes(self) -> float:
        return self.index["total_index_memory_sz_mb"] if self.index else 0.0

    @property
    def official(self) -> bool:
        return self.name == "official"

    @property
    def bytes(self) -> float:
        """The headline figure: see `method`."""
        if self.official and self.growth is not None:
            return self.growth
        return self.keys + self.index_bytes

    @property
    def method(self) -> str:
        if self.name == "InMemorySaver":
            return "bytes kept (serialized)"
        if self.official and self.growth is not None:
            return "used_memory growth" + ("" if self.fresh else " (server not fresh)")
        return "keys+index" if self.index else "keys"

    @property
    def ratio(self) -> float:
        return self.bytes / self.state


def run_thread(saver: Any, thread_id: str, turns: int) -> None:
    run_turns(build_graph(saver), thread_id, turns)


def measure(name: str, turns: int, server: str, url: str, fresh: bool, shared_threads: int) -> Row:
    row = Row(turns, name, server, fresh=fresh)
    prefix = f"chat{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(url) if url else None
    before = used_memory(client) if client is not None else 0
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
    row.state = sum(len(serde.dumps_typed(v)[1]) for v in latest.checkpoint["channel_values"].values())
    row.resends = getattr(saver, "resends", 0)
    row.sent = statistics.median(timed.sent) if timed.sent else float("nan")
    row.put_ms = statistics.median(timed.times) * 1e3
    row.get_ms = statistics.median(gets) * 1e3
    if client is None:
        row.keys = memory_saver_bytes(saver)
        row.sent = float("nan")  # nothing goes over a network
        return row
    close(saver)
    row.growth = used_memory(client) - before
    # On its own server every key is the saver's (the official saver writes a few outside its prefix).
    row.keys = redis_bytes(client, None if fresh else prefix)
    if not row.official:
        row.index = wait_indexed(client, f"{prefix}:index")
    if fresh:
        loaded = used_memory(client)
        if row.index:
            row.index_freed = dropped(client, f"{prefix}:index")
        client.flushall()
        for index in client.execute_command("FT._LIST") if server == MODULES else ():  # type: ignore[no-untyped-call]
            client.execute_command("FT.DROPINDEX", index)  # type: ignore[no-untyped-call]
        row.freed = loaded - used_memory(client)
    if row.index and shared_threads > 1:
        # One thread under a new prefix and `shared_threads` identical threads under another: per
        # thread beyond the first, what the second index holds more than the first.
        indexes = []
        for count in (1, shared_threads):
            prefix = f"chat{uuid.uuid4().hex[:6]}"
            saver = make(name, url, prefix)
            for i in range(count):
                run_thread(saver, f"thread{i}", turns)
            close(saver)
            indexes.append(f"{prefix}:index")
        one, many = (wait_indexed(client, index) for index in indexes)
        if one and many:
            extra = many["total_index_memory_sz_mb"] - one["total_index_memory_sz_mb"]
            row.shared_index = extra / (shared_threads - 1)
        if fresh:
            one_freed, many_freed = (dropped(client, index) for index in indexes)
            row.shared_index_freed = round((many_freed - one_freed) / (shared_threads - 1))
        row.shared_threads = shared_threads
    client.close()
    return row


def describe(row: Row) -> list[str]:
    """The lines under a row: each figure with its method."""
    lines = []
    kb = 1000
    if row.index:
        sizes = [(label, row.index.get(key, 0)) for key, label in INDEX_PARTS]
        parts = ", ".join(f"{label} {size / kb:,.1f}" for label, size in sizes if size)
        lines.append(
            f"index: {row.index_bytes / kb:,.1f} KB, {row.index_bytes / row.bytes:.0%} of keys+index "
            f"(FT.INFO total_index_memory_sz_mb: {parts} KB; {row.index.get('num_docs', 0):,.0f} documents, "
            f"{row.index.get('total_inverted_index_blocks', 0):,.0f} inverted-index blocks); "
            f"keys alone {row.keys / kb:,.1f} KB = {row.keys / row.state:.2f}x"
        )
    if row.index_freed is not None:
        freed = row.keys + row.index_freed
        lines.append(
            f"index by used_memory: FT.DROPINDEX of it frees {row.index_freed / kb:,.1f} KB "
            f"(FT.INFO's total leaves part out): keys + that = {freed / kb:,.1f} KB = {freed / row.state:.2f}x"
        )
    if row.shared_index is not None:
        share = row.keys + row.shared_index
        lines.append(
            f"shared index: {row.shared_threads} identical threads under one prefix hold "
            f"{row.shared_index / kb:,.1f} KB more per thread beyond the first (FT.INFO total): "
            f"keys + that = {share / kb:,.1f} KB = {share / row.state:.2f}x"
        )
    if row.shared_index_freed is not None:
        share = row.keys + row.shared_index_freed
        lines.append(
            f"shared index by used_memory: FT.DROPINDEX of their index frees {row.shared_index_freed / kb:,.1f} KB "
            f"more per thread beyond the first than of one thread's: keys + that = {share / kb:,.1f} KB "
            f"= {share / row.state:.2f}x"
        )
    if row.official:
        lines.append(
            f"MEMORY USAGE summed over its keys: {row.keys / kb:,.1f} KB = {row.keys / row.state:.0f}x "
            f"({row.keys / row.bytes:.2f}x the used_memory growth: RedisJSON keeps identical strings once, "
            "MEMORY USAGE counts them in every key)"
        )
    if row.growth is not None and not row.official:
        lines.append(f"used_memory growth: {row.growth / kb:,.1f} KB" + ("" if row.fresh else " (server not fresh)"))
    if row.growth is not None and row.freed is not None:
        lines[-1] += (
            f"; FLUSHALL{' and FT.DROPINDEX' if MODULES in row.server else ''} then free {row.freed / kb:,.1f} KB "
            f"(the rest, {(row.growth - row.freed) / kb:,.1f} KB, is scripts, Lua and buffers)"
        )
    return lines


def plot(rows: list[Row], path: str) -> None:
    """Grouped bars, log scale: the headline bytes of each row, per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r.turns for r in rows})
    labels = list(dict.fromkeys(label(r) for r in rows))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(labels)
    for i, name in enumerate(labels):
        xs, ys = [], []
        for t, turns in enumerate(sizes):
            for r in rows:
                if r.turns == turns and label(r) == name:
                    xs.append(t + (i - len(labels) / 2 + 0.5) * width)
                    ys.append(r.bytes / 1e6)
        ax.bar(xs, ys, width, label=name)
    ax.set_xticks(range(len(sizes)), [f"{turns} turns" for turns in sizes])
    ax.set_yscale("log")
    ax.set_ylabel("MB for the thread (log)")
    ax.set_title("A chat thread's whole history (tool-calling agent, 5 checkpoints per turn)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def label(row: Row) -> str:
    server = f", {row.server}" if row.server else ""
    return f"{row.name}{server}: {row.method}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, action="append", help="turns (repeatable; default 50 and 200)")
    parser.add_argument(
        "--url", default=os.environ.get("REDIS_URL"), help="run every Redis row on this server (not fresh)"
    )
    parser.add_argument("--savers", default=",".join(SAVERS), help=f"comma-separated, from {', '.join(SAVERS)}")
    parser.add_argument(
        "--servers", default=f"{PLAIN},{MODULES}", help=f"for redis-ckpt: comma-separated, from {PLAIN}, {MODULES}"
    )
    parser.add_argument("--plain-binary", help="redis-server for the rows without modules (default: the embedded 8.2)")
    parser.add_argument(
        "--shared-threads",
        type=int,
        default=4,
        help="threads run under one prefix to measure a thread's share of a shared index (redis-ckpt, "
        "with modules; 0: skip)",
    )
    parser.add_argument("--plot", metavar="PNG", help="also draw bytes per row and size (needs matplotlib)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.savers.split(",") if n.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    plan: list[tuple[str, str]] = []
    if args.url:
        servers = [args.url]  # one row per saver; the row says whether the index was there
    for name in names:
        if name == "InMemorySaver":
            plan.append((name, ""))
        elif name == "official":
            plan.append((name, args.url or MODULES))
        else:
            plan += [(name, server) for server in servers]
    failures: list[str] = []
    rows: list[Row] = []
    shared = args.shared_threads
    header = f"{'turns':>5}  {'saver':<25}{'server':<19}{'bytes':>13}{'x final':>9}  {'counted as':<26}"
    print(header + f"{'KB sent/put':>12}{'put ms':>8}{'get ms':>8}")
    for turns in args.turns or [50, 200]:
        for name, server in plan:
            if not server:
                row = measure(name, turns, server, "", False, 0)
            elif args.url:
                row = measure(name, turns, args.url, args.url, False, shared if name == "redis-ckpt" else 0)
                server = MODULES if row.index or name == "official" else PLAIN
                row.server = f"{server} (--url)"
            else:
                from redis_ckpt.integrations.embedded_redis import EmbeddedRedis

                embedded = EmbeddedRedis(modules=server == MODULES)
                if server == PLAIN and args.plain_binary:
                    embedded.binary = args.plain_binary
                embedded.start()
                try:
                    version = redis.Redis.from_url(embedded.url).info("server")["redis_version"]
                    shared_here = shared if name == "redis-ckpt" else 0
                    row = measure(name, turns, server, embedded.url, True, shared_here)
                finally:
                    embedded.stop()
                row.server = f"{server} {version}"
            rows.append(row)
            print(
                f"{turns:>5}  {name:<25}{row.server:<19}{row.bytes:>13,.0f}{row.ratio:>8.2f}x  {row.method:<26}"
                f"{row.sent / 1000:>12.1f}{row.put_ms:>8.2f}{row.get_ms:>8.2f}"
            )
            for line in describe(row):
                print(f"{'':>9}{line}")
            print(f"{'':>9}final state {row.state:,} bytes; {row.resends} puts resent")
            limit = TARGETS.get((name, server))
            if limit and row.ratio > limit:
                failures.append(f"{turns} turns, {name} on {server} ({row.method}): {row.ratio:.2f}x > {limit}x")
    print("\nall memory targets met" if not failures else "\nshort of target: " + "; ".join(failures))
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
