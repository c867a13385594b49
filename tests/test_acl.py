"""A least-privilege ACL user, limited to the saver's key prefix, runs the conformance suite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from langgraph.checkpoint.conformance import checkpointer_test, validate

from redis_ckpt import AsyncRedisSaver
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.redis_io import search
from redis_ckpt.redis_io.acl import acl_rules
from tests.conftest import purge_prefix


@contextlib.contextmanager
def limited_user(redis_url: str, prefix: str, raw: redis.Redis) -> Iterator[str]:
    """The URL of an ACL user with exactly acl_rules(prefix); the user and the prefix's keys are
    deleted afterwards."""
    user = f"ckpt-{prefix}"
    has_search = search.index_state(raw, KeyLayout(prefix)) != search.NO_MODULE
    version = tuple(int(p) for p in str(raw.info("server")["redis_version"]).split(".")[:2])
    rules = acl_rules(prefix, search=has_search, setinfo=version >= (7, 2))
    raw.execute_command("ACL", "SETUSER", user, "reset", "on", ">s3cret", *rules)
    try:
        yield redis_url.replace("redis://", f"redis://{user}:s3cret@")
    finally:
        raw.execute_command("ACL", "DELUSER", user)
        purge_prefix(redis_url, prefix)


def test_a_user_limited_to_the_prefix_and_listed_commands_passes_conformance(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    savers: list[AsyncRedisSaver] = []
    with limited_user(redis_url, prefix, raw) as url:
        limited = redis.Redis.from_url(url)
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.hset("elsewhere", "f", 1)  # outside the prefix
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.flushall()  # not a command the saver needs
        limited.close()

        @checkpointer_test(name="acl")
        async def factory() -> AsyncIterator[Any]:
            saver = AsyncRedisSaver(url, checkpoint_prefix=prefix, checkpoint_write_prefix=f"{prefix}_write")
            await saver.asetup()
            savers.append(saver)
            yield saver

        try:
            report = asyncio.run(validate(factory))
        finally:
            for saver in savers:
                saver.close()
        failures = {name: r.failures for name, r in report.results.items() if r.failures}
        assert report.passed_all() and report.conformance_level() == "FULL", failures
        assert all(r.detected for r in report.results.values())


def test_the_limited_user_runs_an_incremental_collection_and_write_ownership(
    redis_url: str, prefix: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis_ckpt import RedisSaver
    from redis_ckpt.sync import saver_maintenance
    from tests.helpers import checkpoint, config
    from tests.test_dedup import grow, latest_messages, messages

    monkeypatch.setattr(saver_maintenance, "ONE_CALL_GC_LIMIT", 1)
    monkeypatch.setattr(saver_maintenance, "GC_STEP", 3)
    with (
        limited_user(redis_url, prefix, raw) as url,
        RedisSaver(url, checkpoint_prefix=prefix, checkpoint_write_prefix=f"{prefix}_write") as saver,
    ):
        saver.setup()
        grow(saver, "t", 8)
        saver.prune(["t"], keep_last=1)
        assert latest_messages(saver, "t") == messages(8)
        assert len(list(saver.list({"configurable": {"thread_id": "t"}}))) == 1
        saver.delete_thread("t")
        with saver.own("o") as owned:  # write ownership: fenced writes and maintenance
            parent = None
            for n in range(1, 5):
                cp = checkpoint({"messages": messages(n)}, {"messages": n}, step=n)
                saver.put(owned.bind(config("o", "", parent)), cp, {"step": n}, {"messages": n})
                parent = cp["id"]
            saver.put_writes(owned.bind(config("o", "", parent)), [("c", 1)], "task")
            saver.prune(["o"], keep_last=1)
        assert latest_messages(saver, "o") == messages(4)
        saver.delete_thread("o")
