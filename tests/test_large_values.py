"""Channel values above encoding.LARGE_VALUE: stored under a spill field, read outside Lua in a
second round trip, collected with the checkpoints that reference them."""

from __future__ import annotations

import asyncio
import random
import string
from typing import Any

import pytest
import redis

from redis_ckpt import AsyncRedisSaver, RedisSaver
from redis_ckpt.format.compression import unpack_typed_value
from redis_ckpt.format.encoding import LARGE_VALUE, blob_field, spill_field
from tests.conftest import fresh_saver, keys_under, saver_kwargs
from tests.helpers import checkpoint, config
from tests.roundtrips import counting


def big(tag: str) -> str:
    """A string whose stored form is over LARGE_VALUE even compressed: random text."""
    rng = random.Random(tag)
    return tag + "".join(rng.choice(string.ascii_letters) for _ in range(LARGE_VALUE * 3 // 2))


def put_big_chain(saver: Any, thread_id: str, n: int) -> list[str]:
    """n chained checkpoints; the even ones change the large channel `doc`, every one `x`."""
    ids: list[str] = []
    for step in range(n):
        doc_version = step // 2 + 1
        cp = checkpoint({"doc": big(str(doc_version)), "x": step}, {"doc": doc_version, "x": step + 1}, step=step)
        new = {"x": step + 1, **({"doc": doc_version} if step % 2 == 0 else {})}
        saver.put(config(thread_id, "", ids[-1] if ids else None), cp, {"step": step}, new)
        ids.append(cp["id"])
    return ids


def trips(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    with counting() as counted:
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):
            result = list(result)
    return result, counted.count


def test_a_large_value_lives_in_its_spill_field_named_by_its_blob_field(saver: RedisSaver, raw: redis.Redis) -> None:
    saver.put(config("t"), checkpoint({"doc": big("a"), "small": 1}), {}, {"doc": 1, "small": 1})
    blobs = saver.layout.blobs("t", "")
    field = blob_field("doc", 1)
    assert raw.hget(blobs, field) == spill_field(field)
    assert len(raw.hget(blobs, spill_field(field)) or b"") > LARGE_VALUE
    assert not raw.hget(blobs, blob_field("small", 1)).startswith(b"\0")  # type: ignore[union-attr]


def test_reads_return_large_values_whole_in_two_round_trips(saver: RedisSaver) -> None:
    ids = put_big_chain(saver, "t", 5)
    saver.client.ping()  # a pooled connection is open: no handshake is counted
    latest, n = trips(saver.get_tuple, config("t"))
    assert n == 2 and latest.checkpoint["channel_values"] == {"doc": big("3"), "x": 4}
    by_id, n = trips(saver.get_tuple, config("t", "", ids[1]))
    assert n == 2 and by_id.checkpoint["channel_values"] == {"doc": big("1"), "x": 1}
    listed, n = trips(saver.list, config("t"), limit=10)
    assert n == 2  # one page, one read of its large values (shared ones read once)
    assert [t.checkpoint["channel_values"]["doc"] for t in listed] == [big(v) for v in "32211"]
    assert [t.checkpoint["channel_values"]["x"] for t in listed] == [4, 3, 2, 1, 0]


def test_the_async_face_reads_large_values_too(async_saver: AsyncRedisSaver) -> None:
    put_big_chain(async_saver, "t", 3)

    async def main() -> list[Any]:
        assert (await async_saver.aget_tuple(config("t"))).checkpoint["channel_values"]["doc"] == big("2")
        return [t.checkpoint["channel_values"]["doc"] async for t in async_saver.alist(config("t"))]

    assert asyncio.run(main()) == [big("2"), big("1"), big("1")]


def test_a_large_delta_seed_is_read_in(saver: RedisSaver) -> None:
    parent = None
    for n in range(3):
        values = {"items": big("s")} if n == 0 else {}
        cp = checkpoint(values, {"items": n + 1}, step=n)
        saver.put(config("t", "", parent), cp, {}, {"items": n + 1} if n == 0 else {})
        saver.put_writes(config("t", "", cp["id"]), [("items", f"w{n}")], "task")
        parent = cp["id"]
    history = saver.get_delta_channel_history(config=config("t", "", parent), channels=["items"])
    assert history == {"items": {"writes": [("task", "items", "w0"), ("task", "items", "w1")], "seed": big("s")}}


def test_pruning_and_deleting_collect_spill_fields(saver: RedisSaver, raw: redis.Redis, prefix: str) -> None:
    ids = put_big_chain(saver, "t", 6)
    blobs = saver.layout.blobs("t", "")
    assert len([f for f in raw.hkeys(blobs) if f.startswith(b"\0")]) == 3
    saver.prune(["t"], keep_last=1)
    doc = blob_field("doc", 3)
    assert sorted(f for f in raw.hkeys(blobs) if f.startswith(b"\0") or f.startswith(b"doc")) == sorted(
        [doc, spill_field(doc)]
    )
    assert saver.get_tuple(config("t")).checkpoint["channel_values"]["doc"] == big("3")
    assert saver.get_tuple(config("t", "", ids[0])) is None
    saver.delete_thread("t")
    assert keys_under(raw, prefix) == []


class DeletedMidRead(RedisSaver):
    """Deletes the checkpoints named in `doomed` just before its second round trip reads the large
    values: what a concurrent delete_thread or prune can do between the two."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.doomed: set[str] = set()

    def _read_missing(self, thread_id: str, ns: str, wanted: Any) -> Any:
        for cid in set(wanted.checked) & self.doomed:
            self.client.delete(self.layout.checkpoint(thread_id, ns, cid))
            self.doomed.discard(cid)
        return super()._read_missing(thread_id, ns, wanted)


def test_a_checkpoint_deleted_between_the_two_round_trips_is_not_returned(redis_url: str, prefix: str) -> None:
    with fresh_saver(DeletedMidRead, redis_url, prefix) as saver:
        ids = put_big_chain(saver, "t", 4)
        saver.doomed = {ids[-1]}
        assert saver.get_tuple(config("t")).checkpoint["id"] == ids[-2]  # the latest is the one left
        saver.doomed = {ids[1]}
        assert saver.get_tuple(config("t", "", ids[1])) is None
        saver.doomed = {ids[0]}
        assert [t.checkpoint["id"] for t in saver.list(config("t"))] == [ids[2]]  # ids[0] gone meanwhile


class PrunedAndWrittenMidRead(RedisSaver):
    """Deletes the checkpoints named in `doomed` (and collects their values) just before the
    second round trip, then stores a late pending write for each: a task that finished after the
    prune. Its write makes a hash that holds writes only, not the checkpoint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.doomed: set[str] = set()

    def _read_missing(self, thread_id: str, ns: str, wanted: Any) -> Any:
        for cid in set(wanted.checked) & self.doomed:
            self._drop(thread_id, ns, [cid])
            self.put_writes(config(thread_id, ns, cid), [("late", 1)], "late-task")
            self.doomed.discard(cid)
        return super()._read_missing(thread_id, ns, wanted)


def test_a_checkpoint_pruned_between_the_two_round_trips_is_not_returned_even_if_a_write_came_after(
    redis_url: str, prefix: str
) -> None:
    with fresh_saver(PrunedAndWrittenMidRead, redis_url, prefix) as saver:
        ids = put_big_chain(saver, "t", 4)
        saver.doomed = {ids[2]}  # the only one referencing doc version 2
        assert saver.get_tuple(config("t", "", ids[2])) is None
        saver.doomed = {ids[3]}
        latest = saver.get_tuple(config("t"))
        assert latest is not None and latest.checkpoint["id"] == ids[1]


def test_large_pending_writes_are_spilled_and_read_back_in_order(saver: RedisSaver, raw: redis.Redis) -> None:
    from langgraph.checkpoint.base import WRITES_IDX_MAP

    from redis_ckpt.format.encoding import SPILL_FLAG, write_field

    cp = checkpoint({"x": 1}, {"x": 1})
    cfg = config("t", "", cp["id"])
    saver.put(config("t"), cp, {}, {"x": 1})
    saver.put_writes(cfg, [("a", big("a")), ("b", 2)], "task1", "p1")
    saver.put_writes(cfg, [("a", big("b")), ("b", 3)], "task1", "p1")  # a replay: insert-if-absent
    saver.put_writes(cfg, [("__error__", big("e"))], "task2", "p2")
    saver.put_writes(cfg, [("__error__", big("f"))], "task2", "p2")  # special writes overwrite
    writes = saver.layout.checkpoint("t", "", cp["id"])
    assert raw.hget(writes, SPILL_FLAG) == b"1"
    field = write_field("task1", 0)
    assert unpack_typed_value(raw.hget(writes, spill_field(field))).startswith(b"msgpack\0")  # type: ignore[arg-type]
    error_field = write_field("task2", WRITES_IDX_MAP["__error__"])
    assert raw.hget(writes, error_field).endswith(spill_field(error_field))  # type: ignore[union-attr]
    expected = [("task1", "a", big("a")), ("task1", "b", 2), ("task2", "__error__", big("f"))]
    saver.client.ping()
    got, n = trips(saver.get_tuple, cfg)
    assert n == 2 and got.pending_writes == expected
    assert [t.pending_writes for t in saver.list(config("t"))] == [expected]


def test_a_delta_walk_reads_large_writes_in(saver: RedisSaver) -> None:
    parent = None
    for n in range(3):
        cp = checkpoint({"items": ["seed"]} if n == 0 else {}, {"items": n + 1}, step=n)
        saver.put(config("t", "", parent), cp, {}, {"items": n + 1} if n == 0 else {})
        saver.put_writes(config("t", "", cp["id"]), [("items", big(str(n))), ("other", n)], "task")
        parent = cp["id"]
    history = saver.get_delta_channel_history(config=config("t", "", parent), channels=["items"])
    assert history == {
        "items": {"writes": [("task", "items", big("0")), ("task", "items", big("1"))], "seed": ["seed"]}
    }


def test_a_delta_walk_raced_by_a_deletion_runs_again_on_what_is_left(redis_url: str, prefix: str) -> None:
    with fresh_saver(DeletedMidRead, redis_url, prefix) as saver:
        ids: list[str] = []
        for n in range(3):
            cp = checkpoint({"items": big("s")} if n == 0 else {}, {"items": n + 1}, step=n)
            saver.put(config("t", "", ids[-1] if ids else None), cp, {}, {"items": n + 1} if n == 0 else {})
            saver.put_writes(config("t", "", cp["id"]), [("items", f"w{n}")], "task")
            ids.append(cp["id"])
        target = config("t", "", ids[-1])
        saver.doomed = {ids[0]}  # the ancestor holding the large seed goes mid-read
        history = saver.get_delta_channel_history(config=target, channels=["items"])
        assert history == {"items": {"writes": [("task", "items", "w1")]}}
        assert saver.get_delta_channel_history(config=target, channels=["items"]) == history


def test_garbage_collection_tells_spill_fields_from_a_channel_named_empty(saver: RedisSaver) -> None:
    """The blob field of channel '' starts with NUL, like a spill field: it must survive a prune."""
    first = checkpoint({"": "empty name", "x": 1, "doc": big("d")}, {"": 1, "x": 1, "doc": 1})
    saver.put(config("t"), first, {}, {"": 1, "x": 1, "doc": 1})
    second = checkpoint({"": "empty name", "x": 2, "doc": big("d")}, {"": 1, "x": 2, "doc": 1}, step=1)
    saver.put(config("t", "", first["id"]), second, {}, {"x": 2})
    saver.prune(["t"], keep_last=1)
    assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"": "empty name", "x": 2, "doc": big("d")}


class AlwaysRaced(RedisSaver):
    """Every second round trip finds the ancestor gone (deleted, then restored right after)."""

    def _read_missing(self, thread_id: str, ns: str, wanted: Any) -> Any:
        keys = [self.layout.checkpoint(thread_id, ns, cid) for cid in wanted.checked]
        dumps = {key: self.client.dump(key) for key in keys}
        self.client.delete(*keys)
        try:
            return super()._read_missing(thread_id, ns, wanted)
        finally:
            for key, dumped in dumps.items():
                self.client.restore(key, 0, dumped)


def test_a_delta_walk_that_keeps_losing_the_race_raises_rather_than_answer_wrong(redis_url: str, prefix: str) -> None:
    from redis_ckpt import ReadConflictError

    with fresh_saver(AlwaysRaced, redis_url, prefix) as saver:
        first = checkpoint({"items": big("s")}, {"items": 1})
        saver.put(config("t"), first, {}, {"items": 1})
        second = checkpoint({}, {"items": 2}, step=1)
        saver.put(config("t", "", first["id"]), second, {}, {})
        with pytest.raises(ReadConflictError, match="retry"):
            saver.get_delta_channel_history(config=config("t", "", second["id"]), channels=["items"])


def test_a_spill_field_its_blob_field_no_longer_names_is_collected(saver: RedisSaver, raw: redis.Redis) -> None:
    first = checkpoint({"doc": big("d")}, {"doc": 1})
    saver.put(config("t"), first, {}, {"doc": 1})
    saver.put(config("t"), {**first, "channel_values": {"doc": "small now"}}, {}, {"doc": 1})  # a re-put
    second = checkpoint({"doc": "small now"}, {"doc": 1}, step=1)
    saver.put(config("t", "", first["id"]), second, {}, {})
    saver.prune(["t"], keep_last=1)
    assert raw.hkeys(saver.layout.blobs("t", "")) == [blob_field("doc", 1)]
    assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"doc": "small now"}


def test_a_special_write_overwritten_by_a_small_one_loses_its_spill_field(saver: RedisSaver, raw: redis.Redis) -> None:
    from langgraph.checkpoint.base import WRITES_IDX_MAP

    from redis_ckpt.format.encoding import write_field

    cp = checkpoint({"x": 1}, {"x": 1})
    saver.put(config("t"), cp, {}, {"x": 1})
    cfg = config("t", "", cp["id"])
    saver.put_writes(cfg, [("__error__", big("e"))], "task")
    saver.put_writes(cfg, [("__error__", "small")], "task")
    spill = spill_field(write_field("task", WRITES_IDX_MAP["__error__"]))
    assert raw.hget(saver.layout.checkpoint("t", "", cp["id"]), spill) is None
    assert saver.get_tuple(cfg).pending_writes == [("task", "__error__", "small")]


@pytest.mark.parametrize("channel, kept", [("big", "old"), ("__error__", "new")])
def test_a_large_write_stored_before_and_again_after_the_upgrade_reads_as_in_memory_saver(
    saver: RedisSaver, raw: redis.Redis, channel: str, kept: str
) -> None:
    """A task's large write in a writes hash of its own (before), then again, another value, in
    the checkpoint's hash (a replay after the upgrade): both spill fields have the same name. A
    regular write keeps the first value, a special one (negative idx) the last."""
    from langgraph.checkpoint.base import WRITES_IDX_MAP

    from redis_ckpt.format.encoding import pack_list, pack_typed, utf8, write_field

    cp = checkpoint({"x": 1}, {"x": 1})
    saver.put(config("t"), cp, {}, {"x": 1})
    field = write_field("task", WRITES_IDX_MAP.get(channel, 0))
    legacy = saver.layout.legacy_writes("t", "", cp["id"])
    raw.hset(legacy, field, pack_list([b"", utf8(channel), b"\0" + field]))
    raw.hset(legacy, mapping={b"\0" + field: pack_typed(saver.serde.dumps_typed(big("old"))), b"\0": b"1"})
    saver.put_writes(config("t", "", cp["id"]), [(channel, big("new"))], "task")
    found = saver.get_tuple(config("t"))
    assert found is not None and found.pending_writes == [("task", channel, big(kept))]


def test_a_read_needing_deferred_chunks_and_a_large_value_takes_one_more_round_trip(
    redis_url: str, prefix: str
) -> None:
    """The completion step reads whatever the read script left out (here: the chunks of a page over
    chunks.INLINE_CHUNKS, and a spilled value) in one MULTI/EXEC; the two used to take one each."""
    from redis_ckpt.format import chunks
    from tests.test_dedup import messages

    many = messages(chunks.INLINE_CHUNKS + 40)
    with fresh_saver(RedisSaver, redis_url, prefix) as writer:
        cp = checkpoint({"messages": many, "doc": big("d")}, {"messages": 1, "doc": 1})
        writer.put(config("t"), cp, {}, {"messages": 1, "doc": 1})
        writer.put_writes(config("t", "", cp["id"]), [("doc", big("w"))], "task")
        with RedisSaver(redis_url, **saver_kwargs(prefix)) as reader:
            reader.client.ping()
            found, first = trips(reader.get_tuple, config("t"))
            assert found.checkpoint["channel_values"] == {"messages": many, "doc": big("d")}
            assert found.pending_writes == [("task", "doc", big("w"))]
            _, again = trips(reader.get_tuple, config("t"))  # the chunks are expanded in this process now
        assert (first, again) == (2, 2)
