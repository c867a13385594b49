"""The optional search index (Search module via redisvl): schema, detection and queries.

The index only narrows candidates for cross-thread metadata queries. Every tag is a hex digest
(redis_ckpt.format.encoding), so user text never meets the query language, and every candidate is
re-checked in Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from redis.exceptions import ResponseError
from redisvl.index import SearchIndex
from redisvl.query.filter import FilterExpression, Tag
from redisvl.schema import IndexSchema

from redis_ckpt.format.key_layout import KeyLayout

# Tag fields of a checkpoint document (see docs/design.md).
_TAG_FIELDS = ("run", "meta")


def schema(layout: KeyLayout, name: str | None = None) -> IndexSchema:
    return IndexSchema.from_dict(
        {
            "index": {"name": name or layout.search_index, "prefix": layout.search_prefix, "storage_type": "hash"},
            "fields": [{"name": name, "type": "tag", "attrs": {"case_sensitive": True}} for name in _TAG_FIELDS],
        }
    )


NO_MODULE, NO_INDEX, INDEXING, READY = "no-module", "no-index", "indexing", "ready"


def index_state(client: Any, layout: KeyLayout, name: str | None = None) -> str:
    """NO_MODULE, NO_INDEX, INDEXING or READY, asked with FT.INFO (no MODULE LIST, CONFIG or INFO,
    which managed services block). An index still building gives partial answers: not READY."""
    try:
        info = client.execute_command("FT.INFO", name or layout.search_index)
    except ResponseError as exc:
        text = str(exc).lower()
        if "unknown command" in text:
            return NO_MODULE
        if "no such index" in text or "unknown index" in text or "not found" in text:
            return NO_INDEX
        raise
    pairs = info.items() if isinstance(info, dict) else zip(info[::2], info[1::2])
    fields = {_text(k): v for k, v in pairs}
    indexing = _text(fields.get("indexing", 0))
    return INDEXING if indexing not in ("0", "0.0") else READY


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def create_index(client: Any, layout: KeyLayout, name: str | None = None) -> None:
    SearchIndex(schema(layout, name), redis_client=client).create(overwrite=False)


def query(*, meta_requirements: Sequence[tuple[str, ...]] = (), run_tags: Sequence[str] = ()) -> str:
    """A RediSearch query string; `*` when nothing narrows. Each requirement is a set of
    alternative `meta` tags (see encoding.filter_requirements)."""
    expression: FilterExpression | None = None
    parts = [Tag("meta") == list(alternatives) for alternatives in meta_requirements]
    if run_tags:
        parts.append(Tag("run") == list(run_tags))
    for part in parts:
        expression = part if expression is None else expression & part
    return str(expression) if expression is not None else "*"


def matching_keys(client: Any, layout: KeyLayout, query_string: str, page: int = 1000) -> Iterator[bytes]:
    """Every matching document key (see `aggregate_all_keys`)."""
    return aggregate_all_keys(client, layout.search_index, query_string, page)


def aggregate_all_keys(client: Any, index: str, query_string: str, page: int = 1000) -> Iterator[bytes]:
    """The key of every document of `index` matching the query, streamed through an aggregate
    cursor (no result cap). Sent as raw commands: redis-py's `ft().aggregate` parses only RESP2
    replies."""
    rows, cursor = client.execute_command(
        "FT.AGGREGATE", index, query_string, "LOAD", 1, "@__key", "WITHCURSOR", "COUNT", page, "MAXIDLE", 60_000,
        "DIALECT", 2,
    )  # fmt: skip
    while True:
        yield from aggregate_keys(rows)
        if not cursor:
            return
        rows, cursor = client.execute_command("FT.CURSOR", "READ", index, cursor, "COUNT", page)


def aggregate_keys(rows: Any) -> Iterator[bytes]:
    """The `__key` of each row of one aggregate page: RESP3 gives a map with `results`, RESP2 a
    list `[total, [field, value, ...], ...]`."""
    if isinstance(rows, dict):
        results = reply_get(rows, "results") or []
        found = [reply_get(reply_get(row, "extra_attributes") or {}, "__key") for row in results]
    else:
        found = [dict(zip(row[::2], row[1::2])).get(b"__key") for row in rows[1:]]
    for key in found:
        if key is not None:
            yield key if isinstance(key, bytes) else str(key).encode()


def reply_get(mapping: dict[Any, Any], name: str) -> Any:
    """A field of a RESP3 map reply, whether its keys came back as bytes or str."""
    return mapping.get(name.encode(), mapping.get(name))


def matching_ids(client: Any, index: str, query_string: str, page: int = 10_000) -> Iterator[bytes]:
    """Every matching document key of one index, by FT.SEARCH NOCONTENT in pages: on a cluster
    node (no coordinator), FT.AGGREGATE loads no `__key` for documents outside the index name's
    own slot, while FT.SEARCH returns every document id."""
    offset = 0
    while True:
        reply = client.execute_command(
            "FT.SEARCH", index, query_string, "NOCONTENT", "LIMIT", offset, page, "DIALECT", 2
        )  # fmt: skip
        ids = _ids(reply)
        yield from ids
        if len(ids) < page:
            return
        offset += page


def _ids(reply: Any) -> list[bytes]:
    """Document ids of an FT.SEARCH NOCONTENT reply: RESP3 a map with `results`, RESP2 `[total, id, ...]`."""
    rows = [reply_get(row, "id") for row in reply_get(reply, "results") or []] if isinstance(reply, dict) else reply[1:]
    return [k if isinstance(k, bytes) else str(k).encode() for k in rows if k is not None]
