"""`prune`, `delete` and `copy`: whole-thread maintenance through the saver's public methods."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable
from typing import Any

import click
from rich.console import Console

from redis_ckpt.cli import render
from redis_ckpt.cli.app import env, json_option
from redis_ckpt.cli.progress import progress
from redis_ckpt.sync import RedisSaver


def last_activity(saver: RedisSaver, thread_id: str) -> dt.datetime | None:
    """The newest `ts` over the latest checkpoint of each namespace (one read per namespace)."""
    newest: dt.datetime | None = None
    for ns in saver.namespaces(thread_id):
        for found in saver.list({"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}, limit=1):
            ts = render.parse_ts(found.checkpoint.get("ts"))
            if ts and (newest is None or ts > newest):
                newest = ts
    return newest


@click.command()
@click.argument("thread_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every thread under the prefix.")
@click.option("--keep-last", type=click.IntRange(0), help="Keep the newest N checkpoints of each namespace.")
@click.option(
    "--older-than", help="Only threads idle longer than this (e.g. 7d, 12h); without --keep-last they are deleted."
)
@click.option("--dry-run", is_flag=True, help="Say what would go; change nothing.")
@json_option
@click.pass_context
def prune(
    ctx: click.Context, thread_ids: tuple[str, ...], every: bool, keep_last: int | None, older_than: str | None,
    dry_run: bool,
) -> None:  # fmt: skip
    """Prune threads: keep the newest N checkpoints (plus what DeltaChannels need), or delete idle threads."""
    e = env(ctx)
    if bool(thread_ids) == every:
        raise click.UsageError("name threads or pass --all (not both)")
    if keep_last is None and older_than is None:
        raise click.UsageError("pass --keep-last N, --older-than DURATION, or both")
    try:
        cutoff = dt.datetime.now(dt.timezone.utc) - render.parse_duration(older_than) if older_than else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    saver = e.saver()
    targets: Iterable[str] = thread_ids or saver.threads()
    report: list[dict[str, Any]] = []
    with progress(not e.json, "pruning", len(thread_ids) or None) as advance:
        for thread_id in targets:
            advance(1)
            counts = saver.namespace_counts(thread_id)
            if not counts:
                if thread_ids:
                    report.append({"thread_id": thread_id, "action": "none", "reason": "no such thread"})
                continue
            if cutoff is not None:
                last = last_activity(saver, thread_id)
                if last is not None and last >= cutoff:
                    continue
            before = sum(counts.values())
            if keep_last is not None and keep_last > 0:
                action, doomed = "prune", sum(max(0, n - keep_last) for n in counts.values())
            else:
                action, doomed = "delete", before
            row: dict[str, Any] = {"thread_id": thread_id, "action": action, "checkpoints_before": before}
            if dry_run:
                row["checkpoints_to_remove_at_most"] = doomed
            else:
                if action == "delete":
                    saver.delete_thread(thread_id)
                else:
                    saver.prune([thread_id], keep_last=keep_last or 1)
                row["checkpoints_after"] = sum(saver.namespace_counts(thread_id).values())
            report.append(row)
    data = {"dry_run": dry_run, "threads": report}

    def human(out: Console) -> None:
        if not report:
            out.print("nothing to prune", markup=False)
            return
        last_column = "would remove (at most)" if dry_run else "after"
        key = "checkpoints_to_remove_at_most" if dry_run else "checkpoints_after"
        cells = [
            (render.ident(r["thread_id"]), r["action"], r.get("checkpoints_before", "-"), r.get(key, "-"))
            for r in report
        ]
        out.print(render.table("dry run" if dry_run else None, ["thread", "action", "before", last_column], cells))

    e.emit(data, human)


def _confirm(threads: list[str], counts: dict[str, int]) -> None:
    if not sys.stdin.isatty():
        raise click.ClickException("refusing to delete without confirmation: pass --yes (stdin is not a terminal)")
    listing = ", ".join(f"{render.ident(t)} ({counts[t]} checkpoints)" for t in threads[:5]) + (
        " ..." if len(threads) > 5 else ""
    )
    click.confirm(f"Delete {len(threads)} thread(s): {listing}?", abort=True)


def parse_where(items: tuple[str, ...]) -> dict[str, Any]:
    """`--where key=value` items as a metadata filter: a value that parses as JSON is taken as
    such (`step=3`, `ok=true`, `org={"id":7}`), anything else as text (`user_id=ada`)."""
    found: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE", param_hint="--where")
        try:
            found[key] = json.loads(raw)
        except ValueError:
            found[key] = raw
    return found


@click.command()
@click.argument("thread_ids", nargs=-1)
@click.option(
    "--where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Delete every thread that has a checkpoint whose metadata has KEY = VALUE (JSON if it parses, "
    "else text); repeat to require several. Instead of THREAD ids.",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def delete(ctx: click.Context, thread_ids: tuple[str, ...], where: tuple[str, ...], dry_run: bool, yes: bool) -> None:
    """Delete threads: every checkpoint, write and value, in every namespace. Name them, or pick
    them by checkpoint metadata with --where (e.g. every thread of one user)."""
    if bool(thread_ids) == bool(where):
        raise click.UsageError("name threads, or pick them with --where KEY=VALUE (not both)")
    e = env(ctx)
    saver = e.saver()
    filter_ = parse_where(where)
    if where:
        thread_ids = tuple(saver.delete_threads(filter_, dry_run=True))
    counts = {t: sum(saver.namespace_counts(t).values()) for t in thread_ids}
    # Deleting is idempotent (as delete_thread is): a thread that is not there is reported, and
    # the command still succeeds, so that a retried script or a double click is not an error.
    present = [t for t in dict.fromkeys(thread_ids) if counts[t]]
    missing = [t for t in dict.fromkeys(thread_ids) if not counts[t]]
    if present and not yes and not dry_run:
        _confirm(present, counts)
    if not dry_run:
        for thread_id in present:  # exactly the threads listed (and confirmed), one at a time
            saver.delete_thread(thread_id)
    rows = [{"thread_id": t, "checkpoints": counts[t]} for t in present]
    data: dict[str, Any] = {"would_delete" if dry_run else "deleted": rows, "missing": missing}
    if where:
        data["where"] = filter_

    def human(out: Console) -> None:
        verb = "would delete" if dry_run else "deleted"
        for t in present:
            out.print(f"{verb} {render.ident(t)} ({counts[t]} checkpoints)", markup=False)
        for t in missing:
            out.print(f"no such thread under prefix {saver.layout.prefix!r}: {render.ident(t)}", markup=False)
        if where and not present:
            out.print(f"no thread has a checkpoint matching {json.dumps(filter_)}", markup=False)
        elif where:
            out.print(f"{len(present)} thread(s) {verb}", markup=False)

    e.emit(data, human)


@click.command()
@click.argument("source")
@click.argument("target")
@json_option
@click.pass_context
def copy(ctx: click.Context, source: str, target: str) -> None:
    """Copy a thread (every namespace, checkpoint ids kept) to a new thread id."""
    e = env(ctx)
    saver = e.saver()
    have = sum(saver.namespace_counts(source).values())
    if not have:
        raise click.ClickException(f"no such thread under prefix {saver.layout.prefix!r}: {source!r}")
    existing = sum(saver.namespace_counts(target).values())
    if existing:
        raise click.ClickException(f"target thread {target!r} already has {existing} checkpoints; delete it first")
    saver.copy_thread(source, target)
    copied = sum(saver.namespace_counts(target).values())
    data = {"source": source, "target": target, "checkpoints": copied}
    e.emit(
        data,
        lambda out: out.print(
            f"copied {render.ident(source)} -> {render.ident(target)} ({copied} checkpoints)", markup=False
        ),
    )


def register(group: click.Group) -> None:
    for command in (prune, delete, copy):
        group.add_command(command)
