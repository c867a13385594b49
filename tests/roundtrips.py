"""Counting network round trips: each `send_packed_command` is one write to the server (a whole
pipeline or MULTI/EXEC is sent at once), followed by reading its replies.

The handshake of a newly opened pooled connection (HELLO, CLIENT SETINFO) is counted apart, in
`connects`: how many connections a pool opens depends on thread timing, not on the saver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection


class RoundTrips:
    def __init__(self) -> None:
        self.count = 0
        self.bytes_sent = 0
        self.connects = 0
        self.local = threading.local()
        self.commands: list[bytes] = []
        self._lock = threading.Lock()

    def record(self, packed: Any) -> None:
        with self._lock:
            self.count += 1
            chunks = packed if isinstance(packed, list) else [packed]
            data = b"".join(bytes(c) for c in chunks)
            self.bytes_sent += len(data)
            self.commands.append(data[:80])


@contextmanager
def counting(this_thread_only: bool = False) -> Iterator[RoundTrips]:
    """Count the round trips every redis-py connection in this process makes inside the block, or
    only those of the calling thread (a sync call measured while a graph's background threads
    write too: LangGraph may run a put_writes next to a put)."""
    trips = RoundTrips()
    caller = threading.get_ident()
    original = AbstractConnection.send_packed_command

    original_on_connect = AbstractConnection.on_connect_check_health

    def send(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        mine = not this_thread_only or threading.get_ident() == caller
        if mine and not getattr(trips.local, "connecting", False):
            trips.record(command)
        original(self, command, check_health)

    def on_connect(self: AbstractConnection, check_health: bool = True) -> None:
        trips.local.connecting = True
        trips.connects += 1
        try:
            original_on_connect(self, check_health)
        finally:
            trips.local.connecting = False

    AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    AbstractConnection.on_connect_check_health = on_connect  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
        AbstractConnection.on_connect_check_health = original_on_connect  # type: ignore[method-assign]
