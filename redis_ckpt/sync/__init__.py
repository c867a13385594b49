"""The sync saver, RedisSaver: SaverCore (client, retries, reads) < saver_ownership (fenced writes)
< saver_maintenance (whole-thread operations) < redis_saver (LangGraph's checkpointer API).

Layer: above redis_io and format, beside the store, which it never imports (nor the store it).
The async saver (redis_ckpt.aio) runs these methods on threads."""

from redis_ckpt.sync.redis_saver import RedisSaver

__all__ = ["RedisSaver"]
