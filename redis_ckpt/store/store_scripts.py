"""The store's Lua scripts (files in redis_ckpt/store/lua/) and how they are sent.

Scripts get the item and vector *prefixes* from redis_ckpt.store.store_layout and rebuild an item's name
from its index member with the same escaping (lua/common.lua). They run by EVALSHA; a server that
lost its script cache gets them loaded again and the commands re-sent (every script is idempotent:
upserts, deletes, reads, TTL refreshes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from redis_ckpt.redis_io import wire

NAMES = ("write", "get", "page", "namespaces", "touch", "dump", "restore")


# Scripts that add data. A script without flags is checked against `maxmemory` only at each write
# command it runs, and Redis let the store's batch write through on a full server (measured on
# 8.2); the `#!lua` shebang (no `no-writes` flag) makes Redis refuse the whole call up front with
# OOM instead, before anything is written. Reads and TTL refreshes keep running on a full server.
ADDS_DATA = ("write", "restore")


def _source(name: str) -> str:
    lua = resources.files("redis_ckpt.store") / "lua"
    shebang = "#!lua\n" if name in ADDS_DATA else ""
    return shebang + (lua / "common.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


SOURCES = {name: _source(name) for name in NAMES}
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SOURCES.items()}


def call(name: str, keys: Sequence[Any], args: Sequence[Any]) -> wire.Command:
    """The EVALSHA command running script `name`."""
    return ("EVALSHA", SHAS[name], len(keys), *keys, *args)


def run(client: Any, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """Run one script (one round trip) and return its reply."""
    command = [call(name, keys, args)]
    try:
        return wire.execute(client, command)[0]
    except NoScriptError:
        load_all(client)
        return wire.execute(client, command)[0]


def load_all(client: Any) -> None:
    """SCRIPT LOAD every script of the store (one round trip)."""
    wire.execute(client, [("SCRIPT", "LOAD", source) for source in SOURCES.values()])
