"""Walking a deployment's keys without decoding a checkpoint: threads page by page, and what a
thread costs in memory. Besides key_layout.py (which names keys), the one module that knows which keys
make up a thread; tools that list, size or back up threads go through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from redis_ckpt.errors import ConfigurationError
from redis_ckpt.format.encoding import text
from redis_ckpt.format.key_layout import KeyLayout

SCAN_COUNT = 1000  # keys the server looks at per SCAN call
ID_PAGE = 1000  # checkpoint ids (and so keys) sized per round trip


@dataclass(frozen=True)
class ThreadPage:
    """One page of threads, in SCAN order, and the cursor of the next page ('' after the last)."""

    threads: list[str]
    cursor: str


def parse_cursor(cursor: str) -> tuple[int, int]:
    """A page cursor is `<scan cursor>:<threads of that SCAN batch already returned>` ('0' = start)."""
    scan, _, skip = (cursor or "0").partition(":")
    try:
        scan_cursor, skipped = int(scan), int(skip or 0)
    except ValueError:
        raise ConfigurationError(f"bad cursor {cursor!r}: pass the cursor a previous page printed") from None
    if scan_cursor < 0 or skipped < 0:
        raise ConfigurationError(f"bad cursor {cursor!r}: pass the cursor a previous page printed")
    return scan_cursor, skipped


def thread_page(client: Any, layout: KeyLayout, cursor: str = "0", limit: int = 100) -> ThreadPage:
    """Up to `limit` threads from `cursor`: SCAN over the per-thread namespace sets (one key per
    thread), so memory and time per page do not grow with the number of threads. A SCAN batch
    larger than the room left is cut, and the cursor remembers how much of it was returned.
    SCAN's guarantee holds: a thread present for the whole walk is listed (at least once)."""
    if limit < 1:
        raise ConfigurationError(f"limit must be >= 1, got {limit}")
    scan_cursor, skip = parse_cursor(cursor)
    found: list[str] = []
    while True:
        next_cursor, keys = client.scan(
            scan_cursor, match=layout.namespaces_scan_pattern, count=SCAN_COUNT, _type="SET"
        )
        batch = [layout.thread_of_namespaces_key(text(k)) for k in keys][skip:]
        room = limit - len(found)
        if len(batch) > room:
            return ThreadPage(found + batch[:room], f"{scan_cursor}:{skip + room}")
        found += batch
        skip = 0
        if int(next_cursor) == 0:
            return ThreadPage(found, "")
        scan_cursor = int(next_cursor)
        if len(found) == limit:
            return ThreadPage(found, f"{scan_cursor}:0")


def iter_threads(client: Any, layout: KeyLayout) -> Iterator[str]:
    """Every thread, streamed page by page."""
    cursor = "0"
    while True:
        page = thread_page(client, layout, cursor, SCAN_COUNT)
        yield from page.threads
        if not page.cursor:
            return
        cursor = page.cursor


def namespaces(client: Any, layout: KeyLayout, thread_id: str) -> list[str]:
    return sorted(text(m) for m in client.smembers(layout.namespaces(thread_id)))


def index_pages(client: Any, layout: KeyLayout, thread_id: str, ns: str) -> list[str]:
    """The keys of the checkpoint index's pages, in id order (the first page is the index key)."""
    return index_pages_of(layout, thread_id, ns, client.zrange(layout.index_directory(thread_id, ns), 0, -1))


def index_pages_of(layout: KeyLayout, thread_id: str, ns: str, bounds: list[bytes]) -> list[str]:
    return [layout.index(thread_id, ns), *(layout.index_page(thread_id, ns, text(b)) for b in bounds)]


def _checkpoint_ids(client: Any, layout: KeyLayout, thread_id: str, ns: str) -> Iterator[list[str]]:
    """The checkpoint ids of (thread, ns), page by page in bound order, the next page looked up in
    the directory after each one: a page a concurrent put splits off (lua/common.lua,
    checkpoint_index) is still visited, so no id is skipped; one may be listed twice."""
    directory = layout.index_directory(thread_id, ns)
    page, bound = layout.index(thread_id, ns), b""
    while True:
        yield from _ids(client, page)
        following = client.zrangebylex(directory, b"(" + bound if bound else b"-", b"+", 0, 1)
        if not following:
            return
        bound = following[0]
        page = layout.index_page(thread_id, ns, text(bound))


def _ids(client: Any, key: str) -> Iterator[list[str]]:
    lower: bytes = b"-"
    while True:
        batch = client.zrangebylex(key, lower, "+", 0, ID_PAGE)
        if batch:
            yield [text(raw) for raw in batch]
        if len(batch) < ID_PAGE:
            return
        lower = b"(" + batch[-1]


@dataclass
class Footprint:
    """What one thread holds: namespaces, live checkpoints, keys, and bytes (MEMORY USAGE, exact)."""

    thread_id: str
    namespaces: int = 0
    checkpoints: int = 0
    keys: int = 0
    bytes: int = 0


def thread_key_pages(client: Any, layout: KeyLayout, thread_id: str) -> Iterator[tuple[str, list[str]]]:
    """Every key of a thread, in pages of (kind, keys): kind is 'checkpoint' for checkpoint
    documents (so callers can count them) and 'other' for the rest."""
    yield "other", [layout.namespaces(thread_id)]
    for ns in namespaces(client, layout, thread_id):
        yield "other", list(layout.ns_data_keys(thread_id, ns))
        yield "other", [layout.index_directory(thread_id, ns), *index_pages(client, layout, thread_id, ns)[1:]]
        # A checkpoint's writes are fields of its hash (writes stored before have a hash of their
        # own, found through the checkpoint index too); the writes index lists only writes that
        # came without (or before) their checkpoint: their hash holds no document.
        checkpoint_ids: set[str] = set()
        for ids in _checkpoint_ids(client, layout, thread_id, ns):
            checkpoint_ids.update(ids)
            yield "checkpoint", [layout.checkpoint(thread_id, ns, i) for i in ids]
            yield "other", [layout.legacy_writes(thread_id, ns, i) for i in ids]
        for ids in _ids(client, layout.writes_index(thread_id, ns)):
            alone = [i for i in ids if i not in checkpoint_ids]
            yield (
                "other",
                [
                    key
                    for i in alone
                    for key in (layout.checkpoint(thread_id, ns, i), layout.legacy_writes(thread_id, ns, i))
                ],
            )


def footprint(client: Any, layout: KeyLayout, thread_id: str) -> Footprint:
    """Exact memory of a thread: `MEMORY USAGE key SAMPLES 0` of each of its keys, one pipeline
    per page of keys. Keys that no longer exist (expired, or an index entry whose document is
    gone) count nothing, so `checkpoints` counts documents that exist."""
    result = Footprint(thread_id, namespaces=client.scard(layout.namespaces(thread_id)))
    for kind, keys in thread_key_pages(client, layout, thread_id):
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("MEMORY USAGE", key, "SAMPLES", 0)
        for used in pipe.execute():
            if used is None:
                continue
            result.keys += 1
            result.bytes += int(used)
            if kind == "checkpoint":
                result.checkpoints += 1
    return result


def namespace_counts(client: Any, layout: KeyLayout, thread_id: str) -> dict[str, int]:
    """Index entries per namespace of a thread (cheap: one ZCARD per index page, two round trips;
    may count an entry whose document expired a moment ago). {} when the thread does not exist."""
    names = namespaces(client, layout, thread_id)
    pipe = client.pipeline(transaction=False)
    for ns in names:
        pipe.zrange(layout.index_directory(thread_id, ns), 0, -1)
    directories = pipe.execute()
    pages = {ns: index_pages_of(layout, thread_id, ns, bounds) for ns, bounds in zip(names, directories)}
    pipe = client.pipeline(transaction=False)
    for keys in pages.values():
        for key in keys:
            pipe.zcard(key)
    counts = iter(int(n) for n in pipe.execute())
    return {ns: sum(next(counts) for _ in keys) for ns, keys in pages.items()}
