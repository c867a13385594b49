"""`redis-ckpt migrate --from langgraph-checkpoint-redis`: data written by the official saver 0.5.2
through real graph runs (interrupts, a subgraph namespace, Sends, pending writes) is migrated,
compared with get_state_history under both savers, and resumed under redis-ckpt."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from redis_ckpt import RedisSaver
from redis_ckpt.cli import cli
from tests.conftest import _Servers, fresh_saver, keys_under, purge_prefix
from tests.graphs import approval_graph, counter_graph, fan_out_graph


class SubState(TypedDict):
    x: str


def parent_graph(checkpointer: Any) -> Any:
    """A node, then a subgraph (its own checkpoint namespace) that interrupts."""
    inner = StateGraph(SubState)
    inner.add_node("inner", lambda s: {"x": s["x"] + "+" + interrupt("inner?")})
    inner.add_edge(START, "inner")
    inner.add_edge("inner", END)
    builder = StateGraph(SubState)
    builder.add_node("pre", lambda s: {"x": s["x"] + "p"})
    builder.add_node("sub", inner.compile())
    builder.add_edge(START, "pre")
    builder.add_edge("pre", "sub")
    builder.add_edge("sub", END)
    return builder.compile(checkpointer=checkpointer)


@pytest.fixture
def search_url(servers: _Servers) -> str:
    """The official saver needs the JSON and Search modules: always the embedded search server."""
    return servers.url("search")


@pytest.fixture
def official(search_url: str, prefix: str) -> Iterator[Any]:
    from langgraph.checkpoint.redis import RedisSaver as OfficialSaver

    saver = OfficialSaver(search_url, checkpoint_prefix=f"{prefix}off", checkpoint_write_prefix=f"{prefix}off_write")
    saver.setup()
    try:
        yield saver
    finally:
        client = redis.Redis.from_url(search_url)
        for index in (f"{prefix}off", f"{prefix}off_write"):
            with contextlib.suppress(redis.ResponseError):
                client.execute_command("FT.DROPINDEX", index)
        purge_prefix(search_url, f"{prefix}off")
        # The official saver's write registry ignores its prefix: its keys name our thread ids.
        for key in client.scan_iter(match=f"write_keys_zset:{prefix}*", count=1000):
            client.delete(key)
        client.close()


@pytest.fixture
def target(search_url: str, prefix: str) -> Iterator[RedisSaver]:
    with fresh_saver(RedisSaver, search_url, f"{prefix}rc") as saver:
        yield saver


def migrate(url: str, prefix: str, *extra: str) -> Result:
    args = ["--url", url, "migrate", "--from", "langgraph-checkpoint-redis", "--source-prefix", f"{prefix}off",
            "--source-write-prefix", f"{prefix}off_write", "--to-prefix", f"{prefix}rc",
            "--to-write-prefix", f"{prefix}rc_write", *extra]  # fmt: skip
    return CliRunner().invoke(cli, args)


def report(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, (result.output, result.exception)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def run_graphs(saver: Any, prefix: str) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The graph of each thread, after real runs that stop at interrupts, and the interrupts
    each run raised."""
    graphs = {
        f"{prefix}:count": counter_graph(saver),
        f"{prefix}:ask": approval_graph(saver),
        f"{prefix}:fan": fan_out_graph(saver),
        f"{prefix}:sub": parent_graph(saver),
    }
    inputs = {
        f"{prefix}:count": {"count": 0, "log": []},
        f"{prefix}:ask": {"request": "deploy", "answer": ""},
        f"{prefix}:fan": {"items": ["a", "b"], "results": []},
        f"{prefix}:sub": {"x": "a"},
    }
    raised = {}
    for thread_id, graph in graphs.items():
        result = graph.invoke(inputs[thread_id], cfg(thread_id))
        raised[thread_id] = [(i.value, i.id) for i in result.get("__interrupt__", [])]
    return graphs, raised


def cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def snapshot(state: Any) -> dict[str, Any]:
    """What get_state_history shows of one checkpoint, comparable across savers."""
    configurable = state.config["configurable"]
    parent = (state.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return {
        "id": configurable["checkpoint_id"],
        "ns": configurable.get("checkpoint_ns", ""),
        "parent": parent,
        "values": state.values,
        "next": state.next,
        "metadata": state.metadata,
        "interrupts": [(i.value, i.id) for i in state.interrupts],
        "tasks": [(t.id, t.name, [(i.value, i.id) for i in t.interrupts]) for t in state.tasks],
    }


def history(graph: Any, thread_id: str) -> list[dict[str, Any]]:
    """get_state_history, each checkpoint read again with get_state (a get_tuple): the official
    saver's sync list() leaves channel values unrevived (a pending Send stays a dict, so its
    history shows no next task), while its get_tuple revives them. And the official
    saver returns every namespace for checkpoint_ns "" (subgraph checkpoints interleave): only the
    root namespace's are the thread's history."""
    states = [snapshot(graph.get_state(s.config)) for s in graph.get_state_history(cfg(thread_id))]
    return [s for s in states if s["ns"] == ""]


def test_migration_keeps_history_and_resumes(official: Any, target: RedisSaver, search_url: str, prefix: str) -> None:
    graphs, raised = run_graphs(official, prefix)
    before = {thread_id: history(graph, thread_id) for thread_id, graph in graphs.items()}
    stored = sum(1 for _ in official.list(None))

    planned = report(migrate(search_url, prefix, "--dry-run", "--json"))
    assert planned["would_migrate"] == planned["checkpoints"] and planned["namespaces"] == 5  # root x4 + subgraph
    assert planned["checkpoints"] >= stored - 0  # the official list() is capped; ours counts documents
    assert keys_under(redis.Redis.from_url(search_url), f"{prefix}rc") == []  # a dry run writes nothing

    done = report(migrate(search_url, prefix, "--json"))
    assert done["migrated"] == done["verified"] == done["checkpoints"] == planned["checkpoints"]
    assert done["writes"] > 0
    # The only issue this data can have: the official saver's race (put in the background, writes
    # first) hides the writes of a checkpoint from its own get_tuple; they are stored, so migrated.
    hidden = {i["checkpoint_id"] for i in done["issues"] if i["kind"] == "writes_hidden_by_source"}
    assert {i["kind"] for i in done["issues"]} <= {"writes_hidden_by_source"}

    # get_state_history under redis-ckpt equals the official saver's, checkpoint by checkpoint
    # (where the official saver hid an interrupt, redis-ckpt shows the one the run raised).
    for thread_id, graph in graphs.items():
        mine = [snapshot(s) for s in graph.copy(update={"checkpointer": target}).get_state_history(cfg(thread_id))]
        assert [s["id"] for s in mine] == [s["id"] for s in before[thread_id]]
        for ours, theirs in zip(mine, before[thread_id]):
            if ours["id"] in hidden and ours["interrupts"] != theirs["interrupts"]:
                assert not theirs["interrupts"] and ours["interrupts"] == raised[thread_id], thread_id
                ours = {**ours, "interrupts": [], "tasks": [(t[0], t[1], []) for t in ours["tasks"]]}
            assert ours == theirs, thread_id

    # Re-running is idempotent: nothing migrated twice, no key added.
    client = redis.Redis.from_url(search_url)
    keys = keys_under(client, f"{prefix}rc")
    again = report(migrate(search_url, prefix, "--json"))
    assert again["migrated"] == 0 and again["skipped"] == done["checkpoints"] and again["verified"] == done["verified"]
    assert keys_under(client, f"{prefix}rc") == keys

    # Resumable: a thread lost from the target (as if the run had stopped) is migrated again.
    target.delete_thread(f"{prefix}:count")
    resumed = report(migrate(search_url, prefix, "--json"))
    assert resumed["migrated"] == len(before[f"{prefix}:count"])

    # Interrupted graphs resume under redis-ckpt.
    mine = {t: g.copy(update={"checkpointer": target}) for t, g in graphs.items()}
    assert mine[f"{prefix}:ask"].invoke(Command(resume="yes"), cfg(f"{prefix}:ask"))["answer"] == "YES"
    assert mine[f"{prefix}:sub"].invoke(Command(resume="ok"), cfg(f"{prefix}:sub"))["x"] == "ap+ok"
    fan = mine[f"{prefix}:fan"]
    interrupts = fan.get_state(cfg(f"{prefix}:fan")).interrupts
    answers = {i.id: f"answer-{i.value[-1]}" for i in interrupts}
    assert sorted(fan.invoke(Command(resume=answers), cfg(f"{prefix}:fan"))["results"]) == ["a=answer-a", "b=answer-b"]


def test_migration_reports_what_the_official_saver_lost(
    official: Any, target: RedisSaver, search_url: str, prefix: str
) -> None:
    thread_id = f"{prefix}:count"
    counter_graph(official).invoke({"count": 0, "log": []}, cfg(thread_id))
    client = redis.Redis.from_url(search_url)
    # A checkpoint document gone while its writes stay (what the official delete_thread's 10,000
    # cap, or a crash between its two writes, leaves behind).
    states = list(counter_graph(official).get_state_history(cfg(thread_id)))
    lost = states[2].config["configurable"]["checkpoint_id"]
    (doc_key,) = [k for k in client.scan_iter(match=f"{prefix}off:*", count=1000) if k.decode().endswith(lost)]
    client.delete(doc_key)
    found = report(migrate(search_url, prefix, "--json"))
    kinds = {(i["kind"], i["checkpoint_id"]) for i in found["issues"]}
    assert ("orphan_writes", lost) in kinds
    assert ("missing_parent", states[1].config["configurable"]["checkpoint_id"]) in kinds
    assert found["migrated"] == len(states) - 1 and found["verified"] == found["migrated"]
    text = migrate(search_url, prefix)
    assert "issue orphan_writes: 1" in text.stdout and "issue missing_parent: 1" in text.stdout


def test_migration_refuses_colliding_prefixes(search_url: str) -> None:
    result = CliRunner().invoke(cli, ["--url", search_url, "migrate", "--from", "langgraph-checkpoint-redis"])
    assert result.exit_code == 2 and "--to-prefix" in result.output


def test_migration_to_another_db(official: Any, search_url: str, prefix: str) -> None:
    """The official saver's default prefixes are redis-ckpt's too: another db (or server) avoids
    the collision. RediSearch has no index outside db 0; the saver works without it."""
    thread_id = f"{prefix}:count"
    counter_graph(official).invoke({"count": 0, "log": []}, cfg(thread_id))
    other_db = search_url + "/1"
    args = ["--url", search_url, "--prefix", prefix, "--write-prefix", f"{prefix}_write", "migrate", "--from",
            "langgraph-checkpoint-redis", "--source-prefix", f"{prefix}off", "--source-write-prefix",
            f"{prefix}off_write", "--to-url", other_db, "--json"]  # fmt: skip
    try:
        done = report(CliRunner().invoke(cli, args))
        assert done["migrated"] == done["verified"] == 5 and done["target"]["url"] == other_db
        with RedisSaver.from_conn_string(
            other_db, checkpoint_prefix=prefix, checkpoint_write_prefix=f"{prefix}_write"
        ) as s:
            assert counter_graph(s).get_state(cfg(thread_id)).values == {"count": 3, "log": ["n0", "n1", "n2"]}
    finally:
        purge_prefix(other_db, prefix)
