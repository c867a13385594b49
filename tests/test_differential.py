"""Random operations applied to this saver and to InMemorySaver: every answer must agree."""

from __future__ import annotations

import random
from typing import Any

import pytest
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME

from redis_ckpt import RedisSaver
from tests.helpers import checkpoint, config

THREADS = ["t1", "a:b", "{x}*"]
NAMESPACES = ["", "child:1"]
CHANNELS = ["x", "y", "z"]
WRITE_CHANNELS = ["x", "y", ERROR, INTERRUPT, RESUME]


def _norm(t: CheckpointTuple | None) -> Any:
    if t is None:
        return None
    parent = t.parent_config["configurable"]["checkpoint_id"] if t.parent_config else None
    conf = t.config["configurable"]
    return (
        (conf["thread_id"], conf.get("checkpoint_ns", ""), conf.get("checkpoint_id")),
        t.checkpoint,
        t.metadata,
        parent,
        t.pending_writes,
    )


class World:
    def __init__(self, saver: RedisSaver, rng: random.Random) -> None:
        self.ours, self.ref, self.rng = saver, InMemorySaver(), rng
        self.ids: dict[tuple[str, str], list[str]] = {}
        self.step = 0

    def both(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return getattr(self.ours, name)(*args, **kwargs), getattr(self.ref, name)(*args, **kwargs)

    def any_id(self, thread_id: str, ns: str) -> str | None:
        ids = self.ids.get((thread_id, ns))
        return self.rng.choice(ids) if ids and self.rng.random() < 0.9 else None

    def put(self) -> None:
        rng = self.rng
        thread_id, ns = rng.choice(THREADS), rng.choice(NAMESPACES)
        self.step += 1
        versions = {ch: rng.randint(1, 4) for ch in CHANNELS if rng.random() < 0.8}
        values = {ch: rng.choice([1, "s", [1, 2], {"k": ch}]) for ch in versions if rng.random() < 0.8}
        new_versions = {ch: v for ch, v in versions.items() if rng.random() < 0.7}
        ids = self.ids.setdefault((thread_id, ns), [])
        if ids and rng.random() < 0.1:  # re-put an existing id
            cp = checkpoint(values, versions, checkpoint_id=rng.choice(ids))
        else:
            cp = checkpoint(values, versions, step=self.step)
            ids.append(cp["id"])
        meta = {
            "source": rng.choice(["input", "loop"]),
            "step": self.step % 4,
            "user": rng.choice(["ann", "bob", None]),
            "nested": {"k": rng.randint(0, 1)},
        }
        a, b = self.both("put", config(thread_id, ns, self.any_id(thread_id, ns)), cp, meta, new_versions)
        assert a == b

    def put_writes(self) -> None:
        rng = self.rng
        thread_id, ns = rng.choice(THREADS), rng.choice(NAMESPACES)
        cid = self.any_id(thread_id, ns) or "not-yet-put"
        writes = [(rng.choice(WRITE_CHANNELS), rng.randint(0, 9)) for _ in range(rng.randint(1, 3))]
        task = rng.choice(["task-a", "task-b", "task-c"])
        path = rng.choice(["", "~__pregel_push, 0000000001", "~__pregel_push, 0000000000"])
        self.both("put_writes", config(thread_id, ns, cid), writes, task, task_path=path)

    def get_tuple(self) -> None:
        thread_id, ns = self.rng.choice(THREADS), self.rng.choice(NAMESPACES)
        a, b = self.both("get_tuple", config(thread_id, ns, self.any_id(thread_id, ns)))
        assert _norm(a) == _norm(b)

    def list(self) -> None:
        rng = self.rng
        thread_id, ns = rng.choice(THREADS), rng.choice(NAMESPACES)
        flt = rng.choice([None, {"source": "loop"}, {"user": None}, {"nested": {"k": 1}}, {"user": "ann", "step": 2}])
        before_id = self.any_id(thread_id, ns) if rng.random() < 0.3 else None
        before = config(thread_id, ns, before_id) if before_id else None
        scope = rng.choice(["ns", "thread", "all"])
        if scope == "ns":
            limit = rng.choice([None, 1, 3])
            a, b = self.both("list", config(thread_id, ns), filter=flt, before=before, limit=limit)
            assert [_norm(t) for t in a] == [_norm(t) for t in b]
            return
        cfg = {"configurable": {"thread_id": thread_id}} if scope == "thread" else None
        a, b = self.both("list", cfg, filter=flt, before=before)
        ours, ref = [_norm(t) for t in a], [_norm(t) for t in b]
        assert sorted(map(repr, ours)) == sorted(map(repr, ref))
        for group in {o[0][:2] for o in ours}:  # newest first within each (thread, ns)
            group_ids = [o[0][2] for o in ours if o[0][:2] == group]
            assert group_ids == sorted(group_ids, reverse=True)

    def delete_thread(self) -> None:
        thread_id = self.rng.choice(THREADS)
        self.both("delete_thread", thread_id)
        for ns in NAMESPACES:
            self.ids.pop((thread_id, ns), None)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_agree_with_in_memory_saver(saver: RedisSaver, seed: int) -> None:
    rng = random.Random(seed)
    world = World(saver, rng)
    ops = [world.put] * 5 + [world.put_writes] * 4 + [world.get_tuple] * 3 + [world.list] * 3 + [world.delete_thread]
    for _ in range(400):
        rng.choice(ops)()
    for thread_id in THREADS:
        for ns in NAMESPACES:
            a, b = world.both("list", config(thread_id, ns))
            assert [_norm(t) for t in a] == [_norm(t) for t in b]
