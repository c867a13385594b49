"""Explaining a failed call: the typed error for it, with facts asked of the server if needed.

Runs on the failure path only (never after a success), and each lookup is bounded: one INFO
for a full server, one CONFIG GET on db 0 for a missing db, one TLS handshake probe when a
plain connection was reset before any call succeeded.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Any

import redis

from redis_ckpt.redis_io import failures
from redis_ckpt.redis_io.failures import ServerFacts

PROBE_TIMEOUT = 1.0  # seconds for each lookup: an explanation must not become a second outage


def explain(client: Any, where: str, error: BaseException, never_reached: bool) -> Exception | None:
    """The typed error to raise instead of `error`, or None (retry it if transient).
    `never_reached`: no call has succeeded yet (only then may a reset connection be a TLS port)."""
    cause = failures.kind(error)
    if cause is None:
        if never_reached and failures.may_be_plain_client_at_tls_port(error) and _speaks_tls(client):
            return failures.typed_error(failures.PLAIN_AT_TLS, error, where)
        return None
    if cause == failures.TLS_AT_PLAIN and not never_reached and failures.is_handshake_timeout(error):
        return None  # this server answered TLS before: a stall, retried like any timeout
    facts = None
    if cause == failures.OOM:
        facts = _memory_facts(client)
    elif cause == failures.BAD_DB:
        facts = _database_facts(client)
    return failures.typed_error(cause, error, where, facts)


def _standalone_kwargs(client: Any) -> dict[str, Any] | None:
    """The connection settings of a standalone TCP client (not a cluster, Sentinel or socket one)."""
    pool = getattr(client, "connection_pool", None)
    kwargs = dict(getattr(pool, "connection_kwargs", None) or {})
    if "host" not in kwargs or "path" in kwargs or type(pool).__name__.startswith("Sentinel"):
        return None
    return kwargs


def _memory_facts(client: Any) -> ServerFacts | None:
    if not isinstance(client, redis.Redis):
        return None
    try:
        info = client.info("memory")
    except redis.RedisError:  # INFO refused by the ACL: say less
        return None
    return ServerFacts(
        maxmemory=int(info.get("maxmemory", 0)) or None,
        maxmemory_policy=str(info.get("maxmemory_policy") or "") or None,
        used_memory=int(info["used_memory"]) if "used_memory" in info else None,
    )


def _database_facts(client: Any) -> ServerFacts:
    """The db asked for, and how many the server has (asked on db 0: the asked one cannot be used)."""
    kwargs = _standalone_kwargs(client) or {}
    db = kwargs.get("db")
    databases = None
    if kwargs:
        pool = client.connection_pool
        settings = {**kwargs, "db": 0, "socket_timeout": PROBE_TIMEOUT, "socket_connect_timeout": PROBE_TIMEOUT}
        probe = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **settings))
        with contextlib.suppress(redis.RedisError, ValueError, KeyError):
            databases = int(str(probe.config_get("databases")["databases"]))
        probe.close()
        probe.connection_pool.disconnect()
    return ServerFacts(db=int(db) if db is not None else None, databases=databases)


def _speaks_tls(client: Any) -> bool:
    """Whether a plain client's port completes a TLS handshake (certificate not checked: only
    whether the port speaks TLS at all)."""
    kwargs = _standalone_kwargs(client)
    if kwargs is None or issubclass(client.connection_pool.connection_class, redis.SSLConnection):
        return False  # not plain TCP, or already TLS
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        address = (kwargs["host"], int(kwargs.get("port", 6379)))
        with (
            socket.create_connection(address, PROBE_TIMEOUT) as sock,
            context.wrap_socket(sock, server_hostname=str(kwargs["host"])),
        ):
            return True
    except (OSError, ValueError):
        return False
