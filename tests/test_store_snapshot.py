"""Snapshot and restore of store namespace prefixes (RedisStore.snapshot/restore, the store export
format): values byte for byte, times, TTLs and vectors kept, restore idempotent, bad files refused
with a clear error. Each test runs on Redis with and without the Search module."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_ckpt import AsyncRedisStore, RedisStore
from redis_ckpt.store import snapshot as snapshots
from redis_ckpt.store.export_format import StoreExportError
from tests.store_helpers import bag_of_words, fresh_store, index_config, purge_store

USERS: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {
    ("users", "alice"): {
        "profile": {"text": "likes green tea", "age": 31, "tags": ["a", "b"], "nested": {"deep": {"x": [1, 2.5]}}},
        "note": {"text": "ünïcödé ☕ 日本語 and newlines\nhere", "score": 0.5},
    },
    ("users", "bøb", "mem:o{ry}%"): {
        "fact 1": {"text": "bob drinks coffee", "flag": True, "none": None},
        "k:2": {"text": "plain key", "n": 7},
    },
    ("users", "carol"): {"x": {"text": "carol plays chess", "big": "z" * 5000}},
}
OUTSIDE = {("teams", "red"): {"t": {"text": "not exported"}}, ("usersx",): {"u": {"text": "a sibling prefix"}}}


def fill(store: RedisStore) -> None:
    for namespace, items in {**USERS, **OUTSIDE}.items():
        for key, value in items.items():
            store.put(namespace, key, value)
    store.put(("users", "alice"), "unindexed", {"text": "hidden from vectors"}, index=False)
    store.put(("users", "alice"), "other-field", {"text": "t", "title": "chess club"}, index=["title"])
    store.put(("users", "dave"), "temp", {"text": "short lived"}, ttl=30)  # minutes


@pytest.fixture
def source(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    with fresh_store(
        RedisStore, redis_url, prefix, index=index_config(fields=["text"]), ttl={"refresh_on_read": True}
    ) as s:
        fill(s)
        yield s


EMBEDDED: list[str] = []  # what the target store embedded


def recording_embed(texts: list[str]) -> list[list[float]]:
    EMBEDDED.extend(texts)
    return bag_of_words(texts)


@pytest.fixture
def target(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    EMBEDDED.clear()
    with fresh_store(
        RedisStore, redis_url, f"{prefix}r", index=index_config(fields=["text"], embed=recording_embed)
    ) as s:
        yield s


def view(store: RedisStore, prefix: tuple[str, ...]) -> dict[str, Any]:
    """What a user sees of the items under a prefix: items with times, searches, namespaces."""
    items = [(i.namespace, i.key, i.value, i.created_at, i.updated_at) for i in store.search(prefix, limit=1000)]
    return {
        "items": items,
        "gets": [store.get(ns, key, refresh_ttl=False) for ns, key, *_ in items],
        "filtered": [(i.namespace, i.key) for i in store.search(prefix, filter={"text": "plain key"})],
        "ranked": [(i.namespace, i.key, i.score) for i in store.search(prefix, query="chess coffee tea", limit=10)],
        "namespaces": store.list_namespaces(prefix=prefix),
        "deep": store.list_namespaces(prefix=prefix, max_depth=2),
    }


def test_restore_reads_back_identical(source: RedisStore, target: RedisStore, tmp_path: Path) -> None:
    file = tmp_path / "users.jsonl"
    counts = source.snapshot(("users",), file)
    assert counts == {"items": 8, "namespaces": 4}
    restored = target.restore(file)
    assert restored == {"items": 8, "new": 8, "namespaces": 4}
    before, after = view(source, ("users",)), view(target, ("users",))
    assert after == before
    assert len([hit for hit in after["ranked"] if hit[2] is not None]) == 7  # scored from the restored vectors
    assert EMBEDDED == ["chess coffee tea"]  # the query of view(): restore embedded nothing
    assert after["filtered"] == [(("users", "bøb", "mem:o{ry}%"), "k:2")]
    assert target.list_namespaces() == before["namespaces"]  # nothing outside the prefix came along
    assert target.get(("teams", "red"), "t") is None and target.get(("usersx",), "u") is None
    # stored form byte for byte: value bytes, times, TTL, vectors
    exported, imported = list(source.export_items([("users",)])), list(target.export_items())
    assert [(i.namespace, i.key, i.value, i.created_us, i.updated_us, i.ttl_ms, i.vectors) for i in imported] == [
        (i.namespace, i.key, i.value, i.created_us, i.updated_us, i.ttl_ms, i.vectors) for i in exported
    ]
    assert sum(1 for i in imported if i.vectors) == 7  # every indexed item brought its vectors (not `unindexed`)


def test_restore_into_another_db_with_the_same_prefix(source: RedisStore, redis_url: str, prefix: str) -> None:
    """db 1 gets no Search index (RediSearch indexes db 0 only, and index names are global: db 0's
    index of the same prefix must not be used for db 1), and answers the same by scanning."""
    buffer = io.StringIO()
    source.snapshot(("users",), buffer)
    buffer.seek(0)
    db1 = redis_url.rstrip("/") + "/1"
    with fresh_store(RedisStore, db1, prefix, index=index_config(fields=["text"])) as copy:
        assert copy.restore(buffer)["new"] == 8
        assert copy._item_state == copy._vector_state == "no-module"
        assert view(copy, ("users",)) == view(source, ("users",))


def test_restore_twice_adds_nothing(source: RedisStore, target: RedisStore, tmp_path: Path) -> None:
    file = tmp_path / "all.jsonl"
    source.snapshot((), file)
    first = target.restore(file)
    state = [(i.namespace, i.key, i.value, i.created_us, i.updated_us, i.vectors) for i in target.export_items()]
    raw = target.client
    key_count = len(list(raw.scan_iter(match=f"{target.layout.prefix}:*", count=1000)))
    second = target.restore(file)
    assert first["new"] == first["items"] == 10 and second == {**first, "new": 0}
    assert [
        (i.namespace, i.key, i.value, i.created_us, i.updated_us, i.vectors) for i in target.export_items()
    ] == state
    assert len(list(raw.scan_iter(match=f"{target.layout.prefix}:*", count=1000))) == key_count


def test_restore_into_the_same_store_after_a_clear(source: RedisStore) -> None:
    buffer = io.StringIO()
    source.snapshot([("users", "alice"), ("users",), ("teams",)], buffer)  # ("users", "alice") is inside ("users",)
    before = view(source, ())
    assert source.clear(("users",)) == 8 and source.clear(("teams",)) == 1
    buffer.seek(0)
    assert source.restore(buffer) == {"items": 9, "new": 9, "namespaces": 5}
    after = view(source, ())
    assert after == before


def test_ttl_and_times_survive(source: RedisStore, target: RedisStore, tmp_path: Path) -> None:
    file = tmp_path / "dave.jsonl"
    source.snapshot(("users", "dave"), file)
    line = json.loads(file.read_text().splitlines()[1])
    assert line["kind"] == "store_item" and line["ttl_ms"] == 30 * 60_000
    assert 0 < line["expires_in_ms"] <= 30 * 60_000
    target.restore(file)
    name = target.layout.item(("users", "dave"), "temp")
    assert 0 < target.client.pttl(name) <= line["expires_in_ms"]
    assert target.client.hget(name, "t") == b"1800000"  # a read that refreshes restarts the full TTL
    original = source.get(("users", "dave"), "temp", refresh_ttl=False)
    copy = target.get(("users", "dave"), "temp", refresh_ttl=False)
    assert copy is not None and original is not None
    assert (copy.created_at, copy.updated_at, copy.value) == (original.created_at, original.updated_at, original.value)


def test_snapshot_pages_stream(source: RedisStore, target: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 3 items per round trip (dump) and per script call (restore) give the same result."""
    many = {f"k{i:03}": {"text": f"item {i}", "i": i} for i in range(25)}
    for key, value in many.items():
        source.put(("bulk",), key, value)
    calls: list[str] = []
    real_run = snapshots.store_scripts.run

    def counting(client: redis.Redis, name: str, *args: Any) -> Any:
        calls.append(name)
        return real_run(client, name, *args)

    monkeypatch.setattr(snapshots, "PAGE", 3)
    monkeypatch.setattr(snapshots.store_scripts, "run", counting)
    buffer = io.StringIO()
    assert source.snapshot(("bulk",), buffer)["items"] == 25
    assert calls.count("dump") == 9  # 25 items in pages of 3 (the last page comes back short)
    buffer.seek(0)
    assert target.restore(buffer)["new"] == 25
    assert calls.count("restore") == 9
    assert {i.key: i.value for i in target.search(("bulk",), limit=100)} == many


def test_bad_files_are_refused(source: RedisStore, target: RedisStore, tmp_path: Path) -> None:
    buffer = io.StringIO()
    source.snapshot(("users",), buffer)
    lines = buffer.getvalue().splitlines()
    checkpoint_header = json.dumps({"format": "redis-ckpt/export", "version": 1})
    with pytest.raises(StoreExportError, match="checkpoint export"):
        target.restore(io.StringIO(checkpoint_header + "\n"))
    with pytest.raises(StoreExportError, match="not a redis-ckpt store export"):
        target.restore(io.StringIO("hello\n"))
    with pytest.raises(StoreExportError, match="version 9"):
        target.restore(io.StringIO(json.dumps({**json.loads(lines[0]), "version": 9}) + "\n"))
    with pytest.raises(StoreExportError, match="cut short"):
        target.restore(io.StringIO("\n".join(lines[:3]) + "\n"))
    assert len(target.search(("users",))) == 2  # what came before the cut was restored; all of it again is safe
    assert target.restore(io.StringIO("\n".join(lines)))["new"] == 6
    wrong = json.loads(lines[1])
    wrong["kind"] = "checkpoint"
    with pytest.raises(StoreExportError, match="line 2: not a store item"):
        target.restore(io.StringIO("\n".join([lines[0], json.dumps(wrong), *lines[2:]])))
    rooted = {**json.loads(lines[1]), "namespace": ["langgraph", "x"]}
    with pytest.raises(Exception, match="langgraph"):
        target.restore(io.StringIO("\n".join([lines[0], json.dumps(rooted), *lines[2:]])))
    assert target.get(("langgraph", "x"), rooted["key"]) is None


def test_async_store_snapshot_and_restore(redis_url: str, prefix: str, tmp_path: Path) -> None:
    with (
        fresh_store(AsyncRedisStore, redis_url, prefix) as source,
        fresh_store(AsyncRedisStore, redis_url, f"{prefix}r") as target,
    ):
        source.put(("a", "b"), "k", {"v": "é", "nested": {"x": 1}})
        file = tmp_path / "a.jsonl"
        assert asyncio.run(source.asnapshot(("a",), file)) == {"items": 1, "namespaces": 1}
        assert asyncio.run(target.arestore(file)) == {"items": 1, "new": 1, "namespaces": 1}
        copy, original = target.get(("a", "b"), "k"), source.get(("a", "b"), "k")
        assert copy is not None and original is not None and copy.dict() == original.dict()


def test_a_least_privilege_user_can_snapshot_and_restore(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    from redis_ckpt.store.store_acl import acl_rules

    user = f"snap-{prefix}"
    has_search = b"search" in {m[b"name"] for m in raw.module_list()}
    version = tuple(int(p) for p in str(raw.info("server")["redis_version"]).split(".")[:2])
    rules = acl_rules(prefix, search=has_search, setinfo=version >= (7, 2))
    raw.execute_command("ACL", "SETUSER", user, "reset", "on", ">s3cret", *rules)
    url = redis_url.replace("redis://", f"redis://{user}:s3cret@")
    try:
        with RedisStore.from_conn_string(url, prefix=prefix, index=index_config(fields=["text"])) as s:
            s.put(("a", "b"), "k", {"text": "green tea"}, ttl=5)
            s.put(("a",), "j", {"text": "coffee"})
            before = list(s.export_items())
            buffer = io.StringIO()
            assert s.snapshot(("a",), buffer) == {"items": 2, "namespaces": 2}
            assert s.clear(("a",)) == 2
            buffer.seek(0)
            assert s.restore(buffer)["new"] == 2
            after = list(s.export_items())
            assert [(i.namespace, i.key, i.value, i.created_us, i.vectors) for i in after] == [
                (i.namespace, i.key, i.value, i.created_us, i.vectors) for i in before
            ]
            assert s.search(("a",), query="tea", limit=1)[0].key == "k"
    finally:
        raw.execute_command("ACL", "DELUSER", user)
        purge_store(redis_url, prefix)
