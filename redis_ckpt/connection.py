"""Building a pooled, thread-safe redis-py client from a URL, and redacting URLs for messages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from redis_ckpt.errors import ConfigurationError, IncompatibleClientError

DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_POOL_TIMEOUT = 20.0
_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://")


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for logs and error messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def client_from_url(url: str, connection_args: dict[str, Any] | None = None) -> redis.Redis:
    """A client on a BlockingConnectionPool: a full pool makes callers wait, not fail."""
    if not url.startswith(_SCHEMES):
        raise ConfigurationError(f"unsupported Redis URL {redact_url(url)!r}; use one of {', '.join(_SCHEMES)}")
    args: dict[str, Any] = {"max_connections": DEFAULT_MAX_CONNECTIONS, "timeout": DEFAULT_POOL_TIMEOUT}
    args.update(connection_args or {})
    if args.get("decode_responses"):
        raise IncompatibleClientError("decode_responses=True is not supported: checkpoints are binary")
    if url.startswith("redis+sentinel://"):
        return _sentinel_client(url, args)
    return redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url, **args))


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
    auth = {}
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


def check_client(client: Any) -> None:
    """Reject clients the saver cannot use: not a sync, pooled `redis.Redis`, or decoding values."""
    if not isinstance(client, redis.Redis):
        raise IncompatibleClientError(
            f"redis_client must be a redis.Redis (standalone or from a Sentinel), not {type(client).__qualname__}: "
            "the saver sends its commands on the client's connection pool (AsyncRedisSaver takes a sync client "
            "too; Redis Cluster clients are not supported)"
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
