"""Whole-thread operations: delete_thread, delete_for_runs, copy_thread, prune.

Each works in batches, so its round trips grow with pages, not with checkpoints.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from redis_ckpt.errors import ConfigurationError
from redis_ckpt.format import format_version
from redis_ckpt.format.checkpoint_codec import loads
from redis_ckpt.format.chunks import is_record, own_digests
from redis_ckpt.format.compression import dictionaries_needed, dictionary_digest, dictionary_field, is_dictionary_field
from redis_ckpt.format.encoding import (
    digest,
    filter_requirements,
    is_write_field,
    matches_filter,
    requirements_argument,
    text,
    unpack_list,
)
from redis_ckpt.redis_io import observe, ownership, scripts, search, wire
from redis_ckpt.redis_io.ownership import Ownership
from redis_ckpt.sync.saver_core import key_text
from redis_ckpt.sync.saver_ownership import Owning

BATCH = 100  # checkpoints deleted, or read, per server call: each call stays within a few ms
COPY_PAGE = 500  # checkpoints copied per round trip
ONE_CALL_GC_LIMIT = 2_000  # ids + blob fields + chunks of a namespace collected in one call (a few ms)
GC_STEP = 100  # ids marked, or hash fields swept, per incremental collection step
GC_STALE_MS = 60_000  # a collection that made no step for this long is presumed dead: the next takes its marks over
# Marks outlive a collection that died mid-sweep (puts check chains while they exist), until the
# next collection of the namespace ends, or for a day.
GC_MARKS_TTL_MS = 86_400_000
GC_TOKEN_PREFIX = "\0\0\0gc:"  # a mark set's member naming its collection (no blob field or digest looks so)
GC_BUSY_POLL = 0.05  # seconds between checks while another collection of the namespace runs
GC_RESTARTS = 3  # collections started over after losing their marks, before giving up
STRATEGIES = ("keep_latest", "delete")

logger = logging.getLogger("redis_ckpt")


def _hset(key: str, fields: Any) -> tuple[Any, ...]:
    return ("HSET", key, *itertools.chain.from_iterable(fields.items()))


def _write_digests(writes: dict[bytes, bytes]) -> list[bytes]:
    """The chunks the pending writes of one checkpoint's hash, or of a writes hash stored before
    writes were fields of the checkpoint's hash (HGETALL), name."""
    found: list[bytes] = []
    for field, stored in writes.items():
        if is_write_field(field) and is_record(value := unpack_list(stored)[2]):
            found += own_digests(value)
    return found


class Maintenance(Owning):
    # -- delete_thread --------------------------------------------------------------------------
    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of the thread, in every namespace, and its
        fencing token unless someone holds its lease (see docs/design.md, "Write ownership")."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            return self._observer.call(self, "delete_thread", Maintenance.delete_thread, (thread_id,), {})
        thread_id = key_text("thread_id", thread_id)
        self._check_writable()
        # `purge` forgets each namespace once it is empty (Redis drops the set with its last
        # member). A namespace registered by a concurrent put meanwhile is picked up by the next
        # round; the thread's namespace set is never deleted while it lists live data.
        for attempt in range(3):
            pending = self.namespaces(thread_id)
            if not pending:
                if attempt == 0:  # no data: the token alone may be left (the purge batches drop it)
                    self._io(wire.execute, self._client, [ownership.forget(self.layout, thread_id)])
                return
            while pending:
                results = self._io(self._purge_batch, thread_id, pending)
                pending = [ns for ns, more in zip(pending, results) if more]

    def delete_threads(self, filter: Mapping[str, Any], *, dry_run: bool = False) -> list[str]:
        """Delete every thread that has a checkpoint, in any namespace, whose metadata matches
        `filter` (equality of each key, as `list(None, filter=...)`): e.g. every thread of one
        user or tenant, for an erasure request. Returns the ids of the threads deleted, or with
        `dry_run=True` of those that would be. Candidates come from the search index where there is
        one (every primary's, on a cluster), else from a scan of every thread; each match is
        checked against its stored metadata, then deleted by `delete_thread` (in bounded steps)."""
        if not filter:
            raise ConfigurationError("delete_threads needs a non-empty filter (delete_thread deletes one thread)")
        requirements = filter_requirements(filter, short=True)
        query = search.query(meta_requirements=requirements) if requirements else None
        matched: list[str] = []
        for thread_id, ns, candidate_ids in self._candidate_groups(query):
            if matched and matched[-1] == thread_id:  # groups come thread by thread
                continue
            if self._has_matching_checkpoint(thread_id, ns, candidate_ids, filter):
                matched.append(thread_id)
                if not dry_run:
                    self.delete_thread(thread_id)
        return matched

    def _has_matching_checkpoint(
        self, thread_id: str, ns: str, candidate_ids: list[str] | None, filter: Mapping[str, Any]
    ) -> bool:
        """Whether a checkpoint of (thread, ns), among the candidates if given, has matching metadata:
        the tags of the index or the scripts narrow, the decoded metadata decides."""
        if candidate_ids is not None:
            metadata: Iterable[dict[str, Any]] = (m for _, m in self._metadata(thread_id, ns, candidate_ids))
        else:  # no index: the load script's tag check skips what cannot match, server-side
            tags = requirements_argument(filter_requirements(filter, short=True))
            metadata = (loads(self.serde, e.metadata) for e in self._scan(thread_id, ns, "meta", BATCH, "+", tags))
        return any(matches_filter(m, filter) for m in metadata)

    def _purge_batch(self, thread_id: str, namespaces: list[str]) -> list[Any]:
        """One round trip: one `purge` script call per namespace, pipelined."""
        calls: list[scripts.Call] = []
        self._known.forget(thread_id)
        self._resolved.forget(thread_id)
        self._splits.forget(thread_id)
        held = self._owner_of(thread_id)
        # a fenced batch is one transaction: its namespaces share the bound
        batch = BATCH if held is None else BATCH // max(1, len(namespaces))
        # each call checks every namespace's storage format (lua/purge.lua): all or none go
        all_chunks = [self.layout.chunks(thread_id, ns) for ns in namespaces]
        for ns in namespaces:
            idx, widx, blobs, chunk_hash = self.layout.ns_data_keys(thread_id, ns)
            marks = self.layout.gc_marks(thread_id, ns)
            others = [c for c in all_chunks if c != chunk_hash]
            keys = [idx, widx, blobs, self.layout.namespaces(thread_id), chunk_hash, *marks, *others]
            prefixes = [self.layout.checkpoint_prefix(thread_id, ns), self.layout.legacy_writes_prefix(thread_id, ns)]
            calls.append(("purge", keys, [*prefixes, max(1, batch), ns]))
        if held is not None:  # fenced: a superseded owner deletes nothing (and the owner keeps its token)
            return self._send_fenced(held, [scripts.call(*c) for c in calls])
        # The fencing token goes with the thread's last data, in the same round trip.
        forget = ownership.forget(self.layout, thread_id)
        return scripts.execute(self._client, [*(scripts.call(*c) for c in calls), forget])[:-1]

    def _drop(self, thread_id: str, ns: str, ids: Sequence[str]) -> None:
        """Delete the given checkpoints of (thread, ns) and their writes, then collect garbage:
        in the last deleting call when the namespace is small, else in bounded steps."""
        idx, widx, blobs, chunk_hash = self.layout.ns_data_keys(thread_id, ns)
        keys = [idx, widx, blobs, self.layout.namespaces(thread_id), chunk_hash, *self.layout.gc_marks(thread_id, ns)]
        prefixes = [self.layout.checkpoint_prefix(thread_id, ns), self.layout.legacy_writes_prefix(thread_id, ns)]
        self._known.forget(thread_id, ns)
        self._resolved.forget(thread_id, ns)
        self._splits.forget(thread_id, ns)
        ids = list(ids)
        held = self._owner_of(thread_id)
        collected = 0
        for start in range(0, max(len(ids), 1), BATCH):
            limit = ONE_CALL_GC_LIMIT if start + BATCH >= len(ids) else 0
            args = [*prefixes, ns, limit, *ids[start : start + BATCH]]
            collected = self._maintenance_script(held, "drop", keys, args)
        if collected == -1:
            self._collect(held, thread_id, ns, prefixes)

    def _collect(self, held: Ownership | None, thread_id: str, ns: str, prefixes: list[str]) -> None:
        """The incremental garbage collection of a large namespace (lua/gc.lua): every server call
        handles GC_STEP items. Other writers may run meanwhile: while the collection's marks
        exist, their puts and put_writes mark what they reference. One collection per namespace
        at a time: a second one waits for the first (or, if its process died, takes its marks
        over once they are stale), and one whose marks were lost while it stalled starts over."""
        step = self._gc_steps(held, thread_id, ns, prefixes)
        for _ in range(GC_RESTARTS):
            if not self._gc_begin(step):
                logger.warning("redis-ckpt: a garbage collection of %r stayed busy; skipped", thread_id)
                return
            if self._collect_phases(step):
                step("end", "")
                return
        logger.warning("redis-ckpt: the garbage collection of %r kept losing its marks; stopped", thread_id)

    def _gc_steps(
        self, held: Ownership | None, thread_id: str, ns: str, prefixes: list[str]
    ) -> Callable[[str, str], tuple[int, str]]:
        """step(phase, cursor) of a new collection (lua/gc.lua) of (thread, ns): (done, next cursor)."""
        idx, widx, blobs, chunk_hash = self.layout.ns_data_keys(thread_id, ns)
        gc_keys = [idx, widx, blobs, chunk_hash, *self.layout.gc_marks(thread_id, ns)]
        token = GC_TOKEN_PREFIX + secrets.token_hex(8)

        def step(phase: str, cursor: str) -> tuple[int, str]:
            args = [*prefixes, phase, cursor, GC_STEP, GC_MARKS_TTL_MS, token, GC_STALE_MS]
            done, next_cursor, _ = self._maintenance_script(held, "gc", gc_keys, args)
            return int(done), text(next_cursor)

        return step

    @staticmethod
    def _gc_begin(step: Callable[[str, str], tuple[int, str]]) -> bool:
        """Create the marks, waiting while another collection (or copy) of the namespace runs;
        False if it stayed busy too long."""
        deadline = time.monotonic() + 2 * GC_STALE_MS / 1000
        while step("begin", "")[0] != 1:
            if time.monotonic() > deadline:
                return False
            time.sleep(GC_BUSY_POLL)
        return True

    @staticmethod
    def _collect_phases(step: Callable[[str, str], tuple[int, str]]) -> bool:
        """Mark, then sweep; False when the marks were lost (expired) on the way."""
        for phase in ("docs", "writes", "blobs", "chunks"):
            cursor = "" if phase in ("docs", "writes") else "0"
            while True:
                done, cursor = step(phase, cursor)
                if done == -1:
                    return False
                if done:
                    break
        return True

    def _maintenance_script(self, held: Ownership | None, name: str, keys: list[str], args: list[Any]) -> Any:
        """One script call of a maintenance operation: fenced when the thread is owned here."""
        if held is None:
            return self._script(name, keys, args)
        return self._fenced(held, [scripts.call(name, keys, args)])[0]

    # -- delete_for_runs --------------------------------------------------------------------------
    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints whose metadata run_id is one of `run_ids`, with their writes.

        Uses the search index when it is ready, else visits every thread (a bounded scan)."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            return self._observer.call(self, "delete_for_runs", Maintenance.delete_for_runs, (run_ids,), {})
        wanted = {str(r) for r in run_ids}
        if not wanted:
            return
        self._check_writable()
        for (thread_id, ns), ids in self._checkpoints_of_runs(wanted).items():
            self._drop(thread_id, ns, ids)

    def _checkpoints_of_runs(self, wanted: set[str]) -> dict[tuple[str, str], list[str]]:
        candidates = self._candidate_groups(search.query(run_tags=sorted(digest(r) for r in wanted)))
        found: dict[tuple[str, str], list[str]] = {}
        for thread_id, ns, ids in candidates:
            for checkpoint_id, metadata in self._metadata(thread_id, ns, ids):
                if str(metadata.get("run_id")) in wanted and metadata.get("run_id") is not None:
                    found.setdefault((thread_id, ns), []).append(checkpoint_id)
        return found

    def _metadata(self, thread_id: str, ns: str, ids: list[str] | None) -> Iterable[tuple[str, dict[str, Any]]]:
        """(id, metadata) of the given checkpoints, or of all of (thread, ns), in pages."""
        page = BATCH  # every server call stays short
        if ids is not None:
            for start in range(0, len(ids), page):
                chunk = ids[start : start + page]
                for entry in self._load(thread_id, ns, "ids", "meta", len(chunk), *chunk)[1]:
                    yield text(entry.id), loads(self.serde, entry.metadata)
            return
        for entry in self._scan(thread_id, ns, "meta", page):
            yield text(entry.id), loads(self.serde, entry.metadata)

    # -- copy_thread ------------------------------------------------------------------------------
    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint (ids kept), write and value of a thread to another thread.

        Values are copied before the checkpoints that reference them, so the target never shows
        a checkpoint without its values."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            args = (source_thread_id, target_thread_id)
            return self._observer.call(self, "copy_thread", Maintenance.copy_thread, args, {})
        source, target = key_text("thread_id", source_thread_id), key_text("thread_id", target_thread_id)
        if source == target:
            return
        self._check_writable()
        for ns in self.namespaces(source):
            # Ids first: a checkpoint put after the values were copied would arrive without its values.
            checkpoint_ids = list(self._ids(source, ns))
            writes_ids = sorted(set(self._ids(source, ns, self.layout.writes_index(source, ns))) - set(checkpoint_ids))
            # Values land before the documents that reference them: a collection of the target
            # meanwhile would delete them. So the copy holds the target namespace's collection
            # marks (lua/gc.lua; every page renews them): collections wait for it to end.
            prefixes = [self.layout.checkpoint_prefix(target, ns), self.layout.legacy_writes_prefix(target, ns)]
            step = self._gc_steps(self._owner_of(target), target, ns, prefixes)
            holding = self._gc_begin(step)
            if not holding:
                logger.warning("redis-ckpt: a garbage collection of %r stayed busy; copying anyway", target)
            copied: set[bytes] = set()  # namespace dictionaries the pages copied
            try:
                self._copy_values(source, target, ns)
                for start in range(0, len(checkpoint_ids), COPY_PAGE):
                    page = checkpoint_ids[start : start + COPY_PAGE]
                    self._copy_page(source, target, ns, page, with_docs=True, copied=copied)
                for start in range(0, len(writes_ids), COPY_PAGE):
                    page = writes_ids[start : start + COPY_PAGE]
                    self._copy_page(source, target, ns, page, with_docs=False, copied=copied)
            finally:
                if holding:  # if this fails too, the marks go stale and the next collection takes them over
                    with contextlib.suppress(Exception):
                        step("end", "")

    def _copy_values(self, source: str, target: str, ns: str) -> None:
        # Chunks first, then the values (records) that name them.
        self._copy_hash(self.layout.chunks(source, ns), self.layout.chunks(target, ns), target, ns, set())
        self._copy_hash(self.layout.blobs(source, ns), self.layout.blobs(target, ns), target, ns)

    def _copy_hash(self, src: str, dst: str, target: str, ns: str, dictionaries: set[bytes] | None = None) -> None:
        """Copy a hash page by page; for a chunk hash (`dictionaries`: those copied so far), with
        the namespace dictionaries its chunks need (one made meanwhile may be past the scan)."""
        cursor = 0
        while True:
            cursor, page = self._io(self._client.hscan, src, cursor, count=200)  # type: ignore[misc]
            fields: dict[bytes, bytes] = dict(page)  # type: ignore[arg-type]
            if fields and dictionaries is not None:
                # a namespace in a newer format is not copied (earlier pages' chunks stay in the
                # target unreferenced, until its next collection)
                format_version.check_stamp(fields.get(format_version.STAMP_FIELD), src)
                fields.update(self._missing_dictionaries(src, fields, dictionaries))
            if fields:
                self._io(self._write_with_ttl, target, ns, [_hset(dst, fields)], [dst])
            if cursor == 0:
                return

    def _missing_dictionaries(
        self, chunk_hash: str, chunks: dict[bytes, bytes], copied: set[bytes]
    ) -> dict[bytes, bytes]:
        """The fields of the namespace dictionaries `chunks` (of `chunk_hash`) are compressed with
        that are not in `copied` nor among them, read from `chunk_hash`; `copied` learns them all.
        A dictionary made while copy_thread runs may have been passed by its scan, while chunks
        it copies later were stored with it meanwhile (put's commit re-stores chunks with it)."""
        copied.update(dictionary_digest(f) for f in chunks if is_dictionary_field(f))
        wanted = dictionaries_needed(chunks.values()) - copied
        if not wanted:
            return {}
        fields = [dictionary_field(d) for d in sorted(wanted)]
        values: list[bytes | None] = self._io(self._client.hmget, chunk_hash, fields)  # type: ignore[arg-type]
        copied.update(wanted)
        return {f: v for f, v in zip(fields, values) if v is not None}

    def _copy_page(
        self, source: str, target: str, ns: str, ids: list[str], *, with_docs: bool, copied: set[bytes]
    ) -> None:
        """Copy one page of checkpoints (or of writes-only ids): one read, one MULTI/EXEC write."""

        def read() -> list[tuple[dict[bytes, bytes], dict[bytes, bytes]]]:
            pipe = self._client.pipeline(transaction=False)
            for checkpoint_id in ids:
                pipe.hgetall(self.layout.checkpoint(source, ns, checkpoint_id))
                pipe.hgetall(self.layout.legacy_writes(source, ns, checkpoint_id))
            flat = pipe.execute()
            return list(zip(flat[::2], flat[1::2]))

        rows = self._io(read)
        # Writes that came after the chunk hash was copied name chunks it did not have yet: copy
        # those along with the page (content-addressed, so copying one twice is harmless).
        digests = sorted({d for doc, writes in rows for d in (*_write_digests(doc), *_write_digests(writes))})
        found = self._io(self._client.hmget, self.layout.chunks(source, ns), digests) if digests else []
        chunks: dict[bytes, bytes] = {d: v for d, v in zip(digests, found) if v is not None}  # type: ignore[misc]
        chunks.update(self._missing_dictionaries(self.layout.chunks(source, ns), chunks, copied))
        touched: list[str] = []
        commands: list[Any] = [_hset(self.layout.chunks(target, ns), chunks)] if chunks else []
        indexed: list[str] = []
        for checkpoint_id, (doc, writes) in zip(ids, rows):
            key = self.layout.checkpoint(target, ns, checkpoint_id)
            if doc and with_docs:
                # nothing in a document (or in the writes among its fields) names its thread
                commands += [("DEL", key), _hset(key, doc)]
                indexed.append(checkpoint_id)
                touched.append(key)
            elif own_writes := {f: v for f, v in doc.items() if is_write_field(f) or f[:1] == b"\0"}:
                commands.append(_hset(key, own_writes))  # writes that came without (before) a document
                touched.append(key)
            if writes:  # as stored before writes were fields of the checkpoint's hash
                legacy = self.layout.legacy_writes(target, ns, checkpoint_id)
                commands.append(_hset(legacy, writes))
                touched.append(legacy)
            if not (doc and with_docs) and (writes or doc):  # the writes index lists writes without a checkpoint
                commands.append(("ZADD", self.layout.writes_index(target, ns), 0, checkpoint_id))
        if indexed:  # after the documents: a NOSCRIPT here resends the page (scripts.execute)
            add = ["add", self.ttl.seconds or 0, *indexed]
            commands.append(scripts.call("index", [self.layout.index(target, ns)], add))
        self._io(self._write_with_ttl, target, ns, commands, touched)

    def _write_with_ttl(self, thread_id: str, ns: str, commands: list[Any], keys: list[str]) -> None:
        """One MULTI/EXEC on the target thread (fenced when it is owned here): `commands` plus
        namespace registration and TTLs."""
        namespaces = self.layout.namespaces(thread_id)
        # renew the marks copy_thread holds, so that no collection presumes it dead
        renew = [("PEXPIRE", marks, GC_MARKS_TTL_MS) for marks in self.layout.gc_marks(thread_id, ns)]
        commands = [*commands, ("SADD", namespaces, ns), *renew]
        if self.ttl.seconds:
            expiring = (*keys, *self.layout.ns_data_keys(thread_id, ns), namespaces)
            commands += [("EXPIRE", key, self.ttl.seconds) for key in expiring]
        held = self._owner_of(thread_id)
        if held is None:
            scripts.execute(self._client, commands, transaction=True)
        else:
            self._send_fenced(held, commands)

    # -- prune --------------------------------------------------------------------------------------
    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep_last: int = 1) -> None:
        """Prune threads. `"keep_latest"` keeps the newest `keep_last` checkpoints of every
        namespace, with their writes, plus the ancestors (and their writes) that DeltaChannel
        state needs back to its nearest stored value. `"delete"` deletes the threads."""
        if self._observer is not None and observe.outside():  # tracing: redis_ckpt/redis_io/observe.py
            kwargs = {"strategy": strategy, "keep_last": keep_last}
            return self._observer.call(self, "prune", Maintenance.prune, (thread_ids,), kwargs)
        if isinstance(thread_ids, (str, bytes)):
            raise ConfigurationError("prune takes a sequence of thread ids, not a single string")
        if strategy not in STRATEGIES:
            raise ConfigurationError(f"unknown prune strategy {strategy!r}; use one of {STRATEGIES}")
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
            raise ConfigurationError(f"keep_last must be an integer >= 0, got {keep_last!r}")
        threads = [key_text("thread_id", t) for t in thread_ids]
        self._check_writable()
        for thread_id in threads:
            if strategy == "delete" or keep_last == 0:
                self.delete_thread(thread_id)
                continue
            for ns in self.namespaces(thread_id):
                self._prune_namespace(thread_id, ns, keep_last)

    def _prune_namespace(self, thread_id: str, ns: str, keep_last: int) -> None:
        # Heads are the newest checkpoints that still exist: index entries whose document expired
        # are skipped (and dropped) by the scan, so they never stand in for a live checkpoint.
        newest = itertools.islice(self._scan(thread_id, ns, "meta", keep_last), keep_last)
        heads = [(text(e.id), loads(self.serde, e.metadata)) for e in newest]
        checkpoint_ids = list(self._ids(thread_id, ns))
        keep = {head for head, _ in heads}
        for head, metadata in heads:
            delta_channels = sorted((metadata.get("counters_since_delta_snapshot") or {}).keys())
            if delta_channels:
                keep.update(a.id for a in self._walk_ancestors(thread_id, ns, head, delta_channels)[0].ancestors)
        newest_kept = max(keep) if keep else ""
        doomed = [i for i in checkpoint_ids if i not in keep]
        # Writes without a checkpoint newer than every kept one may belong to a put in flight.
        writes_only = set(self._ids(thread_id, ns, self.layout.writes_index(thread_id, ns))) - set(checkpoint_ids)
        doomed += sorted(i for i in writes_only if i < newest_kept)
        self._drop(thread_id, ns, doomed)
