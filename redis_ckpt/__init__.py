"""redis-ckpt: durable LangGraph checkpoints on Redis."""

from redis_ckpt.aio import AsyncRedisSaver
from redis_ckpt.config import RetryConfig
from redis_ckpt.errors import (
    AsyncOnSyncSaverError,
    AuthenticationFailedError,
    BadDatabaseError,
    ConfigurationError,
    DecryptionError,
    EncryptionError,
    FormatTooNewError,
    IncompatibleClientError,
    NotReplicatedError,
    OwnershipLostError,
    PermissionDeniedError,
    ReadConflictError,
    RedisCheckpointError,
    SaverClosedError,
    SerializationError,
    ServerOutOfMemoryError,
    StoreUnavailableError,
    ThreadBusyError,
    TLSError,
    TLSMismatchError,
    UnencryptedDataError,
)
from redis_ckpt.format.encryption import Encryption
from redis_ckpt.redis_io.ownership import Ownership
from redis_ckpt.store import AsyncRedisStore, RedisStore
from redis_ckpt.sync import RedisSaver

__version__ = "0.1.0"

__all__ = [
    "AsyncOnSyncSaverError",
    "AsyncRedisSaver",
    "AsyncRedisStore",
    "AuthenticationFailedError",
    "BadDatabaseError",
    "ConfigurationError",
    "DecryptionError",
    "Encryption",
    "EncryptionError",
    "FormatTooNewError",
    "IncompatibleClientError",
    "NotReplicatedError",
    "Ownership",
    "OwnershipLostError",
    "PermissionDeniedError",
    "ReadConflictError",
    "RedisCheckpointError",
    "RedisSaver",
    "RedisStore",
    "RetryConfig",
    "SaverClosedError",
    "SerializationError",
    "ServerOutOfMemoryError",
    "StoreUnavailableError",
    "TLSError",
    "TLSMismatchError",
    "ThreadBusyError",
    "UnencryptedDataError",
]
