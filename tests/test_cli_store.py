"""`redis-ckpt store ...` driven as a user drives it (click's runner), against real servers with
and without the Search module: export a namespace prefix, import it elsewhere, read back the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from redis_ckpt import RedisSaver, RedisStore
from redis_ckpt.cli import cli
from tests.conftest import fresh_saver
from tests.store_helpers import fresh_store, index_config, purge_store


class StoreCli:
    """Runs `redis-ckpt --url URL store --store-prefix P ...`."""

    def __init__(self, url: str, store_prefix: str) -> None:
        self.url, self.store_prefix = url, store_prefix

    def run(self, *args: str, ok: bool = True, input: str | None = None, url: str | None = None) -> Result:
        argv = ["--url", url or self.url, "store", "--store-prefix", self.store_prefix, *args]
        result = CliRunner().invoke(cli, argv, input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    def json(self, *args: str, url: str | None = None) -> Any:
        return json.loads(self.run(*args, "--json", url=url).stdout)


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    with fresh_store(RedisStore, redis_url, prefix, index=index_config(fields=["text"])) as s:
        s.put(("users", "alice"), "profile", {"text": "likes tea", "nested": {"a": [1, {"b": "ü"}]}})
        s.put(("users", "alice"), "secret", {"text": "not indexed"}, index=False)
        s.put(("users", "bob,jr"), "memo ☕", {"text": "plays chess", "n": 3})
        s.put(("users", "bob,jr", "deep"), "k", {"text": "deeper"}, ttl=60)
        s.put(("teams",), "red", {"text": "outside the export"})
        yield s


def snapshot_of(store: RedisStore, prefix: tuple[str, ...]) -> list[Any]:
    return [
        (i.namespace, i.key, i.value, i.created_us, i.updated_us, i.ttl_ms, i.vectors)
        for i in store.export_items([prefix])
    ]


def test_export_import_round_trip(store: RedisStore, redis_url: str, prefix: str, tmp_path: Path) -> None:
    source, target = StoreCli(redis_url, prefix), StoreCli(redis_url, f"{prefix}c")
    file = tmp_path / "users.jsonl"
    assert source.json("export", "--prefix", "users", "-o", str(file)) == {"items": 4, "namespaces": 3}
    try:
        assert target.json("import", str(file)) == {"items": 4, "new": 4, "namespaces": 3}
        assert target.json("import", str(file)) == {"items": 4, "new": 0, "namespaces": 3}  # adds nothing
        assert target.json("namespaces") == source.json("namespaces", "--prefix", "users")
        assert target.json("namespaces") == [["users", "alice"], ["users", "bob,jr"], ["users", "bob,jr", "deep"]]
        assert target.json("keys", '["users","bob,jr"]') == ["memo ☕"]
        assert target.run("keys", "users,alice").stdout.split() == ["profile", "secret"]
        with fresh_store(RedisStore, redis_url, f"{prefix}c", index=index_config(fields=["text"])) as copy:
            assert snapshot_of(copy, ()) == snapshot_of(store, ("users",))
            assert copy.get(("teams",), "red") is None
            hits = copy.search(("users",), query="chess")
            assert hits[0].key == "memo ☕" and hits == store.search(("users",), query="chess")
    finally:
        purge_store(redis_url, f"{prefix}c")


def test_export_to_stdout_import_from_stdin_into_another_db(store: RedisStore, redis_url: str, prefix: str) -> None:
    """A pipe, into db 1 (where RediSearch builds no index: the store works without it)."""
    cli_ = StoreCli(redis_url, prefix)
    exported = cli_.run("export", "--prefix", "users,alice", "--prefix", "users,bob%2Cjr").stdout
    lines = [json.loads(line) for line in exported.splitlines()]
    assert lines[0]["format"] == "redis-ckpt/store-export" and lines[0]["kind"] == "store"
    assert [line["key"] for line in lines[1:-1]] == ["profile", "secret"]  # no namespace bob%2Cjr exists
    assert lines[-1] == {"end": True, "kind": "store_end", "items": 2, "namespaces": 1}
    db1 = redis_url.rstrip("/") + "/1"
    try:
        result = cli_.run("import", input=exported, url=db1)
        assert "imported 2 items of 1 namespaces (2 new)" in result.stdout
        assert cli_.json("keys", "users,alice", url=db1) == ["profile", "secret"]
        with fresh_store(RedisStore, db1, prefix) as copy:
            assert snapshot_of(copy, ()) == snapshot_of(store, ("users", "alice"))
    finally:
        purge_store(db1, prefix)


def test_clear_asks_unless_yes(store: RedisStore, redis_url: str, prefix: str) -> None:
    cli_ = StoreCli(redis_url, prefix)
    refused = cli_.run("clear", "users", ok=False)
    assert refused.exit_code == 1 and "pass --yes" in refused.output
    assert len(store.search(("users",))) == 4
    assert cli_.json("clear", "users,bob,jr", "--yes") == {"deleted": 0}  # labels "bob" and "jr": no such prefix
    assert cli_.json("clear", '["users","bob,jr"]', "--yes") == {"deleted": 2}
    assert cli_.json("namespaces") == [["teams"], ["users", "alice"]]


def test_errors_are_one_line(store: RedisStore, redis_url: str, prefix: str, tmp_path: Path) -> None:
    cli_ = StoreCli(redis_url, prefix)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = cli_.run("import", str(bad), ok=False)
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        f"Error: {bad}: line 1: not a redis-ckpt store export (no header)"
    ]
    empty_label = cli_.run("keys", "users,,x", ok=False)
    assert empty_label.exit_code == 2 and "empty label" in empty_label.output
    down = cli_.run("namespaces", ok=False, url="redis://127.0.0.1:1")
    assert down.exit_code == 1 and "cannot connect to Redis" in down.output and "Traceback" not in down.output


def test_checkpoint_and_store_exports_cannot_be_confused(
    store: RedisStore, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    checkpoints = f"{prefix}cp"
    with fresh_saver(RedisSaver, redis_url, checkpoints) as saver:
        saver.put(
            {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}},
            {"v": 1, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00+00:00",
             "channel_values": {"x": 1}, "channel_versions": {"x": 1}, "versions_seen": {}},
            {"source": "input", "step": 0},
            {"x": 1},
        )  # fmt: skip
        base = ["--url", redis_url, "--prefix", checkpoints, "--write-prefix", f"{checkpoints}_write"]
        checkpoint_file, store_file = tmp_path / "cp.jsonl", tmp_path / "store.jsonl"
        assert CliRunner().invoke(cli, [*base, "export", "-o", str(checkpoint_file)]).exit_code == 0
        StoreCli(redis_url, prefix).run("export", "-o", str(store_file))
        wrong_way = StoreCli(redis_url, f"{prefix}x").run("import", str(checkpoint_file), ok=False)
        assert (
            wrong_way.exit_code == 1
            and "this is a checkpoint export; read it with `redis-ckpt import`" in wrong_way.output
        )
        other_way = CliRunner().invoke(cli, [*base, "import", str(store_file)])
        assert (
            other_way.exit_code == 1
            and "this is a store export; read it with `redis-ckpt store import`" in other_way.output
        )
        assert StoreCli(redis_url, f"{prefix}x").json("namespaces") == []
