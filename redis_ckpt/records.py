"""Conversion between LangGraph objects and the stored fields of docs/design.md. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from redis_ckpt.encoding import (
    LARGE_VALUE,
    blob_field,
    digest,
    metadata_tags,
    pack_list,
    pack_typed,
    spill_field,
    text,
    unpack_list,
    unpack_typed,
    utf8,
    write_field,
)
from redis_ckpt.errors import SerializationError


def dumps(serde: SerializerProtocol, value: Any, what: str) -> bytes:
    """Serialize one value, naming it if the serializer refuses."""
    try:
        return pack_typed(serde.dumps_typed(value))
    except Exception as exc:  # serializers raise anything from TypeError to msgpack errors
        raise SerializationError(
            f"cannot serialize {what} ({type(value).__name__}): {exc}. Nothing was written; make the "
            "value serializable by the saver's serde (e.g. a pydantic model or dataclass)."
        ) from exc


def loads(serde: SerializerProtocol, raw: bytes) -> Any:
    return serde.loads_typed(unpack_typed(raw))


@dataclass(frozen=True)
class StoredCheckpoint:
    """What one put writes: the document hash, and the blob fields to set or delete."""

    document: dict[str, bytes]
    blobs_to_set: dict[bytes, bytes]
    blobs_to_delete: list[bytes]


def encode_checkpoint(
    serde: SerializerProtocol,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    parent_id: str | None,
    new_versions: ChannelVersions,
) -> StoredCheckpoint:
    values = checkpoint["channel_values"]
    versions = checkpoint["channel_versions"]
    fields = {channel: blob_field(channel, version) for channel, version in versions.items()}
    blobs_to_set: dict[bytes, bytes] = {}
    blobs_to_delete: list[bytes] = []
    for channel, version in new_versions.items():
        current = versions.get(channel)
        same = current == version and type(current) is type(version)
        field = fields[channel] if same else blob_field(channel, version)
        if channel in values:
            value = dumps(serde, values[channel], f"channel {channel!r}")
            if len(value) > LARGE_VALUE:  # kept out of the read scripts, see encoding.LARGE_VALUE
                blobs_to_set[field] = spill_field(field)
                blobs_to_set[spill_field(field)] = value
            else:
                blobs_to_set[field] = value
        else:
            blobs_to_delete += (field, spill_field(field))
    referenced: list[bytes] = []
    for channel, field in fields.items():
        referenced += (utf8(channel), field)
    bare = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    document = {
        "c": dumps(serde, bare, "checkpoint"),
        "m": dumps(serde, metadata, "metadata"),
        "v": pack_list(referenced),
    }
    # Optional fields are left out when empty: fewer bytes per checkpoint and per round trip.
    if parent_id:
        document["p"] = utf8(parent_id)
    if (run_id := metadata.get("run_id")) is not None:
        document["run"] = digest(str(run_id)).encode()
    if tags := metadata_tags(metadata):
        document["meta"] = ",".join(tags).encode()
    return StoredCheckpoint(document, blobs_to_set, blobs_to_delete)


@dataclass(frozen=True)
class StoredWrites:
    """What one put_writes writes: fields set only where absent, fields overwritten, and whether
    some value was spilled (see encoding.LARGE_VALUE)."""

    regular: dict[bytes, bytes]
    special: dict[bytes, bytes]
    spilled: bool
    stale_spills: list[bytes]  # spill fields of special writes now stored inline: to delete


def encode_writes(
    serde: SerializerProtocol, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
) -> StoredWrites:
    """Special channels (negative idx) overwrite, others are insert-if-absent; a large value goes
    to its spill field, with the same semantics as its write."""
    regular: dict[bytes, bytes] = {}
    special: dict[bytes, bytes] = {}
    spilled = False
    stale_spills: list[bytes] = []
    for position, (channel, value) in enumerate(writes):
        idx = WRITES_IDX_MAP.get(channel, position)
        fields = special if idx < 0 else regular
        field = write_field(task_id, idx)
        typed = dumps(serde, value, f"write to channel {channel!r}")
        if len(typed) > LARGE_VALUE:
            fields[spill_field(field)] = typed
            typed = spill_field(field)
            spilled = True
        elif idx < 0:  # an overwrite may replace a large value: its spill field must go too
            stale_spills.append(spill_field(field))
        fields[field] = pack_list([utf8(task_path), utf8(channel), typed])
    return StoredWrites(regular, special, spilled, stale_spills)


def decode_writes(serde: SerializerProtocol, flat: Sequence[bytes]) -> list[PendingWrite]:
    """HGETALL output of a writes hash -> pending writes in writes_sort_key order."""
    rows = []
    for i in range(0, len(flat), 2):
        if flat[i][:1] == b"\0":  # the spill flag or a spill field (read scripts leave them out)
            continue
        idx, _, task_id = flat[i].partition(b":")
        task_path, channel, value = unpack_list(flat[i + 1])
        rows.append(
            (
                text(task_path),
                text(task_id),
                int(idx),
                text(channel),
                value,
            )
        )
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [(task_id, channel, loads(serde, value)) for _, task_id, _, channel, value in rows]


def make_config(thread_id: str, ns: str, checkpoint_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}


def decode_entry(
    serde: SerializerProtocol, thread_id: str, ns: str, entry: Sequence[Any], config: Mapping[str, Any] | None = None
) -> CheckpointTuple:
    """One entry of the `load` script -> CheckpointTuple."""
    cid_raw, checkpoint_raw, metadata_raw, parent_raw, channels, values, writes = entry
    checkpoint_id = text(cid_raw)
    checkpoint = loads(serde, checkpoint_raw)
    checkpoint["channel_values"] = {text(ch): loads(serde, val) for ch, val in zip(channels, values)}
    parent_id = text(parent_raw) if parent_raw else None
    return CheckpointTuple(
        config=config or make_config(thread_id, ns, checkpoint_id),  # type: ignore[arg-type]
        checkpoint=checkpoint,
        metadata=loads(serde, metadata_raw),
        parent_config=make_config(thread_id, ns, parent_id) if parent_id else None,  # type: ignore[arg-type]
        pending_writes=decode_writes(serde, writes),
    )


def raw_writes(flat: Sequence[bytes]) -> list[tuple[str, int, str, str, bytes]]:
    """`decode_writes` without deserializing: (task_id, idx, task_path, channel, typed value
    bytes) in writes_sort_key order, for tools that copy values byte for byte."""
    rows = []
    for i in range(0, len(flat), 2):
        if flat[i][:1] == b"\0":  # the spill flag or a spill field (read scripts leave them out)
            continue
        idx, _, task_id = flat[i].partition(b":")
        task_path, channel, value = unpack_list(flat[i + 1])
        rows.append((text(task_id), int(idx), text(task_path), text(channel), bytes(value)))
    rows.sort(key=lambda r: (r[2], r[0], r[1]))
    return rows
