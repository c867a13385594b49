"""What `reencrypt` changes in each stored hash: pure functions from the fields read to the
replacements (redis_io/lua/rewrite.lua applies them only where nothing changed meanwhile).

A piece is rewritten when it is plain or sealed with another key than the current one
(encryption.py); records, spill references, document parents and references, tags and fields
stay as they are. Documents of before bodies (fields `c`, `m`) and pending writes in their old
place (`W:` hashes) are left as they were written: they predate encryption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from redis_ckpt.format.checkpoint_codec import document_fields
from redis_ckpt.format.chunks import DIGEST_SIZE, is_record
from redis_ckpt.format.compression import is_dictionary_field
from redis_ckpt.format.encoding import (
    is_reference,
    is_write_field,
    pack_list,
    unpack_channel,
    unpack_list,
    utf8,
)
from redis_ckpt.format.encryption import (
    Encryption,
    body_context,
    chunk_context,
    value_context,
    write_context,
)


@dataclass
class Rewrites:
    """One hash's replacements: (field, as read, new) triples, and a document's pieces."""

    each: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    document: tuple[list[bytes], list[bytes]] | None = None  # (pieces as read, new pieces)
    current: int = 0  # pieces already sealed with the current key
    old_form: int = 0  # a document of before bodies, left as it is


def _reseal(encryption: Encryption, stored: bytes, context: bytes) -> bytes | None:
    """The piece sealed with the current key, or None when it is already."""
    if not encryption.needs_rewrite(stored):
        return None
    return encryption.seal(encryption.open(stored, context), context)


def _add(out: Rewrites, encryption: Encryption, field_: bytes, stored: bytes, context: bytes) -> None:
    new = _reseal(encryption, stored, context)
    if new is None:
        out.current += 1
    else:
        out.each.append((field_, stored, new))


def chunk_hash(encryption: Encryption, fields: Mapping[bytes, bytes]) -> Rewrites:
    """A page of a chunk hash: chunks (16-byte digests) and namespace dictionaries."""
    out = Rewrites()
    for f, stored in fields.items():
        if len(f) == DIGEST_SIZE or is_dictionary_field(f):
            _add(out, encryption, f, stored, chunk_context(f))
    return out


def _channel_of_blob_field(blob_field: bytes) -> bytes:
    # `channel \0 version-repr`; a version repr never holds NUL for this saver's versions
    return blob_field.rpartition(b"\0")[0]


def blob_hash(encryption: Encryption, fields: Mapping[bytes, bytes]) -> Rewrites:
    """A page of a blob hash: plain values and spilled ones (records and references stay)."""
    out = Rewrites()
    for f, stored in fields.items():
        if f[:1] == b"\0":  # a spill field: `\0` + the blob field naming it
            _add(out, encryption, f, stored, value_context(_channel_of_blob_field(f[1:])))
        elif not is_record(stored) and not is_reference(stored):
            _add(out, encryption, f, stored, value_context(_channel_of_blob_field(f)))
    return out


def checkpoint_hash(encryption: Encryption, checkpoint_id: bytes, fields: Mapping[bytes, bytes]) -> Rewrites:
    """A checkpoint's hash: its document's body, its pending writes' values (inline or spilled)."""
    out = Rewrites()
    channels: dict[bytes, bytes] = {}  # write field -> its channel, for its spill field
    for f, stored in fields.items():
        if not is_write_field(f):
            continue
        _path, channel, value = unpack_list(stored)
        channels[f] = utf8(unpack_channel(channel))
        if is_record(value) or is_reference(value):
            continue
        new = _reseal(encryption, value, write_context(channels[f]))
        if new is None:
            out.current += 1
        else:
            out.each.append((f, stored, pack_list([_path, channel, new])))
    for f, stored in fields.items():
        if f[:1] == b"\0" and f[1:] in channels:  # a write's spill field
            _add(out, encryption, f, stored, write_context(channels[f[1:]]))
    if b"d" in fields:
        pieces = [fields[b"d"]]
        while (piece := fields.get(b"d%d" % len(pieces))) is not None:
            pieces.append(piece)
        parent, refs, body = unpack_list(b"".join(pieces))
        new_body = _reseal(encryption, body, body_context(checkpoint_id))
        if new_body is None:
            out.current += 1
        else:
            document = document_fields(pack_list([parent, refs, new_body]))
            out.document = (pieces, list(document.values()))
    elif b"c" in fields:
        out.old_form += 1
    return out


def rewrite_args(rewrites: Rewrites) -> list[list[bytes]]:
    """ARGV of the rewrite.lua calls that apply `rewrites` (pages of at most 100 fields)."""
    calls: list[list[bytes]] = []
    for start in range(0, len(rewrites.each), 100):
        calls.append([b"each", *(x for triple in rewrites.each[start : start + 100] for x in triple)])
    if rewrites.document is not None:
        old, new = rewrites.document
        calls.append([b"doc", b"%d" % len(old), *old, *new])
    return calls
