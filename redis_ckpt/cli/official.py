"""Reading what the official `langgraph-checkpoint-redis` (0.4/0.5) stored, without importing it.

Its data: one RedisJSON document per checkpoint under `<prefix>:` (channel values inline as JSON,
metadata as a JSON string) and one per pending write under `<write prefix>:` (value base64 of the
serializer's bytes). Ids are read from the documents' fields, never parsed from key names
(thread ids may hold `:`). Its serializer wrote JSON with markers (`__bytes__`, `__interrupt__`,
`__send__`, `__delta_snapshot__`) and LangChain constructor envelopes; `Reviver` turns them back
into objects and records what it cannot (kept as plain data, reported).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from langgraph.checkpoint.base import Checkpoint, PendingWrite
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.types import Interrupt, Send

from redis_ckpt.format.encoding import text
from redis_ckpt.format.key_layout import glob_escape

EMPTY_NS = "__empty__"  # the official saver's stand-in for the root namespace ""
EMPTY_ID = "00000000-0000-0000-0000-000000000000"  # ... and for an empty id
JSON_TYPE = "ReJSON-RL"
SCAN_COUNT = 1000


def from_ns(value: str) -> str:
    return "" if value == EMPTY_NS else value


def from_id(value: str) -> str:
    return "" if value == EMPTY_ID else value


@dataclass
class Issue:
    """Something the official saver lost or mangled, or a document that could not be read."""

    kind: str
    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    detail: str


@dataclass
class Reviver:
    """Turns the official serializer's JSON back into objects; `problems` collects what stayed data."""

    serde: JsonPlusSerializer = field(default_factory=JsonPlusSerializer)
    problems: list[str] = field(default_factory=list)

    def revive(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.revive(item) for item in obj]
        if not isinstance(obj, dict):
            return obj
        if obj.get("lc") in (1, 2) and obj.get("type") == "constructor":
            return self._envelope(obj)
        if len(obj) == 1 and "__bytes__" in obj and isinstance(obj["__bytes__"], str):
            try:
                return base64.b64decode(obj["__bytes__"], validate=True)
            except binascii.Error:
                self.problems.append("a __bytes__ marker with invalid base64 was kept as data")
                return obj
        revived = {k: self.revive(v) for k, v in obj.items()}
        if revived.get("__interrupt__") is True and "value" in revived:
            names = {f.name for f in dataclasses.fields(Interrupt)}
            return Interrupt(**{k: v for k, v in revived.items() if k in names})
        if revived.get("__send__") is True and set(revived) == {"__send__", "node", "arg"}:
            return Send(revived["node"], revived["arg"])
        if revived.get("__delta_snapshot__") is True and set(revived) == {"__delta_snapshot__", "value"}:
            return _DeltaSnapshot(revived["value"])
        return revived

    def _envelope(self, obj: dict[str, Any]) -> Any:
        if obj.get("id") == ["builtins", "set"]:
            args = obj.get("args")
            if isinstance(args, list) and len(args) == 1 and isinstance(args[0], list):
                return {self.revive(item) for item in args[0]}
            items = (obj.get("kwargs") or {}).get("__set_items__")
            if isinstance(items, list):
                return set(items)
        # LangChain objects (messages, documents...): the serializer's own reviver and allowlist.
        found = self.serde.loads_typed(("json", orjson.dumps(obj)))
        if found is None or found == obj:
            name = ".".join(map(str, obj.get("id") or ["?"]))
            self.problems.append(f"constructor envelope {name} could not be revived (not allowlisted?); kept as data")
            return obj
        return found

    def value(self, type_name: str, data: bytes) -> Any:
        """A write value: JSON bytes from the official serializer, or anything the base serde reads."""
        if type_name == "json":
            return self.revive(orjson.loads(data))
        return self.serde.loads_typed((type_name, data))


@dataclass
class SourceDocs:
    """Key names of the official saver's documents, grouped by (thread, ns) and checkpoint id.
    Holds key names only (never values), read with SCAN."""

    checkpoints: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    writes: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def _scan_json(client: Any, prefix: str) -> Iterator[list[str]]:
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match=glob_escape(prefix + ":") + "*", count=SCAN_COUNT, _type=JSON_TYPE)
        if keys:
            yield [text(k) for k in keys]
        if int(cursor) == 0:
            return


def _fields(client: Any, keys: list[str], paths: list[str]) -> list[dict[str, Any] | None]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("JSON.GET", key, *paths)
    out: list[dict[str, Any] | None] = []
    for raw in pipe.execute():
        if raw is None:
            out.append(None)
            continue
        found = orjson.loads(raw)
        out.append({p: (v[0] if isinstance(v, list) and v else None) for p, v in found.items()})
    return out


def _identified(client: Any, prefix: str, docs: SourceDocs) -> Iterator[tuple[Any, tuple[str, str, str]]]:
    """(key, (thread, ns, checkpoint id)) of each JSON document under `prefix` that names them;
    the others go to `docs.unreadable`."""
    id_paths = ["$.thread_id", "$.checkpoint_ns", "$.checkpoint_id"]
    for keys in _scan_json(client, prefix):
        for key, found in zip(keys, _fields(client, keys, id_paths)):
            if (
                not found
                or not isinstance(found.get("$.checkpoint_id"), str)
                or not isinstance(found.get("$.thread_id"), str)
            ):
                docs.unreadable.append(key)
                continue
            ns = from_ns(str(found.get("$.checkpoint_ns") or ""))
            yield key, (from_id(found["$.thread_id"]), ns, from_id(found["$.checkpoint_id"]))


def index_documents(client: Any, prefix: str, write_prefix: str) -> SourceDocs:
    """Every checkpoint and write document of the official saver, by its ids."""
    docs = SourceDocs()
    for key, (thread_id, ns, checkpoint_id) in _identified(client, prefix, docs):
        docs.checkpoints.setdefault((thread_id, ns), {})[checkpoint_id] = key
    for key, where in _identified(client, write_prefix, docs):
        docs.writes.setdefault(where, []).append(key)
    return docs


@dataclass
class SourceCheckpoint:
    """One checkpoint of the official saver, as LangGraph objects."""

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: Checkpoint
    metadata: dict[str, Any]
    writes: list[tuple[str, str, int, str, Any]]  # (task_id, task_path, idx, channel, value)

    def pending_writes(self) -> list[PendingWrite]:
        ordered = sorted(self.writes, key=lambda w: (w[1], w[0], w[2]))
        return [(task, channel, value) for task, _path, _idx, channel, value in ordered]


def read_documents(client: Any, keys: list[str]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("JSON.GET", key)
    return [orjson.loads(raw) if raw is not None else None for raw in pipe.execute()]


def convert_checkpoint(
    thread_id: str, ns: str, doc: dict[str, Any], write_docs: list[Any], reviver: Reviver, issues: list[Issue]
) -> SourceCheckpoint | None:
    """A checkpoint document and its write documents as LangGraph objects; None (with an issue)
    when the document cannot be read."""
    checkpoint_id = from_id(str(doc.get("checkpoint_id", "")))

    def issue(kind: str, detail: str) -> None:
        issues.append(Issue(kind, thread_id, ns, checkpoint_id, detail))

    raw = doc.get("checkpoint")
    if isinstance(raw, str):  # older documents held the checkpoint as a JSON string
        raw = orjson.loads(raw)
    if not isinstance(raw, dict) or not checkpoint_id:
        issue("unreadable_checkpoint", "checkpoint document without a checkpoint object or id; skipped")
        return None
    reviver.problems = []
    body = {k: v for k, v in raw.items() if k not in ("type", "pending_sends", "channel_values")}
    sends = raw.get("pending_sends") or []
    if sends:
        issue("pending_sends", f"{len(sends)} pending sends of a pre-v4 checkpoint were not migrated")
    body["channel_values"] = reviver.revive(raw.get("channel_values") or {})
    try:
        metadata_raw = doc.get("metadata") or "{}"
        metadata = reviver.revive(orjson.loads(metadata_raw) if isinstance(metadata_raw, str) else metadata_raw)
    except orjson.JSONDecodeError as exc:
        issue("unreadable_metadata", f"metadata is not JSON ({exc}); migrated as {{}}")
        metadata = {}
    writes = []
    for write in write_docs:
        if not isinstance(write, dict):
            continue
        try:
            blob = write.get("blob")
            data = base64.b64decode(blob) if isinstance(blob, str) else b""
            value = reviver.value(str(write.get("type")), data)
        except Exception as exc:  # a value its own serializer could not read back either
            issue("unreadable_write", f"write to {write.get('channel')!r} of task {write.get('task_id')!r}: {exc}")
            continue
        writes.append((str(write.get("task_id", "")), str(write.get("task_path", "")), int(write.get("idx", 0)),
                       str(write.get("channel", "")), value))  # fmt: skip
    if writes and doc.get("has_writes") is False:
        # The official saver writes a checkpoint in the background while its pending writes may
        # land first; its later document then says has_writes=false and its get_tuple hides them.
        issue(
            "writes_hidden_by_source",
            f"{len(writes)} stored pending writes the official saver does not return "
            "(its has_writes flag is false); migrated, so redis-ckpt shows them",
        )
    for problem in reviver.problems:
        issue("unrevived_value", problem)
    parent = from_id(str(doc.get("parent_checkpoint_id") or "")) or None
    return SourceCheckpoint(thread_id, ns, checkpoint_id, parent, body, metadata, writes)  # type: ignore[arg-type]
