"""Write ownership with real processes: a worker stalled (SIGSTOP) past its lease cannot write
once it wakes up, and several processes fighting over threads never fork a history; without
ownership they do."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from redis_ckpt import RedisSaver
from tests.conftest import fresh_saver
from tests.helpers import config
from tests.ownership_workers import NODES, cancelled_request, fight, serve

SPAWN = multiprocessing.get_context("spawn")
LEASE = 0.15  # seconds: short, so a stalled worker loses the thread quickly
PAUSE = 0.01  # seconds per node


def history(saver: RedisSaver, thread_id: str) -> dict[str, str | None]:
    """Every checkpoint of the thread -> its parent id."""
    return {
        c.config["configurable"]["checkpoint_id"]: (c.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        for c in saver.list(config(thread_id))
    }


def chain_from_latest(saver: RedisSaver, thread_id: str) -> list[str]:
    """Checkpoint ids reachable from the latest by parent links, latest first."""
    parents = history(saver, thread_id)
    latest = saver.get_tuple(config(thread_id))
    chain: list[str] = []
    cur = latest.config["configurable"]["checkpoint_id"] if latest else None
    while cur:
        chain.append(cur)
        cur = parents.get(cur)
    return chain


def is_one_chain(saver: RedisSaver, thread_id: str) -> bool:
    return set(chain_from_latest(saver, thread_id)) == set(history(saver, thread_id))


def states(saver: RedisSaver, thread_id: str) -> list[tuple[Any, ...]]:
    """What a history holds along its chain, oldest first, without ids or run ids."""
    found = {c.config["configurable"]["checkpoint_id"]: c for c in saver.list(config(thread_id))}
    out = []
    for checkpoint_id in reversed(chain_from_latest(saver, thread_id)):
        c = found[checkpoint_id]
        values = c.checkpoint["channel_values"]
        out.append((c.metadata["step"], c.metadata["source"], values.get("count"), tuple(values.get("log", ()))))
    return out


@pytest.fixture
def workers(redis_url: str, prefix: str) -> Iterator[tuple[RedisSaver, list[Any]]]:
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        started = []
        for _ in range(2):
            parent, child = SPAWN.Pipe()
            process = SPAWN.Process(target=serve, args=(redis_url, prefix, PAUSE, child), daemon=True)
            process.start()
            started.append((process, parent))
        try:
            for _, conn in started:
                assert conn.poll(60) and conn.recv() == "ready"
            yield saver, started
        finally:
            for process, conn in started:
                os.kill(process.pid, signal.SIGCONT)
                conn.send(None)
                process.join(10)
                if process.is_alive():
                    process.kill()


@pytest.mark.slow
def test_a_worker_stalled_past_its_lease_is_refused_and_the_history_stays_one_chain(
    workers: tuple[RedisSaver, list[Any]], redis_url: str
) -> None:
    saver, [(a, a_conn), (_, b_conn)] = workers
    # What one worker alone produces: a run, uninterrupted.
    a_conn.send(("reference", False, LEASE))
    assert a_conn.recv() == "done"
    expected = states(saver, "reference")
    assert [s[2] for s in expected] == [None, 0, *range(1, NODES + 1)][-len(expected) :]
    refused = 0
    for run in range(50):
        thread_id = f"t{run}"
        stop_after = random.randint(1, NODES)  # checkpoints A commits before it is stopped
        a_conn.send((thread_id, False, LEASE))
        deadline = time.monotonic() + 10
        while len(history(saver, thread_id)) < stop_after and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(a.pid, signal.SIGSTOP)
        try:
            b_conn.send((thread_id, True, LEASE))  # B resumes the thread once A's lease ran out
            assert b_conn.poll(30)
            assert b_conn.recv() == "done"
        finally:
            os.kill(a.pid, signal.SIGCONT)
        assert a_conn.poll(30)
        outcome = a_conn.recv()
        assert outcome in ("lost", "done"), outcome
        # "done": A had written its last checkpoint before the stop; then B found nothing to do.
        refused += outcome == "lost"
        assert is_one_chain(saver, thread_id), history(saver, thread_id)
        assert states(saver, thread_id) == expected
    assert refused >= 40  # A is stopped mid-run nearly every time


def _fight(redis_url: str, prefix: str, seconds: float, lease: float | None) -> tuple[list[Any], dict[str, int]]:
    """8 processes x 4 threads over 16 thread ids, the parent stopping random processes too."""
    ids = [f"shared{i}" for i in range(16)]
    started = []
    for _ in range(8):
        parent, child = SPAWN.Pipe()
        process = SPAWN.Process(target=fight, args=(redis_url, prefix, 4, ids, seconds, lease, child), daemon=True)
        process.start()
        started.append((process, parent))
    try:
        time.sleep(3)  # spawning and importing
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # stalls of whole processes: SIGSTOP, then SIGCONT
            process = random.choice(started)[0]
            os.kill(process.pid, signal.SIGSTOP)
            time.sleep(random.uniform(0, 3 * (lease or 0.1)))
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(random.uniform(0, 0.3))
        acked: list[Any] = []
        outcomes: dict[str, int] = {}
        for _, conn in started:
            assert conn.poll(60)
            process_acked, process_outcomes, errors = conn.recv()
            assert errors == []
            acked += process_acked
            for name, n in process_outcomes.items():
                outcomes[name] = outcomes.get(name, 0) + n
        return acked, outcomes
    finally:
        for process, _ in started:
            os.kill(process.pid, signal.SIGCONT)
            process.join(10)
            if process.is_alive():
                process.kill()


@pytest.mark.slow
def test_processes_fighting_over_threads_under_ownership_never_fork_or_lose_a_write(
    redis_url: str, prefix: str
) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        acked, outcomes = _fight(redis_url, prefix, 30, LEASE)
        assert outcomes.get("done", 0) > 100 and outcomes.get("lost", 0) > 0, outcomes
        threads = {thread_id for thread_id, _ in acked}
        assert len(threads) == 16
        for thread_id in threads:
            assert is_one_chain(saver, thread_id), thread_id
        stored = {(t, c) for t in threads for c in history(saver, t)}
        assert set(acked) <= stored  # every acknowledged put is readable
        assert len(set(acked)) == len(stored)


@pytest.mark.slow
def test_without_ownership_the_same_fight_forks_histories(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        acked, _ = _fight(redis_url, prefix, 10, None)
        threads = {thread_id for thread_id, _ in acked}
        forked = [t for t in threads if not is_one_chain(saver, t)]
        assert forked, "no fork without ownership: the test would prove nothing"


def test_a_request_timed_out_while_waiting_leaves_the_thread_free(redis_url: str, prefix: str) -> None:
    """A process whose `aown(wait=10)` was cancelled by a timeout while another held the lease
    never takes the lease afterwards: once the holder lets go, any worker takes it at once."""
    with fresh_saver(RedisSaver, redis_url, prefix) as saver:
        holder = saver.acquire("t", lease=30)
        parent, child = SPAWN.Pipe()
        process = SPAWN.Process(target=cancelled_request, args=(redis_url, prefix, "t", child), daemon=True)
        process.start()
        try:
            assert parent.poll(60) and parent.recv() == "timed out"
            assert saver.release(holder)
            time.sleep(1.0)  # a worker thread still polling (every 0.2 s at most) would have taken it
            assert saver.client.exists(saver.layout.lease("t")) == 0
            saver.release(saver.acquire("t", lease=30))  # no ThreadBusyError
        finally:
            parent.send(None)
            process.join(10)
            if process.is_alive():
                process.kill()
