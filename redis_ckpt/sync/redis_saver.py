"""RedisSaver: the LangGraph checkpoint saver on Redis. All logic lives on the sync side."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from redisvl.exceptions import RedisSearchError
from typing_extensions import Self

from redis_ckpt.errors import AsyncOnSyncSaverError, ConfigurationError
from redis_ckpt.format import channel_versions, format_version
from redis_ckpt.format.checkpoint_codec import (
    decode_entry,
    decode_writes,
    encode_checkpoint,
    encode_writes,
    loads,
    make_config,
)
from redis_ckpt.format.encoding import (
    all_pushable,
    blob_field,
    filter_requirements,
    matches_filter,
    requirements_argument,
    text,
)
from redis_ckpt.format.known import Known
from redis_ckpt.format.read_entries import LoadedEntry
from redis_ckpt.redis_io import inventory, observe, scripts, search, write_commands
from redis_ckpt.sync.reencrypt import ReencryptReport, reencrypt_thread
from redis_ckpt.sync.saver_core import Group, key_text, logger, thread_and_ns
from redis_ckpt.sync.saver_maintenance import Maintenance

PAGE = 50  # checkpoints per round trip when listing
PUT_ATTEMPTS = 3  # a put relying on stored values that turn out missing sends them; the last sends all


class RedisSaver(Maintenance):
    """A LangGraph checkpoint saver on Redis 7+ (no modules needed; Search is used when present).

    One instance is safe to share between threads: it holds a pooled client and no lock.
    """

    @classmethod
    @contextmanager
    def from_conn_string(cls, redis_url: str | None = None, **kwargs: Any) -> Iterator[Self]:
        """A saver closed when the block exits: on its own connection pool for `redis_url`, or on
        `redis_client=` (as the official saver's), which is left open."""
        saver = cls(redis_url, **kwargs)
        try:
            yield saver
        finally:
            saver.close()

    def setup(self) -> None:
        """Prepare the server: load the scripts and, where the Search module exists, create the
        search index. Idempotent; safe to call from every process at start-up. On a cluster the
        scripts go to every primary, and cross-thread queries scan (see docs/deploy-cluster.md)."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            return self._observer.call(self, "setup", RedisSaver.setup, (), {})
        self._check_topology()
        self._io(scripts.load_all, self._client)
        # The deployment's storage format: recorded if missing; a newer one refused here, at
        # start-up, rather than at the first write.
        format_version.check_writable(self._record_format(), self.layout.prefix)
        if self.is_cluster:
            if not self._use_cluster_search():  # creates each primary's index where the module exists
                logger.info("redis-ckpt: cross-thread queries on %s scan every primary for now", self._where)
            self._warn_about_eviction()
            return
        state = self._io(search.index_state, self._client, self.layout)
        if state == search.NO_INDEX:
            try:
                self._io(search.create_index, self._client, self.layout)
            except RedisSearchError as exc:  # e.g. "Cannot create index on db != 0"
                logger.warning(
                    "redis-ckpt: no search index on %s (%s); cross-thread metadata queries scan every thread",
                    self._where,
                    exc,
                )
        elif state == search.NO_MODULE:
            logger.info(
                "redis-ckpt: no Search module on %s; per-thread operations are unaffected, cross-thread "
                "metadata queries (list(None, filter=...), delete_for_runs) scan every thread instead",
                self._where,
            )
        self._warn_about_eviction()

    def _warn_about_eviction(self) -> None:
        """An evicting server silently drops threads; say so (INFO may be refused: then stay quiet)."""
        try:
            policy = str(self._client.info("memory").get("maxmemory_policy", ""))
        except redis.RedisError:
            return
        if policy.startswith("allkeys-") or (policy.startswith("volatile-") and self.ttl.seconds):
            logger.warning(
                "redis-ckpt: %s has maxmemory-policy %s: under memory pressure Redis will evict checkpoint "
                "keys and threads will silently lose state. Use maxmemory-policy noeviction for checkpoints.",
                self._where,
                policy,
            )

    # -- writes -------------------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint, its metadata and the values of `new_versions`: one transaction."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            return self._observer.call(self, "put", RedisSaver.put, (config, checkpoint, metadata, new_versions), {})
        thread_id, ns = thread_and_ns(config)
        self._check_writable()
        checkpoint_id = checkpoint["id"]
        parent_id = config["configurable"].get("checkpoint_id")
        metadata = get_checkpoint_metadata(config, metadata)
        ttl = self.ttl.seconds or 0
        # With a TTL, the ancestors these DeltaChannels are rebuilt from are kept alive too.
        delta_channels = list(metadata.get("counters_since_delta_snapshot") or ()) if ttl else []
        known: Known | None = self._known.get(thread_id, ns)
        previous_splits = self._splits.get(thread_id, ns)
        for attempt in range(PUT_ATTEMPTS):
            # Only what Redis may not have yet is sent; what the put relies on is checked in its
            # transaction. If some of it is missing (collected by a prune or delete elsewhere),
            # no checkpoint was written and it is put again with the missing parts; the last
            # attempt sends everything.
            stored = encode_checkpoint(
                self.serde,
                checkpoint,
                metadata,
                parent_id,
                new_versions,
                compress=self.compress,
                known=known,
                previous_splits=previous_splits,
                sealer=self._sealer,
            )
            put = write_commands.put(self.layout, thread_id, ns, checkpoint_id, parent_id, stored, ttl, delta_channels)
            results = self._write(thread_id, put, config)
            missing = results[-1]  # the commit script's answer: what it relied on and found gone
            if not missing:
                break
            self.resends += 1
            self._known.drop(thread_id, ns, missing)
            new_versions = {**new_versions, **_unchanged_values_gone(checkpoint, new_versions, missing)}
            # A missing record or value means its checkpoints, likely the thread, were collected:
            # send all.
            chain_gone = any(m in stored.needed_fields for m in missing)
            known = None if chain_gone or attempt == PUT_ATTEMPTS - 2 else self._known.get(thread_id, ns)
        self._expanded.add(stored.raw_chunks)
        self._splits.keep(thread_id, ns, stored.splits)
        self._resolved.after_put(thread_id, ns, checkpoint, stored)
        self._known.after_put(thread_id, ns, stored)
        return make_config(thread_id, ns, checkpoint_id)  # type: ignore[return-value]

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes: special channels overwrite, regular ones are insert-if-absent."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            args = (config, writes, task_id, task_path)
            return self._observer.call(self, "put_writes", RedisSaver.put_writes, args, {})
        thread_id, ns = thread_and_ns(config)
        checkpoint_id = config["configurable"].get("checkpoint_id")
        if not checkpoint_id:
            raise ConfigurationError('put_writes needs config["configurable"]["checkpoint_id"]')
        if not writes:
            return
        self._check_writable()
        # Storage format 2: a list written whole is a delta on the channel's last stored value
        # (readers of format 2 resolve such writes; older releases do not: the namespace stamp).
        bases = self._known.bases(thread_id, ns) if (self._format or 1) >= 2 else None
        stored = encode_writes(
            self.serde,
            writes,
            task_id,
            task_path,
            compress=self.compress,
            bases=bases,
            sealer=self._sealer,
        )
        ttl = self.ttl.seconds or 0
        commands = write_commands.put_writes(self.layout, thread_id, ns, checkpoint_id, stored, ttl)
        self._write(thread_id, commands, config)
        # Learnt once stored: LangGraph may put the next checkpoint, which holds these new
        # messages, while this transaction is still on its way (on another thread). That put then
        # sends them again (a few hundred bytes) rather than relying on chunks that may not have
        # arrived, which its commit would find missing and cost a second round trip (measured:
        # 48 of 1,000 puts of a 200-turn chat without compression, learning before sending).
        self._known.after_writes(thread_id, ns, stored)

    # -- reads --------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by the config, or the latest of (thread, ns): one round trip."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            return self._observer.call(self, "get_tuple", RedisSaver.get_tuple, (config,), {})
        thread_id, ns = thread_and_ns(config)
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id:
            entry = next(iter(self._load(thread_id, ns, "ids", "full", 1, checkpoint_id)[1]), None)
        else:  # the newest existing one; a scan past many expired index entries may take more calls
            entry = next(self._scan(thread_id, ns, "full", 1), None)
        if entry is None:
            return None
        found = decode_entry(self.serde, thread_id, ns, entry, config if checkpoint_id else None)
        self._known.after_read(thread_id, ns, found.checkpoint, entry.records)
        self._resolved.after_read(thread_id, ns, found.checkpoint, entry.records)
        return found

    def get_channel_values(
        self, thread_id: str, checkpoint_ns: str = "", checkpoint_id: str | None = None
    ) -> dict[str, Any]:
        """The channel values of a checkpoint (the latest when no id is given); {} if none."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            args = (thread_id, checkpoint_ns, checkpoint_id)
            return self._observer.call(self, "get_channel_values", RedisSaver.get_channel_values, args, {})
        configurable = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        if checkpoint_id:
            configurable["checkpoint_id"] = checkpoint_id
        found = self.get_tuple({"configurable": configurable})
        return dict(found.checkpoint["channel_values"]) if found else {}

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, grouped by thread then namespace, streamed in pages.

        `config=None` lists every thread; a config without `checkpoint_ns` every namespace of
        the thread. `filter` matches metadata like InMemorySaver (equality of each key).
        """
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            kwargs = {"filter": filter, "before": before, "limit": limit}
            yield from self._observer.iterate(self, "list", RedisSaver.list, (config,), kwargs)
            return
        if limit is not None and limit <= 0:
            return
        before_id = get_checkpoint_id(before) if before else None
        if config is None:
            requirements = filter_requirements(filter or {}, short=True)
            query = search.query(meta_requirements=requirements) if requirements else None
            groups: Iterator[Group] = self._candidate_groups(query)
            only_id = None
        else:
            thread_id = thread_and_ns(config)[0]
            ns_given = config["configurable"].get("checkpoint_ns")
            namespaces = [str(ns_given)] if ns_given is not None else self.namespaces(thread_id)
            groups = ((thread_id, ns, None) for ns in namespaces)
            only_id = get_checkpoint_id(config)
        remaining = limit
        for thread_id, ns, candidate_ids in groups:
            ids = [only_id] if only_id else candidate_ids
            for found in self._list_group(thread_id, ns, ids, filter, before_id, remaining):
                yield found
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return

    def _list_group(
        self,
        thread_id: str,
        ns: str,
        ids: builtins.list[str] | None,
        filter: Mapping[str, Any] | None,
        before_id: str | None,
        limit: int | None,
    ) -> Iterator[CheckpointTuple]:
        """One (thread, ns): all of its checkpoints (ids=None) or the given ones, newest first."""
        if ids is not None:
            ids = sorted((i for i in ids if not before_id or i < before_id), reverse=True)
            for start in range(0, len(ids), PAGE):
                yield from self._load_matching(thread_id, ns, ids[start : start + PAGE], filter)
            return
        upper = "(" + before_id if before_id else "+"
        page = PAGE if limit is None else min(limit, PAGE)
        tags = requirements_argument(filter_requirements(filter or {}, short=True))
        if not filter or all_pushable(filter):
            # The script's tag check is exact for scalar items; Python still re-checks each one.
            for entry in self._scan(thread_id, ns, "full", page, upper, tags):
                found = decode_entry(self.serde, thread_id, ns, entry)
                self._resolved.after_read(thread_id, ns, found.checkpoint, entry.records)
                if matches_filter(found.metadata, filter):
                    yield found
            return
        # Nested or None filter values: narrow by the scalar items, compare metadata in Python,
        # then load the matches.
        matching: builtins.list[str] = []
        for entry in self._scan(thread_id, ns, "meta", PAGE, upper, tags):
            if matches_filter(loads(self.serde, entry.metadata), filter):
                matching.append(text(entry.id))
                if len(matching) == page:
                    yield from self._load_matching(thread_id, ns, matching, None)
                    matching = []
        yield from self._load_matching(thread_id, ns, matching, None)

    def _load_matching(
        self, thread_id: str, ns: str, ids: builtins.list[str], filter: Mapping[str, Any] | None
    ) -> Iterator[CheckpointTuple]:
        if not ids:
            return
        for entry in self._load(thread_id, ns, "ids", "full", len(ids), *ids)[1]:
            found = decode_entry(self.serde, thread_id, ns, entry)
            self._resolved.after_read(thread_id, ns, found.checkpoint, entry.records)
            if matches_filter(found.metadata, filter):
                yield found

    # -- DeltaChannel -----------------------------------------------------------------------------
    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Writes and seed per channel along the parent chain, walked server-side: one round trip."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            history, kwargs = RedisSaver.get_delta_channel_history, {"config": config, "channels": channels}
            return self._observer.call(self, "get_delta_channel_history", history, (), kwargs)
        if not channels:
            return {}
        thread_id, ns = thread_and_ns(config)
        ancestors = self._walk_with_values(thread_id, ns, get_checkpoint_id(config) or "", channels)
        writes_by_ch: dict[str, list[PendingWrite]] = {ch: [] for ch in channels}
        seeds: dict[str, Any] = {}
        for ancestor in reversed(ancestors):  # oldest first
            for write in decode_writes(self.serde, ancestor.writes):
                if write[1] in writes_by_ch:
                    writes_by_ch[write[1]].append(write)
        for ancestor in ancestors:
            for channel, value in zip(ancestor.channels, ancestor.values):
                seeds.setdefault(text(channel), value)
        # A seed ends its channel's history: writes from ancestors older than the seed never came
        # back from the walk for that channel, because the script stops collecting at the seed.
        result: dict[str, DeltaChannelHistory] = {}
        for ch in channels:
            entry: DeltaChannelHistory = {"writes": writes_by_ch[ch]}
            if ch in seeds:
                entry["seed"] = loads(self.serde, seeds[ch])
            result[ch] = entry
        return result

    # -- for tools that list, size and copy stored threads (the CLI) -----------------------------
    def threads(self) -> Iterator[str]:
        """Every thread id under this saver's prefix, streamed (a page of keys per round trip), in no
        particular order; a thread present throughout is listed at least once (SCAN's guarantee).
        Nothing is decoded. On a cluster every primary is scanned in turn."""
        self._check_topology()
        if self.is_cluster:  # redis-py's cluster SCAN walks every primary with a cursor of its own
            pattern = self.layout.namespaces_scan_pattern
            for key in self._client.scan_iter(match=pattern, count=inventory.SCAN_COUNT, _type="SET"):
                yield self.layout.thread_of_namespaces_key(text(key))
            return
        cursor = "0"
        while True:
            page = self.thread_page(cursor, inventory.SCAN_COUNT)
            yield from page.threads
            if not page.cursor:
                return
            cursor = page.cursor

    def thread_page(self, cursor: str = "0", limit: int = 100) -> inventory.ThreadPage:
        """Up to `limit` thread ids from `cursor` ("0": the start) and the cursor of the next page
        (`""` after the last): time and memory per page do not grow with the number of threads.
        A standalone server only (on a cluster, `threads()` walks every primary)."""
        self._check_topology()
        if self.is_cluster:
            raise ConfigurationError("thread_page pages a standalone server; on a cluster use threads()")
        return self._io(inventory.thread_page, self._client, self.layout, cursor, limit)

    def namespace_counts(self, thread_id: str) -> dict[str, int]:
        """Checkpoints per namespace of a thread, counted from its index (two round trips, nothing
        read; may count a checkpoint whose TTL ran out a moment ago). {} when there is no thread."""
        return self._io(inventory.namespace_counts, self._client, self.layout, key_text("thread_id", thread_id))

    def thread_footprint(self, thread_id: str) -> inventory.Footprint:
        """What a thread holds: namespaces, checkpoints, keys and exact bytes (`MEMORY USAGE` of each
        of its keys, a pipeline per page of keys: O(keys), for tools rather than requests)."""
        return self._io(inventory.footprint, self._client, self.layout, key_text("thread_id", thread_id))

    # -- for tools that copy stored checkpoints (the CLI's export and migrate) ----------------------
    def checkpoint_ids(self, thread_id: str, checkpoint_ns: str = "") -> Iterator[str]:
        """Every checkpoint id of (thread, namespace), oldest first, read a page per round trip."""
        return self._ids(thread_id, checkpoint_ns)

    def stored_checkpoints(
        self, thread_id: str, checkpoint_ns: str = "", *, page: int = 50, oldest_first: bool = False
    ) -> Iterator[LoadedEntry]:
        """Every checkpoint of (thread, namespace) as stored, newest first (`oldest_first`: in
        the order they were put, as a copy that keeps deduplication puts them), `page` per round
        trip, nothing decoded: each entry is a LoadedEntry (id, checkpoint, metadata, parent id,
        channels, values, pending writes, ...), values as the serializer's bytes. For tools that
        copy checkpoints byte for byte (`redis-ckpt export`); an application reads with `list`."""
        if not oldest_first:
            return self._scan(thread_id, checkpoint_ns, "full", page)
        return self._oldest_first(thread_id, checkpoint_ns, page)

    def forget_thread(self, thread_id: str) -> None:
        """Drop what this process keeps of a thread to skip work on its next reads and puts: the
        chunks and records it knows are stored, the last cut of its lists, its decompressed
        chunks. Nothing stored changes; the next read or put of the thread does that work again.
        For tools that pass over many threads once (`redis-ckpt export` and `import` call it after
        each thread), so their memory stays that of one thread, not of the caches filling up."""
        self._expanded.discard(self._known.forget(thread_id))
        self._resolved.forget(thread_id)
        self._splits.forget(thread_id)

    def _oldest_first(self, thread_id: str, ns: str, page: int) -> Iterator[LoadedEntry]:
        batch: list[str] = []
        for checkpoint_id in self._ids(thread_id, ns):
            batch.append(checkpoint_id)
            if len(batch) == page:
                yield from self._load(thread_id, ns, "ids", "full", page, *batch)[1]
                batch = []
        if batch:
            yield from self._load(thread_id, ns, "ids", "full", len(batch), *batch)[1]

    # -- encryption at rest ---------------------------------------------------------------------
    def reencrypt_thread(self, thread_id: str) -> ReencryptReport:
        """Rewrite every stored piece of a thread (all namespaces) with the current key of the
        saver's `encryption`, plain pieces included (docs/security.md, "Key rotation"). In place,
        piece by piece, a page of fields per round trip; a piece is replaced only where it is still
        as read, so concurrent readers and writers are safe. Every key the thread's pieces use must
        be configured. Returns counts; `changed` > 0 means writers changed pieces meanwhile (they
        wrote them with their own key): run it again once they use the new one."""
        return reencrypt_thread(self, thread_id)

    # -- versions ---------------------------------------------------------------------------------
    def get_next_version(self, current: str | None, channel: None) -> str:
        """`channel_versions.next_version`: a fixed-width counter plus a random suffix, 12 characters."""
        return channel_versions.next_version(current)

    # -- async calls on the sync saver ------------------------------------------------------------
    # LangGraph's base class answers them with a bare NotImplementedError, which does not tell a user
    # who compiled a graph with RedisSaver and called `ainvoke` what to do. (AsyncRedisSaver
    # overrides every one of them.)
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("aget_tuple")

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("alist")
        yield  # an async generator, as LangGraph iterates it with `async for`

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("aput")

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("aput_writes")

    async def adelete_thread(self, thread_id: str) -> None:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("adelete_thread")

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("adelete_for_runs")

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("acopy_thread")

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep_last: int = 1) -> None:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("aprune")

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Not on the sync saver: raises AsyncOnSyncSaverError (use AsyncRedisSaver)."""
        raise AsyncOnSyncSaverError("aget_delta_channel_history")


def _unchanged_values_gone(
    checkpoint: Checkpoint, new_versions: ChannelVersions, missing: Sequence[bytes]
) -> ChannelVersions:
    """The channels a put referenced without writing whose stored value was found gone: the next
    attempt writes them (at their current versions), from the checkpoint's own values."""
    gone = set(missing)
    versions = checkpoint["channel_versions"]
    return {
        channel: versions[channel]
        for channel in checkpoint["channel_values"]
        if channel not in new_versions and channel in versions and blob_field(channel, versions[channel]) in gone
    }
