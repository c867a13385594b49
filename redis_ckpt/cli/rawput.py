"""Writing stored values back byte for byte through the saver's public `put` / `put_writes`.

The saver serializes whatever it is given with its serde; `PassThroughSerde` hands back the
bytes of a `Raw` value untouched (and, for the checkpoint and metadata documents, the bytes of
the `Raw` under the `RAW` key), so what is written is exactly what was exported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import WRITES_IDX_MAP
from langgraph.checkpoint.serde.base import SerializerProtocol

from redis_ckpt.format.checkpoint_codec import elide_checkpoint
from redis_ckpt.format.encoding import pack_typed, unpack_typed
from redis_ckpt.sync import RedisSaver

# Marks a document whose serialized form is given. Its value is a plain dict, so the saver's
# metadata search tags ignore it (they tag scalar values only).
RAW = "__redis_ckpt_raw__"


@dataclass(frozen=True)
class Raw:
    """A value already serialized: (serde type, bytes)."""

    type: str
    data: bytes


class PassThroughSerde:
    """A serde that passes `Raw` values through and delegates everything else."""

    def __init__(self, inner: SerializerProtocol) -> None:
        self.inner = inner

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, Raw):
            return obj.type, obj.data
        if (
            isinstance(obj, dict)
            and isinstance(marker := obj.get(RAW), dict)
            and isinstance(raw := marker.get("raw"), Raw)
        ):
            return raw.type, raw.data
        return self.inner.dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self.inner.loads_typed(data)


def with_raw(document: dict[str, Any], typed: tuple[str, bytes]) -> dict[str, Any]:
    return {**document, RAW: {"raw": Raw(*typed)}}


@dataclass(frozen=True)
class RawWrite:
    task_id: str
    idx: int
    task_path: str
    channel: str
    value: tuple[str, bytes]


@dataclass(frozen=True)
class PreparedPut:
    """A stored checkpoint decoded as far as `put` needs (its versions, its metadata's search
    tags), ready to write: preparing it is where a damaged value fails, before anything is written."""

    config: dict[str, Any]
    document: dict[str, Any]
    metadata: dict[str, Any]
    versions: dict[str, Any]
    channels: tuple[str, ...]


def prepare_put(
    decoder: SerializerProtocol,
    where: tuple[str, str, str, str | None],
    checkpoint: tuple[str, bytes],
    metadata: tuple[str, bytes],
    values: Sequence[tuple[str, tuple[str, bytes]]],
    versions: Mapping[str, Any] | None = None,
) -> PreparedPut:
    """`decoder` reads the versions (unless given: a checkpoint stored without them, which leaves
    them and its id to the document) and the metadata the saver needs to index it; the bytes
    written are the given ones."""
    thread_id, ns, checkpoint_id, parent_id = where
    if versions is None:
        # A whole checkpoint (a plain export's): stored as a put stores it where that reads back exactly.
        elided = elide_checkpoint(decoder, pack_typed(checkpoint))
        if elided is not None:
            checkpoint, versions = unpack_typed(elided[0]), elided[1]
        else:
            versions = decoder.loads_typed(checkpoint).get("channel_versions") or {}
    document = with_raw({"id": checkpoint_id, "channel_versions": dict(versions)}, checkpoint)
    document["channel_values"] = {channel: Raw(*typed) for channel, typed in values}
    configurable = {"thread_id": thread_id, "checkpoint_ns": ns}
    if parent_id:
        configurable["checkpoint_id"] = parent_id
    decoded = decoder.loads_typed(metadata)
    if not isinstance(decoded, dict):
        raise TypeError(f"checkpoint metadata must be a dict, not {type(decoded).__name__}")
    meta = with_raw(decoded, metadata)
    channels = tuple(channel for channel, _ in values if channel in versions)
    return PreparedPut({"configurable": configurable}, document, meta, dict(versions), channels)


def put_prepared(saver: RedisSaver, prepared: PreparedPut, written: set[tuple[str, str]] | None = None) -> None:
    """`put` a prepared checkpoint as LangGraph would: `new_versions` holds only the values not
    yet written in this (thread, ns), which `written` tracks ((channel, repr of version)), so the
    saver references the others and stores each new list value as a delta on the channel's last
    one, keeping its deduplication. `written=None` writes every value. `saver` must use a
    PassThroughSerde."""
    versions = prepared.versions
    fresh = [c for c in prepared.channels if written is None or (c, repr(versions[c])) not in written]
    new_versions = {channel: versions[channel] for channel in fresh}
    saver.put(prepared.config, prepared.document, prepared.metadata, new_versions)  # type: ignore[arg-type]
    if written is not None:
        written.update((c, repr(versions[c])) for c in fresh)


def put_raw_writes(saver: RedisSaver, thread_id: str, ns: str, checkpoint_id: str, writes: Sequence[RawWrite]) -> int:
    """`put_writes` stored writes, one call per task, each at its stored index. Returns how many
    tasks could not keep their indexes (then positions are renumbered, order kept)."""
    by_task: dict[tuple[str, str], list[RawWrite]] = {}
    for write in writes:
        by_task.setdefault((write.task_id, write.task_path), []).append(write)
    renumbered = 0
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}
    for (task_id, task_path), group in by_task.items():
        ordered, exact = _in_index_order(group)
        renumbered += not exact
        saver.put_writes(config, [(w.channel, Raw(*w.value)) for w in ordered], task_id, task_path)  # type: ignore[arg-type]
    return renumbered


def _in_index_order(group: Sequence[RawWrite]) -> tuple[list[RawWrite], bool]:
    """One task's writes in the order that makes `put_writes` give each its stored index, and
    whether it can. put_writes numbers a regular write by its position in the list and a special
    one (`__interrupt__`, `__resume__`, ...) by its channel. LangGraph leaves gaps in the regular
    positions (a resumed task's writes start at 1, after its `__resume__`): a gap is filled with
    one of the task's special writes, which lands at its own index, where storing it again
    changes nothing. A task with a gap and no special write is renumbered (order kept)."""
    regular = {w.idx: w for w in group if w.idx >= 0}
    special = [w for w in group if w.idx < 0 and WRITES_IDX_MAP.get(w.channel) == w.idx]
    if len(regular) + len(special) != len(group):  # a repeated index, or a special write off its channel's
        return sorted(regular.values(), key=lambda w: w.idx) + special, False
    positions = range(max(regular) + 1 if regular else 0)
    if len(regular) == len(positions):
        return [regular[i] for i in positions] + special, True
    if not special:
        return [regular[i] for i in sorted(regular)], False
    return [regular.get(i, special[0]) for i in positions] + special, True
