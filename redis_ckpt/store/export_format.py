"""The store's export format (JSON lines, docs/cli.md "Store export"), as pure functions.

A sibling of the checkpoint export (redis_ckpt/cli/backup_format.py), told apart by its header's
`format` and by the `kind` of every record, so neither import can read the other's file:

    {"format": "redis-ckpt/store-export", "version": 1, "kind": "store", "exported_at": ..., ...}
    {"kind": "store_item", "namespace": [...], "key": ..., "value": {"type": ..., "b64": ...},
     "created_at": ..., "updated_at": ..., "ttl_ms": ..., "expires_in_ms": ..., "vectors": [...]}
    {"end": true, "kind": "store_end", "items": N, "namespaces": M}

Values keep the serializer's bytes (`type` + base64), vectors their FLOAT32 bytes (base64), times
their microseconds (ISO 8601 with a UTC offset), so a restore writes back exactly what was read.
The end line states the counts: a file without it was cut short. This module lives in the store
package (not the CLI's) so the library can snapshot without the `cli` extra installed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis_ckpt.errors import RedisCheckpointError
from redis_ckpt.format.encoding import pack_typed, unpack_typed
from redis_ckpt.store import codec

FORMAT = "redis-ckpt/store-export"
CHECKPOINT_FORMAT = "redis-ckpt/export"  # the checkpoint export's header (redis_ckpt/cli/backup_format.py)
VERSION = 1
ITEM, END = "store_item", "store_end"


class StoreExportError(RedisCheckpointError, ValueError):
    """A line that is not part of a store export (or of a newer version of the format)."""


@dataclass(frozen=True)
class StoredItem:
    """An item as the store holds it: nothing decoded, so it goes back byte for byte."""

    namespace: tuple[str, ...]
    key: str
    value: bytes  # the stored field: pack_typed(serializer type, serializer bytes)
    created_us: int
    updated_us: int
    ttl_ms: int  # the put's TTL (0 = none): what a read with refresh_on_read restarts
    expires_in_ms: int  # time left when read (0 = never expires)
    vectors: tuple[bytes, ...]  # FLOAT32 little-endian, one per embedded text


def header(exported_at: str, store_prefix: str, namespace_prefixes: Sequence[tuple[str, ...]]) -> str:
    prefixes = [list(prefix) for prefix in namespace_prefixes]
    return json.dumps({"format": FORMAT, "version": VERSION, "kind": "store", "exported_at": exported_at,
                       "store_prefix": store_prefix, "namespace_prefixes": prefixes})  # fmt: skip


def end(items: int, namespaces: int) -> str:
    return json.dumps({"end": True, "kind": END, "items": items, "namespaces": namespaces})


def item_line(item: StoredItem) -> str:
    type_name, data = unpack_typed(item.value)
    return json.dumps(
        {
            "kind": ITEM,
            "namespace": list(item.namespace),
            "key": item.key,
            "value": {"type": type_name, "b64": _b64(data)},
            "created_at": codec.moment(item.created_us).isoformat(),
            "updated_at": codec.moment(item.updated_us).isoformat(),
            "ttl_ms": item.ttl_ms or None,
            "expires_in_ms": item.expires_in_ms or None,
            "vectors": [_b64(vector) for vector in item.vectors],
        }
    )


def parse_header(line: str) -> dict[str, Any]:
    try:
        found = json.loads(line)
    except ValueError:
        found = None
    if isinstance(found, dict) and found.get("format") == CHECKPOINT_FORMAT:
        raise StoreExportError("line 1: this is a checkpoint export; read it with `redis-ckpt import`")
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise StoreExportError("line 1: not a redis-ckpt store export (no header)")
    if found.get("version") != VERSION:
        raise StoreExportError(f"line 1: store export format version {found.get('version')!r}; this reads {VERSION}")
    return found


def parse_line(line: str, number: int) -> StoredItem | dict[str, Any]:
    """A StoredItem, or the end line as a dict."""
    where = f"line {number}"
    found = _json(line, where)
    if not isinstance(found, dict):
        raise StoreExportError(f"{where}: not a JSON object")
    if found.get("end") is True and found.get("kind") == END:
        return found
    if found.get("kind") != ITEM:
        raise StoreExportError(f"{where}: not a store item (kind {found.get('kind')!r})")
    try:
        ttl, expires_in = int(found.get("ttl_ms") or 0), int(found.get("expires_in_ms") or 0)
        value = found["value"]
        item = StoredItem(
            namespace=tuple(_text(label) for label in found["namespace"]),
            key=_text(found["key"]),
            value=pack_typed((_text(value["type"]), base64.b64decode(value["b64"], validate=True))),
            created_us=codec.micros(_moment(found["created_at"])),
            updated_us=codec.micros(_moment(found["updated_at"])),
            ttl_ms=ttl,
            expires_in_ms=expires_in,
            vectors=tuple(base64.b64decode(vector, validate=True) for vector in found["vectors"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreExportError(f"{where}: missing or bad field {exc}") from None
    if ttl < 0 or expires_in < 0 or any(len(vector) % 4 for vector in item.vectors):
        raise StoreExportError(f"{where}: negative TTL or a vector that is not FLOAT32 bytes")
    return item


def _json(line: str, where: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise StoreExportError(f"{where}: not JSON ({exc})") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(_text(value))
    if moment.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {value!r}")
    return moment


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
