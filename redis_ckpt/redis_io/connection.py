"""Building a pooled, thread-safe redis-py client from a URL, and redacting URLs for messages.

`redis://host:port?cluster=true` (or `rediss://`) makes a Redis Cluster client; a plain
`redis://` URL of a cluster node is recognised once, here, with one INFO, and gets one too."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from redis_ckpt.errors import ConfigurationError, IncompatibleClientError
from redis_ckpt.redis_io import failures, topology, wire

DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_POOL_TIMEOUT = 20.0
# Connecting includes the TLS handshake, which a plain server never answers (redis-py's default is
# 5 s, and the URL check at construction connects once more): a bad rediss:// URL fails in 3 s.
# Reached Redis servers accept in milliseconds; a connect that times out is retried anyway.
DEFAULT_CONNECT_TIMEOUT = 3.0
_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://")


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for logs and error messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


Client = redis.Redis | RedisCluster


def can_be_cluster(url: str) -> bool:
    """Whether a URL may name a cluster node (not a Unix socket, not a Sentinel service)."""
    return url.startswith(("redis://", "rediss://"))


def cluster_client_from_url(url: str, connection_args: dict[str, Any] | None = None) -> RedisCluster:
    """A cluster client for a `redis://`/`rediss://` URL, whether or not it says `?cluster=true`."""
    return topology.cluster_from_url(topology.wants_cluster(url)[1], _pool_args(connection_args))


def _pool_args(connection_args: dict[str, Any] | None) -> dict[str, Any]:
    args: dict[str, Any] = {"max_connections": DEFAULT_MAX_CONNECTIONS, "timeout": DEFAULT_POOL_TIMEOUT}
    args.update(connection_args or {})
    if "socket_connect_timeout" not in args and "socket_timeout" not in args:  # else redis-py's choice
        args["socket_connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
    if args.get("decode_responses"):
        raise IncompatibleClientError("decode_responses=True is not supported: checkpoints are binary")
    return args


def client_from_url(url: str, connection_args: dict[str, Any] | None = None) -> Client:
    """A client on a BlockingConnectionPool (per node on a cluster): a full pool makes callers wait."""
    if not url.startswith(_SCHEMES):
        raise ConfigurationError(f"unsupported Redis URL {redact_url(url)!r}; use one of {', '.join(_SCHEMES)}")
    args = _pool_args(connection_args)
    if url.startswith("redis+sentinel://"):
        return _sentinel_client(url, args)
    if url.startswith("unix://"):
        return redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url, **args))
    cluster, url = topology.wants_cluster(url)
    if cluster:
        return topology.cluster_from_url(url, args)
    client = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url, **args))
    if server_is_cluster(client, where=redact_url(url)):  # one INFO, here only: the hot path never asks
        client.close()
        client.connection_pool.disconnect()
        return topology.cluster_from_url(url, args)
    return client


def _sentinel_client(url: str, args: dict[str, Any]) -> redis.Redis:
    """`redis+sentinel://[user:pass@]host:port[,host:port...]/service[/db]`."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    hosts = []
    for hostport in netloc.split(","):
        host, _, port = hostport.rpartition(":")
        hosts.append((host or hostport, int(port) if host else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigurationError(f"sentinel URL {redact_url(url)!r} names no service: use /service[/db]")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    auth: dict[str, Any] = {}
    if parts.username:
        auth["username"] = unquote(parts.username)
    if parts.password:
        auth["password"] = unquote(parts.password)
    # redis-py has no blocking Sentinel pool: the pool is bounded, and a caller finding it full
    # gets a ConnectionError, which the saver retries with backoff (so in effect it waits).
    max_connections = args.pop("max_connections")
    args.pop("timeout", None)
    sentinel = Sentinel(hosts, sentinel_kwargs=dict(auth), **auth, **args)  # type: ignore[no-untyped-call]
    client: redis.Redis = sentinel.master_for(service, db=db, max_connections=max_connections)  # type: ignore[no-untyped-call]
    return client


# Connection settings that mean the same on redis-py's asyncio and sync clients. Anything else
# an asyncio pool holds (its connection class, parsers, event hooks) belongs to asyncio.
_PORTABLE_SETTINGS = (
    "host", "port", "db", "username", "password", "credential_provider", "client_name", "path",
    "socket_timeout", "socket_connect_timeout", "socket_keepalive", "retry_on_timeout",
    "health_check_interval", "protocol", "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs",
    "ssl_ca_data", "ssl_check_hostname", "ssl_min_version", "ssl_ciphers",
)  # fmt: skip


def sync_twin(client: Any) -> Client | None:
    """A sync client on its own pool with the settings of a `redis.asyncio` client (the official
    async saver takes one; AsyncRedisSaver runs the sync saver in threads, which cannot share an
    asyncio pool), or None when `client` is not an asyncio client."""
    import redis.asyncio as aredis
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    if isinstance(client, AsyncRedisCluster):
        settings = {k: v for k, v in client.connection_kwargs.items() if k in _PORTABLE_SETTINGS}
        if client.connection_kwargs.get("connection_class") is aredis.SSLConnection:
            settings["ssl"] = True
        nodes = [ClusterNode(node.host, node.port) for node in client.startup_nodes]  # type: ignore[no-untyped-call]
        args = {"connection_pool_class": redis.BlockingConnectionPool, **_pool_args(settings)}
        return RedisCluster(startup_nodes=nodes, **args)
    if not isinstance(client, aredis.Redis):
        return None
    pool = client.connection_pool
    settings = {k: v for k, v in pool.connection_kwargs.items() if k in _PORTABLE_SETTINGS}
    kind = {
        aredis.SSLConnection: redis.SSLConnection,
        aredis.UnixDomainSocketConnection: redis.UnixDomainSocketConnection,
    }
    connection_class = kind.get(pool.connection_class, redis.Connection)
    args = _pool_args(settings)
    pool_ = redis.BlockingConnectionPool(connection_class=connection_class, **args)  # type: ignore[no-untyped-call]
    return redis.Redis(connection_pool=pool_)


def close_client(client: Client) -> None:
    """Close a client this package created, with its pool(s)."""
    client.close()
    if isinstance(client, redis.Redis):
        client.connection_pool.disconnect()


def check_client(client: Any) -> None:
    """Reject clients the saver cannot use: not a sync, pooled `redis.Redis` or `RedisCluster`, or
    decoding values."""
    if isinstance(client, RedisCluster):
        kwargs_ = client.get_connection_kwargs()  # type: ignore[no-untyped-call]
        if kwargs_.get("decode_responses"):
            raise IncompatibleClientError(
                "the redis client has decode_responses=True; pass a client without it (checkpoints are binary)"
            )
        return
    if not isinstance(client, redis.Redis):
        if type(client).__module__.startswith("redis.asyncio"):
            raise IncompatibleClientError(
                f"redis_client is an asyncio client ({type(client).__module__}.{type(client).__qualname__}): "
                "RedisSaver needs a sync redis.Redis or redis.cluster.RedisCluster; AsyncRedisSaver takes "
                "either kind"
            )
        raise IncompatibleClientError(
            f"redis_client must be a redis.Redis (standalone or from a Sentinel) or a redis.cluster.RedisCluster, "
            f"not {type(client).__qualname__}: the saver sends its commands on the client's connection pools "
            "(AsyncRedisSaver takes a sync client too)"
        )
    if getattr(client.connection_pool, "cache", None) is not None:
        raise IncompatibleClientError(
            "the redis client has client-side caching on (cache_config); give the saver a client without it "
            "(checkpoint reads are scripts, which are never cached)"
        )
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}) or {}
    if kwargs.get("decode_responses"):
        raise IncompatibleClientError(
            "the redis client has decode_responses=True; pass a client without it (checkpoints are binary)"
        )


def server_is_cluster(client: redis.Redis, where: str | None = None) -> bool | None:
    """Whether the server behind a standalone client is a cluster node (one `INFO cluster`, one
    attempt), or None when it cannot say (unreachable, or INFO refused by an ACL). Given `where`
    (the redacted URL), a TLS failure is raised as its typed error: a TLS setting that cannot work
    fails at construction, not 30 s of retries later."""
    try:
        reply = wire.execute_on_pool(client.connection_pool, [("INFO", "cluster")])[0]
    except redis.RedisError as exc:
        cause = failures.kind(exc)
        if where is not None and cause in (failures.TLS, failures.TLS_AT_PLAIN):
            client.connection_pool.disconnect()
            raise failures.typed_error(str(cause), exc, where) from exc
        return None
    return topology.cluster_enabled(reply)
