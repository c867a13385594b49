"""Server time per operation, from `INFO commandstats`, for any client library.

Redis counts a command run inside MULTI/EXEC or a script twice: on its own `cmdstat_` line and
inside the EXEC/EVALSHA that ran it (checked on 8.2: an EXEC of one SINTERSTORE shows the same
usec on both lines). Summing every line would double the server time of a transaction or a
script. So, once per saver and workload, `nesting()` watches one op through MONITOR and records
which share of each command's calls ran nested; `ServerClock` then counts each command's usec
times the share that ran at top level. EXEC, EVALSHA and the like are counted in full: their usec
is the server time of the whole transaction or script, Lua included. INFO itself is left out.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import redis


def _base(name: str) -> str:
    """`client|setinfo` -> `client`: MONITOR shows the command, commandstats the subcommand too."""
    return name.lower().split("|")[0]


def command_stats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """{command: (calls, usec)} from INFO commandstats, subcommands folded into their command."""
    out: dict[str, tuple[int, int]] = {}
    for key, value in client.info("commandstats").items():
        name = _base(key.removeprefix("cmdstat_"))
        calls, usec = out.get(name, (0, 0))
        out[name] = (calls + int(value["calls"]), usec + int(value["usec"]))
    return out


def nesting(url: str, op: Callable[[], Any]) -> dict[str, float]:
    """{command: share of its calls that ran inside MULTI/EXEC or a script} during one `op()`.

    MONITOR tags a script's commands with client type `lua`; a transaction's commands come from
    the client's own address between its MULTI and EXEC (MONITOR shows them as they execute)."""
    watcher = redis.Redis.from_url(url)
    marker = f"servertime-probe-{uuid.uuid4().hex}"
    seen: list[dict[str, Any]] = []
    with watcher.monitor() as monitor:  # type: ignore[no-untyped-call]

        def read() -> None:
            for entry in monitor.listen():
                if marker in entry["command"]:
                    return
                seen.append(entry)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            op()
        finally:
            sender = redis.Redis.from_url(url)
            sender.echo(marker)  # ends the reader: MONITOR has no other way to stop a listen()
            sender.close()
            reader.join(timeout=30)
    watcher.close()
    total: dict[str, int] = {}
    nested: dict[str, int] = {}
    in_multi: set[str] = set()
    for entry in seen:
        words = entry["command"].split(" ", 1)
        name = _base(words[0].strip('"'))
        who = f"{entry['client_address']}:{entry['client_port']}"
        total[name] = total.get(name, 0) + 1
        if entry["client_type"] == "lua" or (who in in_multi and name not in ("exec", "discard")):
            nested[name] = nested.get(name, 0) + 1
        if name == "multi":
            in_multi.add(who)
        elif name in ("exec", "discard"):
            in_multi.discard(who)
    return {name: nested.get(name, 0) / calls for name, calls in total.items()}


class ServerClock:
    """Server µs spent between `start()` and `stop()`, top-level commands only (see the module)."""

    def __init__(self, url: str, nested: dict[str, float] | None = None) -> None:
        self.client = redis.Redis.from_url(url)
        self.nested = nested or {}
        self.before: dict[str, tuple[int, int]] = {}

    def start(self) -> None:
        self.before = command_stats(self.client)

    def stop(self) -> float:
        after = command_stats(self.client)
        usec = 0.0
        for name, (_, total) in after.items():
            if name == "info":  # our own INFO calls, before and after
                continue
            spent = total - self.before.get(name, (0, 0))[1]
            usec += spent * (1.0 - self.nested.get(name, 0.0))
        return usec

    def close(self) -> None:
        self.client.close()


def slowest(client: redis.Redis, run: Callable[[], Any], max_len: int = 10_000) -> tuple[int, str, int]:
    """(µs, command, entries) of the slowest server call during `run()`, from SLOWLOG with a
    threshold of 0; the server's slowlog settings are restored afterwards.

    SLOWLOG records the commands inside a script or a transaction one by one, and the script
    (EVALSHA) as a whole, but never EXEC (its commands are logged instead): a transaction's total
    is read from commandstats by the caller."""
    saved = client.config_get("slowlog-log-slower-than") | client.config_get("slowlog-max-len")
    client.config_set("slowlog-max-len", max_len)
    client.slowlog_reset()
    client.config_set("slowlog-log-slower-than", 0)
    try:
        run()
    finally:
        client.config_set("slowlog-log-slower-than", str(saved["slowlog-log-slower-than"]))
    entries = client.slowlog_get(max_len)
    client.config_set("slowlog-max-len", str(saved["slowlog-max-len"]))
    # Our own CONFIG SET that switched the log on is in it; it is not the saver's.
    entries = [e for e in entries if not _word(e["command"]).startswith(("config", "slowlog"))]
    if not entries:
        return 0, "-", 0
    worst = max(entries, key=lambda e: e["duration"])
    return int(worst["duration"]), _word(worst["command"]), len(entries)


def _word(command: bytes | str) -> str:
    text = command.decode(errors="replace") if isinstance(command, bytes) else command
    return text.split(" ", 1)[0].lower()
