"""What the read scripts return, named. Pure; no Redis.

The scripts reply with positional lists (the protocol: lua/load.lua and lua/delta.lua state their
order); `load_reply` and `delta_reply` are the one place that reads them by position. A read then
goes: the script call, the completion step (redis_ckpt/redis_io/read_completion.py: what Lua left
out, in at most one more round trip), decoding (checkpoint_codec.py: `materialize_entry`, then
`decode_entry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from redis_ckpt.format.chunks import Resolved, chunk_map, digest_set
from redis_ckpt.format.encoding import text


class StoredEntry(NamedTuple):
    """One checkpoint as `load` returns it in 'full' mode: stored forms, nothing decoded."""

    id: bytes
    body: bytes  # checkpoint and metadata, compressed together; or, for documents of before bodies, the checkpoint
    metadata: bytes  # b"" when `body` holds it
    parent: bytes  # b"" for a root checkpoint
    channels: list[bytes]
    values: list[bytes]  # stored values: typed, compressed, resolved records, or spill references
    writes: list[bytes]  # the pending writes, flat {field, record, ...}; a record's value may be a spill reference
    refs: bytes | None  # the document's packed references (None for documents of before bodies)


class StoredMeta(NamedTuple):
    """One checkpoint as `load` returns it in 'meta' mode."""

    id: bytes
    body: bytes  # b"" for documents of before bodies, whose metadata comes alone
    metadata: bytes  # b"" when `body` holds it


class Ancestor(NamedTuple):
    """One ancestor of a `delta` walk: its writes to the channels asked for, and the values of those
    channels it stores (a channel's first stored value, nearest first, is its seed)."""

    id: str
    writes: list[bytes]  # flat {field, record, ...}, as in StoredEntry
    channels: list[bytes]
    values: list[bytes]  # as in StoredEntry


# What the completion step takes and gives back, with channels, values and writes filled in.
Completable = TypeVar("Completable", StoredEntry, Ancestor)


class LoadedEntry(NamedTuple):
    """One checkpoint read, every value as its serializer's exact typed bytes (what
    `checkpoint_codec.materialize_entry` makes of a StoredEntry; `decode_entry` deserializes it).
    Its first seven items are what tools that copy checkpoints byte for byte read
    (`RedisSaver.stored_checkpoints`)."""

    id: bytes
    checkpoint: bytes  # typed bytes; its id and versions may be left to the document (see `refs`)
    metadata: bytes  # typed bytes
    parent: bytes
    channels: list[bytes]
    values: list[bytes]  # typed bytes
    writes: list[bytes]  # flat {field, record, ...}, values as typed bytes
    records: dict[str, Resolved]  # channel -> the record a value was stored as (deduplicated values)
    refs: bytes | None  # the document's references when the checkpoint left its id and versions to them


class MetaEntry(NamedTuple):
    id: bytes
    metadata: bytes  # typed bytes


class Chunks(NamedTuple):
    """The chunks a reply carries: stored chunks by digest, or (over chunks.INLINE_CHUNKS, see
    chunk_collector in lua/common.lua) only the digests, `deferred`."""

    returned: dict[bytes, bytes]
    deferred: list[bytes]


class LoadReply(NamedTuple):
    cursor: str  # where a page scan goes on from; '' when nothing is left
    entries: list[Any]  # StoredEntry ('full') or StoredMeta ('meta')
    chunks: Chunks
    dictionaries: list[bytes]  # flat {field, stored dictionary, ...}: those the caller lacks


class DeltaReply(NamedTuple):
    target: str
    ancestors: list[Ancestor]  # nearest first
    chunks: Chunks
    dictionaries: list[bytes]  # as in LoadReply


def _chunks(flat: Sequence[bytes]) -> Chunks:
    if flat[:1] == [b"*"]:  # too many chunks to hand to Lua: their digests only
        return Chunks({}, digest_set(flat[1]))
    return Chunks(chunk_map(flat), [])


def _stored_entry(raw: Sequence[Any]) -> StoredEntry:
    # {id, body, metadata, parent, {channels}, {values}, {writes}, refs}; refs absent (nil) for
    # documents of before bodies
    refs = raw[7] if len(raw) > 7 else None
    return StoredEntry(raw[0], raw[1], raw[2], raw[3], list(raw[4]), list(raw[5]), list(raw[6]), refs)


def _stored_meta(raw: Sequence[Any]) -> StoredMeta:
    # {id, metadata}, or {id, body, ''} for documents with a body
    return StoredMeta(raw[0], raw[1], b"") if len(raw) > 2 else StoredMeta(raw[0], b"", raw[1])


def load_reply(raw: Sequence[Any], what: str) -> LoadReply:
    """The reply of lua/load.lua: {cursor, entries, chunks, dictionaries}."""
    cursor, entries, chunk_flat, dictionaries = raw
    decode = _stored_meta if what == "meta" else _stored_entry
    return LoadReply(text(cursor), [decode(e) for e in entries], _chunks(chunk_flat), list(dictionaries))


def delta_reply(raw: Sequence[Any]) -> DeltaReply:
    """The reply of lua/delta.lua: {target, {{id, writes, seeds (flat {channel, value, ...})}, ...},
    chunks, dictionaries}."""
    target, ancestors, chunk_flat, dictionaries = raw
    found = [Ancestor(text(a[0]), list(a[1]), list(a[2][0::2]), list(a[2][1::2])) for a in ancestors]
    return DeltaReply(text(target), found, _chunks(chunk_flat), list(dictionaries))
