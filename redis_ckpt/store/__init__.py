"""Long-term memory (LangGraph BaseStore) on Redis: RedisStore (sync) and AsyncRedisStore."""

from redis_ckpt.store.aio import AsyncRedisStore
from redis_ckpt.store.sync import RedisStore

__all__ = ["AsyncRedisStore", "RedisStore"]
