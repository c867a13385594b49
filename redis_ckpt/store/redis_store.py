"""RedisStore: LangGraph's BaseStore (long-term memory) on Redis: batches, writes, conveniences.

With StoreCore (store_core.py) and StoreReads (reads.py) it carries all of the store's logic; the async
store only runs it on threads. Layout in redis_ckpt/store/store_layout.py, the plan per operation in
docs/store.md. In short: one hash per item (upserts keep `created_at`), a sorted set indexing
every item by (namespace, key) and a registry of namespaces, so everything works on any Redis 7+
through Lua scripts; where the Search module exists, a redisvl item index takes over rare filters
over many items and a redisvl vector index answers semantic search. Every candidate is checked in
Python with InMemoryStore's rules (redis_ckpt/store/matching.py), so the indexes can only save
work, never change an answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import GetOp, ListNamespacesOp, Op, PutOp, Result, SearchOp

from redis_ckpt.store import codec, filtering, matching, store_layout, store_scripts
from redis_ckpt.store import snapshot as snapshots
from redis_ckpt.store.export_format import StoredItem
from redis_ckpt.store.reads import PAGE, StoreReads
from redis_ckpt.store.store_core import logger, validate_op

__all__ = ["RedisStore"]


class RedisStore(StoreReads):
    """Long-term memory on Redis: exact namespaces, InMemoryStore's filter semantics, optional
    semantic search (vector index with the Search module, exact ranking without), TTL."""

    def close(self) -> None:
        """Stop the TTL sweeper if one runs, and close the connection pool if this store created it."""
        self.stop_ttl_sweeper()
        super().close()

    # -- BaseStore ---------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Reads see the state before the batch's writes (as InMemoryStore); results in op order.
        All gets are one round trip, all puts and deletes one script call."""
        ops = list(ops)
        for op in ops:
            validate_op(op)
        results: list[Result] = [None] * len(ops)
        gets = [(i, op) for i, op in enumerate(ops) if isinstance(op, GetOp)]
        if gets:
            for (i, _), item in zip(gets, self._get_many([op for _, op in gets])):
                results[i] = item
        searches = [(i, op) for i, op in enumerate(ops) if isinstance(op, SearchOp)]
        queries = self._embed_queries([op for _, op in searches])
        for i, search_op in searches:
            results[i] = self._search(search_op, queries.get(search_op.query or ""))
        for i, op in enumerate(ops):
            if isinstance(op, ListNamespacesOp):
                results[i] = self._list_namespaces(op)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts[(tuple(op.namespace), op.key)] = op  # the last write of a key wins
        if puts:
            self._write(list(puts.values()))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` on a worker thread (AsyncRedisStore brings its own pool)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- conveniences ------------------------------------------------------------------------
    def keys(self, namespace: tuple[str, ...]) -> list[str]:
        """The keys of the live items of exactly this namespace, sorted."""
        low, high = store_layout.namespace_range(tuple(namespace))
        return [item.key for item, _ in self._scan(low, high)]

    def namespaces(self, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        """Every namespace holding a live item, under a prefix, sorted (list_namespaces without a limit)."""
        low, high = store_layout.prefix_range(tuple(prefix))
        return sorted(self._live_namespaces(low, high))

    def clear(self, namespace_prefix: tuple[str, ...]) -> int:
        """Delete every item under a namespace prefix (`()` = the whole store); the number deleted."""
        matching.check_labels(namespace_prefix)
        low, high = store_layout.prefix_range(tuple(namespace_prefix))
        deleted, doomed = 0, []
        for item, _ in self._scan(low, high):  # the scan's cursor is a member: deleting behind it is safe
            doomed.append(PutOp(item.namespace, item.key, None))
            if len(doomed) == PAGE:
                self._write(doomed)
                deleted, doomed = deleted + len(doomed), []
        if doomed:
            self._write(doomed)
        return deleted + len(doomed)

    def snapshot(
        self, namespace_prefix: tuple[str, ...] | Sequence[tuple[str, ...]], file: snapshots.Target
    ) -> dict[str, int]:
        """Write the live items under a namespace prefix (or a list of prefixes; `()` = everything) to
        a file path or text stream in the export format of docs/cli.md, streamed; {items, namespaces}."""
        return snapshots.snapshot(self, _prefixes(namespace_prefix), file)

    def restore(self, file: snapshots.Target) -> dict[str, int]:
        """Write back a snapshot (path or text stream): same value bytes, times, TTL and vectors;
        upserts, so restoring twice equals once. {items, new (did not exist), namespaces}."""
        return snapshots.restore(self, file)

    def export_items(self, namespace_prefixes: Iterable[tuple[str, ...]] = ((),)) -> Iterator[StoredItem]:
        """The stored form of every live item under the prefixes, in (namespace, key) order (streamed)."""
        return snapshots.dump(self, namespace_prefixes)

    def import_items(self, items: Iterable[StoredItem]) -> int:
        """Write stored items back as they were (see `restore`); the number that did not exist."""
        return snapshots.load(self, items)

    def sweep(self) -> None:
        """Drop index entries of expired items and namespaces left empty. Redis expires the items
        themselves; readers also drop such entries as they meet them, so this only reclaims memory."""
        for _ in self._scan(b"-", b"+", page=PAGE):
            pass
        self._live_namespaces(b"-", b"+")

    def sweep_ttl(self) -> int:
        """`sweep()`, under the name LangGraph's stores use; 0 items deleted (Redis deletes them)."""
        self.sweep()
        return 0

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> None:
        """Run `sweep()` every `sweep_interval_minutes` (default: the TTL config's) on a daemon
        thread, until `stop_ttl_sweeper()` or `close()`. Without an interval, nothing starts."""
        minutes = sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes")
        if not minutes or (self._sweeper is not None and self._sweeper.is_alive()):
            return
        stop = self._sweeper_stop = threading.Event()

        def sweep_until_stopped() -> None:
            while not stop.wait(float(minutes) * 60):
                try:
                    self.sweep()
                except Exception:  # a sweep is housekeeping: log and try again next time
                    logger.warning("redis-ckpt store: TTL sweep on %s failed", self._where, exc_info=True)

        self._sweeper = threading.Thread(target=sweep_until_stopped, name="redis-ckpt-store-sweeper", daemon=True)
        self._sweeper.start()

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; whether it has stopped within `timeout` seconds."""
        if self._sweeper is None:
            return True
        self._sweeper_stop.set()
        self._sweeper.join(timeout)
        return not self._sweeper.is_alive()

    # -- writes ------------------------------------------------------------------------------
    def _write(self, puts: Sequence[PutOp]) -> None:
        """Every put and delete of a batch in one atomic script call. Values are serialized and
        texts embedded before any I/O, so a bad value fails the batch with nothing written."""
        vectors = self._embed_puts(puts)
        args: list[Any] = [self.layout.item_prefix, self.layout.vector_prefix, codec.micros(_now())]
        for op, op_vectors in zip(puts, vectors):
            namespace = tuple(op.namespace)
            head = [
                store_layout.item_member(namespace, op.key),
                store_layout.ns_member(namespace),
                store_layout.item_suffix(namespace, op.key),
            ]
            if op.value is None:
                args += ["d", *head]
                continue
            value, tags = codec.encode_value(self.serde, op.value), filtering.item_tags(namespace, op.value)
            args += ["p", *head, value, tags, codec.ttl_millis(op.ttl), len(op_vectors)]
            args += [codec.pack_vector(vector) for vector in op_vectors]
        self._io(store_scripts.run, self._client, "write", self.layout.write_keys, args)


def _prefixes(given: tuple[str, ...] | Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """One namespace prefix (a tuple of labels) or several (a list of them)."""
    if isinstance(given, tuple) and all(isinstance(label, str) for label in given):
        return [given]  # type: ignore[list-item]
    return [tuple(prefix) for prefix in given]


def _now() -> datetime:
    return datetime.now(timezone.utc)
