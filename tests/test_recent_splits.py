"""Cutting a list that grew from its previous cut (chunks.split with `previous`) gives exactly the
chunks of a cut from scratch, whatever changed; the cache of cuts stays within its bytes."""

from __future__ import annotations

import random
from typing import Any

import ormsgpack
import pytest

from redis_ckpt.format.chunks import split
from redis_ckpt.format.recent_splits import RecentSplits


def typed(value: Any) -> bytes:
    return b"msgpack\0" + ormsgpack.packb(value)


def element(rng: random.Random, i: int) -> Any:
    return {"id": i, "text": "x" * rng.choice([5, 40, 120, 300, 700])}


def same_cut(value: Any, previous_value: Any) -> None:
    previous = split(typed(previous_value))
    fresh = split(typed(value))
    reused = split(typed(value), previous)
    if fresh is None:
        assert reused is None
        return
    assert reused is not None
    assert (reused.header, reused.chunks, reused.digests) == (fresh.header, fresh.chunks, fresh.digests)
    assert (reused.ends, reused.counts) == (fresh.ends, fresh.counts)
    assert reused.header + b"".join(reused.chunks) == typed(value)[len(b"msgpack\0") :]


@pytest.mark.parametrize("seed", range(40))
def test_a_cut_from_the_previous_one_equals_a_cut_from_scratch(seed: int) -> None:
    rng = random.Random(seed)
    items = [element(rng, i) for i in range(rng.randint(0, 40))]
    grown = items + [element(rng, 100 + i) for i in range(rng.randint(0, 5))]
    same_cut(grown, items)  # appended (the array header may grow from 1 to 3 bytes)
    same_cut({"messages": grown}, {"messages": items})  # a graph input's map of one list
    if items:
        changed = list(grown)
        changed[rng.randrange(len(items))] = element(rng, 999)
        same_cut(changed, items)  # an element before the end replaced
        same_cut(items[: rng.randrange(len(items))], items)  # shortened
        same_cut(grown[1:], items)  # the first removed
    same_cut(grown, "not a list " * 40)


def test_only_the_new_elements_are_walked() -> None:
    rng = random.Random(1)
    items = [element(rng, i) for i in range(200)]
    previous = split(typed(items))
    assert previous is not None
    grown = split(typed([*items, element(rng, 500)]), previous)
    assert grown is not None
    kept = len(previous.chunks) - 1
    assert all(a is b for a, b in zip(grown.chunks[:kept], previous.chunks[:kept]))  # reused as they were


def test_the_cache_of_cuts_is_bounded_in_bytes() -> None:
    cuts = RecentSplits(max_bytes=7_000)
    big = split(typed(["y" * 300] * 10))
    assert big is not None and len(big.data) > 2_000
    cuts.keep("a", "", {"messages": big})
    cuts.keep("b", "", {"messages": big})
    assert cuts.get("a", "") and cuts.get("b", "")
    cuts.keep("c", "", {"messages": big})  # three of ~3 KB exceed 7 KB: the oldest goes
    assert not cuts.get("a", "") and cuts.get("c", "")
    cuts.forget("c")
    assert not cuts.get("c", "")
