"""The documented path of the embedded Redis (extra `redis-ckpt[server]`); the code is
redis_ckpt/integrations/embedded_redis.py."""

from redis_ckpt.integrations.embedded_redis import (
    EmbeddedCluster,
    EmbeddedRedis,
    free_port,
    module_paths,
    running,
    running_cluster,
    server_binary,
)

__all__ = [
    "EmbeddedCluster",
    "EmbeddedRedis",
    "free_port",
    "module_paths",
    "running",
    "running_cluster",
    "server_binary",
]
