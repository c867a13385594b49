"""A chat thread growing turn by turn (issue 21): what one more graph turn and a get_tuple cost at
10, 50, 200 and 500 turns, for every saver side by side.

    python -m benchmarks.growing_thread --quick              # 10 and 50 turns, about 3 minutes
    python -m benchmarks.growing_thread                      # 10, 50, 200 and 500 turns
    python -m benchmarks.growing_thread --turns 10,50,200    # chosen sizes

The thread is the tool-calling agent of `benchmarks/chat_agent.py` (each turn a question, an AI
tool call, a tool result and an answer through a real StateGraph on MessagesState,
`durability="sync"`: 5 checkpoints per turn). Every saver grows its own thread on one embedded
Redis 8.2 with Search+JSON (or --url), all to the same size before any goes further, so the
server holds the same load for each. At each size, printed per saver (medians):

- turn: the wall time of one more graph turn (a few turns, after one untimed turn watched through
  MONITOR to learn which commands run nested), and its server µs (INFO commandstats, top-level
  commands only: benchmarks/servertime.py);
- get_tuple: the latest checkpoint's latency and server µs;
- memory: the thread's bytes in Redis, `MEMORY USAGE key SAMPLES 0` summed over the saver's keys
  (its prefix, or the thread id in the key name for the aws saver, which has no prefix). For
  redis-ckpt the Search index is printed apart: FT.INFO `total_index_memory_sz_mb` of its
  prefix's index, which covers every thread of that prefix (here: this one). InMemorySaver: the
  serialized bytes it keeps, in this process.

A saver is skipped past a budget (its thread over --max-mb of memory, or one turn over
--max-turn-s seconds), and the table says so. At 200 turns (or the largest size, if smaller),
redis-ckpt runs one turn, a get_tuple and a list(limit=10) with SLOWLOG's threshold at 0 (restored
afterwards): the slowest server call is printed with its command (issue 21: none over 1 ms).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis
from langchain_core.messages import HumanMessage

from benchmarks.chat_agent import build_graph, prose, run_turns
from benchmarks.chat_memory import memory_saver_bytes
from benchmarks.savers import AWS, AWS_ASYNC, MEMORY, OFFICIAL, OFFICIAL_ASYNC, OURS, OURS_ASYNC, Contender, build
from benchmarks.servertime import ServerClock, command_stats, nesting, slowest

SAVERS = (OURS, OFFICIAL, AWS, MEMORY)
ASYNC_SAVERS = (OURS_ASYNC, OFFICIAL_ASYNC, AWS_ASYNC)
CHECK_EVERY = 25  # turns between memory checks while a thread grows (a check scans the keyspace)
SLOW_CALL_TARGET_US = 1000  # issue 21: no server call over 1 ms on a 200-turn thread
SLOWLOG_AT = 200


@dataclass
class Thread:
    """One saver's growing thread."""

    contender: Contender
    graph: Any
    thread_id: str = field(default_factory=lambda: f"grow-{uuid.uuid4().hex}")
    turns: int = 0
    skipped: str = ""

    @property
    def name(self) -> str:
        return self.contender.name

    @property
    def config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id}}

    def turn(self) -> float:
        """One more graph turn; its wall time in seconds."""
        start = time.perf_counter()
        if self.contender.is_async:
            # The same human message run_turns would send, through the async face.
            message = HumanMessage(content=prose(random.Random(11 + self.turns), 400), id=f"human-{self.turns}")
            self.contender.run(self.graph.ainvoke({"messages": [message]}, self.config, durability="sync"))
        else:
            run_turns(self.graph, self.thread_id, 1, start=self.turns)
        self.turns += 1
        return time.perf_counter() - start

    def get_tuple(self) -> Any:
        if self.contender.is_async:
            return self.contender.run(self.contender.saver.aget_tuple(self.config))
        return self.contender.saver.get_tuple(self.config)

    def list_10(self) -> list[Any]:
        if self.contender.is_async:

            async def collect() -> list[Any]:
                return [t async for t in self.contender.saver.alist(self.config, limit=10)]

            return self.contender.run(collect())  # type: ignore[no-any-return]
        return list(self.contender.saver.list(self.config, limit=10))


@dataclass
class Row:
    turn_ms: float = float("nan")
    turn_server_us: float = float("nan")
    get_ms: float = float("nan")
    get_server_us: float = float("nan")
    thread_bytes: int = 0
    index_mb: float = float("nan")


def keys_of(client: redis.Redis, thread: Thread) -> list[bytes]:
    """The saver's keys for this thread: its prefix where it has one, else the thread id, which
    the aws saver writes into every key name (`checkpoint:{thread}:...`)."""
    pattern = f"{thread.contender.prefix}*" if thread.contender.prefix else f"*{thread.thread_id}*"
    keys = set(client.scan_iter(match=pattern, count=1000))
    if thread.name in (OFFICIAL, OFFICIAL_ASYNC):  # its blobs and writes carry the thread id, under other prefixes too
        keys |= set(client.scan_iter(match=f"*{thread.thread_id}*", count=1000))
    return sorted(keys)


def thread_bytes(client: redis.Redis, thread: Thread) -> int:
    if thread.name == MEMORY:
        return memory_saver_bytes(thread.contender.saver)
    pipe = client.pipeline(transaction=False)
    for key in keys_of(client, thread):
        pipe.memory_usage(key, samples=0)
    return sum(size or 0 for size in pipe.execute())


def index_mb(client: redis.Redis, prefix: str) -> float:
    """FT.INFO total_index_memory_sz_mb of redis-ckpt's Search index for `prefix`."""
    try:
        info = client.execute_command("FT.INFO", f"{prefix}:index")  # type: ignore[no-untyped-call]
    except redis.ResponseError:
        return float("nan")  # no Search module, or no index under that name
    if isinstance(info, list):  # RESP2 answers a flat list
        info = dict(zip(info[::2], info[1::2]))
    value = {(k.decode() if isinstance(k, bytes) else k): v for k, v in info.items()}["total_index_memory_sz_mb"]
    return float(value.decode() if isinstance(value, bytes) else value)


def forget(client: redis.Redis, thread: Thread) -> None:
    """Free a skipped saver's memory, so it does not weigh on the others' measurements."""
    if thread.name == MEMORY:
        thread.contender.saver = None
        thread.graph = None
        return
    keys = keys_of(client, thread)
    for i in range(0, len(keys), 1000):
        client.unlink(*keys[i : i + 1000])


def grow(thread: Thread, to: int, client: redis.Redis, max_bytes: int, max_turn_s: float) -> None:
    """Grow the thread to `to` turns, one turn at a time, within the budgets."""
    while thread.turns < to and not thread.skipped:
        seconds = thread.turn()
        if seconds > max_turn_s:
            thread.skipped = f"turn {thread.turns} took {seconds:.1f} s > {max_turn_s:g} s"
        elif thread.turns % CHECK_EVERY == 0 or thread.turns == to:
            size = thread_bytes(client, thread)
            if size > max_bytes:
                thread.skipped = f"{size / 1e6:,.0f} MB at {thread.turns} turns > {max_bytes / 1e6:,.0f} MB"
    if thread.skipped:
        forget(client, thread)


def timed(op: Callable[[], Any], clock: ServerClock | None, times: int) -> tuple[float, float]:
    """(median ms, median server µs) of `times` calls of `op`."""
    wall, server = [], []
    for _ in range(times):
        if clock:
            clock.start()
        start = time.perf_counter()
        op()
        wall.append((time.perf_counter() - start) * 1e3)
        if clock:
            server.append(clock.stop())
    return statistics.median(wall), statistics.median(server) if server else float("nan")


def measure(thread: Thread, url: str, client: redis.Redis, turns: int, gets: int) -> Row:
    row = Row()
    has_server = thread.name != MEMORY
    # One untimed turn and one get_tuple watched through MONITOR (which slows them): which
    # commands ran nested, so the server clock counts them once.
    turn_clock = ServerClock(url, nesting(url, thread.turn)) if has_server else None
    get_clock = ServerClock(url, nesting(url, thread.get_tuple)) if has_server else None
    row.turn_ms, row.turn_server_us = timed(thread.turn, turn_clock, turns)
    row.get_ms, row.get_server_us = timed(thread.get_tuple, get_clock, gets)
    for clock in (turn_clock, get_clock):
        if clock:
            clock.close()
    row.thread_bytes = thread_bytes(client, thread)
    if thread.name in (OURS, OURS_ASYNC):
        row.index_mb = index_mb(client, thread.contender.prefix)
    return row


def slow_calls(thread: Thread, client: redis.Redis) -> list[str]:
    """The slowest server call of one turn, of a get_tuple and of a list(limit=10), each from
    SLOWLOG, with the average EXEC from commandstats (SLOWLOG logs a transaction's commands, never
    the EXEC that runs them)."""
    lines = [f"slowest server call on {thread.name}'s {thread.turns}-turn thread (SLOWLOG, threshold 0):"]
    for what, op in (("one turn", thread.turn), ("get_tuple", thread.get_tuple), ("list(limit=10)", thread.list_10)):
        before = command_stats(client)
        us, command, entries = slowest(client, op)
        after = command_stats(client)
        calls = after.get("exec", (0, 0))[0] - before.get("exec", (0, 0))[0]
        usec = after.get("exec", (0, 0))[1] - before.get("exec", (0, 0))[1]
        verdict = "within" if us <= SLOW_CALL_TARGET_US else "OVER"
        line = f"  {what:<15}{command.upper():>14} {us:>6,} µs ({verdict} 1 ms; {entries} entries logged)"
        if calls:
            line += f"; EXEC, not logged: {calls} calls, {usec / calls:,.0f} µs on average"
        lines.append(line)
    return lines


def _ratio(base: float, mine: float) -> str:
    """How many times faster `mine` is than `base` (times: lower is better)."""
    return "-" if base != base or mine != mine or not mine else f"{base / mine:.2f}x"


def print_table(turns: int, threads: list[Thread], rows: dict[str, Row], extra: int, gets: int) -> None:
    print(
        f"\n## {turns} turns: one more turn timed {extra} times (after one untimed), get_tuple (latest) {gets} times; "
        "medians; ratios = the saver's speed over the peer's"
    )
    print(
        f"{'saver':<17}{'turn ms':>9}{'srv us/turn':>13}{'get ms':>8}{'srv us/get':>12}{'thread MB':>11}"
        f"{'index MB':>10}{'turn vs aws':>13}{'get vs aws':>12}{'turn vs off.':>14}{'get vs off.':>13}"
    )
    for thread in threads:
        if thread.name not in rows:
            print(f"{thread.name:<17}{'skipped':>9}   ({thread.skipped})")
            continue
        r = rows[thread.name]
        # Ratios compare faces alike: sync to the sync peers, async to the async ones.
        asynchronous = thread.contender.is_async
        aws = rows.get(AWS_ASYNC if asynchronous else AWS, Row())
        official = rows.get(OFFICIAL_ASYNC if asynchronous else OFFICIAL, Row())

        def num(value: float, digits: int = 0) -> str:
            return "-" if value != value else f"{value:,.{digits}f}"

        print(
            f"{thread.name:<17}{num(r.turn_ms, 1):>9}{num(r.turn_server_us):>13}{num(r.get_ms, 2):>8}"
            f"{num(r.get_server_us):>12}{r.thread_bytes / 1e6:>11.2f}{num(r.index_mb, 2):>10}"
            f"{_ratio(aws.turn_ms, r.turn_ms):>13}{_ratio(aws.get_ms, r.get_ms):>12}"
            f"{_ratio(official.turn_ms, r.turn_ms):>14}{_ratio(official.get_ms, r.get_ms):>13}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 and 50 turns only (well under 3 minutes)")
    parser.add_argument("--turns", help="comma-separated sizes (default 10,50,200,500)")
    parser.add_argument(
        "--savers", default=",".join(SAVERS), help=f"comma-separated, from {', '.join(SAVERS + ASYNC_SAVERS)}"
    )
    parser.add_argument("--async", dest="both", action="store_true", help="the async faces too, after the sync ones")
    parser.add_argument("--max-mb", type=float, default=1000, help="skip a saver whose thread holds more (MB)")
    parser.add_argument("--max-turn-s", type=float, default=5.0, help="skip a saver when one turn takes longer")
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args(argv)
    sizes = sorted(int(t) for t in (args.turns or ("10,50" if args.quick else "10,50,200,500")).split(","))
    extra, gets = 5, 15  # --quick only drops the large sizes: these samples cost seconds
    names = [n.strip() for n in args.savers.split(",") if n.strip()] + (list(ASYNC_SAVERS) if args.both else [])
    server = None
    if not args.url:
        from redis_ckpt.embedded import EmbeddedRedis

        server = EmbeddedRedis(modules=True).start()
        args.url = server.url
    client = redis.Redis.from_url(args.url)
    try:
        version = client.info("server")["redis_version"]
        print(
            f"# growing chat thread: Redis {version}, {os.cpu_count()} cores; budgets: {args.max_mb:g} MB per thread, "
            f"{args.max_turn_s:g} s per turn"
        )
        threads = []
        for name in names:
            contender = build(name, args.url)
            threads.append(Thread(contender, build_graph(contender.saver)))
        slowlog_at = SLOWLOG_AT if SLOWLOG_AT in sizes else max(sizes)
        for size in sizes:
            rows: dict[str, Row] = {}
            for thread in threads:
                grow(thread, size, client, int(args.max_mb * 1e6), args.max_turn_s)
                if not thread.skipped:
                    rows[thread.name] = measure(thread, args.url, client, extra, gets)
            print_table(size, threads, rows, extra, gets)
            if size == slowlog_at and size != SLOWLOG_AT:
                print(f"(SLOWLOG probe at {size} turns: {SLOWLOG_AT} is not among the sizes)")
            for thread in threads:
                if thread.name in (OURS, OURS_ASYNC) and size == slowlog_at and not thread.skipped:
                    print("\n".join(slow_calls(thread, client)))
            # The measuring turns grew the threads past `size`; the next size counts from there.
        return 0
    finally:
        client.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
