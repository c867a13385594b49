"""`export` and `import`: a streamed JSON-lines copy of threads, values byte for byte, and by
default deduplicated as the saver stores them (backup_format.py)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import click
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from redis_ckpt.cli import backup_format as fmt
from redis_ckpt.cli.app import env, json_option, prepare
from redis_ckpt.cli.progress import progress
from redis_ckpt.cli.rawput import PassThroughSerde, RawWrite, prepare_put, put_prepared, put_raw_writes
from redis_ckpt.format.checkpoint_codec import complete_checkpoint
from redis_ckpt.sync import RedisSaver

PAGE = 50  # checkpoints read per round trip


def export_lines(
    saver: RedisSaver, threads: Iterable[str], counts: dict[str, int], *, plain: bool = False
) -> Iterable[str]:
    """Header, the checkpoints of each (thread, ns) oldest first, end line. Streamed: one
    namespace's chunk digests and last values at a time. `counts` gets the totals the end line
    states. `plain`: version 1, every value whole on every line."""
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    yield fmt.header(now, saver.layout.prefix, saver.layout.write_prefix, fmt.PLAIN if plain else fmt.DEDUPLICATED)
    counts.update(checkpoints=0, threads=0)
    writer = fmt.DedupWriter()
    for thread_id in threads:
        before = counts["checkpoints"]
        for ns in saver.namespaces(thread_id):
            opened = False
            for entry in saver.stored_checkpoints(thread_id, ns, page=PAGE, oldest_first=True):
                counts["checkpoints"] += 1
                if plain:
                    # The body may leave the checkpoint's id and versions to its document: put them back.
                    entry = entry._replace(checkpoint=complete_checkpoint(saver.serde, entry))
                    yield fmt.checkpoint_line(thread_id, ns, entry)
                    continue
                if not opened:
                    yield writer.namespace(thread_id, ns)
                    opened = True
                yield from writer.checkpoint(entry)
        counts["threads"] += counts["checkpoints"] > before
        saver.forget_thread(thread_id)  # read once: what the saver keeps of it would only pile up
    yield fmt.end(counts["checkpoints"], counts["threads"])


def read_export(source: IO[bytes]) -> Iterator[fmt.Record | dict[str, Any]]:
    """The checkpoints of an export (either version) as Records, each (thread, ns) oldest first,
    then its end line as a dict (nothing when the export was cut short). Raises FormatError."""
    found = fmt.parse_header(source.readline())
    if found["version"] == fmt.DEDUPLICATED:
        reader = fmt.DedupReader()
        for number, line in enumerate(source, start=2):
            if line.strip() and (item := reader.read(line, number)) is not None:
                yield item
                if isinstance(item, dict):
                    return
        return
    if source.seekable():
        yield from _plain_records(source)
        return
    with tempfile.TemporaryFile() as spool:  # a pipe: put aside on disk, to read each namespace in id order
        shutil.copyfileobj(source, spool)
        spool.seek(0)
        yield from _plain_records(spool)


def _plain_records(source: IO[bytes]) -> Iterator[fmt.Record | dict[str, Any]]:
    """Version 1 lines, each run of one (thread, ns) sorted by checkpoint id: oldest first, as the
    saver's puts came (earlier releases wrote them newest first). Holds one run's offsets."""
    run: list[tuple[str, int, int]] = []  # (checkpoint id, offset, line number)
    run_key: tuple[str, str] | None = None

    def flush() -> Iterator[fmt.Record | dict[str, Any]]:
        resume = source.tell()
        for _, offset, number in sorted(run):
            source.seek(offset)
            yield fmt.parse_line(source.readline(), number)
        source.seek(resume)
        run.clear()

    number = 1
    while True:
        offset = source.tell()
        line = source.readline()
        if not line:
            yield from flush()
            return
        number += 1
        if not line.strip():
            continue
        key = fmt.line_key(line, number)
        if key is None:  # the end line
            yield from flush()
            yield fmt.parse_line(line, number)
            return
        if key[:2] != run_key:
            yield from flush()
            run_key = key[:2]
        run.append((key[2], offset, number))


def import_export(
    saver: RedisSaver,
    source: IO[bytes],
    decoder: SerializerProtocol,
    counts: dict[str, int],
    advance: Any = None,
) -> dict[str, Any] | None:
    """Write an export's checkpoints through `saver` (which must use a PassThroughSerde over
    `decoder`) as LangGraph's puts would have, oldest first per (thread, ns), so values are
    deduplicated as they were. `counts` follows progress (checkpoints, threads,
    tasks_renumbered); returns the end line, None if there was none (cut short). Raises
    FormatError for a damaged export before writing anything of the checkpoint it concerns (what
    came before it stays imported; importing again is harmless)."""
    counts.update(checkpoints=0, threads=0, tasks_renumbered=0)
    threads: set[str] = set()
    current: tuple[str, str] | None = None
    written: set[tuple[str, str]] = set()
    for item in read_export(source):
        if isinstance(item, dict):
            if current is not None:
                saver.forget_thread(current[0])
            return item
        where = (item.thread_id, item.ns, item.checkpoint_id, item.parent_id)
        try:
            prepared = prepare_put(decoder, where, item.checkpoint, item.metadata, item.values, item.versions)
        except Exception as exc:  # whatever the serializer raises on bytes it cannot read
            raise fmt.FormatError(
                f"line {item.line}: checkpoint {item.checkpoint_id!r} does not decode ({exc}); the export is damaged"
            ) from None
        if (item.thread_id, item.ns) != current:
            if current is not None and current[0] != item.thread_id:
                saver.forget_thread(current[0])  # written once: what the saver keeps of it would only pile up
            current, written = (item.thread_id, item.ns), set()
        writes = [RawWrite(w.task_id, w.idx, w.task_path, w.channel, w.value) for w in item.writes]
        # In LangGraph's order, the checkpoint, then the writes of the tasks run from it (writes of a
        # stored checkpoint need no entry in the writes index). An import stopped between the two
        # leaves it as a run does mid-step; importing again completes it.
        put_prepared(saver, prepared, written)
        counts["tasks_renumbered"] += put_raw_writes(saver, item.thread_id, item.ns, item.checkpoint_id, writes)
        counts["checkpoints"] += 1
        threads.add(item.thread_id)
        counts["threads"] = len(threads)
        if advance is not None:
            advance(1)
    return None


@click.command("export")
@click.argument("thread_ids", nargs=-1)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@click.option(
    "--plain",
    is_flag=True,
    help="Every value whole on every line (format version 1, for reading the file; far larger).",
)
@json_option
@click.pass_context
def export(ctx: click.Context, thread_ids: tuple[str, ...], output: str | None, plain: bool) -> None:
    """Write threads (default: all) as JSON lines; values keep their serializer bytes, and each
    chunk of a list value is written once per thread (unless --plain)."""
    e = env(ctx)
    saver = e.saver()
    missing = [t for t in thread_ids if not saver.namespaces(t)]
    if missing:
        raise click.ClickException(
            f"no such thread under prefix {saver.layout.prefix!r}: {', '.join(map(repr, missing))}"
        )
    threads: Iterable[str] = thread_ids or saver.threads()
    counts: dict[str, int] = {}
    if output is None:  # data on stdout: nothing else goes there
        for line in export_lines(saver, threads, counts, plain=plain):
            click.echo(line)
        return
    with open(output, "w", encoding="utf-8") as out, progress(not e.json, "exporting") as advance:
        for line in export_lines(saver, threads, counts, plain=plain):
            out.write(line + "\n")
            advance(1)
    e.emit(counts, lambda c: c.print(f"exported {counts['checkpoints']} checkpoints of {counts['threads']} threads"))


@click.command("import")
@click.argument("source", type=click.File("rb"), default="-")
@json_option
@click.pass_context
def import_(ctx: click.Context, source: IO[bytes]) -> None:
    """Read an export (file or stdin, either format) and write it through the saver, ids and
    bytes kept, values deduplicated as the saver's own puts store them. Idempotent: importing
    the same file again changes nothing."""
    e = env(ctx)
    decoder = JsonPlusSerializer()
    base = e.saver()
    saver = RedisSaver(
        redis_client=base.client,
        checkpoint_prefix=e.prefix,
        checkpoint_write_prefix=e.write_prefix,
        ttl=e.ttl,
        serde=PassThroughSerde(decoder),  # type: ignore[arg-type]
        encryption=base.encryption,  # sealed again with the current key, as the saver's own puts are
    )
    prepare(saver)
    counts: dict[str, int] = {}
    name = getattr(source, "name", "input")
    with progress(not e.json, "importing") as advance:
        try:
            ended = import_export(saver, source, decoder, counts, advance)
        except fmt.FormatError as exc:
            done = counts.get("checkpoints", 0)
            raise click.ClickException(f"{name}: {exc} ({done} checkpoints imported before it)") from None
    imported = counts["checkpoints"]
    if ended is None:
        raise click.ClickException(f"the export is cut short (no end line); {imported} checkpoints were imported")
    if ended.get("checkpoints") != imported:
        raise click.ClickException(f"the end line says {ended.get('checkpoints')} checkpoints, {imported} were read")
    data = {"checkpoints": imported, "threads": counts["threads"], "tasks_renumbered": counts["tasks_renumbered"]}
    e.emit(data, lambda out: out.print(f"imported {imported} checkpoints of {counts['threads']} threads", markup=False))


def register(group: click.Group) -> None:
    group.add_command(export)
    group.add_command(import_)
