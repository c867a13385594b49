"""The saver's hot path to Redis: commands packed together, written once on a pooled connection,
their replies read back raw.

Why not `redis.Redis.execute_command`: per call it adds 15-20 µs on the benchmark machine
(redis-py's own retry wrapper, observability hooks, response callbacks), a sixth of a loopback
round trip. The saver needs none of it: it retries in `SaverCore._io` and parses its replies
itself. Connections still come from the client's pool, so pool limits, Sentinel failover, TLS,
authentication and health checks are the pool's; like redis-py's own command path, a connection
that failed mid-call is disconnected before it goes back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.cluster import RedisCluster
from redis.connection import AbstractConnection
from redis.exceptions import ResponseError

from redis_ckpt.errors import NotReplicatedError
from redis_ckpt.format import format_version
from redis_ckpt.redis_io import failures, topology

_hiredis_pack: Callable[[tuple[Any, ...]], Any] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a declared dependency; stay correct without it
    _hiredis_pack = None

Command = Sequence[Any]  # name and arguments: str, bytes, int or float


def pack(connection: AbstractConnection, command: Command) -> bytes:
    """The RESP encoding of one command (str arguments as UTF-8, like redis-py's own packer)."""
    if _hiredis_pack is not None:
        return bytes(_hiredis_pack(tuple(command)))
    return b"".join(connection.pack_command(*command))  # type: ignore[no-untyped-call]


def execute(client: Any, commands: Sequence[Command]) -> list[Any]:
    """Send `commands` in one write and return their replies in order: one round trip.

    A reply that is an error is raised once every reply has been read (the first error wins), so
    the connection goes back to the pool clean. Any other failure (timeout, lost connection,
    interruption) disconnects it before it goes back: replies still in flight must never reach
    the next caller. (Sentinel connections do not disconnect on a read timeout by themselves.)

    On a cluster client, the batch goes to the primary owning its first key's slot (every key of
    a batch shares that slot), following MOVED and ASK (redis_ckpt/redis_io/topology.py)."""
    if isinstance(client, RedisCluster):
        return topology.routed(client, commands, execute_on_pool)
    return execute_on_pool(client.connection_pool, commands)


def execute_on_pool(pool: Any, commands: Sequence[Command]) -> list[Any]:
    """`execute` on one connection pool (a standalone server's, or one cluster node's)."""
    connection = pool.get_connection()
    try:
        replies: list[Any] = []
        error: Exception | None = None
        try:
            connection.send_packed_command([b"".join(pack(connection, c) for c in commands)])
            for command in commands:
                try:
                    replies.append(connection.read_response())
                except ResponseError as exc:  # the parser has consumed it: later replies stay readable
                    if error is None:
                        # What an ACL refused is named by this command (Redis' message may not say).
                        exc.redis_ckpt_command = failures.command_summary(command)  # type: ignore[attr-defined]
                        error = reply_error(exc)
                    replies.append(exc)
        except BaseException:
            connection.disconnect()
            raise
        if error is not None:
            raise error
        return replies
    finally:
        pool.release(connection)


def transaction(client: Any, commands: Sequence[Command], wait: tuple[int, int] | None = None) -> list[Any]:
    """`commands` inside MULTI/EXEC, in one round trip; their results in order.

    If Redis refuses a command while queueing it (out of memory, a malformed command), EXEC
    aborts and nothing is applied. An error a command meets while running (WRONGTYPE on a
    foreign key) does not undo the others, as with any Redis transaction; it is raised after EXEC.
    With `wait=(replicas, timeout_ms)`, a WAIT follows EXEC in the same write: the call returns
    once that many replicas have the transaction, or raises NotReplicatedError."""
    batch: list[Command] = [("MULTI",), *commands, ("EXEC",)]
    if wait:
        batch.append(("WAIT", *wait))
    replies = execute(client, batch)
    results: list[Any] = replies[len(commands) + 1]
    for result in results:
        if isinstance(result, ResponseError):
            raise reply_error(result)
    if wait:
        check_replicated(replies[-1], wait)
    return results


def check_replicated(reply: Any, wait: tuple[int, int]) -> None:
    """Raise NotReplicatedError unless WAIT's `reply` counts the replicas `wait` asked for."""
    if int(reply) < wait[0]:
        raise NotReplicatedError(f"{reply} of {wait[0]} replica(s) confirmed the write within {wait[1]} ms")


def reply_error(error: ResponseError) -> Exception:
    """A script's error reply in the form the saver acts on: a refusal over the storage format as
    FormatTooNewError, a slot migration in progress as TRYAGAIN (retried), else unchanged."""
    return format_version.refusal(error) or topology.transient_form(error)
