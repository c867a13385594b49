"""Write ownership (opt-in): leases, fencing tokens checked atomically with every write, refused
writes that change nothing, the same round trips as unowned writes, incremental collection."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
import redis

from redis_ckpt import AsyncRedisSaver, ConfigurationError, Ownership, OwnershipLostError, RedisSaver, ThreadBusyError
from redis_ckpt.redis_io.ownership import CONFIG_KEY
from redis_ckpt.redis_io.ownership import holding as _holding
from tests.conftest import keys_under
from tests.graphs import counter_graph
from tests.helpers import checkpoint, config, put_chain
from tests.roundtrips import counting


def snapshot(raw: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key under the prefix with its serialized contents: equal snapshots, equal data."""
    return {k: raw.dump(k) for k in keys_under(raw, prefix)}


def put_one(saver: RedisSaver, cfg: dict[str, Any], step: int, parent: str | None = None) -> str:
    configurable = {**cfg["configurable"], "checkpoint_ns": ""}
    if parent:
        configurable["checkpoint_id"] = parent
    cp = checkpoint({"x": step, "msgs": [f"message {i}" * 20 for i in range(step + 1)]}, step=step)
    saver.put({"configurable": configurable}, cp, {"step": step}, {"x": 1, "msgs": 1})
    return cp["id"]


def superseded(saver: RedisSaver, thread_id: str) -> tuple[Ownership, Ownership]:
    """(an ownership whose lease lapsed, the one that took the thread over)."""
    stale = saver.acquire(thread_id, lease=0.05)
    time.sleep(0.08)
    return stale, saver.acquire(thread_id, lease=30)


def test_owned_writes_land_and_the_lease_is_released(saver: RedisSaver, raw: redis.Redis, prefix: str) -> None:
    with saver.own("t", lease=5) as owned:
        assert raw.get(saver.layout.lease("t")) == owned.token.encode()
        parent = put_one(saver, owned.config, 0)
        put_one(saver, owned.config, 1, parent)
        saver.put_writes(owned.bind(config("t", "", parent)), [("x", 5)], "task")
    assert raw.exists(saver.layout.lease("t")) == 0
    assert [c.metadata["step"] for c in saver.list(config("t"))] == [1, 0]
    assert saver.get_tuple(config("t", "", parent)).pending_writes == [("task", "x", 5)]  # type: ignore[union-attr]
    assert CONFIG_KEY not in saver.get_tuple(config("t")).metadata  # type: ignore[union-attr]


def test_tokens_are_monotonic_and_a_held_lease_is_busy(saver: RedisSaver) -> None:
    first = saver.acquire("t", lease=10)
    with pytest.raises(ThreadBusyError):
        saver.acquire("t", lease=10)
    assert saver.release(first)
    second = saver.acquire("t", lease=10)
    assert second.number > first.number
    assert not saver.release(first)  # a superseded holder cannot end its successor's lease
    with pytest.raises(ThreadBusyError):
        saver.acquire("t", lease=10, wait=0.1)


def test_waiting_takes_the_lease_when_it_expires(saver: RedisSaver) -> None:
    held = saver.acquire("t", lease=0.2)
    started = time.monotonic()
    taken = saver.acquire("t", lease=10, wait=5)
    assert taken.number == held.number + 1
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("operation", ["put", "put_writes", "delete_thread", "prune", "copy_into", "delete_for_runs"])
def test_a_superseded_owner_changes_nothing(saver: RedisSaver, raw: redis.Redis, prefix: str, operation: str) -> None:
    ids = put_chain(saver, "t", 4, metadata=lambda step: {"run_id": "r1", "step": step})
    put_chain(saver, "src", 2)
    stale, _ = superseded(saver, "t")
    before = snapshot(raw, prefix)
    with pytest.raises(OwnershipLostError):
        if operation == "put":
            put_one(saver, stale.config, 9, ids[-1])
        elif operation == "put_writes":
            saver.put_writes(stale.bind(config("t", "", ids[-1])), [("x", 1)], "task")
        else:
            with _holding(stale):
                if operation == "delete_thread":
                    saver.delete_thread("t")
                elif operation == "prune":
                    saver.prune(["t"], keep_last=1)
                elif operation == "copy_into":
                    saver.copy_thread("src", "t")
                else:
                    saver.delete_for_runs(["r1"])
    assert snapshot(raw, prefix) == before
    assert len(list(saver.list(config("t")))) == 4


def test_the_new_owner_writes_and_the_old_ones_put_cannot_resurrect_a_deleted_thread(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    ids = put_chain(saver, "t", 3)
    stale, new = superseded(saver, "t")
    with _holding(new):
        saver.delete_thread("t")
    with pytest.raises(OwnershipLostError):
        put_one(saver, stale.config, 5, ids[-1])
    with pytest.raises(OwnershipLostError):
        saver.put_writes(stale.bind(config("t", "", ids[-1])), [("x", 1)], "task")
    # Only the fence counter and the new owner's lease are left of the thread.
    layout = saver.layout
    assert set(keys_under(raw, prefix)) == {layout.fence("t").encode(), layout.lease("t").encode()}


def test_a_lapsed_lease_nobody_took_still_writes_and_is_taken_again(saver: RedisSaver, raw: redis.Redis) -> None:
    held = saver.acquire("t", lease=0.05)
    time.sleep(0.08)
    assert raw.exists(saver.layout.lease("t")) == 0
    put_one(saver, held.config, 0)
    assert raw.get(saver.layout.lease("t")) == held.token.encode()
    assert 0 < raw.pttl(saver.layout.lease("t")) <= 50


def test_writes_renew_the_lease(saver: RedisSaver, raw: redis.Redis) -> None:
    with saver.own("t", lease=0.3) as owned:
        parent = None
        for step in range(6):  # 0.6 s in all: twice the lease, renewed by each put
            parent = put_one(saver, owned.config, step, parent)
            time.sleep(0.1)
        with pytest.raises(ThreadBusyError):
            saver.acquire("t", lease=1)
        saver.renew(owned)
        assert raw.pttl(saver.layout.lease("t")) > 200


def test_round_trips_are_the_same_owned_or_not(saver: RedisSaver) -> None:
    def trips(cfg: dict[str, Any], thread: str) -> list[int]:
        counts = []
        parent = None
        for step in range(3):
            with counting() as put_trips:
                parent = put_one(saver, cfg, step, parent)
            with counting() as writes_trips:
                saver.put_writes(
                    {"configurable": {**cfg["configurable"], "checkpoint_ns": "", "checkpoint_id": parent}},
                    [("x", step)],
                    "task",
                )
            with counting() as read_trips:
                saver.get_tuple(config(thread))
            counts += [put_trips.count, writes_trips.count, read_trips.count]
        return counts

    plain = trips(config("plain"), "plain")
    with saver.own("owned") as owned:
        fenced = trips(owned.config, "owned")
    assert plain == fenced == [1, 1, 1] * 3


def test_a_graph_runs_under_ownership_through_its_config(saver: RedisSaver) -> None:
    graph = counter_graph(saver, nodes=3)
    with saver.own("g") as owned:
        out = graph.invoke({"count": 0, "log": []}, owned.config)
    assert out["count"] == 3
    stale, _ = superseded(saver, "g")
    with pytest.raises(OwnershipLostError):
        graph.invoke({"count": 0, "log": []}, stale.config)
    assert saver.get_tuple(config("g")).checkpoint["channel_values"]["count"] == 3  # type: ignore[union-attr]


def test_owned_prune_collects_like_an_unowned_one(saver: RedisSaver, raw: redis.Redis) -> None:
    """The incremental collection leaves exactly the blob fields and chunks the one-call one does."""
    for thread in ("plain", "owned"):
        parent = None
        for step in range(12):
            parent = put_one(saver, config(thread), step, parent)
            saver.put_writes(config(thread, "", parent), [("msgs", [f"write {step}" * 30, "x" * 300])], "task")
    saver.prune(["plain"], keep_last=3)
    with saver.own("owned"):
        saver.prune(["owned"], keep_last=3)
    layout = saver.layout

    def contents(thread: str) -> tuple[Any, ...]:
        _, _, blobs, chunks = layout.ns_data_keys(thread, "")
        return sorted(raw.hkeys(blobs)), sorted(raw.hkeys(chunks)), raw.zcard(layout.index(thread, ""))

    plain_fields, plain_chunks, kept = contents("plain")
    owned_fields, owned_chunks, owned_kept = contents("owned")
    assert kept == owned_kept == 3
    assert len(plain_chunks) == len(owned_chunks) > 0
    assert [f.split(b"\0")[0] for f in plain_fields] == [f.split(b"\0")[0] for f in owned_fields]
    assert [c.checkpoint["channel_values"] for c in saver.list(config("owned"))] == [
        c.checkpoint["channel_values"] for c in saver.list(config("plain"))
    ]
    assert not any(b":gcf:" in k or b":gcc:" in k for k in raw.scan_iter(count=1000))


def test_async_ownership_fences_the_calls_in_its_block(async_saver: AsyncRedisSaver, raw: redis.Redis) -> None:
    async def scenario() -> None:
        put_chain(async_saver, "t", 2)
        stale = await async_saver.aacquire("t", lease=0.05)
        await asyncio.sleep(0.08)
        async with async_saver.aown("t", lease=5) as owned:
            assert owned.number == stale.number + 1
            await async_saver.arenew(owned)
            assert raw.get(async_saver.layout.lease("t")) == owned.token.encode()
        with _holding(stale), pytest.raises(OwnershipLostError):
            await async_saver.adelete_thread("t")
        assert len([c async for c in async_saver.alist(config("t"))]) == 2
        async with async_saver.aown("t") as owned:
            await async_saver.adelete_thread("t")
        assert [c async for c in async_saver.alist(config("t"))] == []

    asyncio.run(scenario())


def test_a_token_lost_in_a_failover_is_never_issued_again(saver: RedisSaver, raw: redis.Redis) -> None:
    """A replica promoted before it saw Y's acquire holds the previous token and no lease; the
    next owner gets Y's counter, but not Y's token, so Y stays refused."""
    previous, lost = superseded(saver, "t")
    raw.set(saver.layout.fence("t"), previous.token)  # the promoted replica's state
    raw.delete(saver.layout.lease("t"))
    successor = saver.acquire("t", lease=30)
    assert successor.number == lost.number and successor.token != lost.token
    with pytest.raises(OwnershipLostError):
        put_one(saver, lost.config, 0)
    with pytest.raises(OwnershipLostError):
        put_one(saver, previous.config, 0)
    put_one(saver, successor.config, 0)
    assert len(list(saver.list(config("t")))) == 1


def test_owned_delete_for_runs_keeps_large_values_exactly_as_long_as_unowned(
    saver: RedisSaver, raw: redis.Redis
) -> None:
    """Spill fields (values over 128 KiB) live as long as the blob field naming them, owned or not."""
    for thread in ("plain", "owned"):
        parent = None
        for step in range(8):
            cfg = config(thread, "", parent)
            big = {"big": secrets.token_hex(200_000)} if step % 3 == 0 else {}  # incompressible
            cp = checkpoint({"x": step, **big}, {"x": step + 1, **({"big": step + 1} if big else {})}, step=step)
            meta = {"run_id": f"{thread}-doomed" if step in (3, 4) else "keep", "step": step}
            saver.put(cfg, cp, meta, cp["channel_versions"])  # type: ignore[arg-type]
            parent = cp["id"]
    saver.delete_for_runs(["plain-doomed"])
    with saver.own("owned"):
        saver.delete_for_runs(["owned-doomed"])
    layout = saver.layout

    def fields(thread: str) -> list[bytes]:
        return sorted(raw.hkeys(layout.blobs(thread, "")))

    assert len(fields("plain")) == len(fields("owned"))
    assert sum(f.startswith(b"\0") for f in fields("owned")) == sum(f.startswith(b"\0") for f in fields("plain")) > 0
    for thread in ("plain", "owned"):
        assert [c.metadata["step"] for c in saver.list(config(thread))] == [7, 6, 5, 2, 1, 0]
        for c in saver.list(config(thread)):
            assert c.checkpoint["channel_values"]["x"] == c.metadata["step"]


class StrictlyFenced(RedisSaver):
    """Fails on any write that is not fenced."""

    def _transaction(self, commands: list[Any]) -> list[Any]:
        raise AssertionError(f"unfenced write: {commands[:2]}")


def test_subgraphs_and_interrupts_write_under_the_ownership_of_the_run(redis_url: str, prefix: str) -> None:
    from langgraph.graph import START, StateGraph
    from langgraph.types import Command

    from tests.conftest import fresh_saver
    from tests.graphs import CounterState, approval_graph

    with fresh_saver(StrictlyFenced, redis_url, prefix) as saver:
        builder = StateGraph(CounterState)
        builder.add_node("child", counter_graph(None, nodes=2))  # a subgraph: its own namespace
        builder.add_edge(START, "child")
        parent = builder.compile(checkpointer=saver)
        with saver.own("sub") as owned:
            assert parent.invoke({"count": 0, "log": []}, owned.config)["count"] == 2
        namespaces = saver.namespaces("sub")
        assert len(namespaces) == 2 and namespaces[1].startswith("child:")  # the subgraph wrote, fenced
        approval = approval_graph(saver)
        with saver.own("hitl") as owned:
            approval.invoke({"request": "deploy", "answer": ""}, owned.config)
        with saver.own("hitl") as owned:  # resumed later, by another owner
            assert approval.invoke(Command(resume="yes"), owned.config)["answer"] == "YES"
        with pytest.raises(AssertionError, match="unfenced"):
            approval.invoke({"request": "x", "answer": ""}, config("unowned"))


# -- an ownership belongs to its store -------------------------------------------------------------
def _every_write(saver: RedisSaver, cfg: dict[str, Any], thread_id: str) -> None:
    """A graph run, put, put_writes, prune, copy_thread into it, delete_thread of `thread_id`
    through `saver`."""
    assert counter_graph(saver, nodes=2).invoke({"count": 0, "log": []}, cfg)["count"] == 2
    parent = put_one(saver, cfg, 0)
    put_one(saver, cfg, 1, parent)
    saver.put_writes(
        {"configurable": {**cfg["configurable"], "checkpoint_ns": "", "checkpoint_id": parent}}, [("x", 1)], "task"
    )
    saver.prune([thread_id], keep_last=1)
    put_chain(saver, "src", 1)
    saver.copy_thread("src", thread_id)
    saver.delete_thread(thread_id)
    saver.delete_thread("src")


def test_an_ownership_fences_no_other_store(redis_url: str, saver: RedisSaver, raw: redis.Redis, prefix: str) -> None:
    """Inside `own(t)` a saver on another prefix, or on another database, writes its own thread
    `t` unfenced: no OwnershipLostError, and no fence key left in its store."""
    from tests.conftest import fresh_saver

    other_db = redis.Redis.from_url(redis_url, db=3)
    try:
        with (
            fresh_saver(RedisSaver, redis_url, prefix + "b") as other_prefix,
            RedisSaver(
                redis_client=other_db, checkpoint_prefix=prefix, checkpoint_write_prefix=prefix + "_write"
            ) as other_database,
        ):
            assert len({saver.store_id, other_prefix.store_id, other_database.store_id}) == 3
            with saver.own("t") as owned:
                for other in (other_prefix, other_database):
                    _every_write(other, config("t"), "t")
                put_one(saver, owned.config, 0)  # the owner's own writes are still fenced
                assert raw.get(saver.layout.lease("t")) == owned.token.encode()
            assert keys_under(raw, prefix + "b") == []
            assert keys_under(other_db, prefix) == []
    finally:
        for key in keys_under(other_db, prefix):
            other_db.delete(key)
        other_db.close()


def test_an_ownership_in_the_config_of_another_store_is_refused(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    from tests.conftest import fresh_saver

    with fresh_saver(RedisSaver, saver._url or "", prefix + "b") as other, saver.own("t") as owned:
        with pytest.raises(ConfigurationError, match="take the ownership with the saver that writes"):
            put_one(other, owned.config, 0)
        with pytest.raises(ConfigurationError):
            other.put_writes(owned.bind(config("t", "", "1")), [("x", 1)], "task")
        assert keys_under(raw, prefix + "b") == []


def test_savers_of_one_store_share_its_ownerships(saver: RedisSaver, prefix: str) -> None:
    """Another saver object on the same server, database and prefix is the same store: the
    ownership fences its writes too, from the config and from the block."""
    with RedisSaver(saver._url or "", checkpoint_prefix=prefix, checkpoint_write_prefix=prefix + "_write") as twin:
        assert twin.store_id == saver.store_id
        ids = put_chain(saver, "t", 2)
        stale, _ = superseded(saver, "t")
        with pytest.raises(OwnershipLostError):
            put_one(twin, stale.config, 5, ids[-1])
        with _holding(stale), pytest.raises(OwnershipLostError):
            twin.delete_thread("t")
        assert len(list(saver.list(config("t")))) == 2


def test_async_ownership_fences_no_other_store(async_saver: AsyncRedisSaver, raw: redis.Redis, prefix: str) -> None:
    from tests.conftest import fresh_saver

    async def scenario(other: AsyncRedisSaver) -> None:
        async with async_saver.aown("t") as owned:
            await other.aput(config("t"), checkpoint({"x": 1}), {"step": 0}, {"x": 1})
            await other.aprune(["t"], keep_last=1)
            await other.adelete_thread("t")
            await async_saver.aput(owned.config, checkpoint({"x": 1}), {"step": 0}, {"x": 1})

    with fresh_saver(AsyncRedisSaver, async_saver._url or "", prefix + "b") as other:
        asyncio.run(scenario(other))
    assert keys_under(raw, prefix + "b") == []
    assert len(list(async_saver.list(config("t")))) == 1


# -- a cancelled aown leaves no lease ----------------------------------------------------------------
def test_a_cancelled_aown_stops_waiting_and_takes_no_lease(async_saver: AsyncRedisSaver, raw: redis.Redis) -> None:
    holder = async_saver.acquire("t", lease=30)

    async def request() -> None:
        async with async_saver.aown("t", wait=10):
            pass

    async def scenario() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(request(), 0.3)
        assert async_saver.release(holder)
        await asyncio.sleep(0.6)  # a worker still polling would have taken the lease by now

    asyncio.run(scenario())
    assert raw.exists(async_saver.layout.lease("t")) == 0
    async_saver.release(async_saver.acquire("t", lease=30))  # free at once: no ThreadBusyError


class SlowReplies(AsyncRedisSaver):
    """Its acquisitions take their lease, then stall before answering (a slow network)."""

    def _acquire(self, thread_id: str, lease: float, wait: float, cancelled: Any) -> Ownership:
        taken = super()._acquire(thread_id, lease, wait, cancelled)
        time.sleep(0.5)
        return taken


@pytest.mark.parametrize("call", ["aown", "aacquire"])
def test_a_lease_taken_for_a_cancelled_caller_is_given_back(
    redis_url: str, prefix: str, raw: redis.Redis, call: str
) -> None:
    from tests.conftest import fresh_saver

    with fresh_saver(SlowReplies, redis_url, prefix) as saver:

        async def request() -> None:
            if call == "aacquire":
                await saver.aacquire("t", lease=30)
                return
            async with saver.aown("t", lease=30):
                pass

        async def scenario() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(request(), 0.2)
            assert raw.exists(saver.layout.lease("t")) == 1  # taken, its caller gone
            await asyncio.sleep(0.6)

        asyncio.run(scenario())
        assert raw.exists(saver.layout.lease("t")) == 0
        saver.release(saver.acquire("t", lease=30))


# -- the fence key's lifetime ------------------------------------------------------------------------
def test_the_fence_key_expires_with_the_thread(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    from tests.conftest import fresh_saver

    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 1 / 60}) as saver:
        fence = saver.layout.fence("t")
        with saver.own("t", lease=0.3) as owned:
            assert 0 < raw.pttl(fence) <= 1300  # acquire: the thread's TTL (1 s) plus the lease
            parent = put_one(saver, owned.config, 0)
            saver.put_writes(owned.bind(config("t", "", parent)), [("x", 1)], "task")
            saver.renew(owned)
            assert 1200 < raw.pttl(fence) <= 1300  # renewed by every fenced write
        with saver.own("u", lease=5) as long:  # a lease longer than the TTL: the fence outlives it
            assert 5900 < raw.pttl(saver.layout.fence("u")) <= 6000
            saver.renew(long)
            assert 5900 < raw.pttl(saver.layout.fence("u")) <= 6000
        saver.delete_thread("u")  # no data, no lease: its fence goes
        deadline = time.monotonic() + 10
        while keys_under(raw, prefix) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert keys_under(raw, prefix) == []
        with pytest.raises(OwnershipLostError):  # its token died with the thread
            put_one(saver, owned.config, 1, parent)
        assert keys_under(raw, prefix) == []  # and the refusal left no key


def test_a_refused_write_keeps_the_fence_keys_expiry(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    from tests.conftest import fresh_saver

    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 1}) as saver:
        stale, _ = superseded(saver, "t")
        with pytest.raises(OwnershipLostError):
            put_one(saver, stale.config, 0)
        assert 50_000 < raw.pttl(saver.layout.fence("t")) <= 90_000  # the TTL (60 s) + the lease (30 s)


def test_delete_thread_deletes_the_fence_key_unless_a_lease_is_held(
    saver: RedisSaver, raw: redis.Redis, prefix: str
) -> None:
    with saver.own("t") as owned:
        put_one(saver, owned.config, 0)
    saver.delete_thread("t")
    assert keys_under(raw, prefix) == []
    saver.release(saver.acquire("empty"))  # a thread owned once, never written
    saver.prune(["empty"], strategy="delete")
    assert keys_under(raw, prefix) == []
    # Deleted while someone else holds the lease: the fence stays, its holder goes on writing.
    with saver.own("held") as owned:
        put_one(saver, owned.config, 0)
        saver.delete_thread("held")
        assert raw.exists(saver.layout.fence("held"))
        put_one(saver, owned.config, 1)
    assert len(list(saver.list(config("held")))) == 1


def test_a_stale_owner_cannot_write_after_a_delete_and_a_new_owner(saver: RedisSaver, raw: redis.Redis) -> None:
    stale = saver.acquire("t", lease=0.05)
    parent = put_one(saver, stale.config, 0)
    time.sleep(0.08)  # its lease lapsed; nobody took over
    saver.delete_thread("t")
    assert raw.exists(saver.layout.fence("t")) == 0
    with pytest.raises(OwnershipLostError):  # no current token: refused, and no key recreated
        put_one(saver, stale.config, 1, parent)
    assert raw.exists(saver.layout.fence("t")) == 0
    successor = saver.acquire("t", lease=30)
    assert successor.token != stale.token  # the counter started over, the nonce did not repeat
    with pytest.raises(OwnershipLostError):
        put_one(saver, stale.config, 1, parent)
    put_one(saver, successor.config, 0)
    assert len(list(saver.list(config("t")))) == 1


def test_an_ownership_held_by_one_thread_or_task_fences_no_other(async_saver: AsyncRedisSaver) -> None:
    """One saver shared by Python threads and asyncio tasks: an ownership held in one context
    (here a superseded one, which refuses every write it fences) leaves the others' writes alone."""
    import threading

    stale, _ = superseded(async_saver, "t")
    inside, done = threading.Event(), threading.Event()

    def owner() -> None:
        with _holding(stale):
            inside.set()
            done.wait(10)

    holder = threading.Thread(target=owner)
    holder.start()
    try:
        assert inside.wait(10)
        put_one(async_saver, config("t"), 0)  # this thread holds nothing: unfenced

        async def scenario() -> None:
            async def fenced() -> None:
                with _holding(stale):
                    await asyncio.sleep(0.05)
                    with pytest.raises(OwnershipLostError):
                        await async_saver.aput(config("t"), checkpoint({"x": 1}), {"step": 1}, {"x": 1})

            async def plain() -> None:
                await async_saver.aput(config("t"), checkpoint({"x": 2}), {"step": 2}, {"x": 1})

            await asyncio.gather(fenced(), plain())

        asyncio.run(scenario())
    finally:
        done.set()
        holder.join()
    assert sorted(c.metadata["step"] for c in async_saver.list(config("t"))) == [0, 2]


def test_the_store_of_a_saver_names_its_server_database_and_prefix() -> None:
    from redis.sentinel import Sentinel, SentinelConnectionPool

    from redis_ckpt.format.key_layout import KeyLayout
    from redis_ckpt.redis_io.ownership import store_of

    layout, other_layout = KeyLayout("p"), KeyLayout("q")
    tcp = redis.Redis.from_url("redis://h:1/2")
    assert store_of(tcp, layout) == "h:1/2 p" == store_of(redis.Redis(host="h", port=1, db=2), layout)
    assert store_of(tcp, other_layout) == "h:1/2 q"
    assert store_of(redis.Redis.from_url("redis://h:1/3"), layout) == "h:1/3 p"
    assert store_of(redis.Redis(unix_socket_path="/tmp/r.sock"), layout) == "unix:/tmp/r.sock/0 p"
    sentinel = Sentinel([("s2", 26379), ("s1", 26379)])
    pool = SentinelConnectionPool("main", sentinel, db=1)
    assert store_of(redis.Redis(connection_pool=pool), layout) == "sentinel:main@s1:26379,s2:26379/1 p"


def test_with_a_ttl_owned_writes_keep_their_one_round_trip(redis_url: str, prefix: str) -> None:
    from tests.conftest import fresh_saver

    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 10}) as saver, saver.own("t") as owned:
        with counting() as put_trips:
            parent = put_one(saver, owned.config, 0)
        with counting() as writes_trips:
            saver.put_writes(owned.bind(config("t", "", parent)), [("x", 1)], "task")
        with counting() as renew_trips:
            saver.renew(owned)
        assert (put_trips.count, writes_trips.count, renew_trips.count) == (1, 1, 1)
        assert saver.get_tuple(config("t", "", parent)).pending_writes == [("task", "x", 1)]  # type: ignore[union-attr]
