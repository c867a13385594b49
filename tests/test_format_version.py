"""The storage format (issue 19; docs/design.md, "Storage format"): the deployment marker, the
namespace stamp, the typed refusal naming both formats, the operator's switch, and the round
trips they cost (none per operation)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from redis_ckpt import AsyncRedisSaver, RedisSaver
from redis_ckpt.cli import cli
from redis_ckpt.errors import FormatTooNewError
from redis_ckpt.format import format_version
from redis_ckpt.sync import saver_maintenance
from tests.conftest import fresh_saver, keys_under, purge_prefix, saver_kwargs
from tests.graphs import delta_graph
from tests.helpers import checkpoint, config, put_chain
from tests.roundtrips import counting

STAMP = format_version.STAMP_FIELD


def snapshot(raw: Any, prefix: str) -> dict[bytes, Any]:
    """Every key under the prefix with its content (DUMP), to compare before and after."""
    return {k: raw.dump(k) for k in keys_under(raw, prefix)}


@pytest.fixture
def other(redis_url: str, prefix: str) -> Iterator[RedisSaver]:
    """A second saver on the same prefix, never set up: it reads the marker before its first write."""
    saver = RedisSaver(redis_url, **saver_kwargs(prefix))
    yield saver
    saver.close()


def test_setup_records_format_1_and_never_replaces_a_marker(saver: RedisSaver, raw: redis.Redis) -> None:
    assert raw.get(saver.layout.format_marker) == b"1"
    raw.set(saver.layout.format_marker, "1")
    saver.setup()
    assert raw.get(saver.layout.format_marker) == b"1"
    assert saver.storage_format() == {"deployment": 1, "reads": [1, 2], "writes": [1, 2]}


def test_the_first_write_records_the_marker_once(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    saver = RedisSaver(redis_url, **saver_kwargs(prefix))
    try:
        saver.client.ping()
        assert saver.storage_format()["deployment"] is None
        with counting() as first:
            ids = put_chain(saver, "t", 1)
        with counting() as second:
            saver.put(config("t", "", ids[0]), checkpoint({"x": 9}, {"x": 9}, step=1), {"step": 1}, {"x": 9})
        assert raw.get(saver.layout.format_marker) == b"1"
        assert (first.count, second.count) == (2, 1)  # one round trip once per saver, then none
    finally:
        saver.close()
        purge_prefix(redis_url, prefix)


def test_a_newer_deployment_marker_refuses_every_write_and_writes_nothing(
    saver: RedisSaver, other: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    ids = put_chain(saver, "t", 3)
    saver.put_writes(config("t", "", ids[-1]), [("x", 1)], "task")
    raw.set(saver.layout.format_marker, "3")
    before = snapshot(raw, prefix)
    writes: list[Any] = [
        lambda: other.put(config("t", "", ids[-1]), checkpoint({"x": 5}, {"x": 5}, step=5), {"step": 5}, {"x": 5}),
        lambda: other.put_writes(config("t", "", ids[-1]), [("y", 2)], "task2"),
        lambda: other.delete_thread("t"),
        lambda: other.prune(["t"], keep_last=1),
        lambda: other.delete_for_runs(["run"]),
        lambda: other.copy_thread("t", "u"),
        other.setup,
    ]
    for write in writes:
        with pytest.raises(FormatTooNewError) as refused:
            write()
        message = str(refused.value)
        assert "storage format 3" in message and "up to 2" in message and "upgrade this worker" in message
        assert (refused.value.found, refused.value.supported) == (3, 2)
    assert snapshot(raw, prefix) == before
    # reads go on: the stamp, not the marker, guards what a namespace holds
    found = other.get_tuple(config("t"))
    assert found is not None and found.checkpoint["id"] == ids[-1]
    assert [t.checkpoint["id"] for t in other.list(config("t"))] == ids[::-1]


def test_an_unparsable_marker_counts_as_newer(other: RedisSaver, raw: redis.Redis) -> None:
    raw.set(other.layout.format_marker, "two")
    with pytest.raises(FormatTooNewError, match="unknown format"):
        other.put_writes(config("t", "", "1"), [("y", 2)], "task")


def test_a_namespace_stamped_newer_refuses_that_namespace_only(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    ids = put_chain(saver, "t", 4)
    saver.put_writes(config("t", "", ids[-1]), [("x", 1)], "task")
    put_chain(saver, "t", 2, ns="child")
    kept = put_chain(saver, "u", 2)
    raw.hset(saver.layout.chunks("t", ""), STAMP, "3")
    before = snapshot(raw, prefix)
    document = saver.layout.checkpoint("t", "", "new")
    refused: list[Any] = [
        lambda: saver.put(config("t", "", ids[-1]), checkpoint({"x": 7}, {"x": 7}, checkpoint_id="new"), {}, {"x": 7}),
        lambda: saver.get_tuple(config("t")),
        lambda: saver.get_tuple(config("t", "", ids[0])),
        lambda: list(saver.list(config("t"))),
        lambda: list(saver.list({"configurable": {"thread_id": "t"}})),
        lambda: saver.get_delta_channel_history(config=config("t"), channels=["x"]),
        lambda: saver.prune(["t"], keep_last=1),  # ('' comes first: it stops there)
        lambda: saver.delete_thread("t"),  # all namespaces of the thread or none
        lambda: saver.copy_thread("t", "v"),
    ]
    for call in refused:
        with pytest.raises(FormatTooNewError) as caught:
            call()
        assert str(caught.value).startswith("thread 't' namespace '' holds storage format 3;")
        assert "reads formats up to 2" in str(caught.value)
    after = snapshot(raw, prefix)
    # a refused put leaves no checkpoint: its plain values, sent before its commit, are unreferenced
    assert not raw.exists(document)
    changed = {k for k in after if after[k] != before.get(k)} | (before.keys() - after.keys())
    assert changed <= {saver.layout.blobs("t", "").encode(), saver.layout.namespaces("t").encode()}
    assert raw.hget(saver.layout.chunks("t", ""), STAMP) == b"3"
    # the other namespace of the thread, and other threads, go on
    assert saver.get_tuple(config("t", "child")) is not None
    assert [t.checkpoint["id"] for t in saver.list(config("u"))] == kept[::-1]
    saver.prune(["u"], keep_last=1)
    saver.delete_thread("u")
    assert saver.get_tuple(config("u")) is None


def test_a_stamp_of_a_format_this_release_reads_is_kept_by_every_collector(
    saver: RedisSaver, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step_gc in (False, True):
        thread = f"t{int(step_gc)}"
        if step_gc:  # a namespace too large for one call: the incremental collection (gc.lua)
            monkeypatch.setattr(saver_maintenance, "ONE_CALL_GC_LIMIT", 1)
        ids = put_chain(saver, thread, 5)
        raw.hset(saver.layout.chunks(thread, ""), STAMP, "1")
        saver.put_writes(config(thread, "", ids[-1]), [("w", ["a" * 300] * 3)], "task")
        saver.prune([thread], keep_last=1)
        assert raw.hget(saver.layout.chunks(thread, ""), STAMP) == b"1"
        found = saver.get_tuple(config(thread))
        assert found is not None and found.checkpoint["id"] == ids[-1]
        saver.delete_thread(thread)
        assert not raw.exists(saver.layout.chunks(thread, ""))  # an emptied namespace holds no format


def test_copy_thread_copies_a_readable_stamp(saver: RedisSaver, raw: redis.Redis) -> None:
    put_chain(saver, "t", 2)
    saver.put_writes(config("t", "", put_chain(saver, "t", 1)[0]), [("w", ["b" * 200] * 2)], "task")
    raw.hset(saver.layout.chunks("t", ""), STAMP, "1")
    saver.copy_thread("t", "u")
    assert raw.hget(saver.layout.chunks("u", ""), STAMP) == b"1"


def test_the_async_saver_refuses_with_the_same_typed_error(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    async def run() -> None:
        with fresh_saver(AsyncRedisSaver, redis_url, prefix) as saver:
            ids = put_chain(saver, "t", 2)
            raw.hset(saver.layout.chunks("t", ""), STAMP, "3")
            with pytest.raises(FormatTooNewError, match="format 3"):
                await saver.aget_tuple(config("t"))
            raw.set(saver.layout.format_marker, "3")
            fresh = AsyncRedisSaver(redis_url, **saver_kwargs(prefix))
            try:
                with pytest.raises(FormatTooNewError, match="format 3"):
                    await fresh.aput_writes(config("u", "", ids[0]), [("y", 1)], "task")
            finally:
                fresh.close()

    asyncio.run(run())


def test_a_graph_on_a_stamped_thread_refuses_before_running(saver: RedisSaver, raw: redis.Redis) -> None:
    graph = delta_graph(saver)
    graph.invoke({"items": []}, {"configurable": {"thread_id": "g"}})
    raw.hset(saver.layout.chunks("g", ""), STAMP, "3")
    with pytest.raises(FormatTooNewError):
        graph.invoke({"items": []}, {"configurable": {"thread_id": "g"}})


def test_the_cli_shows_and_raises_the_format(saver: RedisSaver, raw: redis.Redis, redis_url: str, prefix: str) -> None:
    base = ["--url", redis_url.split("?", 1)[0], "--prefix", prefix, "--write-prefix", f"{prefix}_write"]
    if "cluster=true" in redis_url:
        pytest.skip("the CLI connects to a cluster through one node's URL (test_cli covers that)")
    shown = CliRunner().invoke(cli, [*base, "format", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"deployment": 1' in shown.stdout and '"writes": [1, 2]' in shown.stdout
    assert "ok    storage format: format 1" in CliRunner().invoke(cli, [*base, "doctor"]).stdout
    human = CliRunner().invoke(cli, [*base, "format"])
    assert "storage format 1" in human.stdout and "reads formats 1, 2" in human.stdout
    assert CliRunner().invoke(cli, [*base, "format", "--raise", "1"]).exit_code == 0  # as it is: nothing to ask
    raw.delete(saver.layout.format_marker)
    unasked = CliRunner().invoke(cli, [*base, "format", "--raise", "1"])
    assert unasked.exit_code != 0 and "pass --yes" in unasked.output and not raw.exists(saver.layout.format_marker)
    assert CliRunner().invoke(cli, [*base, "format", "--raise", "1", "--yes"]).exit_code == 0
    assert raw.get(saver.layout.format_marker) == b"1"
    refused = CliRunner().invoke(cli, [*base, "format", "--raise", "3", "--yes"])
    assert refused.exit_code != 0 and "cannot raise the deployment to format 3" in refused.output
    assert CliRunner().invoke(cli, [*base, "format", "--raise", "2", "--yes"]).exit_code == 0
    assert raw.get(saver.layout.format_marker) == b"2"
    lowered = CliRunner().invoke(cli, [*base, "format", "--raise", "1", "--yes"])
    assert lowered.exit_code != 0 and "never lowered" in lowered.output
    assert "storage format 2" in CliRunner().invoke(cli, [*base, "format"]).stdout
    raw.set(saver.layout.format_marker, "3")
    doctor = CliRunner().invoke(cli, [*base, "doctor"])
    assert doctor.exit_code == 1 and "FAIL  storage format: format 3: this release writes 1, 2 only" in doctor.stdout
    assert raw.get(saver.layout.format_marker) == b"3"


def test_the_scripts_know_the_same_stamp_and_formats_as_python() -> None:
    common = (resources.files("redis_ckpt.redis_io") / "lua" / "common.lua").read_text()
    assert "local FORMAT_FIELD = '\\0format'" in common and STAMP == b"\0format"
    readable = ", ".join(f"['{n}'] = true" for n in sorted(format_version.READS))
    assert f"local READS_FORMATS = {{{readable}}}" in common
    for name in ("commit", "load", "delta", "drop", "purge", "gc"):
        source = (resources.files("redis_ckpt.redis_io") / "lua" / f"{name}.lua").read_text()
        assert "format_refusal(" in source, name


def test_parsing_markers_and_refusals() -> None:
    assert format_version.parse(None) is None
    assert format_version.parse(b"1") == 1
    assert format_version.parse(b"0") == format_version.UNKNOWN
    assert format_version.parse("1.0") == format_version.UNKNOWN
    error = redis.ResponseError("REDISCKPT_FORMAT 2 p:chunk:{a b%3Ac}:n%7Bs x")
    refused = format_version.refusal(error)
    assert refused is not None and str(refused).startswith("thread 'a b:c' namespace 'n{s x' holds storage format 2")
    assert format_version.refusal(redis.ResponseError("ERR something else")) is None
