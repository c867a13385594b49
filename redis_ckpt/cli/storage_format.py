"""`format`: the deployment's storage format, and the operator's switch that raises it once the
whole fleet runs a release that reads the new one (docs/upgrading.md)."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from redis_ckpt.cli.app import env, json_option


@click.command("format")
@click.option(
    "--raise",
    "raise_to",
    type=click.IntRange(min=1),
    help="Raise the deployment's storage format to N (only once every worker reads N).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before raising.")
@json_option
@click.pass_context
def format_(ctx: click.Context, raise_to: int | None, yes: bool) -> None:
    """Show the deployment's storage format and what this release reads and writes; --raise N
    switches the deployment to format N."""
    e = env(ctx)
    saver = e.saver()
    if raise_to is not None:
        current = saver.storage_format()["deployment"]
        if raise_to != current and not yes:
            # one way: once workers write the new format, the previous release cannot read it
            if not sys.stdin.isatty():
                raise click.ClickException("refusing to raise the format without confirmation: pass --yes")
            click.confirm(
                f"Raise the storage format of {e.prefix!r} from {current} to {raise_to}? Workers on a release "
                f"that does not read format {raise_to} will refuse to work, and rolling back will not be possible",
                abort=True,
            )
        saver.raise_storage_format(raise_to)
    data = {"prefix": e.prefix, **saver.storage_format()}

    def human(console: Console) -> None:
        found = data["deployment"]
        shown = "none recorded yet (setup or the first write records it)" if found is None else str(found)
        console.print(f"deployment {e.prefix!r}: storage format {shown}")
        console.print("this release reads formats " + ", ".join(map(str, data["reads"])))
        console.print("this release writes formats " + ", ".join(map(str, data["writes"])))
        if raise_to is not None:
            console.print(f"raised to format {raise_to}")

    e.emit(data, human)


def register(group: click.Group) -> None:
    group.add_command(format_)
