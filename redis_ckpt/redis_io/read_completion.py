"""The completion step of a read: what a read script left out of its reply, read in at most one
more round trip. Pure functions (the saver runs the commands: `SaverCore._complete`).

A read script leaves out
- large values (spill references in place of values and of pending writes' values: spill.py);
- chunks, when a page needs more than chunks.INLINE_CHUNKS (their digests only): those this
  process has not expanded yet are read here.
`missing` works out all of it for the entries (or delta walk ancestors) of one reply, `commands`
reads it in one MULTI/EXEC that also checks, once, whether the documents of the checkpoints
needing it still exist, `parse` reads the replies and `fill` puts the values back, dropping a
checkpoint whose document was deleted between the two round trips (as if the first had come after
the deletion: a document that still exists still has its values and chunks, which go only with the
last checkpoint referencing them). Checkpoints that needed nothing are complete as read, and left
as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis_ckpt.format.chunks import is_record, own_digests
from redis_ckpt.format.encoding import text, unpack_list
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.format.read_entries import Completable
from redis_ckpt.redis_io import spill
from redis_ckpt.redis_io.wire import Command


@dataclass(frozen=True)
class Missing:
    """What a reply left out."""

    spilled: dict[str, spill.Wanted]  # checkpoint id -> its spilled values and writes
    chunks: list[bytes]  # digests neither in the reply nor expanded in this process
    checked: list[str]  # the checkpoints needing either: their documents are checked


@dataclass(frozen=True)
class Read:
    """What the completion round trip found."""

    alive: dict[str, bool]  # per checked checkpoint: whether its document still exists
    chunks: dict[bytes, bytes]  # digest -> stored chunk (absent ones left out)
    spilled: spill.Found


def _record_digests(item: Completable) -> Iterator[bytes]:
    """The chunk digests of an entry's or ancestor's records (resolved keyframes)."""
    for value in item.values:
        if is_record(value):
            yield from own_digests(value)
    for record in item.writes[1::2]:
        value = unpack_list(record)[2]
        if is_record(value):
            yield from own_digests(value)


def missing(items: Sequence[Completable], found: Mapping[bytes, bytes], deferred: Sequence[bytes]) -> Missing | None:
    """What `items` lack beyond the chunks `found` (raw, by digest: returned or cached), or None
    when nothing: the common case, one round trip in all."""
    absent = [d for d in deferred if d not in found]
    spilled = dict(w for item in items if (w := spill.wanted(text_id(item), item.values, item.writes)))
    if not spilled and not absent:
        return None
    lacking = set(absent)
    checked = {  # an id asked for twice is checked once
        cid: True
        for item in items
        if (cid := text_id(item)) in spilled or (lacking and not lacking.isdisjoint(_record_digests(item)))
    }
    return Missing(spilled, absent, list(checked))


def text_id(item: Completable) -> str:
    return text(item.id) if isinstance(item.id, bytes) else item.id


# A checkpoint's hash may hold pending writes only (they came before its document, or after a
# delete or prune removed it): its document exists when the hash has `d` (`c`: documents stored
# before deduplication), not merely when the key does.
_DOCUMENT_FIELDS = (b"d", b"c")


def commands(layout: KeyLayout, thread_id: str, ns: str, wanted: Missing) -> list[Command]:
    """Whether each checked document exists, the chunks, the spilled values: for one MULTI/EXEC."""
    found: list[Command] = [
        ("HEXISTS", layout.checkpoint(thread_id, ns, cid), name) for cid in wanted.checked for name in _DOCUMENT_FIELDS
    ]
    if wanted.chunks:
        found.append(("HMGET", layout.chunks(thread_id, ns), *wanted.chunks))
    return found + spill.read_commands(layout, thread_id, ns, wanted.spilled)


def parse(wanted: Missing, replies: Sequence[Any]) -> Read:
    """The replies of `commands`, in its order."""
    n, checks = len(_DOCUMENT_FIELDS), len(wanted.checked) * len(_DOCUMENT_FIELDS)
    alive = {cid: any(replies[i * n : i * n + n]) for i, cid in enumerate(wanted.checked)}
    rest = replies[checks:]
    stored: dict[bytes, bytes] = {}
    if wanted.chunks:
        stored = {d: v for d, v in zip(wanted.chunks, rest[0]) if v}
        rest = rest[1:]
    return Read(alive, stored, spill.parse_replies(wanted.spilled, rest))


def fill(items: Sequence[Completable], wanted: Missing, read: Read) -> list[Completable]:
    """`items` with their spilled values put back; those whose document is gone left out."""
    out = []
    for item in items:
        cid = text_id(item)
        if not read.alive.get(cid, True):
            continue
        if cid in wanted.spilled:
            channels, values = spill.fill_values(item.channels, item.values, read.spilled)
            writes = spill.fill_writes(cid, item.writes, read.spilled)
            item = item._replace(channels=channels, values=values, writes=writes)
        out.append(item)
    return out
