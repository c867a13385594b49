"""Encryption of stored pieces at rest: AES-256-GCM, after deduplication and compression. No I/O.

What is encrypted (docs/design.md, "Encrypted pieces"): every piece that holds data — chunks,
namespace dictionaries, plain channel values (inline or spilled), document bodies (checkpoint and
metadata) and pending-write values. What the scripts need stays as it is: records (array headers
and chunk digests), document parents and references, search tags, field and key names. Digests are
computed on the plaintext, so equal chunks still deduplicate (and are visible as equal digests).

A sealed piece is

    SEALED, len(key id) (one byte), key id, nonce (12 random bytes), ciphertext and 16-byte tag

and a piece compressed with a namespace dictionary keeps its `WITH_DICTIONARY + digest` prefix
in the clear (the read scripts return the dictionaries pieces need), followed by the sealed
frame. The associated data binds a piece to what it is: a chunk to its chunk-hash field (its
digest), a value to its channel, a pending write's value to its channel, a body to its
checkpoint id; and, for a dictionary-compressed piece, to its clear prefix. A piece moved
elsewhere does not decrypt.

`cryptography` is imported only when an `Encryption` is built: a saver without one never needs it
(and reads a sealed piece as a typed error naming its key id).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any

from redis_ckpt.errors import ConfigurationError, DecryptionError, UnencryptedDataError

SEALED = b"\x05"  # an unused first byte of every stored encoding (docs/design.md, "Stored encodings")
WITH_DICTIONARY = b"\x02"  # compression.WITH_DICTIONARY: its digest stays in the clear
_DICTIONARY_DIGEST = 8
NONCE = 12
TAG = 16
KEY_BYTES = 32  # AES-256
MAX_KEY_ID = 255
ENV_KEYS = "REDIS_CKPT_ENCRYPTION_KEYS"
ENV_CURRENT = "REDIS_CKPT_ENCRYPTION_CURRENT"
ENV_REQUIRE = "REDIS_CKPT_ENCRYPTION_REQUIRE"


# What a piece's associated data starts with, by kind (then its field, channel or checkpoint id).
def chunk_context(chunk_field: bytes) -> bytes:
    """A chunk's or a namespace dictionary's: its field in the chunk hash."""
    return b"chunk\0" + chunk_field


def value_context(channel: bytes) -> bytes:
    """A channel value's (inline or spilled), in the blob hash or a delta walk's seed."""
    return b"value\0" + channel


def write_context(channel: bytes) -> bytes:
    """A pending write's value."""
    return b"write\0" + channel


def body_context(checkpoint_id: bytes) -> bytes:
    """A document body's (checkpoint and metadata)."""
    return b"body\0" + checkpoint_id


def _split(stored: bytes) -> tuple[bytes, bytes]:
    """(clear prefix, the rest) of a stored piece: the prefix of a dictionary-compressed one."""
    if stored[:1] == WITH_DICTIONARY:
        return stored[: 1 + _DICTIONARY_DIGEST], stored[1 + _DICTIONARY_DIGEST :]
    return b"", stored


def is_sealed(stored: bytes) -> bool:
    """Whether a stored piece (value, chunk, body, dictionary) is encrypted."""
    return _split(stored)[1][:1] == SEALED


def key_id_of(stored: bytes) -> str | None:
    """The key id a sealed piece was encrypted with (None for a plain piece)."""
    rest = _split(stored)[1]
    if rest[:1] != SEALED or len(rest) < 2:
        return None
    return rest[2 : 2 + rest[1]].decode("utf-8", "replace")


def _key_bytes(key_id: str, key: Any) -> bytes:
    if isinstance(key, str):  # base64 text, as in the environment variable
        try:
            key = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"encryption key {key_id!r} is not valid base64") from None
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"encryption key {key_id!r} must be {KEY_BYTES} bytes (AES-256), e.g. os.urandom(32), or their base64 text"
        )
    return bytes(key)


class Encryption:
    """Encryption at rest of what a saver stores, with AES-256-GCM (needs `redis-ckpt[encryption]`).

    `keys`: key id -> 32-byte key (bytes, or its base64 text). Pieces carry their key id, so every
    key that encrypted stored data must stay here until `redis-ckpt reencrypt` rewrote it with the
    `current` one (the key new pieces are encrypted with; default: the only key, else required).
    Key ids are stored in every piece: keep them short (`"k1"`, `"2025-06"`; at most 255 bytes).
    `require`: refuse to read pieces stored without encryption (`UnencryptedDataError`), once
    every thread was written or re-encrypted with encryption on.

    A piece whose key id is not in `keys`, or that does not decrypt with it (a wrong key, or the
    bytes were altered), raises `DecryptionError` naming the key id; nothing stored is changed, and
    the data reads again once the right key is configured. The keys are not kept as attributes.
    """

    def __init__(self, keys: Mapping[str, bytes | str], current: str | None = None, require: bool = False) -> None:
        if not keys:
            raise ConfigurationError("Encryption needs at least one key: keys={'k1': os.urandom(32)}")
        if current is None:
            if len(keys) != 1:
                raise ConfigurationError("Encryption with several keys needs current= (the key new data uses)")
            current = next(iter(keys))
        if current not in keys:
            raise ConfigurationError(f"current encryption key {current!r} is not among keys {sorted(keys)}")
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:  # pragma: no cover - the extra is installed with the test extra
            raise ConfigurationError(
                "encryption needs the cryptography package: pip install 'redis-ckpt[encryption]'"
            ) from None
        ciphers: dict[bytes, Any] = {}
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not key_id:
                raise ConfigurationError(f"encryption key ids must be non-empty strings, got {key_id!r}")
            raw_id = key_id.encode()
            if len(raw_id) > MAX_KEY_ID:
                raise ConfigurationError(f"encryption key id {key_id[:40]!r}... is over {MAX_KEY_ID} bytes")
            ciphers[raw_id] = AESGCM(_key_bytes(key_id, key))
        self._ciphers = ciphers
        self._current = current.encode()
        self._key_ids = tuple(keys)
        self._current_id = current
        self._require = bool(require)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the configured keys."""
        return self._key_ids

    @property
    def current(self) -> str:
        """The id of the key new pieces are encrypted with."""
        return self._current_id

    @property
    def require(self) -> bool:
        """Whether pieces stored without encryption are refused (`UnencryptedDataError`)."""
        return self._require

    def __repr__(self) -> str:  # never the keys
        return f"Encryption(key_ids={list(self._key_ids)}, current={self.current!r}, require={self.require})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Encryption | None:
        """The encryption the environment configures (the CLI's way; None when it configures none):
        `REDIS_CKPT_ENCRYPTION_KEYS="k2=<base64>,k1=<base64>"`, `REDIS_CKPT_ENCRYPTION_CURRENT=k2`
        (default: the first key listed), `REDIS_CKPT_ENCRYPTION_REQUIRE=1`."""
        env = os.environ if environ is None else environ
        listed = env.get(ENV_KEYS, "").strip()
        if not listed:
            return None
        keys: dict[str, str] = {}
        for item in listed.split(","):
            key_id, sep, key = item.strip().partition("=")
            if not sep or not key_id:
                raise ConfigurationError(f"{ENV_KEYS}: expected id=base64key items separated by commas")
            keys[key_id] = key.strip()
        current = env.get(ENV_CURRENT) or next(iter(keys))
        require = env.get(ENV_REQUIRE, "").strip().lower() in ("1", "true", "yes")
        return cls(keys, current=current, require=require)

    @staticmethod
    def generate_key() -> str:
        """A new random key, as base64 text (for keys= or the environment variable)."""
        return base64.b64encode(os.urandom(KEY_BYTES)).decode()

    # -- pieces -------------------------------------------------------------------------------------
    def seal(self, stored: bytes, context: bytes) -> bytes:
        """A stored piece (a compressed or plain value, chunk or body), encrypted with the current key."""
        prefix, rest = _split(stored)
        nonce = os.urandom(NONCE)
        sealed: bytes = self._ciphers[self._current].encrypt(nonce, rest, context + prefix)
        return prefix + SEALED + bytes([len(self._current)]) + self._current + nonce + sealed

    def open(self, stored: bytes, context: bytes) -> bytes:
        """Inverse of `seal`; a plain piece passes, unless `require` (UnencryptedDataError)."""
        prefix, rest = _split(stored)
        if rest[:1] != SEALED:
            if self.require:
                raise UnencryptedDataError(
                    "a stored piece is not encrypted, and this saver requires encryption "
                    "(Encryption(require=True)); re-encrypt the thread (redis-ckpt reencrypt) with "
                    "require off first"
                )
            return stored
        key_id, cipher = self._cipher_of(rest)
        start = 2 + rest[1]
        nonce, sealed = rest[start : start + NONCE], rest[start + NONCE :]
        try:
            plain: bytes = cipher.decrypt(nonce, sealed, context + prefix)
        except Exception:  # cryptography's InvalidTag, or a truncated piece
            raise DecryptionError(
                f"a stored piece does not decrypt with encryption key {key_id!r}: a wrong key under "
                "that id, or the stored bytes were altered. Nothing was changed; configure the key the "
                "data was written with",
                key_id=key_id,
            ) from None
        return prefix + plain

    def needs_rewrite(self, stored: bytes) -> bool:
        """Whether `reencrypt` rewrites this piece: plain, or sealed with another key than current."""
        rest = _split(stored)[1]
        return rest[:1] != SEALED or rest[2 : 2 + rest[1]] != self._current

    def _cipher_of(self, rest: bytes) -> tuple[str, Any]:
        raw_id = rest[2 : 2 + rest[1]] if len(rest) > 1 else b""
        cipher = self._ciphers.get(raw_id)
        key_id = raw_id.decode("utf-8", "replace")
        if cipher is None:
            raise DecryptionError(
                f"a stored piece is encrypted with key {key_id!r}, which this saver does not have "
                f"(configured: {sorted(self._key_ids)}). Nothing was changed; add the key to "
                "Encryption(keys=...) to read it",
                key_id=key_id,
            )
        return key_id, cipher


class _NoEncryption:
    """What a saver without encryption uses: pieces stored plain; a sealed one read is a typed error."""

    require = False

    def seal(self, stored: bytes, context: bytes) -> bytes:
        return stored

    def open(self, stored: bytes, context: bytes) -> bytes:
        if is_sealed(stored):
            key_id = key_id_of(stored) or ""
            raise DecryptionError(
                f"a stored piece is encrypted (key {key_id!r}) and this saver has no encryption "
                "configured. Nothing was changed; pass encryption=Encryption(keys=...) to read it",
                key_id=key_id,
            )
        return stored

    def needs_rewrite(self, stored: bytes) -> bool:
        return False


NO_ENCRYPTION = _NoEncryption()
Sealer = Encryption | _NoEncryption
