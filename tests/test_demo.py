"""The README's demo runs end to end: interrupt in one process, resume in another, history."""

from __future__ import annotations

import subprocess
import sys

import redis

from redis_ckpt.integrations.demo_app import PREFIX
from tests.conftest import client_for, keys_under, purge_prefix


def test_demo_interrupts_resumes_in_a_fresh_process_and_prints_history(redis_url: str) -> None:
    client: redis.Redis = client_for(redis_url)
    before = set(keys_under(client, PREFIX))
    out = subprocess.run(
        [sys.executable, "-m", "redis_ckpt.demo", "--url", redis_url], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    pids = {line.split("]")[0] for line in lines if line.startswith("[process")}
    assert len(pids) == 2  # interrupted in one process, resumed in another
    assert any("interrupted: Approve? Refund 42.00 EUR to Ada" in line for line in lines)
    assert any("resumed with 'yes': Refund 42.00 EUR to Ada: paid" in line for line in lines)
    assert sum(1 for line in lines if line.strip().startswith("step")) == 5
    # A server given by --url is left as it was (the demo's thread deleted); --keep keeps it.
    assert set(keys_under(client, PREFIX)) == before and "deleted the demo's thread" in out.stdout
    kept = subprocess.run(
        [sys.executable, "-m", "redis_ckpt.demo", "--url", redis_url, "--keep"], capture_output=True, text=True
    )
    assert kept.returncode == 0 and "kept thread" in kept.stdout
    assert set(keys_under(client, PREFIX)) > before
    purge_prefix(redis_url, PREFIX)


def test_demo_starts_its_own_embedded_server_when_no_url_is_given() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "redis_ckpt.demo"],
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in __import__("os").environ.items() if k != "REDIS_URL"},
    )
    assert out.returncode == 0, out.stderr
    assert "started an embedded Redis at redis://127.0.0.1:" in out.stdout
    assert "paid" in out.stdout
