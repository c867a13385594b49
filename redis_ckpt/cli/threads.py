"""`threads` (paged listing, optional sizes) and `stats` (totals, top threads by memory)."""

from __future__ import annotations

import heapq
from dataclasses import asdict
from typing import Any

import click
from rich.console import Console

from redis_ckpt.cli import render
from redis_ckpt.cli.app import env, json_option
from redis_ckpt.cli.progress import progress


@click.command()
@click.option("--cursor", default="0", show_default=True, help="Where to continue (printed by the previous page).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000), help="Threads per page.")
@click.option("--sizes", is_flag=True, help="Also count checkpoints and exact bytes per thread (slower).")
@json_option
@click.pass_context
def threads(ctx: click.Context, cursor: str, limit: int, sizes: bool) -> None:
    """One page of threads (SCAN order; no checkpoint is decoded)."""
    e = env(ctx)
    saver = e.saver()
    page = saver.thread_page(cursor, limit)
    rows: list[dict[str, Any]] = []
    for thread_id in page.threads:
        if sizes:
            found = saver.thread_footprint(thread_id)
            rows.append(asdict(found))
        else:
            rows.append({"thread_id": thread_id})
    data = {"threads": rows, "next_cursor": page.cursor}

    def human(out: Console) -> None:
        if sizes:
            cells = [
                (render.ident(r["thread_id"]), r["namespaces"], r["checkpoints"], render.size(r["bytes"])) for r in rows
            ]
            out.print(render.table(None, ["thread", "ns", "checkpoints", "memory"], cells))
        else:
            for row in rows:
                out.print(render.ident(row["thread_id"]), markup=False)
        if not rows and cursor in ("0", ""):
            out.print(f"no threads under prefix {saver.layout.prefix!r} (wrong --prefix?)", markup=False)
        if page.cursor:
            out.print(f"more: --cursor {page.cursor}", markup=False)

    e.emit(data, human)


@click.command()
@click.option("--top", default=10, show_default=True, type=click.IntRange(0, 10_000), help="Largest threads shown.")
@json_option
@click.pass_context
def stats(ctx: click.Context, top: int) -> None:
    """Totals over every thread, and the largest threads by memory (sizes every key: O(keys))."""
    e = env(ctx)
    saver = e.saver()
    totals = {"threads": 0, "namespaces": 0, "checkpoints": 0, "keys": 0, "bytes": 0}
    largest: list[tuple[int, str, dict[str, Any]]] = []
    with progress(not e.json, "sizing threads") as advance:
        for thread_id in saver.threads():
            found = asdict(saver.thread_footprint(thread_id))
            totals["threads"] += 1
            for name in ("namespaces", "checkpoints", "keys", "bytes"):
                totals[name] += found[name]
            if top:
                item = (found["bytes"], thread_id, found)
                if len(largest) < top:
                    heapq.heappush(largest, item)
                else:
                    heapq.heappushpop(largest, item)
            advance(1)
    ranked = [item[2] for item in sorted(largest, key=lambda i: (-i[0], i[1]))]
    used = saver.client.info("memory").get("used_memory")
    data = {"totals": totals, "top": ranked, "server_used_memory": used}

    def human(out: Console) -> None:
        out.print(
            f"{totals['threads']} threads, {totals['namespaces']} namespaces, {totals['checkpoints']} checkpoints, "
            f"{totals['keys']} keys, {render.size(totals['bytes'])} (server uses {render.size(used)})",
            markup=False,
        )
        if ranked:
            cells = [
                (render.ident(r["thread_id"]), r["namespaces"], r["checkpoints"], render.size(r["bytes"]))
                for r in ranked
            ]
            out.print(render.table(f"top {len(ranked)} by memory", ["thread", "ns", "checkpoints", "memory"], cells))

    e.emit(data, human)


def register(group: click.Group) -> None:
    group.add_command(threads)
    group.add_command(stats)
