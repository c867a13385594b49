"""The least privilege the store needs, as Redis ACL rules (see docs/store.md)."""

from __future__ import annotations

# Commands the store sends itself, and those its Lua scripts run (ACL checks script commands too).
COMMANDS = (
    "hello", "ping",  # connection set-up by redis-py
    "evalsha", "script|load",  # scripts: loaded by setup() (and after the server lost them), called by hash
    "hget", "hmget", "hset", "del", "exists", "pexpire", "pttl",  # items and vectors (pttl: snapshot)
    "zadd", "zrem", "zrangebylex", "sadd", "srem", "sismember",  # the item index, registry, expiring set
)  # fmt: skip

# The optional indexes (only where the Search module is loaded: ACL rejects unknown commands).
SEARCH_COMMANDS = ("ft.info", "ft.create", "ft.aggregate", "ft.cursor", "ft.search")

# Redis 7.2+: redis-py names itself with CLIENT SETINFO and tolerates a refusal.
SETINFO_COMMANDS = ("client|setinfo",)


def acl_rules(prefix: str = "store", *, search: bool = True, setinfo: bool = True) -> list[str]:
    """ACL SETUSER rules for a store on `prefix` (its keys and indexes all start with `prefix:`).
    Pass `search=False` without the Search module and `setinfo=False` before Redis 7.2."""
    commands = COMMANDS + (SEARCH_COMMANDS if search else ()) + (SETINFO_COMMANDS if setinfo else ())
    return ["resetkeys", f"~{prefix}:*", "resetchannels", "-@all", *(f"+{c}" for c in commands)]
