"""A rich progress bar on stderr for long runs; silent when not at a terminal or with --json."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


@contextmanager
def progress(enabled: bool, label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`. A bar only when stderr is a terminal, so pipes and logs stay clean."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _n: None
        return
    columns = (SpinnerColumn(), TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
