"""Lists returned whole at every step (a channel without a reducer): in storage format 2 a pending
write of such a list is a delta on its checkpoint's value, so history stays O(items), reads give
exactly what InMemorySaver gives, and collection keeps what the writes stand on."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.overwritten_list import build, item
from redis_ckpt import RedisSaver
from redis_ckpt.format.encoding import unpack_list
from redis_ckpt.format.format_version import STAMP_FIELD
from tests.conftest import fresh_saver, keys_under
from tests.helpers import config


def run(saver: Any, thread_id: str, steps: int, runs: int = 1) -> Any:
    """`runs` invocations of `steps` steps each: one checkpoint per step (the graph of
    benchmarks/overwritten_list.py)."""
    g = build(saver)
    cfg = {"configurable": {"thread_id": thread_id}, "recursion_limit": steps + 10}
    g.invoke({"items": [], "log": [], "steps": steps}, cfg)
    for n in range(2, runs + 1):
        g.invoke({"log": [], "steps": steps * n}, cfg)
    return g


def stored_bytes(raw: redis.Redis, prefix: str) -> int:
    return sum(raw.memory_usage(k, samples=0) or 0 for k in keys_under(raw, prefix))


def write_values(raw: redis.Redis, prefix: str) -> list[bytes]:
    """The stored value of every pending write under the prefix."""
    values = []
    for key in keys_under(raw, prefix):
        if b":cp:" in key:
            for field, record in raw.hgetall(key).items():
                if field[:1].isdigit() or field[:1] == b"-":
                    values.append(unpack_list(record)[2])
    return values


@pytest.fixture
def format2(saver: RedisSaver) -> RedisSaver:
    saver.raise_storage_format(2)
    return saver


def test_writes_of_a_list_returned_whole_are_deltas_and_read_back_exactly(
    format2: RedisSaver, raw: redis.Redis, prefix: str, redis_url: str
) -> None:
    reference = run(InMemorySaver(), "t", 10, runs=3)
    ours = run(format2, "t", 10, runs=3)
    cfg = config("t")
    assert [s.values for s in ours.get_state_history(cfg)] == [s.values for s in reference.get_state_history(cfg)]
    assert ours.get_state(cfg).values["items"] == reference.get_state(cfg).values["items"]
    deltas = [v for v in write_values(raw, prefix) if v[:1] == b"\x02"]
    assert len(deltas) >= 20  # 30 writes of `items`: all but those on an empty list or a fresh thread
    assert raw.hget(format2.layout.chunks("t", ""), STAMP_FIELD) == b"2"  # older releases refuse it
    # a reader that knows nothing (another process) resolves them in the script
    with RedisSaver(redis_url, checkpoint_prefix=prefix, checkpoint_write_prefix=f"{prefix}_write") as cold:
        history = list(cold.list(cfg))
        expected = list(format2.list(cfg))
        assert [h.pending_writes for h in history] == [e.pending_writes for e in expected]
        assert any(h.pending_writes for h in history)
    channels = ["items"]
    latest = format2.get_tuple(cfg)
    assert latest is not None
    ours_delta = format2.get_delta_channel_history(config=latest.config, channels=channels)
    theirs = reference.checkpointer.get_delta_channel_history(
        config=reference.checkpointer.get_tuple(cfg).config, channels=channels
    )

    def shape(history: Any) -> Any:  # task ids are random per run
        return {c: ([(ch, v) for _, ch, v in h["writes"]], h.get("seed")) for c, h in history.items()}

    assert shape(ours_delta) == shape(theirs)
    assert ours_delta["items"]["writes"]  # a write stored as a delta, resolved by the walk


def test_format_1_stores_whole_write_records_and_no_stamp(saver: RedisSaver, raw: redis.Redis, prefix: str) -> None:
    run(saver, "t", 10, runs=2)
    values = write_values(raw, prefix)
    assert values and not any(v[:1] == b"\x02" for v in values)
    assert raw.hget(saver.layout.chunks("t", ""), STAMP_FIELD) is None


def test_history_grows_linearly_in_format_2(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    """Two runs of 150 steps: in format 2 the second costs what the first did (each write names
    its new item only); in format 1 each write names every item again, so the second costs more."""
    growth = {}
    for fmt in (1, 2):
        with fresh_saver(RedisSaver, redis_url, f"{prefix}f{fmt}") as saver:
            saver.raise_storage_format(fmt)
            g = run(saver, "t", 150)
            first = stored_bytes(raw, f"{prefix}f{fmt}")
            g.invoke({"log": [], "steps": 300}, {"configurable": {"thread_id": "t"}, "recursion_limit": 200})
            growth[fmt] = (first, stored_bytes(raw, f"{prefix}f{fmt}") - first)
    (first1, second1), (first2, second2) = growth[1], growth[2]
    assert second2 <= 1.25 * first2, growth
    assert second1 >= 1.4 * first1, growth
    assert first2 + second2 <= 0.7 * (first1 + second1), growth


def test_collection_keeps_what_delta_writes_stand_on(format2: RedisSaver, raw: redis.Redis) -> None:
    g = run(format2, "t", 4, runs=3)
    before = g.get_state(config("t")).values
    format2.prune(["t"], keep_last=2)
    kept = list(format2.list(config("t")))
    assert len(kept) == 2
    assert g.get_state(config("t")).values == before
    reference = run(InMemorySaver(), "r", 4, runs=3)
    expected = reference.checkpointer.list(config("r"), limit=2)
    assert [len(t.pending_writes) for t in kept] == [len(t.pending_writes) for t in expected]
    for t in kept:
        for _, channel, value in t.pending_writes:
            if channel == "items":
                assert value[-1] == item(len(value) - 1)
    g.invoke({"steps": 13}, {"configurable": {"thread_id": "t"}})  # the thread goes on after the collection
    assert len(g.get_state(config("t")).values["items"]) == 13
