from redis_ckpt.sync.redis_saver import RedisSaver

__all__ = ["RedisSaver"]
