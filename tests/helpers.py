"""Building checkpoints by hand, the way LangGraph's loop does."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from langgraph.checkpoint.base import Checkpoint
from langgraph.checkpoint.base.id import uuid6


def checkpoint(
    values: dict[str, Any] | None = None,
    versions: dict[str, Any] | None = None,
    *,
    step: int = 0,
    checkpoint_id: str | None = None,
) -> Checkpoint:
    values = values or {}
    versions = versions if versions is not None else {k: 1 for k in values}
    return Checkpoint(
        v=4,
        id=checkpoint_id or str(uuid6(clock_seq=step)),
        ts=datetime.now(timezone.utc).isoformat(),
        channel_values=values,
        channel_versions=versions,
        versions_seen={"node": dict(versions)},
        updated_channels=list(values),
    )


def config(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def put_chain(saver: Any, thread_id: str, n: int, ns: str = "", metadata: Any = None) -> list[str]:
    """n chained checkpoints, each writing channel `x` = step; returns ids oldest first."""
    ids: list[str] = []
    parent: str | None = None
    for step in range(n):
        cp = checkpoint({"x": step}, {"x": step + 1}, step=step)
        meta = metadata(step) if callable(metadata) else {"source": "loop", "step": step}
        saver.put(config(thread_id, ns, parent), cp, meta, {"x": step + 1})
        ids.append(cp["id"])
        parent = cp["id"]
    return ids


def stored_digests(raw: Any, chunk_hash: str) -> set[bytes]:
    """The chunk digests stored in a chunk hash, its namespace dictionaries left out (they stay as
    long as the namespace; redis_ckpt/format/compression.py)."""
    from redis_ckpt.format.compression import is_dictionary_field

    return {f for f in raw.hkeys(chunk_hash) if not is_dictionary_field(f)}
