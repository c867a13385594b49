"""LangGraph's conformance suite with write ownership on: every write goes out fenced."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langgraph.checkpoint.conformance.capabilities import Capability

from redis_ckpt import AsyncRedisSaver, Ownership, RedisSaver
from redis_ckpt.redis_io.ownership import holding
from tests.conftest import purge_prefix, saver_kwargs
from tests.test_conformance import SyncFacade, _run_suite


class AutoOwning(RedisSaver):
    """Owns every thread it writes (lease taken on first use, kept), and fails on any unfenced
    write: the suite then runs entirely on the fenced path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held: dict[str, Ownership] = {}
        self.fenced_writes = 0

    def _own(self, thread_id: Any) -> Ownership:
        thread_id = str(thread_id)
        if thread_id not in self.held:
            self.held[thread_id] = self.acquire(thread_id, lease=600)
        return self.held[thread_id]

    @contextlib.contextmanager
    def _owning(self, thread_ids: Sequence[Any]) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for thread_id in thread_ids:
                stack.enter_context(holding(self._own(thread_id)))
            yield

    def _all_threads_owned(self) -> contextlib.AbstractContextManager[None]:
        return self._owning(self._all_threads())

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        owned = self._own(config["configurable"]["thread_id"]).bind(config)
        return super().put(owned, checkpoint, metadata, new_versions)  # type: ignore[arg-type]

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        owned = self._own(config["configurable"]["thread_id"]).bind(config)
        super().put_writes(owned, writes, task_id, task_path)  # type: ignore[arg-type]

    def delete_thread(self, thread_id: str) -> None:
        with self._owning([thread_id]):
            super().delete_thread(thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep_last: int = 1) -> None:
        with self._owning(thread_ids):
            super().prune(thread_ids, strategy=strategy, keep_last=keep_last)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        with self._owning([target_thread_id]):
            super().copy_thread(source_thread_id, target_thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        with self._all_threads_owned():
            super().delete_for_runs(run_ids)

    def _transaction(self, commands: list[Any]) -> list[Any]:
        raise AssertionError(f"unfenced write: {commands[:2]}")

    def _send_fenced(self, held: Ownership, commands: list[Any]) -> list[Any]:
        self.fenced_writes += 1
        return super()._send_fenced(held, commands)


class AsyncAutoOwning(AutoOwning, AsyncRedisSaver):
    pass


@pytest.mark.parametrize("face", ["async", "sync"])
def test_conformance_suite_passes_with_every_write_owned(redis_url: str, face: str) -> None:
    prefixes: list[str] = []
    savers: list[AutoOwning] = []

    def make(url: str, prefix: str) -> Any:
        cls = AsyncAutoOwning if face == "async" else AutoOwning
        saver = cls(url, **saver_kwargs(prefix))
        saver.setup()
        savers.append(saver)
        return saver if face == "async" else SyncFacade(saver)

    try:
        report = _run_suite(make, redis_url, prefixes)
    finally:
        for saver in savers:
            saver.close()
        for prefix in prefixes:
            purge_prefix(redis_url, prefix)
    failures = {name: result.failures for name, result in report.results.items() if result.failures}
    assert report.passed_all(), failures
    assert {name for name, r in report.results.items() if r.detected} == {cap.value for cap in Capability}
    assert sum(r.tests_passed for r in report.results.values()) >= 81
    assert sum(r.tests_failed + r.tests_skipped for r in report.results.values()) == 0
    assert sum(s.fenced_writes for s in savers) > 100
