"""Write ownership (opt-in): the lease and fencing token of a thread, and the fenced form of a
write. No I/O here; see redis_ckpt/sync/owning.py for the saver side and docs/design.md.

A fenced write is one round trip: `WATCH fence`, `EVAL fence.lua` (is my token still the thread's
current one? renew my lease), `MULTI`, the write's usual commands, `EXEC`. The script makes a refused write's
EXEC apply nothing by rewriting the watched key; a takeover between the script and the EXEC
(a new token is SET there) aborts it too. So the write's commands are exactly those of an
unowned write, and a refused one changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from redis_ckpt import scripts
from redis_ckpt.errors import ConfigurationError, OwnershipLostError
from redis_ckpt.keys import KeyLayout
from redis_ckpt.wire import Command, check_replicated

# Key of `configurable` that carries an Ownership through graph.invoke to put and put_writes.
# It starts with "__" so LangGraph never copies it into checkpoint metadata.
CONFIG_KEY = "__redis_ckpt_ownership"


@dataclass(frozen=True)
class Ownership:
    """Write ownership of one thread: the fencing token this worker holds and its lease.

    Pass `config` (or merge `CONFIG_KEY` into your own config) to graph.invoke so that the
    graph's writes are fenced; maintenance calls made inside `saver.own(...)` are fenced too."""

    thread_id: str
    token: str  # '<counter>:<random nonce>', see lua/acquire.lua
    lease_ms: int

    @property
    def number(self) -> int:
        """The token's counter: each new owner of the thread gets a higher one."""
        return int(self.token.split(":", 1)[0])

    @property
    def config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id, CONFIG_KEY: self}}

    def bind(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with this ownership added to its `configurable` (thread_id must match)."""
        configurable = dict(config.get("configurable") or {})
        if str(configurable.setdefault("thread_id", self.thread_id)) != self.thread_id:
            raise ConfigurationError(f"config names thread {configurable['thread_id']!r}, owned: {self.thread_id!r}")
        configurable[CONFIG_KEY] = self
        return {**config, "configurable": configurable}


# Ownerships held in the current context (thread or asyncio task), by thread id: what fences
# the calls that take no config (delete_thread, prune, copy_thread, delete_for_runs).
_HELD: ContextVar[Mapping[str, Ownership] | None] = ContextVar("redis_ckpt_ownership", default=None)


@contextmanager
def holding(ownership: Ownership) -> Iterator[None]:
    reset = _HELD.set({**(_HELD.get() or {}), ownership.thread_id: ownership})
    try:
        yield
    finally:
        _HELD.reset(reset)


def of(thread_id: str, config: Mapping[str, Any] | None = None) -> Ownership | None:
    """The ownership a write to `thread_id` runs under: the config's, else the context's."""
    if config is not None:
        found = (config.get("configurable") or {}).get(CONFIG_KEY)
        if found is not None:
            if not isinstance(found, Ownership) or found.thread_id != thread_id:
                raise ConfigurationError(f"configurable[{CONFIG_KEY!r}] does not own thread {thread_id!r}")
            return found
    return (_HELD.get() or {}).get(thread_id)


def lease_ms(lease: float) -> int:
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease <= 0:
        raise ConfigurationError(f"lease must be a positive number of seconds, got {lease!r}")
    return max(1, int(lease * 1000))


def acquire(layout: KeyLayout, thread_id: str, lease: int) -> Command:
    nonce = secrets.token_hex(8)
    return scripts.call_by_source("acquire", [layout.fence(thread_id), layout.lease(thread_id)], [lease, nonce])


def release(layout: KeyLayout, ownership: Ownership) -> Command:
    return scripts.call_by_source("release", [layout.lease(ownership.thread_id)], [ownership.token])


def check(layout: KeyLayout, ownership: Ownership) -> Command:
    keys = [layout.fence(ownership.thread_id), layout.lease(ownership.thread_id)]
    return scripts.call_by_source("fence", keys, [ownership.token, ownership.lease_ms])


def fenced(
    layout: KeyLayout, ownership: Ownership, commands: Sequence[Command], wait: tuple[int, int] | None = None
) -> list[Command]:
    """The round trip of a fenced write: its replies go to `results`. With `wait=(replicas,
    timeout_ms)` (the saver's wait_replicas), a WAIT follows EXEC, as for unowned writes."""
    trailer: list[Command] = [("WAIT", *wait)] if wait else []
    return [
        ("WATCH", layout.fence(ownership.thread_id)),
        check(layout, ownership),
        ("MULTI",),
        *commands,
        ("EXEC",),
        *trailer,
    ]


def results(ownership: Ownership, replies: Sequence[Any], wait: tuple[int, int] | None = None) -> list[Any]:
    """The EXEC results of a fenced write, or OwnershipLostError if it was refused (then nothing
    of it was applied), or NotReplicatedError if fewer replicas than `wait` asks confirmed it."""
    if wait:
        replies, replicated = replies[:-1], replies[-1]
    checked, executed = replies[1], replies[-1]
    if checked != 1 or executed is None:
        raise OwnershipLostError(
            f"write to thread {ownership.thread_id!r} refused: token {ownership.token} was superseded "
            "(another worker took the thread over); nothing was written"
        )
    if wait:
        check_replicated(replicated, wait)
    return list(executed)
