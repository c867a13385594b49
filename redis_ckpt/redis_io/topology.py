"""Redis Cluster: recognising one, building its client, and routing the saver's packed commands.

Every key of a thread shares one hash slot (redis_ckpt.format.key_layout), so each batch the saver sends
(one MULTI/EXEC, or pipelined script calls) belongs to one slot: it goes, as on a standalone
server, in one write on a pooled connection, here of the primary that owns the slot. Redirects are
followed the way the cluster asks: MOVED updates the slot map and resends; ASK resends once to the
importing node behind ASKING. Lost connections refresh the slot map before the caller's retry
(a failover moves every slot of the dead primary at once).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_ckpt.errors import ConfigurationError, IncompatibleClientError

T = TypeVar("T")
Command = Sequence[Any]
MAX_REDIRECTS = 5  # a slot moving more often than this in one call is a resharding storm: retry later
_NO_KEY_COMMANDS = frozenset({"MULTI", "EXEC", "ASKING", "SCRIPT"})
_TRUE = ("1", "true", "yes", "on")


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


def wants_cluster(url: str) -> tuple[bool, str]:
    """(whether the URL asks for a cluster client with `?cluster=true`, the URL without that option)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flag = [v for k, v in query if k == "cluster"]
    rest = urlencode([(k, v) for k, v in query if k != "cluster"])
    return bool(flag) and flag[-1].lower() in _TRUE, urlunsplit(parts._replace(query=rest))


def cluster_from_url(url: str, args: dict[str, Any]) -> RedisCluster:
    """A cluster client whose per-node pools are blocking pools of `max_connections` each."""
    args = dict(args)
    args.setdefault("connection_pool_class", redis.BlockingConnectionPool)
    return RedisCluster.from_url(url, **args)


def cluster_enabled(info_reply: Any) -> bool:
    """Whether an `INFO cluster` reply says the server is a cluster node."""
    text = info_reply.decode(errors="replace") if isinstance(info_reply, bytes) else str(info_reply)
    return "cluster_enabled:1" in text


def cluster_node_error(where: str) -> IncompatibleClientError:
    return IncompatibleClientError(
        f"{where} is a Redis Cluster node, but the saver was given a standalone client: keys of threads in "
        "other nodes' slots would fail and cross-thread queries would see one node only. Pass a "
        "redis.cluster.RedisCluster client, or a URL with ?cluster=true (a plain URL is detected and switched)."
    )


# What a cluster node answers a script that touches keys it did not declare (the documents of its
# thread, same slot) while that slot is being migrated: the keys are, or may be, elsewhere for now.
_MIGRATION_SCRIPT_ERRORS = ("script attempted to access a non local key", "during rehashing of the slot")


def transient_form(error: ResponseError) -> ResponseError:
    """A script error that only a slot migration in progress causes, as the TRYAGAIN it means (the
    saver retries it; the migration ends, the slot's new owner answers). Other errors unchanged."""
    text = str(error).lower()
    if any(marker in text for marker in _MIGRATION_SCRIPT_ERRORS):
        return TryAgainError(f"slot migration in progress: {error}")
    return error


def first_key(commands: Sequence[Command]) -> Any:
    """The key that decides where a batch goes: the first key of its first keyed command."""
    for command in commands:
        name = command[0].upper() if isinstance(command[0], str) else command[0].decode().upper()
        if name in _NO_KEY_COMMANDS:
            continue
        if name in ("EVALSHA", "EVAL"):
            if int(command[2]) > 0:
                return command[3]
            continue
        return command[1]
    raise ConfigurationError("a command batch without keys cannot be routed on a cluster")


def _with_asking(commands: Sequence[Command]) -> list[Command]:
    """ASKING before each command; before a MULTI once (the flag lasts for the whole transaction)."""
    if commands and str(commands[0][0]).upper() == "MULTI":
        return [("ASKING",), *commands]
    return [c for command in commands for c in (("ASKING",), command)]


def _replies_without_asking(commands: Sequence[Command], replies: list[Any]) -> list[Any]:
    if commands and str(commands[0][0]).upper() == "MULTI":
        return replies[1:]
    return replies[1::2]


def node_of(client: RedisCluster, key: Any) -> ClusterNode:
    """The primary owning `key`'s slot, per the client's slot map."""
    node: ClusterNode = client.nodes_manager.get_node_from_slot(client.keyslot(key))  # type: ignore[no-untyped-call]
    return node


def pool_of(client: RedisCluster, node: ClusterNode) -> Any:
    return client.get_redis_connection(node).connection_pool


def routed(client: RedisCluster, commands: Sequence[Command], send: Callable[[Any, Sequence[Command]], T]) -> T:
    """`send(pool, commands)` on the pool of the node owning the batch's slot, following redirects."""
    key = first_key(commands)
    target: ClusterNode | None = None
    for _ in range(MAX_REDIRECTS):
        node = target or node_of(client, key)
        try:
            if target is None:
                return send(pool_of(client, node), commands)
            replies: Any = send(pool_of(client, node), _with_asking(commands))
            return _replies_without_asking(commands, replies)  # type: ignore[return-value]
        except MovedError as exc:
            client.nodes_manager.move_slot(exc)
            target = None
        except AskError as exc:
            target = _node_at(client, exc.host, exc.port)
        except (RedisConnectionError, RedisTimeoutError, ClusterDownError, SlotNotCoveredError):
            refresh(client)
            raise
    raise TryAgainError(f"slot of {key!r} kept moving ({MAX_REDIRECTS} redirects)")


def _node_at(client: RedisCluster, host: str, port: int) -> ClusterNode:
    node = client.nodes_manager.get_node(host=host, port=int(port))
    if node is None:  # a node the slot map does not know yet
        refresh(client)
        node = client.nodes_manager.get_node(host=host, port=int(port))
    if node is None:
        raise TryAgainError(f"ASK redirect to unknown node {host}:{port}")
    return node


def refresh(client: RedisCluster) -> None:
    """Reload the slot map from any reachable node; the caller's retry then goes to the new owner."""
    # No node reachable yet (RedisClusterException): the caller's retry asks again later.
    with contextlib.suppress(redis.RedisError, RedisClusterException):
        client.nodes_manager.initialize()


def tag_in_slots_of(client: RedisCluster, node: ClusterNode, name_of: Callable[[str], str]) -> str:
    """The smallest decimal tag whose `name_of(tag)` hashes to a slot `node` owns now."""
    for i in range(1_000_000):
        if node_of(client, name_of(str(i))).name == node.name:
            return str(i)
    raise SlotNotCoveredError(f"{node.name} owns no slot")


def primaries(client: RedisCluster) -> list[ClusterNode]:
    nodes: list[ClusterNode] = client.get_primaries()  # type: ignore[no-untyped-call]
    return sorted(nodes, key=lambda n: n.name)
