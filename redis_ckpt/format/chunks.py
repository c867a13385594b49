"""Deduplicated storage of serialized values: chunks and records. Pure functions and one in-memory
cache (of expanded chunks); no Redis. See docs/design.md, "Deduplicated values". What a process
knows is stored, which a put's records rely on, is in known.py, learnt by known_chunks.py.

A serialized list (a msgpack array: a chat's `messages`, any list channel, a pending write of new
messages) is cut at its element boundaries into chunks of at least GROUP_TARGET bytes. Each chunk
is stored once per (thread, namespace), in the chunk hash, under its digest (blake2b-128). A value
is then a *record* in the blob hash (or in a pending write), of serializer type msgpack:

    KEYFRAME + pack_list([array header, digests])
    DELTA + pack_list([array header, digests, depth, base field, k])

A keyframe is the header and the chunks named by `digests`; a delta is "the first k chunks of the
value stored in `base field`, then `digests`". A chat message list that grew by two
messages is stored as a delta of a few dozen bytes on the channel's previous version. Deltas sit
only on a strictly older version of the same channel, so chains never loop, and chains are short
(the read script follows them, one HGET per link): a run of at most MAX_RUN deltas on previous
versions starts at an *anchor*, a record whose next anchor is a delta on it rather than a keyframe
of every chunk so far (at 800 versions of a 200-turn chat, keyframes every 32 versions took 160 KB);
anchors chain at most MAX_ANCHOR_DEPTH deep down to a keyframe. Read scripts resolve chains to
keyframes and return the chunks; `materialize` puts the exact serializer bytes back together.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis_ckpt.errors import ReadConflictError
from redis_ckpt.format.compression import COMPRESSED, pack_chunk, unpack_chunk, unpack_typed_value
from redis_ckpt.format.encoding import LARGE_VALUE, pack_list, unpack_list
from redis_ckpt.format.known import Base, Known
from redis_ckpt.format.msgpack_walk import NotMsgpack, list_layout, next_element

DELTA, KEYFRAME = b"\x02", b"\x03"
DIGEST_SIZE = 16
MSGPACK = b"msgpack"
GROUP_TARGET = 256  # a chunk closes once it holds this many bytes: one chat message is one chunk
MIN_VALUE = 256  # smaller values are stored inline: a record and a chunk would cost more
MAX_RUN = 31  # deltas in a row on the previous version, after the anchor they start from
MAX_ANCHOR_DEPTH = 31  # anchors in a row, each a delta on the previous one, after a keyframe
# A chain is at most MAX_ANCHOR_DEPTH + MAX_RUN links long, as far as its writer knows (the read
# scripts follow up to 256: writers storing the same version replace each other's records).


def digest(chunk: bytes) -> bytes:
    return hashlib.blake2b(chunk, digest_size=DIGEST_SIZE).digest()


@dataclass(frozen=True)
class Split:
    """A typed msgpack array cut into chunks: `msgpack \\0 header + b"".join(chunks)` is the value.
    `data` (the value without its type name), `ends` (the offset in it after each chunk) and
    `counts` (the elements up to and with each chunk) let the next version of the list be cut
    from where this one's last full chunk ends (`split(typed, previous)`)."""

    header: bytes
    chunks: list[bytes]
    digests: list[bytes]
    data: bytes = b""
    ends: tuple[int, ...] = ()
    counts: tuple[int, ...] = ()


def split(typed: bytes, previous: Split | None = None) -> Split | None:
    """The chunks of a typed value, or None when it is not a msgpack array worth chunking.

    Boundaries depend only on the elements before them, so appending to a list leaves every
    earlier chunk, and its digest, unchanged. So when `previous` (the channel's last value, cut)
    is a prefix of this one up to its last full chunk, those chunks are taken as they are and
    only the rest is walked and hashed: a put of a chat that grew by a message costs O(message),
    not O(chat) (the same chunks as a cut from scratch: tested)."""
    if len(typed) < MIN_VALUE:
        return None
    type_name, _, data = typed.partition(b"\0")
    if type_name != MSGPACK:
        return None
    layout = list_layout(data)
    if layout is None:
        return None
    start, count = layout
    chunks: list[bytes] = []
    digests: list[bytes] = []
    ends: list[int] = []
    counts: list[int] = []
    if previous is not None and len(previous.ends) > 1:
        # every chunk but the last closed at GROUP_TARGET bytes, whatever came after it
        kept = len(previous.ends) - 1
        old_start = previous.ends[0] - len(previous.chunks[0])
        old_end = previous.ends[kept - 1]
        if previous.counts[kept - 1] <= count and data.startswith(previous.data[old_start:old_end], start):
            chunks, digests = previous.chunks[:kept], previous.digests[:kept]
            ends = [e - old_start + start for e in previous.ends[:kept]]
            counts = list(previous.counts[:kept])
    pos = ends[-1] if ends else start
    done = counts[-1] if counts else 0
    group_start = pos
    try:
        for _ in range(count - done):
            nxt = next_element(data, pos)
            if nxt - pos > LARGE_VALUE:
                # Chunks are read inside the read scripts, and Redis spends ~1.5 µs per KB handing a
                # value to Lua (a 10 MB element: 23 ms of server time per read). Such a list is
                # stored whole, where a large value is read outside Lua (encoding.LARGE_VALUE), at
                # the cost of storing it again for every version of the channel.
                return None
            pos, done = nxt, done + 1
            if pos - group_start >= GROUP_TARGET:
                chunks.append(data[group_start:pos])
                ends.append(pos)
                counts.append(done)
                group_start = pos
    except NotMsgpack:
        return None
    if pos != len(data):
        return None
    if pos > group_start:
        chunks.append(data[group_start:pos])
        ends.append(pos)
        counts.append(done)
    digests = digests + [digest(c) for c in chunks[len(digests) :]]
    return Split(data[:start], chunks, digests, data, tuple(ends), tuple(counts))


def record(
    parts: Split, base_field: bytes = b"", keep: int = 0, depth: int = 0, digests: Sequence[bytes] = ()
) -> bytes:
    """A stored record: a keyframe of `parts`, or a delta keeping `keep` chunks of `base_field`."""
    if not base_field:
        return KEYFRAME + pack_list([parts.header, b"".join(parts.digests)])
    return DELTA + pack_list([parts.header, b"".join(digests), b"%d" % depth, base_field, b"%d" % keep])


def is_record(stored: bytes) -> bool:
    return stored[:1] in (DELTA, KEYFRAME)


@dataclass(frozen=True)
class Resolved:
    """A record as the read scripts return it: a keyframe (chains already followed), with the
    depth of the record it was resolved from."""

    header: bytes
    digests: list[bytes]
    depth: int


def parse_record(stored: bytes) -> tuple[Resolved, bytes, int]:
    """(record, base field, keep) of a stored record; a keyframe has no base field."""
    items = unpack_list(stored[1:])
    own = items[1]
    digests = [own[i : i + DIGEST_SIZE] for i in range(0, len(own), DIGEST_SIZE)]
    depth = int(items[2]) if len(items) > 2 else 0
    if stored[:1] == KEYFRAME:
        return Resolved(items[0], digests, depth), b"", 0
    return Resolved(items[0], digests, depth), items[3], int(items[4])


def own_digests(stored: bytes) -> list[bytes]:
    return parse_record(stored)[0].digests


def materialize(stored: bytes, raw_chunks: Mapping[bytes, bytes]) -> tuple[bytes, Resolved | None]:
    """The exact typed bytes of a stored value (plain, compressed or a resolved record, whose chunks
    `raw_chunks` holds, expanded), and the record when it was one."""
    if not is_record(stored):
        return unpack_typed_value(stored), None
    resolved, base, _ = parse_record(stored)
    if base:  # the read script could not follow the chain: a base field is gone
        raise ReadConflictError("a deduplicated value's chain is incomplete (deleted while read); retry")
    try:
        body = b"".join([raw_chunks[d] for d in resolved.digests])
    except KeyError:
        raise ReadConflictError("a deduplicated value lost a chunk (deleted while read); retry") from None
    return MSGPACK + b"\0" + resolved.header + body, resolved


def digest_set(concatenated: bytes) -> list[bytes]:
    """The distinct digests of a string of 16-byte digests, in first-seen order."""
    return list(dict.fromkeys(concatenated[i : i + DIGEST_SIZE] for i in range(0, len(concatenated), DIGEST_SIZE)))


def chunk_map(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """The read scripts' {digest, stored chunk, ...} list as a dict (absent chunks left out)."""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2) if flat[i + 1]}


CACHE_BYTES = 32 * 1024 * 1024  # expanded chunks kept per saver
INLINE_CHUNKS = 256  # a `load` needing more chunks returns only their digests (lua/load.lua)


class ExpandedChunks:
    """Chunks already decompressed, by digest (content-addressed, so never stale), bounded by
    size, oldest dropped first. A thread read again (LangGraph reads it before every run) then
    costs decompression only for what is new: 800 chat messages take ~3 ms to expand. Thread-safe."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self._lock = threading.Lock()
        self._data: OrderedDict[bytes, bytes] = OrderedDict()
        self._size, self._limit = 0, limit

    def cached(self, digests: Sequence[bytes]) -> dict[bytes, bytes]:
        """digest -> raw chunk for those of `digests` already expanded here."""
        with self._lock:
            return {d: raw for d in digests if (raw := self._data.get(d)) is not None}

    def add(self, raw_chunks: Mapping[bytes, bytes]) -> None:
        """Keep raw chunks a put just stored: the next read of the thread, usually by this process,
        then names their records as known (resolved_records.py) and needs nothing from Redis."""
        with self._lock:
            self._keep(raw_chunks)

    def discard(self, digests: Iterable[bytes]) -> None:
        """Drop these chunks (a process done with a thread; other threads holding the same chunks
        only expand them again)."""
        with self._lock:
            for d in digests:
                raw = self._data.pop(d, None)
                if raw is not None:
                    self._size -= len(raw)

    def _keep(self, raw_chunks: Mapping[bytes, bytes]) -> None:
        for d, raw in raw_chunks.items():
            if d in self._data:
                self._data.move_to_end(d)
            else:
                self._data[d] = raw
                self._size += len(raw)
        while self._size > self._limit and self._data:
            self._size -= len(self._data.popitem(last=False)[1])

    def expand(
        self,
        stored_chunks: Mapping[bytes, bytes],
        dictionaries: Mapping[bytes, bytes] | None = None,
        opener: Callable[[bytes, bytes], bytes] | None = None,
    ) -> dict[bytes, bytes]:
        """digest -> raw chunk for every chunk the read scripts returned (`dictionaries`: the
        namespace dictionaries chunks may be compressed with, digest -> raw; `opener(digest,
        stored)`: the stored chunk decrypted, see encryption.py)."""
        with self._lock:
            out = {d: raw for d in stored_chunks if (raw := self._data.get(d)) is not None}
        missing = {
            d: unpack_chunk(opener(d, v) if opener is not None else v, dictionaries)
            for d, v in stored_chunks.items()
            if d not in out
        }
        if missing:
            with self._lock:
                self._keep(missing)
            out.update(missing)
        return out


# -- encoding a value for a put -------------------------------------------------------------------
@dataclass
class Encoded:
    """One value as a put stores it."""

    stored: bytes  # what goes in the blob field (or the pending write)
    chunks: dict[bytes, bytes]  # digest -> stored chunk, to send
    needed_fields: list[bytes]  # blob fields it relies on without sending them
    needed_digests: list[bytes]  # chunks it relies on without sending them
    base: Base | None  # what to remember for the next version of this channel
    # chunks compressed with `dictionary`: written by the commit script once it checked the
    # dictionary is stored (encoded again even when stored already, by a put_writes without it)
    with_dictionary: dict[bytes, bytes] = field(default_factory=dict)
    samples: list[bytes] = field(default_factory=list)  # raw chunks this record adds


def encode_chunked(
    parts: Split,
    compress: bool,
    known: Known | None,
    channel: str | None = None,
    field_name: bytes = b"",
    version: Any = None,
    dictionary: tuple[bytes, bytes] | None = None,
) -> Encoded:
    """A record for `parts`: a delta on the channel's last known version when that is possible,
    with only the chunks not known to be stored; `known=None` sends everything (a keyframe).
    With `dictionary` (a put's chunk dictionary), the chunks the record adds that are not known to
    be stored with a namespace dictionary are sent compressed with it, also those stored already
    (put_writes stores chunks without it: it cannot check the dictionary exists)."""
    digests = parts.digests
    last = known.bases.get(channel) if known is not None and channel is not None else None
    base, keep, run, anchor = _choose_base(last, field_name, version, digests)
    if base is not None:
        stored = record(parts, base.field, keep, base.depth + 1, digests[keep:])
        depth, needed_fields, tail = base.depth + 1, [base.field], range(keep, len(digests))
    else:
        stored = record(parts)
        depth, needed_fields, tail = 0, [], range(len(digests))
    chunks: dict[bytes, bytes] = {}
    with_dictionary: dict[bytes, bytes] = {}
    needed: list[bytes] = []
    for i in tail:
        d = digests[i]
        if d in chunks or d in with_dictionary:
            continue
        if dictionary is not None and known is not None and d not in known.with_dictionary:
            with_dictionary[d] = pack_chunk(parts.chunks[i], compress, dictionary)
        elif known is not None and d in known.digests:
            needed.append(d)
        else:
            chunks[d] = pack_chunk(parts.chunks[i], compress)
    remembered = Base(field_name, version, digests, depth, run, anchor) if channel is not None else None
    samples = [] if dictionary is not None else [parts.chunks[i] for i in tail]  # to make one of
    return Encoded(stored, chunks, needed_fields, sorted(set(needed)), remembered, with_dictionary, samples)


def _choose_base(
    last: Base | None, field_name: bytes, version: Any, digests: Sequence[bytes]
) -> tuple[Base | None, int, int, Base | None]:
    """(base, chunks kept from it, run, anchor) of the new record: a delta on the channel's last
    version while its run is short, else on that run's anchor, else a keyframe (base None)."""
    if last is None:
        return None, 0, 0, None
    if last.run < MAX_RUN and last.depth < MAX_ANCHOR_DEPTH + MAX_RUN:
        keep = common_prefix(last.digests, digests)
        if keep and _usable_base(last, field_name, version):
            return last, keep, last.run + 1, (last if last.run == 0 else last.anchor)
    anchor = last if last.run == 0 else last.anchor
    if anchor is not None and anchor.depth < MAX_ANCHOR_DEPTH:
        keep = common_prefix(anchor.digests, digests)
        if keep and _usable_base(anchor, field_name, version):
            return anchor, keep, 0, None  # the new record is the next anchor
    return None, 0, 0, None


def common_prefix(a: Sequence[bytes], b: Sequence[bytes]) -> int:
    keep = 0
    while keep < len(a) and keep < len(b) and a[keep] == b[keep]:
        keep += 1
    return keep


def _usable_base(base: Base, field_name: bytes, version: Any) -> bool:
    """A delta may sit on `base` only if that is a strictly older version of the same channel
    (so chains cannot loop, even when an old checkpoint is put again)."""
    if base.field == field_name or type(base.version) is not type(version):
        return False
    try:
        return bool(base.version < version)
    except TypeError:
        return False


def materialize_writes(flat: Sequence[bytes], found: Mapping[bytes, bytes]) -> list[bytes]:
    """A writes hash's {field, record, ...} list with each value as its exact typed bytes."""
    out: list[bytes] = []
    for i in range(0, len(flat), 2):
        task_path, channel, value = unpack_list(flat[i + 1])
        if is_record(value) or value[:1] == COMPRESSED:
            out += (flat[i], pack_list([task_path, channel, materialize(value, found)[0]]))
        else:
            out += (flat[i], flat[i + 1])
    return out
