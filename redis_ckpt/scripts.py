"""The server-side Lua scripts (files in redis_ckpt/lua/), registered on a client.

Scripts receive key names, or key prefixes to which they append a checkpoint id, from
redis_ckpt.keys: they never build key names of their own. Every key a script touches shares the
declared keys' hash slot (the thread's hash tag), so the scripts run unchanged on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.commands.core import Script


def _source(name: str) -> str:
    lua = resources.files("redis_ckpt") / "lua"
    return (lua / "common.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Scripts:
    put: Script
    put_writes: Script
    load: Script
    delta: Script
    purge: Script
    drop: Script

    @classmethod
    def register(cls, client: Any) -> Scripts:
        return cls(**{name: client.register_script(_source(name)) for name in NAMES})

    def all(self) -> list[Script]:
        return [getattr(self, name) for name in NAMES]


NAMES = ("put", "put_writes", "load", "delta", "purge", "drop")
