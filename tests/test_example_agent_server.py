"""examples/agent-server under `langgraph dev` (langgraph-cli[inmem], no Docker) with redis-ckpt as the
custom checkpointer, driven through langgraph-sdk.

An interrupted run is resumed, the server is restarted, and the thread's state and history come
back from Redis. A run cancelled by multitask_strategy="rollback" leaves no checkpoint behind.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import langgraph_sdk
import langgraph_sdk.errors
import pytest

from redis_ckpt import RedisSaver
from redis_ckpt.integrations.embedded_redis import free_port
from tests.conftest import purge_prefix, saver_kwargs
from tests.examples_support import EXAMPLES, child_env, group_alive, start_process, stop_process, wait_http


class DevServer:
    """`langgraph dev` in a copy of the example project; restartable on the same project folder."""

    def __init__(self, project: Path, env: dict[str, str], logs: Path) -> None:
        self.project, self.env, self.logs = project, env, logs
        self.process: Any = None
        self.url = ""
        self.starts = 0

    def start(self) -> Any:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        langgraph = Path(sys.executable).with_name("langgraph")
        args = [str(langgraph), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)]
        self.starts += 1
        log = self.logs / f"server-{self.starts}.log"
        self.process = start_process(args, self.project, self.env, log)
        wait_http(f"{self.url}/ok", self.process, log, timeout=120)
        return langgraph_sdk.get_sync_client(url=self.url, timeout=60)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            assert not group_alive(self.process.pid)
            self.process = None

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("server-*.log")))


@pytest.fixture
def server(redis_url: str, prefix: str, tmp_path: Path) -> Iterator[DevServer]:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES / "agent-server", project, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
    env = child_env(
        REDIS_CKPT_URL=redis_url,
        REDIS_CKPT_PREFIX=prefix,
        SLOW_STEP_SECONDS="3",
        LANGSMITH_TRACING="false",
        LANGGRAPH_NO_ANALYTICS="1",
    )
    dev = DevServer(project, env, tmp_path)
    try:
        yield dev
    finally:
        dev.stop()
        purge_prefix(redis_url, prefix)


def _checkpoints(saver: RedisSaver, thread_id: str) -> list[Any]:
    return list(saver.list({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}))


@pytest.mark.slow
def test_agent_server_interrupt_resume_restart_and_rollback(server: DevServer, redis_url: str, prefix: str) -> None:
    saver = RedisSaver(redis_url, **saver_kwargs(prefix))
    try:
        client = server.start()
        thread_id = client.threads.create()["thread_id"]
        first = client.runs.wait(thread_id, "refund", input={"customer": "Ada", "amount": 42})
        assert first["__interrupt__"][0]["value"] == {"question": "Approve? Refund 42.00 EUR to Ada"}
        assert client.threads.get_state(thread_id)["next"] == ["approve"]
        # The interrupt is in Redis, written through the server's adapter (metadata enriched).
        latest = saver.get_tuple({"configurable": {"thread_id": thread_id}})
        assert latest is not None and latest.metadata["graph_id"] == "refund"
        assert any(w[1] == "__interrupt__" for w in latest.pending_writes)

        done = client.runs.wait(thread_id, "refund", command={"resume": "yes"})
        assert done["outcome"] == "Refund 42.00 EUR to Ada: paid"
        history_before = client.threads.get_history(thread_id, limit=100)

        # A restarted server reads the thread back from Redis.
        server.stop()
        client = server.start()
        state = client.threads.get_state(thread_id)
        assert state["values"]["outcome"] == "Refund 42.00 EUR to Ada: paid" and state["next"] == []
        history = client.threads.get_history(thread_id, limit=100)
        assert [h["checkpoint_id"] for h in history] == [h["checkpoint_id"] for h in history_before]
        stored_ids = [c.config["configurable"]["checkpoint_id"] for c in _checkpoints(saver, thread_id)]
        assert [h["checkpoint_id"] for h in history] == stored_ids and len(stored_ids) == 5

        # Rollback: run A is cancelled by run B and its checkpoints are deleted (adelete_for_runs).
        slow_thread = client.threads.create()["thread_id"]
        run_a = client.runs.create(slow_thread, "slow", input={"label": "A", "steps": []})
        deadline = time.monotonic() + 60
        while not any(c.metadata.get("run_id") == run_a["run_id"] for c in _checkpoints(saver, slow_thread)):
            assert time.monotonic() < deadline, "run A wrote no checkpoint:\n" + server.log_text()[-3000:]
            time.sleep(0.1)
        run_b = client.runs.create(
            slow_thread, "slow", input={"label": "B", "steps": []}, multitask_strategy="rollback"
        )
        client.runs.join(slow_thread, run_b["run_id"])
        assert client.threads.get_state(slow_thread)["values"]["steps"] == ["B:first", "B:paused", "B:last"]
        run_ids = {c.metadata.get("run_id") for c in _checkpoints(saver, slow_thread)}
        assert run_ids == {run_b["run_id"]}, run_ids
        # The server forgot run A too (rollback deletes the run, not only its checkpoints).
        with pytest.raises(langgraph_sdk.errors.NotFoundError):
            client.runs.get(slow_thread, run_a["run_id"])
        assert "Failed to clean up custom checkpointer" not in server.log_text()
        assert "Using custom checkpointer: AsyncRedisSaver" in server.log_text()
    finally:
        saver.close()
