"""`doctor`: is this server fit to hold checkpoints, and can this user do what the saver needs?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import redis
from redis.cluster import RedisCluster
from rich.console import Console

from redis_ckpt.cli.app import env, json_option
from redis_ckpt.format import format_version
from redis_ckpt.redis_io import acl, search

OK, WARN, FAIL = "ok", "warn", "fail"
Check = dict[str, str]


def text(value: Any) -> str:
    """A reply as text: redis-py hands back bytes or str depending on the command's callback."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _check(name: str, status: str, detail: str) -> Check:
    return {"check": name, "status": status, "detail": detail}


def server_identity(info: dict[str, Any]) -> tuple[str, str]:
    """("Redis" or "Valkey", its version). Valkey reports a fixed `redis_version` (7.2.4) for
    client compatibility; its own version is `valkey_version`, and `server_name` says valkey."""
    if str(info.get("server_name", "")).lower() == "valkey" or "valkey_version" in info:
        return "Valkey", str(info.get("valkey_version") or info.get("redis_version", "?"))
    return "Redis", str(info.get("redis_version", "?"))


def version_check(info: dict[str, Any]) -> Check:
    if not info:
        return _check("server", WARN, "INFO refused: version, topology and persistence unknown")
    name, version = server_identity(info)
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 0
    # Every Valkey release (7.2 on) has what the saver needs; Redis needs 7+.
    status = OK if name == "Valkey" or major >= 7 else FAIL
    return _check("server", status, f"{name} {version}" + ("" if status == OK else " (redis-ckpt needs Redis 7+)"))


def topology_check(info: dict[str, Any], sentinel: bool = False, primaries: int | None = None) -> Check:
    """`primaries`: the cluster client's primary count, when the saver talks to a cluster."""
    # Redis says `redis_mode`, Valkey `server_mode`.
    mode = str(info.get("redis_mode") or info.get("server_mode") or "standalone")
    role = str(info.get("role", "?"))
    if mode == "cluster" or primaries is not None:
        if primaries is None:
            return _check("topology", WARN, "cluster node reached through a standalone client: pass the cluster's URL")
        return _check(
            "topology",
            OK,
            f"cluster, {primaries} primaries: a thread's keys share one slot; cross-thread queries ask every primary",
        )
    if role == "slave":
        return _check("topology", WARN, f"{mode}, connected to a replica: writes will fail (use the primary)")
    detail = f"{mode}, role {role}" + (" (primary found through Sentinel)" if sentinel else "")
    return _check("topology", OK, detail)


def persistence_check(info: dict[str, Any], save: str | None) -> Check:
    aof = str(info.get("aof_enabled", "0")) == "1"
    rdb = bool(save) if save is not None else None
    parts = [f"AOF {'on' if aof else 'off'}", f"RDB {'?' if rdb is None else ('on' if rdb else 'off')}"]
    if aof:
        return _check("persistence", OK, ", ".join(parts))
    if rdb:
        return _check("persistence", WARN, ", ".join(parts) + ": a crash loses writes since the last snapshot")
    if rdb is None:
        return _check("persistence", WARN, ", ".join(parts) + ": CONFIG GET refused; check snapshots yourself")
    return _check("persistence", WARN, ", ".join(parts) + ": a restart loses every checkpoint")


def eviction_check(policy: str) -> Check:
    if policy.startswith("allkeys-"):
        return _check(
            "maxmemory-policy", FAIL, f"{policy}: under memory pressure Redis evicts checkpoints; use noeviction"
        )
    if policy.startswith("volatile-"):
        return _check(
            "maxmemory-policy", WARN, f"{policy}: checkpoints with a TTL can be evicted early; use noeviction"
        )
    return _check("maxmemory-policy", OK, policy or "?")


def modules_check(state: str, db: int = 0) -> Check:
    if state == search.NO_INDEX and db != 0:
        return _check("search", OK, f"db {db}: RediSearch indexes only db 0; cross-thread queries scan")
    if state == search.NO_MODULE:
        return _check("search", OK, "no Search module: per-thread operations unaffected; cross-thread queries scan")
    if state == search.NO_INDEX:
        return _check("search", WARN, "Search module present but no index: run the saver's setup()")
    if state == search.INDEXING:
        return _check("search", WARN, "search index still building: cross-thread queries scan meanwhile")
    return _check("search", OK, "Search module present, index ready")


def acl_check(client: Any, prefix: str, with_search: bool) -> Check:
    """ACL DRYRUN of every command the saver sends, as the connected user, on a key under the prefix."""
    try:
        user = text(client.execute_command("ACL WHOAMI"))
    except redis.ResponseError as exc:
        return _check("acl", WARN, f"cannot check (ACL WHOAMI refused: {exc})")
    commands = list(acl.COMMANDS) + (list(acl.SEARCH_COMMANDS) if with_search else [])
    denied = []
    key = f"{prefix}:doctor"
    for command in commands:
        name = command.replace("|", " ").split()
        answer = None
        for args in ([key], [key, "0", "0"], [], [key, "0"]):  # the first shape the command's arity accepts
            try:
                answer = client.execute_command("ACL DRYRUN", user, *name, *args)
                break
            except redis.ResponseError as exc:
                message = str(exc).lower()
                if "number of arguments" in message:
                    continue
                if "unknown command" in message or "unknown subcommand" in message or "not found" in message:
                    break  # a command this server does not have (e.g. FT.* without Search): not needed
                return _check("acl", WARN, f"cannot check as {user!r} (ACL DRYRUN refused: {exc})")
        if answer is not None and answer is not True and text(answer) != "OK":
            denied.append(command)
    if denied:
        return _check("acl", FAIL, f"user {user!r} may not run: {', '.join(denied)}")
    return _check("acl", OK, f"user {user!r} may run every command the saver needs on {prefix}*")


def format_check(found: int | None) -> Check:
    """The deployment's storage format against what this release reads and writes."""
    writes = ", ".join(map(str, sorted(format_version.WRITES)))
    if found is None:
        return _check("storage format", OK, f"none recorded yet (setup records {format_version.DEFAULT})")
    if found in format_version.WRITES:
        return _check("storage format", OK, f"format {found} (this release writes {writes})")
    return _check(
        "storage format",
        FAIL,
        f"{'an unknown format' if found == format_version.UNKNOWN else f'format {found}'}: this release writes "
        f"{writes} only; upgrade it (docs/upgrading.md)",
    )


def _db(client: Any) -> int:
    """The database number (a cluster client has none: 0)."""
    pool = getattr(client, "connection_pool", None)
    return int((pool.connection_kwargs if pool is not None else {}).get("db") or 0)


def _primaries(client: Any) -> int | None:
    """How many primaries a cluster client knows; None for a standalone client."""
    return len(client.get_primaries()) if isinstance(client, RedisCluster) else None  # type: ignore[no-untyped-call]


def _safe(fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except redis.ResponseError:
        return default


@click.command()
@json_option
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the server: version, topology, persistence, eviction, Search, ACL, storage format. Exit 1
    on a problem."""
    e = env(ctx)
    saver = e.saver()
    client = saver.client
    info: dict[str, Any] = _safe(lambda: client.info(), {})
    save = _safe(lambda: client.config_get("save").get("save"), None)
    state = _safe(lambda: search.index_state(client, saver.layout), search.NO_MODULE)
    checks = [
        version_check(info),
        topology_check(info, e.url.startswith("redis+sentinel://"), _primaries(client)),
        persistence_check(info, save),
        eviction_check(str(info.get("maxmemory_policy", ""))),
        modules_check(state, _db(client)),
        acl_check(client, saver.layout.prefix, state != search.NO_MODULE),
        format_check(_safe(lambda: saver.storage_format()["deployment"], None)),
    ]
    failed = any(c["status"] == FAIL for c in checks)

    def human(out: Console) -> None:
        marks = {OK: "ok  ", WARN: "warn", FAIL: "FAIL"}
        for c in checks:
            out.print(f"{marks[c['status']]}  {c['check']}: {c['detail']}", markup=False)

    e.emit({"ok": not failed, "checks": checks}, human)
    if failed:
        ctx.exit(1)


def register(group: click.Group) -> None:
    group.add_command(doctor)
