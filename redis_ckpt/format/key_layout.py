"""The Redis key layout. The only module that builds key names (see docs/design.md).

Every key starts with the configured prefix and carries the escaped thread id as its cluster
hash tag, so all keys of one thread live in one slot. Escaping makes (thread, ns, cid) -> key
injective for any string and keeps user text from closing the hash tag early.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from redis_ckpt.errors import ConfigurationError

_ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})
_GLOB_CHARS = "\\*?[]"


@functools.lru_cache(maxsize=4096)  # every operation names a few keys of the same thread
def escape(part: str) -> str:
    """Escape a user string so it can sit between our `:` separators."""
    return part.translate(_ESCAPES)


def unescape(part: str) -> str:
    """Inverse of `escape`."""
    out, i = [], 0
    while i < len(part):
        if part[i] == "%":
            out.append(chr(int(part[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(part[i])
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _thread_tag(thread_id: str) -> str:
    # An empty tag `{}` would make Redis hash the whole key; `%` alone never results from
    # escaping (every escaped `%` is followed by two hex digits), so it is a safe stand-in.
    return "{" + (escape(thread_id) or "%") + "}"


def glob_escape(text: str) -> str:
    """Escape text for use as a literal inside a SCAN MATCH pattern."""
    return "".join("\\" + ch if ch in _GLOB_CHARS else ch for ch in text)


@dataclass(frozen=True)
class KeyLayout:
    """Key names for one deployment (one pair of prefixes)."""

    prefix: str = "checkpoint"
    write_prefix: str = "checkpoint_write"

    def __post_init__(self) -> None:
        for name, value in (("checkpoint_prefix", self.prefix), ("checkpoint_write_prefix", self.write_prefix)):
            if not value or "{" in value or "}" in value:
                raise ConfigurationError(f"{name} must be non-empty and contain no '{{' or '}}': {value!r}")

    # -- per checkpoint -------------------------------------------------------------------
    def checkpoint_prefix(self, thread_id: str, ns: str) -> str:
        """Key of a checkpoint document, minus the checkpoint id (scripts append it)."""
        return f"{self.prefix}:cp:{_thread_tag(thread_id)}:{escape(ns)}:"

    def checkpoint(self, thread_id: str, ns: str, checkpoint_id: str) -> str:
        return self.checkpoint_prefix(thread_id, ns) + checkpoint_id

    # A checkpoint's pending writes are fields of its document's hash (`checkpoint`): a key of
    # their own cost ~100 bytes per checkpoint. Writes stored before lived in a hash of their own
    # under `checkpoint_write_prefix`, which the scripts still read, copy and delete.
    def legacy_writes_prefix(self, thread_id: str, ns: str) -> str:
        """Key of a checkpoint's pending-writes hash as stored before, minus the checkpoint id."""
        return f"{self.write_prefix}:{_thread_tag(thread_id)}:{escape(ns)}:"

    def legacy_writes(self, thread_id: str, ns: str, checkpoint_id: str) -> str:
        return self.legacy_writes_prefix(thread_id, ns) + checkpoint_id

    # -- per (thread, namespace) ------------------------------------------------------------
    def index(self, thread_id: str, ns: str) -> str:
        """The checkpoint ids of (thread, ns), by id: the first page of the index (sorted sets of at
        most 120 ids each; see `index_page`)."""
        return f"{self.prefix}:idx:{_thread_tag(thread_id)}:{escape(ns)}"

    # The index's other pages and their directory are named after the index key: the scripts
    # derive the same names (checkpoint_index in lua/common.lua). An escaped namespace holds no
    # ':', so no other index key starts with `index(...) + ':'`.
    def index_directory(self, thread_id: str, ns: str) -> str:
        """Sorted set of the lower bounds (checkpoint ids) of the index's pages after the first."""
        return self.index(thread_id, ns) + ":d"

    def index_page(self, thread_id: str, ns: str, bound: str) -> str:
        """The index page holding the ids from `bound` up to the next page's bound."""
        return self.index(thread_id, ns) + ":p:" + bound

    def writes_index(self, thread_id: str, ns: str) -> str:
        """Sorted set of the checkpoint ids that have a pending-writes hash."""
        return f"{self.prefix}:widx:{_thread_tag(thread_id)}:{escape(ns)}"

    def blobs(self, thread_id: str, ns: str) -> str:
        """Hash of channel values, one field per (channel, version)."""
        return f"{self.prefix}:blob:{_thread_tag(thread_id)}:{escape(ns)}"

    def chunks(self, thread_id: str, ns: str) -> str:
        """Hash of deduplicated value chunks of (thread, ns), one field per chunk digest."""
        return f"{self.prefix}:chunk:{_thread_tag(thread_id)}:{escape(ns)}"

    def ns_data_keys(self, thread_id: str, ns: str) -> tuple[str, str, str, str]:
        """Every per-(thread, ns) key that is not per checkpoint: index, writes index, blob hash,
        chunk hash. (Per-checkpoint keys are `checkpoint(...)` and `writes(...)` of the ids in the
        two indexes.) Tools that size or copy a namespace use this, so new keys show up there."""
        return (*self.ns_keys(thread_id, ns), self.chunks(thread_id, ns))

    def gc_marks(self, thread_id: str, ns: str) -> tuple[str, str]:
        """Sets of the blob fields and chunk digests an incremental garbage collection of
        (thread, ns) has marked so far (short-lived: deleted at its end, and they expire)."""
        tail = f"{_thread_tag(thread_id)}:{escape(ns)}"
        return f"{self.prefix}:gcf:{tail}", f"{self.prefix}:gcc:{tail}"

    # -- per thread -------------------------------------------------------------------------
    def namespaces(self, thread_id: str) -> str:
        """Set of the raw namespaces a thread has used."""
        return f"{self.prefix}:ns:{_thread_tag(thread_id)}"

    def fence(self, thread_id: str) -> str:
        """The thread's current fencing token (write ownership), '<counter>:<nonce>': replaced by
        each new owner with a higher counter; expires with the thread's TTL and goes with
        delete_thread when no lease is held (docs/design.md, "Write ownership")."""
        return f"{self.prefix}:fence:{_thread_tag(thread_id)}"

    def lease(self, thread_id: str) -> str:
        """The thread's write lease: the holder's token, with a PX expiry."""
        return f"{self.prefix}:lease:{_thread_tag(thread_id)}"

    def ns_keys(self, thread_id: str, ns: str) -> tuple[str, str, str]:
        """The three per-(thread, ns) keys: index, writes index, blob hash."""
        return self.index(thread_id, ns), self.writes_index(thread_id, ns), self.blobs(thread_id, ns)

    # -- deployment-wide --------------------------------------------------------------------
    @property
    def format_marker(self) -> str:
        """The deployment's storage format, a decimal number (redis_ckpt/format/format_version.py): its
        own slot on a cluster; no thread's key matches it (every thread key has a `{tag}`)."""
        return f"{self.prefix}:format"

    @property
    def search_index(self) -> str:
        return f"{self.prefix}:index"

    def node_search_index(self, tag: str) -> str:
        """Search index of one cluster primary: `tag` is chosen so that the name hashes to a slot that
        primary owns (the module has no coordinator; see docs/design.md, "Cluster")."""
        return f"{self.prefix}:index:{{{tag}}}"

    @property
    def search_prefix(self) -> str:
        """Key prefix the search index covers: checkpoint documents only."""
        return f"{self.prefix}:cp:"

    @property
    def scan_patterns(self) -> tuple[str, str]:
        """SCAN MATCH patterns that together cover every key of this deployment (both prefixes)."""
        return glob_escape(self.prefix) + ":*", glob_escape(self.write_prefix) + ":*"

    @property
    def namespaces_scan_pattern(self) -> str:
        """SCAN MATCH pattern for every thread's namespace set (one key per thread)."""
        return glob_escape(f"{self.prefix}:ns:") + "{*}"

    def thread_of_namespaces_key(self, key: str) -> str:
        """Thread id of a key matched by `namespaces_scan_pattern`."""
        tag = key[len(f"{self.prefix}:ns:") :]
        return _thread_of_tag(tag)

    def parse_checkpoint(self, key: str) -> tuple[str, str, str]:
        """(thread_id, ns, checkpoint_id) of a checkpoint document key."""
        rest = key[len(self.search_prefix) :]
        close = rest.index("}")
        ns_escaped, _, checkpoint_id = rest[close + 2 :].partition(":")
        return _thread_of_tag(rest[: close + 1]), unescape(ns_escaped), checkpoint_id


def thread_and_ns_of_namespace_key(key: str) -> tuple[str, str]:
    """(thread_id, ns) of a per-(thread, ns) key (`index`, `blobs`, `chunks`...): the hash tag, then
    `:` and the escaped namespace (a prefix holds no `{`, an escaped thread no `}`)."""
    start = key.index("{")
    close = key.index("}", start)
    return _thread_of_tag(key[start : close + 1]), unescape(key[close + 2 :])


def _thread_of_tag(tag: str) -> str:
    inner = tag[1:-1]
    return "" if inner == "%" else unescape(inner)
