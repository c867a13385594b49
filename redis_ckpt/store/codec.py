"""Pure conversions between stored fields and LangGraph's store types. No Redis here."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import Item, SearchItem

from redis_ckpt.errors import SerializationError
from redis_ckpt.format.encoding import pack_typed, unpack_typed
from redis_ckpt.store.store_layout import split_member

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(moment: datetime) -> int:
    """A UTC time as integer microseconds since the epoch (exact, unlike a float)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def moment(raw: bytes | str | int) -> datetime:
    return EPOCH + timedelta(microseconds=int(raw))


def encode_value(serde: SerializerProtocol, value: Mapping[str, Any]) -> bytes:
    """Serializer bytes of an item's value, or a typed error (then nothing is written)."""
    try:
        return pack_typed(serde.dumps_typed(dict(value)))
    except Exception as exc:
        raise SerializationError(f"the store cannot serialize this value: {type(exc).__name__}: {exc}") from exc


def decode_value(serde: SerializerProtocol, raw: bytes) -> dict[str, Any]:
    value: dict[str, Any] = serde.loads_typed(unpack_typed(raw))
    return value


def ttl_millis(ttl_minutes: float | None) -> int:
    """A put's TTL (minutes, as LangGraph gives it) in milliseconds; 0 for none."""
    if ttl_minutes is None:
        return 0
    return max(1, round(ttl_minutes * 60_000))


def pack_vector(vector: Sequence[float]) -> bytes:
    """FLOAT32, little-endian: the vector field format of the Search module."""
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def item_from_fields(serde: SerializerProtocol, member: bytes, fields: Sequence[Any]) -> Item:
    """An Item from its member and its (value, created, updated) fields."""
    namespace, key = split_member(member)
    return Item(
        value=decode_value(serde, fields[0]),
        key=key,
        namespace=namespace,
        created_at=moment(fields[1]),
        updated_at=moment(fields[2]),
    )


def search_item(item: Item, score: float | None = None) -> SearchItem:
    return SearchItem(item.namespace, item.key, item.value, item.created_at, item.updated_at, score)
