"""The one progress bar of the CLI: on stderr, only when stderr is a terminal and there is work to show."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(label: str, total: int) -> Any:
    """A transient rich ``Progress`` with one task of ``total`` steps (``bar.tasks[0]``), or None.

    None when stderr is not a terminal (logs and pipes stay clean) or when there is at most one step.

    Example:
        >>> progress_bar("classifying", 10) is None  # doctests do not run in a terminal
        True
    """
    if total <= 1 or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    bar.add_task(label, total=total)
    return bar
