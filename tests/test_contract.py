"""The parts of the checkpoint contract the conformance suite does not check."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import WRITES_IDX_MAP
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME, _DeltaSnapshot
from langgraph.types import Interrupt, Send
from pydantic import BaseModel

from redis_ckpt import AsyncRedisSaver, ConfigurationError, RedisSaver, SerializationError
from redis_ckpt.format.compression import COMPRESSED, unpack_typed_value
from tests.conftest import fresh_saver, keys_under, purge_prefix, saver_kwargs
from tests.helpers import checkpoint, config, put_chain


class Profile(BaseModel):
    name: str
    tags: list[str]


# -- put_writes ------------------------------------------------------------------------------------
def test_pending_writes_come_back_in_task_path_then_task_id_then_idx_order(saver: RedisSaver) -> None:
    cp = checkpoint({"x": 1})
    saver.put(config("t"), cp, {}, {"x": 1})
    cfg = config("t", checkpoint_id=cp["id"])
    saver.put_writes(cfg, [("c", "z1"), ("c", "z2")], "task-z", task_path="~__pregel_push, 0000000002")
    saver.put_writes(cfg, [("c", "a1")], "task-a", task_path="~__pregel_push, 0000000010")
    saver.put_writes(cfg, [("c", "m1")], "task-m", task_path="")
    saver.put_writes(cfg, [("c", "b1")], "task-b", task_path="~__pregel_push, 0000000002")
    writes = saver.get_tuple(cfg).pending_writes
    assert [w[2] for w in writes] == ["m1", "b1", "z1", "z2", "a1"]


def test_special_writes_overwrite_and_regular_writes_are_insert_if_absent(saver: RedisSaver) -> None:
    cp = checkpoint({"x": 1})
    saver.put(config("t"), cp, {}, {"x": 1})
    cfg = config("t", checkpoint_id=cp["id"])
    saver.put_writes(cfg, [("out", "first"), (INTERRUPT, "ask-1"), (ERROR, "boom-1")], "task")
    saver.put_writes(cfg, [("out", "replayed"), (INTERRUPT, "ask-2"), (ERROR, "boom-2"), (RESUME, "yes")], "task")
    writes = {(w[0], w[1]): w[2] for w in saver.get_tuple(cfg).pending_writes}
    assert writes == {
        ("task", "out"): "first",
        ("task", INTERRUPT): "ask-2",
        ("task", ERROR): "boom-2",
        ("task", RESUME): "yes",
    }
    assert len(saver.get_tuple(cfg).pending_writes) == 4
    assert WRITES_IDX_MAP[INTERRUPT] < 0


def test_writes_may_arrive_before_their_checkpoint(saver: RedisSaver) -> None:
    cp = checkpoint({"x": 1})
    saver.put_writes(config("t", checkpoint_id=cp["id"]), [("c", 42)], "task")
    assert saver.get_tuple(config("t")) is None
    saver.put(config("t"), cp, {}, {"x": 1})
    assert saver.get_tuple(config("t")).pending_writes == [("task", "c", 42)]


# -- put --------------------------------------------------------------------------------------------
def test_reputting_a_checkpoint_id_overwrites_it_without_duplicates(saver: RedisSaver) -> None:
    cp = checkpoint({"x": "old"}, {"x": 1})
    saver.put(config("t"), cp, {"step": 1}, {"x": 1})
    cp2 = {**cp, "channel_values": {"x": "new"}, "channel_versions": {"x": 2}}
    saver.put(config("t"), cp2, {"step": 2}, {"x": 2})
    listed = list(saver.list(config("t")))
    assert len(listed) == 1
    assert listed[0].checkpoint["channel_values"] == {"x": "new"}
    assert listed[0].metadata["step"] == 2


def test_channel_versions_round_trip_with_their_exact_type(saver: RedisSaver) -> None:
    versions = {"i": 3, "s": "00000000000000000000000000000002.5", "f": 1.5}
    cp = checkpoint({"i": 1, "s": 2, "f": 3}, versions)
    saver.put(config("t"), cp, {}, versions)
    got = saver.get_tuple(config("t")).checkpoint
    assert got["channel_versions"] == versions
    assert {k: type(v) for k, v in got["channel_versions"].items()} == {"i": int, "s": str, "f": float}
    assert got["channel_values"] == {"i": 1, "s": 2, "f": 3}


def test_channels_without_a_stored_value_are_absent(saver: RedisSaver) -> None:
    cp = checkpoint({"a": 1}, {"a": 1, "cleared": 1, "never": 1})
    saver.put(config("t"), cp, {}, {"a": 1, "cleared": 1})
    assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"a": 1}


def test_unchanged_channels_are_read_from_the_version_stored_earlier(saver: RedisSaver) -> None:
    first = checkpoint({"big": "x" * 10_000, "n": 0}, {"big": 1, "n": 1})
    saver.put(config("t"), first, {}, {"big": 1, "n": 1})
    second = checkpoint({"big": "x" * 10_000, "n": 1}, {"big": 1, "n": 2}, step=1)
    saver.put(config("t", checkpoint_id=first["id"]), second, {}, {"n": 2})
    assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"big": "x" * 10_000, "n": 1}
    assert saver.get_tuple(config("t", checkpoint_id=first["id"])).checkpoint["channel_values"]["n"] == 0


VALUES = {
    "messages": [HumanMessage(content="hi", id="1"), AIMessage(content="hello", id="2")],
    "interrupt": Interrupt(value={"question": "ok?"}, id="int-1"),
    "send": Send("node", {"arg": 1}),
    "model": Profile(name="ada", tags=["x"]),
    "when": dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone.utc),
    "money": decimal.Decimal("1.50"),
    "pair": (1, "a"),
    "members": {1, 2, 3},
    "frozen": frozenset({"a"}),
    "snapshot": _DeltaSnapshot(["a", "b"]),
    "bytes": b"\x00\xff",
    "none": None,
    "nested": {"a": [1, {"b": (2, 3)}]},
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_values_round_trip_exactly_through_the_serializer(saver: RedisSaver, name: str) -> None:
    value = VALUES[name]
    cp = checkpoint({"v": value})
    saver.put(config("t"), cp, {}, {"v": 1})
    saver.put_writes(config("t", checkpoint_id=cp["id"]), [("w", value)], "task")
    got = saver.get_tuple(config("t"))
    # Exactly what the serializer itself gives back (as InMemorySaver does): msgpack, for one,
    # turns a tuple nested in a dict into a list.
    expected = saver.serde.loads_typed(saver.serde.dumps_typed(value))
    for back in (got.checkpoint["channel_values"]["v"], got.pending_writes[0][2]):
        assert back == expected
        assert type(back) is type(expected)


def test_encrypted_serializer_output_round_trips_and_is_not_stored_in_clear(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    serde = EncryptedSerializer.from_pycryptodome_aes(key=b"0123456789abcdef")
    saver = RedisSaver(redis_url, serde=serde, **saver_kwargs(prefix))
    try:
        saver.put(config("t"), checkpoint({"secret": "s3cr3t-value"}), {}, {"secret": 1})
        assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"secret": "s3cr3t-value"}
        stored = b"".join(v for k in keys_under(raw, prefix) if raw.type(k) == b"hash" for v in raw.hgetall(k).values())
        assert b"s3cr3t-value" not in stored
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


def test_serializer_bytes_are_stored_raw_with_compression_off(redis_url: str, raw: redis.Redis, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix, compress=False) as saver:
        value = "é" * 100
        saver.put(config("t"), checkpoint({"v": value}), {}, {"v": 1})
        typed = saver.serde.dumps_typed(value)
        blob_keys = [k for k in keys_under(raw, prefix) if b":blob:" in k]
        assert raw.hgetall(blob_keys[0]).popitem()[1] == typed[0].encode() + b"\0" + typed[1]


def test_compressed_values_are_marked_and_expand_to_the_serializer_bytes(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    value = "é" * 100
    saver.put(config("t"), checkpoint({"v": value}), {}, {"v": 1})
    typed = saver.serde.dumps_typed(value)
    blob_keys = [k for k in keys_under(raw, prefix) if b":blob:" in k]
    stored = raw.hgetall(blob_keys[0]).popitem()[1]
    assert stored[:1] == COMPRESSED and len(stored) < len(typed[1])
    assert unpack_typed_value(stored) == typed[0].encode() + b"\0" + typed[1]


# -- list --------------------------------------------------------------------------------------------
def test_list_none_lists_every_thread_and_no_ns_lists_every_namespace(saver: RedisSaver) -> None:
    put_chain(saver, "a", 2)
    put_chain(saver, "a", 3, ns="child:1")
    put_chain(saver, "b", 1)
    assert len(list(saver.list(None))) == 6
    assert len(list(saver.list({"configurable": {"thread_id": "a"}}))) == 5
    assert len(list(saver.list(config("a", "")))) == 2
    assert len(list(saver.list(config("a", "child:1")))) == 3
    assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {"a", "b"}


def test_list_is_newest_first_with_exclusive_before_and_limit_after_filter(saver: RedisSaver) -> None:
    ids = put_chain(saver, "t", 10, metadata=lambda s: {"source": "loop", "step": s, "even": s % 2 == 0})
    listed = [t.config["configurable"]["checkpoint_id"] for t in saver.list(config("t"))]
    assert listed == ids[::-1]
    before = [
        t.config["configurable"]["checkpoint_id"]
        for t in saver.list(config("t"), before=config("t", checkpoint_id=ids[5]))
    ]
    assert before == ids[:5][::-1]
    evens = [t.metadata["step"] for t in saver.list(config("t"), filter={"even": True}, limit=3)]
    assert evens == [8, 6, 4]
    only = list(saver.list(config("t", checkpoint_id=ids[3])))
    assert [t.config["configurable"]["checkpoint_id"] for t in only] == [ids[3]]


def test_metadata_filter_has_in_memory_semantics_for_any_key(saver: RedisSaver) -> None:
    metas = [
        {"source": "loop", "step": 0, "user": "ann", "cfg": {"model": "a", "t": 1}, "score": 1.0},
        {"source": "loop", "step": 1, "user": "bob", "cfg": {"model": "a"}, "score": 2},
        {"source": "input", "step": 2, "user": "ann", "cfg": {"model": "a", "t": 1}},
    ]
    put_chain(saver, "t", 3, metadata=lambda s: metas[s])
    put_chain(saver, "other", 3, metadata=lambda s: metas[s])

    def steps(flt: dict, cfg: dict | None = None) -> list[int]:
        return sorted(t.metadata["step"] for t in saver.list(cfg if cfg is not None else config("t"), filter=flt))

    assert steps({"user": "ann"}) == [0, 2]
    assert steps({"cfg": {"model": "a", "t": 1}}) == [0, 2]
    assert steps({"cfg": {"model": "a"}}) == [1]  # nested values compare whole, not contained
    assert steps({"score": 1}) == [0]  # 1 == 1.0, as in Python
    assert steps({"score": None}) == [2]  # None also matches a missing key
    assert steps({"user": "ann", "source": "input"}) == [2]
    assert steps({"user": "nobody"}) == []
    assert sorted(t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"user": "bob"})) == [
        "other",
        "t",
    ]
    assert len(list(saver.list(None, filter={"cfg": {"model": "a", "t": 1}}))) == 4


def test_list_with_filter_and_limit_crosses_pages(saver: RedisSaver) -> None:
    put_chain(saver, "t", 130, metadata=lambda s: {"step": s, "hit": s % 40 == 0})
    assert [t.metadata["step"] for t in saver.list(config("t"), filter={"hit": True})] == [120, 80, 40, 0]
    assert len(list(saver.list(None, filter={"hit": True}, limit=2))) == 2


# -- hostile ids ---------------------------------------------------------------------------------------
HOSTILE = [
    "a:b",
    "*",
    "{x}",
    "a b",
    "ünï©ødé ✓",
    "x" * 1000,
    "",
    "a}b{c",
    "%3A",
    "line\nbreak",
    "back\\slash",
    "[ab]",
    "?",
    "a|b",
    "tab\there",
    "x" * 5000,
]


def test_any_string_is_a_safe_and_isolated_thread_id_and_namespace(saver: RedisSaver) -> None:
    for n, thread_id in enumerate(HOSTILE):
        for ns in ("", "a:b", "{x}", "*"):
            saver.put(config(thread_id, ns), checkpoint({"who": [thread_id, ns]}, step=n), {"n": n}, {"who": 1})
    for thread_id in HOSTILE:
        for ns in ("", "a:b", "{x}", "*"):
            got = saver.get_tuple(config(thread_id, ns))
            assert got.checkpoint["channel_values"]["who"] == [thread_id, ns]
            assert got.config["configurable"]["thread_id"] == thread_id
        assert len(list(saver.list({"configurable": {"thread_id": thread_id}}))) == 4
    assert len(list(saver.list(None))) == 4 * len(HOSTILE)
    saver.delete_thread("*")
    assert saver.get_tuple(config("*")) is None
    assert len(list(saver.list(None))) == 4 * (len(HOSTILE) - 1)


def test_all_keys_of_a_thread_share_one_hash_slot(saver: RedisSaver, raw: redis.Redis, prefix: str) -> None:
    from redis.crc import key_slot

    for thread_id in ("plain", "{x}", "a}b"):
        ids = put_chain(saver, thread_id, 2, ns="sub:1")
        saver.put_writes(config(thread_id, "sub:1", ids[-1]), [("c", 1)], "task")
    keys = keys_under(raw, prefix)
    slots_by_thread: dict[str, set[int]] = {}
    for key in keys:
        tag = key[key.index(b"{") : key.index(b"}") + 1]
        slots_by_thread.setdefault(tag.decode(), set()).add(key_slot(key))
    assert len(slots_by_thread) == 3
    assert all(len(slots) == 1 for slots in slots_by_thread.values())


# -- errors ------------------------------------------------------------------------------------------
def test_an_unserializable_value_is_rejected_before_anything_is_written(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    bad = checkpoint({"ok": 1, "bad": object()})
    with pytest.raises(SerializationError, match="bad"):
        saver.put(config("t"), bad, {}, {"ok": 1, "bad": 1})
    with pytest.raises(SerializationError):
        saver.put_writes(config("t", checkpoint_id=bad["id"]), [("c", 1), ("d", lambda: 0)], "task")
    assert keys_under(raw, prefix) == []


def test_missing_thread_id_and_bad_prune_arguments_are_typed_errors(saver: RedisSaver) -> None:
    with pytest.raises(ConfigurationError, match="thread_id"):
        saver.put({"configurable": {}}, checkpoint({"x": 1}), {}, {"x": 1})
    with pytest.raises(ConfigurationError):
        saver.get_tuple({"configurable": {"checkpoint_ns": ""}})
    with pytest.raises(ConfigurationError):
        saver.prune(["t"], keep_last=-1)
    with pytest.raises(ConfigurationError):
        saver.prune(["t"], strategy="oldest")
    with pytest.raises(ConfigurationError):
        saver.prune("t")
    saver.prune([])
    for bad in ("lone \ud800 surrogate",):
        with pytest.raises(ConfigurationError, match="not valid Unicode"):
            saver.put(config(bad), checkpoint({"x": 1}), {}, {"x": 1})
        with pytest.raises(ConfigurationError, match="not valid Unicode"):
            saver.get_tuple(config("t", bad))
        with pytest.raises(ConfigurationError, match="not valid Unicode"):
            saver.delete_thread(bad)


def test_prefixes_with_braces_and_decode_responses_clients_are_refused(redis_url: str) -> None:
    with pytest.raises(ConfigurationError):
        RedisSaver(redis_url, checkpoint_prefix="a{b}")
    with pytest.raises(ConfigurationError):
        RedisSaver(redis_client=redis.Redis.from_url(redis_url, decode_responses=True))
    with pytest.raises(ConfigurationError):
        RedisSaver("http://localhost")


def test_get_channel_values_reads_the_latest_or_a_given_checkpoint(saver: RedisSaver) -> None:
    ids = put_chain(saver, "t", 3)
    assert saver.get_channel_values("t") == {"x": 2}
    assert saver.get_channel_values("t", "", ids[0]) == {"x": 0}
    assert saver.get_channel_values("missing") == {}


def test_delta_history_follows_parent_pointers_not_id_order(saver: RedisSaver) -> None:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    # Clock skew across hosts can make a child's id sort below its parent's.
    chain = ["z-root", "m-child", "a-grandchild"]
    parent = None
    for n, cid in enumerate(chain):
        cp = checkpoint({}, {"items": n + 1}, checkpoint_id=cid)
        saver.put(config("t", "", parent), cp, {}, {"items": n + 1})
        saver.put_writes(config("t", "", cid), [("items", f"w{n}"), ("other", n)], "task")
        parent = cid
    saver.put(config("t"), checkpoint({}, {}, checkpoint_id="b-unrelated-fork"), {}, {})
    target = config("t", "", "a-grandchild")
    history = saver.get_delta_channel_history(config=target, channels=["items", "other"])
    assert history == {
        "items": {"writes": [("task", "items", "w0"), ("task", "items", "w1")]},
        "other": {"writes": [("task", "other", 0), ("task", "other", 1)]},
    }
    assert history == BaseCheckpointSaver.get_delta_channel_history(saver, config=target, channels=["items", "other"])


def test_filters_match_values_of_other_numeric_types_as_in_memory_does(saver: RedisSaver) -> None:
    import enum

    from langgraph.checkpoint.memory import InMemorySaver

    class Level(enum.IntEnum):
        ONE = 1

    scores = [1, 1.0, True, decimal.Decimal("1"), Level.ONE, 2, "1", None, [1]]
    reference = InMemorySaver()
    for target in (saver, reference):
        for thread in ("t", "u"):
            put_chain(target, thread, len(scores), metadata=lambda s: {"step": s, "score": scores[s]})

    def steps(target: object, cfg: dict | None, flt: dict) -> list[tuple[str, int]]:
        found = target.list(cfg, filter=flt)  # type: ignore[attr-defined]
        return sorted((t.config["configurable"]["thread_id"], t.metadata["step"]) for t in found)

    for flt in ({"score": 1}, {"score": 1.0}, {"score": True}, {"score": "1"}, {"score": 2, "step": 6}):
        for cfg in (None, {"configurable": {"thread_id": "t"}}):
            assert steps(saver, cfg, flt) == steps(reference, cfg, flt), (flt, cfg)
    assert len(steps(saver, None, {"score": 1})) == 10  # five values equal to 1, in two threads


def test_async_list_gives_what_sync_list_gives_across_its_batches(async_saver: AsyncRedisSaver) -> None:
    ids = put_chain(async_saver, "t", 25)[::-1]  # newest first

    async def listed(limit: int | None = None, stop_after: int | None = None) -> list[str]:
        out = []
        async for item in async_saver.alist(config("t"), limit=limit):
            out.append(item.checkpoint["id"])
            if stop_after is not None and len(out) == stop_after:
                break
        return out

    async def main() -> None:
        assert await listed() == ids == [t.checkpoint["id"] for t in async_saver.list(config("t"))]
        for limit in (0, 1, 10, 12, 25, 40):
            assert await listed(limit) == ids[:limit]
        assert await listed(stop_after=11) == ids[:11]

    asyncio.run(main())
