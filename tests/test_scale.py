"""Long threads list completely: nothing is silently truncated."""

from __future__ import annotations

from redis_ckpt import RedisSaver
from tests.helpers import checkpoint, config


def test_a_thread_with_12000_checkpoints_lists_completely_and_pages_by_before(saver: RedisSaver) -> None:
    ids: list[str] = []
    parent = None
    for step in range(12_000):
        cp = checkpoint({"x": step}, {"x": step + 1}, step=step)
        saver.put(config("long", "", parent), cp, {"step": step}, {"x": step + 1})
        ids.append(cp["id"])
        parent = cp["id"]
    listed = [t.config["configurable"]["checkpoint_id"] for t in saver.list(config("long"))]
    assert listed == sorted(ids, reverse=True)
    assert [t.metadata["step"] for t in saver.list(config("long"), filter={"step": 7})] == [7]
    page = list(saver.list(config("long"), before=config("long", "", ids[6000]), limit=3))
    assert [t.checkpoint["channel_values"]["x"] for t in page] == [5999, 5998, 5997]
    assert saver.get_tuple(config("long")).checkpoint["channel_values"] == {"x": 11_999}
    assert len(list(saver.list(None, limit=12_000))) == 12_000
    saver.prune(["long"], keep_last=5)
    assert len(list(saver.list(config("long")))) == 5
