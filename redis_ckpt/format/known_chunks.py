"""The per-saver cache of what is stored, learnt from what the saver's own operations produce: a
put's encoded checkpoint, a put_writes' stored writes, a read's records, chunks and dictionaries.
One in-memory cache; no Redis. See docs/design.md, "Puts send only what is new".
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence

from langgraph.checkpoint.base import Checkpoint

from redis_ckpt.format.checkpoint_codec import StoredCheckpoint, StoredWrites
from redis_ckpt.format.chunks import MAX_RUN, Resolved
from redis_ckpt.format.compression import dictionary_field, is_dictionary_field
from redis_ckpt.format.encoding import blob_field
from redis_ckpt.format.known import Base, Known

MAX_NAMESPACES = 1024  # (thread, ns) pairs remembered per saver, least recently used dropped
MAX_DIGESTS = 200_000  # per (thread, ns): past this, start over (sending more, never wrong)


def _added(known: set[bytes], new: Collection[bytes]) -> set[bytes]:
    """`known` with `new` added; an empty set with `new` once it would hold more than MAX_DIGESTS."""
    if len(known) + len(new) > MAX_DIGESTS:
        known = set()
    known.update(new)
    return known


class KnownChunks:
    """Per saver: `Known` for recently used (thread, ns) pairs. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], Known] = OrderedDict()

    def get(self, thread_id: str, ns: str) -> Known:
        key = (thread_id, ns)
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                found = self._entries[key] = Known()
                if len(self._entries) > MAX_NAMESPACES:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            return found

    def after_put(self, thread_id: str, ns: str, stored: StoredCheckpoint) -> None:
        """A put of `stored` landed: what it sent or had checked is stored, its records are the
        channels' bases, and its body and chunks are samples for the namespace's dictionaries."""
        sent = (*stored.chunks, *stored.with_dictionary, *stored.needed_digests)
        digests = [d for d in sent if not is_dictionary_field(d)]
        fields = [*stored.blobs_to_set, *stored.needed_fields]
        used = dict(d for d in (stored.dictionary, stored.chunk_dictionary) if d is not None)
        known = self.get(thread_id, ns)
        with self._lock:
            known.digests = _added(known.digests, digests)
            known.fields = _added(known.fields, fields)
            known.bases.update(stored.bases)
            self._adopt(known, used)
            known.chunks.offer(stored.chunk_samples)
            known.with_dictionary = _added(known.with_dictionary, list(stored.with_dictionary))
            known.bodies.offer([stored.body])
            known.fields.difference_update(stored.blobs_to_delete)

    def after_writes(self, thread_id: str, ns: str, stored: StoredWrites) -> None:
        """A put_writes of `stored` landed: its chunks are stored."""
        self._add_digests(thread_id, ns, list(stored.chunks))

    def after_load(self, thread_id: str, ns: str, found: Mapping[bytes, bytes]) -> None:
        """A read returned the chunks of `found` (digest -> raw): they are stored."""
        self._add_digests(thread_id, ns, list(found))

    def after_read(self, thread_id: str, ns: str, checkpoint: Checkpoint, records: Mapping[str, Resolved]) -> None:
        """A checkpoint just read (`records`: its values that were records, by channel) is usually
        the parent of the next put: its records are the bases that put's values can be stored as
        deltas on, and its values are stored (the next put references those of channels it does
        not write, and has that checked).

        Such a base replaces a known one only if it is another record: this process's own record
        of the same version knows its run and anchor, which a read cannot tell (taking the read's,
        an anchor at the record's depth, made chains deepen at every LangGraph invoke, which reads
        the thread first, and end in a keyframe of every chunk every dozen turns: 79 KB of a
        200-turn chat's records)."""
        versions = checkpoint["channel_versions"]
        bases = {
            channel: Base(blob_field(channel, versions[channel]), versions[channel], r.digests, r.depth)
            for channel, r in records.items()
            if channel in versions
        }
        fields = [blob_field(c, versions[c]) for c in checkpoint["channel_values"] if c in versions]
        known = self.get(thread_id, ns)
        with self._lock:
            # ... unless the read found it deeper than this process counted: another writer stored
            # the same version since (its record replaced this one's), and only the read's count
            # is right.
            bases = {
                c: b
                for c, b in bases.items()
                if (k := known.bases.get(c)) is None or k.field != b.field or b.depth > k.depth
            }
            known.bases.update(bases)
            known.fields = _added(known.fields, fields)

    def bases(self, thread_id: str, ns: str) -> dict[str, Base]:
        """Each channel's last record this process stored or read in (thread, ns): what a pending
        write of a list written whole may be a delta on (storage format 2). Any stored record
        will do: garbage collection keeps a write's base through the write, as long as the write."""
        known = self.get(thread_id, ns)
        with self._lock:
            return dict(known.bases)

    def learn_dictionaries(self, thread_id: str, ns: str, dictionaries: Mapping[bytes, bytes]) -> None:
        """Namespace dictionaries (digest -> raw) a read found stored."""
        known = self.get(thread_id, ns)
        with self._lock:
            self._adopt(known, dictionaries)

    def dictionaries(self, thread_id: str, ns: str) -> dict[bytes, bytes]:
        """A copy of the namespace dictionaries known in (thread, ns) (other threads may add some)."""
        known = self.get(thread_id, ns)
        with self._lock:
            return dict(known.dictionaries)

    def drop(self, thread_id: str, ns: str, missing: Sequence[bytes]) -> None:
        """Stop relying on `missing` chunks and on bases whose record is missing."""
        known = self.get(thread_id, ns)
        gone = set(missing)
        with self._lock:
            known.digests -= gone
            known.fields -= gone
            known.with_dictionary -= gone
            for digest in [d for d in known.dictionaries if dictionary_field(d) in gone]:
                del known.dictionaries[digest]
                known.bodies.lose(digest)
                if known.chunks.lose(digest):
                    known.with_dictionary = set()
            for channel, base in list(known.bases.items()):
                if base.field in gone:
                    del known.bases[channel]
                elif base.anchor is not None and base.anchor.field in gone:
                    known.bases[channel] = Base(base.field, base.version, base.digests, base.depth, MAX_RUN)

    def forget(self, thread_id: str, ns: str | None = None) -> set[bytes]:
        """Drop what is known of (thread, ns), or of every namespace of the thread; returns the
        chunk digests that were known there."""
        digests: set[bytes] = set()
        with self._lock:
            for key in [k for k in self._entries if k[0] == thread_id and (ns is None or k[1] == ns)]:
                digests |= self._entries.pop(key).digests
        return digests

    def _add_digests(self, thread_id: str, ns: str, digests: Sequence[bytes]) -> None:
        known = self.get(thread_id, ns)
        with self._lock:
            known.digests = _added(known.digests, digests)

    @staticmethod
    def _adopt(known: Known, dictionaries: Mapping[bytes, bytes]) -> None:
        """Dictionaries seen stored; each trainer takes the first of its kind if it has none."""
        known.dictionaries.update(dictionaries)
        for digest, raw in dictionaries.items():
            known.bodies.adopt(digest, raw)
            known.chunks.adopt(digest, raw)
