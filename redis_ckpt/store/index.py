"""The optional vector index (Search module, through redisvl): schema, detection and KNN queries.

Only vectors are indexed. A vector hash carries `pfx`, one tag per namespace prefix of its item,
`f`, its item's filter tags (both hex digests, so user text never meets the query language), and
`m`, its item's member. Candidates the
index returns are always loaded and re-checked (filter, expiry) in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from redis.exceptions import ResponseError
from redisvl.index import SearchIndex
from redisvl.query.filter import FilterExpression, Tag
from redisvl.schema import IndexSchema

from redis_ckpt.store.keys import StoreLayout, ns_member

ALGORITHMS = ("flat", "hnsw")
NO_MODULE, NOT_READY, READY = "no-module", "not-ready", "ready"


def prefix_tag(prefix: tuple[str, ...]) -> str:
    return hashlib.blake2b(ns_member(prefix), digest_size=12).hexdigest()


def prefix_tags(namespace: tuple[str, ...]) -> str:
    """The `pfx` field of a vector: the tags of every non-empty prefix of its namespace."""
    return ",".join(prefix_tag(namespace[:depth]) for depth in range(1, len(namespace) + 1))


def schema(layout: StoreLayout, dims: int, algorithm: str) -> IndexSchema:
    return IndexSchema.from_dict(
        {
            "index": {"name": layout.vector_index, "prefix": layout.vector_prefix, "storage_type": "hash"},
            "fields": [
                {"name": "pfx", "type": "tag", "attrs": {"separator": ",", "case_sensitive": True}},
                {"name": "f", "type": "tag", "attrs": {"separator": ",", "case_sensitive": True}},
                {
                    "name": "vec",
                    "type": "vector",
                    "attrs": {"dims": dims, "algorithm": algorithm, "distance_metric": "cosine", "datatype": "float32"},
                },
            ],
        }
    )


def ensure_index(client: Any, layout: StoreLayout, dims: int, algorithm: str) -> str:
    """Create the vector index if the Search module exists: NO_MODULE, NOT_READY or READY."""
    try:
        SearchIndex(schema(layout, dims, algorithm), redis_client=client).create(overwrite=False)
    except Exception as exc:  # redisvl wraps the server's answer; an unknown FT.* command means no module
        if "unknown command" in str(exc).lower() or "unknown command" in str(exc.__cause__ or "").lower():
            return NO_MODULE
        raise
    return state(client, layout)


def state(client: Any, layout: StoreLayout) -> str:
    """READY once the index has finished indexing existing vectors (partial answers before)."""
    try:
        info = client.execute_command("FT.INFO", layout.vector_index)
    except ResponseError as exc:
        if "unknown command" in str(exc).lower():
            return NO_MODULE
        return NOT_READY
    pairs = info.items() if isinstance(info, dict) else zip(info[::2], info[1::2])
    fields = {_text(k): v for k, v in pairs}
    return READY if _text(fields.get("indexing", 0)) in ("0", "0.0") else NOT_READY


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def knn(
    client: Any,
    layout: StoreLayout,
    prefix: tuple[str, ...],
    requirements: Sequence[tuple[str, ...]],
    vector: bytes,
    k: int,
) -> list[tuple[bytes, float]]:
    """The k nearest vectors under a namespace prefix whose filter tags meet the requirements (each
    a set of alternative tags, see redis_ckpt.store.filtering): (item member, cosine similarity),
    best first."""
    parts = [Tag("pfx") == prefix_tag(prefix)] if prefix else []
    parts += [Tag("f") == list(alternatives) for alternatives in requirements]
    expression: FilterExpression | None = None
    for part in parts:
        expression = part if expression is None else expression & part
    where = str(expression) if expression is not None else "*"
    reply = client.execute_command(
        "FT.SEARCH", layout.vector_index, f"{where}=>[KNN {k} @vec $vector AS distance]",
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
