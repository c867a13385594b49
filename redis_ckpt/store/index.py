"""The optional Search-module indexes (through redisvl): schemas, detection and queries.

Two indexes, both only where the Search module exists: the *item index* over item hashes and the
*vector index* over vector hashes (only with an `index` config). Each indexes the tag field `f`
(redis_ckpt.store.filtering: namespace-prefix tags and filter tags, hex digests, so user text never
meets the query language); the vector index also `vec`. Everything an index returns is loaded and
re-checked (filter, expiry) in Python: the indexes only find candidates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from redis.exceptions import ResponseError
from redisvl.index import SearchIndex
from redisvl.query.filter import FilterExpression, Tag
from redisvl.schema import IndexSchema

from redis_ckpt.redis_io.search import aggregate_all_keys
from redis_ckpt.store.filtering import prefix_tag
from redis_ckpt.store.store_layout import StoreLayout

ALGORITHMS = ("flat", "hnsw")
NO_MODULE, NOT_READY, READY = "no-module", "not-ready", "ready"
_TAGS = {"name": "f", "type": "tag", "attrs": {"separator": ",", "case_sensitive": True}}


def item_schema(layout: StoreLayout) -> IndexSchema:
    return IndexSchema.from_dict(
        {
            "index": {"name": layout.item_index, "prefix": layout.item_prefix, "storage_type": "hash"},
            "fields": [_TAGS],
        }
    )


def vector_schema(layout: StoreLayout, dims: int, algorithm: str) -> IndexSchema:
    vector = {"dims": dims, "algorithm": algorithm, "distance_metric": "cosine", "datatype": "float32"}
    return IndexSchema.from_dict(
        {
            "index": {"name": layout.vector_index, "prefix": layout.vector_prefix, "storage_type": "hash"},
            "fields": [_TAGS, {"name": "vec", "type": "vector", "attrs": vector}],
        }
    )


def on_db_zero(client: Any) -> bool:
    """RediSearch indexes only db 0, and index names are global: a store in another db must not
    create one (refused) nor use one of the same name (it indexes db 0's keys)."""
    return int(client.connection_pool.connection_kwargs.get("db") or 0) == 0


def ensure(client: Any, schema: IndexSchema) -> str:
    """Create the index if the Search module exists (idempotent): NO_MODULE, NOT_READY or READY."""
    try:
        SearchIndex(schema, redis_client=client).create(overwrite=False)
    except Exception as exc:  # redisvl wraps the server's answer; an unknown FT.* command means no module
        if "unknown command" in str(exc).lower() or "unknown command" in str(exc.__cause__ or "").lower():
            return NO_MODULE
        raise
    return state(client, schema.index.name)


def state(client: Any, name: str) -> str:
    """READY once the index has finished indexing existing hashes (partial answers before)."""
    try:
        info = client.execute_command("FT.INFO", name)
    except ResponseError as exc:
        if "unknown command" in str(exc).lower():
            return NO_MODULE
        return NOT_READY
    pairs = info.items() if isinstance(info, dict) else zip(info[::2], info[1::2])
    fields = {_text(k): v for k, v in pairs}
    return READY if _text(fields.get("indexing", 0)) in ("0", "0.0") else NOT_READY


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def query(prefix: tuple[str, ...], requirements: Sequence[tuple[str, ...]]) -> str:
    """Hashes under a namespace prefix whose tags meet every requirement (a set of alternatives)."""
    parts = [Tag("f") == prefix_tag(prefix)] if prefix else []
    parts += [Tag("f") == list(alternatives) for alternatives in requirements]
    expression: FilterExpression | None = None
    for part in parts:
        expression = part if expression is None else expression & part
    return str(expression) if expression is not None else "*"


def matching_items(client: Any, layout: StoreLayout, query_string: str, page: int = 1000) -> Iterator[bytes]:
    """The name of every matching item hash, streamed through an aggregate cursor (no result cap)."""
    return aggregate_all_keys(client, layout.item_index, query_string, page)


def all_matching_items(client: Any, layout: StoreLayout, query_string: str) -> list[bytes]:
    """`matching_items` as a list: one retryable operation."""
    return list(matching_items(client, layout, query_string))


def knn(
    client: Any,
    layout: StoreLayout,
    prefix: tuple[str, ...],
    requirements: Sequence[tuple[str, ...]],
    vector: bytes,
    k: int,
) -> list[tuple[bytes, float]]:
    """The k nearest vectors under a namespace prefix whose tags meet the requirements:
    (item member, cosine similarity), best first."""
    reply = client.execute_command(
        "FT.SEARCH", layout.vector_index, f"{query(prefix, requirements)}=>[KNN {k} @vec $vector AS distance]",
        "PARAMS", 2, "vector", vector, "SORTBY", "distance", "ASC", "RETURN", 2, "m", "distance",
        "LIMIT", 0, k, "DIALECT", 2,
    )  # fmt: skip
    return [(member, 1.0 - float(distance)) for member, distance in _rows(reply)]


def _rows(reply: Any) -> Iterator[tuple[Any, Any]]:
    """(m, distance) of each result: RESP2 gives `[total, key, [field, value, ...], ...]`, RESP3 a map."""
    if isinstance(reply, dict):
        for row in reply.get(b"results", reply.get("results")) or []:
            attrs = row.get(b"extra_attributes", row.get("extra_attributes")) or {}
            yield attrs.get(b"m", attrs.get("m")), attrs.get(b"distance", attrs.get("distance"))
        return
    for fields in reply[2::2]:
        found = dict(zip(fields[::2], fields[1::2]))
        yield found[b"m"], found[b"distance"]
