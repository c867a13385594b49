"""The store's foundation: options, connection, setup, retries, embedding calls, op validation.

RedisStore (redis_ckpt/store/redis_store.py) builds on it: StoreCore -> StoreReads (reads.py) -> RedisStore.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    ListNamespacesOp,
    Op,
    PutOp,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    validate_op_namespace,
)
from typing_extensions import Self

from redis_ckpt.config import DEFAULT_RETRY, RetryConfig
from redis_ckpt.errors import ConfigurationError, IncompatibleClientError
from redis_ckpt.redis_io.connection import Client, check_client, client_from_url, redact_url
from redis_ckpt.redis_io.retry import Retried
from redis_ckpt.store import embedding, matching, store_layout, store_scripts
from redis_ckpt.store import index as vector_index

logger = logging.getLogger("redis_ckpt.store")


class StoreCore(Retried, BaseStore):
    """Connection, layout, indexes' state, retries and embedding calls shared by every part of the store."""

    supports_ttl = True

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        redis_client: Client | None = None,
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
        self.layout = store_layout.StoreLayout(prefix)
        self.serde: SerializerProtocol = serde or JsonPlusSerializer()
        self.ttl_config = ttl
        self.index_config: IndexConfig | None = dict(index) if index else None  # type: ignore[assignment]
        self._paths = embedding.configured_paths(index) if index else []
        self.embeddings = ensure_embeddings(index["embed"]) if index else None
        self.vector_algorithm = vector_algorithm
        self._owns_client = redis_client is None
        client = redis_client or client_from_url(str(redis_url), connection_args)
        check_client(client)
        if not isinstance(client, redis.Redis):  # its index and registry keys span slots
            raise IncompatibleClientError(
                "RedisStore does not support Redis Cluster yet: give it a standalone or Sentinel server"
            )
        self._client: redis.Redis = client
        self._where = redact_url(redis_url) if redis_url else "the given redis client"
        self._start_retrying(retry, logger)
        # Index states (vector_index.NO_MODULE / NOT_READY / READY): set by setup()
        self._item_state = self._vector_state = vector_index.NO_MODULE
        self._sweeper: threading.Thread | None = None  # RedisStore.start_ttl_sweeper
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
        `index` config) the vector index (db 0 only: RediSearch refuses other dbs); idempotent.
        Without the module everything still works:
        filters are checked in a Lua pass, semantic search ranks candidates exactly in Python."""
        self._io(store_scripts.load_all, self._client)
        if not vector_index.on_db_zero(self._client):
            logger.warning("redis-ckpt store: no Search indexes outside db 0 (%s); searches scan", self._where)
            return
        self._item_state = self._io(vector_index.ensure, self._client, vector_index.item_schema(self.layout))
        if self.index_config is not None and self._item_state != vector_index.NO_MODULE:
            schema = vector_index.vector_schema(self.layout, int(self.index_config["dims"]), self.vector_algorithm)
            self._vector_state = self._io(vector_index.ensure, self._client, schema)

    def close(self) -> None:
        """Close the connection pool if this store created it."""
        if self._owns_client:
            self._client.close()
            self._client.connection_pool.disconnect()

    # -- embeddings --------------------------------------------------------------------------
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
