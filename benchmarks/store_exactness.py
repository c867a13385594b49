"""Exactness checks, side by side: redis-ckpt's RedisStore, the official RedisStore, InMemoryStore.

    python -m benchmarks.store_exactness

Each check writes through the store's public API and reads back; the table says which stores give
InMemoryStore's answer. One embedded Redis 8.2 with Search+JSON unless --url/REDIS_URL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from redis_ckpt import RedisStore
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis


def _concurrent_puts(store: BaseStore) -> Any:
    threads = [threading.Thread(target=store.put, args=(("conc",), "same", {"i": i})) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(store.search(("conc",), limit=100))


CHECKS: list[tuple[str, Callable[[BaseStore], Any]]] = [
    ("get after put, namespace ('Users', 'u1')", lambda s: (s.put(("Users", "u1"), "k", {"v": 1}),
                                                            s.get(("Users", "u1"), "k") is not None)[1]),
    ("search ('users',) finds nothing of ('Users', ...)", lambda s: [i.namespace for i in s.search(("users",))]),
    ("get after put, namespace ('docs', 'the')", lambda s: (s.put(("docs", "the"), "k", {"v": 1}),
                                                            s.get(("docs", "the"), "k") is not None)[1]),
    ("search ('a',) after put in ('a-b',) and ('a',)", lambda s: (s.put(("a-b",), "k", {"v": 1}),
                                                                  s.put(("a",), "k", {"v": 2}),
                                                                  sorted(i.namespace for i in s.search(("a",))))[2]),
    ("items after 8 concurrent puts of one key", _concurrent_puts),
    ("list_namespaces(prefix=('x', '*', 'z'))", lambda s: (s.put(("x", "y", "z"), "k", {"v": 1}),
                                                           s.put(("x", "z"), "k", {"v": 1}),
                                                           s.list_namespaces(prefix=("x", "*", "z")))[2]),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    url = parser.parse_args().url
    server = None
    if not url:
        server = EmbeddedRedis(modules=True).start()
        url = server.url
    try:
        from langgraph.store.redis import RedisStore as OfficialStore  # benchmark-only dependency

        prefix = f"sx{uuid.uuid4().hex[:6]}"
        ours = RedisStore(url, prefix=prefix)
        ours.setup()
        client = redis.Redis.from_url(url)
        official = OfficialStore(client, store_prefix=prefix + "o", vector_prefix=prefix + "ov")
        official.setup()
        stores: dict[str, BaseStore] = {"InMemoryStore": InMemoryStore(), "redis-ckpt": ours, "official": official}
        print("| check | " + " | ".join(stores) + " |")
        print("|---" * (len(stores) + 1) + "|")
        for title, check in CHECKS:
            answers = {}
            for name, store in stores.items():
                try:
                    answers[name] = repr(check(store))
                except Exception as exc:  # a store that fails a check is part of the answer
                    answers[name] = f"raises {type(exc).__name__}"
            print(f"| {title} | " + " | ".join(answers.values()) + " |")
        ours.clear(())
        ours.close()
        for index in (prefix + "o", prefix + "ov", ours.layout.item_index):  # indexes (with documents)
            with contextlib.suppress(redis.ResponseError):
                client.execute_command("FT.DROPINDEX", index, "DD")
        client.close()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
