"""Saver options: TTL and retry policy. Parsed once, immutable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis_ckpt.errors import ConfigurationError


@dataclass(frozen=True)
class TTLConfig:
    """Expiry of a thread's keys. `seconds=None` means keys never expire."""

    seconds: int | None = None
    refresh_on_read: bool = False

    @classmethod
    def parse(cls, ttl: Mapping[str, Any] | None) -> TTLConfig:
        """Accept the official saver's shape: {"default_ttl": minutes, "refresh_on_read": bool}."""
        if not ttl:
            return cls()
        unknown = set(ttl) - {"default_ttl", "refresh_on_read"}
        if unknown:
            raise ConfigurationError(f"unknown ttl option(s) {sorted(unknown)}; use default_ttl, refresh_on_read")
        minutes = ttl.get("default_ttl")
        if minutes is None:
            return cls(None, bool(ttl.get("refresh_on_read", False)))
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
            raise ConfigurationError(f"ttl default_ttl must be a positive number of minutes, got {minutes!r}")
        return cls(max(1, int(minutes * 60)), bool(ttl.get("refresh_on_read", False)))

    @property
    def read_refresh_seconds(self) -> int:
        """TTL the read scripts apply to what they read (0 = leave TTLs alone)."""
        return self.seconds if self.seconds and self.refresh_on_read else 0


@dataclass(frozen=True)
class RetryConfig:
    """Retries of transient errors (lost or refused connections, timeouts, a restarting or
    failing-over server): every operation of the saver and the store is idempotent.

    An operation is retried until it succeeds or `deadline` seconds have passed since its first
    failure (30 s rides out a restart or a failover), waiting between attempts `initial_wait`
    seconds at first, doubling up to `max_wait`, with jitter. `attempts`, if given, caps the tries
    in all as well (None: as many as fit in the deadline). Errors no retry can fix (credentials,
    ACL, out of memory, a missing db, TLS mismatch) are never retried. Pass `retry=None` to the
    saver or the store to turn retries off.
    """

    attempts: int | None = None
    initial_wait: float = 0.05
    max_wait: float = 1.0
    deadline: float = 30.0

    def __post_init__(self) -> None:
        if (
            (self.attempts is not None and self.attempts < 1)
            or self.initial_wait < 0
            or self.max_wait < self.initial_wait
            or self.deadline < 0
        ):
            raise ConfigurationError(f"invalid retry policy {self!r}")


DEFAULT_RETRY = RetryConfig()
