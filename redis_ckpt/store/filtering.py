"""Filter pushdown: tags that let Redis skip items a filter cannot match. Pure functions.

An item carries a digest of each top-level (field, value) whose value is a built-in scalar (str,
int, float, bool, with True == 1 == 1.0 normalised), or an "unknown" tag for a field whose value
might still equal a scalar (the saver's metadata tags, redis_ckpt.encoding). A filter item that
asks for equality with a built-in scalar (`{"f": v}` or `{"f": {"$eq": v}}`) becomes a requirement:
the item must carry that value's tag or the field's unknown tag. Everything else is left to Python,
which re-checks every candidate, so the tags can only save work, never change an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis_ckpt.encoding import filter_requirements, metadata_tags, requirements_argument


def item_tags(value: Mapping[str, Any]) -> str:
    """The `f` field of an item (comma-joined tags)."""
    return ",".join(metadata_tags(value))


def requirements(filter: Mapping[str, Any] | None) -> list[tuple[str, str]]:
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
