"""The server-side Lua scripts (files in redis_ckpt/redis_io/lua/) and how they are run.

Scripts receive key names, or key prefixes to which they append a checkpoint id, from
redis_ckpt.format.key_layout: they never build key names of their own, but for the checkpoint index's pages,
which common.lua derives from the index key exactly as key_layout.py does (tested). Every key a script
touches shares the declared keys' hash slot (the thread's hash tag), so the scripts are ready to
run on a cluster.

Scripts run by EVALSHA. When the server has lost its script cache (a restart, a failover to a
replica that never saw SCRIPT LOAD, SCRIPT FLUSH), the scripts are loaded and the commands sent
again: every script and every write is idempotent, so a command that ran before the error may
run twice. On a cluster each primary has its own cache: `setup` loads the scripts on every
primary, and a NOSCRIPT (from a promoted replica, or from the importing node of an ASK redirect)
loads them on every primary again: one round trip per primary, on a rare event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_ckpt.redis_io import topology, wire

MAX_CHAIN_DEPTH = 100_000  # ancestors one chain walk may visit (a guard, far beyond snapshot cadence)
NAMES = ("load", "delta", "touch_chain", "purge", "drop", "gc", "commit", "index")


def _source(name: str) -> str:
    lua = resources.files("redis_ckpt.redis_io") / "lua"
    return (lua / "common.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


SOURCES = {name: _source(name) for name in NAMES}
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SOURCES.items()}

Call = tuple[str, Sequence[Any], Sequence[Any]]  # (script name, keys, args)


def call(name: str, keys: Sequence[Any], args: Sequence[Any]) -> wire.Command:
    """The EVALSHA command running script `name`."""
    return ("EVALSHA", SHAS[name], len(keys), *keys, *args)


def _standalone(name: str) -> str:
    """A script that uses nothing from common.lua, without its comment lines: what EVAL sends."""
    source = (resources.files("redis_ckpt.redis_io") / "lua" / f"{name}.lua").read_text()
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("--"))


STANDALONE = {name: _standalone(name) for name in ("track_writes", "fence", "acquire", "release", "forget", "rewrite")}


def call_by_source(name: str, keys: Sequence[Any], args: Sequence[Any]) -> wire.Command:
    """The EVAL command running standalone script `name`: for calls inside MULTI/EXEC whose effect
    must not depend on the script cache (an EVALSHA answered NOSCRIPT inside EXEC would let the
    other commands apply without it). Redis compiles it once and caches it; each call sends its
    few hundred bytes of source."""
    return ("EVAL", STANDALONE[name], len(keys), *keys, *args)


def execute(
    client: Any, commands: Sequence[wire.Command], *, transaction: bool = False, wait: tuple[int, int] | None = None
) -> list[Any]:
    """Send commands (some of them script calls) in one round trip, in MULTI/EXEC if asked (then
    followed by WAIT if `wait` is given; see wire.transaction)."""

    def send() -> list[Any]:
        return wire.transaction(client, commands, wait) if transaction else wire.execute(client, commands)

    try:
        return send()
    except NoScriptError:
        load_all(client)
        return send()


def run(client: Any, calls: Sequence[Call]) -> list[Any]:
    """Run script calls in one round trip; their replies in order."""
    return execute(client, [call(name, keys, args) for name, keys, args in calls])


def load_all(client: Any) -> None:
    """SCRIPT LOAD every script (one round trip per server, on a cluster per primary), so that the
    next calls find them."""
    loads = [("SCRIPT", "LOAD", source) for source in SOURCES.values()]
    if not topology.is_cluster(client):
        wire.execute(client, loads)
        return
    for node in topology.primaries(client):
        try:
            wire.execute_on_pool(topology.pool_of(client, node), loads)
        except (RedisConnectionError, RedisTimeoutError):
            # A primary that is down needs no scripts; its replacement gets them at its first
            # NOSCRIPT. The slot map is refreshed so that the retry goes there.
            topology.refresh(client)
