"""Typed errors. Each says what went wrong and what to do about it."""

from __future__ import annotations


class RedisCheckpointError(Exception):
    """Base class of every error raised by redis-ckpt."""


class ConfigurationError(RedisCheckpointError, ValueError):
    """The saver or a call was configured wrongly (bad URL, missing thread_id, bad argument)."""


class SerializationError(RedisCheckpointError, TypeError):
    """A value could not be encoded by the serializer. Nothing was written."""


class StoreUnavailableError(RedisCheckpointError, ConnectionError):
    """Redis could not be reached within the retry policy's deadline (an outage, not a wrong
    setting: those raise the typed errors below at once). The last cause is chained."""


class IncompatibleClientError(ConfigurationError):
    """The redis client passed in cannot be used (e.g. decode_responses=True)."""


class NotReplicatedError(RedisCheckpointError):
    """A write was applied on the primary, but fewer replicas than `wait_replicas` confirmed it
    within `wait_timeout_ms` (WAIT). The saver retries it (writes are idempotent); past the retry
    budget it surfaces inside StoreUnavailableError."""


class ReadConflictError(RedisCheckpointError):
    """A read kept racing deletions of the checkpoints it was reading (a prune or delete_thread
    running at the same moment, several times in a row). Nothing is wrong with the data: retry."""


class OwnershipLostError(RedisCheckpointError):
    """A write under write ownership was refused: another worker took the thread over (its lease
    expired while this one stalled, or it was taken by force). Nothing of the write was applied.
    Stop working on the thread; its history is the new owner's."""


class ThreadBusyError(RedisCheckpointError):
    """Write ownership of a thread could not be taken within the wait: another worker holds its
    lease. Retry later, or give up on the request."""


class AsyncOnSyncSaverError(RedisCheckpointError, NotImplementedError):
    """An async method (`ainvoke` calls them) was called on the sync RedisSaver. Use
    AsyncRedisSaver in async code: same options, same data, both faces can share a server."""

    def __init__(self, method: str) -> None:
        super().__init__(
            f"RedisSaver.{method} is not available: RedisSaver is the sync saver. For ainvoke/astream and "
            "other async code use redis_ckpt.AsyncRedisSaver (same options, same data)"
        )


class SaverClosedError(RedisCheckpointError, RuntimeError):
    """A call on an AsyncRedisSaver after it was closed (its `async with` block ended, or aclose()
    was called). Nothing was sent. Open a new saver."""


class AuthenticationFailedError(RedisCheckpointError, PermissionError):
    """Redis refused the credentials (wrong password or user, a disabled user, or none given to a
    server that needs them). Never retried: check the URL's user and password, or connection_args."""


class PermissionDeniedError(RedisCheckpointError, PermissionError):
    """The Redis ACL user may not run a command, or touch a key, the saver needs. Never retried:
    `redis-ckpt doctor` lists what is missing; docs/security.md has the ACL rules to grant."""


class ServerOutOfMemoryError(RedisCheckpointError):
    """Redis refused a write: it reached `maxmemory` with `maxmemory-policy noeviction`. Nothing of
    the refused write was applied (each write is one MULTI/EXEC or script). Free memory, raise
    maxmemory, or prune old checkpoints, then retry the call."""


class BadDatabaseError(ConfigurationError):
    """The URL names a database number the server does not have (`databases` in redis.conf)."""


class TLSError(RedisCheckpointError, ConnectionError):
    """TLS with the server failed for a reason retrying cannot fix (the server's certificate is
    not trusted, or the server refused the client's): the cause is chained."""


class TLSMismatchError(TLSError):
    """One side speaks TLS and the other does not: a `rediss://` URL at a plain port, or a
    `redis://` URL at a TLS port."""


class FormatTooNewError(RedisCheckpointError):
    """The deployment, or a namespace of a thread, holds a storage format newer than this release
    reads or writes (a newer release wrote it, or the operator raised the deployment's format).
    No checkpoint, write or deletion took effect (a put refused by a namespace may leave the values
    it sent before its commit unreferenced, for a later collection). Upgrade this worker
    (docs/upgrading.md). `found` is the stored format, `supported` the newest this release handles."""

    def __init__(self, message: str, *, found: int, supported: int) -> None:
        super().__init__(message)
        self.found = found
        self.supported = supported


class EncryptionError(RedisCheckpointError):
    """Base class of the errors of encryption at rest (`Encryption`, docs/security.md)."""


class DecryptionError(EncryptionError):
    """A stored piece could not be decrypted: it names a key id the saver does not have, or it does
    not decrypt with that key (a wrong key under that id, or the stored bytes were altered).
    `key_id` names the key. Nothing stored was changed: configure the key and read again."""

    def __init__(self, message: str, *, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class UnencryptedDataError(EncryptionError):
    """A saver with `Encryption(require=True)` read a piece stored without encryption. Re-encrypt
    the thread (`redis-ckpt reencrypt`) with `require` off, then turn it on."""
