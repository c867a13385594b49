"""Byte-level encodings of stored fields. Pure functions, no Redis.

- typed value: `type + b"\\0" + data`, the raw output of `serde.dumps_typed`.
- list: concatenated `b"<len>:" + item` (length-prefixed, so items may hold any byte; the Lua
  scripts parse the same format).
- version repr: a type-tagged string so int 1 and str "1" never share a blob field.
- large values: a channel value above LARGE_VALUE bytes is stored under its spill field
  (`\\0` + its blob field) and its blob field holds the spill field's name instead, a reference;
  a pending write's value likewise, in its writes hash (the record holding the reference).
  Typed values never start with NUL (type names are not empty), so references are unambiguous.
- digests: short hex digests used as search tags; equality is always re-checked in Python.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def utf8(text: str) -> bytes:
    """Any Python string as bytes, lone surrogates included (ids may hold them)."""
    return text.encode("utf-8", "surrogatepass")


def text(raw: bytes) -> str:
    """Inverse of `utf8`."""
    return raw.decode("utf-8", "surrogatepass")


def pack_typed(typed: tuple[str, bytes]) -> bytes:
    type_name, data = typed
    if not type_name:
        raise ValueError("the serializer returned an empty type name")
    return utf8(type_name) + b"\0" + bytes(data)


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


def parse_version_repr(raw: bytes) -> str | int | float:
    """Inverse of `version_repr` (type-exact: repr of a float reads back to the same float)."""
    kind, body = raw[:2], text(raw[2:])
    if kind == b"s:":
        return body
    if kind == b"i:":
        return int(body)
    if kind == b"f:":
        return float(body)
    raise ValueError(f"not a version repr: {raw!r}")


# Channel names every LangGraph graph uses, stored as one byte (their index + 1) in documents and
# pending writes. Part of the stored format: never reorder, only append. A name "branch:to:X"
# (LangGraph's trigger channels) is BRANCH_TO + X; a name that starts with a byte below 0x20 is
# stored as ESCAPED_CHANNEL + the name. lua/common.lua reads the same forms.
CHANNEL_CODES = ("__start__", "messages", "__pregel_tasks", "__interrupt__", "__end__")
_CHANNEL_CODE = {name: bytes([i + 1]) for i, name in enumerate(CHANNEL_CODES)}
BRANCH_TO, ESCAPED_CHANNEL = b"\x1f", b"\x1e"
_BRANCH_PREFIX = "branch:to:"


def pack_channel(channel: str) -> bytes:
    """A channel name as a delimited item (its length is known from around it)."""
    code = _CHANNEL_CODE.get(channel)
    if code is not None:
        return code
    if channel.startswith(_BRANCH_PREFIX):
        return BRANCH_TO + utf8(channel[len(_BRANCH_PREFIX) :])
    raw = utf8(channel)
    return ESCAPED_CHANNEL + raw if raw and raw[0] < 0x20 else raw


def unpack_channel(raw: bytes) -> str:
    """Inverse of `pack_channel`."""
    if not raw or raw[0] >= 0x20:
        return text(raw)
    if raw[:1] == BRANCH_TO:
        return _BRANCH_PREFIX + text(raw[1:])
    if raw[:1] == ESCAPED_CHANNEL:
        return text(raw[1:])
    if len(raw) == 1 and raw[0] <= len(CHANNEL_CODES):
        return CHANNEL_CODES[raw[0] - 1]
    raise ValueError(f"unknown channel code {raw!r}")


# A document's references, (channel, version) for each channel of the checkpoint, in its order.
# Compact form (COMPACT_REFS first): per channel, the name (a CHANNEL_CODES byte; BRANCH_TO and the
# rest's `<len>:` item; or a `<len>:` item of the name) then the version: SAME_VERSION (as the one
# before), this saver's 12-character versions as they are ('v' or 'w' first: the repr is "s:" +
# them), or a `<len>:` item of the version repr. 45 bytes instead of 125 for a chat checkpoint.
# Documents written before hold the plain list (channel, version repr, ...) of `pack_list`.
COMPACT_REFS, SAME_VERSION = b"\x01", b"="


def _counted(raw: bytes) -> bytes:
    return b"%d:%s" % (len(raw), raw)


def pack_refs(versions: Mapping[str, str | int | float]) -> bytes:
    out, previous = [COMPACT_REFS], b""
    for channel, version in versions.items():
        packed = pack_channel(channel)
        if packed[:1] == BRANCH_TO:
            out.append(BRANCH_TO + _counted(packed[1:]))
        elif len(packed) == 1 and packed[0] < 0x20:
            out.append(packed)
        else:
            out.append(_counted(utf8(channel)))
        repr_ = utf8(version_repr(version))
        if repr_ == previous:
            out.append(SAME_VERSION)
        elif len(repr_) == 14 and repr_[:3] in (b"s:v", b"s:w"):
            out.append(repr_[2:])
        else:
            out.append(_counted(repr_))
        previous = repr_
    return b"".join(out)


def refs_list(raw: bytes) -> list[bytes]:
    """A document's references, either form -> [channel, version repr, ...] as stored before the
    compact form (lua/common.lua's refs_list does the same)."""
    if raw[:1] != COMPACT_REFS:
        return unpack_list(raw)
    out: list[bytes] = []
    pos, previous = 1, b""

    def counted(at: int) -> tuple[bytes, int]:
        colon = raw.index(b":", at)
        end = colon + 1 + int(raw[at:colon])
        return raw[colon + 1 : end], end

    while pos < len(raw):
        first = raw[pos]
        if raw[pos : pos + 1] == BRANCH_TO:
            rest, pos = counted(pos + 1)
            channel = utf8(_BRANCH_PREFIX) + rest
        elif first < 0x20:
            if not 1 <= first <= len(CHANNEL_CODES):
                raise ValueError(f"unknown channel code {first} in a document's references")
            channel, pos = utf8(CHANNEL_CODES[first - 1]), pos + 1
        else:
            channel, pos = counted(pos)
        if raw[pos : pos + 1] == SAME_VERSION:
            version, pos = previous, pos + 1
        elif raw[pos : pos + 1] in (b"v", b"w"):
            version, pos = b"s:" + raw[pos : pos + 12], pos + 12
        else:
            version, pos = counted(pos)
        out += (channel, version)
        previous = version
    return out


def parse_refs(raw: bytes) -> dict[str, str | int | float]:
    """A document's references, either form -> {channel: version}, in stored order."""
    items = refs_list(raw)
    return {text(items[i]): parse_version_repr(items[i + 1]) for i in range(0, len(items), 2)}


# A pending write's task path: LangGraph's "~__pregel_pull, <node>" and "~__pregel_push, ..." are
# stored as one byte and the rest; a path that starts with a byte below 0x04 gets ESCAPED_PATH.
_TASK_PATH_PREFIXES = {b"\x01": "~__pregel_pull, ", b"\x02": "~__pregel_push, "}
ESCAPED_PATH = b"\x03"


def pack_task_path(task_path: str) -> bytes:
    for code, prefix in _TASK_PATH_PREFIXES.items():
        if task_path.startswith(prefix):
            return code + utf8(task_path[len(prefix) :])
    raw = utf8(task_path)
    return ESCAPED_PATH + raw if raw[:1] and raw[0] <= ESCAPED_PATH[0] else raw


def unpack_task_path(raw: bytes) -> str:
    """Inverse of `pack_task_path`."""
    prefix = _TASK_PATH_PREFIXES.get(raw[:1])
    if prefix is not None:
        return prefix + text(raw[1:])
    return text(raw[1:]) if raw[:1] == ESCAPED_PATH else text(raw)


# A document names its parent as given, or, when both ids are canonical UUIDs (LangGraph's
# uuid6, which start with a timestamp), as PACKED_PARENT + the number n of leading bytes the
# parent's 16 shares with its own + the parent's other 16 - n bytes: ~11 bytes instead of 36. An id
# stored as given that starts with either marker gets ESCAPED_PARENT in front.
PACKED_PARENT, ESCAPED_PARENT = b"\x02", b"\x03"


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_bytes(value: str) -> bytes | None:
    """The 16 bytes of a canonical (lowercase, hyphenated) UUID string, else None. (A regex and
    bytes.fromhex: uuid.UUID took ~5 us, on every put and pending write.)"""
    if len(value) != 36 or _CANONICAL_UUID.fullmatch(value) is None:
        return None
    return bytes.fromhex(value.replace("-", ""))


def _uuid_text(packed: bytes) -> str:
    """Inverse of `_uuid_bytes`."""
    h = packed.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def pack_parent(parent_id: str | None, checkpoint_id: str) -> bytes:
    if not parent_id:
        return b""
    parent, own = _uuid_bytes(parent_id), _uuid_bytes(checkpoint_id)
    if parent is not None and own is not None:
        shared = 0
        while shared < 16 and parent[shared] == own[shared]:
            shared += 1
        return PACKED_PARENT + bytes([shared]) + parent[shared:]
    raw = utf8(parent_id)
    return ESCAPED_PARENT + raw if raw[:1] in (PACKED_PARENT, ESCAPED_PARENT) else raw


def unpack_parent(raw: bytes, checkpoint_id: str) -> str:
    """Inverse of `pack_parent` ('' for no parent); lua/common.lua's parent_id does the same."""
    if raw[:1] == ESCAPED_PARENT:
        return text(raw[1:])
    if raw[:1] == PACKED_PARENT:
        own = _uuid_bytes(checkpoint_id)
        if own is None:
            raise ValueError(f"a packed parent belongs to a checkpoint with a UUID id, not {checkpoint_id!r}")
        return _uuid_text(own[: raw[1]] + raw[2:])
    return text(raw)


def blob_field(channel: str, version: str | int | float) -> bytes:
    """Field of a channel value in the blob hash: `channel \\0 version-repr`."""
    return utf8(channel) + b"\0" + utf8(version_repr(version))


# Channel values bigger than this are kept out of the read scripts: Redis spends ~1.5 µs of server
# time per KB handing a value to Lua (blocking every client meanwhile), more than a second round
# trip costs from about this size on. See docs/design.md.
LARGE_VALUE = 128 * 1024


# Present (value "1") in a writes hash that holds spill fields, so the read scripts know to skip
# them without looking at every field. Write fields start with a digit or '-', never NUL.
SPILL_FLAG = b"\0"


def spill_field(field: bytes) -> bytes:
    """Where the value of blob field `field` lives when it is large; also the reference to it."""
    return b"\0" + field


def is_reference(stored: bytes) -> bool:
    """Whether a blob field holds a reference to its spill field rather than a typed value."""
    return stored[:1] == b"\0"


def write_field(task_id: str, idx: int) -> bytes:
    """Field of a pending write in its checkpoint's writes hash: `idx:task_id`, or `idx;` and the
    16 bytes of a task id that is a canonical UUID (LangGraph's are: 20 bytes less per write, a
    chat checkpoint's writes hash holds two)."""
    packed = _uuid_bytes(task_id)
    if packed is not None:
        return b"%d;%s" % (idx, packed)
    return b"%d:%s" % (idx, utf8(task_id))


def is_write_field(field: bytes) -> bool:
    """Whether a field of a checkpoint's hash is a pending write's (its idx first: a digit or
    '-'); the document's own fields are named by lowercase letters, spill fields start with NUL."""
    return field[:1] == b"-" or field[:1].isdigit()


def parse_write_field(field: bytes) -> tuple[int, str]:
    """Inverse of `write_field`: (idx, task_id). ValueError for a field of neither form."""
    found = _WRITE_FIELD.match(field)  # idx is digits with an optional '-', then ':' or ';'
    if found is None or (found[2] == b";" and len(field) - found.end() != 16):
        raise ValueError(f"not a pending-write field: {field!r}")
    rest = field[found.end() :]
    task_id = _uuid_text(rest) if found[2] == b";" else text(rest)
    return int(found[1]), task_id


_WRITE_FIELD = re.compile(rb"(-?[0-9]+)([:;])")


def digest(value: str) -> str:
    return hashlib.blake2b(utf8(value), digest_size=8).hexdigest()


# Stored values of these exact types never equal a str, int, float or bool.
_NEVER_EQUAL_TO_SCALARS = (type(None), dict, list, tuple)


def _canonical_scalar(value: Any) -> str | None:
    """A text form shared by the built-in scalars Python considers equal (True == 1 == 1.0), or
    None for anything else: subclasses and other numbers (Decimal, numpy, IntEnum) compare in
    ways a digest cannot predict."""
    kind = type(value)
    if kind is str:
        return "s" + str(value)
    if kind is bool or kind is int:
        return "n" + str(int(value))
    if kind is float:
        return "n" + (str(int(value)) if value.is_integer() else repr(value))
    return None


def _value_tag(key: str, canonical: str) -> str:
    return digest(key + "\0" + canonical)


def _unknown_tag(key: str) -> str:
    """Marks a stored value whose equality with scalars cannot be predicted from a digest."""
    return digest(key + "\0?")


# A checkpoint document's tags keep the first SHORT_TAG hex digits of each digest: 33 bytes less
# per chat checkpoint (about 2% of its stored size). A collision only lets a document through the
# server-side pre-filter; every match is re-checked in Python. Documents written before hold the
# full 16 digits, so checkpoint queries accept both (`filter_requirements(..., short=True)`).
SHORT_TAG = 8


def metadata_tags(metadata: Mapping[str, Any], *, short: bool = False) -> list[str]:
    """The search tags of a checkpoint's metadata: a digest of each top-level item with a built-in
    scalar value, and an `unknown` tag for each item whose value might still equal a scalar."""
    tags = set()
    for key, value in metadata.items():
        canonical = _canonical_scalar(value)
        if canonical is not None:
            tags.add(_value_tag(str(key), canonical))
        elif type(value) not in _NEVER_EQUAL_TO_SCALARS:
            tags.add(_unknown_tag(str(key)))
    return sorted({tag[:SHORT_TAG] for tag in tags} if short else tags)


def filter_requirements(filter: Mapping[str, Any], *, short: bool = False) -> list[tuple[str, ...]]:
    """For each filter item with a built-in scalar value: the tags of which a matching document
    carries at least one (its value's tag, or its key's `unknown` tag; with `short`, each also in
    its short form). Items with other values (None, dicts, lists, ...) are left to the Python
    check."""
    requirements: list[tuple[str, ...]] = []
    for key, value in filter.items():
        canonical = _canonical_scalar(value)
        if canonical is not None:
            tags = (_value_tag(key, canonical), _unknown_tag(key))
            requirements.append(tags + tuple(tag[:SHORT_TAG] for tag in tags) if short else tags)
    return requirements


def requirements_argument(requirements: Sequence[tuple[str, ...]]) -> str:
    """The `load` script's form: requirements joined by ',', alternatives by '|'."""
    return ",".join("|".join(alternatives) for alternatives in requirements)


def all_pushable(filter: Mapping[str, Any]) -> bool:
    """Whether every filter item is decided by the tags (a built-in scalar value)."""
    return all(_canonical_scalar(v) is not None for v in filter.values())


def matches_filter(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """InMemorySaver's rule: exact equality of each top-level key, nested values whole."""
    if not filter:
        return True
    return all(value == metadata.get(key) for key, value in filter.items())
