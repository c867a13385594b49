"""The async saver, AsyncRedisSaver: RedisSaver's methods on a saver-owned thread pool.

Layer: above the sync saver, the only part of the package it builds on."""

from redis_ckpt.aio.async_redis_saver import AsyncRedisSaver

__all__ = ["AsyncRedisSaver"]
