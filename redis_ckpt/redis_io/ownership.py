"""Write ownership (opt-in): the lease and fencing token of a thread, and the fenced form of a
write. No I/O here; see redis_ckpt/sync/saver_ownership.py for the saver side and docs/design.md.

A fenced write is one round trip: `WATCH fence`, `EVAL fence.lua` (is my token still the thread's
current one? renew my lease), `MULTI`, the write's usual commands (plus, with a TTL, the fence's
expiry), `EXEC`. The script makes a refused write's EXEC apply nothing by rewriting the watched
key; a takeover between the script and the EXEC (a new token is SET there) aborts it too. So the
write's commands are those of an unowned write, and a refused one changes nothing.

An ownership belongs to the store it was taken on (`store_of`: server, db, key prefix): it fences
only the writes of savers on that store, never those of a saver on another prefix or database
that happens to write a thread of the same id.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from redis.cluster import RedisCluster

from redis_ckpt.errors import ConfigurationError, OwnershipLostError
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.redis_io import scripts
from redis_ckpt.redis_io.wire import Command, check_replicated

# Key of `configurable` that carries an Ownership through graph.invoke to put and put_writes.
# It starts with "__" so LangGraph never copies it into checkpoint metadata.
CONFIG_KEY = "__redis_ckpt_ownership"


@dataclass(frozen=True)
class Ownership:
    """Write ownership of one thread: the fencing token this worker holds and its lease.

    Pass `config` (or merge `CONFIG_KEY` into your own config) to graph.invoke so that the
    graph's writes are fenced; maintenance calls made inside `saver.own(...)` are fenced too.
    Both only for savers of the store it was taken on (`store_id`); a saver of another store
    refuses the config (ConfigurationError) and is not fenced by the block."""

    thread_id: str
    token: str  # '<counter>:<random nonce>', see lua/acquire.lua
    lease_ms: int
    store_id: str  # where it was taken (`store_of`): it fences writes to that store only

    @property
    def number(self) -> int:
        """The token's counter: each new owner of the thread gets a higher one, until the thread
        is deleted or expires (then it starts over; the token's nonce never repeats)."""
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


def store_of(client: Any, layout: KeyLayout) -> str:
    """Which store a saver's ownership keys live in: its server as the client was configured to
    reach it, database and key prefix. Savers that reach one server by different addresses count
    as different stores: an ownership then fences only the savers built like the one that took
    it, never a foreign one."""
    if isinstance(client, RedisCluster):  # the nodes it knows; a cluster has one database
        return f"cluster:{','.join(sorted(client.nodes_manager.startup_nodes))}/0 {layout.prefix}"
    pool: Any = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    if hasattr(pool, "service_name"):  # Sentinel: the service, as its sentinels name it
        sentinels = ",".join(sorted(_address(s.connection_pool) for s in pool.sentinel_manager.sentinels))
        server = f"sentinel:{pool.service_name}@{sentinels}"
    elif kwargs.get("path") or kwargs.get("host"):
        server = _address(pool)
    else:  # a client of a kind not known here: this client only
        server = f"client:{id(client)}"
    return f"{server}/{kwargs.get('db', 0)} {layout.prefix}"


def _address(pool: Any) -> str:
    kwargs = pool.connection_kwargs
    return f"unix:{kwargs['path']}" if kwargs.get("path") else f"{kwargs.get('host')}:{kwargs.get('port', 6379)}"


# Ownerships held in the current context (thread or asyncio task), by (store, thread id): what
# fences the calls that take no config (delete_thread, prune, copy_thread, delete_for_runs) of
# the savers on that store. A context variable, not a registry of the saver: two Python threads
# sharing one saver must never write with each other's token.
_HELD: ContextVar[Mapping[tuple[str, str], Ownership] | None] = ContextVar("redis_ckpt_ownership", default=None)


@contextmanager
def holding(ownership: Ownership) -> Iterator[None]:
    reset = _HELD.set({**(_HELD.get() or {}), (ownership.store_id, ownership.thread_id): ownership})
    try:
        yield
    finally:
        _HELD.reset(reset)


def of(store_id: str, thread_id: str, config: Mapping[str, Any] | None = None) -> Ownership | None:
    """The ownership a write to `thread_id` on store `store_id` runs under: the config's, else the
    context's.

    An ownership passed in the config for another store is refused (ConfigurationError): fencing
    this store's write with a token issued elsewhere would refuse it for nothing, and leaving it
    unfenced would silently drop the guarantee the caller asked for."""
    if config is not None:
        found = (config.get("configurable") or {}).get(CONFIG_KEY)
        if found is not None:
            if not isinstance(found, Ownership) or found.thread_id != thread_id:
                raise ConfigurationError(f"configurable[{CONFIG_KEY!r}] does not own thread {thread_id!r}")
            if found.store_id != store_id:
                raise ConfigurationError(
                    f"configurable[{CONFIG_KEY!r}] owns thread {thread_id!r} on {found.store_id!r}, but this "
                    f"saver writes to {store_id!r}: take the ownership with the saver that writes the thread"
                )
            return found
    return (_HELD.get() or {}).get((store_id, thread_id))


def lease_ms(lease: float) -> int:
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease <= 0:
        raise ConfigurationError(f"lease must be a positive number of seconds, got {lease!r}")
    return max(1, int(lease * 1000))


def acquire(layout: KeyLayout, thread_id: str, lease: int, ttl_ms: int) -> Command:
    nonce = secrets.token_hex(8)
    keys = [layout.fence(thread_id), layout.lease(thread_id)]
    return scripts.call_by_source("acquire", keys, [lease, nonce, fence_ttl_ms(lease, ttl_ms)])


def fence_ttl_ms(lease_ms: int, ttl_ms: int) -> int:
    """The fence key's expiry, set by every acquire and fenced write when the saver has a TTL
    (else 0: it keeps none): the thread's TTL plus one lease. So it outlives the data those
    writes refresh, and every lease renewed within the TTL of the last one it set: also a lease
    that fence.lua renewed for a write whose EXEC never ran (its connection was cut), which sets
    no expiry. A live lease whose fence expired would refuse its holder. See docs/design.md."""
    return ttl_ms + lease_ms if ttl_ms else 0


def release(layout: KeyLayout, ownership: Ownership) -> Command:
    return scripts.call_by_source("release", [layout.lease(ownership.thread_id)], [ownership.token])


def forget(layout: KeyLayout, thread_id: str) -> Command:
    """delete_thread's last call: drop the fence key once the thread holds no data and no lease."""
    keys = [layout.fence(thread_id), layout.lease(thread_id), layout.namespaces(thread_id)]
    return scripts.call_by_source("forget", keys, [])


def check(layout: KeyLayout, ownership: Ownership) -> Command:
    keys = [layout.fence(ownership.thread_id), layout.lease(ownership.thread_id)]
    return scripts.call_by_source("fence", keys, [ownership.token, ownership.lease_ms])


def fenced(
    layout: KeyLayout,
    ownership: Ownership,
    commands: Sequence[Command],
    wait: tuple[int, int] | None = None,
    ttl_ms: int = 0,
) -> list[Command]:
    """The round trip of a fenced write: its replies go to `results` (given the same `wait` and
    `ttl_ms`). With `wait=(replicas, timeout_ms)` (the saver's wait_replicas), a WAIT follows
    EXEC, as for unowned writes. With `ttl_ms` (the saver's TTL), the transaction also sets the
    fence key's expiry: inside it, since the script must not touch the watched key it lets pass."""
    fence = layout.fence(ownership.thread_id)
    expiry: list[Command] = [("PEXPIRE", fence, fence_ttl_ms(ownership.lease_ms, ttl_ms))] if ttl_ms else []
    trailer: list[Command] = [("WAIT", *wait)] if wait else []
    return [("WATCH", fence), check(layout, ownership), ("MULTI",), *commands, *expiry, ("EXEC",), *trailer]


def results(
    ownership: Ownership, replies: Sequence[Any], wait: tuple[int, int] | None = None, ttl_ms: int = 0
) -> list[Any]:
    """The EXEC results of a fenced write's own commands, or OwnershipLostError if it was refused
    (then nothing of it was applied), or NotReplicatedError if fewer replicas than `wait` asks
    confirmed it."""
    if wait:
        replies, replicated = replies[:-1], replies[-1]
    checked, executed = replies[1], replies[-1]
    if checked != 1 or executed is None:
        raise OwnershipLostError(
            f"write to thread {ownership.thread_id!r} refused: token {ownership.token} was superseded "
            "(another worker took the thread over, or the thread was deleted); nothing was written"
        )
    if wait:
        check_replicated(replicated, wait)
    return list(executed[:-1] if ttl_ms else executed)
