"""`format`: the deployment's storage format, and the operator's switch that raises it once the
whole fleet runs a release that reads the new one (docs/upgrading.md)."""

from __future__ import annotations

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
@json_option
@click.pass_context
def format_(ctx: click.Context, raise_to: int | None) -> None:
    """Show the deployment's storage format and what this release reads and writes; --raise N
    switches the deployment to format N."""
    e = env(ctx)
    saver = e.saver()
    if raise_to is not None:
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
