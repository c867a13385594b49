"""The `redis-ckpt` command line (extra `redis-ckpt[cli]`): inspect, prune, back up and migrate
checkpoints, and the RedisStore's items (`store ...`). One module per command group; formatting
lives in `render`. See docs/cli.md.

Layer: the top, beside the integrations: it uses the savers, the store and redis_io, and only
their public methods on the saver (`checkpoint_ids`, `stored_checkpoints`, ...)."""

from redis_ckpt.cli import (
    backup,
    doctor,
    encryption,
    inspect,
    maintain,
    migrate,
    storage_format,
    store_commands,
    threads,
)
from redis_ckpt.cli.app import cli

for _module in (doctor, threads, inspect, maintain, backup, migrate, store_commands, storage_format, encryption):
    _module.register(cli)


def main() -> None:
    cli(prog_name="redis-ckpt")


__all__ = ["cli", "main"]
