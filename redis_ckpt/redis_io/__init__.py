"""Everything that talks to Redis, or shapes what is sent to it: clients and topology (connection,
topology), the hot path (wire), the one retry policy (retry) and the failures it words (failures,
diagnose), the observer hook of the saver's operations that tracing uses (observe), the Lua scripts
(scripts and lua/), the commands of a write (write_commands), large values read in a second round
trip (spill), the search index (search), walking a deployment's keys (inventory), write ownership
(ownership) and the ACL rules of the commands sent (acl).

Layer: above `redis_ckpt.format`, which it may import (with errors and config); never the savers,
the store, the CLI or the integrations. Some modules here do no I/O themselves (write_commands,
spill, ownership's command builders, acl): they build `wire.Command`s or name script calls and
Redis commands, so they belong with the code that sends them, not with the pure format.
"""
