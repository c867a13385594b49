"""The server-side Lua scripts (files in redis_ckpt/lua/) and how they are run.

Scripts receive key names, or key prefixes to which they append a checkpoint id, from
redis_ckpt.keys: they never build key names of their own. Every key a script touches shares the
declared keys' hash slot (the thread's hash tag), so the scripts are ready to run on a cluster.

Scripts run by EVALSHA. When the server has lost its script cache (a restart, a failover to a
replica that never saw SCRIPT LOAD, SCRIPT FLUSH), the scripts are loaded and the commands sent
again: every script and every write is idempotent, so a command that ran before the error may
run twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from redis_ckpt import wire

MAX_CHAIN_DEPTH = 100_000  # ancestors one chain walk may visit (a guard, far beyond snapshot cadence)
NAMES = ("load", "delta", "touch_chain", "purge", "drop", "gc")


def _source(name: str) -> str:
    lua = resources.files("redis_ckpt") / "lua"
    return (lua / "common.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


SOURCES = {name: _source(name) for name in NAMES}
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SOURCES.items()}

Call = tuple[str, Sequence[Any], Sequence[Any]]  # (script name, keys, args)


def call(name: str, keys: Sequence[Any], args: Sequence[Any]) -> wire.Command:
    """The EVALSHA command running script `name`."""
    return ("EVALSHA", SHAS[name], len(keys), *keys, *args)


def _standalone(name: str) -> str:
    """A script that uses nothing from common.lua, without its comment lines: what EVAL sends."""
    source = (resources.files("redis_ckpt") / "lua" / f"{name}.lua").read_text()
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("--"))


STANDALONE = {name: _standalone(name) for name in ("verify", "fence", "acquire", "release")}


def call_by_source(name: str, keys: Sequence[Any], args: Sequence[Any]) -> wire.Command:
    """The EVAL command running standalone script `name`: for calls inside MULTI/EXEC whose effect
    must not depend on the script cache (an EVALSHA answered NOSCRIPT inside EXEC would let the
    other commands apply without it). Redis compiles it once and caches it; each call sends its
    few hundred bytes of source."""
    return ("EVAL", STANDALONE[name], len(keys), *keys, *args)


def execute(client: Any, commands: Sequence[wire.Command], *, transaction: bool = False) -> list[Any]:
    """Send commands (some of them script calls) in one round trip, in MULTI/EXEC if asked."""
    send = wire.transaction if transaction else wire.execute
    try:
        return send(client, commands)
    except NoScriptError:
        load_all(client)
        return send(client, commands)


def run(client: Any, calls: Sequence[Call]) -> list[Any]:
    """Run script calls in one round trip; their replies in order."""
    return execute(client, [call(name, keys, args) for name, keys, args in calls])


def load_all(client: Any) -> None:
    """SCRIPT LOAD every script (one round trip), so that the next calls find them."""
    wire.execute(client, [("SCRIPT", "LOAD", source) for source in SOURCES.values()])
