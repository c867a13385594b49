"""The incremental garbage collection of prune and delete_for_runs (lua/gc.lua) with other writers
interleaving: every server call is bounded, and a put or put_writes landing between two steps
keeps everything it references (docs/design.md, "Garbage collection in steps")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from langchain_core.messages import AIMessage

from redis_ckpt import RedisSaver
from redis_ckpt.format.encoding import blob_field
from redis_ckpt.sync import saver_maintenance
from tests.conftest import fresh_saver, keys_under, saver_kwargs
from tests.helpers import checkpoint, config, put_chain, stored_digests
from tests.test_dedup import _referenced_digests, grow, latest_messages, messages


@pytest.fixture
def incremental(monkeypatch: pytest.MonkeyPatch) -> None:
    """Collect every namespace in steps (never in the deleting call), a few items per step."""
    monkeypatch.setattr(saver_maintenance, "ONE_CALL_GC_LIMIT", 1)
    monkeypatch.setattr(saver_maintenance, "GC_STEP", 3)


def on_first_step(saver: RedisSaver, phase: str, action: Callable[[], None]) -> list[str]:
    """Run `action` (another writer) just before the collection's first `phase` step; returns the
    phases of every gc call made, in order."""
    original = saver._maintenance_script
    phases: list[str] = []

    def hooked(held: Any, name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "gc":
            if args[2] == phase and phase not in phases:
                action()
            phases.append(args[2])
        return original(held, name, keys, args)

    saver._maintenance_script = hooked  # type: ignore[method-assign]
    return phases


def blob_fields(raw: redis.Redis, saver: RedisSaver, thread_id: str) -> set[bytes]:
    return set(raw.hkeys(saver.layout.blobs(thread_id, "")))


@pytest.fixture
def pair(redis_url: str, prefix: str) -> Iterator[tuple[RedisSaver, RedisSaver]]:
    """A writer and, as if in another process, a collector (its own caches)."""
    with fresh_saver(RedisSaver, redis_url, prefix) as writer, RedisSaver(redis_url, **saver_kwargs(prefix)) as other:
        yield writer, other


def seed(writer: RedisSaver) -> tuple[str, list[str]]:
    """A checkpoint on a branch of its own (survives), then a growing message list of 6 steps."""
    keep = checkpoint({"other": ["x" * 300, "y" * 300]}, {"other": 1})
    writer.put(config("t"), keep, {"step": -1}, {"other": 1})
    return keep["id"], grow(writer, "t", 6)


@pytest.mark.usefixtures("incremental")
def test_prune_and_delete_for_runs_in_steps_leave_exactly_what_is_still_used(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    from benchmarks.chat_agent import build_graph, run_turns

    # 20 turns: over 128 blob fields, so that hash is a hashtable, which HSCAN pages (a small hash
    # in listpack encoding comes back whole).
    run_turns(build_graph(saver), "t", 20)
    phases = on_first_step(saver, "docs", lambda: None)
    saver.prune(["t"], keep_last=2)
    assert phases.count("blobs") > 2 and phases.count("chunks") > 2 and phases[-1] == "end"  # many bounded steps
    assert stored_digests(raw, saver.layout.chunks("t", "")) == _referenced_digests(saver, "t")
    run_ids = {t.metadata.get("run_id") for t in saver.list(config("t"))}
    saver.delete_for_runs([r for r in run_ids if r][:1])
    assert stored_digests(raw, saver.layout.chunks("t", "")) == _referenced_digests(saver, "t")
    assert not raw.exists(*saver.layout.gc_marks("t", ""))


@pytest.mark.usefixtures("incremental")
def test_a_put_landing_mid_collection_keeps_the_values_and_chunks_it_relies_on(
    pair: tuple[RedisSaver, RedisSaver], raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    writer, collector = pair
    _keep, ids = seed(writer)
    # The new checkpoint continues the list whose checkpoints are being deleted: it sends one new
    # chunk and a delta on the last version, relying on records and chunks no remaining document
    # references once the marking pages are done.
    child = checkpoint({"messages": messages(7)}, {"messages": 7}, step=7)
    on_first_step(collector, "blobs", lambda: writer.put(config("t", "", ids[-1]), child, {"step": 7}, {"messages": 7}))
    collector._drop("t", "", ids)
    assert writer.resends == 0  # it relied on stored parts, and they were there when it landed
    assert latest_messages(writer, "t") == messages(7)
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # no cached chunks
        found = fresh.get_tuple(config("t", "", child["id"]))
    assert found is not None and found.checkpoint["channel_values"]["messages"] == messages(7)
    assert stored_digests(raw, writer.layout.chunks("t", "")) == _referenced_digests(writer, "t")


@pytest.mark.usefixtures("incremental")
def test_put_writes_landing_mid_collection_keep_their_chunks(
    pair: tuple[RedisSaver, RedisSaver], raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    writer, collector = pair
    keep, ids = seed(writer)
    new = [AIMessage(content="a pending answer " * 30, id="w1"), AIMessage(content="and more " * 40, id="w2")]
    put_writes = lambda: writer.put_writes(config("t", "", keep), [("messages", new)], "task-1")  # noqa: E731
    on_first_step(collector, "chunks", put_writes)
    collector._drop("t", "", ids)
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # no cached chunks
        found = fresh.get_tuple(config("t", "", keep))
    assert found is not None and found.pending_writes == [("task-1", "messages", new)]
    assert stored_digests(raw, writer.layout.chunks("t", "")) == _referenced_digests(writer, "t")


@pytest.mark.usefixtures("incremental")
def test_a_collection_waits_for_another_one_of_the_namespace(
    pair: tuple[RedisSaver, RedisSaver], raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, collector = pair
    _keep, ids = seed(writer)
    before = blob_fields(raw, writer, "t")
    # Marks of another collection that stepped just now, then died: once they are stale (no step
    # for GC_STALE_MS), this one takes them over and runs.
    monkeypatch.setattr(saver_maintenance, "GC_STALE_MS", 1_000)
    marks = writer.layout.gc_marks("t", "")
    for key in marks:
        raw.sadd(key, saver_maintenance.GC_TOKEN_PREFIX + "dead")
        raw.pexpire(key, saver_maintenance.GC_MARKS_TTL_MS - 600)  # its last step was 400 ms ago
    start = time.monotonic()
    collector._drop("t", "", ids)
    assert time.monotonic() - start >= 0.3
    assert blob_fields(raw, writer, "t") < before  # it collected after all
    assert stored_digests(raw, writer.layout.chunks("t", "")) == _referenced_digests(writer, "t")
    assert not raw.exists(*marks)


@pytest.mark.usefixtures("incremental")
def test_a_collection_that_lost_its_marks_starts_over_and_never_sweeps_with_anothers(
    pair: tuple[RedisSaver, RedisSaver], raw: redis.Redis
) -> None:
    writer, collector = pair
    keep, ids = seed(writer)
    marks = writer.layout.gc_marks("t", "")

    def replaced() -> None:  # its marks expired while it stalled, and another collection began
        raw.delete(*marks)
        for key in marks:
            raw.sadd(key, saver_maintenance.GC_TOKEN_PREFIX + "other")
            raw.pexpire(key, 300)

    phases = on_first_step(collector, "blobs", replaced)
    collector._drop("t", "", ids)
    assert phases.count("begin") >= 2  # the stale step was refused; it waited, then started over
    assert [t.checkpoint["id"] for t in writer.list(config("t"))] == [keep]  # only the kept branch is left
    assert writer.get_tuple(config("t", "", keep)).checkpoint["channel_values"]["other"] == ["x" * 300, "y" * 300]  # type: ignore[union-attr]
    assert stored_digests(raw, writer.layout.chunks("t", "")) == _referenced_digests(writer, "t")


def _lists(channels: list[str], n: int) -> dict[str, list[str]]:
    """Per channel, a list of n elements of ~300 bytes (one chunk each)."""
    return {c: [f"{c}-{j}-" + "v" * 300 for j in range(n)] for c in channels}


CHANNELS = [f"c{i}" for i in range(10)]


def _chains_and_a_child(writer: RedisSaver) -> tuple[Any, list[str], Any, dict[str, list[str]]]:
    """A root, a branch of deltas that is to be deleted (version n of each channel a delta on
    n - 1: the writer's last known record of each channel is its top, version 13), and a child of
    the root, not put yet, whose values the writer would store as deltas on those tops."""
    # keyframes of 5 chunks (over 64 bytes): the blob hash is a hash table, swept in many steps
    root = checkpoint(_lists(CHANNELS, 5), {c: 5 for c in CHANNELS})
    writer.put(config("t"), root, {}, {c: 5 for c in CHANNELS})
    doomed, parent = [], root["id"]
    for n in range(6, 14):
        cp = checkpoint(_lists(CHANNELS, n), {c: n for c in CHANNELS}, step=n)
        writer.put(config("t", "", parent), cp, {}, {c: n for c in CHANNELS})
        doomed.append(parent := cp["id"])
    values = {c: [*v, f"{c}-new-" + "w" * 300] for c, v in _lists(CHANNELS, 5).items()}
    return root, doomed, checkpoint(values, {c: 100 for c in CHANNELS}, step=100), values


def _top_without_its_chain(writer: RedisSaver, raw: redis.Redis) -> Callable[[], bool]:
    """Whether the sweep has deleted part of a doomed chain but not its top. (It goes in hash
    order, so with ten chains one is caught like that.)"""
    blobs = writer.layout.blobs("t", "")

    def check() -> bool:
        for c in CHANNELS:
            links = raw.hmget(blobs, [blob_field(c, n) for n in range(6, 14)])
            if links[-1] is not None and None in links[:-1]:
                return True
        return False

    return check


@pytest.mark.usefixtures("incremental")
def test_a_put_relying_on_a_base_whose_chain_the_sweep_has_partly_deleted_is_sent_again(
    pair: tuple[RedisSaver, RedisSaver], raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    writer, collector = pair
    root, doomed, child, values = _chains_and_a_child(writer)
    top_without_its_chain = _top_without_its_chain(writer, raw)
    original = collector._maintenance_script
    fired: list[bool] = []

    def hooked(held: Any, name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "gc" and args[2] in ("blobs", "chunks") and not fired and top_without_its_chain():
            fired.append(True)
            writer.put(config("t", "", root["id"]), child, {}, {c: 100 for c in CHANNELS})
        return original(held, name, keys, args)

    collector._maintenance_script = hooked  # type: ignore[method-assign]
    collector._drop("t", "", doomed)
    assert fired
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # no cached chunks
        found = fresh.get_tuple(config("t", "", child["id"]))
    assert found is not None and found.checkpoint["channel_values"] == values
    assert writer.resends >= 1  # its bases were found broken, so it sent everything
    assert stored_digests(raw, writer.layout.chunks("t", "")) == _referenced_digests(writer, "t")


class _Died(Exception):
    """The collecting process died."""


@pytest.mark.usefixtures("incremental")
def test_a_put_after_a_collection_died_mid_sweep_never_relies_on_a_chain_it_broke(
    pair: tuple[RedisSaver, RedisSaver], raw: redis.Redis, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(saver_maintenance, "GC_STALE_MS", 300)
    writer, collector = pair
    root, doomed, child, values = _chains_and_a_child(writer)
    top_without_its_chain = _top_without_its_chain(writer, raw)
    original = collector._maintenance_script

    def dies_mid_sweep(held: Any, name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "gc" and args[2] == "blobs" and top_without_its_chain():
            raise _Died
        return original(held, name, keys, args)

    collector._maintenance_script = dies_mid_sweep  # type: ignore[method-assign]
    with pytest.raises(_Died):
        collector._drop("t", "", doomed)
    time.sleep(0.4)  # long after its last step: it is presumed dead
    writer.put(config("t", "", root["id"]), child, {}, {c: 100 for c in CHANNELS})
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # no cached chunks
        found = fresh.get_tuple(config("t", "", child["id"]))
    assert found is not None and found.checkpoint["channel_values"] == values
    # The next collection takes the dead one's marks over at once, and finishes.
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as next_collector:
        start = time.monotonic()
        next_collector._drop("t", "", [])
        assert time.monotonic() - start < 5
    assert not raw.exists(*writer.layout.gc_marks("t", ""))
    assert stored_digests(raw, writer.layout.chunks("t", "")) == _referenced_digests(writer, "t")


@pytest.mark.usefixtures("incremental")
@pytest.mark.parametrize("how", ["delete_thread", "delete_for_runs"])
def test_emptying_a_namespace_after_a_collection_died_leaves_no_key_behind(
    pair: tuple[RedisSaver, RedisSaver], raw: redis.Redis, prefix: str, how: str
) -> None:
    writer, collector = pair
    keep, ids = seed(writer)
    original = collector._maintenance_script

    def dies_mid_sweep(held: Any, name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "gc" and args[2] == "blobs":
            raise _Died
        return original(held, name, keys, args)

    collector._maintenance_script = dies_mid_sweep  # type: ignore[method-assign]
    with pytest.raises(_Died):
        collector._drop("t", "", ids)
    assert raw.exists(*writer.layout.gc_marks("t", "")) == 2  # its marks stay (for the next collection)
    if how == "delete_thread":
        writer.delete_thread("t")
    else:
        writer._drop("t", "", [keep])
    assert keys_under(raw, prefix) == []


@pytest.mark.parametrize("collection", ["one call", "in steps"])
def test_a_collection_of_the_target_never_runs_while_copy_thread_copies_into_it(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch, collection: str
) -> None:
    if collection == "in steps":
        monkeypatch.setattr(saver_maintenance, "ONE_CALL_GC_LIMIT", 1)
        monkeypatch.setattr(saver_maintenance, "GC_STEP", 3)
    source = grow(saver, "src", 6)
    target = put_chain(saver, "dst", 8)  # the target has checkpoints of its own, and is pruned
    copy_values = saver._copy_values

    def prune_elsewhere() -> None:
        with RedisSaver(redis_url, **saver_kwargs(prefix)) as other:
            other.prune(["dst"], keep_last=1)

    collector = threading.Thread(target=prune_elsewhere)

    def values_then_a_prune_elsewhere(source: str, target: str, ns: str) -> None:
        copy_values(source, target, ns)
        # Another process prunes the target now: the values just copied are referenced by no
        # document there yet. It must wait for the copy (else it sweeps them), not collect now.
        collector.start()
        collector.join(timeout=1.5)

    monkeypatch.setattr(saver, "_copy_values", values_then_a_prune_elsewhere)
    saver.copy_thread("src", "dst")
    collector.join(timeout=30)
    assert not collector.is_alive()
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # no cached chunks
        for n, checkpoint_id in enumerate(source, start=1):
            found = fresh.get_tuple(config("dst", "", checkpoint_id))
            assert found is not None and found.checkpoint["channel_values"]["messages"] == messages(n)
    assert target[-1] in {t.checkpoint["id"] for t in saver.list(config("dst"))}
    assert not raw.exists(*saver.layout.gc_marks("dst", ""))
