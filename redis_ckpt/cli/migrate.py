"""`migrate --from langgraph-checkpoint-redis`: copy the official saver's data into redis-ckpt.

Ids are kept. Per (thread, ns), checkpoints go oldest first, each one's writes before it, so a
checkpoint present in the target is complete: a re-run skips it (resumable, idempotent). Each
(thread, ns) is then verified: every source checkpoint read back through the saver and compared.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import click
from rich.console import Console

from redis_ckpt.cli import official
from redis_ckpt.cli.app import env, json_option, prepare
from redis_ckpt.cli.progress import progress
from redis_ckpt.redis_io.connection import redact_url
from redis_ckpt.sync import RedisSaver

SOURCES = ("langgraph-checkpoint-redis",)


def _existing(saver: RedisSaver, thread_id: str, ns: str) -> set[str]:
    return set(saver.checkpoint_ids(thread_id, ns))


def write_checkpoint(saver: RedisSaver, source: official.SourceCheckpoint) -> None:
    """Writes first, then the checkpoint (whose presence marks the pair as migrated)."""
    config = {"configurable": {"thread_id": source.thread_id, "checkpoint_ns": source.ns,
                               "checkpoint_id": source.checkpoint_id}}  # fmt: skip
    by_task: dict[tuple[str, str], list[tuple[int, str, Any]]] = {}
    for task_id, task_path, idx, channel, value in source.writes:
        by_task.setdefault((task_id, task_path), []).append((idx, channel, value))
    for (task_id, task_path), writes in by_task.items():
        regular = sorted((w for w in writes if w[0] >= 0), key=lambda w: w[0])
        special = [w for w in writes if w[0] < 0]
        saver.put_writes(config, [(channel, value) for _i, channel, value in regular + special], task_id, task_path)  # type: ignore[arg-type]
    parent: dict[str, Any] = {"thread_id": source.thread_id, "checkpoint_ns": source.ns}
    if source.parent_id:
        parent["checkpoint_id"] = source.parent_id
    versions = dict(source.checkpoint.get("channel_versions") or {})
    saver.put({"configurable": parent}, source.checkpoint, source.metadata, versions)  # type: ignore[arg-type]


def differences(saver: RedisSaver, source: official.SourceCheckpoint) -> list[str]:
    """How the checkpoint read back through redis-ckpt differs from the source ([] = identical)."""
    config = {"configurable": {"thread_id": source.thread_id, "checkpoint_ns": source.ns,
                               "checkpoint_id": source.checkpoint_id}}  # fmt: skip
    found = saver.get_tuple(config)  # type: ignore[arg-type]
    if found is None:
        return ["missing in the target"]
    out = []
    for name in sorted(set(found.checkpoint) | set(source.checkpoint)):
        if found.checkpoint.get(name) != source.checkpoint.get(name):  # type: ignore[misc]
            out.append(f"checkpoint field {name!r} differs")
    if dict(found.metadata) != source.metadata:
        out.append("metadata differs")
    parent = (found.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    if parent != source.parent_id:
        out.append(f"parent {parent!r} != {source.parent_id!r}")
    if list(found.pending_writes or []) != source.pending_writes():
        out.append("pending writes differ")
    return out


@click.command()
@click.option("--from", "source_kind", type=click.Choice(SOURCES), required=True, help="Where the data comes from.")
@click.option(
    "--source-prefix", default="checkpoint", show_default=True, help="The official saver's checkpoint_prefix."
)
@click.option("--source-write-prefix", default="checkpoint_write", show_default=True,
              help="The official saver's checkpoint_write_prefix.")  # fmt: skip
@click.option("--to-url", help="Target Redis (default: --url; another db works: redis://host:6379/1).")
@click.option("--to-prefix", help="Target checkpoint_prefix (default: --prefix).")
@click.option("--to-write-prefix", help="Target checkpoint_write_prefix (default: --write-prefix).")
@click.option("--dry-run", is_flag=True, help="Read and convert everything, report, write nothing.")
@click.option("--no-verify", is_flag=True, help="Skip reading every migrated checkpoint back.")
@json_option
@click.pass_context
def migrate(
    ctx: click.Context, source_kind: str, source_prefix: str, source_write_prefix: str, to_url: str | None,
    to_prefix: str | None, to_write_prefix: str | None, dry_run: bool, no_verify: bool,
) -> None:  # fmt: skip
    """Copy every thread, namespace, checkpoint, metadata and pending write of the official
    saver into redis-ckpt, ids kept. Re-running skips what is done."""
    e = env(ctx)
    target_url = to_url or e.url
    target_prefix, target_write_prefix = to_prefix or e.prefix, to_write_prefix or e.write_prefix
    same_server = target_url == e.url
    if same_server and {target_prefix, target_write_prefix} & {source_prefix, source_write_prefix}:
        raise click.UsageError(
            f"the target prefixes ({target_prefix!r}, {target_write_prefix!r}) are the official saver's on the same "
            f"server ({redact_url(e.url)}); pass --to-prefix/--to-write-prefix (e.g. rc / rc_write) or --to-url "
            "(e.g. another db)"
        )
    source = e.saver()  # a connection to the source server (its saver methods are not used)
    target = e.saver(target_url, target_prefix, target_write_prefix)
    if not dry_run:
        prepare(target)
    docs = official.index_documents(source.client, source_prefix, source_write_prefix)
    reviver = official.Reviver()
    issues: list[official.Issue] = [
        official.Issue("unreadable_document", "?", "?", "?", f"{key}: no readable ids; skipped")
        for key in docs.unreadable
    ]
    counts: Counter[str] = Counter(
        dict.fromkeys(("migrated", "skipped", "would_migrate", "verified", "writes", "unreadable"), 0)
    )
    threads = set()
    with progress(not e.json, "migrating", sum(len(c) for c in docs.checkpoints.values())) as advance:
        for (thread_id, ns), by_id in sorted(docs.checkpoints.items()):
            threads.add(thread_id)
            existing = set() if dry_run else _existing(target, thread_id, ns)
            readable = set()
            ids = sorted(by_id)  # uuid6/uuid1-ordered ids: oldest first
            for checkpoint_id in ids:
                advance(1)
                write_keys = docs.writes.pop((thread_id, ns, checkpoint_id), [])
                doc, *write_docs = official.read_documents(source.client, [by_id[checkpoint_id], *write_keys])
                if not isinstance(doc, dict):
                    counts["unreadable"] += 1
                    continue
                converted = official.convert_checkpoint(thread_id, ns, doc, write_docs, reviver, issues)
                if converted is None:
                    counts["unreadable"] += 1
                    continue
                if converted.parent_id and converted.parent_id not in by_id:
                    detail = f"parent {converted.parent_id} is not stored (pruned or lost)"
                    issues.append(official.Issue("missing_parent", thread_id, ns, checkpoint_id, detail))
                counts["writes"] += len(converted.writes)
                if checkpoint_id in existing:
                    counts["skipped"] += 1
                elif dry_run:
                    counts["would_migrate"] += 1
                else:
                    write_checkpoint(target, converted)
                    counts["migrated"] += 1
                readable.add(checkpoint_id)
                if not dry_run and not no_verify:  # read back now: no checkpoint is held for later
                    diff = differences(target, converted)
                    if diff:
                        detail = "; ".join(diff)
                        issues.append(official.Issue("verification_failed", thread_id, ns, checkpoint_id, detail))
                    else:
                        counts["verified"] += 1
            if not dry_run and not no_verify:
                _verify_ids(target, thread_id, ns, readable, issues)
    for (thread_id, ns, checkpoint_id), keys in sorted(docs.writes.items()):
        detail = f"{len(keys)} write documents without their checkpoint document; not migrated"
        issues.append(official.Issue("orphan_writes", thread_id, ns, checkpoint_id, detail))
    summary = {"dry_run": dry_run, "threads": len(threads), "namespaces": len(docs.checkpoints),
               "checkpoints": sum(len(c) for c in docs.checkpoints.values()), **counts,
               "target": {"url": redact_url(target_url), "prefix": target_prefix, "write_prefix": target_write_prefix},
               "issues": [asdict(i) for i in issues]}  # fmt: skip
    failed = any(i.kind == "verification_failed" for i in issues)

    def human(out: Console) -> None:
        out.print(
            f"{'dry run: ' if dry_run else ''}{summary['checkpoints']} checkpoints in {summary['threads']} threads "
            f"({summary['namespaces']} namespaces): {counts['migrated']} migrated, {counts['skipped']} already there"
            + (f", {counts['would_migrate']} to migrate" if dry_run else "")
            + (f", {counts['verified']} verified" if not dry_run and not no_verify else ""),
            markup=False,
        )
        by_kind = Counter(i.kind for i in issues)
        for kind, n in sorted(by_kind.items()):
            out.print(f"issue {kind}: {n}", markup=False)
        for i in issues[:20]:
            out.print(f"  {i.kind} {i.thread_id!r} ns={i.checkpoint_ns!r} {i.checkpoint_id}: {i.detail}", markup=False)
        if len(issues) > 20:
            out.print(f"  ... {len(issues) - 20} more (--json lists all)", markup=False)

    e.emit(summary, human)
    if failed:
        ctx.exit(1)


def _verify_ids(target: RedisSaver, thread_id: str, ns: str, ids: set[str], issues: list[official.Issue]) -> None:
    """Every readable source checkpoint of one (thread, ns) is in the target."""
    for checkpoint_id in sorted(ids - _existing(target, thread_id, ns)):
        issues.append(official.Issue("verification_failed", thread_id, ns, checkpoint_id, "missing in the target"))


def register(group: click.Group) -> None:
    group.add_command(migrate)
