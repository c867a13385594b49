"""The command group: connection options, --json, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
import redis
from rich.console import Console

from redis_ckpt import Encryption
from redis_ckpt.cli import render
from redis_ckpt.config import RetryConfig
from redis_ckpt.errors import RedisCheckpointError, StoreUnavailableError
from redis_ckpt.redis_io.connection import redact_url
from redis_ckpt.sync import RedisSaver

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_URL = "redis://127.0.0.1:6379"
# A CLI should fail fast on a wrong URL: two quick attempts, not the saver's 30 s of retries.
CLI_RETRY = RetryConfig(attempts=2, initial_wait=0.05, max_wait=0.2, deadline=2.0)


@dataclass
class Env:
    """What every command needs: where to connect, which prefixes, how to print."""

    url: str
    prefix: str
    write_prefix: str
    json: bool = False
    ttl_minutes: float | None = None
    width: int | None = None
    savers: list[RedisSaver] = field(default_factory=list)

    def saver(self, url: str | None = None, prefix: str | None = None, write_prefix: str | None = None) -> RedisSaver:
        """A connected saver (pinged, so a bad URL or password fails here with one clear line)."""
        url = url or self.url
        saver = RedisSaver(
            url,
            checkpoint_prefix=prefix or self.prefix,
            checkpoint_write_prefix=write_prefix or self.write_prefix,
            ttl=self.ttl,
            retry=CLI_RETRY,
            encryption=Encryption.from_env(),  # REDIS_CKPT_ENCRYPTION_KEYS (docs/security.md)
        )
        self.savers.append(saver)
        try:
            saver.client.ping()
        except redis.AuthenticationError as exc:
            raise click.ClickException(f"authentication failed at {redact_url(url)}: {exc}") from None
        except redis.ConnectionError as exc:
            raise click.ClickException(f"cannot connect to Redis at {redact_url(url)}: {exc}") from None
        except redis.ResponseError as exc:  # e.g. NOAUTH, or an ACL user without PING
            raise click.ClickException(f"Redis at {redact_url(url)} refused PING: {exc}") from None
        return saver

    @property
    def ttl(self) -> dict[str, Any] | None:
        """The saver's `ttl` option for what the CLI writes (import, migrate, copy)."""
        return {"default_ttl": self.ttl_minutes} if self.ttl_minutes else None

    def close(self) -> None:
        for saver in self.savers:
            saver.close()

    def emit(self, data: Any, human: Callable[[Console], None]) -> None:
        """Print `data` as JSON with --json, else call `human` with a console as wide as --width,
        else the terminal (or COLUMNS), else 80 columns."""
        if self.json:
            click.echo(json.dumps(render.jsonable(data), ensure_ascii=False))
        else:
            human(console(width=self.width))

    def emit_line(self, data: Any) -> None:
        """One JSON line (for streamed --json output)."""
        click.echo(json.dumps(render.jsonable(data), ensure_ascii=False))


def prepare(saver: RedisSaver) -> None:
    """`setup()` for commands that write. RediSearch refuses indexes outside db 0: a target in
    another db works without the index (cross-thread queries then scan), so go on without it."""
    try:
        saver.setup()
    except Exception as exc:
        if "db != 0" not in str(exc):
            raise


def console(stderr: bool = False, width: int | None = None) -> Console:
    """Rich measures a terminal itself and honours COLUMNS; output to a pipe or file, with neither
    --width nor COLUMNS, gets 80 columns."""
    if width is None and not sys.stdout.isatty() and not os.environ.get("COLUMNS", "").isdigit():
        width = 80
    return Console(width=width, stderr=stderr, highlight=False, soft_wrap=False)


def one_line(exc: BaseException) -> str:
    """An exception as one line a user can act on."""
    if isinstance(exc, redis.AuthenticationError):
        return f"authentication failed: {exc}"
    if isinstance(exc, (redis.ConnectionError, StoreUnavailableError)):
        return f"cannot reach Redis: {str(exc).splitlines()[0]}"
    if isinstance(exc, redis.ResponseError):
        return f"Redis refused a command: {exc}"
    if isinstance(exc, RedisCheckpointError):
        return str(exc).splitlines()[0]
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except Exception as exc:  # a traceback helps nobody at a terminal; one line does
            raise click.ClickException(one_line(exc)) from None
        finally:
            if isinstance(ctx.obj, Env):
                ctx.obj.close()


def json_option(fn: F) -> F:
    """--json on a command (the same as the global --json)."""

    def turn_on(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            env(ctx).json = True

    return click.option(
        "--json", "as_json", is_flag=True, expose_value=False, callback=turn_on, help="Print JSON for scripts."
    )(fn)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 80})
@click.option("--url", envvar="REDIS_URL", default=DEFAULT_URL, show_default=True, help="Redis URL (or REDIS_URL).")
@click.option("--prefix", default="checkpoint", show_default=True, help="The saver's checkpoint_prefix.")
@click.option(
    "--write-prefix", default="checkpoint_write", show_default=True, help="The saver's checkpoint_write_prefix."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--ttl",
    type=click.FloatRange(min=0, min_open=True),
    help="Expire what import, migrate and copy write after this many minutes (the saver's ttl default_ttl).",
)
@click.option(
    "--width",
    type=click.IntRange(min=40),
    help="Columns of human output (default: the terminal's, or COLUMNS; 80 when piped).",
)
@click.version_option(package_name="redis-ckpt")
@click.pass_context
def cli(
    ctx: click.Context, url: str, prefix: str, write_prefix: str, as_json: bool, ttl: float | None, width: int | None
) -> None:
    """Inspect, prune, back up and migrate LangGraph checkpoints stored by redis-ckpt."""
    ctx.obj = Env(url=url, prefix=prefix, write_prefix=write_prefix, json=as_json, ttl_minutes=ttl, width=width)


def env(ctx: click.Context) -> Env:
    obj = ctx.find_object(Env)
    assert obj is not None
    return obj
