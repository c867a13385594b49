"""The least privilege the saver needs, as Redis ACL rules (see docs/security.md)."""

from __future__ import annotations

# Commands the saver sends itself, and those its Lua scripts run (ACL checks script commands too).
COMMANDS = (
    # connection set-up by redis-py
    "hello", "ping",
    # scripts: loaded by setup() (and again after the server lost them), then called by hash
    "evalsha", "script|load",
    # put_writes' writes-index step (EVAL: independent of the script cache)
    "eval",
    # the writes' transactions and the scripts' commands (load, delta, touch_chain, commit, purge,
    # drop, gc, index)
    "multi", "exec", "discard",
    "hget", "hmget", "hset", "hsetnx", "hdel", "hkeys", "hgetall", "hexists", "hlen", "exists", "del", "unlink",
    "zadd", "zrem", "zcard", "zrange", "zrevrangebylex", "sadd", "srem", "sismember", "expire", "pexpire",
    # sent directly: namespaces, id pages, copy_thread, delete_thread, thread enumeration
    "smembers", "zrangebylex", "hscan", "scan",
    # write ownership (own/aown): WATCH of the fence key, and the acquire/fence/release scripts;
    # pttl also for gc's begin (is another collection's mark set still being renewed?)
    "watch", "get", "set", "pttl",
    # optional: setup() reads maxmemory-policy to warn about eviction; refused is fine
    "info",
)  # fmt: skip


# The optional search index (only where the Search module is loaded: ACL rejects unknown commands).
SEARCH_COMMANDS = ("ft.info", "ft.create", "ft.aggregate", "ft.cursor")


# Redis 7.2+: redis-py names itself with CLIENT SETINFO and tolerates a refusal.
SETINFO_COMMANDS = ("client|setinfo",)


def acl_rules(checkpoint_prefix: str = "checkpoint", *, search: bool = True, setinfo: bool = True) -> list[str]:
    """ACL SETUSER rules for a saver whose write prefix starts with `checkpoint_prefix` (the
    default `checkpoint` / `checkpoint_write` pair does). Keys and the index share the prefix.
    Redis rejects rules naming commands it does not have: pass `search=False` without the Search
    module and `setinfo=False` before Redis 7.2."""
    commands = COMMANDS + (SEARCH_COMMANDS if search else ()) + (SETINFO_COMMANDS if setinfo else ())
    return ["resetkeys", f"~{checkpoint_prefix}*", "resetchannels", "-@all", *(f"+{c}" for c in commands)]
