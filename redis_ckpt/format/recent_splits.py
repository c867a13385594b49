"""The last cut (`chunks.Split`) of each list channel a process put, so that the next version of a
list that grew is cut from where the last one's full chunks end (`chunks.split(typed, previous)`).
Pure: one in-memory cache, no Redis.

It holds the values' bytes, so it is bounded in bytes; a value missing here is cut from scratch
(the same chunks, more work). Nothing here decides what is stored: the cut is checked against the
new value's bytes before any of it is reused.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping

from redis_ckpt.format.chunks import Split

MAX_BYTES = 32 * 1024 * 1024  # of values kept per saver, least recently used (thread, ns) first


class RecentSplits:
    """Per saver: (thread, ns) -> {channel: the last cut of its value}. Thread-safe."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._lock = threading.Lock()
        self._spaces: OrderedDict[tuple[str, str], dict[str, Split]] = OrderedDict()
        self._size, self._max_bytes = 0, max_bytes

    def get(self, thread_id: str, ns: str) -> dict[str, Split]:
        """A copy of the cuts kept for (thread, ns) (empty if none)."""
        with self._lock:
            return dict(self._spaces.get((thread_id, ns), {}))

    def keep(self, thread_id: str, ns: str, splits: Mapping[str, Split]) -> None:
        """Keep the cuts a put just stored, replacing those of the same channels."""
        if not splits:
            return
        key = (thread_id, ns)
        with self._lock:
            space = self._spaces.setdefault(key, {})
            self._spaces.move_to_end(key)
            for channel, cut in splits.items():
                old = space.get(channel)
                self._size += len(cut.data) - (len(old.data) if old is not None else 0)
                space[channel] = cut
            while self._size > self._max_bytes and self._spaces:
                _, dropped = self._spaces.popitem(last=False)
                self._size -= sum(len(c.data) for c in dropped.values())

    def forget(self, thread_id: str, ns: str | None = None) -> None:
        """Drop the cuts of (thread, ns), or of every namespace of the thread."""
        with self._lock:
            for key in [k for k in self._spaces if k[0] == thread_id and (ns is None or k[1] == ns)]:
                self._size -= sum(len(c.data) for c in self._spaces.pop(key).values())
