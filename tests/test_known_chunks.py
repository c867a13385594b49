"""The known-chunks cache without Redis: one dictionary trainer, set up for bodies and for chunks,
makes the dictionaries compression.py describes; what a read teaches never undoes a put's record."""

from __future__ import annotations

from typing import Any

from redis_ckpt.format.chunks import Resolved
from redis_ckpt.format.compression import (
    CHUNK_DICTIONARY_BYTES,
    DICTIONARY_AFTER,
    DICTIONARY_SAMPLES,
    dictionary_field,
    make_chunk_dictionary,
    make_dictionary,
)
from redis_ckpt.format.encoding import blob_field
from redis_ckpt.format.known import Base, body_trainer, chunk_trainer
from redis_ckpt.format.known_chunks import KnownChunks


def test_the_body_dictionary_is_made_of_the_first_bodies_once_enough_were_stored() -> None:
    trainer = body_trainer()
    bodies = [b"body %d " % i * 10 for i in range(DICTIONARY_AFTER)]
    for body in bodies[:-1]:
        trainer.offer([body])
        assert trainer.dictionary() is None
    trainer.offer([bodies[-1]])
    assert trainer.dictionary() == make_dictionary(bodies[:DICTIONARY_SAMPLES])


def test_the_chunk_dictionary_is_made_of_the_first_bytes_of_chunks_cut_to_fit() -> None:
    trainer = chunk_trainer()
    chunks = [bytes([i]) * 3000 for i in range(4)]
    trainer.offer(chunks[:2])
    assert trainer.dictionary() is None
    trainer.offer(chunks[2:])
    cut = [chunks[0], chunks[1], chunks[2][: CHUNK_DICTIONARY_BYTES - 6000]]
    assert trainer.samples == cut
    assert trainer.dictionary() == make_chunk_dictionary(cut)


def test_each_trainer_adopts_its_own_kind_and_the_chunk_trainer_drops_its_samples() -> None:
    cache = KnownChunks()
    known = cache.get("t", "")
    known.bodies.offer([b"a body"])
    known.chunks.offer([b"a chunk"])
    body, chunk = make_dictionary([b"x" * 100]), make_chunk_dictionary([b"y" * 100])
    cache.learn_dictionaries("t", "", dict([chunk, body]))
    assert known.bodies.dictionary() == body and known.bodies.samples == [b"a body"]
    assert known.chunks.dictionary() == chunk and known.chunks.samples == []
    known.with_dictionary.add(b"d" * 16)
    cache.drop("t", "", [dictionary_field(chunk[0])])
    assert known.chunks.dictionary() is None and known.with_dictionary == set()
    assert known.bodies.dictionary() == body


def test_a_read_replaces_a_known_base_only_by_another_record_or_a_deeper_one() -> None:
    cache = KnownChunks()
    own = Base(blob_field("messages", 3), 3, [b"d" * 16], depth=5, run=4)
    cache.get("t", "").bases["messages"] = own
    checkpoint: Any = {"channel_versions": {"messages": 3}, "channel_values": {"messages": []}}
    cache.after_read("t", "", checkpoint, {"messages": Resolved(b"", [b"d" * 16], depth=5)})
    assert cache.get("t", "").bases["messages"] is own
    assert cache.get("t", "").fields == {blob_field("messages", 3)}
    cache.after_read("t", "", checkpoint, {"messages": Resolved(b"", [b"d" * 16], depth=9)})
    assert cache.get("t", "").bases["messages"].depth == 9
