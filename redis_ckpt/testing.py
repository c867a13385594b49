"""pytest plugin: a real Redis and ready savers for your own tests, in one line.

Installed with redis-ckpt (entry point `pytest11: redis_ckpt`), it only defines fixtures; nothing
starts until a test asks for one, and every name is namespaced so it cannot shadow your own
fixtures:

- `redis_ckpt_url` (session): the URL of a Redis server for the whole session, chosen as
  1. `REDIS_URL` from the environment (an existing server; nothing is started or stopped),
  2. a `redis:8` container through testcontainers when `REDIS_CKPT_DOCKER=1` and Docker answers,
  3. otherwise an embedded `redis-server` from `pip install 'redis-ckpt[server]'` on a free
     loopback port (with the JSON and Search modules when they are installed; the ini option
     `redis_ckpt_modules = false` starts it plain).
- `redis_ckpt_prefix` (function): a unique key prefix for one test.
- `redis_saver` / `async_redis_saver` (function): a set-up `RedisSaver` / `AsyncRedisSaver` on
  that prefix, closed after the test and every key under the prefix (and its search index) deleted.
- `redis_store` / `async_redis_store` (function): a set-up `RedisStore` / `AsyncRedisStore`
  (LangGraph's long-term memory) on `<prefix>_store`, cleaned up the same way.

    def test_my_graph(redis_saver):
        graph = builder.compile(checkpointer=redis_saver)
        ...

`-p no:redis_ckpt` turns the plugin off.

The code is redis_ckpt/integrations/pytest_plugin.py; this module only hands its names on.
"""

from redis_ckpt.integrations.pytest_plugin import (
    DOCKER_IMAGE,
    async_redis_saver,
    async_redis_store,
    docker_requested_and_working,
    purge,
    purge_store,
    pytest_addoption,
    redis_ckpt_prefix,
    redis_ckpt_url,
    redis_saver,
    redis_server,
    redis_store,
)

__all__ = [
    "DOCKER_IMAGE",
    "async_redis_saver",
    "async_redis_store",
    "docker_requested_and_working",
    "purge",
    "purge_store",
    "pytest_addoption",
    "redis_ckpt_prefix",
    "redis_ckpt_url",
    "redis_saver",
    "redis_server",
    "redis_store",
]
