"""The one progress bar of the CLI: on stderr, only on a terminal, and only once a run is slow enough to need it.

A bar for a run that ends in a fraction of a second is noise, and a bar still on screen when the
results print gets glued to them. So the bar appears after :data:`SHOW_AFTER` seconds of work, and
:meth:`ProgressBar.stop` (also called on leaving the ``with`` block) erases it before anything else
is printed.
"""

from __future__ import annotations

import sys
import time
from typing import Any

#: Seconds of work before the bar appears: shorter runs never show one.
SHOW_AFTER = 1.0


class ProgressBar:
    """A transient rich bar with one task of ``total`` steps, shown only after ``show_after`` seconds.

    Use it as a context manager; call :meth:`advance` per step and :meth:`stop` before printing
    results (stopping twice is fine).

    Example:
        >>> with ProgressBar("classifying", 3, show_after=60.0) as bar:
        ...     bar.advance(bar.task_ids[0])
        >>> bar.shown, bar.done
        (False, 1)
    """

    def __init__(self, label: str, total: int, *, show_after: float | None = None, file: Any = None) -> None:
        self.label, self.total = label, total
        self.show_after = SHOW_AFTER if show_after is None else show_after
        self.task_ids = [0]
        self.done = 0
        self.shown = False
        self._file = file
        self._progress: Any = None
        self._start = time.monotonic()
        self._stopped = False

    def __enter__(self) -> ProgressBar:
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def advance(self, task_id: int = 0, advance: float = 1) -> None:
        """Count ``advance`` steps done; the bar appears once the run has lasted ``show_after`` seconds."""
        self.done += int(advance)
        if self._stopped:
            return
        if self._progress is None and time.monotonic() - self._start >= self.show_after and self.done < self.total:
            self._show()
        if self._progress is not None:
            self._progress.update(self._progress.task_ids[0], completed=self.done)

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=self._file or sys.stderr),
            transient=True,
        )
        self._progress.add_task(self.label, total=self.total, completed=self.done)
        self._progress.start()
        self.shown = True

    def stop(self) -> None:
        """Erase the bar (if it was shown); later :meth:`advance` calls only count."""
        self._stopped = True
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_bar(label: str, total: int) -> ProgressBar | None:
    """A :class:`ProgressBar` of ``total`` steps on stderr, or None.

    None when stderr is not a terminal (logs and pipes stay clean) or when there is at most one step.

    Example:
        >>> progress_bar("classifying", 10) is None  # doctests do not run in a terminal
        True
    """
    if total <= 1 or not sys.stderr.isatty():
        return None
    return ProgressBar(label, total, file=sys.stderr)
