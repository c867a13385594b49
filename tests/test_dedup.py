"""Deduplicated, compressed storage of values (docs/design.md, "Deduplicated values"): exact bytes
back, each element stored once, only new bytes sent, and garbage collected to the last chunk."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.chat_agent import build_graph, prose, run_turns
from redis_ckpt import RedisSaver
from redis_ckpt.format import chunks
from redis_ckpt.format.compression import (
    COMPRESSED,
    WITH_DICTIONARY,
    is_chunk_dictionary,
    is_dictionary_field,
    pack_chunk,
    unpack_chunk,
)
from redis_ckpt.format.encoding import blob_field, pack_list, pack_typed, unpack_list
from tests.conftest import fresh_saver, keys_under, purge_prefix, saver_kwargs
from tests.helpers import checkpoint, config, stored_digests
from tests.roundtrips import counting


def messages(n: int) -> list[Any]:
    """n chat messages of 300-700 bytes serialized, the same for the same n."""
    import random

    rng = random.Random(5)
    return [
        (HumanMessage if i % 2 == 0 else AIMessage)(content=prose(rng, rng.randint(250, 600)), id=f"m{i}")
        for i in range(n)
    ]


def latest_messages(saver: RedisSaver, thread_id: str) -> Any:
    found = saver.get_tuple(config(thread_id))
    assert found is not None
    return found.checkpoint["channel_values"]["messages"]


def grow(saver: RedisSaver, thread_id: str, steps: int, start: int = 0, parent: str | None = None) -> list[str]:
    """Checkpoints whose `messages` grows by one message per step; returns their ids."""
    ids = []
    for step in range(start, start + steps):
        cp = checkpoint({"messages": messages(step + 1)}, {"messages": step + 1}, step=step)
        saver.put(config(thread_id, "", parent), cp, {"source": "loop", "step": step}, {"messages": step + 1})
        ids.append(parent := cp["id"])
    return ids


def test_values_read_back_as_the_exact_serializer_bytes(saver: RedisSaver) -> None:
    values = {"messages": messages(30), "small": [1, 2], "text": "é" * 500, "dict": {"k": list(range(300))}}
    cp = checkpoint(values, {k: 1 for k in values})
    saver.put(config("t"), cp, {}, {k: 1 for k in values})
    entry = saver._load("t", "", "ids", "full", 1, cp["id"])[1][0]
    stored = dict(zip((c.decode() for c in entry.channels), entry.values))
    for channel, value in values.items():
        assert stored[channel] == pack_typed(saver.serde.dumps_typed(value)), channel
    assert "messages" in entry.records  # the list was stored as chunks


def test_an_input_map_of_one_list_shares_the_chunks_of_the_list_it_feeds(saver: RedisSaver, raw: redis.Redis) -> None:
    import ormsgpack

    from redis_ckpt.format.msgpack_walk import list_elements

    history = messages(6)
    values = {"__start__": {"messages": history[-1:]}, "messages": history}
    cp = checkpoint(values, {k: 1 for k in values})
    saver.put(config("t"), cp, {}, {k: 1 for k in values})
    assert len(stored_digests(raw, saver.layout.chunks("t", ""))) == 6  # the input's message is the list's last chunk
    entry = saver._load("t", "", "ids", "full", 1, cp["id"])[1][0]
    stored = dict(zip((c.decode() for c in entry.channels), entry.values))
    assert stored["__start__"] == pack_typed(saver.serde.dumps_typed(values["__start__"]))
    assert {"__start__", "messages"} <= entry.records.keys()
    # only a map of exactly one entry whose value is an array, with nothing after it
    for value in ({"a": [1, 2], "b": [3]}, {"a": "text"}, {"a": {"b": [1]}}, [1, {"a": 2}]):
        data = ormsgpack.packb(value)
        found = list_elements(data)
        if isinstance(value, list):
            assert found is not None and found[0] + b"".join(found[1]) == data
        else:
            assert found is None, value
    data = ormsgpack.packb({"k": ["x" * 20, 1, None]})
    header, elements = list_elements(data)  # type: ignore[misc]
    assert header + b"".join(elements) == data and len(elements) == 3
    assert list_elements(data[:-1]) is None  # truncated


def test_each_element_of_a_growing_list_is_stored_once_and_puts_send_only_what_is_new(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    ids = grow(saver, "t", 40)
    assert len(stored_digests(raw, saver.layout.chunks("t", ""))) == 40  # one chunk per message, never twice
    state = len(saver.serde.dumps_typed(messages(41))[1])
    cp = checkpoint({"messages": messages(41)}, {"messages": 41}, step=41)
    with counting() as counted:
        saver.put(config("t", "", ids[-1]), cp, {"source": "loop", "step": 41}, {"messages": 41})
    assert counted.count == 1
    assert counted.bytes_sent < 3_000 < state  # one new message and the document, not the list
    assert latest_messages(saver, "t") == messages(41)


def test_a_long_list_history_stays_linear_short_chained_and_exact(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    ids = grow(saver, "t", 150)
    records = [v for v in raw.hvals(saver.layout.blobs("t", "")) if chunks.is_record(v)]
    depths = [int(unpack_list(v[1:])[2]) if v[:1] == chunks.DELTA else 0 for v in records]
    own_digests = sum(len(unpack_list(v[1:])[1]) // chunks.DIGEST_SIZE for v in records)
    assert depths.count(0) == 1  # one keyframe; every later run starts from an anchor delta
    assert max(depths) <= chunks.MAX_ANCHOR_DEPTH + chunks.MAX_RUN
    # Each version names about the one message it added (an anchor: its run's), not the whole list:
    # keyframes every 32 versions would name ~2,300 digests here.
    assert own_digests < 150 + 5 * 40
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # reads resolve every chain
        for n, cid in enumerate(ids, 1):
            found = fresh.get_tuple(config("t", "", cid))
            assert found is not None and found.checkpoint["channel_values"]["messages"] == messages(n)


def test_a_graph_run_turn_by_turn_keeps_its_first_keyframe_only(saver: RedisSaver, raw: redis.Redis) -> None:
    """Every invoke reads the thread first (get_tuple): what the read teaches must not replace
    what the saver knows of its own records, or every turn deepens the chains and a keyframe of
    the whole list follows every dozen turns."""
    from benchmarks.chat_agent import build_graph, run_turns

    run_turns(build_graph(saver), "t", 30)
    records = [v for v in raw.hvals(saver.layout.blobs("t", "")) if chunks.is_record(v) and len(v) > 100]
    # The first version's keyframe names one chunk, as do the input maps': only anchors are larger.
    assert not [v for v in records if v[:1] == chunks.KEYFRAME]
    assert len(records) <= 4  # anchors, one per 32 versions of the 120-message list


def test_a_graph_alone_on_its_thread_never_resends_a_put(saver: RedisSaver) -> None:
    """LangGraph runs a task's put_writes on another thread, next to the following put: that put
    relies only on chunks already stored, so it never needs a second round trip."""
    from benchmarks.chat_agent import build_graph, run_turns

    run_turns(build_graph(saver), "t", 12)
    assert saver.resends == 0
    assert len(latest_messages(saver, "t")) == 48


def test_a_new_process_reads_the_parent_and_then_puts_deltas(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as first:
        ids = grow(first, "t", 30)
        with RedisSaver(redis_url, **saver_kwargs(prefix)) as second:  # knows nothing yet
            second.get_tuple(config("t"))  # what LangGraph does before running a step
            cp = checkpoint({"messages": messages(31)}, {"messages": 31}, step=31)
            with counting() as counted:
                second.put(config("t", "", ids[-1]), cp, {"step": 31}, {"messages": 31})
            assert counted.bytes_sent < 3_000
            record = raw.hget(first.layout.blobs("t", ""), blob_field("messages", 31))
            assert record is not None and chunks.parse_record(record)[1] != b""  # a delta, not a keyframe


def test_a_chat_with_interrupts_forks_and_prune_reads_back_like_in_memory_saver(saver: RedisSaver) -> None:
    reference = InMemorySaver()
    histories = []
    for checkpointer in (saver, reference):
        graph = build_graph(checkpointer, interrupt_before=["tools"])
        cfg = {"configurable": {"thread_id": "chat"}}
        for turn in range(15):
            graph.invoke({"messages": [HumanMessage(content=f"question {turn} " * 40, id=f"h{turn}")]}, cfg)
            graph.invoke(None, cfg)  # resume past the interrupt
        old = list(graph.get_state_history(cfg))[12].config
        forked = graph.update_state(old, {"messages": [HumanMessage(content="a fork " * 50, id="fork")]})
        graph.invoke(None, forked)
        graph.invoke(None, forked)
        histories.append([(s.values, s.next, s.metadata, len(s.tasks)) for s in graph.get_state_history(cfg)])
    ours, theirs = histories
    assert len(ours) == len(theirs) > 25
    for a, b in zip(ours, theirs):
        assert a[0] == b[0] and a[1] == b[1] and a[3] == b[3]
        assert {k: v for k, v in a[2].items() if k != "run_id"} == {k: v for k, v in b[2].items() if k != "run_id"}
    latest = saver.get_tuple({"configurable": {"thread_id": "chat"}})
    saver.prune(["chat"], keep_last=1)
    assert saver.get_tuple({"configurable": {"thread_id": "chat"}}).checkpoint == latest.checkpoint  # type: ignore[union-attr]
    graph = build_graph(saver, interrupt_before=["tools"])
    cfg = {"configurable": {"thread_id": "chat"}}
    graph.invoke({"messages": [HumanMessage(content="after prune", id="late")]}, cfg)
    state = graph.get_state(cfg)
    assert (
        state.values["messages"][: len(latest.checkpoint["channel_values"]["messages"])]
        == (  # type: ignore[union-attr]
            latest.checkpoint["channel_values"]["messages"]  # type: ignore[union-attr]
        )
    )


def _referenced_digests(saver: RedisSaver, thread_id: str) -> set[bytes]:
    """Digests of every chunk the checkpoints and pending writes of the thread use."""
    found: set[bytes] = set()
    for t in saver.list(config(thread_id)):
        for value in t.checkpoint["channel_values"].values():
            if parts := chunks.split(pack_typed(saver.serde.dumps_typed(value))):
                found.update(parts.digests)
        for _, _, value in t.pending_writes or []:
            if parts := chunks.split(pack_typed(saver.serde.dumps_typed(value))):
                found.update(parts.digests)
    return found


def test_prune_and_delete_for_runs_leave_exactly_the_chunks_still_used(saver: RedisSaver, raw: redis.Redis) -> None:
    run_turns(build_graph(saver), "t", 4)
    assert len(stored_digests(raw, saver.layout.chunks("t", ""))) > 10
    saver.prune(["t"], keep_last=2)
    assert stored_digests(raw, saver.layout.chunks("t", "")) == _referenced_digests(saver, "t")
    run_ids = {t.metadata.get("run_id") for t in saver.list(config("t"))}
    saver.delete_for_runs([r for r in run_ids if r][:1])
    assert stored_digests(raw, saver.layout.chunks("t", "")) == _referenced_digests(saver, "t")


def test_delete_thread_and_ttl_leave_no_key_behind(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        run_turns(build_graph(saver), "t", 3)
        saver.delete_thread("t")
        assert keys_under(raw, prefix) == []
    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 1 / 60}) as saver:
        run_turns(build_graph(saver), "t", 2)
        assert raw.exists(saver.layout.chunks("t", ""))
        deadline = time.monotonic() + 10
        while keys_under(raw, prefix) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert keys_under(raw, prefix) == []


def test_a_put_relying_on_chunks_deleted_meanwhile_resends_them(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as writer, RedisSaver(redis_url, **saver_kwargs(prefix)) as other:
        ids = grow(writer, "t", 10)
        other.delete_thread("t")  # another process: the chunks and records the writer knows are gone
        cp = checkpoint({"messages": messages(11)}, {"messages": 11}, step=11)
        writer.put(config("t", "", ids[-1]), cp, {"step": 11}, {"messages": 11})
        assert writer.resends == 1
        assert latest_messages(writer, "t") == messages(11)


def test_a_put_referencing_a_value_collected_meanwhile_sends_it_again(redis_url: str, prefix: str) -> None:
    """The child of a checkpoint deleted by another process references the parent's value of a
    channel it does not write: the put finds it gone and stores it again, instead of a
    checkpoint that silently lacks it."""
    with fresh_saver(RedisSaver, redis_url, prefix) as writer, RedisSaver(redis_url, **saver_kwargs(prefix)) as other:
        parent = checkpoint({"a": "kept " * 20, "b": 1}, {"a": 1, "b": 1})
        writer.put(config("t"), parent, {"step": 0}, {"a": 1, "b": 1})
        other.delete_thread("t")  # its values go with it
        child = checkpoint({"a": "kept " * 20, "b": 2}, {"a": 1, "b": 2}, step=1)
        with counting(this_thread_only=True) as counted:
            writer.put(config("t", "", parent["id"]), child, {"step": 1}, {"b": 2})
        assert writer.resends == 1 and counted.count == 2
        found = writer.get_tuple(config("t"))
        assert found is not None and found.checkpoint["channel_values"] == {"a": "kept " * 20, "b": 2}
        # What it did not see stored is not checked (InMemorySaver semantics: a value whose
        # version was never written is not part of the checkpoint).
        orphan = checkpoint({"a": "never written", "b": 3}, {"a": 7, "b": 3}, step=2)
        with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:
            fresh.put(config("t", "", child["id"]), orphan, {"step": 2}, {"b": 3})
            assert fresh.resends == 0
            assert fresh.get_tuple(config("t")).checkpoint["channel_values"] == {"b": 3}  # type: ignore[union-attr]


def test_data_stored_before_deduplication_stays_readable(saver: RedisSaver, raw: redis.Redis) -> None:
    """The earlier format: plain typed values (no marker), uncompressed documents, 51-character
    versions. Written here field by field, then read and extended by the current code."""
    version = f"{3:032}.{0.25:016}"
    old = messages(12)
    cp = checkpoint({"messages": old}, {"messages": version})
    bare = {k: v for k, v in cp.items() if k != "channel_values"}
    field = blob_field("messages", version)
    raw.hset(saver.layout.blobs("t", ""), field, pack_typed(saver.serde.dumps_typed(old)))
    raw.hset(
        saver.layout.checkpoint("t", "", cp["id"]),
        mapping={
            "c": pack_typed(saver.serde.dumps_typed(bare)),
            "m": pack_typed(saver.serde.dumps_typed({"step": 3})),
            "v": pack_list([b"messages", field]),
        },
    )
    raw.zadd(saver.layout.index("t", ""), {cp["id"]: 0})
    raw.sadd(saver.layout.namespaces("t"), "")
    found = saver.get_tuple(config("t"))
    assert found is not None and found.checkpoint["channel_values"]["messages"] == old
    nxt = saver.get_next_version(version, None)
    assert nxt > version
    cp2 = checkpoint({"messages": messages(13)}, {"messages": nxt}, step=4)
    saver.put(config("t", "", cp["id"]), cp2, {"step": 4}, {"messages": nxt})
    saver.prune(["t"], keep_last=2)
    assert [t.checkpoint["channel_values"]["messages"] for t in saver.list(config("t"))] == [messages(13), old]


def test_documents_of_one_field_written_before_pieces_stay_readable(
    saver: RedisSaver, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis_ckpt.format import checkpoint_codec

    monkeypatch.setattr(checkpoint_codec, "DOC_MAX_PIECES", 0)  # the previous format: `d` whole
    ids = grow(saver, "t", 3)
    assert set(raw.hkeys(saver.layout.checkpoint("t", "", ids[-1]))) == {b"d", b"meta"}
    monkeypatch.undo()
    grow(saver, "t", 2, start=3, parent=ids[-1])
    assert [len(t.checkpoint["channel_values"]["messages"]) for t in saver.list(config("t"))] == [5, 4, 3, 2, 1]
    saver.prune(["t"], keep_last=2)  # the collection reads both formats
    assert latest_messages(saver, "t") == messages(5)
    assert len(raw.hkeys(saver.layout.checkpoint("t", "", saver.get_tuple(config("t")).checkpoint["id"]))) > 2  # type: ignore[union-attr]


def test_copy_thread_keeps_deduplicated_values(saver: RedisSaver) -> None:
    grow(saver, "src", 8)
    saver.copy_thread("src", "dst")
    saver.delete_thread("src")
    assert latest_messages(saver, "dst") == messages(8)
    assert len(list(saver.list(config("dst")))) == 8


def _writer(url: str, prefix: str, seconds: float, out: Any) -> None:
    """Grow one thread as a graph would (read the parent, put the child), counting resends."""
    saver = RedisSaver(url, **saver_kwargs(prefix))
    deadline, written = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        latest = saver.get_tuple(config("race"))
        n = len(latest.checkpoint["channel_values"]["messages"]) if latest else 0
        parent = latest.config["configurable"]["checkpoint_id"] if latest else None
        cp = checkpoint({"messages": messages(n + 1)}, {"messages": n + 1}, step=n)
        saver.put(config("race", "", parent), cp, {"step": n}, {"messages": n + 1})
        written += 1
    out.put((written, saver.resends))
    saver.close()


def _collector(url: str, prefix: str, seconds: float, incremental: bool = False) -> None:
    """Prune and delete the same thread over and over, from another process (with `incremental`,
    every collection runs in steps of a few items, so writers land between its steps)."""
    if incremental:
        from redis_ckpt.sync import saver_maintenance

        saver_maintenance.ONE_CALL_GC_LIMIT = 1
        saver_maintenance.GC_STEP = 3
    saver = RedisSaver(url, **saver_kwargs(prefix))
    deadline, i = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        if i % 5 == 4:
            saver.delete_thread("race")
        else:
            saver.prune(["race"], keep_last=1)
        i += 1
        time.sleep(0.002)
    saver.close()


@pytest.mark.slow
@pytest.mark.parametrize("collection", ["one call", "incremental"])
def test_puts_racing_prune_and_delete_in_other_processes_never_lose_a_chunk(
    redis_url: str, prefix: str, collection: str
) -> None:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    writers = [context.Process(target=_writer, args=(redis_url, prefix, 6.0, out)) for _ in range(2)]
    collector = context.Process(target=_collector, args=(redis_url, prefix, 6.0, collection == "incremental"))
    try:
        for p in [*writers, collector]:
            p.start()
        results = [out.get(timeout=60) for _ in writers]
        for p in [*writers, collector]:
            p.join(timeout=60)
            assert p.exitcode == 0
        assert sum(w for w, _ in results) > 20
        assert sum(r for _, r in results) > 0  # the race happened: puts found what they relied on gone
        with RedisSaver(redis_url, **saver_kwargs(prefix)) as saver:
            for t in saver.list(config("race")):  # every surviving checkpoint is whole
                n = len(t.checkpoint["channel_values"]["messages"])
                assert t.checkpoint["channel_values"]["messages"] == messages(n)
    finally:
        for p in [*writers, collector]:
            if p.is_alive():
                p.kill()
        purge_prefix(redis_url, prefix)


def test_ttl_refresh_on_read_keeps_the_chunks_of_a_read_checkpoint_alive(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 1, "refresh_on_read": True}) as saver:
        grow(saver, "t", 5)
        chunk_hash = saver.layout.chunks("t", "")
        assert raw.ttl(chunk_hash) > 50  # puts give the chunk hash the thread's TTL
        for key in keys_under(raw, prefix):
            raw.expire(key, 5)
        assert latest_messages(saver, "t") == messages(5)
        assert raw.ttl(chunk_hash) > 50 and raw.ttl(saver.layout.blobs("t", "")) > 50


def test_a_pending_write_of_a_list_too_long_for_an_inline_record_reads_back_and_survives_prune(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    # 8,500 elements of ~260 bytes: one chunk each, so the write's record (16 bytes per chunk)
    # is itself over LARGE_VALUE. Its chunks must still be read, and kept by garbage collection.
    long_list = [f"{i:06d}" + "w" * 250 for i in range(8_500)]
    first = checkpoint({"x": 1}, {"x": 1}, step=0)
    saver.put(config("t"), first, {}, {"x": 1})
    second = checkpoint({"x": 2}, {"x": 2}, step=1)
    saver.put(config("t", "", first["id"]), second, {}, {"x": 2})
    cfg = config("t", "", second["id"])
    saver.put_writes(cfg, [("items", long_list)], "task", "p")
    expected = [("task", "items", long_list)]
    assert saver.get_tuple(cfg).pending_writes == expected  # type: ignore[union-attr]
    saver.prune(["t"], keep_last=1)
    assert saver.get_tuple(cfg).pending_writes == expected  # type: ignore[union-attr]


def test_copy_thread_raced_by_a_put_never_shows_a_checkpoint_without_its_chunks(
    saver: RedisSaver, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = grow(saver, "src", 5)
    copy_values = saver._copy_values

    def values_then_a_put_elsewhere(source: str, target: str, ns: str) -> None:
        copy_values(source, target, ns)
        with RedisSaver(redis_url, **saver_kwargs(prefix)) as other:  # another process's put and writes
            grow(other, "src", 1, start=5, parent=ids[-1])
            other.put_writes(config("src", "", ids[-1]), [("messages", messages(7)[5:])], "task", "p")

    monkeypatch.setattr(saver, "_copy_values", values_then_a_put_elsewhere)
    saver.copy_thread("src", "dst")
    for t in saver.list(config("dst")):  # whatever was copied reads back whole
        n = len(t.checkpoint["channel_values"]["messages"])
        assert t.checkpoint["channel_values"]["messages"] == messages(n)
        assert all(value == messages(7)[5:] for _, _, value in t.pending_writes or [])
    assert saver.get_tuple(config("dst", "", ids[-1])).pending_writes  # type: ignore[union-attr]


def test_copy_thread_raced_by_the_put_that_makes_the_chunk_dictionary_copies_the_dictionary_too(
    saver: RedisSaver, redis_url: str, prefix: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The put that makes the namespace's chunk dictionary lands while copy_thread runs, after the
    chunk hash was copied: it stores the chunks its task wrote before (plain) with the dictionary,
    and the copy then takes those chunks, named by the writes it copies, in their new form."""
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as writer:  # another process
        first = checkpoint({"messages": messages(30)}, {"messages": 1})
        writer.put(config("src"), first, {}, {"messages": 1})  # its chunks: enough to make a dictionary of
        writer.put_writes(config("src", "", first["id"]), [("messages", messages(32)[30:])], "task", "p")
        copy_values = saver._copy_values

        def values_then_the_put(source: str, target: str, ns: str) -> None:
            copy_values(source, target, ns)
            second = checkpoint({"messages": messages(32)}, {"messages": 2}, step=1)
            writer.put(config("src", "", first["id"]), second, {}, {"messages": 2})

        monkeypatch.setattr(saver, "_copy_values", values_then_the_put)
        saver.copy_thread("src", "dst")
    assert _chunk_forms(raw, saver, "src")[1]  # the put made the dictionary meanwhile
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as reader:
        found = reader.get_tuple(config("dst", "", first["id"]))
        assert found is not None and found.pending_writes == [("task", "messages", messages(32)[30:])]


def test_delete_thread_leaves_no_writes_of_a_checkpoint_that_expired_before_them(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    # With a TTL, a checkpoint's writes come after it and expire after it. Once its document has
    # expired (and a reader dropped its index entry), delete_thread must still find the writes.
    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 10}) as saver:
        first = checkpoint({"x": 1}, {"x": 1}, step=0)
        saver.put(config("t"), first, {}, {"x": 1})
        second = checkpoint({"x": 2}, {"x": 2}, step=1)
        saver.put(config("t", "", first["id"]), second, {}, {"x": 2})
        saver.put_writes(config("t", "", second["id"]), [("x", 3)], "task", "p")
        raw.pexpire(saver.layout.checkpoint("t", "", second["id"]), 1)  # its TTL ran out first
        time.sleep(0.05)
        found = saver.get_tuple(config("t"))
        assert found is not None and found.checkpoint["id"] == first["id"]
        saver.delete_thread("t")
        assert keys_under(raw, prefix) == []


def test_a_list_with_an_element_over_the_large_value_size_is_read_outside_lua(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    """Chunks pass through the read scripts; a huge element would hold Redis for milliseconds on
    every read, so such a list is stored whole and spilled (read in a second round trip)."""
    import random
    import string

    rng = random.Random(3)
    huge = "".join(rng.choice(string.ascii_letters) for _ in range(300_000))  # incompressible enough
    value = [*messages(3), huge]
    saver.put(config("t"), checkpoint({"messages": value}), {}, {"messages": 1})
    stored = raw.hget(saver.layout.blobs("t", ""), blob_field("messages", 1))
    assert stored is not None and stored[:1] == b"\0"  # a spill reference, not a record
    assert not raw.exists(saver.layout.chunks("t", ""))
    assert latest_messages(saver, "t") == value


def test_deltas_that_keep_only_part_of_their_base_read_back_exactly(saver: RedisSaver, raw: redis.Redis) -> None:
    """Edits in the middle of a list (a message rewritten or removed): each version is a delta
    keeping only a prefix of the previous one; chains of such deltas resolve to the exact lists."""
    versions: list[list[Any]] = []
    current = messages(10)
    for step in range(8):
        if step % 3 == 1:
            current = [*current[:7], AIMessage(content=f"edited {step} " * 30, id=f"e{step}"), *current[8:]]
        elif step % 3 == 2:
            current = [*current[:5], *current[6:]]  # one removed
        else:
            current = [*current, HumanMessage(content=f"more {step} " * 30, id=f"m{step}")]
        versions.append(list(current))
    parent = None
    ids = []
    for step, value in enumerate(versions):
        cp = checkpoint({"messages": value}, {"messages": step + 1}, step=step)
        saver.put(config("t", "", parent), cp, {"step": step}, {"messages": step + 1})
        ids.append(parent := cp["id"])
    deltas = [
        chunks.parse_record(raw.hget(saver.layout.blobs("t", ""), blob_field("messages", v + 1)) or b"")[1]
        for v in range(1, len(versions))
    ]
    assert all(deltas)  # every later version is a delta on the one before
    for cid, value in zip(ids, versions):
        found = saver.get_tuple(config("t", "", cid))
        assert found is not None and found.checkpoint["channel_values"]["messages"] == value


def test_a_read_needing_many_chunks_reads_them_outside_lua_then_from_the_cache(redis_url: str, prefix: str) -> None:
    """Over chunks.INLINE_CHUNKS chunks the read script returns digests only: a fresh process takes a
    second round trip (outside Lua), a process that has them expanded takes none."""
    many = messages(chunks.INLINE_CHUNKS + 40)
    with fresh_saver(RedisSaver, redis_url, prefix) as writer:
        writer.put(config("t"), checkpoint({"messages": many}), {}, {"messages": 1})
        with RedisSaver(redis_url, **saver_kwargs(prefix)) as reader:
            with counting() as first:
                assert latest_messages(reader, "t") == many
            with counting() as again:
                assert latest_messages(reader, "t") == many
        assert (first.count, again.count) == (2, 1)


class PrunedAndWrittenMidRead(RedisSaver):
    """Deletes the checkpoints named in `doomed` just before the round trip that reads a page's
    chunks outside Lua, then stores a late pending write for each (a task that finished after the
    delete): its hash then holds writes only, not the checkpoint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.doomed: set[str] = set()

    def _read_missing(self, thread_id: str, ns: str, wanted: Any) -> Any:
        for cid in set(wanted.checked) & self.doomed:
            self._drop(thread_id, ns, [cid])
            self.put_writes(config(thread_id, ns, cid), [("late", 1)], "late-task")
            self.doomed.discard(cid)
        return super()._read_missing(thread_id, ns, wanted)


def test_a_checkpoint_deleted_before_its_chunks_are_read_outside_lua_is_not_returned(
    redis_url: str, prefix: str
) -> None:
    many = messages(chunks.INLINE_CHUNKS + 40)
    with fresh_saver(RedisSaver, redis_url, prefix) as writer:
        first = checkpoint({"messages": many[:10]}, {"messages": 1})
        writer.put(config("t"), first, {}, {"messages": 1})
        second = checkpoint({"messages": many}, {"messages": 2}, step=1)
        writer.put(config("t", "", first["id"]), second, {}, {"messages": 2})
        with PrunedAndWrittenMidRead(redis_url, **saver_kwargs(prefix)) as reader:
            reader.doomed = {second["id"]}
            assert reader.get_tuple(config("t", "", second["id"])) is None


# -- the namespace's chunk dictionary (compression.CHUNK_DICTIONARY_BYTES) ----------------------------
def _chunk_forms(raw: redis.Redis, saver: RedisSaver, thread_id: str) -> tuple[dict[bytes, bytes], list[bytes]]:
    """(digest -> stored chunk, raw chunk dictionaries) of a thread's chunk hash."""
    stored = raw.hgetall(saver.layout.chunks(thread_id, ""))
    found = {f: v for f, v in stored.items() if not is_dictionary_field(f)}
    dictionaries = [unpack_chunk(v) for f, v in stored.items() if is_dictionary_field(f)]
    return found, [d for d in dictionaries if is_chunk_dictionary(d)]


def test_chunks_use_the_chunk_dictionary_once_it_exists_and_a_new_process_reads_them_in_one_round_trip(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    ids = grow(saver, "t", 40)
    stored, made = _chunk_forms(raw, saver, "t")
    assert len(made) == 1  # made once, of the first CHUNK_DICTIONARY_BYTES of chunks
    forms = [v[:1] for v in stored.values()]
    assert forms.count(WITH_DICTIONARY) >= 20 and set(forms) <= {COMPRESSED, WITH_DICTIONARY}
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:
        with counting() as counted:
            assert latest_messages(fresh, "t") == messages(40)
        assert counted.count == 1
        found = fresh.get_tuple(config("t", "", ids[20]))
        assert found is not None and found.checkpoint["channel_values"]["messages"] == messages(21)
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # the delta walk learns it too
        history = fresh.get_delta_channel_history(config=config("t", "", ids[-1]), channels=["messages"])
        assert history["messages"]["seed"] == messages(39)
    saver.copy_thread("t", "copy")
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:  # the copy holds the dictionary
        assert latest_messages(fresh, "copy") == messages(40)
    # A process that read the thread uses the same dictionary for its puts: no second one.
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:
        latest_messages(fresh, "t")
        grow(fresh, "t", 3, start=40, parent=ids[-1])
        assert latest_messages(fresh, "t") == messages(43)
    assert len(_chunk_forms(raw, saver, "t")[1]) == 1


class DeletedBeforeTheDictionary(RedisSaver):
    """Deletes the thread just before it reads a chunk dictionary it lacks (the third round trip
    of a read needing more than chunks.INLINE_CHUNKS chunks): a delete_thread elsewhere."""

    def _read_dictionaries(self, thread_id: str, ns: str, digests: list[bytes]) -> Any:
        self.delete_thread(thread_id)
        return super()._read_dictionaries(thread_id, ns, digests)


def test_a_thread_deleted_before_its_chunk_dictionary_is_read_reads_as_deleted(
    saver: RedisSaver, redis_url: str, prefix: str
) -> None:
    parent = None
    for step in range(8):
        cp = checkpoint({"messages": messages(40 * (step + 1))}, {"messages": step + 1}, step=step)
        saver.put(config("t", "", parent), cp, {"step": step}, {"messages": step + 1})
        parent = cp["id"]
    with DeletedBeforeTheDictionary(redis_url, **saver_kwargs(prefix)) as fresh:
        assert fresh.get_tuple(config("t")) is None  # as if read just after the delete


def test_a_pending_write_never_replaces_a_chunk_stored_with_the_chunk_dictionary(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    ids = grow(saver, "t", 30)
    stored, _ = _chunk_forms(raw, saver, "t")
    upgraded = {d: v for d, v in stored.items() if v[:1] == WITH_DICTIONARY}
    assert upgraded
    # The same messages written again as a task's writes (put_writes compresses without it).
    saver.put_writes(config("t", "", ids[-1]), [("messages", messages(30))], "task", "")
    after, _ = _chunk_forms(raw, saver, "t")
    assert {d: after[d] for d in upgraded} == upgraded
    found = saver.get_tuple(config("t"))
    assert found is not None and found.pending_writes[0][2] == messages(30)


def test_a_writer_whose_chunk_dictionary_was_deleted_elsewhere_puts_readable_checkpoints(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    ids = grow(saver, "t", 30)
    assert _chunk_forms(raw, saver, "t")[1]
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as other:
        other.delete_thread("t")  # this saver still believes the dictionary and its chunks stored
        before = saver.resends
        grow(saver, "t", 3, start=30, parent=ids[-1])
        assert saver.resends > before  # commit found them gone: sent again
        assert latest_messages(other, "t") == messages(33)
        fields = raw.hgetall(saver.layout.chunks("t", ""))
        needed = {v[1:9] for v in fields.values() if v[:1] == WITH_DICTIONARY}
        assert needed and all(b"dict:" + d in fields for d in needed)  # each one's dictionary is stored


def test_a_long_thread_read_outside_lua_gets_the_chunk_dictionary_too(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    """Over chunks.INLINE_CHUNKS chunks the chunks are read outside Lua; a process that has not
    seen the chunk dictionary fetches it in one more round trip, once."""
    parent, n = None, 0
    for step in range(8):  # large steps: few checkpoints
        n = 40 * (step + 1)
        cp = checkpoint({"messages": messages(n)}, {"messages": step + 1}, step=step)
        saver.put(config("t", "", parent), cp, {"step": step}, {"messages": step + 1})
        parent = cp["id"]
    assert n > chunks.INLINE_CHUNKS and _chunk_forms(raw, saver, "t")[1]
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:
        with counting() as first:
            assert latest_messages(fresh, "t") == messages(n)
        with counting() as again:
            assert latest_messages(fresh, "t") == messages(n)
        assert (first.count, again.count) == (3, 1)


def test_a_chain_longer_than_writers_count_reads_back_and_teaches_its_real_depth(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    """Writers keep chains to 62 links as far as they know, but two writers storing the same
    (channel, version) replace each other's records and can make a chain longer than either
    counted (measured: 63 links, where the read scripts used to stop at 64). Here a chain of 100
    deltas, each claiming depth 1, reads back whole, and a reader learns its real depth."""
    n = 100
    blobs = saver.layout.blobs("t", "")
    for version in range(1, n + 1):
        parts = chunks.split(pack_typed(saver.serde.dumps_typed(messages(version))))
        assert parts is not None
        raw.hset(saver.layout.chunks("t", ""), parts.digests[-1], pack_chunk(parts.chunks[-1], True))
        field = blob_field("messages", version)
        if version == 1:
            stored = chunks.record(parts)
        else:  # a delta on the version before, claiming depth 1 (as if its base had been replaced)
            stored = chunks.record(parts, blob_field("messages", version - 1), version - 1, 1, parts.digests[-1:])
        raw.hset(blobs, field, stored)
    cp = checkpoint({"messages": messages(n)}, {"messages": n})
    saver.put(config("t"), cp, {}, {})  # references version n without writing it
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as reader:
        found = reader.get_tuple(config("t"))
        assert found is not None and found.checkpoint["channel_values"]["messages"] == messages(n)
        assert reader._known.get("t", "").bases["messages"].depth == n - 1  # the chain's real depth
