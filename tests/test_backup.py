"""`redis-ckpt export` / `import` keep deduplication (issue 22): the default export writes each chunk
once per thread, import puts checkpoints as LangGraph's own puts did, so a chat's file stays about
its size in Redis and the copy takes about the original's bytes; damaged files fail with a typed
error before anything of the checkpoint concerned is written; files of the previous release
(version 1, newest first) still import, compacted."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from click.testing import CliRunner, Result
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from benchmarks.chat_agent import build_graph, prose, run_turns
from redis_ckpt import RedisSaver
from redis_ckpt.cli import backup_format as fmt
from redis_ckpt.cli import cli
from redis_ckpt.cli.backup import import_export, read_export
from redis_ckpt.cli.rawput import PassThroughSerde
from tests.conftest import fresh_saver, keys_under
from tests.test_cli import raw_entries

DATA = Path(__file__).parent / "data"


def cli_run(url: str, prefix: str, *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, ["--url", url, "--prefix", prefix, "--write-prefix", f"{prefix}_write", *args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def config(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **extra}}


def memory(raw: redis.Redis, prefix: str) -> int:
    """Bytes in Redis under the prefix, as the chat benchmark counts them."""
    return sum(raw.memory_usage(k, samples=0) or 0 for k in keys_under(raw, prefix))


@pytest.fixture
def target(redis_url: str, prefix: str) -> Iterator[RedisSaver]:
    """An empty prefix to import into."""
    with fresh_saver(RedisSaver, redis_url, prefix + "imp") as s:
        yield s


def reviewed_chat(saver: Any, seed: int = 3) -> Any:
    """A chat whose every turn goes through a subgraph (its own namespace) that interrupts for a
    review: messages lists in two namespaces, pending writes and interrupts at every turn."""
    import random

    rng = random.Random(seed)

    def review(state: MessagesState) -> dict[str, Any]:
        verdict = interrupt({"review": state["messages"][-1].id})
        n = len(state["messages"])
        return {"messages": [AIMessage(content=f"{verdict}: " + prose(rng, 300), id=f"review-{n}")]}

    inner = StateGraph(MessagesState)
    inner.add_node("review", review)
    inner.add_edge(START, "review")
    inner.add_edge("review", END)

    def agent(state: MessagesState) -> dict[str, Any]:
        n = len(state["messages"])
        return {"messages": [AIMessage(content=prose(rng, 700), id=f"ai-{n}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("reviewer", inner.compile())
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "reviewer")
    builder.add_edge("reviewer", END)
    return builder.compile(checkpointer=saver)


def run_reviewed(graph: Any, thread_id: str, turns: int, *, leave_interrupted: bool = True) -> None:
    import random

    rng = random.Random(5)
    for turn in range(turns):
        graph.invoke({"messages": [HumanMessage(content=prose(rng, 300), id=f"human-{turn}")]}, config(thread_id))
        if turn < turns - 1 or not leave_interrupted:
            graph.invoke(Command(resume="approved"), config(thread_id))


def every_tuple(saver: RedisSaver, thread_id: str) -> dict[str, list[Any]]:
    """What LangGraph reads of every namespace of the thread: each checkpoint tuple, newest first."""
    return {
        ns: [
            (t.config, t.checkpoint, t.metadata, t.parent_config, t.pending_writes)
            for t in saver.list(config(thread_id, checkpoint_ns=ns))
        ]
        for ns in saver.namespaces(thread_id)
    }


def test_round_trip_of_a_chat_with_interrupts_writes_and_a_subgraph(
    saver: RedisSaver, target: RedisSaver, redis_url: str, raw: redis.Redis, tmp_path: Path
) -> None:
    graph = reviewed_chat(saver)
    run_reviewed(graph, "chat", 8)  # the last turn waits on its review
    dump = tmp_path / "chat.jsonl"
    cli_run(redis_url, saver.layout.prefix, "export", "-o", str(dump))
    assert cli_run(redis_url, target.layout.prefix, "import", str(dump), "--json").exit_code == 0
    copy = reviewed_chat(target)
    assert list(copy.get_state_history(config("chat"))) == list(graph.get_state_history(config("chat")))
    assert copy.get_state(config("chat"), subgraphs=True) == graph.get_state(config("chat"), subgraphs=True)
    assert len(saver.namespaces("chat")) > 1  # the subgraph's namespaces came along
    assert every_tuple(target, "chat") == every_tuple(saver, "chat")
    assert raw_entries(target) == raw_entries(saver)
    # The copy holds about the original's bytes, and the interrupted turn resumes there.
    assert memory(raw, target.layout.prefix) <= 1.1 * memory(raw, saver.layout.prefix)
    copy.invoke(Command(resume="approved"), config("chat"))
    assert copy.get_state(config("chat")).values["messages"][-1].content.startswith("approved: ")


def test_chat_export_is_about_its_size_in_redis_and_import_restores_compaction(
    saver: RedisSaver, target: RedisSaver, redis_url: str, raw: redis.Redis, tmp_path: Path
) -> None:
    graph = build_graph(saver)
    run_turns(graph, "chat", 50)
    stored = memory(raw, saver.layout.prefix)
    dump, plain = tmp_path / "chat.jsonl", tmp_path / "plain.jsonl"
    cli_run(redis_url, saver.layout.prefix, "export", "-o", str(dump))
    cli_run(redis_url, saver.layout.prefix, "export", "--plain", "-o", str(plain))
    size = dump.stat().st_size
    assert size <= 1.5 * stored, (size, stored)  # issue 22: was 116x
    assert plain.stat().st_size > 20 * size  # every value whole on every line
    cli_run(redis_url, target.layout.prefix, "import", str(dump))
    imported = memory(raw, target.layout.prefix)
    assert abs(imported - stored) <= 0.1 * stored, (imported, stored)  # was 2.6x
    copy = build_graph(target)
    assert list(copy.get_state_history(config("chat"))) == list(graph.get_state_history(config("chat")))
    # The plain file restores the same compaction.
    with fresh_saver(RedisSaver, redis_url, target.layout.prefix + "p") as from_plain:
        cli_run(redis_url, from_plain.layout.prefix, "import", str(plain))
        assert abs(memory(raw, from_plain.layout.prefix) - stored) <= 0.1 * stored
        assert list(build_graph(from_plain).get_state_history(config("chat"))) == list(
            graph.get_state_history(config("chat"))
        )


def as_previous_release(plain_lines: list[str]) -> list[str]:
    """A version-1 export as the previous release wrote it: no `values` in the header, each
    namespace's checkpoints newest first."""
    header = json.loads(plain_lines[0])
    del header["values"]
    body = plain_lines[1:-1]
    runs: list[list[str]] = []
    for line in body:
        item = json.loads(line)
        key = (item["thread_id"], item["checkpoint_ns"])
        if not runs or runs[-1][0] != key:
            runs.append([key])  # type: ignore[list-item]
        runs[-1].append(line)
    newest_first = [line for run in runs for line in reversed(run[1:])]
    return [json.dumps(header), *newest_first, plain_lines[-1]]


def test_previous_release_files_import_compacted(
    saver: RedisSaver, target: RedisSaver, redis_url: str, raw: redis.Redis, tmp_path: Path
) -> None:
    graph = build_graph(saver)
    run_turns(graph, "chat", 20)
    run_reviewed(reviewed_chat(saver), "reviewed", 3)
    stored = memory(raw, saver.layout.prefix)
    plain = cli_run(redis_url, saver.layout.prefix, "export", "--plain").stdout.splitlines()
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join(as_previous_release(plain)) + "\n")
    # From a file, and from a pipe (put aside on disk, to be read in id order).
    cli_run(redis_url, target.layout.prefix, "import", str(old))
    assert raw_entries(target) == raw_entries(saver)
    assert abs(memory(raw, target.layout.prefix) - stored) <= 0.1 * stored
    with fresh_saver(RedisSaver, redis_url, target.layout.prefix + "pipe") as piped:
        import_source(piped, io.BufferedReader(Pipe(old.read_bytes())))
        assert raw_entries(piped) == raw_entries(saver)
        assert abs(memory(raw, piped.layout.prefix) - stored) <= 0.1 * stored


class Pipe(io.RawIOBase):
    """Bytes that can be read once, in order, as from a pipe: not seekable."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


def test_a_file_written_by_the_previous_release_imports(target: RedisSaver, redis_url: str) -> None:
    """tests/data/export_previous_release.jsonl was written by the release in
    tests/previous_release.txt (a chat, an interrupt, a subgraph, a fan-out of interrupts).
    Everything in it comes back byte for byte."""
    path = DATA / "export_previous_release.jsonl"
    result = cli_run(redis_url, target.layout.prefix, "import", str(path), "--json")
    assert json.loads(result.stdout) == {"checkpoints": 19, "threads": 4, "tasks_renumbered": 0}
    with path.open("rb") as source:
        records = [r for r in read_export(source) if isinstance(r, fmt.Record)]
    entries = raw_entries(target)
    assert sum(map(len, entries.values())) == len(records) == 19
    by_id = {(k, e[0].decode()): e for k, listed in entries.items() for e in listed}
    for record in records:
        entry = by_id[((record.thread_id, record.ns), record.checkpoint_id)]
        assert entry[1] == fmt.stored(record.checkpoint)
        assert entry[2] == fmt.stored(record.metadata)
        assert (entry[3].decode() or None) == record.parent_id
        assert [c.decode() for c in entry[4]] == [c for c, _ in record.values]
        assert entry[5] == [fmt.stored(v) for _, v in record.values]
        assert entry[6] == [(w.task_id, w.idx, w.task_path, w.channel, fmt.stored(w.value)) for w in record.writes]
    # The imported threads work: the interrupted approval resumes.
    from tests.graphs import approval_graph

    assert approval_graph(target).invoke(Command(resume="ok"), config("approval"))["answer"] == "OK"


# -- damaged files ------------------------------------------------------------------------------------
@pytest.fixture
def export_lines(saver: RedisSaver, redis_url: str) -> list[str]:
    run_reviewed(reviewed_chat(saver), "chat", 4)
    return cli_run(redis_url, saver.layout.prefix, "export").stdout.splitlines()


def import_source(target: RedisSaver, source: IO[bytes]) -> dict[str, int]:
    """The library path of `import` (no CLI); raises FormatError."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    decoder = JsonPlusSerializer()
    importer = RedisSaver(
        redis_client=target.client,
        checkpoint_prefix=target.layout.prefix,
        checkpoint_write_prefix=target.layout.write_prefix,
        serde=PassThroughSerde(decoder),  # type: ignore[arg-type]
    )
    counts: dict[str, int] = {}
    ended = import_export(importer, source, decoder, counts)
    assert ended is not None and ended["checkpoints"] == counts["checkpoints"]
    return counts


def import_lines(target: RedisSaver, lines: list[str]) -> dict[str, int]:
    return import_source(target, io.BytesIO(("\n".join(lines) + "\n").encode()))


def checkpoint_numbers(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith('{"id"')]


def namespace_of(lines: list[str], number: int) -> str:
    """The namespace of the checkpoint on line `number` (0-based): the last thread line's before it."""
    return next(
        json.loads(line)["checkpoint_ns"] for line in reversed(lines[:number]) if line.startswith('{"thread_id"')
    )


def stored_at(target: RedisSaver, raw: redis.Redis, lines: list[str], number: int) -> bool:
    """Whether anything of the checkpoint on line `number` is stored: its hash holds its document
    and its pending writes."""
    checkpoint_id = json.loads(lines[number])["id"]
    return bool(raw.exists(target.layout.checkpoint_prefix("chat", namespace_of(lines, number)) + checkpoint_id))


def damage_cases(lines: list[str]) -> dict[str, tuple[list[str], int, str]]:
    """name -> (damaged lines, the first checkpoint that cannot be imported as its 0-based line in
    `lines`, what the error says)."""
    numbers = checkpoint_numbers(lines)
    middle = numbers[len(numbers) // 2]
    chunk = next(i for i in range(middle, 0, -1) if lines[i].startswith('{"c"'))
    needing = next(n for n in numbers if n > chunk)
    flipped_body = json.loads(lines[middle])
    body = flipped_body["body"]
    flipped_body["body"] = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    item = json.loads(lines[chunk])
    raw_chunk = item["c"]
    item["c"] = raw_chunk[:-8] + ("A" if raw_chunk[-8] != "A" else "B") + raw_chunk[-7:]
    return {
        "cut mid-line": ([*lines[:middle], lines[middle][: len(lines[middle]) // 2]], middle, "not JSON"),
        "checkpoint line altered": (
            [*lines[:middle], json.dumps(flipped_body, separators=(",", ":")), *lines[middle + 1 :]],
            middle,
            "checksum",
        ),
        "chunk altered": ([*lines[:chunk], json.dumps(item), *lines[chunk + 1 :]], needing, "chunk"),
        "chunk missing": ([*lines[:chunk], *lines[chunk + 1 :]], needing, "chunk"),
    }


@pytest.mark.parametrize("case", ["cut mid-line", "checkpoint line altered", "chunk altered", "chunk missing"])
def test_a_damaged_export_fails_typed_before_writing_the_checkpoint(
    export_lines: list[str], target: RedisSaver, raw: redis.Redis, redis_url: str, tmp_path: Path, case: str
) -> None:
    damaged, bad, message = damage_cases(export_lines)[case]
    with pytest.raises(fmt.FormatError, match=message):
        import_lines(target, damaged)
    assert not stored_at(target, raw, export_lines, bad)
    # Every checkpoint before it is whole.
    before = [n for n in checkpoint_numbers(export_lines) if n < bad]
    assert len(before) >= 3
    for n in before:
        ns, checkpoint_id = namespace_of(export_lines, n), json.loads(export_lines[n])["id"]
        assert target.get_tuple(config("chat", checkpoint_ns=ns, checkpoint_id=checkpoint_id))
    # The CLI says so in one line, exit code 1.
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(damaged) + "\n")
    with fresh_saver(RedisSaver, redis_url, target.layout.prefix + "cli") as other:
        result = cli_run(redis_url, other.layout.prefix, "import", str(path), ok=False)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
        assert "checkpoints imported before it" in result.output


def test_an_export_cut_at_a_line_end_is_cut_short(
    export_lines: list[str], target: RedisSaver, redis_url: str, tmp_path: Path
) -> None:
    numbers = checkpoint_numbers(export_lines)
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join(export_lines[: numbers[3] + 1]) + "\n")
    result = cli_run(redis_url, target.layout.prefix, "import", str(path), ok=False)
    assert result.exit_code == 1 and "cut short" in result.output and "4 checkpoints were imported" in result.output
    newer = export_lines[0].replace('"version": 2', '"version": 3')
    path.write_text("\n".join([newer, *export_lines[1:]]) + "\n")
    result = cli_run(redis_url, target.layout.prefix, "import", str(path), ok=False)
    assert result.exit_code == 1 and "version 3" in result.output


# -- memory -------------------------------------------------------------------------------------------
def fill_threads(saver: RedisSaver, first: int, count: int) -> None:
    """`count` threads of 3 checkpoints each, a list channel growing in each (chunked values)."""
    from langgraph.checkpoint.base import empty_checkpoint

    for i in range(first, first + count):
        parent: Any = config(f"user-{i:05d}", checkpoint_ns="")
        items: list[str] = []
        version = None
        for step in range(3):
            items = [*items, *(f"thread {i} step {step} item {k} " + "x" * 200 for k in range(4))]
            version = saver.get_next_version(version, None)
            checkpoint = empty_checkpoint()
            checkpoint["channel_values"] = {"items": items}
            checkpoint["channel_versions"] = {"items": version}
            meta: Any = {"source": "loop", "step": step}
            parent = saver.put(parent, checkpoint, meta, {"items": version})


def traced_peak(run: Any, *args: Any) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        run(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def export_all(exporter: RedisSaver, path: Path) -> None:
    from redis_ckpt.cli.backup import export_lines
    from redis_ckpt.redis_io import inventory

    with path.open("w") as out:
        for line in export_lines(exporter, inventory.iter_threads(exporter.client, exporter.layout), {}):
            out.write(line + "\n")


def import_all(into: RedisSaver, path: Path, decoder: Any) -> None:
    with path.open("rb") as source:
        assert import_export(into, source, decoder, {}) is not None


def test_export_and_import_memory_does_not_follow_the_number_of_threads(
    saver: RedisSaver, target: RedisSaver, redis_url: str, tmp_path: Path
) -> None:
    """Ten times the threads, about the same peak (Python allocations, tracemalloc): both stream
    one namespace at a time and make the saver forget each thread once done with it."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    decoder = JsonPlusSerializer()
    peaks: dict[int, tuple[int, int]] = {}
    done = 0
    for count in (40, 400):
        fill_threads(saver, done, count - done)
        done = count
        path = tmp_path / f"{count}.jsonl"
        # A saver that has not written them, as the CLI's (the fixture's wrote them: it knows them).
        with RedisSaver(
            redis_url, checkpoint_prefix=saver.layout.prefix, checkpoint_write_prefix=saver.layout.write_prefix
        ) as exporter:
            exported = traced_peak(export_all, exporter, path)
        with fresh_saver(
            RedisSaver, redis_url, f"{target.layout.prefix}{count}", serde=PassThroughSerde(decoder)
        ) as into:
            peaks[count] = (exported, traced_peak(import_all, into, path, decoder))
            assert len(list(into.list(config("user-00001")))) == 3
    # Per thread more, under 1 KB (bounded caches of key names); a thread's values take ~4 KB, and
    # the saver's caches of chunks and cuts, left to fill, grew the import's peak ~8 KB a thread.
    (export_small, import_small), (export_large, import_large) = peaks[40], peaks[400]
    assert (export_large - export_small) / 360 < 1000, peaks
    assert (import_large - import_small) / 360 < 1000, peaks


def test_an_encrypted_thread_round_trips_sealed_with_the_keys_from_the_environment(
    redis_url: str, prefix: str, raw: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Export decrypts (the file holds values; docs/cli.md says so), import seals again with the
    current key: the copy reads the same and holds no plaintext."""
    import base64
    import os

    from redis_ckpt import Encryption

    key = os.urandom(32)
    monkeypatch.setenv("REDIS_CKPT_ENCRYPTION_KEYS", "k1=" + base64.b64encode(key).decode())
    sealed = Encryption({"k1": key}, require=True)
    with fresh_saver(RedisSaver, redis_url, prefix + "src", encryption=sealed) as source:
        graph = reviewed_chat(source)
        run_reviewed(graph, "chat", 4)
        dump = tmp_path / "chat.jsonl"
        cli_run(redis_url, source.layout.prefix, "export", "-o", str(dump))
        with fresh_saver(RedisSaver, redis_url, prefix + "dst", encryption=sealed) as target:
            cli_run(redis_url, target.layout.prefix, "import", str(dump))
            copy = reviewed_chat(target)
            assert list(copy.get_state_history(config("chat"))) == list(graph.get_state_history(config("chat")))
            marker = graph.get_state(config("chat")).values["messages"][0].content[:24].encode()
            for key_name in keys_under(raw, target.layout.prefix):
                kind = raw.type(key_name)
                if kind == b"hash":
                    assert not any(marker in v for v in raw.hgetall(key_name).values()), key_name
