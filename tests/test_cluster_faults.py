"""Faults of a Redis Cluster under a writing saver: a planned failover, a primary killed with
SIGKILL, and the migration of the thread's slot to another primary. Each test has its own
cluster (3 primaries + 3 replicas, no modules), since it breaks it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from redis_ckpt import RedisSaver, StoreUnavailableError
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.integrations.embedded_redis import EmbeddedCluster
from tests.graphs import counter_graph
from tests.helpers import checkpoint, config, put_chain
from tests.test_faults import Writer

pytestmark = pytest.mark.slow
THREAD = "faulty-thread"


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    embedded = EmbeddedCluster(modules=False).start()
    yield embedded
    embedded.stop()


def node_client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=5)


def owner_port(cluster: EmbeddedCluster, key: str) -> int:
    with RedisCluster(host="127.0.0.1", port=cluster.primary_ports()[0]) as client:
        return int(client.get_node_from_key(key).port)


def replica_of(cluster: EmbeddedCluster, primary_port: int) -> int:
    with node_client(primary_port) as primary:
        primary_id = primary.execute_command("CLUSTER", "MYID").decode()
    for port in cluster.ports:
        with node_client(port) as client:
            role = client.execute_command("ROLE")
            if role[0] == b"slave" and role[2] == primary_port:
                return port
    raise AssertionError(f"no replica of {primary_id}")


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def run_writer_during(saver: RedisSaver, fault: Any, seconds: float = 4.0) -> Writer:
    writer = Writer(saver, THREAD, seconds)
    writer.start()
    time.sleep(seconds / 4)
    fault()
    writer.join(seconds + 60)
    return writer


def test_a_planned_failover_loses_nothing_and_the_run_continues(cluster: EmbeddedCluster) -> None:
    saver = RedisSaver(cluster.url)
    saver.setup()
    primary = owner_port(cluster, saver.layout.namespaces(THREAD))
    replica = replica_of(cluster, primary)

    def failover() -> None:
        with node_client(replica) as client:
            client.execute_command("CLUSTER", "FAILOVER")
        wait_until(lambda: replica in cluster.primary_ports())

    writer = run_writer_during(saver, failover)
    assert owner_port(cluster, saver.layout.namespaces(THREAD)) == replica
    writer.verify()  # every acknowledged checkpoint and write, read from the new primary
    graph = counter_graph(saver)
    assert graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": "after"}})["count"] == 3
    saver.close()


def test_a_primary_killed_mid_run_is_replaced_and_retries_carry_the_run_on(cluster: EmbeddedCluster) -> None:
    """Without WAIT, replication is asynchronous: a put acknowledged in the instant before the kill
    may be missing on the promoted replica (docs/deploy-cluster.md). What must hold: the run goes on
    (retries, or a typed error) and what the new primary has is whole."""
    saver = RedisSaver(cluster.url)
    saver.setup()
    primary = owner_port(cluster, saver.layout.namespaces(THREAD))
    replica = replica_of(cluster, primary)
    victim = next(n for n in cluster.nodes if n.port == primary)
    writer = run_writer_during(saver, victim.kill, seconds=6.0)
    wait_until(lambda: replica in cluster.primary_ports())
    assert all(isinstance(e, StoreUnavailableError) for e in writer.errors), writer.errors
    assert len(writer.acked) > 5
    present = 0
    for cid, step in writer.acked:
        got = saver.get_tuple({"configurable": {"thread_id": THREAD, "checkpoint_ns": "", "checkpoint_id": cid}})
        if got is not None:
            present += 1
            assert got.checkpoint["channel_values"] == {"x": step, "big": "v" * 2000}  # never half-visible
    assert present >= len(writer.acked) - 2, (present, len(writer.acked))
    tuples = list(saver.list({"configurable": {"thread_id": THREAD, "checkpoint_ns": ""}}))
    assert all(t.checkpoint["channel_values"]["big"] == "v" * 2000 for t in tuples)
    graph = counter_graph(saver)
    assert graph.invoke({"count": 0, "log": []}, {"configurable": {"thread_id": "after-kill"}})["count"] == 3
    saver.close()


def test_with_wait_replicas_a_killed_primary_loses_no_acknowledged_checkpoint(cluster: EmbeddedCluster) -> None:
    """wait_replicas=1: put and put_writes return once the replica has them (WAIT in the same round
    trip), so the promoted replica has every acknowledged checkpoint. Until the killed node is back
    as the new primary's replica, writes wait (NotReplicatedError, retried), then go on."""
    saver = RedisSaver(cluster.url, wait_replicas=1, wait_timeout_ms=500)
    saver.setup()
    primary = owner_port(cluster, saver.layout.namespaces(THREAD))
    replica = replica_of(cluster, primary)
    victim = next(n for n in cluster.nodes if n.port == primary)

    def kill_then_restart() -> None:
        victim.kill()
        wait_until(lambda: replica in cluster.primary_ports())
        victim.start()  # rejoins as the replica of the node that took its slots

    writer = run_writer_during(saver, kill_then_restart, seconds=6.0)
    assert owner_port(cluster, saver.layout.namespaces(THREAD)) == replica
    writer.verify()  # no error, and every acknowledged checkpoint and write is there, whole
    saver.close()


def migrate_slot(cluster: EmbeddedCluster, slot: int, source: int, target: int) -> int:
    """Move a slot the way resharding tools do: IMPORTING/MIGRATING, MIGRATE its keys, SETSLOT NODE.
    Each MIGRATE moves every key left in the slot at once. Returns how many keys moved."""
    src, dst = node_client(source), node_client(target)
    src_id, dst_id = (c.execute_command("CLUSTER", "MYID").decode() for c in (src, dst))
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    moved = 0
    time.sleep(0.3)  # writes meanwhile meet ASK / TRYAGAIN
    while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10_000):
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        moved += len(keys)
    for port in cluster.primary_ports():
        with node_client(port) as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    src.close()
    dst.close()
    return moved


def test_migrating_the_threads_slot_while_it_is_written_loses_nothing(cluster: EmbeddedCluster) -> None:
    saver = RedisSaver(cluster.url)
    saver.setup()
    layout = KeyLayout()
    with RedisCluster(host="127.0.0.1", port=cluster.ports[0]) as client:
        slot = client.keyslot(layout.namespaces(THREAD))
        source = int(client.get_node_from_key(layout.namespaces(THREAD)).port)
    target = next(p for p in cluster.primary_ports() if p != source)
    moved: list[int] = []
    writer = run_writer_during(saver, lambda: moved.append(migrate_slot(cluster, slot, source, target)))
    assert moved[0] > 5
    assert owner_port(cluster, layout.namespaces(THREAD)) == target
    writer.verify()  # nothing acknowledged lost, every checkpoint whole, read from the new owner
    with node_client(source) as old:
        assert old.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0


def test_reads_follow_an_ask_redirect_while_the_slot_is_half_moved(cluster: EmbeddedCluster) -> None:
    """A read of a thread whose keys have all moved, before the slot's owner changes: ASK."""
    saver = RedisSaver(cluster.url)
    saver.setup()
    graph = counter_graph(saver)
    cfg = {"configurable": {"thread_id": THREAD}}
    child = {"configurable": {"thread_id": THREAD, "checkpoint_ns": "child"}}
    # Every key a script declares exists: an importing node answers TRYAGAIN (retried until the
    # migration ends) to a script whose declared keys are only partly there, and it cannot tell a
    # key still on the source from one that exists nowhere. So each namespace gets a chunked list
    # value (its chunk hash) and writes that came before their checkpoint (its writes index).
    graph.invoke({"count": 0, "log": []}, cfg)
    saver.put(child, checkpoint({"y": 1}), {"step": 0}, {"y": 1})
    notes = {"notes": [f"note {i} " * 40 for i in range(3)]}
    for ns in ("", "child"):  # ids below the others': "latest" is unchanged
        namespace = {"configurable": {"thread_id": THREAD, "checkpoint_ns": ns}}
        saver.put(namespace, checkpoint(notes, checkpoint_id="0-notes"), {"step": -2}, {"notes": 1})
        writes_first = {"configurable": {**namespace["configurable"], "checkpoint_id": "0-not-yet-put"}}
        saver.put_writes(writes_first, [("y", 2)], "task")
    layout = KeyLayout()
    with RedisCluster(host="127.0.0.1", port=cluster.ports[0]) as client:
        slot = client.keyslot(layout.namespaces(THREAD))
        source = int(client.get_node_from_key(layout.namespaces(THREAD)).port)
    target = next(p for p in cluster.primary_ports() if p != source)
    src, dst = node_client(source), node_client(target)
    src_id, dst_id = (c.execute_command("CLUSTER", "MYID").decode() for c in (src, dst))
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10_000)
    src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
    dst.execute_command("SCRIPT", "FLUSH")  # the importing node answers NOSCRIPT behind ASKING too
    assert graph.get_state(cfg).values["count"] == 3  # every key is on the importing node now
    assert len(list(saver.list(cfg))) == 5 + 1 + 2  # both namespaces
    # Deleting touches the documents, which the scripts do not declare: while the slot migrates,
    # Redis refuses that (retried as TRYAGAIN) until the migration ends, here a second later.
    finish = threading.Timer(
        1.0, lambda: [c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id) for c in (dst, src)]
    )
    finish.start()
    saver.delete_thread(THREAD)
    finish.join()
    assert saver.get_tuple(cfg) is None and saver.get_tuple(child) is None
    assert dst.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
    src.close()
    dst.close()
    saver.close()


def test_a_read_between_two_migrate_batches_waits_for_the_migration_instead_of_losing_a_checkpoint(
    cluster: EmbeddedCluster,
) -> None:
    """The newest document moved, its index not yet: Redis refuses the read script's access to the
    moved key, the saver retries, and once the slot has moved it reads the newest checkpoint. (Had
    the script seen the document as missing, it would have dropped it from the index as expired.)"""
    saver = RedisSaver(cluster.url)
    saver.setup()
    ids = put_chain(saver, THREAD, 3)
    layout = KeyLayout()
    with RedisCluster(host="127.0.0.1", port=cluster.ports[0]) as client:
        slot = client.keyslot(layout.namespaces(THREAD))
        source = int(client.get_node_from_key(layout.namespaces(THREAD)).port)
    target = next(p for p in cluster.primary_ports() if p != source)
    src, dst = node_client(source), node_client(target)
    src_id, dst_id = (c.execute_command("CLUSTER", "MYID").decode() for c in (src, dst))
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", layout.checkpoint(THREAD, "", ids[-1]))

    def finish() -> None:
        keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10_000)
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        for port in cluster.primary_ports():
            with node_client(port) as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)

    later = threading.Timer(1.0, finish)
    later.start()
    latest = saver.get_tuple(config(THREAD))
    later.join()
    assert latest is not None and latest.checkpoint["id"] == ids[-1]
    assert [t.checkpoint["id"] for t in saver.list(config(THREAD))] == ids[::-1]
    src.close()
    dst.close()
    saver.close()
