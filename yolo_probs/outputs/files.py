"""The one file writer: every file yolo-probs writes goes through this module, with one set of rules.

- A regular file or a new path is written to a unique temporary file in the same folder, flushed and
  fsynced, then renamed over the target: readers see the old file or the new one, never half of one.
  An existing file keeps its permission bits (and, where allowed, its owner); a new file gets the
  umask's (``0o666 & ~umask``). The temporary file is private to its owner until it is renamed.
- A symlink is resolved and its target written that way; the link stays a link.
- A FIFO, a character device (``/dev/null``, a terminal) or ``-`` (stdout) is written straight into,
  never created, truncated or renamed over. A format that cannot be written as a stream says so in
  one line instead (``streams=False``), before anything is opened.
- Anything else (a folder, a socket, a block device) is never replaced: one :class:`ConfigError` line.
- An interrupted or failed write leaves the old file as it was (the temporary file is removed), and
  so does raising :class:`Discard` in the block (a recording that holds no frame). On Ctrl-C, a writer
  that completes its document in a ``finally`` block (``predict``'s records) keeps what it wrote when
  it asks to (``keep_on_interrupt=True``).
- An output that is one of the run's inputs (an image, a video, the model, the profile) is refused
  before anything is opened (:func:`check_not_input`); a write error (disk full, permissions) is one
  :class:`OutputError` naming the file.

:func:`open_output` gives a stream; :func:`write_bytes` and :func:`write_text` write a whole document;
:func:`output_path` gives a real file path to libraries that write by path (OpenCV's video writer,
``torch.save``, ONNX, Parquet) and publishes the file at the end; :func:`check_output` checks a path
before long work (it writes nothing there: a probe file is created and removed in its folder).

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
import errno
import io
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from yolo_probs.errors import ConfigError, OutputError, printable

__all__ = [
    "STDOUT",
    "Discard",
    "OutputTarget",
    "check_not_input",
    "check_output",
    "open_output",
    "output_path",
    "resolve_output",
    "write_bytes",
    "write_text",
]

#: The name that means standard output.
STDOUT = "-"

Inputs = Iterable["str | os.PathLike[str] | None"]
#: Longest part of a file name kept in a temporary file's name (names are limited to 255 bytes).
_NAME_KEPT = 200


class Discard(Exception):
    """Raise inside :func:`open_output` or :func:`output_path` to drop what was written: the old file stays."""


@dataclass(frozen=True)
class OutputTarget:
    """Where an output goes, as the writer sees it.

    Attributes:
        name: the output as the user named it, printable (for messages).
        path: the file written, symlinks resolved; None for stdout.
        kind: ``"stdout"``, ``"stream"`` (a FIFO or character device, written into), ``"file"`` (a regular
            file, replaced atomically) or ``"new"`` (nothing there yet).
        mode: the permission bits an existing regular file has (kept by the replacement), else None.
        owner: the (uid, gid) of an existing regular file (kept by the replacement where allowed), else None.
    """

    name: str
    path: Path | None
    kind: str
    mode: int | None = None
    owner: tuple[int, int] | None = None

    @property
    def streamed(self) -> bool:
        """Whether the output is written straight into (stdout, a FIFO, a device) rather than replaced."""
        return self.kind in ("stdout", "stream")


_KINDS = {
    stat.S_IFSOCK: "a socket",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
}


def resolve_output(
    path: str | os.PathLike[str] | None, *, option: str = "output", example: str = "out"
) -> OutputTarget:
    """What writing ``path`` means (see the module docstring); ConfigError for what is never replaced.

    ``None`` and ``"-"`` are stdout; a symlink is followed to its target (a dangling link to where it points).

    Example:
        >>> resolve_output("-").kind, resolve_output("/no/such/new.json").kind
        ('stdout', 'new')
        >>> resolve_output("/")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: /: it is a folder; name a file in it, e.g. /out
    """
    if path is None or os.fspath(path) == STDOUT:
        return OutputTarget("stdout", None, "stdout")
    if not os.fspath(path):
        raise ConfigError(f"the {option} path is empty; name a file, e.g. {example}", option=option)
    name = printable(os.fspath(path))
    try:
        real = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
        st = os.stat(real)
    except FileNotFoundError:
        return OutputTarget(name, real, "new")
    except NotADirectoryError:
        blocking = next((f for f in Path(path).parents if f.exists() and not f.is_dir()), Path(path).parent)
        why = f"{blocking} is a file, not a folder"
        raise ConfigError(f"{name}: {why}; choose a writable path", option=option) from None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte...
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{name}: cannot write it ({why}); choose a writable path", option=option) from None
    if stat.S_ISREG(st.st_mode):
        return OutputTarget(name, real, "file", stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid))
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        return OutputTarget(name, real, "stream")
    if stat.S_ISDIR(st.st_mode):
        shown = name.rstrip("/")
        raise ConfigError(f"{name}: it is a folder; name a file in it, e.g. {shown}/{example}", option=option)
    what = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
    raise ConfigError(
        f"{name} is {what}: yolo-probs writes regular files, FIFOs and character devices only, and replaces "
        "nothing else; choose another path",
        option=option,
    )


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def check_not_input(output: str | os.PathLike[str] | None, inputs: Inputs, option: str = "output") -> None:
    """Raise :class:`ConfigError` if ``output`` is the same file as one of ``inputs`` (links and ``./`` included).

    Nothing is opened or created. Inputs that are not local regular files (URLs, webcams) are ignored.

    Example:
        >>> check_not_input("examples/images/digit_3.png", ["examples/images/digit_3.png"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: examples/images/digit_3.png is also an input of this run: writing it would ...
    """
    target = None if output is None or os.fspath(output) == STDOUT else _identity(output)
    if target is None:
        return
    assert output is not None
    for item in inputs:
        if item is not None and _identity(item) == target:
            same = "" if os.fspath(item) == os.fspath(output) else f" (the same file as {printable(os.fspath(item))})"
            raise ConfigError(
                f"{printable(os.fspath(output))} is also an input of this run{same}: writing it would destroy it; "
                "choose another output file",
                option=option,
            )


def _refuse_stream(target: OutputTarget, what: str, option: str) -> ConfigError:
    where = "stdout" if target.kind == "stdout" else f"{target.name} (a FIFO or device)"
    return ConfigError(f"{what} cannot be written as a stream into {where}; name a regular file", option=option)


def check_output(
    path: str | os.PathLike[str] | None,
    *,
    option: str = "output",
    inputs: Inputs = (),
    suffixes: tuple[str, ...] = (),
    streams: bool = True,
    what: str = "this output",
    example: str = "out",
    create_folder: bool = False,
) -> OutputTarget:
    """Check that ``path`` can be written later, writing nothing there and touching no file.

    For outputs written after long work (a profile, a plot, an export), so a bad path fails in one line
    before the work starts: not one of ``inputs``; a known suffix when ``suffixes`` are given; never a
    folder, socket or block device; a FIFO, device or stdout only if the format ``streams``; and a new
    or replaced file's folder accepts a new file (a probe file is created and removed there: permission
    bits do not tell, root may write anywhere but read-only file systems). With ``create_folder`` a
    missing folder is created.

    Example:
        >>> check_output("/proc/plot.png", option="plot")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: /proc/plot.png: cannot write it (...); choose a writable path
    """
    check_not_input(path, inputs, option)
    target = resolve_output(path, option=option, example=example + (suffixes[0] if suffixes else ""))
    if suffixes and target.kind != "stdout" and Path(os.fspath(path or "")).suffix.lower() not in suffixes:
        suffix = Path(os.fspath(path or "")).suffix or "(none)"
        raise ConfigError(
            f"{target.name}: unsupported suffix {suffix!r}; use one of {', '.join(suffixes)}", option=option
        )
    if target.streamed:
        if not streams:
            raise _refuse_stream(target, what, option)
        return target
    assert target.path is not None
    folder = target.path.parent
    blocking = next((f for f in (folder, *folder.parents) if f.exists() and not f.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"{target.name}: {blocking} is a file, not a folder; choose a writable path", option=option)
    try:
        if create_folder:
            folder.mkdir(parents=True, exist_ok=True)
        tmp, fd, _ = _temporary(target.path)
        os.close(fd)
        tmp.unlink()
    except OSError as exc:
        raise _cannot_create(exc, target.name, option) from None
    return target


def _temporary(path: Path, suffix: str = "") -> tuple[Path, int, int]:
    """A new empty file beside ``path`` with a unique hidden name: its path, an open descriptor for
    writing, and the permission bits the umask gives a new file.

    The file is readable by its owner only while it is written (the old file may be private); the
    bits it is published with are set by :func:`_settle`.
    """
    tmp = path.with_name(f".{path.name[:_NAME_KEPT]}.{secrets.token_hex(4)}.tmp{suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)  # 0o666 & ~umask
    try:
        fresh = stat.S_IMODE(os.fstat(fd).st_mode)
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp, fd, fresh


def _settle(fd: int, target: OutputTarget, fresh: int) -> None:
    """Give a finished temporary file the owner and permission bits of the file it replaces (new: ``fresh``).

    Only root may give a file to another user: others keep the old file's group where they can, and
    a file they now own does not keep the old one's set-user/group-ID bits.
    """
    mode = target.mode if target.mode is not None else fresh
    if target.owner is not None:
        try:
            os.fchown(fd, *target.owner)
        except OSError:
            with contextlib.suppress(OSError):
                os.fchown(fd, -1, target.owner[1])
            mode &= ~(stat.S_ISUID | stat.S_ISGID)
    os.fchmod(fd, mode)  # after chown, which may clear set-id bits


def _publish(tmp: Path, target: OutputTarget) -> None:
    """Rename a finished temporary file over ``target.path``, unless something other than a regular file
    appeared there meanwhile (a FIFO, a link, a device is never replaced); then make the rename durable."""
    assert target.path is not None
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.lstat(target.path).st_mode):
            raise OSError(errno.EEXIST, "it changed while being written; nothing was replaced")
    os.replace(tmp, target.path)
    _fsync_folder(target.path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system lets a folder be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _cannot_create(exc: OSError, name: str, option: str) -> ConfigError:
    """One line naming the output whose file could not be created (its folder is missing, read-only...)."""
    error = ConfigError(f"{name}: cannot write it ({exc.strerror}); choose a writable path", option=option)
    error.reason = exc.strerror or str(exc)
    return error


def _write_error(exc: OSError, name: str, option: str, stdout: bool = False) -> OutputError:
    """One line naming the output for a failed write (a closed stdout pipe is quiet, exit status 141)."""
    if isinstance(exc, BrokenPipeError) and stdout:  # `... | head`: the reader left
        error = OutputError("stdout was closed by the reader (broken pipe)", option=option)
        error.exit_code, error.quiet = 141, True  # as a shell reports a process ended by SIGPIPE
        return error
    reason = exc.strerror or str(exc)
    hint = "free some space" if exc.errno == errno.ENOSPC else "check the path and its permissions"
    error = OutputError(f"cannot write {name} ({reason}); {hint}, or choose another output file", option=option)
    error.reason = reason
    return error


class _Guarded:
    """A stream whose write errors become one :class:`OutputError` naming the output."""

    def __init__(self, stream: Any, target: OutputTarget, option: str) -> None:
        self._stream, self._target, self._option = stream, target, option

    def _error(self, exc: OSError) -> OutputError:
        return _write_error(exc, self._target.name, self._option, stdout=self._target.kind == "stdout")

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except OSError as exc:
            raise self._error(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _open_stream(target: OutputTarget) -> BinaryIO:
    """Open a FIFO or character device for writing: never created or truncated, so a device stays a device."""
    assert target.path is not None
    fd = os.open(target.path, os.O_WRONLY | os.O_CLOEXEC)  # a FIFO waits here for its reader
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):  # replaced since it was looked at: write nothing
        os.close(fd)
        raise OSError(errno.EEXIST, "it changed while being opened")
    return os.fdopen(fd, "wb")


@contextlib.contextmanager
def open_output(
    path: str | os.PathLike[str] | None,
    *,
    binary: bool = False,
    streams: bool = True,
    inputs: Inputs = (),
    option: str = "output",
    what: str = "this output",
    example: str = "out",
    keep_on_interrupt: bool = False,
) -> Iterator[Any]:
    """Open ``path`` for writing (stdout when None or ``"-"``), by the rules of the module docstring.

    Args:
        path: the output file.
        binary: give a binary stream (Parquet, exports) instead of a UTF-8 text stream.
        streams: whether the format can be written into a FIFO, a device or stdout (else ConfigError).
        inputs: files this run reads; an output that is one of them is refused before anything opens.
        option: the setting named in error messages.
        what: what is written, for the message refusing a stream (``"a profile with side files"``).
        example: a file name the message about a folder suggests.
        keep_on_interrupt: on Ctrl-C keep what was written (the writer completed its document in a
            ``finally`` block); by default the old file stays.

    Raises:
        ConfigError: the output is an input, a folder, a socket, or cannot be created.
        OutputError: writing failed part-way (disk full...); the old file, if any, is left as it was.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
        >>> with open_output(target, binary=True) as stream:
        ...     _ = stream.write(b"PK")
        >>> target.read_bytes()
        b'PK'
    """
    target = _checked(path, inputs=inputs, option=option, what=what, example=example, streams=streams)
    with _opened(target, binary=binary, option=option, keep_on_interrupt=keep_on_interrupt) as stream:
        yield stream


def _checked(
    path: str | os.PathLike[str] | None, *, inputs: Inputs, option: str, what: str, example: str, streams: bool
) -> OutputTarget:
    """The target of ``path``, refused in one line when it is an input, or a stream the format cannot take."""
    check_not_input(path, inputs, option)
    target = resolve_output(path, option=option, example=example)
    if target.streamed and not streams:
        raise _refuse_stream(target, what, option)
    return target


@contextlib.contextmanager
def _opened(target: OutputTarget, *, binary: bool, option: str, keep_on_interrupt: bool) -> Iterator[Any]:
    """The stream :func:`open_output` gives for a resolved ``target``; published (or dropped) at the end."""
    if target.kind == "stdout":
        stdout = _Guarded(sys.stdout.buffer if binary else sys.stdout, target, option)
        yield stdout
        stdout.flush()  # a write error (a closed pipe) is one OutputError here, not a traceback at exit
        return
    assert target.path is not None
    tmp, fresh = None, 0
    try:
        if target.streamed:
            raw: Any = _open_stream(target)
        else:
            tmp, fd, fresh = _temporary(target.path)
            raw = os.fdopen(fd, "wb")
    except OSError as exc:
        raise _cannot_create(exc, target.name, option) from None
    stream: Any = raw if binary else io.TextIOWrapper(raw, encoding="utf-8", newline="")
    keep = False
    try:
        yield _Guarded(stream, target, option)
        keep = True
    except Discard:
        pass
    except KeyboardInterrupt:
        keep = keep_on_interrupt
        raise
    finally:
        _finish(stream, raw, target, tmp, fresh, keep, option)


def _finish(stream: Any, raw: Any, target: OutputTarget, tmp: Path | None, fresh: int, keep: bool, option: str) -> None:
    """Flush, fsync and publish a temporary file (``tmp``; None when written into a stream), or drop it.

    One OutputError if that fails; whatever happens, no temporary file is left behind.
    """
    published = False
    try:
        if keep:  # everything on disk before the rename, so the new file is whole
            stream.flush()
            if tmp is not None:
                _settle(raw.fileno(), target, fresh)
                os.fsync(raw.fileno())
            stream.close()
            if tmp is not None:
                _publish(tmp, target)
                published = True
    except OSError as exc:
        raise _write_error(exc, target.name, option) from None
    finally:
        with contextlib.suppress(OSError):
            stream.close()  # after a failure: whatever is buffered is dropped with the temporary file
        if tmp is not None and not published:
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_bytes(path: str | os.PathLike[str] | None, data: bytes, **options: Any) -> OutputTarget:
    """Write a whole binary document to ``path`` (see :func:`open_output` for ``options``); returns its target.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> write_bytes(target, b"abc").path == target, target.read_bytes()
        (True, b'abc')
    """
    return _write_whole(path, data, binary=True, **options)


def write_text(path: str | os.PathLike[str] | None, text: str, **options: Any) -> OutputTarget:
    """Write a whole UTF-8 text document to ``path`` (see :func:`open_output` for ``options``); returns the target.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> write_text(target, "ok\\n").path == target, target.read_text()
        (True, 'ok\\n')
    """
    return _write_whole(path, text, binary=False, **options)


def _write_whole(
    path: str | os.PathLike[str] | None,
    content: bytes | str,
    *,
    binary: bool,
    inputs: Inputs = (),
    option: str = "output",
    what: str = "this output",
    example: str = "out",
    streams: bool = True,
) -> OutputTarget:
    target = _checked(path, inputs=inputs, option=option, what=what, example=example, streams=streams)
    with _opened(target, binary=binary, option=option, keep_on_interrupt=False) as stream:
        stream.write(content)
    return target


@contextlib.contextmanager
def output_path(
    path: str | os.PathLike[str] | None,
    *,
    suffix: str = "",
    inputs: Inputs = (),
    option: str = "output",
    what: str = "this output",
    streams: bool = True,
) -> Iterator[Path]:
    """A real file path for a library that writes by path; the file it writes there becomes ``path`` at the end.

    For a regular file or a new path the library writes a temporary file in the target's folder, which
    is fsynced and renamed over the target when the block ends without an error (and removed otherwise,
    or when the block raises :class:`Discard`); for a FIFO, a device or stdout it writes into a private
    temporary folder, and the finished file is streamed into the target (refused with
    ``streams=False``). ``suffix`` is the temporary file's (some libraries pick their format by it).
    The published file has the old file's permission bits (a new one the umask's), whatever the
    library gave its file.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "data.npy"
        >>> import numpy as np
        >>> with output_path(target, suffix=".npy") as tmp:
        ...     np.save(tmp, np.arange(3))
        >>> np.load(target).tolist()
        [0, 1, 2]
    """
    target = _checked(path, inputs=inputs, option=option, what=what, example="out", streams=streams)
    if target.streamed:
        with tempfile.TemporaryDirectory(prefix="yolo-probs-out-") as folder:
            produced = Path(folder) / f"output{suffix}"
            try:
                yield produced
            except Discard:
                return
            _stream_file(produced, target, option)
        return
    assert target.path is not None
    try:
        produced, fd, fresh = _temporary(target.path, suffix)
        os.close(fd)  # the library opens the file by its path
    except OSError as exc:
        raise _cannot_create(exc, target.name, option) from None
    try:
        yield produced
        _settle_file(produced, target, fresh)
        _publish(produced, target)
    except Discard:
        pass
    except OSError as exc:
        raise _write_error(exc, target.name, option) from None
    finally:
        with contextlib.suppress(OSError):
            produced.unlink()  # gone after a rename: then this does nothing


def _settle_file(produced: Path, target: OutputTarget, fresh: int) -> None:
    """:func:`_settle` and fsync a file a library wrote by path (it may have made a new file with bits of its own)."""
    fd = os.open(produced, os.O_RDONLY)
    try:
        _settle(fd, target, fresh)
        os.fsync(fd)
    finally:
        os.close(fd)


def _stream_file(produced: Path, target: OutputTarget, option: str) -> None:
    """Copy a finished file into a stream target (a FIFO, a device, stdout)."""
    try:
        source = produced.open("rb")
    except OSError as exc:
        raise _write_error(exc, target.name, option) from None
    with source, _opened(target, binary=True, option=option, keep_on_interrupt=False) as stream:
        shutil.copyfileobj(source, stream, 1 << 20)
