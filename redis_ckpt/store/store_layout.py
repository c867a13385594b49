"""The store's Redis key layout: the only place that builds the store's key names and index members.

- An item lives in one hash, `P:item:{N}K`: `N` is the namespace, each label escaped and followed by
  `:`; `K` is the raw key. `{N}` is the cluster hash tag, so a namespace's items share one slot.
  The tag is everything up to the first `}`, and escaped labels hold no `}`, so the name is
  injective for any (namespace, key).
- Its vectors (one per embedded text) are hashes `P:vec:{N}K#i`, i = 0, 1, ... (`#` + a number
  ends every vector name, so they never collide).
- `P:items` (sorted set, scores 0) holds one *member* per item: the namespace's labels, each
  followed by NUL, then NUL, then the key. Labels never contain NUL and are never empty, so the
  first NUL NUL ends the namespace. Byte order of members is (namespace, key) order, and the items
  under a namespace prefix are one lexicographic range.
- `P:namespaces` (sorted set, scores 0) holds the namespace part of the members: the registry.
  Writes keep it exact; only expiry can leave a namespace in it without items, so `P:expiring`
  (set) names the namespaces that ever got an item with a TTL, the only ones readers must check.
The Lua scripts rebuild an item's name from its member with the same escaping (store/lua/common.lua).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from redis_ckpt.errors import ConfigurationError
from redis_ckpt.format.encoding import text, utf8

_ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})
LEX_MAX = b"\xff"  # no UTF-8 text contains this byte: an upper bound for a member range


def ns_member(namespace: tuple[str, ...]) -> bytes:
    """The registry member of a namespace; also the common start of its items' members."""
    return b"".join(utf8(label) + b"\0" for label in namespace)


def item_member(namespace: tuple[str, ...], key: str) -> bytes:
    return ns_member(namespace) + b"\0" + utf8(key)


def split_member(member: bytes) -> tuple[tuple[str, ...], str]:
    """Inverse of `item_member`."""
    end = member.index(b"\0\0")
    labels = member[: end + 1].split(b"\0")[:-1]
    return tuple(text(label) for label in labels), text(member[end + 2 :])


def prefix_range(prefix: tuple[str, ...]) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds of every member under a namespace prefix (items or namespaces)."""
    if not prefix:
        return b"-", b"+"
    start = ns_member(prefix)
    return b"[" + start, b"(" + start + LEX_MAX


def namespace_range(namespace: tuple[str, ...]) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds of the items of exactly this namespace (not of its children)."""
    start = ns_member(namespace) + b"\0"
    return b"[" + start, b"(" + start + LEX_MAX


def split_ns_member(member: bytes) -> tuple[str, ...]:
    """Inverse of `ns_member`."""
    return tuple(text(label) for label in member.split(b"\0")[:-1])


def split_item_suffix(suffix: bytes) -> tuple[tuple[str, ...], str]:
    """Inverse of `item_suffix`."""
    close = suffix.index(b"}")
    labels = text(suffix[1:close]).split(":")[:-1]
    return tuple(_unescape(label) for label in labels), text(suffix[close + 1 :])


def _unescape(label: str) -> str:
    return re.sub("%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), label)


def item_suffix(namespace: tuple[str, ...], key: str) -> bytes:
    """`{N}K`: what follows the item (or vector) prefix; see the module docstring."""
    return b"{" + b"".join(utf8(label.translate(_ESCAPES)) + b":" for label in namespace) + b"}" + utf8(key)


@dataclass(frozen=True)
class StoreLayout:
    """Key names of one store (one prefix)."""

    prefix: str = "store"

    def __post_init__(self) -> None:
        if not self.prefix or "{" in self.prefix or "}" in self.prefix:
            raise ConfigurationError(f"store prefix must be non-empty and contain no '{{' or '}}': {self.prefix!r}")

    @property
    def items(self) -> str:
        return f"{self.prefix}:items"

    @property
    def namespaces(self) -> str:
        return f"{self.prefix}:namespaces"

    @property
    def expiring(self) -> str:
        return f"{self.prefix}:expiring"

    @property
    def write_keys(self) -> list[str]:
        """The index keys the write and namespaces scripts take (items, registry, expiring)."""
        return [self.items, self.namespaces, self.expiring]

    @property
    def item_prefix(self) -> str:
        return f"{self.prefix}:item:"

    @property
    def vector_prefix(self) -> str:
        return f"{self.prefix}:vec:"

    @property
    def item_index(self) -> str:
        return f"{self.prefix}:item_index"

    @property
    def vector_index(self) -> str:
        return f"{self.prefix}:vector_index"

    def item(self, namespace: tuple[str, ...], key: str) -> bytes:
        return utf8(self.item_prefix) + item_suffix(namespace, key)

    def split_item(self, name: bytes) -> tuple[tuple[str, ...], str]:
        """(namespace, key) of an item hash's name."""
        return split_item_suffix(name[len(utf8(self.item_prefix)) :])

    def vector_base(self, namespace: tuple[str, ...], key: str) -> bytes:
        """Vector i of the item is this name + `#i`."""
        return utf8(self.vector_prefix) + item_suffix(namespace, key)
