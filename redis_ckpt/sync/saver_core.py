"""State and I/O shared by every part of the sync saver: client, layout, scripts, retries."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from redis.cluster import RedisCluster
from redis.exceptions import MovedError, ResponseError
from typing_extensions import Self

from redis_ckpt.config import DEFAULT_RETRY, RetryConfig, TTLConfig
from redis_ckpt.errors import ConfigurationError, ReadConflictError
from redis_ckpt.format import chunks, format_version, known_chunks
from redis_ckpt.format.checkpoint_codec import materialize_ancestor, materialize_entry, meta_entry
from redis_ckpt.format.compression import dictionaries_needed, dictionary_digest, dictionary_field, unpack_chunk
from redis_ckpt.format.encoding import text
from redis_ckpt.format.encryption import NO_ENCRYPTION, Encryption, Sealer, chunk_context
from redis_ckpt.format.key_layout import KeyLayout
from redis_ckpt.format.read_entries import Ancestor, Chunks, Completable, DeltaReply, delta_reply, load_reply
from redis_ckpt.format.recent_splits import RecentSplits
from redis_ckpt.format.resolved_records import ResolvedRecords, known_argument, put_back
from redis_ckpt.redis_io import observe, read_completion, scripts, search, topology, wire
from redis_ckpt.redis_io.connection import (
    Client,
    can_be_cluster,
    check_client,
    client_from_url,
    close_client,
    cluster_client_from_url,
    redact_url,
    server_is_cluster,
)
from redis_ckpt.redis_io.failures import TRANSIENT_ERRORS
from redis_ckpt.redis_io.observe import Observed
from redis_ckpt.redis_io.retry import Retried

logger = logging.getLogger("redis_ckpt")
READ_ATTEMPTS = 5  # delta walks re-run when a deletion races them (see _walk_with_values)
Group = tuple[str, str, "list[str] | None"]  # (thread, ns, candidate ids or None for all)

__all__ = ["TRANSIENT_ERRORS", "SaverCore"]  # TRANSIENT_ERRORS lives in redis_ckpt/redis_io/failures.py


def thread_and_ns(config: Mapping[str, Any]) -> tuple[str, str]:
    """(thread_id, checkpoint_ns) of a config; a missing thread_id is a typed error."""
    configurable = config.get("configurable") or {}
    thread_id = configurable.get("thread_id")
    if thread_id is None:
        raise ConfigurationError('config["configurable"]["thread_id"] is required')
    return key_text("thread_id", thread_id), key_text("checkpoint_ns", configurable.get("checkpoint_ns") or "")


def key_text(name: str, value: Any) -> str:
    """`value` as the text that goes into key names: any string that has a UTF-8 form."""
    text_ = str(value)
    if not text_.isascii():  # a lone surrogate has no UTF-8 form
        try:
            text_.encode()
        except UnicodeEncodeError as exc:
            raise ConfigurationError(f"{name} {text_!r} is not valid Unicode text: {exc.reason}") from exc
    return text_


class SaverCore(Retried, Observed, BaseCheckpointSaver[str]):
    """Connection, key layout, scripts, retries (Retried) and the observer hook (Observed)."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        redis_client: Client | None = None,
        connection_args: dict[str, Any] | None = None,
        ttl: Mapping[str, Any] | None = None,
        checkpoint_prefix: str = "checkpoint",
        checkpoint_write_prefix: str = "checkpoint_write",
        serde: SerializerProtocol | None = None,
        retry: RetryConfig | None = DEFAULT_RETRY,
        compress: bool = True,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        encryption: Encryption | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if encryption is not None and not isinstance(encryption, Encryption):
            raise ConfigurationError(f"encryption must be a redis_ckpt.Encryption, got {type(encryption).__name__}")
        # Encryption at rest of every stored piece, after deduplication and compression
        # (redis_ckpt/format/encryption.py); without it, a sealed piece read is a typed error.
        self.encryption = encryption
        self._sealer: Sealer = encryption if encryption is not None else NO_ENCRYPTION
        if isinstance(serde, EncryptedSerializer):
            logger.warning(
                "redis-ckpt: serde is LangGraph's EncryptedSerializer: every value is stored as opaque "
                "ciphertext, so nothing is deduplicated or compressed and a thread's memory grows with the "
                "square of its length. encryption=redis_ckpt.Encryption(...) with the inner serializer "
                "(serde=%s) encrypts after deduplication instead (docs/security.md)",
                type(serde.serde).__name__,
            )
        if redis_client is None and redis_url is None:
            raise ConfigurationError("pass redis_url or redis_client")
        self.layout = KeyLayout(checkpoint_prefix, checkpoint_write_prefix)
        self.ttl = TTLConfig.parse(ttl)
        if isinstance(wait_replicas, bool) or not isinstance(wait_replicas, int) or wait_replicas < 0:
            raise ConfigurationError(f"wait_replicas must be an integer >= 0, got {wait_replicas!r}")
        if isinstance(wait_timeout_ms, bool) or not isinstance(wait_timeout_ms, int) or wait_timeout_ms <= 0:
            raise ConfigurationError(f"wait_timeout_ms must be a positive integer, got {wait_timeout_ms!r}")
        # put and put_writes return only once this many replicas have them (WAIT, same round trip).
        self._wait = (wait_replicas, wait_timeout_ms) if wait_replicas else None
        self._owns_client = redis_client is None
        self._client: Client = redis_client or client_from_url(str(redis_url), connection_args)
        self._url, self._connection_args = redis_url, connection_args
        check_client(self._client)
        self._where = redact_url(redis_url) if redis_url else "the given redis client"
        self._start_retrying(retry, logger, on_retry=observe.retrying)
        self._search_ready = False
        self.compress = compress
        self._known = known_chunks.KnownChunks()
        self._expanded = chunks.ExpandedChunks()
        self._resolved = ResolvedRecords()
        self._splits = RecentSplits()
        # The format this saver writes, from the deployment marker: read (and recorded where
        # missing) by setup() or before the first write, once (docs/design.md, "Storage format").
        self._format: int | None = None
        self.resends = 0  # puts sent twice because what they relied on was gone (a counter for tests)
        self._search_ready_on: tuple[str, ...] = ()  # cluster: the (node, index) pairs found ready
        # A standalone client may point at a cluster node (a caller's client; or the server was not
        # reachable when the URL was checked): asked once more, at setup or at the first
        # cross-thread call. Unix sockets and Sentinel services are never cluster nodes.
        self._topology_checked = topology.is_cluster(self._client) or (
            self._owns_client and not can_be_cluster(str(redis_url))
        )

    @property
    def client(self) -> Client:
        return self._client

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_cluster(self) -> bool:
        return topology.is_cluster(self._client)

    def close(self) -> None:
        """Close the connection pool(s) if this saver created them."""
        if self._owns_client:
            close_client(self._client)

    def _check_topology(self) -> None:
        """A standalone client of a cluster node: replaced by a cluster client if the saver built it
        from a URL, else refused, before anything cross-thread half-works. One INFO, once."""
        if self._topology_checked:
            return
        if self._io(server_is_cluster, self._client):
            if not self._owns_client:
                raise topology.cluster_node_error(self._where)
            standalone = self._client
            self._client = cluster_client_from_url(str(self._url), self._connection_args)
            assert isinstance(standalone, redis.Redis)
            standalone.close()
            standalone.connection_pool.disconnect()
        self._topology_checked = True

    # -- storage format ---------------------------------------------------------------------
    def _record_format(self) -> int:
        """Record the format this release writes by default where the deployment has no marker
        yet, and read the marker: one round trip (the marker is one key, one slot)."""
        marker = self.layout.format_marker
        commands = [("SET", marker, format_version.DEFAULT, "NX"), ("GET", marker)]
        found = format_version.parse(self._io(wire.execute, self._client, commands)[1])
        self._format = format_version.DEFAULT if found is None else found
        return self._format

    def _check_writable(self) -> None:
        """Refuse a write, before it sends anything, when the deployment's marker names a format
        this release does not write (FormatTooNewError). Costs a round trip once per saver, when
        setup() was not called."""
        found = self._format if self._format is not None else self._record_format()
        format_version.check_writable(found, self.layout.prefix)

    def storage_format(self) -> dict[str, Any]:
        """The deployment's storage format (None where nothing recorded it yet) and the formats
        this release reads and writes. Writes nothing."""
        found = format_version.parse(self._io(self._client.get, self.layout.format_marker))  # type: ignore[arg-type]
        return {
            "deployment": found,
            "reads": sorted(format_version.READS),
            "writes": sorted(format_version.WRITES),
        }

    def raise_storage_format(self, wanted: int) -> int:
        """Set the deployment's storage format to `wanted` (only once every worker reads it: see
        docs/upgrading.md). Refused unless this release writes `wanted`; never lowers it.
        Returns the format now recorded."""
        current = self.storage_format()["deployment"]
        format_version.check_raise(current, wanted, self.layout.prefix)
        self._io(self._client.set, self.layout.format_marker, wanted)
        self._format = wanted
        return wanted

    # -- I/O (`_io`, the retrying primitive, is Retried's: redis_ckpt/redis_io/retry.py) -----
    def _explain(self, error: BaseException, never_reached: bool) -> Exception | None:
        if isinstance(error, MovedError):  # a standalone client of a cluster node (a cluster client follows it)
            # On a cluster client: a per-node search index whose name's slot just moved; it passes
            # through (not transient), and the caller scans.
            return None if self.is_cluster else topology.cluster_node_error(self._where)
        return super()._explain(error, never_reached)

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return self._io(scripts.run, self._client, [(name, keys, args)])[0]

    def _transaction(self, commands: list[Any]) -> list[Any]:
        """Run a write's commands in MULTI/EXEC: one round trip, all or nothing queued."""
        return self._io(scripts.execute, self._client, commands, transaction=True, wait=self._wait)

    def _load(
        self, thread_id: str, ns: str, mode: str, what: str, count: int, *rest: str, tags: str = ""
    ) -> tuple[str, list[Any]]:
        """Run the `load` script on one (thread, ns): (cursor, entries: LoadedEntry, or MetaEntry
        in 'meta' mode); see redis_ckpt/redis_io/lua/load.lua. The read pipeline: the script, the
        completion step (`_complete`), decoding."""
        keys = self._read_keys(thread_id, ns)
        have = self._known.dictionaries(thread_id, ns)
        # Records this process resolved already: the script leaves them (and their chunks) to us.
        hints = self._resolved.hints(thread_id, ns, mode, count, rest) if what == "full" else {}
        args = [
            self.layout.checkpoint_prefix(thread_id, ns),
            self.layout.legacy_writes_prefix(thread_id, ns),
            self.ttl.read_refresh_seconds,
            mode,
            what,
            count,
            tags,
            b"".join(have),
            known_argument(hints),
            *rest,
        ]
        reply = load_reply(self._script("load", keys, args), what)
        dictionaries = {**have, **self._learn_dictionaries(thread_id, ns, reply.dictionaries)}
        if what == "meta":
            return reply.cursor, [meta_entry(e, dictionaries, self._sealer) for e in reply.entries]
        entries, known_digests = put_back(reply.entries, hints)
        chunks = reply.chunks
        if known_digests:  # their chunks come from this saver's cache, else from the completion step
            chunks = chunks._replace(deferred=[*chunks.deferred, *known_digests])
        entries, found = self._complete(thread_id, ns, entries, chunks, dictionaries)
        loaded = [materialize_entry(e, found, dictionaries, self._sealer) for e in entries]
        self._known.after_load(thread_id, ns, found)
        return reply.cursor, loaded

    def _learn_dictionaries(self, thread_id: str, ns: str, flat: Sequence[bytes]) -> dict[bytes, bytes]:
        """The namespace dictionaries a read script returned (flat {field, stored, ...}), learnt. A
        missing one (its namespace deleted while read) leaves its documents unreadable: retry."""
        found: dict[bytes, bytes] = {}
        for field, stored in zip(flat[::2], flat[1::2]):
            if not stored:
                raise ReadConflictError("a namespace dictionary was deleted while read; retry")
            found[dictionary_digest(field)] = unpack_chunk(self._sealer.open(stored, chunk_context(field)))
        if found:
            self._known.learn_dictionaries(thread_id, ns, found)
        return found

    def _complete(
        self,
        thread_id: str,
        ns: str,
        items: Sequence[Completable],
        reply_chunks: Chunks,
        dictionaries: Mapping[bytes, bytes],
    ) -> tuple[list[Completable], dict[bytes, bytes]]:
        """The completion step between a read script and decoding (redis_ckpt/redis_io/read_completion.py):
        (the entries or ancestors with their large values read in, those whose document was
        deleted since the script ran left out; every chunk they need, raw, by digest). No round
        trip when the script left nothing out (the common case), else one."""
        found = self._expanded.expand(reply_chunks.returned, dictionaries, self._open_chunk)
        found.update(self._expanded.cached(reply_chunks.deferred))
        wanted = read_completion.missing(items, found, reply_chunks.deferred)
        if wanted is None:
            return list(items), found
        read = self._read_missing(thread_id, ns, wanted)
        if lacking := dictionaries_needed(read.chunks.values()) - dictionaries.keys():
            # Chunks compressed with a namespace dictionary this process had not seen: the one case
            # of a third round trip (once per process and dictionary). Which dictionary they need
            # is known only once they are read, and Lua never saw them (load.lua defers them).
            fetched = self._read_dictionaries(thread_id, ns, sorted(lacking))
            if fetched is None:  # deleted since: a dictionary goes only with its namespace's last checkpoint
                read = dataclasses.replace(read, alive=dict.fromkeys(read.alive, False))
            else:
                dictionaries = {**dictionaries, **fetched}
        if read.chunks and any(read.alive.values()):
            found.update(self._expanded.expand(read.chunks, dictionaries, self._open_chunk))
        return read_completion.fill(items, wanted, read), found

    def _open_chunk(self, digest: bytes, stored: bytes) -> bytes:
        return self._sealer.open(stored, chunk_context(digest))

    def _read_missing(self, thread_id: str, ns: str, wanted: read_completion.Missing) -> read_completion.Read:
        """What a read script left out, and whether the documents needing it still exist: one MULTI/EXEC."""
        commands = read_completion.commands(self.layout, thread_id, ns, wanted)
        return read_completion.parse(wanted, self._io(wire.transaction, self._client, commands))

    def _read_dictionaries(self, thread_id: str, ns: str, digests: list[bytes]) -> dict[bytes, bytes] | None:
        """The namespace dictionaries of these digests, learnt; None if one is gone."""
        fields = [dictionary_field(d) for d in digests]
        values = self._io(wire.transaction, self._client, [("HMGET", self.layout.chunks(thread_id, ns), *fields)])[0]
        if not all(values):
            return None
        return self._learn_dictionaries(thread_id, ns, [x for pair in zip(fields, values) for x in pair])

    def _read_keys(self, thread_id: str, ns: str) -> list[str]:
        """KEYS of the read scripts `load` and `delta`."""
        idx, widx, blobs, chunk_hash = self.layout.ns_data_keys(thread_id, ns)
        return [idx, blobs, widx, self.layout.namespaces(thread_id), chunk_hash]

    def _scan(self, thread_id: str, ns: str, what: str, page: int, upper: str = "+", tags: str = "") -> Iterator[Any]:
        """Every `load` entry of (thread, ns) below `upper`, newest first, one page per round trip."""
        while upper:
            upper, entries = self._load(thread_id, ns, "page", what, page, upper, tags=tags)
            yield from entries

    def namespaces(self, thread_id: str) -> list[str]:
        """The checkpoint namespaces of a thread, sorted ("" is the root graph's); [] when the
        thread has no checkpoint. One round trip."""
        members = self._io(self._client.smembers, self.layout.namespaces(key_text("thread_id", thread_id)))
        return sorted(text(m) for m in members)  # type: ignore[union-attr,arg-type]

    def _candidate_groups(self, query: str | None) -> Iterator[Group]:
        """Where to look for a cross-thread query: the checkpoints the search index matches,
        grouped by (thread, ns) (only keys are held in memory; documents are loaded page by page
        by the caller), or, with no query or no usable index, every namespace of every thread."""
        self._check_topology()
        if query and self._use_search():
            try:
                keys = self._io(self._matching_keys, query)
            except ResponseError as exc:  # the index was dropped, or a failover lost the module
                logger.warning("redis-ckpt: search failed (%s); scanning threads instead", exc)
                self._search_ready, self._search_ready_on = False, ()
            else:
                grouped: dict[tuple[str, str], list[str]] = {}
                for key in keys:
                    thread_id, ns, checkpoint_id = self.layout.parse_checkpoint(text(key))
                    grouped.setdefault((thread_id, ns), []).append(checkpoint_id)
                for (thread_id, ns), ids in sorted(grouped.items()):
                    yield thread_id, ns, ids
                return
        for thread_id in self._all_threads():
            for ns in self.namespaces(thread_id):
                yield thread_id, ns, None

    def _matching_keys(self, query: str) -> list[bytes]:
        """Keys of the checkpoint documents the search index matches; on a cluster, the union of
        every primary's own index (each sees only its primary's documents)."""
        if not self.is_cluster:
            return list(search.matching_keys(self._client, self.layout, query))
        return [key for node, index in self._node_indexes() for key in search.matching_ids(node, index, query)]

    def _node_indexes(self) -> list[tuple[redis.Redis, str]]:
        """Cluster: (client of the primary, name of its search index) for every primary. The name's
        hash tag is recomputed from the slot map each time, so after resharding it follows the
        slots (a primary whose name changed gets a new index, built in the background)."""
        client = self._client
        assert isinstance(client, RedisCluster)
        found = []
        for node in topology.primaries(client):
            tag = topology.tag_in_slots_of(client, node, self.layout.node_search_index)
            found.append((client.get_redis_connection(node), self.layout.node_search_index(tag)))
        return found

    def _use_cluster_search(self) -> bool:
        """Whether every primary has its index, complete; creates the missing ones (they build in
        the background: until then, queries scan)."""
        indexes = self._io(self._node_indexes)
        names = tuple(
            f"{node.connection_pool.connection_kwargs.get('host')}:{node.connection_pool.connection_kwargs.get('port')}"
            f"/{name}"
            for node, name in indexes
        )
        if names == self._search_ready_on:
            return True
        states = [self._io(search.index_state, node, self.layout, name) for node, name in indexes]
        if search.NO_MODULE in states:
            return False
        for (node, name), state in zip(indexes, states):
            if state == search.NO_INDEX:
                self._io(search.create_index, node, self.layout, name)
        ready = all(state == search.READY for state in states)
        self._search_ready_on = names if ready else ()
        return ready

    def _all_threads(self) -> list[str]:
        """Every thread of this deployment: SCAN over the per-thread namespace sets (on a cluster,
        over every primary in turn: a thread's keys live on one of them)."""
        self._check_topology()
        pattern = self.layout.namespaces_scan_pattern
        keys = self._io(lambda: list(self._client.scan_iter(match=pattern, count=1000, _type="SET")))
        return sorted({self.layout.thread_of_namespaces_key(text(k)) for k in keys})

    def _walk_ancestors(
        self, thread_id: str, ns: str, target: str, channels: Sequence[str]
    ) -> tuple[DeltaReply, dict[bytes, bytes]]:
        """Run the `delta` script: its reply (ancestors nearest first), and the namespace
        dictionaries known after it."""
        have = self._known.dictionaries(thread_id, ns)
        args = [
            self.layout.checkpoint_prefix(thread_id, ns),
            self.layout.legacy_writes_prefix(thread_id, ns),
            target,
            scripts.MAX_CHAIN_DEPTH,
            self.ttl.read_refresh_seconds,
            b"".join(have),
            *channels,
        ]
        reply = delta_reply(self._script("delta", self._read_keys(thread_id, ns), args))
        return reply, {**have, **self._learn_dictionaries(thread_id, ns, reply.dictionaries)}

    def _walk_with_values(self, thread_id: str, ns: str, target: str, channels: Sequence[str]) -> list[Ancestor]:
        """`_walk_ancestors`, completed (`_complete`: one more round trip only when some value is
        large) and materialized. If an ancestor was deleted between the two round trips (a prune
        or delete racing this read), the walk is run again, on what is left: a history read partly
        before and partly after a deletion would be wrong."""
        for _ in range(READ_ATTEMPTS):
            reply, dictionaries = self._walk_ancestors(thread_id, ns, target, channels)
            ancestors, found = self._complete(thread_id, ns, reply.ancestors, reply.chunks, dictionaries)
            if len(ancestors) == len(reply.ancestors):
                return [materialize_ancestor(a, found, self._sealer) for a in ancestors]
        raise ReadConflictError(
            f"the DeltaChannel history of thread {thread_id!r} was being deleted while read "
            f"({READ_ATTEMPTS} attempts); retry"
        )

    def _ids(self, thread_id: str, ns: str, key: str | None = None, page: int = 10_000) -> Iterator[str]:
        """Every id in an index (default: the checkpoint index, read through its pages), oldest
        first, in pages."""
        lower: bytes = b"-"
        while True:
            batch: list[bytes]
            if key is None:
                batch = self._script("index", [self.layout.index(thread_id, ns)], ["fwd", lower, page])
            else:
                batch = self._io(self._client.zrangebylex, key, lower, "+", 0, page)  # type: ignore[arg-type]
            for raw in batch:
                yield text(raw)
            if len(batch) < page:
                return
            lower = b"(" + batch[-1]

    # -- search module --------------------------------------------------------------------------
    def _use_search(self) -> bool:
        """Whether cross-thread queries may use the search index: the module is there and the
        index is complete (an index still building would give partial answers). Once ready, the
        answer is cached; until then each query asks again (one FT.INFO) and falls back to a scan."""
        if self.is_cluster:  # no coordinator: one index per primary (docs/design.md, "Cluster")
            return self._use_cluster_search()
        if not self._search_ready:
            self._search_ready = self._io(search.index_state, self._client, self.layout) == search.READY
        return self._search_ready
