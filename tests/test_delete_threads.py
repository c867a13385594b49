"""delete_threads(filter): every thread of one user or tenant, found by checkpoint metadata, with a
dry run; with and without the Search module, on standalone servers and clusters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from redis_ckpt import AsyncRedisSaver, ConfigurationError, RedisSaver
from tests.conftest import fresh_saver, keys_under
from tests.graphs import counter_graph
from tests.helpers import config, put_chain


def _meta(user: Any, **extra: Any) -> Any:
    return lambda step: {"source": "loop", "step": step, "user_id": user, **extra}


def _fill(saver: RedisSaver) -> None:
    put_chain(saver, "ada-1", 3, metadata=_meta("ada"))
    put_chain(saver, "ada-2", 2, metadata=_meta("ada", org={"id": 7, "tier": "gold"}))
    put_chain(saver, "ada-2", 2, ns="sub:1", metadata=_meta("ada"))
    # Only a subgraph's checkpoints carry the user: the whole thread goes, root namespace included.
    put_chain(saver, "mixed", 2, metadata=_meta(None))
    put_chain(saver, "mixed", 1, ns="inner", metadata=_meta("ada"))
    put_chain(saver, "bob-1", 3, metadata=_meta("bob", org={"id": 7, "tier": "gold"}))
    put_chain(saver, "adam", 2, metadata=_meta("adam"))  # a prefix of "ada" is not "ada"
    put_chain(saver, "number", 1, metadata=_meta(1))


def _threads(saver: RedisSaver) -> set[str]:
    return {found.config["configurable"]["thread_id"] for found in saver.list(None)}


def test_delete_threads_deletes_every_matching_thread_and_nothing_else(
    saver: RedisSaver, raw: redis.Redis, redis_url: str
) -> None:
    saver.setup()
    _fill(saver)
    before = _threads(saver)
    would = saver.delete_threads({"user_id": "ada"}, dry_run=True)
    assert sorted(would) == ["ada-1", "ada-2", "mixed"]
    assert _threads(saver) == before  # a dry run deletes nothing
    assert sorted(saver.delete_threads({"user_id": "ada"})) == ["ada-1", "ada-2", "mixed"]
    assert _threads(saver) == {"bob-1", "adam", "number"}
    for thread_id in ("ada-1", "ada-2", "mixed"):
        assert saver.get_tuple(config(thread_id)) is None
        tag = "{" + thread_id + "}"
        assert not [k for k in keys_under(raw, saver.layout.prefix) if tag.encode() in k]
    assert saver.delete_threads({"user_id": "ada"}) == []  # nothing left to match
    # Nested values and non-string values match by equality, as list(None, filter=...) does.
    assert saver.delete_threads({"org": {"id": 7, "tier": "gold"}}, dry_run=True) == ["bob-1"]
    assert saver.delete_threads({"user_id": 1}) == ["number"]
    assert saver.delete_threads({"user_id": "bob", "org": {"id": 8}}) == []
    assert _threads(saver) == {"bob-1", "adam"}


def test_delete_threads_needs_a_filter(saver: RedisSaver) -> None:
    with pytest.raises(ConfigurationError, match="non-empty filter"):
        saver.delete_threads({})


def test_delete_threads_of_graph_runs_by_run_metadata(saver: RedisSaver) -> None:
    saver.setup()
    graph = counter_graph(saver)
    for thread_id, tenant in (("t1", "acme"), ("t2", "acme"), ("t3", "globex")):
        graph.invoke(
            {"count": 0, "log": []}, {"configurable": {"thread_id": thread_id}, "metadata": {"tenant": tenant}}
        )
    assert sorted(saver.delete_threads({"tenant": "acme"})) == ["t1", "t2"]
    assert _threads(saver) == {"t3"}


def test_adelete_threads(redis_url: str, prefix: str) -> None:
    async def run() -> None:
        with fresh_saver(AsyncRedisSaver, redis_url, prefix) as saver:
            await saver.asetup()
            put_chain(saver, "a", 2, metadata=_meta("ada"))
            put_chain(saver, "b", 2, metadata=_meta("bob"))
            assert await saver.adelete_threads({"user_id": "ada"}, dry_run=True) == ["a"]
            assert await saver.adelete_threads({"user_id": "ada"}) == ["a"]
            assert await saver.aget_tuple(config("a")) is None and await saver.aget_tuple(config("b")) is not None

    asyncio.run(run())
