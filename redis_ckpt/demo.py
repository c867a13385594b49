"""The documented path of the demo (`python -m redis_ckpt.demo`, console script `redis-ckpt-demo`);
the demo itself is redis_ckpt/integrations/demo_app.py."""

from redis_ckpt.integrations.demo_app import PREFIX, RefundState, build_graph, clean_up, main, resume, start

__all__ = ["PREFIX", "RefundState", "build_graph", "clean_up", "main", "resume", "start"]

if __name__ == "__main__":
    raise SystemExit(main())
