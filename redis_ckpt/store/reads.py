"""The store's reads: gets, the search plans (range walk, item index, vector index, exact
ranking) and namespace listings. Every candidate is re-checked with InMemoryStore's rules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langgraph.store.base import GetOp, Item, ListNamespacesOp, SearchItem, SearchOp

from redis_ckpt.errors import ConfigurationError
from redis_ckpt.store import codec, filtering, matching, store_layout, store_scripts
from redis_ckpt.store import index as vector_index
from redis_ckpt.store.store_core import StoreCore

PAGE = 500  # items per page script call when a search must look at many candidates
SCAN_BUDGET = 5000  # members one page script call may look at (bounds the time it holds the server)
Entry = tuple[Item, int]  # an item and its TTL in ms (0 = none), as read


class StoreReads(StoreCore):
    """Reads of RedisStore (see redis_ckpt/store/redis_store.py and docs/store.md)."""

    def _get_many(self, ops: Sequence[GetOp]) -> list[Item | None]:
        names = [self.layout.item(tuple(op.namespace), op.key) for op in ops]
        args: list[Any] = []
        for op in ops:
            args += ["1" if op.refresh_ttl else "0", self.layout.vector_base(tuple(op.namespace), op.key)]
        replies = self._io(store_scripts.run, self._client, "get", names, args)
        return [
            None
            if reply is None
            else codec.item_from_fields(self.serde, store_layout.item_member(op.namespace, op.key), reply)
            for op, reply in zip(ops, replies)
        ]

    def _scan(
        self, low: bytes, high: bytes, *, page: int = PAGE, pages: int | None = None, requirements: str = ""
    ) -> Iterator[Entry]:
        """Live items in a member range, in (namespace, key) order, a page per round trip; with
        filter requirements (redis_ckpt.store.filtering), only items whose tags meet them."""
        for entry, _ in self._scan_with_vectors(low, high, page=page, pages=pages, requirements=requirements):
            yield entry

    def _scan_with_vectors(
        self,
        low: bytes,
        high: bytes,
        *,
        page: int = PAGE,
        pages: int | None = None,
        vectors: bool = False,
        requirements: str = "",
    ) -> Iterator[tuple[Entry, list[list[float]]]]:
        done = 0
        while pages is None or done < pages:
            last, exhausted, rows = self._page(low, high, page, vectors, requirements)
            done += 1
            yield from rows
            if exhausted:
                return
            low = b"(" + last

    def _page(
        self, low: bytes, high: bytes, count: int, vectors: bool, requirements: str
    ) -> tuple[bytes, bool, list[tuple[Entry, list[list[float]]]]]:
        """One call of the page script: (last member looked at, range exhausted, entries)."""
        args = [
            self.layout.item_prefix, self.layout.vector_prefix, low, high, count, "1" if vectors else "0",
            requirements, SCAN_BUDGET,
        ]  # fmt: skip
        last, exhausted, rows = self._io(store_scripts.run, self._client, "page", [self.layout.items], args)
        entries = [
            (
                (codec.item_from_fields(self.serde, member, (value, created, updated)), int(ttl or 0)),
                [codec.unpack_vector(v) for v in stored_vectors if v],
            )
            for member, value, created, updated, ttl, stored_vectors in rows
        ]
        return last, bool(exhausted), entries

    def _search(self, op: SearchOp, query: list[float] | None) -> list[SearchItem]:
        matching.check_filter(op.filter)
        matching.check_page(op.offset, op.limit)
        if op.limit == 0:
            return []
        if op.query and self.embeddings is not None and query is not None:
            if self._vector_state == vector_index.NOT_READY:  # still indexing older vectors: ask again
                self._vector_state = self._io(vector_index.state, self._client, self.layout.vector_index)
            ranked = self._vector_search(op, query) if self._vector_state == vector_index.READY else None
            if ranked is None:
                ranked = self._exact_search(op, query)
        else:
            ranked = self._plain_search(op)
        if op.refresh_ttl:
            self._touch([entry for entry, _ in ranked])
        return [codec.search_item(item, score) for (item, _), score in ranked]

    def _plain_search(self, op: SearchOp) -> list[tuple[Entry, float | None]]:
        """Items in (namespace, key) order, filter before offset and limit."""
        found: list[tuple[Entry, float | None]] = []
        skipped = 0
        for entry in self._candidates(op):
            if not matching.matches(entry[0].value, op.filter):
                continue
            if skipped < op.offset:
                skipped += 1
                continue
            found.append((entry, None))
            if len(found) == op.limit:
                break
        return found

    def _candidates(self, op: SearchOp) -> Iterator[Entry]:
        """The items under the prefix whose tags meet the filter's pushable requirements, in
        (namespace, key) order. The page script walks the range; when a call spends its scan budget
        before it fills a page (a rare filter over many items) and the item index is ready, the
        index supplies the rest, past the last member the script looked at."""
        requirements = filtering.requirements(op.filter)
        text = filtering.requirements_text(op.filter)
        low, high = store_layout.prefix_range(tuple(op.namespace_prefix))
        page = max(1, min(PAGE, op.offset + op.limit))
        while True:
            last, exhausted, rows = self._page(low, high, page, False, text)
            yield from (entry for entry, _ in rows)
            if exhausted:
                return
            if requirements and len(rows) < page and self._item_index_ready():
                yield from self._indexed_candidates(op, requirements, after=store_layout.split_member(last), page=page)
                return
            low = b"(" + last

    def _item_index_ready(self) -> bool:
        if self._item_state == vector_index.NOT_READY:  # still indexing older items: ask again
            self._item_state = self._io(vector_index.state, self._client, self.layout.item_index)
        return self._item_state == vector_index.READY

    def _indexed_candidates(
        self, op: SearchOp, requirements: list[tuple[str, ...]], *, after: tuple[tuple[str, ...], str], page: int
    ) -> Iterator[Entry]:
        """Items the item index finds, past `after` in (namespace, key) order, loaded a page at a time."""
        query = vector_index.query(tuple(op.namespace_prefix), requirements)
        found = self._io(vector_index.all_matching_items, self._client, self.layout, query)
        named = sorted((self.layout.split_item(name), name) for name in found)
        names = [(place, name) for place, name in named if place > after]
        start = 0
        while start < len(names):
            chunk = names[start : start + page]
            members = [store_layout.item_member(*place) for place, _ in chunk]
            for entry in self._load([name for _, name in chunk], members):
                if entry is not None:
                    yield entry
            start += len(chunk)
            page = min(PAGE, page * 2)

    def _exact_search(self, op: SearchOp, query: list[float]) -> list[tuple[Entry, float | None]]:
        """Every candidate under the prefix ranked in Python: cost grows with the candidates."""
        low, high = store_layout.prefix_range(tuple(op.namespace_prefix))
        candidates = [
            (entry, found)
            for entry, found in self._scan_with_vectors(
                low, high, vectors=True, requirements=filtering.requirements_text(op.filter)
            )
            if matching.matches(entry[0].value, op.filter)
        ]
        return matching.rank(candidates, query, op.offset, op.limit)

    def _vector_search(self, op: SearchOp, query: list[float]) -> list[tuple[Entry, float | None]] | None:
        """Nearest vectors from the index, widened until the page is full of items that pass the
        filter; None when the index runs out first (then the exact path answers, unscored items
        included)."""
        wanted = op.offset + op.limit
        vector = codec.pack_vector(query)
        requirements = filtering.requirements(op.filter)
        loaded: dict[bytes, Entry | None] = {}
        # Nearly every hit passes a filter the tags decide: ask for a page; else for two.
        k = max(10, wanted if filtering.fully_pushed(op.filter) else 2 * wanted)
        while True:
            prefix = tuple(op.namespace_prefix)
            hits = self._io(vector_index.knn, self._client, self.layout, prefix, requirements, vector, k)
            best: dict[bytes, float] = {}
            for member, score in hits:
                best.setdefault(member, score)  # hits come best first: an item scores its best vector
            missing = [m for m in best if m not in loaded]
            if missing:
                loaded.update(zip(missing, self._load_members(missing)))
            passed: list[tuple[Entry, float | None]] = []
            for member, score in best.items():
                entry = loaded[member]
                if entry is not None and matching.matches(entry[0].value, op.filter):
                    passed.append((entry, score))
            if len(passed) >= wanted:
                return passed[op.offset : wanted]
            if len(hits) < k:
                return None
            k *= 4

    def _load_members(self, members: Sequence[bytes]) -> list[Entry | None]:
        prefix = self.layout.item_prefix.encode()
        names = [prefix + store_layout.item_suffix(*store_layout.split_member(m)) for m in members]
        return self._load(names, members)

    def _load(self, names: Sequence[bytes], members: Sequence[bytes]) -> list[Entry | None]:
        """Items by name (no TTL refresh), one round trip; None for those gone."""
        replies = self._io(store_scripts.run, self._client, "get", names, ["0", ""] * len(names))
        return [
            None if reply is None else (codec.item_from_fields(self.serde, member, reply), int(reply[3] or 0))
            for member, reply in zip(members, replies)
        ]

    def _touch(self, entries: Sequence[Entry]) -> None:
        """Refresh the TTL of the items a search returned (one round trip, only if one has a TTL)."""
        expiring = [item for item, ttl in entries if ttl > 0]
        if expiring:
            names = [self.layout.item(item.namespace, item.key) for item in expiring]
            bases = [self.layout.vector_base(item.namespace, item.key) for item in expiring]
            self._io(store_scripts.run, self._client, "touch", names, bases)

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        matching.check_page(op.offset, op.limit)
        if op.max_depth is not None and (isinstance(op.max_depth, bool) or op.max_depth < 0):
            raise ConfigurationError(f"max_depth must be an int >= 0, got {op.max_depth!r}")
        low, high = store_layout.prefix_range(matching.literal_head(op))
        return matching.select_namespaces(self._live_namespaces(low, high), op)

    def _live_namespaces(self, low: bytes, high: bytes) -> list[tuple[str, ...]]:
        args = [self.layout.item_prefix, low, high]
        members = self._io(store_scripts.run, self._client, "namespaces", self.layout.write_keys, args)
        return [store_layout.split_ns_member(m) for m in members]
