"""Conversion between LangGraph objects and the stored fields of docs/design.md. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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

from redis_ckpt.errors import SerializationError
from redis_ckpt.format.chunks import (
    Resolved,
    Split,
    common_prefix,
    encode_chunked,
    is_record,
    materialize,
    materialize_writes,
    record,
    split,
)
from redis_ckpt.format.compression import (
    dictionary_field,
    pack_chunk,
    pack_typed_value,
    unpack_chunk,
    unpack_typed_value,
)
from redis_ckpt.format.encoding import (
    LARGE_VALUE,
    blob_field,
    digest,
    metadata_tags,
    pack_channel,
    pack_list,
    pack_parent,
    pack_refs,
    pack_task_path,
    pack_typed,
    parse_refs,
    parse_write_field,
    spill_field,
    text,
    unpack_channel,
    unpack_list,
    unpack_task_path,
    unpack_typed,
    utf8,
    write_field,
)
from redis_ckpt.format.encryption import (
    NO_ENCRYPTION,
    Sealer,
    body_context,
    chunk_context,
    value_context,
    write_context,
)
from redis_ckpt.format.known import Base, Known
from redis_ckpt.format.read_entries import Ancestor, LoadedEntry, MetaEntry, StoredEntry, StoredMeta


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


# The third item of a body that left the checkpoint's `id` and `channel_versions` to its document
# (as "" and {}, which keeps the checkpoint's key order): the id is the document's, the versions
# are its references. Both were stored twice before (~70 bytes of a chat checkpoint, compressed).
ELIDED = b"e"


def document_parts(
    checkpoint_or_body: bytes,
    metadata: bytes,
    dictionaries: Mapping[bytes, bytes] | None = None,
    checkpoint_id: bytes = b"",
    sealer: Sealer = NO_ENCRYPTION,
) -> tuple[bytes, bytes, bool]:
    """(checkpoint, metadata, elided) of what the read scripts return for a document: a body
    holding both (metadata then comes back empty), or, from documents written before bodies
    existed, the two typed values. `elided`: the checkpoint's id and versions are left to the
    document (see `restore_checkpoint`). A sealed body is opened (encryption.py)."""
    if metadata:
        sealer.open(checkpoint_or_body, b"")  # never sealed: refused when encryption is required
        return unpack_typed_value(checkpoint_or_body), metadata, False
    body = sealer.open(checkpoint_or_body, body_context(checkpoint_id))
    checkpoint, metadata, *flags = unpack_list(unpack_chunk(body, dictionaries))
    return checkpoint, metadata, flags == [ELIDED]


def restore_checkpoint(checkpoint: Any, checkpoint_id: str, refs: bytes | None) -> Any:
    """Put back what a body left to its document (`refs`: the document's packed references, None
    when nothing was left out)."""
    if refs is not None:
        if "id" in checkpoint:
            checkpoint["id"] = checkpoint_id
        if "channel_versions" in checkpoint:
            checkpoint["channel_versions"] = parse_refs(refs)
    return checkpoint


def meta_entry(
    entry: StoredMeta, dictionaries: Mapping[bytes, bytes] | None = None, sealer: Sealer = NO_ENCRYPTION
) -> MetaEntry:
    """A `load` entry in 'meta' mode with its metadata as typed bytes."""
    if not entry.body:
        sealer.open(entry.metadata, b"")  # documents of before bodies are never sealed
        return MetaEntry(entry.id, entry.metadata)
    return MetaEntry(entry.id, document_parts(entry.body, b"", dictionaries, entry.id, sealer)[1])


# Redis keeps a small hash in its compact listpack encoding while each of its values is at most
# `hash-max-listpack-value` (64 bytes by default) and it has at most `hash-max-listpack-entries`
# (128) fields; one longer value turns it into a hashtable, ~130 bytes more per checkpoint
# (measured with MEMORY USAGE ... SAMPLES 0: 720 bytes for a 380-byte document, 592 in pieces).
DOC_PIECE = 64
DOC_MAX_PIECES = 120  # a larger document is a hashtable anyway: stored as one field


def document_fields(packed: bytes) -> dict[str, bytes]:
    """The document's fields: `d`, then `d1`, `d2`... pieces of at most DOC_PIECE bytes, which the
    read scripts join back (read_doc in lua/common.lua)."""
    if len(packed) <= DOC_PIECE or len(packed) > DOC_PIECE * DOC_MAX_PIECES:
        return {"d": packed}
    pieces = [packed[i : i + DOC_PIECE] for i in range(0, len(packed), DOC_PIECE)]
    return {"d": pieces[0], **{f"d{n}": piece for n, piece in enumerate(pieces[1:], 1)}}


_ELIDED_AS: dict[str, Any] = {"id": "", "channel_versions": {}}


@dataclass(frozen=True)
class StoredCheckpoint:
    """What one put writes: the document hash, the blob fields to set or delete, the chunks to
    store, and what it relies on being stored already (checked in its transaction)."""

    document: dict[str, bytes]
    blobs_to_set: dict[bytes, bytes]
    blobs_to_delete: list[bytes]
    chunks: dict[bytes, bytes]
    needed_fields: list[bytes]
    needed_digests: list[bytes]
    bases: dict[str, Base]  # per channel, what to remember once the put has landed
    body: bytes = b""  # the document's body, uncompressed (a sample for a namespace dictionary)
    dictionary: tuple[bytes, bytes] | None = None  # the namespace dictionary the body uses
    # chunks compressed with the namespace's chunk dictionary, which the commit script writes once
    # it checked the dictionary is stored; that dictionary; the raw chunks the records add
    with_dictionary: dict[bytes, bytes] = field(default_factory=dict)
    chunk_dictionary: tuple[bytes, bytes] | None = None
    chunk_samples: list[bytes] = field(default_factory=list)
    raw_chunks: dict[bytes, bytes] = field(default_factory=dict)  # digest -> raw, of every chunked value
    splits: dict[str, Split] = field(default_factory=dict)  # per chunked channel, its value cut


def encode_checkpoint(
    serde: SerializerProtocol,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    parent_id: str | None,
    new_versions: ChannelVersions,
    *,
    compress: bool = True,
    known: Known | None = None,
    previous_splits: Mapping[str, Split] | None = None,
    sealer: Sealer = NO_ENCRYPTION,
) -> StoredCheckpoint:
    """`known` says what is already stored (chunks and last versions); None sends everything.
    `previous_splits`: the channels' last values as cut (recent_splits.py), to cut from.
    `sealer`: the saver's encryption, applied to every piece last (encryption.py)."""
    values = checkpoint["channel_values"]
    versions = checkpoint["channel_versions"]
    fields = {channel: blob_field(channel, version) for channel, version in versions.items()}
    blobs_to_set: dict[bytes, bytes] = {}
    blobs_to_delete: list[bytes] = []
    chunks: dict[bytes, bytes] = {}
    needed_fields: list[bytes] = []
    needed_digests: set[bytes] = set()
    bases: dict[str, Base] = {}
    with_dictionary: dict[bytes, bytes] = {}
    chunk_samples: list[bytes] = []
    raw_chunks: dict[bytes, bytes] = {}
    splits: dict[str, Split] = {}
    chunk_dictionary = known.chunks.dictionary() if known is not None and compress else None
    for channel, version in new_versions.items():
        current = versions.get(channel)
        same = current == version and type(current) is type(version)
        field = fields[channel] if same else blob_field(channel, version)
        if channel not in values:
            blobs_to_delete += (field, spill_field(field))
            continue
        typed = dumps(serde, values[channel], f"channel {channel!r}")
        parts = split(typed, previous_splits.get(channel) if previous_splits else None)
        if parts is not None:
            splits[channel] = parts
            raw_chunks.update(zip(parts.digests, parts.chunks))
            encoded = encode_chunked(parts, compress, known, channel, field, version, chunk_dictionary)
            blobs_to_set[field] = encoded.stored
            chunks.update(encoded.chunks)
            with_dictionary.update(encoded.with_dictionary)
            chunk_samples += encoded.samples
            needed_fields += encoded.needed_fields
            needed_digests.update(encoded.needed_digests)
            if encoded.base is not None:
                bases[channel] = encoded.base
            continue
        value = sealer.seal(pack_typed_value(typed, compress), value_context(utf8(channel)))
        if len(value) > LARGE_VALUE:  # kept out of the read scripts, see encoding.LARGE_VALUE
            blobs_to_set[field] = spill_field(field)
            blobs_to_set[spill_field(field)] = value
        else:
            blobs_to_set[field] = value
    # Values of channels this put does not write are referenced, not sent. Where this process saw
    # them stored, the commit checks they still are (a prune or delete elsewhere may have collected
    # them with the checkpoints that used them); a put that finds one gone sends it again.
    if known is not None:
        needed_fields += [
            fields[c] for c in values if c not in new_versions and c in fields and fields[c] in known.fields
        ]
    # A chunk sent by this put needs no check, and a field it writes is not needed from before.
    needed_digests -= chunks.keys() | with_dictionary.keys()
    if not with_dictionary:
        chunk_dictionary = None
    elif chunk_dictionary is not None:
        _store_or_check(chunk_dictionary, known, chunks, needed_digests, compress)
    needed_fields = sorted(set(needed_fields) - blobs_to_set.keys())
    bare = {k: _ELIDED_AS.get(k, v) for k, v in checkpoint.items() if k != "channel_values"}
    # One field for what the scripts read (parent, values) and what only Python reads (checkpoint
    # and metadata, compressed together): a field costs ~50 bytes of hash overhead in Redis.
    body_raw = pack_list([dumps(serde, bare, "checkpoint"), dumps(serde, metadata, "metadata"), ELIDED])
    # Compressed with the namespace's dictionary (compression.py) once there is one: commit then
    # checks it is stored, or stores it first when this put makes it.
    dictionary = known.bodies.dictionary() if known is not None and compress else None
    body = sealer.seal(pack_chunk(body_raw, compress, dictionary), body_context(utf8(checkpoint["id"])))
    if dictionary is not None:
        _store_or_check(dictionary, known, chunks, needed_digests, compress)
    # Chunks and dictionaries are sealed once made: their digests, and so deduplication, are the
    # plaintext's (a chunk stored once stays as first sealed: HSETNX).
    chunks = _sealed_chunks(chunks, sealer)
    with_dictionary = _sealed_chunks(with_dictionary, sealer)
    document = document_fields(pack_list([pack_parent(parent_id, checkpoint["id"]), pack_refs(versions), body]))
    # Search tags are fields of their own (the index reads them), left out when empty.
    if (run_id := metadata.get("run_id")) is not None:
        document["run"] = digest(str(run_id)).encode()
    if tags := metadata_tags(metadata, short=True):
        document["meta"] = ",".join(tags).encode()
    needed = sorted(needed_digests)
    return StoredCheckpoint(
        document=document,
        blobs_to_set=blobs_to_set,
        blobs_to_delete=blobs_to_delete,
        chunks=chunks,
        needed_fields=needed_fields,
        needed_digests=needed,
        bases=bases,
        body=body_raw,
        dictionary=dictionary,
        with_dictionary=with_dictionary,
        chunk_dictionary=chunk_dictionary,
        chunk_samples=chunk_samples,
        raw_chunks=raw_chunks,
        splits=splits,
    )


def _sealed_chunks(chunks: dict[bytes, bytes], sealer: Sealer) -> dict[bytes, bytes]:
    if sealer is NO_ENCRYPTION:
        return chunks
    return {f: sealer.seal(v, chunk_context(f)) for f, v in chunks.items()}


def _store_or_check(
    dictionary: tuple[bytes, bytes],
    known: Known | None,
    chunks: dict[bytes, bytes],
    needed_digests: set[bytes],
    compress: bool,
) -> None:
    """A namespace dictionary a put uses: checked by its commit if this process saw it stored,
    else stored by the put (content-addressed: storing it again is harmless)."""
    if known is not None and dictionary[0] in known.dictionaries:
        needed_digests.add(dictionary_field(dictionary[0]))
    else:
        chunks[dictionary_field(dictionary[0])] = pack_chunk(dictionary[1], compress)


@dataclass(frozen=True)
class StoredWrites:
    """What one put_writes writes: fields set only where absent, fields overwritten, and whether
    some value was spilled (see encoding.LARGE_VALUE)."""

    regular: dict[bytes, bytes]
    special: dict[bytes, bytes]
    spilled: bool
    stale_spills: list[bytes]  # spill fields of special writes now stored inline: to delete
    chunks: dict[bytes, bytes]  # chunks of list values, always sent (they are new data)
    deltas: bool = False  # some value is a delta on its checkpoint's value (storage format 2)


def encode_writes(
    serde: SerializerProtocol,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
    *,
    compress: bool = True,
    bases: Mapping[str, Base] | None = None,
    sealer: Sealer = NO_ENCRYPTION,
) -> StoredWrites:
    """Special channels (negative idx) overwrite, others are insert-if-absent; a large value goes
    to its spill field, with the same semantics as its write. A list value (new messages) is
    stored as chunks shared with the channel values that will hold the same elements.

    `bases` (storage format 2): per channel, the last record of its value this process knows is
    stored. A list written whole (a node returning `state["items"] + [x]` to a channel without a
    reducer) that starts with that value is then a delta on it: its new chunks only, not a list of
    every digest again. Garbage collection keeps a write's base (and its chain) through the write.
    A base deleted as the write is stored (the thread deleted under a running graph) leaves the
    write unreadable until that value is put again, as the checkpoint's own put then does."""
    regular: dict[bytes, bytes] = {}
    special: dict[bytes, bytes] = {}
    spilled = False
    stale_spills: list[bytes] = []
    chunks: dict[bytes, bytes] = {}
    deltas = False
    for position, (channel, value) in enumerate(writes):
        idx = WRITES_IDX_MAP.get(channel, position)
        fields = special if idx < 0 else regular
        field = write_field(task_id, idx)
        typed = dumps(serde, value, f"write to channel {channel!r}")
        parts = split(typed)
        base = bases.get(channel) if bases else None
        keep = common_prefix(base.digests, parts.digests) if base is not None and parts is not None else 0
        if parts is not None and base is not None and keep:
            typed = record(parts, base.field, keep, base.depth + 1, parts.digests[keep:])
            new = {d: pack_chunk(c, compress) for d, c in zip(parts.digests[keep:], parts.chunks[keep:])}
            chunks.update(_sealed_chunks(new, sealer))
            deltas = True
        elif parts is not None:
            encoded = encode_chunked(parts, compress, None)
            chunks.update(_sealed_chunks(encoded.chunks, sealer))
            typed = encoded.stored
        else:
            typed = sealer.seal(pack_typed_value(typed, compress), write_context(utf8(channel)))
        # A record stays inline however long (16 bytes per chunk of 256+), as in put: the read
        # scripts fetch, and garbage collection keeps, only the chunks of records they see.
        if parts is None and len(typed) > LARGE_VALUE:
            fields[spill_field(field)] = typed
            typed = spill_field(field)
            spilled = True
        elif idx < 0:  # an overwrite may replace a large value: its spill field must go too
            stale_spills.append(spill_field(field))
        fields[field] = pack_list([pack_task_path(task_path), pack_channel(channel), typed])
    return StoredWrites(regular, special, spilled, stale_spills, chunks, deltas)


def decode_writes(serde: SerializerProtocol, flat: Sequence[bytes]) -> list[PendingWrite]:
    """HGETALL output of a writes hash -> pending writes in writes_sort_key order."""
    return [(task_id, channel, loads(serde, value)) for task_id, _, _, channel, value in raw_writes(flat)]


def make_config(thread_id: str, ns: str, checkpoint_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}


def decode_entry(
    serde: SerializerProtocol, thread_id: str, ns: str, entry: LoadedEntry, config: Mapping[str, Any] | None = None
) -> CheckpointTuple:
    """One entry of the `load` script, materialized (`materialize_entry`) -> CheckpointTuple."""
    checkpoint_id = text(entry.id)
    checkpoint = restore_checkpoint(loads(serde, entry.checkpoint), checkpoint_id, entry.refs)
    checkpoint["channel_values"] = {text(ch): loads(serde, val) for ch, val in zip(entry.channels, entry.values)}
    parent_id = text(entry.parent) if entry.parent else None
    return CheckpointTuple(
        config=config or make_config(thread_id, ns, checkpoint_id),  # type: ignore[arg-type]
        checkpoint=checkpoint,
        metadata=loads(serde, entry.metadata),
        parent_config=make_config(thread_id, ns, parent_id) if parent_id else None,  # type: ignore[arg-type]
        pending_writes=decode_writes(serde, entry.writes),
    )


def materialize_entry(
    entry: StoredEntry,
    found: Mapping[bytes, bytes],
    dictionaries: Mapping[bytes, bytes] | None = None,
    sealer: Sealer = NO_ENCRYPTION,
) -> LoadedEntry:
    """A `load` entry, complete (no spill references left: see redis_ckpt/redis_io/read_completion.py),
    with exact typed bytes everywhere (`found`: the raw chunks of its records, by digest, opened),
    the records its values were stored as, and its references where the checkpoint left its id
    and versions to them (see `restore_checkpoint`). Sealed pieces are opened with `sealer`."""
    records: dict[str, Resolved] = {}
    values = []
    for channel, stored in zip(entry.channels, entry.values):
        typed, resolved = materialize(_open_value(stored, channel, sealer), found)
        values.append(typed)
        if resolved is not None:
            records[text(channel)] = resolved
    checkpoint, metadata, elided = document_parts(entry.body, entry.metadata, dictionaries, entry.id, sealer)
    return LoadedEntry(
        id=entry.id,
        checkpoint=checkpoint,
        metadata=metadata,
        parent=entry.parent,
        channels=entry.channels,
        values=values,
        writes=materialize_writes(open_writes(entry.writes, sealer), found),
        records=records,
        refs=entry.refs if elided else None,
    )


def materialize_ancestor(ancestor: Ancestor, found: Mapping[bytes, bytes], sealer: Sealer = NO_ENCRYPTION) -> Ancestor:
    """A delta walk ancestor, complete, with exact typed bytes for its values and writes."""
    values = [materialize(_open_value(v, c, sealer), found)[0] for c, v in zip(ancestor.channels, ancestor.values)]
    return ancestor._replace(values=values, writes=materialize_writes(open_writes(ancestor.writes, sealer), found))


def _open_value(stored: bytes, channel: bytes, sealer: Sealer) -> bytes:
    """A channel value as stored, opened (records are never sealed)."""
    return stored if is_record(stored) else sealer.open(stored, value_context(channel))


def open_writes(flat: Sequence[bytes], sealer: Sealer) -> list[bytes]:
    """A writes hash's {field, record, ...} list with each sealed value opened (records pass)."""
    out: list[bytes] = []
    for i in range(0, len(flat), 2):
        task_path, channel, value = unpack_list(flat[i + 1])
        if is_record(value):
            out += (flat[i], flat[i + 1])
            continue
        opened = sealer.open(value, write_context(utf8(unpack_channel(channel))))
        out += (flat[i], flat[i + 1] if opened is value else pack_list([task_path, channel, opened]))
    return out


def complete_checkpoint(serde: SerializerProtocol, entry: LoadedEntry) -> bytes:
    """The typed bytes of a materialized entry's whole checkpoint, what was left to its document
    put back (for tools that copy checkpoints as bytes)."""
    if entry.refs is None:
        return bytes(entry.checkpoint)
    checkpoint = restore_checkpoint(loads(serde, entry.checkpoint), text(entry.id), entry.refs)
    return dumps(serde, checkpoint, "checkpoint")


def elide_checkpoint(serde: SerializerProtocol, whole: bytes) -> tuple[bytes, dict[str, Any]] | None:
    """Inverse of `complete_checkpoint`: the typed bytes of a whole checkpoint as a put stores them
    (its id and versions left to the document) and its versions, if that form reads back to exactly
    `whole`; else None (another serializer's bytes, or a checkpoint of another shape)."""
    try:
        checkpoint = loads(serde, whole)
        versions = dict(checkpoint["channel_versions"])
        bare = dumps(serde, {k: _ELIDED_AS.get(k, v) for k, v in checkpoint.items()}, "checkpoint")
        restored = restore_checkpoint(loads(serde, bare), checkpoint["id"], pack_refs(versions))
        if dumps(serde, restored, "checkpoint") != whole:
            return None
    except Exception:  # not a checkpoint this serializer reads and writes back alike: keep it whole
        return None
    return bare, versions


def raw_writes(flat: Sequence[bytes]) -> list[tuple[str, int, str, str, bytes]]:
    """`decode_writes` without deserializing: (task_id, idx, task_path, channel, typed value
    bytes) in writes_sort_key order, for tools that copy values byte for byte."""
    chosen: dict[tuple[int, str], tuple[str, int, str, str, bytes]] = {}
    packed_form: dict[tuple[int, str], bool] = {}
    for i in range(0, len(flat), 2):
        if flat[i][:1] == b"\0":  # the spill flag or a spill field (read scripts leave them out)
            continue
        idx, task_id = parse_write_field(flat[i])
        # Written twice across an upgrade: first with the task id as text, then packed; or first
        # in a writes hash of its own, then in the checkpoint's hash, which the read scripts list
        # after it (a field of the same form). A regular write keeps the first (insert-if-absent),
        # a special one the last (it overwrites), as if both had been one field; HGETALL's order
        # within one hash says neither: there, only the form does.
        packed = flat[i][len(b"%d" % idx) : len(b"%d" % idx) + 1] == b";"
        before = packed_form.get((idx, task_id))
        if before is not None:
            later = before == packed or packed  # than the one chosen so far
            if later == (idx >= 0):
                continue
        packed_form[(idx, task_id)] = packed
        task_path, channel, value = unpack_list(flat[i + 1])
        chosen[(idx, task_id)] = (task_id, idx, unpack_task_path(task_path), unpack_channel(channel), bytes(value))
    return sorted(chosen.values(), key=lambda r: (r[2], r[0], r[1]))
