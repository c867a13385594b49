"""Large values kept out of Lua: finding the references the read scripts return, the commands that
read the spilled values, and putting them back in place. Pure functions; see docs/design.md,
"Large values".

A read script returns a spilled value as a reference (the name of the field holding it):
- a channel value: the blob field holds `spill_field(blob field)`, in the thread's blob hash;
- a pending write: the record's value is `spill_field(write field)`, in the checkpoint's writes hash.
The read's completion step (read_completion.py) reads them in its one MULTI/EXEC, together with
whether the documents they belong to still exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis_ckpt.format.encoding import is_reference, pack_list, parse_write_field, unpack_list
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.redis_io.wire import Command


@dataclass
class Wanted:
    """The references of one checkpoint (a `load` entry or a delta walk ancestor)."""

    values: list[bytes] = field(default_factory=list)  # in the blob hash
    writes: list[bytes] = field(default_factory=list)  # in its writes hash


@dataclass
class Found:
    values: dict[bytes, bytes | None]
    writes: dict[str, dict[bytes, bytes | None]]


def _spilled_record(field: bytes, record: bytes) -> bool:
    # A record whose value is a reference ends with it (b"\0" + its own field): a cheap test
    # first, since typed values may end that way too.
    return record.endswith(b"\0" + field) and is_reference(unpack_list(record)[2])


def write_references(flat: Sequence[bytes]) -> list[bytes]:
    """The spilled values among a writes hash's {field, record, ...} list."""
    return [unpack_list(flat[i + 1])[2] for i in range(0, len(flat), 2) if _spilled_record(flat[i], flat[i + 1])]


def wanted(checkpoint_id: str, values: Sequence[bytes], writes: Sequence[bytes]) -> tuple[str, Wanted] | None:
    """(checkpoint id, its references), or None when it has none (the common case)."""
    found = Wanted([v for v in values if is_reference(v)], write_references(writes))
    return (checkpoint_id, found) if found.values or found.writes else None


def _value_references(wanted: dict[str, Wanted]) -> list[bytes]:
    return sorted({v for refs in wanted.values() for v in refs.values})


def read_commands(layout: KeyLayout, thread_id: str, ns: str, wanted: dict[str, Wanted]) -> list[Command]:
    """One HMGET on the blob hash and, as needed, two per checkpoint with spilled writes: on its
    hash, and on the writes hash of before (writes were not yet fields of the checkpoint's hash)."""
    commands: list[Command] = []
    if values := _value_references(wanted):
        commands.append(("HMGET", layout.blobs(thread_id, ns), *values))
    for cid, refs in wanted.items():
        if refs.writes:
            commands.append(("HMGET", layout.checkpoint(thread_id, ns, cid), *refs.writes))
            commands.append(("HMGET", layout.legacy_writes(thread_id, ns, cid), *refs.writes))
    return commands


def parse_replies(wanted: dict[str, Wanted], replies: Sequence[Any]) -> Found:
    """The replies of `read_commands`, in its order."""
    rest = iter(replies)
    values = _value_references(wanted)
    found_values = dict(zip(values, next(rest))) if values else {}
    writes = {}
    for cid, refs in wanted.items():
        if refs.writes:
            own, legacy = next(rest), next(rest)
            writes[cid] = {ref: _stored_value(ref, a, b) for ref, a, b in zip(refs.writes, own, legacy)}
    return Found(found_values, writes)


def _stored_value(reference: bytes, own: bytes | None, legacy: bytes | None) -> bytes | None:
    """A spilled write's value, found in the checkpoint's hash and/or in the writes hash of before
    (a write stored in both across an upgrade, as `records.raw_writes` reads it): a regular write
    (insert-if-absent) keeps the one first stored, the legacy one; a special one (negative idx,
    overwriting) the later."""
    if own is None or legacy is None:
        return own if own is not None else legacy
    return own if parse_write_field(reference[1:])[0] < 0 else legacy


def fill_values(channels: Sequence[bytes], values: Sequence[bytes], found: Found) -> tuple[list[bytes], list[bytes]]:
    """Channels and values with references replaced; a value deleted since is left out (absent)."""
    pairs = [(ch, found.values.get(v, v) if is_reference(v) else v) for ch, v in zip(channels, values)]
    kept = [(ch, v) for ch, v in pairs if v is not None]
    return [ch for ch, _ in kept], [v for _, v in kept]


def fill_writes(checkpoint_id: str, flat: Sequence[bytes], found: Found) -> list[bytes]:
    """A writes hash's {field, record, ...} list with spilled values put back in the records."""
    spilled = found.writes.get(checkpoint_id)
    if not spilled:
        return list(flat)
    out: list[bytes] = []
    for i in range(0, len(flat), 2):
        task_path, channel, value = unpack_list(flat[i + 1])
        if is_reference(value):
            real = spilled.get(value)
            if real is None:  # deleted since: the write is gone
                continue
            out += (flat[i], pack_list([task_path, channel, real]))
        else:
            out += (flat[i], flat[i + 1])
    return out
