"""Fixtures' building blocks for the store tests: deterministic fake embeddings, fresh stores."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from typing import Any, TypeVar

import redis

from redis_ckpt import RedisStore

DIMS = 16
S = TypeVar("S", bound=RedisStore)


def bag_of_words(texts: list[str]) -> list[list[float]]:
    """Each word adds 1 to a bucket chosen by its hash: texts sharing words are close. No network."""
    vectors = []
    for text in texts:
        vector = [0.0] * DIMS
        for word in re.findall(r"\w+", text.lower()):
            vector[hashlib.sha256(word.encode()).digest()[0] % DIMS] += 1.0
        vectors.append(vector)
    return vectors


def index_config(**extra: Any) -> dict[str, Any]:
    return {"dims": DIMS, "embed": bag_of_words, **extra}


def purge_store(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        for index in ("item_index", "vector_index"):
            with contextlib.suppress(redis.ResponseError):
                client.execute_command("FT.DROPINDEX", f"{prefix}:{index}")
    finally:
        client.close()


@contextlib.contextmanager
def fresh_store(cls: type[S], url: str, prefix: str, **kwargs: Any) -> Iterator[S]:
    store = cls(url, prefix=prefix, **kwargs)
    try:
        store.setup()
        yield store
    finally:
        store.close()
        purge_store(url, prefix)
