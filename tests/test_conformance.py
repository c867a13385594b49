"""LangGraph's own conformance suite, on both faces of the saver and on both kinds of server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability

from redis_ckpt import AsyncRedisSaver, Encryption, RedisSaver
from tests.conftest import purge_prefix, saver_kwargs


class SyncFacade(BaseCheckpointSaver[str]):
    """Maps each async method the suite calls to the sync RedisSaver method, run inline, so the
    suite exercises the sync code path itself."""

    def __init__(self, inner: RedisSaver) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self.inner.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: Any, writes: Sequence[Any], task_id: str, task_path: str = "") -> None:
        self.inner.put_writes(config, writes, task_id, task_path)

    async def aget_tuple(self, config: Any) -> Any:
        return self.inner.get_tuple(config)

    async def alist(
        self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None
    ) -> AsyncIterator[Any]:
        for item in self.inner.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def adelete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.inner.delete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.inner.copy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.inner.prune(thread_ids, strategy=strategy)

    def get_next_version(self, current: Any, channel: Any) -> Any:
        return self.inner.get_next_version(current, channel)


def _run_suite(make: Any, url: str, prefixes: list[str]) -> Any:
    @checkpointer_test(name="redis-ckpt")
    async def factory() -> AsyncIterator[Any]:
        prefix = f"conf{len(prefixes)}x{id(prefixes)}"
        prefixes.append(prefix)
        saver = make(url, prefix)
        yield saver

    return asyncio.run(validate(factory))


@pytest.mark.parametrize("storage_format", [1, 2])
@pytest.mark.parametrize("face", ["async", "sync"])
def test_conformance_suite_passes_all_capabilities(redis_url: str, face: str, storage_format: int) -> None:
    _full_conformance(redis_url, face, storage_format)


@pytest.mark.parametrize("face", ["async", "sync"])
def test_conformance_suite_passes_with_encryption(redis_url: str, face: str) -> None:
    """Every stored piece sealed (docs/security.md, "Encryption at rest"), plain data refused, in
    storage format 2 (delta writes sealed like the rest)."""
    _full_conformance(redis_url, face, 2, encryption=Encryption({"k1": os.urandom(32)}, require=True))


def _full_conformance(redis_url: str, face: str, storage_format: int, **options: Any) -> None:
    prefixes: list[str] = []
    savers: list[RedisSaver] = []

    def make(url: str, prefix: str) -> Any:
        cls = AsyncRedisSaver if face == "async" else RedisSaver
        saver = cls(url, **saver_kwargs(prefix), **options)
        saver.setup()
        if storage_format != 1:
            saver.raise_storage_format(storage_format)
        savers.append(saver)
        return saver if face == "async" else SyncFacade(saver)

    try:
        report = _run_suite(make, redis_url, prefixes)
    finally:
        for saver in savers:
            saver.close()
        for prefix in prefixes:
            purge_prefix(redis_url, prefix)
    detected = {name for name, result in report.results.items() if result.detected}
    assert detected == {cap.value for cap in Capability}, f"not detected: {set(Capability) - detected}"
    failures = {name: result.failures for name, result in report.results.items() if result.failures}
    assert report.passed_all(), failures
    assert report.conformance_level() == "FULL"
    assert sum(r.tests_passed for r in report.results.values()) >= 81
    assert sum(r.tests_failed + r.tests_skipped for r in report.results.values()) == 0
