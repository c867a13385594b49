"""`reencrypt_thread`: every stored piece of a thread sealed with the saver's current key.

Piece by piece, in place: each hash of the thread (chunks, values, checkpoints) is read a page at
a time, and rewrite.lua replaces a piece only where the hash still holds it as read (else it is
counted as `changed` and left to the writer that changed it). Readers see the old piece or the
new one, both readable while the old key is configured; nothing written, deleted or collected
meanwhile is overwritten or brought back. Plain pieces (written before encryption was turned on)
are sealed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis_ckpt.errors import ConfigurationError
from redis_ckpt.format import format_version, reencryption
from redis_ckpt.format.encoding import utf8
from redis_ckpt.format.encryption import Encryption
from redis_ckpt.redis_io import scripts, wire
from redis_ckpt.sync.saver_core import SaverCore, key_text

PAGE = 200  # fields per HSCAN page


@dataclass
class ReencryptReport:
    """What `reencrypt_thread` did: pieces rewritten with the current key, pieces already sealed
    with it, pieces changed by a writer meanwhile (left to it: run again to be sure), and documents
    of before bodies, which predate encryption and are left plain."""

    rewritten: int = 0
    current: int = 0
    changed: int = 0
    old_documents: int = 0

    def add(self, other: ReencryptReport) -> None:
        self.rewritten += other.rewritten
        self.current += other.current
        self.changed += other.changed
        self.old_documents += other.old_documents


def reencrypt_thread(saver: SaverCore, thread_id: str) -> ReencryptReport:
    encryption = saver.encryption
    if encryption is None:
        raise ConfigurationError("reencrypt needs a saver with encryption=Encryption(...)")
    thread_id = key_text("thread_id", thread_id)
    report = ReencryptReport()
    for ns in saver.namespaces(thread_id):
        chunk_key = saver.layout.chunks(thread_id, ns)
        _check_stamp(saver, chunk_key)
        report.add(_scan(saver, encryption, chunk_key, reencryption.chunk_hash))
        report.add(_scan(saver, encryption, saver.layout.blobs(thread_id, ns), reencryption.blob_hash))
        ids = dict.fromkeys(saver._ids(thread_id, ns))
        ids.update(dict.fromkeys(saver._ids(thread_id, ns, saver.layout.writes_index(thread_id, ns))))
        for checkpoint_id in ids:
            key = saver.layout.checkpoint(thread_id, ns, checkpoint_id)
            fields = cast("dict[bytes, bytes]", saver._io(saver.client.hgetall, key))
            rewrites = reencryption.checkpoint_hash(encryption, utf8(checkpoint_id), fields)
            report.add(_apply(saver, key, rewrites))
    return report


def _check_stamp(saver: SaverCore, chunk_key: str) -> None:
    stamp = cast("bytes | None", saver._io(saver.client.hget, chunk_key, format_version.STAMP_FIELD))
    format_version.check_stamp(stamp, chunk_key)


def _scan(saver: SaverCore, encryption: Encryption, key: str, transform: Any) -> ReencryptReport:
    report = ReencryptReport()
    cursor = 0
    while True:
        cursor, fields = saver._io(saver.client.hscan, key, cursor, count=PAGE)
        report.add(_apply(saver, key, transform(encryption, fields)))
        if not cursor:
            return report


def _apply(saver: SaverCore, key: str, rewrites: reencryption.Rewrites) -> ReencryptReport:
    report = ReencryptReport(current=rewrites.current, old_documents=rewrites.old_form)
    for args in reencryption.rewrite_args(rewrites):
        done = saver._io(wire.execute, saver.client, [scripts.call_by_source("rewrite", [key], args)])[0]
        asked = (len(args) - 1) // 3 if args[0] == b"each" else 1
        report.rewritten += int(done)
        report.changed += asked - int(done)
    return report
