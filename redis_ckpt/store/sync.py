"""RedisStore: LangGraph's BaseStore (long-term memory) on Redis. Carries all of the store's logic.

Layout in redis_ckpt/store/keys.py, the plan per operation in docs/store.md. In short: one hash
per item (upserts keep `created_at`), a sorted set indexing every item by (namespace, key) and a
registry of namespaces, so everything works on any Redis 7+ through Lua scripts; where the Search
module exists, a redisvl item index takes over rare filters over many items and a redisvl vector
index answers semantic search. Every candidate is checked in Python with InMemoryStore's rules
(redis_ckpt/store/matching.py), so the indexes can only save work, never change an answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

import redis
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    validate_op_namespace,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from typing_extensions import Self

from redis_ckpt.config import DEFAULT_RETRY, RetryConfig
from redis_ckpt.connection import check_client, client_from_url, redact_url
from redis_ckpt.errors import ConfigurationError, StoreUnavailableError
from redis_ckpt.store import codec, embedding, filtering, keys, matching, scripts
from redis_ckpt.store import index as vector_index
from redis_ckpt.sync.core import TRANSIENT_ERRORS

logger = logging.getLogger("redis_ckpt.store")
T = TypeVar("T")
PAGE = 500  # items per page script call when a search must look at many candidates
SCAN_BUDGET = 5000  # members one page script call may look at (bounds the time it holds the server)
Entry = tuple[Item, int]  # an item and its TTL in ms (0 = none), as read


class RedisStore(BaseStore):
    """Long-term memory on Redis: exact namespaces, InMemoryStore's filter semantics, optional
    semantic search (vector index with the Search module, exact ranking without), TTL."""

    supports_ttl = True

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        redis_client: redis.Redis | None = None,
        connection_args: dict[str, Any] | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        prefix: str = "store",
        serde: SerializerProtocol | None = None,
        retry: RetryConfig | None = DEFAULT_RETRY,
        vector_algorithm: str = "flat",
    ) -> None:
        if redis_client is None and redis_url is None:
            raise ConfigurationError("pass redis_url or redis_client")
        if vector_algorithm not in index_algorithms():
            raise ConfigurationError(f"vector_algorithm must be one of {index_algorithms()}, got {vector_algorithm!r}")
        self.layout = keys.StoreLayout(prefix)
        self.serde: SerializerProtocol = serde or JsonPlusSerializer()
        self.retry = retry
        self.ttl_config = ttl
        self.index_config: IndexConfig | None = dict(index) if index else None  # type: ignore[assignment]
        self._paths = embedding.configured_paths(index) if index else []
        self.embeddings = ensure_embeddings(index["embed"]) if index else None
        self.vector_algorithm = vector_algorithm
        self._owns_client = redis_client is None
        self._client: redis.Redis = redis_client or client_from_url(str(redis_url), connection_args)
        check_client(self._client)
        self._where = redact_url(redis_url) if redis_url else "the given redis client"
        # Index states (vector_index.NO_MODULE / NOT_READY / READY): set by setup()
        self._item_state = self._vector_state = vector_index.NO_MODULE
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()

    @classmethod
    @contextmanager
    def from_conn_string(cls, redis_url: str, **kwargs: Any) -> Iterator[Self]:
        """A set-up store on its own connection pool, closed when the block exits."""
        store = cls(redis_url, **kwargs)
        try:
            store.setup()
            yield store
        finally:
            store.close()

    @property
    def client(self) -> redis.Redis:
        return self._client

    def setup(self) -> None:
        """Load the scripts and, where the Search module exists, create the item index and (with an
        `index` config) the vector index; idempotent. Without the module everything still works:
        filters are checked in a Lua pass, semantic search ranks candidates exactly in Python."""
        self._io(scripts.load_all, self._client)
        self._item_state = self._io(vector_index.ensure, self._client, vector_index.item_schema(self.layout))
        if self.index_config is not None and self._item_state != vector_index.NO_MODULE:
            schema = vector_index.vector_schema(self.layout, int(self.index_config["dims"]), self.vector_algorithm)
            self._vector_state = self._io(vector_index.ensure, self._client, schema)

    def close(self) -> None:
        """Stop the TTL sweeper if one runs, and close the connection pool if this store created it."""
        self.stop_ttl_sweeper()
        if self._owns_client:
            self._client.close()
            self._client.connection_pool.disconnect()

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
        low, high = keys.namespace_range(tuple(namespace))
        return [item.key for item, _ in self._scan(low, high)]

    def namespaces(self, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        """Every namespace holding a live item, under a prefix, sorted (list_namespaces without a limit)."""
        low, high = keys.prefix_range(tuple(prefix))
        return sorted(self._live_namespaces(low, high))

    def clear(self, namespace_prefix: tuple[str, ...]) -> int:
        """Delete every item under a namespace prefix (`()` = the whole store); the number deleted."""
        matching.check_labels(namespace_prefix)
        low, high = keys.prefix_range(tuple(namespace_prefix))
        deleted, doomed = 0, []
        for item, _ in self._scan(low, high):  # the scan's cursor is a member: deleting behind it is safe
            doomed.append(PutOp(item.namespace, item.key, None))
            if len(doomed) == PAGE:
                self._write(doomed)
                deleted, doomed = deleted + len(doomed), []
        if doomed:
            self._write(doomed)
        return deleted + len(doomed)

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

    # -- reads -------------------------------------------------------------------------------
    def _get_many(self, ops: Sequence[GetOp]) -> list[Item | None]:
        names = [self.layout.item(tuple(op.namespace), op.key) for op in ops]
        args: list[Any] = []
        for op in ops:
            args += ["1" if op.refresh_ttl else "0", self.layout.vector_base(tuple(op.namespace), op.key)]
        replies = self._io(scripts.run, self._client, "get", names, args)
        return [
            None if reply is None else codec.item_from_fields(self.serde, keys.item_member(op.namespace, op.key), reply)
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
        last, exhausted, rows = self._io(scripts.run, self._client, "page", [self.layout.items], args)
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
        low, high = keys.prefix_range(tuple(op.namespace_prefix))
        page = max(1, min(PAGE, op.offset + op.limit))
        while True:
            last, exhausted, rows = self._page(low, high, page, False, text)
            yield from (entry for entry, _ in rows)
            if exhausted:
                return
            if requirements and len(rows) < page and self._item_index_ready():
                yield from self._indexed_candidates(op, requirements, after=keys.split_member(last), page=page)
                return
            low = b"(" + last

    def _item_index_ready(self) -> bool:
        if self._item_state == vector_index.NOT_READY:  # still indexing older items: ask again
            self._item_state = self._io(vector_index.state, self._client, self.layout.item_index)
        return self._item_state == vector_index.READY

    def _indexed_candidates(
        self, op: SearchOp, requirements: list[tuple[str, str]], *, after: tuple[tuple[str, ...], str], page: int
    ) -> Iterator[Entry]:
        """Items the item index finds, past `after` in (namespace, key) order, loaded a page at a time."""
        query = vector_index.query(tuple(op.namespace_prefix), requirements)
        found = self._io(vector_index.all_matching_items, self._client, self.layout, query)
        named = sorted((self.layout.split_item(name), name) for name in found)
        names = [(place, name) for place, name in named if place > after]
        start = 0
        while start < len(names):
            chunk = names[start : start + page]
            for entry in self._load([name for _, name in chunk], [keys.item_member(*place) for place, _ in chunk]):
                if entry is not None:
                    yield entry
            start += len(chunk)
            page = min(PAGE, page * 2)

    def _exact_search(self, op: SearchOp, query: list[float]) -> list[tuple[Entry, float | None]]:
        """Every candidate under the prefix ranked in Python: cost grows with the candidates."""
        low, high = keys.prefix_range(tuple(op.namespace_prefix))
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
        names = [self.layout.item_prefix.encode() + keys.item_suffix(*keys.split_member(m)) for m in members]
        return self._load(names, members)

    def _load(self, names: Sequence[bytes], members: Sequence[bytes]) -> list[Entry | None]:
        """Items by name (no TTL refresh), one round trip; None for those gone."""
        replies = self._io(scripts.run, self._client, "get", names, ["0", ""] * len(names))
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
            self._io(scripts.run, self._client, "touch", names, bases)

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        matching.check_page(op.offset, op.limit)
        if op.max_depth is not None and (isinstance(op.max_depth, bool) or op.max_depth < 0):
            raise ConfigurationError(f"max_depth must be an int >= 0, got {op.max_depth!r}")
        low, high = keys.prefix_range(matching.literal_head(op))
        return matching.select_namespaces(self._live_namespaces(low, high), op)

    def _live_namespaces(self, low: bytes, high: bytes) -> list[tuple[str, ...]]:
        args = [self.layout.item_prefix, low, high]
        members = self._io(scripts.run, self._client, "namespaces", self.layout.write_keys, args)
        return [keys.split_ns_member(m) for m in members]

    # -- writes ------------------------------------------------------------------------------
    def _write(self, puts: Sequence[PutOp]) -> None:
        """Every put and delete of a batch in one atomic script call. Values are serialized and
        texts embedded before any I/O, so a bad value fails the batch with nothing written."""
        vectors = self._embed_puts(puts)
        args: list[Any] = [self.layout.item_prefix, self.layout.vector_prefix, codec.micros(_now())]
        for op, op_vectors in zip(puts, vectors):
            namespace = tuple(op.namespace)
            head = [keys.item_member(namespace, op.key), keys.ns_member(namespace), keys.item_suffix(namespace, op.key)]
            if op.value is None:
                args += ["d", *head]
                continue
            value, tags = codec.encode_value(self.serde, op.value), filtering.item_tags(namespace, op.value)
            args += ["p", *head, value, tags, codec.ttl_millis(op.ttl), len(op_vectors)]
            args += [codec.pack_vector(vector) for vector in op_vectors]
        self._io(scripts.run, self._client, "write", self.layout.write_keys, args)

    def _embed_puts(self, puts: Sequence[PutOp]) -> list[list[list[float]]]:
        """The vectors of each put (none for deletes, `index=False`, or a store without `index`)."""
        texts: list[list[str]] = []
        for op in puts:
            if self.embeddings is None or op.value is None or op.index is False:
                texts.append([])
            else:
                paths = self._paths if op.index is None else embedding.tokenized(op.index)
                texts.append(embedding.texts_to_embed(op.value, paths))
        unique = list(dict.fromkeys(text for op_texts in texts for text in op_texts))
        if not unique or self.embeddings is None:
            return [[] for _ in puts]
        by_text = dict(zip(unique, self._checked(self._embed(unique), len(unique))))
        return [[by_text[text] for text in op_texts] for op_texts in texts]

    def _embed_queries(self, searches: Sequence[SearchOp]) -> dict[str, list[float]]:
        if self.embeddings is None:
            return {}
        queries = list(dict.fromkeys(op.query for op in searches if op.query))
        return dict(zip(queries, self._checked(self._embed(queries, query=True), len(queries))))

    def _embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        """Embed texts with the sync function, or, if the index config gave only an async one, with
        the async one on a private event loop (the store runs on worker threads: no loop is running)."""
        assert self.embeddings is not None
        embeddings = self.embeddings
        if getattr(embeddings, "afunc", None) is not None and getattr(embeddings, "func", None) is None:
            # LangGraph's wrapper of an async-only embedding function

            async def embed_async() -> list[list[float]]:
                if query:
                    return list(await asyncio.gather(*(embeddings.aembed_query(t) for t in texts)))
                return await embeddings.aembed_documents(texts)

            return asyncio.run(embed_async())
        if query:
            return [embeddings.embed_query(text) for text in texts]
        return embeddings.embed_documents(texts)

    def _checked(self, vectors: Sequence[Sequence[float]], count: int) -> list[list[float]]:
        dims = int(self.index_config["dims"]) if self.index_config else 0
        if len(vectors) != count or any(len(v) != dims for v in vectors):
            raise ConfigurationError(
                f"the embedding function returned {len(vectors)} vector(s) of sizes {sorted({len(v) for v in vectors})}"
                f" for {count} text(s); the index config says dims={dims}"
            )
        return [[float(x) for x in v] for v in vectors]

    # -- I/O ---------------------------------------------------------------------------------
    def _io(self, operation: Callable[..., T], *args: Any) -> T:
        """Run one idempotent Redis operation, retrying transient errors per the retry policy."""
        attempts = 1 if self.retry is None else self.retry.attempts
        try:
            try:  # the first attempt runs without tenacity's bookkeeping: this is the hot path
                return operation(*args)
            except TRANSIENT_ERRORS:
                if attempts == 1 or self.retry is None:
                    raise
                logger.warning("redis-ckpt store: transient error on %s, retrying", self._where)
            attempts -= 1  # the budget counts the attempt above
            retrying = Retrying(
                stop=stop_after_attempt(attempts),
                wait=wait_random_exponential(multiplier=self.retry.initial_wait, max=self.retry.max_wait),
                retry=retry_if_exception_type(TRANSIENT_ERRORS),
                reraise=True,
                before_sleep=lambda state: logger.warning("redis-ckpt store: retrying on %s", self._where),
            )
            return retrying(operation, *args)
        except TRANSIENT_ERRORS as exc:
            total = 1 if self.retry is None else self.retry.attempts
            raise StoreUnavailableError(
                f"Redis at {self._where} failed after {total} attempt(s): {type(exc).__name__}: {exc}. "
                "Check that the server is up and reachable, then retry the call."
            ) from exc


def index_algorithms() -> tuple[str, ...]:
    return vector_index.ALGORITHMS


def validate_op(op: Op) -> None:
    """LangGraph's label rules for every op (also those passed to batch directly), plus: a put
    needs a non-empty namespace not rooted at "langgraph", and keys are strings."""
    if not isinstance(op, (GetOp, SearchOp, PutOp, ListNamespacesOp)):
        raise ConfigurationError(f"unknown store operation {type(op).__name__}")
    validate_op_namespace(op)
    if isinstance(op, (GetOp, PutOp)):
        if not isinstance(op.key, str):
            raise ConfigurationError(f"item keys must be str, got {type(op.key).__name__}")
        matching.check_labels((*op.namespace, op.key))
    if isinstance(op, PutOp) and op.value is not None:
        if not op.namespace:
            raise InvalidNamespaceError("Namespace cannot be empty.")
        if op.namespace[0] == "langgraph":
            raise InvalidNamespaceError(f'Root label for namespace cannot be "langgraph". Got: {op.namespace}')


def _now() -> datetime:
    return datetime.now(timezone.utc)
