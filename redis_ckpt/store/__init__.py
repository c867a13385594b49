"""Long-term memory (LangGraph BaseStore) on Redis: RedisStore (sync) and AsyncRedisStore.

Layer: beside the sync saver, above redis_io and format; the store shares the saver's connection,
retry policy and failures (redis_io) but imports nothing of the saver, and has its own Lua (lua/)."""

from redis_ckpt.store.async_redis_store import AsyncRedisStore
from redis_ckpt.store.redis_store import RedisStore

__all__ = ["AsyncRedisStore", "RedisStore"]
