"""A graph compiled with both the saver and the store: memory shared across threads, in sync and
async, across event loops."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict

from redis_ckpt import AsyncRedisSaver, AsyncRedisStore, RedisSaver, RedisStore
from tests.conftest import fresh_saver
from tests.store_helpers import fresh_store, index_config


class ChatState(TypedDict):
    message: str
    recalled: Annotated[list[str], operator.add]


def _namespace(config: RunnableConfig) -> tuple[str, ...]:
    return ("memories", str(config["configurable"]["user_id"]))


def sync_memory_graph(saver: Any, store: Any) -> Any:
    def remember(state: ChatState, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
        namespace = _namespace(config)
        count = len(store.search(namespace, limit=1000))
        store.put(namespace, f"m{count}", {"text": state["message"]})
        best = store.search(namespace, query=state["message"], limit=1)
        return {"recalled": [best[0].value["text"]]}

    builder = StateGraph(ChatState)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=saver, store=store)


def async_memory_graph(saver: Any, store: Any) -> Any:
    async def remember(state: ChatState, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
        namespace = _namespace(config)
        count = len(await store.asearch(namespace, limit=1000))
        await store.aput(namespace, f"m{count}", {"text": state["message"]})
        best = await store.asearch(namespace, query=state["message"], limit=1)
        return {"recalled": [best[0].value["text"]]}

    builder = StateGraph(ChatState)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=saver, store=store)


def cfg(thread: str, user: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "user_id": user}}


@pytest.fixture
def store_prefix(prefix: str) -> str:
    return f"{prefix}s"


@pytest.fixture
def sync_pair(redis_url: str, prefix: str, store_prefix: str) -> Iterator[tuple[RedisSaver, RedisStore]]:
    with (
        fresh_saver(RedisSaver, redis_url, prefix) as saver,
        fresh_store(RedisStore, redis_url, store_prefix, index=index_config(fields=["text"])) as store,
    ):
        yield saver, store


def test_sync_graph_shares_memory_across_threads(sync_pair: tuple[RedisSaver, RedisStore]) -> None:
    saver, store = sync_pair
    graph = sync_memory_graph(saver, store)
    graph.invoke({"message": "I like green tea", "recalled": []}, cfg("t1", "u1"))
    graph.invoke({"message": "my cat is Tom", "recalled": []}, cfg("t1", "u1"))
    out = graph.invoke({"message": "green tea please", "recalled": []}, cfg("t2", "u1"))  # another thread
    assert out["recalled"] == ["green tea please"]
    assert store.keys(("memories", "u1")) == ["m0", "m1", "m2"]
    assert graph.get_state(cfg("t1", "u1")).values["recalled"] == ["I like green tea", "my cat is Tom"]
    graph.invoke({"message": "hello", "recalled": []}, cfg("t3", "u2"))
    assert store.list_namespaces(prefix=("memories",)) == [("memories", "u1"), ("memories", "u2")]


def test_async_graph_across_event_loops(redis_url: str, prefix: str, store_prefix: str) -> None:
    with (
        fresh_saver(AsyncRedisSaver, redis_url, prefix) as saver,
        fresh_store(AsyncRedisStore, redis_url, store_prefix, index=index_config(fields=["text"])) as store,
    ):
        graph = async_memory_graph(saver, store)
        first = asyncio.run(graph.ainvoke({"message": "I like green tea", "recalled": []}, cfg("t1", "u1")))
        # a new event loop for the next run: neither the saver nor the store is bound to the first one
        second = asyncio.run(graph.ainvoke({"message": "tea time", "recalled": []}, cfg("t2", "u1")))
        assert first["recalled"] == ["I like green tea"]
        assert second["recalled"] == ["tea time"]
        assert store.keys(("memories", "u1")) == ["m0", "m1"]

        async def both_threads_at_once() -> list[Any]:
            return await asyncio.gather(
                graph.ainvoke({"message": "a", "recalled": []}, cfg("t3", "u3")),
                graph.ainvoke({"message": "b", "recalled": []}, cfg("t4", "u4")),
            )

        results = asyncio.run(both_threads_at_once())
        assert [r["recalled"] for r in results] == [["a"], ["b"]]
        state = asyncio.run(graph.aget_state(cfg("t1", "u1")))
        assert state.values["recalled"] == ["I like green tea"]


def test_sync_store_serves_an_async_graph(sync_pair: tuple[RedisSaver, RedisStore], redis_url: str) -> None:
    saver, store = sync_pair
    with fresh_saver(AsyncRedisSaver, redis_url, f"{saver.layout.prefix}a") as async_saver:
        graph = async_memory_graph(async_saver, store)
        for message in ("one", "two"):
            asyncio.run(graph.ainvoke({"message": message, "recalled": []}, cfg("t", "u")))
        assert store.keys(("memories", "u")) == ["m0", "m1"]
