"""Records this process has already resolved, so that a read need not resolve them again. Pure.

A deduplicated value is a record: a keyframe of chunk digests, or a delta on an older version of
the channel. The `load` script follows a delta's chain (one HGET per link) and hands back the
value's chunks: most of a small read's server time (docs/performance.md). A process that wrote or
read a value already knows both, so it names those blob fields in its call (the `known` argument
of lua/load.lua); the script then returns `KNOWN` + field for them, and the saver puts back the
resolved keyframe it kept here and the chunks from its cache of expanded chunks.

Only fields whose version is one of this saver's own (`channel_versions.next_version`: a counter
and 36 random bits) are kept. Such a field names one value for good: a fork bumping the same
channel gets another random suffix, and a thread deleted and written again gets new versions.
Versions given by callers (integers, InMemorySaver's) can name different values over time, so
their records are always resolved by the script.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from redis_ckpt.format.chunks import DIGEST_SIZE, KEYFRAME, Resolved, is_record
from redis_ckpt.format.encoding import blob_field, pack_list, unpack_list
from redis_ckpt.format.read_entries import StoredEntry

if TYPE_CHECKING:
    from langgraph.checkpoint.base import Checkpoint

    from redis_ckpt.format.checkpoint_codec import StoredCheckpoint

KNOWN = b"\x04"  # a value the script left to the caller: KNOWN + its blob field (lua/load.lua)
PER_NAMESPACE = 256  # resolved records kept per (thread, ns)
PAGE_HINTS = 16  # the most recent of them named in a list page's read (a read by id names its own)
REFS = 256  # checkpoints per (thread, ns) whose blob fields are kept, to name them in reads by id
MAX_NAMESPACES = 1024
MAX_BYTES = 16 * 1024 * 1024  # of keyframes kept per saver, least recently used dropped first

# `channel \0 s:` + a version of channel_versions.next_version: `v` + 5 counter digits or `w` + 11,
# then 6 random characters.
_UNIQUE_FIELD = re.compile(rb"\0s:(?:v[0-9A-Za-z]{5}|w[0-9A-Za-z]{11})[0-9A-Za-z_-]{6}\Z")


def names_one_value(field: bytes) -> bool:
    """Whether a blob field's version is this saver's own, so that its value never changes."""
    return _UNIQUE_FIELD.search(field) is not None


def keyframe(header: bytes, digests: Sequence[bytes], depth: int) -> bytes:
    """A resolved record as the `load` script returns it (lua/common.lua, resolve)."""
    return KEYFRAME + pack_list([header, b"".join(digests), b"%d" % depth])


class _Namespace:
    def __init__(self) -> None:
        self.records: OrderedDict[bytes, bytes] = OrderedDict()  # field -> resolved keyframe
        self.latest: dict[bytes, bytes] = {}  # channel -> its field last remembered
        self.refs: OrderedDict[str, tuple[bytes, ...]] = OrderedDict()  # checkpoint id -> its kept fields


class ResolvedRecords:
    """Per saver: resolved keyframes of recently written or read values, by (thread, ns, blob
    field). Only a shortcut: a field missing here is resolved by the script. Thread-safe."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._lock = threading.Lock()
        self._spaces: OrderedDict[tuple[str, str], _Namespace] = OrderedDict()
        self._sizes: dict[tuple[str, str], int] = {}
        self._size, self._max_bytes = 0, max_bytes

    def remember(
        self, thread_id: str, ns: str, records: Mapping[bytes, bytes], checkpoint: Checkpoint | None = None
    ) -> None:
        """Keep `records` (blob field -> resolved keyframe) of (thread, ns), and which of the blob
        fields `checkpoint` references may be kept (to name them when it is read by id)."""
        records = {f: r for f, r in records.items() if names_one_value(f)}
        fields: tuple[bytes, ...] = ()
        if checkpoint is not None:
            versions = checkpoint["channel_versions"]
            named = (blob_field(c, versions[c]) for c in checkpoint["channel_values"] if c in versions)
            fields = tuple(f for f in named if names_one_value(f))
        if not records and not fields:
            return
        key = (thread_id, ns)
        with self._lock:
            space = self._spaces.get(key)
            if space is None:
                space = self._spaces[key] = _Namespace()
                self._sizes[key] = 0
                if len(self._spaces) > MAX_NAMESPACES:
                    self._drop(next(iter(self._spaces)))
            self._spaces.move_to_end(key)
            for field, resolved in records.items():
                old = space.records.pop(field, None)
                self._grow(key, len(resolved) - (len(old) if old is not None else 0))
                space.records[field] = resolved
                space.latest[field.partition(b"\0")[0]] = field
            while len(space.records) > PER_NAMESPACE:
                field, old = space.records.popitem(last=False)
                self._grow(key, -len(old))
            if checkpoint is not None and fields:
                space.refs[checkpoint["id"]] = fields
                space.refs.move_to_end(checkpoint["id"])
                if len(space.refs) > REFS:
                    space.refs.popitem(last=False)
            while self._size > self._max_bytes and self._spaces:
                self._drop(next(iter(self._spaces)))

    def after_put(self, thread_id: str, ns: str, checkpoint: Checkpoint, stored: StoredCheckpoint) -> None:
        """Keep the records a put stored, resolved with what the put knew of them (each channel's
        `Base`: every digest of the value and the chain's depth)."""
        resolved = {}
        for base in stored.bases.values():
            if not names_one_value(base.field):
                continue
            record = stored.blobs_to_set.get(base.field)
            if record is not None and is_record(record):
                resolved[base.field] = keyframe(unpack_list(record[1:])[0], base.digests, base.depth)
        self.remember(thread_id, ns, resolved, checkpoint)

    def after_read(self, thread_id: str, ns: str, checkpoint: Checkpoint, records: Mapping[str, Resolved]) -> None:
        """Keep the records a read resolved (per channel), so that the next read leaves them to us."""
        versions = checkpoint["channel_versions"]
        resolved = {
            blob_field(c, versions[c]): keyframe(r.header, r.digests, r.depth)
            for c, r in records.items()
            if c in versions
        }
        self.remember(thread_id, ns, resolved, checkpoint)

    def hints(self, thread_id: str, ns: str, mode: str, count: int, ids: Sequence[str] = ()) -> dict[bytes, bytes]:
        """The records to name in a `load` call (field -> resolved keyframe): each channel's last
        one for a read of the latest checkpoint (mode 'page', count 1); for reads by id, also those
        the checkpoints read reference, when this process saw them; for a list page, the most
        recent PAGE_HINTS."""
        with self._lock:
            space = self._spaces.get((thread_id, ns))
            if space is None:
                return {}
            chosen = [f for f in space.latest.values() if f in space.records]
            if mode == "ids":
                chosen += [f for cid in ids for f in space.refs.get(cid, ()) if f in space.records]
            elif count > 1:
                chosen += list(space.records)[-PAGE_HINTS:]
            return {f: space.records[f] for f in chosen}

    def forget(self, thread_id: str, ns: str | None = None) -> None:
        """Drop what is kept of (thread, ns), or of every namespace of the thread."""
        with self._lock:
            for key in [k for k in self._spaces if k[0] == thread_id and (ns is None or k[1] == ns)]:
                self._drop(key)

    def _grow(self, key: tuple[str, str], by: int) -> None:
        self._sizes[key] += by
        self._size += by

    def _drop(self, key: tuple[str, str]) -> None:
        del self._spaces[key]
        self._size -= self._sizes.pop(key)


def known_argument(hints: Mapping[bytes, bytes]) -> bytes:
    """The `known` argument of lua/load.lua: the hinted fields, length-prefixed."""
    return pack_list(list(hints))


def put_back(entries: Sequence[StoredEntry], hints: Mapping[bytes, bytes]) -> tuple[list[StoredEntry], list[bytes]]:
    """`load` entries with each KNOWN + field value replaced by the hinted keyframe, and the digests
    of those keyframes (their chunks come from the saver's cache). Entries of a cold read, which
    hold no KNOWN value, are returned as they are."""
    out: list[StoredEntry] = []
    digests: list[bytes] = []
    for entry in entries:
        if not any(v[:1] == KNOWN for v in entry.values):
            out.append(entry)
            continue
        values = []
        for value in entry.values:
            if value[:1] == KNOWN:
                value = hints[value[1:]]
                own = unpack_list(value[1:])[1]
                digests += [own[i : i + DIGEST_SIZE] for i in range(0, len(own), DIGEST_SIZE)]
            values.append(value)
        out.append(entry._replace(values=values))
    return out, list(dict.fromkeys(digests))


__all__ = [
    "KNOWN",
    "Resolved",
    "ResolvedRecords",
    "keyframe",
    "known_argument",
    "names_one_value",
    "put_back",
]
