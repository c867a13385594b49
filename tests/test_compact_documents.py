"""The compact parts of a stored checkpoint (docs/design.md, "Key layout"): 12-character versions,
bodies that leave the checkpoint's id and versions to their document, parents packed relative to
their child's id, references with coded channel names, pending-write fields naming UUID task ids
in 16 bytes, coded task paths and channels in pending writes. Each reads back exactly,
and what was stored in the previous forms stays readable."""

from __future__ import annotations

import random
import uuid

import pytest
import redis
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.base.id import uuid6

from redis_ckpt import RedisSaver
from redis_ckpt.format import channel_versions
from redis_ckpt.format.checkpoint_codec import loads
from redis_ckpt.format.compression import (
    DICTIONARY_AFTER,
    WITH_DICTIONARY,
    is_dictionary_field,
    pack_chunk,
    unpack_chunk,
)
from redis_ckpt.format.encoding import (
    LARGE_VALUE,
    metadata_tags,
    pack_channel,
    pack_list,
    pack_parent,
    pack_refs,
    pack_task_path,
    pack_typed,
    parse_refs,
    parse_write_field,
    refs_list,
    unpack_channel,
    unpack_list,
    unpack_parent,
    unpack_task_path,
    utf8,
    version_repr,
    write_field,
)
from tests.conftest import keys_under, saver_kwargs
from tests.helpers import checkpoint, config, put_chain
from tests.roundtrips import counting


def test_versions_increase_as_strings_from_every_earlier_format() -> None:
    rng = random.Random(3)
    earlier = ["0000000041.9f3a1c07", "00000000000000000000000000000041.5302937620983523", 41, None]
    for current in earlier:
        nxt = channel_versions.next_version(current)
        assert len(nxt) == 12 and channel_versions.counter(nxt) == (42 if current is not None else 1)
        if isinstance(current, str):
            assert nxt > current
    previous = channel_versions.next_version(None)
    for n in [*sorted(rng.sample(range(1, 62**5 + 10_000), 2_000)), 62**5 - 2, 62**5 - 1, 62**5, 10**15]:
        nxt = channel_versions.next_version(n)
        assert channel_versions.counter(nxt) == n + 1
        assert nxt > previous, (previous, nxt)  # past 62**5 the `w` form still sorts above
        previous = nxt
    # Two forks bumping the same channel get different versions.
    assert len({channel_versions.next_version(7) for _ in range(1_000)}) == 1_000
    # A version of no known format is a clear error, not a wrong count.
    for foreign in ["v1.2", "w", "abc"]:
        with pytest.raises(ValueError, match="not a version this saver can count from"):
            channel_versions.next_version(foreign)
    assert channel_versions.counter("v0000A") == 10  # width checked: 'v' + 5 digits


@pytest.mark.parametrize(
    "parent_id, child_id",
    [
        (str(uuid6()), str(uuid6())),
        (str(uuid.uuid4()), str(uuid6())),  # shares nothing
        ("not-a-uuid", str(uuid6())),
        ("\x02looks packed", str(uuid6())),  # escaped, not misread
        ("\x03looks escaped", "child"),
        (str(uuid6()).upper(), str(uuid6())),  # not canonical: stored as given
        (None, str(uuid6())),
    ],
)
def test_parents_pack_and_read_back_exactly(saver: RedisSaver, parent_id: str | None, child_id: str) -> None:
    packed = pack_parent(parent_id, child_id)
    assert unpack_parent(packed, child_id) == (parent_id or "")
    # The read scripts unpack it the same way (lua/common.lua, parent_id).
    cp = checkpoint({"x": 1}, {"x": 1}, checkpoint_id=child_id)
    saver.put(config("t", "", parent_id), cp, {}, {"x": 1})
    found = saver.get_tuple(config("t", "", child_id))
    assert found is not None
    expected = config("t", "", parent_id)["configurable"] if parent_id else None
    assert (found.parent_config or {}).get("configurable") == expected


def test_uuid6_parents_take_a_third_of_their_text() -> None:
    parent = str(uuid6())
    child = str(uuid6())
    assert len(pack_parent(parent, child)) <= 14 < len(parent)


@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "task-a", str(uuid.uuid4()).upper(), "1:2;3", ""])
@pytest.mark.parametrize("idx", [0, 7, -1, -3])
def test_write_fields_name_their_task_and_index_exactly(task_id: str, idx: int) -> None:
    field = write_field(task_id, idx)
    assert parse_write_field(field) == (idx, task_id)
    if _is_uuid(task_id):  # `idx;` and the UUID's 16 bytes
        assert len(field) == len(str(idx)) + 1 + 16


# Channel names and versions of every shape the compact references distinguish.
ODD_CHANNELS = ["__start__", "messages", "branch:to:agent", "branch:to:", "\x01odd", "\x1fx", "1:2", "é", "", "=", "v"]
ODD_VERSIONS: list[str | int | float] = [
    "v0000aBcDeF1",
    "v0000aBcDeF1",
    7,
    2.5,
    "w12345678901",
    "vé123456789",
    "v",
    "=",
    "",
    "00001.abc",
    -1,
    1e300,
]


def test_references_pack_compactly_and_read_back_exactly() -> None:
    versions_ = dict(zip(ODD_CHANNELS, ODD_VERSIONS))
    packed = pack_refs(versions_)
    back = parse_refs(packed)
    assert back == versions_ and list(back) == list(versions_)
    assert [type(v) for v in back.values()] == [type(v) for v in versions_.values()]
    # The plain list stored before reads the same.
    plain = pack_list([x for c, v in versions_.items() for x in (utf8(c), utf8(version_repr(v)))])
    assert parse_refs(plain) == versions_ and refs_list(plain) == refs_list(packed)
    channels = ("__start__", "messages", "branch:to:agent", "branch:to:tools")
    chat = {c: channel_versions.next_version(None) for c in channels}
    plain_chat = pack_list([x for c, v in chat.items() for x in (utf8(c), utf8(version_repr(v)))])
    assert len(pack_refs(chat)) <= len(plain_chat) * 2 // 3


def test_a_checkpoint_with_odd_channels_and_versions_reads_back_exactly(saver: RedisSaver) -> None:
    """The read scripts decode the compact references as Python does (lua/common.lua, refs_list)."""
    versions_ = dict(zip(ODD_CHANNELS, ODD_VERSIONS))
    values = {c: f"value of {c!r}" for c in ODD_CHANNELS}
    cp = checkpoint(values, versions_)
    saver.put(config("t"), cp, {}, versions_)
    found = saver.get_tuple(config("t"))
    assert found is not None
    assert found.checkpoint["channel_values"] == values
    assert found.checkpoint["channel_versions"] == versions_
    assert [type(v) for v in found.checkpoint["channel_versions"].values()] == [type(v) for v in versions_.values()]


@pytest.mark.parametrize("channel", [*ODD_CHANNELS, "__pregel_tasks", "__interrupt__", "__end__", "\x1e", "\x03"])
def test_write_channels_pack_and_read_back_exactly(channel: str) -> None:
    assert unpack_channel(pack_channel(channel)) == channel
    if channel in ("messages", "__start__"):
        assert len(pack_channel(channel)) == 1


@pytest.mark.parametrize(
    "task_path", ["~__pregel_pull, agent", "~__pregel_push, 0, False", "~__pregel_pull, ", "", "\x01x", "\x03", "plain"]
)
def test_task_paths_pack_and_read_back_exactly(task_path: str) -> None:
    assert unpack_task_path(pack_task_path(task_path)) == task_path


def test_pending_writes_with_coded_channels_and_paths_read_back_and_feed_the_delta_walk(saver: RedisSaver) -> None:
    """The delta walk's script matches writes by channel name (lua/common.lua, channel_name)."""
    channels = ["messages", "branch:to:agent", "\x01odd", "x"]
    parent = None
    for step in range(3):
        versions_ = {c: channel_versions.next_version(None) for c in channels} if step == 0 else {}
        cp = checkpoint({c: [step] for c in channels} if step == 0 else {}, versions_)
        stored = saver.put(config("t", "", parent), cp, {"step": step}, versions_)
        writes = [(c, [step, c]) for c in channels]
        saver.put_writes(stored, writes, str(uuid.uuid4()), "~__pregel_pull, agent")
        saver.put_writes(stored, [("__interrupt__", step)], "task-b", "~__pregel_push, 0")
        parent = cp["id"]
    found = saver.get_tuple(config("t"))
    assert found is not None
    assert sorted((c, v) for _t, c, v in found.pending_writes) == sorted(
        [(c, [2, c]) for c in channels] + [("__interrupt__", 2)]
    )
    target = config("t", "", parent)
    native = saver.get_delta_channel_history(config=target, channels=channels)
    assert native == BaseCheckpointSaver.get_delta_channel_history(saver, config=target, channels=channels)
    assert native["messages"]["writes"]  # the walk saw the coded channel's writes


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def test_a_body_leaves_the_id_and_versions_to_its_document(saver: RedisSaver, raw: redis.Redis) -> None:
    cp = checkpoint({"x": 1, "y": "s"}, {"x": "0000000003.abc", "y": 2.5, "z": 7})
    saver.put(config("t"), cp, {"step": 1}, {"x": "0000000003.abc", "y": 2.5})
    stored = raw.hgetall(saver.layout.checkpoint("t", "", cp["id"]))
    body = unpack_list(unpack_chunk(unpack_list(b"".join(stored[f] for f in sorted(stored) if f != b"meta"))[2]))
    bare = loads(saver.serde, body[0])
    assert bare["id"] == "" and bare["channel_versions"] == {}
    found = saver.get_tuple(config("t", "", cp["id"]))
    assert found is not None
    assert found.checkpoint["id"] == cp["id"]
    assert found.checkpoint["channel_versions"] == cp["channel_versions"]
    order = [k for k in cp if k != "channel_values"]
    assert [k for k in found.checkpoint if k != "channel_values"] == order  # the key order too
    assert [type(v) for v in found.checkpoint["channel_versions"].values()] == [str, float, int]


def test_documents_and_writes_of_the_previous_forms_stay_readable(saver: RedisSaver, raw: redis.Redis) -> None:
    """A document whose body holds the whole checkpoint and a plain parent id, and a writes hash
    whose fields name task ids as text, as stored before this change."""
    parent, cid = str(uuid6()), str(uuid6())
    cp = checkpoint({"x": [1, 2]}, {"x": "0000000001.0a0b0c0d"}, checkpoint_id=cid)
    whole = {k: v for k, v in cp.items() if k != "channel_values"}
    body = pack_chunk(
        pack_list([pack_typed(saver.serde.dumps_typed(whole)), pack_typed(saver.serde.dumps_typed({"step": 2}))]),
        True,
    )
    refs = pack_list([b"x", utf8(version_repr("0000000001.0a0b0c0d"))])
    raw.hset(saver.layout.checkpoint("t", "", cid), "d", pack_list([utf8(parent), refs, body]))
    field = b"x\0" + utf8(version_repr("0000000001.0a0b0c0d"))
    raw.hset(saver.layout.blobs("t", ""), field, pack_typed(saver.serde.dumps_typed([1, 2])))
    raw.zadd(saver.layout.index("t", ""), {cid: 0})
    raw.sadd(saver.layout.namespaces("t"), "")
    task = str(uuid.uuid4())
    write = pack_list([b"", b"x", pack_typed(saver.serde.dumps_typed(3))])
    raw.hset(saver.layout.legacy_writes("t", "", cid), b"0:" + utf8(task), write)
    found = saver.get_tuple(config("t"))
    assert found is not None
    assert found.checkpoint["id"] == cid and found.checkpoint["channel_versions"] == cp["channel_versions"]
    assert found.checkpoint["channel_values"] == {"x": [1, 2]}
    assert found.parent_config is not None and found.parent_config["configurable"]["checkpoint_id"] == parent
    assert found.pending_writes == [(task, "x", 3)]
    # The same write stored again by this version (its task id packed) is not listed twice.
    saver.put_writes(config("t", "", cid), [("x", 3)], task)
    again = saver.get_tuple(config("t"))
    assert again is not None and again.pending_writes == [(task, "x", 3)]
    # And the next checkpoint, in the new forms, builds on it.
    nxt = saver.get_next_version("0000000001.0a0b0c0d", None)
    cp2 = checkpoint({"x": [1, 2, 3]}, {"x": nxt})
    saver.put(config("t", "", cid), cp2, {"step": 3}, {"x": nxt})
    latest = saver.get_tuple(config("t"))
    assert latest is not None and latest.checkpoint["channel_values"] == {"x": [1, 2, 3]}
    assert latest.parent_config is not None and latest.parent_config["configurable"]["checkpoint_id"] == cid


@pytest.mark.parametrize("channel, idx, kept", [("__interrupt__", -3, "new"), ("x", 0, "old")])
def test_a_write_stored_in_both_forms_across_an_upgrade_reads_as_one_field_would(
    saver: RedisSaver, raw: redis.Redis, channel: str, idx: int, kept: str
) -> None:
    """A writes hash holding a task's write under its text field (before) and its packed field
    (after the upgrade): a special write (negative idx) overwrites, so the later one is read; a
    regular one is insert-if-absent, so the first stays, whichever order HGETALL gives."""
    cp = checkpoint({"x": 1}, {"x": 1})
    saver.put(config("t"), cp, {}, {"x": 1})
    task = str(uuid.uuid4())
    old = pack_list([b"", utf8(channel), pack_typed(saver.serde.dumps_typed("old" + "." * 80))])
    raw.hset(saver.layout.legacy_writes("t", "", cp["id"]), b"%d:%s" % (idx, utf8(task)), old)
    saver.put_writes(config("t", "", cp["id"]), [(channel, "new" + "." * 80)], task)
    found = saver.get_tuple(config("t"))
    assert found is not None and found.pending_writes == [(task, channel, kept + "." * 80)]


@pytest.mark.parametrize("field", [b"7", b"", b"x:task", b"-:task", b"3;short", b"3;" + b"u" * 17])
def test_a_field_of_neither_write_form_is_a_clear_error(field: bytes) -> None:
    with pytest.raises(ValueError, match="not a pending-write field"):
        parse_write_field(field)


def _bodies(raw: redis.Redis, saver: RedisSaver, thread_id: str, ids: list[str]) -> list[bytes]:
    out = []
    for cid in ids:
        stored = raw.hgetall(saver.layout.checkpoint(thread_id, "", cid))
        pieces = [stored[b"d"], *(stored[b"d%d" % n] for n in range(1, len(stored)) if b"d%d" % n in stored)]
        out.append(unpack_list(b"".join(pieces))[2])
    return out


def test_bodies_use_the_namespace_dictionary_and_a_new_process_reads_them_in_one_round_trip(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    ids = put_chain(saver, "t", DICTIONARY_AFTER + 8)
    fields = [f for f in raw.hkeys(saver.layout.chunks("t", "")) if is_dictionary_field(f)]
    assert len(fields) == 1  # made once, of the first DICTIONARY_SAMPLES bodies
    markers = [body[:1] for body in _bodies(raw, saver, "t", ids)]
    assert markers[:DICTIONARY_AFTER] == [b"\x01"] * DICTIONARY_AFTER  # the fixed dictionary
    assert set(markers[DICTIONARY_AFTER:]) == {WITH_DICTIONARY}
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as fresh:
        with counting() as counted:
            latest = fresh.get_tuple(config("t"))
        assert counted.count == 1 and latest is not None
        n = len(ids) - 1
        assert latest.checkpoint["channel_values"] == {"x": n} and latest.metadata["step"] == n
        assert [t.metadata["step"] for t in fresh.list(config("t"), filter={"step": 7})] == [7]  # metadata only
        assert [t.checkpoint["id"] for t in fresh.list(config("t"))] == ids[::-1]
        # Learnt: the next put uses it (no second dictionary).
        more = put_chain(fresh, "t", 1)
        assert _bodies(raw, fresh, "t", more)[0][:1] == WITH_DICTIONARY
    assert len([f for f in raw.hkeys(saver.layout.chunks("t", "")) if is_dictionary_field(f)]) == 1


def test_a_writer_whose_dictionary_was_deleted_elsewhere_puts_a_readable_checkpoint(
    saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    put_chain(saver, "t", DICTIONARY_AFTER + 2)
    with RedisSaver(redis_url, **saver_kwargs(prefix)) as other:
        other.delete_thread("t")  # this saver still believes the dictionary is stored
        before = saver.resends
        cp = checkpoint({"x": 1}, {"x": 1})
        saver.put(config("t"), cp, {"step": 1}, {"x": 1})
        assert saver.resends == before + 1  # commit found the dictionary gone: sent again, without it
        found = other.get_tuple(config("t"))
        assert found is not None and found.checkpoint["channel_values"] == {"x": 1}


def test_metadata_tags_are_short_and_documents_with_the_earlier_long_tags_still_match(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    """New documents carry 8-digit tags; filters still find documents that carry the 16-digit
    tags stored before (through the Search module, and through the scripts without it)."""
    ids = put_chain(saver, "t", 3, metadata=lambda s: {"user": "ann" if s != 1 else "bob", "step": s})
    key = saver.layout.checkpoint("t", "", ids[0])
    assert all(len(tag) == 8 for tag in raw.hget(key, "meta").split(b","))
    raw.hset(key, "meta", ",".join(metadata_tags({"user": "ann", "step": 0})))  # as stored before
    assert len(raw.hget(key, "meta").split(b",")[0]) == 16
    for cfg in (config("t"), None):
        found = sorted(t.metadata["step"] for t in saver.list(cfg, filter={"user": "ann"}))
        assert found == [0, 2]
        assert [t.metadata["step"] for t in saver.list(cfg, filter={"user": "ann", "step": 0})] == [0]


# -- pending writes as fields of their checkpoint's hash ----------------------------------------------
def test_writes_live_in_their_checkpoints_hash_and_a_re_put_keeps_them(saver: RedisSaver, raw: redis.Redis) -> None:
    cp = checkpoint({"x": 1}, {"x": 1})
    cfg = config("t", "", cp["id"])
    saver.put_writes(cfg, [("x", 5)], "early")  # before its checkpoint: a hash with writes only
    assert saver.get_tuple(cfg) is None
    assert list(saver.list(None)) == [] and list(saver.list(config("t"))) == []
    saver.put(config("t"), cp, {"step": 1}, {"x": 1})
    saver.put_writes(cfg, [("y", 6)], "late")
    key = saver.layout.checkpoint("t", "", cp["id"])
    assert {b"0:early", b"0:late", b"d"} <= set(raw.hkeys(key))
    assert not raw.exists(saver.layout.legacy_writes("t", "", cp["id"]))
    saver.put(config("t"), cp, {"step": 2}, {"x": 1})  # a re-put replaces the document only
    found = saver.get_tuple(cfg)
    assert found is not None and found.metadata["step"] == 2
    assert sorted(found.pending_writes) == [("early", "x", 5), ("late", "y", 6)]
    assert [t.checkpoint["id"] for t in saver.list(None)] == [cp["id"]]
    saver.delete_thread("t")
    assert not raw.exists(key)


def test_writes_stored_in_hashes_of_their_own_are_read_copied_and_deleted(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    """As stored before writes were fields of their checkpoint's hash: a spilled (large) one too,
    and one of a checkpoint that does not exist (listed in the writes index)."""
    ids = put_chain(saver, "t", 2)
    large = "L" * (LARGE_VALUE + 10)
    legacy = saver.layout.legacy_writes("t", "", ids[-1])
    spill = b"\0" + write_field("old", 1)
    raw.hset(legacy, write_field("old", 0), pack_list([b"", b"x", pack_typed(saver.serde.dumps_typed(1))]))
    raw.hset(legacy, write_field("old", 1), pack_list([b"", b"big", spill]))
    raw.hset(legacy, mapping={spill: pack_typed(saver.serde.dumps_typed(large)), b"\0": b"1"})
    orphan = str(uuid6())
    raw.hset(saver.layout.legacy_writes("t", "", orphan), write_field("o", 0), pack_list([b"", b"x", b"n\0"]))
    raw.zadd(saver.layout.writes_index("t", ""), {orphan: 0})
    saver.put_writes(config("t", "", ids[-1]), [("y", 2)], "new")
    expected = [("new", "y", 2), ("old", "x", 1), ("old", "big", large)]
    found = saver.get_tuple(config("t"))
    assert found is not None and sorted(found.pending_writes, key=str) == sorted(expected, key=str)
    saver.copy_thread("t", "u")
    copied = saver.get_tuple(config("u"))
    assert copied is not None and sorted(copied.pending_writes, key=str) == sorted(expected, key=str)
    assert raw.exists(saver.layout.legacy_writes("u", "", orphan))
    for thread in ("t", "u"):
        saver.delete_thread(thread)
    assert keys_under(raw, prefix) == []  # but the deployment's format marker


def test_writes_stored_before_with_channels_and_task_paths_that_look_coded_read_back_as_stored(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    """A writes hash of before holds task paths and channels as given: one starting with a byte
    the codes use (`\\x01` is `__start__` or `~__pregel_pull, ` now) is still itself, in reads and
    in the delta walk."""
    ids = put_chain(saver, "t", 2)
    legacy = saver.layout.legacy_writes("t", "", ids[0])
    odd = [("\x01task", "\x01ctl"), ("\x02path", "\x1fz"), ("\x03p", "\x05"), ("", "")]
    for n, (path, channel) in enumerate(odd):
        record = pack_list([utf8(path), utf8(channel), pack_typed(saver.serde.dumps_typed(n))])
        raw.hset(legacy, write_field(f"old{n}", 0), record)
    found = saver.get_tuple(config("t", "", ids[0]))
    assert found is not None
    assert sorted(found.pending_writes) == sorted((f"old{n}", channel, n) for n, (_, channel) in enumerate(odd))
    history = saver.get_delta_channel_history(config=config("t", "", ids[1]), channels=["\x01ctl", "__start__"])
    assert history["\x01ctl"]["writes"] == [("old0", "\x01ctl", 0)]
    assert history["__start__"]["writes"] == []
    assert sorted(_task_paths(saver, "t", ids[0])) == sorted(path for path, _ in odd)


def _task_paths(saver: RedisSaver, thread_id: str, checkpoint_id: str) -> list[str]:
    from redis_ckpt.format.checkpoint_codec import raw_writes

    entry = saver._load(thread_id, "", "ids", "full", 1, checkpoint_id)[1][0]
    return [w[2] for w in raw_writes(entry.writes)]


@pytest.mark.parametrize("task", ["task-a", str(uuid.uuid4())])
def test_a_write_stored_before_and_again_after_the_upgrade_reads_as_in_memory_saver(
    saver: RedisSaver, raw: redis.Redis, task: str
) -> None:
    """A task's writes stored in a writes hash of their own (before), then again in the
    checkpoint's hash (a replay after the upgrade), field forms alike: the regular write keeps
    the first value (insert-if-absent), the special one the last (it overwrites)."""
    cp = checkpoint({"x": 1}, {"x": 1})
    saver.put(config("t"), cp, {}, {"x": 1})
    legacy = saver.layout.legacy_writes("t", "", cp["id"])
    for channel, idx in (("x", 0), ("__error__", -1)):
        record = pack_list([b"", utf8(channel), pack_typed(saver.serde.dumps_typed("old"))])
        raw.hset(legacy, write_field(task, idx), record)
    saver.put_writes(config("t", "", cp["id"]), [("x", "new"), ("__error__", "new")], task)
    found = saver.get_tuple(config("t"))
    assert found is not None and sorted(found.pending_writes) == [(task, "__error__", "new"), (task, "x", "old")]


def test_with_a_ttl_writes_stored_before_live_as_long_as_the_checkpoint_new_writes_keep_alive(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    """A checkpoint stored before the upgrade, with its writes in a hash of their own, gets a new
    write: its hash's TTL is renewed, and so must be its earlier writes', or they would expire
    first and the checkpoint would be read with part of its writes."""
    from tests.conftest import fresh_saver

    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 10}) as saver:
        cp = checkpoint({"x": 1}, {"x": 1})
        saver.put(config("t"), cp, {}, {"x": 1})
        legacy = saver.layout.legacy_writes("t", "", cp["id"])
        raw.hset(legacy, write_field("old", 0), pack_list([b"", b"x", pack_typed(saver.serde.dumps_typed(1))]))
        raw.expire(legacy, 30)  # as the old version's put and put_writes left it, some time ago
        raw.expire(saver.layout.checkpoint("t", "", cp["id"]), 30)
        saver.put_writes(config("t", "", cp["id"]), [("y", 2)], "new")
        assert raw.ttl(saver.layout.checkpoint("t", "", cp["id"])) > 500
        assert raw.ttl(legacy) > 500


def test_the_latest_for_a_delta_walk_is_a_checkpoint_not_a_hash_of_late_writes(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    """The newest index entry's document expired, then a late task stored a write for it: its
    hash holds that write only. The walk from "the latest" starts at the newest checkpoint."""
    ids = put_chain(saver, "t", 3)
    raw.delete(saver.layout.checkpoint("t", "", ids[-1]))  # expired (its index page outlives it)
    saver.put_writes(config("t", "", ids[-1]), [("x", 99)], "late")
    saver.put_writes(config("t", "", ids[0]), [("x", 7)], "task")
    history = saver.get_delta_channel_history(config=config("t"), channels=["x"])
    assert history == saver.get_delta_channel_history(config=config("t", "", ids[1]), channels=["x"])
    assert history["x"]["seed"] == 0 and history["x"]["writes"] == [("task", "x", 7)]
