"""Reads that leave already-resolved records to the reader (redis_ckpt/format/resolved_records.py):
the `load` script skips their chains and chunks, the saver puts back what it kept, and the answer
is the same as a cold reader's, byte for byte."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from redis_ckpt import RedisSaver
from redis_ckpt.format.encoding import blob_field
from redis_ckpt.format.read_entries import StoredEntry
from redis_ckpt.format.resolved_records import (
    KNOWN,
    PAGE_HINTS,
    PER_NAMESPACE,
    ResolvedRecords,
    keyframe,
    names_one_value,
    put_back,
)
from tests.conftest import fresh_saver
from tests.helpers import checkpoint, config
from tests.roundtrips import counting


def chat(n: int) -> list[Any]:
    return [(HumanMessage if i % 2 == 0 else AIMessage)(content=f"message {i} " * 30, id=f"m{i}") for i in range(n)]


def grow(saver: RedisSaver, thread_id: str, steps: int, first: int = 1) -> list[str]:
    """Checkpoints whose messages grow by one per step, with the saver's own versions."""
    ids, parent, version = [], None, None
    for step in range(steps):
        version = saver.get_next_version(version, None)
        cp = checkpoint(
            {"messages": chat(first + step), "step": step}, {"messages": version, "step": version}, step=step
        )
        saver.put(
            config(thread_id, "", parent), cp, {"source": "loop", "step": step}, {"messages": version, "step": version}
        )
        ids.append(parent := cp["id"])
    return ids


class Replies:
    """The `load` script's replies a saver gets (wraps its `_script`)."""

    def __init__(self, saver: RedisSaver) -> None:
        self.seen: list[Any] = []
        original = saver._script

        def spy(name: str, keys: Any, args: Any) -> Any:
            reply = original(name, keys, args)
            if name == "load":
                self.seen.append(reply)
            return reply

        saver._script = spy  # type: ignore[method-assign]

    def known_values(self) -> int:
        return sum(1 for reply in self.seen for e in reply[1] if len(e) > 5 for v in e[5] if v[:1] == KNOWN)

    def chunks_returned(self) -> int:
        return sum(len(reply[2]) // 2 for reply in self.seen)


def same(a: Any, b: Any) -> None:
    assert a is not None and b is not None
    assert a.checkpoint == b.checkpoint
    assert a.metadata == b.metadata
    assert a.pending_writes == b.pending_writes
    assert a.parent_config == b.parent_config


def test_only_the_savers_own_versions_are_kept() -> None:
    assert names_one_value(blob_field("messages", "v00042Xk3Zq9"))
    assert names_one_value(blob_field("messages", "w00000000042-_a9Zz"))
    assert not names_one_value(blob_field("messages", 3))
    assert not names_one_value(blob_field("messages", "00000000000000000000000000000003.0.42"))
    assert not names_one_value(blob_field("messages", "v0004"))
    records = ResolvedRecords()
    records.remember("t", "", {blob_field("messages", 3): keyframe(b"\x91", [b"d" * 16], 0)})
    assert records.hints("t", "", "page", 10) == {}


def test_records_kept_are_bounded_per_namespace_and_in_bytes() -> None:
    records = ResolvedRecords(max_bytes=20_000)
    for n in range(PER_NAMESPACE + 5):
        records.remember("t", "", {blob_field("messages", f"v{n:05d}abcdef"): b"x" * 10})
    assert len(records.hints("t", "", "page", 10)) == PAGE_HINTS  # a list page names the most recent
    assert len(records.hints("t", "", "page", 1)) == 1  # the latest: each channel's last record
    assert len(records._spaces[("t", "")].records) == PER_NAMESPACE
    for thread in range(200):  # 200 namespaces of 200 bytes each exceed 20 KB: the oldest go
        records.remember(f"t{thread}", "", {blob_field("c", "v00001abcdef"): b"y" * 200})
    assert records.hints("t", "", "page", 10) == {}
    assert records.hints("t199", "", "page", 1)
    records.forget("t199")
    assert records.hints("t199", "", "page", 1) == {}


def test_put_back_leaves_cold_entries_alone() -> None:
    cold = StoredEntry(b"1", b"body", b"", b"", [b"a"], [b"\x03abc"], [], None)
    assert put_back([cold], {}) == ([cold], [])
    field = blob_field("messages", "v00001abcdef")
    warm = cold._replace(values=[KNOWN + field, b"plain"])
    resolved = keyframe(b"\x92", [b"a" * 16, b"b" * 16], 3)
    entries, digests = put_back([warm], {field: resolved})
    assert entries[0].values == [resolved, b"plain"] and digests == [b"a" * 16, b"b" * 16]


def test_a_warm_read_skips_chains_and_chunks_and_matches_a_cold_one(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as writer, fresh_saver(RedisSaver, redis_url, prefix) as cold:
        ids = grow(writer, "t", 40)
        replies = Replies(writer)
        with counting() as trips:
            warm_latest = writer.get_tuple(config("t"))
        assert trips.count == 1
        assert replies.known_values() == 1 and replies.chunks_returned() == 0  # messages: left to the saver
        same(warm_latest, cold.get_tuple(config("t")))
        # by id: the checkpoint's own records are named (this process put it), chains skipped
        for checkpoint_id in (ids[-1], ids[-3], ids[0]):
            replies.seen.clear()
            same(writer.get_tuple(config("t", "", checkpoint_id)), cold.get_tuple(config("t", "", checkpoint_id)))
            assert replies.known_values() == 1 and replies.chunks_returned() == 0, checkpoint_id
        warm_page = list(writer.list(config("t"), limit=10))
        cold_page = list(cold.list(config("t"), limit=10))
        assert len(warm_page) == len(cold_page) == 10
        for a, b in zip(warm_page, cold_page):
            same(a, b)
        assert replies.known_values() >= 10


def test_a_reader_whose_chunk_cache_lost_them_reads_them_in_one_more_round_trip(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as writer, fresh_saver(RedisSaver, redis_url, prefix) as cold:
        grow(writer, "t", 5)
        writer._expanded = type(writer._expanded)()  # every expanded chunk evicted
        with counting() as trips:
            found = writer.get_tuple(config("t"))
        assert trips.count == 2
        same(found, cold.get_tuple(config("t")))
        assert len(found.checkpoint["channel_values"]["messages"]) == 5


def test_a_thread_deleted_and_written_again_elsewhere_reads_fresh(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as warm, fresh_saver(RedisSaver, redis_url, prefix) as other:
        grow(warm, "t", 6)
        assert warm.get_tuple(config("t")) is not None  # its records are kept now
        other.delete_thread("t")
        grow(other, "t", 6, first=50)  # the same shape and length, other messages
        found = warm.get_tuple(config("t"))
        same(found, other.get_tuple(config("t")))
        assert found.checkpoint["channel_values"]["messages"][0].id == "m0"
        assert found.checkpoint["channel_values"]["messages"][0].content == chat(50)[0].content


def test_caller_given_versions_are_always_resolved_by_the_script(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        parent = None
        for step in range(3):
            cp = checkpoint({"messages": chat(step + 2)}, {"messages": step + 1}, step=step)
            saver.put(config("t", "", parent), cp, {"source": "loop", "step": step}, {"messages": step + 1})
            parent = cp["id"]
        replies = Replies(saver)
        found = saver.get_tuple(config("t"))
        assert found is not None and len(found.checkpoint["channel_values"]["messages"]) == 4
        assert replies.known_values() == 0 and replies.chunks_returned() > 0
