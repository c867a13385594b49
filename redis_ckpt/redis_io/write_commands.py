"""The commands of put and put_writes, built from encoded records and the key layout. No I/O.

Each write is one MULTI/EXEC transaction of plain commands, not a Lua script: values then go from
the socket straight into their hash, where a script would first copy every argument into Lua
strings and back (measured: a put of a 100 KB state takes 30% less time this way, and the gap
grows with the state). Scripts inside the transaction only do what must read as it goes: put's
`commit` (checks what the put relies on, then writes the small document, index entry and records),
the DeltaChannel TTL walk, and put_writes' `track_writes`. See docs/design.md for each key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from redis_ckpt.format.checkpoint_codec import StoredCheckpoint, StoredWrites
from redis_ckpt.format.chunks import is_record
from redis_ckpt.format.encoding import SPILL_FLAG
from redis_ckpt.format.format_version import STAMP_FIELD
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.redis_io import scripts
from redis_ckpt.redis_io.wire import Command


def _pairs(fields: Mapping[str, bytes] | Mapping[bytes, bytes]) -> Iterable[str | bytes]:
    for field, value in fields.items():
        yield field
        yield value


def _store_chunks(chunk_hash: str, chunks: Mapping[bytes, bytes]) -> list[Command]:
    """Chunks are content-addressed: one already stored is kept as it is, since a put's commit may
    have stored it compressed with the namespace's chunk dictionary, which this one may not use
    (put_writes never does: it cannot check the dictionary exists)."""
    return [("HSETNX", chunk_hash, digest, chunk) for digest, chunk in chunks.items()]


def put(
    layout: KeyLayout,
    thread_id: str,
    ns: str,
    checkpoint_id: str,
    parent_id: str | None,
    stored: StoredCheckpoint,
    ttl: int,
    delta_channels: Sequence[str],
) -> list[Command]:
    """Store a checkpoint: its values of new_versions and new chunks, the namespace registration,
    with a TTL the expiry of every key it touches and of the DeltaChannel ancestor chain it is
    rebuilt from, and last the `commit` script: the document (replacing any earlier one of that
    id), its index entry and its records, once what the put relies on is checked."""
    document = layout.checkpoint(thread_id, ns, checkpoint_id)
    index, writes_index, blobs, chunks = layout.ns_data_keys(thread_id, ns)
    namespaces = layout.namespaces(thread_id)
    commands: list[Command] = []
    commands += _store_chunks(chunks, stored.chunks)
    plain = {f: v for f, v in stored.blobs_to_set.items() if not is_record(v)}
    if plain:
        commands.append(("HSET", blobs, *_pairs(plain)))
    if stored.blobs_to_delete:
        commands.append(("HDEL", blobs, *stored.blobs_to_delete))
    commands.append(("SADD", namespaces, ns))
    if ttl:
        writes = layout.legacy_writes(thread_id, ns, checkpoint_id)
        keys = (index, writes_index, blobs, chunks, namespaces, writes)
        commands += [("EXPIRE", key, ttl) for key in keys]
        if delta_channels:
            prefixes = [layout.checkpoint_prefix(thread_id, ns), layout.legacy_writes_prefix(thread_id, ns)]
            args = [*prefixes, checkpoint_id, parent_id or "", ttl, scripts.MAX_CHAIN_DEPTH, *delta_channels]
            commands.append(scripts.call("touch_chain", [blobs, index], args))
    # Last, so it sees everything above: if a value or chunk this put did not send is gone (a
    # prune or delete elsewhere collected it), it writes neither the document nor the records and
    # the saver puts it again with what was missing (RedisSaver.put). The document is written by
    # the script alone, so a NOSCRIPT (lost script cache) applies no checkpoint either.
    records = {f: v for f, v in stored.blobs_to_set.items() if is_record(v)}
    args = [
        checkpoint_id,
        ttl,
        len(stored.needed_fields),
        len(stored.needed_digests),
        len(stored.document),
        len(stored.with_dictionary),
        *stored.needed_fields,
        *stored.needed_digests,
        *_pairs(stored.document),
        *_pairs(stored.with_dictionary),
        *_pairs(records),
    ]
    commit_keys = [document, index, blobs, chunks, *layout.gc_marks(thread_id, ns), writes_index]
    commands.append(scripts.call("commit", commit_keys, args))
    return commands


def put_writes(
    layout: KeyLayout,
    thread_id: str,
    ns: str,
    checkpoint_id: str,
    stored: StoredWrites,
    ttl: int,
) -> list[Command]:
    """Store a task's writes: regular ones only where absent (a replayed task neither duplicates
    nor replaces them), special ones (negative idx) overwriting, with any large value they replace.
    (A replay whose regular write was small the first time and large now leaves the unused spill
    field behind, until the checkpoint is deleted: MULTI cannot make it conditional.)"""
    writes = document = layout.checkpoint(thread_id, ns, checkpoint_id)  # writes live in its hash
    _, writes_index, _, chunks = layout.ns_data_keys(thread_id, ns)
    namespaces = layout.namespaces(thread_id)
    commands: list[Command] = []
    if stored.deltas:  # format 2 data: releases that read format 1 only must refuse the namespace
        commands.append(("HSET", chunks, STAMP_FIELD, 2))
    commands += _store_chunks(chunks, stored.chunks)  # before the records that name them
    commands += [("HSETNX", writes, field, value) for field, value in stored.regular.items()]
    if stored.stale_spills:
        commands.append(("HDEL", writes, *stored.stale_spills))
    if stored.special:
        commands.append(("HSET", writes, *_pairs(stored.special)))
    if stored.spilled:
        commands.append(("HSET", writes, SPILL_FLAG, 1))
    commands += [
        # chunks named here are marked if a garbage collection of the namespace is under way
        scripts.call_by_source(
            "track_writes", [document, writes_index, layout.gc_marks(thread_id, ns)[1]], [checkpoint_id, *stored.chunks]
        ),
        ("SADD", namespaces, ns),
    ]
    if ttl:
        # the checkpoint's writes stored before in a hash of their own live as long as the new ones
        legacy = layout.legacy_writes(thread_id, ns, checkpoint_id)
        keys = (writes, legacy, writes_index, namespaces, *([chunks] if stored.chunks else []))
        commands += [("EXPIRE", key, ttl) for key in keys]
    return commands
