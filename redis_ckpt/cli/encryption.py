"""`reencrypt`: rewrite threads' stored pieces with the current encryption key (key rotation)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from rich.console import Console

from redis_ckpt.cli import render
from redis_ckpt.cli.app import env, json_option
from redis_ckpt.cli.progress import progress
from redis_ckpt.format.encryption import ENV_KEYS


@click.command()
@click.argument("thread_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every thread under the prefix.")
@json_option
@click.pass_context
def reencrypt(ctx: click.Context, thread_ids: tuple[str, ...], every: bool) -> None:
    """Rewrite threads' stored pieces with the current encryption key (plain ones too). Keys come
    from REDIS_CKPT_ENCRYPTION_KEYS="new=<base64>,old=<base64>" (the first, or
    REDIS_CKPT_ENCRYPTION_CURRENT, is current); every key the data uses must be listed. Safe
    while workers read and write."""
    e = env(ctx)
    if bool(thread_ids) == every:
        raise click.UsageError("name threads or pass --all (not both)")
    saver = e.saver()
    if saver.encryption is None:
        raise click.ClickException(f'no encryption keys: set {ENV_KEYS}="id=<base64 key>,..." (the first is current)')
    targets: Iterable[str] = thread_ids or saver.threads()
    rows: list[dict[str, Any]] = []
    with progress(not e.json, "re-encrypting", len(thread_ids) or None) as advance:
        for thread_id in targets:
            advance(1)
            report = saver.reencrypt_thread(thread_id)
            rows.append({"thread_id": thread_id, **vars(report)})
    data = {"current_key": saver.encryption.current, "threads": rows}

    def human(out: Console) -> None:
        if not rows:
            out.print("no thread", markup=False)
            return
        cells = [
            (render.ident(r["thread_id"]), r["rewritten"], r["current"], r["changed"], r["old_documents"]) for r in rows
        ]
        headers = ["thread", "rewritten", "already current", "changed meanwhile", "old plain documents"]
        out.print(render.table(f"key {saver.encryption.current}" if saver.encryption else None, headers, cells))

    e.emit(data, human)


def register(group: click.Group) -> None:
    group.add_command(reencrypt)
