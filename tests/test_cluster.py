"""Redis Cluster specifics: recognising a cluster, routing per slot, scripts per node, fan-out.

The contract itself runs on the cluster through conftest's `cluster` server kinds; this file covers
what only a cluster has."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from redis_ckpt import AsyncRedisSaver, RedisSaver
from redis_ckpt.errors import ConfigurationError, IncompatibleClientError
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.redis_io import scripts
from redis_ckpt.redis_io.topology import wants_cluster
from tests.conftest import CLUSTER_KINDS, _Servers, fresh_saver, purge_prefix, saver_kwargs
from tests.helpers import checkpoint, config, put_chain


@pytest.fixture(scope="module", params=CLUSTER_KINDS)
def cluster_url(request: pytest.FixtureRequest, servers: _Servers) -> str:
    return str(servers.url(request.param))


@pytest.fixture
def cluster(cluster_url: str) -> Iterator[RedisCluster]:
    client = RedisCluster.from_url(wants_cluster(cluster_url)[1])
    yield client
    client.close()


def threads_on_every_primary(cluster: RedisCluster, prefix: str, per_node: int = 2) -> list[str]:
    """Thread ids whose slots are owned by each of the primaries, `per_node` each."""
    layout = KeyLayout(prefix, f"{prefix}_write")
    by_node: dict[str, list[str]] = {}
    i = 0
    while len(by_node) < 3 or any(len(v) < per_node for v in by_node.values()):
        thread = f"thread-{i}"
        node = cluster.get_node_from_key(layout.namespaces(thread)).name
        if len(by_node.setdefault(node, [])) < per_node:
            by_node[node].append(thread)
        i += 1
    return sorted(t for threads in by_node.values() for t in threads)


def node_url(cluster_url: str) -> str:
    return wants_cluster(cluster_url)[1]


def test_cluster_urls_are_recognised_with_or_without_the_option() -> None:
    assert wants_cluster("redis://h:1?cluster=true") == (True, "redis://h:1")
    assert wants_cluster("rediss://u:p@h:1/0?cluster=1&ssl_cert_reqs=none") == (
        True,
        "rediss://u:p@h:1/0?ssl_cert_reqs=none",
    )
    assert wants_cluster("redis://h:1?cluster=false") == (False, "redis://h:1")
    assert wants_cluster("redis://h:1") == (False, "redis://h:1")


@pytest.mark.parametrize("face", [RedisSaver, AsyncRedisSaver])
def test_a_plain_url_of_one_node_is_detected_and_serves_threads_of_every_node(
    cluster_url: str, cluster: RedisCluster, prefix: str, face: type[RedisSaver]
) -> None:
    threads = threads_on_every_primary(cluster, prefix)
    with fresh_saver(face, node_url(cluster_url), prefix) as saver:
        assert isinstance(saver.client, RedisCluster) and saver.is_cluster
        for thread in threads:
            put_chain(saver, thread, 2)
        for thread in threads:
            assert saver.get_tuple(config(thread)).metadata["step"] == 1  # type: ignore[union-attr]
        listed = [t.config["configurable"]["thread_id"] for t in saver.list(None)]
        assert listed == [t for t in threads for _ in range(2)]  # threads in order, across all nodes


def test_a_cluster_client_is_accepted_and_decoding_clients_refused(
    cluster_url: str, cluster: RedisCluster, prefix: str
) -> None:
    saver = RedisSaver(redis_client=cluster, **saver_kwargs(prefix))
    try:
        saver.setup()
        thread = threads_on_every_primary(cluster, prefix, 1)[-1]
        put_chain(saver, thread, 3)
        assert [t.metadata["step"] for t in saver.list(config(thread))] == [2, 1, 0]
    finally:
        saver.close()
        purge_prefix(cluster_url, prefix)
    decoding = RedisCluster.from_url(node_url(cluster_url), decode_responses=True)
    with pytest.raises(IncompatibleClientError, match="decode_responses"):
        RedisSaver(redis_client=decoding)
    decoding.close()


def test_a_standalone_client_of_a_cluster_node_is_a_typed_error_never_half_working(
    cluster_url: str, cluster: RedisCluster, prefix: str
) -> None:
    standalone = redis.Redis.from_url(node_url(cluster_url))
    saver = RedisSaver(redis_client=standalone, **saver_kwargs(prefix))
    try:
        threads = threads_on_every_primary(cluster, prefix, 1)
        port = standalone.connection_pool.connection_kwargs["port"]
        elsewhere = [t for t in threads if cluster.get_node_from_key(saver.layout.namespaces(t)).port != port]
        assert len(elsewhere) == 2
        # A per-thread call to a slot of another node says what to do instead of MovedError.
        with pytest.raises(IncompatibleClientError, match="Redis Cluster node"):
            for thread in elsewhere:
                put_chain(saver, thread, 1)
        with pytest.raises(IncompatibleClientError, match="RedisCluster"):
            list(saver.list(None))
        with pytest.raises(IncompatibleClientError):
            saver.setup()
    finally:
        saver.close()
        standalone.close()
        purge_prefix(cluster_url, prefix)


def test_each_primary_reloads_its_own_lost_script_cache(cluster_url: str, cluster: RedisCluster, prefix: str) -> None:
    threads = threads_on_every_primary(cluster, prefix, 1)
    with fresh_saver(RedisSaver, cluster_url, prefix) as saver:
        for thread in threads:
            put_chain(saver, thread, 2)
        for node in cluster.get_primaries():
            cluster.execute_command("SCRIPT", "FLUSH", target_nodes=node)
        for thread in threads:
            assert saver.get_tuple(config(thread)).metadata["step"] == 1  # type: ignore[union-attr]
        for node in cluster.get_primaries():  # each was reloaded where it was lost
            assert cluster.execute_command("SCRIPT", "EXISTS", scripts.SHAS["load"], target_nodes=node) == [1]


def test_cross_thread_operations_fan_out_to_every_primary(cluster_url: str, cluster: RedisCluster, prefix: str) -> None:
    threads = threads_on_every_primary(cluster, prefix)
    with fresh_saver(RedisSaver, cluster_url, prefix) as saver:
        for n, thread in enumerate(threads):
            put_chain(saver, thread, 2, metadata=lambda s, n=n: {"step": s, "run_id": f"run-{n % 2}"})
        assert sorted(saver.threads()) == sorted(threads)  # every primary scanned
        with pytest.raises(ConfigurationError, match="on a cluster use threads"):
            saver.thread_page()
        matched = [t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"run_id": "run-1"})]
        assert matched == [t for i, t in enumerate(threads) for _ in range(2) if i % 2 == 1]
        assert (
            list(saver.list(None, filter={"run_id": "run-1"}, limit=3))
            == list(saver.list(None, filter={"run_id": "run-1"}))[:3]
        )
        saver.delete_for_runs(["run-1"])
        left = sorted({t.config["configurable"]["thread_id"] for t in saver.list(None)})
        assert left == [t for i, t in enumerate(threads) if i % 2 == 0]
        deleted = {t for i, t in enumerate(threads) if i % 2 == 1}
        layout = saver.layout
        deleted_nodes = {cluster.get_node_from_key(layout.namespaces(t)).name for t in deleted}
        left_keys = [k.decode() for k in cluster.scan_iter(match=f"{prefix}*", count=1000)]
        assert not [k for k in left_keys if any("{" + t + "}" in k for t in deleted)]
        assert len(deleted_nodes) >= 2  # the deletions reached several primaries


def test_copy_thread_across_nodes_and_delete_thread(cluster_url: str, cluster: RedisCluster, prefix: str) -> None:
    source, *others = threads_on_every_primary(cluster, prefix, 1)
    layout = KeyLayout(prefix, f"{prefix}_write")
    target = next(
        t for t in others if cluster.keyslot(layout.namespaces(t)) != cluster.keyslot(layout.namespaces(source))
    )
    with fresh_saver(RedisSaver, cluster_url, prefix) as saver:
        ids = put_chain(saver, source, 5, ns="")
        saver.put_writes(config(source, "", ids[-1]), [("w", 1)], "task")
        saver.put(config(source, "child"), checkpoint({"y": 1}), {"step": 0}, {"y": 1})
        saver.copy_thread(source, target)
        assert [t.checkpoint["id"] for t in saver.list(config(target, ""))] == ids[::-1]
        assert saver.get_tuple(config(target)).pending_writes == [("task", "w", 1)]  # type: ignore[union-attr]
        assert saver.get_tuple(config(target, "child")).checkpoint["channel_values"] == {"y": 1}  # type: ignore[union-attr]
        saver.delete_thread(source)
        assert saver.get_tuple(config(source)) is None
        assert not [k for k in cluster.scan_iter(match=f"{prefix}*", count=1000) if b"{" + source.encode() in k]


def _trips_per_operation(url: str, prefix: str) -> dict[str, int]:
    """Round trips of each operation on a fresh saver (pooled connections opened beforehand)."""
    from tests.graphs import delta_graph
    from tests.roundtrips import counting

    def trips(fn: Any, *args: Any, **kwargs: Any) -> int:
        """Round trips, SCAN pages apart (x 1000): their number depends on the keys per server; and
        without the FT.INFO a standalone server is asked whether its index is ready (a cluster never
        uses one)."""
        with counting() as counted:
            result = fn(*args, **kwargs)
            if hasattr(result, "__next__"):
                list(result)
        scans = sum(1 for c in counted.commands if b"\r\nSCAN\r\n" in c)
        probes = sum(1 for c in counted.commands if b"\r\nFT.INFO\r\n" in c)
        return counted.count - scans - probes + 1000 * min(scans, 1)

    with fresh_saver(RedisSaver, url, prefix, ttl={"default_ttl": 60, "refresh_on_read": True}) as saver:
        for thread in ("a", "b", "c"):
            put_chain(saver, thread, 3, metadata=lambda s: {"step": s, "run_id": f"run-{s}"})
        ids = put_chain(saver, "t", 12)
        graph = delta_graph(saver)
        for _ in range(3):
            graph.invoke({"items": []}, {"configurable": {"thread_id": "d"}})
        saver.get_tuple(config("t"))  # warm: every node's pool has a connection
        cp = checkpoint({"x": 99}, {"x": 99}, step=99)
        return {
            "put": trips(saver.put, config("t", "", ids[-1]), cp, {"step": 99}, {"x": 99}),
            "put_writes": trips(saver.put_writes, config("t", "", ids[-1]), [("a", 1), ("b", 2)], "task"),
            "get_tuple latest": trips(saver.get_tuple, config("t")),
            "get_tuple by id": trips(saver.get_tuple, config("t", "", ids[3])),
            "list limit 10": trips(saver.list, config("t"), limit=10),
            "list all namespaces": trips(saver.list, {"configurable": {"thread_id": "t"}}),
            "delta history": trips(saver.get_delta_channel_history, config=config("d"), channels=["items"]),
            "copy_thread": trips(saver.copy_thread, "t", "t2"),
            "prune": trips(saver.prune, ["t2"], keep_last=1),
            "delete_thread": trips(saver.delete_thread, "t2"),
            "list(None, filter)": trips(saver.list, None, filter={"run_id": "run-1"}),
            "delete_for_runs": trips(saver.delete_for_runs, ["run-2"]),
        }


def test_every_operation_takes_the_same_round_trips_as_on_a_standalone_server(servers: _Servers, prefix: str) -> None:
    """Standalone without modules (cross-thread queries scan there too) against the plain cluster:
    equal, apart from the number of SCAN pages (one at least per primary on the cluster)."""
    standalone = _trips_per_operation(servers.url("plain"), prefix)
    on_cluster = _trips_per_operation(servers.url("cluster"), prefix + "c")
    assert on_cluster == standalone
    assert standalone["put"] == standalone["get_tuple latest"] == standalone["delta history"] == 1


def test_wait_replicas_confirms_writes_in_the_same_round_trip_or_says_it_could_not(
    servers: _Servers, prefix: str
) -> None:
    from redis_ckpt import ConfigurationError, NotReplicatedError, StoreUnavailableError
    from tests.roundtrips import counting

    with fresh_saver(RedisSaver, servers.url("cluster"), prefix, wait_replicas=1) as saver:
        with counting() as counted:
            put_chain(saver, "t", 1)
        assert counted.count == 1  # MULTI ... EXEC WAIT in one write
        assert saver.get_tuple(config("t")) is not None
    # A standalone server without replicas can never confirm: a typed error, the write applied.
    with fresh_saver(RedisSaver, servers.url("plain"), prefix, wait_replicas=1, wait_timeout_ms=20, retry=None) as lone:
        with pytest.raises(StoreUnavailableError) as caught:
            put_chain(lone, "t", 1)
        assert isinstance(caught.value.__cause__, NotReplicatedError)
        assert lone.get_tuple(config("t")) is not None
    for bad in ({"wait_replicas": -1}, {"wait_replicas": True}, {"wait_replicas": 1, "wait_timeout_ms": 0}):
        with pytest.raises(ConfigurationError):
            RedisSaver(servers.url("plain"), **bad)  # type: ignore[arg-type]


def test_wait_replicas_also_confirms_fenced_writes(servers: _Servers, prefix: str) -> None:
    from redis_ckpt import NotReplicatedError, StoreUnavailableError
    from tests.roundtrips import counting

    with fresh_saver(RedisSaver, servers.url("cluster"), prefix, wait_replicas=1) as saver:
        with saver.own("t") as owned:
            with counting() as counted:
                saver.put(owned.config, checkpoint({"x": 1}), {}, {"x": 1})
            assert counted.count == 1  # WATCH, fence, MULTI ... EXEC, WAIT in one write
        assert saver.get_tuple(config("t")) is not None
    with fresh_saver(RedisSaver, servers.url("plain"), prefix, wait_replicas=1, wait_timeout_ms=20, retry=None) as lone:
        with lone.own("t") as owned, pytest.raises(StoreUnavailableError) as caught:
            lone.put(owned.config, checkpoint({"x": 1}), {}, {"x": 1})
        assert isinstance(caught.value.__cause__, NotReplicatedError)
        assert lone.get_tuple(config("t")) is not None  # applied, not confirmed


def test_with_the_search_module_each_primary_answers_from_its_own_index(servers: _Servers, prefix: str) -> None:
    from tests.roundtrips import counting

    url = servers.url("cluster-search")
    with fresh_saver(RedisSaver, url, prefix) as saver:
        cluster = saver.client
        assert isinstance(cluster, RedisCluster)
        for node in cluster.get_primaries():  # setup made one index per primary, named into its slots
            names = [n.decode() for n in cluster.get_redis_connection(node).execute_command("FT._LIST")]
            mine = [n for n in names if n.startswith(f"{prefix}:index:")]
            assert len(mine) == 1 and cluster.get_node_from_key(mine[0]).name == node.name
        threads = threads_on_every_primary(cluster, prefix)
        for n, thread in enumerate(threads):
            put_chain(saver, thread, 2, metadata=lambda s, n=n: {"step": s, "run_id": f"run-{n % 3}"})
        expected = [t for i, t in enumerate(threads) for _ in range(2) if i % 3 == 1]
        with counting() as counted:
            found = [t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"run_id": "run-1"})]
        assert found == expected
        sent = b"".join(counted.commands)
        assert sent.count(b"FT.SEARCH") == 3 and b"SCAN" not in sent  # one query per primary, no scan
        # An index lost on one primary (a node replaced without the module's data): scan, then heal.
        node = cluster.get_primaries()[1]
        node_client = cluster.get_redis_connection(node)
        name = next(n for n in node_client.execute_command("FT._LIST") if n.decode().startswith(f"{prefix}:index:"))
        node_client.execute_command("FT.DROPINDEX", name)
        with counting() as counted:
            found = [t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"run_id": "run-1"})]
        assert found == expected
        assert b"SCAN" in b"".join(counted.commands)  # that query fell back to scanning
        assert [t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"run_id": "run-1"})] == expected
        assert name in node_client.execute_command("FT._LIST")  # re-created on that primary
        saver.delete_for_runs(["run-1"])
        left = sorted({t.config["configurable"]["thread_id"] for t in saver.list(None)})
        assert left == [t for i, t in enumerate(threads) if i % 3 != 1]


def test_a_node_unreachable_at_construction_is_recognised_at_setup(
    cluster_url: str, cluster: RedisCluster, prefix: str
) -> None:
    from tests.proxy import FaultProxy

    proxy = FaultProxy(int(node_url(cluster_url).rsplit(":", 1)[1]))
    proxy.refuse = True  # the node cannot be asked when the saver is built
    saver = RedisSaver(proxy.url, **saver_kwargs(prefix))
    try:
        assert not saver.is_cluster
        proxy.refuse = False
        saver.setup()  # asks again, and switches to a cluster client (it built the client itself)
        assert saver.is_cluster
        threads = threads_on_every_primary(cluster, prefix, 1)
        for thread in threads:
            put_chain(saver, thread, 1)
        assert sorted({t.config["configurable"]["thread_id"] for t in saver.list(None)}) == threads
    finally:
        saver.close()
        proxy.close()
        purge_prefix(cluster_url, prefix)
