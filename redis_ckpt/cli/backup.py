"""`export` and `import`: a streamed JSON-lines copy of threads, values byte for byte."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import IO

import click
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from redis_ckpt.cli import backup_format as fmt
from redis_ckpt.cli.app import env, json_option, prepare
from redis_ckpt.cli.progress import progress
from redis_ckpt.cli.rawput import PassThroughSerde, RawWrite, put_raw, put_raw_writes
from redis_ckpt.format.checkpoint_codec import complete_checkpoint
from redis_ckpt.sync import RedisSaver

PAGE = 50  # checkpoints read per round trip


def export_lines(saver: RedisSaver, threads: Iterable[str], counts: dict[str, int]) -> Iterable[str]:
    """Header, one line per checkpoint (newest first per namespace), end line: constant memory.
    `counts` gets the totals the end line states."""
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    yield fmt.header(now, saver.layout.prefix, saver.layout.write_prefix)
    counts.update(checkpoints=0, threads=0)
    for thread_id in threads:
        before = counts["checkpoints"]
        for ns in saver.namespaces(thread_id):
            for entry in saver.stored_checkpoints(thread_id, ns, page=PAGE):
                counts["checkpoints"] += 1
                # The body may leave the checkpoint's id and versions to its document: put them back.
                entry = entry._replace(checkpoint=complete_checkpoint(saver.serde, entry))
                yield fmt.checkpoint_line(thread_id, ns, entry)
        counts["threads"] += counts["checkpoints"] > before
    yield fmt.end(counts["checkpoints"], counts["threads"])


@click.command("export")
@click.argument("thread_ids", nargs=-1)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@json_option
@click.pass_context
def export(ctx: click.Context, thread_ids: tuple[str, ...], output: str | None) -> None:
    """Write threads (default: all) as JSON lines; values keep their serializer bytes."""
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
        for line in export_lines(saver, threads, counts):
            click.echo(line)
        return
    with open(output, "w", encoding="utf-8") as out, progress(not e.json, "exporting") as advance:
        for line in export_lines(saver, threads, counts):
            out.write(line + "\n")
            advance(1)
    e.emit(counts, lambda c: c.print(f"exported {counts['checkpoints']} checkpoints of {counts['threads']} threads"))


@click.command("import")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@json_option
@click.pass_context
def import_(ctx: click.Context, source: IO[str]) -> None:
    """Read an export (file or stdin) and write it through the saver, ids and bytes kept.
    Idempotent: importing the same file again changes nothing."""
    e = env(ctx)
    decoder = JsonPlusSerializer()
    base = e.saver()
    saver = RedisSaver(
        redis_client=base.client,
        checkpoint_prefix=e.prefix,
        checkpoint_write_prefix=e.write_prefix,
        ttl=e.ttl,
        serde=PassThroughSerde(decoder),  # type: ignore[arg-type]
    )
    prepare(saver)
    first = source.readline()
    try:
        fmt.parse_header(first)
    except fmt.FormatError as exc:
        raise click.ClickException(f"{getattr(source, 'name', 'input')}: {exc}") from None
    imported, threads, gaps, ended = 0, set(), 0, None
    with progress(not e.json, "importing") as advance:
        for number, line in enumerate(source, start=2):
            if not line.strip():
                continue
            try:
                item = fmt.parse_line(line, number)
            except fmt.FormatError as exc:
                raise click.ClickException(f"{exc} ({imported} checkpoints imported before it)") from None
            if isinstance(item, dict):
                ended = item
                break
            where = (item.thread_id, item.ns, item.checkpoint_id, item.parent_id)
            writes = [RawWrite(w.task_id, w.idx, w.task_path, w.channel, w.value) for w in item.writes]
            # Writes first: a checkpoint that exists has its writes (an interrupted import resumes safely).
            gaps += put_raw_writes(saver, item.thread_id, item.ns, item.checkpoint_id, writes)
            put_raw(saver, decoder, where, item.checkpoint, item.metadata, item.values)
            imported += 1
            threads.add(item.thread_id)
            advance(1)
    if ended is None:
        raise click.ClickException(f"the export is cut short (no end line); {imported} checkpoints were imported")
    if ended.get("checkpoints") != imported:
        raise click.ClickException(f"the end line says {ended.get('checkpoints')} checkpoints, {imported} were read")
    data = {"checkpoints": imported, "threads": len(threads), "tasks_renumbered": gaps}
    e.emit(data, lambda out: out.print(f"imported {imported} checkpoints of {len(threads)} threads", markup=False))


def register(group: click.Group) -> None:
    group.add_command(export)
    group.add_command(import_)
