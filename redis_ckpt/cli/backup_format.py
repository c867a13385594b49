"""The export format (JSON lines, docs/cli.md), as pure functions: stored entries to lines and back.

Line 1 is a header, then one line per checkpoint, then an `end` line with the counts (an export
without it was cut short). Every stored value is kept as the serializer wrote it:
`{"type": <serde type>, "b64": <base64 of the serializer's bytes>}`, so an import writes back
the same bytes, whatever the serializer. Text is ASCII-escaped JSON, so any id survives.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from redis_ckpt.format.checkpoint_codec import raw_writes
from redis_ckpt.format.encoding import pack_typed, text, unpack_typed
from redis_ckpt.format.read_entries import LoadedEntry
from redis_ckpt.store.export_format import FORMAT as STORE_FORMAT

FORMAT = "redis-ckpt/export"
VERSION = 1


class FormatError(ValueError):
    """A line that is not part of a redis-ckpt export (or of a newer version of the format)."""


def typed_json(raw: bytes) -> dict[str, str]:
    type_name, data = unpack_typed(raw)
    return {"type": type_name, "b64": base64.b64encode(data).decode()}


def typed_bytes(value: Any, where: str) -> tuple[str, bytes]:
    try:
        return str(value["type"]), base64.b64decode(value["b64"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{where}: a value must be {{'type': ..., 'b64': ...}} ({exc})") from None


def header(exported_at: str, prefix: str, write_prefix: str) -> str:
    return json.dumps({"format": FORMAT, "version": VERSION, "exported_at": exported_at,
                       "prefix": prefix, "write_prefix": write_prefix})  # fmt: skip


def end(checkpoints: int, threads: int) -> str:
    return json.dumps({"end": True, "checkpoints": checkpoints, "threads": threads})


def checkpoint_line(thread_id: str, ns: str, entry: LoadedEntry) -> str:
    """One loaded entry (its checkpoint complete: `complete_checkpoint`) as a line."""
    return json.dumps(
        {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": text(entry.id),
            "parent_id": text(entry.parent) if entry.parent else None,
            "checkpoint": typed_json(entry.checkpoint),
            "metadata": typed_json(entry.metadata),
            "values": [{"channel": text(ch), "value": typed_json(v)} for ch, v in zip(entry.channels, entry.values)],
            "writes": [
                {"task_id": task, "idx": idx, "task_path": path, "channel": channel, "value": typed_json(value)}
                for task, idx, path, channel, value in raw_writes(entry.writes)
            ],
        },
    )


@dataclass(frozen=True)
class Write:
    task_id: str
    idx: int
    task_path: str
    channel: str
    value: tuple[str, bytes]


@dataclass(frozen=True)
class Record:
    """One checkpoint of an export."""

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: tuple[str, bytes]
    metadata: tuple[str, bytes]
    values: list[tuple[str, tuple[str, bytes]]]
    writes: list[Write]


def parse_header(line: str) -> dict[str, Any]:
    try:
        found = json.loads(line)
    except ValueError:
        found = None
    if isinstance(found, dict) and found.get("format") == STORE_FORMAT:
        raise FormatError("line 1: this is a store export; read it with `redis-ckpt store import`")
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise FormatError("line 1: not a redis-ckpt export (no header)")
    if found.get("version") != VERSION:
        raise FormatError(f"line 1: export format version {found.get('version')!r}; this tool reads {VERSION}")
    return found


def parse_line(line: str, number: int) -> Record | dict[str, Any]:
    """A checkpoint Record, or the end line as a dict."""
    where = f"line {number}"
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise FormatError(f"{where}: not JSON ({exc})") from None
    if not isinstance(item, dict):
        raise FormatError(f"{where}: not a JSON object")
    if item.get("end") is True:
        return item
    try:
        return Record(
            thread_id=str(item["thread_id"]),
            ns=str(item["checkpoint_ns"]),
            checkpoint_id=str(item["checkpoint_id"]),
            parent_id=None if item.get("parent_id") is None else str(item["parent_id"]),
            checkpoint=typed_bytes(item["checkpoint"], where),
            metadata=typed_bytes(item["metadata"], where),
            values=[(str(v["channel"]), typed_bytes(v["value"], where)) for v in item["values"]],
            writes=[
                Write(
                    str(w["task_id"]),
                    int(w["idx"]),
                    str(w["task_path"]),
                    str(w["channel"]),
                    typed_bytes(w["value"], where),
                )
                for w in item["writes"]
            ],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{where}: missing or bad field {exc}") from None


def stored(typed: tuple[str, bytes]) -> bytes:
    """The stored form of a typed value (what `load` entries hold)."""
    return pack_typed(typed)
