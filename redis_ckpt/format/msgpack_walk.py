"""Finding the elements of a msgpack array without decoding them. Pure functions.

Deduplicated storage (redis_ckpt/format/chunks.py) cuts a serialized list into its elements, so that the
elements a new version shares with an old one are stored once. Only offsets are computed: the
bytes are never decoded and re-encoded, so reassembling the pieces gives back exactly the bytes
the serializer produced.
"""

from __future__ import annotations

import struct

# Bytes that follow a type byte before its payload or children: (length field size, extra bytes).
_U8, _U16, _U32 = struct.Struct(">B"), struct.Struct(">H"), struct.Struct(">I")
_FIXED = {
    0xC0: 0, 0xC2: 0, 0xC3: 0,  # nil, false, true
    0xCA: 4, 0xCB: 8,  # float32/64
    0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,  # uint
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,  # int
    0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,  # fixext: type byte + data
}  # fmt: skip
_SIZED = {  # payload length field size, plus bytes after the length (ext type) before the payload
    0xC4: (_U8, 0), 0xC5: (_U16, 0), 0xC6: (_U32, 0),  # bin
    0xC7: (_U8, 1), 0xC8: (_U16, 1), 0xC9: (_U32, 1),  # ext
    0xD9: (_U8, 0), 0xDA: (_U16, 0), 0xDB: (_U32, 0),  # str
}  # fmt: skip
_CONTAINERS = {0xDC: (_U16, 1), 0xDD: (_U32, 1), 0xDE: (_U16, 2), 0xDF: (_U32, 2)}  # array/map: objects per entry


class NotMsgpack(ValueError):
    """The bytes are not one well-formed msgpack object."""


def _skip(data: bytes, pos: int) -> int:
    """The offset just past the object starting at `pos` (nested objects included)."""
    pending = 1
    end = len(data)
    while pending:
        if pos >= end:
            raise NotMsgpack("truncated")
        b = data[pos]
        pending -= 1
        if b <= 0x7F or b >= 0xE0:
            pos += 1
        elif b <= 0x8F:
            pending += 2 * (b & 0x0F)
            pos += 1
        elif b <= 0x9F:
            pending += b & 0x0F
            pos += 1
        elif b <= 0xBF:
            pos += 1 + (b & 0x1F)
        elif b in _FIXED:
            pos += 1 + _FIXED[b]
        elif b in _SIZED:
            size_field, extra = _SIZED[b]
            pos += 1 + size_field.size + extra + size_field.unpack_from(data, pos + 1)[0]
        elif b in _CONTAINERS:
            size_field, per_entry = _CONTAINERS[b]
            pending += per_entry * size_field.unpack_from(data, pos + 1)[0]
            pos += 1 + size_field.size
        else:
            raise NotMsgpack(f"invalid type byte 0x{b:02x}")
    if pos > end:
        raise NotMsgpack("truncated")
    return pos


def _array_at(data: bytes, at: int) -> tuple[int, int] | None:
    """(offset of the first element, element count) of the msgpack array starting at `at`."""
    b = data[at] if at < len(data) else -1
    if 0x90 <= b <= 0x9F:
        return at + 1, b & 0x0F
    if b == 0xDC and len(data) >= at + 3:
        return at + 3, _U16.unpack_from(data, at + 1)[0]
    if b == 0xDD and len(data) >= at + 5:
        return at + 5, _U32.unpack_from(data, at + 1)[0]
    return None


def list_layout(data: bytes) -> tuple[int, int] | None:
    """(offset of the first element, element count) when `data` starts with a msgpack array, or a
    map of one entry whose value is an array (a graph's input `{"messages": [...]}`: its messages
    are the same elements the channel then holds); else None. Everything before the offset is
    the header. Whether the elements fill `data` exactly is for the caller's walk to check."""
    if data[:1] != b"\x81":
        return _array_at(data, 0)
    try:
        return _array_at(data, _skip(data, 1))
    except (NotMsgpack, struct.error):
        return None


def next_element(data: bytes, pos: int) -> int:
    """The offset just past the element at `pos`; raises NotMsgpack when it is malformed."""
    try:
        return _skip(data, pos)
    except struct.error:
        raise NotMsgpack("truncated") from None


def list_elements(data: bytes) -> tuple[bytes, list[bytes]] | None:
    """(header, elements) when `data` is exactly one list as `list_layout` reads it, else None.

    `header + b"".join(elements) == data`."""
    layout = list_layout(data)
    if layout is None:
        return None
    start, count = layout
    elements: list[bytes] = []
    pos = start
    try:
        for _ in range(count):
            nxt = next_element(data, pos)
            elements.append(data[pos:nxt])
            pos = nxt
    except NotMsgpack:
        return None
    if pos != len(data):
        return None
    return data[:start], elements
