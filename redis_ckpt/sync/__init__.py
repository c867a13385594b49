from redis_ckpt.sync.saver import RedisSaver

__all__ = ["RedisSaver"]
