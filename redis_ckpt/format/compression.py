"""Compression of stored bytes: zstd with a fixed dictionary. Pure functions.

Stored bytes say how they are encoded, so a reader needs no configuration and data written with
compression off, or before compression existed, stays readable:
- a *typed value* (`type \\0 data`, see encoding.py) starts with its type name, a letter; compressed,
  it is `COMPRESSED` followed by a zstd frame of the whole typed value;
- a *chunk* (chunks.py) is `RAW` or `COMPRESSED` followed by its bytes or their zstd frame; a
  document's body (checkpoint_codec.py) is stored like a chunk, or as `WITH_DICTIONARY`, the 8-byte digest
  of a *namespace dictionary* and a zstd frame made with it.

A namespace dictionary is made of the first few checkpoint bodies one process wrote in a (thread,
ns): its later bodies share their node and channel names and their shape, so compressed with it
(after the fixed dictionary) they take ~64 bytes instead of ~117 (a chat checkpoint). It is stored
once in the namespace's chunk hash under `dictionary_field(digest)`, as a chunk, and stays as long
as the namespace. Only put's `commit` writes a document, after checking that the dictionary its
body needs is stored, so no document is ever written that cannot be read.

The dictionary (`zstd_dict_v1.bin`, 1.6 KB of serialized LangChain messages and checkpoint
boilerplate) is part of the format: it is never changed, a new one would get a new marker. It is
what makes small values pay: chat messages compress to 59% of their size alone and to 47% with
it (measured on the chat benchmark).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import zstandard

from redis_ckpt.errors import ReadConflictError

RAW = b"\x00"
COMPRESSED = b"\x01"  # zstd frame, dictionary v1
WITH_DICTIONARY = b"\x02"  # then a namespace dictionary's digest, then a zstd frame made with it
DICTIONARY_SAMPLES = 4  # bodies a namespace dictionary is made of
# ... once this process has stored this many bodies in the namespace: a short thread (a graph run
# of a few steps) would pay for making and sending one, and gain nothing.
DICTIONARY_AFTER = 16
# A namespace's chunk dictionary: made of the first chunks (messages) a process stored in the
# namespace, once they add up to CHUNK_DICTIONARY_BYTES, and marked so that readers, which learn
# dictionaries without their purpose, never take it for the body dictionary. Chat messages
# compress ~25% smaller with it than with the fixed dictionary alone.
CHUNK_DICTIONARY_BYTES = 8192
CHUNK_DICTIONARY_MARK = b"chunks\0"
_DIGEST = 8  # a namespace dictionary's digest: a namespace holds one or a few
_PER_THREAD_DICTIONARIES = 32  # (de)compressors kept per thread, least recently used dropped
LEVEL = 3  # level 3 compresses a 1 KB message in ~10 µs; higher levels gain 1-3% here for 3-10x the time
MIN_SIZE = 64  # below this, a frame's own header eats the gain
MIN_SAVING = 8  # keep a frame only if it saves at least 1/8 of the bytes

_DICTIONARY = zstandard.ZstdCompressionDict(
    (resources.files("redis_ckpt.format") / "zstd_dict_v1.bin").read_bytes(), dict_type=zstandard.DICT_TYPE_RAWCONTENT
)
# zstandard's (de)compressor objects are not thread-safe: one pair per thread.
_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    found: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if found is None:
        found = _local.compressor = zstandard.ZstdCompressor(
            level=LEVEL, dict_data=_DICTIONARY, write_checksum=False, write_dict_id=False
        )
    return found


def _decompressor() -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if found is None:
        found = _local.decompressor = zstandard.ZstdDecompressor(dict_data=_DICTIONARY)
    return found


def shrink(raw: bytes) -> bytes | None:
    """The zstd frame of `raw` when it pays (see MIN_SIZE, MIN_SAVING), else None."""
    if len(raw) < MIN_SIZE:
        return None
    frame = _compressor().compress(raw)
    return frame if len(frame) <= len(raw) - len(raw) // MIN_SAVING else None


def expand(frame: bytes) -> bytes:
    return _decompressor().decompress(frame)


def pack_typed_value(typed: bytes, compress: bool) -> bytes:
    """A typed value as stored: compressed (marked) when asked and when it pays, else as is."""
    frame = shrink(typed) if compress else None
    return COMPRESSED + frame if frame is not None else typed


def unpack_typed_value(stored: bytes) -> bytes:
    """Inverse of `pack_typed_value` (plain typed values, old data included, pass through)."""
    return expand(stored[1:]) if stored[:1] == COMPRESSED else stored


def pack_chunk(raw: bytes, compress: bool, dictionary: tuple[bytes, bytes] | None = None) -> bytes:
    """Bytes as stored; `dictionary` = (digest, raw) of a namespace dictionary to compress with."""
    if compress and dictionary is not None:
        with_dictionary: bytes = _dictionary_compressor(dictionary).compress(raw)
        return WITH_DICTIONARY + dictionary[0] + with_dictionary
    frame = shrink(raw) if compress else None
    return COMPRESSED + frame if frame is not None else RAW + raw


def unpack_chunk(stored: bytes, dictionaries: Mapping[bytes, bytes] | None = None) -> bytes:
    """Inverse of `pack_chunk`; `dictionaries` maps digest -> raw namespace dictionary."""
    if stored[:1] == COMPRESSED:
        return expand(stored[1:])
    if stored[:1] == RAW:
        return stored[1:]
    if stored[:1] == WITH_DICTIONARY:
        digest = stored[1 : 1 + _DIGEST]
        raw = (dictionaries or {}).get(digest)
        if raw is None:  # the read scripts return every dictionary a reader lacks
            raise ReadConflictError(f"namespace dictionary {digest.hex()} not found; retry")
        expanded: bytes = _dictionary_decompressor((digest, raw)).decompress(stored[1 + _DIGEST :])
        return expanded
    raise ValueError(f"unknown chunk encoding {stored[:1]!r}")


# -- namespace dictionaries -------------------------------------------------------------------------
DICTIONARY_FIELD = b"dict:"  # + digest, in the chunk hash: 13 bytes, never a chunk digest's 16


def dictionary_field(digest: bytes) -> bytes:
    return DICTIONARY_FIELD + digest


def is_dictionary_field(field: bytes) -> bool:
    return len(field) == len(DICTIONARY_FIELD) + _DIGEST and field.startswith(DICTIONARY_FIELD)


def dictionaries_needed(stored_chunks: Iterable[bytes]) -> set[bytes]:
    """The digests of the namespace dictionaries these stored chunks (or bodies) need."""
    return {s[1 : 1 + _DIGEST] for s in stored_chunks if s[:1] == WITH_DICTIONARY}


def dictionary_digest(field: bytes) -> bytes:
    """Inverse of `dictionary_field`."""
    return field[len(DICTIONARY_FIELD) :]


def make_dictionary(samples: Sequence[bytes]) -> tuple[bytes, bytes]:
    """(digest, raw) of a namespace dictionary made of `samples`."""
    raw = b"".join(samples)
    return hashlib.blake2b(raw, digest_size=_DIGEST).digest(), raw


def make_chunk_dictionary(samples: Sequence[bytes]) -> tuple[bytes, bytes]:
    """(digest, raw) of a chunk dictionary made of `samples` (see CHUNK_DICTIONARY_BYTES)."""
    return make_dictionary([CHUNK_DICTIONARY_MARK, *samples])


def is_chunk_dictionary(raw: bytes) -> bool:
    return raw.startswith(CHUNK_DICTIONARY_MARK)


def _cached(dictionary: tuple[bytes, bytes], kind: str) -> Any:
    """This thread's compressor or decompressor for a namespace dictionary (the fixed dictionary,
    then the namespace's), the least recently used dropped past _PER_THREAD_DICTIONARIES."""
    cache: OrderedDict[tuple[bytes, str], Any] | None = getattr(_local, "dictionaries", None)
    if cache is None:
        cache = _local.dictionaries = OrderedDict()
    key = (dictionary[0], kind)
    found = cache.get(key)
    if found is None:
        data = zstandard.ZstdCompressionDict(
            _DICTIONARY.as_bytes() + dictionary[1], dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        if kind == "compressor":
            found = zstandard.ZstdCompressor(level=LEVEL, dict_data=data, write_checksum=False, write_dict_id=False)
        else:
            found = zstandard.ZstdDecompressor(dict_data=data)
        cache[key] = found
        if len(cache) > _PER_THREAD_DICTIONARIES:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return found


def _dictionary_compressor(dictionary: tuple[bytes, bytes]) -> zstandard.ZstdCompressor:
    found: zstandard.ZstdCompressor = _cached(dictionary, "compressor")
    return found


def _dictionary_decompressor(dictionary: tuple[bytes, bytes]) -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor = _cached(dictionary, "decompressor")
    return found
