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


def array_elements(data: bytes) -> tuple[bytes, list[bytes]] | None:
    """(header, elements) when `data` is exactly one msgpack array, else None.

    `header + b"".join(elements) == data`."""
    if not data:
        return None
    b = data[0]
    if 0x90 <= b <= 0x9F:
        count, start = b & 0x0F, 1
    elif b == 0xDC and len(data) >= 3:
        count, start = _U16.unpack_from(data, 1)[0], 3
    elif b == 0xDD and len(data) >= 5:
        count, start = _U32.unpack_from(data, 1)[0], 5
    else:
        return None
    elements: list[bytes] = []
    pos = start
    try:
        for _ in range(count):
            nxt = _skip(data, pos)
            elements.append(data[pos:nxt])
            pos = nxt
    except (NotMsgpack, struct.error):
        return None
    if pos != len(data):
        return None
    return data[:start], elements


def list_elements(data: bytes) -> tuple[bytes, list[bytes]] | None:
    """(header, elements) when `data` is one msgpack array, or a map of one entry whose value is an
    array (a graph's input `{"messages": [...]}`: its messages are the same elements the channel
    then holds); the header is everything before the first element. Else None.

    `header + b"".join(elements) == data`."""
    if data[:1] != b"\x81":
        return array_elements(data)
    try:
        key_end = _skip(data, 1)
    except (NotMsgpack, struct.error):
        return None
    found = array_elements(data[key_end:])
    if found is None:
        return None
    header, elements = found
    return data[:key_end] + header, elements
