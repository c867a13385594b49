"""The pytest plugin (redis_ckpt.testing), exercised from separate sample projects with pytester.

Each sample project runs in a subprocess, so it loads the plugin the way a user's project does:
through the installed `pytest11` entry point.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

pytest_plugins = ("pytester",)

GRAPH_TESTS = """
import asyncio, json, os
from typing_extensions import TypedDict
from langgraph.graph import START, END, StateGraph

class S(TypedDict):
    n: int

def build(saver):
    g = StateGraph(S)
    g.add_node("inc", lambda s: {"n": s["n"] + 1})
    g.add_edge(START, "inc")
    g.add_edge("inc", END)
    return g.compile(checkpointer=saver)

def record(saver, url):
    with open(os.environ["PLUGIN_RECORD"], "a") as f:
        f.write(json.dumps({"prefix": saver.layout.prefix, "url": url}) + "\\n")

def test_sync(redis_saver, redis_ckpt_url):
    record(redis_saver, redis_ckpt_url)
    graph = build(redis_saver)
    cfg = {"configurable": {"thread_id": "t1"}}
    assert graph.invoke({"n": 1}, cfg)["n"] == 2
    assert graph.invoke({"n": 10}, cfg)["n"] == 11
    assert len(list(redis_saver.list(cfg))) == 6

def test_async(async_redis_saver, redis_ckpt_url):
    record(async_redis_saver, redis_ckpt_url)
    graph = build(async_redis_saver)
    cfg = {"configurable": {"thread_id": "t1"}}
    assert asyncio.run(graph.ainvoke({"n": 5}, cfg))["n"] == 6
    # A second event loop: the saver binds to none.
    state = asyncio.run(graph.aget_state(cfg))
    assert state.values["n"] == 6

def test_both_faces_in_one_test_share_the_data(redis_saver, async_redis_saver):
    assert redis_saver.layout == async_redis_saver.layout
    cfg = {"configurable": {"thread_id": "t2"}}
    build(redis_saver).invoke({"n": 1}, cfg)
    assert asyncio.run(build(async_redis_saver).aget_state(cfg)).values["n"] == 2
"""


def _records(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def record_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "record.jsonl"
    path.touch()
    monkeypatch.setenv("PLUGIN_RECORD", str(path))
    return path


def test_fixtures_on_redis_url_clean_up_their_keys(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_url: str, record_file: Path
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    pytester.makepyfile(test_graph=GRAPH_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    records = _records(record_file)
    assert {r["url"] for r in records} == {redis_url}
    assert len({r["prefix"] for r in records}) == 2
    client = redis.Redis.from_url(redis_url)
    try:
        for r in records:
            assert list(client.scan_iter(match=f"{r['prefix']}*")) == []
    finally:
        client.close()


def test_embedded_server_by_default_is_stopped_after_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, record_file: Path
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_CKPT_DOCKER", "1")  # no Docker engine here: falls back to the embedded server
    pytester.makepyfile(
        test_modules="""
import os, json, redis
def test_modules(redis_saver, redis_ckpt_url):
    with open(os.environ["PLUGIN_RECORD"], "a") as f:
        f.write(json.dumps({"prefix": redis_saver.layout.prefix, "url": redis_ckpt_url}) + "\\n")
    assert redis_ckpt_url.startswith("redis://127.0.0.1:")
    names = {m[b"name"] for m in redis.Redis.from_url(redis_ckpt_url).module_list()}
    assert {b"search", b"ReJSON"} <= names, names
"""
    )
    pytester.makepyfile(test_graph=GRAPH_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    urls = {r["url"] for r in _records(record_file)}
    assert len(urls) == 1, "one server for the whole session"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(urls.pop(), socket_connect_timeout=1).ping()


def test_ini_option_starts_a_plain_server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    pytester.makeini("[pytest]\nredis_ckpt_modules = false\n")
    pytester.makepyfile(
        test_plain="""
import redis
def test_plain(redis_saver, redis_ckpt_url):
    names = {m[b"name"] for m in redis.Redis.from_url(redis_ckpt_url).module_list()}
    assert not names & {b"search", b"ReJSON"}, names
    redis_saver.setup()
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_project_fixtures_with_common_names_are_untouched(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """A project defining its own `saver`, `redis_url` and `prefix` fixtures (as ours does) keeps them."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    pytester.makeconftest(
        """
import pytest
@pytest.fixture
def redis_url():
    return "project-url"
@pytest.fixture
def saver():
    return "project-saver"
@pytest.fixture
def prefix():
    return "project-prefix"
"""
    )
    pytester.makepyfile(
        test_names="""
def test_both(redis_url, saver, prefix, redis_saver, redis_ckpt_url):
    assert (redis_url, saver, prefix) == ("project-url", "project-saver", "project-prefix")
    assert redis_ckpt_url != redis_url and redis_saver.layout.prefix.startswith("rc")
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_off="def test_off(redis_saver):\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-p", "no:redis_ckpt")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'redis_saver' not found*"])


STORE_GRAPH_TESTS = """
import asyncio
from typing_extensions import TypedDict
from langgraph.graph import START, END, StateGraph
from langgraph.store.base import BaseStore

class S(TypedDict):
    n: int

def build(saver, store):
    def remember(state: S, *, store: BaseStore) -> dict:
        seen = store.get(("users", "u1"), "count")
        total = (seen.value["n"] if seen else 0) + state["n"]
        store.put(("users", "u1"), "count", {"n": total})
        return {"n": total}

    g = StateGraph(S)
    g.add_node("remember", remember)
    g.add_edge(START, "remember")
    g.add_edge("remember", END)
    return g.compile(checkpointer=saver, store=store)

def test_sync(redis_saver, redis_store):
    graph = build(redis_saver, redis_store)
    assert graph.invoke({"n": 2}, {"configurable": {"thread_id": "a"}})["n"] == 2
    assert graph.invoke({"n": 3}, {"configurable": {"thread_id": "b"}})["n"] == 5  # memory across threads
    assert redis_store.get(("users", "u1"), "count").value == {"n": 5}

def test_async_across_event_loops(async_redis_saver, async_redis_store):
    async def remember(state: S, *, store: BaseStore) -> dict:
        seen = await store.aget(("users", "u1"), "count")
        total = (seen.value["n"] if seen else 0) + state["n"]
        await store.aput(("users", "u1"), "count", {"n": total})
        return {"n": total}

    g = StateGraph(S)
    g.add_node("remember", remember)
    g.add_edge(START, "remember")
    g.add_edge("remember", END)
    graph = g.compile(checkpointer=async_redis_saver, store=async_redis_store)
    assert asyncio.run(graph.ainvoke({"n": 1}, {"configurable": {"thread_id": "a"}}))["n"] == 1
    assert asyncio.run(graph.ainvoke({"n": 4}, {"configurable": {"thread_id": "b"}}))["n"] == 5  # another loop
    assert asyncio.run(async_redis_store.aget(("users", "u1"), "count")).value == {"n": 5}
"""


def test_a_graph_with_the_plugins_saver_and_store_runs_sync_and_async(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """issue 13: a graph compiled with both a checkpointer and a store, in the plugin's fixtures."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    pytester.makepyfile(test_store_graph=STORE_GRAPH_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    client = redis.Redis.from_url(redis_url)
    try:
        assert not [k for k in client.scan_iter(match="rc*", count=1000)]  # both fixtures cleaned up
    finally:
        client.close()
