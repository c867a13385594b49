"""examples/fastapi_app: lifespan-managed AsyncRedisSaver, driven through httpx's ASGI client with
concurrent requests (interrupt, resume, read back)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import purge_prefix
from tests.examples_support import load_example

THREADS = 12


@pytest.fixture
def app(redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_CKPT_PREFIX", prefix)
    yield load_example("fastapi_app/app.py", "example_fastapi_app").app
    purge_prefix(redis_url, prefix)


async def _scenario(app: Any) -> None:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
            started = await asyncio.gather(
                *(client.post(f"/refunds/r{i}", json={"customer": f"c{i}", "amount": i + 0.5}) for i in range(THREADS))
            )
            for i, response in enumerate(started):
                assert response.status_code == 200, response.text
                assert response.json()["waiting_for"] == {"question": f"Approve? Refund {i + 0.5:.2f} EUR to c{i}"}
            answers = ["yes" if i % 2 == 0 else "no" for i in range(THREADS)]
            resumed = await asyncio.gather(
                *(client.post(f"/refunds/r{i}/answer", json={"answer": a}) for i, a in enumerate(answers))
            )
            for i, response in enumerate(resumed):
                assert response.status_code == 200, response.text
                expected = "paid" if i % 2 == 0 else "declined"
                assert response.json()["outcome"] == f"Refund {i + 0.5:.2f} EUR to c{i}: {expected}"
            again = await client.post("/refunds/r0/answer", json={"answer": "yes"})
            assert again.status_code == 409
            reads = await asyncio.gather(*(client.get(f"/refunds/r{i}") for i in range(THREADS)))
            for i, response in enumerate(reads):
                body = response.json()
                assert body["next"] == [] and body["values"]["customer"] == f"c{i}"
                assert body["checkpoints"] == 5  # input, draft, approve (interrupted), resumed, settle
            assert (await client.get("/refunds/nobody")).status_code == 404


def test_fastapi_example_concurrent_runs_interrupt_and_resume(app: Any) -> None:
    asyncio.run(_scenario(app))
    # The saver is not bound to the loop above: a second loop (a new lifespan) reads the same data.
    asyncio.run(_read_again(app))


async def _read_again(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://e") as client:
        response = await client.get("/refunds/r3")
        assert response.json()["values"]["outcome"] == "Refund 3.50 EUR to c3: declined"
