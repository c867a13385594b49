"""A list channel returned whole at every step (no reducer: a node returns `state["items"] + [x]`),
one checkpoint per step, under storage format 1 and 2 side by side (issue 22).

    python -m benchmarks.overwritten_list                 # 3,000 steps
    python -m benchmarks.overwritten_list --steps 1000

Printed per format: the thread's bytes in Redis (sum of `MEMORY USAGE key SAMPLES 0` over the
prefix; each format on its own prefix of one embedded Redis 8.2 without modules, or --url), the
final state's serialized size, and their ratio.
"""

from __future__ import annotations

import argparse
import operator
import os
import random
import sys
import time
import uuid
from typing import Annotated, Any, TypedDict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis
from langgraph.graph import END, START, StateGraph

from redis_ckpt import RedisSaver

_TEXT = """the a of to and in that it is was for on are as with his they at be this from have or by one had
not but what all were when we there can an your which their said if do will each about how up
out them then she many some so these would other into has more her two like him see time could
no make than first been"""
WORDS = _TEXT.split()  # common English words: item text that compresses about as real text does


def item(n: int) -> str:
    """~215 characters of text, different for each n."""
    rng = random.Random(n)
    return f"{n}: " + " ".join(rng.choice(WORDS) for _ in range(50))


class State(TypedDict):
    items: list[str]
    log: Annotated[list[str], operator.add]
    steps: int


def build(saver: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("grow", lambda s: {"items": [*s["items"], item(len(s["items"]))]})
    builder.add_edge(START, "grow")
    builder.add_conditional_edges("grow", lambda s: END if len(s["items"]) >= s["steps"] else "grow")
    return builder.compile(checkpointer=saver)


def measure(url: str, storage_format: int, steps: int) -> tuple[int, int, float]:
    prefix = f"ow{storage_format}{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(url)
    with RedisSaver(url, checkpoint_prefix=prefix, checkpoint_write_prefix=prefix + "w") as saver:
        saver.setup()
        saver.raise_storage_format(storage_format)
        graph = build(saver)
        cfg = {"configurable": {"thread_id": "t"}, "recursion_limit": steps + 10}
        start = time.perf_counter()
        graph.invoke({"items": [], "log": [], "steps": steps}, cfg)
        seconds = time.perf_counter() - start
        final = len(saver.serde.dumps_typed(graph.get_state(cfg).values["items"])[1])
        stored = sum(client.memory_usage(k, samples=0) or 0 for k in client.scan_iter(match=prefix + "*", count=1000))
        saver.delete_thread("t")
    return stored, final, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args()
    server = None
    if not args.url:
        from redis_ckpt.integrations.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis().start()
        args.url = server.url
    try:
        print(f"# a list returned whole at every step, {args.steps} steps (one checkpoint each)")
        print(f"{'storage format':<16}{'bytes in Redis':>16}{'final state':>13}{'x final':>9}{'run s':>8}")
        for storage_format in (1, 2):
            stored, final, seconds = measure(args.url, storage_format, args.steps)
            print(f"{storage_format:<16}{stored:>16,}{final:>13,}{stored / final:>8.2f}x{seconds:>8.1f}")
        return 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
