"""redis-ckpt: durable LangGraph checkpoints on Redis."""

from redis_ckpt.aio import AsyncRedisSaver
from redis_ckpt.config import RetryConfig
from redis_ckpt.errors import (
    ConfigurationError,
    FormatTooNewError,
    IncompatibleClientError,
    NotReplicatedError,
    OwnershipLostError,
    ReadConflictError,
    RedisCheckpointError,
    SerializationError,
    StoreUnavailableError,
    ThreadBusyError,
)
from redis_ckpt.ownership import Ownership
from redis_ckpt.store import AsyncRedisStore, RedisStore
from redis_ckpt.sync import RedisSaver

__version__ = "0.1.0"

__all__ = [
    "AsyncRedisSaver",
    "AsyncRedisStore",
    "ConfigurationError",
    "FormatTooNewError",
    "IncompatibleClientError",
    "NotReplicatedError",
    "Ownership",
    "OwnershipLostError",
    "ReadConflictError",
    "RedisCheckpointError",
    "RedisSaver",
    "RedisStore",
    "RetryConfig",
    "SerializationError",
    "StoreUnavailableError",
    "ThreadBusyError",
]
