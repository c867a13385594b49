"""The stored format (docs/design.md): pure functions and data types, no I/O and no `redis` import.

Key names (key_layout), field encodings (encoding), channel versions (channel_versions), msgpack
element walking (msgpack_walk), zstd compression and dictionaries (compression), deduplicated chunks
and delta/keyframe records (chunks), what a process knows is stored (known) and the cache that
learns it (known_chunks), the records it resolved already (resolved_records), the last cut of each
list it put (recent_splits), the read scripts' replies as named entries (read_entries), the
conversion between LangGraph objects and stored fields (checkpoint_codec) and the storage format
numbers (format_version).

Layer: the lowest but for `redis_ckpt.errors` and `redis_ckpt.config`, which are all it may import
besides itself. What builds Redis commands (redis_io.write_commands, redis_io.spill,
redis_ckpt.redis_io.ownership) is not here, although it does no I/O itself: a command is the wire
type of redis_io, and those modules import redis_io's scripts, wire or the client.
"""
