"""Byte-level encodings of stored fields. Pure functions, no Redis.

- typed value: `type + b"\\0" + data`, the raw output of `serde.dumps_typed`.
- list: concatenated `b"<len>:" + item` (length-prefixed, so items may hold any byte; the Lua
  scripts parse the same format).
- version repr: a type-tagged string so int 1 and str "1" never share a blob field.
- digests: short hex digests used as search tags; equality is always re-checked in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def pack_typed(typed: tuple[str, bytes]) -> bytes:
    type_name, data = typed
    return _utf8(type_name) + b"\0" + bytes(data)


def unpack_typed(raw: bytes) -> tuple[str, bytes]:
    type_name, sep, data = raw.partition(b"\0")
    if not sep:
        raise ValueError("stored value has no type tag")
    return type_name.decode("utf-8"), data


def pack_list(items: Iterable[bytes]) -> bytes:
    return b"".join(b"%d:%s" % (len(item), item) for item in items)


def unpack_list(raw: bytes) -> list[bytes]:
    items: list[bytes] = []
    pos = 0
    while pos < len(raw):
        colon = raw.index(b":", pos)
        size = int(raw[pos:colon])
        items.append(raw[colon + 1 : colon + 1 + size])
        pos = colon + 1 + size
    return items


def version_repr(version: str | int | float) -> str:
    if isinstance(version, bool) or not isinstance(version, (str, int, float)):
        raise TypeError(f"channel versions must be str, int or float, not {type(version).__name__}")
    if isinstance(version, str):
        return "s:" + version
    if isinstance(version, int):
        return f"i:{version}"
    return f"f:{version!r}"


def blob_field(channel: str, version: str | int | float) -> bytes:
    """Field of a channel value in the blob hash: `channel \\0 version-repr`."""
    return _utf8(channel) + b"\0" + _utf8(version_repr(version))


def write_field(task_id: str, idx: int) -> bytes:
    """Field of a pending write in its checkpoint's writes hash: `idx:task_id`."""
    return b"%d:%s" % (idx, _utf8(task_id))


def digest(text: str) -> str:
    return hashlib.blake2b(_utf8(text), digest_size=8).hexdigest()


_SCALARS = (str, int, float)


def _canonical_scalar(value: Any) -> str | None:
    """A text form equal for values Python considers equal (True == 1 == 1.0), or None."""
    if isinstance(value, str):
        return "s" + value
    if isinstance(value, bool):
        return "n" + str(int(value))
    if isinstance(value, int):
        return "n" + str(value)
    if isinstance(value, float):
        if value.is_integer():
            return "n" + str(int(value))
        return "n" + repr(value)
    return None


def _item_digest(key: str, value: Any) -> str | None:
    canonical = _canonical_scalar(value)
    return None if canonical is None else digest(key + "\0" + canonical)


def metadata_tags(metadata: Mapping[str, Any]) -> list[str]:
    """Digests of every scalar top-level metadata item (what the search index can match)."""
    tags = (_item_digest(str(k), v) for k, v in metadata.items() if isinstance(v, _SCALARS))
    return sorted({t for t in tags if t is not None})


def filter_tags(filter: Mapping[str, Any]) -> list[str]:
    """Digests of the filter items that can be pushed down (scalar, non-None)."""
    tags = (_item_digest(k, v) for k, v in filter.items() if isinstance(v, _SCALARS))
    return sorted({t for t in tags if t is not None})


def all_pushable(filter: Mapping[str, Any]) -> bool:
    """Whether every filter item is decided exactly by its digest tag (scalar and not None)."""
    return all(_canonical_scalar(v) is not None for v in filter.values())


def matches_filter(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """InMemorySaver's rule: exact equality of each top-level key, nested values whole."""
    if not filter:
        return True
    return all(value == metadata.get(key) for key, value in filter.items())


def as_bytes(values: Sequence[Any]) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode() for v in values]
