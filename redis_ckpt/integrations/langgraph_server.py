"""The LangGraph Agent Server's custom checkpointer: one AsyncRedisSaver per process, configured from
the environment. Users name it as `redis_ckpt.agent_server.checkpointer`; that module's docstring is
the guide.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from redis_ckpt.aio import AsyncRedisSaver
from redis_ckpt.errors import ConfigurationError


def settings_from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """AsyncRedisSaver keyword arguments from REDIS_CKPT_URL/REDIS_URL, REDIS_CKPT_PREFIX, REDIS_CKPT_TTL_MINUTES."""
    env = dict(os.environ if environ is None else environ)
    url = env.get("REDIS_CKPT_URL") or env.get("REDIS_URL")
    if not url:
        raise ConfigurationError("set REDIS_CKPT_URL (or REDIS_URL) for the Agent Server's Redis checkpointer")
    prefix = env.get("REDIS_CKPT_PREFIX") or "checkpoint"
    kwargs: dict[str, Any] = {
        "redis_url": url,
        "checkpoint_prefix": prefix,
        "checkpoint_write_prefix": f"{prefix}_write",
    }
    ttl = env.get("REDIS_CKPT_TTL_MINUTES")
    if ttl:
        try:
            kwargs["ttl"] = {"default_ttl": float(ttl)}
        except ValueError as exc:
            raise ConfigurationError(f"REDIS_CKPT_TTL_MINUTES must be a number of minutes, not {ttl!r}") from exc
    return kwargs


class _SharedSaver:
    """One saver per process, however many event loops enter the factory; closed by the last exit."""

    def __init__(self, make_kwargs: Callable[[], dict[str, Any]]) -> None:
        self._make_kwargs = make_kwargs
        self._lock = threading.Lock()
        self._saver: AsyncRedisSaver | None = None
        self._users = 0
        self._ready = False

    def acquire(self) -> AsyncRedisSaver:
        with self._lock:
            if self._saver is None:
                self._saver = AsyncRedisSaver(**self._make_kwargs())
                self._ready = False
            self._users += 1
            return self._saver

    def release(self) -> AsyncRedisSaver | None:
        """The saver to close, when this was the last user."""
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return None
            saver, self._saver = self._saver, None
            return saver

    async def ensure_setup(self, saver: AsyncRedisSaver) -> None:
        if not self._ready:  # setup is idempotent: a race only repeats it
            await saver.asetup()
            self._ready = True


def checkpointer_factory(**saver_kwargs: Any) -> Callable[[], AbstractAsyncContextManager[AsyncRedisSaver]]:
    """An async context manager function for langgraph.json's `checkpointer.path`.

    With no arguments the saver's settings are read from the environment when first entered
    (see `settings_from_env`); otherwise `saver_kwargs` are AsyncRedisSaver's arguments.
    """
    shared = _SharedSaver(lambda: dict(saver_kwargs) if saver_kwargs else settings_from_env())

    @asynccontextmanager
    async def redis_checkpointer() -> AsyncIterator[AsyncRedisSaver]:
        saver = shared.acquire()
        try:
            await shared.ensure_setup(saver)
            yield saver
        finally:
            last = shared.release()
            if last is not None:
                await last.aclose()

    return redis_checkpointer


checkpointer = checkpointer_factory()
