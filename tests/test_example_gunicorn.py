"""examples/flask_gunicorn and examples/django_gunicorn: gunicorn --preload with 3 workers, the
saver created in the master before the fork; every worker serves checkpoint reads and writes over
HTTP (the same HTTP API in both examples)."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from redis_ckpt.integrations.embedded_redis import free_port
from tests.conftest import purge_prefix
from tests.examples_support import EXAMPLES, child_env, group_alive, start_process, stop_process, wait_http

WORKERS = 3
REQUESTS = 30


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "wsgi_app"), [("flask_gunicorn", "app:app"), ("django_gunicorn", "app:application")]
)
def test_web_app_under_gunicorn_preload_every_worker_uses_the_pre_fork_saver(
    example: str, wsgi_app: str, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [str(gunicorn), "--preload", "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}", wsgi_app]
    log = tmp_path / "gunicorn.log"
    server = start_process(args, EXAMPLES / example, child_env(REDIS_URL=redis_url, REDIS_CKPT_PREFIX=prefix), log)
    try:
        wait_http(f"{base}/health", server, log)
        with httpx.Client(base_url=base, timeout=30) as client, ThreadPoolExecutor(8) as pool:
            started = list(
                pool.map(
                    lambda i: client.post(f"/refunds/r{i}", json={"customer": f"c{i}", "amount": i}), range(REQUESTS)
                )
            )
            for i, response in enumerate(started):
                assert response.status_code == 200, response.text
                assert response.json()["waiting_for"] == {"question": f"Approve? Refund {i:.2f} EUR to c{i}"}
            # Resumes land on any worker, usually not the one that started the run.
            resumed = list(
                pool.map(lambda i: client.post(f"/refunds/r{i}/answer", json={"answer": "yes"}), range(REQUESTS))
            )
            for i, response in enumerate(resumed):
                assert response.status_code == 200, response.text
                assert response.json()["outcome"] == f"Refund {i:.2f} EUR to c{i}: paid"
            reads = list(pool.map(lambda i: client.get(f"/refunds/r{i}"), range(REQUESTS)))
            for i, response in enumerate(reads):
                assert response.json()["values"]["outcome"] == f"Refund {i:.2f} EUR to c{i}: paid"
            assert client.post("/refunds/r0/answer", json={"answer": "no"}).status_code == 409
            pids = {r.json()["pid"] for r in started + resumed + reads}
            # Keep asking until every worker has answered a read (the kernel picks who accepts).
            for _ in range(20):
                if len(pids) >= WORKERS:
                    break
                pids |= {r.json()["pid"] for r in pool.map(lambda i: client.get(f"/refunds/r{i}"), range(REQUESTS))}
        assert len(pids) == WORKERS, f"workers that answered: {pids}"
        assert server.pid not in pids  # the master forked them; it serves nothing itself
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        stop_process(server)
        purge_prefix(redis_url, prefix)
    assert not group_alive(server.pid)
    assert os.path.exists(log)
