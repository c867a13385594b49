"""Demo: a LangGraph graph with a human-in-the-loop interrupt, persisted in Redis, resumed in a
fresh process, then its history printed.

    python -m redis_ckpt.demo            # embedded Redis from `redis-ckpt[demo]`, or REDIS_URL

The code is redis_ckpt/integrations/demo_app.py; this module only hands its names on.
"""

from redis_ckpt.integrations.demo_app import PREFIX, RefundState, build_graph, clean_up, main, resume, start

__all__ = ["PREFIX", "RefundState", "build_graph", "clean_up", "main", "resume", "start"]

if __name__ == "__main__":
    raise SystemExit(main())
