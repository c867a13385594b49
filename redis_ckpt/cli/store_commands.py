"""`redis-ckpt store ...`: the RedisStore's namespaces, keys, clear, and export/import of
namespace prefixes in the store export format (redis_ckpt/store/export_format.py, docs/cli.md)."""

from __future__ import annotations

import json
import sys
from typing import IO

import click
from rich.console import Console

from redis_ckpt.cli import render
from redis_ckpt.cli.app import CLI_RETRY, env, json_option
from redis_ckpt.store import RedisStore
from redis_ckpt.store.export_format import StoreExportError

PREFIX_KEY = "redis_ckpt.store_prefix"  # in click's ctx.meta, shared by the group and its commands


def parse_namespace(given: str) -> tuple[str, ...]:
    """Labels separated by commas (`users,alice`), or a JSON array for labels holding a comma
    (`'["a,b","c"]'`); the empty string is the root (every namespace)."""
    if given.startswith("["):
        try:
            labels = json.loads(given)
        except ValueError as exc:
            raise click.BadParameter(f"not a JSON array of labels: {exc}") from None
        if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
            raise click.BadParameter("a JSON namespace must be an array of non-empty strings")
        return tuple(labels)
    labels = given.split(",") if given else []
    if any(not label for label in labels):
        raise click.BadParameter(f"empty label in {given!r} (labels are separated by single commas)")
    return tuple(labels)


def _namespace(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    return None if value is None else parse_namespace(value)


def _namespaces(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [parse_namespace(v) for v in value]


def open_store(ctx: click.Context, *, write: bool = False) -> RedisStore:
    """A store on the connection the CLI's options describe (pinged with the saver's one-line errors)."""
    client = env(ctx).saver().client  # closed with the CLI's savers when the command ends
    store = RedisStore(redis_client=client, prefix=ctx.meta.get(PREFIX_KEY, "store"), retry=CLI_RETRY)
    if write:
        store.setup()  # scripts, and the Search indexes where the module exists (db 0 only)
    return store


@click.group("store")
@click.option("--store-prefix", default="store", show_default=True, help="The RedisStore's key prefix (`prefix=`).")
@click.pass_context
def store_group(ctx: click.Context, store_prefix: str) -> None:
    """Long-term memory written by RedisStore: namespaces, keys, clear, export and import.
    A namespace is written `a,b` (labels separated by commas) or as a JSON array `'["a,b","c"]'`."""
    ctx.meta[PREFIX_KEY] = store_prefix


@store_group.command("namespaces")
@click.option("--prefix", "namespace_prefix", default="", callback=_namespace, help="Only under this namespace prefix.")
@json_option
@click.pass_context
def namespaces(ctx: click.Context, namespace_prefix: tuple[str, ...]) -> None:
    """Every namespace holding a live item, sorted."""
    found = open_store(ctx).namespaces(namespace_prefix)

    def human(out: Console) -> None:
        for ns in found:
            out.print(",".join(render.ident(label) for label in ns), markup=False)

    env(ctx).emit([list(ns) for ns in found], human)


@store_group.command("keys")
@click.argument("namespace", callback=_namespace)
@json_option
@click.pass_context
def keys(ctx: click.Context, namespace: tuple[str, ...]) -> None:
    """The keys of the live items of exactly NAMESPACE, sorted."""
    if not namespace:
        raise click.BadParameter("give a namespace (items never live at the root)", param_hint="NAMESPACE")
    found = open_store(ctx).keys(namespace)

    def human(out: Console) -> None:
        for key in found:
            out.print(render.ident(key), markup=False)

    env(ctx).emit(found, human)


@store_group.command("clear")
@click.argument("namespace_prefix", callback=_namespace)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def clear(ctx: click.Context, namespace_prefix: tuple[str, ...], yes: bool) -> None:
    """Delete every item under NAMESPACE_PREFIX (`""` = the whole store)."""
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException("refusing to delete without confirmation: pass --yes (stdin is not a terminal)")
        shown = ",".join(namespace_prefix) or "the whole store"
        click.confirm(f"Delete every item under {shown}?", abort=True)
    deleted = open_store(ctx).clear(namespace_prefix)
    env(ctx).emit({"deleted": deleted}, lambda out: out.print(f"deleted {deleted} items"))


@store_group.command("export")
@click.option(
    "--prefix", "prefixes", multiple=True, callback=_namespaces,
    help="A namespace prefix to export (repeatable; default: the whole store).",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@json_option
@click.pass_context
def export(ctx: click.Context, prefixes: list[tuple[str, ...]], output: str | None) -> None:
    """Write the items under namespace prefixes as JSON lines: value bytes, times, TTLs and vectors kept."""
    store = open_store(ctx)
    chosen = prefixes or [()]
    if output is None:  # data on stdout: nothing else goes there
        store.snapshot(chosen, sys.stdout)
        return
    counts = store.snapshot(chosen, output)
    said = f"exported {counts['items']} items of {counts['namespaces']} namespaces"
    env(ctx).emit(counts, lambda out: out.print(said))


@store_group.command("import")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@json_option
@click.pass_context
def import_(ctx: click.Context, source: IO[str]) -> None:
    """Read a store export (file or stdin) and write its items back as they were.
    Idempotent: importing the same file again adds nothing."""
    store = open_store(ctx, write=True)
    try:
        counts = store.restore(source)
    except StoreExportError as exc:
        raise click.ClickException(f"{getattr(source, 'name', 'input')}: {exc}") from None
    env(ctx).emit(
        counts,
        lambda out: out.print(
            f"imported {counts['items']} items of {counts['namespaces']} namespaces ({counts['new']} new)"
        ),
    )


def register(group: click.Group) -> None:
    group.add_command(store_group)
