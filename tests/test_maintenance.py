"""delete_thread, delete_for_runs, copy_thread, prune and TTL: what they keep and what they leave."""

from __future__ import annotations

import contextlib
import time

import pytest
import redis

from redis_ckpt import RedisSaver
from tests.conftest import fresh_saver, keys_under, purge_prefix, saver_kwargs
from tests.helpers import config, put_chain


def _ids(saver: RedisSaver, thread_id: str, ns: str | None = None) -> list[str]:
    cfg = {"configurable": {"thread_id": thread_id, **({"checkpoint_ns": ns} if ns is not None else {})}}
    return [t.config["configurable"]["checkpoint_id"] for t in saver.list(cfg)]


def _thread_keys(raw: redis.Redis, prefix: str, thread_id: str) -> list[bytes]:
    return [k for k in keys_under(raw, prefix) if b"{" + thread_id.encode() + b"}" in k]


def test_delete_thread_leaves_zero_keys_of_the_thread(saver: RedisSaver, raw: redis.Redis, prefix: str) -> None:
    for ns in ("", "child:1"):
        ids = put_chain(saver, "doomed", 5, ns=ns)
        saver.put_writes(config("doomed", ns, ids[-1]), [("c", 1)], "task")
    saver.put_writes(config("doomed", "", "orphan-checkpoint-id"), [("c", 1)], "task")
    put_chain(saver, "kept", 2)
    assert _thread_keys(raw, prefix, "doomed")
    saver.delete_thread("doomed")
    assert _thread_keys(raw, prefix, "doomed") == []
    assert len(_ids(saver, "kept")) == 2
    saver.delete_thread("never-existed")


def test_delete_thread_handles_more_checkpoints_than_one_batch(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    put_chain(saver, "big", 2_500)
    saver.delete_thread("big")
    assert keys_under(raw, prefix) == []


def test_delete_for_runs_removes_matching_checkpoints_their_writes_and_orphaned_values(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    ids = put_chain(saver, "t", 4, metadata=lambda s: {"run_id": "run-a" if s < 2 else "run-b", "step": s})
    for cid in ids:
        saver.put_writes(config("t", "", cid), [("c", cid)], "task")
    put_chain(saver, "u", 2, ns="sub", metadata=lambda s: {"run_id": "run-a", "step": s})
    saver.delete_for_runs(["run-a"])
    assert _ids(saver, "t") == ids[2:][::-1]
    assert _ids(saver, "u") == []
    assert _thread_keys(raw, prefix, "u") == []
    assert saver.get_tuple(config("t", "", ids[0])) is None
    assert not raw.exists(saver.layout.checkpoint("t", "", ids[0]))  # its writes were fields of it
    blob_fields = raw.hkeys(saver.layout.blobs("t", ""))
    assert len(blob_fields) == 2  # x@3 and x@4 remain; x@1 and x@2 were referenced only by deleted ones
    saver.delete_for_runs([])
    saver.delete_for_runs(["no-such-run"])
    assert len(_ids(saver, "t")) == 2


def test_copy_thread_copies_the_whole_chain_every_namespace_and_writes(saver: RedisSaver) -> None:
    ids = put_chain(saver, "src", 3)
    sub = put_chain(saver, "src", 2, ns="child:1")
    saver.put_writes(config("src", "", ids[-1]), [("c", "w")], "task", "path")
    saver.put_writes(config("src", "", "pending-id"), [("c", "early")], "task")
    saver.copy_thread("src", "dst")
    assert _ids(saver, "dst", "") == _ids(saver, "src", "") == ids[::-1]
    assert _ids(saver, "dst", "child:1") == sub[::-1]
    for cid in ids:
        src, dst = saver.get_tuple(config("src", "", cid)), saver.get_tuple(config("dst", "", cid))
        assert dst.checkpoint == src.checkpoint
        assert dst.metadata == src.metadata
        assert dst.pending_writes == src.pending_writes
        assert dst.config["configurable"]["thread_id"] == "dst"
    assert saver.get_tuple(config("dst", "", ids[-1])).parent_config["configurable"]["checkpoint_id"] == ids[-2]
    assert [t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"step": 0})].count("dst") == 2
    saver.copy_thread("nothing", "dst2")
    assert _ids(saver, "dst2") == []


def test_prune_keep_last_keeps_the_newest_per_namespace_with_their_writes(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    ids = put_chain(saver, "t", 6)
    sub = put_chain(saver, "t", 4, ns="child:1")
    for cid in ids:
        saver.put_writes(config("t", "", cid), [("c", cid)], "task")
    saver.prune(["t"], keep_last=2)
    assert _ids(saver, "t", "") == ids[-2:][::-1]
    assert _ids(saver, "t", "child:1") == sub[-2:][::-1]
    assert saver.get_tuple(config("t")).pending_writes == [("task", "c", ids[-1])]
    assert sorted(raw.hkeys(saver.layout.blobs("t", ""))) == sorted(
        f"x\0i:{v}".encode() for v in (5, 6)
    )  # values of pruned checkpoints are gone
    # The writes of the kept checkpoints are fields of their hashes; the others went with theirs.
    docs = [k for k in keys_under(raw, prefix) if k.startswith(saver.layout.checkpoint_prefix("t", "").encode())]
    assert sorted(docs) == sorted(saver.layout.checkpoint("t", "", cid).encode() for cid in ids[-2:])
    assert all(raw.hexists(k, b"0:task") for k in docs)
    saver.prune(["t"], strategy="delete")
    assert keys_under(raw, prefix) == []


def test_ttl_is_set_on_every_key_and_expiry_leaves_nothing(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    saver = RedisSaver(redis_url, ttl={"default_ttl": 1 / 60}, **saver_kwargs(prefix))  # one second
    try:
        ids = put_chain(saver, "t", 3, ns="sub")
        saver.put_writes(config("t", "sub", ids[-1]), [("c", 1)], "task")
        keys = keys_under(raw, prefix)
        assert keys and all(0 < raw.ttl(k) <= 1 for k in keys)
        deadline = time.monotonic() + 10
        while keys_under(raw, prefix) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert keys_under(raw, prefix) == []
        assert saver.get_tuple(config("t", "sub")) is None
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


def test_refresh_on_read_keeps_every_key_a_checkpoint_needs_alive(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    saver = RedisSaver(redis_url, ttl={"default_ttl": 1, "refresh_on_read": True}, **saver_kwargs(prefix))
    try:
        ids = put_chain(saver, "t", 2)
        saver.put_writes(config("t", "", ids[-1]), [("c", 1)], "task")
        for key in keys_under(raw, prefix):
            raw.expire(key, 5)
        assert saver.get_tuple(config("t")) is not None
        needed = [
            saver.layout.checkpoint("t", "", ids[-1]),  # its writes among its fields
            saver.layout.index("t", ""),
            saver.layout.blobs("t", ""),
            saver.layout.namespaces("t"),
        ]  # (no writes index: these writes came after their checkpoint)
        assert all(raw.ttl(k) > 50 for k in needed)
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


@pytest.mark.parametrize("ttl", [{"default_ttl": 0}, {"default_ttl": "1"}, {"other": 1}])
def test_bad_ttl_options_are_rejected(redis_url: str, ttl: dict) -> None:
    from redis_ckpt import ConfigurationError

    with pytest.raises(ConfigurationError):
        RedisSaver(redis_url, ttl=ttl)


def test_expired_checkpoints_are_skipped_by_latest_and_list(saver: RedisSaver, raw: redis.Redis) -> None:
    ids = put_chain(saver, "t", 3)
    raw.delete(saver.layout.checkpoint("t", "", ids[-1]))  # as if its TTL ran out first
    assert saver.get_tuple(config("t")).config["configurable"]["checkpoint_id"] == ids[1]
    assert _ids(saver, "t") == ids[:2][::-1]


@pytest.mark.slow
def test_ttl_keeps_the_history_a_delta_channel_is_rebuilt_from(redis_url: str, prefix: str) -> None:
    from tests.graphs import delta_graph

    ttl = 2 / 60  # two seconds
    reader = RedisSaver(redis_url, ttl={"default_ttl": ttl, "refresh_on_read": True}, **saver_kwargs(prefix))
    writer = RedisSaver(redis_url, ttl={"default_ttl": ttl}, **saver_kwargs(prefix))
    try:
        cfg = {"configurable": {"thread_id": "t"}}
        for _ in range(3):  # no snapshot: the state is rebuilt from every write since the start
            delta_graph(writer, rare_snapshots=True).invoke({"items": []}, cfg)
        expected = delta_graph(reader, rare_snapshots=True).get_state(cfg).values["items"]
        assert len(expected) == 6
        # Reads alone (get_state walks the delta history) keep the chain alive past the TTL...
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            assert delta_graph(reader, rare_snapshots=True).get_state(cfg).values["items"] == expected
            time.sleep(0.25)
        # ...and so do writes without any read refresh: each put refreshes the ancestors its delta
        # channels are rebuilt from.
        for _ in range(5):
            time.sleep(0.8)
            delta_graph(writer, rare_snapshots=True).invoke({"items": []}, cfg)
        assert len(delta_graph(writer, rare_snapshots=True).get_state(cfg).values["items"]) == 16
    finally:
        reader.close()
        writer.close()
        purge_prefix(redis_url, prefix)


def test_cross_thread_queries_fall_back_to_a_scan_when_the_index_disappears(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    put_chain(saver, "a", 3, metadata=lambda s: {"step": s, "run_id": f"run-{s}"})
    put_chain(saver, "b", 3, metadata=lambda s: {"step": s, "run_id": f"run-{s}"})
    assert len(list(saver.list(None, filter={"step": 1}))) == 2
    # On a server without the Search module the scan is the only path anyway.
    with contextlib.suppress(redis.ResponseError):
        raw.execute_command("FT.DROPINDEX", f"{prefix}:index")
    assert len(list(saver.list(None, filter={"step": 1}))) == 2
    saver.delete_for_runs(["run-2"])
    assert sorted(t.metadata["step"] for t in saver.list(None)) == [0, 0, 1, 1]


def test_a_resp3_client_serves_every_operation(redis_url: str, prefix: str) -> None:
    resp3 = redis_url + ("&" if "?" in redis_url else "?") + "protocol=3"
    with fresh_saver(RedisSaver, resp3, prefix) as saver:
        client = saver.client
        kwargs = client.get_connection_kwargs() if saver.is_cluster else client.connection_pool.connection_kwargs
        assert kwargs["protocol"] == 3
        put_chain(saver, "a", 3, metadata=lambda s: {"step": s, "run_id": f"run-{s}"})
        put_chain(saver, "b", 3, metadata=lambda s: {"step": s, "run_id": f"run-{s}"})
        saver.put_writes(config("a", "", saver.get_tuple(config("a")).checkpoint["id"]), [("w", 1)], "task")
        assert saver.get_tuple(config("a")).pending_writes == [("task", "w", 1)]
        assert sorted(t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"step": 1})) == ["a", "b"]
        saver.delete_for_runs(["run-2"])
        assert sorted(t.metadata["step"] for t in saver.list(None)) == [0, 0, 1, 1]
        saver.copy_thread("a", "c")
        saver.prune(["c"], keep_last=1)
        assert [t.metadata["step"] for t in saver.list(config("c"))] == [1]
        saver.delete_thread("a")
        assert saver.get_tuple(config("a")) is None


@pytest.mark.slow
def test_metadata_reads_refresh_a_checkpoints_writes_with_it(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    """prune reads only metadata; with refresh_on_read that must keep the pending writes (an
    interrupt, say) alive as long as the checkpoint, not just its document."""
    ttl = {"default_ttl": 2 / 60, "refresh_on_read": True}  # two seconds
    with fresh_saver(RedisSaver, redis_url, prefix, ttl=ttl) as saver:
        cid = put_chain(saver, "t", 1)[0]
        saver.put_writes(config("t", "", cid), [("__interrupt__", "waiting for a human")], "task")
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            saver.prune(["t"], keep_last=1)
            time.sleep(0.4)
        got = saver.get_tuple(config("t"))
        assert got.checkpoint["id"] == cid
        assert got.pending_writes == [("task", "__interrupt__", "waiting for a human")]


@pytest.mark.slow
def test_delta_walks_refresh_every_key_of_the_namespace(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    ttl = {"default_ttl": 2 / 60, "refresh_on_read": True}
    with fresh_saver(RedisSaver, redis_url, prefix, ttl=ttl) as saver:
        ids = put_chain(saver, "t", 3)
        saver.put_writes(config("t", "", ids[0]), [("x", 5)], "task")
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            saver.get_delta_channel_history(config=config("t", "", ids[-1]), channels=["x"])
            time.sleep(0.4)
        # The namespace set and the writes index outlived the TTL too: listing every namespace
        # finds what the walk read (the target and its parent, which holds the seed; the root it
        # never reached expired), and deleting the thread leaves nothing behind.
        assert [t.checkpoint["id"] for t in saver.list({"configurable": {"thread_id": "t"}})] == ids[:0:-1]
        saver.delete_thread("t")
        assert keys_under(raw, prefix) == []
