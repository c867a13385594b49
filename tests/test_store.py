"""RedisStore behaviours, rewritten from what LangGraph's store tests pin for InMemoryStore,
Postgres and SQLite: batches, namespaces, wildcards, pagination, max_depth, filters, semantic
search and scores, TTL, label validation. Each test runs on Redis with and without the Search module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)

from redis_ckpt import ConfigurationError, RedisStore, SerializationError
from tests.store_helpers import fresh_store, index_config, purge_store


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    with fresh_store(RedisStore, redis_url, prefix) as s:
        yield s


@pytest.fixture
def vstore(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    with fresh_store(RedisStore, redis_url, prefix, index=index_config(fields=["text"])) as s:
        yield s


def _keys(items: list[Item]) -> list[tuple[tuple[str, ...], str]]:
    return [(item.namespace, item.key) for item in items]


# -- basics ------------------------------------------------------------------------------------
def test_put_get_delete_round_trip(store: RedisStore) -> None:
    store.put(("users", "u1"), "prefs", {"theme": "dark", "n": [1, 2, {"x": None}]})
    item = store.get(("users", "u1"), "prefs")
    assert item is not None
    assert item.value == {"theme": "dark", "n": [1, 2, {"x": None}]}
    assert (item.namespace, item.key) == (("users", "u1"), "prefs")
    assert isinstance(item.created_at, datetime) and item.created_at.tzinfo is not None
    store.delete(("users", "u1"), "prefs")
    assert store.get(("users", "u1"), "prefs") is None
    assert store.list_namespaces() == []


def test_put_is_an_upsert_that_keeps_created_at(store: RedisStore, raw: redis.Redis) -> None:
    store.put(("docs",), "d", {"v": 1})
    first = store.get(("docs",), "d")
    time.sleep(0.01)
    store.put(("docs",), "d", {"v": 2})
    second = store.get(("docs",), "d")
    assert first is not None and second is not None
    assert second.value == {"v": 2}
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert len(store.search(("docs",))) == 1
    assert store.keys(("docs",)) == ["d"]
    # one hash per item, deterministic name: no duplicate appears under concurrent upserts
    assert len([k for k in raw.scan_iter(match=f"{store.layout.item_prefix}*")]) == 1


def test_batch_results_in_op_order_and_reads_see_state_before_the_batch(store: RedisStore) -> None:
    store.put(("a",), "k1", {"v": 1})
    results = store.batch(
        [
            PutOp(("a",), "k2", {"v": 2}),
            GetOp(("a",), "k1"),
            GetOp(("a",), "k2"),
            SearchOp(("a",)),
            ListNamespacesOp(),
            PutOp(("a",), "k1", None),
            GetOp(("missing",), "k"),
        ]
    )
    assert results[0] is None and results[5] is None
    assert isinstance(results[1], Item) and results[1].value == {"v": 1}
    assert results[2] is None  # the put of k2 in the same batch is not visible to its reads
    assert _keys(results[3]) == [(("a",), "k1")]  # type: ignore[arg-type]
    assert results[4] == [("a",)]
    assert results[6] is None
    assert store.get(("a",), "k1") is None and store.get(("a",), "k2") is not None


def test_last_write_of_a_key_in_a_batch_wins(store: RedisStore) -> None:
    store.batch([PutOp(("a",), "k", {"v": 1}), PutOp(("a",), "k", {"v": 2}), PutOp(("a",), "j", {"v": 3})])
    item = store.get(("a",), "k")
    assert item is not None and item.value == {"v": 2}
    store.batch([PutOp(("a",), "j", {"v": 4}), PutOp(("a",), "j", None)])
    assert store.get(("a",), "j") is None


def test_gets_of_a_batch_are_one_round_trip(store: RedisStore) -> None:
    store.batch([PutOp(("n", str(i)), f"k{i}", {"i": i}) for i in range(50)])
    calls = 0
    original = store._io

    def counting(operation, *args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(operation, *args)

    store._io = counting  # type: ignore[method-assign]
    results = store.batch([GetOp(("n", str(i)), f"k{i}") for i in range(50)])
    assert calls == 1
    assert [r.value["i"] for r in results] == list(range(50))  # type: ignore[union-attr]
    calls = 0
    store.batch([PutOp(("n", str(i)), f"k{i}", {"i": -i}) for i in range(50)])
    assert calls == 1


def test_a_value_the_serializer_refuses_writes_nothing(store: RedisStore) -> None:
    with pytest.raises(SerializationError):
        store.batch([PutOp(("a",), "ok", {"v": 1}), PutOp(("a",), "bad", {"v": object()})])
    assert store.get(("a",), "ok") is None
    assert store.list_namespaces() == []


# -- namespaces --------------------------------------------------------------------------------
def test_namespace_boundaries_are_segments_not_text(store: RedisStore) -> None:
    store.put(("a",), "k", {"v": 1})
    store.put(("a", "b"), "k", {"v": 2})
    store.put(("ab",), "k", {"v": 3})
    store.put(("a:b",), "k", {"v": 4})
    store.put(("A",), "k", {"v": 5})
    assert _keys(store.search(("a",))) == [(("a",), "k"), (("a", "b"), "k")]
    assert _keys(store.search(("a", "b"))) == [(("a", "b"), "k")]
    assert _keys(store.search(("A",))) == [(("A",), "k")]
    assert _keys(store.search(("a:b",))) == [(("a:b",), "k")]
    assert store.keys(("a",)) == ["k"]
    assert store.namespaces(("a",)) == [("a",), ("a", "b")]


@pytest.mark.parametrize(
    "labels",
    [
        ("%", "_", "%_%"),
        ("用户", "ünïcødé", "🧠"),
        ("*", "?", "[x]", "\\"),
        ("{tag}", "}{", ":", "a b"),
        ("-", "@meta", "(x|y)", "~"),
    ],
)
def test_metacharacter_and_non_ascii_labels_are_literal(store: RedisStore, labels: tuple[str, ...]) -> None:
    for depth in range(1, len(labels) + 1):
        store.put(labels[:depth], "κλειδί:{x}", {"depth": depth, "text": "naïve café 東京"})
    store.put(("other",), "k", {"depth": 0})
    for depth in range(1, len(labels) + 1):
        item = store.get(labels[:depth], "κλειδί:{x}")
        assert item is not None and item.value["depth"] == depth and item.value["text"] == "naïve café 東京"
        assert len(store.search(labels[:depth])) == len(labels) - depth + 1
    expected = sorted(labels[:d] for d in range(1, len(labels) + 1))
    if labels[0] == "*":  # a `*` label in a match condition is the one-label wildcard
        expected = sorted([*expected, ("other",)])
    assert store.list_namespaces(prefix=(labels[0],)) == expected
    assert store.list_namespaces(suffix=(labels[-1],)) == [labels]


def test_labels_with_a_trailing_newline_are_other_labels(store: RedisStore) -> None:
    store.put(("users", "alice"), "k", {"v": 1})
    store.put(("users", "alice\n"), "k", {"v": 2})
    assert store.list_namespaces(suffix=("alice",)) == [("users", "alice")]
    assert store.list_namespaces(prefix=("users", "alice")) == [("users", "alice")]
    assert [i.value for i in store.search(("users", "alice"))] == [{"v": 1}]


def test_label_validation_as_in_langgraph(store: RedisStore) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put((), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("langgraph", "x"), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("a.b",), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("a", ""), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(("a.b",), "k", {"v": 1})])  # also when the op goes to batch directly
    with pytest.raises(InvalidNamespaceError):
        store.list_namespaces(prefix=("a.b",))
    with pytest.raises(ConfigurationError):
        store.put(("a",), "\ud800", {"v": 1})
    assert store.list_namespaces() == []


def test_list_namespaces_prefix_suffix_wildcards_depth_pagination(store: RedisStore) -> None:
    namespaces = [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
        ("users", "123"),
        ("users", "456", "settings"),
        ("admin", "users", "789"),
    ]
    for i, ns in enumerate(namespaces):
        store.put(ns, f"k{i}", {"i": i})
    assert store.list_namespaces() == sorted(namespaces)
    assert store.list_namespaces(prefix=("a", "b")) == sorted(ns for ns in namespaces if ns[:2] == ("a", "b"))
    assert store.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("*", "*", "f")) == [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]
    # `*` is exactly one label: it never matches zero labels, nor two
    assert store.list_namespaces(prefix=("a", "*", "e")) == []
    assert store.list_namespaces(prefix=("a", "*", "*", "e")) == [("a", "b", "d", "e")]
    assert store.list_namespaces(suffix=("*", "f")) == [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]
    assert store.list_namespaces(prefix=("a",), suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("users",)) == [("users", "123"), ("users", "456", "settings")]
    assert store.list_namespaces(max_depth=2) == sorted({ns[:2] for ns in namespaces})
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]
    everything = store.list_namespaces(limit=1000)
    pages = [store.list_namespaces(limit=2, offset=offset) for offset in range(0, len(everything), 2)]
    assert [ns for page in pages for ns in page] == everything
    assert store.list_namespaces(limit=3, offset=len(everything) - 1) == everything[-1:]
    assert store.list_namespaces(prefix=("nope",)) == []


def test_list_namespaces_forgets_emptied_and_expired_namespaces(store: RedisStore) -> None:
    store.put(("keep",), "k", {"v": 1})
    store.put(("gone",), "k", {"v": 1})
    store.put(("short",), "k", {"v": 1}, ttl=0.5 / 60)  # half a second
    store.delete(("gone",), "k")
    assert store.list_namespaces() == [("keep",), ("short",)]
    time.sleep(0.7)
    assert store.list_namespaces() == [("keep",)]
    assert store.search(("short",)) == []
    assert store.client.zcard(store.layout.namespaces) == 1  # registry cleaned on the way


def test_clear_deletes_a_namespace_prefix_only(store: RedisStore) -> None:
    for i in range(30):
        store.put(("t1", "docs"), f"k{i}", {"i": i})
        store.put(("t1x",), f"k{i}", {"i": i})
    store.put(("t1",), "root", {"i": -1})
    assert store.clear(("t1",)) == 31
    assert store.list_namespaces() == [("t1x",)]
    assert len(store.keys(("t1x",))) == 30


# -- search ------------------------------------------------------------------------------------
def test_search_pagination_is_stable_and_ordered_by_namespace_then_key(store: RedisStore) -> None:
    expected = []
    for ns in [("p", "b"), ("p",), ("p", "a", "z")]:
        for key in ["k2", "k10", "k1"]:
            store.put(ns, key, {"ns": list(ns)})
            expected.append((ns, key))
    expected.sort()
    assert _keys(store.search(("p",), limit=100)) == expected
    pages = [store.search(("p",), limit=4, offset=offset) for offset in range(0, 12, 4)]
    assert [k for page in pages for k in _keys(page)] == expected
    assert store.search(("p",), limit=0) == []
    assert store.search(("p",), offset=100) == []
    assert all(item.score is None for item in store.search(("p",)))
    with pytest.raises(ConfigurationError):
        store.search(("p",), limit=-1)


def test_filters_equality_nested_and_operators_before_limit(store: RedisStore) -> None:
    docs = {
        "d1": {"color": "red", "score": 4.5, "tags": ["a", "b"], "meta": {"lang": "en", "v": 1}},
        "d2": {"color": "blue", "score": 3, "tags": ["a"], "meta": {"lang": "fr", "v": 2}},
        "d3": {"color": "red", "score": 9, "tags": ["b", "a"], "meta": {"lang": "en", "v": 3}},
        "d4": {"color": "green", "score": "high", "meta": {"lang": "en"}},
        "d5": {"color": "red"},
    }
    for key, value in docs.items():
        store.put(("docs",), key, value)

    def found(**kwargs):  # type: ignore[no-untyped-def]
        return [item.key for item in store.search(("docs",), **kwargs)]

    assert found(filter={"color": "red"}) == ["d1", "d3", "d5"]
    assert found(filter={"color": "Red"}) == []
    assert found(filter={"color": {"$eq": "red"}}) == ["d1", "d3", "d5"]
    assert found(filter={"color": {"$ne": "red"}}) == ["d2", "d4"]
    assert found(filter={"score": {"$gt": 4}}) == ["d1", "d3"]
    assert found(filter={"score": {"$gte": 3, "$lt": 9}}) == ["d1", "d2"]
    assert found(filter={"score": {"$lte": 3}}) == ["d2"]
    assert found(filter={"tags": ["a", "b"]}) == ["d1"]
    assert found(filter={"meta": {"lang": "en"}}) == ["d1", "d3", "d4"]
    assert found(filter={"meta": {"v": {"$gte": 2}}}) == ["d2", "d3"]
    assert found(filter={"color": "red", "meta": {"lang": "en"}}) == ["d1", "d3"]
    assert found(filter={"missing": None}) == ["d1", "d2", "d3", "d4", "d5"]
    # the filter applies before limit and offset
    assert found(filter={"color": "red"}, limit=1, offset=1) == ["d3"]
    assert found(filter={"color": "red"}, limit=2, offset=2) == ["d5"]
    with pytest.raises(ConfigurationError):
        found(filter={"score": {"$regex": "x"}})


def test_a_rare_filter_over_many_items_hands_over_to_the_item_index(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page script looks at SCAN_BUDGET members per call; past that, with the Search module,
    the item index supplies the rest of the answer (without it, the script goes on)."""
    from redis_ckpt.store import index as vector_index
    from redis_ckpt.store import reads

    store.batch([PutOp(("big", f"n{i // 100}"), f"k{i:04d}", {"rare": i % 97 == 0, "i": i}) for i in range(600)])
    monkeypatch.setattr(reads, "SCAN_BUDGET", 50)
    asked = []
    all_matching_items = vector_index.all_matching_items
    monkeypatch.setattr(vector_index, "all_matching_items", lambda *a: asked.append(a) or all_matching_items(*a))
    expected = [("big", f"n{i // 100}", f"k{i:04d}") for i in range(600) if i % 97 == 0]
    found = store.search(("big",), filter={"rare": True}, limit=100)
    assert [(*i.namespace, i.key) for i in found] == expected
    assert [i.key for i in store.search(("big",), filter={"rare": True}, limit=2, offset=3)] == ["k0291", "k0388"]
    assert [i.key for i in store.search(("big", "n3"), filter={"rare": True, "i": {"$gt": 300}})] == ["k0388"]
    assert bool(asked) == (store._item_state == "ready")


def test_filter_pushdown_never_hides_a_match(store: RedisStore) -> None:
    """Equality filters are narrowed server-side by tags; values Python calls equal still match."""
    from decimal import Decimal

    store.put(("p",), "int", {"x": 1})
    store.put(("p",), "float", {"x": 1.0})
    store.put(("p",), "bool", {"x": True})
    store.put(("p",), "decimal", {"x": Decimal(1)})
    store.put(("p",), "str", {"x": "1"})
    store.put(("p",), "list", {"x": [1]})
    assert sorted(i.key for i in store.search(("p",), filter={"x": 1})) == ["bool", "decimal", "float", "int"]
    assert sorted(i.key for i in store.search(("p",), filter={"x": {"$eq": True}})) == [
        "bool", "decimal", "float", "int"
    ]  # fmt: skip
    assert [i.key for i in store.search(("p",), filter={"x": "1"})] == ["str"]
    assert [i.key for i in store.search(("p",), filter={"x": [1]})] == ["list"]
    for i in range(40):
        store.put(("p", "many"), f"k{i:02d}", {"x": i % 7})
    hits = [i.key for i in store.search(("p", "many"), filter={"x": 3}, limit=3, offset=1)]
    assert hits == ["k10", "k17", "k24"]


# -- semantic search ---------------------------------------------------------------------------
def test_semantic_search_ranks_by_cosine_with_scores(vstore: RedisStore) -> None:
    vstore.put(("docs",), "fruit", {"text": "apple banana cherry"})
    vstore.put(("docs",), "code", {"text": "python redis lua"})
    vstore.put(("docs",), "mixed", {"text": "apple python"})
    vstore.put(("docs", "deep"), "fruit2", {"text": "apple apple"})
    vstore.put(("other",), "fruit3", {"text": "apple banana cherry"})
    results = vstore.search(("docs",), query="apple banana cherry", limit=3)
    assert results[0].key == "fruit"
    assert results[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(r.score is not None for r in results)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)  # type: ignore[type-var]
    assert {r.key for r in vstore.search(("docs",), query="python", limit=10)} == {"fruit", "code", "mixed", "fruit2"}
    assert vstore.search(("docs", "deep"), query="apple")[0].key == "fruit2"
    with_filter = vstore.search(("docs",), query="apple banana", filter={"text": "apple python"})
    assert [r.key for r in with_filter] == ["mixed"]


def test_semantic_search_pagination_and_unembedded_items(vstore: RedisStore) -> None:
    for i in range(25):
        vstore.put(("many",), f"k{i:02d}", {"text": " ".join(["word"] * (i + 1) + ["other"] * (25 - i))})
    vstore.put(("many",), "plain", {"text": "word"}, index=False)
    vstore.put(("many",), "notext", {"title": "no text field"})
    everything = vstore.search(("many",), query="word", limit=100)
    assert [r.key for r in everything][-2:] == ["notext", "plain"]  # unscored items come last
    assert everything[-1].score is None and everything[0].score is not None
    scored = [r.key for r in everything if r.score is not None]
    assert scored[0] == "k24" and len(scored) == 25
    pages = [vstore.search(("many",), query="word", limit=5, offset=o) for o in range(0, 25, 5)]
    assert [r.key for page in pages for r in page] == scored


def test_put_index_argument_overrides_fields_and_upsert_reembeds(vstore: RedisStore) -> None:
    vstore.put(("d",), "a", {"text": "cat", "title": "dog"}, index=["title"])
    vstore.put(("d",), "b", {"text": "dog", "title": "cat"})
    assert [r.key for r in vstore.search(("d",), query="dog", limit=1)] == ["a"] or vstore.search(
        ("d",), query="dog", limit=2
    )[0].score == pytest.approx(vstore.search(("d",), query="dog", limit=2)[1].score)
    vstore.put(("d",), "a", {"text": "bird", "title": "bird"}, index=["title"])
    top = vstore.search(("d",), query="bird", limit=1)
    assert top[0].key == "a" and top[0].score == pytest.approx(1.0, abs=1e-5)
    vstore.put(("d",), "a", {"text": "bird", "title": "bird"}, index=False)
    keyed = {r.key: r.score for r in vstore.search(("d",), query="bird", limit=10)}
    assert keyed["a"] is None  # its vectors went with the re-put


def test_array_paths_give_one_vector_per_element_and_an_item_scores_its_best(redis_url: str, prefix: str) -> None:
    config = index_config(fields=["chunks[*].text"])
    with fresh_store(RedisStore, redis_url, prefix, index=config) as s:
        s.put(("d",), "multi", {"chunks": [{"text": "alpha"}, {"text": "omega"}]})
        s.put(("d",), "single", {"chunks": [{"text": "alpha omega"}]})
        best = s.search(("d",), query="omega", limit=2)
        assert best[0].key == "multi" and best[0].score == pytest.approx(1.0, abs=1e-5)
        assert s.client.exists(s.layout.vector_base(("d",), "multi") + b"#1") == 1


def test_semantic_search_edge_case_queries(vstore: RedisStore) -> None:
    vstore.put(("test",), "doc1", {"text": "test document"})
    for query in ("", None, "test " * 100, "test!@#$%^&*()", "🧠 ünïcødé"):
        results = vstore.search(("test",), query=query)
        assert [r.key for r in results] == ["doc1"]
    assert vstore.search(("test",), query="")[0].score is None  # an empty query is no query


def test_score_is_the_cosine_of_the_indexed_field_and_missing_fields_are_skipped(vstore: RedisStore) -> None:
    from tests.store_helpers import bag_of_words

    vstore.put(("test",), "doc", {"key0": "aaa bbb"}, index=["key0", "key1"])
    results = vstore.search((), query="aaa ccc")
    query, stored = bag_of_words(["aaa ccc", "aaa bbb"])
    dot = sum(a * b for a, b in zip(query, stored))
    expected = dot / (sum(a * a for a in query) ** 0.5 * sum(b * b for b in stored) ** 0.5)
    assert len(results) == 1 and results[0].score == pytest.approx(expected, abs=1e-5)
    assert vstore.client.hget(vstore.layout.item(("test",), "doc"), "n") == b"1"


def test_query_without_index_config_is_a_plain_search(store: RedisStore) -> None:
    store.put(("d",), "a", {"text": "x"})
    results = store.search(("d",), query="anything")
    assert [(r.key, r.score) for r in results] == [("a", None)]


def test_search_uses_the_vector_index_when_the_module_is_there(
    vstore: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(40):
        vstore.put(("v", str(i % 4)), f"k{i}", {"text": f"token{i} shared"})
    from redis_ckpt.store import index as vector_index

    modules = {m[b"name"] for m in vstore.client.module_list()}
    for _ in range(100):  # a new index scans existing keys in the background: wait until it is done
        if b"search" not in modules or vector_index.state(vstore.client, vstore.layout.vector_index) == "ready":
            break
        time.sleep(0.05)
    asked: list[int] = []
    knn = vector_index.knn
    monkeypatch.setattr(vector_index, "knn", lambda *args: asked.append(args[-1]) or knn(*args))
    results = vstore.search(("v",), query="token7 shared", limit=3)
    exact = vstore._exact_search(
        SearchOp(("v",), None, 3, 0, "token7 shared"),
        vstore._embed_queries([SearchOp(("v",), query="token7 shared")])["token7 shared"],
    )
    assert [r.score for r in results] == pytest.approx([score for _, score in exact], abs=1e-5)
    assert results[0].score == pytest.approx(1.0, abs=1e-5)
    assert (vstore._vector_state == "ready") == (b"search" in modules)
    assert bool(asked) == (b"search" in modules)  # the index answered, or was never asked
    under = vstore.search(("v", "1"), query="token5 shared", limit=2)
    assert under[0].key == "k5" and all(r.namespace == ("v", "1") for r in under)


def test_a_wrong_embedding_size_is_a_typed_error_and_writes_nothing(redis_url: str, prefix: str) -> None:
    config = {"dims": 3, "embed": lambda texts: [[1.0, 2.0] for _ in texts]}
    with fresh_store(RedisStore, redis_url, prefix, index=config) as s:
        with pytest.raises(ConfigurationError):
            s.put(("d",), "a", {"text": "x"})
        assert s.get(("d",), "a") is None


# -- TTL ---------------------------------------------------------------------------------------
def test_ttl_expires_items_and_reads_refresh_it(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    ttl = {"default_ttl": 1.0, "refresh_on_read": True}
    with fresh_store(RedisStore, redis_url, prefix, ttl=ttl, index=index_config(fields=["text"])) as s:
        s.put(("t",), "a", {"text": "hello"})
        s.put(("t",), "b", {"text": "hello"}, ttl=None)
        name = s.layout.item(("t",), "a")
        vector = s.layout.vector_base(("t",), "a") + b"#0"
        assert 55_000 < raw.pttl(name) <= 60_000 and 55_000 < raw.pttl(vector) <= 60_000
        assert raw.pttl(s.layout.item(("t",), "b")) == -1
        raw.pexpire(name, 5_000)
        raw.pexpire(vector, 5_000)
        s.get(("t",), "a", refresh_ttl=False)
        assert raw.pttl(name) <= 5_000
        s.get(("t",), "a")  # refresh_on_read
        assert raw.pttl(name) > 55_000 and raw.pttl(vector) > 55_000
        raw.pexpire(name, 5_000)
        s.search(("t",), refresh_ttl=False)
        assert raw.pttl(name) <= 5_000
        s.search(("t",), query="hello")
        assert raw.pttl(name) > 55_000
        raw.pexpire(name, 5_000)
        s.list_namespaces()  # listing is not a read of items: no refresh
        assert raw.pttl(name) <= 5_000


def test_expired_items_are_omitted_everywhere(redis_url: str, prefix: str) -> None:
    with fresh_store(RedisStore, redis_url, prefix, ttl={"default_ttl": 0.4 / 60, "refresh_on_read": False}) as s:
        s.put(("t",), "short", {"v": 1})
        s.put(("t",), "long", {"v": 2}, ttl=None)
        s.put(("t2",), "short", {"v": 3})
        assert len(s.search(("t",))) == 2
        time.sleep(0.6)
        assert s.get(("t",), "short") is None
        assert [i.key for i in s.search(("t",))] == ["long"]
        assert s.list_namespaces() == [("t",)]
        assert s.keys(("t",)) == ["long"]
        s.sweep()
        assert s.client.zcard(s.layout.items) == 1


def test_expired_items_never_take_a_place_in_a_page(redis_url: str, prefix: str) -> None:
    with fresh_store(RedisStore, redis_url, prefix, ttl={"omit_expired": True}) as s:
        for key in ("a", "b", "c"):
            s.put(("page",), key, {"k": key}, ttl=1.0)
        s.put(("page",), "aa", {"k": "x"}, ttl=0.3 / 60)  # between a and b in (namespace, key) order
        time.sleep(0.5)
        assert [i.key for i in s.search(("page",), limit=2)] == ["a", "b"]
        assert [i.key for i in s.search(("page",), limit=2, offset=2)] == ["c"]
        assert [i.key for i in s.search(("page",), filter={"k": {"$ne": "zz"}}, limit=2)] == ["a", "b"]


def test_the_ttl_sweeper_reclaims_index_entries_of_expired_items(redis_url: str, prefix: str) -> None:
    ttl = {"default_ttl": 0.3 / 60, "sweep_interval_minutes": 0.2 / 60}
    with fresh_store(RedisStore, redis_url, prefix, ttl=ttl) as s:
        s.put(("gone",), "k", {"v": 1})
        s.put(("kept",), "k", {"v": 2}, ttl=None)
        s.start_ttl_sweeper()
        s.start_ttl_sweeper()  # a second start does not start a second thread
        deadline = time.monotonic() + 10
        # The sweeper drops the item's index entry, then its namespace's: wait for both (a slow
        # machine can see the first without the second).
        while (
            s.client.zcard(s.layout.items) > 1 or s.client.zcard(s.layout.namespaces) > 1
        ) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert s.client.zrange(s.layout.items, 0, -1) == [b"kept\0\0k"]
        assert s.client.zrange(s.layout.namespaces, 0, -1) == [b"kept\0"]
        assert s.stop_ttl_sweeper(timeout=5)
        assert s.sweep_ttl() == 0


def test_refresh_on_read_false_by_config(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    with fresh_store(RedisStore, redis_url, prefix, ttl={"default_ttl": 1.0, "refresh_on_read": False}) as s:
        s.put(("t",), "a", {"v": 1})
        name = s.layout.item(("t",), "a")
        raw.pexpire(name, 5_000)
        s.get(("t",), "a")
        assert raw.pttl(name) <= 5_000
        s.get(("t",), "a", refresh_ttl=True)
        assert raw.pttl(name) > 55_000


def test_ttl_needs_a_store_that_supports_it(store: RedisStore) -> None:
    assert store.supports_ttl
    store.put(("t",), "a", {"v": 1}, ttl=1.0)
    assert 55_000 < store.client.pttl(store.layout.item(("t",), "a")) <= 60_000


# -- async facade ------------------------------------------------------------------------------
def test_async_store_across_event_loops(redis_url: str, prefix: str) -> None:
    import asyncio

    from redis_ckpt import AsyncRedisStore

    with fresh_store(AsyncRedisStore, redis_url, prefix, index=index_config(fields=["text"])) as s:

        async def write() -> None:
            await s.aput(("a", "b"), "k", {"text": "hello world"})
            await s.aput(("a",), "j", {"text": "bye"})

        async def read() -> tuple[object, ...]:
            return (
                await s.aget(("a", "b"), "k"),
                await s.asearch(("a",), query="hello"),
                await s.alist_namespaces(prefix=("a",)),
                await s.akeys(("a",)),
            )

        asyncio.run(write())
        item, found, namespaces, keys = asyncio.run(read())  # a second, different event loop
        assert isinstance(item, Item) and item.value == {"text": "hello world"}
        assert [r.key for r in found] == ["k", "j"]  # type: ignore[attr-defined]
        assert namespaces == [("a",), ("a", "b")]
        assert keys == ["j"]
        asyncio.run(s.adelete(("a", "b"), "k"))
        assert s.get(("a", "b"), "k") is None
        assert asyncio.run(s.aclear(("a",))) == 1


def test_an_async_only_embedding_function_works_in_both_faces(redis_url: str, prefix: str) -> None:
    import asyncio

    from redis_ckpt import AsyncRedisStore
    from tests.store_helpers import DIMS, bag_of_words

    async def embed(texts: list[str]) -> list[list[float]]:
        await asyncio.sleep(0)
        return bag_of_words(texts)

    with fresh_store(AsyncRedisStore, redis_url, prefix, index={"dims": DIMS, "embed": embed}) as s:
        asyncio.run(s.aput(("d",), "a", {"text": "green tea"}))
        s.put(("d",), "b", {"text": "black coffee"})
        assert asyncio.run(s.asearch(("d",), query="coffee"))[0].key == "b"
        assert s.search(("d",), query="tea")[0].key == "a"


def test_match_condition_ops_passed_to_batch_directly(store: RedisStore) -> None:
    store.put(("x", "y"), "k", {"v": 1})
    op = ListNamespacesOp(match_conditions=(MatchCondition("suffix", ("y",)),), max_depth=None, limit=10)
    assert store.batch([op]) == [[("x", "y")]]


def test_an_unreachable_server_is_a_typed_error_after_the_retry_budget() -> None:
    from redis_ckpt import RetryConfig, StoreUnavailableError
    from redis_ckpt.integrations.embedded_redis import free_port

    store = RedisStore(
        f"redis://127.0.0.1:{free_port()}", retry=RetryConfig(attempts=2, initial_wait=0.01, max_wait=0.02)
    )
    try:
        with pytest.raises(StoreUnavailableError, match="after 2 attempt"):
            store.get(("a",), "k")
    finally:
        store.close()


def test_concurrent_puts_of_one_key_leave_one_item(store: RedisStore) -> None:
    import threading

    threads = [threading.Thread(target=store.put, args=(("c",), "same", {"i": i})) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = store.search(("c",), limit=100)
    assert len(found) == 1 and found[0].value["i"] in range(16)
    assert store.client.zcard(store.layout.items) == 1


def test_a_lost_script_cache_is_reloaded(store: RedisStore) -> None:
    store.put(("s",), "k", {"v": 1})
    store.client.script_flush()
    assert store.get(("s",), "k") is not None
    store.client.script_flush()
    store.put(("s",), "k", {"v": 2})
    store.client.script_flush()
    assert [i.value for i in store.search(("s",))] == [{"v": 2}]
    store.client.script_flush()
    assert store.list_namespaces() == [("s",)]


def test_hnsw_index_answers_semantic_search(redis_url: str, prefix: str) -> None:
    with fresh_store(RedisStore, redis_url, prefix, index=index_config(fields=["text"]), vector_algorithm="hnsw") as s:
        for i in range(30):
            s.put(("h",), f"k{i}", {"text": f"word{i} common"})
        top = s.search(("h",), query="word3 common", limit=2)
        assert top[0].score == pytest.approx(1.0, abs=1e-5)
        assert top[0].value["text"] in {f"word{i} common" for i in range(30)}
    with pytest.raises(ConfigurationError):
        RedisStore(redis_url, vector_algorithm="ivf")


def test_a_user_limited_to_the_prefix_and_listed_commands_can_use_the_store(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    from redis_ckpt.store.store_acl import acl_rules

    user = f"store-{prefix}"
    has_search = b"search" in {m[b"name"] for m in raw.module_list()}
    version = tuple(int(p) for p in str(raw.info("server")["redis_version"]).split(".")[:2])
    rules = acl_rules(prefix, search=has_search, setinfo=version >= (7, 2))
    raw.execute_command("ACL", "SETUSER", user, "reset", "on", ">s3cret", *rules)
    url = redis_url.replace("redis://", f"redis://{user}:s3cret@")
    try:
        limited = redis.Redis.from_url(url)
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.hset("elsewhere", "f", 1)  # outside the prefix
        limited.close()
        s = RedisStore(url, prefix=prefix, index=index_config(fields=["text"]), ttl={"default_ttl": 5})
        try:
            s.setup()
            s.put(("a", "b"), "k", {"text": "green tea", "color": "red"})
            s.put(("a",), "j", {"text": "coffee", "color": "blue"})
            assert s.get(("a", "b"), "k") is not None
            assert [i.key for i in s.search(("a",), filter={"color": "red"})] == ["k"]
            assert s.search(("a",), query="tea", limit=1)[0].key == "k"
            assert s.list_namespaces() == [("a",), ("a", "b")]
            assert s.clear(("a",)) == 2
        finally:
            s.close()
    finally:
        raw.execute_command("ACL", "DELUSER", user)
        purge_store(redis_url, prefix)


def test_resp3_connections_give_the_same_answers(redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from redis_ckpt.store import reads

    monkeypatch.setattr(reads, "SCAN_BUDGET", 2)  # filtered searches hand over to the item index
    resp3 = redis_url + ("&" if "?" in redis_url else "?") + "protocol=3"
    with fresh_store(RedisStore, resp3, prefix, index=index_config(fields=["text"])) as s:
        assert s.client.connection_pool.connection_kwargs["protocol"] == 3
        for i in range(12):
            s.put(("r", str(i % 3)), f"k{i:02d}", {"text": f"tea {i}", "even": i % 2 == 0})
        evens = sorted((("r", str(i % 3)), f"k{i:02d}") for i in range(0, 12, 2))
        found = s.search(("r",), filter={"even": True}, limit=3, offset=1)
        assert [(i.namespace, i.key) for i in found] == evens[1:4]
        s.batch([PutOp(("v",), f"w{i}", {"text": f"word{i} tea"}) for i in range(40)])
        from redis_ckpt.store import index as vector_index

        if s._vector_state == "ready":  # the KNN reply parses over RESP3 too
            hits = vector_index.knn(s.client, s.layout, ("v",), [], codec_vector(s, "word7 tea"), 5)
            assert len(hits) == 5 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
        top = s.search(("v",), query="word7 tea", limit=1)
        assert top[0].score == pytest.approx(1.0, abs=1e-5)
        assert s.get(("r", "0"), "k00") is not None
        assert s.list_namespaces() == [("r", "0"), ("r", "1"), ("r", "2"), ("v",)]


def codec_vector(store: RedisStore, text: str) -> bytes:
    from redis_ckpt.store import codec

    return codec.pack_vector(store._embed_queries([SearchOp((), query=text)])[text])


def test_many_concurrent_async_operations(redis_url: str, prefix: str) -> None:
    import asyncio

    from redis_ckpt import AsyncRedisStore

    with fresh_store(AsyncRedisStore, redis_url, prefix, index=index_config(fields=["text"])) as s:

        async def run() -> list[Any]:
            await asyncio.gather(*(s.aput(("c", str(i % 5)), f"k{i}", {"text": f"doc {i}", "i": i}) for i in range(50)))
            return await asyncio.gather(
                *(s.asearch(("c", str(i % 5)), query=f"doc {i}", limit=1) for i in range(50)),
                *(s.aget(("c", str(i % 5)), f"k{i}") for i in range(50)),
            )

        results = asyncio.run(run())
        assert all(len(r) == 1 and r[0].score == pytest.approx(1.0, abs=1e-5) for r in results[:50])
        assert [r.value["i"] for r in results[50:]] == list(range(50))
        assert len(s.search(("c",), limit=100)) == 50
