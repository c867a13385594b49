"""`history`, `show` and `diff`: one thread's checkpoints, decoded with the saver's serializer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from langgraph.checkpoint.base import CheckpointTuple
from rich.console import Console

from redis_ckpt.cli import render
from redis_ckpt.cli.app import env, json_option
from redis_ckpt.sync import RedisSaver

INTERRUPT = "__interrupt__"
TASKS = "__pregel_tasks"
BRANCH = "branch:to:"


def _newer(version: Any, seen: Any) -> bool:
    if seen is None:
        return True
    try:
        return bool(version > seen)
    except TypeError:  # mixed version types: compare their text
        return str(version) > str(seen)


def _target(channel: str) -> str | None:
    """The node a trigger channel starts: `branch:to:<node>`, or `__start__` for the input."""
    if channel.startswith(BRANCH):
        return channel[len(BRANCH) :]
    return "__start__" if channel == "__start__" else None


def next_nodes(checkpoint: Mapping[str, Any]) -> list[str]:
    """The nodes LangGraph (1.x) runs next, read from the checkpoint alone (no graph needed): the
    targets of the trigger channels the last step updated (`updated_channels`; for checkpoints
    without it, the `branch:to:` channels newer than their node has seen) that still hold a
    value, plus pending Sends."""
    # As LangGraph's own trigger test: a trigger channel counts only while it holds a value. A
    # node that ran consumed its trigger (the channel's version moved on, its value is gone), and
    # update_state writes checkpoints whose `updated_channels` name such consumed channels.
    values = checkpoint.get("channel_values") or {}
    found = set()
    updated = checkpoint.get("updated_channels")
    if updated is not None:
        found = {node for channel in updated if channel in values and (node := _target(channel))}
    else:
        seen = checkpoint.get("versions_seen") or {}
        for channel, version in (checkpoint.get("channel_versions") or {}).items():
            node = _target(channel)
            if (
                node
                and node != "__start__"
                and channel in values
                and _newer(version, (seen.get(node) or {}).get(channel))
            ):
                found.add(node)
    # One task per Send, as in get_state().next: a node sent to twice is listed twice.
    sends = [node for send in values.get(TASKS) or [] if isinstance(node := getattr(send, "node", None), str)]
    return sorted([*found, *sends])


def describe(found: CheckpointTuple) -> dict[str, Any]:
    """Everything `show` prints about one checkpoint, as JSON-safe data."""
    checkpoint = found.checkpoint
    writes = found.pending_writes or []
    interrupts = [value for _task, channel, value in writes if channel == INTERRUPT]
    return {
        "thread_id": found.config["configurable"]["thread_id"],
        "checkpoint_ns": found.config["configurable"].get("checkpoint_ns", ""),
        "checkpoint_id": checkpoint["id"],
        "parent_id": (found.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
        "ts": checkpoint.get("ts"),
        "metadata": render.jsonable(found.metadata),
        "next": next_nodes(checkpoint),
        "values": render.jsonable(dict(checkpoint.get("channel_values") or {})),
        "pending_writes": [
            {"task_id": task, "channel": channel, "value": render.jsonable(value)} for task, channel, value in writes
        ],
        "interrupts": render.jsonable(
            [i for group in interrupts for i in (group if isinstance(group, list) else [group])]
        ),
    }


def diff_values(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What changed channel by channel: added, removed, appended (a list that grew at the end) or
    changed; unchanged channels are left out. Values are JSON-safe."""
    changes: list[dict[str, Any]] = []
    for channel in sorted(set(before) | set(after)):
        a, b = render.jsonable(before.get(channel)), render.jsonable(after.get(channel))
        if channel not in before:
            changes.append({"channel": channel, "change": "added", "after": b})
        elif channel not in after:
            changes.append({"channel": channel, "change": "removed", "before": a})
        elif a == b:
            continue
        elif isinstance(a, list) and isinstance(b, list) and len(b) > len(a) and b[: len(a)] == a:
            changes.append({"channel": channel, "change": "appended", "items": b[len(a) :]})
        else:
            changes.append({"channel": channel, "change": "changed", "before": a, "after": b})
    return changes


def _value_line(value: Any, width: int) -> str:
    """A value on one line: a chat message (or list of them) by role and content, the rest as JSON.
    The table cuts it to what the console leaves."""
    if render.is_message(value):
        return render.message_line(value)
    if render.is_messages(value):
        return " | ".join(render.message_line(m) for m in value)
    return render.short(value, width)


def load(saver: RedisSaver, thread_id: str, ns: str, checkpoint_id: str | None) -> CheckpointTuple:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    found = saver.get_tuple({"configurable": configurable})
    if found is None:
        what = f"checkpoint {checkpoint_id!r}" if checkpoint_id else "no checkpoint"
        raise click.ClickException(
            f"{what} not found in thread {thread_id!r}, namespace {ns!r} under prefix {saver.layout.prefix!r}"
            if checkpoint_id
            else f"thread {thread_id!r} has no checkpoint in namespace {ns!r} under prefix "
            f"{saver.layout.prefix!r} (wrong --prefix or --ns?)"
        )
    return found


ns_option = click.option("--ns", default="", show_default=False, help="Checkpoint namespace (default: root).")


@click.command()
@click.argument("thread_id")
@ns_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="Newest N checkpoints.")
@json_option
@click.pass_context
def history(ctx: click.Context, thread_id: str, ns: str, limit: int) -> None:
    """A thread's checkpoints, newest first."""
    e = env(ctx)
    saver = e.saver()
    rows: list[dict[str, Any]] = []
    for found in saver.list({"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}, limit=limit):
        rows.append(
            {
                "checkpoint_id": found.checkpoint["id"],
                "parent_id": (found.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
                "ts": found.checkpoint.get("ts"),
                "step": found.metadata.get("step"),
                "source": found.metadata.get("source"),
                "next": next_nodes(found.checkpoint),
                "pending_writes": len(found.pending_writes or []),
            }
        )
    if not rows:
        load(saver, thread_id, ns, None)  # raises the "no checkpoint" error

    def human(out: Console) -> None:
        cells = [(r["checkpoint_id"], r["step"], r["source"], r["pending_writes"], ",".join(r["next"])) for r in rows]
        out.print(render.table(None, ["checkpoint", "step", "source", "writes", "next"], cells, keep=1))

    e.emit({"thread_id": thread_id, "checkpoint_ns": ns, "checkpoints": rows}, human)


@click.command()
@click.argument("thread_id")
@click.argument("checkpoint_id", required=False)
@ns_option
@json_option
@click.pass_context
def show(ctx: click.Context, thread_id: str, checkpoint_id: str | None, ns: str) -> None:
    """One checkpoint (default: the latest): values, next nodes, pending writes, interrupts, metadata."""
    e = env(ctx)
    data = describe(load(e.saver(), thread_id, ns, checkpoint_id))

    def human(out: Console) -> None:
        width = out.width
        out.print(f"thread     {render.ident(data['thread_id'])}", markup=False)
        out.print(f"checkpoint {render.ident(data['checkpoint_id'])}  ({render.when(data['ts'])} UTC)", markup=False)
        out.print(f"parent     {render.ident(data['parent_id']) if data['parent_id'] else '-'}", markup=False)
        out.print(f"next       {', '.join(map(render.visible, data['next'])) or '-'}", markup=False)
        out.print(f"metadata   {render.short(data['metadata'], width - 11)}", markup=False)
        chats = {ch: v for ch, v in data["values"].items() if render.is_messages(v)}
        values = [(ch, render.short(v, width)) for ch, v in sorted(data["values"].items()) if ch not in chats]
        if values:
            out.print(render.table("values", ["channel", "value"], values, keep=1))
        for channel, messages in sorted(chats.items()):
            out.print(f"{render.visible(channel)} ({len(messages)} messages)", markup=False)
            for message in messages:
                out.print(render.cut("  " + render.message_line(message), width), markup=False)
        if data["pending_writes"]:
            writes = [(w["task_id"][:12], w["channel"], _value_line(w["value"], width)) for w in data["pending_writes"]]
            out.print(render.table("pending writes", ["task", "channel", "value"], writes, keep=2))
        for item in data["interrupts"]:
            value = item.get("value", item) if isinstance(item, dict) else item
            out.print(f"interrupt  {render.short(value, width - 11)}", markup=False)

    e.emit(data, human)


@click.command()
@click.argument("thread_id")
@click.argument("before_id")
@click.argument("after_id")
@ns_option
@json_option
@click.pass_context
def diff(ctx: click.Context, thread_id: str, before_id: str, after_id: str, ns: str) -> None:
    """What changed between two checkpoints, channel by channel."""
    e = env(ctx)
    saver = e.saver()
    a, b = load(saver, thread_id, ns, before_id), load(saver, thread_id, ns, after_id)
    changes = diff_values(a.checkpoint["channel_values"], b.checkpoint["channel_values"])

    def human(out: Console) -> None:
        if not changes:
            out.print("no channel changed", markup=False)
        width = out.width
        cells = []
        for c in changes:
            new_messages = c.get("items") if c["change"] == "appended" else c.get("after")
            if c["change"] in ("appended", "added") and render.is_messages(new_messages):
                cells += [(c["channel"], c["change"], "+ " + render.message_line(m)) for m in new_messages or []]
                continue
            detail = {
                "added": lambda c: _value_line(c["after"], width),
                "removed": lambda c: _value_line(c["before"], width),
                "appended": lambda c: "+ " + render.short(c["items"], width),
                "changed": lambda c: render.short(c["before"], width // 3) + " -> " + render.short(c["after"], width),
            }[c["change"]](c)
            cells.append((c["channel"], c["change"], detail))
        if cells:
            out.print(render.table(None, ["channel", "change", "detail"], cells, keep=2))

    e.emit({"thread_id": thread_id, "before": before_id, "after": after_id, "changes": changes}, human)


def register(group: click.Group) -> None:
    for command in (history, show, diff):
        group.add_command(command)
