"""The export format (JSON lines, docs/cli.md), as pure functions: stored entries to lines and back.

Line 1 is a header stating the format and its version, then the checkpoints of each (thread,
namespace) oldest first (the order a copy that keeps deduplication puts them in), then an `end`
line with the counts (an export without it was cut short). Two versions:

- **Version 2, deduplicated** (the default). A `{"thread_id", "checkpoint_ns"}` line opens each
  (thread, namespace); `{"c": ...}` lines hold a chunk (a list value's piece, as the saver stores
  them, docs/design.md "Deduplicated values") the first time the namespace needs it; a checkpoint
  line then names its list values by their chunks' digests, as "the first k chunks of this
  channel's previous value, then these", and a value equal to the channel's previous one as `0`.
  So a chat's messages are written about once, not once per checkpoint. Bytes are compressed
  (zstd, the stored format's fixed dictionary) and base64; each checkpoint line carries a CRC-32
  of itself and each chunk is checked against its digest, so damage is found, not imported.
- **Version 1, plain** (`--plain`): one self-contained line per checkpoint, every stored value
  whole as `{"type": <serde type>, "b64": <base64 of the serializer's bytes>}`; what earlier
  releases wrote and read.

Either way every value is kept as the serializer wrote it, so an import writes back the same
bytes, whatever the serializer. Text is ASCII-escaped JSON, so any id survives.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from redis_ckpt.errors import RedisCheckpointError
from redis_ckpt.format.checkpoint_codec import raw_writes
from redis_ckpt.format.chunks import MSGPACK, Split, digest, split
from redis_ckpt.format.compression import pack_chunk, pack_typed_value, unpack_chunk, unpack_typed_value
from redis_ckpt.format.encoding import pack_list, pack_typed, parse_refs, text, unpack_list, unpack_typed
from redis_ckpt.format.read_entries import LoadedEntry
from redis_ckpt.store.export_format import FORMAT as STORE_FORMAT

FORMAT = "redis-ckpt/export"
PLAIN, DEDUPLICATED = 1, 2
VERSION = DEDUPLICATED  # what `export` writes unless told --plain
VERSIONS = (PLAIN, DEDUPLICATED)  # what `import` reads


class FormatError(RedisCheckpointError, ValueError):
    """A line that is not part of a redis-ckpt export (or of a newer version of the format), or
    an export damaged or cut short. Raised before anything of the checkpoint concerned is written."""


def typed_json(raw: bytes) -> dict[str, str]:
    type_name, data = unpack_typed(raw)
    return {"type": type_name, "b64": base64.b64encode(data).decode()}


def typed_bytes(value: Any, where: str) -> tuple[str, bytes]:
    try:
        return str(value["type"]), base64.b64decode(value["b64"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{where}: a value must be {{'type': ..., 'b64': ...}} ({exc})") from None


def header(exported_at: str, prefix: str, write_prefix: str, version: int = VERSION) -> str:
    values = "deduplicated" if version == DEDUPLICATED else "plain"
    return json.dumps({"format": FORMAT, "version": version, "values": values, "exported_at": exported_at,
                       "prefix": prefix, "write_prefix": write_prefix})  # fmt: skip


def end(checkpoints: int, threads: int) -> str:
    return json.dumps({"end": True, "checkpoints": checkpoints, "threads": threads})


def checkpoint_line(thread_id: str, ns: str, entry: LoadedEntry) -> str:
    """Version 1: one loaded entry as a self-contained line (the checkpoint whole: its id and
    versions put back, `complete_checkpoint`)."""
    cid, checkpoint, metadata, parent, channels, values, writes = entry[:7]
    return json.dumps(
        {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": text(cid),
            "parent_id": text(parent) if parent else None,
            "checkpoint": typed_json(checkpoint),
            "metadata": typed_json(metadata),
            "values": [{"channel": text(ch), "value": typed_json(v)} for ch, v in zip(channels, values)],
            "writes": [
                {"task_id": task, "idx": idx, "task_path": path, "channel": channel, "value": typed_json(value)}
                for task, idx, path, channel, value in raw_writes(writes)
            ],
        },
    )


@dataclass(frozen=True)
class Write:
    task_id: str
    idx: int
    task_path: str
    channel: str
    value: tuple[str, bytes]


@dataclass(frozen=True)
class Record:
    """One checkpoint of an export, every value whole again."""

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: tuple[str, bytes]
    metadata: tuple[str, bytes]
    values: list[tuple[str, tuple[str, bytes]]]
    writes: list[Write]
    # The checkpoint's channel versions when `checkpoint` leaves them (and its id) to the document,
    # as the saver stores it (checkpoint_codec.restore_checkpoint); None: `checkpoint` is whole.
    versions: dict[str, str | int | float] | None = None
    line: int = 0


def parse_header(line: str | bytes) -> dict[str, Any]:
    try:
        found = json.loads(line)
    except ValueError:
        found = None
    if isinstance(found, dict) and found.get("format") == STORE_FORMAT:
        raise FormatError("line 1: this is a store export; read it with `redis-ckpt store import`")
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise FormatError("line 1: not a redis-ckpt export (no header)")
    if found.get("version") not in VERSIONS:
        raise FormatError(
            f"line 1: export format version {found.get('version')!r}; this tool reads {', '.join(map(str, VERSIONS))}"
        )
    return found


def _json_object(line: str | bytes, where: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise FormatError(f"{where}: not JSON ({exc}); the export is damaged or cut short") from None
    if not isinstance(item, dict):
        raise FormatError(f"{where}: not a JSON object")
    return item


def parse_line(line: str | bytes, number: int) -> Record | dict[str, Any]:
    """Version 1: a checkpoint Record, or the end line as a dict."""
    where = f"line {number}"
    item = _json_object(line, where)
    if item.get("end") is True:
        return item
    try:
        return Record(
            thread_id=str(item["thread_id"]),
            ns=str(item["checkpoint_ns"]),
            checkpoint_id=str(item["checkpoint_id"]),
            parent_id=None if item.get("parent_id") is None else str(item["parent_id"]),
            checkpoint=typed_bytes(item["checkpoint"], where),
            metadata=typed_bytes(item["metadata"], where),
            values=[(str(v["channel"]), typed_bytes(v["value"], where)) for v in item["values"]],
            writes=[
                Write(
                    str(w["task_id"]),
                    int(w["idx"]),
                    str(w["task_path"]),
                    str(w["channel"]),
                    typed_bytes(w["value"], where),
                )
                for w in item["writes"]
            ],
            line=number,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{where}: missing or bad field {exc}") from None


def line_key(line: str | bytes, number: int) -> tuple[str, str, str] | None:
    """Version 1: (thread, namespace, checkpoint id) of a checkpoint line, None for the end line."""
    item = _json_object(line, f"line {number}")
    if item.get("end") is True:
        return None
    try:
        return str(item["thread_id"]), str(item["checkpoint_ns"]), str(item["checkpoint_id"])
    except KeyError as exc:
        raise FormatError(f"line {number}: missing field {exc}") from None


def stored(typed: tuple[str, bytes]) -> bytes:
    """The stored form of a typed value (what `load` entries hold)."""
    return pack_typed(typed)


# -- version 2: deduplicated ------------------------------------------------------------------------
# A checkpoint line:
#   {"id": <checkpoint id>, "parent": <parent id or null>,
#    "body": <b64 of pack_chunk(pack_list([checkpoint, metadata(, references)]))>,
#    "values": {<channel>: <value>, ...}, "writes": [[task id, idx, task path, channel, <value>], ...],
#    "x": <CRC-32 of the line without "x", 8 hex digits>}
# where the checkpoint and metadata are typed values (serializer type \0 bytes); with references
# (a document's packed channel versions, encoding.pack_refs) the checkpoint leaves its id and
# versions to them, as the saver stores it. A <value> is one of
#   "<b64>"                        the typed value, compressed (compression.pack_typed_value)
#   {"h": <b64>, "k": n, "d": <b64>}  a msgpack list: its header, then the chunks of the first n
#                                  digests of this channel's previous list value in the namespace,
#                                  then those of "d" (concatenated 16-byte digests)
#   0                              the same value as this channel's previous one in the namespace
# Values are read in order, each becoming its channel's previous value; then the writes, each
# relative to its channel's value (a write of a list that extends it costs its new chunks), which
# it leaves as it is.
# A chunk line {"c": <b64 of the chunk as stored, compression.pack_chunk>} precedes the first
# line that names its digest (chunks.digest of the raw chunk), once per namespace.
SAME = 0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"{where}: expected base64 text, found {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{where}: bad base64 ({exc}); the export is damaged") from None


def _sealed(item: dict[str, Any]) -> str:
    """A line with the CRC-32 of its JSON text (compact separators) as its last field."""
    body = json.dumps(item, separators=(",", ":"))
    return body[:-1] + f',"x":"{zlib.crc32(body.encode()):08x}"}}'


def _check_seal(item: dict[str, Any], where: str) -> None:
    found = item.pop("x", None)
    expected = f"{zlib.crc32(json.dumps(item, separators=(',', ':')).encode()):08x}"
    if found != expected:
        raise FormatError(f"{where}: checksum mismatch; the export is damaged")


@dataclass
class _Channel:
    """What the writer or reader keeps per channel of the open namespace: the last value."""

    typed: bytes
    parts: Split | None  # writer: its cut; reader: only `digests` matter
    digests: list[bytes] = field(default_factory=list)


class DedupWriter:
    """Turns `load` entries, oldest first per (thread, namespace), into version-2 lines. Holds one
    namespace's chunk digests and last values at a time: constant memory in the number of threads."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self._channels: dict[str, _Channel] = {}

    def namespace(self, thread_id: str, ns: str) -> str:
        self._seen, self._channels = set(), {}
        return json.dumps({"thread_id": thread_id, "checkpoint_ns": ns}, separators=(",", ":"))

    def checkpoint(self, entry: LoadedEntry) -> Iterator[str]:
        """Chunk lines this checkpoint needs first, then its line."""
        cid, checkpoint, metadata, parent, channels, values, writes = entry[:7]
        refs = entry.refs
        new_chunks: list[str] = []
        body = pack_list([checkpoint, metadata] + ([refs] if refs is not None else []))
        out_values: dict[str, Any] = {}
        for raw_channel, typed in zip(channels, values):
            channel = text(raw_channel)
            out_values[channel] = self._value(channel, bytes(typed), new_chunks)
        out_writes = [
            [task, idx, path, channel, self._value(channel, value, new_chunks, remember=False)]
            for task, idx, path, channel, value in raw_writes(writes)
        ]
        yield from new_chunks
        yield _sealed(
            {
                "id": text(cid),
                "parent": text(parent) if parent else None,
                "body": _b64(pack_chunk(body, True)),
                "values": out_values,
                "writes": out_writes,
            }
        )

    def _value(self, channel: str, typed: bytes, new_chunks: list[str], *, remember: bool = True) -> Any:
        """A value as written, relative to the channel's previous value; a pending write's
        (`remember=False`: the channel keeps its value) too, as new messages extend it."""
        last = self._channels.get(channel)
        if last is not None and last.typed == typed:
            return SAME
        parts = split(typed, last.parts if last is not None else None)
        if remember:
            self._channels[channel] = _Channel(typed, parts)
        if parts is None:
            return _b64(pack_typed_value(typed, True))
        for d, chunk in zip(parts.digests, parts.chunks):
            if d not in self._seen:
                self._seen.add(d)
                new_chunks.append(json.dumps({"c": _b64(pack_chunk(chunk, True))}, separators=(",", ":")))
        keep = 0
        if last is not None and last.parts is not None:
            before = last.parts.digests
            while keep < len(before) and keep < len(parts.digests) and before[keep] == parts.digests[keep]:
                keep += 1
        return {"h": _b64(parts.header), "k": keep, "d": _b64(b"".join(parts.digests[keep:]))}


class DedupReader:
    """Reads version-2 lines back into Records, every value whole. Holds one namespace's chunks
    and last values at a time."""

    def __init__(self) -> None:
        self._where: tuple[str, str] | None = None
        self._chunks: dict[bytes, bytes] = {}
        self._channels: dict[str, _Channel] = {}

    def read(self, line: str | bytes, number: int) -> Record | dict[str, Any] | None:
        """A Record for a checkpoint line, the end line as a dict, None for other lines."""
        where = f"line {number}"
        item = _json_object(line, where)
        if item.get("end") is True:
            return item
        if "c" in item:
            raw = self._unpack(unpack_chunk, _unb64(item["c"], where), where)
            self._chunks[digest(raw)] = raw
            return None
        if "thread_id" in item:
            try:
                self._where = (str(item["thread_id"]), str(item["checkpoint_ns"]))
            except KeyError as exc:
                raise FormatError(f"{where}: missing field {exc}") from None
            self._chunks, self._channels = {}, {}
            return None
        if self._where is None:
            raise FormatError(f"{where}: a checkpoint before any thread line")
        _check_seal(item, where)
        try:
            return self._record(item, where, number)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"{where}: missing or bad field {exc!r}") from None

    def _record(self, item: dict[str, Any], where: str, number: int) -> Record:
        assert self._where is not None
        body = self._unpack(unpack_chunk, _unb64(item["body"], where), where)
        parts = unpack_list(body)
        if len(parts) not in (2, 3):
            raise FormatError(f"{where}: bad checkpoint body")
        versions = parse_refs(parts[2]) if len(parts) == 3 else None
        # Values resolve against the channels' previous values: a damaged line leaves them as they were.
        channels = dict(self._channels)
        values: list[tuple[str, tuple[str, bytes]]] = []
        for channel, value in item["values"].items():
            typed = self._typed(channels, str(channel), value, where)
            values.append((str(channel), _split_typed(typed, where)))
        writes = [
            Write(
                str(task),
                int(idx),
                str(path),
                str(channel),
                _split_typed(self._typed(channels, str(channel), v, where, remember=False), where),
            )
            for task, idx, path, channel, v in item["writes"]
        ]
        record = Record(
            thread_id=self._where[0],
            ns=self._where[1],
            checkpoint_id=str(item["id"]),
            parent_id=None if item.get("parent") is None else str(item["parent"]),
            checkpoint=_split_typed(bytes(parts[0]), where),
            metadata=_split_typed(bytes(parts[1]), where),
            values=values,
            writes=writes,
            versions=versions,
            line=number,
        )
        self._channels = channels
        return record

    def _typed(
        self, channels: dict[str, _Channel], channel: str, value: Any, where: str, *, remember: bool = True
    ) -> bytes:
        """A value's typed bytes, relative to the channel's previous value, which becomes this one
        (`remember=False`, a pending write's: it stays)."""
        last = channels.get(channel)
        if value == SAME and not isinstance(value, bool):
            if last is None:
                raise FormatError(f"{where}: channel {channel!r} repeats a value it never had")
            return last.typed
        if isinstance(value, str):
            typed = self._unpack(unpack_typed_value, _unb64(value, where), where)
            digests: list[bytes] = []
        elif isinstance(value, dict):
            keep = int(value["k"])
            before = last.digests if last is not None else []
            if not 0 <= keep <= len(before):
                raise FormatError(f"{where}: channel {channel!r} keeps {keep} chunks of a value that has {len(before)}")
            own = _unb64(value["d"], where)
            if len(own) % 16:
                raise FormatError(f"{where}: bad chunk digests")
            digests = before[:keep] + [own[i : i + 16] for i in range(0, len(own), 16)]
            try:
                chunks = [self._chunks[d] for d in digests]
            except KeyError as exc:
                raise FormatError(
                    f"{where}: a value names chunk {exc.args[0].hex()}, which the export does not hold before it "
                    "(damaged or cut)"
                ) from None
            typed = MSGPACK + b"\0" + _unb64(value["h"], where) + b"".join(chunks)
        else:
            raise FormatError(f"{where}: a value must be base64 text, a chunked list or 0")
        if remember:
            channels[channel] = _Channel(typed, None, digests)
        return typed

    @staticmethod
    def _unpack(unpack: Any, data: bytes, where: str) -> bytes:
        try:
            out: bytes = unpack(data)
        except Exception as exc:  # zstd and decoding errors alike: a damaged value
            raise FormatError(f"{where}: a value does not decompress ({exc}); the export is damaged") from None
        return out


def _split_typed(typed: bytes, where: str) -> tuple[str, bytes]:
    try:
        return unpack_typed(typed)
    except ValueError as exc:
        raise FormatError(f"{where}: {exc}") from None
