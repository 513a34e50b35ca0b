"""Open output files so that no input is overwritten and an interrupted run never leaves half a document.

Every writer of :data:`yolo_probs.writers.WRITERS` is opened through :func:`open_output`:

- an output that is one of the run's inputs (an image, a video, the model, the profile) is refused
  before anything is opened (:func:`check_not_input`);
- documents that are only valid once complete (JSON, CSV, Parquet: every writer unless it says
  ``atomic = False``) are written to a temporary file in the same folder and renamed over the target
  when the run ends, so a crash or a full disk leaves the old file as it was; JSON Lines streams
  straight into the file (each line is a whole record), as do non-regular targets (``/dev/stdout``, a
  FIFO, ``/dev/full``);
- a failed write (disk full, permissions) becomes one :class:`~yolo_probs.errors.OutputError` naming
  the file, not a raw ``OSError``.

On ``KeyboardInterrupt`` the writer has completed its document with the records so far, so those are
kept (renamed into place); on any other exception the temporary file is removed.

Example:
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
    >>> with open_output(target) as stream:
    ...     _ = stream.write("[]")
    ...     target.exists()  # still being written under a temporary name
    False
    >>> target.read_text()
    '[]'
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from yolo_probs.errors import ConfigError, OutputError, printable

__all__ = ["check_not_input", "open_output"]


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def check_not_input(
    output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None], option: str = "output"
) -> None:
    """Raise :class:`ConfigError` if ``output`` is the same file as one of ``inputs`` (links and ``./`` included).

    Nothing is opened or created. Inputs that are not local regular files (URLs, webcams) are ignored.

    Example:
        >>> check_not_input("examples/images/digit_3.png", ["examples/images/digit_3.png"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: examples/images/digit_3.png is also an input of this run: writing it would ...
    """
    target = _identity(output)
    if target is None:
        return
    for item in inputs:
        if item is not None and _identity(item) == target:
            same = "" if os.fspath(item) == os.fspath(output) else f" (the same file as {printable(os.fspath(item))})"
            raise ConfigError(
                f"{printable(os.fspath(output))} is also an input of this run{same}: writing it would destroy it; "
                "choose another output file",
                option=option,
            )


class _Guarded:
    """A stream whose write errors become one :class:`OutputError` naming the output."""

    def __init__(self, stream: Any, name: str, option: str) -> None:
        self._stream, self._name, self._option = stream, name, option

    def _fail(self, exc: OSError) -> OutputError:
        if isinstance(exc, BrokenPipeError) and self._name == "stdout":  # `... | head`: the reader left
            error = OutputError("stdout was closed by the reader (broken pipe)", option=self._option)
            error.exit_code, error.quiet = 141, True  # as a shell reports a process ended by SIGPIPE
            return error
        reason = exc.strerror or str(exc)
        hint = "free some space" if exc.errno == 28 else "check the path and its permissions"
        return OutputError(
            f"cannot write {self._name} ({reason}); {hint}, or choose another output file", option=self._option
        )

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except OSError as exc:
            raise self._fail(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._fail(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def open_output(
    path: str | os.PathLike[str] | None,
    *,
    binary: bool = False,
    atomic: bool = True,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    option: str = "output",
) -> Iterator[Any]:
    """Open ``path`` for writing (stdout when None), checked against ``inputs``, atomically when ``atomic``.

    Args:
        path: the output file; None writes to stdout.
        binary: give a binary stream (Parquet) instead of a UTF-8 text stream.
        atomic: write to a temporary file in the same folder and rename it into place at the end.
        inputs: files this run reads; an output that is one of them is refused before anything opens.
        option: the setting named in error messages.

    Raises:
        ConfigError: the output is an input, a folder, or cannot be created.
        OutputError: writing failed part-way (disk full...); the old file, if any, is left as it was.
    """
    if path is None:
        stdout = sys.stdout.buffer if binary else sys.stdout
        yield _Guarded(stdout, "stdout", option)
        return
    target = Path(path)
    name = printable(os.fspath(target))
    check_not_input(target, inputs, option)
    if target.is_dir():
        raise ConfigError(f"{name} is a folder; name a file to write, e.g. {name}/predictions.json", option=option)
    if target.is_symlink():  # write through the link, as a plain open would, not over the link itself
        target = Path(os.path.realpath(target))
    try:
        mode = os.stat(target).st_mode
        regular = stat.S_ISREG(mode)
    except OSError:
        mode, regular = None, True  # a new file
    direct = not atomic or not regular  # devices, FIFOs and /dev/stdout cannot be renamed over
    write_to = target if direct else target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        raw = write_to.open("wb" if direct else "xb")
    except OSError as exc:
        raise ConfigError(f"cannot write {name} ({exc.strerror}); choose a writable path", option=option) from None
    if not direct and mode is not None:
        with contextlib.suppress(OSError):  # the replacement keeps the old file's permissions
            os.chmod(write_to, stat.S_IMODE(mode))
    stream: Any = raw if binary else _text(raw)
    guarded = _Guarded(stream, name, option)
    keep = False
    try:
        yield guarded
        keep = True
    except KeyboardInterrupt:
        keep = True  # the writer completed its document with the records so far: keep them
        raise
    finally:
        failure: OutputError | None = None
        if keep:
            try:  # everything on disk before the rename, so the new file is whole
                stream.flush()
                if not direct:
                    os.fsync(raw.fileno())
            except OSError as exc:
                keep, failure = False, guarded._fail(exc)
        with contextlib.suppress(OSError):
            stream.close()
        if not direct and keep:
            try:
                os.replace(write_to, target)
            except OSError as exc:
                keep, failure = False, guarded._fail(exc)
        if not direct and not keep:
            with contextlib.suppress(OSError):
                write_to.unlink()
        if failure is not None:
            raise failure


def _text(raw: Any) -> Any:
    import io

    return io.TextIOWrapper(raw, encoding="utf-8", newline="")
