"""Long-term memory (LangGraph BaseStore) on Redis: RedisStore (sync) and AsyncRedisStore."""

from redis_ckpt.store.async_redis_store import AsyncRedisStore
from redis_ckpt.store.redis_store import RedisStore

__all__ = ["AsyncRedisStore", "RedisStore"]
