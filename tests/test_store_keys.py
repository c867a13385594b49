"""The store's key layout and pure rules, without Redis: names are injective and invertible, member
byte order is (namespace, key) order, prefix ranges hold exactly the namespaces under a prefix."""

from __future__ import annotations

import random

import pytest
from langgraph.store.base import ListNamespacesOp, MatchCondition

from redis_ckpt import ConfigurationError
from redis_ckpt.store import filtering, matching, store_layout

ALPHABET = ["a", "b", "%", "%2", "%25", ":", "{", "}", "{}", "\n", "ü", "用", "🧠", "*", " ", "#", "#0", "-", "~"]


def _label(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 3)))


def _namespace(rng: random.Random) -> tuple[str, ...]:
    return tuple(_label(rng) for _ in range(rng.randint(1, 3)))


def _key(rng: random.Random) -> str:
    return "".join(rng.choice([*ALPHABET, "\0", ""]) for _ in range(rng.randint(0, 3)))


def test_item_names_and_members_are_injective_and_invertible() -> None:
    rng = random.Random(1)
    layout = store_layout.StoreLayout("p")
    seen_names: dict[bytes, tuple[tuple[str, ...], str]] = {}
    seen_members: dict[bytes, tuple[tuple[str, ...], str]] = {}
    for _ in range(5000):
        namespace, key = _namespace(rng), _key(rng)
        name, member = layout.item(namespace, key), store_layout.item_member(namespace, key)
        assert seen_names.setdefault(name, (namespace, key)) == (namespace, key)
        assert seen_members.setdefault(member, (namespace, key)) == (namespace, key)
        assert layout.split_item(name) == (namespace, key)
        assert store_layout.split_member(member) == (namespace, key)
        assert store_layout.split_ns_member(store_layout.ns_member(namespace)) == namespace
        # the hash tag is the whole namespace: the text between the first { and the next }
        tag = name[name.index(b"{") + 1 : name.index(b"}")]
        assert tag == store_layout.item_suffix(namespace, "x")[1:-2]


def test_member_byte_order_is_namespace_then_key_order() -> None:
    rng = random.Random(2)
    pairs = {(_namespace(rng), _key(rng)) for _ in range(3000)}
    by_member = sorted(pairs, key=lambda p: store_layout.item_member(*p))
    assert by_member == sorted(pairs)


def test_prefix_ranges_hold_exactly_the_namespaces_under_a_prefix() -> None:
    rng = random.Random(3)
    namespaces = {_namespace(rng) for _ in range(2000)}
    for _ in range(200):
        prefix = _namespace(rng)[: rng.randint(1, 2)]
        low, high = store_layout.prefix_range(prefix)
        inside = {
            ns for ns in namespaces if low[1:] <= store_layout.ns_member(ns) < high[1:]
        }  # [low (high, as ZRANGEBYLEX reads them
        assert inside == {ns for ns in namespaces if ns[: len(prefix)] == prefix}
        exact_low, exact_high = store_layout.namespace_range(prefix)
        members = {store_layout.item_member(ns, "k") for ns in namespaces | {prefix}}
        assert {m for m in members if exact_low[1:] <= m < exact_high[1:]} == {store_layout.item_member(prefix, "k")}


def test_prefix_tags_and_value_tags_never_share_a_shape() -> None:
    tags = filtering.item_tags(("a", "b"), {"x": 1, "y": "s", "z": [1]}).split(",")
    assert sorted(len(t) for t in tags) == [16, 16, 24, 24]
    assert filtering.prefix_tag(("a",)) in tags and filtering.prefix_tag(("a", "b")) in tags
    assert filtering.requirements({"x": {"$eq": True}}) == filtering.requirements({"x": 1})
    assert filtering.requirements({"x": {"$gt": 1}, "z": [1], "w": None}) == []
    assert filtering.fully_pushed({"x": 1, "y": {"$eq": "s"}}) and not filtering.fully_pushed({"x": {"$ne": 1}})


def test_match_conditions_wildcards_are_one_label() -> None:
    ns = ("a", "b", "c")
    assert matching.condition_matches(MatchCondition("prefix", ("a", "*")), ns)
    assert matching.condition_matches(MatchCondition("suffix", ("*", "c")), ns)
    assert not matching.condition_matches(MatchCondition("prefix", ("*", "c")), ns)
    assert not matching.condition_matches(MatchCondition("prefix", ("a", "b", "c", "*")), ns)
    assert matching.literal_head(ListNamespacesOp((MatchCondition("prefix", ("a", "*", "c")),))) == ("a",)
    with pytest.raises(ConfigurationError):
        matching.condition_matches(MatchCondition("infix", ("a",)), ns)  # type: ignore[arg-type]


def test_rank_follows_in_memory_store_rules() -> None:
    candidates = [("x", [[1.0, 0.0]]), ("y", []), ("z", [[0.0, 1.0], [1.0, 1.0]]), ("w", [[1.0, 0.0]])]
    ranked = matching.rank(candidates, [1.0, 0.0], 0, 10)
    assert [item for item, _ in ranked] == ["x", "w", "z", "y"]  # ties keep order, unscored last
    assert ranked[2][1] == pytest.approx(2**-0.5) and ranked[3][1] is None
    assert [item for item, _ in matching.rank(candidates, [1.0, 0.0], 1, 2)] == ["w", "z"]
    # a short page is filled with unscored items from the start (InMemoryStore's corner case)
    assert [item for item, _ in matching.rank(candidates, [1.0, 0.0], 3, 2)] == ["y"]
    assert matching.cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
