"""The documented path of the pytest plugin (entry point `pytest11: redis_ckpt`); the plugin itself
is redis_ckpt/integrations/pytest_plugin.py. pytest registers this module, so it hands on the hook
and the fixtures as well as the helpers."""

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
