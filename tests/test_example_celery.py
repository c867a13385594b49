"""examples/celery_worker: a Celery prefork worker (3 children) resumes interrupts started elsewhere
(in this test process and in other children), on a shared sequence of thread ids.

It starts its own embedded Redis (broker, results and checkpoints), because Celery leaves queue,
binding and result keys that are not ours to delete on a shared server; stopping it removes all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redis_ckpt.integrations.embedded_redis import EmbeddedRedis
from tests.examples_support import EXAMPLES, child_env, group_alive, load_example, start_process, stop_process

CHILDREN = 3
THREADS = 12
TIMEOUT = 60


@pytest.fixture
def server() -> Iterator[EmbeddedRedis]:
    redis_server = EmbeddedRedis(modules=False).start()
    yield redis_server
    redis_server.stop()


@pytest.mark.slow
def test_celery_prefork_workers_resume_interrupts_started_elsewhere(
    server: EmbeddedRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("REDIS_CKPT_PREFIX", "celery_example")
    tasks: Any = load_example("celery_worker/tasks.py", "example_celery_tasks")
    celery = Path(sys.executable).with_name("celery")
    args = [str(celery), "-A", "tasks", "worker", "--pool=prefork", f"--concurrency={CHILDREN}", "--loglevel=INFO"]
    log = tmp_path / "worker.log"
    worker = start_process(args, EXAMPLES / "celery_worker", child_env(REDIS_URL=server.url), log)
    try:
        threads = [f"order-{n}" for n in range(THREADS)]
        # Half the runs start here, in this process (the "elsewhere" of a web app or a script).
        here = threads[: THREADS // 2]
        for n, thread_id in enumerate(here):
            result = tasks.graph.invoke(
                {"customer": f"c{n}", "amount": float(n)}, {"configurable": {"thread_id": thread_id}}
            )
            assert "__interrupt__" in result
        # The other half start in the workers.
        started = [tasks.start_refund.delay(t, f"c{n}", float(n)) for n, t in enumerate(threads) if t not in here]
        start_results = [r.get(timeout=TIMEOUT) for r in started]
        for n, got in zip(range(THREADS // 2, THREADS), start_results):
            assert got["waiting_for"] == {"question": f"Approve? Refund {n:.2f} EUR to c{n}"}
        # Every run is resumed by whichever child picks it up.
        answers = {t: ("yes" if n % 3 else "no") for n, t in enumerate(threads)}
        resumed = [tasks.answer_refund.delay(t, answers[t]) for t in threads]
        resume_results = [r.get(timeout=TIMEOUT) for r in resumed]
        for n, got in enumerate(resume_results):
            expected = "paid" if answers[threads[n]] == "yes" else "declined"
            assert got["outcome"] == f"Refund {float(n):.2f} EUR to c{n}: {expected}"
        histories = [tasks.history.delay(t).get(timeout=TIMEOUT) for t in threads]
        assert all(h["checkpoints"] == 5 and h["next"] == [] for h in histories)
        # And this process sees the workers' results in Redis.
        for n, thread_id in enumerate(threads):
            state = tasks.graph.get_state({"configurable": {"thread_id": thread_id}})
            assert state.values["outcome"].startswith(f"Refund {float(n):.2f} EUR to c{n}")
        pids = {r["pid"] for r in start_results + resume_results + histories}
        assert worker.pid not in pids and len(pids) >= 2, pids  # prefork children did the work
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        stop_process(worker)
        tasks.saver.close()
    assert not group_alive(worker.pid)
