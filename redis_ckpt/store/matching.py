"""Pure matching and ranking rules, with InMemoryStore's semantics. No Redis here.

- filters: `{field: value}` compares whole values (dicts key by key, lists element by element);
  `{field: {"$op": value}}` applies `$eq $ne $gt $gte $lt $lte` (ranges compare as floats).
  One difference, on purpose: a range operator on a value that is not a number (a missing field,
  a string) does not match, where InMemoryStore raises.
- namespace conditions: segment by segment, case-sensitive, `*` is exactly one segment.
- ranking: cosine similarity, an item scores its best vector, items without vectors come after.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from langgraph.store.base import ListNamespacesOp, MatchCondition

from redis_ckpt.errors import ConfigurationError

T = TypeVar("T")
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def check_filter(filter: Mapping[str, Any] | None) -> None:
    """Reject unknown `$` operators before any I/O (InMemoryStore fails on them while matching)."""

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if isinstance(key, str) and key.startswith("$") and key not in OPERATORS:
                    raise ConfigurationError(f"unsupported filter operator {key!r}; use one of {', '.join(OPERATORS)}")
                walk(inner)

    walk(filter or {})


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether an item's value passes a search filter."""
    return not filter or all(_same(value.get(field), wanted) for field, wanted in filter.items())


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in wanted):
            return all(_operator(actual, op, operand) for op, operand in wanted.items())
        return isinstance(actual, dict) and all(_same(actual.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(wanted)
            and all(_same(a, w) for a, w in zip(actual, wanted))
        )
    return bool(actual == wanted)


def _operator(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(actual == operand)
    if op == "$ne":
        return bool(actual != operand)
    try:
        left, right = float(actual), float(operand)
    except (TypeError, ValueError):
        return False
    if op == "$gt":
        return left > right
    if op == "$gte":
        return left >= right
    if op == "$lt":
        return left < right
    if op == "$lte":
        return left <= right
    raise ConfigurationError(f"unsupported filter operator {op!r}; use one of {', '.join(OPERATORS)}")


def condition_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """A prefix or suffix condition, `*` matching exactly one label."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        part = namespace[: len(path)]
    elif condition.match_type == "suffix":
        part = namespace[len(namespace) - len(path) :]
    else:
        raise ConfigurationError(f"unsupported namespace match type {condition.match_type!r}; use prefix or suffix")
    return all(want == "*" or want == have for have, want in zip(part, path))


def literal_head(op: ListNamespacesOp) -> tuple[str, ...]:
    """The labels every answer must start with (before any `*`): narrows the registry range."""
    for condition in op.match_conditions or ():
        if condition.match_type == "prefix":
            head: list[str] = []
            for label in condition.path:
                if label == "*":
                    break
                head.append(label)
            return tuple(head)
    return ()


def select_namespaces(live: Iterable[tuple[str, ...]], op: ListNamespacesOp) -> list[tuple[str, ...]]:
    """list_namespaces over the live namespaces: conditions, max_depth, sorted, offset/limit."""
    chosen = [ns for ns in live if all(condition_matches(c, ns) for c in op.match_conditions or ())]
    chosen = sorted({ns[: op.max_depth] for ns in chosen}) if op.max_depth is not None else sorted(chosen)
    return chosen[op.offset : op.offset + op.limit]


def cosine(query: Sequence[float], vector: Sequence[float]) -> float:
    """Cosine similarity; 0.0 when either vector is all zeros (as InMemoryStore)."""
    dot = sum(a * b for a, b in zip(query, vector))
    norms = math.sqrt(sum(a * a for a in query)) * math.sqrt(sum(b * b for b in vector))
    return dot / norms if norms > 0 else 0.0


def rank(
    candidates: Sequence[tuple[T, Sequence[Sequence[float]]]], query: Sequence[float], offset: int, limit: int
) -> list[tuple[T, float | None]]:
    """InMemoryStore's ranking: each candidate scores its best vector (ties keep candidate order);
    the page is [offset, offset + limit) of the scored ones, then, if the page is short, the first
    candidates without vectors, unscored."""
    scored = sorted(
        ((max(cosine(query, v) for v in vectors), i) for i, (_, vectors) in enumerate(candidates) if vectors),
        key=lambda pair: pair[0],
        reverse=True,
    )
    page: list[tuple[T, float | None]] = [(candidates[i][0], score) for score, i in scored[offset : offset + limit]]
    if len(page) < limit:
        unscored = [item for item, vectors in candidates if not vectors]
        page.extend((item, None) for item in unscored[: limit - len(page)])
    return page


def check_labels(labels: Iterable[str]) -> None:
    """Labels and keys become UTF-8 in Redis: text without a UTF-8 form (a lone surrogate) is refused."""
    for label in labels:
        try:
            label.encode()
        except UnicodeEncodeError as exc:
            raise ConfigurationError(f"{label!r} is not valid Unicode text: {exc.reason}") from exc


def check_page(offset: int, limit: int) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ConfigurationError(f"offset must be an int >= 0, got {offset!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigurationError(f"limit must be an int >= 0, got {limit!r}")
