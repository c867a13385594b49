"""Tags that let Redis skip items a search cannot match. Pure functions.

An item (and each of its vectors) carries, in its field `f`, a tag per non-empty prefix of its
namespace (so an index finds the items under a prefix) and a digest of each top-level (field,
value) whose value is a built-in scalar (str, int, float, bool, with True == 1 == 1.0 normalised),
or an "unknown" tag for a field whose value might still equal a scalar (the saver's metadata tags,
redis_ckpt.format.encoding). A filter item that asks for equality with a built-in scalar (`{"f": v}` or
`{"f": {"$eq": v}}`) becomes a requirement: the item must carry that value's tag or the field's
unknown tag. Everything else is left to Python, which re-checks every candidate, so the tags can
only save work, never change an answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from redis_ckpt.format.encoding import filter_requirements, metadata_tags, requirements_argument
from redis_ckpt.store.store_layout import ns_member


def prefix_tag(prefix: tuple[str, ...]) -> str:
    """24 hex digits: never the same shape as a value tag (16), so the two kinds share one field."""
    return hashlib.blake2b(ns_member(prefix), digest_size=12).hexdigest()


def item_tags(namespace: tuple[str, ...], value: Mapping[str, Any]) -> str:
    """The `f` field of an item and of its vectors (comma-joined tags)."""
    prefixes = [prefix_tag(namespace[:depth]) for depth in range(1, len(namespace) + 1)]
    return ",".join([*prefixes, *metadata_tags(value)])


def requirements(filter: Mapping[str, Any] | None) -> list[tuple[str, ...]]:
    equalities: dict[str, Any] = {}
    for field, wanted in (filter or {}).items():
        if isinstance(wanted, dict):
            if set(wanted) == {"$eq"}:
                equalities[field] = wanted["$eq"]
        else:
            equalities[field] = wanted
    return filter_requirements(equalities)


def requirements_text(filter: Mapping[str, Any] | None) -> str:
    """The page script's form of a filter's requirements ('' when nothing can be pushed down)."""
    return requirements_argument(requirements(filter))


def fully_pushed(filter: Mapping[str, Any] | None) -> bool:
    """Whether the tags decide the whole filter (only a value of an unusual type may still fail
    the Python check): then nearly every candidate an index returns passes."""
    return len(requirements(filter)) == len(filter or {})
