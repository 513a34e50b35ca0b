"""What yolo-probs prints for people besides its results: one ``yolo-probs:`` line per error, warning or file written.

The command line and the live overlay print through these functions, so every line has one form.

Every line goes to stderr (stdout holds the records), starts with ``yolo-probs:`` and is one line:
control characters in file names are escaped (:func:`~yolo_probs.errors.printable`).

Example:
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     wrote("out.json", 3, "record")
    >>> err.getvalue().splitlines()
    ['yolo-probs: wrote 3 records to out.json']
"""

from __future__ import annotations

import logging
import os
import sys

from yolo_probs.errors import printable

__all__ = ["error", "note", "set_verbose", "warn", "wrote"]


def error(message: str) -> None:
    """Print one ``yolo-probs: error: ...`` line on stderr (control characters escaped: one line, always)."""
    print(f"yolo-probs: error: {printable(message)}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    """Print one ``yolo-probs: ...`` line on stderr (what was written where)."""
    print(f"yolo-probs: {printable(message)}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """Print one ``yolo-probs: warning: ...`` line on stderr."""
    print(f"yolo-probs: warning: {printable(message)}", file=sys.stderr, flush=True)


def wrote(path: str | os.PathLike[str], count: int | None = None, what: str = "", detail: str = "") -> None:
    """The one line every command prints for a file it wrote: ``yolo-probs: wrote [N things to] FILE [(detail)]``."""
    amount = f"{count} {what}{'s' if count != 1 else ''} to " if count is not None else ""
    note(f"wrote {amount}{os.fspath(path)}" + (f" ({detail})" if detail else ""))


class _StderrLines(logging.Handler):
    """``yolo-probs: message`` on whatever ``sys.stderr`` is when the record comes."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"yolo-probs: {record.getMessage()}", file=sys.stderr, flush=True)


def set_verbose(verbose: bool) -> None:
    """Show the library's INFO lines (engine choice, cache folder) on stderr, or stop showing them."""
    logger = logging.getLogger("yolo_probs")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrLines)]:
        logger.removeHandler(handler)
    if verbose:
        logger.addHandler(_StderrLines())
    logger.setLevel(logging.INFO if verbose else logging.NOTSET)
