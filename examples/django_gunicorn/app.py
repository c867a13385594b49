"""Django (one file, WSGI) under gunicorn with --preload: the saver is created before the fork.

    REDIS_URL=redis://127.0.0.1:6379 gunicorn --preload --workers 4 --bind 127.0.0.1:8000 app:application

Views are sync; `resume` and `read` call the async API with `asyncio.run`, a new event loop per
request, which is where savers bound to one loop fail. AsyncRedisSaver binds to none, and after
the fork each worker gets its own connections and threads.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only-not-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings.configure
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from langgraph.types import Command  # noqa: E402

from redis_ckpt import AsyncRedisSaver  # noqa: E402
from redis_ckpt.demo import build_graph  # noqa: E402

PREFIX = os.environ.get("REDIS_CKPT_PREFIX", "checkpoint")
saver = AsyncRedisSaver(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
    checkpoint_prefix=PREFIX,
    checkpoint_write_prefix=f"{PREFIX}_write",
)
asyncio.run(saver.asetup())  # in the gunicorn master, before the fork
graph = build_graph(saver)


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def _reply(result: dict[str, Any]) -> JsonResponse:
    interrupts = result.get("__interrupt__") or []
    return JsonResponse(
        {
            "waiting_for": interrupts[0].value if interrupts else None,
            "outcome": result.get("outcome"),
            "pid": os.getpid(),
        }
    )


def refund(request: HttpRequest, thread_id: str) -> JsonResponse:
    if request.method == "POST":
        body = json.loads(request.body)
        return _reply(graph.invoke({"customer": body["customer"], "amount": float(body["amount"])}, _config(thread_id)))
    state = asyncio.run(graph.aget_state(_config(thread_id)))
    if not state.values:
        return JsonResponse({"error": f"no thread {thread_id}"}, status=404)
    return JsonResponse({"values": state.values, "next": list(state.next), "pid": os.getpid()})


def answer(request: HttpRequest, thread_id: str) -> JsonResponse:
    if not asyncio.run(graph.aget_state(_config(thread_id))).next:
        return JsonResponse({"error": f"thread {thread_id} is not waiting for an answer"}, status=409)
    resume = Command(resume=json.loads(request.body)["answer"])
    return _reply(asyncio.run(graph.ainvoke(resume, _config(thread_id))))


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    path("refunds/<str:thread_id>", refund),
    path("refunds/<str:thread_id>/answer", answer),
    path("health", health),
]
application = get_wsgi_application()
