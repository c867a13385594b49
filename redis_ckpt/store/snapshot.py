"""Snapshot and restore of namespace prefixes: the store's items streamed to and from the export
format (redis_ckpt/store/export_format.py), a page per round trip, in constant memory.

Nothing is decoded on the way out and nothing re-computed on the way in but the filter tags
(derived data, so they follow the reading store's rules): values keep their bytes, items their
created/updated times, TTL and vectors (no embedding calls), and restoring twice equals once.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any

from langgraph.store.base import PutOp

from redis_ckpt.store import codec, filtering, matching, store_layout, store_scripts
from redis_ckpt.store import export_format as fmt
from redis_ckpt.store.store_core import validate_op

if TYPE_CHECKING:  # the store's core, not RedisStore: RedisStore's snapshot methods call this module
    from redis_ckpt.store.store_core import StoreCore

PAGE = 200  # items per dump page and per restore script call
Target = str | os.PathLike[str] | IO[str]


def outermost(prefixes: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The prefixes, sorted, without those under another one (each item is exported once)."""
    kept: list[tuple[str, ...]] = []
    for prefix in sorted({tuple(p) for p in prefixes}):
        if not any(prefix[: len(k)] == k for k in kept):
            kept.append(prefix)
    return kept


def dump(store: StoreCore, namespace_prefixes: Iterable[tuple[str, ...]] = ((),)) -> Iterator[fmt.StoredItem]:
    """The live items under the prefixes, in (namespace, key) order, a page per round trip."""
    for prefix in outermost(namespace_prefixes):
        matching.check_labels(prefix)
        low, high = store_layout.prefix_range(prefix)
        while True:
            args = [store.layout.item_prefix, store.layout.vector_prefix, low, high, PAGE]
            last, exhausted, rows = store._io(store_scripts.run, store.client, "dump", [store.layout.items], args)
            for member, value, created, updated, ttl, remaining, vectors in rows:
                namespace, key = store_layout.split_member(member)
                left = int(remaining)
                if left == -2:  # expired between the read of its fields and its PTTL: gone
                    continue
                yield fmt.StoredItem(
                    namespace, key, bytes(value), int(created), int(updated), int(ttl or 0), max(left, 0),
                    tuple(bytes(v) for v in vectors),
                )  # fmt: skip
            if exhausted:
                break
            low = b"(" + last


def load(store: StoreCore, items: Iterable[fmt.StoredItem]) -> int:
    """Write items back as they were (upserts); the number that did not exist before."""
    added, page = 0, []
    for item in items:
        page.append(item)
        if len(page) == PAGE:
            added, page = added + _load_page(store, page), []
    return added + (_load_page(store, page) if page else 0)


def _load_page(store: StoreCore, page: Sequence[fmt.StoredItem]) -> int:
    """Check and encode a page before any I/O, so a bad item fails with none of its page written."""
    args: list[Any] = [store.layout.item_prefix, store.layout.vector_prefix]
    for item in page:
        value = codec.decode_value(store.serde, item.value)  # the tags need the value; a bad value stops here
        validate_op(PutOp(item.namespace, item.key, value))
        tags = filtering.item_tags(item.namespace, value)
        head = [store_layout.item_member(item.namespace, item.key), store_layout.ns_member(item.namespace)]
        args += [*head, store_layout.item_suffix(item.namespace, item.key), item.value, tags]
        args += [item.created_us, item.updated_us, item.ttl_ms, item.expires_in_ms, len(item.vectors), *item.vectors]
    added: int = store._io(store_scripts.run, store.client, "restore", store.layout.write_keys, args)
    return int(added)


def snapshot(store: StoreCore, namespace_prefixes: Iterable[tuple[str, ...]], target: Target) -> dict[str, int]:
    """Write the items under the prefixes to a file (path or text stream); the counts written."""
    prefixes = outermost(namespace_prefixes)
    counts = {"items": 0, "namespaces": 0}
    last_namespace: tuple[str, ...] | None = None
    with ExitStack() as stack:
        out = target if hasattr(target, "write") else stack.enter_context(_open(target, "w"))
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        out.write(fmt.header(now, store.layout.prefix, prefixes) + "\n")  # type: ignore[union-attr]
        for item in dump(store, prefixes):
            out.write(fmt.item_line(item) + "\n")  # type: ignore[union-attr]
            counts["items"] += 1
            counts["namespaces"] += item.namespace != last_namespace  # items come grouped by namespace
            last_namespace = item.namespace
        out.write(fmt.end(counts["items"], counts["namespaces"]) + "\n")  # type: ignore[union-attr]
    return counts


def restore(store: StoreCore, source: Target) -> dict[str, int]:
    """Restore a snapshot file (path or text stream); {items, new, namespaces}. Idempotent. A file
    cut short or with a bad line raises StoreExportError after what came before it was written
    (restoring the whole file again is safe)."""
    with ExitStack() as stack:
        lines = source if hasattr(source, "read") else stack.enter_context(_open(source, "r"))
        counts: dict[str, int] = {"items": 0, "namespaces": 0}
        ended: dict[str, Any] = {}
        new = load(store, _items(iter(lines), counts, ended))  # type: ignore[arg-type]
    if not ended:
        raise fmt.StoreExportError(f"the export is cut short (no end line); {counts['items']} items were restored")
    if ended.get("items") != counts["items"]:
        raise fmt.StoreExportError(f"the end line says {ended.get('items')} items, {counts['items']} were read")
    return {"items": counts["items"], "new": new, "namespaces": counts["namespaces"]}


def _items(lines: Iterator[str], counts: dict[str, int], ended: dict[str, Any]) -> Iterator[fmt.StoredItem]:
    """Items of a file's lines, counting them; the end line's fields go into `ended`."""
    fmt.parse_header(next(lines, ""))
    last_namespace: tuple[str, ...] | None = None
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        found = fmt.parse_line(line, number)
        if isinstance(found, dict):
            ended.update(found)
            return
        counts["items"] += 1
        counts["namespaces"] += found.namespace != last_namespace
        last_namespace = found.namespace
        yield found


def _open(path: str | os.PathLike[str] | IO[str], mode: str) -> IO[str]:
    return open(os.fspath(path), mode, encoding="utf-8")  # type: ignore[arg-type]


__all__ = ["dump", "load", "outermost", "restore", "snapshot"]
