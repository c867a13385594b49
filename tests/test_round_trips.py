"""Round trips per operation (issue: performance targets). Deterministic, so they are tests;
a change that adds a round trip fails here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from redis_ckpt import RedisSaver
from tests.conftest import purge_prefix, saver_kwargs
from tests.graphs import counter_graph, delta_graph
from tests.helpers import checkpoint, config, put_chain
from tests.roundtrips import counting


@pytest.fixture(params=["no-ttl", "ttl-refresh"])
def tuned_saver(request: pytest.FixtureRequest, redis_url: str, prefix: str) -> Iterator[RedisSaver]:
    ttl = {"default_ttl": 60, "refresh_on_read": True} if request.param == "ttl-refresh" else None
    saver = RedisSaver(redis_url, ttl=ttl, **saver_kwargs(prefix))
    saver.setup()
    saver.client.ping()  # open a pooled connection so no test counts the connection handshake
    yield saver
    saver.close()
    purge_prefix(redis_url, prefix)


def trips(fn: Any, *args: Any, **kwargs: Any) -> int:
    with counting() as counted:
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return counted.count


def test_put_is_one_round_trip_with_ttl_included(tuned_saver: RedisSaver) -> None:
    ids = put_chain(tuned_saver, "t", 3)
    cp = checkpoint({"a": "x" * 1000, "b": [1, 2]}, {"a": 5, "b": 5}, step=5)
    assert trips(tuned_saver.put, config("t", "", ids[-1]), cp, {"source": "loop", "step": 5}, {"a": 5, "b": 5}) == 1


def test_put_writes_is_one_round_trip(tuned_saver: RedisSaver) -> None:
    ids = put_chain(tuned_saver, "t", 1)
    writes = [("a", 1), ("b", 2), ("__interrupt__", "stop")]
    assert trips(tuned_saver.put_writes, config("t", "", ids[0]), writes, "task", "path") == 1


def test_get_tuple_is_one_round_trip_latest_and_by_id(tuned_saver: RedisSaver) -> None:
    ids = put_chain(tuned_saver, "t", 20)
    tuned_saver.put_writes(config("t", "", ids[-1]), [("a", 1), ("b", 2)], "task")
    assert trips(tuned_saver.get_tuple, config("t")) == 1
    assert trips(tuned_saver.get_tuple, config("t", "", ids[3])) == 1
    assert trips(tuned_saver.get_tuple, config("missing")) == 1


def test_list_with_limit_10_takes_at_most_two_round_trips(tuned_saver: RedisSaver) -> None:
    put_chain(tuned_saver, "t", 30)
    assert trips(tuned_saver.list, config("t"), limit=10) == 1  # one namespace given
    assert trips(tuned_saver.list, {"configurable": {"thread_id": "t"}}, limit=10) == 2  # + namespaces


def test_a_scalar_metadata_filter_is_pushed_into_the_read_script(tuned_saver: RedisSaver) -> None:
    put_chain(tuned_saver, "t", 300, metadata=lambda s: {"source": "loop", "step": s, "tag": s % 100})
    assert trips(tuned_saver.list, config("t"), filter={"tag": 7}, limit=10) == 1
    assert [t.metadata["step"] for t in tuned_saver.list(config("t"), filter={"tag": 7, "source": "loop"})] == [
        207,
        107,
        7,
    ]


def test_delta_history_is_one_round_trip_whatever_its_depth(tuned_saver: RedisSaver) -> None:
    graph = delta_graph(tuned_saver)
    for _ in range(10):
        graph.invoke({"items": []}, {"configurable": {"thread_id": "t"}})
    assert trips(tuned_saver.get_delta_channel_history, config=config("t"), channels=["items"]) == 1


def _maintenance_trips(saver: RedisSaver, n: int) -> dict[str, int]:
    ids = put_chain(saver, f"m{n}", n)
    for cid in ids:
        saver.put_writes(config(f"m{n}", "", cid), [("c", 1)], "task")
    return {
        "copy_thread": trips(saver.copy_thread, f"m{n}", f"c{n}"),
        "prune": trips(saver.prune, [f"m{n}"], keep_last=1),
        "delete_thread": trips(saver.delete_thread, f"c{n}"),
    }


def test_maintenance_round_trips_do_not_grow_per_checkpoint(tuned_saver: RedisSaver) -> None:
    from redis_ckpt.sync import saver_maintenance

    # 20 and 300: both past the body dictionary's making (compression.DICTIONARY_AFTER)
    small, large = _maintenance_trips(tuned_saver, 20), _maintenance_trips(tuned_saver, 300)
    # Pages: copy_thread copies 500 per round trip; delete_thread and prune delete 100 per call
    # (each server call stays within a few ms), so 300 checkpoints cost at most 3 calls more.
    extra_pages = 300 // saver_maintenance.BATCH
    assert large["copy_thread"] == small["copy_thread"]
    for operation in ("prune", "delete_thread"):
        assert small[operation] <= large[operation] <= small[operation] + extra_pages, (small, large)
    # copy_thread also takes and gives back the target namespace's collection marks (2 more) and
    # copies the chunk hash, which holds the namespace's dictionary even without chunks (1 more)
    assert all(v <= (11 if operation == "copy_thread" else 8) for operation, v in small.items()), small


def test_a_graph_run_costs_one_round_trip_per_saver_call(tuned_saver: RedisSaver) -> None:
    calls: list[str] = []

    for name in ("get_tuple", "put", "put_writes"):
        original = getattr(tuned_saver, name)

        def wrapper(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        setattr(tuned_saver, name, wrapper)
    graph = counter_graph(tuned_saver)
    graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": "warm"}})
    calls.clear()
    with counting() as counted:
        graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": "g"}})
    assert counted.count == len(calls), (counted.count, calls, counted.commands)
    assert calls.count("put") == 5
