"""What a Redis error means: worth retrying, or a wrong setting to report as a typed error.

Pure functions, no I/O: `kind` names the cause of an error, `typed_error` words it (with facts
about the server that redis_ckpt/redis_io/diagnose.py gathers on the failure path only).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    BusyLoadingError,
    ClusterDownError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_ckpt.errors import (
    AuthenticationFailedError,
    BadDatabaseError,
    NotReplicatedError,
    PermissionDeniedError,
    RedisCheckpointError,
    ServerOutOfMemoryError,
    TLSError,
    TLSMismatchError,
)

# Errors after which the same (idempotent) operation may succeed: lost or refused connections,
# timeouts, a server still loading its data after a restart, a demoted primary after failover,
# a cluster without a primary for some slot yet (CLUSTERDOWN, or a slot map that has none for the
# slot), a slot whose keys are half migrated (TRYAGAIN),
# a write not yet confirmed by the replicas asked for (wait_replicas). Some of these are not
# transient at all (AuthenticationError is a ConnectionError): `kind` tells those apart first.
TRANSIENT_ERRORS = (
    RedisConnectionError, RedisTimeoutError, BusyLoadingError, ReadOnlyError, ClusterDownError, TryAgainError,
    SlotNotCoveredError, NotReplicatedError,
)  # fmt: skip
# What an I/O call can raise that the retry policy looks at (anything else passes through).
CAUGHT = (RedisError, NotReplicatedError)

AUTH, PERMISSION, OOM, BAD_DB, TLS = "auth", "permission", "oom", "bad-db", "tls"
TLS_AT_PLAIN, PLAIN_AT_TLS = "tls-at-plain", "plain-at-tls"  # rediss:// at a plain port, and the reverse
# OpenSSL's reasons when the peer's bytes are not TLS at all (a plain Redis answering "-ERR ...").
_NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
                    "UNKNOWN_PROTOCOL"}  # fmt: skip
_NOT_TLS_TEXT = ("wrong version number", "record layer failure", "packet length too long")


@dataclass(frozen=True)
class ServerFacts:
    """What is cheaply known about the server when an error needs it explained (None: unknown)."""

    db: int | None = None
    databases: int | None = None
    maxmemory: int | None = None
    maxmemory_policy: str | None = None
    used_memory: int | None = None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from or during (redis-py wraps socket and SSL errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 5:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def kind(exc: BaseException) -> str | None:
    """The cause of an error that no retry can fix (AUTH, PERMISSION, OOM, BAD_DB, TLS_AT_PLAIN,
    TLS), or None: transient, or an error the caller handles itself."""
    if isinstance(exc, (AuthenticationError, AuthenticationWrongNumberOfArgsError)):
        return AUTH
    if isinstance(exc, NoPermissionError):
        return PERMISSION
    if isinstance(exc, OutOfMemoryError):
        return OOM
    if isinstance(exc, ResponseError):
        message = str(exc)
        if "DB index is out of range" in message:
            return BAD_DB
        if message.startswith("NOPERM") or " NOPERM " in message:  # from inside a script
            return PERMISSION
        if message.startswith("OOM ") or " OOM " in message:
            return OOM
        return None
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return _tls_kind(exc)
    return None


def _tls_kind(exc: BaseException) -> str | None:
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return TLS
        if isinstance(link, ssl.SSLError) and not isinstance(link, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            reason = str(getattr(link, "reason", "") or "")
            if reason in _NOT_TLS_REASONS or any(t in str(link).lower() for t in _NOT_TLS_TEXT):
                return TLS_AT_PLAIN
            if "ALERT" in reason:  # the server refused our side of the handshake (client certificate)
                return TLS
        if is_handshake_timeout(link):
            return TLS_AT_PLAIN
    return None


def is_handshake_timeout(exc: BaseException) -> bool:
    """A TLS handshake that timed out although the TCP connection was accepted: what a plain
    server does (it waits for the end of an inline command that never comes). A stalled TLS
    server does it too, so diagnose.py trusts it only before any call has succeeded."""
    return any(isinstance(link, TimeoutError) and "handshake" in str(link).lower() for link in _chain(exc))


def may_be_plain_client_at_tls_port(exc: BaseException) -> bool:
    """A connection the server reset or closed before answering: what a TLS port does to a plain
    client (and what a restarting server does too: diagnose.py tells them apart with one probe)."""
    text = str(exc)
    return isinstance(exc, RedisConnectionError) and (
        "Connection reset by peer" in text or "Connection closed by server" in text
    )


def command_summary(command: Sequence[Any]) -> tuple[str, list[str]]:
    """(name, keys) of a command as sent: EVALSHA/EVAL declare their keys, others start with one."""
    name = _text(command[0]).upper() if command else "?"
    if name in ("EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO", "FCALL", "FCALL_RO") and len(command) > 2:
        count = int(command[2])
        return name, [_text(k) for k in command[3 : 3 + count]]
    if name in ("MULTI", "EXEC", "WAIT", "SCRIPT", "PING", "INFO") or len(command) < 2:
        return name, []
    return name, [_text(command[1])]


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _denied(exc: BaseException) -> str:
    """Which command (and keys) the ACL refused, from Redis' message and what wire.py noted."""
    message = str(exc)
    named = re.search(r"permissions to run the '([^']+)' command", message)
    sent: tuple[str, list[str]] | None = getattr(exc, "redis_ckpt_command", None)
    parts = []
    if named:
        parts.append(f"the {named.group(1).upper()} command")
    elif sent:
        parts.append(f"the {sent[0]} command")
    if "access" in message and "key" in message and sent and sent[1]:
        keys = ", ".join(repr(k) for k in sent[1][:3]) + (", ..." if len(sent[1]) > 3 else "")
        parts.append(f"on key(s) {keys}")
    return " ".join(parts) or "a command"


def _mb(value: int) -> str:
    return f"{value / 1024 / 1024:.1f} MB" if value >= 1024 * 1024 else f"{value} bytes"


def typed_error(cause: str, exc: BaseException, where: str, facts: ServerFacts | None = None) -> RedisCheckpointError:
    """The typed error for `exc`, whose cause is `kind(exc)`, saying what to do about it."""
    facts = facts or ServerFacts()
    if cause == AUTH:
        return AuthenticationFailedError(
            f"Redis at {where} refused the credentials ({exc}). Check the user and password in the URL "
            "(redis://user:password@host:port) or in connection_args (username=, password=); "
            "not retried: retrying cannot fix credentials."
        )
    if cause == PERMISSION:
        return PermissionDeniedError(
            f"the Redis ACL user at {where} may not run {_denied(exc)} (Redis said: {exc}). "
            "Run `redis-ckpt --url <the same URL> doctor` to list what the user lacks; docs/security.md has the ACL "
            "rules the saver and the store need. Not retried."
        )
    if cause == OOM:
        limit = f"maxmemory {_mb(facts.maxmemory)}" if facts.maxmemory else "maxmemory"
        used = f", {_mb(facts.used_memory)} used" if facts.used_memory is not None else ""
        policy = f"maxmemory-policy {facts.maxmemory_policy}" if facts.maxmemory_policy else "its maxmemory-policy"
        return ServerOutOfMemoryError(
            f"Redis at {where} is full ({limit}{used}, {policy}) and refused a write; nothing of "
            "that write was applied. Raise maxmemory, free memory (prune old checkpoints or store items, a TTL), "
            "then retry the call."
        )
    if cause == BAD_DB:
        asked = f"db {facts.db}" if facts.db is not None else "the db number in the URL"
        have = (
            f"it has {facts.databases} (0 to {facts.databases - 1})"
            if facts.databases
            else "see `databases` in its redis.conf (16 by default)"
        )
        return BadDatabaseError(
            f"Redis at {where} has no {asked}: {have}. Fix the /db part of the URL (Redis Cluster has db 0 only)."
        )
    if cause in (TLS_AT_PLAIN, PLAIN_AT_TLS):
        if cause == TLS_AT_PLAIN:
            hint = (
                "the URL says rediss:// (TLS) but the port answers in plain text: use redis://, or the "
                "server's TLS port (tls-port in redis.conf)"
            )
        else:
            hint = (
                "the port speaks TLS but the URL says redis://: use rediss:// (with connection_args "
                "ssl_ca_certs=... if its certificate is not publicly trusted)"
            )
        return TLSMismatchError(f"cannot talk to Redis at {where}: {hint}. ({type(exc).__name__}: {exc})")
    return TLSError(
        f"TLS with Redis at {where} failed: {exc}. If the server's certificate is signed by your own CA, pass "
        "connection_args={'ssl_ca_certs': '/path/to/ca.crt'}; if the server wants a client certificate, "
        "ssl_certfile= and ssl_keyfile=. Not retried."
    )
