from redis_ckpt.aio.saver import AsyncRedisSaver

__all__ = ["AsyncRedisSaver"]
