from redis_ckpt.aio.async_redis_saver import AsyncRedisSaver

__all__ = ["AsyncRedisSaver"]
