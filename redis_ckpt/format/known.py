"""What one process knows is stored in one (thread, ns): the state a put consults to send only what
is new (docs/design.md, "Puts send only what is new"). Data types only; no Redis.

`Known` is filled by the per-saver cache of known_chunks.KnownChunks and read by the encoders
(chunks.encode_chunked, checkpoint_codec.encode_checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis_ckpt.format.compression import (
    CHUNK_DICTIONARY_BYTES,
    DICTIONARY_AFTER,
    DICTIONARY_SAMPLES,
    is_chunk_dictionary,
    make_chunk_dictionary,
    make_dictionary,
)

UNBOUNDED = 1 << 62  # a DictionaryTrainer limit that is never reached


@dataclass(frozen=True)
class Base:
    """The last stored version of a channel this process wrote or read: a delta's candidate base.
    `run` counts the deltas on previous versions since its anchor; `anchor` is that anchor. A
    record with run 0 is an anchor itself (a record learnt from a read counts as one: its depth is
    exact, which is all chain length needs); run > 0 with anchor None means the anchor is gone,
    and the run ends with a keyframe."""

    field: bytes
    version: Any
    digests: list[bytes]
    depth: int
    run: int = 0
    anchor: Base | None = None


@dataclass
class DictionaryTrainer:
    """One kind of namespace dictionary (compression.py) in a (thread, ns), as this process sees
    it: the one in use, and until there is one the samples this process stored (to make one of).
    Used twice, with different settings: for document bodies and for the chunks of puts.

    A dictionary is made once the samples fill `max_samples` or `max_bytes` and at least `after`
    were offered; a sample past `max_bytes` is cut to fit. Chunk dictionaries are marked
    (compression.CHUNK_DICTIONARY_MARK) so that readers, which learn dictionaries without their
    purpose, tell them apart; a trainer adopts only its own kind. `keep_samples`: keep the samples
    once a dictionary is in use (if it is then deleted, the same one is made again at once)."""

    for_chunks: bool = False
    max_samples: int = UNBOUNDED
    max_bytes: int = UNBOUNDED
    after: int = 0
    keep_samples: bool = True
    chosen: tuple[bytes, bytes] | None = None  # (digest, raw) of the dictionary in use
    samples: list[bytes] = field(default_factory=list)
    offered: int = 0  # samples offered in all, kept or not

    def dictionary(self) -> tuple[bytes, bytes] | None:
        """(digest, raw) of the dictionary for the next value: the one in use, or a new one made of
        the samples once there are enough, else None."""
        if self.chosen is not None:
            return self.chosen
        full = len(self.samples) >= self.max_samples or sum(map(len, self.samples)) >= self.max_bytes
        if not full or self.offered < self.after:
            return None
        return make_chunk_dictionary(self.samples) if self.for_chunks else make_dictionary(self.samples)

    def adopt(self, digest: bytes, raw: bytes) -> None:
        """A dictionary seen stored: used from now on if it is of this kind and none is in use."""
        if self.chosen is None and is_chunk_dictionary(raw) == self.for_chunks:
            self.chosen = (digest, raw)
            if not self.keep_samples:
                self.samples = []

    def offer(self, samples: Sequence[bytes]) -> None:
        """Values this process stored: kept as samples while no dictionary is in use."""
        self.offered += len(samples)
        if self.chosen is not None:
            return
        room = self.max_bytes - sum(map(len, self.samples))
        for raw in samples:
            if room <= 0 or len(self.samples) >= self.max_samples:
                break
            self.samples.append(raw[:room])
            room -= len(raw)

    def lose(self, digest: bytes) -> bool:
        """The dictionary of `digest` is gone: stop using it. True if it was the one in use."""
        if self.chosen is None or self.chosen[0] != digest:
            return False
        self.chosen = None
        return True


def body_trainer() -> DictionaryTrainer:
    """Bodies: the first DICTIONARY_SAMPLES of them, once DICTIONARY_AFTER were stored."""
    return DictionaryTrainer(max_samples=DICTIONARY_SAMPLES, after=DICTIONARY_AFTER)


def chunk_trainer() -> DictionaryTrainer:
    """Chunks: the first CHUNK_DICTIONARY_BYTES of them; the samples are not needed any more once a
    dictionary is in use (8 KB per namespace remembered): if it is deleted with the thread, new
    samples make the next one."""
    return DictionaryTrainer(for_chunks=True, max_bytes=CHUNK_DICTIONARY_BYTES, keep_samples=False)


@dataclass
class Known:
    """What is stored in one (thread, ns), as far as this process saw: chunk digests and, per
    channel, the last record. Only an optimisation: a put that relies on it has Redis check, in
    its own transaction, that what it did not send still exists."""

    digests: set[bytes] = field(default_factory=set)
    bases: dict[str, Base] = field(default_factory=dict)
    fields: set[bytes] = field(default_factory=set)  # blob fields of values seen stored
    dictionaries: dict[bytes, bytes] = field(default_factory=dict)  # namespace dictionaries seen stored
    bodies: DictionaryTrainer = field(default_factory=body_trainer)  # new document bodies use its dictionary
    chunks: DictionaryTrainer = field(default_factory=chunk_trainer)  # new chunks of puts use its dictionary
    # chunks known to be stored compressed with the chunk dictionary already
    with_dictionary: set[bytes] = field(default_factory=set)
